/* The guest operations of the operator API: plan, confirm, list, show,
 * actions. Creating a guest takes a plan and an explicit confirmation of it;
 * the fleet then hands the work to the node's service-vm-host. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service-vm-fleet/adopt.h"
#include "service-vm-fleet/api.h"
#include "service-vm-fleet/api-internal.h"
#include "lib/clock.h"
#include "lib/guest-ops.h"
#include "service-vm-fleet/fleet.h"
#include "service-vm-fleet/fleet-move.h"
#include "lib/log.h"
#include "lib/sanitize.h"
#include "lib/units.h"

static const char *shown_state(const struct fleet *f, const struct guest *g)
{
	const struct node *n = registry_find(&f->reg, g->node);

	if (g->state != GS_DESTROYED && n && n->state == NODE_EVICTED)
		return "node-lost";
	return guest_state_name(g->state);
}

/* The last operation sent to the node, which the CLI follows to its end. */
static json_t *op_json(const struct guest *g)
{
	if (g->op_state == GOPS_NONE)
		return json_null();
	return json_pack("{s:s, s:s, s:s?, s:I}", "verb", g->op, "state",
			 guest_op_state_name(g->op_state), "detail",
			 g->op_detail[0] ? g->op_detail : NULL, "seq", (json_int_t)g->op_seq);
}

json_t *guest_json(const struct fleet *f, const struct guest *g)
{
	char fqdn[GUEST_NAME_MAX + 2 + NAMES_ZONE_MAX];

	snprintf(fqdn, sizeof(fqdn), "%s.%s", g->name, f->cfg.guest_zone);
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s?, s:s?, s:s?, s:s, s:o, s:I, s:I, s:o}",
		"name", g->name, "type", g->type, "node", g->node,
		"memory_bytes", (json_int_t)g->memory_bytes, "vcpus", (json_int_t)g->vcpus,
		"state", shown_state(f, g), "detail", g->detail[0] ? g->detail : NULL,
		"accel", g->accel[0] ? g->accel : NULL,
		"address", g->address[0] ? g->address : NULL,
		"fqdn", fqdn, "published", published_json(f, g->name),
		"created", (json_int_t)g->created, "updated", (json_int_t)g->updated,
		"op", op_json(g));
}

static void op_begin(struct guest *g, const char *verb, uint32_t prev_seq)
{
	snprintf(g->op, sizeof(g->op), "%s", verb);
	g->op_state = GOPS_PENDING;
	g->op_detail[0] = '\0';
	g->op_seq = prev_seq + 1;
}

static int plan_args(json_t *req, const struct guest_type *t, struct guest *g, const char **err)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	json_t *mem = json_object_get(req, "memory_bytes"), *cpu = json_object_get(req, "vcpus");

	memset(g, 0, sizeof(*g));
	if (!name || !guest_name_valid(name))
		return *err = "\"name\" must be 1-63 characters of a-z, 0-9 and '-'", -EINVAL;
	if ((mem && (!json_is_integer(mem) || json_integer_value(mem) < (json_int_t)GUEST_MEM_MIN)) ||
	    (cpu && (!json_is_integer(cpu) || json_integer_value(cpu) < GUEST_VCPUS_MIN ||
		     json_integer_value(cpu) > GUEST_VCPUS_MAX)))
		return *err = "\"memory_bytes\" must be at least 32 MiB and \"vcpus\" 1..256", -EINVAL;
	snprintf(g->name, sizeof(g->name), "%s", name);
	snprintf(g->type, sizeof(g->type), "%s", t->name);
	g->memory_bytes = mem ? (uint64_t)json_integer_value(mem) : t->memory_bytes;
	g->vcpus = cpu ? (uint32_t)json_integer_value(cpu) : t->vcpus;
	return 0;
}

static json_t *plan_json(const struct plan *p, uint64_t now, json_t *ranking)
{
	json_object_del(ranking, "ok");
	return json_pack("{s:b, s:{s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:b, s:o}}", "ok", 1, "plan",
		"token", p->token, "expires_in_s", (json_int_t)((p->expires_ns - now) / NSEC_PER_SEC),
		"type", p->guest.type, "name", p->guest.name, "node", p->guest.node,
		"memory_bytes", (json_int_t)p->guest.memory_bytes, "vcpus", (json_int_t)p->guest.vcpus,
		"advisory", p->advisory, "ranking", ranking);
}

