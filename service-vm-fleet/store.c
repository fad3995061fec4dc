#include "service-vm-fleet/store.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/log.h"
#include "lib/units.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define BUSY_TIMEOUT_MS 5000
#define EVENTS_DEFAULT_LIMIT 100

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS nodes ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('live', 'evicted')),"
	" registered INTEGER NOT NULL DEFAULT 0,"
	" last_seen INTEGER NOT NULL DEFAULT 0,"
	" ncpu INTEGER NOT NULL DEFAULT 0,"
	" mem_total_kib INTEGER NOT NULL DEFAULT 0,"
	" mem_available_kib INTEGER NOT NULL DEFAULT 0,"
	" cpu_busy_permille INTEGER NOT NULL DEFAULT 0,"
	" guests_running INTEGER NOT NULL DEFAULT 0,"
	" last_seq INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS events ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time INTEGER NOT NULL,"
	" kind TEXT NOT NULL,"
	" node TEXT,"
	" detail TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS placements ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time INTEGER NOT NULL,"
	" node TEXT NOT NULL REFERENCES nodes (name),"
	" guest_name TEXT,"
	" guest_type TEXT NOT NULL,"
	" memory_bytes INTEGER NOT NULL,"
	" vcpus INTEGER NOT NULL,"
	" origin TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS guests ("
	" name TEXT PRIMARY KEY NOT NULL,"
	" type TEXT NOT NULL,"
	" node TEXT NOT NULL,"
	" memory_bytes INTEGER NOT NULL,"
	" vcpus INTEGER NOT NULL,"
	" state TEXT NOT NULL,"
	" detail TEXT,"
	" accel TEXT,"
	" created INTEGER NOT NULL,"
	" updated INTEGER NOT NULL);"
	"PRAGMA user_version = " STR(STORE_SCHEMA_VERSION) ";";

/* Added after version 1 without a version of its own: a table an older
 * build ignores, made wherever it is missing. */
static const char schema_published[] =
	"CREATE TABLE IF NOT EXISTS published ("
	" guest TEXT NOT NULL,"
	" proto TEXT NOT NULL CHECK (proto IN ('tcp', 'udp')),"
	" port INTEGER NOT NULL,"
	" host_port INTEGER NOT NULL,"
	" PRIMARY KEY (guest, proto, port));";

enum {
	ST_BEGIN, ST_COMMIT, ST_EVENT, ST_NODE, ST_PLACEMENT, ST_SEQ,
	ST_NODES, ST_EVENTS_SINCE, ST_EVENTS_TAIL, ST_GUEST, ST_GUESTS, ST_GUEST_DEL,
	ST_PUB_ADD, ST_PUB_DEL, ST_PUB_DEL_GUEST, ST_PUBS, ST__COUNT
};

/* A record without a sample (ncpu 0) keeps the stored one, and the replay
 * floor never goes back: after a restart the fleet writes nodes it has not
 * heard from yet. */
static const char *const statements[ST__COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_EVENT] = "INSERT INTO events (time, kind, node, detail) VALUES (?1, ?2, ?3, ?4)",
	[ST_NODE] =
		"INSERT INTO nodes (name, state, registered, last_seen, ncpu, mem_total_kib,"
		" mem_available_kib, cpu_busy_permille, guests_running, last_seq)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
		" ON CONFLICT (name) DO UPDATE SET state = excluded.state,"
		" registered = excluded.registered, last_seen = excluded.last_seen,"
		" ncpu = iif(excluded.ncpu = 0, ncpu, excluded.ncpu),"
		" mem_total_kib = iif(excluded.ncpu = 0, mem_total_kib, excluded.mem_total_kib),"
		" mem_available_kib = iif(excluded.ncpu = 0, mem_available_kib, excluded.mem_available_kib),"
		" cpu_busy_permille = iif(excluded.ncpu = 0, cpu_busy_permille, excluded.cpu_busy_permille),"
		" guests_running = iif(excluded.ncpu = 0, guests_running, excluded.guests_running),"
		" last_seq = max(last_seq, excluded.last_seq)",
	[ST_PLACEMENT] =
		"INSERT INTO placements (time, node, guest_name, guest_type, memory_bytes,"
		" vcpus, origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_SEQ] = "UPDATE nodes SET last_seq = max(last_seq, ?1) WHERE name = ?2",
	[ST_NODES] =
		"SELECT name, state, registered, last_seen, ncpu, mem_total_kib,"
		" mem_available_kib, cpu_busy_permille, guests_running, last_seq"
		" FROM nodes ORDER BY name",
	[ST_EVENTS_SINCE] =
		"SELECT id, time, kind, node, detail FROM events WHERE id > ?1"
		" ORDER BY id LIMIT ?2",
	[ST_EVENTS_TAIL] =
		"SELECT id, time, kind, node, detail FROM"
		" (SELECT * FROM events ORDER BY id DESC LIMIT ?1) ORDER BY id",
	[ST_GUEST] =
		"INSERT OR REPLACE INTO guests (name, type, node, memory_bytes, vcpus, state,"
		" detail, accel, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[ST_GUESTS] =
		"SELECT name, type, node, memory_bytes, vcpus, state, detail, accel, created,"
		" updated FROM guests WHERE state != 'destroyed' ORDER BY name",
	[ST_GUEST_DEL] = "DELETE FROM guests WHERE name = ?1",
	[ST_PUB_ADD] = "INSERT INTO published (guest, proto, port, host_port) VALUES (?1, ?2, ?3, ?4)",
	[ST_PUB_DEL] = "DELETE FROM published WHERE guest = ?1 AND proto = ?2 AND port = ?3",
	[ST_PUB_DEL_GUEST] = "DELETE FROM published WHERE guest = ?1",
	[ST_PUBS] = "SELECT guest, proto, port, host_port FROM published ORDER BY rowid",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	char errmsg[256];
};

