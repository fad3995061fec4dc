#include "service-vm-fleet/store-move.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS moves ("
	" guest TEXT PRIMARY KEY NOT NULL,"
	" source TEXT NOT NULL,"
	" target TEXT NOT NULL,"
	" phase TEXT NOT NULL,"
	" token TEXT NOT NULL,"
	" bytes INTEGER NOT NULL DEFAULT 0,"
	" total INTEGER NOT NULL DEFAULT 0,"
	" started INTEGER NOT NULL,"
	" detail TEXT NOT NULL DEFAULT '');";

static int sq_fail(sqlite3 *db, const char *what)
{
	int rc = sqlite3_errcode(db);

	log_err("store: %s: %s", what, sqlite3_errmsg(db));
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc == SQLITE_FULL ? -ENOSPC : rc == SQLITE_BUSY ? -EBUSY : -EIO;
}

int store_moves_init(struct store *s)
{
	sqlite3 *db = store_db(s);

	if (!db || sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK)
		return db ? sq_fail(db, "moves table") : -EINVAL;
	return 0;
}

static int event(sqlite3 *db, const char *kind, const char *node, const char *detail, int64_t wall)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "INSERT INTO events (time, kind, node, detail) "
				    "VALUES (?1, ?2, ?3, ?4)", -1, &st, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, wall);
		sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, node, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, detail ? detail : "", -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int row(sqlite3 *db, const struct move *mv)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO moves (guest, source, target, phase, "
				    "token, bytes, total, started, detail) VALUES "
				    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", -1, &st, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, mv->guest, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, mv->source, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, mv->target, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, move_phase_name(mv->phase), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, mv->token, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)mv->bytes);
		sqlite3_bind_int64(st, 7, (sqlite3_int64)mv->total);
		sqlite3_bind_int64(st, 8, mv->started);
		sqlite3_bind_text(st, 9, mv->detail, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

int store_move_put(struct store *s, const struct move *mv, const char *kind, const char *node,
		   const char *detail, int64_t wall)
{
	sqlite3 *db = store_db(s);

	if (!db || sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db ? sq_fail(db, "begin") : -EINVAL;
	if (row(db, mv) < 0 || (kind && event(db, kind, node, detail, wall) < 0) ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(db, "recording a move");
	return 0;
}

int store_move_del(struct store *s, const char *guest, const char *kind, const char *node,
		   const char *detail, int64_t wall)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	int rc;

	if (!db || sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db ? sq_fail(db, "begin") : -EINVAL;
	rc = sqlite3_prepare_v2(db, "DELETE FROM moves WHERE guest = ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, guest, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE || event(db, kind, node, detail, wall) < 0 ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(db, "forgetting a move");
	return 0;
}

static void copy(char *dst, size_t len, const unsigned char *src)
{
	snprintf(dst, len, "%s", src ? (const char *)src : "");
}

int store_moves_each(struct store *s, store_move_fn fn, void *ctx)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	int rc, ret = 0;

	if (!db || sqlite3_prepare_v2(db, "SELECT guest, source, target, phase, token, bytes, total, "
				      "started, detail FROM moves ORDER BY guest", -1, &st, NULL) != SQLITE_OK)
		return db ? sq_fail(db, "reading moves") : -EINVAL;
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct move mv = { 0 };

		copy(mv.guest, sizeof(mv.guest), sqlite3_column_text(st, 0));
		copy(mv.source, sizeof(mv.source), sqlite3_column_text(st, 1));
		copy(mv.target, sizeof(mv.target), sqlite3_column_text(st, 2));
		copy(mv.token, sizeof(mv.token), sqlite3_column_text(st, 4));
		mv.bytes = (uint64_t)sqlite3_column_int64(st, 5);
		mv.total = (uint64_t)sqlite3_column_int64(st, 6);
		mv.started = sqlite3_column_int64(st, 7);
		copy(mv.detail, sizeof(mv.detail), sqlite3_column_text(st, 8));
		if (move_phase_parse((const char *)sqlite3_column_text(st, 3), &mv.phase) < 0) {
			log_warn("store: move of %s has an unknown phase; it is taken as aborting", mv.guest);
			mv.phase = MP_ABORTING;
		}
		ret = fn(ctx, &mv);
	}
	sqlite3_finalize(st);
	return ret;
}
