/* CPACE-RISTR255-SHA512, written from draft-irtf-cfrg-cpace; section names in
 * quotes below are the draft's. */
#include "genesis/cpace.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

/* "CPace group objects G_Ristretto255 and G_Decaf448" and "Hash function H" */
#define DSI "CPaceRistretto255"
#define DSI_ISK DSI "_ISK"
#define SHA512_BLOCK 128

enum { STATE_NONE, STATE_SHARED, STATE_DONE };

/* Everything hashed or MACed here is built by the same code that the exported
 * string functions use, so the appendix vectors cover the hash inputs. */
struct sink {
	crypto_hash_sha512_state *hash;
	crypto_auth_hmacsha512_state *mac;
	uint8_t *out;
	size_t size;
	size_t len;
};

static void put(struct sink *s, const uint8_t *p, size_t n)
{
	if (!n)
		return;
	if (s->hash)
		crypto_hash_sha512_update(s->hash, p, n);
	else if (s->mac)
		crypto_auth_hmacsha512_update(s->mac, p, n);
	else if (s->len < s->size)
		memcpy(s->out + s->len, p, n < s->size - s->len ? n : s->size - s->len);
	s->len += n;
}

static void put_str(struct sink *s, const char *str)
{
	put(s, (const uint8_t *)str, strlen(str));
}

/* "Notation for string operations": LEB128, 7 bits a byte, low bits first. */
static size_t leb128(uint8_t out[CPACE_LEB128_MAX], size_t n)
{
	size_t i = 0;

	do {
		out[i] = n & 0x7f;
		n >>= 7;
		if (n)
			out[i] |= 0x80;
		++i;
	} while (n);
	return i;
}

/* prepend_len(p) */
static void put_lv(struct sink *s, const uint8_t *p, size_t n)
{
	uint8_t len[CPACE_LEB128_MAX];

	put(s, len, leb128(len, n));
	put(s, p, n);
}

static void put_lv_str(struct sink *s, const char *str)
{
	put_lv(s, (const uint8_t *)str, strlen(str));
}

/* "Common function for computing generators":
 * lv_cat(DSI, PRS, zero_bytes(len_zpad), CI, sid), where the padding makes
 * DSI and PRS fill the first SHA-512 block. */
static void put_generator_string(struct sink *s, const uint8_t *prs, size_t prs_len,
				 const uint8_t *ci, size_t ci_len, const uint8_t *sid, size_t sid_len)
{
	static const uint8_t zeros[SHA512_BLOCK];
	uint8_t tmp[CPACE_LEB128_MAX];
	size_t used, zpad;

	used = leb128(tmp, prs_len) + prs_len + leb128(tmp, strlen(DSI)) + strlen(DSI) + 1;
	zpad = used < SHA512_BLOCK ? SHA512_BLOCK - used : 0;
	put_lv_str(s, DSI);
	put_lv(s, prs, prs_len);
	put_lv(s, zeros, zpad);
	put_lv(s, ci, ci_len);
	put_lv(s, sid, sid_len);
}

/* Walks the bytes of lv_cat(Y, AD) without building it. */
struct cursor {
	struct cpace_str seg[4];
	uint8_t len_y[CPACE_LEB128_MAX];
	uint8_t len_ad[CPACE_LEB128_MAX];
	size_t i, off;
};

static void cursor_init(struct cursor *k, struct cpace_str Y, struct cpace_str AD)
{
	k->seg[0] = (struct cpace_str){ k->len_y, leb128(k->len_y, Y.len) };
	k->seg[1] = Y;
	k->seg[2] = (struct cpace_str){ k->len_ad, leb128(k->len_ad, AD.len) };
	k->seg[3] = AD;
	k->i = k->off = 0;
}

static int cursor_next(struct cursor *k)
{
	while (k->i < 4 && k->off == k->seg[k->i].len) {
		++k->i;
		k->off = 0;
	}
	if (k->i == 4)
		return -1;
	return k->seg[k->i].p[k->off++];
}

/* "Definitions for lexiographical ordering", applied to lv_cat(Ya, ADa) and
 * lv_cat(Yb, ADb). Both messages are public, so timing does not matter. */
static bool msg_larger(struct cpace_str Ya, struct cpace_str ADa,
		       struct cpace_str Yb, struct cpace_str ADb)
{
	struct cursor a, b;
	int x, y;