static int errno_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return -EINVAL;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_READONLY:
		return -EROFS;
	default:
		return -EIO;
	}
}

static int fail_msg(struct store *s, int ret, const char *msg)
{
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", msg);
	return ret;
}

/* Keeps SQLite's message: the next successful call would clear it. */
static int fail(struct store *s, int rc)
{
	bool current = s->db && (sqlite3_errcode(s->db) & 0xff) == (rc & 0xff);

	return fail_msg(s, errno_of(rc), current ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

static int exec(struct store *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : fail(s, rc);
}

/* Runs a statement that must return a row; the caller reads it and
 * finalizes *out. */
static int query_row(struct store *s, const char *sql, sqlite3_stmt **out)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, out, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(*out);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return fail_msg(s, -EIO, "no answer to a pragma");
	return fail(s, rc);
}

static int user_version(struct store *s, int64_t *version)
{
	sqlite3_stmt *st = NULL;
	int ret = query_row(s, "PRAGMA user_version", &st);

	if (ret >= 0)
		*version = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return ret;
}

static int too_new(struct store *s, int64_t version)
{
	snprintf(s->errmsg, sizeof(s->errmsg),
		 "schema version %lld is newer than this build's %d: refusing to open it",
		 (long long)version, STORE_SCHEMA_VERSION);
	return -EPROTO;
}

static int set_wal(struct store *s)
{
	sqlite3_stmt *st = NULL;
	int ret = query_row(s, "PRAGMA journal_mode = WAL", &st);

	if (ret >= 0 && strcmp((const char *)sqlite3_column_text(st, 0) ?: "", "wal"))
		ret = fail_msg(s, -EIO, "cannot switch the journal to WAL");
	sqlite3_finalize(st);
	return ret;
}

/* SQLite may already have rolled back by itself (e.g. after an I/O error). */
static void rollback(struct store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int migrate(struct store *s)
{
	int64_t version;
	int ret = exec(s, "BEGIN IMMEDIATE");

	if (ret < 0)
		return ret;
	/* Another process may have written the schema since we looked. */
	ret = user_version(s, &version);
	if (ret >= 0 && version > STORE_SCHEMA_VERSION)
		ret = too_new(s, version);
	else if (ret >= 0 && version < STORE_SCHEMA_VERSION)
		ret = exec(s, schema);
	if (ret >= 0)
		ret = exec(s, schema_published);
	if (ret >= 0)
		ret = exec(s, "COMMIT");
	if (ret < 0)
		rollback(s);
	return ret;
}

static int prepare_all(struct store *s)
{
	for (int i = 0; i < ST__COUNT; i++) {
		int rc = sqlite3_prepare_v3(s->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT,
					    &s->st[i], NULL);
		if (rc != SQLITE_OK)
			return fail(s, rc);
	}
	return 0;
}

/* The version is read before anything is written, so a newer file keeps its
 * journal mode and contents. */
static int db_connect(struct store *s, const char *path)
{
	const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
	int64_t version;
	int rc, ret;

	rc = sqlite3_open_v2(path, &s->db, flags, NULL);
	if (rc != SQLITE_OK)
		return fail(s, rc);
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	ret = user_version(s, &version);
	if (ret < 0)
		return ret;
	if (version > STORE_SCHEMA_VERSION)
		return too_new(s, version);
	ret = exec(s, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL");
	if (ret < 0)
		return ret;
	ret = set_wal(s);
	if (ret < 0)
		return ret;
	if (version < STORE_SCHEMA_VERSION) {
		ret = migrate(s);
		if (ret < 0)
			return ret;
	}
	return prepare_all(s);
}

static int sync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	int fd, ret = 0;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* SQLite would create the file 0644 minus the umask. Its -wal and -shm files
 * copy the database's mode, so a private database keeps all three private. */
static int create_private(const char *path)
{
	const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW;
	bool created = true;
	struct stat st;
	mode_t mode;
	int fd, ret = 0;

	fd = open(path, flags | O_CREAT | O_EXCL, 0600);
	if (fd < 0 && errno == EEXIST) {
		created = false;
		fd = open(path, flags);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto cleanup;
	}
	mode = created ? 0600 : st.st_mode & 0700;
	if ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0) {
		ret = -errno;
		goto cleanup;
	}
	if (created)
		ret = sync_dir_of(path);
cleanup:
	close(fd);
	return ret;
}

int store_open(const char *path, struct store **out)
{
	struct store *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	ret = create_private(path);
	if (ret < 0)
		goto cleanup;
	ret = db_connect(s, path);
	if (ret < 0) {
		log_err("store %s: %s", path, s->errmsg);
		goto cleanup;
	}
	*out = s;
	return 0;
cleanup:
	store_close(s);
	return ret;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s);
}

struct sqlite3 *store_db(struct store *s)
{
	return s ? s->db : NULL;
}

const char *store_errmsg(struct store *s)
{
	return s ? s->errmsg : "no store";
}

int store_backup(struct store *s, const char *path)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *b;
	int rc = sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);

	if (rc == SQLITE_OK) {
		b = sqlite3_backup_init(dst, "main", s->db, "main");
		rc = b ? sqlite3_backup_step(b, -1) : sqlite3_errcode(dst);
		if (b)
			sqlite3_backup_finish(b);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	if (rc != SQLITE_OK)
		snprintf(s->errmsg, sizeof(s->errmsg), "backup to %s: %s", path,
			 dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
	sqlite3_close(dst);
	return rc == SQLITE_OK ? 0 : -EIO;
}

/* Runs a write statement once, unless binding its parameters failed. */
static int step(struct store *s, sqlite3_stmt *st, int bind_rc)
{
	int rc = bind_rc == SQLITE_OK ? sqlite3_step(st) : bind_rc;
	int ret = rc == SQLITE_DONE ? 0 : fail(s, rc);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

static int tx_begin(struct store *s)
{
	return step(s, s->st[ST_BEGIN], SQLITE_OK);
}

static int tx_end(struct store *s, int ret)
{
	if (ret >= 0)
		ret = step(s, s->st[ST_COMMIT], SQLITE_OK);
	if (ret < 0)
		rollback(s);
	return ret;
}

/* Strings are bound SQLITE_STATIC: step() clears them before returning. */
static int bind_text(sqlite3_stmt *st, int i, const char *text)
{
	return sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC);
}

/* The event log is served as JSON: text it could not carry is refused here
 * rather than breaking every later read. */
static bool text_ok(const char *text)
{
	json_t *j;

	if (!text)
		return true;
	j = json_string(text);
	json_decref(j);
	return j != NULL;
}

static int check_event(struct store *s, const char *kind, const char *node, const char *detail)
{
	if (!kind)
		return fail_msg(s, -EINVAL, "an event needs a kind");
	if (!text_ok(kind) || !text_ok(node) || !text_ok(detail))
		return fail_msg(s, -EILSEQ, "event text is not valid UTF-8");
	return 0;
}

static int append_event(struct store *s, const char *kind, const char *node,
			const char *detail, int64_t wall, int64_t *id)
{
	sqlite3_stmt *st = s->st[ST_EVENT];
	int rc = sqlite3_bind_int64(st, 1, wall), ret;

	rc = rc ?: bind_text(st, 2, kind);
	rc = rc ?: bind_text(st, 3, node);
	rc = rc ?: bind_text(st, 4, detail ? detail : "");
	ret = step(s, st, rc);
	if (ret >= 0)
		*id = sqlite3_last_insert_rowid(s->db);
	return ret;
}

/* Unsigned values are stored as their int64 bit pattern and read back the
 * same way, so none is lost. */
static int upsert_node(struct store *s, const struct store_node *n)
{
	sqlite3_stmt *st = s->st[ST_NODE];
	int rc = bind_text(st, 1, n->name);

	rc = rc ?: bind_text(st, 2, n->state);
	rc = rc ?: sqlite3_bind_int64(st, 3, n->registered_wall);
	rc = rc ?: sqlite3_bind_int64(st, 4, n->last_seen_wall);
	rc = rc ?: sqlite3_bind_int64(st, 5, n->ncpu);
	rc = rc ?: sqlite3_bind_int64(st, 6, (int64_t)n->mem_total_kib);
	rc = rc ?: sqlite3_bind_int64(st, 7, (int64_t)n->mem_available_kib);
	rc = rc ?: sqlite3_bind_int64(st, 8, n->cpu_busy_permille);
	rc = rc ?: sqlite3_bind_int64(st, 9, n->guests_running);
	rc = rc ?: sqlite3_bind_int64(st, 10, (int64_t)n->last_seq);
	return step(s, st, rc);
}

int store_transition(struct store *s, const struct store_node *node, const char *kind,
		     const char *detail, int64_t wall, int64_t *event_id)
{
	const char *name = node ? node->name : NULL;
	bool upsert = node && node->state;
	int64_t id = 0;
	int ret;

	if (upsert && !name)
		return fail_msg(s, -EINVAL, "a node row needs a name");
	ret = check_event(s, kind, name, detail);
	if (ret < 0)
		return ret;
	ret = tx_begin(s);
	if (ret < 0)
		return ret;
	ret = append_event(s, kind, name, detail, wall, &id);
	if (ret >= 0 && upsert)
		ret = upsert_node(s, node);
	ret = tx_end(s, ret);
	if (ret >= 0 && event_id)
		*event_id = id;
	return ret;
}

int store_event(struct store *s, const char *kind, const char *node, const char *detail,
		int64_t wall, int64_t *event_id)
{
	const struct store_node ref = { .name = node };

	return store_transition(s, &ref, kind, detail, wall, event_id);
}

static int insert_placement(struct store *s, const struct store_placement *p, int64_t wall,
			    int64_t *id)
{
	sqlite3_stmt *st = s->st[ST_PLACEMENT];
	int rc = sqlite3_bind_int64(st, 1, wall), ret;

	rc = rc ?: bind_text(st, 2, p->node);
	rc = rc ?: bind_text(st, 3, p->guest_name);
	rc = rc ?: bind_text(st, 4, p->guest_type);
	rc = rc ?: sqlite3_bind_int64(st, 5, (int64_t)p->memory_bytes);
	rc = rc ?: sqlite3_bind_int64(st, 6, p->vcpus);
	rc = rc ?: bind_text(st, 7, p->origin);
	ret = step(s, st, rc);
	if (ret >= 0)
		*id = sqlite3_last_insert_rowid(s->db);
	return ret;
}

static char *placement_detail(const struct store_placement *p)
{
	char size[32], *detail;

	format_size(p->memory_bytes, size, sizeof(size));
	if (asprintf(&detail, "%s %s (%s, %u vCPU) for %s", p->guest_type,
		     p->guest_name ? p->guest_name : "(unnamed)", size, p->vcpus, p->origin) < 0)
		return NULL;
	return detail;
}

int store_placement(struct store *s, const struct store_placement *p, int64_t wall,
		    int64_t *placement_id)
{
	char *detail = NULL;
	int64_t id = 0, event_id;
	int ret;

	if (!p->node || !p->guest_type || !p->origin)
		return fail_msg(s, -EINVAL, "a placement needs a node, a guest type and an origin");
	detail = placement_detail(p);
	if (!detail)
		return fail_msg(s, -ENOMEM, "out of memory");
	ret = check_event(s, "placed", p->node, detail);
	if (ret < 0)
		goto cleanup;
	ret = tx_begin(s);
	if (ret < 0)
		goto cleanup;
	ret = insert_placement(s, p, wall, &id);
	if (ret >= 0)
		ret = append_event(s, "placed", p->node, detail, wall, &event_id);
	ret = tx_end(s, ret);
	if (ret >= 0 && placement_id)
		*placement_id = id;
cleanup:
	free(detail);
	return ret;
}

int store_checkpoint_seqs(struct store *s, const struct store_seq *seqs, size_t n)
{
	sqlite3_stmt *st = s->st[ST_SEQ];
	int ret;

	if (!n)
		return 0;
	ret = tx_begin(s);
	if (ret < 0)
		return ret;
	for (size_t i = 0; ret >= 0 && i < n; i++) {
		int rc = sqlite3_bind_int64(st, 1, (int64_t)seqs[i].seq);

		rc = rc ?: bind_text(st, 2, seqs[i].name);
		ret = step(s, st, rc);
	}
	return tx_end(s, ret);
}

static void row_node(sqlite3_stmt *st, struct store_node *n)
{
	*n = (struct store_node){
		.name = (const char *)sqlite3_column_text(st, 0),
		.state = (const char *)sqlite3_column_text(st, 1),
		.registered_wall = sqlite3_column_int64(st, 2),
		.last_seen_wall = sqlite3_column_int64(st, 3),
		.ncpu = (uint32_t)sqlite3_column_int64(st, 4),
		.mem_total_kib = (uint64_t)sqlite3_column_int64(st, 5),
		.mem_available_kib = (uint64_t)sqlite3_column_int64(st, 6),
		.cpu_busy_permille = (uint32_t)sqlite3_column_int64(st, 7),
		.guests_running = (uint32_t)sqlite3_column_int64(st, 8),
		.last_seq = (uint64_t)sqlite3_column_int64(st, 9),
	};
}

int store_nodes_each(struct store *s, store_node_fn fn, void *ctx)
{
	sqlite3_stmt *st = s->st[ST_NODES];
	struct store_node n;
	int rc, ret = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_node(st, &n);
		if (!n.name || !n.state) {
			ret = fail_msg(s, -ENOMEM, "out of memory");
			break;
		}
		ret = fn(ctx, &n);
		if (ret < 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = fail(s, rc);
	sqlite3_reset(st);
	return ret < 0 ? ret : 0;
}

static int append_event_json(json_t *list, sqlite3_stmt *st)
{
	json_t *ev = json_pack("{s:I, s:I, s:s, s:s?, s:s}",
			       "id", (json_int_t)sqlite3_column_int64(st, 0),
			       "time", (json_int_t)sqlite3_column_int64(st, 1),
			       "kind", (const char *)sqlite3_column_text(st, 2),
			       "node", (const char *)sqlite3_column_text(st, 3),
			       "detail", (const char *)sqlite3_column_text(st, 4));

	return ev ? json_array_append_new(list, ev) : -1;
}

/* Steps a bound query to its end, one JSON object per row. */
static int event_rows(struct store *s, sqlite3_stmt *st, int rc, json_t **out)
{
	json_t *list = json_array();
	int ret = 0;

	if (rc == SQLITE_OK && !list)
		rc = SQLITE_NOMEM;
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && append_event_json(list, st) < 0)
			rc = SQLITE_NOMEM;
	}
	if (rc == SQLITE_DONE) {
		*out = list;
		list = NULL;
	} else {
		ret = fail(s, rc);
	}
	json_decref(list);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

int store_events_json(struct store *s, int64_t since_id, unsigned limit, json_t **out)
{
	sqlite3_stmt *st = s->st[ST_EVENTS_SINCE];
	int rc = sqlite3_bind_int64(st, 1, since_id);

	rc = rc ?: sqlite3_bind_int64(st, 2, limit ? limit : EVENTS_DEFAULT_LIMIT);
	return event_rows(s, st, rc, out);
}

int store_events_tail_json(struct store *s, unsigned limit, json_t **out)
{
	sqlite3_stmt *st = s->st[ST_EVENTS_TAIL];
	int rc = sqlite3_bind_int64(st, 1, limit ? limit : EVENTS_DEFAULT_LIMIT);

	return event_rows(s, st, rc, out);
}

static int upsert_guest(struct store *s, const struct store_guest *g)
{
	sqlite3_stmt *st = s->st[ST_GUEST];
	int rc = bind_text(st, 1, g->name);

	rc = rc ?: bind_text(st, 2, g->type);
	rc = rc ?: bind_text(st, 3, g->node);
	rc = rc ?: sqlite3_bind_int64(st, 4, (int64_t)g->memory_bytes);
	rc = rc ?: sqlite3_bind_int64(st, 5, g->vcpus);
	rc = rc ?: bind_text(st, 6, g->state);
	rc = rc ?: bind_text(st, 7, g->detail);
	rc = rc ?: bind_text(st, 8, g->accel);
	rc = rc ?: sqlite3_bind_int64(st, 9, g->created);
	rc = rc ?: sqlite3_bind_int64(st, 10, g->updated);
	return step(s, st, rc);
}

int store_guest(struct store *s, const struct store_guest *g, const char *kind,
		const char *detail, int64_t wall)
{
	int64_t id;
	int ret;

	if (!g->name || !g->type || !g->node || !g->state)
		return fail_msg(s, -EINVAL, "a guest needs a name, type, node and state");
	if (!text_ok(g->detail))
		return fail_msg(s, -EILSEQ, "guest detail is not valid UTF-8");
	ret = kind ? check_event(s, kind, g->node, detail) : 0;
	if (ret < 0)
		return ret;
	ret = tx_begin(s);
	if (ret < 0)
		return ret;
	ret = upsert_guest(s, g);
	if (ret >= 0 && kind)
		ret = append_event(s, kind, g->node, detail, wall, &id);
	return tx_end(s, ret);
}

int store_guest_forget(struct store *s, const char *name, const char *node, const char *kind,
		       const char *detail, int64_t wall)
{
	int64_t id;
	int ret;

	if (!name || !node)
		return fail_msg(s, -EINVAL, "a guest to forget needs a name and a node");
	ret = check_event(s, kind, node, detail);
	if (ret < 0)
		return ret;
	ret = tx_begin(s);
	if (ret < 0)
		return ret;
	ret = step(s, s->st[ST_GUEST_DEL], bind_text(s->st[ST_GUEST_DEL], 1, name));
	if (ret >= 0)
		ret = step(s, s->st[ST_PUB_DEL_GUEST], bind_text(s->st[ST_PUB_DEL_GUEST], 1, name));
	if (ret >= 0)
		ret = append_event(s, kind, node, detail, wall, &id);
	return tx_end(s, ret);
}

static const char *column_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

int store_guests_each(struct store *s, store_guest_fn fn, void *ctx)
{
	sqlite3_stmt *st = s->st[ST_GUESTS];
	int rc, ret = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_guest g = {
			.name = column_text(st, 0), .type = column_text(st, 1),
			.node = column_text(st, 2),
			.memory_bytes = (uint64_t)sqlite3_column_int64(st, 3),
			.vcpus = (uint32_t)sqlite3_column_int64(st, 4),
			.state = column_text(st, 5), .detail = column_text(st, 6),
			.accel = column_text(st, 7), .created = sqlite3_column_int64(st, 8),
			.updated = sqlite3_column_int64(st, 9),
		};

		ret = fn(ctx, &g);
		if (ret < 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = fail(s, rc);
	sqlite3_reset(st);
	return ret < 0 ? ret : 0;
}

/* ---- published ports ---- */

static int publish_event(struct store *s, const struct store_pub *p, const char *kind,
			 const char *node, int64_t wall)
{
	char detail[160];
	int64_t id;

	snprintf(detail, sizeof(detail), "%s %s/%u on host port %u", p->guest, p->proto,
		 (unsigned)p->port, (unsigned)p->host_port);
	return append_event(s, kind, node, detail, wall, &id);
}

int store_publish(struct store *s, const struct store_pub *p, bool add, const char *node,
		  int64_t wall)
{
	sqlite3_stmt *st = s->st[add ? ST_PUB_ADD : ST_PUB_DEL];
	int rc, ret;

	if (!p->guest || !p->proto || !node)
		return fail_msg(s, -EINVAL, "a published port needs a guest, a protocol and a node");
	ret = tx_begin(s);
	if (ret < 0)
		return ret;
	rc = bind_text(st, 1, p->guest);
	rc = rc ?: bind_text(st, 2, p->proto);
	rc = rc ?: sqlite3_bind_int(st, 3, p->port);
	if (add)
		rc = rc ?: sqlite3_bind_int(st, 4, p->host_port);
	ret = step(s, st, rc);
	if (ret >= 0)
		ret = publish_event(s, p, add ? "published" : "unpublished", node, wall);
	return tx_end(s, ret);
}

int store_published_each(struct store *s, store_pub_fn fn, void *ctx)
{
	sqlite3_stmt *st = s->st[ST_PUBS];
	int rc, ret = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_pub p = {
			.guest = column_text(st, 0), .proto = column_text(st, 1),
			.port = (unsigned)sqlite3_column_int(st, 2),
			.host_port = (unsigned)sqlite3_column_int(st, 3),
		};

		ret = fn(ctx, &p);
		if (ret < 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = fail(s, rc);
	sqlite3_reset(st);
	return ret < 0 ? ret : 0;
}
