/* A cold move's bookkeeping (service-vm-fleet/moves.c): the phases, which
 * steps go out when, what a failure or a restart at each phase turns into,
 * and the plans' tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "service-vm-fleet/moves.h"
#include "service-vm-fleet/store-move.h"
#include "tests/unit/fixture.h"

#define SEC 1000000000ull
#define B(s) (1u << (s))

static struct move *begun(struct moves *m)
{
	struct move_plan *p, taken;
	struct move *mv;

	moves_init(m);
	assert_int_equal(moves_plan(m, "vault1", "laptop-a", "cloud", 0, 120 * SEC, &p), 0);
	assert_int_equal(strlen(p->token), MOVE_PLAN_HEX);
	char token[MOVE_PLAN_HEX + 1];
	strcpy(token, p->token);
	assert_int_equal(moves_take_plan(m, token, SEC, &taken), 0);
	assert_int_equal(moves_begin(m, &taken, 1000, &mv), 0);
	return mv;
}

/* Marks the sendable steps as sent, as fleet_moves_pump does. */
static unsigned send(struct move *mv, uint64_t now)
{
	unsigned s = move_sendable(mv, now);

	mv->want &= ~s;
	mv->flying |= s;
	return s;
}

static void happy_path(void **state)
{
	struct moves m;
	struct move *mv = begun(&m);

	assert_int_equal(mv->phase, MP_TRANSFER);
	assert_int_equal(strlen(mv->token), MOVE_TOKEN_HEX);
	assert_true(move_busy(mv));
	assert_int_equal(send(mv, 0), B(MS_OUT) | B(MS_IN));
	assert_int_equal(send(mv, 0), 0); /* nothing twice */
	move_progress(mv, 10, 100, "moving");
	assert_true(mv->bytes == 10 && mv->total == 100);
	assert_int_equal(move_answer(mv, MS_OUT, true, NULL, 0), ME_NONE);
	assert_int_equal(move_answer(mv, MS_IN, true, NULL, 0), ME_RECORD);
	assert_int_equal(mv->phase, MP_STARTING);
	assert_int_equal(send(mv, 0), B(MS_START));
	assert_int_equal(move_answer(mv, MS_START, true, NULL, 0), ME_MOVED);
	assert_int_equal(mv->phase, MP_MOVED);
	assert_int_equal(send(mv, 0), B(MS_COMMIT) | B(MS_UNDEFINE));
	assert_int_equal(move_answer(mv, MS_UNDEFINE, true, NULL, 0), ME_NONE);
	assert_int_equal(move_answer(mv, MS_COMMIT, true, NULL, 0), ME_RECORD);
	assert_int_equal(mv->phase, MP_KEPT);
	assert_false(move_busy(mv));
	assert_int_equal(send(mv, 0), 0); /* the release waits for the operator */
	mv->want |= B(MS_RELEASE);
	assert_int_equal(send(mv, 0), B(MS_RELEASE));
	assert_int_equal(move_answer(mv, MS_RELEASE, false, "pool busy", 0), ME_RECORD);
	assert_int_equal(mv->phase, MP_KEPT);
	mv->want |= B(MS_RELEASE);
	send(mv, 0);
	assert_int_equal(move_answer(mv, MS_RELEASE, true, NULL, 0), ME_FORGET);
	moves_remove(&m, "vault1");
	assert_null(moves_find(&m, "vault1"));
	moves_free(&m);
}

/* A node's reason naming two SHA-256 digests reaches the operator whole
 * (a 200-byte detail cut it before the digest it was checked against). */
