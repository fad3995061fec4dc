/* Netlink backend. The attribute tree of WG_CMD_SET_DEVICE and
 * WG_CMD_GET_DEVICE, and how both are split across messages, are those
 * documented in the kernel's uapi header linux/wireguard.h. */
#include "lib/wg-netlink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>
#include <sodium.h>

void wgnl_set_begin(struct wgnl_set_cursor *c, const struct wg_device *dev)
{
	memset(c, 0, sizeof(*c));
	c->dev = dev;
}

static struct nlmsghdr *put_genl_header(void *buf, size_t len, uint16_t family, uint16_t flags,
					uint32_t seq, uint8_t cmd)
{
	struct nlmsghdr *nlh;
	struct genlmsghdr *genl;

	if (len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*genl)))
		return NULL;
	/* libmnl leaves attribute padding as it finds it. */
	memset(buf, 0, len);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = family;
	nlh->nlmsg_flags = flags;
	nlh->nlmsg_seq = seq;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = cmd;
	genl->version = WG_GENL_VERSION;
	return nlh;
}

static bool put_device_attrs(struct nlmsghdr *nlh, size_t len, const struct wg_device *dev)
{
	uint32_t flags = dev->flags & WG_DEVICE_REPLACE_PEERS ? WGDEVICE_F_REPLACE_PEERS : 0;

	if (!mnl_attr_put_u32_check(nlh, len, WGDEVICE_A_FLAGS, flags))
		return false;
	if ((dev->flags & WG_DEVICE_HAS_PRIVATE_KEY) &&
	    !mnl_attr_put_check(nlh, len, WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN, dev->private_key))
		return false;
	if ((dev->flags & WG_DEVICE_HAS_LISTEN_PORT) &&
	    !mnl_attr_put_u16_check(nlh, len, WGDEVICE_A_LISTEN_PORT, dev->listen_port))
		return false;
	if ((dev->flags & WG_DEVICE_HAS_FWMARK) &&
	    !mnl_attr_put_u32_check(nlh, len, WGDEVICE_A_FWMARK, dev->fwmark))
		return false;
	return true;
}

static bool put_peer_attrs(struct nlmsghdr *nlh, size_t len, const struct wg_peer *peer)
{
	uint32_t flags = 0;
	const union wg_endpoint *ep = &peer->endpoint;

	if (peer->flags & WG_PEER_REMOVE_ME)
		flags |= WGPEER_F_REMOVE_ME;
	if (peer->flags & WG_PEER_REPLACE_ALLOWEDIPS)
		flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
	if (peer->flags & WG_PEER_UPDATE_ONLY)
		flags |= WGPEER_F_UPDATE_ONLY;
	if (flags && !mnl_attr_put_u32_check(nlh, len, WGPEER_A_FLAGS, flags))
		return false;
	if (peer->flags & WG_PEER_REMOVE_ME)
		return true;
	if ((peer->flags & WG_PEER_HAS_PRESHARED_KEY) &&
	    !mnl_attr_put_check(nlh, len, WGPEER_A_PRESHARED_KEY, WG_KEY_LEN, peer->preshared_key))
		return false;
	if (ep->addr.sa_family == AF_INET &&
	    !mnl_attr_put_check(nlh, len, WGPEER_A_ENDPOINT, sizeof(ep->addr4), &ep->addr4))
		return false;
	if (ep->addr.sa_family == AF_INET6 &&
	    !mnl_attr_put_check(nlh, len, WGPEER_A_ENDPOINT, sizeof(ep->addr6), &ep->addr6))
		return false;
	if ((peer->flags & WG_PEER_HAS_KEEPALIVE) &&
	    !mnl_attr_put_u16_check(nlh, len, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
				    peer->persistent_keepalive))
		return false;
	return true;
}

