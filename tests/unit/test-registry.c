#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/clock.h"
#include "service-vm-fleet/registry.h"

#define SEC NSEC_PER_SEC
#define MS NSEC_PER_MSEC
#define T0 (1000 * SEC) /* the fleet's start on the monotonic clock */

struct event {
	enum reg_event ev;
	char node[NODE_NAME_MAX + 1];
	char detail[256];
};

struct events {
	struct event v[64];
	size_t n;
};

static void record(void *ctx, enum reg_event ev, const struct node *node, const char *detail)
{
	struct events *e = ctx;

	assert_true(e->n < 64);
	e->v[e->n].ev = ev;
	snprintf(e->v[e->n].node, sizeof(e->v[0].node), "%s", node ? node->name : "");
	snprintf(e->v[e->n].detail, sizeof(e->v[0].detail), "%s", detail);
	e->n++;
}

static void expect_event(const struct events *e, size_t i, enum reg_event ev, const char *node,
			 const char *detail)
{
	assert_true(i < e->n);
	assert_string_equal(reg_event_name(e->v[i].ev), reg_event_name(ev));
	assert_string_equal(e->v[i].node, node);
	if (detail)
		assert_string_equal(e->v[i].detail, detail);
}

static struct heartbeat sample(const char *name)
{
	struct heartbeat hb = {
		.seq = 1, .ncpu = 4, .mem_total_kib = 16ULL * 1024 * 1024,
		.mem_available_kib = 8ULL * 1024 * 1024, .guests_running = 1, .interval_ms = 10000,
	};

	snprintf(hb.name, sizeof(hb.name), "%s", name);
	return hb;
}

static void beat(struct registry *r, const char *name, uint64_t now)
{
	struct heartbeat hb = sample(name);

	assert_int_equal(registry_heartbeat(r, &hb, now, 1700000000), 0);
}

static enum node_state state_of(const struct registry *r, const char *name)
{
	const struct node *n = registry_find(r, name);

	assert_non_null(n);
	return n->state;
}

/* The compact placement view must mirror every node. */
static void check_fit(const struct registry *r)
{
	for (size_t i = 0; i < r->count; i++) {
		const struct node *n = &r->nodes[i];
		const struct node_fit *f = &r->fit[i];

		assert_int_equal(f->available, node_available_bytes(n));
		assert_int_equal(f->mem_total, n->has_sample ? n->last.mem_total_kib * 1024 : 0);
		assert_int_equal(f->guests, node_guests(n));
		assert_int_equal(f->ncpu, n->has_sample ? n->last.ncpu : 0);
		assert_int_equal(f->live, n->state == NODE_LIVE);
		assert_int_equal(f->sampled, n->has_sample);
		assert_int_equal(f->revoked, n->revoked);
	}
}

static void setup_reg(struct registry *r, struct events *ev)
{
	const struct registry_config cfg = { .evict_after_ns = 30 * SEC, .hold_min_live = 3 };

	memset(ev, 0, sizeof(*ev));
	assert_int_equal(registry_init(r, &cfg, T0, record, ev), 0);
}

static void test_init(void **state)
{
	const struct registry_config zero = { 0 };
	struct registry r;

	assert_int_equal(registry_init(&r, NULL, T0, NULL, NULL), 0);
	assert_int_equal(r.cfg.evict_after_ns, 30 * SEC);
	assert_int_equal(r.cfg.hold_min_live, 3);
	assert_int_equal(r.started_ns, T0);
	assert_int_equal(r.count, 0);
	assert_null(registry_find(&r, "a"));
	assert_int_equal(registry_next_due(&r), UINT64_MAX);
	registry_sweep(&r, T0 + 3600 * SEC);
	assert_false(r.holding);
	registry_free(&r);
	assert_int_equal(registry_init(&r, &zero, T0, NULL, NULL), -EINVAL);
}

static void test_event_names(void **state)
{
	assert_string_equal(reg_event_name(REG_EV_REGISTERED), "registered");
	assert_string_equal(reg_event_name(REG_EV_EVICTED), "evicted");
	assert_string_equal(reg_event_name(REG_EV_READMITTED), "readmitted");
	assert_string_equal(reg_event_name(REG_EV_HOLD_START), "held");
	assert_string_equal(reg_event_name(REG_EV_HOLD_END), "hold-released");
	assert_string_equal(reg_event_name(REG_EV_PLACED), "placed");
	assert_string_equal(reg_event_name((enum reg_event)99), "unknown");
}