static void long_reason_whole(void **state)
{
	const char *why = "volumes/data-archive.qcow2: altered (in the archive, or in transit): SHA-256 "
			  "2e710033f8f43aabf4d5eaa7751916400b29c2fa0211e6171e08502598125f80, the manifest "
			  "says 344c2e6f7051996c63d0da352ac89eed0c94afb2858d58b30e231efd1aed994d";
	struct moves m;
	struct move *mv = begun(&m);

	(void)state;
	send(mv, 0);
	assert_int_equal(move_answer(mv, MS_IN, false, why, 0), ME_RECORD);
	assert_non_null(strstr(mv->detail, why));
	moves_free(&m);
}

/* Until "moved", a failure anywhere undoes the move; the target's abort
 * waits for its own move-in to end, the source's for its move-out. */
static void failure_aborts(void **state)
{
	struct moves m;
	struct move *mv = begun(&m);

	send(mv, 0);
	assert_int_equal(move_answer(mv, MS_OUT, false, "did not shut down", 0), ME_RECORD);
	assert_int_equal(mv->phase, MP_ABORTING);
	assert_non_null(strstr(mv->detail, "move-out failed: did not shut down"));
	assert_int_equal(send(mv, 0), B(MS_ABORT_SOURCE)); /* move-in still flying */
	assert_int_equal(move_answer(mv, MS_IN, false, "the source did not connect", 0), ME_NONE);
	assert_int_equal(send(mv, 0), B(MS_ABORT_TARGET));
	assert_int_equal(move_answer(mv, MS_ABORT_SOURCE, true, NULL, 0), ME_NONE);
	/* an abort that fails is sent again, after a pause */
	assert_int_equal(move_answer(mv, MS_ABORT_TARGET, false, "unreachable", 5 * SEC), ME_NONE);
	assert_int_equal(send(mv, 6 * SEC), 0);
	assert_int_equal(send(mv, 16 * SEC), B(MS_ABORT_TARGET));
	assert_int_equal(move_answer(mv, MS_ABORT_TARGET, true, NULL, 0), ME_FORGET);
	moves_free(&m);

	mv = begun(&m);
	send(mv, 0);
	move_answer(mv, MS_OUT, true, NULL, 0);
	move_answer(mv, MS_IN, true, NULL, 0);
	send(mv, 0);
	assert_int_equal(move_answer(mv, MS_START, false, "no boot", 0), ME_RECORD);
	assert_int_equal(mv->phase, MP_ABORTING);
	assert_int_equal(send(mv, 0), B(MS_ABORT_TARGET) | B(MS_ABORT_SOURCE));
	moves_free(&m);
}

/* Past "moved" nothing is undone: a failed commit or undefine is retried. */
static void moved_is_final(void **state)
{
	struct moves m;
	struct move *mv = begun(&m);

	send(mv, 0);
	move_answer(mv, MS_OUT, true, NULL, 0);
	move_answer(mv, MS_IN, true, NULL, 0);
	send(mv, 0);
	move_answer(mv, MS_START, true, NULL, 0);
	send(mv, 0);
	assert_int_equal(move_answer(mv, MS_UNDEFINE, false, "agent down", 0), ME_NONE);
	assert_int_equal(mv->phase, MP_MOVED);
	assert_int_equal(send(mv, 11 * SEC), B(MS_UNDEFINE));
	moves_free(&m);
}

/* A fleet restarted mid-move: before "moved" the move is undone, at
 * "moved" its last steps are sent again, a kept copy waits. */
