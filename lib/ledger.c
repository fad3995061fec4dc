#include "lib/ledger.h"
#include "lib/roles.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "lib/bytes.h"
#include "lib/errbuf.h"
#include "lib/fileio.h"

#define DOMAIN_LEN (sizeof(LEDGER_DOMAIN) - 1)
/* kind, index, prev, timestamp, signer */
#define HEAD_MAX (1 + 4 + LEDGER_HASH_BYTES + 8 + 1 + NODE_NAME_MAX)
#define RECORD_MAX (1 + NODE_NAME_MAX + SIGN_PK_BYTES + KX_PK_BYTES + LEDGER_WG_KEY_BYTES + \
		    4 + 1 + LEDGER_ENDPOINT_MAX + 1)
/* rekey: name, three keys, endpoint, request */
#define REKEY_MAX (1 + NODE_NAME_MAX + SIGN_PK_BYTES + KX_PK_BYTES + LEDGER_WG_KEY_BYTES + \
		   1 + LEDGER_ENDPOINT_MAX + SIG_BYTES)
#define GENESIS_BODY_MAX (LEDGER_MESH_ID_BYTES + 4 + 1 + RECORD_MAX)
#define BODY_MAX (REKEY_MAX > GENESIS_BODY_MAX ? REKEY_MAX : GENESIS_BODY_MAX)
#define ENTRY_MAX (HEAD_MAX + BODY_MAX + SIG_BYTES)
#define REKEY_DOMAIN_LEN (sizeof(LEDGER_REKEY_DOMAIN) - 1)
/* A revoke with one-letter names: lets a parser refuse absurd counts early. */
#define ENTRY_MIN (1 + 4 + LEDGER_HASH_BYTES + 8 + 2 + 2 + SIG_BYTES)
#define ADMIT_MAX (HEAD_MAX + RECORD_MAX + SIG_BYTES)
#define WHY_MAX 192

_Static_assert(LEDGER_HEADER_SIZE + (size_t)LEDGER_MAX_ENTRIES * ADMIT_MAX + ENTRY_MAX <=
	       LEDGER_FILE_MAX, "a full ledger fits in LEDGER_FILE_MAX");
_Static_assert(NODE_NAME_MAX < 256 && LEDGER_ENDPOINT_MAX < 256, "lengths fit in a byte");

/* Uniqueness is kept by one hash index per field, over every member ever
 * admitted. Keys are fixed-size fields of struct ledger_member (names are
 * NUL-padded), hashed with SipHash under a per-state random key so that
 * chosen names or keys cannot pile into one chain. */
enum { KEY_NAME, KEY_SIGN, KEY_KX, KEY_WG, KEY_ADDR, KEY__COUNT };

static const struct {
	size_t off;
	size_t len;
	const char *what;
} key_fields[KEY__COUNT] = {
	[KEY_NAME] = { offsetof(struct ledger_member, name), NODE_NAME_MAX + 1, "name" },
	[KEY_SIGN] = { offsetof(struct ledger_member, sign_pk), SIGN_PK_BYTES, "Ed25519 key" },
	[KEY_KX] = { offsetof(struct ledger_member, kx_pk), KX_PK_BYTES, "X25519 key" },
	[KEY_WG] = { offsetof(struct ledger_member, wg_pk), LEDGER_WG_KEY_BYTES, "WireGuard key" },
	[KEY_ADDR] = { offsetof(struct ledger_member, addr), sizeof(uint32_t), "address" },
};

/* A key a rekey replaced: it stays in the indexes so that it is never
 * given again. An index slot with RETIRED_BIT set points here. */
struct retired {
	struct ledger_member rec; /* only the three keys are meaningful */
	size_t owner;             /* index of the member it belonged to */
};
#define RETIRED_BIT 0x80000000u

struct ledger_state {
	struct ledger_member *members; /* every member ever admitted, in order */
	size_t count;
	size_t cap;
	struct retired *retired;
	size_t nretired;
	size_t retired_cap;
	uint8_t (*hashes)[LEDGER_HASH_BYTES]; /* one per verified entry */
	size_t nhashes;
	size_t hashes_cap;
	size_t live_admins;
	long sequencer; /* member index the last takeover named; -1: none */
	uint32_t prefix_addr;
	uint8_t prefix_len;
	uint32_t next_free; /* addresses are never released: it only grows */
	uint8_t sipkey[crypto_shorthash_KEYBYTES];
	uint32_t *keys[KEY__COUNT]; /* member index + 1; 0 = empty */
	size_t keys_mask;           /* capacity - 1; capacity a power of two */
};

/* An entry's encoding, preceded by the signing domain: the signed message
 * is everything but the trailing signature. */
struct encoded {
	uint8_t buf[DOMAIN_LEN + ENTRY_MAX];
	size_t len;
};

static const uint8_t zero_hash[LEDGER_HASH_BYTES];

static const struct role_name role_names[] = {
	{ "node", LEDGER_ROLE_NODE },
	{ "fleet", LEDGER_ROLE_FLEET },
	{ "admin", LEDGER_ROLE_ADMIN },
	{ "relay", LEDGER_ROLE_RELAY },
};
#define NROLES (sizeof(role_names) / sizeof(role_names[0]))

const char *ledger_kind_name(enum ledger_kind kind)
{
	switch (kind) {
	case LEDGER_GENESIS:
		return "genesis";
	case LEDGER_ADMIT:
		return "admit";
	case LEDGER_REVOKE:
		return "revoke";
	case LEDGER_GRANT:
		return "grant";
	case LEDGER_UNGRANT:
		return "ungrant";
	case LEDGER_TAKEOVER:
		return "takeover";
	case LEDGER_REKEY:
		return "rekey";
	case LEDGER_REINSTATE:
		return "reinstate";
	}
	return "unknown";
}

/* ---- field syntax ---- */

static bool port_valid(const char *p)
{
	unsigned long v = 0;
	size_t n;

	for (n = 0; p[n]; n++) {
		if (p[n] < '0' || p[n] > '9' || n == 5)
			return false;
		v = v * 10 + (unsigned long)(p[n] - '0');
	}
	return n > 0 && p[0] != '0' && v <= 65535;
}

static bool host_char(char c, bool bracketed)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.')
		return true;
	if (bracketed)
		return c == ':';
	return (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z') || c == '-';
}

bool ledger_endpoint_valid(const char *endpoint)
{
	size_t n = strnlen(endpoint, LEDGER_ENDPOINT_MAX + 1);
	const char *colon, *host = endpoint, *end;
	bool bracketed = endpoint[0] == '[';

	if (n == 0 || n > LEDGER_ENDPOINT_MAX)
		return false;
	colon = strrchr(endpoint, ':');
	if (!colon || !port_valid(colon + 1))
		return false;
	end = colon;
	if (bracketed) {
		if (end - host < 3 || end[-1] != ']')
			return false;
		host++;
		end--;
	}
	if (host == end)
		return false;
	for (const char *p = host; p < end; p++) {
		if (!host_char(*p, bracketed))
			return false;
	}
	return true;
}

static uint32_t prefix_mask(uint8_t len)
{
	return len ? ~0u << (32 - len) : 0;
}

static bool roles_valid(unsigned roles)
{
	return roles && !(roles & ~LEDGER_ROLES_ALL);
}

static const char *record_syntax(const struct ledger_member *m)
{
	if (!node_name_valid(m->name))
		return "invalid member name";
	if (!memchr(m->endpoint, '\0', sizeof(m->endpoint)) ||
	    (m->endpoint[0] && !ledger_endpoint_valid(m->endpoint)))
		return "invalid endpoint";
	if (!roles_valid(m->roles))
		return "invalid roles";
	return NULL;
}

