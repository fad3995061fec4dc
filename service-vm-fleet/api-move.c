/* The operator API of a cold move: vm-move (the plan), vm-move-confirm,
 * vm-move-cancel, vm-move-show and vm-release-source. Like a creation, a
 * move takes a plan and an explicit confirmation of it; the fleet then
 * records the move and sends its steps (fleet-move.h). */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/units.h"
#include "service-vm-fleet/api.h"
#include "service-vm-fleet/api-internal.h"
#include "service-vm-fleet/fleet-move.h"
#include "service-vm-fleet/move-room.h"
#include "service-vm-fleet/store-move.h"

bool api_node_live(const struct fleet *f, const char *name)
{
	const struct node *n = registry_find(&f->reg, name);

	return n && n->state == NODE_LIVE;
}

/* Why the guest cannot move now, or NULL. */
static const char *why_not(const struct fleet *f, const struct guest *g, const char *to,
			   char *buf, size_t len)
{
	const struct move *mv = moves_find(&f->moves, g->name);

	if (mv && mv->phase == MP_KEPT)
		snprintf(buf, len, "%s moved from %s, whose copy is kept: release it first "
			 "(vm release-source %s)", g->name, mv->source, g->name);
	else if (mv)
		snprintf(buf, len, "%s is being moved from %s to %s (%s)", g->name, mv->source,
			 mv->target, move_phase_name(mv->phase));
	else if (guest_state_pending(g->state) || g->state == GS_FAILED)
		snprintf(buf, len, "%s is %s: only a created guest moves", g->name,
			 guest_state_name(g->state));
	else if (!strcmp(g->node, to))
		snprintf(buf, len, "%s is on %s already", g->name, to);
	else if (!api_node_live(f, g->node))
		snprintf(buf, len, "%s's node %s is not live: it must stop the guest and send it", g->name,
			 g->node);
	else if (!api_node_live(f, to) || !fleet_node_addr(f, to))
		snprintf(buf, len, "%s is not a live node the fleet has heard since it started", to);
	else if (api_transfer_port_busy(f, to))
		snprintf(buf, len, "%s is receiving another transfer (a move or a backup's copy): try "
			 "again when it ends", to);
	else
		return NULL;
	return buf;
}

static json_int_t bytes_json(uint64_t n)
{
	return n > INT64_MAX ? INT64_MAX : (json_int_t)n;
}

/* The target's room, asked like a creation's plan (place --node). */
static json_t *room(struct fleet *f, const struct guest *g, const char *to, const char *caller)
{
	json_t *q = json_pack("{s:s, s:I, s:I, s:s, s:s}", "op", "place",
			      "memory_bytes", (json_int_t)g->memory_bytes, "vcpus", (json_int_t)g->vcpus,
			      "type", g->type, "node", to);
	json_t *r = api_handle(f, q, caller), *fail = NULL;
	const char *why;
	char size[32];

	json_decref(q);
	if (!json_is_true(json_object_get(r, "ok")))
		return r;
	if (!json_is_true(json_object_get(r, "fits"))) {
		why = json_string_value(json_object_get(json_array_get(json_object_get(r, "excluded"), 0),
							"why"));
		format_size(g->memory_bytes, size, sizeof(size));
		fail = api_fail("%s cannot take %s and %u vCPUs now: %s", to, size, g->vcpus,
				why ? why : "excluded");
	}
	json_decref(r);
	return fail;
}

json_t *op_vm_move(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const char *to = json_string_value(json_object_get(req, "to"));
	const struct guest *g = name ? guests_find(&f->guests, name) : NULL;
	struct move_plan *p;
	struct move_room mr;
	char why[400], room_line[400];
	json_t *r;

	if (!g)
		return api_fail("no guest named '%s'", name ? name : "");
	if (!to || !node_name_valid(to))
		return api_fail("\"to\" must name the node to move to (a Totebox, like every guest, "
				"moves only to the node you name)");
	if (why_not(f, g, to, why, sizeof(why)))
		return api_fail("%s", why);
	if ((r = room(f, g, to, caller)))
		return r;
	if (move_room_check(f, g, to, clock_wall_s(), &mr, why, sizeof(why)))
		return api_fail("%s", why);
	move_room_text(&mr, g, to, room_line, sizeof(room_line));
	if (moves_plan(&f->moves, g->name, g->node, to, now, f->cfg.plan_ttl_ms * NSEC_PER_MSEC, &p) < 0)
		return api_fail("out of memory");
	return json_pack("{s:b, s:{s:s, s:I, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:o, s:o, s:o, s:o, s:s}}",
		"ok", 1, "plan",
		"token", p->token, "expires_in_s", (json_int_t)((p->expires_ns - now) / NSEC_PER_SEC),
		"name", g->name, "type", g->type, "source", p->source, "target", p->target,
		"memory_bytes", (json_int_t)g->memory_bytes, "vcpus", (json_int_t)g->vcpus,
		"volumes", "the data volumes, in one archive the source signs; the root disk is "
		"rebuilt on the same base image, which the target must hold",
		"data_volumes", mr.data_known ? json_integer(mr.data_volumes) : json_null(),
		"data_bytes", mr.data_known ? json_integer(bytes_json(mr.data_bytes)) : json_null(),
		"target_pool_free_bytes", mr.pool_known ? json_integer(bytes_json(mr.pool_free)) : json_null(),
		"room_needed_bytes", mr.data_known ? json_integer(bytes_json(mr.need)) : json_null(),
		"room", room_line);
}

