#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "service-vm-host/dispatch-check.h"

/* The request lives until the next call: r points into it. */
static const char *check(const char *text, struct dispatch_req *r)
{
	static json_t *req;

	json_decref(req);
	req = json_loads(text, 0, NULL);
	assert_non_null(req);
	return dispatch_check_request(req, "n1", r);
}

static void test_request(void **state)
{
	struct dispatch_req r;

	(void)state;
	assert_null(check("{\"op\":\"create\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\","
			  "\"type\":\"mediakit\",\"memory_bytes\":201326592,\"vcpus\":1}}", &r));
	assert_int_equal(r.op->op, GOP_CREATE);
	assert_string_equal(r.type, "mediakit");
	assert_int_equal(r.memory_bytes, 201326592);
	assert_null(check("{\"op\":\"stop\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"}}", &r));
	assert_int_equal(r.op->op, GOP_STOP);
	assert_string_equal(check("{\"op\":\"stop\",\"node\":\"n2\",\"guest\":{\"name\":\"g1\"}}", &r),
			    "request is for another node");
	assert_string_equal(check("{\"op\":\"stop\",\"guest\":{\"name\":\"g1\"}}", &r),
			    "request is for another node");
	/* the agent's own read-only answer: about no one guest, still this node's */
	assert_null(check("{\"op\":\"addresses\",\"node\":\"n1\"}", &r));
	assert_int_equal(r.op->op, GOP_ADDRESSES);
	assert_null(r.name);
	assert_string_equal(check("{\"op\":\"addresses\",\"node\":\"n2\"}", &r),
			    "request is for another node");
	/* the fleet's fabric table: the node's too, its body checked by fabric-msg */
	assert_null(check("{\"op\":\"fabric\",\"node\":\"n1\",\"zone\":\"z\",\"guests\":[],"
			  "\"published\":[]}", &r));
	assert_int_equal(r.op->op, GOP_FABRIC);
	assert_string_equal(check("{\"op\":\"fabric\",\"node\":\"n2\"}", &r),
			    "request is for another node");
	/* the helper's names is not the fleet's to ask */
	assert_string_equal(check("{\"op\":\"names\",\"node\":\"n1\"}", &r), "unknown operation");
	/* nor is agent-addresses: only the agent asks its helper that */
	assert_string_equal(check("{\"op\":\"agent-addresses\",\"node\":\"n1\"}", &r),
			    "unknown operation");
	/* known verbs that are never dispatched, and unknown ones */
	assert_string_equal(check("{\"op\":\"migrate\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"}}", &r),
			    "unknown operation");
	assert_string_equal(check("{\"op\":\"data-delete\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"}}", &r),
			    "unknown operation");
	assert_string_equal(check("{\"op\":\"reboot\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"}}", &r),
			    "unknown operation");
	assert_string_equal(check("{\"op\":\"stop\",\"node\":\"n1\",\"guest\":{\"name\":\"../x\"}}", &r),
			    "invalid guest name");
	assert_string_equal(check("{\"op\":\"create\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\","
				  "\"type\":\"nope\",\"memory_bytes\":201326592,\"vcpus\":1}}", &r),
			    "unknown guest type");
	assert_string_equal(check("{\"op\":\"create\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\","
				  "\"type\":\"mediakit\",\"memory_bytes\":1024,\"vcpus\":1}}", &r),
			    "guest size out of range");
	assert_string_equal(check("{\"op\":\"create\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\","
				  "\"type\":\"mediakit\",\"memory_bytes\":201326592,\"vcpus\":0}}", &r),
			    "guest size out of range");
	assert_string_equal(check("{\"op\":\"create\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\","
				  "\"type\":\"mediakit\",\"memory_bytes\":-1,\"vcpus\":1}}", &r),
			    "guest size out of range");
}

#define SPEC "\"type\":\"totebox\",\"memory_bytes\":201326592,\"vcpus\":1"
#define TOK "\"token\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\""

