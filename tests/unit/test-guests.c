#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "service-vm-fleet/api.h"
#include "lib/clock.h"
#include "service-vm-fleet/fleet.h"
#include "tests/unit/fixture.h"

struct ctx {
	char dir[64];
	char db[96];
	struct fleet f;
	char dispatched[8][160];
	int ndispatched;
};

static struct ctx *current;

static void record_dispatch(struct fleet *f, const struct guest *g, const char *action)
{
	snprintf(current->dispatched[current->ndispatched++ % 8], 160, "%s %s on %s", action, g->name,
		 g->node);
}

static void beat(struct fleet *f, const char *name, uint64_t avail_gib)
{
	struct heartbeat hb = { .seq = 1, .ncpu = 4, .mem_total_kib = 16ULL << 20,
				.mem_available_kib = avail_gib << 20 };
	struct store_node row = { .name = name, .state = "live", .registered_wall = 1 };

	snprintf(hb.name, sizeof(hb.name), "%s", name);
	assert_int_equal(registry_heartbeat(&f->reg, &hb, clock_mono_ns(), 1), 0);
	assert_int_equal(store_transition(f->store, &row, "registered", "test", 1, NULL), 0);
}

static void open_fleet(struct ctx *c)
{
	struct registry_config rc = { .evict_after_ns = 30 * NSEC_PER_SEC, .hold_min_live = 3 };

	assert_int_equal(store_open(c->db, &c->f.store), 0);
	strcpy(c->f.id.name, "fleet");
	c->f.cfg.evict_after_ms = 30000;
	c->f.cfg.plan_ttl_ms = 120000;
	c->f.place.margin_min_bytes = 1ULL << 30;
	c->f.place.margin_percent = 5;
	c->f.dispatch = record_dispatch;
	guests_init(&c->f.guests);
	assert_int_equal(registry_init(&c->f.reg, &rc, clock_mono_ns(), NULL, NULL), 0);
}

static int setup(void **state)
{
	static struct ctx c;

	memset(&c, 0, sizeof(c));
	assert_int_equal(fixture_tmpdir(c.dir, sizeof(c.dir), "osi-test-guests"), 0);
	snprintf(c.db, sizeof(c.db), "%s/fleet.db", c.dir);
	open_fleet(&c);
	beat(&c.f, "alpha", 8);
	beat(&c.f, "beta", 4);
	current = &c;
	*state = &c;
	return 0;
}

static void close_fleet(struct ctx *c)
{
	registry_free(&c->f.reg);
	guests_free(&c->f.guests);
	store_close(c->f.store);
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	close_fleet(c);
	assert_int_equal(fixture_rmtree(c->dir), 0);
	return 0;
}

static json_t *__attribute__((format(printf, 2, 3))) call(struct fleet *f, const char *fmt, ...)
{
	char text[512], err[200];
	va_list ap;
	json_t *req, *reply;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	req = api_parse_request(text, strlen(text), err, sizeof(err));
	assert_non_null(req);
	reply = api_handle(f, req, "ops");
	json_decref(req);
	return reply;
}

static const char *str(json_t *o, const char *path1, const char *key)
{
	return json_string_value(json_object_get(path1 ? json_object_get(o, path1) : o, key));
}

static char *plan(struct fleet *f, const char *extra)
{
	json_t *r = call(f, "{\"op\":\"vm-plan\",\"type\":\"mediakit\",\"name\":\"web1\"%s}", extra);
	char *token;

	assert_true(json_is_true(json_object_get(r, "ok")));
	token = strdup(str(r, "plan", "token"));
	json_decref(r);
	return token;
}

static void plan_then_confirm_dispatches(void **state)
{
	struct ctx *c = *state;
	json_t *r = call(&c->f, "{\"op\":\"vm-plan\",\"type\":\"mediakit\",\"name\":\"web1\"}");
	char token[64];

	assert_string_equal(str(r, "plan", "node"), "alpha");
	assert_true(json_is_true(json_object_get(json_object_get(r, "plan"), "advisory")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "plan"), "memory_bytes")),
			 2LL << 30); /* the type's default */
	snprintf(token, sizeof(token), "%s", str(r, "plan", "token"));
	json_decref(r);
	assert_int_equal(c->ndispatched, 0); /* a plan creates nothing */
	r = call(&c->f, "{\"op\":\"vm-list\"}");
	assert_int_equal(json_array_size(json_object_get(r, "guests")), 0);
	json_decref(r);

	r = call(&c->f, "{\"op\":\"vm-confirm\",\"token\":\"%s\",\"how\":\"cli-yes\"}", token);
	assert_string_equal(str(r, "guest", "state"), "dispatched");
	json_decref(r);
	assert_int_equal(c->ndispatched, 1);
	assert_string_equal(c->dispatched[0], "create web1 on alpha");
	/* the same token twice: refused */
	r = call(&c->f, "{\"op\":\"vm-confirm\",\"token\":\"%s\",\"how\":\"cli-yes\"}", token);
	assert_non_null(strstr(str(r, NULL, "error"), "no such plan"));
	json_decref(r);
}