	cursor_init(&a, Ya, ADa);
	cursor_init(&b, Yb, ADb);
	do {
		x = cursor_next(&a);
		y = cursor_next(&b);
	} while (x == y && x >= 0);
	return x > y;
}

static void put_msg(struct sink *s, struct cpace_str Y, struct cpace_str AD)
{
	put_lv(s, Y.p, Y.len);
	put_lv(s, AD.p, AD.len);
}

/* transcript_ir = lv_cat(Ya,ADa) || lv_cat(Yb,ADb);
 * transcript_oc = o_cat(lv_cat(Ya,ADa), lv_cat(Yb,ADb)), larger one first. */
static void put_transcript(struct sink *s, bool ordered, struct cpace_str Ya, struct cpace_str ADa,
			   struct cpace_str Yb, struct cpace_str ADb)
{
	if (ordered) {
		put_str(s, "oc");
		if (!msg_larger(Ya, ADa, Yb, ADb)) {
			put_msg(s, Yb, ADb);
			put_msg(s, Ya, ADa);
			return;
		}
	}
	put_msg(s, Ya, ADa);
	put_msg(s, Yb, ADb);
}

size_t cpace_prepend_len(uint8_t *out, size_t out_size, const uint8_t *s, size_t len)
{
	struct sink k = { .out = out, .size = out_size };

	put_lv(&k, s, len);
	return k.len;
}

size_t cpace_lv_cat(uint8_t *out, size_t out_size, const struct cpace_str *v, size_t n)
{
	struct sink k = { .out = out, .size = out_size };

	for (size_t i = 0; i < n; ++i)
		put_lv(&k, v[i].p, v[i].len);
	return k.len;
}

size_t cpace_generator_string(uint8_t *out, size_t out_size, const uint8_t *prs, size_t prs_len,
			      const uint8_t *ci, size_t ci_len, const uint8_t *sid, size_t sid_len)
{
	struct sink k = { .out = out, .size = out_size };

	put_generator_string(&k, prs, prs_len, ci, ci_len, sid, sid_len);
	return k.len;
}

size_t cpace_transcript(uint8_t *out, size_t out_size, bool ordered,
			struct cpace_str Ya, struct cpace_str ADa,
			struct cpace_str Yb, struct cpace_str ADb)
{
	struct sink k = { .out = out, .size = out_size };

	put_transcript(&k, ordered, Ya, ADa, Yb, ADb);
	return k.len;
}

/* "CPace group objects G_Ristretto255": element_derivation of the 64-byte
 * hash of the generator string, which is crypto_core_ristretto255_from_hash. */
int cpace_calculate_generator(uint8_t g[CPACE_POINT_BYTES], const uint8_t *prs, size_t prs_len,
			      const uint8_t *ci, size_t ci_len, const uint8_t *sid, size_t sid_len)
{
	crypto_hash_sha512_state st;
	struct sink k = { .hash = &st };
	uint8_t h[crypto_hash_sha512_BYTES];
	int ret = 0;

	crypto_hash_sha512_init(&st);
	put_generator_string(&k, prs, prs_len, ci, ci_len, sid, sid_len);
	crypto_hash_sha512_final(&st, h);
	crypto_core_ristretto255_from_hash(g, h);
	if (sodium_is_zero(g, CPACE_POINT_BYTES))
		ret = -EINVAL;
	sodium_memzero(h, sizeof(h));
	sodium_memzero(&st, sizeof(st));
	return ret;
}

/* "G_Ristretto255": scalar_mult_vfy returns G.I when decode(X) fails and the
 * protocol aborts on G.I. libsodium fails in exactly those two cases. */
int cpace_scalar_mult_vfy(uint8_t out[CPACE_POINT_BYTES], const uint8_t y[CPACE_SCALAR_BYTES],
			  const uint8_t X[CPACE_POINT_BYTES])
{
	if (crypto_scalarmult_ristretto255(out, y, X) == 0)
		return 0;
	sodium_memzero(out, CPACE_POINT_BYTES);
	return -EINVAL;
}

static bool bad_buf(const uint8_t *p, size_t len)
{
	return !p && len;
}

static bool scalar_ok(const uint8_t y[CPACE_SCALAR_BYTES])
{
	uint8_t wide[crypto_core_ristretto255_NONREDUCEDSCALARBYTES] = { 0 };
	uint8_t r[CPACE_SCALAR_BYTES];
	bool ok;

	memcpy(wide, y, CPACE_SCALAR_BYTES);
	crypto_core_ristretto255_scalar_reduce(r, wide);
	ok = !sodium_memcmp(r, y, sizeof(r)) && !sodium_is_zero(y, CPACE_SCALAR_BYTES);
	sodium_memzero(wide, sizeof(wide));
	sodium_memzero(r, sizeof(r));
	return ok;
}

