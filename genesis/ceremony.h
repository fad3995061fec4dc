/* The pairing ceremony. A new node, the joiner (J), and a member that may
 * admit, the inviter (I), prove to each other that they hold the same short
 * code without revealing it, agree on a key, show the same short
 * authentication string (SAS) to their operators and, once both operators
 * have confirmed it, I admits J and hands it the ledger.
 *
 * Transport: TCP, port 7104 (CEREMONY_PORT) unless told otherwise; I listens,
 * J connects. Each side sends a stream of frames (the framing of
 * lib/wire-frame.h):
 *
 *   frame   = u32be n | payload[n]     1 <= n <= 4096 toward I,
 *                                      1 <= n <= 32 MiB + 4096 toward J
 *   payload = u8 type | body
 *
 * Integers are big-endian. Strings carry a length prefix and no NUL. Every
 * message has exactly one valid encoding: a wrong length, trailing bytes, an
 * unknown type or an out-of-range field is a protocol error that ends the
 * connection.
 *
 * Messages in the clear:
 *
 *   type  name     dir   body
 *   0x01  HELLO    J->I  u8 version (1) | u16be slot (1..999) | nonce_j[16]
 *   0x02  START    I->J  u8 version (1) | nonce_i[16]
 *   0x03  SHARE_A  J->I  Ya[32] | ADa[18]
 *   0x04  SHARE_B  I->J  Yb[32] | ADb[18] | tag_b[64]
 *   0x05  CONFIRM  J->I  tag_a[64]
 *   0x06  SEALED   both  ciphertext of an inner message | Poly1305 tag[16]
 *   0x07  ABORT    both  u8 reason (1..255) | u8 n (0..120) | text[n] (0x20..0x7e)
 *
 *   ADa = u8 version (1) | u8 0x01 (joiner)  | nonce_j[16]
 *   ADb = u8 version (1) | u8 0x02 (inviter) | nonce_i[16]
 *
 * Inner messages, the plaintext of SEALED:
 *
 *   0x11  JOIN       J->I  u8 n | name[n]        1..31 of [a-z0-9-], no '-' at
 *                                                either end
 *                          ed25519_pk[32]        a valid, canonical point of
 *                                                the prime-order subgroup
 *                          x25519_pk[32]         heartbeat key agreement, not 0
 *                          wireguard_pk[32]      not 0
 *                          u8 n | endpoint[n]    0..63: "host:port" or none;
 *                                                host [A-Za-z0-9.-]+ or
 *                                                "[IPv6]", port 1..65535
 *                                                without leading zeros
 *                          u8 roles              requested: bit 0 node,
 *                                                1 fleet, 2 admin, 3 relay;
 *                                                others zero
 *   0x12  CONFIRMED  J->I  (nothing)
 *   0x13  ANSWER     I->J  u8 n | mesh_prefix[n] "addr/len", IPv4 or IPv6,
 *                                                host bits zero
 *                          u8 n | address[n]     J's address, inside the prefix
 *                          u8 n | fleet[n]       "host:port" or none (n = 0)
 *                          u32be n | ledger[n]   1..32 MiB (LEDGER_FILE_MAX, the
 *                                                ledger's own cap), opaque here
 *   0x14  ABORT      both  as the clear ABORT
 *
 * The run:
 *
 *   J                                         I
 *   HELLO                     ------>         expired, used or burned: ABORT
 *                                             and close; an unknown slot runs
 *                                             on against a random secret
 *                             <------         START
 *   SHARE_A                   ------>         check ADa and Ya, then
 *                                             attempts_left -= 1
 *                             <------         SHARE_B
 *   check tag_b; wrong: ABORT(wrong code)
 *   CONFIRM, SEALED(JOIN)     ------>         check tag_a; wrong: ABORT(wrong
 *                                             code); right: invitation used
 *   both show the SAS; each operator confirms (or types the SAS shown on the
 *   other screen); a decline or a mismatch sends SEALED(ABORT)
 *   SEALED(CONFIRMED)         ------>         after its own operator and J's
 *                                             CONFIRMED: admit() signs the
 *                             <------         SEALED(ANSWER)
 *
 * Either side may send ABORT at any time and then closes. I sends only SEALED
 * once tag_a checked out; J accepts a clear ABORT until the first SEALED from
 * I (I may reject tag_a), and nothing clear after that. The text of an ABORT
 * is the sender's wording of the reason; a receiver shows its own wording of
 * a known reason and the text only for an unknown one. Refusals (reasons 1 to
 * 5 and 9) are the inviter's to make, except a wrong code, which J reports
 * after tag_b: I shows any other as "the joiner aborted: ...".
 *
 * CPace (cpace.h), initiator J, responder I, transcript_ir:
 *   PRS = shortcode_secret() of the code: 5 bytes, the four words' indices
 *   CI  = "osi-pairing-v1" | u16be slot                     (16 bytes)
 *   sid = nonce_j | nonce_i                                 (32 bytes)
 *   AD  = ADa, ADb above; each side checks the peer's AD byte for byte.
 * The draft recommends a sid made of random strings from both parties when
 * the protocol can establish one ("Nonce values"; "Quantum computers": one
 * discrete-log problem per guess and session). HELLO/START buys that for
 * one round trip that carries no secret. The AD binds the version against a
 * downgrade and the role against a reflection.
 *
 * Key confirmation: cpace_confirm_tag(), HMAC-SHA-512 keyed from ISK over the
 * sender's (Y, AD). I's tag goes first; J sends its own only after checking
 * I's. A tag is the one guess CPace allows each session: nothing sent lets an
 * eavesdropper or an active attacker test a second code offline, and no AEAD
 * ciphertext exists before J has checked tag_b; I decrypts nothing before
 * checking tag_a.
 *
 * Channel keys:
 *   prk  = BLAKE2b-256(key = ISK, "osi-pairing-v1 keys")
 *   k_JI = crypto_kdf_derive_from_key(32, 1, "osipair1", prk)
 *   k_IJ = crypto_kdf_derive_from_key(32, 2, "osipair1", prk)
 * crypto_aead_xchacha20poly1305_ietf, no associated data, nonce = u64be
 * counter | 16 zero bytes, the counter 0, 1, 2, ... per direction and never
 * sent: a replayed, dropped or reordered message fails to authenticate.
 *
 * SAS: sas_derive(ISK, context) with
 *   context = SHA-512("osi-pairing-v1 sas" | for HELLO, START, SHARE_A,
 *             SHARE_B and CONFIRM payloads and the JOIN plaintext, in that
 *             order: u32be n | bytes[n])
 * so it also covers the keys J asks to be admitted with.
 *
 * Invitations live only in the memory of the inviting process, which holds
 * them while it waits for joiners: a short code is a password, and nothing
 * password-like goes to disk. Each has a slot, the PRS, a CLOCK_MONOTONIC
 * deadline (10 minutes by default), 3 attempts and a used flag. An attempt
 * counts as soon as I is about to send its tag (SHARE_B), whatever happens
 * next: a joiner that hangs up then has still had its guess. A correct tag_a
 * uses the invitation up even if the SAS is then refused (whoever knew the
 * code is suspect). Refusals depend on the slot and the invitation's state
 * only, and come before any CPace computation; an unknown slot is no
 * refusal: the inviter runs CPace with a random secret, so that it ends as a
 * wrong code does and probing tells nothing about which slots exist.
 * Several runs may share the invitations (ceremony_serve()): the attempt is
 * counted, after a fresh check of the invitation's state, in one step under
 * the set's lock, and so is its use, which goes to the first right tag_a
 * only; a later one is told "already used".
 *
 * Deadlines (CLOCK_MONOTONIC): the key exchange, from accept() or connect()
 * to JOIN, has CEREMONY_STEP_TIMEOUT_MS in total, of which HELLO must come
 * within CEREMONY_HELLO_TIMEOUT_MS and, on I's side, each of SHARE_A, CONFIRM
 * and JOIN within CEREMONY_MSG_TIMEOUT_MS of the message before; the SAS
 * phase, from the moment a side can show the SAS to ANSWER, both operators
 * and admit() included, has CEREMONY_CONFIRM_TIMEOUT_MS; every read and write waits with
 * poll() against the deadline of its phase. A wrong code ends both sides as
 * soon as J has checked tag_b: one round trip, milliseconds on a LAN.
 *
 * ABORT reasons, and what ceremony_serve_one()/ceremony_join() return when
 * either side ends the run for that reason:
 *    1 wrong code          -EACCES        7 SAS not confirmed  -ECANCELED
 *    2 no such invitation  -ENOENT        8 admission refused  -EPERM
 *    3 expired             -EKEYEXPIRED   9 version            -EPROTONOSUPPORT
 *    4 burned              -EKEYREVOKED  10 protocol error     -EPROTO
 *    5 already used        -EALREADY     11 timed out          -ETIMEDOUT
 *    6 SAS mismatch        -EKEYREJECTED 12 internal error     -EIO
 * Other reason codes are accepted and reported as -ECONNABORTED.
 * A connection that closes early gives -ECONNRESET. */
