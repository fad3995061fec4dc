/* The pairing ceremony's two state machines; ceremony.h has the protocol. */
#include "genesis/ceremony.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "genesis/ceremony-io.h"
#include "genesis/ceremony-msg.h"
#include "lib/bytes.h"
#include "lib/clock.h"
#include "genesis/cpace.h"
#include "lib/wire-frame.h"

#define LABEL "osi-pairing-v1"
#define LABEL_KEYS LABEL " keys"
#define LABEL_SAS LABEL " sas"
#define KDF_CONTEXT "osipair1"
#define KEY_BYTES crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define CI_BYTES (sizeof(LABEL) - 1 + 2)
#define SID_BYTES (2 * CMSG_NONCE_BYTES)
#define SMALL_MSG 256 /* every message but ANSWER */
#define ABORT_WAIT_MS 1000
#define STR_(x) #x
#define STR(x) STR_(x)

_Static_assert(CMSG_SEAL_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(sizeof(KDF_CONTEXT) - 1 == crypto_kdf_CONTEXTBYTES, "kdf context");
_Static_assert(crypto_kdf_KEYBYTES == 32 && KEY_BYTES == 32, "key sizes");

static const struct {
	const char *text;
	int err;
	bool refusal; /* said before any CPace; no "aborted by" */
} reasons[] = {
	[CEREMONY_WRONG_CODE] = { "wrong code", -EACCES, true },
	[CEREMONY_NO_INVITATION] = { "no such invitation", -ENOENT, true },
	[CEREMONY_EXPIRED] = { "invitation expired", -EKEYEXPIRED, true },
	[CEREMONY_BURNED] = { "invitation burned after " STR(CEREMONY_ATTEMPTS) " failed attempts",
			      -EKEYREVOKED, true },
	[CEREMONY_USED] = { "invitation already used", -EALREADY, true },
	[CEREMONY_SAS_MISMATCH] = { "SAS mismatch", -EKEYREJECTED, false },
	[CEREMONY_DECLINED] = { "SAS not confirmed", -ECANCELED, false },
	[CEREMONY_REFUSED] = { "admission refused", -EPERM, false },
	[CEREMONY_BAD_VERSION] = { "unsupported protocol version", -EPROTONOSUPPORT, true },
	[CEREMONY_PROTOCOL] = { "protocol error", -EPROTO, false },
	[CEREMONY_TIMEOUT] = { "timed out", -ETIMEDOUT, false },
	[CEREMONY_INTERNAL] = { "internal error", -EIO, false },
};

static bool known(int reason)
{
	return reason > 0 && (size_t)reason < sizeof(reasons) / sizeof(reasons[0]) &&
	       reasons[reason].text;
}

const char *ceremony_reason_text(int reason)
{
	return known(reason) ? reasons[reason].text : "aborted";
}

int ceremony_reason_errno(int reason)
{
	return known(reason) ? reasons[reason].err : -ECONNABORTED;
}

void ceremony_answer_free(struct ceremony_answer *a)
{
	if (!a)
		return;
	if (a->ledger)
		sodium_memzero(a->ledger, a->ledger_len);
	free(a->ledger);
	memset(a, 0, sizeof(*a));
}

struct conn {
	int fd;
	bool inviter;
	bool clear_ok;           /* a clear message from the peer is acceptable */
	bool keys;               /* tx and rx are set: our ABORT goes sealed */
	bool tag_sent;           /* the inviter has sent SHARE_B */
	bool aborted;            /* our ABORT went out: one is enough */
	uint64_t deadline;       /* of the next read or write */
	uint64_t step_end;       /* of the key exchange */
	struct frame_reader rd;
	crypto_hash_sha512_state transcript;
	struct cpace_ctx cpace;
	uint8_t isk[CPACE_ISK_BYTES];
	uint8_t tx[KEY_BYTES], rx[KEY_BYTES];
	uint64_t tx_ctr, rx_ctr;
	uint8_t *plain;          /* the last SEALED message, opened */
	size_t plain_len;
	char *err;
	size_t errlen;
};

static const char *peer(const struct conn *c)
{
	return c->inviter ? "joiner" : "inviter";
}

static void conn_init(struct conn *c, int fd, bool inviter, unsigned int step_ms,
		      char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->inviter = inviter;
	c->clear_ok = true;
	c->deadline = clock_mono_ns() + (uint64_t)(step_ms ? step_ms : CEREMONY_STEP_TIMEOUT_MS) *
					      NSEC_PER_MSEC;
	c->step_end = c->deadline;
	frame_reader_init(&c->rd, inviter ? CMSG_TO_INVITER_MAX : CMSG_TO_JOINER_MAX);
	crypto_hash_sha512_init(&c->transcript);
	crypto_hash_sha512_update(&c->transcript, (const uint8_t *)LABEL_SAS, sizeof(LABEL_SAS) - 1);
	c->err = err;
	c->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
}

static void drop_plain(struct conn *c)
{
	if (c->plain)
		sodium_memzero(c->plain, c->plain_len);
	free(c->plain);
	c->plain = NULL;
	c->plain_len = 0;
}

/* Closes gracefully: what we sent (an ABORT, say) reaches the peer before
 * our close could turn into a reset. */
static void conn_close(struct conn *c)
{
	drop_plain(c);
	cpace_wipe(&c->cpace);
	sodium_memzero(c->isk, sizeof(c->isk));
	sodium_memzero(c->tx, sizeof(c->tx));
	sodium_memzero(c->rx, sizeof(c->rx));
	sodium_memzero(&c->transcript, sizeof(c->transcript));
	frame_reader_free(&c->rd);
	if (c->fd >= 0) {
		uint8_t sink[512];

		shutdown(c->fd, SHUT_WR);
		/* Unread input would make close() send a reset; a peer that
		 * keeps sending gets one anyway. */
		for (int i = 0; i < 64 && recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; ++i)
			;
		close(c->fd);
	}
	c->fd = -1;
}

/* The first error wins: it is the cause, the rest are consequences. */
__attribute__((format(printf, 3, 4)))
static int fail(struct conn *c, int ret, const char *fmt, ...)
{
	va_list ap;

	if (c->err && c->errlen && !c->err[0]) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static void transcript_add(struct conn *c, const uint8_t *p, size_t len)
{
	uint8_t n[4];

	put_be32(n, (uint32_t)len);
	crypto_hash_sha512_update(&c->transcript, n, sizeof(n));
	crypto_hash_sha512_update(&c->transcript, p, len);
}

/* A clear message: always small, sent in one piece. */
static int send_frame(struct conn *c, const uint8_t *payload, size_t len, uint64_t deadline)
{
	uint8_t f[FRAME_HEADER + SMALL_MSG];

	if (len > SMALL_MSG)
		return -EMSGSIZE;
	put_be32(f, (uint32_t)len);
	memcpy(f + FRAME_HEADER, payload, len);
	return cio_send_all(c->fd, f, FRAME_HEADER + len, deadline);
}

static void nonce_of(uint8_t nonce[NONCE_BYTES], uint64_t ctr)
{
	memset(nonce, 0, NONCE_BYTES);
	put_be64(nonce, ctr);
}

static int send_sealed(struct conn *c, const uint8_t *pt, size_t len, uint64_t deadline)
{
	uint8_t nonce[NONCE_BYTES], *f;
	size_t n = 1 + len + CMSG_SEAL_BYTES;
	int ret;

	f = malloc(FRAME_HEADER + n);
	if (!f)
		return -ENOMEM;
	put_be32(f, (uint32_t)n);
	f[FRAME_HEADER] = CMSG_SEALED;
	nonce_of(nonce, c->tx_ctr++);
	crypto_aead_xchacha20poly1305_ietf_encrypt(f + FRAME_HEADER + 1, NULL, pt, len, NULL, 0,
						   NULL, nonce, c->tx);
	ret = cio_send_all(c->fd, f, FRAME_HEADER + n, deadline);
	free(f);
	return ret;
}

/* Tells the peer why we stop, if it still listens; never waits long. */
static void send_abort(struct conn *c, int reason)
{
	uint64_t deadline = clock_mono_ns() + ABORT_WAIT_MS * NSEC_PER_MSEC;
	uint8_t buf[SMALL_MSG];
	ssize_t n;

	if (c->aborted)
		return;
	c->aborted = true;
	n = cmsg_encode_abort(c->keys ? CMSG_ABORT_SEALED : CMSG_ABORT, (uint8_t)reason,
			      ceremony_reason_text(reason), buf, sizeof(buf));
	if (n < 0 || (size_t)n > sizeof(buf))
		return;
	if (c->keys)
		(void)send_sealed(c, buf, (size_t)n, deadline);
	else
		(void)send_frame(c, buf, (size_t)n, deadline);
}

/* Ends the run for reason: ABORT to the peer, a line for our operator. */
__attribute__((format(printf, 3, 4)))
static int abort_run(struct conn *c, int reason, const char *fmt, ...)
{
	va_list ap;

	send_abort(c, reason);
	if (c->err && c->errlen && !c->err[0]) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return ceremony_reason_errno(reason);
}

static int peer_abort(struct conn *c, const uint8_t *p, size_t len)
{
	struct cmsg_abort m;

	if (cmsg_decode_abort(p[0], p, len, &m) < 0)
		return abort_run(c, CEREMONY_PROTOCOL, "malformed ABORT from the %s", peer(c));
	/* Refusals are the inviter's to make; the joiner's only refusal is a
	 * wrong code, once it has seen our tag. */
	if (known(m.reason) && reasons[m.reason].refusal &&
	    (!c->inviter || (m.reason == CEREMONY_WRONG_CODE && c->tag_sent)))
		return fail(c, reasons[m.reason].err, "%s", reasons[m.reason].text);
	if (known(m.reason) && reasons[m.reason].refusal)
		return fail(c, -ECONNABORTED, "the %s aborted: %s", peer(c), reasons[m.reason].text);
	if (known(m.reason))
		return fail(c, reasons[m.reason].err, "the %s aborted: %s", peer(c),
			    reasons[m.reason].text);
	return fail(c, -ECONNABORTED, "the %s aborted: %s", peer(c),
		    m.text[0] ? m.text : "no reason given");
}

/* 0 and a whole frame, or -ETIMEDOUT, -ECONNRESET (end of stream),
 * -EMSGSIZE (a bad length), -ENOMEM or another -errno. */
static int read_frame(struct conn *c, const uint8_t **p, size_t *len)
{
	uint8_t buf[4096];

	for (;;) {
		ssize_t n;
		int ret;

		if (frame_reader_next(&c->rd, p, len))
			return 0;
		n = cio_recv(c->fd, buf, sizeof(buf), c->deadline);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0)
			return (int)n;
		ret = frame_reader_feed(&c->rd, buf, (size_t)n);
		if (ret < 0)
			return ret == -ENOMEM ? ret : -EMSGSIZE;
	}
}

static int read_failed(struct conn *c, int ret)
{
	if (ret == -ETIMEDOUT)
		return abort_run(c, CEREMONY_TIMEOUT, "timed out waiting for the %s", peer(c));
	if (ret == -ECONNRESET)
		return fail(c, ret, "the %s closed the connection", peer(c));
	if (ret == -EMSGSIZE)
		return abort_run(c, CEREMONY_PROTOCOL, "oversized message from the %s", peer(c));
	if (ret == -ENOMEM)
		return abort_run(c, CEREMONY_INTERNAL, "out of memory");
	return fail(c, ret, "connection to the %s: %s", peer(c), strerror(-ret));
}

static int open_sealed(struct conn *c, const uint8_t *p, size_t len)
{
	uint8_t nonce[NONCE_BYTES];
	const uint8_t *ct;
	size_t ct_len;

	if (!c->keys || cmsg_decode_sealed(p, len, &ct, &ct_len) < 0)
		return abort_run(c, CEREMONY_PROTOCOL, "unexpected sealed message from the %s",
				 peer(c));
	drop_plain(c);
	c->plain = malloc(ct_len - CMSG_SEAL_BYTES);
	if (!c->plain)
		return abort_run(c, CEREMONY_INTERNAL, "out of memory");
	nonce_of(nonce, c->rx_ctr);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(c->plain, NULL, NULL, ct, ct_len, NULL, 0,
						       nonce, c->rx) != 0) {
		free(c->plain);
		c->plain = NULL;
		return abort_run(c, CEREMONY_PROTOCOL, "a message from the %s failed to authenticate",
				 peer(c));
	}
	c->plain_len = ct_len - CMSG_SEAL_BYTES;
	c->rx_ctr++;
	c->clear_ok = false;
	return 0;
}

