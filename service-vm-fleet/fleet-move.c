#include "service-vm-fleet/fleet-move.h"

#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/guest-ops.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "service-vm-fleet/store-move.h"

json_t *move_json(const struct move *mv)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s}", "guest", mv->guest,
			 "source", mv->source, "target", mv->target, "phase", move_phase_name(mv->phase),
			 "bytes", (json_int_t)mv->bytes, "total", (json_int_t)mv->total,
			 "started", (json_int_t)mv->started, "detail", mv->detail);
}

static void guest_save(struct fleet *f, struct guest *g, const char *kind, const char *text)
{
	struct store_guest row = {
		.name = g->name, .type = g->type, .node = g->node,
		.state = guest_state_name(g->state), .detail = g->detail[0] ? g->detail : NULL,
		.accel = g->accel[0] ? g->accel : NULL, .memory_bytes = g->memory_bytes,
		.vcpus = g->vcpus, .created = g->created, .updated = g->updated,
	};

	if (store_guest(f->store, &row, kind, text, clock_wall_s()) < 0) {
		f->store_errors++;
		log_err("store: cannot record guest %s: %s", g->name, store_errmsg(f->store));
	}
}

static void guest_set(struct fleet *f, const char *name, const char *node, enum guest_state st,
		      const char *detail, const char *kind)
{
	struct guest *g = guests_find(&f->guests, name);
	char text[GUEST_NAME_MAX + 32 + sizeof(((struct guest *)0)->detail)];

	if (!g)
		return;
	if (node)
		snprintf(g->node, sizeof(g->node), "%s", node);
	g->state = st;
	g->updated = clock_wall_s();
	if (st != GS_RUNNING)
		guest_set_address(g, NULL);
	sanitize_text(g->detail, sizeof(g->detail), detail ? detail : "");
	snprintf(text, sizeof(text), "%s %s: %s", g->name, guest_state_name(st), g->detail);
	guest_save(f, g, kind, kind ? text : NULL);
}

static void record(struct fleet *f, struct move *mv, const char *kind)
{
	char text[1024];

	snprintf(text, sizeof(text), "move of %s from %s to %s: %s%s%s", mv->guest, mv->source,
		 mv->target, move_phase_name(mv->phase), mv->detail[0] ? ": " : "", mv->detail);
	if (store_move_put(f->store, mv, kind, mv->source, kind ? text : NULL, clock_wall_s()) < 0)
		f->store_errors++;
	if (kind)
		log_info("%s", text);
}

static int resume(void *ctx, const struct move *stored)
{
	struct fleet *f = ctx;
	struct move *mv;

	if (moves_resume(&f->moves, stored) < 0)
		return 0;
	mv = moves_find(&f->moves, stored->guest);
	if (mv->phase == MP_MOVED || mv->phase == MP_KEPT) {
		const struct guest *g = guests_find(&f->guests, mv->guest);

		if (g && strcmp(g->node, mv->target))
			guest_set(f, mv->guest, mv->target, GS_RUNNING, "moved (the fleet restarted)", NULL);
	}
	if (mv->phase == MP_ABORTING)
		record(f, mv, stored->phase == MP_ABORTING ? NULL : "move-aborting");
	log_info("move of %s from %s to %s resumed: %s", mv->guest, mv->source, mv->target,
		 move_phase_name(mv->phase));
	return 0;
}

int fleet_moves_load(struct fleet *f)
{
	int ret = store_moves_init(f->store);

	return ret < 0 ? ret : store_moves_each(f->store, resume, f);
}

