/* The generic netlink encoding of WG_CMD_SET_DEVICE / WG_CMD_GET_DEVICE
 * against the layout documented in linux/wireguard.h. The kernel module is
 * absent on the build machines, so messages are built into buffers and read
 * back with mnl_attr_parse by a decoder written here, independent of the
 * library's; kernel replies are built here and fed to the library's parser. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>
#include <sodium.h>

#include "lib/wg-netlink.h"
#include "lib/wg.h"

#define FAMILY 0x1c
#define SEQ 7

static void fill_key(uint8_t key[WG_KEY_LEN], uint8_t v)
{
	memset(key, v, WG_KEY_LEN);
}

static struct wg_peer *add_peer(struct wg_device *dev, uint8_t v)
{
	uint8_t pub[WG_KEY_LEN];
	struct wg_peer *peer;

	fill_key(pub, v);
	assert_int_equal(wg_device_add_peer(dev, pub, &peer), 0);
	return peer;
}

static void add_ip(struct wg_peer *peer, const char *text)
{
	struct wg_allowedip ip;

	assert_int_equal(wg_allowedip_parse(&ip, text), 0);
	assert_int_equal(wg_peer_add_allowedip(peer, &ip), 0);
}

static void add_many_ips(struct wg_peer *peer, int n)
{
	for (int i = 0; i < n; i++) {
		char text[64];

		snprintf(text, sizeof(text), "fd42::%x:%x/128", i >> 8, i & 0xff);
		add_ip(peer, text);
	}
}

static void test_set_bytes(void **state)
{
	static const uint8_t expected[] = {
		0x2c, 0, 0, 0,  FAMILY, 0,  0x05, 0x00,  SEQ, 0, 0, 0,  0, 0, 0, 0,
		WG_CMD_SET_DEVICE, WG_GENL_VERSION, 0, 0,
		8, 0, WGDEVICE_A_IFNAME, 0,  'w', 'g', '0', 0,
		8, 0, WGDEVICE_A_FLAGS, 0,  0, 0, 0, 0,
		6, 0, WGDEVICE_A_LISTEN_PORT, 0,  0x6c, 0xca, 0, 0,    /* 51820, host order */
	};
	struct wg_device dev = { .flags = WG_DEVICE_HAS_LISTEN_PORT, .listen_port = 51820 };
	struct wgnl_set_cursor c;
	struct nlmsghdr *nlh;
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE];

	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(wg_device_set_name(&dev, "wg0"), 0);
	wgnl_set_begin(&c, &dev);
	assert_int_equal(wgnl_set_next(&c, buf, sizeof(buf), FAMILY, SEQ, &nlh), 1);
	assert_ptr_equal(nlh, buf);
	assert_int_equal(nlh->nlmsg_len, sizeof(expected));
	assert_memory_equal(buf, expected, sizeof(expected));
	assert_int_equal(wgnl_set_next(&c, buf, sizeof(buf), FAMILY, SEQ + 1, &nlh), 0);
	assert_null(nlh);
}

static void test_get_request_bytes(void **state)
{
	static const uint8_t expected[] = {
		0x1c, 0, 0, 0,  FAMILY, 0,  0x05, 0x03,  SEQ, 0, 0, 0,  0, 0, 0, 0,
		WG_CMD_GET_DEVICE, WG_GENL_VERSION, 0, 0,
		8, 0, WGDEVICE_A_IFNAME, 0,  'w', 'g', '1', 0,
	};
	uint8_t buf[256];
	struct nlmsghdr *nlh = wgnl_get_request(buf, sizeof(buf), FAMILY, SEQ, "wg1");

	assert_non_null(nlh);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP);
	assert_memory_equal(buf, expected, sizeof(expected));
	assert_null(wgnl_get_request(buf, 20, FAMILY, SEQ, "wg1"));
}

/* The test's own decoder of set messages: an independent reading of the
 * attribute tree, keeping what a kernel would do with it. */
struct decoded {
	struct wg_device dev;
	unsigned int messages;
	unsigned int device_attr_messages;   /* messages carrying FLAGS/keys/port */
	unsigned int fragments;              /* peer nests seen */
	unsigned int replace_flags;          /* peer nests with REPLACE_ALLOWEDIPS */
	unsigned int bare_fragments;         /* peer nests with nothing but a key */
};

struct table {
	const struct nlattr *tb[32];
};

