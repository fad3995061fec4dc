/* The fleet's view of its nodes: liveness and eviction on the monotonic clock.
 * Pure logic: every call takes `now` (CLOCK_MONOTONIC ns) so tests inject time.
 *
 * Rules (docs/architecture.md):
 * - a node silent for MORE than evict_after is evicted; exactly evict_after is
 *   still live. Evicted nodes are readmitted by their next accepted heartbeat.
 * - nodes restored from the store at start count as last seen at the fleet's
 *   start, so each gets a full window.
 * - if at least hold_min_live nodes are live and more than half of them are
 *   due for eviction at one sweep, the fleet suspects its own network and holds
 *   all evictions until heartbeats return (due <= half) or an operator
 *   overrides (one-shot: the next sweep evicts whoever is due).
 * - a node the trust no longer holds (revoked, or gone from the trust file)
 *   is marked revoked at the reload: out of placement and shown "revoked"
 *   at once, never readmitted until the trust holds it again.
 *
 * The index refers back to the struct registry itself: do not move or copy it
 * after registry_init. Event callbacks must not call back into the registry. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/nametable.h"
#include "lib/wire-heartbeat.h"

enum node_state { NODE_LIVE = 0, NODE_EVICTED = 1 };

struct node {
	char name[NODE_NAME_MAX + 1];
	enum node_state state;
	bool heard;               /* a heartbeat arrived since the fleet started */
	bool revoked;             /* the trust no longer holds it; state is EVICTED */
	uint64_t last_seen_ns;    /* monotonic; the fleet's start for unheard nodes */
	int64_t last_seen_wall;   /* display only; 0 if never */
	int64_t registered_wall;
	struct heartbeat last;    /* last accepted sample (valid when has_sample) */
	bool has_sample;
	uint64_t pending_bytes;   /* placed since the last heartbeat */
	uint32_t pending_guests;
	uint32_t pending_vcpus;
	/* Its storage pool's free bytes as the agent's last addresses reply
	 * said (move-room.h); not known from an agent that does not say. */
	bool pool_known;
	uint64_t pool_free_bytes;
	int64_t pool_wall;        /* when (unix seconds) */
};

enum reg_event {
	REG_EV_REGISTERED, REG_EV_EVICTED, REG_EV_READMITTED,
	REG_EV_HOLD_START, REG_EV_HOLD_END, REG_EV_PLACED, REG_EV_REVOKED, REG_EV_REINSTATED,
};
const char *reg_event_name(enum reg_event ev);

/* Called for every state change; node is NULL for hold events. detail is a
 * short human sentence. reg_event_name() gives the store's kinds:
 * "registered", "evicted", "readmitted", "held", "hold-released", "placed",
 * "revoked", "reinstated".
 * The registry never emits REG_EV_PLACED itself: a committed placement is
 * recorded with its event by store_placement(), then registry_reserve(). */
typedef void (*reg_event_fn)(void *ctx, enum reg_event ev, const struct node *node,
			     const char *detail);

struct registry_config {
	uint64_t evict_after_ns;   /* default 30 s */
	unsigned hold_min_live;    /* default 3 */
};

/* What placement reads of each node, in a compact array beside nodes[]
 * (fit[i] mirrors nodes[i]) so that ranking 10,000 nodes stays in cache.
 * The registry updates it on every change: outside registry.c, treat nodes
 * and fit as read-only. */
struct node_fit {
	uint64_t available;        /* node_available_bytes() */
	uint64_t mem_total;        /* bytes, last sample */
	uint32_t guests;           /* node_guests() */
	uint16_t ncpu;
	uint16_t flags;            /* the last sample's heartbeat flags (all in the low 16 bits) */
	uint8_t live;              /* state == NODE_LIVE */
	uint8_t sampled;           /* has_sample */
	uint8_t revoked;           /* revoked (and so not live) */
};