json_t *op_vm_plan(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	const char *node = json_string_value(json_object_get(req, "node"));
	const struct guest_type *t = guest_type_find(json_string_value(json_object_get(req, "type")));
	const char *err;
	struct guest g;
	struct plan *p;
	json_t *ranking, *q;

	if (!t)
		return api_fail("\"type\" must be one of %s", guest_type_names());
	if (plan_args(req, t, &g, &err) < 0)
		return api_fail("%s", err);
	if (t->named_node_only && !node)
		return api_fail("a %s is placed only on a node you name (--node): its WORM archive "
				"cannot move over the network", t->title);
	q = json_pack("{s:s, s:I, s:I, s:s, s:s?}", "op", "place",
		      "memory_bytes", (json_int_t)g.memory_bytes, "vcpus", (json_int_t)g.vcpus,
		      "type", g.type, "node", node);
	ranking = api_handle(f, q, caller);
	json_decref(q);
	if (!json_is_true(json_object_get(ranking, "ok")))
		return ranking;
	if (!json_is_true(json_object_get(ranking, "fits"))) {
		/* The named node's own reason is listed first. */
		const char *why = json_string_value(json_object_get(
			json_array_get(json_object_get(ranking, "excluded"), 0), "why"));
		char size[32];

		format_size(g.memory_bytes, size, sizeof(size));
		q = node ? api_fail("%s cannot take %s and %u vCPUs now: %s (see 'place --node %s')",
				    node, size, g.vcpus, why ? why : "excluded", node)
			 : api_fail("no node fits %s and %u vCPUs now (see 'place')", size, g.vcpus);
		json_decref(ranking);
		return q;
	}
	snprintf(g.node, sizeof(g.node), "%s", json_string_value(json_object_get(ranking, "suggestion")));
	if (guests_plan(&f->guests, &g, node == NULL, now,
			f->cfg.plan_ttl_ms * NSEC_PER_MSEC, &p) < 0) {
		json_decref(ranking);
		return api_fail("a guest named '%s' exists", g.name);
	}
	return plan_json(p, now, ranking);
}

static int persist(struct fleet *f, const struct guest *g, const char *kind, const char *detail)
{
	struct store_guest row = {
		.name = g->name, .type = g->type, .node = g->node,
		.state = guest_state_name(g->state), .detail = g->detail[0] ? g->detail : NULL,
		.accel = g->accel[0] ? g->accel : NULL, .memory_bytes = g->memory_bytes,
		.vcpus = g->vcpus, .created = g->created, .updated = g->updated,
	};
	int ret = store_guest(f->store, &row, kind, detail, clock_wall_s());

	if (ret < 0) {
		f->store_errors++;
		log_err("store: cannot record guest %s: %s", g->name, store_errmsg(f->store));
	}
	return ret;
}

static json_t *commit(struct fleet *f, struct plan *p, const char *caller, const char *how)
{
	struct guest *g = &p->guest;
	const struct guest *old;
	json_t *q, *r;
	char detail[256], size[32];

	q = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:b}", "op", "place",
		      "memory_bytes", (json_int_t)g->memory_bytes, "vcpus", (json_int_t)g->vcpus,
		      "type", g->type, "node", g->node, "guest_name", g->name, "commit", 1);
	r = api_handle(f, q, caller);
	json_decref(q);
	if (!json_is_true(json_object_get(r, "ok")) || !json_object_get(r, "placement_id")) {
		json_decref(r);
		return api_fail("%s can no longer take this guest; ask for a new plan", g->node);
	}
	json_decref(r);
	old = guests_find(&f->guests, g->name);
	g->created = g->updated = clock_wall_s();
	g->state = GS_DISPATCHED;
	op_begin(g, "create", old ? old->op_seq : 0);
	format_size(g->memory_bytes, size, sizeof(size));
	snprintf(detail, sizeof(detail), "%s %s (%s, %u vCPU) confirmed by %s (%s)%s", g->type,
		 g->name, size, g->vcpus, caller, how, p->advisory ? "" : "; node named by the operator");
	if (old && !guest_name_reusable(old))
		return api_fail("a guest named '%s' exists", g->name);
	if (old)
		log_info("guest %s: a new creation takes the name of the failed one", g->name);
	if (guests_add(&f->guests, g) < 0 || persist(f, g, "confirmed", detail) < 0)
		return api_fail("cannot record guest '%s'", g->name);
	log_info("guest %s", detail);
	f->dispatch(f, guests_find(&f->guests, g->name), "create");
	return json_pack("{s:b, s:o}", "ok", 1, "guest", guest_json(f, guests_find(&f->guests, g->name)));
}