static int table_cb(const struct nlattr *attr, void *data)
{
	struct table *t = data;
	uint16_t type = mnl_attr_get_type(attr);

	assert_true(type < 32);
	assert_null(t->tb[type]);                /* no attribute twice */
	t->tb[type] = attr;
	return MNL_CB_OK;
}

static void decode_allowedip(const struct nlattr *nest, struct wg_peer *peer)
{
	struct table t = { 0 };
	struct wg_allowedip ip = { 0 };
	size_t len;

	assert_int_equal(mnl_attr_get_type(nest), 0);
	assert_true(mnl_attr_parse_nested(nest, table_cb, &t) >= 0);
	assert_int_equal(mnl_attr_validate(t.tb[WGALLOWEDIP_A_FAMILY], MNL_TYPE_U16), 0);
	assert_int_equal(mnl_attr_validate(t.tb[WGALLOWEDIP_A_CIDR_MASK], MNL_TYPE_U8), 0);
	ip.family = mnl_attr_get_u16(t.tb[WGALLOWEDIP_A_FAMILY]);
	ip.cidr = mnl_attr_get_u8(t.tb[WGALLOWEDIP_A_CIDR_MASK]);
	len = mnl_attr_get_payload_len(t.tb[WGALLOWEDIP_A_IPADDR]);
	assert_int_equal(len, ip.family == AF_INET ? 4 : 16);
	memcpy(&ip.ip6, mnl_attr_get_payload(t.tb[WGALLOWEDIP_A_IPADDR]), len);
	assert_int_equal(wg_peer_add_allowedip(peer, &ip), 0);
}

static void decode_peer(const struct nlattr *nest, struct decoded *d)
{
	struct table t = { 0 };
	struct wg_peer *peer = NULL;
	const struct nlattr *a;
	uint32_t flags = 0;
	int attrs = 0;

	assert_int_equal(mnl_attr_get_type(nest), 0);
	assert_true(mnl_attr_parse_nested(nest, table_cb, &t) >= 0);
	for (int i = 0; i < 32; i++)
		attrs += !!t.tb[i];
	assert_non_null(t.tb[WGPEER_A_PUBLIC_KEY]);
	assert_int_equal(mnl_attr_get_payload_len(t.tb[WGPEER_A_PUBLIC_KEY]), WG_KEY_LEN);
	d->fragments++;
	if (attrs == 1)
		d->bare_fragments++;
	peer = wg_device_find_peer(&d->dev, mnl_attr_get_payload(t.tb[WGPEER_A_PUBLIC_KEY]));
	if (!peer)
		assert_int_equal(wg_device_add_peer(&d->dev,
				 mnl_attr_get_payload(t.tb[WGPEER_A_PUBLIC_KEY]), &peer), 0);
	if ((a = t.tb[WGPEER_A_FLAGS])) {
		assert_int_equal(mnl_attr_validate(a, MNL_TYPE_U32), 0);
		flags = mnl_attr_get_u32(a);
		if (flags & WGPEER_F_REPLACE_ALLOWEDIPS) {
			d->replace_flags++;
			peer->flags |= WG_PEER_REPLACE_ALLOWEDIPS;
		}
		if (flags & WGPEER_F_REMOVE_ME)
			peer->flags |= WG_PEER_REMOVE_ME;
		if (flags & WGPEER_F_UPDATE_ONLY)
			peer->flags |= WG_PEER_UPDATE_ONLY;
	}
	if ((a = t.tb[WGPEER_A_PRESHARED_KEY])) {
		assert_int_equal(mnl_attr_get_payload_len(a), WG_KEY_LEN);
		memcpy(peer->preshared_key, mnl_attr_get_payload(a), WG_KEY_LEN);
		peer->flags |= WG_PEER_HAS_PRESHARED_KEY;
	}
	if ((a = t.tb[WGPEER_A_ENDPOINT])) {
		size_t len = mnl_attr_get_payload_len(a);

		assert_true(len == sizeof(struct sockaddr_in) || len == sizeof(struct sockaddr_in6));
		memcpy(&peer->endpoint, mnl_attr_get_payload(a), len);
	}
	if ((a = t.tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL])) {
		assert_int_equal(mnl_attr_validate(a, MNL_TYPE_U16), 0);
		peer->persistent_keepalive = mnl_attr_get_u16(a);
		peer->flags |= WG_PEER_HAS_KEEPALIVE;
	}
	if ((a = t.tb[WGPEER_A_ALLOWEDIPS])) {
		const struct nlattr *ip;

		assert_true(mnl_attr_get_type(a) == WGPEER_A_ALLOWEDIPS);
		mnl_attr_for_each_nested(ip, a)
			decode_allowedip(ip, peer);
	}
}