static void resume(void **state)
{
	static const struct { enum move_phase stored, now; unsigned want; } cases[] = {
		{ MP_TRANSFER, MP_ABORTING, B(MS_ABORT_TARGET) | B(MS_ABORT_SOURCE) },
		{ MP_STARTING, MP_ABORTING, B(MS_ABORT_TARGET) | B(MS_ABORT_SOURCE) },
		{ MP_ABORTING, MP_ABORTING, B(MS_ABORT_TARGET) | B(MS_ABORT_SOURCE) },
		{ MP_MOVED, MP_MOVED, B(MS_COMMIT) | B(MS_UNDEFINE) },
		{ MP_KEPT, MP_KEPT, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct move stored = { .phase = cases[i].stored, .flying = B(MS_IN), .done = B(MS_OUT) };
		struct moves m;
		struct move *mv;

		moves_init(&m);
		strcpy(stored.guest, "g");
		assert_int_equal(moves_resume(&m, &stored), 0);
		assert_int_equal(moves_resume(&m, &stored), -17); /* EEXIST */
		mv = moves_find(&m, "g");
		assert_int_equal(mv->phase, cases[i].now);
		assert_int_equal(mv->flying, 0);
		assert_int_equal(send(mv, 0), cases[i].want);
		moves_free(&m);
	}
}

static void plans(void **state)
{
	struct moves m;
	struct move_plan *p, taken;
	struct move *mv;
	char token[MOVE_PLAN_HEX + 1];

	moves_init(&m);
	assert_int_equal(moves_take_plan(&m, "nope", 0, &taken), -2);
	assert_int_equal(moves_plan(&m, "g", "a", "b", 0, 10 * SEC, &p), 0);
	strcpy(token, p->token);
	assert_int_equal(moves_plan(&m, "g", "a", "c", 0, 10 * SEC, &p), 0); /* replaces */
	assert_int_equal(m.nplans, 1);
	assert_int_equal(moves_take_plan(&m, token, 0, &taken), -2);
	strcpy(token, p->token);
	assert_int_equal(moves_take_plan(&m, token, 11 * SEC, &taken), -110); /* ETIMEDOUT */
	assert_int_equal(m.nplans, 0);
	assert_int_equal(moves_plan(&m, "g", "a", "b", 0, 10 * SEC, &p), 0);
	strcpy(token, p->token);
	assert_int_equal(moves_take_plan(&m, token, 0, &taken), 0);
	assert_string_equal(taken.target, "b");
	assert_int_equal(moves_begin(&m, &taken, 0, &mv), 0);
	assert_int_equal(moves_begin(&m, &taken, 0, &mv), -17); /* one move per guest */
	moves_free(&m);
}

static void names(void **state)
{
	enum move_phase p;

	for (unsigned i = 0; i < MP__COUNT; i++) {
		assert_int_equal(move_phase_parse(move_phase_name(i), &p), 0);
		assert_int_equal(p, i);
	}
	assert_int_equal(move_phase_parse("x", &p), -22);
	assert_string_equal(move_step_verb(MS_OUT), "move-out");
	assert_string_equal(move_step_verb(MS_START), "start");
	assert_true(move_step_to_source(MS_RELEASE));
	assert_false(move_step_to_source(MS_COMMIT));
	assert_false(move_step_to_source(MS_ABORT_TARGET));
}

static int collect(void *ctx, const struct move *mv)
{
	struct moves *m = ctx;

	return moves_resume(m, mv);
}

/* A recorded move reads back with its phase and progress; a deleted one is
 * gone; the table is made where it is missing, and again harmlessly. */
static void store_round_trip(void **state)
{
	char dir[64], path[96];
	struct store *s;
	struct moves m, back;
	struct move *mv = begun(&m);

	assert_int_equal(fixture_tmpdir(dir, sizeof(dir), "osi-moves"), 0);
	snprintf(path, sizeof(path), "%s/fleet.db", dir);
	assert_int_equal(store_open(path, &s), 0);
	assert_int_equal(store_moves_init(s), 0);
	assert_int_equal(store_moves_init(s), 0);
	mv->phase = MP_MOVED;
	mv->bytes = 5;
	mv->total = 9;
	strcpy(mv->detail, "running on the target");
	assert_int_equal(store_move_put(s, mv, "move-moved", "laptop-a", "moved", 1234), 0);
	moves_init(&back);
	assert_int_equal(store_moves_each(s, collect, &back), 0);
	assert_int_equal(back.count, 1);
	assert_string_equal(back.list[0].guest, "vault1");
	assert_string_equal(back.list[0].source, "laptop-a");
	assert_string_equal(back.list[0].target, "cloud");
	assert_string_equal(back.list[0].token, mv->token);
	assert_int_equal(back.list[0].phase, MP_MOVED);
	assert_true(back.list[0].bytes == 5 && back.list[0].total == 9 && back.list[0].started == 1000);
	assert_int_equal(back.list[0].want, (1u << MS_COMMIT) | (1u << MS_UNDEFINE));
	moves_free(&back);
	assert_int_equal(store_move_del(s, "vault1", "move-released", "laptop-a", "released", 1235), 0);
	moves_init(&back);
	assert_int_equal(store_moves_each(s, collect, &back), 0);
	assert_int_equal(back.count, 0);
	moves_free(&back);
	moves_free(&m);
	store_close(s);
	assert_int_equal(fixture_rmtree(dir), 0);
}

/* An evicted node ends a transfer at once: aborting, both aborts wanted
 * (each sent once its node's transfer step is no longer flying); a move
 * past the transfer, or between other nodes, is left alone. */
static void node_lost(void **state)
{
	struct moves m;
	struct move *mv = begun(&m);

	(void)state;
	assert_int_equal(send(mv, 0), B(MS_OUT) | B(MS_IN));
	assert_false(move_node_lost(mv, "laptop-b", "laptop-b was evicted"));
	assert_int_equal(mv->phase, MP_TRANSFER);
	assert_true(move_node_lost(mv, "cloud", "cloud was evicted: silent for 31 s"));
	assert_int_equal(mv->phase, MP_ABORTING);
	assert_string_equal(mv->detail, "cloud was evicted: silent for 31 s");
	assert_int_equal(send(mv, 0), 0); /* both transfer steps still flying */
	mv->flying = 0;                   /* the fleet ends them (end_stale) */
	assert_int_equal(send(mv, 0), B(MS_ABORT_TARGET) | B(MS_ABORT_SOURCE));
	assert_false(move_node_lost(mv, "cloud", "again"));
	moves_free(&m);

	mv = begun(&m);
	send(mv, 0);
	move_answer(mv, MS_OUT, true, NULL, 0);
	move_answer(mv, MS_IN, true, NULL, 0);
	assert_int_equal(mv->phase, MP_STARTING);
	assert_false(move_node_lost(mv, "laptop-a", "laptop-a was evicted"));
	assert_int_equal(mv->phase, MP_STARTING);
	moves_free(&m);
}

/* A step's lifetime renews for each 64 MiB its replies report, not for a
 * trickle, and not for bytes that go back. */
static void transfer_renewals(void **state)
{
	uint64_t at = 0;

	(void)state;
	assert_false(move_transfer_renews(&at, 1));
	assert_false(move_transfer_renews(&at, MOVE_RENEW_BYTES - 1));
	assert_true(move_transfer_renews(&at, MOVE_RENEW_BYTES));
	assert_int_equal(at, MOVE_RENEW_BYTES);
	for (uint64_t b = MOVE_RENEW_BYTES + 1; b < 2 * MOVE_RENEW_BYTES; b += 1 << 20)
		assert_false(move_transfer_renews(&at, b)); /* a trickle of 1 MiB steps renews once per 64 */
	assert_true(move_transfer_renews(&at, 2 * MOVE_RENEW_BYTES + 5));
	assert_false(move_transfer_renews(&at, 5)); /* fewer than before: not a renewal */
	assert_int_equal(at, 2 * MOVE_RENEW_BYTES + 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(happy_path), cmocka_unit_test(failure_aborts), cmocka_unit_test(long_reason_whole),
		cmocka_unit_test(moved_is_final), cmocka_unit_test(resume),
		cmocka_unit_test(plans), cmocka_unit_test(names),
		cmocka_unit_test(store_round_trip), cmocka_unit_test(node_lost),
		cmocka_unit_test(transfer_renewals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