static int remember_row(void *ctx, const struct store_guest *g)
{
	char *out = ctx;

	snprintf(out, 128, "%s %s %s %s %s", g->name, g->type, g->node, g->state,
		 g->accel ? g->accel : "-");
	return 0;
}

static void progress_is_kept_across_restart(void **state)
{
	struct ctx *c = *state;
	char *token = plan(&c->f, "");
	json_t *r = call(&c->f, "{\"op\":\"vm-confirm\",\"token\":\"%s\",\"how\":\"panel-f9\"}", token);
	char row[128] = "";

	free(token);
	json_decref(r);
	fleet_guest_progress(&c->f, "web1", GS_DEFINING, NULL, NULL);
	fleet_guest_progress(&c->f, "web1", GS_RUNNING, NULL, "tcg");
	r = call(&c->f, "{\"op\":\"vm-show\",\"name\":\"web1\"}");
	assert_string_equal(str(r, "guest", "state"), "running");
	assert_string_equal(str(r, "guest", "accel"), "tcg");
	json_decref(r);
	close_fleet(c);
	open_fleet(c);
	assert_int_equal(store_guests_each(c->f.store, remember_row, row), 0);
	assert_string_equal(row, "web1 mediakit alpha running tcg");
}

/* A node's progress detail is the node's text: its control characters are
 * escaped before the fleet keeps it, so it cannot forge lines or events. */
static void relayed_detail_is_escaped(void **state)
{
	struct ctx *c = *state;
	char *token = plan(&c->f, ""), *text;
	json_t *r = call(&c->f, "{\"op\":\"vm-confirm\",\"token\":\"%s\",\"how\":\"cli-yes\"}", token);

	free(token);
	json_decref(r);
	fleet_guest_progress(&c->f, "web1", GS_FAILED, "disk full\n2026-01-01T00:00:00.000Z "
			     "service-vm-fleet[info] x\x1b[2J", "\x1b[2J");
	r = call(&c->f, "{\"op\":\"vm-show\",\"name\":\"web1\"}");
	assert_string_equal(str(r, "guest", "detail"),
			    "disk full\\n2026-01-01T00:00:00.000Z service-vm-fleet[info] x\\x1b[2J");
	assert_string_equal(str(r, "guest", "accel"), "\\x1b[2J");
	json_decref(r);
	assert_int_equal(store_events_tail_json(c->f.store, 0, &r), 0);
	text = json_dumps(r, JSON_COMPACT);
	assert_non_null(strstr(text, "web1 failed: disk full\\\\n2026"));
	assert_null(strstr(text, "\\u001b"));
	free(text);
	json_decref(r);
}