static bool put_allowedip(struct nlmsghdr *nlh, size_t len, const struct wg_allowedip *ip)
{
	struct nlattr *nest = mnl_attr_nest_start_check(nlh, len, 0);
	size_t addr_len = ip->family == AF_INET6 ? sizeof(ip->ip6) : sizeof(ip->ip4);

	if (!nest)
		return false;
	if (!mnl_attr_put_u16_check(nlh, len, WGALLOWEDIP_A_FAMILY, ip->family) ||
	    !mnl_attr_put_check(nlh, len, WGALLOWEDIP_A_IPADDR, addr_len, &ip->ip6) ||
	    !mnl_attr_put_u8_check(nlh, len, WGALLOWEDIP_A_CIDR_MASK, ip->cidr)) {
		mnl_attr_nest_cancel(nlh, nest);
		return false;
	}
	mnl_attr_nest_end(nlh, nest);
	return true;
}

/* One fragment of the current peer: 1 when the peer is complete, 0 when it
 * continues in the next message, -EMSGSIZE when nothing of it fit. */
static int put_peer(struct nlmsghdr *nlh, size_t len, struct wgnl_set_cursor *c)
{
	const struct wg_peer *peer = &c->dev->peers[c->peer];
	struct nlattr *nest, *ips;
	size_t first_ip = c->ip, key_end;

	nest = mnl_attr_nest_start_check(nlh, len, 0);
	if (!nest)
		return -EMSGSIZE;
	if (!mnl_attr_put_check(nlh, len, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, peer->public_key))
		goto cancel;
	key_end = nlh->nlmsg_len;
	if (!c->peer_started && !put_peer_attrs(nlh, len, peer))
		goto cancel;
	if (c->ip < peer->allowedips_len && !(peer->flags & WG_PEER_REMOVE_ME)) {
		ips = mnl_attr_nest_start_check(nlh, len, WGPEER_A_ALLOWEDIPS);
		while (ips && c->ip < peer->allowedips_len &&
		       put_allowedip(nlh, len, &peer->allowedips[c->ip]))
			c->ip++;
		if (ips && c->ip > first_ip)
			mnl_attr_nest_end(nlh, ips);
		else if (ips)
			mnl_attr_nest_cancel(nlh, ips);
		/* A bare public key with IPs still to come: better all in the next. */
		if (c->ip == first_ip && nlh->nlmsg_len == key_end)
			goto cancel;
	}
	mnl_attr_nest_end(nlh, nest);
	c->peer_started = true;
	return c->ip == peer->allowedips_len || (peer->flags & WG_PEER_REMOVE_ME);
cancel:
	c->ip = first_ip;
	mnl_attr_nest_cancel(nlh, nest);
	return -EMSGSIZE;
}

static bool put_peers(struct nlmsghdr *nlh, size_t len, struct wgnl_set_cursor *c)
{
	const struct wg_device *dev = c->dev;
	struct nlattr *peers = mnl_attr_nest_start_check(nlh, len, WGDEVICE_A_PEERS);
	bool progress = false;

	if (!peers)
		return false;
	while (c->peer < dev->peers_len) {
		int ret = put_peer(nlh, len, c);

		if (ret < 0)
			break;
		progress = true;
		if (ret == 0)
			break;
		c->peer++;
		c->ip = 0;
		c->peer_started = false;
	}
	if (progress)
		mnl_attr_nest_end(nlh, peers);
	else
		mnl_attr_nest_cancel(nlh, peers);
	return progress;
}

int wgnl_set_next(struct wgnl_set_cursor *c, void *buf, size_t len, uint16_t family,
		  uint32_t seq, struct nlmsghdr **out)
{
	const struct wg_device *dev = c->dev;
	struct nlmsghdr *nlh;
	bool progress = false;

	*out = NULL;
	if (c->done)
		return 0;
	nlh = put_genl_header(buf, len, family, NLM_F_REQUEST | NLM_F_ACK, seq, WG_CMD_SET_DEVICE);
	if (!nlh || !mnl_attr_put_strz_check(nlh, len, WGDEVICE_A_IFNAME, dev->name))
		return -EMSGSIZE;
	if (!c->device_sent) {
		if (!put_device_attrs(nlh, len, dev))
			return -EMSGSIZE;
		c->device_sent = true;
		progress = true;
	}
	if (c->peer < dev->peers_len && put_peers(nlh, len, c))
		progress = true;
	if (!progress)
		return -EMSGSIZE;
	c->done = c->peer == dev->peers_len;
	*out = nlh;
	return 1;
}

