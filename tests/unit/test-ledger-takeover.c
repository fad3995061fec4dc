/* Takeover entries: the sequencer (and the fleet role) move to a live
 * member without the dead sequencer; two concurrent takeovers converge on
 * the one with the lower entry hash, and a takeover never rewrites older
 * history. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "lib/ledger.h"
#include "tests/unit/ledger-check.h"

#define NET 0x0a4d0000u /* 10.77.0.0 */

/* Entries take their timestamp from time(): this one, shifted. */
static long clock_shift;

time_t time(time_t *out)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += clock_shift;
	if (out)
		*out = ts.tv_sec;
	return ts.tv_sec;
}

struct fixture {
	struct identity alpha;   /* node, admin */
	struct identity bravo;   /* node, admin */
	struct identity charlie; /* the cloud: node, fleet (founder, admin) */
	struct identity delta;   /* node only */
	struct ledger l;
	char err[256];
};

static void make_id(struct identity *id, const char *name)
{
	uint8_t seed[32];

	memset(id, 0, sizeof(*id));
	strcpy(id->name, name);
	crypto_generichash(seed, sizeof(seed), (const uint8_t *)name, strlen(name), NULL, 0);
	crypto_sign_seed_keypair(id->sign_pk, id->sign_sk, seed);
	seed[0] ^= 1;
	crypto_kx_seed_keypair(id->kx_pk, id->kx_sk, seed);
}

static struct ledger_member record(const struct identity *id, uint32_t addr, unsigned roles)
{
	struct ledger_member m;

	memset(&m, 0, sizeof(m));
	strcpy(m.name, id->name);
	memcpy(m.sign_pk, id->sign_pk, sizeof(m.sign_pk));
	memcpy(m.kx_pk, id->kx_pk, sizeof(m.kx_pk));
	crypto_generichash(m.wg_pk, sizeof(m.wg_pk), (const uint8_t *)id->name, strlen(id->name),
			   (const uint8_t *)"wg-test-key-0000", 16);
	m.addr = addr;
	m.roles = roles;
	return m;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ledger_member m;