/* The fields a rekey request signs. */
static const char *rekey_syntax(const struct ledger_entry *e)
{
	if (!node_name_valid(e->subject))
		return "invalid member name";
	if (!memchr(e->member.endpoint, '\0', sizeof(e->member.endpoint)) ||
	    (e->member.endpoint[0] && !ledger_endpoint_valid(e->member.endpoint)))
		return "invalid endpoint";
	return NULL;
}

/* NULL if every field of e can be encoded, else why not. */
static const char *entry_syntax(const struct ledger_entry *e)
{
	if (!node_name_valid(e->signer))
		return "invalid signer name";
	switch (e->kind) {
	case LEDGER_GENESIS:
		if (e->prefix_len < LEDGER_PREFIX_MIN || e->prefix_len > LEDGER_PREFIX_MAX)
			return "mesh prefix length out of range (16..30)";
		if (e->prefix_addr & ~prefix_mask(e->prefix_len))
			return "mesh prefix has host bits set";
		return record_syntax(&e->member);
	case LEDGER_ADMIT:
		return record_syntax(&e->member);
	case LEDGER_REVOKE:
		return node_name_valid(e->subject) ? NULL : "invalid member name";
	case LEDGER_GRANT:
	case LEDGER_UNGRANT:
		if (!node_name_valid(e->subject))
			return "invalid member name";
		return roles_valid(e->roles) ? NULL : "invalid roles";
	case LEDGER_TAKEOVER:
		if (!node_name_valid(e->subject) || !node_name_valid(e->from))
			return "invalid member name";
		return e->roles & ~(unsigned)LEDGER_ROLE_FLEET ? "invalid roles moved" : NULL;
	case LEDGER_REKEY:
	case LEDGER_REINSTATE:
		return rekey_syntax(e);
	}
	return "unknown kind";
}

/* ---- encoding ---- */

struct writer {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool over;
};

static void put(struct writer *w, const void *data, size_t n)
{
	if (w->over || w->cap - w->len < n) {
		w->over = true;
		return;
	}
	memcpy(w->p + w->len, data, n);
	w->len += n;
}

static void put_u8(struct writer *w, uint8_t v)
{
	put(w, &v, 1);
}

static void put_u32(struct writer *w, uint32_t v)
{
	uint8_t b[4];

	put_be32(b, v);
	put(w, b, sizeof(b));
}

static void put_u64(struct writer *w, uint64_t v)
{
	uint8_t b[8];

	put_be64(b, v);
	put(w, b, sizeof(b));
}

static void put_str(struct writer *w, const char *s)
{
	size_t n = strlen(s);

	put_u8(w, (uint8_t)n);
	put(w, s, n);
}

static void put_record(struct writer *w, const struct ledger_member *m)
{
	put_str(w, m->name);
	put(w, m->sign_pk, sizeof(m->sign_pk));
	put(w, m->kx_pk, sizeof(m->kx_pk));
	put(w, m->wg_pk, sizeof(m->wg_pk));
	put_u32(w, m->addr);
	put_str(w, m->endpoint);
	put_u8(w, (uint8_t)m->roles);
}

/* The fields a rekey request signs, shared by the request and the entry. */
static void put_rekey(struct writer *w, const struct ledger_entry *e)
{
	put_str(w, e->subject);
	put(w, e->member.sign_pk, sizeof(e->member.sign_pk));
	put(w, e->member.kx_pk, sizeof(e->member.kx_pk));
	put(w, e->member.wg_pk, sizeof(e->member.wg_pk));
	put_str(w, e->member.endpoint);
}

static int entry_encode(const struct ledger_entry *e, struct encoded *enc)
{
	struct writer w = { enc->buf, 0, sizeof(enc->buf), false };

	if (entry_syntax(e))
		return -EINVAL;
	put(&w, LEDGER_DOMAIN, DOMAIN_LEN);
	put_u8(&w, (uint8_t)e->kind);
	put_u32(&w, e->index);
	put(&w, e->prev, sizeof(e->prev));
	put_u64(&w, e->timestamp);
	put_str(&w, e->signer);
	switch (e->kind) {
	case LEDGER_GENESIS:
		put(&w, e->mesh_id, sizeof(e->mesh_id));
		put_u32(&w, e->prefix_addr);
		put_u8(&w, e->prefix_len);
		put_record(&w, &e->member);
		break;
	case LEDGER_ADMIT:
		put_record(&w, &e->member);
		break;
	case LEDGER_REVOKE:
		put_str(&w, e->subject);
		break;
	case LEDGER_GRANT:
	case LEDGER_UNGRANT:
		put_str(&w, e->subject);
		put_u8(&w, (uint8_t)e->roles);
		break;
	case LEDGER_TAKEOVER:
		put_str(&w, e->from);
		put_str(&w, e->subject);
		put_u8(&w, (uint8_t)e->roles);
		break;
	case LEDGER_REKEY:
		put_rekey(&w, e);
		put(&w, e->request, sizeof(e->request));
		break;
	case LEDGER_REINSTATE:
		put_rekey(&w, e);
		break;
	}
	put(&w, e->sig, sizeof(e->sig));
	if (w.over)
		return -EINVAL;
	enc->len = w.len;
	return 0;
}

static const uint8_t *enc_entry(const struct encoded *enc, size_t *len)
{
	*len = enc->len - DOMAIN_LEN;
	return enc->buf + DOMAIN_LEN;
}

static void enc_hash(const struct encoded *enc, uint8_t hash[LEDGER_HASH_BYTES])
{
	size_t len;
	const uint8_t *p = enc_entry(enc, &len);

	crypto_generichash(hash, LEDGER_HASH_BYTES, p, len, NULL, 0);
}

int ledger_encode(const struct ledger *l, uint8_t **out, size_t *len)
{
	struct encoded *enc = NULL;
	struct writer w = { NULL, 0, 0, false };
	int ret = -EINVAL;

	if (!l->count || l->count > LEDGER_MAX_ENTRIES)
		return -EINVAL;
	enc = malloc(sizeof(*enc));
	w.cap = LEDGER_HEADER_SIZE + l->count * ENTRY_MAX;
	w.p = malloc(w.cap);
	if (!enc || !w.p) {
		ret = -ENOMEM;
		goto cleanup;
	}
	put(&w, LEDGER_MAGIC, 4);
	put_u8(&w, LEDGER_VERSION);
	put(&w, "\0\0\0", 3);
	put_u32(&w, (uint32_t)l->count);
	for (size_t i = 0; i < l->count; i++) {
		const uint8_t *p;
		size_t n;

		ret = entry_encode(&l->entries[i], enc);
		if (ret < 0)
			goto cleanup;
		p = enc_entry(enc, &n);
		put(&w, p, n);
	}
	if (w.over) {
		ret = -EINVAL;
		goto cleanup;
	}
	*out = w.p;
	*len = w.len;
	w.p = NULL;
	ret = 0;
cleanup:
	free(w.p);
	free(enc);
	return ret;
}

/* ---- parsing ---- */

struct reader {
	const uint8_t *p;
	size_t left;
	const char *why; /* the first problem; reads after it return zeros */
};