#pragma once
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "genesis/ceremony-types.h"
#include "genesis/sas.h"
#include "genesis/shortcode.h"

#define CEREMONY_PORT 7104
#define CEREMONY_INVITE_TTL_MS (10 * 60 * 1000)
#define CEREMONY_ATTEMPTS 3
#define CEREMONY_STEP_TIMEOUT_MS (10 * 1000)
#define CEREMONY_HELLO_TIMEOUT_MS (2 * 1000) /* from accept() to HELLO */
#define CEREMONY_MSG_TIMEOUT_MS (3 * 1000)   /* then each of SHARE_A, CONFIRM, JOIN */
#define CEREMONY_CONNS_MAX 8                 /* ceremonies ceremony_serve() runs at once */
#define CEREMONY_CONNS_PER_SOURCE 2          /* of them from one address */
#define CEREMONY_CONFIRM_TIMEOUT_MS CEREMONY_INVITE_TTL_MS
#define CEREMONY_INVITATIONS_MAX 16
#define CEREMONY_ERR_MAX 128

/* ABORT's reason byte: wire values, never renumbered. */
enum ceremony_reason {
	CEREMONY_WRONG_CODE = 1,
	CEREMONY_NO_INVITATION,
	CEREMONY_EXPIRED,
	CEREMONY_BURNED,
	CEREMONY_USED,
	CEREMONY_SAS_MISMATCH,
	CEREMONY_DECLINED,
	CEREMONY_REFUSED,
	CEREMONY_BAD_VERSION,
	CEREMONY_PROTOCOL,
	CEREMONY_TIMEOUT,
	CEREMONY_INTERNAL,
};

