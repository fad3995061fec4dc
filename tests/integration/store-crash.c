/* Crash durability of the fleet store: "kill -9 at any moment loses no
 * registered node and no event".
 *
 *   store-crash run DIR [COUNT]   transitions forever (or COUNT times) in
 *                                 DIR/fleet.db; prints each event id once its
 *                                 COMMIT has returned
 *   store-crash check DIR < ids   exit 0 if every id read is stored with its
 *                                 node, each node's state matches its latest
 *                                 event, and integrity_check says ok
 *
 * Kill "run" with SIGKILL whenever you like, run it again (it continues in the
 * same file), then feed everything it printed to "check". */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/clock.h"
#include "service-vm-fleet/store.h"

static const struct {
	const char *kind, *state;
} steps[] = {
	{ "registered", "live" }, { "evicted", "evicted" }, { "readmitted", "live" },
};

static int transition(struct store *s, uint64_t i, int64_t *id)
{
	char name[64], detail[64];
	struct store_node n = {
		.state = steps[i % 3].state, .registered_wall = clock_wall_s(),
		.last_seen_wall = clock_wall_s(), .ncpu = 4, .mem_total_kib = 16 << 20,
		.mem_available_kib = 8 << 20, .cpu_busy_permille = (uint32_t)(i % 1000),
		.guests_running = 1, .last_seq = i + 1,
	};

	/* The pid keeps names from different runs in the same file apart. */
	snprintf(name, sizeof(name), "crash-%d-%06" PRIu64, (int)getpid(), i / 3);
	snprintf(detail, sizeof(detail), "step %" PRIu64, i);
	n.name = name;
	return store_transition(s, &n, steps[i % 3].kind, detail, clock_wall_s(), id);
}

static int run(const char *path, uint64_t count)
{
	uint64_t start = clock_mono_ns(), i;
	struct store *s = NULL;
	int64_t id;
	double secs;
	int ret;

	ret = store_open(path, &s);
	if (ret < 0) {
		fprintf(stderr, "store-crash: open %s: %s\n", path, strerror(-ret));
		return 1;
	}
	for (i = 0; !count || i < count; i++) {
		ret = transition(s, i, &id);
		if (ret < 0) {
			fprintf(stderr, "store-crash: %s\n", store_errmsg(s));
			break;
		}
		printf("%" PRId64 "\n", id);
		fflush(stdout);
	}
	secs = (double)(clock_mono_ns() - start) / 1e9;
	fprintf(stderr, "store-crash: %" PRIu64 " transitions in %.3f s: %.0f/s\n", i, secs,
		(double)i / secs);
	store_close(s);
	return ret < 0;
}

static long long scalar(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	else
		fprintf(stderr, "store-crash: %s\n", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return n;
}

/* Reads ids from stdin; returns how many are missing, with their node. */
static long long missing_ids(sqlite3 *db, long long *ids)
{
	static const char sql[] =
		"SELECT 1 FROM events e JOIN nodes n ON n.name = e.node WHERE e.id = ?1";
	sqlite3_stmt *st = NULL;
	long long missing = 0;
	int64_t id;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	while (scanf("%" SCNd64, &id) == 1) {
		(*ids)++;
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) != SQLITE_ROW) {
			fprintf(stderr, "store-crash: event %" PRId64 " or its node is missing\n", id);
			missing++;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return missing;
}

static int integrity_ok(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	const char *answer;
	int ok = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		answer = (const char *)sqlite3_column_text(st, 0);
		ok = answer && !strcmp(answer, "ok") && sqlite3_step(st) == SQLITE_DONE;
		if (!ok)
			fprintf(stderr, "store-crash: integrity_check: %s\n", answer ? answer : "?");
	}
	sqlite3_finalize(st);
	return ok;
}

/* Nodes whose row disagrees with their latest event: a half-applied
 * transition. One grouped pass over the events (events has no index on
 * node, and a per-node subquery would make every check quadratic). */
static const char inconsistent_nodes[] =
	"WITH last AS (SELECT node, max(id) AS id FROM events GROUP BY node)"
	" SELECT count(*) FROM nodes n LEFT JOIN last l ON l.node = n.name"
	" LEFT JOIN events e ON e.id = l.id"
	" WHERE e.id IS NULL OR n.state IS NOT iif(e.kind = 'evicted', 'evicted', 'live')";

static int check(const char *path)
{
	long long ids = 0, missing, bad;
	struct store *s = NULL;
	sqlite3 *db = NULL;
	int ret, ok;

	/* Reopening through the store is part of what must survive a crash. */
	ret = store_open(path, &s);
	if (ret < 0) {
		fprintf(stderr, "store-crash: reopen %s: %s\n", path, strerror(-ret));
		return 1;
	}
	store_close(s);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "store-crash: %s\n", sqlite3_errmsg(db));
		sqlite3_close(db);
		return 1;
	}
	ok = integrity_ok(db);
	missing = missing_ids(db, &ids);
	bad = scalar(db, inconsistent_nodes);
	printf("%lld ids checked, %lld missing, %lld events, %lld nodes, %lld inconsistent, "
	       "integrity %s\n", ids, missing, scalar(db, "SELECT count(*) FROM events"),
	       scalar(db, "SELECT count(*) FROM nodes"), bad, ok ? "ok" : "FAILED");
	sqlite3_close(db);
	return !(ok && missing == 0 && bad == 0);
}

int main(int argc, char *argv[])
{
	char path[4096];

	if (argc < 3 || (strcmp(argv[1], "run") && strcmp(argv[1], "check"))) {
		fprintf(stderr, "usage: %s run DIR [COUNT] | check DIR < ids\n", argv[0]);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/fleet.db", argv[2]);
	if (!strcmp(argv[1], "check"))
		return check(path);
	return run(path, argc > 3 ? strtoull(argv[3], NULL, 10) : 0);
}