static const uint8_t *take(struct reader *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->why)
		return NULL;
	if (r->left < n) {
		r->why = "truncated";
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static void get(struct reader *r, void *out, size_t n)
{
	const uint8_t *p = take(r, n);

	if (p)
		memcpy(out, p, n);
}

static uint8_t get_u8(struct reader *r)
{
	uint8_t v = 0;

	get(r, &v, 1);
	return v;
}

static uint32_t get_u32(struct reader *r)
{
	uint8_t b[4] = { 0 };

	get(r, b, sizeof(b));
	return get_be32(b);
}

static uint64_t get_u64(struct reader *r)
{
	uint8_t b[8] = { 0 };

	get(r, b, sizeof(b));
	return get_be64(b);
}

/* out has room for max + 1 bytes and is zeroed by the caller. */
static void get_str(struct reader *r, char *out, size_t max)
{
	size_t n = get_u8(r);
	const uint8_t *p;

	if (!r->why && n > max)
		r->why = "string too long";
	p = take(r, n);
	if (!p)
		return;
	/* An embedded NUL would decode to a shorter string: two spellings. */
	if (memchr(p, '\0', n)) {
		r->why = "NUL inside a string";
		return;
	}
	memcpy(out, p, n);
}

/* Names are checked where they are read, so that a bad length is reported
 * as such rather than as whatever the misaligned bytes after it look like. */
static void get_name(struct reader *r, char out[NODE_NAME_MAX + 1], const char *why)
{
	get_str(r, out, NODE_NAME_MAX);
	if (!r->why && !node_name_valid(out))
		r->why = why;
}

static void get_record(struct reader *r, struct ledger_member *m)
{
	get_name(r, m->name, "invalid member name");
	get(r, m->sign_pk, sizeof(m->sign_pk));
	get(r, m->kx_pk, sizeof(m->kx_pk));
	get(r, m->wg_pk, sizeof(m->wg_pk));
	m->addr = get_u32(r);
	get_str(r, m->endpoint, LEDGER_ENDPOINT_MAX);
	m->roles = get_u8(r);
}

static void get_entry(struct reader *r, struct ledger_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->kind = get_u8(r);
	e->index = get_u32(r);
	get(r, e->prev, sizeof(e->prev));
	e->timestamp = get_u64(r);
	get_name(r, e->signer, "invalid signer name");
	switch (e->kind) {
	case LEDGER_GENESIS:
		get(r, e->mesh_id, sizeof(e->mesh_id));
		e->prefix_addr = get_u32(r);
		e->prefix_len = get_u8(r);
		get_record(r, &e->member);
		break;
	case LEDGER_ADMIT:
		get_record(r, &e->member);
		break;
	case LEDGER_REVOKE:
		get_name(r, e->subject, "invalid member name");
		break;
	case LEDGER_GRANT:
	case LEDGER_UNGRANT:
		get_name(r, e->subject, "invalid member name");
		e->roles = get_u8(r);
		break;
	case LEDGER_TAKEOVER:
		get_name(r, e->from, "invalid member name");
		get_name(r, e->subject, "invalid member name");
		e->roles = get_u8(r);
		break;
	case LEDGER_REKEY:
	case LEDGER_REINSTATE:
		get_name(r, e->subject, "invalid member name");
		get(r, e->member.sign_pk, sizeof(e->member.sign_pk));
		get(r, e->member.kx_pk, sizeof(e->member.kx_pk));
		get(r, e->member.wg_pk, sizeof(e->member.wg_pk));
		get_str(r, e->member.endpoint, LEDGER_ENDPOINT_MAX);
		if (e->kind == LEDGER_REKEY)
			get(r, e->request, sizeof(e->request));
		break;
	default:
		if (!r->why)
			r->why = "unknown kind";
		return;
	}
	get(r, e->sig, sizeof(e->sig));
	if (!r->why)
		r->why = entry_syntax(e);
}

static int parse_header(struct reader *r, uint32_t *count, char *err, size_t errlen)
{
	const uint8_t *h = take(r, LEDGER_HEADER_SIZE);

	if (!h) {
		errbuf_set(err, errlen, "header: truncated");
		return -EBADMSG;
	}
	if (memcmp(h, LEDGER_MAGIC, 4)) {
		errbuf_set(err, errlen, "header: not a ledger (bad magic)");
		return -EBADMSG;
	}
	if (h[4] != LEDGER_VERSION) {
		errbuf_set(err, errlen, "header: version %u not supported", h[4]);
		return -EBADMSG;
	}
	if (h[5] || h[6] || h[7]) {
		errbuf_set(err, errlen, "header: reserved bytes not zero");
		return -EBADMSG;
	}
	*count = get_be32(h + 8);
	if (*count == 0 || *count > LEDGER_MAX_ENTRIES) {
		errbuf_set(err, errlen, "header: entry count %u out of range (1..%u)", *count,
			LEDGER_MAX_ENTRIES);
		return -EBADMSG;
	}
	if (*count > r->left / ENTRY_MIN) {
		errbuf_set(err, errlen, "header: %u entries cannot fit in %zu bytes", *count,
			r->left);
		return -EBADMSG;
	}
	return 0;
}

int ledger_parse(const uint8_t *buf, size_t len, struct ledger *l, char *err, size_t errlen)
{
	struct reader r = { buf, len, NULL };
	uint32_t count;
	int ret;

	ledger_free(l);
	ret = parse_header(&r, &count, err, errlen);
	if (ret < 0)
		return ret;
	l->entries = calloc(count, sizeof(*l->entries));
	if (!l->entries)
		return -ENOMEM;
	l->cap = count;
	for (l->count = 0; l->count < count; l->count++) {
		get_entry(&r, &l->entries[l->count]);
		if (r.why) {
			errbuf_set(err, errlen, "entry %zu: %s", l->count, r.why);
			ret = -EBADMSG;
			goto cleanup;
		}
	}
	if (r.left) {
		errbuf_set(err, errlen, "%zu trailing bytes after entry %u", r.left, count - 1);
		ret = -EBADMSG;
		goto cleanup;
	}
	return 0;
cleanup:
	ledger_free(l);
	return ret;
}

/* ---- derived state ---- */

static int copy_name(char dst[NODE_NAME_MAX + 1], const char *name)
{
	if (!name || !node_name_valid(name))
		return -EINVAL;
	memset(dst, 0, NODE_NAME_MAX + 1);
	memcpy(dst, name, strlen(name));
	return 0;
}

/* A member record with the padding an encoding round trip would give. */
static int copy_record(struct ledger_member *dst, const struct ledger_member *src)
{
	size_t n = strnlen(src->endpoint, sizeof(src->endpoint));

	memset(dst, 0, sizeof(*dst));
	if (copy_name(dst->name, src->name) < 0 || n > LEDGER_ENDPOINT_MAX)
		return -EINVAL;
	memcpy(dst->sign_pk, src->sign_pk, sizeof(dst->sign_pk));
	memcpy(dst->kx_pk, src->kx_pk, sizeof(dst->kx_pk));
	memcpy(dst->wg_pk, src->wg_pk, sizeof(dst->wg_pk));
	dst->addr = src->addr;
	memcpy(dst->endpoint, src->endpoint, n);
	dst->roles = src->roles;
	return 0;
}

static const uint8_t *member_key(const struct ledger_member *m, int k)
{
	return (const uint8_t *)m + key_fields[k].off;
}

static size_t key_slot(const struct ledger_state *s, int k, const uint8_t *key)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, key, key_fields[k].len, s->sipkey);
	memcpy(&v, h, sizeof(v));
	return (size_t)v & s->keys_mask;
}

static const struct ledger_member *slot_record(const struct ledger_state *s, uint32_t slot)
{
	if (slot & RETIRED_BIT)
		return &s->retired[(slot & ~RETIRED_BIT) - 1].rec;
	return &s->members[slot - 1];
}

/* Index of the member whose field k equals key (or once did), or -1. */
static long key_find(const struct ledger_state *s, int k, const void *key)
{
	if (!s->keys[k])
		return -1;
	for (size_t i = key_slot(s, k, key);; i = (i + 1) & s->keys_mask) {
		uint32_t slot = s->keys[k][i];

		if (!slot)
			return -1;
		if (memcmp(member_key(slot_record(s, slot), k), key, key_fields[k].len))
			continue;
		if (slot & RETIRED_BIT)
			return (long)s->retired[(slot & ~RETIRED_BIT) - 1].owner;
		return (long)slot - 1;
	}
}

static void slot_insert(struct ledger_state *s, int k, uint32_t slot)
{
	size_t i = key_slot(s, k, member_key(slot_record(s, slot), k));

	while (s->keys[k][i])
		i = (i + 1) & s->keys_mask;
	s->keys[k][i] = slot;
}

