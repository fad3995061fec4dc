#include "service-vm-fleet/api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service-vm-fleet/api-internal.h"
#include "lib/api-limits.h"
#include "lib/clock.h"
#include "lib/guest-ops.h"
#include "service-vm-fleet/fleet.h"
#include "lib/log.h"
#include "osi-config.h"
#include "lib/units.h"

json_t *api_fail(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

json_t *api_parse_request(const char *body, size_t len, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);

	if (!req) {
		snprintf(err, errlen, "request is not JSON: %s", jerr.text);
		return NULL;
	}
	if (!json_is_object(req) || !json_is_string(json_object_get(req, "op"))) {
		snprintf(err, errlen, "request must be an object with a string \"op\"");
		json_decref(req);
		return NULL;
	}
	return req;
}

static const char *display_state(const struct fleet *f, const struct node *n, uint64_t now)
{
	return registry_state_name(&f->reg, n, now);
}

static json_t *num_or_null(bool have, json_int_t v)
{
	return have ? json_integer(v) : json_null();
}

static json_t *node_json(const struct fleet *f, const struct node *n, uint64_t now)
{
	const struct heartbeat *s = &n->last;
	bool have = n->has_sample;
	uint64_t reported = kib_to_bytes(s->mem_available_kib);
	uint64_t avail = node_available_bytes(n);

	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:I, s:o}",
		"name", n->name,
		"state", display_state(f, n, now),
		"last_seen", n->last_seen_wall ? json_integer(n->last_seen_wall) : json_null(),
		"last_seen_age_ms", num_or_null(n->heard, (json_int_t)(now > n->last_seen_ns ?
			(now - n->last_seen_ns) / NSEC_PER_MSEC : 0)),
		"cpu_percent", have ? json_real(s->cpu_busy_permille / 10.0) : json_null(),
		"ncpu", num_or_null(have, s->ncpu),
		"mem_total_bytes", num_or_null(have, (json_int_t)kib_to_bytes(s->mem_total_kib)),
		"mem_available_bytes", num_or_null(have, (json_int_t)avail),
		"mem_reported_available_bytes", num_or_null(have, (json_int_t)reported),
		"pending_bytes", (json_int_t)n->pending_bytes,
		"guests", num_or_null(have, s->guests_running),
		"guest_mem_bytes", num_or_null(have, (json_int_t)kib_to_bytes(s->guest_mem_kib)),
		"libvirt", have ? json_boolean(s->flags & HB_FLAG_LIBVIRT) : json_null(),
		"registered", (json_int_t)n->registered_wall,
		"pool_free_bytes", num_or_null(n->pool_known, (json_int_t)n->pool_free_bytes));
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(const struct node *const *)a)->name, (*(const struct node *const *)b)->name);
}

static json_t *op_status(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	const struct node **sorted = calloc(f->reg.count ? f->reg.count : 1, sizeof(*sorted));
	json_t *nodes = json_array();
	unsigned live = 0, evicted = 0, awaiting = 0, revoked = 0;
	char reason[192] = "";

	if (!sorted)
		return api_fail("out of memory");
	for (size_t i = 0; i < f->reg.count; i++) {
		const struct node *n = &f->reg.nodes[i];

		sorted[i] = n;
		if (n->revoked)
			revoked++;
		else if (n->state == NODE_EVICTED)
			evicted++;
		else if (!n->heard)
			awaiting++;
		else
			live++;
	}
	qsort(sorted, f->reg.count, sizeof(*sorted), by_name);
	for (size_t i = 0; i < f->reg.count; i++)
		json_array_append_new(nodes, node_json(f, sorted[i], now));
	free(sorted);
	registry_hold_reason(&f->reg, reason, sizeof(reason));
	json_t *reply = json_pack("{s:b, s:{s:s, s:s, s:I, s:I, s:I, s:b, s:I, s:o, s:I, s:I, s:I}, s:o}",
		"ok", 1,
		"fleet",
		"name", f->id.name,
		"version", OSI_VERSION,
		"started", (json_int_t)f->started_wall,
		"uptime_s", (json_int_t)((now - f->started_ns) / NSEC_PER_SEC),
		"evict_after_ms", (json_int_t)f->cfg.evict_after_ms,
		"holding", f->reg.holding,
		"held_due", (json_int_t)f->reg.held_due,
		"hold_reason", f->reg.holding ? json_string(reason) : json_null(),
		"nodes_live", (json_int_t)live,
		"nodes_evicted", (json_int_t)evicted,
		"nodes_awaiting", (json_int_t)awaiting,
		"nodes", nodes);
	json_t *guests = op_vm_list(f);

	json_object_set_new(json_object_get(reply, "fleet"), "nodes_revoked", json_integer(revoked));

	json_object_set(reply, "guests", json_object_get(guests, "guests"));
	json_decref(guests);
	return reply;
}

