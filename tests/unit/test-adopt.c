#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/clock.h"
#include "service-vm-fleet/adopt.h"
#include "service-vm-fleet/fleet.h"
#include "tests/unit/fixture.h"

struct ctx {
	char dir[64];
	char db[96];
	struct fleet f;
	int ndispatched;
};

static struct ctx *current;

static void record_dispatch(struct fleet *f, const struct guest *g, const char *action)
{
	current->ndispatched++;
}

static int setup(void **state)
{
	static struct ctx c;
	struct registry_config rc = { .evict_after_ns = 30 * NSEC_PER_SEC, .hold_min_live = 3 };

	memset(&c, 0, sizeof(c));
	assert_int_equal(fixture_tmpdir(c.dir, sizeof(c.dir), "osi-test-adopt"), 0);
	snprintf(c.db, sizeof(c.db), "%s/fleet.db", c.dir);
	assert_int_equal(store_open(c.db, &c.f.store), 0);
	strcpy(c.f.id.name, "fleet");
	c.f.dispatch = record_dispatch;
	guests_init(&c.f.guests);
	assert_int_equal(registry_init(&c.f.reg, &rc, clock_mono_ns(), NULL, NULL), 0);
	current = &c;
	*state = &c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	registry_free(&c->f.reg);
	guests_free(&c->f.guests);
	store_close(c->f.store);
	assert_int_equal(fixture_rmtree(c->dir), 0);
	return 0;
}

static json_t *vm(const char *name, const char *state)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:s}", "name", name, "type", "totebox",
			 "state", state, "vcpus", 2, "memory_kib", 1048576, "owner", "ops",
			 "instance_id", "iid-1234");
}

static void add_known(struct fleet *f, const char *name, const char *node)
{
	struct guest g = { .state = GS_RUNNING, .vcpus = 1, .memory_bytes = 512ULL << 20 };

	snprintf(g.name, sizeof(g.name), "%s", name);
	snprintf(g.type, sizeof(g.type), "totebox");
	snprintf(g.node, sizeof(g.node), "%s", node);
	assert_int_equal(guests_add(&f->guests, &g), 0);
}

/* How many events of kind the store holds. */
static size_t events_of(struct fleet *f, const char *kind)
{
	json_t *all, *e;
	size_t i, n = 0;

	assert_int_equal(store_events_json(f->store, 0, 0, &all), 0);
	json_array_foreach(all, i, e)
		n += !strcmp(json_string_value(json_object_get(e, "kind")), kind);
	json_decref(all);
	return n;
}

static void unknown_guest_is_adopted(void **state)
{
	struct ctx *c = *state;
	json_t *list = json_pack("[o, o]", vm("web1", "running"), vm("db1", "stopped"));
	const struct guest *g;

	assert_int_equal(fleet_adopt_report(&c->f, "alpha", list, 100), 2);
	g = guests_find(&c->f.guests, "web1");
	assert_non_null(g);
	assert_string_equal(g->node, "alpha");
	assert_string_equal(g->type, "totebox");
	assert_int_equal(g->state, GS_RUNNING);
	assert_int_equal(g->vcpus, 2);
	assert_int_equal(g->memory_bytes, 1ULL << 30);
	assert_non_null(strstr(g->detail, "owner ops, instance-id iid-1234"));
	assert_int_equal(guests_find(&c->f.guests, "db1")->state, GS_STOPPED);
	assert_int_equal(events_of(&c->f, "adopted"), 2);
	assert_int_equal(c->ndispatched, 0);
	/* reported again: known, nothing more */
	assert_int_equal(fleet_adopt_report(&c->f, "alpha", list, 101), 0);
	assert_int_equal(events_of(&c->f, "adopted"), 2);
	assert_int_equal(c->f.guests.count, 2);
	json_decref(list);
}

/* The fleet destroyed it there a moment ago: the node's inventory, sampled
 * before the destroy, does not bring it back (vm-move saw a destroyed guest
 * adopted again 0.2 s after its destroy); later it would. */
static void destroyed_lately_is_not_adopted(void **state)
{
	struct ctx *c = *state;
	json_t *list = json_pack("[o]", vm("gone1", "running"));

	adopt_forget("alpha", "gone1", 1000);
	assert_int_equal(fleet_adopt_report(&c->f, "alpha", list, 1001), 0);
	assert_null(guests_find(&c->f.guests, "gone1"));
	assert_int_equal(fleet_adopt_report(&c->f, "beta", list, 1001), 1); /* another node's */
	assert_non_null(guests_find(&c->f.guests, "gone1"));
	json_decref(list);
	list = json_pack("[o]", vm("gone2", "running"));
	adopt_forget("alpha", "gone2", 1000);
	assert_int_equal(fleet_adopt_report(&c->f, "alpha", list, 1000 + ADOPT_FORGOTTEN_S), 1);
	json_decref(list);
}