json_t *op_vm_move_confirm(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	const char *token = json_string_value(json_object_get(req, "token"));
	const char *how = json_string_value(json_object_get(req, "how"));
	struct move_plan p;
	struct move_room mr;
	struct guest *g;
	struct move *mv;
	char why[400], text[512];
	int ret;

	if (!token || !how || (strcmp(how, "cli-yes") && strcmp(how, "cli-interactive") &&
			       strcmp(how, "panel-f9")))
		return api_fail("\"token\" and \"how\" (cli-yes, cli-interactive, panel-f9) are required");
	ret = moves_take_plan(&f->moves, token, now, &p);
	if (ret == -ETIMEDOUT)
		return api_fail("the move plan for '%s' expired unconfirmed; nothing moved", p.guest);
	if (ret < 0)
		return api_fail("no such move plan (it may have expired, or been confirmed already)");
	g = guests_find(&f->guests, p.guest);
	if (!g || strcmp(g->node, p.source))
		return api_fail("'%s' changed since the plan; ask for a new one", p.guest);
	if (why_not(f, g, p.target, why, sizeof(why)) ||
	    move_room_check(f, g, p.target, clock_wall_s(), &mr, why, sizeof(why)))
		return api_fail("%s", why);
	if (moves_begin(&f->moves, &p, clock_wall_s(), &mv) < 0)
		return api_fail("cannot record the move of '%s'", p.guest);
	snprintf(mv->detail, sizeof(mv->detail), "confirmed by %s (%s)", caller, how);
	snprintf(text, sizeof(text), "move of %s from %s to %s confirmed by %s (%s)", mv->guest,
		 mv->source, mv->target, caller, how);
	if (store_move_put(f->store, mv, "move-confirmed", mv->source, text, clock_wall_s()) < 0) {
		f->store_errors++;
		moves_remove(&f->moves, p.guest);
		return api_fail("cannot record the move of '%s'", p.guest);
	}
	log_info("%s", text);
	snprintf(g->detail, sizeof(g->detail), "moving to %s", mv->target);
	fleet_moves_pump(f, clock_mono_ns());
	sodium_memzero(&p, sizeof(p));
	return json_pack("{s:b, s:o}", "ok", 1, "move", move_json(moves_find(&f->moves, g->name)));
}

json_t *op_vm_move_cancel(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	const char *token = json_string_value(json_object_get(req, "token"));
	struct move_plan p;

	if (moves_take_plan(&f->moves, token, now, &p) == -ENOENT)
		return api_fail("no such move plan (it may have expired already)");
	log_info("move plan of %s declined by %s; nothing moved", p.guest, caller);
	return json_pack("{s:b}", "ok", 1);
}

json_t *op_vm_move_show(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const struct move *mv = name ? moves_find(&f->moves, name) : NULL;
	const struct guest *g = name ? guests_find(&f->guests, name) : NULL;

	if (!mv && !g)
		return api_fail("no guest named '%s'", name ? name : "");
	return json_pack("{s:b, s:o}", "ok", 1, "move", mv ? move_json(mv) : json_null());
}

json_t *op_vm_release_source(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	struct move *mv = name ? moves_find(&f->moves, name) : NULL;

	if (!mv)
		return api_fail("'%s' has no moved-away copy kept anywhere", name ? name : "");
	if (mv->phase != MP_KEPT)
		return api_fail("the move of %s is %s: its source copy is released only once the move "
				"is done", mv->guest, move_phase_name(mv->phase));
	if (!api_node_live(f, mv->source))
		return api_fail("%s's source node %s is not live", mv->guest, mv->source);
	log_info("release of %s's copy on %s asked by %s", mv->guest, mv->source, caller);
	mv->want |= 1u << MS_RELEASE;
	mv->retry_ns = 0;
	fleet_moves_pump(f, clock_mono_ns());
	return json_pack("{s:b, s:o}", "ok", 1, "move", move_json(mv));
}