/* "CPace protocol instructions": g = calculate_generator(PRS, CI, sid),
 * y = sample_scalar(), Y = scalar_mult(y, g). y == NULL samples y uniformly
 * in [1, order-1], the draft's alternative to masked random bytes. */
static int init(struct cpace_ctx *c, enum cpace_role role, const uint8_t *y,
		const uint8_t *prs, size_t prs_len, const uint8_t *ci, size_t ci_len,
		const uint8_t *sid, size_t sid_len, const uint8_t *ad, size_t ad_len)
{
	uint8_t g[CPACE_POINT_BYTES];
	int ret;

	sodium_memzero(c, sizeof(*c));
	if (role < CPACE_INITIATOR || role > CPACE_SYMMETRIC || bad_buf(prs, prs_len) ||
	    bad_buf(ci, ci_len) || bad_buf(sid, sid_len) || bad_buf(ad, ad_len))
		return -EINVAL;
	if (sid_len > CPACE_SID_MAX || ad_len > CPACE_AD_MAX)
		return -EMSGSIZE;
	if (sodium_init() < 0)
		return -EIO;
	ret = cpace_calculate_generator(g, prs, prs_len, ci, ci_len, sid, sid_len);
	if (ret < 0)
		goto out;
	if (y)
		memcpy(c->y, y, CPACE_SCALAR_BYTES);
	else
		crypto_core_ristretto255_scalar_random(c->y);
	if (crypto_scalarmult_ristretto255(c->Y, c->y, g) != 0) {
		ret = -EINVAL;
		goto out;
	}
	if (sid_len)
		memcpy(c->sid, sid, sid_len);
	c->sid_len = sid_len;
	if (ad_len)
		memcpy(c->ad, ad, ad_len);
	c->ad_len = ad_len;
	c->role = role;
	c->state = STATE_SHARED;
out:
	sodium_memzero(g, sizeof(g));
	if (ret < 0)
		cpace_wipe(c);
	return ret;
}

int cpace_init(struct cpace_ctx *c, enum cpace_role role,
	       const uint8_t *prs, size_t prs_len, const uint8_t *ci, size_t ci_len,
	       const uint8_t *sid, size_t sid_len, const uint8_t *ad, size_t ad_len)
{
	return init(c, role, NULL, prs, prs_len, ci, ci_len, sid, sid_len, ad, ad_len);
}

int cpace_init_with_scalar(struct cpace_ctx *c, enum cpace_role role,
			   const uint8_t y[CPACE_SCALAR_BYTES],
			   const uint8_t *prs, size_t prs_len, const uint8_t *ci, size_t ci_len,
			   const uint8_t *sid, size_t sid_len, const uint8_t *ad, size_t ad_len)
{
	if (!y || !scalar_ok(y)) {
		sodium_memzero(c, sizeof(*c));
		return -EINVAL;
	}
	return init(c, role, y, prs, prs_len, ci, ci_len, sid, sid_len, ad, ad_len);
}

const uint8_t *cpace_share(const struct cpace_ctx *c)
{
	return c->state == STATE_NONE ? NULL : c->Y;
}

/* ISK = H(lv_cat(DSI || "_ISK", sid, K) || transcript(Ya,ADa, Yb,ADb)) */
static void derive_isk(uint8_t isk[CPACE_ISK_BYTES], const struct cpace_ctx *c,
		       const uint8_t K[CPACE_POINT_BYTES], const struct cpace_str *a,
		       const struct cpace_str *b)
{
	crypto_hash_sha512_state st;
	struct sink k = { .hash = &st };

	crypto_hash_sha512_init(&st);
	put_lv_str(&k, DSI_ISK);
	put_lv(&k, c->sid, c->sid_len);
	put_lv(&k, K, CPACE_POINT_BYTES);
	put_transcript(&k, c->role == CPACE_SYMMETRIC, a[0], a[1], b[0], b[1]);
	crypto_hash_sha512_final(&st, isk);
	sodium_memzero(&st, sizeof(st));
}

