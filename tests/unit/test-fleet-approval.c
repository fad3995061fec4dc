/* The fleet's approval the root helper checks before it packs, stores or
 * restores a node's backups: only the request the fleet signed, for this
 * node, verb, guest and backup, recent, and signed by the fleet this node
 * reports to; anything else (an agent's own, a replayed other one, a
 * member's that is not the fleet) refused. */
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "lib/auth.h"
#include "service-vm-host/fleet-approval.h"

#define NOW 1796400000
#define TOK "\"token\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\""

static uint8_t fleet_pk[SIGN_PK_BYTES], fleet_sk[SIGN_SK_BYTES], other_pk[SIGN_PK_BYTES],
	other_sk[SIGN_SK_BYTES], nonce[API_NONCE_BYTES];
static struct trust_set ts;

static void add(const char *name, unsigned roles, const uint8_t *pk)
{
	struct trust_entry e = { .roles = roles };

	strcpy(e.name, name);
	memcpy(e.sign_pk, pk, SIGN_PK_BYTES);
	assert_int_equal(trust_add(&ts, &e), 0);
}

static int setup(void **state)
{
	(void)state;
	crypto_sign_keypair(fleet_pk, fleet_sk);
	crypto_sign_keypair(other_pk, other_sk);
	randombytes_buf(nonce, sizeof(nonce));
	memset(&ts, 0, sizeof(ts));
	add("fleet", TRUST_ROLE_FLEET, fleet_pk);
	add("node-b", TRUST_ROLE_NODE, other_pk);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	trust_free(&ts);
	return 0;
}

/* A blob of body signed by name with sk; its length. */
static int blob_of(const char *body, const char *name, const uint8_t *sk, uint8_t *out)
{
	uint8_t sig[SIG_BYTES];
	struct frame_signed s = { .seq = 1, .sig = sig, .body = (const uint8_t *)body,
				  .body_len = strlen(body) };

	snprintf(s.name, sizeof(s.name), "%s", name);
	assert_int_equal(api_sign(sig, sk, nonce, 1, name, s.body, s.body_len), 0);
	return approval_pack(nonce, &s, out, APPROVAL_MAX);
}

static const char *check(const char *body, const char *name, const uint8_t *sk, const char *op,
			 const char *guest, const char *backup)
{
	uint8_t blob[APPROVAL_MAX];
	int n = blob_of(body, name, sk, blob);

	assert_true(n > 0);
	return approval_check(blob, (size_t)n, &ts, "node-a", op, guest, backup, NOW, NULL);
}

static char *body(const char *op, const char *node, const char *guest, const char *extra, long issued)
{
	static char text[512];

	snprintf(text, sizeof(text), "{\"op\":\"%s\",\"node\":\"%s\",\"guest\":{\"name\":\"%s\"},"
		 "\"move\":{" TOK ",%s},\"issued\":%ld}", op, node, guest, extra, issued);
	return text;
}

#define OUT_EXTRA "\"peer\":\"10.0.0.2:7106\",\"backup\":\"20261204T172500Z\""
#define IN_EXTRA "\"listen\":\"10.0.0.1:7106\""
#define RESTORE_EXTRA "\"listen\":\"10.0.0.1:7106\",\"restore\":\"20261204T172500Z\""

static void test_approved(void **state)
{
	(void)state;
	assert_null(check(body("backup-out", "node-a", "vault1", OUT_EXTRA, NOW), "fleet", fleet_sk,
			  "backup-out", "vault1", "20261204T172500Z"));
	assert_null(check(body("backup-in", "node-a", "vault1", IN_EXTRA, NOW - 60), "fleet", fleet_sk,
			  "backup-in", "vault1", NULL));
	/* a backup-in reaches the helper after its whole transfer: 90 min on is
	 * still within the window (the first window, 15 min, refused it) */
	assert_null(check(body("backup-in", "node-a", "vault1", IN_EXTRA, NOW - 90 * 60), "fleet",
			  fleet_sk, "backup-in", "vault1", NULL));
	assert_null(check(body("backup-in", "node-a", "vault1", RESTORE_EXTRA, NOW + 60), "fleet",
			  fleet_sk, "backup-in", "vault1", "20261204T172500Z"));
}

/* The count the target keeps after a copy travels in the signed body. */
static void test_keep(void **state)
{
	uint8_t blob[APPROVAL_MAX];
	unsigned keep = 99;
	char text[600];
	int n;

	(void)state;
	n = blob_of(body("backup-in", "node-a", "vault1", IN_EXTRA, NOW), "fleet", fleet_sk, blob);
	assert_null(approval_check(blob, (size_t)n, &ts, "node-a", "backup-in", "vault1", NULL, NOW, &keep));
	assert_int_equal(keep, 0);
	snprintf(text, sizeof(text), "%s", body("backup-in", "node-a", "vault1", IN_EXTRA, NOW));
	strcpy(strrchr(text, '}'), ",\"keep\":7}");
	n = blob_of(text, "fleet", fleet_sk, blob);
	assert_null(approval_check(blob, (size_t)n, &ts, "node-a", "backup-in", "vault1", NULL, NOW, &keep));
	assert_int_equal(keep, 7);
	strcpy(strrchr(text, ','), ",\"keep\":0}");
	n = blob_of(text, "fleet", fleet_sk, blob);
	assert_non_null(approval_check(blob, (size_t)n, &ts, "node-a", "backup-in", "vault1", NULL, NOW, &keep));
}