struct nlmsghdr *wgnl_get_request(void *buf, size_t len, uint16_t family, uint32_t seq,
				  const char *ifname)
{
	struct nlmsghdr *nlh = put_genl_header(buf, len, family,
					       NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, seq,
					       WG_CMD_GET_DEVICE);

	if (!nlh || !mnl_attr_put_strz_check(nlh, len, WGDEVICE_A_IFNAME, ifname))
		return NULL;
	return nlh;
}

/* Parsing: each level into a table indexed by attribute type; types newer
 * than this code are skipped. */
struct attr_table {
	const struct nlattr **tb;
	unsigned int max;
};

static int table_cb(const struct nlattr *attr, void *data)
{
	struct attr_table *t = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type <= t->max)
		t->tb[type] = attr;
	return MNL_CB_OK;
}

static bool len_is(const struct nlattr *attr, size_t len)
{
	return mnl_attr_get_payload_len(attr) == len;
}

static int parse_allowedip(const struct nlattr *nest, struct wg_peer *peer)
{
	const struct nlattr *tb[WGALLOWEDIP_A_MAX + 1] = { 0 };
	struct attr_table t = { tb, WGALLOWEDIP_A_MAX };
	struct wg_allowedip ip = { 0 };
	size_t addr_len;

	if (mnl_attr_parse_nested(nest, table_cb, &t) < 0)
		return -EBADMSG;
	if (!tb[WGALLOWEDIP_A_FAMILY] || !tb[WGALLOWEDIP_A_IPADDR] ||
	    !tb[WGALLOWEDIP_A_CIDR_MASK] || !len_is(tb[WGALLOWEDIP_A_FAMILY], 2) ||
	    !len_is(tb[WGALLOWEDIP_A_CIDR_MASK], 1))
		return -EBADMSG;
	ip.family = mnl_attr_get_u16(tb[WGALLOWEDIP_A_FAMILY]);
	ip.cidr = mnl_attr_get_u8(tb[WGALLOWEDIP_A_CIDR_MASK]);
	addr_len = ip.family == AF_INET6 ? sizeof(ip.ip6) : sizeof(ip.ip4);
	if (!len_is(tb[WGALLOWEDIP_A_IPADDR], addr_len))
		return -EBADMSG;
	memcpy(&ip.ip6, mnl_attr_get_payload(tb[WGALLOWEDIP_A_IPADDR]), addr_len);
	return wg_peer_add_allowedip(peer, &ip) == -EINVAL ? -EBADMSG : 0;
}

static int parse_endpoint(const struct nlattr *attr, union wg_endpoint *ep)
{
	const struct sockaddr *sa = mnl_attr_get_payload(attr);
	size_t len = mnl_attr_get_payload_len(attr);

	if (len < sizeof(sa->sa_family))
		return -EBADMSG;
	memset(ep, 0, sizeof(*ep));
	if (sa->sa_family == AF_INET && len == sizeof(ep->addr4))
		memcpy(&ep->addr4, sa, sizeof(ep->addr4));
	else if (sa->sa_family == AF_INET6 && len == sizeof(ep->addr6))
		memcpy(&ep->addr6, sa, sizeof(ep->addr6));
	else
		return -EBADMSG;
	return 0;
}