	if (!f || sodium_init() < 0)
		return -1;
	make_id(&f->alpha, "alpha");
	make_id(&f->bravo, "bravo");
	make_id(&f->charlie, "charlie");
	make_id(&f->delta, "delta");
	ledger_init(&f->l);
	m = record(&f->charlie, 0, 0);
	if (ledger_genesis(&f->l, &f->charlie, NULL, NET, 16, m.wg_pk, "", LEDGER_FOUNDER_ROLES,
			   f->err, sizeof(f->err)) < 0)
		return -1;
	m = record(&f->alpha, NET + 2, LEDGER_ROLE_NODE | LEDGER_ROLE_ADMIN);
	if (ledger_append_admit(&f->l, &f->charlie, &m, f->err, sizeof(f->err)) < 0)
		return -1;
	m = record(&f->bravo, NET + 3, LEDGER_ROLE_NODE | LEDGER_ROLE_ADMIN);
	if (ledger_append_admit(&f->l, &f->charlie, &m, f->err, sizeof(f->err)) < 0)
		return -1;
	m = record(&f->delta, NET + 4, LEDGER_ROLE_NODE);
	if (ledger_append_admit(&f->l, &f->charlie, &m, f->err, sizeof(f->err)) < 0)
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
	identity_wipe(&f->delta);
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

static void test_takeover_moves_sequencer_and_fleet(void **state)
{
	struct fixture *f = *state;
	struct ledger l2;

	assert_string_equal(ledger_sequencer(&f->l)->name, "charlie");
	OK(f, ledger_append_takeover(&f->l, &f->alpha, "charlie", "alpha", true, f->err,
				     sizeof(f->err)));
	assert_int_equal(f->l.entries[4].kind, LEDGER_TAKEOVER);
	assert_string_equal(ledger_kind_name(LEDGER_TAKEOVER), "takeover");
	assert_string_equal(ledger_sequencer(&f->l)->name, "alpha");
	assert_true(ledger_find(&f->l, "alpha")->roles & LEDGER_ROLE_FLEET);
	assert_false(ledger_find(&f->l, "charlie")->roles & LEDGER_ROLE_FLEET);
	/* The dead member can now be revoked, by any admin. */
	OK(f, ledger_append_revoke(&f->l, &f->bravo, "charlie", f->err, sizeof(f->err)));
	assert_string_equal(ledger_sequencer(&f->l)->name, "alpha");
	copy(f, &f->l, &l2); /* the round trip verifies from genesis */
	assert_string_equal(ledger_sequencer(&l2)->name, "alpha");
	assert_true(ledger_find(&l2, "alpha")->roles & LEDGER_ROLE_FLEET);
	ledger_free(&l2);
}

static void test_takeover_without_fleet(void **state)
{
	struct fixture *f = *state;

	OK(f, ledger_append_takeover(&f->l, &f->bravo, "charlie", "delta", false, f->err,
				     sizeof(f->err)));
	assert_string_equal(ledger_sequencer(&f->l)->name, "delta");
	assert_true(ledger_find(&f->l, "charlie")->roles & LEDGER_ROLE_FLEET);
	assert_false(ledger_find(&f->l, "delta")->roles & LEDGER_ROLE_FLEET);
	/* A second takeover names the new sequencer as from. */
	refused(f, ledger_append_takeover(&f->l, &f->bravo, "charlie", "bravo", false, f->err,
					  sizeof(f->err)), -ESTALE, "not the sequencer (delta is)");
	OK(f, ledger_append_takeover(&f->l, &f->bravo, "delta", "bravo", false, f->err,
				     sizeof(f->err)));
	assert_string_equal(ledger_sequencer(&f->l)->name, "bravo");
}

static void test_takeover_refusals(void **state)
{
	struct fixture *f = *state;
	size_t n = f->l.count;

	refused(f, ledger_append_takeover(&f->l, &f->delta, "charlie", "delta", false, f->err,
					  sizeof(f->err)), -EPERM, "not an admin");
	refused(f, ledger_append_takeover(&f->l, &f->alpha, "bravo", "alpha", false, f->err,
					  sizeof(f->err)), -ESTALE, "'bravo' is not the sequencer");
	refused(f, ledger_append_takeover(&f->l, &f->alpha, "charlie", "charlie", false, f->err,
					  sizeof(f->err)), -EINVAL, "sequencer already");
	refused(f, ledger_append_takeover(&f->l, &f->alpha, "charlie", "zulu", false, f->err,
					  sizeof(f->err)), -ENOENT, "no member named 'zulu'");
	OK(f, ledger_append_revoke(&f->l, &f->alpha, "delta", f->err, sizeof(f->err)));
	refused(f, ledger_append_takeover(&f->l, &f->alpha, "charlie", "delta", false, f->err,
					  sizeof(f->err)), -ENOENT, "revoked");
	assert_int_equal(f->l.count, n + 1);
	assert_string_equal(ledger_sequencer(&f->l)->name, "charlie");
}

/* The fleet moved must be the fleet every member finds: the first live
 * holder of the role. */
static void test_takeover_fleet_behind_another_refused(void **state)
{
	struct fixture *f = *state;

	OK(f, ledger_append_grant(&f->l, &f->alpha, "alpha", LEDGER_ROLE_FLEET, f->err,
				  sizeof(f->err)));
	refused(f, ledger_append_takeover(&f->l, &f->alpha, "charlie", "bravo", true, f->err,
					  sizeof(f->err)), -EEXIST, "'alpha' holds the fleet role");
}

/* Both admins take over at the same index; every copy still at its
 * takeover ends on the chain whose takeover has the lower hash, whichever
 * way the syncs run. A copy that went on appending keeps its entries. */
static void test_concurrent_takeovers_converge(void **state)
{
	struct fixture *f = *state;
	struct ledger a, b, kept, x, y;
	uint8_t ha[LEDGER_HASH_BYTES], hb[LEDGER_HASH_BYTES];
	struct ledger *win, *lose;
	const char *winner;

	copy(f, &f->l, &a);
	copy(f, &f->l, &b);
	OK(f, ledger_append_takeover(&a, &f->alpha, "charlie", "alpha", true, f->err,
				     sizeof(f->err)));
	OK(f, ledger_append_takeover(&b, &f->bravo, "charlie", "bravo", true, f->err,
				     sizeof(f->err)));
	assert_int_equal(ledger_head_hash(&a, ha), 0);
	assert_int_equal(ledger_head_hash(&b, hb), 0);
	win = memcmp(ha, hb, sizeof(ha)) < 0 ? &a : &b;
	lose = win == &a ? &b : &a;
	winner = win == &a ? "alpha" : "bravo";
	copy(f, lose, &kept);
	OK(f, ledger_append_revoke(lose, win == &a ? &f->bravo : &f->alpha, "delta", f->err,
				   sizeof(f->err)));

	copy(f, lose, &x);
	refused(f, ledger_extend(win, &x, f->err, sizeof(f->err)), -EEXIST, "fork at entry 4");
	copy(f, win, &y);
	refused(f, ledger_extend(lose, &y, f->err, sizeof(f->err)), -EEXIST,
		"ours has entries after it");
	assert_int_equal(lose->count, 6);
	assert_true(ledger_find(lose, "delta")->revoked);
	assert_int_equal(ledger_extend(&kept, &y, f->err, sizeof(f->err)), 1);
	assert_int_equal(kept.count, win->count);
	assert_int_equal(ledger_head_hash(&kept, hb), 0);
	assert_int_equal(ledger_head_hash(win, ha), 0);
	assert_memory_equal(hb, ha, sizeof(hb));
	assert_string_equal(ledger_sequencer(&kept)->name, winner);
	ledger_free(&x);
	ledger_free(&y);
	ledger_free(&kept);
	ledger_free(&a);
	ledger_free(&b);
}

/* Signs a takeover on a copy of base whose hash is below beat, trying one
 * timestamp after another from clock_shift on, as an attacker would. */
static void lower_takeover(struct fixture *f, const struct ledger *base, struct ledger *out,
			   const struct identity *id, const char *to, const uint8_t *beat)
{
	uint8_t h[LEDGER_HASH_BYTES];
	long shift = clock_shift;

	for (int i = 0; i < 64; i++, clock_shift++) {
		copy(f, base, out);
		OK(f, ledger_append_takeover(out, id, "charlie", to, false, f->err,
					     sizeof(f->err)));
		assert_int_equal(ledger_head_hash(out, h), 0);
		if (memcmp(h, beat, sizeof(h)) < 0) {
			clock_shift = shift;
			return;
		}
		ledger_free(out);
	}
	fail_msg("no takeover with a lower hash in 64 timestamps");
}

/* Appends a takeover whose hash is in the upper half, trying one timestamp
 * after another from clock_shift on, so that a lower one is easy to find. */
static void high_takeover(struct fixture *f, struct ledger *l, const struct identity *id,
			  const char *to, uint8_t *hash)
{
	long shift = clock_shift;

	for (int i = 0; i < 64; i++, clock_shift++) {
		OK(f, ledger_append_takeover(l, id, "charlie", to, true, f->err, sizeof(f->err)));
		assert_int_equal(ledger_head_hash(l, hash), 0);
		if (hash[0] & 0x80) {
			clock_shift = shift;
			return;
		}
		OK(f, ledger_truncate(l, l->count - 1));
	}
	fail_msg("no takeover with a high hash in 64 timestamps");
}

/* A takeover at the tip, but signed long before the competing one, stays. */
static void test_old_takeover_not_displaced(void **state)
{
	struct fixture *f = *state;
	uint8_t h[LEDGER_HASH_BYTES];
	struct ledger a, b;

	copy(f, &f->l, &a);
	clock_shift = -(LEDGER_TAKEOVER_WINDOW + 200);
	high_takeover(f, &a, &f->alpha, "alpha", h);
	clock_shift = 0;
	lower_takeover(f, &f->l, &b, &f->bravo, "bravo", h);
	refused(f, ledger_extend(&a, &b, f->err, sizeof(f->err)), -EEXIST, "not signed within");
	assert_int_equal(a.count, 5);
	assert_string_equal(ledger_sequencer(&a)->name, "alpha");
	ledger_free(&a);
	ledger_free(&b);
}

/* A stolen admin key, revoked since, signs a competing takeover at the
 * index of a past one and grants roles after it: the revocation stays. */
static void test_revoked_admin_takeover_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t h[LEDGER_HASH_BYTES];
	struct ledger a, b;