/* ---- invitations (inviter side) ---- */

struct invitation {
	bool live;                 /* the entry holds an invitation */
	bool used;
	unsigned int slot;
	unsigned int attempts_left;
	uint64_t expires_ns;       /* CLOCK_MONOTONIC */
	uint8_t prs[SHORTCODE_PRS_LEN]; /* zero once the invitation is dead */
};

/* Every function below takes the lock: ceremonies may run in threads. */
struct invitation_set {
	pthread_mutex_t lock;
	struct invitation inv[CEREMONY_INVITATIONS_MAX];
};

void invitation_set_init(struct invitation_set *set);
/* Every PRS zeroed. */
void invitation_set_wipe(struct invitation_set *set);
/* A fresh code on a random free slot, valid for ttl_ms (0: the default);
 * writes its text (SHORTCODE_TEXT_MAX bytes suffice) and returns the slot.
 * -ENOSPC if every entry holds a live, unused, unexpired invitation. */
int invitation_create(struct invitation_set *set, unsigned int ttl_ms, char *code, size_t len);
/* The same with a given code (tests, or a code shown earlier); -EEXIST if the
 * slot is taken by an invitation still pending. */
int invitation_add(struct invitation_set *set, const struct shortcode *code, unsigned int ttl_ms);
/* Zeroes the secret of every invitation that can no longer be used. */
void invitation_set_prune(struct invitation_set *set, uint64_t now_ns);
/* The invitation for slot, or NULL; unlocked: for a set no ceremony uses. */
const struct invitation *invitation_find(const struct invitation_set *set, unsigned int slot);
/* Why slot cannot be used now (an enum ceremony_reason), or 0 if it can. */
int invitation_refusal(const struct invitation_set *set, unsigned int slot, uint64_t now_ns);
/* Number of invitations still usable at now_ns, and the earliest deadline
 * among them (UINT64_MAX if none). */
size_t invitation_pending(const struct invitation_set *set, uint64_t now_ns, uint64_t *next_expiry);
/* The ceremony's steps, each atomic. Copies slot's secret into prs if the
 * slot can be used now, else returns its refusal. */
int invitation_secret(struct invitation_set *set, unsigned int slot, uint64_t now_ns,
		      uint8_t prs[SHORTCODE_PRS_LEN]);
/* Counts one attempt (the attempts then left in *left) unless the slot can
 * no longer be used: then its refusal, and nothing counted. */
int invitation_attempt(struct invitation_set *set, unsigned int slot, uint64_t now_ns,
		       unsigned int *left);
/* Marks slot used and wipes its secret; CEREMONY_USED if another joiner
 * was first. */
int invitation_use(struct invitation_set *set, unsigned int slot);

/* ---- operator confirmation ---- */

enum ceremony_verdict {
	CEREMONY_DECLINE = 0,
	CEREMONY_CONFIRM = 1,
	CEREMONY_MISMATCH = 2,
};

struct ceremony_sas_info {
	bool inviter;                         /* which side asks */
	struct sas sas;
	char digits[SAS_DIGITS_TEXT_MAX];     /* "123 456" */
	char words[SAS_WORDS_TEXT_MAX];       /* "word word word" */
	const struct ceremony_joiner *joiner; /* J's request, on either side */
	uint64_t deadline_ns;                 /* CLOCK_MONOTONIC: answer before */
};

/* Returns an enum ceremony_verdict, or a negative errno. */
typedef int (*ceremony_confirm_fn)(void *ctx, const struct ceremony_sas_info *info);
/* Assigns the address, signs the admission and fills answer (ledger
 * malloc'd; the ceremony frees it). 0, or a negative errno and a reason in
 * err: J is told "admission refused". */
