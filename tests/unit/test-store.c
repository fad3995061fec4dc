#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "service-vm-fleet/store.h"
#include "tests/unit/fixture.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (fixture_tmpdir(f->dir, sizeof(f->dir), "test-store"))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/fleet.db", f->dir);
	if (store_open(f->path, &f->s) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	fixture_rmtree(f->dir);
	free(f);
	return 0;
}

/* Asks the file directly, through a connection of its own. */
static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static struct store_node node(const char *name, const char *state, uint32_t ncpu)
{
	return (struct store_node){
		.name = name, .state = state, .registered_wall = 1000, .last_seen_wall = 1010,
		.ncpu = ncpu, .mem_total_kib = 16ULL << 20, .mem_available_kib = 8ULL << 20,
		.cpu_busy_permille = 250, .guests_running = 2, .last_seq = 40,
	};
}

static int64_t transition(struct store *s, const char *name, const char *state, const char *kind)
{
	struct store_node n = node(name, state, 4);
	int64_t id = -1;

	assert_int_equal(store_transition(s, &n, kind, "detail", 2000, &id), 0);
	return id;
}

static json_t *tail(struct store *s, unsigned limit)
{
	json_t *events = NULL;

	assert_int_equal(store_events_tail_json(s, limit, &events), 0);
	assert_true(json_is_array(events));
	return events;
}

static json_int_t event_id(json_t *events, size_t i)
{
	return json_integer_value(json_object_get(json_array_get(events, i), "id"));
}

static void test_schema(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
				 " AND name IN ('nodes', 'events', 'placements')"), 3);
	assert_int_equal(raw_int(f->path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
	assert_string_equal(store_errmsg(f->s), "");
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->path, &f->s), 0);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
}

static void assert_mode(const char *path, mode_t mode)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, mode);
}

/* The modes must not depend on the umask: 0 would let SQLite's own default
 * (0644) through, 0277 would make the file read-only. */
static void test_file_mode(void **state)
{
	static const mode_t umasks[] = { 0, 0277 };
	struct fixture *f = *state;
	char path[160], wal[170];
	struct store *s = NULL;

	for (size_t i = 0; i < 2; i++) {
		mode_t old = umask(umasks[i]);

		snprintf(path, sizeof(path), "%s/open%zu.db", f->dir, i);
		snprintf(wal, sizeof(wal), "%s-wal", path);
		assert_int_equal(store_open(path, &s), 0);
		transition(s, "a", "live", "registered");
		assert_mode(path, 0600);
		assert_mode(wal, 0600);
		store_close(s);
		umask(old);
	}
	assert_mode(f->path, 0600);
}

static void test_existing_file_narrowed(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/wide.db", f->dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
	assert_int_equal(store_open(path, &s), 0);
	assert_mode(path, 0600);
	store_close(s);
}

struct seen {
	struct store_node nodes[8];
	char names[8][32];
	char states[8][16];
	size_t count;
	size_t stop_after;
};

static int collect(void *ctx, const struct store_node *n)
{
	struct seen *seen = ctx;
	size_t i = seen->count++;

	if (seen->stop_after && seen->count > seen->stop_after)
		return -ECANCELED;
	assert_true(i < 8);
	seen->nodes[i] = *n;
	snprintf(seen->names[i], sizeof(seen->names[i]), "%s", n->name);
	snprintf(seen->states[i], sizeof(seen->states[i]), "%s", n->state);
	return 0;
}