static json_t *op_node(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const struct node *n;

	if (!name)
		return api_fail("\"name\" is required");
	n = registry_find(&f->reg, name);
	if (!n)
		return api_fail("no node named '%s' is registered", name);
	return json_pack("{s:b, s:o}", "ok", 1, "node", node_json(f, n, now));
}

static json_t *entry_json(const struct place_entry *e, size_t rank)
{
	return json_pack("{s:I, s:s, s:I, s:I, s:I, s:I}",
		"rank", (json_int_t)rank, "name", e->node->name,
		"available_bytes", (json_int_t)e->available, "margin_bytes", (json_int_t)e->margin,
		"after_bytes", (json_int_t)e->after, "guests", (json_int_t)e->guests);
}

static json_t *place_reply(const struct place_result *res, const struct place_request *rq)
{
	json_t *cands = json_array(), *excl = json_array(), *by = json_object();

	for (size_t i = 0; i < res->candidates_listed; i++)
		json_array_append_new(cands, entry_json(&res->candidates[i], i + 1));
	for (size_t i = 0; i < res->exclusions_listed; i++) {
		const struct place_entry *e = &res->exclusions[i];

		json_array_append_new(excl, json_pack("{s:s, s:s, s:s}", "name", e->node->name,
			"reason", place_exclusion_name(e->reason), "why", e->why));
	}
	for (int r = 0; r < PLACE_EX__COUNT; r++)
		json_object_set_new(by, place_exclusion_name(r),
				    json_integer((json_int_t)res->excluded_by_reason[r]));
	return json_pack("{s:b, s:{s:I, s:I, s:s?, s:s?}, s:o, s:b, s:o, s:o, s:{s:I, s:I, s:o}}",
		"ok", 1,
		"request", "memory_bytes", (json_int_t)rq->memory_bytes, "vcpus", (json_int_t)rq->vcpus,
		"type", rq->type, "node", rq->node,
		"suggestion", res->ncandidates ? json_string(res->candidates[0].node->name) : json_null(),
		"fits", res->ncandidates > 0,
		"candidates", cands, "excluded", excl,
		"counts", "candidates", (json_int_t)res->ncandidates,
		"excluded", (json_int_t)res->nexclusions, "excluded_by_reason", by);
}

static int place_args(json_t *req, struct place_request *rq, json_int_t *limit, const char **err)
{
	json_t *mem = json_object_get(req, "memory_bytes"), *cpu = json_object_get(req, "vcpus");
	json_t *lim = json_object_get(req, "limit");

	memset(rq, 0, sizeof(*rq));
	if (!json_is_integer(mem) || json_integer_value(mem) <= 0)
		return *err = "\"memory_bytes\" must be a positive integer", -EINVAL;
	if (!json_is_integer(cpu) || json_integer_value(cpu) <= 0 || json_integer_value(cpu) > 4096)
		return *err = "\"vcpus\" must be an integer between 1 and 4096", -EINVAL;
	if (lim && (!json_is_integer(lim) || json_integer_value(lim) < 0))
		return *err = "\"limit\" must be a non-negative integer", -EINVAL;
	rq->memory_bytes = (uint64_t)json_integer_value(mem);
	rq->vcpus = (uint32_t)json_integer_value(cpu);
	rq->type = json_string_value(json_object_get(req, "type"));
	rq->node = json_string_value(json_object_get(req, "node"));
	*limit = lim ? json_integer_value(lim) : 0;
	if (rq->type && !guest_type_find(rq->type))
		return -ENOENT;
	return 0;
}