/* Checks a frame from the peer: it must be of type want (an inner type
 * means it must come sealed). An ABORT ends the run with the peer's reason. */
static int take_msg(struct conn *c, const uint8_t *p, size_t n, uint8_t want,
		    const uint8_t **msg, size_t *len)
{
	bool sealed = p[0] == CMSG_SEALED;
	int ret;

	if (sealed) {
		ret = open_sealed(c, p, n);
		if (ret < 0)
			return ret;
		p = c->plain;
		n = c->plain_len;
	} else if (!c->clear_ok) {
		return abort_run(c, CEREMONY_PROTOCOL, "unexpected clear message from the %s", peer(c));
	}
	/* Inner types inside SEALED only, outer types outside only. */
	if ((sealed && p[0] >= CMSG_HELLO && p[0] <= CMSG_ABORT) ||
	    (!sealed && p[0] >= CMSG_JOIN && p[0] <= CMSG_ABORT_SEALED))
		return abort_run(c, CEREMONY_PROTOCOL, "misplaced message from the %s", peer(c));
	if (p[0] == CMSG_ABORT || p[0] == CMSG_ABORT_SEALED)
		return peer_abort(c, p, n);
	if (p[0] != want)
		return abort_run(c, CEREMONY_PROTOCOL, "unexpected message 0x%02x from the %s", p[0],
				 peer(c));
	*msg = p;
	*len = n;
	return 0;
}