static void forget(struct fleet *f, struct move *mv)
{
	char text[1024], guest[GUEST_NAME_MAX + 1];
	bool aborted = mv->phase == MP_ABORTING;

	snprintf(guest, sizeof(guest), "%s", mv->guest);
	if (aborted) {
		if (mv->source_running)
			snprintf(text, sizeof(text), "move of %s to %s failed and was undone: %s; it stays "
				 "on %s, running", mv->guest, mv->target, mv->detail, mv->source);
		else
			snprintf(text, sizeof(text), "move of %s to %s failed and was undone: %s; it stays "
				 "on %s, stopped (vm start %s)", mv->guest, mv->target, mv->detail,
				 mv->source, mv->guest);
		guest_set(f, guest, mv->source, mv->source_running ? GS_RUNNING : GS_STOPPED, text,
			  "guest-state");
	} else {
		snprintf(text, sizeof(text), "move of %s: the copy kept on %s is released", mv->guest,
			 mv->source);
	}
	if (store_move_del(f->store, guest, aborted ? "move-failed" : "move-released", mv->source, text,
			   clock_wall_s()) < 0)
		f->store_errors++;
	log_msg(aborted ? LOG_LVL_WARN : LOG_LVL_INFO, "%s", text);
	moves_remove(&f->moves, guest);
}

static void settle(struct fleet *f, struct move *mv, enum move_step s, bool ok, const char *detail)
{
	enum move_effect e;
	char text[sizeof(mv->detail)];

	sanitize_text(text, sizeof(text), detail ? detail : "");
	e = move_answer(mv, s, ok, text, clock_mono_ns());
	if (!ok)
		log_warn("move of %s: %s on %s failed: %s", mv->guest, move_step_verb(s),
			 move_step_to_source(s) ? mv->source : mv->target, text);
	if (ok && s == MS_ABORT_SOURCE)
		mv->source_running = strstr(text, "(running)") != NULL;
	if (ok && s == MS_OUT)
		guest_set(f, mv->guest, NULL, GS_STOPPED, "moving: stopped and sent", "guest-state");
	if (e == ME_MOVED) {
		record(f, mv, "move-moved");
		snprintf(text, sizeof(text), "moved from %s", mv->source);
		guest_set(f, mv->guest, mv->target, GS_RUNNING, text, "guest-moved");
	} else if (e == ME_RECORD) {
		record(f, mv, mv->phase == MP_ABORTING ? "move-aborting" : "move-phase");
	} else if (e == ME_FORGET) {
		forget(f, mv);
	}
	fleet_moves_pump(f, clock_mono_ns());
}

void fleet_move_line(struct fleet *f, const char *guest, enum move_step s, const json_t *line)
{
	struct move *mv = moves_find(&f->moves, guest);
	const char *st = json_string_value(json_object_get(line, "state"));
	const char *detail = json_string_value(json_object_get(line, "detail"));
	const char *done = s == MS_START ? "running" : guest_op_find(move_step_verb(s))->done_state;
	char text[200];

	if (!mv || !st)
		return;
	if (!strcmp(st, done) || !strcmp(st, "failed"))
		return settle(f, mv, s, strcmp(st, "failed") != 0, detail);
	sanitize_text(text, sizeof(text), detail ? detail : st);
	move_progress(mv, (uint64_t)json_integer_value(json_object_get(line, "bytes")),
		      (uint64_t)json_integer_value(json_object_get(line, "total")), text);
}

void fleet_move_lost(struct fleet *f, const char *guest, enum move_step s, const char *why)
{
	struct move *mv = moves_find(&f->moves, guest);

	if (mv && (mv->flying & (1u << s)))
		settle(f, mv, s, false, why);
}

void fleet_moves_node_lost(struct fleet *f, const char *node, const char *why)
{
	char text[sizeof(f->moves.list[0].detail)];

	snprintf(text, sizeof(text), "%s was evicted: %s", node, why);
	for (size_t i = 0; i < f->moves.count; i++)
		if (move_node_lost(&f->moves.list[i], node, text))
			record(f, &f->moves.list[i], "move-aborting");
	fleet_moves_pump(f, clock_mono_ns());
}

void fleet_moves_pump(struct fleet *f, uint64_t now)
{
	for (size_t i = 0; i < f->moves.count && f->move_send; i++) {
		struct move *mv = &f->moves.list[i];
		unsigned s = move_sendable(mv, now);

		for (unsigned k = 0; k < MS__COUNT; k++) {
			if (!(s & (1u << k)))
				continue;
			if (!fleet_node_addr(f, move_step_to_source(k) ? mv->source : mv->target))
				continue; /* not heard since the start: later */
			mv->want &= ~(1u << k);
			mv->flying |= 1u << k;
			f->move_send(f, mv, k); /* never answers at once */
		}
	}
}