static void decode_set(const struct nlmsghdr *nlh, size_t buflen, struct decoded *d)
{
	const struct genlmsghdr *genl = mnl_nlmsg_get_payload(nlh);
	struct table t = { 0 };
	const struct nlattr *a;

	assert_true(nlh->nlmsg_len <= buflen);
	assert_int_equal(nlh->nlmsg_type, FAMILY);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
	assert_int_equal(genl->cmd, WG_CMD_SET_DEVICE);
	assert_int_equal(genl->version, WG_GENL_VERSION);
	assert_true(mnl_attr_parse(nlh, sizeof(*genl), table_cb, &t) >= 0);
	d->messages++;
	assert_int_equal(mnl_attr_validate(t.tb[WGDEVICE_A_IFNAME], MNL_TYPE_NUL_STRING), 0);
	assert_int_equal(wg_device_set_name(&d->dev, mnl_attr_get_str(t.tb[WGDEVICE_A_IFNAME])), 0);
	assert_null(t.tb[WGDEVICE_A_IFINDEX]);  /* one but not both */
	if ((a = t.tb[WGDEVICE_A_FLAGS])) {
		d->device_attr_messages++;
		assert_int_equal(mnl_attr_validate(a, MNL_TYPE_U32), 0);
		if (mnl_attr_get_u32(a) & WGDEVICE_F_REPLACE_PEERS)
			d->dev.flags |= WG_DEVICE_REPLACE_PEERS;
	}
	if ((a = t.tb[WGDEVICE_A_PRIVATE_KEY])) {
		assert_int_equal(mnl_attr_get_payload_len(a), WG_KEY_LEN);
		memcpy(d->dev.private_key, mnl_attr_get_payload(a), WG_KEY_LEN);
		d->dev.flags |= WG_DEVICE_HAS_PRIVATE_KEY;
	}
	if ((a = t.tb[WGDEVICE_A_LISTEN_PORT])) {
		assert_int_equal(mnl_attr_validate(a, MNL_TYPE_U16), 0);
		d->dev.listen_port = mnl_attr_get_u16(a);
		d->dev.flags |= WG_DEVICE_HAS_LISTEN_PORT;
	}
	if ((a = t.tb[WGDEVICE_A_FWMARK])) {
		assert_int_equal(mnl_attr_validate(a, MNL_TYPE_U32), 0);
		d->dev.fwmark = mnl_attr_get_u32(a);
		d->dev.flags |= WG_DEVICE_HAS_FWMARK;
	}
	if ((a = t.tb[WGDEVICE_A_PEERS])) {
		const struct nlattr *peer;

		assert_true(mnl_attr_get_payload_len(a) > 0);
		mnl_attr_for_each_nested(peer, a)
			decode_peer(peer, d);
	}
}

static void encode_all(const struct wg_device *dev, size_t buflen, struct decoded *d)
{
	struct wgnl_set_cursor c;
	struct nlmsghdr *nlh;
	uint8_t *buf = malloc(buflen);
	int ret;

	assert_non_null(buf);
	memset(d, 0, sizeof(*d));
	wgnl_set_begin(&c, dev);
	while ((ret = wgnl_set_next(&c, buf, buflen, FAMILY, SEQ, &nlh)) == 1) {
		assert_true(d->messages < 10000);
		decode_set(nlh, buflen, d);
	}
	assert_int_equal(ret, 0);
	free(buf);
}

