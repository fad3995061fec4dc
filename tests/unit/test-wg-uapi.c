/* The UAPI backend's text, byte for byte (https://www.wireguard.com/xplatform/),
 * the reply parser, the transport over a socket pair, and the key, endpoint
 * and allowed-IP helpers of wg.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "lib/wg-uapi.h"
#include "lib/wg.h"

/* RFC 7748 section 6.1: Alice's private and public keys. */
#define PRIV_HEX "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
#define PUB_HEX "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
#define PUB_B64 "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
#define P1 "0101010101010101010101010101010101010101010101010101010101010101"
#define P2 "0202020202020202020202020202020202020202020202020202020202020202"
#define P3 "0303030303030303030303030303030303030303030303030303030303030303"
#define PSK "abababababababababababababababababababababababababababababababab"

static void key(uint8_t out[WG_KEY_LEN], const char *hex)
{
	assert_int_equal(wg_key_from_hex(out, hex), 0);
}

static void add_ip(struct wg_peer *peer, const char *text)
{
	struct wg_allowedip ip;

	assert_int_equal(wg_allowedip_parse(&ip, text), 0);
	assert_int_equal(wg_peer_add_allowedip(peer, &ip), 0);
}

static struct wg_peer *add_peer(struct wg_device *dev, const char *hex)
{
	uint8_t pub[WG_KEY_LEN];
	struct wg_peer *peer;

	key(pub, hex);
	assert_int_equal(wg_device_add_peer(dev, pub, &peer), 0);
	return peer;
}

static void test_format_set(void **state)
{
	static const char expected[] =
		"set=1\n"
		"private_key=" PRIV_HEX "\n"
		"listen_port=51820\n"
		"replace_peers=true\n"
		"public_key=" P1 "\n"
		"preshared_key=" PSK "\n"
		"endpoint=[fd00::1]:51820\n"
		"persistent_keepalive_interval=25\n"
		"replace_allowed_ips=true\n"
		"allowed_ip=10.42.0.2/32\n"
		"allowed_ip=fd42:1::/64\n"
		"public_key=" P2 "\n"
		"endpoint=192.0.2.7:51821\n"
		"allowed_ip=10.42.0.3/32\n"
		"public_key=" P3 "\n"
		"remove=true\n"
		"\n";
	struct wg_device dev = { 0 };
	struct wg_peer *peer;
	char *text;
	size_t len;

	assert_int_equal(wg_device_set_name(&dev, "wg0"), 0);
	key(dev.private_key, PRIV_HEX);
	dev.listen_port = 51820;
	dev.flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_REPLACE_PEERS;
	peer = add_peer(&dev, P1);
	peer->flags = WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_KEEPALIVE | WG_PEER_REPLACE_ALLOWEDIPS;
	key(peer->preshared_key, PSK);
	peer->persistent_keepalive = 25;
	assert_int_equal(wg_endpoint_parse(&peer->endpoint, "[fd00::1]:51820"), 0);
	add_ip(peer, "10.42.0.2/32");
	add_ip(peer, "fd42:1::/64");
	peer = add_peer(&dev, P2);
	assert_int_equal(wg_endpoint_parse(&peer->endpoint, "192.0.2.7:51821"), 0);
	add_ip(peer, "10.42.0.3/32");
	peer = add_peer(&dev, P3);
	peer->flags = WG_PEER_REMOVE_ME;
	add_ip(peer, "10.42.0.4/32");   /* ignored: the peer goes */

	assert_int_equal(wg_uapi_format_set(&dev, &text, &len), 0);
	assert_int_equal(len, strlen(expected));
	assert_memory_equal(text, expected, len);
	wg_uapi_text_free(text, len);
	wg_device_clear(&dev);
	assert_true(sodium_is_zero((const unsigned char *)&dev, sizeof(dev)));
}

static void test_format_set_minimal(void **state)
{
	struct wg_device dev = { 0 };
	char *text;
	size_t len;

	assert_int_equal(wg_uapi_format_set(&dev, &text, &len), 0);
	assert_string_equal(text, "set=1\n\n");
	wg_uapi_text_free(text, len);

	/* A peer with many allowed IPs fits the buffer sized up front. */
	struct wg_peer *peer = add_peer(&dev, P1);
	for (int i = 0; i < 2000; i++) {
		struct wg_allowedip ip = { .family = AF_INET6, .cidr = 128 };

		memset(&ip.ip6, 0xff, sizeof(ip.ip6));
		ip.ip6.s6_addr[15] = (uint8_t)i;
		ip.ip6.s6_addr[14] = (uint8_t)(i >> 8);
		assert_int_equal(wg_peer_add_allowedip(peer, &ip), 0);
	}
	assert_int_equal(wg_uapi_format_set(&dev, &text, &len), 0);
	assert_non_null(strstr(text, "allowed_ip=ffff:ffff:ffff:ffff:ffff:ffff:ffff:7cf/128\n\n"));
	wg_uapi_text_free(text, len);
	wg_device_clear(&dev);
}

