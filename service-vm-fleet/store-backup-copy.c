#include "service-vm-fleet/store-backup-copy.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "lib/log.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS backup_copies ("
	" guest TEXT PRIMARY KEY NOT NULL,"
	" backup TEXT NOT NULL,"
	" source TEXT NOT NULL,"
	" target TEXT NOT NULL,"
	" restore_id TEXT NOT NULL DEFAULT '',"
	" keep INTEGER NOT NULL DEFAULT 0,"
	" state TEXT NOT NULL,"
	" bytes INTEGER NOT NULL DEFAULT 0,"
	" total INTEGER NOT NULL DEFAULT 0,"
	" started INTEGER NOT NULL,"
	" ended INTEGER NOT NULL DEFAULT 0,"
	" detail TEXT NOT NULL DEFAULT '');";

static int sq_fail(sqlite3 *db, const char *what)
{
	int rc = sqlite3_errcode(db);

	log_err("store: %s: %s", what, sqlite3_errmsg(db));
	return rc == SQLITE_FULL ? -ENOSPC : rc == SQLITE_BUSY ? -EBUSY : -EIO;
}

int store_backup_copies_init(struct store *s)
{
	sqlite3 *db = store_db(s);

	if (!db || sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK)
		return db ? sq_fail(db, "backup_copies table") : -EINVAL;
	return 0;
}

int store_backup_copy_put(struct store *s, const struct backup_copy *bc)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	int rc;

	if (!db)
		return -EINVAL;
	rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO backup_copies (guest, backup, source, "
				"target, restore_id, keep, state, bytes, total, started, ended, detail) "
				"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, bc->guest, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, bc->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, bc->source, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, bc->target, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, bc->restore, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, bc->keep);
		sqlite3_bind_text(st, 7, copy_state_name(bc->state), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 8, (sqlite3_int64)bc->bytes);
		sqlite3_bind_int64(st, 9, (sqlite3_int64)bc->total);
		sqlite3_bind_int64(st, 10, bc->started);
		sqlite3_bind_int64(st, 11, bc->ended);
		sqlite3_bind_text(st, 12, bc->detail, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : sq_fail(db, "recording a backup copy");
}

static void copy(char *dst, size_t len, const unsigned char *src)
{
	snprintf(dst, len, "%s", src ? (const char *)src : "");
}

static void read_row(sqlite3_stmt *st, struct backup_copy *bc)
{
	sqlite3_int64 keep = sqlite3_column_int64(st, 5);

	copy(bc->guest, sizeof(bc->guest), sqlite3_column_text(st, 0));
	copy(bc->id, sizeof(bc->id), sqlite3_column_text(st, 1));
	copy(bc->source, sizeof(bc->source), sqlite3_column_text(st, 2));
	copy(bc->target, sizeof(bc->target), sqlite3_column_text(st, 3));
	copy(bc->restore, sizeof(bc->restore), sqlite3_column_text(st, 4));
	bc->keep = keep > 0 && keep <= 10000 ? (unsigned)keep : 0;
	bc->bytes = (uint64_t)sqlite3_column_int64(st, 7);
	bc->total = (uint64_t)sqlite3_column_int64(st, 8);
	bc->started = sqlite3_column_int64(st, 9);
	bc->ended = sqlite3_column_int64(st, 10);
	copy(bc->detail, sizeof(bc->detail), sqlite3_column_text(st, 11));
	if (copy_state_parse((const char *)sqlite3_column_text(st, 6), &bc->state) < 0) {
		log_warn("store: the copy of %s's backup has an unknown state; it is taken as failed",
			 bc->guest);
		bc->state = COPY_FAILED;
	}
}

int store_backup_copies_each(struct store *s, store_backup_copy_fn fn, void *ctx)
{
	sqlite3 *db = store_db(s);
	sqlite3_stmt *st = NULL;
	int rc = SQLITE_ROW, ret = 0;

	if (!db || sqlite3_prepare_v2(db, "SELECT guest, backup, source, target, restore_id, keep, "
				      "state, bytes, total, started, ended, detail FROM backup_copies "
				      "ORDER BY guest", -1, &st, NULL) != SQLITE_OK)
		return db ? sq_fail(db, "reading backup copies") : -EINVAL;
	while (ret >= 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct backup_copy bc = { 0 };

		read_row(st, &bc);
		ret = fn(ctx, &bc);
	}
	if (ret >= 0 && rc != SQLITE_DONE)
		ret = sq_fail(db, "reading backup copies");
	sqlite3_finalize(st);
	return ret;
}
