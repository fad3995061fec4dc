#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "service-vm-fleet/api.h"
#include "lib/clock.h"
#include "service-vm-fleet/fleet.h"
#include "tests/unit/fixture.h"

struct ctx {
	char dir[64];
	struct fleet f;
};

static void beat(struct fleet *f, const char *name, uint64_t avail_gib, uint64_t seq)
{
	struct heartbeat hb = { .seq = seq, .ncpu = 4, .cpu_busy_permille = 250,
				.mem_total_kib = 16ULL << 20, .mem_available_kib = avail_gib << 20 };

	struct store_node row = { .name = name, .state = "live", .registered_wall = 1 };

	snprintf(hb.name, sizeof(hb.name), "%s", name);
	assert_int_equal(registry_heartbeat(&f->reg, &hb, clock_mono_ns(), clock_wall_s()), 0);
	/* what the fleet's event hook does on registration */
	assert_int_equal(store_transition(f->store, &row, "registered", "test", 1, NULL), 0);
}

static int setup(void **state)
{
	static struct ctx c;
	struct registry_config rc = { .evict_after_ns = 30 * NSEC_PER_SEC, .hold_min_live = 3 };
	char path[128];

	memset(&c, 0, sizeof(c));
	assert_int_equal(fixture_tmpdir(c.dir, sizeof(c.dir), "osi-test-api"), 0);
	snprintf(path, sizeof(path), "%s/fleet.db", c.dir);
	assert_int_equal(store_open(path, &c.f.store), 0);
	strcpy(c.f.id.name, "fleet");
	c.f.cfg.evict_after_ms = 30000;
	c.f.place.margin_min_bytes = 1ULL << 30;
	c.f.place.margin_percent = 5;
	c.f.started_ns = clock_mono_ns();
	assert_int_equal(registry_init(&c.f.reg, &rc, c.f.started_ns, NULL, NULL), 0);
	beat(&c.f, "beta", 8, 1);
	beat(&c.f, "alpha", 4, 1);
	beat(&c.f, "gamma", 1, 1);
	*state = &c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	registry_free(&c->f.reg);
	store_close(c->f.store);
	assert_int_equal(fixture_rmtree(c->dir), 0);
	return 0;
}

static json_t *call(struct fleet *f, const char *text)
{
	char err[200];
	json_t *req = api_parse_request(text, strlen(text), err, sizeof(err));
	json_t *reply;

	assert_non_null(req);
	reply = api_handle(f, req, "test");
	json_decref(req);
	assert_non_null(reply);
	return reply;
}

static const char *error_of(json_t *reply)
{
	assert_false(json_is_true(json_object_get(reply, "ok")));
	return json_string_value(json_object_get(reply, "error"));
}

static void status_lists_sorted_nodes(void **state)
{
	struct ctx *c = *state;
	json_t *r = call(&c->f, "{\"op\":\"status\"}");
	json_t *nodes = json_object_get(r, "nodes");
	json_t *alpha = json_array_get(nodes, 0);

	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_array_size(nodes), 3);
	assert_string_equal(json_string_value(json_object_get(alpha, "name")), "alpha");
	assert_string_equal(json_string_value(json_object_get(alpha, "state")), "live");
	assert_int_equal(json_integer_value(json_object_get(alpha, "mem_available_bytes")), 4LL << 30);
	assert_int_equal(json_integer_value(json_object_get(alpha, "ncpu")), 4);
	assert_true(json_real_value(json_object_get(alpha, "cpu_percent")) == 25.0);
	assert_false(json_is_true(json_object_get(json_object_get(r, "fleet"), "holding")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "fleet"), "nodes_live")), 3);
	assert_true(json_is_array(json_object_get(r, "guests"))); /* guests shown with the nodes */
	json_decref(r);
}

static void place_ranks_and_excludes(void **state)
{
	struct ctx *c = *state;
	json_t *r = call(&c->f, "{\"op\":\"place\",\"memory_bytes\":2147483648,\"vcpus\":2}");
	json_t *cands = json_object_get(r, "candidates");
	json_t *excl = json_object_get(r, "excluded");

	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "suggestion")), "beta");
	assert_int_equal(json_array_size(cands), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(cands, 1), "name")), "alpha");
	assert_int_equal(json_array_size(excl), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(excl, 0), "name")), "gamma");
	assert_string_equal(json_string_value(json_object_get(json_array_get(excl, 0), "reason")), "memory");
	assert_null(json_object_get(r, "placement_id")); /* a dry run records nothing */
	json_decref(r);
}