static void key_insert(struct ledger_state *s, int k, size_t index)
{
	slot_insert(s, k, (uint32_t)index + 1);
}

static long find_name(const struct ledger_state *s, const char *name)
{
	char key[NODE_NAME_MAX + 1] = { 0 };

	if (!node_name_valid(name))
		return -1;
	memcpy(key, name, strlen(name));
	return key_find(s, KEY_NAME, key);
}

static void state_free(struct ledger_state *s)
{
	if (!s)
		return;
	for (int k = 0; k < KEY__COUNT; k++)
		free(s->keys[k]);
	free(s->retired);
	free(s->members);
	free(s->hashes);
	free(s);
}

static struct ledger_state *state_new(void)
{
	struct ledger_state *s;

	if (sodium_init() < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	randombytes_buf(s->sipkey, sizeof(s->sipkey));
	s->sequencer = -1;
	return s;
}

/* Rebuilds the indexes with twice the capacity. */
static int keys_grow(struct ledger_state *s)
{
	size_t cap = s->keys[0] ? (s->keys_mask + 1) * 2 : 64;
	uint32_t *fresh[KEY__COUNT] = { NULL };

	for (int k = 0; k < KEY__COUNT; k++) {
		fresh[k] = calloc(cap, sizeof(uint32_t));
		if (!fresh[k]) {
			for (int j = 0; j < k; j++)
				free(fresh[j]);
			return -ENOMEM;
		}
	}
	for (int k = 0; k < KEY__COUNT; k++) {
		free(s->keys[k]);
		s->keys[k] = fresh[k];
	}
	s->keys_mask = cap - 1;
	for (size_t i = 0; i < s->count; i++) {
		for (int k = 0; k < KEY__COUNT; k++)
			key_insert(s, k, i);
	}
	for (size_t i = 0; i < s->nretired; i++) {
		for (int k = KEY_SIGN; k <= KEY_WG; k++)
			slot_insert(s, k, RETIRED_BIT | (uint32_t)(i + 1));
	}
	return 0;
}

/* Makes room for one more entry and member, so that applying it cannot fail. */
static int state_reserve(struct ledger_state *s)
{
	if (s->nhashes == s->hashes_cap) {
		size_t cap = s->hashes_cap ? s->hashes_cap * 2 : 16;
		void *p = realloc(s->hashes, cap * sizeof(*s->hashes));

		if (!p)
			return -ENOMEM;
		s->hashes = p;
		s->hashes_cap = cap;
	}
	if (s->count == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		void *p = realloc(s->members, cap * sizeof(*s->members));

		if (!p)
			return -ENOMEM;
		s->members = p;
		s->cap = cap;
	}
	if (s->nretired == s->retired_cap) {
		size_t cap = s->retired_cap ? s->retired_cap * 2 : 4;
		void *p = realloc(s->retired, cap * sizeof(*s->retired));

		if (!p)
			return -ENOMEM;
		s->retired = p;
		s->retired_cap = cap;
	}
	if (!s->keys[0] || (s->count + s->nretired + 1) * 2 > s->keys_mask + 1)
		return keys_grow(s);
	return 0;
}

static void state_add(struct ledger_state *s, const struct ledger_member *m, uint32_t index)
{
	struct ledger_member *n = &s->members[s->count];

	/* Checked already, so this cannot fail: it only zeroes the padding. */
	copy_record(n, m);
	n->admitted_at = index;
	for (int k = 0; k < KEY__COUNT; k++)
		key_insert(s, k, s->count);
	s->count++;
	if (m->roles & LEDGER_ROLE_ADMIN)
		s->live_admins++;
}

/* Moves member i's three keys to the retired list (their index slots
 * follow them) and gives it the keys and endpoint of e. */
static void state_rekey(struct ledger_state *s, size_t i, const struct ledger_entry *e)
{
	struct ledger_member *m = &s->members[i];
	uint32_t slot = RETIRED_BIT | (uint32_t)(s->nretired + 1);
	struct retired *r = &s->retired[s->nretired++];

	r->rec = *m;
	r->owner = i;
	for (int k = KEY_SIGN; k <= KEY_WG; k++) {
		size_t j = key_slot(s, k, member_key(m, k));

		while (s->keys[k][j] != (uint32_t)i + 1)
			j = (j + 1) & s->keys_mask;
		s->keys[k][j] = slot;
	}
	memcpy(m->sign_pk, e->member.sign_pk, sizeof(m->sign_pk));
	memcpy(m->kx_pk, e->member.kx_pk, sizeof(m->kx_pk));
	memcpy(m->wg_pk, e->member.wg_pk, sizeof(m->wg_pk));
	if (e->member.endpoint[0]) {
		memset(m->endpoint, 0, sizeof(m->endpoint));
		memcpy(m->endpoint, e->member.endpoint, strlen(e->member.endpoint));
	}
	for (int k = KEY_SIGN; k <= KEY_WG; k++)
		key_insert(s, k, i);
}

static void advance_free(struct ledger_state *s)
{
	uint32_t last = s->prefix_addr | ~prefix_mask(s->prefix_len);

	while (s->next_free < last && key_find(s, KEY_ADDR, &s->next_free) >= 0)
		s->next_free++;
}

static void apply_entry(struct ledger_state *s, const struct ledger_entry *e,
			const uint8_t hash[LEDGER_HASH_BYTES])
{
	struct ledger_member *m;

	memcpy(s->hashes[s->nhashes++], hash, LEDGER_HASH_BYTES);
	switch (e->kind) {
	case LEDGER_GENESIS:
		s->prefix_addr = e->prefix_addr;
		s->prefix_len = e->prefix_len;
		s->next_free = e->prefix_addr + 1;
		/* fall through */
	case LEDGER_ADMIT:
		state_add(s, &e->member, e->index);
		advance_free(s);
		break;
	case LEDGER_REVOKE:
		m = &s->members[find_name(s, e->subject)];
		m->revoked = true;
		m->revoked_at = e->index;
		if (m->roles & LEDGER_ROLE_ADMIN)
			s->live_admins--;
		break;
	case LEDGER_GRANT:
		m = &s->members[find_name(s, e->subject)];
		if (e->roles & ~m->roles & LEDGER_ROLE_ADMIN)
			s->live_admins++;
		m->roles |= e->roles;
		break;
	case LEDGER_UNGRANT:
		m = &s->members[find_name(s, e->subject)];
		if (e->roles & LEDGER_ROLE_ADMIN)
			s->live_admins--;
		m->roles &= ~e->roles;
		break;
	case LEDGER_TAKEOVER:
		s->sequencer = find_name(s, e->subject);
		s->members[find_name(s, e->from)].roles &= ~e->roles;
		s->members[s->sequencer].roles |= e->roles;
		break;
	case LEDGER_REKEY:
	case LEDGER_REINSTATE:
		state_rekey(s, (size_t)find_name(s, e->subject), e);
		break;
	}
}

/* ---- rules ---- */

static bool addr_usable(uint32_t addr, uint32_t net, uint8_t len)
{
	uint32_t mask = prefix_mask(len);

	return (addr & mask) == net && addr != net && addr != (net | ~mask);
}

static int check_record(const struct ledger_state *s, const struct ledger_member *rec,
			uint32_t net, uint8_t len, char *why, size_t wlen)
{
	struct ledger_member padded, *m = &padded;
	char a[16];

	/* Keys compare whole fields: whatever follows a name's NUL must not count. */
	if (copy_record(m, rec) < 0)
		return errbuf_fail(-EINVAL, why, wlen, "invalid member record");
	ledger_addr_format(m->addr, a);
	if (!addr_usable(m->addr, net, len))
		return errbuf_fail(-EINVAL, why, wlen,
			"address %s is not a host address of the mesh prefix", a);
	for (int k = 0; k < KEY__COUNT; k++) {
		long i = key_find(s, k, member_key(m, k));
		const struct ledger_member *o;

		if (i < 0)
			continue;
		o = &s->members[i];
		if (k == KEY_ADDR)
			return errbuf_fail(-EEXIST, why, wlen, "address %s already belongs to '%s'",
				a, o->name);
		if (k == KEY_NAME)
			return errbuf_fail(-EEXIST, why, wlen,
				"name '%s' was already admitted at entry %u",
				o->name, o->admitted_at);
		return errbuf_fail(-EEXIST, why, wlen, "%s of '%s' already belongs to '%s'",
			    key_fields[k].what, m->name, o->name);
	}
	return 0;
}

/* The member that signed e, if it may sign at this point. */
static int check_signer(const struct ledger_state *s, const struct ledger_entry *e,
			const struct ledger_member **signer, char *why, size_t wlen)
{
	long i = find_name(s, e->signer);
	const struct ledger_member *m;

	if (i < 0)
		return errbuf_fail(-EPERM, why, wlen, "signer '%s' is not a member", e->signer);
	m = &s->members[i];
	if (m->revoked)
		return errbuf_fail(-EPERM, why, wlen, "signer '%s' was revoked at entry %u",
			m->name, m->revoked_at);
	if (!(m->roles & LEDGER_ROLE_ADMIN))
		return errbuf_fail(-EPERM, why, wlen, "signer '%s' is not an admin", m->name);
	*signer = m;
	return 0;
}

/* The live member named name, or NULL (and why) if there is none: the
 * pointer is the only result, so no caller can use one it was not given. */
static const struct ledger_member *check_subject(const struct ledger_state *s, const char *name,
						 char *why, size_t wlen)
{
	long i = find_name(s, name);

	if (i < 0) {
		errbuf_set(why, wlen, "no member named '%s'", name);
		return NULL;
	}
	if (s->members[i].revoked) {
		errbuf_set(why, wlen, "'%s' was revoked at entry %u", name,
			   s->members[i].revoked_at);
		return NULL;
	}
	return &s->members[i];
}

static int check_ungrant(const struct ledger_state *s, const struct ledger_member *m,
			 unsigned roles, char *why, size_t wlen)
{
	char lacks[32];

	if (roles & ~m->roles) {
		ledger_roles_format(roles & ~m->roles, lacks, sizeof(lacks));
		return errbuf_fail(-EINVAL, why, wlen, "'%s' does not hold %s", m->name, lacks);
	}
	if (roles == m->roles)
		return errbuf_fail(-EINVAL, why, wlen,
			"'%s' would hold no role (revoke it instead)", m->name);
	if ((roles & LEDGER_ROLE_ADMIN) && s->live_admins == 1)
		return errbuf_fail(-EPERM, why, wlen, "'%s' is the last admin", m->name);
	return 0;
}

/* The bytes a rekey request signs; len 0 if e cannot be encoded. */
static size_t rekey_message(const uint8_t genesis[LEDGER_HASH_BYTES],
			    const struct ledger_entry *e,
			    uint8_t buf[REKEY_DOMAIN_LEN + LEDGER_HASH_BYTES + REKEY_MAX])
{
	struct writer w = { buf, 0, REKEY_DOMAIN_LEN + LEDGER_HASH_BYTES + REKEY_MAX, false };

	if (rekey_syntax(e))
		return 0;
	put(&w, LEDGER_REKEY_DOMAIN, REKEY_DOMAIN_LEN);
	put(&w, genesis, LEDGER_HASH_BYTES);
	put_rekey(&w, e);
	return w.over ? 0 : w.len;
}

static int check_rekey(const struct ledger_state *s, const struct ledger_entry *e,
		       char *why, size_t wlen)
{
	uint8_t msg[REKEY_DOMAIN_LEN + LEDGER_HASH_BYTES + REKEY_MAX];
	const struct ledger_member *m = check_subject(s, e->subject, why, wlen);
	size_t n;

	if (!m)
		return -ENOENT;
	n = rekey_message(s->hashes[0], e, msg);
	if (e->kind == LEDGER_REKEY &&
	    (!n || crypto_sign_verify_detached(e->request, msg, n, m->sign_pk) != 0))
		return errbuf_fail(-EBADMSG, why, wlen,
			"the rekey request is not signed by the current key of '%s'", m->name);
	for (int k = KEY_SIGN; k <= KEY_WG; k++) {
		long i = key_find(s, k, member_key(&e->member, k));

		if (i >= 0)
			return errbuf_fail(-EEXIST, why, wlen, "new %s of '%s' was already given to '%s'",
				key_fields[k].what, m->name, s->members[i].name);
	}
	return 0;
}

static const struct ledger_member *state_sequencer(const struct ledger_state *s)
{
	static const unsigned order[] = { LEDGER_ROLE_FLEET, LEDGER_ROLE_ADMIN };

	if (s->sequencer >= 0 && !s->members[s->sequencer].revoked)
		return &s->members[s->sequencer];
	for (size_t r = 0; r < sizeof(order) / sizeof(order[0]); r++) {
		for (size_t i = 0; i < s->count; i++) {
			const struct ledger_member *m = &s->members[i];

			if (!m->revoked && (m->roles & order[r]))
				return m;
		}
	}
	return NULL;
}

static int check_takeover(const struct ledger_state *s, const struct ledger_entry *e,
			  char *why, size_t wlen)
{
	const struct ledger_member *seq = state_sequencer(s);
	const struct ledger_member *to = check_subject(s, e->subject, why, wlen);

	if (!to)
		return -ENOENT;
	if (!seq || strcmp(seq->name, e->from))
		return errbuf_fail(-ESTALE, why, wlen, "'%s' is not the sequencer (%s is)",
			e->from, seq ? seq->name : "none");
	if (to == seq)
		return errbuf_fail(-EINVAL, why, wlen, "'%s' is the sequencer already", to->name);
	for (const struct ledger_member *m = s->members; e->roles && m < to; m++) {
		if (m != seq && !m->revoked && (m->roles & LEDGER_ROLE_FLEET))
			return errbuf_fail(-EEXIST, why, wlen,
				"'%s' holds the fleet role and was admitted before '%s'",
				m->name, to->name);
	}
	return 0;
}

static int check_body(const struct ledger_state *s, const struct ledger_entry *e,
		      char *why, size_t wlen)
{
	const struct ledger_member *m;

	switch (e->kind) {
	case LEDGER_GENESIS:
		if (!(e->member.roles & LEDGER_ROLE_ADMIN))
			return errbuf_fail(-EINVAL, why, wlen,
				"the founder does not hold the admin role");
		return check_record(s, &e->member, e->prefix_addr, e->prefix_len, why, wlen);
	case LEDGER_ADMIT:
		return check_record(s, &e->member, s->prefix_addr, s->prefix_len, why, wlen);
	case LEDGER_REVOKE:
		m = check_subject(s, e->subject, why, wlen);
		if (!m)
			return -ENOENT;
		if ((m->roles & LEDGER_ROLE_ADMIN) && s->live_admins == 1)
			return errbuf_fail(-EPERM, why, wlen, "'%s' is the last admin", m->name);
		return 0;
	case LEDGER_GRANT:
		m = check_subject(s, e->subject, why, wlen);
		if (!m)
			return -ENOENT;
		if (!(e->roles & ~m->roles))
			return errbuf_fail(-EINVAL, why, wlen, "'%s' already holds those roles",
				m->name);
		return 0;
	case LEDGER_UNGRANT:
		m = check_subject(s, e->subject, why, wlen);
		if (!m)
			return -ENOENT;
		return check_ungrant(s, m, e->roles, why, wlen);
	case LEDGER_TAKEOVER:
		return check_takeover(s, e, why, wlen);
	case LEDGER_REKEY:
	case LEDGER_REINSTATE:
		return check_rekey(s, e, why, wlen);
	}
	return errbuf_fail(-EINVAL, why, wlen, "unknown kind");
}

/* Checks entry e at position pos against the state built from the entries
 * before it. The signature check may be skipped for an entry already
 * verified elsewhere (same hash). */
static int check_entry(const struct ledger_state *s, size_t pos, const struct ledger_entry *e,
		       const struct encoded *enc, bool check_sig, char *why, size_t wlen)
{
	const struct ledger_member *signer = &e->member;
	const uint8_t *prev = pos ? s->hashes[pos - 1] : zero_hash;
	int ret;

	if (e->index != pos)
		return errbuf_fail(-EBADMSG, why, wlen, "index %u at position %zu", e->index, pos);
	if ((e->kind == LEDGER_GENESIS) != (pos == 0))
		return errbuf_fail(-EBADMSG, why, wlen, "%s",
			pos ? "genesis after the first entry" : "the first entry is not genesis");
	if (memcmp(e->prev, prev, LEDGER_HASH_BYTES) && pos)
		return errbuf_fail(-EBADMSG, why, wlen, "previous hash does not match entry %zu",
			pos - 1);
	if (memcmp(e->prev, prev, LEDGER_HASH_BYTES))
		return errbuf_fail(-EBADMSG, why, wlen, "genesis has a previous hash");
	if (pos == 0 && strcmp(e->signer, e->member.name))
		return errbuf_fail(-EBADMSG, why, wlen, "signed by '%s', not by its founder '%s'",
			    e->signer, e->member.name);
	if (pos) {
		ret = check_signer(s, e, &signer, why, wlen);
		if (ret < 0)
			return ret;
	}
	if (check_sig && crypto_sign_verify_detached(e->sig, enc->buf, enc->len - SIG_BYTES,
						     signer->sign_pk) != 0)
		return errbuf_fail(-EBADMSG, why, wlen, "bad signature by '%s'", e->signer);
	return check_body(s, e, why, wlen);
}

/* Verifies l from genesis into a fresh state. Entries that known (a verified
 * ledger) holds with the same hash at the same position skip the signature
 * check. */
static int replay(const struct ledger *l, const struct ledger *known,
		  struct ledger_state **out, char *err, size_t errlen)
{
	const struct ledger_state *ks = known ? known->state : NULL;
	struct ledger_state *s = NULL;
	struct encoded *enc = malloc(sizeof(*enc));
	uint8_t hash[LEDGER_HASH_BYTES];
	char why[WHY_MAX];
	int ret = -ENOMEM;