/* The node a backup-out's keys are sealed to travels in the signed body. */
static void test_target(void **state)
{
	uint8_t blob[APPROVAL_MAX];
	char text[600], target[NODE_NAME_MAX + 1];
	int n;

	(void)state;
	n = blob_of(body("backup-out", "node-a", "vault1", OUT_EXTRA, NOW), "fleet", fleet_sk, blob);
	assert_int_equal(approval_target(blob, (size_t)n, target), 0);
	assert_string_equal(target, "");
	snprintf(text, sizeof(text), "%s", body("backup-out", "node-a", "vault1", OUT_EXTRA, NOW));
	strcpy(strrchr(text, '}'), ",\"target\":\"cloud\"}");
	n = blob_of(text, "fleet", fleet_sk, blob);
	assert_null(approval_check(blob, (size_t)n, &ts, "node-a", "backup-out", "vault1",
				   "20261204T172500Z", NOW, NULL));
	assert_int_equal(approval_target(blob, (size_t)n, target), 0);
	assert_string_equal(target, "cloud");
	strcpy(strrchr(text, ','), ",\"target\":\"../x\"}");
	n = blob_of(text, "fleet", fleet_sk, blob);
	assert_int_equal(approval_target(blob, (size_t)n, target), -EINVAL);
	assert_string_equal(target, "");
}

static void test_refused(void **state)
{
	uint8_t blob[APPROVAL_MAX];
	int n;

	(void)state;
	/* another verb, guest, backup or node than the helper is asked */
	assert_non_null(check(body("backup-out", "node-a", "vault1", OUT_EXTRA, NOW), "fleet", fleet_sk,
			      "backup-in", "vault1", "20261204T172500Z"));
	assert_non_null(check(body("backup-out", "node-a", "vault1", OUT_EXTRA, NOW), "fleet", fleet_sk,
			      "backup-out", "vault2", "20261204T172500Z"));
	assert_non_null(check(body("backup-out", "node-a", "vault1", OUT_EXTRA, NOW), "fleet", fleet_sk,
			      "backup-out", "vault1", "20261204T172501Z"));
	assert_non_null(check(body("backup-out", "node-c", "vault1", OUT_EXTRA, NOW), "fleet", fleet_sk,
			      "backup-out", "vault1", "20261204T172500Z"));
	/* a store-only approval does not cover a restore, nor the other way */
	assert_string_equal(check(body("backup-in", "node-a", "vault1", IN_EXTRA, NOW), "fleet", fleet_sk,
				  "backup-in", "vault1", "20261204T172500Z"),
			    "the fleet signed another backup");
	assert_non_null(check(body("backup-in", "node-a", "vault1", RESTORE_EXTRA, NOW), "fleet",
			      fleet_sk, "backup-in", "vault1", NULL));
	/* stale, or without a time */
	assert_string_equal(check(body("backup-in", "node-a", "vault1", IN_EXTRA, NOW - APPROVAL_FRESH_S - 1),
				  "fleet", fleet_sk, "backup-in", "vault1", NULL),
			    "the fleet's request is stale (or its clock is far off)");
	assert_non_null(check("{\"op\":\"backup-in\",\"node\":\"node-a\",\"guest\":{\"name\":\"vault1\"},"
			      "\"move\":{" TOK "," IN_EXTRA "}}", "fleet", fleet_sk, "backup-in", "vault1", NULL));
	/* a member that is not the fleet, even one holding its key's name */
	assert_non_null(check(body("backup-in", "node-a", "vault1", IN_EXTRA, NOW), "node-b", other_sk,
			      "backup-in", "vault1", NULL));
	assert_string_equal(check(body("backup-in", "node-a", "vault1", IN_EXTRA, NOW), "fleet", other_sk,
				  "backup-in", "vault1", NULL), "bad signature");
	/* a byte changed after signing; cut short; empty */
	n = blob_of(body("backup-in", "node-a", "vault1", IN_EXTRA, NOW), "fleet", fleet_sk, blob);
	blob[n - 3] ^= 1;
	assert_non_null(approval_check(blob, (size_t)n, &ts, "node-a", "backup-in", "vault1", NULL, NOW, NULL));
	blob[n - 3] ^= 1;
	assert_null(approval_check(blob, (size_t)n, &ts, "node-a", "backup-in", "vault1", NULL, NOW, NULL));
	for (size_t cut = 0; cut < 110; cut += 7)
		assert_non_null(approval_check(blob, cut, &ts, "node-a", "backup-in", "vault1", NULL, NOW, NULL));
	assert_non_null(approval_check(blob, (size_t)n - 1, &ts, "node-a", "backup-in", "vault1", NULL, NOW, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_approved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_target, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