static void commit_reserves_and_logs(void **state)
{
	struct ctx *c = *state;
	json_t *r = call(&c->f, "{\"op\":\"place\",\"memory_bytes\":6442450944,\"vcpus\":1,"
				"\"commit\":true,\"guest_name\":\"web1\",\"type\":\"mediakit\"}");
	json_t *ev;

	assert_string_equal(json_string_value(json_object_get(r, "suggestion")), "beta");
	assert_true(json_integer_value(json_object_get(r, "placement_id")) > 0);
	json_decref(r);
	/* beta now has 2 GiB left: the next 2 GiB request goes to alpha. */
	r = call(&c->f, "{\"op\":\"place\",\"memory_bytes\":2147483648,\"vcpus\":1}");
	assert_string_equal(json_string_value(json_object_get(r, "suggestion")), "alpha");
	json_decref(r);
	r = call(&c->f, "{\"op\":\"events\"}");
	ev = json_object_get(r, "events");
	/* oldest first: the three registrations, then the placement */
	assert_int_equal(json_array_size(ev), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 3), "kind")), "placed");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 3), "node")), "beta");
	json_decref(r);
}

static void no_fit_is_an_answer(void **state)
{
	struct ctx *c = *state;
	json_t *r = call(&c->f, "{\"op\":\"place\",\"memory_bytes\":68719476736,\"vcpus\":1}");

	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_true(json_is_null(json_object_get(r, "suggestion")));
	assert_false(json_is_true(json_object_get(r, "fits")));
	assert_int_equal(json_array_size(json_object_get(r, "excluded")), 3);
	json_decref(r);
}

