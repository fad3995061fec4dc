/* A move's plan and its confirmation against the room the target's agent
 * reported (service-vm-fleet/move-room.h): refused with the numbers when
 * short, planned with them when not, and left to the transfer when the
 * fleet does not know. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/clock.h"
#include "lib/export-manifest.h"
#include "lib/room.h"
#include "service-vm-fleet/api.h"
#include "service-vm-fleet/fleet-move.h"
#include "service-vm-fleet/fleet.h"
#include "service-vm-fleet/move-room.h"
#include "tests/unit/fixture.h"

#define DATA (3ull << 30)

struct ctx {
	char dir[64];
	struct fleet f;
};

static void beat(struct fleet *f, const char *name)
{
	struct heartbeat hb = { .seq = 1, .ncpu = 4, .mem_total_kib = 16ULL << 20,
				.mem_available_kib = 8ULL << 20 };

	snprintf(hb.name, sizeof(hb.name), "%s", name);
	assert_int_equal(registry_heartbeat(&f->reg, &hb, clock_mono_ns(), clock_wall_s()), 0);
}

static int setup(void **state)
{
	static struct ctx c;
	struct guest g = { .name = "vault1", .type = "totebox", .node = "alpha",
			   .memory_bytes = 256ull << 20, .vcpus = 1, .state = GS_RUNNING };
	char path[128];

	memset(&c, 0, sizeof(c));
	assert_int_equal(fixture_tmpdir(c.dir, sizeof(c.dir), "osi-test-move-room"), 0);
	snprintf(path, sizeof(path), "%s/fleet.db", c.dir);
	assert_int_equal(store_open(path, &c.f.store), 0);
	strcpy(c.f.id.name, "fleet");
	c.f.cfg.evict_after_ms = 30000;
	c.f.cfg.plan_ttl_ms = 60000;
	c.f.place.margin_min_bytes = 1ULL << 30;
	c.f.place.margin_percent = 5;
	c.f.started_ns = clock_mono_ns();
	assert_int_equal(registry_init(&c.f.reg, NULL, c.f.started_ns, NULL, NULL), 0);
	beat(&c.f, "alpha");
	beat(&c.f, "beta");
	/* where their heartbeats came from: what fleet_datagram remembers */
	c.f.naddrs = c.f.reg.count;
	c.f.addrs = calloc(c.f.naddrs, sizeof(*c.f.addrs));
	assert_non_null(c.f.addrs);
	for (size_t i = 0; i < c.f.naddrs; i++)
		c.f.addrs[i].ss_family = AF_INET;
	guests_init(&c.f.guests);
	moves_init(&c.f.moves);
	assert_int_equal(guests_add(&c.f.guests, &g), 0);
	*state = &c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	moves_free(&c->f.moves);
	guests_free(&c->f.guests);
	free(c->f.addrs);
	registry_free(&c->f.reg);
	store_close(c->f.store);
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
	reply = api_handle(f, req, "test");
	json_decref(req);
	assert_non_null(reply);
	return reply;
}

/* What the agents' addresses replies would say at wall time when: beta's
 * pool, alpha's guest. */
static void report_at(struct fleet *f, uint64_t beta_free, int64_t when)
{
	json_t *b = json_pack("{s:{}, s:[], s:I}", "addresses", "guests", "pool_free_bytes",
			      (json_int_t)beta_free);
	json_t *a = json_pack("{s:{}, s:[{s:s, s:s, s:s, s:I, s:I}], s:I}", "addresses", "guests",
			      "name", "vault1", "type", "totebox", "state", "running",
			      "data_volumes", (json_int_t)1, "data_bytes", (json_int_t)DATA,
			      "pool_free_bytes", (json_int_t)(100ull << 30));

	fleet_room_report(f, "beta", b, when);
	fleet_room_report(f, "alpha", a, when);
	json_decref(a);
	json_decref(b);
}

static void report(struct fleet *f, uint64_t beta_free)
{
	report_at(f, beta_free, clock_wall_s());
}

static uint64_t need(void)
{
	return export_archive_bound_of(1, DATA) + IMPORT_ROOM_SLACK;
}

static void need_is_the_imports_count(void **state)
{
	(void)state;
	assert_int_equal(move_room_need(1, DATA), need());
	assert_true(move_room_need(1, DATA) > DATA + IMPORT_ROOM_SLACK);
	assert_int_equal(move_room_need(4, UINT64_MAX - 10), UINT64_MAX);
	assert_int_equal(export_archive_bound_of(2, UINT64_MAX), UINT64_MAX);
}