static const char get_reply[] =
	"private_key=" PRIV_HEX "\n"
	"listen_port=51820\n"
	"fwmark=0\n"
	"public_key=" P1 "\n"
	"preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
	"protocol_version=1\n"
	"endpoint=[fd00::1]:51821\n"
	"last_handshake_time_sec=1700000000\n"
	"last_handshake_time_nsec=123456789\n"
	"tx_bytes=1184\n"
	"rx_bytes=18446744073709551615\n"
	"persistent_keepalive_interval=25\n"
	"allowed_ip=10.42.0.2/32\n"
	"allowed_ip=fd42::2/128\n"
	"public_key=" P2 "\n"
	"preshared_key=" PSK "\n"
	"endpoint=192.0.2.9:7\n"
	"last_handshake_time_sec=0\n"
	"last_handshake_time_nsec=0\n"
	"tx_bytes=0\n"
	"rx_bytes=0\n"
	"persistent_keepalive_interval=0\n"
	"a_key_from_the_future=whatever\n"
	"errno=0\n"
	"\n";

static void test_parse_get(void **state)
{
	struct wg_device dev;
	char text[WG_ALLOWEDIP_STRLEN], b64[WG_KEY_B64_LEN];
	const struct wg_peer *p;

	assert_int_equal(wg_uapi_parse_get(get_reply, strlen(get_reply), &dev), 0);
	assert_int_equal(dev.flags, WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_PUBLIC_KEY |
			 WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK);
	assert_int_equal(dev.listen_port, 51820);
	wg_key_to_base64(b64, dev.public_key);
	assert_string_equal(b64, PUB_B64);
	assert_int_equal(dev.peers_len, 2);

	p = &dev.peers[0];
	assert_int_equal(p->flags, WG_PEER_HAS_KEEPALIVE);
	assert_int_equal(p->last_handshake.tv_sec, 1700000000);
	assert_int_equal(p->last_handshake.tv_nsec, 123456789);
	assert_int_equal(p->tx_bytes, 1184);
	assert_true(p->rx_bytes == UINT64_MAX);
	assert_int_equal(p->persistent_keepalive, 25);
	assert_int_equal(p->endpoint.addr.sa_family, AF_INET6);
	assert_int_equal(ntohs(p->endpoint.addr6.sin6_port), 51821);
	assert_int_equal(p->allowedips_len, 2);
	assert_int_equal(wg_allowedip_format(&p->allowedips[1], text, sizeof(text)), 0);
	assert_string_equal(text, "fd42::2/128");

	p = &dev.peers[1];
	assert_int_equal(p->flags, WG_PEER_HAS_PRESHARED_KEY);
	assert_int_equal(p->last_handshake.tv_sec, 0);
	assert_int_equal(p->endpoint.addr.sa_family, AF_INET);
	assert_int_equal(p->allowedips_len, 0);
	wg_device_clear(&dev);
}

static void test_parse_errno(void **state)
{
	struct wg_device dev;

	assert_int_equal(wg_uapi_parse_get("errno=0\n\n", 9, &dev), 0);
	assert_int_equal(dev.peers_len, 0);
	/* wireguard-go's form and the spec's form. */
	assert_int_equal(wg_uapi_parse_get("errno=-2\n\n", 10, &dev), -ENOENT);
	assert_int_equal(wg_uapi_parse_get("errno=2\n\n", 9, &dev), -ENOENT);
	/* What came before the error is dropped. */
	assert_int_equal(wg_uapi_parse_get("public_key=" P1 "\nerrno=-22\n\n",
					   strlen("public_key=" P1 "\nerrno=-22\n\n"), &dev), -EINVAL);
	assert_int_equal(dev.peers_len, 0);
	assert_null(dev.peers);
	/* The end of the text stands for the empty line. */
	assert_int_equal(wg_uapi_parse_get("errno=0\n", 8, &dev), 0);

	assert_int_equal(wg_uapi_parse_set_reply("errno=0\n\n", 9), 0);
	assert_int_equal(wg_uapi_parse_set_reply("errno=-22\n\n", 11), -EINVAL);
	assert_int_equal(wg_uapi_parse_set_reply("errno=1\n\n", 9), -EPERM);
	assert_int_equal(wg_uapi_parse_set_reply("listen_port=1\nerrno=0\n\n", 23), -EBADMSG);
}