static void test_transition_reload(void **state)
{
	struct fixture *f = *state;
	struct store_node unsampled = node("node-b", "evicted", 0);
	struct seen seen = { 0 };
	int64_t id;

	assert_int_equal(transition(f->s, "node-b", "live", "registered"), 1);
	assert_int_equal(transition(f->s, "node-a", "live", "registered"), 2);
	assert_int_equal(transition(f->s, "node-c", "live", "registered"), 3);
	/* After a restart: no sample yet and a lower floor; both stay stored. */
	unsampled.last_seen_wall = 3000;
	unsampled.last_seq = 0;
	assert_int_equal(store_transition(f->s, &unsampled, "evicted", "silent", 3000, &id), 0);
	assert_int_equal(id, 4);

	assert_int_equal(store_nodes_each(f->s, collect, &seen), 0);
	assert_int_equal(seen.count, 3);
	assert_string_equal(seen.names[0], "node-a");
	assert_string_equal(seen.names[1], "node-b");
	assert_string_equal(seen.names[2], "node-c");
	assert_string_equal(seen.states[0], "live");
	assert_string_equal(seen.states[1], "evicted");
	assert_int_equal(seen.nodes[1].last_seen_wall, 3000);
	assert_int_equal(seen.nodes[1].registered_wall, 1000);
	assert_int_equal(seen.nodes[1].ncpu, 4);
	assert_int_equal(seen.nodes[1].mem_total_kib, 16ULL << 20);
	assert_int_equal(seen.nodes[1].mem_available_kib, 8ULL << 20);
	assert_int_equal(seen.nodes[1].cpu_busy_permille, 250);
	assert_int_equal(seen.nodes[1].guests_running, 2);
	assert_int_equal(seen.nodes[1].last_seq, 40);

	memset(&seen, 0, sizeof(seen));
	seen.stop_after = 1;
	assert_int_equal(store_nodes_each(f->s, collect, &seen), -ECANCELED);
	assert_int_equal(seen.count, 2);
}

static void test_large_values_round_trip(void **state)
{
	struct fixture *f = *state;
	struct store_node n = node("big", "live", UINT32_MAX);
	struct seen seen = { 0 };

	n.mem_total_kib = UINT64_MAX;
	n.guests_running = UINT32_MAX;
	assert_int_equal(store_transition(f->s, &n, "registered", "", 1, NULL), 0);
	assert_int_equal(store_nodes_each(f->s, collect, &seen), 0);
	assert_int_equal(seen.nodes[0].ncpu, UINT32_MAX);
	assert_true(seen.nodes[0].mem_total_kib == UINT64_MAX);
	assert_int_equal(seen.nodes[0].guests_running, UINT32_MAX);
}