static double elapsed_us(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e6 + (double)(b.tv_nsec - a->tv_nsec) / 1e3;
}

static json_t *commit_placement(struct fleet *f, const struct place_request *rq, json_t *req,
				const char *node, const char *caller, json_t *reply)
{
	const char *gname = json_string_value(json_object_get(req, "guest_name"));
	struct store_placement p = {
		.node = node, .guest_name = gname, .guest_type = rq->type,
		.memory_bytes = rq->memory_bytes, .vcpus = rq->vcpus, .origin = caller,
	};
	int64_t id;
	char size[32];

	if (store_placement(f->store, &p, clock_wall_s(), &id) < 0) {
		f->store_errors++;
		json_decref(reply);
		return api_fail("cannot record the placement: %s", store_errmsg(f->store));
	}
	registry_reserve(&f->reg, node, rq->memory_bytes, rq->vcpus);
	format_size(rq->memory_bytes, size, sizeof(size));
	log_info("placed %s %s (%s, %u vCPU) on %s for %s", rq->type ? rq->type : "guest",
		 gname ? gname : "(unnamed)", size, rq->vcpus, node, caller);
	json_object_set_new(reply, "placement_id", json_integer(id));
	return reply;
}

static json_t *op_place(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	struct place_request rq;
	struct place_result res;
	struct timespec t0;
	json_int_t limit;
	const char *err = NULL;
	json_t *reply;
	double us;
	int ret;

	ret = place_args(req, &rq, &limit, &err);
	if (ret == -ENOENT)
		return api_fail("unknown guest type (%s)", guest_type_names());
	if (ret < 0)
		return api_fail("%s", err);
	if (json_is_true(json_object_get(req, "commit")) && !rq.type)
		return api_fail("a committed placement needs the guest's \"type\"");
	if (json_is_true(json_object_get(req, "commit")) && guest_type_find(rq.type)->named_node_only &&
	    !rq.node)
		return api_fail("a Totebox goes only on a node the operator names: its WORM archive "
			    "cannot move over the network");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = placement_rank(&f->reg, &f->place, &rq, (size_t)limit, &res);
	us = elapsed_us(&t0);
	if (ret == -ENOENT)
		return api_fail("no node named '%s' is registered", rq.node);
	if (ret < 0)
		return api_fail("placement failed: %s", strerror(-ret));
	fleet_record_placement_latency(f, us);
	reply = place_reply(&res, &rq);
	json_object_set_new(reply, "decision_us", json_real(us));
	if (json_is_true(json_object_get(req, "commit")) && res.ncandidates)
		reply = commit_placement(f, &rq, req, res.candidates[0].node->name, caller, reply);
	place_result_free(&res);
	return reply;
}

static json_t *op_events(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	json_t *since = json_object_get(req, "since"), *lim = json_object_get(req, "limit");
	json_int_t limit = json_is_integer(lim) ? json_integer_value(lim) : API_EVENTS_LIMIT_DEFAULT;
	json_t *events = NULL;
	int ret;

	if ((since && !json_is_integer(since)) || limit <= 0 || limit > API_EVENTS_LIMIT_MAX)
		return api_fail("\"since\" must be an integer and \"limit\" between 1 and %d",
				API_EVENTS_LIMIT_MAX);
	if (since)
		ret = store_events_json(f->store, json_integer_value(since), (unsigned)limit, &events);
	else
		ret = store_events_tail_json(f->store, (unsigned)limit, &events);
	if (ret < 0)
		return api_fail("cannot read events: %s", store_errmsg(f->store));
	return json_pack("{s:b, s:o}", "ok", 1, "events", events);
}

