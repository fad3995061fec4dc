#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/nametable.h"

struct names {
	char (*v)[32];
	size_t count;
};

static const char *name_at(const void *ctx, size_t index)
{
	const struct names *n = ctx;

	assert_true(index < n->count);
	return n->v[index];
}

static void names_add(struct names *n, const char *name)
{
	n->v = realloc(n->v, (n->count + 1) * sizeof(*n->v));
	assert_non_null(n->v);
	snprintf(n->v[n->count], sizeof(n->v[0]), "%s", name);
	n->count++;
}

static void test_empty(void **state)
{
	struct names n = { 0 };
	struct nametable t;

	nametable_init(&t, name_at, &n);
	assert_int_equal(nametable_find(&t, "a"), -ENOENT);
	assert_int_equal(nametable_find(&t, ""), -ENOENT);
	nametable_free(&t);
	assert_null(t.slots);
	nametable_free(&t);
}

static void test_insert_find(void **state)
{
	struct names n = { 0 };
	struct nametable t;

	nametable_init(&t, name_at, &n);
	names_add(&n, "alpha");
	names_add(&n, "beta");
	assert_int_equal(nametable_insert(&t, "alpha", 0), 0);
	assert_int_equal(nametable_insert(&t, "beta", 1), 0);
	assert_int_equal(nametable_find(&t, "alpha"), 0);
	assert_int_equal(nametable_find(&t, "beta"), 1);
	assert_int_equal(nametable_find(&t, "gamma"), -ENOENT);
	assert_int_equal(nametable_find(&t, "alph"), -ENOENT);
	assert_int_equal(nametable_find(&t, "alphaa"), -ENOENT);
	assert_int_equal(nametable_insert(&t, "alpha", 1), -EEXIST);
	assert_int_equal(t.used, 2);
	nametable_free(&t);
	free(n.v);
}

/* Growth keeps every mapping, the load stays at or below one half, and
 * records may move (ctx is the holder, not the array). */
static void test_growth(void **state)
{
	struct names n = { 0 };
	struct nametable t;
	char name[32];

	nametable_init(&t, name_at, &n);
	for (size_t i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "node-%zu", i);
		names_add(&n, name);
		assert_int_equal(nametable_insert(&t, name, i), 0);
		assert_true(t.used * 2 <= t.cap);
		assert_int_equal(t.cap & (t.cap - 1), 0);
		/* Doubles exactly when the load would pass one half. */
		if (i == 7)
			assert_int_equal(t.cap, 16);
		if (i == 8)
			assert_int_equal(t.cap, 32);
	}
	assert_int_equal(t.used, 5000);
	assert_int_equal(t.cap, 16384);
	for (size_t i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "node-%zu", i);
		assert_int_equal(nametable_find(&t, name), (long)i);
	}
	assert_int_equal(nametable_find(&t, "node-5000"), -ENOENT);
	nametable_free(&t);
	free(n.v);
}

static void test_rebuild(void **state)
{
	struct names n = { 0 }, m = { 0 };
	struct nametable t;

	nametable_init(&t, name_at, &n);
	names_add(&n, "a");
	names_add(&n, "b");
	names_add(&n, "c");
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(nametable_insert(&t, n.v[i], i), 0);
	/* "b" removed, "c" moved down: a new holder. */
	names_add(&m, "a");
	names_add(&m, "c");
	assert_int_equal(nametable_rebuild(&t, &m, 2), 0);
	assert_ptr_equal(t.ctx, &m);
	assert_int_equal(t.used, 2);
	assert_int_equal(nametable_find(&t, "a"), 0);
	assert_int_equal(nametable_find(&t, "c"), 1);
	assert_int_equal(nametable_find(&t, "b"), -ENOENT);
	assert_int_equal(nametable_rebuild(&t, &m, 0), 0);
	assert_int_equal(nametable_find(&t, "a"), -ENOENT);
	nametable_free(&t);
	free(n.v);
	free(m.v);
}

/* Duplicate records fail the rebuild and leave the old table working. */
static void test_rebuild_duplicate(void **state)
{
	struct names n = { 0 }, d = { 0 };
	struct nametable t;

	nametable_init(&t, name_at, &n);
	names_add(&n, "x");
	assert_int_equal(nametable_insert(&t, "x", 0), 0);
	names_add(&d, "y");
	names_add(&d, "y");
	assert_int_equal(nametable_rebuild(&t, &d, 2), -EEXIST);
	assert_ptr_equal(t.ctx, &n);
	assert_int_equal(nametable_find(&t, "x"), 0);
	nametable_free(&t);
	free(n.v);
	free(d.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_insert_find),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_rebuild),
		cmocka_unit_test(test_rebuild_duplicate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