static int recv_msg(struct conn *c, uint8_t want, const uint8_t **msg, size_t *len)
{
	const uint8_t *p;
	size_t n;
	int ret = read_frame(c, &p, &n);

	if (ret < 0)
		return read_failed(c, ret);
	return take_msg(c, p, n, want, msg, len);
}

/* Clear or sealed, as the state of the run requires. A peer that hung up
 * may have said why first: that is the error to report. */
static int send_msg(struct conn *c, const uint8_t *p, size_t len, const char *what)
{
	const uint8_t *msg;
	size_t n;
	int ret;

	if (c->keys)
		ret = send_sealed(c, p, len, c->deadline);
	else
		ret = send_frame(c, p, len, c->deadline);
	if (ret == 0)
		return 0;
	if (ret == -EPIPE || ret == -ECONNRESET) {
		c->deadline = clock_mono_ns();
		if (read_frame(c, &msg, &n) == 0) {
			int why = take_msg(c, msg, n, 0, &msg, &n);

			if (why < 0)
				return why;
		}
	}
	return fail(c, ret, "sending %s: %s", what, strerror(-ret));
}

static void make_ci(uint8_t ci[CI_BYTES], unsigned int slot)
{
	memcpy(ci, LABEL, sizeof(LABEL) - 1);
	put_be16(ci + CI_BYTES - 2, (uint16_t)slot);
}

