/* Backups' copies kept in fleet.db: each guest's last copy is written when
 * it begins and when it ends, read back when the fleet starts, without its
 * token; a copy that was sending comes back failed, and is written back so;
 * a failed write is counted and the copy goes on. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "service-vm-fleet/fleet-backup-copy.h"
#include "service-vm-fleet/store-backup-copy.h"
#include "tests/unit/fixture.h"

struct fx {
	char dir[64], path[96];
	struct fleet *f;
};

/* A fleet as fleet_open leaves it for copies: its store open, copies loaded. */
static void start(struct fx *x)
{
	x->f = calloc(1, sizeof(*x->f));
	assert_non_null(x->f);
	assert_int_equal(store_open(x->path, &x->f->store), 0);
	assert_int_equal(fleet_copies_load(x->f), 0);
}

static void stop(struct fx *x)
{
	store_close(x->f->store);
	backup_copies_free(&x->f->copies);
	free(x->f);
	x->f = NULL;
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	if (!x || fixture_tmpdir(x->dir, sizeof(x->dir), "osi-copies")) {
		free(x);
		return -1;
	}
	snprintf(x->path, sizeof(x->path), "%s/fleet.db", x->dir);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	if (x->f)
		stop(x);
	fixture_rmtree(x->dir);
	free(x);
	return 0;
}

static void line(struct backup_copy *bc, bool out, const char *text, int64_t wall)
{
	json_t *m = json_loads(text, 0, NULL);

	assert_non_null(m);
	backup_copy_line(bc, out, m, wall);
	json_decref(m);
}

static int count_rows(void *ctx, const struct backup_copy *bc)
{
	(void)bc;
	++*(int *)ctx;
	return 0;
}

/* Whether any column of any row holds text. */
static bool stored_anywhere(const char *path, const char *text)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	bool found = false;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT * FROM backup_copies", -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		for (int i = 0; i < sqlite3_column_count(st); i++)
			if (sqlite3_column_text(st, i) && strstr((const char *)sqlite3_column_text(st, i), text))
				found = true;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return found;
}

/* A stored copy and a sending one survive a restart; the sending one comes
 * back failed with why, and stays so at the next start. */
static void test_restart(void **state)
{
	struct fx *x = *state;
	struct backup_copy *a, *b;
	const struct backup_copy *back;
	char token[65];
	int rows = 0;

	start(x);
	assert_int_equal(backup_copy_begin(&x->f->copies, "vault1", "20261204T172500Z", "laptop-a", "cloud",
					   true, 7, 100, &a), 0);
	line(a, false, "{\"state\":\"moving\",\"detail\":\"1.0 MiB/s\",\"bytes\":10,\"total\":40}", 110);
	line(a, true, "{\"state\":\"sent\",\"detail\":\"40 bytes\",\"bytes\":40,\"total\":40}", 120);
	line(a, false, "{\"state\":\"stored\",\"detail\":\"1 backup(s) stored\",\"bytes\":40,\"total\":40}", 130);
	assert_int_equal(a->state, COPY_STORED);
	assert_int_equal(backup_copy_begin(&x->f->copies, "git1", "20261204T180000Z", "laptop-b", "cloud",
					   false, 0, 200, &b), 0);
	line(b, false, "{\"state\":\"moving\",\"detail\":\"2.0 MiB/s\",\"bytes\":5,\"total\":50}", 210);
	snprintf(token, sizeof(token), "%s", b->token);
	assert_true(stored_anywhere(x->path, "laptop-b"));
	assert_false(stored_anywhere(x->path, token));
	assert_int_equal(x->f->store_errors, 0);
	stop(x);

	start(x);
	back = backup_copy_find(&x->f->copies, "vault1");
	assert_non_null(back);
	assert_int_equal(back->state, COPY_STORED);
	assert_string_equal(back->id, "20261204T172500Z");
	assert_string_equal(back->source, "laptop-a");
	assert_string_equal(back->target, "cloud");
	assert_string_equal(back->restore, "20261204T172500Z");
	assert_int_equal(back->keep, 7);
	assert_true(back->bytes == 40 && back->total == 40);
	assert_true(back->started == 100 && back->ended == 130);
	assert_string_equal(back->detail, "cloud: 1 backup(s) stored");
	assert_string_equal(back->token, "");
	back = backup_copy_find(&x->f->copies, "git1");
	assert_non_null(back);
	assert_int_equal(back->state, COPY_FAILED);
	assert_true(back->ended > 0);
	assert_int_equal(back->started, 200);
	assert_int_equal(back->bytes, 0); /* progress is not written */
	assert_string_equal(back->detail, "the fleet restarted while it was sending; cloud keeps each "
			    "backup whole or not at all: run the copy again");
	assert_string_equal(back->token, "");
	assert_false(backup_copy_receiving(&x->f->copies, "cloud")); /* its port is free again */
	stop(x);

	start(x); /* written back failed */
	back = backup_copy_find(&x->f->copies, "git1");
	assert_int_equal(back->state, COPY_FAILED);
	assert_string_equal(back->detail, "the fleet restarted while it was sending; cloud keeps each "
			    "backup whole or not at all: run the copy again");
	assert_int_equal(store_backup_copies_each(x->f->store, count_rows, &rows), 0);
	assert_int_equal(rows, 2);
	json_t *j = backup_copy_json(back);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "failed");
	json_decref(j);
}