static void unknown_room_is_left_to_the_transfer(void **state)
{
	struct ctx *c = *state;
	json_t *r = call(&c->f, "{\"op\":\"vm-move\",\"name\":\"vault1\",\"to\":\"beta\"}");
	json_t *p = json_object_get(r, "plan"), *m;

	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_true(json_is_null(json_object_get(p, "data_bytes")));
	assert_true(json_is_null(json_object_get(p, "target_pool_free_bytes")));
	assert_non_null(strstr(json_string_value(json_object_get(p, "room")), "not checked now"));
	json_decref(r);

	/* the guest's size known, the target's pool not (an older agent there) */
	report(&c->f, 1);
	m = json_object();
	fleet_room_report(&c->f, "beta", m, clock_wall_s());
	json_decref(m);
	r = call(&c->f, "{\"op\":\"vm-move\",\"name\":\"vault1\",\"to\":\"beta\"}");
	p = json_object_get(r, "plan");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_integer_value(json_object_get(p, "data_bytes")), (json_int_t)DATA);
	assert_true(json_is_null(json_object_get(p, "target_pool_free_bytes")));
	assert_non_null(strstr(json_string_value(json_object_get(p, "room")),
			       "has not reported its pool's free space"));
	json_decref(r);
}

static void short_pool_refuses_the_plan(void **state)
{
	struct ctx *c = *state;
	const char *err;
	json_t *r;

	report(&c->f, need() - 1);
	r = call(&c->f, "{\"op\":\"vm-move\",\"name\":\"vault1\",\"to\":\"beta\"}");
	assert_false(json_is_true(json_object_get(r, "ok")));
	err = json_string_value(json_object_get(r, "error"));
	assert_non_null(strstr(err, "beta's storage pool has 3.0G free; moving vault1 needs 3.0G there"));
	assert_non_null(strstr(err, "1 data volume(s) of 3.0G, and 16.0M for the root overlay and seed"));
	assert_non_null(strstr(err, "nothing was shut down"));
	assert_int_equal(c->f.moves.nplans, 0);
	json_decref(r);
}

static void enough_room_plans_with_the_numbers(void **state)
{
	struct ctx *c = *state;
	json_t *r, *p;

	report(&c->f, need());
	r = call(&c->f, "{\"op\":\"vm-move\",\"name\":\"vault1\",\"to\":\"beta\"}");
	p = json_object_get(r, "plan");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_integer_value(json_object_get(p, "data_volumes")), 1);
	assert_int_equal(json_integer_value(json_object_get(p, "data_bytes")), (json_int_t)DATA);
	assert_int_equal(json_integer_value(json_object_get(p, "target_pool_free_bytes")),
			 (json_int_t)need());
	assert_int_equal(json_integer_value(json_object_get(p, "room_needed_bytes")), (json_int_t)need());
	assert_non_null(strstr(json_string_value(json_object_get(p, "room")), "beta's pool has"));
	json_decref(r);
}

/* Figures older than ROOM_FRESH_S (the agent's replies stopped) are not
 * known: the plan says how old, and the transfer's check decides. */
static void stale_room_is_left_to_the_transfer(void **state)
{
	struct ctx *c = *state;
	json_t *r, *p;

	report_at(&c->f, 1, clock_wall_s() - ROOM_FRESH_S - 30); /* would refuse, were it fresh */
	r = call(&c->f, "{\"op\":\"vm-move\",\"name\":\"vault1\",\"to\":\"beta\"}");
	p = json_object_get(r, "plan");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_true(json_is_null(json_object_get(p, "data_bytes")));
	assert_non_null(strstr(json_string_value(json_object_get(p, "room")), "last reported the size"));
	json_decref(r);
	/* the guest's size fresh, beta's pool stale */
	report(&c->f, 1);
	registry_find(&c->f.reg, "beta")->pool_wall = clock_wall_s() - ROOM_FRESH_S - 30;
	r = call(&c->f, "{\"op\":\"vm-move\",\"name\":\"vault1\",\"to\":\"beta\"}");
	p = json_object_get(r, "plan");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(p, "room")),
			       "last reported its pool's free space"));
	json_decref(r);
}

/* The target's reason for refusing a move (its full-pool sentence, or a
 * SHA-256 mismatch naming two digests) reaches the guest's detail, which
 * `vm move` prints once the move is undone, whole. Seen cut at 200 bytes:
 * "... (root overlay, seed): noth". */