static void assert_same_peer(const struct wg_peer *a, const struct wg_peer *b)
{
	uint32_t sent = WG_PEER_REMOVE_ME | WG_PEER_REPLACE_ALLOWEDIPS | WG_PEER_UPDATE_ONLY |
			WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_KEEPALIVE;

	assert_memory_equal(a->public_key, b->public_key, WG_KEY_LEN);
	assert_int_equal(a->flags & sent, b->flags & sent);
	if (a->flags & WG_PEER_REMOVE_ME) {
		assert_int_equal(b->allowedips_len, 0);
		assert_int_equal(b->endpoint.addr.sa_family, AF_UNSPEC);
		return;
	}
	if (a->flags & WG_PEER_HAS_PRESHARED_KEY)
		assert_memory_equal(a->preshared_key, b->preshared_key, WG_KEY_LEN);
	assert_memory_equal(&a->endpoint, &b->endpoint, sizeof(a->endpoint));
	assert_int_equal(a->persistent_keepalive, b->persistent_keepalive);
	assert_int_equal(a->allowedips_len, b->allowedips_len);
	for (size_t i = 0; i < a->allowedips_len; i++) {
		assert_int_equal(a->allowedips[i].family, b->allowedips[i].family);
		assert_int_equal(a->allowedips[i].cidr, b->allowedips[i].cidr);
		assert_memory_equal(&a->allowedips[i].ip6, &b->allowedips[i].ip6,
				    a->allowedips[i].family == AF_INET ? 4 : 16);
	}
}

static void assert_same_device(const struct wg_device *a, const struct wg_device *b)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->flags, b->flags);
	assert_memory_equal(a->private_key, b->private_key, WG_KEY_LEN);
	assert_int_equal(a->listen_port, b->listen_port);
	assert_int_equal(a->fwmark, b->fwmark);
	assert_int_equal(a->peers_len, b->peers_len);
	for (size_t i = 0; i < a->peers_len; i++)
		assert_same_peer(&a->peers[i], &b->peers[i]);
}

static void make_device(struct wg_device *dev, int many)
{
	struct wg_peer *peer;

	memset(dev, 0, sizeof(*dev));
	assert_int_equal(wg_device_set_name(dev, "osw-12345"), 0);
	dev->flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT |
		     WG_DEVICE_HAS_FWMARK | WG_DEVICE_REPLACE_PEERS;
	fill_key(dev->private_key, 0xaa);
	dev->listen_port = 51820;
	dev->fwmark = 0x1234;

	peer = add_peer(dev, 1);
	peer->flags = WG_PEER_REPLACE_ALLOWEDIPS | WG_PEER_HAS_KEEPALIVE | WG_PEER_HAS_PRESHARED_KEY;
	peer->persistent_keepalive = 25;
	fill_key(peer->preshared_key, 0x55);
	assert_int_equal(wg_endpoint_parse(&peer->endpoint, "[fd00::1]:51820"), 0);
	add_ip(peer, "10.42.0.2/32");
	add_ip(peer, "fd42::2/128");

	peer = add_peer(dev, 2);
	peer->flags = WG_PEER_REPLACE_ALLOWEDIPS;
	assert_int_equal(wg_endpoint_parse(&peer->endpoint, "192.0.2.7:51821"), 0);
	add_ip(peer, "10.42.0.3/32");
	add_many_ips(peer, many);

	peer = add_peer(dev, 3);
	peer->flags = WG_PEER_REMOVE_ME;

	peer = add_peer(dev, 4);
	peer->flags = WG_PEER_UPDATE_ONLY;
	add_ip(peer, "10.42.1.0/24");
	for (int i = 5; i < 5 + many / 10; i++)
		add_ip(add_peer(dev, (uint8_t)i), "0.0.0.0/0");
}

static void test_set_one_message(void **state)
{
	struct wg_device dev;
	struct decoded d;

	make_device(&dev, 0);
	encode_all(&dev, MNL_SOCKET_BUFFER_SIZE, &d);
	assert_int_equal(d.messages, 1);
	assert_int_equal(d.device_attr_messages, 1);
	assert_int_equal(d.fragments, 4);
	assert_int_equal(d.bare_fragments, 0);
	assert_same_device(&dev, &d.dev);
	wg_device_clear(&d.dev);
	wg_device_clear(&dev);
}

/* Too big for one message: the device attributes go once, each peer's flags
 * (REPLACE_ALLOWEDIPS) only in its first fragment, and nothing is lost. */
static void check_split(size_t buflen, int many)
{
	struct wg_device dev;
	struct decoded d;

	make_device(&dev, many);
	encode_all(&dev, buflen, &d);
	assert_true(d.messages > 1);
	assert_int_equal(d.device_attr_messages, 1);
	assert_int_equal(d.replace_flags, 2);
	assert_int_equal(d.bare_fragments, 0);
	assert_true(d.fragments > dev.peers_len);
	assert_same_device(&dev, &d.dev);
	wg_device_clear(&d.dev);
	wg_device_clear(&dev);
}

static void test_set_split(void **state)
{
	check_split(MNL_SOCKET_BUFFER_SIZE, 600);
	check_split(512, 100);
	check_split(200, 30);
}