static int parse_peer_stats(const struct nlattr **tb, struct wg_peer *peer)
{
	if (tb[WGPEER_A_LAST_HANDSHAKE_TIME]) {
		struct __kernel_timespec ts;

		if (!len_is(tb[WGPEER_A_LAST_HANDSHAKE_TIME], sizeof(ts)))
			return -EBADMSG;
		memcpy(&ts, mnl_attr_get_payload(tb[WGPEER_A_LAST_HANDSHAKE_TIME]), sizeof(ts));
		peer->last_handshake.tv_sec = (time_t)ts.tv_sec;
		peer->last_handshake.tv_nsec = (long)ts.tv_nsec;
	}
	if (tb[WGPEER_A_RX_BYTES]) {
		if (!len_is(tb[WGPEER_A_RX_BYTES], 8))
			return -EBADMSG;
		peer->rx_bytes = mnl_attr_get_u64(tb[WGPEER_A_RX_BYTES]);
	}
	if (tb[WGPEER_A_TX_BYTES]) {
		if (!len_is(tb[WGPEER_A_TX_BYTES], 8))
			return -EBADMSG;
		peer->tx_bytes = mnl_attr_get_u64(tb[WGPEER_A_TX_BYTES]);
	}
	return 0;
}

static int parse_peer_config(const struct nlattr **tb, struct wg_peer *peer)
{
	const struct nlattr *attr;

	if ((attr = tb[WGPEER_A_PRESHARED_KEY])) {
		if (!len_is(attr, WG_KEY_LEN))
			return -EBADMSG;
		memcpy(peer->preshared_key, mnl_attr_get_payload(attr), WG_KEY_LEN);
		if (!wg_key_is_zero(peer->preshared_key))
			peer->flags |= WG_PEER_HAS_PRESHARED_KEY;
	}
	if ((attr = tb[WGPEER_A_ENDPOINT]) && parse_endpoint(attr, &peer->endpoint))
		return -EBADMSG;
	if ((attr = tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL])) {
		if (!len_is(attr, 2))
			return -EBADMSG;
		peer->persistent_keepalive = mnl_attr_get_u16(attr);
		if (peer->persistent_keepalive)
			peer->flags |= WG_PEER_HAS_KEEPALIVE;
	}
	return parse_peer_stats(tb, peer);
}

static int parse_peer(const struct nlattr *nest, struct wg_device *dev)
{
	const struct nlattr *tb[WGPEER_A_MAX + 1] = { 0 };
	struct attr_table t = { tb, WGPEER_A_MAX };
	const struct nlattr *ip;
	const uint8_t *key;
	struct wg_peer *peer = NULL;
	int ret;

	if (mnl_attr_parse_nested(nest, table_cb, &t) < 0 || !tb[WGPEER_A_PUBLIC_KEY] ||
	    !len_is(tb[WGPEER_A_PUBLIC_KEY], WG_KEY_LEN))
		return -EBADMSG;
	key = mnl_attr_get_payload(tb[WGPEER_A_PUBLIC_KEY]);
	if (dev->peers_len && !memcmp(dev->peers[dev->peers_len - 1].public_key, key, WG_KEY_LEN))
		peer = &dev->peers[dev->peers_len - 1];
	else if ((ret = wg_device_add_peer(dev, key, &peer)))
		return ret;
	ret = parse_peer_config(tb, peer);
	if (ret || !tb[WGPEER_A_ALLOWEDIPS])
		return ret;
	mnl_attr_for_each_nested(ip, tb[WGPEER_A_ALLOWEDIPS]) {
		ret = parse_allowedip(ip, peer);
		if (ret)
			return ret;
	}
	return 0;
}

