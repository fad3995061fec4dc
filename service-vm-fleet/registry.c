#include "service-vm-fleet/registry.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/units.h"

#define REGISTRY_DEFAULT_EVICT_NS (30 * NSEC_PER_SEC)
#define REGISTRY_DEFAULT_HOLD_MIN 3
#define DETAIL_MAX 192

/* Kinds as the store records them (store.h). */
static const char *const event_names[] = {
	[REG_EV_REGISTERED] = "registered",
	[REG_EV_EVICTED] = "evicted",
	[REG_EV_READMITTED] = "readmitted",
	[REG_EV_HOLD_START] = "held",
	[REG_EV_HOLD_END] = "hold-released",
	[REG_EV_PLACED] = "placed",
	[REG_EV_REVOKED] = "revoked",
	[REG_EV_REINSTATED] = "reinstated",
};

const char *reg_event_name(enum reg_event ev)
{
	if ((unsigned)ev >= sizeof(event_names) / sizeof(event_names[0]))
		return "unknown";
	return event_names[ev];
}

static void emit(const struct registry *r, enum reg_event ev, const struct node *n,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void emit(const struct registry *r, enum reg_event ev, const struct node *n,
		 const char *fmt, ...)
{
	char detail[DETAIL_MAX];
	va_list ap;

	if (!r->on_event)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	r->on_event(r->event_ctx, ev, n, detail);
}

/* "30 s", "30.1 s", "3.04 s", "3.001 s": rounded UP to the millisecond, so
 * a silence longer than a window (a whole number of ms) never reads as equal
 * to it or shorter. */
static const char *secs(uint64_t ns, char *buf, size_t len)
{
	uint64_t ms = ns / NSEC_PER_MSEC + (ns % NSEC_PER_MSEC != 0);
	char frac[8];
	int n;

	snprintf(frac, sizeof(frac), "%03llu", (unsigned long long)(ms % 1000));
	for (n = 3; n > 0 && frac[n - 1] == '0'; n--)
		frac[n - 1] = '\0';
	snprintf(buf, len, "%llu%s%s s", (unsigned long long)(ms / 1000), n ? "." : "", frac);
	return buf;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

uint64_t node_available_bytes(const struct node *n)
{
	uint64_t reported;

	if (!n->has_sample)
		return 0;
	reported = kib_to_bytes(n->last.mem_available_kib);
	return reported > n->pending_bytes ? reported - n->pending_bytes : 0;
}

uint32_t node_guests(const struct node *n)
{
	uint32_t running = n->has_sample ? n->last.guests_running : 0;

	return running > UINT32_MAX - n->pending_guests ? UINT32_MAX
							 : running + n->pending_guests;
}

/* Called after every change to a node. */
static void node_sync(struct registry *r, const struct node *n)
{
	struct node_fit *f = &r->fit[n - r->nodes];

	f->available = node_available_bytes(n);
	f->mem_total = n->has_sample ? kib_to_bytes(n->last.mem_total_kib) : 0;
	f->guests = node_guests(n);
	f->ncpu = n->has_sample ? n->last.ncpu : 0;
	f->flags = n->has_sample ? (uint16_t)n->last.flags : 0;
	f->live = n->state == NODE_LIVE;
	f->sampled = n->has_sample;
	f->revoked = n->revoked;
}

static const char *name_at(const void *ctx, size_t index)
{
	const struct registry *r = ctx;

	return r->nodes[index].name;
}

int registry_init(struct registry *r, const struct registry_config *cfg, uint64_t now,
		  reg_event_fn fn, void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->cfg.evict_after_ns = REGISTRY_DEFAULT_EVICT_NS;
	r->cfg.hold_min_live = REGISTRY_DEFAULT_HOLD_MIN;
	if (cfg) {
		if (!cfg->evict_after_ns)
			return -EINVAL;
		r->cfg = *cfg;
	}
	r->started_ns = now;
	r->on_event = fn;
	r->event_ctx = ctx;
	/* The index reads names through the registry, so growing the node
	 * array never invalidates it. */
	nametable_init(&r->index, name_at, r);
	return 0;
}

void registry_free(struct registry *r)
{
	nametable_free(&r->index);
	free(r->nodes);
	free(r->fit);
	r->nodes = NULL;
	r->fit = NULL;
	r->count = r->cap = 0;
}

struct node *registry_find(const struct registry *r, const char *name)
{
	long i = nametable_find(&r->index, name);

	return i < 0 ? NULL : &r->nodes[i];
}

static int grow(struct registry *r)
{
	size_t cap = r->cap ? r->cap * 2 : 16;
	struct node_fit *fit;
	struct node *nodes;

	nodes = reallocarray(r->nodes, cap, sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	r->nodes = nodes;
	fit = reallocarray(r->fit, cap, sizeof(*fit));
	if (!fit)
		return -ENOMEM;
	r->fit = fit;
	r->cap = cap;
	return 0;
}

static int node_add(struct registry *r, const char *name, struct node **out)
{
	struct node *n;
	int ret;

	if (!node_name_valid(name))
		return -EINVAL;
	if (registry_find(r, name))
		return -EEXIST;
	if (r->count == r->cap) {
		ret = grow(r);
		if (ret < 0)
			return ret;
	}
	n = &r->nodes[r->count];
	memset(n, 0, sizeof(*n));
	strcpy(n->name, name);
	ret = nametable_insert(&r->index, name, r->count);
	if (ret < 0)
		return ret;
	r->count++;
	node_sync(r, n);
	*out = n;
	return 0;
}

int registry_restore(struct registry *r, const char *name, enum node_state state,
		     int64_t registered_wall, int64_t last_seen_wall)
{
	struct node *n;
	int ret;

	if (state != NODE_LIVE && state != NODE_EVICTED)
		return -EINVAL;
	ret = node_add(r, name, &n);
	if (ret < 0)
		return ret;
	n->state = state;
	n->last_seen_ns = r->started_ns;
	n->registered_wall = registered_wall;
	n->last_seen_wall = last_seen_wall;
	node_sync(r, n);
	return 0;
}

static void node_refresh(struct registry *r, struct node *n, const struct heartbeat *hb,
			 uint64_t now, int64_t wall)
{
	n->last = *hb;
	n->has_sample = true;
	n->heard = true;
	if (now > n->last_seen_ns)
		n->last_seen_ns = now;
	n->last_seen_wall = wall;
	n->pending_bytes = 0;
	n->pending_guests = 0;
	n->pending_vcpus = 0;
	node_sync(r, n);
}

int registry_heartbeat(struct registry *r, const struct heartbeat *hb, uint64_t now,
		       int64_t wall)
{
	struct node *n = registry_find(r, hb->name);
	char mem[16], gap[24];
	int ret;

	if (!n) {
		ret = node_add(r, hb->name, &n);
		if (ret < 0)
			return ret;
		n->registered_wall = wall;
		node_refresh(r, n, hb, now, wall);
		format_size(kib_to_bytes(hb->mem_total_kib), mem, sizeof(mem));
		emit(r, REG_EV_REGISTERED, n, "first heartbeat: %u CPUs, %s RAM", hb->ncpu, mem);
		return 0;
	}
	if (n->revoked)
		return -EPERM;
	if (n->state == NODE_EVICTED) {
		bool heard = n->heard;

		secs(now > n->last_seen_ns ? now - n->last_seen_ns : 0, gap, sizeof(gap));
		n->state = NODE_LIVE;
		node_refresh(r, n, hb, now, wall);
		/* An unheard node's silence is counted from the fleet's start, not
		 * from a heartbeat the fleet never saw: say which. */
		if (heard)
			emit(r, REG_EV_READMITTED, n, "heartbeat after %s of silence", gap);
		else
			emit(r, REG_EV_READMITTED, n,
			     "first heartbeat since the fleet restarted %s ago", gap);
		return 0;
	}
	node_refresh(r, n, hb, now, wall);
	return 0;
}

bool registry_node_due(const struct registry *r, const struct node *n, uint64_t now)
{
	return n->state == NODE_LIVE && now > n->last_seen_ns &&
	       now - n->last_seen_ns > r->cfg.evict_after_ns;
}

static void hold_end(struct registry *r, const char *why)
{
	r->holding = false;
	r->override = false;
	r->held_due = r->held_quiet = r->held_live = 0;
	emit(r, REG_EV_HOLD_END, NULL, "%s", why);
}

static void evict_due(struct registry *r, uint64_t now)
{
	char silent[24], window[24];

	secs(r->cfg.evict_after_ns, window, sizeof(window));
	for (size_t i = 0; i < r->count; i++) {
		struct node *n = &r->nodes[i];

		if (!registry_node_due(r, n, now))
			continue;
		n->state = NODE_EVICTED;
		node_sync(r, n);
		r->evictions++;
		secs(now - n->last_seen_ns, silent, sizeof(silent));
		if (n->heard)
			emit(r, REG_EV_EVICTED, n, "silent for %s, over the %s limit", silent, window);
		else
			emit(r, REG_EV_EVICTED, n, "not heard since the fleet restarted %s ago, "
			     "over the %s limit", silent, window);
	}
}

/* Quiet: silent for more than half the window. Nodes that stop together
 * stop within one heartbeat interval of each other, so when the first of
 * them is due the others are quiet, not yet due; counting only the due ones
 * would evict them one by one and never see the outage. */
static bool node_quiet(const struct registry *r, const struct node *n, uint64_t now)
{
	return n->state == NODE_LIVE && now > n->last_seen_ns &&
	       now - n->last_seen_ns > r->cfg.evict_after_ns / 2;
}

void registry_sweep(struct registry *r, uint64_t now)
{
	unsigned live = 0, due = 0, quiet = 0;
	char window[24];

	for (size_t i = 0; i < r->count; i++) {
		live += r->nodes[i].state == NODE_LIVE;
		due += registry_node_due(r, &r->nodes[i], now);
		quiet += node_quiet(r, &r->nodes[i], now);
	}
	if (!due) {
		if (r->holding)
			hold_end(r, "heartbeats returned");
		return;
	}
	if (r->override) {
		hold_end(r, "operator override");
		evict_due(r, now);
		return;
	}
	/* A fleet that suddenly hears from most of its nodes at once is more
	 * likely cut off itself than facing that many dead nodes. */
	if (live >= r->cfg.hold_min_live && 2 * (uint64_t)quiet > live) {
		r->held_due = due;
		r->held_quiet = quiet;
		r->held_live = live;
		if (!r->holding) {
			char why[DETAIL_MAX];

			r->holding = true;
			registry_hold_reason(r, why, sizeof(why));
			emit(r, REG_EV_HOLD_START, NULL, "%s", why);
		}
		return;
	}
	if (r->holding) {
		char why[DETAIL_MAX];

		snprintf(why, sizeof(why), "heartbeats returned; %u of %u live nodes still silent, "
			 "%u past %s", quiet, live, due, secs(r->cfg.evict_after_ns, window, sizeof(window)));
		hold_end(r, why);
	}
	evict_due(r, now);
}

void registry_hold_reason(const struct registry *r, char *buf, size_t len)
{
	char window[24];

	if (!r->holding) {
		snprintf(buf, len, "%s", "");
		return;
	}
	snprintf(buf, len, "%u of %u live nodes went silent together (%u past %s); suspecting "
		 "the fleet's own network; evictions held", r->held_quiet, r->held_live,
		 r->held_due, secs(r->cfg.evict_after_ns, window, sizeof(window)));
}

const char *registry_state_name(const struct registry *r, const struct node *n, uint64_t now)
{
	if (n->revoked)
		return "revoked";
	if (n->state == NODE_EVICTED)
		return "evicted";
	if (r->holding && registry_node_due(r, n, now))
		return "held";
	return n->heard ? "live" : "awaiting";
}

static void node_revoke(struct registry *r, struct node *n)
{
	bool was_live = n->state == NODE_LIVE;

	n->revoked = true;
	n->state = NODE_EVICTED;
	node_sync(r, n);
	emit(r, REG_EV_REVOKED, n, "no longer trusted%s: its heartbeats are refused and it "
	     "takes no new guests", was_live ? " while live" : "");
}

void registry_apply_trust(struct registry *r, bool (*trusted)(void *ctx, const char *name),
			  void *ctx, bool announce)
{
	reg_event_fn fn = r->on_event;

	if (!announce)
		r->on_event = NULL;
	for (size_t i = 0; i < r->count; i++) {
		struct node *n = &r->nodes[i];
		bool ok = trusted(ctx, n->name);

		if (!ok && !n->revoked) {
			node_revoke(r, n);
		} else if (ok && n->revoked) {
			n->revoked = false;
			node_sync(r, n);
			emit(r, REG_EV_REINSTATED, n, "trusted again: its next heartbeat readmits it");
		}
	}
	r->on_event = fn;
}

void registry_begin_window(struct registry *r, uint64_t now)
{
	r->started_ns = now;
	for (size_t i = 0; i < r->count; i++)
		if (!r->nodes[i].heard)
			r->nodes[i].last_seen_ns = now;
}

int registry_override_hold(struct registry *r)
{
	if (!r->holding)
		return -EALREADY;
	r->override = true;
	return 0;
}

int registry_reserve(struct registry *r, const char *name, uint64_t bytes, uint32_t vcpus)
{
	struct node *n = registry_find(r, name);

	if (!n)
		return -ENOENT;
	n->pending_bytes = sat_add(n->pending_bytes, bytes);
	if (n->pending_guests < UINT32_MAX)
		n->pending_guests++;
	n->pending_vcpus = vcpus > UINT32_MAX - n->pending_vcpus ? UINT32_MAX
								  : n->pending_vcpus + vcpus;
	node_sync(r, n);
	return 0;
}

uint64_t registry_sweep_delay(const struct registry *r, uint64_t now, uint64_t period_ns)
{
	uint64_t next = registry_next_due(r);

	if (r->holding || next <= now)
		return period_ns;
	return next - now < period_ns ? next - now : period_ns;
}

uint64_t registry_next_due(const struct registry *r)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < r->count; i++) {
		const struct node *n = &r->nodes[i];
		uint64_t at;

		if (n->state != NODE_LIVE)
			continue;
		at = sat_add(sat_add(n->last_seen_ns, r->cfg.evict_after_ns), 1);
		if (at < next)
			next = at;
	}
	return next;
}
