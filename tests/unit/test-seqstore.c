#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/fileio.h"
#include "service-vm-host/seqstore.h"
#include "tests/unit/fixture.h"

static int setup(void **state)
{
	return fixture_file_setup(state, "test-seqstore", "heartbeat.seq");
}

static int teardown(void **state)
{
	return fixture_file_teardown(state);
}

static uint64_t stored(const struct fixture_file *d)
{
	char *text;
	size_t len;
	uint64_t v;

	assert_int_equal(read_file(d->file, 64, &text, &len), 0);
	assert_int_equal(seqstore_parse(text, &v), 0);
	free(text);
	return v;
}

static void store_text(const struct fixture_file *d, const char *text, size_t len)
{
	assert_int_equal(atomic_write_file(d->file, text, len, 0600), 0);
}

static void parse(void **state)
{
	static const char *const bad[] = {
		"", "\n", "x", "-1", "+1", " 1", "1 ", "1\n\n", "1\r\n", "0x10", "1.0",
		"18446744073709551616", "99999999999999999999999",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(seqstore_parse(bad[i], &v), -EBADMSG);
	assert_int_equal(seqstore_parse("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(seqstore_parse("4097\n", &v), 0);
	assert_int_equal(v, 4097);
	assert_int_equal(seqstore_parse("18446744073709551615", &v), 0);
	assert_int_equal(v, UINT64_MAX);
}

static void fresh_start(void **state)
{
	struct fixture_file *d = *state;
	struct seqstore s;
	uint64_t seq;

	assert_int_equal(seqstore_open(&s, d->path), 0);
	assert_int_equal(stored(d), 1 + SEQ_BLOCK);
	for (uint64_t want = 1; want <= 3 * SEQ_BLOCK + 5; want++) {
		assert_int_equal(seqstore_next(&s, &seq), 0);
		assert_int_equal(seq, want);
		/* Every number handed out is already covered on disk. */
		assert_true(stored(d) > seq);
	}
	assert_int_equal(stored(d), 1 + 4 * SEQ_BLOCK);
}

static void restarts_never_repeat(void **state)
{
	struct fixture_file *d = *state;
	uint64_t last = 0, seq;

	srand(12345);
	for (int round = 0; round < 40; round++) {
		struct seqstore s;
		int n = rand() % (2 * SEQ_BLOCK);

		assert_int_equal(seqstore_open(&s, d->path), 0);
		for (int i = 0; i < n; i++) {
			assert_int_equal(seqstore_next(&s, &seq), 0);
			assert_true(seq > last);
			last = seq;
		}
		/* No close: every round ends as a crash would. */
	}
}

static void crash_after_reservation(void **state)
{
	struct fixture_file *d = *state;
	struct seqstore a, b;
	uint64_t seq;

	assert_int_equal(seqstore_open(&a, d->path), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(seqstore_next(&a, &seq), 0);
	assert_int_equal(seq, 10);
	/* Crash with the block reserved but mostly unused: the rest is skipped. */
	assert_int_equal(seqstore_open(&b, d->path), 0);
	assert_int_equal(seqstore_next(&b, &seq), 0);
	assert_int_equal(seq, 1 + SEQ_BLOCK);
	/* Crash right after reserving, before the first number is used. */
	assert_int_equal(seqstore_open(&a, d->path), 0);
	assert_int_equal(seqstore_open(&b, d->path), 0);
	assert_int_equal(seqstore_next(&b, &seq), 0);
	assert_int_equal(seq, 1 + 3 * SEQ_BLOCK);
}

static void corrupt_file_refused(void **state)
{
	static const char *const bad[] = { "", "abc", "12x", "-1", " 5", "1\n\n",
		"99999999999999999999999999999999999999999999999999999999999999999999999" };
	struct fixture_file *d = *state;
	struct seqstore s;
	char *text;
	size_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		store_text(d, bad[i], strlen(bad[i]));
		assert_int_equal(seqstore_open(&s, d->path), -EBADMSG);
		/* Left as found, for the operator to look at. */
		assert_int_equal(read_file(d->file, 1024, &text, &len), 0);
		assert_int_equal(len, strlen(bad[i]));
		assert_memory_equal(text, bad[i], len);
		free(text);
	}
	store_text(d, "12\0", 3);
	assert_int_equal(seqstore_open(&s, d->path), -EBADMSG);
	store_text(d, "18446744073709551615\n", 21);
	assert_int_equal(seqstore_open(&s, d->path), -EOVERFLOW);
}

static void reservation_failure(void **state)
{
	struct fixture_file *d = *state;
	char moved[80];
	struct seqstore s;
	uint64_t seq = 0;

	store_text(d, "500\n", 4);
	assert_int_equal(seqstore_open(&s, d->path), 0);
	for (int i = 0; i < SEQ_BLOCK; i++)
		assert_int_equal(seqstore_next(&s, &seq), 0);
	assert_int_equal(seq, 500 + SEQ_BLOCK - 1);
	snprintf(moved, sizeof(moved), "%s.moved", d->path);
	assert_int_equal(rename(d->path, moved), 0);
	/* No number without a reservation; the same one comes once the disk is back. */
	assert_int_equal(seqstore_next(&s, &seq), -ENOENT);
	assert_int_equal(seqstore_next(&s, &seq), -ENOENT);
	assert_int_equal(rename(moved, d->path), 0);
	assert_int_equal(seqstore_next(&s, &seq), 0);
	assert_int_equal(seq, 500 + SEQ_BLOCK);
	assert_int_equal(stored(d), 500 + 2 * SEQ_BLOCK);
}

static void bad_state_dir(void **state)
{
	struct seqstore s;
	char *longdir = malloc(5000);

	assert_int_equal(seqstore_open(&s, "/nonexistent/state"), -ENOENT);
	memset(longdir, 'a', 4999);
	longdir[4999] = '\0';
	assert_int_equal(seqstore_open(&s, longdir), -ENAMETOOLONG);
	free(longdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse),
		cmocka_unit_test_setup_teardown(fresh_start, setup, teardown),
		cmocka_unit_test_setup_teardown(restarts_never_repeat, setup, teardown),
		cmocka_unit_test_setup_teardown(crash_after_reservation, setup, teardown),
		cmocka_unit_test_setup_teardown(corrupt_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(reservation_failure, setup, teardown),
		cmocka_unit_test(bad_state_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