static void totebox_needs_a_named_node(void **state)
{
	struct ctx *c = *state;
	json_t *r = call(&c->f, "{\"op\":\"vm-plan\",\"type\":\"totebox\",\"name\":\"vault\"}");

	assert_non_null(strstr(str(r, NULL, "error"), "node you name"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"vm-plan\",\"type\":\"totebox\",\"name\":\"vault\",\"node\":\"beta\","
		    "\"memory_bytes\":1073741824}");
	assert_string_equal(str(r, "plan", "node"), "beta");
	assert_false(json_is_true(json_object_get(json_object_get(r, "plan"), "advisory")));
	json_decref(r);
}

/* A named node that reports it cannot build the type: the plan says why. */
static void plan_says_why_named_node_cannot_build(void **state)
{
	struct ctx *c = *state;
	struct heartbeat hb = { .name = "beta", .seq = 2, .ncpu = 4, .mem_total_kib = 16ULL << 20,
				.mem_available_kib = 8ULL << 20,
				.flags = HB_FLAG_CAPS | HB_FLAG_IMAGES | HB_FLAG_BASE(0) };
	json_t *r;

	assert_int_equal(registry_heartbeat(&c->f.reg, &hb, clock_mono_ns(), 1), 0);
	r = call(&c->f, "{\"op\":\"vm-plan\",\"type\":\"totebox\",\"name\":\"vault\",\"node\":\"beta\","
		    "\"memory_bytes\":1073741824}");
	assert_non_null(strstr(str(r, NULL, "error"), "beta cannot take"));
	assert_non_null(strstr(str(r, NULL, "error"), "no dispatch address"));
	json_decref(r);
	hb.seq = 3;
	hb.flags = HB_FLAG_CAPS | HB_FLAG_DISPATCH | HB_FLAG_IMAGES | HB_FLAG_BASE(1);
	assert_int_equal(registry_heartbeat(&c->f.reg, &hb, clock_mono_ns(), 1), 0);
	r = call(&c->f, "{\"op\":\"vm-plan\",\"type\":\"totebox\",\"name\":\"vault\",\"node\":\"beta\","
		    "\"memory_bytes\":1073741824}");
	assert_non_null(strstr(str(r, NULL, "error"), "no base image for totebox"));
	json_decref(r);
}

static void unconfirmed_plan_expires(void **state)
{
	struct ctx *c = *state;
	struct plan p;
	char *token;
	json_t *r;

	c->f.cfg.plan_ttl_ms = 1;
	token = plan(&c->f, "");
	/* expired at its deadline: confirming it creates nothing */
	assert_int_equal(guests_expire_plans(&c->f.guests, clock_mono_ns() + 2 * NSEC_PER_MSEC), 1);
	r = call(&c->f, "{\"op\":\"vm-confirm\",\"token\":\"%s\",\"how\":\"cli-yes\"}", token);
	assert_false(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	assert_int_equal(c->ndispatched, 0);
	assert_int_equal(c->f.guests.count, 0);
	/* taken after its deadline, before a sweep: -ETIMEDOUT */
	c->f.cfg.plan_ttl_ms = 1000;
	free(token);
	token = plan(&c->f, "");
	assert_int_equal(guests_take_plan(&c->f.guests, token, clock_mono_ns() + 2 * NSEC_PER_SEC, &p),
			 -ETIMEDOUT);
	free(token);
}

static void declined_plan_frees_the_name(void **state)
{
	struct ctx *c = *state;
	char *token = plan(&c->f, "");
	json_t *r = call(&c->f, "{\"op\":\"vm-cancel\",\"token\":\"%s\"}", token);

	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"vm-confirm\",\"token\":\"%s\",\"how\":\"cli-yes\"}", token);
	assert_false(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	free(token);
	token = plan(&c->f, ""); /* the same name plans again */
	free(token);
	assert_int_equal(c->ndispatched, 0);
}

static void names_are_unique_and_valid(void **state)
{
	struct ctx *c = *state;
	char *token = plan(&c->f, "");
	char *newer = plan(&c->f, ",\"node\":\"beta\"");
	json_t *r;

	/* the newer plan replaced the older: only its token confirms */
	r = call(&c->f, "{\"op\":\"vm-confirm\",\"token\":\"%s\",\"how\":\"cli-yes\"}", token);
	assert_false(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"vm-confirm\",\"token\":\"%s\",\"how\":\"cli-yes\"}", newer);
	assert_string_equal(str(r, "guest", "node"), "beta");
	json_decref(r);
	free(newer);
	r = call(&c->f, "{\"op\":\"vm-plan\",\"type\":\"mediakit\",\"name\":\"web1\"}");
	assert_non_null(strstr(str(r, NULL, "error"), "exists"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"vm-plan\",\"type\":\"mediakit\",\"name\":\"Web_1\"}");
	assert_non_null(strstr(str(r, NULL, "error"), "a-z"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"vm-plan\",\"type\":\"vax\",\"name\":\"x\"}");
	assert_non_null(strstr(str(r, NULL, "error"), "type"));
	json_decref(r);
	free(token);
}

static void lost_node_guests_stay(void **state)
{
	struct ctx *c = *state;
	char *token = plan(&c->f, "");
	json_t *r = call(&c->f, "{\"op\":\"vm-confirm\",\"token\":\"%s\",\"how\":\"cli-yes\"}", token);

	free(token);
	json_decref(r);
	fleet_guest_progress(&c->f, "web1", GS_RUNNING, NULL, "tcg");
	registry_sweep(&c->f.reg, clock_mono_ns() + 31 * NSEC_PER_SEC); /* 2 live: no hold */
	r = call(&c->f, "{\"op\":\"vm-show\",\"name\":\"web1\"}");
	assert_string_equal(str(r, "guest", "state"), "node-lost");
	assert_string_equal(str(r, "guest", "node"), "alpha");
	json_decref(r);
	r = call(&c->f, "{\"op\":\"vm-action\",\"name\":\"web1\",\"action\":\"stop\"}");
	assert_non_null(strstr(str(r, NULL, "error"), "never moved"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"vm-migrate\",\"name\":\"web1\"}");
	assert_non_null(strstr(str(r, NULL, "error"), "excluded by design"));
	json_decref(r);
}

static void confirm_web1(struct ctx *c)
{
	char *token = plan(&c->f, "");
	json_t *r = call(&c->f, "{\"op\":\"vm-confirm\",\"token\":\"%s\",\"how\":\"cli-yes\"}", token);

	assert_true(json_is_true(json_object_get(r, "ok")));
	free(token);
	json_decref(r);
}

static int count_rows(void *ctx, const struct store_guest *g)
{
	(*(int *)ctx)++;
	return 0;
}

/* Issue: a destroyed guest's name could never be used again. */
static void destroyed_guest_is_forgotten(void **state)
{
	struct ctx *c = *state;
	json_t *r, *ev;
	char *text;
	int rows = 0;

	confirm_web1(c);
	fleet_guest_progress(&c->f, "web1", GS_RUNNING, NULL, "tcg");
	r = call(&c->f, "{\"op\":\"vm-action\",\"name\":\"web1\",\"action\":\"destroy\"}");
	assert_string_equal(str(json_object_get(r, "guest"), "op", "verb"), "destroy");
	assert_string_equal(str(json_object_get(r, "guest"), "op", "state"), "pending");
	json_decref(r);
	fleet_guest_progress(&c->f, "web1", GS_DESTROYED, "1 data volume kept", NULL);
	r = call(&c->f, "{\"op\":\"vm-show\",\"name\":\"web1\"}");
	assert_non_null(strstr(str(r, NULL, "error"), "no guest named"));
	json_decref(r);
	assert_int_equal(store_guests_each(c->f.store, count_rows, &rows), 0);
	assert_int_equal(rows, 0);
	assert_int_equal(store_events_tail_json(c->f.store, 0, &ev), 0);
	text = json_dumps(ev, JSON_COMPACT);
	assert_non_null(strstr(text, "\"guest-destroyed\""));
	free(text);
	json_decref(ev);
	confirm_web1(c); /* the name is free again */
	assert_int_equal(c->ndispatched, 3);
	assert_string_equal(c->dispatched[2], "create web1 on alpha");
	close_fleet(c);
	open_fleet(c);
	assert_int_equal(store_guests_each(c->f.store, count_rows, &rows), 0);
	assert_int_equal(rows, 1);
}

/* Issue: a failed creation could not be retried under its name. */
static void failed_creation_is_retried(void **state)
{
	struct ctx *c = *state;
	json_t *r;

	confirm_web1(c);
	fleet_guest_progress(&c->f, "web1", GS_FAILED, "cannot reach the node's agent", NULL);
	r = call(&c->f, "{\"op\":\"vm-action\",\"name\":\"web1\",\"action\":\"start\"}");
	assert_non_null(strstr(str(r, NULL, "error"), "create it again"));
	json_decref(r);
	confirm_web1(c);
	assert_int_equal(c->ndispatched, 2);
	r = call(&c->f, "{\"op\":\"vm-list\"}");
	assert_int_equal(json_array_size(json_object_get(r, "guests")), 1);
	json_decref(r);
	r = call(&c->f, "{\"op\":\"vm-show\",\"name\":\"web1\"}");
	assert_string_equal(str(r, "guest", "state"), "dispatched");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(r, "guest"),
								       "op"), "seq")), 2);
	json_decref(r);
	/* a running guest's name is not free */
	fleet_guest_progress(&c->f, "web1", GS_RUNNING, NULL, "tcg");
	r = call(&c->f, "{\"op\":\"vm-plan\",\"type\":\"mediakit\",\"name\":\"web1\"}");
	assert_non_null(strstr(str(r, NULL, "error"), "exists"));
	json_decref(r);
}

/* A stop that fails fails the operation, not the guest; an action that
 * changes nothing (start of a running guest) still ends. */
static void action_outcome_is_followed(void **state)
{
	struct ctx *c = *state;
	json_t *r, *op;

	confirm_web1(c);
	fleet_guest_progress(&c->f, "web1", GS_RUNNING, NULL, "tcg");
	json_decref(call(&c->f, "{\"op\":\"vm-action\",\"name\":\"web1\",\"action\":\"stop\"}"));
	fleet_guest_progress(&c->f, "web1", GS_FAILED, "cannot stop web1", NULL);
	r = call(&c->f, "{\"op\":\"vm-show\",\"name\":\"web1\"}");
	op = json_object_get(json_object_get(r, "guest"), "op");
	assert_string_equal(str(r, "guest", "state"), "running");
	assert_string_equal(str(op, NULL, "state"), "failed");
	assert_string_equal(str(op, NULL, "detail"), "cannot stop web1");
	json_decref(r);
	json_decref(call(&c->f, "{\"op\":\"vm-action\",\"name\":\"web1\",\"action\":\"start\"}"));
	fleet_guest_progress(&c->f, "web1", GS_RUNNING, NULL, NULL);
	r = call(&c->f, "{\"op\":\"vm-show\",\"name\":\"web1\"}");
	op = json_object_get(json_object_get(r, "guest"), "op");
	assert_string_equal(str(op, NULL, "verb"), "start");
	assert_string_equal(str(op, NULL, "state"), "done");
	assert_int_equal(json_integer_value(json_object_get(op, "seq")), 3);
	json_decref(r);
}

/* A running guest's IPv4 address, as its node's agent reported it, is in
 * vm-show and vm-list; anything else is no address (issue 10 #7). */
static void address_is_shown(void **state)
{
	struct ctx *c = *state;
	struct guest *g;
	json_t *r;

	confirm_web1(c);
	fleet_guest_progress(&c->f, "web1", GS_RUNNING, NULL, "tcg");
	g = guests_find(&c->f.guests, "web1");
	r = call(&c->f, "{\"op\":\"vm-show\",\"name\":\"web1\"}");
	assert_null(json_string_value(json_object_get(json_object_get(r, "guest"), "address")));
	json_decref(r);
	assert_true(guest_set_address(g, "10.77.1.5"));
	assert_false(guest_set_address(g, "10.77.1.5"));
	r = call(&c->f, "{\"op\":\"vm-list\"}");
	assert_string_equal(str(json_array_get(json_object_get(r, "guests"), 0), NULL, "address"),
			    "10.77.1.5");
	json_decref(r);
	assert_true(guest_set_address(g, "fe80::1"));
	assert_string_equal(g->address, "");
	assert_false(guest_set_address(g, "10.0.0.256"));
	assert_false(guest_set_address(g, NULL));
	assert_true(guest_set_address(g, "192.168.122.40"));
	fleet_guest_progress(&c->f, "web1", GS_STOPPED, NULL, NULL);
	assert_string_equal(g->address, "");
}

/* A guest being moved carries its move in vm-list as in vm-show: the admin
 * panel polls vm-list only (issue 12). */
static void move_is_listed(void **state)
{
	struct ctx *c = *state;
	struct move_plan p = { .guest = "web1", .source = "alpha", .target = "beta" };
	struct move *mv;
	json_t *r, *g;

	confirm_web1(c);
	r = call(&c->f, "{\"op\":\"vm-list\"}");
	assert_null(json_object_get(json_array_get(json_object_get(r, "guests"), 0), "move"));
	json_decref(r);
	assert_int_equal(moves_begin(&c->f.moves, &p, 1, &mv), 0);
	move_progress(mv, 12ULL << 20, 1ULL << 30, "95.0 MiB/s, 11 s left");
	r = call(&c->f, "{\"op\":\"vm-list\"}");
	g = json_array_get(json_object_get(r, "guests"), 0);
	assert_string_equal(str(g, "move", "phase"), "transfer");
	assert_string_equal(str(g, "move", "target"), "beta");
	assert_string_equal(str(g, "move", "detail"), "95.0 MiB/s, 11 s left");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(g, "move"), "bytes")),
			 12LL << 20);
	json_decref(r);
	r = call(&c->f, "{\"op\":\"vm-show\",\"name\":\"web1\"}");
	assert_string_equal(str(json_object_get(r, "guest"), "move", "source"), "alpha");
	json_decref(r);
	moves_free(&c->f.moves);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(plan_then_confirm_dispatches, setup, teardown),
		cmocka_unit_test_setup_teardown(progress_is_kept_across_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(relayed_detail_is_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(plan_says_why_named_node_cannot_build, setup, teardown),
		cmocka_unit_test_setup_teardown(totebox_needs_a_named_node, setup, teardown),
		cmocka_unit_test_setup_teardown(unconfirmed_plan_expires, setup, teardown),
		cmocka_unit_test_setup_teardown(declined_plan_frees_the_name, setup, teardown),
		cmocka_unit_test_setup_teardown(names_are_unique_and_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(lost_node_guests_stay, setup, teardown),
		cmocka_unit_test_setup_teardown(destroyed_guest_is_forgotten, setup, teardown),
		cmocka_unit_test_setup_teardown(failed_creation_is_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(action_outcome_is_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(address_is_shown, setup, teardown),
		cmocka_unit_test_setup_teardown(move_is_listed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