static void make_sid(uint8_t sid[SID_BYTES], const uint8_t nonce_j[CMSG_NONCE_BYTES],
		     const uint8_t nonce_i[CMSG_NONCE_BYTES])
{
	memcpy(sid, nonce_j, CMSG_NONCE_BYTES);
	memcpy(sid + CMSG_NONCE_BYTES, nonce_i, CMSG_NONCE_BYTES);
}

/* The channel keys from ISK (ceremony.h, "Channel keys"). */
static int derive_keys(struct conn *c)
{
	uint8_t prk[crypto_kdf_KEYBYTES], *ji, *ij;
	int ret = 0;

	ji = c->inviter ? c->rx : c->tx;
	ij = c->inviter ? c->tx : c->rx;
	if (crypto_generichash(prk, sizeof(prk), (const uint8_t *)LABEL_KEYS,
			       sizeof(LABEL_KEYS) - 1, c->isk, sizeof(c->isk)) ||
	    crypto_kdf_derive_from_key(ji, KEY_BYTES, 1, KDF_CONTEXT, prk) ||
	    crypto_kdf_derive_from_key(ij, KEY_BYTES, 2, KDF_CONTEXT, prk))
		ret = -EIO;
	sodium_memzero(prk, sizeof(prk));
	if (ret == 0) {
		c->keys = true;
		if (c->inviter)
			c->clear_ok = false;
	}
	return ret;
}

static int make_sas(struct conn *c, const struct ceremony_joiner *joiner,
		    unsigned int confirm_ms, struct ceremony_sas_info *info)
{
	uint8_t context[crypto_hash_sha512_BYTES];
	int ret;

	memset(info, 0, sizeof(*info));
	crypto_hash_sha512_final(&c->transcript, context);
	ret = sas_derive(c->isk, context, sizeof(context), &info->sas);
	if (ret == 0)
		ret = sas_format_digits(&info->sas, info->digits, sizeof(info->digits));
	if (ret == 0)
		ret = sas_format_words(&info->sas, info->words, sizeof(info->words));
	info->inviter = c->inviter;
	info->joiner = joiner;
	c->deadline = clock_mono_ns() +
		      (uint64_t)(confirm_ms ? confirm_ms : CEREMONY_CONFIRM_TIMEOUT_MS) * NSEC_PER_MSEC;
	info->deadline_ns = c->deadline;
	return ret;
}

/* Asks our operator; 0 if confirmed, else the run ends. */
static int confirm(struct conn *c, ceremony_confirm_fn fn, void *ctx,
		   const struct ceremony_sas_info *info)
{
	int v = fn(ctx, info);

	if (v == CEREMONY_CONFIRM)
		return 0;
	if (v == CEREMONY_MISMATCH)
		return abort_run(c, CEREMONY_SAS_MISMATCH, "SAS mismatch: the other screen shows another SAS");
	if (v == CEREMONY_DECLINE)
		return abort_run(c, CEREMONY_DECLINED, "SAS not confirmed");
	if (v == -ETIMEDOUT)
		return abort_run(c, CEREMONY_TIMEOUT, "timed out waiting for the operator");
	return abort_run(c, CEREMONY_INTERNAL, "SAS confirmation failed: %s",
			 v < 0 ? strerror(-v) : "bad answer");
}

/* ---- inviter ---- */

/* A connection that stalls holds its own thread only (ceremony_serve()),
 * and not for long: HELLO within CEREMONY_HELLO_TIMEOUT_MS, each message
 * after it within CEREMONY_MSG_TIMEOUT_MS, all within the step. */
static void read_within(struct conn *c, unsigned int ms)
{
	uint64_t by = clock_mono_ns() + (uint64_t)ms * NSEC_PER_MSEC;

	c->deadline = by < c->step_end ? by : c->step_end;
}

/* HELLO in, START out; on success inv is a copy of the invitation asked
 * for, or for an unknown slot a decoy: probing slots from the underlay must
 * not tell which exist, so it gets the whole run against a random secret,
 * and ends as a wrong code does, after the same work. */
static int inviter_hello(struct conn *c, struct invitation_set *set, struct invitation *inv,
			 struct cmsg_hello *hello, struct cmsg_start *start)
{
	uint8_t buf[SMALL_MSG];
	const uint8_t *p;
	size_t len;
	ssize_t n;
	int ret;

	read_within(c, CEREMONY_HELLO_TIMEOUT_MS);
	ret = recv_msg(c, CMSG_HELLO, &p, &len);
	c->deadline = c->step_end;
	if (ret < 0)
		return ret;
	ret = cmsg_decode_hello(p, len, hello);
	if (ret == -EPROTONOSUPPORT)
		return abort_run(c, CEREMONY_BAD_VERSION, "the joiner speaks protocol version %u",
				 hello->version);
	if (ret < 0)
		return abort_run(c, CEREMONY_PROTOCOL, "malformed HELLO from the joiner");
	transcript_add(c, p, len);
	memset(inv, 0, sizeof(*inv));
	inv->slot = hello->slot;
	inv->attempts_left = CEREMONY_ATTEMPTS;
	ret = invitation_secret(set, hello->slot, clock_mono_ns(), inv->prs);
	if (ret == CEREMONY_NO_INVITATION)
		randombytes_buf(inv->prs, sizeof(inv->prs));
	else if (ret)
		return abort_run(c, ret, "%s (slot %u)", reasons[ret].text, hello->slot);
	else
		inv->live = true;
	start->version = CEREMONY_VERSION;
	randombytes_buf(start->nonce, sizeof(start->nonce));
	n = cmsg_encode_start(start, buf, sizeof(buf));
	transcript_add(c, buf, (size_t)n);
	ret = send_msg(c, buf, (size_t)n, "START");
	if (ret < 0)
		return ret;
	return 0;
}