static void undone_reason_whole(void **state)
{
	struct ctx *c = *state;
	const char *why = "the target refused the transfer: storage pool osi has 4.0M free, vault1 "
			  "needs 730.0K (data volumes) + 16.0M (root overlay, seed): nothing was defined "
			  "here; volumes/data-archive.qcow2: altered (in the archive, or in transit)";
	struct move_plan *p, taken;
	struct move *mv;
	char token[MOVE_PLAN_HEX + 1];
	json_t *line;

	assert_int_equal(moves_plan(&c->f.moves, "vault1", "alpha", "beta", 0, 120000000000ull, &p), 0);
	snprintf(token, sizeof(token), "%s", p->token);
	assert_int_equal(moves_take_plan(&c->f.moves, token, 1, &taken), 0);
	assert_int_equal(moves_begin(&c->f.moves, &taken, 1000, &mv), 0);
	line = json_pack("{s:s, s:s}", "state", "failed", "detail", why);
	fleet_move_line(&c->f, "vault1", MS_OUT, line);
	json_decref(line);
	line = json_pack("{s:s, s:s}", "state", "failed", "detail", "the source's stream broke off");
	fleet_move_line(&c->f, "vault1", MS_IN, line);
	json_decref(line);
	line = json_pack("{s:s}", "state", "discarded");
	fleet_move_line(&c->f, "vault1", MS_ABORT_TARGET, line);
	fleet_move_line(&c->f, "vault1", MS_ABORT_SOURCE, line);
	json_decref(line);
	assert_null(moves_find(&c->f.moves, "vault1"));
	assert_non_null(strstr(guests_find(&c->f.guests, "vault1")->detail, why));
	assert_non_null(strstr(guests_find(&c->f.guests, "vault1")->detail, "failed and was undone"));
}

/* The pool filled between the plan and its confirmation: refused then. */
static void confirm_checks_again(void **state)
{
	struct ctx *c = *state;
	char token[80];
	json_t *r;

	report(&c->f, need() + (1ull << 30));
	r = call(&c->f, "{\"op\":\"vm-move\",\"name\":\"vault1\",\"to\":\"beta\"}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	snprintf(token, sizeof(token), "%s",
		 json_string_value(json_object_get(json_object_get(r, "plan"), "token")));
	json_decref(r);
	report(&c->f, 5ull << 20);
	r = call(&c->f, "{\"op\":\"vm-move-confirm\",\"token\":\"%s\",\"how\":\"cli-yes\"}", token);
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "error")),
			       "beta's storage pool has 5.0M free"));
	assert_null(moves_find(&c->f.moves, "vault1"));
	json_decref(r);
}

/* A reply that no longer names them (the agent downgraded, libvirt did not
 * answer) forgets them; a malformed figure is not taken; a guest the fleet
 * has on another node is not another node's to size. */
static void reports_forget_and_refuse_junk(void **state)
{
	struct ctx *c = *state;
	const struct node *beta = registry_find(&c->f.reg, "beta");
	const struct guest *g = guests_find(&c->f.guests, "vault1");
	json_t *m;

	report(&c->f, 7);
	assert_true(beta->pool_known && g->data_known);
	assert_int_equal(beta->pool_free_bytes, 7);
	assert_true(registry_find(&c->f.reg, "beta")->pool_wall >= clock_wall_s() - 1);
	m = json_pack("{s:I, s:[{s:s, s:I, s:I}]}", "pool_free_bytes", (json_int_t)-1, "guests",
		      "name", "vault1", "data_volumes", (json_int_t)1, "data_bytes", (json_int_t)5);
	fleet_room_report(&c->f, "beta", m, clock_wall_s());
	assert_false(beta->pool_known);
	assert_true(g->data_known); /* vault1 is alpha's */
	assert_int_equal(g->data_bytes, DATA);
	json_decref(m);
	m = json_pack("{s:[{s:s, s:I, s:s}]}", "guests", "name", "vault1", "data_volumes",
		      (json_int_t)1, "data_bytes", "5");
	fleet_room_report(&c->f, "alpha", m, clock_wall_s());
	assert_false(g->data_known);
	json_decref(m);
	report(&c->f, 7);
	m = json_pack("{s:[{s:s, s:I, s:I}]}", "guests", "name", "vault1", "data_volumes",
		      (json_int_t)EXPORT_VOLUMES_MAX + 1, "data_bytes", (json_int_t)5);
	fleet_room_report(&c->f, "alpha", m, clock_wall_s());
	assert_false(g->data_known);
	json_decref(m);
	report(&c->f, 7);
	m = json_object();
	fleet_room_report(&c->f, "alpha", m, clock_wall_s());
	json_decref(m);
	assert_false(g->data_known);
	assert_int_equal(g->data_bytes, 0);
	/* an entry without a name, or not an object (the fuzzer's first find) */
	report(&c->f, 7);
	m = json_pack("{s:[{s:I, s:I}, i, n]}", "guests", "data_volumes", (json_int_t)1, "data_bytes",
		      (json_int_t)5, 3);
	fleet_room_report(&c->f, "alpha", m, clock_wall_s());
	assert_false(g->data_known);
	json_decref(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(need_is_the_imports_count),
		cmocka_unit_test_setup_teardown(stale_room_is_left_to_the_transfer, setup, teardown),
		cmocka_unit_test_setup_teardown(undone_reason_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_room_is_left_to_the_transfer, setup, teardown),
		cmocka_unit_test_setup_teardown(short_pool_refuses_the_plan, setup, teardown),
		cmocka_unit_test_setup_teardown(enough_room_plans_with_the_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(confirm_checks_again, setup, teardown),
		cmocka_unit_test_setup_teardown(reports_forget_and_refuse_junk, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