	copy(f, &f->l, &a);
	high_takeover(f, &a, &f->alpha, "alpha", h);
	OK(f, ledger_append_revoke(&a, &f->alpha, "bravo", f->err, sizeof(f->err)));
	lower_takeover(f, &f->l, &b, &f->bravo, "bravo", h);
	OK(f, ledger_append_grant(&b, &f->bravo, "delta", LEDGER_ROLE_ADMIN, f->err,
				  sizeof(f->err)));
	refused(f, ledger_extend(&a, &b, f->err, sizeof(f->err)), -EEXIST,
		"ours has entries after it");
	assert_int_equal(a.count, 6);
	assert_true(ledger_find(&a, "bravo")->revoked);
	assert_false(ledger_find(&a, "delta")->roles & LEDGER_ROLE_ADMIN);
	assert_string_equal(ledger_sequencer(&a)->name, "alpha");
	ledger_free(&a);
	ledger_free(&b);
}

/* A shorter chain forking at an old takeover does not cut the entries
 * that followed it. */
static void test_deep_takeover_fork_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t h[LEDGER_HASH_BYTES];
	struct ledger a, b;

	copy(f, &f->l, &a);
	high_takeover(f, &a, &f->alpha, "alpha", h);
	OK(f, ledger_append_revoke(&a, &f->alpha, "charlie", f->err, sizeof(f->err)));
	OK(f, ledger_append_grant(&a, &f->alpha, "delta", LEDGER_ROLE_ADMIN, f->err,
				  sizeof(f->err)));
	lower_takeover(f, &f->l, &b, &f->bravo, "bravo", h);
	refused(f, ledger_extend(&a, &b, f->err, sizeof(f->err)), -EEXIST,
		"ours has entries after it");
	assert_int_equal(a.count, 7);
	assert_true(ledger_find(&a, "charlie")->revoked);
	assert_string_equal(ledger_sequencer(&a)->name, "alpha");
	ledger_free(&a);
	ledger_free(&b);
}