/* "Calculating a session identifier": H("CPaceSidOutput" || transcript) */
static void derive_sid_output(struct cpace_ctx *c, const struct cpace_str *a,
			      const struct cpace_str *b)
{
	crypto_hash_sha512_state st;
	struct sink k = { .hash = &st };

	crypto_hash_sha512_init(&st);
	put_str(&k, "CPaceSidOutput");
	put_transcript(&k, c->role == CPACE_SYMMETRIC, a[0], a[1], b[0], b[1]);
	crypto_hash_sha512_final(&st, c->sid_output);
}

static void tag_msg(uint8_t tag[CPACE_TAG_BYTES], const uint8_t mac_key[crypto_hash_sha512_BYTES],
		    struct cpace_str Y, struct cpace_str AD)
{
	crypto_auth_hmacsha512_state st;
	struct sink k = { .mac = &st };

	crypto_auth_hmacsha512_init(&st, mac_key, crypto_hash_sha512_BYTES);
	put_msg(&k, Y, AD);
	crypto_auth_hmacsha512_final(&st, tag);
	sodium_memzero(&st, sizeof(st));
}

/* "Key confirmation": mac_key = H("CPaceMac" || sid || ISK); each side tags
 * lv_cat(Y, AD) of the message it sent. */
static void derive_tags(struct cpace_ctx *c, const uint8_t isk[CPACE_ISK_BYTES],
			const struct cpace_str *own, const struct cpace_str *peer)
{
	crypto_hash_sha512_state st;
	struct sink k = { .hash = &st };
	uint8_t mac_key[crypto_hash_sha512_BYTES];

	crypto_hash_sha512_init(&st);
	put_str(&k, "CPaceMac");
	put(&k, c->sid, c->sid_len);
	put(&k, isk, CPACE_ISK_BYTES);
	crypto_hash_sha512_final(&st, mac_key);
	tag_msg(c->tag, mac_key, own[0], own[1]);
	tag_msg(c->peer_tag, mac_key, peer[0], peer[1]);
	sodium_memzero(mac_key, sizeof(mac_key));
	sodium_memzero(&st, sizeof(st));
}

int cpace_finish(struct cpace_ctx *c, const uint8_t peer_Y[CPACE_POINT_BYTES],
		 const uint8_t *peer_ad, size_t peer_ad_len, uint8_t isk[CPACE_ISK_BYTES])
{
	const struct cpace_str own[2] = { { c->Y, CPACE_POINT_BYTES }, { c->ad, c->ad_len } };
	const struct cpace_str peer[2] = { { peer_Y, CPACE_POINT_BYTES }, { peer_ad, peer_ad_len } };
	const struct cpace_str *a = c->role == CPACE_RESPONDER ? peer : own;
	const struct cpace_str *b = a == own ? peer : own;
	uint8_t K[CPACE_POINT_BYTES];
	int ret = -EINVAL;

	/* Our own share coming back is a reflection: with it, our own tag would
	 * confirm a session with ourselves. Honest shares never collide. */
	if (c->state != STATE_SHARED || bad_buf(peer_ad, peer_ad_len) ||
	    !memcmp(peer_Y, c->Y, CPACE_POINT_BYTES))
		goto out;
	ret = cpace_scalar_mult_vfy(K, c->y, peer_Y);
	if (ret < 0)
		goto out;
	/* (Ya, ADa) is the initiator's message; symmetric runs order it anyway. */
	derive_isk(isk, c, K, a, b);
	derive_sid_output(c, a, b);
	derive_tags(c, isk, own, peer);
	c->state = STATE_DONE;
out:
	sodium_memzero(K, sizeof(K));
	sodium_memzero(c->y, sizeof(c->y));
	if (ret < 0) {
		sodium_memzero(isk, CPACE_ISK_BYTES);
		cpace_wipe(c);
	}
	return ret;
}

const uint8_t *cpace_confirm_tag(const struct cpace_ctx *c)
{
	return c->state == STATE_DONE ? c->tag : NULL;
}

int cpace_confirm_verify(const struct cpace_ctx *c, const uint8_t peer_tag[CPACE_TAG_BYTES])
{
	if (c->state != STATE_DONE)
		return -EINVAL;
	return sodium_memcmp(c->peer_tag, peer_tag, CPACE_TAG_BYTES) ? -EBADMSG : 0;
}

const uint8_t *cpace_sid_output(const struct cpace_ctx *c)
{
	return c->state == STATE_DONE ? c->sid_output : NULL;
}

void cpace_wipe(struct cpace_ctx *c)
{
	sodium_memzero(c, sizeof(*c));
}