static int wrong_code(struct conn *c, const struct invitation *inv, bool detected_here)
{
	if (detected_here)
		send_abort(c, CEREMONY_WRONG_CODE);
	if (!c->err || !c->errlen)
		return -EACCES;
	if (!inv->live)
		snprintf(c->err, c->errlen, "wrong code (no invitation on slot %u)", inv->slot);
	else if (!inv->attempts_left)
		snprintf(c->err, c->errlen, "wrong code; %s", reasons[CEREMONY_BURNED].text);
	else
		snprintf(c->err, c->errlen, "wrong code (%u attempt%s left)", inv->attempts_left,
			 inv->attempts_left == 1 ? "" : "s");
	return -EACCES;
}

/* Counts the attempt in the set, where concurrent runs see it. Another
 * run may have used or burned the invitation since HELLO: then it is
 * refused here, before any tag. */
static int take_attempt(struct conn *c, struct invitation_set *set, struct invitation *inv)
{
	int ret;

	if (!inv->live) {
		inv->attempts_left--;
		return 0;
	}
	ret = invitation_attempt(set, inv->slot, clock_mono_ns(), &inv->attempts_left);
	if (ret)
		return abort_run(c, ret, "%s (slot %u)", reasons[ret].text, inv->slot);
	return 0;
}

/* SHARE_A in, SHARE_B out, CONFIRM in. */
static int inviter_cpace(struct conn *c, struct invitation_set *set, struct invitation *inv,
			 const struct cmsg_hello *hello, const struct cmsg_start *start)
{
	uint8_t ci[CI_BYTES], sid[SID_BYTES], ad_a[CMSG_AD_BYTES], tag_a[CPACE_TAG_BYTES];
	uint8_t buf[SMALL_MSG];
	struct cmsg_share share;
	const uint8_t *p;
	size_t len;
	ssize_t n;
	int ret;

	read_within(c, CEREMONY_MSG_TIMEOUT_MS);
	ret = recv_msg(c, CMSG_SHARE_A, &p, &len);
	if (ret < 0)
		return ret;
	cmsg_ad(ad_a, CMSG_AD_JOINER, hello->nonce);
	if (cmsg_decode_share(CMSG_SHARE_A, p, len, &share) < 0 ||
	    memcmp(share.ad, ad_a, sizeof(ad_a)))
		return abort_run(c, CEREMONY_PROTOCOL, "malformed SHARE_A from the joiner");
	transcript_add(c, p, len);
	make_ci(ci, inv->slot);
	make_sid(sid, hello->nonce, start->nonce);
	cmsg_ad(share.ad, CMSG_AD_INVITER, start->nonce);
	ret = cpace_init(&c->cpace, CPACE_RESPONDER, inv->prs, sizeof(inv->prs), ci, sizeof(ci),
			 sid, sizeof(sid), share.ad, sizeof(share.ad));
	if (ret < 0)
		return abort_run(c, CEREMONY_INTERNAL, "CPace: %s", strerror(-ret));
	ret = cpace_finish(&c->cpace, share.Y, ad_a, sizeof(ad_a), c->isk);
	if (ret < 0)
		return abort_run(c, CEREMONY_PROTOCOL, "invalid key share from the joiner");
	/* Our tag tells the joiner whether its guess was right: from here on
	 * this is an attempt, however the run ends. */
	ret = take_attempt(c, set, inv);
	if (ret < 0)
		return ret;
	c->tag_sent = true;
	memcpy(share.Y, cpace_share(&c->cpace), CPACE_POINT_BYTES);
	memcpy(share.tag, cpace_confirm_tag(&c->cpace), CPACE_TAG_BYTES);
	n = cmsg_encode_share(CMSG_SHARE_B, &share, buf, sizeof(buf));
	transcript_add(c, buf, (size_t)n);
	ret = send_msg(c, buf, (size_t)n, "SHARE_B");
	if (ret < 0)
		return ret;
	read_within(c, CEREMONY_MSG_TIMEOUT_MS);
	ret = recv_msg(c, CMSG_CONFIRM, &p, &len);
	if (ret == -EACCES)
		return wrong_code(c, inv, false);
	if (ret < 0)
		return ret;
	if (cmsg_decode_confirm(p, len, tag_a) < 0)
		return abort_run(c, CEREMONY_PROTOCOL, "malformed CONFIRM from the joiner");
	transcript_add(c, p, len);
	if (cpace_confirm_verify(&c->cpace, tag_a) < 0)
		return wrong_code(c, inv, true);
	return 0;
}