json_t *op_vm_confirm(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	const char *token = json_string_value(json_object_get(req, "token"));
	const char *how = json_string_value(json_object_get(req, "how"));
	struct plan p;
	json_t *reply;
	int ret;

	if (!token || !how || (strcmp(how, "cli-yes") && strcmp(how, "cli-interactive") &&
			       strcmp(how, "cli-token") && strcmp(how, "panel-f9")))
		return api_fail("\"token\" and \"how\" (cli-yes, cli-interactive, cli-token, "
				"panel-f9) are required");
	ret = guests_take_plan(&f->guests, token, now, &p);
	if (ret == -ETIMEDOUT)
		return api_fail("the plan for '%s' expired unconfirmed; nothing was created", p.guest.name);
	if (ret < 0)
		return api_fail("no such plan (it may have expired, or been confirmed already)");
	reply = commit(f, &p, caller, how);
	sodium_memzero(&p, sizeof(p));
	return reply;
}

json_t *op_vm_cancel(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	const char *token = json_string_value(json_object_get(req, "token"));
	struct plan p;
	int ret = token ? guests_take_plan(&f->guests, token, now, &p) : -ENOENT;

	if (ret == -ENOENT)
		return api_fail("no such plan (it may have expired already)");
	log_info("plan for %s %s declined by %s; nothing was created", p.guest.type, p.guest.name,
		 caller);
	sodium_memzero(&p, sizeof(p));
	return json_pack("{s:b}", "ok", 1);
}

/* vm-list and vm-show: a guest with its move under way, or its kept copy. */
static json_t *guest_json_moving(struct fleet *f, const struct guest *g)
{
	const struct move *mv = moves_find(&f->moves, g->name);
	json_t *gj = guest_json(f, g);

	if (gj && mv)
		json_object_set_new(gj, "move", move_json(mv));
	return gj;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct guest *)a)->name, ((const struct guest *)b)->name);
}

json_t *op_vm_list(struct fleet *f)
{
	json_t *list = json_array();

	if (f->guests.count)
		qsort(f->guests.list, f->guests.count, sizeof(*f->guests.list), by_name);
	for (size_t i = 0; i < f->guests.count; i++)
		json_array_append_new(list, guest_json_moving(f, &f->guests.list[i]));
	return json_pack("{s:b, s:o}", "ok", 1, "guests", list);
}

json_t *op_vm_show(struct fleet *f, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const struct guest *g = name ? guests_find(&f->guests, name) : NULL;

	json_t *gj;

	if (!g)
		return api_fail("no guest named '%s'", name ? name : "");
	gj = guest_json_moving(f, g);
	if (gj && g->agent.n) /* what its guest agent reports, when one does */
		json_object_set_new(gj, "agent", guest_agent_to_json(&g->agent));
	return json_pack("{s:b, s:o}", "ok", 1, "guest", gj);
}