/* The sequencer a takeover replaces cannot win one away from itself. */
static void test_takeover_by_replaced_sequencer_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t h[LEDGER_HASH_BYTES];
	struct ledger a, b;

	copy(f, &f->l, &a);
	high_takeover(f, &a, &f->alpha, "alpha", h);
	lower_takeover(f, &f->l, &b, &f->charlie, "delta", h);
	refused(f, ledger_extend(&a, &b, f->err, sizeof(f->err)), -EEXIST,
		"signed by the sequencer it replaces");
	assert_int_equal(a.count, 5);
	assert_string_equal(ledger_sequencer(&a)->name, "alpha");
	ledger_free(&a);
	ledger_free(&b);
}

/* A takeover against an ordinary entry is an ordinary fork. */
static void test_takeover_against_other_entry_forks(void **state)
{
	struct fixture *f = *state;
	struct ledger a, b;

	copy(f, &f->l, &a);
	copy(f, &f->l, &b);
	OK(f, ledger_append_takeover(&a, &f->alpha, "charlie", "alpha", true, f->err,
				     sizeof(f->err)));
	OK(f, ledger_append_revoke(&b, &f->charlie, "delta", f->err, sizeof(f->err)));
	refused(f, ledger_extend(&a, &b, f->err, sizeof(f->err)), -EEXIST, "fork at entry 4");
	ledger_free(&a);
	ledger_free(&b);
	copy(f, &f->l, &a);
	copy(f, &f->l, &b);
	OK(f, ledger_append_takeover(&a, &f->alpha, "charlie", "alpha", true, f->err,
				     sizeof(f->err)));
	OK(f, ledger_append_revoke(&b, &f->charlie, "delta", f->err, sizeof(f->err)));
	refused(f, ledger_extend(&b, &a, f->err, sizeof(f->err)), -EEXIST, "fork at entry 4");
	ledger_free(&a);
	ledger_free(&b);
}

/* A forged winner (lower hash, bad signature) does not replace anything. */
static void test_forged_takeover_refused(void **state)
{
	struct fixture *f = *state;
	struct ledger a, b;
	uint8_t h[LEDGER_HASH_BYTES];
	int ret = -EEXIST;

	copy(f, &f->l, &a);
	high_takeover(f, &a, &f->alpha, "alpha", h);
	for (int i = 0; i < 64 && ret == -EEXIST; i++) {
		copy(f, &f->l, &b);
		OK(f, ledger_append_takeover(&b, &f->bravo, "charlie", "bravo", false, f->err,
					     sizeof(f->err)));
		b.entries[4].sig[i % SIG_BYTES] ^= 0x5a;
		ret = ledger_extend(&a, &b, f->err, sizeof(f->err));
		ledger_free(&b);
	}
	assert_int_equal(ret, -EBADMSG);
	assert_int_equal(a.count, 5);
	assert_string_equal(ledger_sequencer(&a)->name, "alpha");
	ledger_free(&a);
}

static void test_takeover_parse_refusals(void **state)
{
	struct fixture *f = *state;
	struct ledger l2;
	uint8_t *buf;
	size_t len;

	OK(f, ledger_append_takeover(&f->l, &f->alpha, "charlie", "alpha", true, f->err,
				     sizeof(f->err)));
	assert_int_equal(ledger_encode(&f->l, &buf, &len), 0);
	ledger_init(&l2);
	/* roles moved is the byte before the signature */
	buf[len - SIG_BYTES - 1] = LEDGER_ROLE_ADMIN;
	refused(f, ledger_parse(buf, len, &l2, f->err, sizeof(f->err)), -EBADMSG,
		"invalid roles moved");
	buf[len - SIG_BYTES - 1] = 0;
	OK(f, ledger_parse(buf, len, &l2, f->err, sizeof(f->err)));
	refused(f, ledger_verify(&l2, f->err, sizeof(f->err)), -EBADMSG, "bad signature");
	free(buf);
	ledger_free(&l2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_takeover_moves_sequencer_and_fleet, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_takeover_without_fleet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_takeover_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_takeover_fleet_behind_another_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_takeovers_converge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_takeover_not_displaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoked_admin_takeover_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deep_takeover_fork_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_takeover_by_replaced_sequencer_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_takeover_against_other_entry_forks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_forged_takeover_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_takeover_parse_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