typedef int (*ceremony_admit_fn)(void *ctx, const struct ceremony_joiner *joiner,
				 struct ceremony_answer *answer, char *err, size_t errlen);

/* Shows the SAS (and on the inviter side who asks) on out_fd and reads one
 * line from in_fd before info->deadline_ns: "y" or "yes" confirms; the SAS
 * from the other screen, as six digits or three words, confirms if it
 * matches and is a mismatch if not; anything else, or end of input, declines.
 * Usable on a terminal and from a script that pipes the other side's SAS. */
int ceremony_confirm_prompt(int in_fd, int out_fd, const struct ceremony_sas_info *info);

/* ---- running it ---- */

struct ceremony_inviter_cfg {
	unsigned int step_timeout_ms;    /* 0: CEREMONY_STEP_TIMEOUT_MS */
	unsigned int confirm_timeout_ms; /* 0: CEREMONY_CONFIRM_TIMEOUT_MS */
	ceremony_confirm_fn confirm_sas;
	ceremony_admit_fn admit;
	void *ctx;
};

struct ceremony_join_cfg {
	unsigned int step_timeout_ms;    /* 0: CEREMONY_STEP_TIMEOUT_MS */
	unsigned int confirm_timeout_ms; /* 0: CEREMONY_CONFIRM_TIMEOUT_MS */
	ceremony_confirm_fn confirm_sas;
	void *ctx;
};

/* A listening TCP socket on bind_addr: "host:port", "host" (port 7104),
 * ":port" or NULL (every address, port 7104). Returns the fd or -errno. */
int ceremony_listen(const char *bind_addr, char *err, size_t errlen);

/* Accepts one connection on listen_fd, waiting until the earliest pending
 * invitation expires, and runs the inviter's side on it. 0 once J is admitted
 * (admit() returned 0 and ANSWER went out); else a negative errno (see the
 * reasons above) and one line in err, which begins "<name> admitted, but" if
 * admit() succeeded and ANSWER could not be sent. A failed attempt leaves the
 * other invitations, and this one unless it burned, ready for the next call:
 *
 *   while (invitation_pending(&set, clock_mono_ns(), NULL))
 *           if (ceremony_serve_one(fd, &set, &cfg, err, sizeof(err)) == 0)
 *                   break;
 *           else
 *                   log_warn("pairing: %s", err);
 */
int ceremony_serve_one(int listen_fd, struct invitation_set *set,
		       const struct ceremony_inviter_cfg *cfg, char *err, size_t errlen);
/* The inviter's side on a connected stream socket, which it closes. */
int ceremony_serve_fd(int fd, struct invitation_set *set,
		      const struct ceremony_inviter_cfg *cfg, char *err, size_t errlen);

struct ceremony_serve_cfg {
	/* Accept until this CLOCK_MONOTONIC time, asked again after every
	 * event; 0 ends the serving once the runs under way have ended.
	 * NULL: until no invitation is pending. */
	uint64_t (*until)(void *ctx);
	/* Each run that ended, but for those cut short after an admission. */
	void (*ended)(void *ctx, int ret, const char *err);
	void *ctx;
};

/* Serves listen_fd with up to CEREMONY_CONNS_MAX runs at once, each in a
 * thread of its own, at most CEREMONY_CONNS_PER_SOURCE of them from one
 * address (more are closed at once), so that connections that stall do not
 * keep the real joiner out. Returns 0 once a joiner is admitted, shutting
 * the other runs down; else, once until() says so and every run has ended,
 * how the last run ended (-ETIMEDOUT if none did), or -errno. The set's
 * lock keeps attempts and the single use exact; cfg's callbacks run in the
 * runs' threads (one at a time per invitation: only after its use). */
int ceremony_serve(int listen_fd, struct invitation_set *set,
		   const struct ceremony_inviter_cfg *cfg, const struct ceremony_serve_cfg *scfg);

/* Connects to host_port ("host:port", or "host" for port 7104), runs J's side
 * with the typed code and fills out on success (ceremony_answer_free() it). */
int ceremony_join(const char *host_port, const char *typed_code,
		  const struct ceremony_joiner *me, const struct ceremony_join_cfg *cfg,
		  struct ceremony_answer *out, char *err, size_t errlen);
/* The joiner's side on a connected stream socket, which it closes. */
int ceremony_join_fd(int fd, const char *typed_code, const struct ceremony_joiner *me,
		     const struct ceremony_join_cfg *cfg, struct ceremony_answer *out,
		     char *err, size_t errlen);

/* The reason's one-line text ("wrong code", ...) and its errno (negative). */
const char *ceremony_reason_text(int reason);
int ceremony_reason_errno(int reason);