static int inviter_admit(struct conn *c, const struct ceremony_inviter_cfg *cfg,
			 const struct ceremony_joiner *joiner)
{
	struct ceremony_answer answer = { 0 };
	char why[CEREMONY_ERR_MAX] = "";
	uint8_t *buf = NULL;
	ssize_t n = 0;
	int ret;

	ret = cfg->admit(cfg->ctx, joiner, &answer, why, sizeof(why));
	if (ret < 0) {
		ret = abort_run(c, CEREMONY_REFUSED, "admission refused: %s",
				why[0] ? why : strerror(-ret));
		goto cleanup;
	}
	n = cmsg_encode_answer(&answer, NULL, 0);
	if (n < 0) {
		ret = abort_run(c, CEREMONY_INTERNAL, "the admission gave an invalid answer");
		goto cleanup;
	}
	buf = malloc((size_t)n);
	if (!buf) {
		ret = abort_run(c, CEREMONY_INTERNAL, "out of memory");
		goto cleanup;
	}
	cmsg_encode_answer(&answer, buf, (size_t)n);
	ret = send_msg(c, buf, (size_t)n, "ANSWER");
	if (ret < 0 && c->err && c->errlen) {
		char cause[CEREMONY_ERR_MAX];

		snprintf(cause, sizeof(cause), "%s", c->err);
		snprintf(c->err, c->errlen, "%s admitted, but the answer did not reach it: %s",
			 joiner->name, cause);
	}
cleanup:
	if (buf)
		sodium_memzero(buf, (size_t)n);
	free(buf);
	ceremony_answer_free(&answer);
	return ret;
}

static int inviter_run(struct conn *c, struct invitation_set *set,
		       const struct ceremony_inviter_cfg *cfg)
{
	struct invitation inv;
	struct ceremony_joiner joiner;
	struct ceremony_sas_info info;
	struct cmsg_hello hello;
	struct cmsg_start start;
	const uint8_t *p;
	size_t len;
	int ret;

	ret = inviter_hello(c, set, &inv, &hello, &start);
	if (ret == 0)
		ret = inviter_cpace(c, set, &inv, &hello, &start);
	if (ret == 0 && !inv.live) /* guessed a random secret: still no */
		ret = wrong_code(c, &inv, true);
	/* The code was right: whatever happens now, it has been used; of two
	 * right joiners at once, the first here has it. */
	if (ret == 0 && (ret = invitation_use(set, inv.slot)))
		ret = abort_run(c, ret, "%s (slot %u)", reasons[ret].text, inv.slot);
	sodium_memzero(&inv, sizeof(inv));
	if (ret < 0)
		return ret;
	if (derive_keys(c) < 0)
		return abort_run(c, CEREMONY_INTERNAL, "key derivation failed");
	read_within(c, CEREMONY_MSG_TIMEOUT_MS);
	ret = recv_msg(c, CMSG_JOIN, &p, &len);
	if (ret < 0)
		return ret;
	if (cmsg_decode_join(p, len, &joiner) < 0)
		return abort_run(c, CEREMONY_PROTOCOL, "malformed JOIN from the joiner");
	transcript_add(c, p, len);
	if (make_sas(c, &joiner, cfg->confirm_timeout_ms, &info) < 0)
		return abort_run(c, CEREMONY_INTERNAL, "SAS derivation failed");
	ret = confirm(c, cfg->confirm_sas, cfg->ctx, &info);
	sodium_memzero(&info.sas, sizeof(info.sas));
	if (ret < 0)
		return ret;
	ret = recv_msg(c, CMSG_CONFIRMED, &p, &len);
	if (ret < 0)
		return ret;
	if (cmsg_decode_confirmed(p, len) < 0)
		return abort_run(c, CEREMONY_PROTOCOL, "malformed CONFIRMED from the joiner");
	return inviter_admit(c, cfg, &joiner);
}

int ceremony_serve_fd(int fd, struct invitation_set *set, const struct ceremony_inviter_cfg *cfg,
		      char *err, size_t errlen)
{
	struct conn c;
	int ret;

	if (fd < 0 || !set || !cfg || !cfg->confirm_sas || !cfg->admit) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	conn_init(&c, fd, true, cfg->step_timeout_ms, err, errlen);
	if (sodium_init() < 0)
		ret = abort_run(&c, CEREMONY_INTERNAL, "libsodium failed to initialise");
	else
		ret = inviter_run(&c, set, cfg);
	conn_close(&c);
	invitation_set_prune(set, clock_mono_ns());
	return ret;
}

int ceremony_serve_one(int listen_fd, struct invitation_set *set,
		       const struct ceremony_inviter_cfg *cfg, char *err, size_t errlen)
{
	uint64_t next;
	int fd;

	if (err && errlen)
		err[0] = '\0';
	if (!set || !cfg)
		return -EINVAL;
	invitation_set_prune(set, clock_mono_ns());
	if (!invitation_pending(set, clock_mono_ns(), &next)) {
		if (err)
			snprintf(err, errlen, "no pending invitation");
		return -ENOENT;
	}
	fd = cio_accept(listen_fd, next);
	if (fd == -ETIMEDOUT) {
		invitation_set_prune(set, clock_mono_ns());
		if (err)
			snprintf(err, errlen, "invitation expired before anyone joined");
		return -EKEYEXPIRED;
	}
	if (fd < 0) {
		if (err)
			snprintf(err, errlen, "accept: %s", strerror(-fd));
		return fd;
	}
	return ceremony_serve_fd(fd, set, cfg, err, errlen);
}

