#include "genesis/ceremony-msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "genesis/shortcode.h"
#include "lib/bytes.h"

struct writer {
	uint8_t *out;
	size_t size;
	size_t len;
};

struct reader {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool bad;
};

static void put(struct writer *w, const void *p, size_t n)
{
	if (n && w->len < w->size)
		memcpy(w->out + w->len, p, n < w->size - w->len ? n : w->size - w->len);
	w->len += n;
}

static void put_u8(struct writer *w, uint8_t v)
{
	put(w, &v, 1);
}

static void put_u16(struct writer *w, uint16_t v)
{
	uint8_t b[2];

	put_be16(b, v);
	put(w, b, sizeof(b));
}

static void put_u32(struct writer *w, uint32_t v)
{
	uint8_t b[4];

	put_be32(b, v);
	put(w, b, sizeof(b));
}

static void put_str8(struct writer *w, const char *s)
{
	size_t n = strlen(s);

	put_u8(w, (uint8_t)n);
	put(w, s, n);
}

static void reader_init(struct reader *r, const uint8_t *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->bad = false;
}

static const uint8_t *take(struct reader *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || r->len - r->off < n) {
		r->bad = true;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint8_t take_u8(struct reader *r)
{
	const uint8_t *p = take(r, 1);

	return p ? *p : 0;
}

static uint16_t take_u16(struct reader *r)
{
	const uint8_t *p = take(r, 2);

	return p ? get_be16(p) : 0;
}

static uint32_t take_u32(struct reader *r)
{
	const uint8_t *p = take(r, 4);

	return p ? get_be32(p) : 0;
}

static void take_bytes(struct reader *r, void *out, size_t n)
{
	const uint8_t *p = take(r, n);

	if (p)
		memcpy(out, p, n);
	else
		memset(out, 0, n);
}

/* u8 n | n printable bytes (no NUL, no controls), n <= max. */
static void take_str8(struct reader *r, char *out, size_t max)
{
	size_t n = take_u8(r);
	const uint8_t *p;

	out[0] = '\0';
	if (n > max) {
		r->bad = true;
		return;
	}
	p = take(r, n);
	if (!p)
		return;
	for (size_t i = 0; i < n; ++i) {
		if (p[i] < 0x20 || p[i] > 0x7e) {
			r->bad = true;
			return;
		}
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

static int done(const struct reader *r)
{
	return r->bad || r->off != r->len ? -EBADMSG : 0;
}

static ssize_t finish(const struct writer *w)
{
	return (ssize_t)w->len;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; ++i)
		acc |= p[i];
	return acc == 0;
}

/* 1..65535, digits only, no leading zero. */
static bool port_valid(const char *s)
{
	unsigned long v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; ++i) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-';
}

bool ceremony_endpoint_valid(const char *s)
{
	char host[CEREMONY_ENDPOINT_MAX + 1];
	const char *colon;
	size_t n;

	if (!s || strlen(s) > CEREMONY_ENDPOINT_MAX)
		return false;
	colon = strrchr(s, ':');
	if (!colon || colon == s || !port_valid(colon + 1))
		return false;
	n = (size_t)(colon - s);
	if (s[0] == '[') {
		struct in6_addr a;

		if (n < 3 || s[n - 1] != ']')
			return false;
		memcpy(host, s + 1, n - 2);
		host[n - 2] = '\0';
		return inet_pton(AF_INET6, host, &a) == 1;
	}
	for (size_t i = 0; i < n; ++i) {
		if (!host_char(s[i]))
			return false;
	}
	return true;
}

/* Parses an IPv4 or IPv6 address; returns its length in bytes, or 0. */
static size_t parse_addr(const char *s, uint8_t out[16])
{
	if (strchr(s, ':'))
		return inet_pton(AF_INET6, s, out) == 1 ? 16 : 0;
	return inet_pton(AF_INET, s, out) == 1 ? 4 : 0;
}

static bool parse_prefix(const char *s, uint8_t net[16], size_t *alen, unsigned int *plen)
{
	char addr[CEREMONY_ADDR_MAX + 1];
	const char *slash = strchr(s, '/');
	unsigned int v = 0;
	size_t n;

	if (!slash || strlen(s) > CEREMONY_ADDR_MAX)
		return false;
	n = (size_t)(slash - s);
	memcpy(addr, s, n);
	addr[n] = '\0';
	*alen = parse_addr(addr, net);
	if (!*alen || !slash[1] || strlen(slash + 1) > 3 || (slash[1] == '0' && slash[2]))
		return false;
	for (const char *p = slash + 1; *p; ++p) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned int)(*p - '0');
	}
	if (v > *alen * 8)
		return false;
	*plen = v;
	return true;
}

