/* The backup_copies table of fleet.db (service-vm-fleet/backup-copies.h):
 * each guest's last copy of a backup to another node, one row per guest,
 * written when the copy begins and when it ends, never on progress. The
 * copy's token is not stored: it authorised one transfer, which a
 * restarted fleet cannot resume. Made where missing (an older build ignores
 * it). */
#pragma once

#include "service-vm-fleet/backup-copies.h"
#include "service-vm-fleet/store.h"

int store_backup_copies_init(struct store *s);
/* Writes the guest's row (insert or replace). */
int store_backup_copy_put(struct store *s, const struct backup_copy *bc);
/* Calls fn for every row, by guest, the token empty; stops on a negative
 * return and returns it. bc lives until fn returns; fn must not call back
 * into the store. An unknown state is read as failed. */
typedef int (*store_backup_copy_fn)(void *ctx, const struct backup_copy *bc);
int store_backup_copies_each(struct store *s, store_backup_copy_fn fn, void *ctx);