static void test_events(void **state)
{
	struct fixture *f = *state;
	struct store_node hold = { 0 };
	json_t *events = NULL, *ev;
	int64_t id;

	transition(f->s, "n1", "live", "registered");
	assert_int_equal(store_event(f->s, "held", NULL, "3 of 4 silent", 2100, &id), 0);
	assert_int_equal(id, 2);
	assert_int_equal(store_transition(f->s, &hold, "hold-released", "back", 2200, &id), 0);
	assert_int_equal(id, 3);
	transition(f->s, "n1", "evicted", "evicted");
	transition(f->s, "n1", "live", "readmitted");

	assert_int_equal(store_events_json(f->s, 0, 0, &events), 0);
	assert_int_equal(json_array_size(events), 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(event_id(events, i), (json_int_t)i + 1);
	ev = json_array_get(events, 1);
	assert_int_equal(json_object_size(ev), 5);
	assert_string_equal(json_string_value(json_object_get(ev, "kind")), "held");
	assert_true(json_is_null(json_object_get(ev, "node")));
	assert_string_equal(json_string_value(json_object_get(ev, "detail")), "3 of 4 silent");
	assert_int_equal(json_integer_value(json_object_get(ev, "time")), 2100);
	ev = json_array_get(events, 4);
	assert_string_equal(json_string_value(json_object_get(ev, "kind")), "readmitted");
	assert_string_equal(json_string_value(json_object_get(ev, "node")), "n1");
	json_decref(events);

	assert_int_equal(store_events_json(f->s, 2, 2, &events), 0);
	assert_int_equal(json_array_size(events), 2);
	assert_int_equal(event_id(events, 0), 3);
	assert_int_equal(event_id(events, 1), 4);
	json_decref(events);

	assert_int_equal(store_events_json(f->s, 5, 10, &events), 0);
	assert_int_equal(json_array_size(events), 0);
	json_decref(events);

	events = tail(f->s, 2);
	assert_int_equal(json_array_size(events), 2);
	assert_int_equal(event_id(events, 0), 4);
	assert_int_equal(event_id(events, 1), 5);
	json_decref(events);
}

static void test_default_limit(void **state)
{
	struct fixture *f = *state;
	json_t *events = NULL;

	for (int i = 0; i < 150; i++)
		assert_int_equal(store_event(f->s, "held", NULL, "x", i, NULL), 0);
	assert_int_equal(store_events_json(f->s, 0, 0, &events), 0);
	assert_int_equal(json_array_size(events), 100);
	assert_int_equal(event_id(events, 0), 1);
	assert_int_equal(event_id(events, 99), 100);
	json_decref(events);
	events = tail(f->s, 0);
	assert_int_equal(json_array_size(events), 100);
	assert_int_equal(event_id(events, 0), 51);
	assert_int_equal(event_id(events, 99), 150);
	json_decref(events);
}

static void test_placement(void **state)
{
	struct fixture *f = *state;
	struct store_placement p = {
		.node = "n1", .guest_name = "web1", .guest_type = "mediakit",
		.memory_bytes = 2ULL << 30, .vcpus = 2, .origin = "unix:uid=0",
	};
	json_t *events, *ev;
	int64_t id = 0;

	transition(f->s, "n1", "live", "registered");
	assert_int_equal(store_placement(f->s, &p, 3000, &id), 0);
	assert_int_equal(id, 1);
	p.guest_name = NULL;
	assert_int_equal(store_placement(f->s, &p, 3001, &id), 0);
	assert_int_equal(id, 2);

	events = tail(f->s, 0);
	assert_int_equal(json_array_size(events), 3);
	ev = json_array_get(events, 1);
	assert_string_equal(json_string_value(json_object_get(ev, "kind")), "placed");
	assert_string_equal(json_string_value(json_object_get(ev, "node")), "n1");
	assert_non_null(strstr(json_string_value(json_object_get(ev, "detail")), "web1"));
	assert_non_null(strstr(json_string_value(json_object_get(ev, "detail")), "unix:uid=0"));
	json_decref(events);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM placements WHERE node = 'n1'"
				 " AND memory_bytes = 2147483648 AND vcpus = 2"), 2);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM placements"
				 " WHERE guest_name IS NULL"), 1);

	/* Neither the placement nor its event survives a failure. */
	p.node = "nowhere";
	assert_int_equal(store_placement(f->s, &p, 3002, &id), -EINVAL);
	assert_non_null(strstr(store_errmsg(f->s), "FOREIGN KEY"));
	p.node = "n1";
	p.origin = NULL;
	assert_int_equal(store_placement(f->s, &p, 3002, &id), -EINVAL);
	assert_int_equal(id, 2);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM placements"), 2);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM events"), 3);
}

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	struct seen seen = { 0 };
	json_t *events;

	transition(f->s, "n2", "live", "registered");
	transition(f->s, "n1", "live", "registered");
	transition(f->s, "n2", "evicted", "evicted");
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->path, &f->s), 0);

	assert_int_equal(store_nodes_each(f->s, collect, &seen), 0);
	assert_int_equal(seen.count, 2);
	assert_string_equal(seen.names[0], "n1");
	assert_string_equal(seen.states[1], "evicted");
	events = tail(f->s, 0);
	assert_int_equal(json_array_size(events), 3);
	json_decref(events);
	assert_int_equal(transition(f->s, "n2", "live", "readmitted"), 4);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	char path[160];
	struct store *s = NULL;

	store_close(f->s);
	f->s = NULL;
	raw_exec(f->path, "PRAGMA user_version = 2");
	assert_int_equal(store_open(f->path, &s), -EPROTO);
	assert_null(s);
	assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 2);

	/* A file from the future keeps even its journal mode. */
	snprintf(path, sizeof(path), "%s/future.db", f->dir);
	raw_exec(path, "CREATE TABLE t (x); PRAGMA user_version = 7");
	assert_int_equal(store_open(path, &s), -EPROTO);
	assert_int_equal(raw_int(path, "SELECT journal_mode = 'delete' FROM pragma_journal_mode"), 1);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 7);
}

static void test_not_a_database(void **state)
{
	struct fixture *f = *state;
	char path[160];
	struct store *s = NULL;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/junk.db", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 64; i++)
		fputs("this is not an SQLite database. ", fp);
	fclose(fp);
	assert_int_equal(store_open(path, &s), -EIO);
	assert_null(s);
	snprintf(path, sizeof(path), "%s/missing/fleet.db", f->dir);
	assert_int_equal(store_open(path, &s), -ENOENT);
}