/* A move's token and transfer address are checked with its verb. */
static void test_move_request(void **state)
{
	struct dispatch_req r;

	(void)state;
	assert_null(check("{\"op\":\"move-out\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"},"
			  "\"move\":{" TOK ",\"peer\":\"10.0.0.2:7106\",\"target\":\"n2\"}}", &r));
	assert_int_equal(r.op->op, GOP_MOVE_OUT);
	assert_string_equal(r.target, "n2");
	assert_string_equal(r.addr, "10.0.0.2:7106");
	assert_int_equal(strlen(r.token), 64);
	assert_null(check("{\"op\":\"move-in\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"," SPEC "},"
			  "\"move\":{" TOK ",\"listen\":\"10.0.0.3:7106\"}}", &r));
	assert_int_equal(r.op->op, GOP_MOVE_IN);
	/* the other side's key, no move, a short or upper-case token, a bad address */
	assert_non_null(check("{\"op\":\"move-in\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"," SPEC "},"
			      "\"move\":{" TOK ",\"peer\":\"10.0.0.3:7106\"}}", &r));
	assert_non_null(check("{\"op\":\"move-out\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"}}", &r));
	assert_string_equal(check("{\"op\":\"move-out\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"},"
				  "\"move\":{" TOK ",\"peer\":\"10.0.0.2:7106\",\"target\":\"../n\"}}", &r),
			    "a move-out needs its target node's name");
	assert_non_null(check("{\"op\":\"move-out\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"},"
			      "\"move\":{\"token\":\"00\",\"peer\":\"10.0.0.2:7106\",\"target\":\"n2\"}}", &r));
	assert_non_null(check("{\"op\":\"move-out\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"},"
			      "\"move\":{\"token\":\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\","
			      "\"peer\":\"10.0.0.2:7106\",\"target\":\"n2\"}}", &r));
	const char *bad[] = { "10.0.0.2", "10.0.0.2:0", "10.0.0.2:65536", "10.0.0.2:7106x",
			      "host:7106", "10.0.0.256:7106", "10.0.0.2:", ":7106", "10.0.0.2:07106" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[400];

		snprintf(text, sizeof(text), "{\"op\":\"move-out\",\"node\":\"n1\",\"guest\":"
			 "{\"name\":\"g1\"},\"move\":{" TOK ",\"peer\":\"%s\",\"target\":\"n2\"}}", bad[i]);
		assert_string_equal(check(text, &r), "a transfer needs an IPv4 address and port");
	}
	/* the other move verbs name the guest alone */
	assert_null(check("{\"op\":\"move-abort\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"}}", &r));
	assert_null(check("{\"op\":\"release-source\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"}}", &r));
}

/* A backup's copy: backup-out names the backup and its peer, backup-in only
 * where to listen; neither carries a spec or a target. */
static void test_backup_copy_request(void **state)
{
	struct dispatch_req r;

	(void)state;
	assert_null(check("{\"op\":\"backup-out\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"},"
			  "\"move\":{" TOK ",\"peer\":\"10.0.0.2:7106\",\"backup\":\"20261204T172500Z\"}}", &r));
	assert_int_equal(r.op->op, GOP_BACKUP_OUT);
	assert_string_equal(r.backup, "20261204T172500Z");
	assert_null(r.target);
	assert_true(dispatch_transfer(r.op->op) && dispatch_transfer_out(r.op->op));
	assert_null(check("{\"op\":\"backup-in\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"},"
			  "\"move\":{" TOK ",\"listen\":\"10.0.0.3:7106\"}}", &r));
	assert_int_equal(r.op->op, GOP_BACKUP_IN);
	assert_true(dispatch_transfer(r.op->op) && !dispatch_transfer_out(r.op->op));
	assert_null(r.backup);
	assert_null(check("{\"op\":\"backup-in\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"},"
			  "\"move\":{" TOK ",\"listen\":\"10.0.0.3:7106\",\"restore\":\"20261204T172500Z\"}}", &r));
	assert_string_equal(r.backup, "20261204T172500Z"); /* then restored from it */
	assert_string_equal(check("{\"op\":\"backup-in\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"},"
				  "\"move\":{" TOK ",\"listen\":\"10.0.0.3:7106\",\"restore\":\"x\"}}", &r),
			    "a backup-in restores only a backup's id");
	/* a bad id, a target instead of an id, a backup id on the receiving side */
	assert_string_equal(check("{\"op\":\"backup-out\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"},"
				  "\"move\":{" TOK ",\"peer\":\"10.0.0.2:7106\",\"backup\":\"../x\"}}", &r),
			    "a backup-out needs the id of its backup");
	assert_non_null(check("{\"op\":\"backup-out\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"},"
			      "\"move\":{" TOK ",\"peer\":\"10.0.0.2:7106\",\"target\":\"n2\"}}", &r));
	assert_non_null(check("{\"op\":\"backup-in\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"},"
			      "\"move\":{" TOK ",\"listen\":\"10.0.0.3:7106\",\"backup\":\"20261204T172500Z\"}}", &r));
	assert_non_null(check("{\"op\":\"backup-out\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"},"
			      "\"move\":{" TOK ",\"peer\":\"10.0.0.2:7106\",\"backup\":\"20261204T172500Z\","
			      "\"restore\":\"20261204T172500Z\"}}", &r));
	assert_false(dispatch_transfer(GOP_START));
}

/* A move-in carries the spec the fleet approved, checked as a create's:
 * without it, or with a part unknown or out of range, it is refused. */