static int parse_device_attrs(const struct nlattr **tb, struct wg_device *dev)
{
	const struct nlattr *attr;

	if ((attr = tb[WGDEVICE_A_IFINDEX])) {
		if (!len_is(attr, 4))
			return -EBADMSG;
		dev->ifindex = mnl_attr_get_u32(attr);
	}
	if ((attr = tb[WGDEVICE_A_IFNAME])) {
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0 ||
		    wg_device_set_name(dev, mnl_attr_get_str(attr)))
			return -EBADMSG;
	}
	if ((attr = tb[WGDEVICE_A_PRIVATE_KEY])) {
		if (!len_is(attr, WG_KEY_LEN))
			return -EBADMSG;
		memcpy(dev->private_key, mnl_attr_get_payload(attr), WG_KEY_LEN);
		if (!wg_key_is_zero(dev->private_key))
			dev->flags |= WG_DEVICE_HAS_PRIVATE_KEY;
	}
	if ((attr = tb[WGDEVICE_A_PUBLIC_KEY])) {
		if (!len_is(attr, WG_KEY_LEN))
			return -EBADMSG;
		memcpy(dev->public_key, mnl_attr_get_payload(attr), WG_KEY_LEN);
		if (!wg_key_is_zero(dev->public_key))
			dev->flags |= WG_DEVICE_HAS_PUBLIC_KEY;
	}
	if ((attr = tb[WGDEVICE_A_LISTEN_PORT])) {
		if (!len_is(attr, 2))
			return -EBADMSG;
		dev->listen_port = mnl_attr_get_u16(attr);
		dev->flags |= WG_DEVICE_HAS_LISTEN_PORT;
	}
	if ((attr = tb[WGDEVICE_A_FWMARK])) {
		if (!len_is(attr, 4))
			return -EBADMSG;
		dev->fwmark = mnl_attr_get_u32(attr);
		dev->flags |= WG_DEVICE_HAS_FWMARK;
	}
	return 0;
}

int wgnl_parse_device(const struct nlmsghdr *nlh, struct wg_device *dev)
{
	const struct nlattr *tb[WGDEVICE_A_MAX + 1] = { 0 };
	struct attr_table t = { tb, WGDEVICE_A_MAX };
	const struct nlattr *peer;
	int ret;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct genlmsghdr) ||
	    mnl_attr_parse(nlh, sizeof(struct genlmsghdr), table_cb, &t) < 0)
		return -EBADMSG;
	ret = parse_device_attrs(tb, dev);
	if (ret || !tb[WGDEVICE_A_PEERS])
		return ret;
	mnl_attr_for_each_nested(peer, tb[WGDEVICE_A_PEERS]) {
		ret = parse_peer(peer, dev);
		if (ret)
			return ret;
	}
	return 0;
}

/* Transport. */
static int cb_error(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*err)) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (!err->error)
		return MNL_CB_STOP;
	errno = err->error < 0 ? -err->error : err->error;
	return MNL_CB_ERROR;
}

/* A dump ends with NLMSG_DONE, which carries the dump's own error code. */
static int cb_done(const struct nlmsghdr *nlh, void *data)
{
	int err;

	if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(err)) {
		memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(err));
		if (err) {
			errno = err < 0 ? -err : err;
			return MNL_CB_ERROR;
		}
	}
	return MNL_CB_STOP;
}

static int cb_noop(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_OK;
}

int wgnl_open(int bus, struct mnl_socket **out)
{
	struct mnl_socket *nl = mnl_socket_open2(bus, SOCK_CLOEXEC);
	int ret;

	*out = NULL;
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		mnl_socket_close(nl);
		return ret;
	}
	*out = nl;
	return 0;
}

int wgnl_talk(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	static mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
		[NLMSG_NOOP] = cb_noop,
		[NLMSG_ERROR] = cb_error,
		[NLMSG_DONE] = cb_done,
		[NLMSG_OVERRUN] = cb_noop,
	};
	unsigned int portid = mnl_socket_get_portid(nl);
	char *buf;
	int ret;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	buf = malloc(WGNL_RECV_SIZE);
	if (!buf)
		return -ENOMEM;
	do {
		ssize_t n = mnl_socket_recvfrom(nl, buf, WGNL_RECV_SIZE);

		if (n < 0) {
			ret = -errno;
			break;
		}
		ret = mnl_cb_run2(buf, (size_t)n, nlh->nlmsg_seq, portid, cb, data, ctl,
				  NLMSG_MIN_TYPE);
		if (ret < 0)
			ret = errno ? -errno : -EPROTO;
	} while (ret > 0);
	/* A dump of the device carries its private key. */
	sodium_memzero(buf, WGNL_RECV_SIZE);
	free(buf);
	return ret;
}