/* ---- joiner ---- */

/* HELLO out, START in. */
static int joiner_hello(struct conn *c, unsigned int slot, struct cmsg_hello *hello,
			struct cmsg_start *start)
{
	uint8_t buf[SMALL_MSG];
	const uint8_t *p;
	size_t len;
	ssize_t n;
	int ret;

	hello->version = CEREMONY_VERSION;
	hello->slot = slot;
	randombytes_buf(hello->nonce, sizeof(hello->nonce));
	n = cmsg_encode_hello(hello, buf, sizeof(buf));
	transcript_add(c, buf, (size_t)n);
	ret = send_msg(c, buf, (size_t)n, "HELLO");
	if (ret < 0)
		return ret;
	ret = recv_msg(c, CMSG_START, &p, &len);
	if (ret < 0)
		return ret;
	if (cmsg_decode_start(p, len, start) < 0)
		return abort_run(c, CEREMONY_PROTOCOL, "malformed START from the inviter");
	transcript_add(c, p, len);
	return 0;
}

/* SHARE_A out, SHARE_B in; 0 once tag_b checked out. */
static int joiner_cpace(struct conn *c, const struct shortcode *code,
			const struct cmsg_hello *hello, const struct cmsg_start *start)
{
	uint8_t prs[SHORTCODE_PRS_LEN], ci[CI_BYTES], sid[SID_BYTES], ad_b[CMSG_AD_BYTES];
	uint8_t buf[SMALL_MSG];
	struct cmsg_share share;
	size_t len = sizeof(prs);
	const uint8_t *p;
	ssize_t n;
	int ret;

	make_ci(ci, code->slot);
	make_sid(sid, hello->nonce, start->nonce);
	cmsg_ad(share.ad, CMSG_AD_JOINER, hello->nonce);
	ret = shortcode_secret(code, prs, &len);
	if (ret == 0)
		ret = cpace_init(&c->cpace, CPACE_INITIATOR, prs, len, ci, sizeof(ci), sid,
				 sizeof(sid), share.ad, sizeof(share.ad));
	sodium_memzero(prs, sizeof(prs));
	if (ret < 0)
		return abort_run(c, CEREMONY_INTERNAL, "CPace: %s", strerror(-ret));
	memcpy(share.Y, cpace_share(&c->cpace), CPACE_POINT_BYTES);
	n = cmsg_encode_share(CMSG_SHARE_A, &share, buf, sizeof(buf));
	transcript_add(c, buf, (size_t)n);
	ret = send_msg(c, buf, (size_t)n, "SHARE_A");
	if (ret < 0)
		return ret;

	ret = recv_msg(c, CMSG_SHARE_B, &p, &len);
	if (ret < 0)
		return ret;
	cmsg_ad(ad_b, CMSG_AD_INVITER, start->nonce);
	if (cmsg_decode_share(CMSG_SHARE_B, p, len, &share) < 0 ||
	    memcmp(share.ad, ad_b, sizeof(ad_b)))
		return abort_run(c, CEREMONY_PROTOCOL, "malformed SHARE_B from the inviter");
	transcript_add(c, p, len);
	if (cpace_finish(&c->cpace, share.Y, ad_b, sizeof(ad_b), c->isk) < 0)
		return abort_run(c, CEREMONY_PROTOCOL, "invalid key share from the inviter");
	if (cpace_confirm_verify(&c->cpace, share.tag) < 0)
		return abort_run(c, CEREMONY_WRONG_CODE, "wrong code");
	return 0;
}

/* CONFIRM out, then JOIN, the first sealed message. */
static int joiner_send_join(struct conn *c, const struct ceremony_joiner *me)
{
	uint8_t buf[SMALL_MSG];
	ssize_t n;
	int ret;

	n = cmsg_encode_confirm(cpace_confirm_tag(&c->cpace), buf, sizeof(buf));
	transcript_add(c, buf, (size_t)n);
	ret = send_msg(c, buf, (size_t)n, "CONFIRM");
	if (ret < 0)
		return ret;
	if (derive_keys(c) < 0)
		return abort_run(c, CEREMONY_INTERNAL, "key derivation failed");
	n = cmsg_encode_join(me, buf, sizeof(buf));
	transcript_add(c, buf, (size_t)n);
	return send_msg(c, buf, (size_t)n, "JOIN");
}

static int take_answer(struct conn *c, const uint8_t *p, size_t len, struct ceremony_answer *out)
{
	struct cmsg_answer m;

	if (cmsg_decode_answer(p, len, &m) < 0)
		return abort_run(c, CEREMONY_PROTOCOL, "malformed ANSWER from the inviter");
	out->ledger = malloc(m.ledger_len);
	if (!out->ledger)
		return fail(c, -ENOMEM, "out of memory");
	memcpy(out->ledger, m.ledger, m.ledger_len);
	out->ledger_len = m.ledger_len;
	memcpy(out->mesh_prefix, m.mesh_prefix, sizeof(out->mesh_prefix));
	memcpy(out->address, m.address, sizeof(out->address));
	memcpy(out->fleet, m.fleet, sizeof(out->fleet));
	return 0;
}

