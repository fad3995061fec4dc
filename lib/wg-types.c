/* The helpers the front and both backends share: building and freeing
 * devices, keys, endpoints, allowed IPs. */
#include "lib/wg-types.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

int wg_device_set_name(struct wg_device *dev, const char *ifname)
{
	size_t len = strlen(ifname);

	if (!len || len >= sizeof(dev->name) || strchr(ifname, '/'))
		return -EINVAL;
	memcpy(dev->name, ifname, len + 1);
	return 0;
}

/* Grows an array by one zeroed element. */
static void *grow(void *array, size_t *len, size_t size)
{
	char *p;

	if (*len >= SIZE_MAX / size - 1)
		return NULL;
	p = realloc(array, (*len + 1) * size);
	if (!p)
		return NULL;
	memset(p + *len * size, 0, size);
	return p;
}

int wg_device_add_peer(struct wg_device *dev, const uint8_t public_key[WG_KEY_LEN],
		       struct wg_peer **out)
{
	struct wg_peer *peers = grow(dev->peers, &dev->peers_len, sizeof(*peers));

	if (!peers)
		return -ENOMEM;
	dev->peers = peers;
	memcpy(peers[dev->peers_len].public_key, public_key, WG_KEY_LEN);
	if (out)
		*out = &peers[dev->peers_len];
	dev->peers_len++;
	return 0;
}

int wg_peer_add_allowedip(struct wg_peer *peer, const struct wg_allowedip *ip)
{
	struct wg_allowedip *ips;

	if ((ip->family != AF_INET || ip->cidr > 32) &&
	    (ip->family != AF_INET6 || ip->cidr > 128))
		return -EINVAL;
	ips = grow(peer->allowedips, &peer->allowedips_len, sizeof(*ips));
	if (!ips)
		return -ENOMEM;
	peer->allowedips = ips;
	ips[peer->allowedips_len++] = *ip;
	return 0;
}

struct wg_peer *wg_device_find_peer(const struct wg_device *dev,
				    const uint8_t public_key[WG_KEY_LEN])
{
	for (size_t i = 0; i < dev->peers_len; i++)
		if (!sodium_memcmp(dev->peers[i].public_key, public_key, WG_KEY_LEN))
			return &dev->peers[i];
	return NULL;
}

void wg_device_clear(struct wg_device *dev)
{
	for (size_t i = 0; i < dev->peers_len; i++) {
		sodium_memzero(dev->peers[i].preshared_key, WG_KEY_LEN);
		free(dev->peers[i].allowedips);
	}
	free(dev->peers);
	sodium_memzero(dev, sizeof(*dev));
}

void wg_device_free(struct wg_device *dev)
{
	if (!dev)
		return;
	wg_device_clear(dev);
	free(dev);
}

void wg_key_to_hex(char hex[WG_KEY_HEX_LEN], const uint8_t key[WG_KEY_LEN])
{
	sodium_bin2hex(hex, WG_KEY_HEX_LEN, key, WG_KEY_LEN);
}