struct registry {
	struct registry_config cfg;
	struct node *nodes;
	size_t count, cap;
	struct node_fit *fit;      /* count entries, same order as nodes */
	struct nametable index;
	uint64_t started_ns;
	bool holding;
	bool override;             /* operator asked to evict despite the hold */
	uint64_t evictions;        /* total since start, for metrics */
	unsigned held_due;         /* nodes due but held, for status */
	unsigned held_quiet, held_live; /* the hold's other counts, at the last sweep */
	reg_event_fn on_event;
	void *event_ctx;
};

/* cfg NULL: the defaults. -EINVAL for a zero evict_after_ns. hold_min_live is
 * taken as given (0 or 1: the hold applies to any fleet size). */
int registry_init(struct registry *r, const struct registry_config *cfg, uint64_t now,
		  reg_event_fn fn, void *ctx);
void registry_free(struct registry *r);
/* Restores a node kept in the store, before any heartbeat; emits no event.
 * -EINVAL for an invalid name or state, -EEXIST if already present. */
int registry_restore(struct registry *r, const char *name, enum node_state state,
		     int64_t registered_wall, int64_t last_seen_wall);
/* Starts every unheard node's window at now: called once the fleet listens,
 * so opening the store and binding sockets take nothing from it. */
void registry_begin_window(struct registry *r, uint64_t now);
/* An authenticated, fresh heartbeat: registers (REG_EV_REGISTERED), refreshes
 * (no event) or readmits (REG_EV_READMITTED). Clears the node's pending
 * reservations (the sample now includes them). -EINVAL for an invalid name,
 * -EPERM for a revoked node. */
int registry_heartbeat(struct registry *r, const struct heartbeat *hb, uint64_t now,
		       int64_t wall);
/* Evicts the nodes whose silence exceeds the window, or holds (see above). */
void registry_sweep(struct registry *r, uint64_t now);
/* How long until the next sweep is worth running: until the next node is
 * due, at most period_ns (and period_ns while holding or when nothing is
 * due), so an eviction lands at its deadline rather than up to a period late. */
uint64_t registry_sweep_delay(const struct registry *r, uint64_t now, uint64_t period_ns);
/* After a trust reload: marks revoked (REG_EV_REVOKED) every node that
 * trusted(ctx, name) no longer holds, and reinstates (REG_EV_REINSTATED, as
 * evicted: its next heartbeat readmits it) a revoked node it holds again.
 * announce false: no events (nodes just restored, revoked long ago). */
void registry_apply_trust(struct registry *r, bool (*trusted)(void *ctx, const char *name),
			  void *ctx, bool announce);
/* What status shows for a node: "revoked", "evicted", "held", "live" or
 * "awaiting" (restored from the store, not heard since the fleet started). */
const char *registry_state_name(const struct registry *r, const struct node *n, uint64_t now);
/* Why evictions are held: the same sentence the hold's event carried, with
 * the counts of the last sweep. Empty when not holding. */
void registry_hold_reason(const struct registry *r, char *buf, size_t len);
/* Operator override of a hold; -EALREADY if not holding. */
int registry_override_hold(struct registry *r);
/* Adds a reservation made by a committed placement; -ENOENT if unknown. */
int registry_reserve(struct registry *r, const char *name, uint64_t bytes, uint32_t vcpus);
struct node *registry_find(const struct registry *r, const char *name);
/* Monotonic time at which the next node becomes due, or UINT64_MAX. While
 * holding, this is in the past: sweep at your own pace then. */
uint64_t registry_next_due(const struct registry *r);
/* Whether a live node's silence exceeds the window at now (due for eviction,
 * or held). */
bool registry_node_due(const struct registry *r, const struct node *n, uint64_t now);
/* Last MemAvailable minus pending reservations, saturating at 0 (0 without
 * a sample). */
uint64_t node_available_bytes(const struct node *n);
/* Guests running at the last sample plus those placed since. */
uint32_t node_guests(const struct node *n);
/* A sample's KiB to bytes, saturating. */
static inline uint64_t kib_to_bytes(uint64_t kib)
{
	return kib > UINT64_MAX / 1024 ? UINT64_MAX : kib * 1024;
}
