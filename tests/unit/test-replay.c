#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/replay.h"

static void check_then_accept(struct replay_window *w, uint64_t seq)
{
	assert_int_equal(replay_check(w, seq), REPLAY_FRESH);
	replay_accept(w, seq);
	assert_int_equal(replay_check(w, seq), REPLAY_DUPLICATE);
}

static void test_empty_window(void **state)
{
	struct replay_window w;

	(void)state;
	replay_init(&w);
	assert_int_equal(replay_check(&w, 0), REPLAY_FRESH);
	assert_int_equal(replay_check(&w, 1), REPLAY_FRESH);
	assert_int_equal(replay_check(&w, UINT64_MAX), REPLAY_FRESH);
	check_then_accept(&w, 0);
	assert_int_equal(w.top, 0);
	assert_int_equal(replay_check(&w, 1), REPLAY_FRESH);
}

static void test_window_edges(void **state)
{
	const uint64_t top = 5000;
	struct replay_window w;

	(void)state;
	replay_init(&w);
	check_then_accept(&w, top);
	assert_int_equal(replay_check(&w, top + 1), REPLAY_FRESH);
	assert_int_equal(replay_check(&w, top - 1), REPLAY_FRESH);
	assert_int_equal(replay_check(&w, top - (REPLAY_WINDOW - 1)), REPLAY_FRESH);
	assert_int_equal(replay_check(&w, top - REPLAY_WINDOW), REPLAY_TOO_OLD);
	assert_int_equal(replay_check(&w, 0), REPLAY_TOO_OLD);

	check_then_accept(&w, top - (REPLAY_WINDOW - 1));
	check_then_accept(&w, top - 1);
	assert_int_equal(w.top, top);
	assert_int_equal(replay_check(&w, top - 2), REPLAY_FRESH);

	/* one step up: top-1023 falls out, top-1 is still remembered */
	check_then_accept(&w, top + 1);
	assert_int_equal(replay_check(&w, top - (REPLAY_WINDOW - 1)), REPLAY_TOO_OLD);
	assert_int_equal(replay_check(&w, top - (REPLAY_WINDOW - 2)), REPLAY_FRESH);
	assert_int_equal(replay_check(&w, top), REPLAY_DUPLICATE);
	assert_int_equal(replay_check(&w, top - 1), REPLAY_DUPLICATE);
}

/* Below REPLAY_WINDOW nothing is too old yet. */
static void test_low_top(void **state)
{
	struct replay_window w;

	(void)state;
	replay_init(&w);
	check_then_accept(&w, REPLAY_WINDOW - 1);
	assert_int_equal(replay_check(&w, 0), REPLAY_FRESH);
	check_then_accept(&w, 0);
	check_then_accept(&w, REPLAY_WINDOW);
	assert_int_equal(replay_check(&w, 0), REPLAY_TOO_OLD);
	assert_int_equal(replay_check(&w, 1), REPLAY_FRESH);
	assert_int_equal(replay_check(&w, REPLAY_WINDOW - 1), REPLAY_DUPLICATE);
}

static void test_out_of_order(void **state)
{
	static const uint64_t order[] = { 100, 98, 99, 97, 90, 101, 95 };
	struct replay_window w;

	(void)state;
	replay_init(&w);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		check_then_accept(&w, order[i]);
	assert_int_equal(w.top, 101);
	for (uint64_t s = 89; s <= 102; s++) {
		bool seen = false;

		for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
			seen |= order[i] == s;
		assert_int_equal(replay_check(&w, s), seen ? REPLAY_DUPLICATE : REPLAY_FRESH);
	}
}

