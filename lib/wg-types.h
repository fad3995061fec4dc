/* The WireGuard device and peer structs, and the helpers that build, parse
 * and print them: what the front (wg.h) and both backends (wg-uapi.h,
 * wg-netlink.h) share, as wireguard-tools' containers.h. Each of them
 * includes this; the backends never include the front. */
#pragma once
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define WG_KEY_LEN 32
#define WG_KEY_HEX_LEN (2 * WG_KEY_LEN + 1)   /* with the NUL */
#define WG_KEY_B64_LEN (44 + 1)               /* with the NUL */

/* Textual endpoint: "[ipv6%scope]:65535" at most. */
#define WG_ENDPOINT_STRLEN (INET6_ADDRSTRLEN + IFNAMSIZ + 10)
/* Textual allowed IP: "ipv6/128" at most. */
#define WG_ALLOWEDIP_STRLEN (INET6_ADDRSTRLEN + 5)

struct wg_allowedip {
	uint16_t family;        /* AF_INET or AF_INET6 */
	union {
		struct in_addr ip4;
		struct in6_addr ip6;
	};
	uint8_t cidr;
};

/* sa_family AF_UNSPEC when the peer has no endpoint. */
union wg_endpoint {
	struct sockaddr addr;
	struct sockaddr_in addr4;
	struct sockaddr_in6 addr6;
};

enum wg_peer_flags {
	WG_PEER_REMOVE_ME = 1U << 0,            /* set: remove this peer */
	WG_PEER_REPLACE_ALLOWEDIPS = 1U << 1,   /* set: drop its old allowed IPs first */
	WG_PEER_UPDATE_ONLY = 1U << 2,          /* set: only if it already exists */
	WG_PEER_HAS_PRESHARED_KEY = 1U << 3,
	WG_PEER_HAS_KEEPALIVE = 1U << 4,
};

struct wg_peer {
	uint32_t flags;                         /* enum wg_peer_flags */
	uint8_t public_key[WG_KEY_LEN];
	uint8_t preshared_key[WG_KEY_LEN];
	union wg_endpoint endpoint;
	uint16_t persistent_keepalive;          /* seconds, 0 = off */
	/* Filled by wg_get_device only. Wall clock; 0 = never. */
	struct timespec last_handshake;
	uint64_t rx_bytes, tx_bytes;
	struct wg_allowedip *allowedips;
	size_t allowedips_len;
};

enum wg_device_flags {
	WG_DEVICE_REPLACE_PEERS = 1U << 0,      /* set: remove peers not listed */
	WG_DEVICE_HAS_PRIVATE_KEY = 1U << 1,
	WG_DEVICE_HAS_PUBLIC_KEY = 1U << 2,     /* get only */
	WG_DEVICE_HAS_LISTEN_PORT = 1U << 3,
	WG_DEVICE_HAS_FWMARK = 1U << 4,
};

struct wg_device {
	char name[IFNAMSIZ];
	uint32_t ifindex;                       /* get (netlink) only */
	uint32_t flags;                         /* enum wg_device_flags */
	uint8_t private_key[WG_KEY_LEN];
	uint8_t public_key[WG_KEY_LEN];
	uint16_t listen_port;
	uint32_t fwmark;
	struct wg_peer *peers;
	size_t peers_len;
};

/* Building a device: arrays grow with these; wg_device_clear() wipes the keys
 * and frees what they allocated, wg_device_free() also frees dev itself. */
int wg_device_set_name(struct wg_device *dev, const char *ifname);
int wg_device_add_peer(struct wg_device *dev, const uint8_t public_key[WG_KEY_LEN],
		       struct wg_peer **out);
int wg_peer_add_allowedip(struct wg_peer *peer, const struct wg_allowedip *ip);
struct wg_peer *wg_device_find_peer(const struct wg_device *dev,
				    const uint8_t public_key[WG_KEY_LEN]);
void wg_device_clear(struct wg_device *dev);
void wg_device_free(struct wg_device *dev);

/* Keys: hex is what UAPI speaks, base64 what people read (`wg show`). The
 * parsers accept exactly one 32-byte key and nothing else. */
void wg_key_to_hex(char hex[WG_KEY_HEX_LEN], const uint8_t key[WG_KEY_LEN]);
int wg_key_from_hex(uint8_t key[WG_KEY_LEN], const char *hex);
void wg_key_to_base64(char b64[WG_KEY_B64_LEN], const uint8_t key[WG_KEY_LEN]);
int wg_key_from_base64(uint8_t key[WG_KEY_LEN], const char *b64);
bool wg_key_is_zero(const uint8_t key[WG_KEY_LEN]);
/* A clamped Curve25519 private key, and the public key that goes with one. */
void wg_generate_private_key(uint8_t key[WG_KEY_LEN]);
int wg_generate_public_key(uint8_t pub[WG_KEY_LEN], const uint8_t priv[WG_KEY_LEN]);

/* Strict decimal: digits only, no sign or blanks, at most max. */
int wg_parse_uint(const char *text, unsigned long long max, unsigned long long *out);

/* Numeric forms only, no name resolution: "1.2.3.4:51820", "[fd00::1]:51820"
 * ("[fe80::1%eth0]:51820" with a scope). */
int wg_endpoint_parse(union wg_endpoint *ep, const char *text);
int wg_endpoint_format(const union wg_endpoint *ep, char *buf, size_t len);
/* The numeric forms, or "name:port" looked up in DNS (first answer; may
 * block): for endpoints as the ledger records them. -EINVAL on bad syntax,
 * -EHOSTUNREACH when the name does not resolve. */
int wg_endpoint_resolve(union wg_endpoint *ep, const char *text);
/* "10.0.0.1/32", "fd00::/64"; without "/n" the whole address. Also the
 * address-and-prefix argument of the wg-if.h calls. */
int wg_allowedip_parse(struct wg_allowedip *ip, const char *text);
int wg_allowedip_format(const struct wg_allowedip *ip, char *buf, size_t len);