static uint32_t next_seq(void)
{
	static uint32_t seq;

	if (!seq)
		seq = (uint32_t)time(NULL);
	return ++seq;
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[CTRL_ATTR_MAX + 1] = { 0 };
	struct attr_table t = { tb, CTRL_ATTR_MAX };
	int *id = data;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct genlmsghdr) ||
	    mnl_attr_parse(nlh, sizeof(struct genlmsghdr), table_cb, &t) < 0)
		return MNL_CB_ERROR;
	if (tb[CTRL_ATTR_FAMILY_ID] && len_is(tb[CTRL_ATTR_FAMILY_ID], 2))
		*id = mnl_attr_get_u16(tb[CTRL_ATTR_FAMILY_ID]);
	return MNL_CB_OK;
}

static int resolve_family(struct mnl_socket *nl, const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int id = -ENOENT, ret;

	nlh = put_genl_header(buf, sizeof(buf), GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK,
			      next_seq(), CTRL_CMD_GETFAMILY);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, name);
	ret = wgnl_talk(nl, nlh, family_cb, &id);
	return ret < 0 ? ret : id;
}

int wgnl_resolve_family(const char *name)
{
	struct mnl_socket *nl;
	int ret = wgnl_open(NETLINK_GENERIC, &nl);

	if (ret)
		return ret;
	ret = resolve_family(nl, name);
	mnl_socket_close(nl);
	return ret;
}

int wgnl_family_id(void)
{
	return wgnl_resolve_family(WG_GENL_NAME);
}

int wgnl_set_device(const struct wg_device *dev)
{
	struct wgnl_set_cursor c;
	struct mnl_socket *nl = NULL;
	struct nlmsghdr *nlh;
	char *buf;
	int family, ret;

	buf = malloc(MNL_SOCKET_BUFFER_SIZE);
	if (!buf)
		return -ENOMEM;
	ret = wgnl_open(NETLINK_GENERIC, &nl);
	if (ret)
		goto cleanup;
	ret = family = resolve_family(nl, WG_GENL_NAME);
	if (ret < 0)
		goto cleanup;
	wgnl_set_begin(&c, dev);
	while ((ret = wgnl_set_next(&c, buf, MNL_SOCKET_BUFFER_SIZE, (uint16_t)family,
				    next_seq(), &nlh)) > 0) {
		ret = wgnl_talk(nl, nlh, NULL, NULL);
		sodium_memzero(buf, MNL_SOCKET_BUFFER_SIZE);
		if (ret < 0)
			break;
	}
cleanup:
	if (nl)
		mnl_socket_close(nl);
	sodium_memzero(buf, MNL_SOCKET_BUFFER_SIZE);
	free(buf);
	return ret < 0 ? ret : 0;
}

static int device_cb(const struct nlmsghdr *nlh, void *data)
{
	int ret = wgnl_parse_device(nlh, data);

	if (ret) {
		errno = -ret;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

int wgnl_get_device(const char *ifname, struct wg_device **out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = NULL;
	struct wg_device *dev;
	struct nlmsghdr *nlh;
	int family, ret;

	*out = NULL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	ret = wgnl_open(NETLINK_GENERIC, &nl);
	if (ret)
		goto cleanup;
	ret = family = resolve_family(nl, WG_GENL_NAME);
	if (ret < 0)
		goto cleanup;
	nlh = wgnl_get_request(buf, sizeof(buf), (uint16_t)family, next_seq(), ifname);
	ret = nlh ? wgnl_talk(nl, nlh, device_cb, dev) : -EINVAL;
	if (ret < 0)
		goto cleanup;
	*out = dev;
	dev = NULL;
	ret = 0;
cleanup:
	if (nl)
		mnl_socket_close(nl);
	wg_device_free(dev);
	return ret;
}