static void test_set_too_small(void **state)
{
	struct wg_device dev;
	struct wgnl_set_cursor c;
	struct nlmsghdr *nlh;
	uint8_t buf[64];

	make_device(&dev, 0);
	wgnl_set_begin(&c, &dev);
	assert_int_equal(wgnl_set_next(&c, buf, 30, FAMILY, SEQ, &nlh), -EMSGSIZE);
	/* Room for the device attributes but not for a peer: the device goes
	 * alone, then no message can carry the first peer. */
	uint8_t big[120];
	assert_int_equal(wgnl_set_next(&c, big, sizeof(big), FAMILY, SEQ, &nlh), 1);
	assert_int_equal(wgnl_set_next(&c, buf, sizeof(buf), FAMILY, SEQ, &nlh), -EMSGSIZE);
	wg_device_clear(&dev);
}

static void test_set_no_peers(void **state)
{
	struct wg_device dev = { .flags = WG_DEVICE_REPLACE_PEERS };
	struct decoded d;

	assert_int_equal(wg_device_set_name(&dev, "wg0"), 0);
	encode_all(&dev, MNL_SOCKET_BUFFER_SIZE, &d);
	assert_int_equal(d.messages, 1);
	assert_int_equal(d.dev.flags, WG_DEVICE_REPLACE_PEERS);
	assert_int_equal(d.dev.peers_len, 0);
	wg_device_clear(&d.dev);
}

/* Kernel replies, built the way linux/wireguard.h says the kernel sends them. */
static struct nlmsghdr *reply_header(uint8_t *buf, bool first)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *genl;

	nlh->nlmsg_type = FAMILY;
	nlh->nlmsg_flags = NLM_F_MULTI;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = WG_CMD_GET_DEVICE;
	genl->version = WG_GENL_VERSION;
	if (first)
		mnl_attr_put_u32(nlh, WGDEVICE_A_IFINDEX, 42);
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, "wg9");
	return nlh;
}

static void put_reply_ip(struct nlmsghdr *nlh, const char *text)
{
	struct wg_allowedip ip;
	struct nlattr *nest = mnl_attr_nest_start(nlh, 0);

	assert_int_equal(wg_allowedip_parse(&ip, text), 0);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, ip.family);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, ip.family == AF_INET ? 4 : 16, &ip.ip6);
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, ip.cidr);
	mnl_attr_nest_end(nlh, nest);
}