int wg_key_from_hex(uint8_t key[WG_KEY_LEN], const char *hex)
{
	size_t len;
	const char *end;

	if (strlen(hex) != 2 * WG_KEY_LEN)
		return -EINVAL;
	if (sodium_hex2bin(key, WG_KEY_LEN, hex, 2 * WG_KEY_LEN, NULL, &len, &end) ||
	    len != WG_KEY_LEN || *end) {
		sodium_memzero(key, WG_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

void wg_key_to_base64(char b64[WG_KEY_B64_LEN], const uint8_t key[WG_KEY_LEN])
{
	sodium_bin2base64(b64, WG_KEY_B64_LEN, key, WG_KEY_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
}

int wg_key_from_base64(uint8_t key[WG_KEY_LEN], const char *b64)
{
	size_t len;
	const char *end;

	if (strlen(b64) != WG_KEY_B64_LEN - 1)
		return -EINVAL;
	if (sodium_base642bin(key, WG_KEY_LEN, b64, WG_KEY_B64_LEN - 1, NULL, &len, &end,
			      sodium_base64_VARIANT_ORIGINAL) ||
	    len != WG_KEY_LEN || *end) {
		sodium_memzero(key, WG_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

bool wg_key_is_zero(const uint8_t key[WG_KEY_LEN])
{
	return sodium_is_zero(key, WG_KEY_LEN);
}

void wg_generate_private_key(uint8_t key[WG_KEY_LEN])
{
	randombytes_buf(key, WG_KEY_LEN);
	key[0] &= 248;
	key[31] = (key[31] & 127) | 64;
}

int wg_generate_public_key(uint8_t pub[WG_KEY_LEN], const uint8_t priv[WG_KEY_LEN])
{
	return crypto_scalarmult_curve25519_base(pub, priv) ? -EINVAL : 0;
}

int wg_parse_uint(const char *text, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (!*text)
		return -EINVAL;
	for (; *text; text++) {
		if (*text < '0' || *text > '9')
			return -EINVAL;
		if (v > (max - (unsigned)(*text - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (unsigned)(*text - '0');
	}
	*out = v;
	return 0;
}

static int parse_scope(const char *text, uint32_t *scope)
{
	unsigned long long v;

	if (!wg_parse_uint(text, UINT32_MAX, &v)) {
		*scope = (uint32_t)v;
		return 0;
	}
	if (strlen(text) >= IFNAMSIZ)
		return -EINVAL;
	*scope = if_nametoindex(text);
	return *scope ? 0 : -EINVAL;
}

static int parse_ipv6_host(struct sockaddr_in6 *sin6, char *host)
{
	char *pct = strchr(host, '%');

	if (pct) {
		*pct = '\0';
		if (parse_scope(pct + 1, &sin6->sin6_scope_id))
			return -EINVAL;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
		return -EINVAL;
	sin6->sin6_family = AF_INET6;
	return 0;
}

int wg_endpoint_parse(union wg_endpoint *ep, const char *text)
{
	char host[INET6_ADDRSTRLEN + IFNAMSIZ + 2];
	const char *port_text, *end;
	bool bracketed = text[0] == '[';
	unsigned long long port;
	size_t hlen;
	int ret;

	memset(ep, 0, sizeof(*ep));
	if (bracketed) {
		text++;
		end = strchr(text, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		port_text = end + 2;
	} else {
		end = strrchr(text, ':');
		if (!end)
			return -EINVAL;
		port_text = end + 1;
	}
	hlen = (size_t)(end - text);
	if (!hlen || hlen >= sizeof(host) || wg_parse_uint(port_text, 65535, &port))
		return -EINVAL;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (bracketed) {
		ret = parse_ipv6_host(&ep->addr6, host);
		ep->addr6.sin6_port = htons((uint16_t)port);
	} else {
		ret = inet_pton(AF_INET, host, &ep->addr4.sin_addr) == 1 ? 0 : -EINVAL;
		ep->addr4.sin_family = AF_INET;
		ep->addr4.sin_port = htons((uint16_t)port);
	}
	if (ret)
		memset(ep, 0, sizeof(*ep));
	return ret;
}

int wg_endpoint_resolve(union wg_endpoint *ep, const char *text)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char host[256];
	const char *colon = strrchr(text, ':');
	unsigned long long port;
	size_t hlen = colon ? (size_t)(colon - text) : 0;
	int ret;

	if (!wg_endpoint_parse(ep, text))
		return 0;
	if (!hlen || hlen >= sizeof(host) || text[0] == '[' ||
	    wg_parse_uint(colon + 1, 65535, &port))
		return -EINVAL;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &res) || !res)
		return -EHOSTUNREACH;
	ret = -EAFNOSUPPORT;
	if ((res->ai_family == AF_INET || res->ai_family == AF_INET6) &&
	    res->ai_addrlen <= sizeof(*ep)) {
		memcpy(ep, res->ai_addr, res->ai_addrlen);
		ret = 0;
	}
	freeaddrinfo(res);
	return ret;
}

int wg_endpoint_format(const union wg_endpoint *ep, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN], scope[IFNAMSIZ + 12] = "";
	int n;

	if (ep->addr.sa_family == AF_INET) {
		inet_ntop(AF_INET, &ep->addr4.sin_addr, host, sizeof(host));
		n = snprintf(buf, len, "%s:%u", host, ntohs(ep->addr4.sin_port));
	} else if (ep->addr.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &ep->addr6.sin6_addr, host, sizeof(host));
		if (ep->addr6.sin6_scope_id)
			snprintf(scope, sizeof(scope), "%%%u", ep->addr6.sin6_scope_id);
		n = snprintf(buf, len, "[%s%s]:%u", host, scope, ntohs(ep->addr6.sin6_port));
	} else {
		return -EAFNOSUPPORT;
	}
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int wg_allowedip_parse(struct wg_allowedip *ip, const char *text)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t hlen = slash ? (size_t)(slash - text) : strlen(text);
	unsigned long long cidr;

	memset(ip, 0, sizeof(*ip));
	if (!hlen || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, &ip->ip4) == 1)
		ip->family = AF_INET;
	else if (inet_pton(AF_INET6, host, &ip->ip6) == 1)
		ip->family = AF_INET6;
	else
		return -EINVAL;
	cidr = ip->family == AF_INET ? 32 : 128;
	if (slash && wg_parse_uint(slash + 1, cidr, &cidr)) {
		memset(ip, 0, sizeof(*ip));
		return -EINVAL;
	}
	ip->cidr = (uint8_t)cidr;
	return 0;
}

int wg_allowedip_format(const struct wg_allowedip *ip, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	int n;

	if ((ip->family != AF_INET || ip->cidr > 32) &&
	    (ip->family != AF_INET6 || ip->cidr > 128))
		return -EAFNOSUPPORT;
	inet_ntop(ip->family, &ip->ip6, host, sizeof(host));
	n = snprintf(buf, len, "%s/%u", host, ip->cidr);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}