static void test_jumps(void **state)
{
	static const uint64_t jumps[] = { 1, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025, 5000 };
	struct replay_window w;

	(void)state;
	for (size_t j = 0; j < sizeof(jumps) / sizeof(jumps[0]); j++) {
		const uint64_t base = 10000, d = jumps[j];

		replay_init(&w);
		for (uint64_t s = base - 1023; s <= base; s++)
			replay_accept(&w, s);
		check_then_accept(&w, base + d);
		/* everything accepted before is a duplicate while in the window */
		for (uint64_t s = base - 1030; s < base + d; s++) {
			enum replay_verdict want;

			if (base + d - s >= REPLAY_WINDOW)
				want = REPLAY_TOO_OLD;
			else if (s >= base - 1023 && s <= base)
				want = REPLAY_DUPLICATE;
			else
				want = REPLAY_FRESH;
			assert_int_equal(replay_check(&w, s), want);
		}
	}
}

static void test_huge_jump(void **state)
{
	struct replay_window w;

	(void)state;
	replay_init(&w);
	check_then_accept(&w, 10);
	check_then_accept(&w, UINT64_MAX - 1);
	assert_int_equal(replay_check(&w, 10), REPLAY_TOO_OLD);
	assert_int_equal(replay_check(&w, UINT64_MAX), REPLAY_FRESH);
	assert_int_equal(replay_check(&w, UINT64_MAX - REPLAY_WINDOW), REPLAY_FRESH);
	assert_int_equal(replay_check(&w, UINT64_MAX - REPLAY_WINDOW - 1), REPLAY_TOO_OLD);
	check_then_accept(&w, UINT64_MAX);
	assert_int_equal(replay_check(&w, UINT64_MAX - 1), REPLAY_DUPLICATE);
	assert_int_equal(replay_check(&w, UINT64_MAX - REPLAY_WINDOW), REPLAY_TOO_OLD);
}

/* accept() on a seq that check() refused changes nothing. */
static void test_accept_refused(void **state)
{
	struct replay_window w, before;

	(void)state;
	replay_init(&w);
	replay_accept(&w, 3000);
	replay_accept(&w, 2990);
	before = w;
	replay_accept(&w, 1000);
	replay_accept(&w, 3000 - REPLAY_WINDOW);
	replay_accept(&w, 2990);
	replay_accept(&w, 3000);
	assert_memory_equal(&w, &before, sizeof(w));
}

/* Against a plain model: a set of every accepted seq, for seqs < MODEL. */
#define MODEL (1u << 23)

static uint64_t rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static enum replay_verdict model_check(const bool *seen, bool any, uint64_t top, uint64_t seq)
{
	if (!any || seq > top)
		return REPLAY_FRESH;
	if (top - seq >= REPLAY_WINDOW)
		return REPLAY_TOO_OLD;
	return seen[seq] ? REPLAY_DUPLICATE : REPLAY_FRESH;
}

static void test_against_model(void **state)
{
	bool *seen = calloc(MODEL, sizeof(*seen));
	uint64_t rs = 0x9e3779b97f4a7c15ULL, top = 0, cur = 0;
	struct replay_window w;
	bool any = false;

	(void)state;
	assert_non_null(seen);
	replay_init(&w);
	for (int i = 0; i < 100000; i++) {
		uint64_t r = rng(&rs), seq;
		enum replay_verdict v;

		switch (r % 16) {
		case 0:
			seq = cur + (r >> 8) % 1100;
			break;
		case 1: case 2: case 3:
			seq = cur + (r >> 8) % 70;
			break;
		default: /* behind: inside the window, on its edge, or past it */
			seq = cur - (r >> 8) % 1100;
			break;
		}
		if (seq >= MODEL - 2000 || seq > cur + 2000)
			seq = cur;
		v = replay_check(&w, seq);
		assert_int_equal(v, model_check(seen, any, top, seq));
		if (v != REPLAY_FRESH)
			continue;
		replay_accept(&w, seq);
		seen[seq] = true;
		if (!any || seq > top)
			top = seq;
		any = true;
		cur = top;
	}
	assert_int_equal(w.top, top);
	free(seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_window),
		cmocka_unit_test(test_window_edges),
		cmocka_unit_test(test_low_top),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_jumps),
		cmocka_unit_test(test_huge_jump),
		cmocka_unit_test(test_accept_refused),
		cmocka_unit_test(test_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