static void known_guest_is_kept(void **state)
{
	struct ctx *c = *state;
	json_t *list = json_pack("[o]", vm("web1", "stopped"));

	add_known(&c->f, "web1", "alpha");
	assert_int_equal(fleet_adopt_report(&c->f, "alpha", list, 100), 0);
	assert_int_equal(guests_find(&c->f.guests, "web1")->state, GS_RUNNING);
	assert_int_equal(guests_find(&c->f.guests, "web1")->vcpus, 1);
	assert_int_equal(events_of(&c->f, "adopted"), 0);
	assert_int_equal(c->ndispatched, 0);
	json_decref(list);
}

static void conflict_is_reported_once(void **state)
{
	struct ctx *c = *state;
	json_t *list = json_pack("[o]", vm("git1", "running"));

	add_known(&c->f, "git1", "beta");
	assert_int_equal(fleet_adopt_report(&c->f, "alpha", list, 100), 0);
	assert_string_equal(guests_find(&c->f.guests, "git1")->node, "beta");
	assert_int_equal(events_of(&c->f, "conflict"), 1);
	assert_int_equal(fleet_adopt_report(&c->f, "alpha", list, 115), 0);
	assert_int_equal(events_of(&c->f, "conflict"), 1);
	assert_int_equal(c->f.guests.count, 1);
	assert_int_equal(c->ndispatched, 0);
	json_decref(list);
}

static void malformed_report_is_refused(void **state)
{
	struct ctx *c = *state;
	static const char *const bad[] = {
		"{\"type\":\"totebox\",\"state\":\"running\",\"vcpus\":1,\"memory_kib\":1048576,"
		"\"owner\":\"o\",\"instance_id\":\"i\"}",
		"{\"name\":\"Bad Name\",\"type\":\"totebox\",\"state\":\"running\",\"vcpus\":1,"
		"\"memory_kib\":1048576,\"owner\":\"o\",\"instance_id\":\"i\"}",
		"{\"name\":\"x1\",\"type\":\"toaster\",\"state\":\"running\",\"vcpus\":1,"
		"\"memory_kib\":1048576,\"owner\":\"o\",\"instance_id\":\"i\"}",
		"{\"name\":\"x1\",\"type\":\"totebox\",\"state\":\"paused\",\"vcpus\":1,"
		"\"memory_kib\":1048576,\"owner\":\"o\",\"instance_id\":\"i\"}",
		"{\"name\":\"x1\",\"type\":\"totebox\",\"state\":\"running\",\"vcpus\":0,"
		"\"memory_kib\":1048576,\"owner\":\"o\",\"instance_id\":\"i\"}",
		"{\"name\":\"x1\",\"type\":\"totebox\",\"state\":\"running\",\"vcpus\":4294967297,"
		"\"memory_kib\":1048576,\"owner\":\"o\",\"instance_id\":\"i\"}",
		"{\"name\":\"x1\",\"type\":\"totebox\",\"state\":\"running\",\"vcpus\":1,"
		"\"memory_kib\":-1,\"owner\":\"o\",\"instance_id\":\"i\"}",
		"{\"name\":\"x1\",\"type\":\"totebox\",\"state\":\"running\",\"vcpus\":1,"
		"\"memory_kib\":1048576,\"owner\":\"a b\",\"instance_id\":\"i\"}",
	};
	json_t *good = vm("ok1", "running");

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *e = json_loads(bad[i], 0, NULL), *list;

		assert_non_null(e);
		list = json_pack("[O, o]", good, e);
		assert_int_equal(fleet_adopt_report(&c->f, "alpha", list, 100), -EBADMSG);
		json_decref(list);
	}
	json_t *notlist = json_object();
	assert_int_equal(fleet_adopt_report(&c->f, "alpha", notlist, 100), -EBADMSG);
	json_decref(notlist);
	/* nothing of a refused report is taken, not even its sound entries */
	assert_int_equal(c->f.guests.count, 0);
	assert_int_equal(events_of(&c->f, "adopted"), 0);
	json_decref(good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(unknown_guest_is_adopted, setup, teardown),
		cmocka_unit_test_setup_teardown(destroyed_lately_is_not_adopted, setup, teardown),
		cmocka_unit_test_setup_teardown(known_guest_is_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(conflict_is_reported_once, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed_report_is_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