/* Whether the first plen bits of a and b agree. */
static bool same_prefix(const uint8_t *a, const uint8_t *b, unsigned int plen)
{
	size_t full = plen / 8;
	unsigned int rest = plen % 8;

	if (memcmp(a, b, full))
		return false;
	if (!rest)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool cmsg_prefix_valid(const char *prefix)
{
	uint8_t net[16];
	unsigned int plen;
	size_t alen;

	if (!prefix || !parse_prefix(prefix, net, &alen, &plen))
		return false;
	for (unsigned int bit = plen; bit < alen * 8; ++bit) {
		if (net[bit / 8] & (0x80 >> (bit % 8)))
			return false;
	}
	return true;
}

bool cmsg_address_in(const char *address, const char *prefix)
{
	uint8_t net[16], a[16];
	unsigned int plen;
	size_t alen;

	if (!address || !cmsg_prefix_valid(prefix) || !parse_prefix(prefix, net, &alen, &plen))
		return false;
	if (strlen(address) > CEREMONY_ADDR_MAX || parse_addr(address, a) != alen)
		return false;
	return same_prefix(a, net, plen);
}

int cmsg_type(const uint8_t *p, size_t len)
{
	return len ? p[0] : -EBADMSG;
}

void cmsg_ad(uint8_t ad[CMSG_AD_BYTES], uint8_t role, const uint8_t nonce[CMSG_NONCE_BYTES])
{
	ad[0] = CEREMONY_VERSION;
	ad[1] = role;
	memcpy(ad + 2, nonce, CMSG_NONCE_BYTES);
}

ssize_t cmsg_encode_hello(const struct cmsg_hello *m, uint8_t *out, size_t size)
{
	struct writer w = { out, size, 0 };

	if (m->slot < 1 || m->slot > SHORTCODE_SLOT_MAX)
		return -EINVAL;
	put_u8(&w, CMSG_HELLO);
	put_u8(&w, m->version);
	put_u16(&w, (uint16_t)m->slot);
	put(&w, m->nonce, CMSG_NONCE_BYTES);
	return finish(&w);
}

int cmsg_decode_hello(const uint8_t *p, size_t len, struct cmsg_hello *m)
{
	struct reader r;

	reader_init(&r, p, len);
	if (take_u8(&r) != CMSG_HELLO)
		return -EBADMSG;
	m->version = take_u8(&r);
	if (r.bad)
		return -EBADMSG;
	/* Another version may lay out the rest differently: say so first. */
	if (m->version != CEREMONY_VERSION)
		return -EPROTONOSUPPORT;
	m->slot = take_u16(&r);
	take_bytes(&r, m->nonce, CMSG_NONCE_BYTES);
	if (m->slot < 1 || m->slot > SHORTCODE_SLOT_MAX)
		return -EBADMSG;
	return done(&r);
}

ssize_t cmsg_encode_start(const struct cmsg_start *m, uint8_t *out, size_t size)
{
	struct writer w = { out, size, 0 };

	put_u8(&w, CMSG_START);
	put_u8(&w, m->version);
	put(&w, m->nonce, CMSG_NONCE_BYTES);
	return finish(&w);
}

int cmsg_decode_start(const uint8_t *p, size_t len, struct cmsg_start *m)
{
	struct reader r;

	reader_init(&r, p, len);
	if (take_u8(&r) != CMSG_START)
		return -EBADMSG;
	m->version = take_u8(&r);
	take_bytes(&r, m->nonce, CMSG_NONCE_BYTES);
	if (m->version != CEREMONY_VERSION)
		return -EBADMSG;
	return done(&r);
}

ssize_t cmsg_encode_share(uint8_t type, const struct cmsg_share *m, uint8_t *out, size_t size)
{
	struct writer w = { out, size, 0 };

	if (type != CMSG_SHARE_A && type != CMSG_SHARE_B)
		return -EINVAL;
	put_u8(&w, type);
	put(&w, m->Y, CPACE_POINT_BYTES);
	put(&w, m->ad, CMSG_AD_BYTES);
	if (type == CMSG_SHARE_B)
		put(&w, m->tag, CPACE_TAG_BYTES);
	return finish(&w);
}

int cmsg_decode_share(uint8_t type, const uint8_t *p, size_t len, struct cmsg_share *m)
{
	struct reader r;

	if (type != CMSG_SHARE_A && type != CMSG_SHARE_B)
		return -EINVAL;
	reader_init(&r, p, len);
	if (take_u8(&r) != type)
		return -EBADMSG;
	take_bytes(&r, m->Y, CPACE_POINT_BYTES);
	take_bytes(&r, m->ad, CMSG_AD_BYTES);
	if (type == CMSG_SHARE_B)
		take_bytes(&r, m->tag, CPACE_TAG_BYTES);
	else
		memset(m->tag, 0, CPACE_TAG_BYTES);
	return done(&r);
}

ssize_t cmsg_encode_confirm(const uint8_t tag[CPACE_TAG_BYTES], uint8_t *out, size_t size)
{
	struct writer w = { out, size, 0 };

	put_u8(&w, CMSG_CONFIRM);
	put(&w, tag, CPACE_TAG_BYTES);
	return finish(&w);
}

int cmsg_decode_confirm(const uint8_t *p, size_t len, uint8_t tag[CPACE_TAG_BYTES])
{
	struct reader r;

	reader_init(&r, p, len);
	if (take_u8(&r) != CMSG_CONFIRM)
		return -EBADMSG;
	take_bytes(&r, tag, CPACE_TAG_BYTES);
	return done(&r);
}

ssize_t cmsg_encode_abort(uint8_t type, uint8_t reason, const char *text, uint8_t *out,
			  size_t size)
{
	struct writer w = { out, size, 0 };
	size_t n = text ? strlen(text) : 0;

	if ((type != CMSG_ABORT && type != CMSG_ABORT_SEALED) || reason == 0)
		return -EINVAL;
	if (n > CMSG_ABORT_TEXT_MAX)
		n = CMSG_ABORT_TEXT_MAX;
	put_u8(&w, type);
	put_u8(&w, reason);
	put_u8(&w, (uint8_t)n);
	for (size_t i = 0; i < n; ++i)
		put_u8(&w, text[i] >= 0x20 && text[i] <= 0x7e ? (uint8_t)text[i] : '?');
	return finish(&w);
}

int cmsg_decode_abort(uint8_t type, const uint8_t *p, size_t len, struct cmsg_abort *m)
{
	struct reader r;

	if (type != CMSG_ABORT && type != CMSG_ABORT_SEALED)
		return -EINVAL;
	reader_init(&r, p, len);
	if (take_u8(&r) != type)
		return -EBADMSG;
	m->reason = take_u8(&r);
	take_str8(&r, m->text, CMSG_ABORT_TEXT_MAX);
	if (m->reason == 0)
		return -EBADMSG;
	return done(&r);
}

static bool joiner_valid(const struct ceremony_joiner *m)
{
	return node_name_valid(m->name) &&
	       crypto_core_ed25519_is_valid_point(m->sign_pk) &&
	       !all_zero(m->kx_pk, KX_PK_BYTES) &&
	       !all_zero(m->wg_pk, CEREMONY_WG_KEY_BYTES) &&
	       (!m->endpoint[0] || ceremony_endpoint_valid(m->endpoint)) &&
	       !(m->roles & ~CEREMONY_ROLES_ALL);
}

ssize_t cmsg_encode_join(const struct ceremony_joiner *m, uint8_t *out, size_t size)
{
	struct writer w = { out, size, 0 };

	if (memchr(m->name, '\0', sizeof(m->name)) == NULL ||
	    memchr(m->endpoint, '\0', sizeof(m->endpoint)) == NULL || !joiner_valid(m))
		return -EINVAL;
	put_u8(&w, CMSG_JOIN);
	put_str8(&w, m->name);
	put(&w, m->sign_pk, SIGN_PK_BYTES);
	put(&w, m->kx_pk, KX_PK_BYTES);
	put(&w, m->wg_pk, CEREMONY_WG_KEY_BYTES);
	put_str8(&w, m->endpoint);
	put_u8(&w, (uint8_t)m->roles);
	return finish(&w);
}

int cmsg_decode_join(const uint8_t *p, size_t len, struct ceremony_joiner *m)
{
	struct reader r;

	memset(m, 0, sizeof(*m));
	reader_init(&r, p, len);
	if (take_u8(&r) != CMSG_JOIN)
		return -EBADMSG;
	take_str8(&r, m->name, NODE_NAME_MAX);
	take_bytes(&r, m->sign_pk, SIGN_PK_BYTES);
	take_bytes(&r, m->kx_pk, KX_PK_BYTES);
	take_bytes(&r, m->wg_pk, CEREMONY_WG_KEY_BYTES);
	take_str8(&r, m->endpoint, CEREMONY_ENDPOINT_MAX);
	m->roles = take_u8(&r);
	if (done(&r) < 0 || !joiner_valid(m))
		return -EBADMSG;
	return 0;
}

ssize_t cmsg_encode_confirmed(uint8_t *out, size_t size)
{
	struct writer w = { out, size, 0 };

	put_u8(&w, CMSG_CONFIRMED);
	return finish(&w);
}

int cmsg_decode_confirmed(const uint8_t *p, size_t len)
{
	return len == 1 && p[0] == CMSG_CONFIRMED ? 0 : -EBADMSG;
}

static bool answer_valid(const char *prefix, const char *address, const char *fleet,
			 size_t ledger_len)
{
	return cmsg_address_in(address, prefix) && (!fleet[0] || ceremony_endpoint_valid(fleet)) &&
	       ledger_len >= 1 && ledger_len <= CEREMONY_LEDGER_MAX;
}

ssize_t cmsg_encode_answer(const struct ceremony_answer *m, uint8_t *out, size_t size)
{
	struct writer w = { out, size, 0 };

	if (!memchr(m->mesh_prefix, '\0', sizeof(m->mesh_prefix)) ||
	    !memchr(m->address, '\0', sizeof(m->address)) ||
	    !memchr(m->fleet, '\0', sizeof(m->fleet)) || !m->ledger ||
	    !answer_valid(m->mesh_prefix, m->address, m->fleet, m->ledger_len))
		return -EINVAL;
	put_u8(&w, CMSG_ANSWER);
	put_str8(&w, m->mesh_prefix);
	put_str8(&w, m->address);
	put_str8(&w, m->fleet);
	put_u32(&w, (uint32_t)m->ledger_len);
	put(&w, m->ledger, m->ledger_len);
	return finish(&w);
}

int cmsg_decode_answer(const uint8_t *p, size_t len, struct cmsg_answer *m)
{
	struct reader r;

	memset(m, 0, sizeof(*m));
	reader_init(&r, p, len);
	if (take_u8(&r) != CMSG_ANSWER)
		return -EBADMSG;
	take_str8(&r, m->mesh_prefix, CEREMONY_ADDR_MAX);
	take_str8(&r, m->address, CEREMONY_ADDR_MAX);
	take_str8(&r, m->fleet, CEREMONY_ENDPOINT_MAX);
	m->ledger_len = take_u32(&r);
	if (m->ledger_len > CEREMONY_LEDGER_MAX)
		return -EBADMSG;
	m->ledger = take(&r, m->ledger_len);
	if (done(&r) < 0 ||
	    !answer_valid(m->mesh_prefix, m->address, m->fleet, m->ledger_len))
		return -EBADMSG;
	return 0;
}

int cmsg_decode_sealed(const uint8_t *p, size_t len, const uint8_t **ct, size_t *ct_len)
{
	if (len < 1 + 1 + CMSG_SEAL_BYTES || p[0] != CMSG_SEALED)
		return -EBADMSG;
	*ct = p + 1;
	*ct_len = len - 1;
	return 0;
}