static void test_parse_dump(void **state)
{
	uint8_t buf[2][1024], key[WG_KEY_LEN];
	struct __kernel_timespec ts = { .tv_sec = 1700000000, .tv_nsec = 5 };
	union wg_endpoint ep;
	struct wg_device dev = { 0 };
	struct nlmsghdr *nlh;
	struct nlattr *peers, *peer, *ips;

	/* Message 1: the device, peer 1 whole, peer 2 with its first IP. */
	nlh = reply_header(buf[0], true);
	fill_key(key, 0xaa);
	mnl_attr_put(nlh, WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN, key);
	fill_key(key, 0xbb);
	mnl_attr_put(nlh, WGDEVICE_A_PUBLIC_KEY, WG_KEY_LEN, key);
	mnl_attr_put_u16(nlh, WGDEVICE_A_LISTEN_PORT, 51820);
	mnl_attr_put_u32(nlh, WGDEVICE_A_FWMARK, 0);
	mnl_attr_put_u32(nlh, 99, 0);   /* from a newer kernel: skipped */
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	peer = mnl_attr_nest_start(nlh, 0);
	fill_key(key, 1);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key);
	fill_key(key, 0);
	mnl_attr_put(nlh, WGPEER_A_PRESHARED_KEY, WG_KEY_LEN, key);
	assert_int_equal(wg_endpoint_parse(&ep, "192.0.2.1:51821"), 0);
	mnl_attr_put(nlh, WGPEER_A_ENDPOINT, sizeof(ep.addr4), &ep.addr4);
	mnl_attr_put_u16(nlh, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
	mnl_attr_put(nlh, WGPEER_A_LAST_HANDSHAKE_TIME, sizeof(ts), &ts);
	mnl_attr_put_u64(nlh, WGPEER_A_RX_BYTES, 1000);
	mnl_attr_put_u64(nlh, WGPEER_A_TX_BYTES, 2000);
	ips = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	put_reply_ip(nlh, "10.42.0.2/32");
	mnl_attr_nest_end(nlh, ips);
	mnl_attr_put_u32(nlh, WGPEER_A_PROTOCOL_VERSION, 1);
	mnl_attr_nest_end(nlh, peer);
	peer = mnl_attr_nest_start(nlh, 0);
	fill_key(key, 2);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key);
	assert_int_equal(wg_endpoint_parse(&ep, "[fd00::2]:7"), 0);
	mnl_attr_put(nlh, WGPEER_A_ENDPOINT, sizeof(ep.addr6), &ep.addr6);
	ips = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	put_reply_ip(nlh, "10.42.0.3/32");
	mnl_attr_nest_end(nlh, ips);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
	assert_int_equal(wgnl_parse_device(nlh, &dev), 0);

	/* Message 2: peer 2 continued (key and IPs only), then peer 3. */
	nlh = reply_header(buf[1], false);
	peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	peer = mnl_attr_nest_start(nlh, 0);
	fill_key(key, 2);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key);
	ips = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	put_reply_ip(nlh, "fd42::3/128");
	put_reply_ip(nlh, "10.43.0.0/16");
	mnl_attr_nest_end(nlh, ips);
	mnl_attr_nest_end(nlh, peer);
	peer = mnl_attr_nest_start(nlh, 0);
	fill_key(key, 3);
	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, key);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
	assert_int_equal(wgnl_parse_device(nlh, &dev), 0);

	assert_string_equal(dev.name, "wg9");
	assert_int_equal(dev.ifindex, 42);
	assert_int_equal(dev.flags, WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_PUBLIC_KEY |
			 WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK);
	assert_int_equal(dev.listen_port, 51820);
	assert_int_equal(dev.peers_len, 3);
	assert_int_equal(dev.peers[0].flags, WG_PEER_HAS_KEEPALIVE);
	assert_int_equal(dev.peers[0].last_handshake.tv_sec, 1700000000);
	assert_int_equal(dev.peers[0].last_handshake.tv_nsec, 5);
	assert_int_equal(dev.peers[0].rx_bytes, 1000);
	assert_int_equal(dev.peers[0].tx_bytes, 2000);
	assert_int_equal(dev.peers[0].endpoint.addr.sa_family, AF_INET);
	assert_int_equal(dev.peers[0].allowedips_len, 1);
	assert_int_equal(dev.peers[1].endpoint.addr.sa_family, AF_INET6);
	assert_int_equal(dev.peers[1].allowedips_len, 3);
	assert_int_equal(dev.peers[1].allowedips[2].cidr, 16);
	assert_int_equal(dev.peers[2].public_key[0], 3);
	assert_int_equal(dev.peers[2].allowedips_len, 0);
	wg_device_clear(&dev);
}

typedef void (*corrupt_fn)(struct nlmsghdr *nlh);

static void bad_key_len(struct nlmsghdr *nlh)
{
	struct nlattr *peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	struct nlattr *peer = mnl_attr_nest_start(nlh, 0);

	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, 31, (uint8_t[31]){ 1 });
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
}

static void no_public_key(struct nlmsghdr *nlh)
{
	struct nlattr *peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	struct nlattr *peer = mnl_attr_nest_start(nlh, 0);

	mnl_attr_put_u16(nlh, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
}

static void bad_ip(struct nlmsghdr *nlh)
{
	struct nlattr *peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	struct nlattr *peer = mnl_attr_nest_start(nlh, 0);
	struct nlattr *ips, *ip;

	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, (uint8_t[WG_KEY_LEN]){ 1 });
	ips = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	ip = mnl_attr_nest_start(nlh, 0);
	mnl_attr_put_u16(nlh, WGALLOWEDIP_A_FAMILY, AF_INET);
	mnl_attr_put(nlh, WGALLOWEDIP_A_IPADDR, 16, (uint8_t[16]){ 0 });
	mnl_attr_put_u8(nlh, WGALLOWEDIP_A_CIDR_MASK, 32);
	mnl_attr_nest_end(nlh, ip);
	mnl_attr_nest_end(nlh, ips);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
}