json_t *op_vm_action(struct fleet *f, json_t *req, const char *caller)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const struct guest_op_def *op = guest_op_find(json_string_value(json_object_get(req, "action")));
	struct guest *g = name ? guests_find(&f->guests, name) : NULL;
	const struct node *n;
	char detail[160];
	json_t *reply;

	if (!g)
		return api_fail("no guest named '%s'", name ? name : "");
	if (!op || !op->action)
		return api_fail("\"action\" must be %s", guest_op_action_names());
	if (move_busy(moves_find(&f->moves, g->name)))
		return api_fail("%s is being moved (vm move-show %s); wait for the move to end",
				g->name, g->name);
	n = registry_find(&f->reg, g->node);
	if (!n || n->state == NODE_EVICTED)
		return api_fail("%s's node %s is lost; its guests stay there and are never moved",
				g->name, g->node);
	if (guest_state_pending(g->state))
		return api_fail("%s is still being created (%s)", g->name, guest_state_name(g->state));
	if (g->state == GS_FAILED)
		return api_fail("%s's creation failed (%s); create it again under its name",
				g->name, g->detail[0] ? g->detail : "no reason given");
	snprintf(detail, sizeof(detail), "%s %s asked by %s", op->verb, g->name, caller);
	log_info("guest %s", detail);
	if (store_event(f->store, "guest-action", g->node, detail, clock_wall_s(), NULL) < 0)
		f->store_errors++;
	op_begin(g, op->verb, g->op_seq);
	reply = json_pack("{s:b, s:o}", "ok", 1, "guest", guest_json(f, g));
	f->dispatch(f, g, op->verb); /* may answer at once, even forget g */
	return reply;
}

/* The node's answer to the operation in flight. A start, stop or destroy
 * that failed leaves the guest's state as it was: only the operation failed. */
static bool op_end(struct guest *g, enum guest_state state, const char *detail)
{
	bool action = g->op_state != GOPS_NONE && strcmp(g->op, "create");

	if (guest_state_pending(state) || g->op_state != GOPS_PENDING)
		return action && state == GS_FAILED;
	g->op_state = state == GS_FAILED ? GOPS_FAILED : GOPS_DONE;
	sanitize_text(g->op_detail, sizeof(g->op_detail), detail ? detail : "");
	return action && state == GS_FAILED;
}

/* A destroyed guest is forgotten: its name is free, the event log keeps it. */
static void forget(struct fleet *f, struct guest *g, const char *text)
{
	log_info("guest %s", text);
	if (store_guest_forget(f->store, g->name, g->node, "guest-destroyed", text,
			       clock_wall_s()) < 0) {
		f->store_errors++;
		log_err("store: cannot forget guest %s: %s", g->name, store_errmsg(f->store));
	}
	pubs_drop_guest(&f->pubs, g->name); /* the store dropped its rows */
	adopt_forget(g->node, g->name, clock_wall_s());
	guests_remove(&f->guests, g->name);
}

void fleet_guest_progress(struct fleet *f, const char *name, enum guest_state state,
			  const char *detail, const char *accel)
{
	struct guest *g = guests_find(&f->guests, name);
	char text[GUEST_NAME_MAX + 32 + sizeof(g->detail)];

	if (!g)
		return;
	if (op_end(g, state, detail)) {
		log_warn("guest %s: %s failed: %s", g->name, g->op, g->op_detail);
		snprintf(text, sizeof(text), "%s %s failed: %s", g->name, g->op, g->op_detail);
		if (store_event(f->store, "guest-action-failed", g->node, text, clock_wall_s(), NULL) < 0)
			f->store_errors++;
		return;
	}
	if (g->state == state)
		return;
	g->state = state;
	g->updated = clock_wall_s();
	if (state != GS_RUNNING) /* the node reports running guests' addresses only */
		guest_set_address(g, NULL);
	sanitize_text(g->detail, sizeof(g->detail), detail ? detail : ""); /* the node's text */
	if (accel)
		sanitize_text(g->accel, sizeof(g->accel), accel);
	snprintf(text, sizeof(text), "%s %s%s%s", g->name, guest_state_name(state),
		 g->detail[0] ? ": " : "", g->detail);
	if (state == GS_DESTROYED)
		return forget(f, g, text);
	log_msg(state == GS_FAILED ? LOG_LVL_WARN : LOG_LVL_INFO, "guest %s", text);
	persist(f, g, state == GS_FAILED ? "guest-failed" : "guest-state", text);
}