	s = state_new();
	if (!s || !enc)
		goto cleanup;
	ret = -EBADMSG;
	if (!l->count || l->count > LEDGER_MAX_ENTRIES) {
		errbuf_set(err, errlen, "ledger has %zu entries (1..%u)", l->count,
			LEDGER_MAX_ENTRIES);
		goto cleanup;
	}
	for (size_t i = 0; i < l->count; i++) {
		const struct ledger_entry *e = &l->entries[i];
		bool seen;

		ret = entry_encode(e, enc);
		if (ret < 0) {
			errbuf_set(err, errlen, "entry %zu (%s): %s", i, ledger_kind_name(e->kind),
				entry_syntax(e) ?: "cannot be encoded");
			goto cleanup;
		}
		enc_hash(enc, hash);
		seen = ks && i < ks->nhashes && !memcmp(hash, ks->hashes[i], LEDGER_HASH_BYTES);
		ret = state_reserve(s);
		if (ret < 0)
			goto cleanup;
		ret = check_entry(s, i, e, enc, !seen, why, sizeof(why));
		if (ret < 0) {
			errbuf_set(err, errlen, "entry %zu (%s): %s", i, ledger_kind_name(e->kind),
				why);
			goto cleanup;
		}
		apply_entry(s, e, hash);
	}
	*out = s;
	s = NULL;
	ret = 0;
cleanup:
	state_free(s);
	free(enc);
	return ret;
}

/* ---- public ---- */

void ledger_init(struct ledger *l)
{
	memset(l, 0, sizeof(*l));
}

void ledger_free(struct ledger *l)
{
	state_free(l->state);
	free(l->entries);
	ledger_init(l);
}

bool ledger_verified(const struct ledger *l)
{
	return l->state && l->state->nhashes == l->count;
}

int ledger_verify(struct ledger *l, char *err, size_t errlen)
{
	struct ledger_state *s = NULL;
	int ret;

	state_free(l->state);
	l->state = NULL;
	ret = replay(l, NULL, &s, err, errlen);
	if (ret < 0)
		return ret == -ENOMEM ? ret : -EBADMSG;
	l->state = s;
	return 0;
}

int ledger_load(const char *path, struct ledger *l, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len;
	int ret;

	ret = read_file(path, LEDGER_FILE_MAX, &buf, &len);
	if (ret < 0) {
		errbuf_set(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	ret = ledger_parse((const uint8_t *)buf, len, l, err, errlen);
	if (!ret)
		ret = ledger_verify(l, err, errlen);
	free(buf);
	return ret;
}

int ledger_save(const char *path, const struct ledger *l)
{
	uint8_t *buf = NULL;
	size_t len;
	int ret;

	if (!ledger_verified(l))
		return -EINVAL;
	ret = ledger_encode(l, &buf, &len);
	if (ret < 0)
		return ret;
	ret = atomic_write_file(path, buf, len, 0644);
	free(buf);
	return ret;
}

int ledger_entry_sign(struct ledger_entry *e, const struct identity *id)
{
	struct encoded *enc = malloc(sizeof(*enc));
	int ret;

	if (!enc)
		return -ENOMEM;
	ret = entry_encode(e, enc);
	if (!ret)
		crypto_sign_detached(e->sig, NULL, enc->buf, enc->len - SIG_BYTES, id->sign_sk);
	free(enc);
	return ret;
}

/* Fills the chain fields of e, signs it as id, checks it and appends it. */
static int append(struct ledger *l, struct ledger_entry *e, const struct identity *id,
		  char *err, size_t errlen)
{
	struct ledger_state *s = l->state;
	struct encoded *enc = NULL;
	uint8_t hash[LEDGER_HASH_BYTES];
	char why[WHY_MAX];
	long me;
	int ret = -EINVAL;

	if (!s || s->nhashes != l->count) {
		errbuf_set(err, errlen, "the ledger is not verified");
		return -EINVAL;
	}
	if (l->count >= LEDGER_MAX_ENTRIES) {
		errbuf_set(err, errlen, "the ledger is full (%u entries)", LEDGER_MAX_ENTRIES);
		return -ENOSPC;
	}
	if (!node_name_valid(id->name)) {
		errbuf_set(err, errlen, "invalid signer name");
		return -EINVAL;
	}
	me = find_name(s, id->name);
	if (me >= 0 && memcmp(s->members[me].sign_pk, id->sign_pk, SIGN_PK_BYTES)) {
		errbuf_set(err, errlen,
			"this identity's key is not the one the ledger holds for '%s'", id->name);
		return -EBADMSG;
	}
	e->index = (uint32_t)l->count;
	memcpy(e->prev, l->count ? s->hashes[l->count - 1] : zero_hash, LEDGER_HASH_BYTES);
	e->timestamp = (uint64_t)time(NULL);
	memcpy(e->signer, id->name, strlen(id->name) + 1);
	enc = malloc(sizeof(*enc));
	if (!enc)
		return -ENOMEM;
	ret = entry_encode(e, enc);
	if (ret < 0) {
		errbuf_set(err, errlen, "%s", entry_syntax(e) ?: "cannot be encoded");
		goto cleanup;
	}
	crypto_sign_detached(e->sig, NULL, enc->buf, enc->len - SIG_BYTES, id->sign_sk);
	memcpy(enc->buf + enc->len - SIG_BYTES, e->sig, SIG_BYTES);
	enc_hash(enc, hash);
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		void *p = realloc(l->entries, cap * sizeof(*l->entries));

		ret = -ENOMEM;
		if (!p)
			goto cleanup;
		l->entries = p;
		l->cap = cap;
	}
	ret = state_reserve(s);
	if (ret < 0)
		goto cleanup;
	ret = check_entry(s, l->count, e, enc, true, why, sizeof(why));
	if (ret < 0) {
		errbuf_set(err, errlen, "%s", why);
		goto cleanup;
	}
	l->entries[l->count++] = *e;
	apply_entry(s, e, hash);
cleanup:
	free(enc);
	return ret;
}

int ledger_genesis(struct ledger *l, const struct identity *id, const uint8_t *mesh_id,
		   uint32_t prefix_addr, uint8_t prefix_len,
		   const uint8_t wg_pk[LEDGER_WG_KEY_BYTES], const char *endpoint,
		   unsigned roles, char *err, size_t errlen)
{
	struct ledger_entry e;
	struct ledger_member *m = &e.member;
	int ret;

	if (l->count) {
		errbuf_set(err, errlen, "the ledger already has a genesis");
		return -EEXIST;
	}
	memset(&e, 0, sizeof(e));
	e.kind = LEDGER_GENESIS;
	if (mesh_id)
		memcpy(e.mesh_id, mesh_id, sizeof(e.mesh_id));
	else
		randombytes_buf(e.mesh_id, sizeof(e.mesh_id));
	e.prefix_addr = prefix_addr;
	e.prefix_len = prefix_len;
	if (!endpoint)
		endpoint = "";
	if (copy_name(m->name, id->name) < 0 || strlen(endpoint) > LEDGER_ENDPOINT_MAX) {
		errbuf_set(err, errlen, "invalid founder name or endpoint");
		return -EINVAL;
	}
	memcpy(m->sign_pk, id->sign_pk, sizeof(m->sign_pk));
	memcpy(m->kx_pk, id->kx_pk, sizeof(m->kx_pk));
	memcpy(m->wg_pk, wg_pk, sizeof(m->wg_pk));
	m->addr = prefix_addr + 1;
	memcpy(m->endpoint, endpoint, strlen(endpoint));
	m->roles = roles;
	state_free(l->state);
	l->state = state_new();
	if (!l->state)
		return -ENOMEM;
	ret = append(l, &e, id, err, errlen);
	if (ret < 0) {
		state_free(l->state);
		l->state = NULL;
	}
	return ret;
}

int ledger_append_admit(struct ledger *l, const struct identity *id,
			const struct ledger_member *m, char *err, size_t errlen)
{
	struct ledger_entry e;

	memset(&e, 0, sizeof(e));
	e.kind = LEDGER_ADMIT;
	if (copy_record(&e.member, m) < 0) {
		errbuf_set(err, errlen, "invalid member name or endpoint");
		return -EINVAL;
	}
	return append(l, &e, id, err, errlen);
}

int ledger_append_revoke(struct ledger *l, const struct identity *id, const char *name,
			 char *err, size_t errlen)
{
	struct ledger_entry e;

	memset(&e, 0, sizeof(e));
	e.kind = LEDGER_REVOKE;
	if (copy_name(e.subject, name) < 0) {
		errbuf_set(err, errlen, "invalid member name");
		return -EINVAL;
	}
	return append(l, &e, id, err, errlen);
}

int ledger_append_grant(struct ledger *l, const struct identity *id, const char *name,
			unsigned roles, char *err, size_t errlen)
{
	struct ledger_entry e;

	memset(&e, 0, sizeof(e));
	e.kind = LEDGER_GRANT;
	e.roles = roles;
	if (copy_name(e.subject, name) < 0) {
		errbuf_set(err, errlen, "invalid member name");
		return -EINVAL;
	}
	return append(l, &e, id, err, errlen);
}

int ledger_append_ungrant(struct ledger *l, const struct identity *id, const char *name,
			  unsigned roles, char *err, size_t errlen)
{
	struct ledger_entry e;

	memset(&e, 0, sizeof(e));
	e.kind = LEDGER_UNGRANT;
	e.roles = roles;
	if (copy_name(e.subject, name) < 0) {
		errbuf_set(err, errlen, "invalid member name");
		return -EINVAL;
	}
	return append(l, &e, id, err, errlen);
}

/* e's subject, new keys and endpoint from m. */
static int rekey_fill(struct ledger_entry *e, enum ledger_kind kind, const struct ledger_member *m)
{
	size_t n = strnlen(m->endpoint, sizeof(m->endpoint));

	memset(e, 0, sizeof(*e));
	e->kind = kind;
	if (copy_name(e->subject, m->name) < 0 || n > LEDGER_ENDPOINT_MAX)
		return -EINVAL;
	memcpy(e->member.sign_pk, m->sign_pk, sizeof(m->sign_pk));
	memcpy(e->member.kx_pk, m->kx_pk, sizeof(m->kx_pk));
	memcpy(e->member.wg_pk, m->wg_pk, sizeof(m->wg_pk));
	memcpy(e->member.endpoint, m->endpoint, n);
	return rekey_syntax(e) ? -EINVAL : 0;
}

int ledger_rekey_request(const struct ledger *l, const struct identity *old,
			 const struct ledger_member *m, uint8_t request[SIG_BYTES])
{
	uint8_t msg[REKEY_DOMAIN_LEN + LEDGER_HASH_BYTES + REKEY_MAX];
	struct ledger_entry e;
	size_t n;

	if (!ledger_verified(l) || rekey_fill(&e, LEDGER_REKEY, m) < 0)
		return -EINVAL;
	n = rekey_message(l->state->hashes[0], &e, msg);
	if (!n)
		return -EINVAL;
	crypto_sign_detached(request, NULL, msg, n, old->sign_sk);
	return 0;
}

int ledger_append_rekey(struct ledger *l, const struct identity *id,
			const struct ledger_member *m, const uint8_t request[SIG_BYTES],
			char *err, size_t errlen)
{
	struct ledger_entry e;

	if (rekey_fill(&e, LEDGER_REKEY, m) < 0) {
		errbuf_set(err, errlen, "invalid member name or endpoint");
		return -EINVAL;
	}
	memcpy(e.request, request, SIG_BYTES);
	return append(l, &e, id, err, errlen);
}

int ledger_append_reinstate(struct ledger *l, const struct identity *id,
			    const struct ledger_member *m, char *err, size_t errlen)
{
	struct ledger_entry e;

	if (rekey_fill(&e, LEDGER_REINSTATE, m) < 0) {
		errbuf_set(err, errlen, "invalid member name or endpoint");
		return -EINVAL;
	}
	return append(l, &e, id, err, errlen);
}

int ledger_append_takeover(struct ledger *l, const struct identity *id, const char *from,
			   const char *to, bool with_fleet, char *err, size_t errlen)
{
	struct ledger_entry e;

	memset(&e, 0, sizeof(e));
	e.kind = LEDGER_TAKEOVER;
	e.roles = with_fleet ? LEDGER_ROLE_FLEET : 0;
	if (copy_name(e.subject, to) < 0 || copy_name(e.from, from) < 0) {
		errbuf_set(err, errlen, "invalid member name");
		return -EINVAL;
	}
	return append(l, &e, id, err, errlen);
}

int ledger_truncate(struct ledger *l, size_t count)
{
	struct ledger view = { l->entries, count, count, NULL };
	struct ledger_state *s = NULL;
	int ret;

	if (!ledger_verified(l) || count < 1 || count > l->count)
		return -EINVAL;
	/* Every entry kept was verified already: replay without signatures. */
	ret = replay(&view, l, &s, NULL, 0);
	if (ret < 0)
		return ret;
	state_free(l->state);
	l->state = s;
	l->count = count;
	return 0;
}

static int entry_hash(const struct ledger_entry *e, uint8_t hash[LEDGER_HASH_BYTES])
{
	struct encoded *enc = malloc(sizeof(*enc));
	int ret;

	if (!enc)
		return -ENOMEM;
	ret = entry_encode(e, enc);
	if (!ret)
		enc_hash(enc, hash);
	free(enc);
	return ret;
}

/* Length of the common prefix of local and remote, compared by hash. */
static int common_prefix(const struct ledger *local, const struct ledger *remote, size_t *n,
			 char *err, size_t errlen)
{
	size_t max = local->count < remote->count ? local->count : remote->count;
	uint8_t hash[LEDGER_HASH_BYTES];

	for (*n = 0; *n < max; (*n)++) {
		int ret = entry_hash(&remote->entries[*n], hash);

		if (ret < 0) {
			errbuf_set(err, errlen, "remote entry %zu is malformed", *n);
			return ret == -ENOMEM ? ret : -EBADMSG;
		}
		if (memcmp(hash, local->state->hashes[*n], LEDGER_HASH_BYTES))
			break;
	}
	return 0;
}

#define STR_(x) #x
#define STR(x) STR_(x)

static bool within_window(uint64_t a, uint64_t b)
{
	return (a > b ? a - b : b - a) <= LEDGER_TAKEOVER_WINDOW;
}

/* 1 if remote's takeover at the fork may replace local's (see "Concurrent
 * takeovers"): local's is its last entry, so replacing it drops nothing
 * else; the two were signed within the window of each other; the signer is
 * a live admin here and not the sequencer being replaced; and its hash is
 * lower. Else 0, with *why set when both are takeovers. */
static int takeover_wins(const struct ledger *local, const struct ledger *remote, size_t at,
			 const char **why)
{
	const struct ledger_entry *ours = &local->entries[at], *theirs = &remote->entries[at];
	const struct ledger_member *signer = ledger_find(local, theirs->signer);
	uint8_t hash[LEDGER_HASH_BYTES];
	int ret;

	*why = "";
	if (ours->kind != LEDGER_TAKEOVER || theirs->kind != LEDGER_TAKEOVER)
		return 0;
	if (at + 1 != local->count)
		*why = "; ours has entries after it, which are never dropped";
	else if (!within_window(ours->timestamp, theirs->timestamp))
		*why = "; they were not signed within " STR(LEDGER_TAKEOVER_WINDOW) " s of each other";
	else if (!signer || signer->revoked || !(signer->roles & LEDGER_ROLE_ADMIN))
		*why = "; theirs is not signed by a live admin";
	else if (!strcmp(theirs->signer, ours->from))
		*why = "; theirs is signed by the sequencer it replaces";
	if (**why)
		return 0;
	ret = entry_hash(theirs, hash);
	if (ret < 0)
		return ret == -ENOMEM ? ret : 0;
	if (memcmp(hash, local->state->hashes[at], LEDGER_HASH_BYTES) < 0)
		return 1;
	*why = "; ours has the lower hash";
	return 0;
}

/* local becomes remote, verified whole: a won takeover fork at index at. */
static int take_remote(struct ledger *local, struct ledger *remote, size_t at,
		       char *err, size_t errlen)
{
	struct ledger_state *s = NULL;
	int ret = replay(remote, local, &s, err, errlen);

	if (ret < 0)
		return ret == -ENOMEM ? ret : -EBADMSG;
	state_free(remote->state);
	ledger_free(local);
	*local = *remote;
	local->state = s;
	ledger_init(remote);
	return (int)(local->count - at);
}

int ledger_extend(struct ledger *local, struct ledger *remote, char *err, size_t errlen)
{
	struct ledger_state *s = NULL;
	size_t same, added;
	int ret;

	if (!ledger_verified(local)) {
		errbuf_set(err, errlen, "the local ledger is not verified");
		return -EINVAL;
	}
	if (!remote->count) {
		errbuf_set(err, errlen, "the remote ledger is empty");
		return -EBADMSG;
	}
	ret = common_prefix(local, remote, &same, err, errlen);
	if (ret < 0)
		return ret;
	if (same == 0) {
		errbuf_set(err, errlen,
			"the remote ledger belongs to another mesh (genesis differs)");
		return -EXDEV;
	}
	if (same < local->count && same < remote->count) {
		const struct ledger_entry *a = &local->entries[same], *b = &remote->entries[same];
		const char *why;

		ret = takeover_wins(local, remote, same, &why);
		if (ret < 0)
			return ret;
		if (ret)
			return take_remote(local, remote, same, err, errlen);
		errbuf_set(err, errlen,
			"fork at entry %zu: ours is %s by '%s', theirs is %s by '%s'%s",
			same, ledger_kind_name(a->kind), a->signer, ledger_kind_name(b->kind), b->signer,
			why);
		return -EEXIST;
	}
	if (remote->count < local->count) {
		errbuf_set(err, errlen, "the remote ledger is older: %zu entries, ours has %zu",
			remote->count, local->count);
		return -ESTALE;
	}
	if (remote->count == local->count)
		return 0;
	ret = replay(remote, local, &s, err, errlen);
	if (ret < 0)
		return ret == -ENOMEM ? ret : -EBADMSG;
	added = remote->count - local->count;
	state_free(remote->state);
	ledger_free(local);
	*local = *remote;
	local->state = s;
	ledger_init(remote);
	return (int)added;
}

int ledger_members(const struct ledger *l, const struct ledger_member **members, size_t *count)
{
	if (!ledger_verified(l))
		return -EINVAL;
	*members = l->state->members;
	*count = l->state->count;
	return 0;
}

const struct ledger_member *ledger_find(const struct ledger *l, const char *name)
{
	long i;

	if (!ledger_verified(l))
		return NULL;
	i = find_name(l->state, name);
	return i < 0 ? NULL : &l->state->members[i];
}

const struct ledger_member *ledger_sequencer(const struct ledger *l)
{
	return ledger_verified(l) ? state_sequencer(l->state) : NULL;
}

int ledger_next_address(const struct ledger *l, uint32_t *addr)
{
	const struct ledger_state *s = l->state;

	if (!ledger_verified(l))
		return -EINVAL;
	if (s->next_free == (s->prefix_addr | ~prefix_mask(s->prefix_len)))
		return -ENOSPC;
	*addr = s->next_free;
	return 0;
}

int ledger_head_hash(const struct ledger *l, uint8_t hash[LEDGER_HASH_BYTES])
{
	if (!ledger_verified(l))
		return -EINVAL;
	memcpy(hash, l->state->hashes[l->count - 1], LEDGER_HASH_BYTES);
	return 0;
}

int ledger_prefix_parse(const char *text, uint32_t *addr, uint8_t *len)
{
	char host[INET_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	struct in_addr in;
	unsigned long n = 0;
	size_t hl;

	if (!slash || !slash[1] || strlen(slash + 1) > 2 || slash[1] == '0')
		return -EINVAL;
	hl = (size_t)(slash - text);
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, hl);
	host[hl] = '\0';
	for (const char *p = slash + 1; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		n = n * 10 + (unsigned long)(*p - '0');
	}
	if (inet_pton(AF_INET, host, &in) != 1 || n < LEDGER_PREFIX_MIN || n > LEDGER_PREFIX_MAX)
		return -EINVAL;
	if (ntohl(in.s_addr) & ~prefix_mask((uint8_t)n))
		return -EINVAL;
	*addr = ntohl(in.s_addr);
	*len = (uint8_t)n;
	return 0;
}

void ledger_addr_format(uint32_t addr, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
		 addr & 0xff);
}

int ledger_roles_parse(const char *text, unsigned *roles)
{
	return roles_parse(text, role_names, NROLES, roles);
}

void ledger_roles_format(unsigned roles, char *buf, size_t len)
{
	roles_format(roles, role_names, NROLES, buf, len);
}
