/* Every ceremony message decoder on the same bytes: each either refuses
 * them or yields a message that encodes back to exactly those bytes. Then
 * the bytes, as a stream from a joiner, go through the inviter's state
 * machine (one invitation on slot 7), and, as a stream from an inviter,
 * through the joiner's: neither may crash, hang or succeed. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "genesis/ceremony-msg.h"
#include "genesis/ceremony.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STREAM_MAX 16384 /* fits a socketpair's buffer */

static uint8_t out[CMSG_TO_JOINER_MAX];

static void same(ssize_t n, const uint8_t *data, size_t size)
{
	if (n < 0 || (size_t)n != size || memcmp(out, data, size))
		abort();
}

static void decoders(const uint8_t *data, size_t size)
{
	struct cmsg_hello hello;
	struct cmsg_start start;
	struct cmsg_share share;
	struct cmsg_abort ab;
	struct cmsg_answer answer;
	struct ceremony_joiner joiner;
	uint8_t tag[CPACE_TAG_BYTES];
	const uint8_t *ct;
	size_t ct_len;

	if (cmsg_decode_hello(data, size, &hello) == 0)
		same(cmsg_encode_hello(&hello, out, sizeof(out)), data, size);
	if (cmsg_decode_start(data, size, &start) == 0)
		same(cmsg_encode_start(&start, out, sizeof(out)), data, size);
	for (uint8_t t = CMSG_SHARE_A; t <= CMSG_SHARE_B; ++t) {
		if (cmsg_decode_share(t, data, size, &share) == 0)
			same(cmsg_encode_share(t, &share, out, sizeof(out)), data, size);
	}
	if (cmsg_decode_confirm(data, size, tag) == 0)
		same(cmsg_encode_confirm(tag, out, sizeof(out)), data, size);
	if (cmsg_decode_abort(CMSG_ABORT, data, size, &ab) == 0)
		same(cmsg_encode_abort(CMSG_ABORT, ab.reason, ab.text, out, sizeof(out)), data, size);
	if (cmsg_decode_abort(CMSG_ABORT_SEALED, data, size, &ab) == 0)
		same(cmsg_encode_abort(CMSG_ABORT_SEALED, ab.reason, ab.text, out, sizeof(out)), data,
		     size);
	if (cmsg_decode_join(data, size, &joiner) == 0)
		same(cmsg_encode_join(&joiner, out, sizeof(out)), data, size);
	if (cmsg_decode_confirmed(data, size) == 0)
		same(cmsg_encode_confirmed(out, sizeof(out)), data, size);
	if (cmsg_decode_answer(data, size, &answer) == 0) {
		struct ceremony_answer a = { .ledger = (uint8_t *)answer.ledger,
					     .ledger_len = answer.ledger_len };

		memcpy(a.mesh_prefix, answer.mesh_prefix, sizeof(a.mesh_prefix));
		memcpy(a.address, answer.address, sizeof(a.address));
		memcpy(a.fleet, answer.fleet, sizeof(a.fleet));
		same(cmsg_encode_answer(&a, out, sizeof(out)), data, size);
	}
	if (cmsg_decode_sealed(data, size, &ct, &ct_len) == 0 &&
	    (ct != data + 1 || ct_len != size - 1 || ct_len < 1 + CMSG_SEAL_BYTES))
		abort();
}

static int decline(void *ctx, const struct ceremony_sas_info *info)
{
	return CEREMONY_DECLINE;
}

static int refuse(void *ctx, const struct ceremony_joiner *j, struct ceremony_answer *a,
		  char *err, size_t errlen)
{
	abort(); /* nobody gets this far without the code */
}

/* Writes the bytes and end of stream into one end, hands the other end to
 * run, and lets it read them. */
static int stream(const uint8_t *data, size_t size, int (*run)(int fd, void *arg), void *arg)
{
	int sv[2], ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (size && send(sv[0], data, size, MSG_NOSIGNAL) != (ssize_t)size)
		abort();
	shutdown(sv[0], SHUT_WR);
	ret = run(sv[1], arg);
	close(sv[0]);
	return ret;
}

static int run_inviter(int fd, void *arg)
{
	struct ceremony_inviter_cfg cfg = { .step_timeout_ms = 1000, .confirm_timeout_ms = 1000,
					    .confirm_sas = decline, .admit = refuse };
	char err[CEREMONY_ERR_MAX];

	return ceremony_serve_fd(fd, arg, &cfg, err, sizeof(err));
}

static int run_joiner(int fd, void *arg)
{
	struct ceremony_join_cfg cfg = { .step_timeout_ms = 1000, .confirm_timeout_ms = 1000,
					 .confirm_sas = decline };
	struct ceremony_answer answer;
	char err[CEREMONY_ERR_MAX];

	return ceremony_join_fd(fd, arg, &(struct ceremony_joiner){
		.name = "fuzz",
		/* the Ed25519 base point */
		.sign_pk = { 0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
			     0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
			     0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66 },
		.kx_pk = { 9 }, .wg_pk = { 9 }, .roles = CEREMONY_ROLE_NODE,
	}, &cfg, &answer, err, sizeof(err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct invitation_set set;
	static struct shortcode code;
	static char text[SHORTCODE_TEXT_MAX];

	if (sodium_init() < 0)
		abort();
	decoders(data, size);
	if (size > STREAM_MAX)
		return 0;
	if (!code.slot && shortcode_generate(7, &code, text, sizeof(text)) < 0)
		abort();
	invitation_set_init(&set);
	if (invitation_add(&set, &code, 0) < 0)
		abort();
	if (stream(data, size, run_inviter, &set) == 0)
		abort();
	if (stream(data, size, run_joiner, text) == 0)
		abort();
	return 0;
}