static void test_register_refresh(void **state)
{
	struct registry r;
	struct events ev;
	struct heartbeat hb = sample("alpha");
	const struct node *n;

	setup_reg(&r, &ev);
	assert_int_equal(registry_heartbeat(&r, &hb, T0 + SEC, 1700000001), 0);
	assert_int_equal(ev.n, 1);
	expect_event(&ev, 0, REG_EV_REGISTERED, "alpha", "first heartbeat: 4 CPUs, 16.0G RAM");
	n = registry_find(&r, "alpha");
	assert_non_null(n);
	assert_int_equal(n->state, NODE_LIVE);
	assert_true(n->heard);
	assert_true(n->has_sample);
	assert_int_equal(n->last_seen_ns, T0 + SEC);
	assert_int_equal(n->last_seen_wall, 1700000001);
	assert_int_equal(n->registered_wall, 1700000001);
	assert_int_equal(n->last.mem_available_kib, 8ULL * 1024 * 1024);

	hb.seq = 2;
	hb.mem_available_kib = 1024;
	assert_int_equal(registry_heartbeat(&r, &hb, T0 + 11 * SEC, 1700000011), 0);
	assert_int_equal(ev.n, 1);
	assert_int_equal(r.count, 1);
	assert_int_equal(n->last_seen_ns, T0 + 11 * SEC);
	assert_int_equal(n->last_seen_wall, 1700000011);
	assert_int_equal(n->registered_wall, 1700000001);
	assert_int_equal(n->last.seq, 2);
	assert_int_equal(n->last.mem_available_kib, 1024);

	snprintf(hb.name, sizeof(hb.name), "Bad_Name");
	assert_int_equal(registry_heartbeat(&r, &hb, T0 + 12 * SEC, 0), -EINVAL);
	hb.name[0] = '\0';
	assert_int_equal(registry_heartbeat(&r, &hb, T0 + 12 * SEC, 0), -EINVAL);
	assert_int_equal(r.count, 1);
	assert_int_equal(ev.n, 1);
	registry_free(&r);
}

/* Strictly more than the window: live at +29.9 s and at exactly +30 s. */
static void test_eviction_boundary(void **state)
{
	const uint64_t t = T0 + 5 * SEC;
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	beat(&r, "alpha", t);
	registry_sweep(&r, t + 29900 * MS);
	assert_int_equal(state_of(&r, "alpha"), NODE_LIVE);
	registry_sweep(&r, t + 30 * SEC);
	assert_int_equal(state_of(&r, "alpha"), NODE_LIVE);
	assert_int_equal(r.evictions, 0);
	assert_int_equal(ev.n, 1);
	registry_sweep(&r, t + 30100 * MS);
	assert_int_equal(state_of(&r, "alpha"), NODE_EVICTED);
	assert_int_equal(r.evictions, 1);
	assert_int_equal(ev.n, 2);
	expect_event(&ev, 1, REG_EV_EVICTED, "alpha", "silent for 30.1 s, over the 30 s limit");
	/* Evicted once only. */
	registry_sweep(&r, t + 60 * SEC);
	assert_int_equal(r.evictions, 1);
	assert_int_equal(ev.n, 2);
	registry_free(&r);
}

static void test_eviction_one_ns_past(void **state)
{
	const uint64_t t = T0 + 5 * SEC;
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	beat(&r, "alpha", t);
	registry_sweep(&r, t + 30 * SEC + 1);
	assert_int_equal(state_of(&r, "alpha"), NODE_EVICTED);
	registry_free(&r);
}

/* However often the sweep runs inside the window, nothing is evicted early. */
static void test_no_early_eviction(void **state)
{
	const uint64_t t = T0 + 2 * SEC;
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	beat(&r, "alpha", t);
	beat(&r, "beta", t);
	for (uint64_t now = t; now <= t + 30 * SEC; now += 7 * MS)
		registry_sweep(&r, now);
	registry_sweep(&r, t + 30 * SEC);
	assert_int_equal(state_of(&r, "alpha"), NODE_LIVE);
	assert_int_equal(state_of(&r, "beta"), NODE_LIVE);
	assert_int_equal(r.evictions, 0);
	assert_int_equal(ev.n, 2);
	assert_int_equal(registry_next_due(&r), t + 30 * SEC + 1);
	registry_free(&r);
}