static void test_parse_malformed(void **state)
{
	static const char *const bad[] = {
		"",                                     /* no errno at all */
		"\n",
		"listen_port=51820\n\n",
		"listen_port=51820\n",
		"errno=0",                              /* line cut short */
		"errno=\n\n",
		"errno=-\n\n",
		"errno=x\n\n",
		"errno=99999\n\n",
		"errno=0\nerrno=0\n\n",                 /* anything after errno */
		"errno=0\nlisten_port=1\n\n",
		"errno=0\n\nlisten_port=1\n",           /* past the empty line */
		"no equals sign\nerrno=0\n\n",
		"=1\nerrno=0\n\n",
		"LISTEN_PORT=1\nerrno=0\n\n",
		" listen_port=1\nerrno=0\n\n",
		"listen_port= 1\nerrno=0\n\n",
		"listen_port=65536\nerrno=0\n\n",
		"listen_port=-1\nerrno=0\n\n",
		"fwmark=4294967296\nerrno=0\n\n",
		"private_key=" PRIV_HEX "00\nerrno=0\n\n",
		"private_key=" PUB_B64 "\nerrno=0\n\n", /* base64 is not UAPI */
		"endpoint=1.2.3.4:5\nerrno=0\n\n",      /* peer key with no peer */
		"allowed_ip=10.0.0.1/32\nerrno=0\n\n",
		"rx_bytes=1\nerrno=0\n\n",
		"public_key=" P1 "\nlisten_port=1\nerrno=0\n\n", /* device key in a peer */
		"public_key=" P1 "x\nerrno=0\n\n",
		"public_key=" P1 "\nendpoint=1.2.3.4\nerrno=0\n\n",
		"public_key=" P1 "\nendpoint=fd00::1:5\nerrno=0\n\n",
		"public_key=" P1 "\nendpoint=[fd00::1]:\nerrno=0\n\n",
		"public_key=" P1 "\nallowed_ip=10.0.0.1/33\nerrno=0\n\n",
		"public_key=" P1 "\nallowed_ip=fd00::/129\nerrno=0\n\n",
		"public_key=" P1 "\nallowed_ip=10.0.0.1/\nerrno=0\n\n",
		"public_key=" P1 "\nlast_handshake_time_nsec=1000000000\nerrno=0\n\n",
		"public_key=" P1 "\ntx_bytes=18446744073709551616\nerrno=0\n\n",
		"public_key=" P1 "\npersistent_keepalive_interval=65536\nerrno=0\n\n",
		"public_key=" P1 "\nprotocol_version=one\nerrno=0\n\n",
	};
	struct wg_device dev;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = wg_uapi_parse_get(bad[i], strlen(bad[i]), &dev);

		if (ret != -EBADMSG)
			fail_msg("case %zu \"%s\": %d", i, bad[i], ret);
		assert_null(dev.peers);
		assert_int_equal(dev.flags, 0);
	}
	/* A NUL inside a line, and a line longer than any real one. */
	assert_int_equal(wg_uapi_parse_get("fwmark=1\0\nerrno=0\n\n", 19, &dev), -EBADMSG);
	char long_line[400];
	memset(long_line, 'a', sizeof(long_line));
	memcpy(long_line, "x=", 2);
	memcpy(long_line + sizeof(long_line) - 10, "\nerrno=0\n", 9);
	assert_int_equal(wg_uapi_parse_get(long_line, sizeof(long_line) - 1, &dev), -EBADMSG);
}

/* A fake engine on the other end of a socket pair: reads one request, checks
 * it, answers in pieces small enough to need several reads. */
static void fake_engine(int fd, const char *expect, const char *reply, size_t chunk)
{
	char req[512];
	size_t used = 0;

	while (used < strlen(expect)) {
		ssize_t n = read(fd, req + used, sizeof(req) - used);

		if (n <= 0)
			_exit(2);
		used += (size_t)n;
	}
	if (used != strlen(expect) || memcmp(req, expect, used))
		_exit(3);
	for (size_t off = 0; off < strlen(reply); off += chunk) {
		size_t n = strlen(reply) - off < chunk ? strlen(reply) - off : chunk;

		if (write(fd, reply + off, n) != (ssize_t)n)
			_exit(4);
		usleep(1000);
	}
	_exit(0);
}

