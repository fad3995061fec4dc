/* CPU per side of the pairing: CPace alone (init, finish, both tags), then
 * the whole ceremony (CPace, key confirmation, AEAD, SAS; an admission that
 * answers with a 4 KiB ledger) over a socketpair, the inviter in a thread.
 * CPU time is each thread's own (CLOCK_THREAD_CPUTIME_ID).
 *
 *   bench-cpace [RUNS]     default 200 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "genesis/ceremony.h"
#include "genesis/cpace.h"

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cpace_round(uint64_t *ns_i, uint64_t *ns_r)
{
	static const uint8_t prs[5] = { 1, 2, 3, 4, 5 }, ci[16] = "osi-pairing-v1\0\7";
	uint8_t sid[32], ad_i[18] = { 1, 1 }, ad_r[18] = { 1, 2 }, isk_i[64], isk_r[64];
	struct cpace_ctx i, r;
	uint64_t t;
	int ret = 0;

	randombytes_buf(sid, sizeof(sid));
	t = cpu_ns();
	ret |= cpace_init(&i, CPACE_INITIATOR, prs, sizeof(prs), ci, sizeof(ci), sid, sizeof(sid),
			  ad_i, sizeof(ad_i));
	*ns_i += cpu_ns() - t;
	t = cpu_ns();
	ret |= cpace_init(&r, CPACE_RESPONDER, prs, sizeof(prs), ci, sizeof(ci), sid, sizeof(sid),
			  ad_r, sizeof(ad_r));
	ret |= cpace_finish(&r, cpace_share(&i), ad_i, sizeof(ad_i), isk_r);
	*ns_r += cpu_ns() - t;
	t = cpu_ns();
	ret |= cpace_finish(&i, cpace_share(&r), ad_r, sizeof(ad_r), isk_i);
	ret |= cpace_confirm_verify(&i, cpace_confirm_tag(&r));
	*ns_i += cpu_ns() - t;
	t = cpu_ns();
	ret |= cpace_confirm_verify(&r, cpace_confirm_tag(&i));
	*ns_r += cpu_ns() - t;
	if (sodium_memcmp(isk_i, isk_r, sizeof(isk_i)))
		ret = -EBADMSG;
	cpace_wipe(&i);
	cpace_wipe(&r);
	return ret;
}

static uint8_t ledger[4096];

static int confirm(void *ctx, const struct ceremony_sas_info *info)
{
	return CEREMONY_CONFIRM;
}

static int admit(void *ctx, const struct ceremony_joiner *j, struct ceremony_answer *a,
		 char *err, size_t errlen)
{
	snprintf(a->mesh_prefix, sizeof(a->mesh_prefix), "10.77.0.0/16");
	snprintf(a->address, sizeof(a->address), "10.77.0.2");
	a->ledger = malloc(sizeof(ledger));
	if (!a->ledger)
		return -ENOMEM;
	memcpy(a->ledger, ledger, sizeof(ledger));
	a->ledger_len = sizeof(ledger);
	return 0;
}

struct inviter {
	int fd;
	struct invitation_set *set;
	uint64_t ns;
	int ret;
};

static void *serve(void *arg)
{
	struct inviter *inv = arg;
	struct ceremony_inviter_cfg cfg = { .confirm_sas = confirm, .admit = admit };
	char err[CEREMONY_ERR_MAX];
	uint64_t t = cpu_ns();

	inv->ret = ceremony_serve_fd(inv->fd, inv->set, &cfg, err, sizeof(err));
	inv->ns += cpu_ns() - t;
	return NULL;
}

static int ceremony_round(uint64_t *ns_j, uint64_t *ns_i)
{
	struct ceremony_join_cfg cfg = { .confirm_sas = confirm };
	struct ceremony_joiner me = { .name = "bench", .roles = CEREMONY_ROLE_NODE };
	struct ceremony_answer answer;
	struct invitation_set set;
	struct inviter inv = { .set = &set };
	char code[SHORTCODE_TEXT_MAX], err[CEREMONY_ERR_MAX];
	uint8_t sk[64];
	pthread_t th;
	uint64_t t;
	int sv[2], ret;

	crypto_sign_keypair(me.sign_pk, sk);
	randombytes_buf(me.kx_pk, sizeof(me.kx_pk));
	randombytes_buf(me.wg_pk, sizeof(me.wg_pk));
	invitation_set_init(&set);
	if (invitation_create(&set, 0, code, sizeof(code)) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -EIO;
	inv.fd = sv[1];
	pthread_create(&th, NULL, serve, &inv);
	t = cpu_ns();
	ret = ceremony_join_fd(sv[0], code, &me, &cfg, &answer, err, sizeof(err));
	*ns_j += cpu_ns() - t;
	pthread_join(th, NULL);
	*ns_i += inv.ns;
	ceremony_answer_free(&answer);
	invitation_set_wipe(&set);
	return ret ? ret : inv.ret;
}

int main(int argc, char *argv[])
{
	int runs = argc > 1 ? atoi(argv[1]) : 200;
	uint64_t a = 0, b = 0;

	if (sodium_init() < 0 || runs < 1)
		return 1;
	for (int n = 0; n < runs; n++)
		if (cpace_round(&a, &b)) {
			fprintf(stderr, "bench-cpace: CPace run failed\n");
			return 1;
		}
	printf("CPace (CPACE-RISTR255-SHA512, %d runs): initiator (joiner) %.0f us, "
	       "responder (inviter) %.0f us CPU per run\n", runs, a / 1e3 / runs, b / 1e3 / runs);
	a = b = 0;
	for (int n = 0; n < runs; n++)
		if (ceremony_round(&a, &b)) {
			fprintf(stderr, "bench-cpace: ceremony failed\n");
			return 1;
		}
	printf("whole ceremony over a socketpair (%d runs, 4 KiB ledger): joiner %.0f us, "
	       "inviter %.0f us CPU per run\n", runs, a / 1e3 / runs, b / 1e3 / runs);
	return 0;
}