static void test_failed_transaction_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct store_node bad = node("n1", "zombie", 4);
	struct seen seen = { 0 };
	int64_t id = -1;

	transition(f->s, "n1", "live", "registered");
	assert_int_equal(store_transition(f->s, &bad, "evicted", "no", 5, &id), -EINVAL);
	assert_int_equal(id, -1);
	assert_non_null(strstr(store_errmsg(f->s), "CHECK constraint failed"));
	bad.name = "n2";
	assert_int_equal(store_transition(f->s, &bad, "registered", "no", 5, &id), -EINVAL);

	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM events"), 1);
	assert_int_equal(store_nodes_each(f->s, collect, &seen), 0);
	assert_int_equal(seen.count, 1);
	assert_string_equal(seen.states[0], "live");
	/* The connection is not left inside a transaction. */
	assert_int_equal(transition(f->s, "n2", "live", "registered"), 2);
}

static void test_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct store_node nameless = node(NULL, "live", 1);

	assert_int_equal(store_event(f->s, "held", NULL, "\xff\xfe", 1, NULL), -EILSEQ);
	assert_int_equal(store_event(f->s, NULL, NULL, "x", 1, NULL), -EINVAL);
	assert_int_equal(store_transition(f->s, &nameless, "registered", "x", 1, NULL), -EINVAL);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM events"), 0);
	assert_int_equal(store_event(f->s, "held", NULL, NULL, 1, NULL), 0);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM events WHERE detail = ''"), 1);
}

static void test_checkpoint_seqs(void **state)
{
	struct fixture *f = *state;
	const struct store_seq seqs[] = { { "a", 100 }, { "b", 5 }, { "unknown", 7 } };
	const struct store_seq lower[] = { { "a", 50 } };
	struct seen seen = { 0 };

	transition(f->s, "a", "live", "registered");
	transition(f->s, "b", "live", "registered");
	assert_int_equal(store_checkpoint_seqs(f->s, seqs, 3), 0);
	assert_int_equal(store_checkpoint_seqs(f->s, lower, 1), 0);
	assert_int_equal(store_checkpoint_seqs(f->s, NULL, 0), 0);
	assert_int_equal(store_nodes_each(f->s, collect, &seen), 0);
	assert_int_equal(seen.count, 2);
	assert_int_equal(seen.nodes[0].last_seq, 100);
	assert_int_equal(seen.nodes[1].last_seq, 40);
	assert_int_equal(raw_int(f->path, "SELECT count(*) FROM events"), 2);
}

static int guest_names(void *ctx, const struct store_guest *g)
{
	strcat(ctx, g->name);
	strcat(ctx, " ");
	return 0;
}

/* A destroyed guest is forgotten (its row goes, its event stays); a row an
 * older build kept as 'destroyed' is not restored either. */
static void test_guest_forget(void **state)
{
	struct fixture *f = *state;
	struct store_guest g = { .name = "web1", .type = "mediakit", .node = "n1",
				 .state = "running", .memory_bytes = 1, .vcpus = 1 };
	char names[64] = "";
	json_t *events;

	assert_int_equal(store_guest(f->s, &g, "confirmed", "web1 confirmed", 1), 0);
	g.name = "old1";
	g.state = "destroyed";
	assert_int_equal(store_guest(f->s, &g, NULL, NULL, 1), 0);
	assert_int_equal(store_guests_each(f->s, guest_names, names), 0);
	assert_string_equal(names, "web1 ");
	assert_int_equal(store_guest_forget(f->s, "web1", "n1", "guest-destroyed",
					    "web1 destroyed", 2), 0);
	names[0] = '\0';
	assert_int_equal(store_guests_each(f->s, guest_names, names), 0);
	assert_string_equal(names, "");
	events = tail(f->s, 0);
	assert_int_equal(json_array_size(events), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(events, 1), "kind")),
			    "guest-destroyed");
	json_decref(events);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_file_narrowed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transition_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_values_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_placement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_transaction_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoint_seqs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_forget, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
