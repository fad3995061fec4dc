/* The fleet's bookkeeping of backups' copies: one sending copy per guest,
 * progress from either part, "stored" from the target ends it, "failed"
 * from either part or an eviction ends it badly, and nothing moves a copy
 * once it ended. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "service-vm-fleet/backup-copies.h"

static void line(struct backup_copy *bc, bool out, const char *text)
{
	json_t *m = json_loads(text, 0, NULL);

	assert_non_null(m);
	backup_copy_line(bc, out, m, 200);
	json_decref(m);
}

static void test_stored(void **state)
{
	struct backup_copies c = { 0 };
	struct backup_copy *bc, *again;

	(void)state;
	assert_int_equal(backup_copy_begin(&c, "vault1", "20261204T172500Z", "node-a", "node-b", false, 0, 100, &bc), 0);
	assert_int_equal(strlen(bc->token), 64);
	assert_string_equal(bc->restore, "");
	assert_true(backup_copy_receiving(&c, "node-b"));
	assert_false(backup_copy_receiving(&c, "node-a"));
	assert_int_equal(backup_copy_begin(&c, "vault1", "20261204T172501Z", "node-a", "node-c", false, 0, 100, &again),
			 -EBUSY);
	line(bc, false, "{\"state\":\"moving\",\"detail\":\"1.0 MiB/s\",\"bytes\":10,\"total\":40}");
	assert_int_equal(bc->bytes, 10);
	assert_int_equal(bc->total, 40);
	line(bc, false, "{\"state\":\"moving\",\"bytes\":50,\"total\":40}"); /* past the total: ignored */
	assert_int_equal(bc->bytes, 10);
	line(bc, true, "{\"state\":\"sent\",\"detail\":\"40 bytes\"}");
	assert_true(bc->sent);
	assert_int_equal(bc->state, COPY_SENDING);
	line(bc, false, "{\"state\":\"stored\",\"detail\":\"2 backup(s) stored\"}");
	assert_int_equal(bc->state, COPY_STORED);
	assert_int_equal(bc->ended, 200);
	assert_string_equal(bc->detail, "node-b: 2 backup(s) stored");
	assert_false(backup_copy_receiving(&c, "node-b"));
	line(bc, true, "{\"state\":\"failed\",\"detail\":\"late\"}"); /* ended: nothing changes */
	assert_int_equal(bc->state, COPY_STORED);

	json_t *j = backup_copy_json(bc);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "stored");
	assert_string_equal(json_string_value(json_object_get(j, "backup")), "20261204T172500Z");
	json_decref(j);
	/* a new copy of the same guest replaces the ended one, with a new token */
	char old[65];
	strcpy(old, bc->token);
	assert_int_equal(backup_copy_begin(&c, "vault1", "20261204T172501Z", "node-a", "node-c", true, 0, 300, &again), 0);
	assert_ptr_equal(again, bc);
	assert_string_not_equal(again->token, old);
	assert_int_equal(again->state, COPY_SENDING);
	assert_string_equal(again->restore, "20261204T172501Z"); /* then restored there */
	assert_string_equal(bc->restore, again->restore);
	backup_copies_free(&c);
}

static void test_failed(void **state)
{
	struct backup_copies c = { 0 };
	struct backup_copy *a, *b;

	(void)state;
	assert_int_equal(backup_copy_begin(&c, "vault1", "20261204T172500Z", "node-a", "node-b", false, 0, 100, &a), 0);
	assert_int_equal(backup_copy_begin(&c, "git1", "20261204T172500Z", "node-c", "node-d", false, 0, 100, &b), 0);
	line(a, false, "{\"state\":\"failed\",\"detail\":\"corrupted in transit\"}");
	assert_int_equal(a->state, COPY_FAILED);
	assert_string_equal(a->detail, "node-b: corrupted in transit");
	/* an eviction ends the copies its node takes part in, and only those */
	backup_copies_node_lost(&c, "node-c", "silent for 30 s", 150);
	assert_int_equal(b->state, COPY_FAILED);
	assert_string_equal(b->detail, "node-c was evicted: silent for 30 s");
	assert_string_equal(a->detail, "node-b: corrupted in transit");
	backup_copy_fail(a, "node-a", "later", 160); /* ended already */
	assert_string_equal(a->detail, "node-b: corrupted in transit");
	assert_ptr_equal(backup_copy_find(&c, "git1"), b);
	assert_null(backup_copy_find(&c, "nobody"));
	backup_copies_free(&c);
}

static void count(void *ctx, const struct backup_copy *bc)
{
	unsigned *n = ctx;

	n[bc->state]++;
}

/* changed hears a copy begin and end, never its progress; a restored copy
 * is not news, one restored sending fails when told the fleet restarted. */
static void test_changed(void **state)
{
	unsigned n[3] = { 0 };
	struct backup_copies c = { .changed = count, .ctx = n };
	struct backup_copy *bc, stored = { .state = COPY_SENDING, .started = 5 };

	(void)state;
	assert_int_equal(backup_copy_begin(&c, "vault1", "20261204T172500Z", "node-a", "node-b", false, 3, 100, &bc), 0);
	assert_int_equal(bc->keep, 3);
	assert_int_equal(n[COPY_SENDING], 1);
	line(bc, false, "{\"state\":\"moving\",\"detail\":\"1.0 MiB/s\",\"bytes\":10,\"total\":40}");
	line(bc, true, "{\"state\":\"sent\"}");
	assert_int_equal(n[COPY_SENDING] + n[COPY_STORED] + n[COPY_FAILED], 1);
	line(bc, false, "{\"state\":\"stored\"}");
	assert_int_equal(n[COPY_STORED], 1);
	backup_copy_fail(bc, "node-a", "late", 300); /* ended already: no news */
	assert_int_equal(n[COPY_FAILED], 0);

	strcpy(stored.guest, "git1");
	strcpy(stored.target, "node-c");
	strcpy(stored.token, "secret");
	assert_int_equal(backup_copies_restore(&c, &stored), 0);
	assert_int_equal(backup_copies_restore(&c, &stored), -EEXIST);
	bc = backup_copy_find(&c, "git1");
	assert_string_equal(bc->token, "");
	assert_true(backup_copy_receiving(&c, "node-c"));
	assert_int_equal(n[COPY_SENDING], 1);
	backup_copies_interrupted(&c, 400);
	assert_int_equal(n[COPY_FAILED], 1);
	assert_int_equal(bc->state, COPY_FAILED);
	assert_int_equal(bc->ended, 400);
	assert_string_equal(bc->detail, "the fleet restarted while it was sending; node-c keeps each "
			    "backup whole or not at all: run the copy again");
	assert_int_equal(backup_copy_find(&c, "vault1")->state, COPY_STORED);
	backup_copies_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stored),
		cmocka_unit_test(test_failed),
		cmocka_unit_test(test_changed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