static int joiner_run(struct conn *c, const struct shortcode *code,
		      const struct ceremony_joiner *me, const struct ceremony_join_cfg *cfg,
		      struct ceremony_answer *out)
{
	struct ceremony_sas_info info;
	struct cmsg_hello hello;
	struct cmsg_start start;
	uint8_t buf[SMALL_MSG];
	const uint8_t *p;
	size_t len;
	ssize_t n;
	int ret;

	ret = joiner_hello(c, code->slot, &hello, &start);
	if (ret == 0)
		ret = joiner_cpace(c, code, &hello, &start);
	if (ret == 0)
		ret = joiner_send_join(c, me);
	if (ret < 0)
		return ret;
	if (make_sas(c, me, cfg->confirm_timeout_ms, &info) < 0)
		return abort_run(c, CEREMONY_INTERNAL, "SAS derivation failed");
	ret = confirm(c, cfg->confirm_sas, cfg->ctx, &info);
	sodium_memzero(&info.sas, sizeof(info.sas));
	if (ret < 0)
		return ret;
	n = cmsg_encode_confirmed(buf, sizeof(buf));
	ret = send_msg(c, buf, (size_t)n, "CONFIRMED");
	if (ret < 0)
		return ret;
	ret = recv_msg(c, CMSG_ANSWER, &p, &len);
	if (ret < 0)
		return ret;
	return take_answer(c, p, len, out);
}

static int check_join_args(const char *typed_code, const struct ceremony_joiner *me,
			   const struct ceremony_join_cfg *cfg, struct ceremony_answer *out,
			   struct shortcode *code, char *err, size_t errlen)
{
	char why[SHORTCODE_ERR_MAX] = "";

	if (!typed_code || !me || !cfg || !cfg->confirm_sas || !out)
		return -EINVAL;
	if (cmsg_encode_join(me, NULL, 0) < 0) {
		if (err)
			snprintf(err, errlen, "invalid join request (name, keys, endpoint or roles)");
		return -EINVAL;
	}
	if (shortcode_parse(typed_code, code, why, sizeof(why)) < 0) {
		if (err)
			snprintf(err, errlen, "invalid code: %s", why);
		return -EINVAL;
	}
	return 0;
}

int ceremony_join_fd(int fd, const char *typed_code, const struct ceremony_joiner *me,
		     const struct ceremony_join_cfg *cfg, struct ceremony_answer *out,
		     char *err, size_t errlen)
{
	struct shortcode code;
	struct conn c;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (out)
		memset(out, 0, sizeof(*out));
	ret = check_join_args(typed_code, me, cfg, out, &code, err, errlen);
	if (ret < 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		return ret < 0 ? ret : -EINVAL;
	}
	conn_init(&c, fd, false, cfg->step_timeout_ms, err, errlen);
	if (sodium_init() < 0)
		ret = fail(&c, -EIO, "libsodium failed to initialise");
	else
		ret = joiner_run(&c, &code, me, cfg, out);
	shortcode_wipe(&code);
	conn_close(&c);
	if (ret < 0)
		ceremony_answer_free(out);
	return ret;
}

int ceremony_join(const char *host_port, const char *typed_code,
		  const struct ceremony_joiner *me, const struct ceremony_join_cfg *cfg,
		  struct ceremony_answer *out, char *err, size_t errlen)
{
	char host[256] = "", port[8] = STR(CEREMONY_PORT);
	struct shortcode code;
	uint64_t deadline;
	int fd, ret;

	if (err && errlen)
		err[0] = '\0';
	ret = check_join_args(typed_code, me, cfg, out, &code, err, errlen);
	shortcode_wipe(&code);
	if (ret < 0)
		return ret;
	if (!host_port || cio_split(host_port, host, sizeof(host), port, sizeof(port)) < 0 ||
	    !host[0]) {
		if (err)
			snprintf(err, errlen, "invalid inviter address '%s'", host_port ? host_port : "");
		return -EINVAL;
	}
	deadline = clock_mono_ns() +
		   (uint64_t)(cfg->step_timeout_ms ? cfg->step_timeout_ms : CEREMONY_STEP_TIMEOUT_MS) *
			   NSEC_PER_MSEC;
	fd = cio_connect(host, port, deadline);
	if (fd < 0) {
		if (err)
			snprintf(err, errlen, "cannot reach the inviter at %s: %s", host_port,
				 strerror(-fd));
		return fd;
	}
	return ceremony_join_fd(fd, typed_code, me, cfg, out, err, errlen);
}

int ceremony_listen(const char *bind_addr, char *err, size_t errlen)
{
	char host[256] = "", port[8] = STR(CEREMONY_PORT);
	int fd;

	if (bind_addr && cio_split(bind_addr, host, sizeof(host), port, sizeof(port)) < 0) {
		if (err)
			snprintf(err, errlen, "invalid listen address '%s'", bind_addr);
		return -EINVAL;
	}
	fd = cio_listen(host, port);
	if (fd < 0 && err)
		snprintf(err, errlen, "cannot listen on %s: %s",
			 bind_addr ? bind_addr : ":" STR(CEREMONY_PORT), strerror(-fd));
	return fd;
}