static json_t *op_hold_override(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	unsigned due = f->reg.held_due;

	if (registry_override_hold(&f->reg) < 0)
		return api_fail("the fleet is not holding evictions");
	log_warn("eviction hold overridden by %s: evicting %u silent nodes", caller, due);
	if (store_event(f->store, "hold-override", NULL, caller, clock_wall_s(), NULL) < 0)
		f->store_errors++;
	registry_sweep(&f->reg, now);
	return json_pack("{s:b, s:I}", "ok", 1, "evicting", (json_int_t)due);
}

static json_t *op_vm_list_all(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	return op_vm_list(f);
}

static json_t *op_vm_show_one(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	return op_vm_show(f, req);
}

static json_t *op_vm_act(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	return op_vm_action(f, req, caller);
}

/* Its reason comes from the guest operation table, like the CLI's. */
static json_t *op_migrate(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	return api_fail("%s", guest_op_find("migrate")->refusal);
}

/* The one list of operations: dispatch and authorisation both read it. */
static const struct api_op ops[] = {
	{ "status",        op_status,        API_READS },
	{ "node",          op_node,          API_READS },
	{ "place",         op_place,         API_CHANGES_IF_COMMIT },
	{ "events",        op_events,        API_READS },
	{ "hold-override", op_hold_override, API_CHANGES },
	{ "vm-plan",       op_vm_plan,       API_CHANGES },
	{ "vm-confirm",    op_vm_confirm,    API_CHANGES },
	{ "vm-cancel",     op_vm_cancel,     API_CHANGES },
	{ "vm-list",       op_vm_list_all,   API_READS },
	{ "vm-show",       op_vm_show_one,   API_READS },
	{ "vm-action",     op_vm_act,        API_CHANGES },
	{ "vm-publish",    op_vm_publish,    API_CHANGES },
	{ "vm-unpublish",  op_vm_unpublish,  API_CHANGES },
	{ "vm-move",       op_vm_move,       API_CHANGES },
	{ "vm-move-confirm", op_vm_move_confirm, API_CHANGES },
	{ "vm-move-cancel", op_vm_move_cancel, API_CHANGES },
	{ "vm-move-show",  op_vm_move_show,  API_READS },
	{ "vm-release-source", op_vm_release_source, API_CHANGES },
	{ "vm-backup-copy", op_vm_backup_copy, API_CHANGES },
	{ "vm-backup-copy-show", op_vm_backup_copy_show, API_READS },
	{ "migrate",       op_migrate,       API_CHANGES },
	{ "vm-migrate",    op_migrate,       API_CHANGES },
	{ "standby-copy",  op_standby_copy,  API_CHANGES }, /* admin: it holds every event */
};

const struct api_op *api_op_find(const char *name)
{
	for (size_t i = 0; name && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(ops[i].name, name))
			return &ops[i];
	return NULL;
}

const struct api_op *api_op_at(unsigned i)
{
	return i < sizeof(ops) / sizeof(ops[0]) ? &ops[i] : NULL;
}

bool api_op_changes(const json_t *req)
{
	const struct api_op *op = api_op_find(json_string_value(json_object_get(req, "op")));

	if (!op)
		return true; /* unknown ops count as changes */
	if (op->changes == API_CHANGES_IF_COMMIT)
		return json_is_true(json_object_get(req, "commit"));
	return op->changes == API_CHANGES;
}

const char *api_refusal(const json_t *req, bool local, bool admin)
{
	/* Over the network, changing anything takes the admin role; looking
	 * does not, so status works from every member. */
	return !local && !admin && api_op_changes(req) ? "this operation needs the admin role" : NULL;
}

json_t *api_handle(struct fleet *f, json_t *req, const char *caller)
{
	const char *name = json_string_value(json_object_get(req, "op"));
	const struct api_op *op = api_op_find(name);

	f->api_requests++;
	if (!name)
		return api_fail("request must have a string \"op\"");
	if (!op)
		return api_fail("unknown op '%s'", name);
	return op->handler(f, req, caller, clock_mono_ns());
}
