/* wg_uapi_parse_get on arbitrary replies. A reply that parses, written out
 * again in the protocol's own form, must parse to the same device; one that
 * does not must leave the device empty and say why with -errno. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wg-uapi.h"
#include "lib/wg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
	char *p;
	size_t len, cap;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		abort();
	o->len += (size_t)n;
}

static void put_key(struct out *o, const char *name, const uint8_t key[WG_KEY_LEN])
{
	char hex[WG_KEY_HEX_LEN];

	wg_key_to_hex(hex, key);
	put(o, "%s=%s\n", name, hex);
}

static void format_peer(struct out *o, const struct wg_peer *p)
{
	char text[WG_ENDPOINT_STRLEN];

	put_key(o, "public_key", p->public_key);
	if (p->flags & WG_PEER_HAS_PRESHARED_KEY)
		put_key(o, "preshared_key", p->preshared_key);
	if (p->endpoint.addr.sa_family != AF_UNSPEC) {
		if (wg_endpoint_format(&p->endpoint, text, sizeof(text)))
			abort();
		put(o, "endpoint=%s\n", text);
	}
	put(o, "last_handshake_time_sec=%lld\nlast_handshake_time_nsec=%ld\n",
	    (long long)p->last_handshake.tv_sec, p->last_handshake.tv_nsec);
	put(o, "rx_bytes=%llu\ntx_bytes=%llu\npersistent_keepalive_interval=%u\n",
	    (unsigned long long)p->rx_bytes, (unsigned long long)p->tx_bytes,
	    p->persistent_keepalive);
	for (size_t i = 0; i < p->allowedips_len; i++) {
		if (wg_allowedip_format(&p->allowedips[i], text, sizeof(text)))
			abort();
		put(o, "allowed_ip=%s\n", text);
	}
}

static struct out format_reply(const struct wg_device *dev)
{
	struct out o = { .cap = 256 };

	for (size_t i = 0; i < dev->peers_len; i++)
		o.cap += 512 + dev->peers[i].allowedips_len * 64;
	o.p = malloc(o.cap);
	if (!o.p)
		abort();
	if (dev->flags & WG_DEVICE_HAS_PRIVATE_KEY)
		put_key(&o, "private_key", dev->private_key);
	if (dev->flags & WG_DEVICE_HAS_LISTEN_PORT)
		put(&o, "listen_port=%u\n", dev->listen_port);
	if (dev->flags & WG_DEVICE_HAS_FWMARK)
		put(&o, "fwmark=%u\n", dev->fwmark);
	for (size_t i = 0; i < dev->peers_len; i++)
		format_peer(&o, &dev->peers[i]);
	put(&o, "errno=0\n\n");
	return o;
}

static void same_peer(const struct wg_peer *a, const struct wg_peer *b)
{
	if (a->flags != b->flags || memcmp(a->public_key, b->public_key, WG_KEY_LEN) ||
	    memcmp(a->preshared_key, b->preshared_key, WG_KEY_LEN) ||
	    memcmp(&a->endpoint, &b->endpoint, sizeof(a->endpoint)) ||
	    a->persistent_keepalive != b->persistent_keepalive ||
	    a->last_handshake.tv_sec != b->last_handshake.tv_sec ||
	    a->last_handshake.tv_nsec != b->last_handshake.tv_nsec ||
	    a->rx_bytes != b->rx_bytes || a->tx_bytes != b->tx_bytes ||
	    a->allowedips_len != b->allowedips_len)
		abort();
	for (size_t i = 0; i < a->allowedips_len; i++) {
		const struct wg_allowedip *x = &a->allowedips[i], *y = &b->allowedips[i];

		if (x->family != y->family || x->cidr != y->cidr ||
		    memcmp(&x->ip6, &y->ip6, x->family == AF_INET ? 4 : 16))
			abort();
	}
}

static void same_device(const struct wg_device *a, const struct wg_device *b)
{
	if (a->flags != b->flags || memcmp(a->private_key, b->private_key, WG_KEY_LEN) ||
	    memcmp(a->public_key, b->public_key, WG_KEY_LEN) ||
	    a->listen_port != b->listen_port || a->fwmark != b->fwmark ||
	    a->peers_len != b->peers_len)
		abort();
	for (size_t i = 0; i < a->peers_len; i++)
		same_peer(&a->peers[i], &b->peers[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wg_device dev, again;
	struct out o;
	int ret = wg_uapi_parse_get((const char *)data, size, &dev);

	if (ret) {
		static const struct wg_device empty;

		if (ret > 0 || ret < -4095 || memcmp(&dev, &empty, sizeof(dev)))
			abort();
		return 0;
	}
	o = format_reply(&dev);
	if (wg_uapi_parse_get(o.p, o.len, &again))
		abort();
	same_device(&dev, &again);
	wg_device_clear(&again);
	wg_device_clear(&dev);
	free(o.p);
	return 0;
}