static void test_move_in_spec(void **state)
{
	struct dispatch_req r;
	char text[512];
	static const char *const bad[] = {
		"", /* no spec at all */
		",\"memory_bytes\":201326592,\"vcpus\":1",
		",\"type\":\"totebox\",\"vcpus\":1",
		",\"type\":\"totebox\",\"memory_bytes\":201326592",
		",\"type\":\"nosuch\",\"memory_bytes\":201326592,\"vcpus\":1",
		",\"type\":\"totebox\",\"memory_bytes\":1,\"vcpus\":1",
		",\"type\":\"totebox\",\"memory_bytes\":-1,\"vcpus\":1",
		",\"type\":\"totebox\",\"memory_bytes\":201326592,\"vcpus\":0",
		",\"type\":\"totebox\",\"memory_bytes\":\"201326592\",\"vcpus\":1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{\"op\":\"move-in\",\"node\":\"n1\",\"guest\":"
			 "{\"name\":\"g1\"%s},\"move\":{" TOK ",\"listen\":\"10.0.0.3:7106\"}}", bad[i]);
		assert_non_null(check(text, &r));
	}
	assert_null(check("{\"op\":\"move-in\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"," SPEC "},"
			  "\"move\":{" TOK ",\"listen\":\"10.0.0.3:7106\"}}", &r));
	assert_string_equal(r.type, "totebox");
	assert_int_equal(r.memory_bytes, 201326592);
	assert_int_equal(r.vcpus, 1);
	assert_string_equal(r.addr, "10.0.0.3:7106");
	/* a bad move part is still refused with a spec */
	assert_non_null(check("{\"op\":\"move-in\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"," SPEC "},"
			      "\"move\":{" TOK ",\"listen\":\"10.0.0.3\"}}", &r));
	/* a move-out needs none */
	assert_null(check("{\"op\":\"move-out\",\"node\":\"n1\",\"guest\":{\"name\":\"g1\"},"
			  "\"move\":{" TOK ",\"peer\":\"10.0.0.2:7106\",\"target\":\"n2\"}}", &r));
	assert_null(r.type);
}

/* ---- the signer ---- */

static uint8_t fleet_pk[SIGN_PK_BYTES], fleet_sk[SIGN_SK_BYTES];
static uint8_t nonce[API_NONCE_BYTES];
static unsigned loads;
static struct trust_set loadable;

static void add(struct trust_set *ts, const char *name, unsigned roles, const uint8_t *pk)
{
	struct trust_entry e = { .roles = roles };

	strcpy(e.name, name);
	memcpy(e.sign_pk, pk, SIGN_PK_BYTES);
	assert_int_equal(trust_add(ts, &e), 0);
}

static int load(void *ctx, struct trust_set *out)
{
	loads++;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < loadable.count; i++)
		add(out, loadable.entries[i].name, loadable.entries[i].roles, loadable.entries[i].sign_pk);
	return 0;
}

static int fail_load(void *ctx, struct trust_set *out)
{
	loads++;
	return -ENOENT;
}

static void frame(struct frame_signed *s, const char *name, const uint8_t *sk, uint8_t *sig)
{
	static const char body[] = "{\"op\":\"stop\"}";

	memset(s, 0, sizeof(*s));
	s->seq = 1;
	strcpy(s->name, name);
	s->body = (const uint8_t *)body;
	s->body_len = strlen(body);
	if (sk)
		assert_int_equal(api_sign(sig, sk, nonce, 1, name, s->body, s->body_len), 0);
	else
		memset(sig, 0, SIG_BYTES); /* well-formed, unsigned */
	s->sig = sig;
}

static int setup_keys(void **state)
{
	crypto_sign_keypair(fleet_pk, fleet_sk);
	randombytes_buf(nonce, sizeof(nonce));
	memset(&loadable, 0, sizeof(loadable));
	add(&loadable, "fleet", TRUST_ROLE_FLEET, fleet_pk);
	loads = 0;
	return 0;
}

static int teardown_keys(void **state)
{
	trust_free(&loadable);
	return 0;
}

/* An unsigned frame in the fleet's name is refused on the cached key alone:
 * the ledger is not loaded for it. */
static void test_unsigned_refused_without_loading(void **state)
{
	struct trust_set cached = { 0 };
	struct frame_signed s;
	uint8_t sig[SIG_BYTES];

	add(&cached, "fleet", TRUST_ROLE_FLEET, fleet_pk);
	frame(&s, "fleet", NULL, sig);
	assert_string_equal(dispatch_check_signer(&cached, &s, nonce, true, load, NULL), "bad signature");
	assert_int_equal(loads, 0);
	frame(&s, "fleet", fleet_sk, sig);
	assert_null(dispatch_check_signer(&cached, &s, nonce, true, load, NULL));
	assert_int_equal(loads, 0);
	trust_free(&cached);
}