static void test_readmit(void **state)
{
	struct registry r;
	struct events ev;
	const struct node *n;

	setup_reg(&r, &ev);
	beat(&r, "alpha", T0);
	registry_reserve(&r, "alpha", 1 << 20, 1);
	registry_sweep(&r, T0 + 31 * SEC);
	assert_int_equal(state_of(&r, "alpha"), NODE_EVICTED);
	beat(&r, "alpha", T0 + 40 * SEC);
	n = registry_find(&r, "alpha");
	assert_int_equal(n->state, NODE_LIVE);
	assert_int_equal(n->last_seen_ns, T0 + 40 * SEC);
	assert_int_equal(n->pending_bytes, 0);
	assert_int_equal(ev.n, 3);
	expect_event(&ev, 1, REG_EV_EVICTED, "alpha", "silent for 31 s, over the 30 s limit");
	expect_event(&ev, 2, REG_EV_READMITTED, "alpha", "heartbeat after 40 s of silence");
	assert_int_equal(r.count, 1);
	check_fit(&r);
	registry_free(&r);
}

static void test_restore(void **state)
{
	struct registry r;
	struct events ev;
	const struct node *n;

	setup_reg(&r, &ev);
	assert_int_equal(registry_restore(&r, "alpha", NODE_LIVE, 1600000000, 1699999990), 0);
	assert_int_equal(registry_restore(&r, "beta", NODE_LIVE, 1600000001, 1699999991), 0);
	assert_int_equal(registry_restore(&r, "gamma", NODE_EVICTED, 1600000002, 1699000000), 0);
	assert_int_equal(registry_restore(&r, "alpha", NODE_LIVE, 0, 0), -EEXIST);
	assert_int_equal(registry_restore(&r, "-bad", NODE_LIVE, 0, 0), -EINVAL);
	assert_int_equal(registry_restore(&r, "delta", (enum node_state)7, 0, 0), -EINVAL);
	assert_int_equal(r.count, 3);
	assert_int_equal(ev.n, 0);
	n = registry_find(&r, "alpha");
	assert_false(n->heard);
	assert_false(n->has_sample);
	assert_int_equal(n->last_seen_ns, T0);
	assert_int_equal(n->registered_wall, 1600000000);
	assert_int_equal(n->last_seen_wall, 1699999990);
	assert_int_equal(registry_next_due(&r), T0 + 30 * SEC + 1);

	/* A full window after the fleet's start; two live is below the hold. */
	registry_sweep(&r, T0 + 30 * SEC);
	assert_int_equal(ev.n, 0);
	registry_sweep(&r, T0 + 30100 * MS);
	assert_int_equal(state_of(&r, "alpha"), NODE_EVICTED);
	assert_int_equal(state_of(&r, "beta"), NODE_EVICTED);
	assert_int_equal(ev.n, 2);
	assert_int_equal(r.evictions, 2);

	/* A node stored as evicted stays so until it speaks. */
	registry_sweep(&r, T0 + 100 * SEC);
	assert_int_equal(state_of(&r, "gamma"), NODE_EVICTED);
	beat(&r, "gamma", T0 + 101 * SEC);
	assert_int_equal(state_of(&r, "gamma"), NODE_LIVE);
	assert_int_equal(ev.n, 3);
	expect_event(&ev, 2, REG_EV_READMITTED, "gamma",
		     "first heartbeat since the fleet restarted 101 s ago");
	/* A restored live node's first heartbeat is a refresh, not an event. */
	check_fit(&r);
	registry_free(&r);
	setup_reg(&r, &ev);
	assert_int_equal(registry_restore(&r, "alpha", NODE_LIVE, 1, 2), 0);
	beat(&r, "alpha", T0 + SEC);
	assert_int_equal(ev.n, 0);
	assert_true(registry_find(&r, "alpha")->heard);
	registry_free(&r);
}

static const char *const four[] = { "n1", "n2", "n3", "n4" };

static void beat_all(struct registry *r, size_t n, uint64_t now)
{
	for (size_t i = 0; i < n; i++)
		beat(r, four[i], now);
}