static void bad_cidr(struct nlmsghdr *nlh)
{
	struct nlattr *peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	struct nlattr *peer = mnl_attr_nest_start(nlh, 0);
	struct nlattr *ips;

	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, (uint8_t[WG_KEY_LEN]){ 1 });
	ips = mnl_attr_nest_start(nlh, WGPEER_A_ALLOWEDIPS);
	put_reply_ip(nlh, "10.0.0.0/8");
	/* the CIDR attribute is the last byte of the nest's payload */
	((uint8_t *)mnl_nlmsg_get_payload_tail(nlh))[-4] = 33;
	mnl_attr_nest_end(nlh, ips);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
}

static void bad_endpoint(struct nlmsghdr *nlh)
{
	struct nlattr *peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	struct nlattr *peer = mnl_attr_nest_start(nlh, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET6 };

	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, (uint8_t[WG_KEY_LEN]){ 1 });
	mnl_attr_put(nlh, WGPEER_A_ENDPOINT, sizeof(sin), &sin);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
}

static void bad_port_len(struct nlmsghdr *nlh)
{
	mnl_attr_put_u32(nlh, WGDEVICE_A_LISTEN_PORT, 51820);
}

static void bad_handshake_len(struct nlmsghdr *nlh)
{
	struct nlattr *peers = mnl_attr_nest_start(nlh, WGDEVICE_A_PEERS);
	struct nlattr *peer = mnl_attr_nest_start(nlh, 0);

	mnl_attr_put(nlh, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, (uint8_t[WG_KEY_LEN]){ 1 });
	mnl_attr_put_u64(nlh, WGPEER_A_LAST_HANDSHAKE_TIME, 1);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, peers);
}

static void test_parse_malformed(void **state)
{
	static const corrupt_fn cases[] = {
		bad_key_len, no_public_key, bad_ip, bad_cidr, bad_endpoint, bad_port_len,
		bad_handshake_len,
	};
	uint8_t buf[1024];
	struct wg_device dev = { 0 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nlmsghdr *nlh = reply_header(buf, true);

		cases[i](nlh);
		if (wgnl_parse_device(nlh, &dev) != -EBADMSG)
			fail_msg("case %zu parsed", i);
		wg_device_clear(&dev);
	}
	/* A message too short to hold its generic netlink header. */
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	assert_int_equal(wgnl_parse_device(nlh, &dev), -EBADMSG);
}

/* What the library sends, read back by the library's own parser, is what
 * was asked for: the two halves agree on the layout. */
static void test_round_trip(void **state)
{
	struct wg_device dev, back = { 0 };
	struct wgnl_set_cursor c;
	struct nlmsghdr *nlh;
	uint8_t buf[MNL_SOCKET_BUFFER_SIZE];

	make_device(&dev, 300);
	for (size_t i = 0; i < dev.peers_len; i++)
		dev.peers[i].flags &= ~(uint32_t)(WG_PEER_REMOVE_ME | WG_PEER_REPLACE_ALLOWEDIPS |
						  WG_PEER_UPDATE_ONLY);
	dev.flags &= ~(uint32_t)WG_DEVICE_REPLACE_PEERS;
	wgnl_set_begin(&c, &dev);
	while (wgnl_set_next(&c, buf, sizeof(buf), FAMILY, SEQ, &nlh) == 1)
		assert_int_equal(wgnl_parse_device(nlh, &back), 0);
	assert_same_device(&dev, &back);
	wg_device_clear(&back);
	wg_device_clear(&dev);
}

/* The transport against the running kernel, which always has nlctrl; and
 * the wireguard family either resolves or is reported missing. */
static void test_live_kernel(void **state)
{
	struct wg_device *dev = (void *)1;
	int id = wgnl_resolve_family("nlctrl");

	if (id == -EPERM || id == -EACCES || id == -EAFNOSUPPORT)
		skip();
	assert_int_equal(id, GENL_ID_CTRL);
	assert_int_equal(wgnl_resolve_family("osi-nofamily"), -ENOENT);
	id = wgnl_family_id();
	assert_true(id > 0 || id == -ENOENT);
	if (id == -ENOENT) {
		assert_int_equal(wgnl_get_device("wg0", &dev), -ENOENT);
		assert_null(dev);
		assert_string_equal(wg_backend_name("osi-no-such-if"), "uapi");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_bytes),
		cmocka_unit_test(test_get_request_bytes),
		cmocka_unit_test(test_set_one_message),
		cmocka_unit_test(test_set_split),
		cmocka_unit_test(test_set_too_small),
		cmocka_unit_test(test_set_no_peers),
		cmocka_unit_test(test_parse_dump),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_live_kernel),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