/* A new copy of a guest replaces its row: one row per guest. */
static void test_one_row_per_guest(void **state)
{
	struct fx *x = *state;
	struct backup_copy *a;
	int rows = 0;

	start(x);
	assert_int_equal(backup_copy_begin(&x->f->copies, "vault1", "20261204T172500Z", "laptop-a", "cloud",
					   false, 0, 100, &a), 0);
	backup_copy_fail(a, "cloud", "the target refused the transfer", 110);
	assert_int_equal(backup_copy_begin(&x->f->copies, "vault1", "20261204T172501Z", "laptop-a", "cloud",
					   false, 0, 120, &a), 0);
	line(a, false, "{\"state\":\"stored\",\"detail\":\"done\"}", 130);
	assert_int_equal(store_backup_copies_each(x->f->store, count_rows, &rows), 0);
	assert_int_equal(rows, 1);
	stop(x);
	start(x);
	assert_string_equal(backup_copy_find(&x->f->copies, "vault1")->id, "20261204T172501Z");
	assert_int_equal(backup_copy_find(&x->f->copies, "vault1")->state, COPY_STORED);
}

/* The table gone under the fleet: the write fails, is counted, and the
 * copy goes on in memory. An unknown state reads back as failed. */
static void test_store_error(void **state)
{
	struct fx *x = *state;
	struct backup_copy *a;

	start(x);
	assert_int_equal(sqlite3_exec(store_db(x->f->store), "DROP TABLE backup_copies", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(backup_copy_begin(&x->f->copies, "vault1", "20261204T172500Z", "laptop-a", "cloud",
					   false, 0, 100, &a), 0);
	assert_int_equal(x->f->store_errors, 1);
	assert_int_equal(a->state, COPY_SENDING);
	line(a, false, "{\"state\":\"stored\",\"detail\":\"done\"}", 130);
	assert_int_equal(a->state, COPY_STORED);
	assert_int_equal(x->f->store_errors, 2);
	assert_int_equal(store_backup_copies_init(x->f->store), 0);
	assert_int_equal(sqlite3_exec(store_db(x->f->store), "INSERT INTO backup_copies (guest, backup, "
				      "source, target, state, started) VALUES ('git1', '20261204T172500Z', "
				      "'a', 'b', 'weird', 5)", NULL, NULL, NULL), SQLITE_OK);
	stop(x);
	start(x);
	assert_int_equal(backup_copy_find(&x->f->copies, "git1")->state, COPY_FAILED);
	assert_null(backup_copy_find(&x->f->copies, "vault1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_row_per_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_error, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
