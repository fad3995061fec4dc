/* The moves table of fleet.db (service-vm-fleet/moves.h): one row per
 * recorded move, written with its event in one transaction, so a fleet
 * killed at any instant finds each move's last recorded phase. Made where
 * missing (an older build ignores it). */
#pragma once
#include <stdint.h>

#include "service-vm-fleet/moves.h"
#include "service-vm-fleet/store.h"

int store_moves_init(struct store *s);
/* Writes the row (insert or replace) and, with kind, its event on node. */
int store_move_put(struct store *s, const struct move *mv, const char *kind, const char *node,
		   const char *detail, int64_t wall);
/* Deletes the row and appends its event on node. */
int store_move_del(struct store *s, const char *guest, const char *kind, const char *node,
		   const char *detail, int64_t wall);
typedef int (*store_move_fn)(void *ctx, const struct move *mv);
int store_moves_each(struct store *s, store_move_fn fn, void *ctx);
