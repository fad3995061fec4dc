/* The fleet's side of a cold move (moves.h holds the bookkeeping): what an
 * agent's answer changes in the move, the guest and fleet.db, and which
 * steps go out next. The sending itself is f->move_send (server-move.c). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "service-vm-fleet/fleet.h"

/* Reads the recorded moves back (after a restart): each is resumed
 * (moves_resume), a moved guest's row follows its target. */
int fleet_moves_load(struct fleet *f);
/* A progress line of step s: {"state","detail","bytes","total"}; an end
 * state settles the step (ok when it is the step's done state). */
void fleet_move_line(struct fleet *f, const char *guest, enum move_step s, const json_t *line);
/* The step ended without an end state (the connection failed). */
void fleet_move_lost(struct fleet *f, const char *guest, enum move_step s, const char *why);
/* node was evicted (why says how long it was silent): the transfers it
 * takes part in are undone now (move_node_lost), recorded as aborting. */
void fleet_moves_node_lost(struct fleet *f, const char *node, const char *why);
/* Sends what every move needs now through f->move_send. */
void fleet_moves_pump(struct fleet *f, uint64_t now);
/* {"guest","source","target","phase","bytes","total","started","detail"} */
json_t *move_json(const struct move *mv);
