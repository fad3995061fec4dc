/* CPace, cipher suite CPACE-RISTR255-SHA512 (draft-irtf-cfrg-cpace): a balanced
 * PAKE. Both sides derive the same 64-byte ISK if and only if they used the
 * same PRS, CI and sid and saw the same two messages (Y, AD).
 *
 * A run, for either side:
 *
 *   cpace_init(&c, role, prs, ci, sid, ad)     -> send cpace_share(&c) and ad
 *   cpace_finish(&c, peer_Y, peer_ad, isk)     -> -EINVAL: abort the run
 *   send cpace_confirm_tag(&c)
 *   cpace_confirm_verify(&c, peer_tag)         -> -EBADMSG: wrong password
 *   cpace_wipe(&c)
 *
 * Roles ("CPace inputs", "Party identifiers"): CPACE_INITIATOR and
 * CPACE_RESPONDER hash transcript_ir, the initiator's message first;
 * CPACE_SYMMETRIC hashes transcript_oc (ordered concatenation) for runs where
 * either side may speak first. Put party identities into CI (initiator first)
 * or into AD, which the peer must then check.
 *
 * Key confirmation ("Key confirmation"), the draft's suggested construction
 * with HMAC-SHA-512 as the MAC:
 *   mac_key = SHA-512("CPaceMac" || sid || ISK)        (plain concatenation)
 *   tag     = HMAC-SHA-512(mac_key, lv_cat(Y, AD))     (64 bytes)
 * over the sender's own message, so it works in either role and in parallel.
 *
 * Session id output ("Calculating a session identifier alongside with the
 * CPace run"): sid_output = SHA-512("CPaceSidOutput" || transcript), useful
 * when no sid was available as input.
 *
 * ISK is intermediate: run it through a KDF before use. K never leaves this
 * file. Errors are negative errno values. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPACE_POINT_BYTES 32
#define CPACE_SCALAR_BYTES 32
#define CPACE_ISK_BYTES 64
#define CPACE_TAG_BYTES 64
#define CPACE_SID_OUTPUT_BYTES 64
#define CPACE_SID_MAX 64
#define CPACE_AD_MAX 256
#define CPACE_LEB128_MAX 10

enum cpace_role {
	CPACE_INITIATOR = 1,
	CPACE_RESPONDER,
	CPACE_SYMMETRIC,
};

/* Treat as opaque. Usable on the stack; cpace_wipe() it on every path. */
struct cpace_ctx {
	enum cpace_role role;
	int state;
	uint8_t y[CPACE_SCALAR_BYTES];
	uint8_t Y[CPACE_POINT_BYTES];
	uint8_t sid[CPACE_SID_MAX];
	size_t sid_len;
	uint8_t ad[CPACE_AD_MAX];
	size_t ad_len;
	uint8_t tag[CPACE_TAG_BYTES];
	uint8_t peer_tag[CPACE_TAG_BYTES];
	uint8_t sid_output[CPACE_SID_OUTPUT_BYTES];
};

/* Compute g from (PRS, CI, sid) and the share Y = y*g with a fresh scalar.
 * sid and ad are copied (at most CPACE_SID_MAX / CPACE_AD_MAX bytes, else
 * -EMSGSIZE); any input may be empty. -EINVAL for a bad role, -EIO if
 * libsodium cannot initialise. */
int cpace_init(struct cpace_ctx *c, enum cpace_role role,
	       const uint8_t *prs, size_t prs_len, const uint8_t *ci, size_t ci_len,
	       const uint8_t *sid, size_t sid_len, const uint8_t *ad, size_t ad_len);

/* As cpace_init() with a caller-chosen scalar y (canonical and non-zero, else
 * -EINVAL). For test vectors only: a reused or guessable y gives the password
 * away. */
int cpace_init_with_scalar(struct cpace_ctx *c, enum cpace_role role,
			   const uint8_t y[CPACE_SCALAR_BYTES],
			   const uint8_t *prs, size_t prs_len, const uint8_t *ci, size_t ci_len,
			   const uint8_t *sid, size_t sid_len, const uint8_t *ad, size_t ad_len);

/* The 32-byte message to send with AD; NULL before a successful init. */
const uint8_t *cpace_share(const struct cpace_ctx *c);

/* Derive ISK from the peer's message and prepare the confirmation tags. The
 * scalar is wiped whatever the outcome; on error the whole context is wiped
 * and isk zeroed. -EINVAL if peer_Y does not decode, if y*peer_Y is the
 * identity, if peer_Y equals our own share (a reflected message), or if the
 * context is not waiting for a peer message. */
int cpace_finish(struct cpace_ctx *c, const uint8_t peer_Y[CPACE_POINT_BYTES],
		 const uint8_t *peer_ad, size_t peer_ad_len, uint8_t isk[CPACE_ISK_BYTES]);

/* After cpace_finish(): our tag to send, and the check of the peer's tag in
 * constant time (0, -EBADMSG, or -EINVAL if not finished). */
const uint8_t *cpace_confirm_tag(const struct cpace_ctx *c);
int cpace_confirm_verify(const struct cpace_ctx *c, const uint8_t peer_tag[CPACE_TAG_BYTES]);

/* After cpace_finish(): sid_output for this run's transcript (ir or oc by
 * role); NULL if not finished. */
const uint8_t *cpace_sid_output(const struct cpace_ctx *c);

void cpace_wipe(struct cpace_ctx *c);

/* G.calculate_generator: g = from_hash(SHA-512(generator_string(...))),
 * encoded. -EINVAL in the (negligible) case g is the identity. */
int cpace_calculate_generator(uint8_t g[CPACE_POINT_BYTES], const uint8_t *prs, size_t prs_len,
			      const uint8_t *ci, size_t ci_len, const uint8_t *sid, size_t sid_len);

/* G.scalar_mult_vfy: out = y*decode(X); out = G.I (all zero) and -EINVAL if X
 * does not decode or the result is the identity. */
int cpace_scalar_mult_vfy(uint8_t out[CPACE_POINT_BYTES], const uint8_t y[CPACE_SCALAR_BYTES],
			  const uint8_t X[CPACE_POINT_BYTES]);

/* The string functions of the draft's appendix, exported so its vectors can
 * be checked; they are the code that feeds the hashes. Each writes at most
 * out_size bytes and returns the full length, like snprintf: a return value
 * above out_size means the output was truncated. */
struct cpace_str {
	const uint8_t *p;
	size_t len;
};

size_t cpace_prepend_len(uint8_t *out, size_t out_size, const uint8_t *s, size_t len);
size_t cpace_lv_cat(uint8_t *out, size_t out_size, const struct cpace_str *v, size_t n);
size_t cpace_generator_string(uint8_t *out, size_t out_size, const uint8_t *prs, size_t prs_len,
			      const uint8_t *ci, size_t ci_len, const uint8_t *sid, size_t sid_len);
/* transcript_ir, or transcript_oc when ordered. */
size_t cpace_transcript(uint8_t *out, size_t out_size, bool ordered,
			struct cpace_str Ya, struct cpace_str ADa,
			struct cpace_str Yb, struct cpace_str ADb);