static void refusals(void **state)
{
	struct ctx *c = *state;
	json_t *r;

	r = call(&c->f, "{\"op\":\"place\",\"memory_bytes\":1,\"vcpus\":1,\"type\":\"totebox\",\"commit\":true}");
	assert_non_null(strstr(error_of(r), "Totebox"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"place\",\"memory_bytes\":1,\"vcpus\":1,\"commit\":true}");
	assert_non_null(strstr(error_of(r), "type"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"place\",\"memory_bytes\":-5,\"vcpus\":1}");
	assert_non_null(strstr(error_of(r), "memory_bytes"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"place\",\"memory_bytes\":5,\"vcpus\":1,\"type\":\"vax\"}");
	assert_non_null(strstr(error_of(r), "guest type"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"place\",\"memory_bytes\":5,\"vcpus\":1,\"node\":\"nope\"}");
	assert_non_null(strstr(error_of(r), "nope"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"node\",\"name\":\"nope\"}");
	assert_non_null(strstr(error_of(r), "nope"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"migrate\"}");
	assert_non_null(strstr(error_of(r), "excluded by design"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"hold-override\"}");
	assert_non_null(strstr(error_of(r), "not holding"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"reboot-everything\"}");
	assert_non_null(strstr(error_of(r), "unknown op"));
	json_decref(r);
}

static void changes_need_admin(void **state)
{
	static const char *const looks[] = { "{\"op\":\"status\"}", "{\"op\":\"events\"}",
		"{\"op\":\"vm-list\"}", "{\"op\":\"place\",\"memory_bytes\":1,\"vcpus\":1}" };
	static const char *const changes[] = { "{\"op\":\"hold-override\"}", "{\"op\":\"vm-plan\"}",
		"{\"op\":\"vm-confirm\"}", "{\"op\":\"vm-action\"}", "{\"op\":\"vm-cancel\"}",
		"{\"op\":\"place\",\"commit\":true}", "{\"op\":\"something-new\"}" };
	char err[200];

	for (size_t i = 0; i < 4; i++) {
		json_t *r = api_parse_request(looks[i], strlen(looks[i]), err, sizeof(err));
		assert_false(api_op_changes(r));
		json_decref(r);
	}
	for (size_t i = 0; i < 7; i++) {
		json_t *r = api_parse_request(changes[i], strlen(changes[i]), err, sizeof(err));
		assert_true(api_op_changes(r));
		json_decref(r);
	}
}

/* Derived from the operation table, so an operation added later cannot be
 * left open: over TCP, a non-admin member may only look. */
static void every_change_is_refused_to_a_non_admin(void **state)
{
	const struct api_op *op;
	unsigned changes = 0;

	for (unsigned i = 0; (op = api_op_at(i)); i++) {
		json_t *req = json_pack("{s:s}", "op", op->name);

		assert_ptr_equal(api_op_find(op->name), op);
		if (op->changes == API_CHANGES_IF_COMMIT) {
			assert_null(api_refusal(req, false, false));   /* a dry run */
			json_object_set_new(req, "commit", json_true());
		}
		if (op->changes != API_READS) {
			assert_string_equal(api_refusal(req, false, false), "this operation needs the admin role");
			changes++;
		} else {
			assert_null(api_refusal(req, false, false));
		}
		assert_null(api_refusal(req, true, false));   /* the local socket */
		assert_null(api_refusal(req, false, true));   /* an admin member */
		json_decref(req);
	}
	assert_true(changes >= 6);
	assert_null(api_op_find("something-new"));
}

/* Dispatch reads the same table: every operation in it has a handler that
 * answers, even to a request with nothing but its name. */
static void every_op_is_dispatched(void **state)
{
	struct ctx *c = *state;
	const struct api_op *op;

	for (unsigned i = 0; (op = api_op_at(i)); i++) {
		json_t *req = json_pack("{s:s}", "op", op->name);
		json_t *r = api_handle(&c->f, req, "test");
		const char *err = json_string_value(json_object_get(r, "error"));

		assert_true(json_is_boolean(json_object_get(r, "ok")));
		assert_true(!err || !strstr(err, "unknown op"));
		json_decref(r);
		json_decref(req);
	}
	for (unsigned i = 0; i < 2; i++) {
		json_t *r = call(&c->f, i ? "{\"op\":\"vm-migrate\"}" : "{\"op\":\"migrate\"}");

		assert_string_equal(error_of(r), "live migration is excluded by design: a guest stays on "
				    "the node it was placed on; to move one, create a new guest elsewhere "
				    "and move the data");
		json_decref(r);
	}
}

/* A published port is refused on 7101-7105 and twice, recorded and shown. */
static void publish(void **state)
{
	struct ctx *c = *state;
	struct guest g = { .name = "site", .type = "mediakit", .node = "beta", .state = GS_RUNNING };
	json_t *r, *shown;

	strcpy(c->f.cfg.guest_zone, "osi.internal");
	guests_init(&c->f.guests);
	assert_int_equal(guests_add(&c->f.guests, &g), 0);
	r = call(&c->f, "{\"op\":\"vm-publish\",\"name\":\"site\",\"port\":80,\"host_port\":7102}");
	assert_non_null(strstr(error_of(r), "7101-7105"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"vm-publish\",\"name\":\"nobody\",\"port\":80}");
	assert_non_null(strstr(error_of(r), "no guest"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"vm-publish\",\"name\":\"site\",\"port\":80,\"host_port\":8080}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"vm-publish\",\"name\":\"site\",\"port\":443,\"host_port\":8080}");
	assert_non_null(strstr(error_of(r), "already published"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"vm-show\",\"name\":\"site\"}");
	shown = json_object_get(json_object_get(r, "guest"), "published");
	assert_int_equal(json_array_size(shown), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(shown, 0), "host_port")), 8080);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "guest"), "fqdn")),
			    "site.osi.internal");
	json_decref(r);
	r = call(&c->f, "{\"op\":\"vm-unpublish\",\"name\":\"site\",\"port\":80,\"proto\":\"udp\"}");
	assert_non_null(strstr(error_of(r), "not published"));
	json_decref(r);
	r = call(&c->f, "{\"op\":\"vm-unpublish\",\"name\":\"site\",\"port\":80}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	assert_int_equal(c->f.pubs.count, 0);
	pubs_free(&c->f.pubs);
	guests_free(&c->f.guests);
}

static void parse_rejects_non_requests(void **state)
{
	char err[200];

	assert_null(api_parse_request("[1,2]", 5, err, sizeof(err)));
	assert_null(api_parse_request("{\"op\":1}", 8, err, sizeof(err)));
	assert_null(api_parse_request("{\"op\":\"a\",\"op\":\"b\"}", 19, err, sizeof(err)));
	assert_null(api_parse_request("{", 1, err, sizeof(err)));
	assert_non_null(strstr(err, "not JSON"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(status_lists_sorted_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(place_ranks_and_excludes, setup, teardown),
		cmocka_unit_test_setup_teardown(commit_reserves_and_logs, setup, teardown),
		cmocka_unit_test_setup_teardown(no_fit_is_an_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(refusals, setup, teardown),
		cmocka_unit_test(parse_rejects_non_requests),
		cmocka_unit_test(changes_need_admin),
		cmocka_unit_test(every_change_is_refused_to_a_non_admin),
		cmocka_unit_test_setup_teardown(every_op_is_dispatched, setup, teardown),
		cmocka_unit_test_setup_teardown(publish, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