static int transact_with(const char *req, const char *reply, size_t chunk, size_t max,
			 char **out, size_t *out_len)
{
	int sv[2], status, ret;
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		fake_engine(sv[1], req, reply, chunk);
	}
	close(sv[1]);
	ret = wg_uapi_transact(sv[0], req, strlen(req), max, out, out_len);
	close(sv[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return ret;
}

static void test_transact(void **state)
{
	struct wg_device dev;
	char *reply;
	size_t len;

	assert_int_equal(transact_with("get=1\n\n", get_reply, 7, 1 << 20, &reply, &len), 0);
	assert_int_equal(len, strlen(get_reply));
	assert_int_equal(wg_uapi_parse_get(reply, len, &dev), 0);
	assert_int_equal(dev.peers_len, 2);
	wg_device_clear(&dev);
	wg_uapi_text_free(reply, len);

	assert_int_equal(transact_with("set=1\n\n", "errno=-2\n\n", 3, 4096, &reply, &len), 0);
	assert_int_equal(wg_uapi_parse_set_reply(reply, len), -ENOENT);
	wg_uapi_text_free(reply, len);

	/* The engine hangs up mid-reply; or says more than we take. */
	assert_int_equal(transact_with("get=1\n\n", "listen_port=1\n", 100, 4096, &reply, &len),
			 -EPIPE);
	assert_null(reply);
	assert_int_equal(transact_with("get=1\n\n", get_reply, 4096, 100, &reply, &len), -EMSGSIZE);
	assert_null(reply);
}

static void test_keys(void **state)
{
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN], back[WG_KEY_LEN];
	char hex[WG_KEY_HEX_LEN], b64[WG_KEY_B64_LEN];

	key(priv, PRIV_HEX);
	assert_int_equal(wg_generate_public_key(pub, priv), 0);
	wg_key_to_hex(hex, pub);
	assert_string_equal(hex, PUB_HEX);
	wg_key_to_base64(b64, pub);
	assert_string_equal(b64, PUB_B64);
	assert_int_equal(wg_key_from_base64(back, b64), 0);
	assert_memory_equal(back, pub, WG_KEY_LEN);

	assert_int_equal(wg_key_from_hex(back, PUB_HEX "0"), -EINVAL);
	assert_int_equal(wg_key_from_hex(back, "zz20f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"), -EINVAL);
	assert_int_equal(wg_key_from_hex(back, PUB_B64), -EINVAL);
	assert_int_equal(wg_key_from_base64(back, PUB_HEX), -EINVAL);
	assert_int_equal(wg_key_from_base64(back, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo"), -EINVAL);
	assert_int_equal(wg_key_from_base64(back, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTm!="), -EINVAL);

	wg_generate_private_key(priv);
	assert_int_equal(priv[0] & 7, 0);
	assert_int_equal(priv[31] & 0xc0, 0x40);
	assert_false(wg_key_is_zero(priv));
	memset(back, 0, sizeof(back));
	assert_true(wg_key_is_zero(back));
}

static void round_trip_endpoint(const char *in, const char *out)
{
	union wg_endpoint ep;
	char text[WG_ENDPOINT_STRLEN];

	assert_int_equal(wg_endpoint_parse(&ep, in), 0);
	assert_int_equal(wg_endpoint_format(&ep, text, sizeof(text)), 0);
	assert_string_equal(text, out);
}

static void test_endpoints(void **state)
{
	static const char *const bad[] = {
		"", "1.2.3.4", "1.2.3.4:", ":5", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4: 5",
		"fd00::1:5", "[fd00::1]5", "[fd00::1", "[1.2.3.4]:5", "[fd00::1%]:5",
		"host.example:51820", "[]:5",
	};
	union wg_endpoint ep;

	round_trip_endpoint("192.0.2.1:51820", "192.0.2.1:51820");
	round_trip_endpoint("[fd00::1]:51820", "[fd00::1]:51820");
	round_trip_endpoint("[FD00:0::1]:0", "[fd00::1]:0");
	round_trip_endpoint("[fe80::1%7]:1", "[fe80::1%7]:1");
	assert_int_equal(wg_endpoint_parse(&ep, "[fe80::1%lo]:1"), 0);
	assert_int_equal(ep.addr6.sin6_scope_id, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (wg_endpoint_parse(&ep, bad[i]) != -EINVAL)
			fail_msg("endpoint \"%s\" accepted", bad[i]);
		assert_int_equal(ep.addr.sa_family, AF_UNSPEC);
	}
	ep.addr.sa_family = AF_UNSPEC;
	assert_int_equal(wg_endpoint_format(&ep, (char[64]){ 0 }, 64), -EAFNOSUPPORT);
	round_trip_endpoint("1.2.3.4:5", "1.2.3.4:5");
	assert_int_equal(wg_endpoint_parse(&ep, "1.2.3.4:5"), 0);
	assert_int_equal(wg_endpoint_format(&ep, (char[8]){ 0 }, 8), -ENOSPC);
}

static void test_resolve(void **state)
{
	union wg_endpoint ep;

	assert_int_equal(wg_endpoint_resolve(&ep, "[fd00::1]:51820"), 0);
	assert_int_equal(ep.addr.sa_family, AF_INET6);
	assert_int_equal(wg_endpoint_resolve(&ep, "localhost:51820"), 0);
	assert_true(ep.addr.sa_family == AF_INET || ep.addr.sa_family == AF_INET6);
	assert_int_equal(ntohs(ep.addr4.sin_port), 51820);  /* same offset in both */
	assert_int_equal(wg_endpoint_resolve(&ep, "localhost"), -EINVAL);
	assert_int_equal(wg_endpoint_resolve(&ep, "localhost:65536"), -EINVAL);
	assert_int_equal(wg_endpoint_resolve(&ep, "[localhost]:1"), -EINVAL);
}

static void test_allowedips(void **state)
{
	static const char *const bad[] = {
		"", "/32", "10.0.0.1/", "10.0.0.1/33", "fd00::/129", "10.0.0.1/3x", "10.0.0.1/+3",
		"10.0.0/8", "fd00::/ 64",
	};
	struct wg_allowedip ip;
	char text[WG_ALLOWEDIP_STRLEN];

	assert_int_equal(wg_allowedip_parse(&ip, "10.42.0.0/16"), 0);
	assert_int_equal(ip.family, AF_INET);
	assert_int_equal(ip.cidr, 16);
	assert_int_equal(wg_allowedip_parse(&ip, "10.42.0.7"), 0);
	assert_int_equal(ip.cidr, 32);
	assert_int_equal(wg_allowedip_parse(&ip, "fd42::7"), 0);
	assert_int_equal(ip.cidr, 128);
	assert_int_equal(wg_allowedip_parse(&ip, "::/0"), 0);
	assert_int_equal(wg_allowedip_format(&ip, text, sizeof(text)), 0);
	assert_string_equal(text, "::/0");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (wg_allowedip_parse(&ip, bad[i]) != -EINVAL)
			fail_msg("allowed ip \"%s\" accepted", bad[i]);
	ip.family = AF_INET;
	ip.cidr = 33;
	assert_int_equal(wg_allowedip_format(&ip, text, sizeof(text)), -EAFNOSUPPORT);
}

static void test_device_building(void **state)
{
	struct wg_device *dev = calloc(1, sizeof(*dev));
	struct wg_allowedip ip = { .family = AF_INET, .cidr = 33 };
	uint8_t k[WG_KEY_LEN];
	struct wg_peer *peer;

	assert_non_null(dev);
	assert_int_equal(wg_device_set_name(dev, ""), -EINVAL);
	assert_int_equal(wg_device_set_name(dev, "sixteen-chars-xx"), -EINVAL);
	assert_int_equal(wg_device_set_name(dev, "a/b"), -EINVAL);
	assert_int_equal(wg_device_set_name(dev, "fifteen-chars-x"), 0);
	peer = add_peer(dev, P1);
	assert_int_equal(wg_peer_add_allowedip(peer, &ip), -EINVAL);
	add_peer(dev, P2);
	key(k, P2);
	assert_ptr_equal(wg_device_find_peer(dev, k), &dev->peers[1]);
	key(k, P3);
	assert_null(wg_device_find_peer(dev, k));
	wg_device_free(dev);
	wg_device_free(NULL);
}

static void test_socket_path(void **state)
{
	struct wg_device *dev = (void *)1;

	/* Names that would leave /var/run/wireguard, or that no interface has. */
	assert_int_equal(wg_uapi_get_device("../../etc/x", &dev), -EINVAL);
	assert_null(dev);
	assert_int_equal(wg_uapi_get_device("..", &dev), -EINVAL);
	assert_int_equal(wg_uapi_get_device("osi-no-such-if", &dev), -ENODEV);
	assert_false(wg_uapi_has_interface("osi-no-such-if"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_set),
		cmocka_unit_test(test_format_set_minimal),
		cmocka_unit_test(test_parse_get),
		cmocka_unit_test(test_parse_errno),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_transact),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_allowedips),
		cmocka_unit_test(test_device_building),
		cmocka_unit_test(test_socket_path),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