static void test_hold_all_silent(void **state)
{
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	beat_all(&r, 3, T0);
	registry_sweep(&r, T0 + 31 * SEC);
	assert_true(r.holding);
	assert_int_equal(r.held_due, 3);
	assert_int_equal(r.evictions, 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(state_of(&r, four[i]), NODE_LIVE);
	assert_int_equal(ev.n, 4);
	expect_event(&ev, 3, REG_EV_HOLD_START, "",
		     "3 of 3 live nodes went silent together (3 past 30 s); suspecting the "
		     "fleet's own network; evictions held");
	registry_sweep(&r, T0 + 60 * SEC);
	assert_true(r.holding);
	assert_int_equal(ev.n, 4);
	assert_true(registry_node_due(&r, registry_find(&r, "n1"), T0 + 60 * SEC));
	assert_false(registry_node_due(&r, registry_find(&r, "n1"), T0 + 30 * SEC));
	registry_free(&r);
}

/* An outage stops every node within one heartbeat interval (10 s), so their
 * deadlines are spread too: when the first is due, the rest are only quiet.
 * The hold must fire then, not after the first has been evicted alone. */
static void test_hold_staggered_outage(void **state)
{
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	beat_all(&r, 4, T0);
	beat(&r, "n2", T0 + 3 * SEC);
	beat(&r, "n3", T0 + 6 * SEC);
	beat(&r, "n4", T0 + 9 * SEC);
	registry_sweep(&r, T0 + 30 * SEC + 100 * MS);
	assert_true(r.holding);
	assert_int_equal(r.evictions, 0);
	assert_int_equal(state_of(&r, "n1"), NODE_LIVE);
	registry_sweep(&r, T0 + 45 * SEC);
	assert_true(r.holding);
	assert_int_equal(r.evictions, 0);
	registry_free(&r);
}

/* One node dies among healthy ones that report every 10 s: evicted on time. */
static void test_single_death_evicted(void **state)
{
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	beat_all(&r, 4, T0);
	for (uint64_t t = 10; t <= 30; t += 10) {
		beat(&r, "n2", T0 + t * SEC);
		beat(&r, "n3", T0 + t * SEC);
		beat(&r, "n4", T0 + t * SEC);
		registry_sweep(&r, T0 + t * SEC);
	}
	registry_sweep(&r, T0 + 30 * SEC + 100 * MS);
	assert_false(r.holding);
	assert_int_equal(state_of(&r, "n1"), NODE_EVICTED);
	assert_int_equal(r.evictions, 1);
	registry_free(&r);
}

/* The window of restored nodes starts when the fleet listens, not before. */
static void test_window_starts_when_listening(void **state)
{
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	assert_int_equal(registry_restore(&r, "n1", NODE_LIVE, 1, 1), 0);
	registry_begin_window(&r, T0 + 2 * SEC); /* the store took 2 s to open */
	registry_sweep(&r, T0 + 32 * SEC);
	assert_int_equal(state_of(&r, "n1"), NODE_LIVE);
	registry_sweep(&r, T0 + 32 * SEC + 1);
	assert_int_equal(state_of(&r, "n1"), NODE_EVICTED);
	registry_free(&r);
}

/* Exactly half is not more than half: evicted. */
static void test_half_evicted(void **state)
{
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	beat_all(&r, 4, T0);
	beat(&r, "n3", T0 + 20 * SEC);
	beat(&r, "n4", T0 + 20 * SEC);
	registry_sweep(&r, T0 + 31 * SEC);
	assert_false(r.holding);
	assert_int_equal(r.held_due, 0);
	assert_int_equal(state_of(&r, "n1"), NODE_EVICTED);
	assert_int_equal(state_of(&r, "n2"), NODE_EVICTED);
	assert_int_equal(state_of(&r, "n3"), NODE_LIVE);
	assert_int_equal(state_of(&r, "n4"), NODE_LIVE);
	assert_int_equal(r.evictions, 2);
	assert_int_equal(ev.n, 6);
	expect_event(&ev, 4, REG_EV_EVICTED, "n1", NULL);
	expect_event(&ev, 5, REG_EV_EVICTED, "n2", NULL);
	check_fit(&r);
	registry_free(&r);
}

static void test_hold_then_partial_return(void **state)
{
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	beat_all(&r, 4, T0);
	beat(&r, "n4", T0 + 20 * SEC);
	registry_sweep(&r, T0 + 31 * SEC);
	assert_true(r.holding);
	assert_int_equal(r.held_due, 3);
	assert_int_equal(ev.n, 5);
	expect_event(&ev, 4, REG_EV_HOLD_START, "",
		     "3 of 4 live nodes went silent together (3 past 30 s); suspecting the "
		     "fleet's own network; evictions held");
	beat(&r, "n1", T0 + 35 * SEC);
	beat(&r, "n2", T0 + 35 * SEC);
	registry_sweep(&r, T0 + 36 * SEC);
	assert_false(r.holding);
	assert_int_equal(r.held_due, 0);
	assert_int_equal(state_of(&r, "n3"), NODE_EVICTED);
	assert_int_equal(state_of(&r, "n1"), NODE_LIVE);
	assert_int_equal(r.evictions, 1);
	assert_int_equal(ev.n, 7);
	expect_event(&ev, 5, REG_EV_HOLD_END, "",
		     "heartbeats returned; 2 of 4 live nodes still silent, 1 past 30 s");
	expect_event(&ev, 6, REG_EV_EVICTED, "n3", "silent for 36 s, over the 30 s limit");
	registry_free(&r);
}

static void test_hold_all_return(void **state)
{
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	beat_all(&r, 3, T0);
	registry_sweep(&r, T0 + 31 * SEC);
	assert_true(r.holding);
	beat_all(&r, 3, T0 + 32 * SEC);
	registry_sweep(&r, T0 + 33 * SEC);
	assert_false(r.holding);
	assert_int_equal(r.evictions, 0);
	assert_int_equal(ev.n, 5);
	expect_event(&ev, 4, REG_EV_HOLD_END, "", "heartbeats returned");
	registry_free(&r);
}

static void test_override(void **state)
{
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	assert_int_equal(registry_override_hold(&r), -EALREADY);
	beat_all(&r, 3, T0);
	registry_sweep(&r, T0 + 31 * SEC);
	assert_true(r.holding);
	assert_int_equal(registry_override_hold(&r), 0);
	assert_true(r.override);
	registry_sweep(&r, T0 + 32 * SEC);
	assert_false(r.holding);
	assert_false(r.override);
	assert_int_equal(r.evictions, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(state_of(&r, four[i]), NODE_EVICTED);
	assert_int_equal(ev.n, 8);
	expect_event(&ev, 4, REG_EV_HOLD_END, "", "operator override");
	expect_event(&ev, 5, REG_EV_EVICTED, "n1", "silent for 32 s, over the 30 s limit");
	expect_event(&ev, 7, REG_EV_EVICTED, "n3", NULL);
	assert_int_equal(registry_override_hold(&r), -EALREADY);

	/* One-shot: the next mass silence holds again. */
	beat_all(&r, 3, T0 + 40 * SEC);
	registry_sweep(&r, T0 + 71 * SEC);
	assert_true(r.holding);
	assert_int_equal(r.evictions, 3);
	check_fit(&r);
	registry_free(&r);
}

/* Override set, but everyone speaks before the sweep: no eviction. */
static void test_override_after_return(void **state)
{
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	beat_all(&r, 3, T0);
	registry_sweep(&r, T0 + 31 * SEC);
	assert_int_equal(registry_override_hold(&r), 0);
	beat_all(&r, 3, T0 + 32 * SEC);
	registry_sweep(&r, T0 + 33 * SEC);
	assert_false(r.holding);
	assert_false(r.override);
	assert_int_equal(r.evictions, 0);
	expect_event(&ev, ev.n - 1, REG_EV_HOLD_END, "", "heartbeats returned");
	registry_free(&r);
}

static void test_below_hold_min(void **state)
{
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	beat_all(&r, 2, T0);
	registry_sweep(&r, T0 + 31 * SEC);
	assert_false(r.holding);
	assert_int_equal(state_of(&r, "n1"), NODE_EVICTED);
	assert_int_equal(state_of(&r, "n2"), NODE_EVICTED);
	assert_int_equal(r.evictions, 2);
	registry_free(&r);
}

/* Evicted nodes do not count as live for the hold. */
static void test_hold_counts_live_only(void **state)
{
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	beat_all(&r, 4, T0);
	registry_sweep(&r, T0 + 10 * SEC);
	beat(&r, "n1", T0 + 20 * SEC);
	beat(&r, "n2", T0 + 20 * SEC);
	beat(&r, "n3", T0 + 20 * SEC);
	registry_sweep(&r, T0 + 31 * SEC);
	assert_int_equal(state_of(&r, "n4"), NODE_EVICTED);
	/* 3 live, 2 silent: more than half of the live. */
	beat(&r, "n3", T0 + 45 * SEC);
	registry_sweep(&r, T0 + 51 * SEC);
	assert_true(r.holding);
	assert_int_equal(r.held_due, 2);
	assert_int_equal(r.evictions, 1);
	registry_free(&r);
}

static void test_restart_hold(void **state)
{
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(registry_restore(&r, four[i], NODE_LIVE, 1, 2), 0);
	registry_sweep(&r, T0 + 30 * SEC);
	assert_false(r.holding);
	registry_sweep(&r, T0 + 31 * SEC);
	assert_true(r.holding);
	assert_int_equal(r.held_due, 4);
	assert_int_equal(r.evictions, 0);
	assert_int_equal(ev.n, 1);
	expect_event(&ev, 0, REG_EV_HOLD_START, "",
		     "4 of 4 live nodes went silent together (4 past 30 s); suspecting the "
		     "fleet's own network; evictions held");
	registry_free(&r);
}

static void test_reserve(void **state)
{
	struct registry r;
	struct events ev;
	const struct node *n;

	setup_reg(&r, &ev);
	assert_int_equal(registry_reserve(&r, "alpha", 1, 1), -ENOENT);
	beat(&r, "alpha", T0);
	assert_int_equal(registry_reserve(&r, "alpha", 2ULL << 30, 2), 0);
	assert_int_equal(registry_reserve(&r, "alpha", 1ULL << 30, 1), 0);
	n = registry_find(&r, "alpha");
	assert_int_equal(n->pending_bytes, 3ULL << 30);
	assert_int_equal(n->pending_guests, 2);
	assert_int_equal(n->pending_vcpus, 3);
	/* 8 GiB reported - 3 GiB pending; 1 running + 2 placed. */
	assert_int_equal(node_available_bytes(n), 5ULL << 30);
	assert_int_equal(node_guests(n), 3);
	assert_int_equal(r.fit[0].available, 5ULL << 30);
	assert_int_equal(r.fit[0].guests, 3);
	assert_int_equal(registry_reserve(&r, "alpha", UINT64_MAX, UINT32_MAX), 0);
	assert_int_equal(n->pending_bytes, UINT64_MAX);
	assert_int_equal(n->pending_vcpus, UINT32_MAX);
	assert_int_equal(node_available_bytes(n), 0);
	check_fit(&r);
	assert_int_equal(ev.n, 1);
	beat(&r, "alpha", T0 + SEC);
	assert_int_equal(n->pending_bytes, 0);
	assert_int_equal(n->pending_guests, 0);
	assert_int_equal(n->pending_vcpus, 0);
	check_fit(&r);
	registry_free(&r);
}

static void test_next_due(void **state)
{
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	beat(&r, "n1", T0 + 3 * SEC);
	beat(&r, "n2", T0 + 1 * SEC);
	beat(&r, "n3", T0 + 2 * SEC);
	assert_int_equal(registry_next_due(&r), T0 + 31 * SEC + 1);
	beat(&r, "n2", T0 + 10 * SEC);
	assert_int_equal(registry_next_due(&r), T0 + 32 * SEC + 1);
	/* n2 alone is silent: evicted, and no longer due. */
	beat(&r, "n1", T0 + 40 * SEC);
	beat(&r, "n3", T0 + 40 * SEC);
	registry_sweep(&r, T0 + 41 * SEC);
	assert_int_equal(state_of(&r, "n2"), NODE_EVICTED);
	assert_int_equal(registry_next_due(&r), T0 + 70 * SEC + 1);
	registry_free(&r);
}

/* The node array is reallocated many times; the index must follow. */
static void test_growth(void **state)
{
	struct registry r;
	char name[32];

	assert_int_equal(registry_init(&r, NULL, T0, NULL, NULL), 0);
	for (unsigned i = 0; i < 2000; i++) {
		struct heartbeat hb;

		snprintf(name, sizeof(name), "node-%u", i);
		hb = sample(name);
		hb.guests_running = i;
		assert_int_equal(registry_heartbeat(&r, &hb, T0 + i, 0), 0);
	}
	assert_int_equal(r.count, 2000);
	for (unsigned i = 0; i < 2000; i++) {
		const struct node *n;

		snprintf(name, sizeof(name), "node-%u", i);
		n = registry_find(&r, name);
		assert_non_null(n);
		assert_string_equal(n->name, name);
		assert_int_equal(n->last.guests_running, i);
	}
	assert_null(registry_find(&r, "node-2000"));
	check_fit(&r);
	registry_free(&r);
	assert_int_equal(r.count, 0);
	assert_null(r.nodes);
}

static bool trust_all_but_alpha(void *ctx, const char *name)
{
	return strcmp(name, "alpha") != 0;
}

static bool trust_all(void *ctx, const char *name)
{
	return true;
}

/* A revoked member shows as such at the trust reload, not a window later. */
static void test_revoke_at_once(void **state)
{
	struct registry r;
	struct events ev;
	struct heartbeat hb = sample("alpha");
	const struct node *a;

	setup_reg(&r, &ev);
	beat(&r, "alpha", T0);
	beat(&r, "beta", T0);
	registry_apply_trust(&r, trust_all_but_alpha, NULL, true);
	a = registry_find(&r, "alpha");
	assert_true(a->revoked);
	assert_string_equal(registry_state_name(&r, a, T0 + SEC), "revoked");
	assert_string_equal(registry_state_name(&r, registry_find(&r, "beta"), T0 + SEC), "live");
	assert_int_equal(a->state, NODE_EVICTED);
	assert_int_equal(r.evictions, 0);
	assert_int_equal(ev.n, 3);
	expect_event(&ev, 2, REG_EV_REVOKED, "alpha", NULL);
	assert_string_equal(reg_event_name(REG_EV_REVOKED), "revoked");
	check_fit(&r);
	assert_int_equal(r.fit[a - r.nodes].live, 0);
	assert_int_equal(r.fit[a - r.nodes].revoked, 1);
	/* Revoked once; never readmitted by a heartbeat while revoked. */
	registry_apply_trust(&r, trust_all_but_alpha, NULL, true);
	assert_int_equal(ev.n, 3);
	assert_int_equal(registry_heartbeat(&r, &hb, T0 + 2 * SEC, 1), -EPERM);
	assert_int_equal(a->state, NODE_EVICTED);
	/* Trusted again: evicted, and its next heartbeat readmits it. */
	registry_apply_trust(&r, trust_all, NULL, true);
	expect_event(&ev, 3, REG_EV_REINSTATED, "alpha", NULL);
	assert_false(a->revoked);
	assert_string_equal(registry_state_name(&r, a, T0 + 3 * SEC), "evicted");
	beat(&r, "alpha", T0 + 4 * SEC);
	assert_string_equal(registry_state_name(&r, a, T0 + 4 * SEC), "live");
	check_fit(&r);
	/* At a restart the marks are set quietly. */
	registry_apply_trust(&r, trust_all_but_alpha, NULL, false);
	assert_true(a->revoked);
	assert_int_equal(ev.n, 5);
	registry_free(&r);
}

/* Status must say what the log said: 3 silent together, 1 already due. */
static void test_hold_reason_is_the_logged_one(void **state)
{
	struct registry r;
	struct events ev;
	char why[256];

	setup_reg(&r, &ev);
	beat(&r, "n1", T0);
	beat(&r, "n2", T0 + 2 * SEC);
	beat(&r, "n3", T0 + 4 * SEC);
	registry_hold_reason(&r, why, sizeof(why));
	assert_string_equal(why, "");
	registry_sweep(&r, T0 + 31 * SEC);
	assert_true(r.holding);
	expect_event(&ev, 3, REG_EV_HOLD_START, "",
		     "3 of 3 live nodes went silent together (1 past 30 s); suspecting the "
		     "fleet's own network; evictions held");
	registry_hold_reason(&r, why, sizeof(why));
	assert_string_equal(why, ev.v[3].detail);
	registry_free(&r);
}

/* Details read true after rounding, and say where silence is counted from. */
static void test_detail_precision(void **state)
{
	const struct registry_config cfg = { .evict_after_ns = 3 * SEC, .hold_min_live = 10 };
	struct registry r;
	struct events ev;

	memset(&ev, 0, sizeof(ev));
	assert_int_equal(registry_init(&r, &cfg, T0, record, &ev), 0);
	beat(&r, "alpha", T0);
	beat(&r, "beta", T0);
	assert_int_equal(registry_restore(&r, "gamma", NODE_LIVE, 1, 2), 0);
	registry_sweep(&r, T0 + 3 * SEC + 1);
	expect_event(&ev, 2, REG_EV_EVICTED, "alpha", "silent for 3.001 s, over the 3 s limit");
	expect_event(&ev, 3, REG_EV_EVICTED, "beta", "silent for 3.001 s, over the 3 s limit");
	expect_event(&ev, 4, REG_EV_EVICTED, "gamma",
		     "not heard since the fleet restarted 3.001 s ago, over the 3 s limit");
	beat(&r, "alpha", T0 + 3040 * MS);
	expect_event(&ev, 5, REG_EV_READMITTED, "alpha", "heartbeat after 3.04 s of silence");
	beat(&r, "gamma", T0 + 31200 * MS);
	expect_event(&ev, 6, REG_EV_READMITTED, "gamma",
		     "first heartbeat since the fleet restarted 31.2 s ago");
	registry_sweep(&r, T0 + 3040 * MS + 3 * SEC + 42 * MS);
	expect_event(&ev, 7, REG_EV_EVICTED, "alpha", "silent for 3.042 s, over the 3 s limit");
	registry_free(&r);
}

/* Drives the sweep as the fleet's one-shot timer does, on an injected clock
 * with an arbitrary phase: every eviction lands at its deadline, not up to
 * a period after it. */
static uint64_t run_timer(struct registry *r, uint64_t from, uint64_t until, uint64_t period)
{
	uint64_t now = from;

	while (now < until && registry_find(r, "alpha")->state == NODE_LIVE) {
		registry_sweep(r, now);
		if (registry_find(r, "alpha")->state != NODE_LIVE)
			break;
		now += registry_sweep_delay(r, now, period);
	}
	return now;
}

static void test_sweep_lands_on_deadline(void **state)
{
	static const uint64_t windows[] = { 3 * SEC, 30 * SEC, 2555 * MS, 300 * SEC };
	uint64_t phase = 337 * MS + 17;

	for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
		const struct registry_config cfg = { .evict_after_ns = windows[i], .hold_min_live = 3 };
		uint64_t period = windows[i] / 30 > SEC ? SEC : windows[i] / 30, deadline, at;
		struct registry r;

		assert_int_equal(registry_init(&r, &cfg, T0, NULL, NULL), 0);
		beat(&r, "alpha", T0 + phase);
		deadline = T0 + phase + windows[i];
		at = run_timer(&r, T0, T0 + 10 * windows[i], period);
		assert_int_equal(state_of(&r, "alpha"), NODE_EVICTED);
		assert_true(at > deadline);
		assert_true(at - deadline < 100 * MS);
		registry_free(&r);
	}
}

static void test_sweep_delay(void **state)
{
	struct registry r;
	struct events ev;

	setup_reg(&r, &ev);
	assert_int_equal(registry_sweep_delay(&r, T0, SEC), SEC);
	beat(&r, "alpha", T0);
	assert_int_equal(registry_sweep_delay(&r, T0, SEC), SEC);
	assert_int_equal(registry_sweep_delay(&r, T0 + 29500 * MS, SEC), 500 * MS + 1);
	assert_int_equal(registry_sweep_delay(&r, T0 + 30 * SEC, SEC), 1);
	/* Past due (a hold, or a late timer): back to the period. */
	assert_int_equal(registry_sweep_delay(&r, T0 + 31 * SEC, SEC), SEC);
	registry_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_event_names),
		cmocka_unit_test(test_register_refresh),
		cmocka_unit_test(test_eviction_boundary),
		cmocka_unit_test(test_eviction_one_ns_past),
		cmocka_unit_test(test_no_early_eviction),
		cmocka_unit_test(test_readmit),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_hold_all_silent),
		cmocka_unit_test(test_hold_staggered_outage),
		cmocka_unit_test(test_window_starts_when_listening),
		cmocka_unit_test(test_single_death_evicted),
		cmocka_unit_test(test_half_evicted),
		cmocka_unit_test(test_hold_then_partial_return),
		cmocka_unit_test(test_hold_all_return),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_override_after_return),
		cmocka_unit_test(test_below_hold_min),
		cmocka_unit_test(test_hold_counts_live_only),
		cmocka_unit_test(test_restart_hold),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_next_due),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_revoke_at_once),
		cmocka_unit_test(test_hold_reason_is_the_logged_one),
		cmocka_unit_test(test_detail_precision),
		cmocka_unit_test(test_sweep_lands_on_deadline),
		cmocka_unit_test(test_sweep_delay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