/* A fleet the cache does not know yet (it joined since) is found by one
 * load; a stranger costs a load only when the caller allows one. */
static void test_unknown_signer_loads(void **state)
{
	struct trust_set cached = { 0 };
	uint8_t stranger_pk[SIGN_PK_BYTES], stranger_sk[SIGN_SK_BYTES], sig[SIG_BYTES];
	struct frame_signed s;

	crypto_sign_keypair(stranger_pk, stranger_sk);
	frame(&s, "fleet", fleet_sk, sig);
	assert_null(dispatch_check_signer(&cached, &s, nonce, true, load, NULL));
	assert_int_equal(loads, 1);
	assert_non_null(trust_find(&cached, "fleet"));

	frame(&s, "mallory", stranger_sk, sig);
	assert_string_equal(dispatch_check_signer(&cached, &s, nonce, false, load, NULL),
			    "signer is not a fleet this node trusts");
	assert_int_equal(loads, 1);
	assert_string_equal(dispatch_check_signer(&cached, &s, nonce, true, load, NULL),
			    "signer is not a fleet this node trusts");
	assert_int_equal(loads, 2);
	/* a member without the fleet role is no fleet */
	add(&cached, "n2", TRUST_ROLE_NODE, stranger_pk);
	frame(&s, "n2", stranger_sk, sig);
	assert_string_equal(dispatch_check_signer(&cached, &s, nonce, false, load, NULL),
			    "signer is not a fleet this node trusts");
	/* a signature for another nonce */
	frame(&s, "fleet", fleet_sk, sig);
	nonce[0] ^= 1;
	assert_string_equal(dispatch_check_signer(&cached, &s, nonce, false, load, NULL), "bad signature");
	nonce[0] ^= 1;
	trust_free(&cached);
}

/* Dispatch obeys the fleet this node reports to, the first member holding
 * the fleet role: another fleet-role member is refused, whether the cache
 * or a fresh load knows it, until it is the first (the other revoked). */
static void test_other_fleet_refused(void **state)
{
	struct trust_set cached = { 0 };
	uint8_t other_pk[SIGN_PK_BYTES], other_sk[SIGN_SK_BYTES], sig[SIG_BYTES];
	struct frame_signed s;

	crypto_sign_keypair(other_pk, other_sk);
	add(&loadable, "fleet2", TRUST_ROLE_FLEET | TRUST_ROLE_NODE, other_pk);
	add(&cached, "fleet", TRUST_ROLE_FLEET, fleet_pk);
	add(&cached, "fleet2", TRUST_ROLE_FLEET | TRUST_ROLE_NODE, other_pk);
	frame(&s, "fleet2", other_sk, sig);
	assert_string_equal(dispatch_check_signer(&cached, &s, nonce, false, load, NULL),
			    "signer holds the fleet role but is not the fleet this node reports to");
	assert_string_equal(dispatch_check_signer(&cached, &s, nonce, true, load, NULL),
			    "signer holds the fleet role but is not the fleet this node reports to");
	assert_int_equal(loads, 1);
	frame(&s, "fleet", fleet_sk, sig);
	assert_null(dispatch_check_signer(&cached, &s, nonce, false, load, NULL));
	/* the first fleet revoked: the other one is now the fleet */
	assert_int_equal(trust_remove(&loadable, "fleet"), 0);
	frame(&s, "fleet2", other_sk, sig);
	assert_null(dispatch_check_signer(&cached, &s, nonce, true, load, NULL));
	assert_int_equal(loads, 2);
	frame(&s, "fleet", fleet_sk, sig);
	assert_string_equal(dispatch_check_signer(&cached, &s, nonce, false, load, NULL),
			    "signer is not a fleet this node trusts");
	trust_free(&cached);
}

static void test_unreadable_trust(void **state)
{
	struct trust_set cached = { 0 };
	struct frame_signed s;
	uint8_t sig[SIG_BYTES];

	frame(&s, "fleet", fleet_sk, sig);
	assert_string_equal(dispatch_check_signer(&cached, &s, nonce, true, fail_load, NULL),
			    "this node cannot read its ledger or trust file");
	trust_free(&cached);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_move_request),
		cmocka_unit_test(test_move_in_spec),
		cmocka_unit_test(test_backup_copy_request),
		cmocka_unit_test_setup_teardown(test_unsigned_refused_without_loading, setup_keys, teardown_keys),
		cmocka_unit_test_setup_teardown(test_unknown_signer_loads, setup_keys, teardown_keys),
		cmocka_unit_test_setup_teardown(test_other_fleet_refused, setup_keys, teardown_keys),
		cmocka_unit_test_setup_teardown(test_unreadable_trust, setup_keys, teardown_keys),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
