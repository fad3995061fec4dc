/* Room for a move on its target, as the fleet knows it before anything is
 * shut down: each node's agent names, in its addresses reply (every 15 s,
 * docs/protocol.md section 5), its storage pool's free bytes and the size
 * of each guest's data volumes. A move's plan (and its confirmation) is
 * refused when the target's pool is short of what the target's import
 * would ask for (virt/virt-import.c, import_room): the archive's bound for
 * the source's volumes and IMPORT_ROOM_SLACK. Where either figure is not
 * known (an older agent, no reply yet) the transfer's own check decides,
 * as before. */
#pragma once
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "service-vm-fleet/guests.h"

struct fleet;

/* What a move of nvol data volumes of data_bytes in all needs on the
 * target's pool (UINT64_MAX past the arithmetic). */
uint64_t move_room_need(uint32_t nvol, uint64_t data_bytes);

/* Takes node's addresses reply m: "pool_free_bytes" for the node, each
 * "guests" entry's "data_volumes" and "data_bytes" for that guest if the
 * fleet has it on node. What the reply does not name (or names malformed)
 * is forgotten. */
void fleet_room_report(struct fleet *f, const char *node, const json_t *m, int64_t wall);

/* A figure older than this (four addresses rounds missed) is not known:
 * a node whose replies stopped may have filled or freed its pool since. */
#define ROOM_FRESH_S 60

struct move_room {
	bool pool_known, data_known;
	int64_t pool_age, data_age;      /* seconds since the report, -1 for none */
	uint64_t pool_free, data_bytes, need;
	uint32_t data_volumes;
};

/* The room for moving g to node to at wall time now, into *r (a figure
 * older than ROOM_FRESH_S counts as unknown). Returns NULL when it fits or is not known (r says which), else the
 * refusal, in buf: one line naming the numbers. */
const char *move_room_check(const struct fleet *f, const struct guest *g, const char *to,
			    int64_t now, struct move_room *r, char *buf, size_t len);
/* One line for the plan: what was checked, or why it was not. */
void move_room_text(const struct move_room *r, const struct guest *g, const char *to,
		    char *buf, size_t len);
