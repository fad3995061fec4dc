/* Rekey and reinstate entries: a member's keys change, its name, address and
 * roles stay; the old key is dead at once and never comes back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "lib/ledger.h"
#include "tests/unit/ledger-check.h"

#define NET 0x0a4d0000u /* 10.77.0.0 */

struct fixture {
	struct identity alpha; /* founder: node, fleet, admin */
	struct identity bravo; /* node */
	struct identity charlie; /* node, relay, with an endpoint */
	struct ledger l;
	char err[256];
};

/* Keys from a seed tag, under a member's name. */
static void make_id(struct identity *id, const char *name, const char *tag)
{
	uint8_t seed[32];

	memset(id, 0, sizeof(*id));
	strcpy(id->name, name);
	crypto_generichash(seed, sizeof(seed), (const uint8_t *)tag, strlen(tag), NULL, 0);
	crypto_sign_seed_keypair(id->sign_pk, id->sign_sk, seed);
	seed[0] ^= 1;
	crypto_kx_seed_keypair(id->kx_pk, id->kx_sk, seed);
}

static struct ledger_member record(const struct identity *id, const char *tag, uint32_t addr,
				   unsigned roles, const char *endpoint)
{
	struct ledger_member m;

	memset(&m, 0, sizeof(m));
	strcpy(m.name, id->name);
	memcpy(m.sign_pk, id->sign_pk, sizeof(m.sign_pk));
	memcpy(m.kx_pk, id->kx_pk, sizeof(m.kx_pk));
	crypto_generichash(m.wg_pk, sizeof(m.wg_pk), (const uint8_t *)tag, strlen(tag),
			   (const uint8_t *)"wg-test-key-0000", 16);
	m.addr = addr;
	strcpy(m.endpoint, endpoint);
	m.roles = roles;
	return m;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ledger_member m;

	if (!f || sodium_init() < 0)
		return -1;
	make_id(&f->alpha, "alpha", "alpha");
	make_id(&f->bravo, "bravo", "bravo");
	make_id(&f->charlie, "charlie", "charlie");
	ledger_init(&f->l);
	m = record(&f->alpha, "alpha", 0, 0, "");
	if (ledger_genesis(&f->l, &f->alpha, NULL, NET, 16, m.wg_pk, "alpha.example.org:51820",
			   LEDGER_FOUNDER_ROLES, f->err, sizeof(f->err)) < 0)
		return -1;
	m = record(&f->bravo, "bravo", NET + 2, LEDGER_ROLE_NODE, "");
	if (ledger_append_admit(&f->l, &f->alpha, &m, f->err, sizeof(f->err)) < 0)
		return -1;
	m = record(&f->charlie, "charlie", NET + 3, LEDGER_ROLE_NODE | LEDGER_ROLE_RELAY,
		   "[2001:db8::7]:51820");
	if (ledger_append_admit(&f->l, &f->alpha, &m, f->err, sizeof(f->err)) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ledger_free(&f->l);
	identity_wipe(&f->alpha);
	identity_wipe(&f->bravo);
	identity_wipe(&f->charlie);
	free(f);
	return 0;
}

/* A verified copy, through the bytes a peer would receive. */
static void copy(struct fixture *f, const struct ledger *from, struct ledger *to)
{
	uint8_t *buf;
	size_t len;

	assert_int_equal(ledger_encode(from, &buf, &len), 0);
	ledger_init(to);
	OK(f, ledger_parse(buf, len, to, f->err, sizeof(f->err)));
	OK(f, ledger_verify(to, f->err, sizeof(f->err)));
	free(buf);
}

/* old asks, by signs: the member's keys become those of fresh. */
static int rekey(struct fixture *f, const struct identity *old, const struct identity *by,
		 const struct identity *fresh, const char *tag, const char *endpoint)
{
	struct ledger_member m = record(fresh, tag, 0, 0, endpoint);
	uint8_t req[SIG_BYTES];
	int ret = ledger_rekey_request(&f->l, old, &m, req);

	if (ret < 0)
		return ret;
	return ledger_append_rekey(&f->l, by, &m, req, f->err, sizeof(f->err));
}

static void test_rekey_keeps_name_address_roles(void **state)
{
	struct fixture *f = *state;
	struct identity fresh;
	const struct ledger_member *m;
	struct ledger peer;
	uint8_t wg_old[LEDGER_WG_KEY_BYTES];

	memcpy(wg_old, ledger_find(&f->l, "bravo")->wg_pk, sizeof(wg_old));
	make_id(&fresh, "bravo", "bravo-2");
	OK(f, rekey(f, &f->bravo, &f->alpha, &fresh, "bravo-2", "198.51.100.4:51820"));
	assert_int_equal(f->l.entries[f->l.count - 1].kind, LEDGER_REKEY);
	copy(f, &f->l, &peer);
	m = ledger_find(&peer, "bravo");
	assert_non_null(m);
	assert_int_equal(m->addr, NET + 2);
	assert_int_equal(m->roles, LEDGER_ROLE_NODE);
	assert_int_equal(m->admitted_at, 1);
	assert_false(m->revoked);
	assert_memory_equal(m->sign_pk, fresh.sign_pk, SIGN_PK_BYTES);
	assert_memory_equal(m->kx_pk, fresh.kx_pk, KX_PK_BYTES);
	assert_memory_not_equal(m->wg_pk, wg_old, sizeof(wg_old));
	assert_string_equal(m->endpoint, "198.51.100.4:51820");
	/* Still one member named bravo, and the address is not handed out again. */
	{
		const struct ledger_member *all;
		size_t n;
		uint32_t next;

		OK(f, ledger_members(&peer, &all, &n));
		assert_int_equal(n, 3);
		OK(f, ledger_next_address(&peer, &next));
		assert_int_equal(next, NET + 4);
	}
	ledger_free(&peer);
	identity_wipe(&fresh);
}

static void test_rekey_empty_endpoint_keeps_it(void **state)
{
	struct fixture *f = *state;
	struct identity fresh;

	make_id(&fresh, "charlie", "charlie-2");
	OK(f, rekey(f, &f->charlie, &f->alpha, &fresh, "charlie-2", ""));
	assert_string_equal(ledger_find(&f->l, "charlie")->endpoint, "[2001:db8::7]:51820");
	identity_wipe(&fresh);
}

static void test_rekey_needs_old_key(void **state)
{
	struct fixture *f = *state;
	struct identity fresh, bravo_as_charlie;

	make_id(&fresh, "bravo", "bravo-2");
	/* Signed by the new key itself, or by another member's key. */
	refused(f, rekey(f, &fresh, &f->alpha, &fresh, "bravo-2", ""), -EBADMSG,
		"not signed by the current key of 'bravo'");
	bravo_as_charlie = f->charlie;
	strcpy(bravo_as_charlie.name, "bravo");
	refused(f, rekey(f, &bravo_as_charlie, &f->alpha, &fresh, "bravo-2", ""), -EBADMSG,
		"not signed by the current key");
	assert_int_equal(f->l.count, 3);
	identity_wipe(&fresh);
}

static void test_rekey_request_binds_fields(void **state)
{
	struct fixture *f = *state;
	struct identity fresh;
	struct ledger_member m;
	uint8_t req[SIG_BYTES];

	make_id(&fresh, "bravo", "bravo-2");
	m = record(&fresh, "bravo-2", 0, 0, "");
	OK(f, ledger_rekey_request(&f->l, &f->bravo, &m, req));
	/* An admin may not swap the keys or the endpoint the member asked for. */
	m.wg_pk[0] ^= 1;
	refused(f, ledger_append_rekey(&f->l, &f->alpha, &m, req, f->err, sizeof(f->err)),
		-EBADMSG, "not signed by the current key");
	m.wg_pk[0] ^= 1;
	strcpy(m.endpoint, "evil.example:1");
	refused(f, ledger_append_rekey(&f->l, &f->alpha, &m, req, f->err, sizeof(f->err)),
		-EBADMSG, "not signed by the current key");
	identity_wipe(&fresh);
}

static void test_rekey_needs_admin(void **state)
{
	struct fixture *f = *state;
	struct identity fresh;

	make_id(&fresh, "bravo", "bravo-2");
	refused(f, rekey(f, &f->bravo, &f->bravo, &fresh, "bravo-2", ""), -EPERM,
		"'bravo' is not an admin");
	refused(f, rekey(f, &f->bravo, &f->charlie, &fresh, "bravo-2", ""), -EPERM,
		"'charlie' is not an admin");
	assert_int_equal(f->l.count, 3);
	identity_wipe(&fresh);
}

static void test_rekey_revoked_refused(void **state)
{
	struct fixture *f = *state;
	struct identity fresh;
	struct ledger_member m;

	OK(f, ledger_append_revoke(&f->l, &f->alpha, "charlie", f->err, sizeof(f->err)));
	make_id(&fresh, "charlie", "charlie-2");
	refused(f, rekey(f, &f->charlie, &f->alpha, &fresh, "charlie-2", ""), -ENOENT,
		"'charlie' was revoked at entry 3");
	m = record(&fresh, "charlie-2", 0, 0, "");
	refused(f, ledger_append_reinstate(&f->l, &f->alpha, &m, f->err, sizeof(f->err)),
		-ENOENT, "revoked");
	strcpy(m.name, "nobody");
	refused(f, ledger_append_reinstate(&f->l, &f->alpha, &m, f->err, sizeof(f->err)),
		-ENOENT, "no member named 'nobody'");
	identity_wipe(&fresh);
}

static void test_rekey_replay_refused(void **state)
{
	struct fixture *f = *state;
	struct identity fresh, third;
	struct ledger_member m, old;
	uint8_t req[SIG_BYTES];

	make_id(&fresh, "bravo", "bravo-2");
	m = record(&fresh, "bravo-2", 0, 0, "");
	OK(f, ledger_rekey_request(&f->l, &f->bravo, &m, req));
	OK(f, ledger_append_rekey(&f->l, &f->alpha, &m, req, f->err, sizeof(f->err)));
	/* The same request again: the key that signed it is no longer bravo's. */
	refused(f, ledger_append_rekey(&f->l, &f->alpha, &m, req, f->err, sizeof(f->err)),
		-EBADMSG, "not signed by the current key");
	/* Back to the old keys, asked by the new key: a retired key never returns. */
	old = record(&f->bravo, "bravo", 0, 0, "");
	OK(f, ledger_rekey_request(&f->l, &fresh, &old, req));
	refused(f, ledger_append_rekey(&f->l, &f->alpha, &old, req, f->err, sizeof(f->err)),
		-EEXIST, "was already given to 'bravo'");
	/* Nor may a newcomer take one. */
	make_id(&third, "delta", "delta");
	old = record(&third, "bravo", NET + 4, LEDGER_ROLE_NODE, "");
	refused(f, ledger_append_admit(&f->l, &f->alpha, &old, f->err, sizeof(f->err)), -EEXIST,
		"WireGuard key of 'delta' already belongs to 'bravo'");
	/* Nor another member's current key. */
	m = record(&f->charlie, "charlie", 0, 0, "");
	strcpy(m.name, "bravo");
	OK(f, ledger_rekey_request(&f->l, &fresh, &m, req));
	refused(f, ledger_append_rekey(&f->l, &f->alpha, &m, req, f->err, sizeof(f->err)),
		-EEXIST, "already given to 'charlie'");
	assert_int_equal(f->l.count, 4);
	identity_wipe(&fresh);
	identity_wipe(&third);
}

/* A forged ledger with the entry copied to the next position. */
static void test_rekey_replayed_entry_fails_verify(void **state)
{
	struct fixture *f = *state;
	struct identity fresh;
	struct ledger_entry e;
	uint8_t *buf;
	size_t len;
	struct ledger forged;

	make_id(&fresh, "bravo", "bravo-2");
	OK(f, rekey(f, &f->bravo, &f->alpha, &fresh, "bravo-2", ""));
	e = f->l.entries[3];
	e.index = 4;
	OK(f, ledger_head_hash(&f->l, e.prev));
	OK(f, ledger_entry_sign(&e, &f->alpha));
	f->l.entries = realloc(f->l.entries, 5 * sizeof(e));
	f->l.entries[4] = e;
	f->l.count = 5;
	f->l.cap = 5;
	assert_int_equal(ledger_encode(&f->l, &buf, &len), 0);
	ledger_init(&forged);
	OK(f, ledger_parse(buf, len, &forged, f->err, sizeof(f->err)));
	refused(f, ledger_verify(&forged, f->err, sizeof(f->err)), -EBADMSG,
		"entry 4 (rekey): the rekey request is not signed by the current key");
	ledger_free(&forged);
	free(buf);
	identity_wipe(&fresh);
}

static void test_rekey_admin_itself(void **state)
{
	struct fixture *f = *state;
	struct identity fresh, delta;
	struct ledger_member m;

	make_id(&fresh, "alpha", "alpha-2");
	OK(f, rekey(f, &f->alpha, &f->alpha, &fresh, "alpha-2", ""));
	assert_memory_equal(ledger_find(&f->l, "alpha")->sign_pk, fresh.sign_pk, SIGN_PK_BYTES);
	assert_string_equal(ledger_find(&f->l, "alpha")->endpoint, "alpha.example.org:51820");
	assert_ptr_equal(ledger_sequencer(&f->l), ledger_find(&f->l, "alpha"));
	/* The old key signs nothing now; the new one signs as the admin. */
	refused(f, ledger_append_revoke(&f->l, &f->alpha, "bravo", f->err, sizeof(f->err)),
		-EBADMSG, "this identity's key is not the one the ledger holds");
	make_id(&delta, "delta", "delta");
	m = record(&delta, "delta", NET + 4, LEDGER_ROLE_NODE, "");
	OK(f, ledger_append_admit(&f->l, &fresh, &m, f->err, sizeof(f->err)));
	/* A peer verifying from genesis agrees. */
	{
		struct ledger copy_l;

		copy(f, &f->l, &copy_l);
		assert_int_equal(copy_l.count, 5);
		ledger_free(&copy_l);
	}
	identity_wipe(&fresh);
	identity_wipe(&delta);
}

static void test_reinstate(void **state)
{
	struct fixture *f = *state;
	struct identity fresh;
	struct ledger_member m;
	struct ledger peer;

	make_id(&fresh, "charlie", "charlie-new-disk");
	m = record(&fresh, "charlie-new-disk", 0, 0, "203.0.113.9:51820");
	refused(f, ledger_append_reinstate(&f->l, &f->bravo, &m, f->err, sizeof(f->err)), -EPERM,
		"'bravo' is not an admin");
	OK(f, ledger_append_reinstate(&f->l, &f->alpha, &m, f->err, sizeof(f->err)));
	copy(f, &f->l, &peer);
	assert_int_equal(peer.entries[3].kind, LEDGER_REINSTATE);
	assert_int_equal(ledger_find(&peer, "charlie")->addr, NET + 3);
	assert_int_equal(ledger_find(&peer, "charlie")->roles, LEDGER_ROLE_NODE | LEDGER_ROLE_RELAY);
	assert_memory_equal(ledger_find(&peer, "charlie")->sign_pk, fresh.sign_pk, SIGN_PK_BYTES);
	assert_string_equal(ledger_find(&peer, "charlie")->endpoint, "203.0.113.9:51820");
	/* The same reinstate again: its keys are charlie's already. */
	refused(f, ledger_append_reinstate(&f->l, &f->alpha, &m, f->err, sizeof(f->err)), -EEXIST,
		"already given to 'charlie'");
	ledger_free(&peer);
	identity_wipe(&fresh);
}

/* Many rekeys grow the key indexes; every retired key stays refused and a
 * peer verifying from genesis agrees. */
static void test_many_rekeys(void **state)
{
	struct fixture *f = *state;
	struct identity cur = f->bravo, next;
	struct ledger peer;
	char tag[32];

	for (int i = 0; i < 200; i++) {
		snprintf(tag, sizeof(tag), "bravo-%d", i);
		make_id(&next, "bravo", tag);
		OK(f, rekey(f, &cur, &f->alpha, &next, tag, ""));
		cur = next;
	}
	copy(f, &f->l, &peer);
	assert_memory_equal(ledger_find(&peer, "bravo")->sign_pk, cur.sign_pk, SIGN_PK_BYTES);
	for (int i = 0; i < 199; i += 37) {
		struct identity old;
		struct ledger_member m;
		uint8_t req[SIG_BYTES];

		snprintf(tag, sizeof(tag), "bravo-%d", i);
		make_id(&old, "bravo", tag);
		m = record(&old, tag, 0, 0, "");
		OK(f, ledger_rekey_request(&peer, &cur, &m, req));
		f->err[0] = '\0';
		refused(f, ledger_append_rekey(&peer, &f->alpha, &m, req, f->err, sizeof(f->err)),
			-EEXIST, "already given to 'bravo'");
	}
	ledger_free(&peer);
}

static void test_rekey_parse_refusals(void **state)
{
	struct fixture *f = *state;
	struct identity fresh;
	struct ledger l2;
	uint8_t *buf;
	size_t len;

	make_id(&fresh, "bravo", "bravo-2");
	OK(f, rekey(f, &f->bravo, &f->alpha, &fresh, "bravo-2", "h:1"));
	assert_int_equal(ledger_encode(&f->l, &buf, &len), 0);
	ledger_init(&l2);
	/* Cut inside the request signature: the count makes it fail. */
	refused(f, ledger_parse(buf, len - 65, &l2, f->err, sizeof(f->err)), -EBADMSG,
		"entry 3: truncated");
	/* The endpoint's length byte pointed past its field. */
	{
		size_t at = len - 64 - 64 - 4; /* "h:1" and its length byte */

		assert_int_equal(buf[at], 3);
		buf[at] = 64;
		refused(f, ledger_parse(buf, len, &l2, f->err, sizeof(f->err)), -EBADMSG,
			"entry 3: string too long");
		buf[at] = 2;
		refused(f, ledger_parse(buf, len, &l2, f->err, sizeof(f->err)), -EBADMSG,
			"entry 3");
	}
	free(buf);
	ledger_free(&l2);
	identity_wipe(&fresh);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rekey_keeps_name_address_roles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey_empty_endpoint_keeps_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey_needs_old_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey_request_binds_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey_needs_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey_revoked_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey_replay_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey_replayed_entry_fails_verify, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rekey_admin_itself, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reinstate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_rekeys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rekey_parse_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
