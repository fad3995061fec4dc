/* The fleet's durable state in SQLite (WAL, synchronous=FULL) in
 * <state_dir>/fleet.db: nodes, placements and the event log. Each state
 * change is one transaction that updates the node row and appends its event,
 * so kill -9 at any moment loses no registered node and no event.
 * Heartbeats themselves are never written one by one. */
#pragma once
#include <stdint.h>

#include <jansson.h>

struct store;

struct store_node {
	const char *name;
	const char *state;           /* "live" | "evicted" */
	int64_t registered_wall;
	int64_t last_seen_wall;
	/* last sample, for display after a restart */
	uint32_t ncpu;
	uint64_t mem_total_kib;
	uint64_t mem_available_kib;
	uint32_t cpu_busy_permille;
	uint32_t guests_running;
};

struct store_placement {
	const char *node;
	const char *guest_name;      /* may be NULL for anonymous reservations */
	const char *guest_type;
	uint64_t memory_bytes;
	uint32_t vcpus;
	const char *origin;          /* who asked: "unix:uid=0" or a node name */
};

/* Creates the file and schema when missing (mode 0600). */
int store_open(const char *path, struct store **out);
void store_close(struct store *s);

/* Upserts the node row and appends the event in one transaction.
 * kind: "registered", "evicted", "readmitted". node may carry a NULL state to
 * append an event without touching a row (hold events: node->name NULL). */
int store_transition(struct store *s, const struct store_node *node, const char *kind,
		     const char *detail, int64_t wall, int64_t *event_id);
/* Appends an event with no node ("held", "hold-released", "hold-override"). */
int store_event(struct store *s, const char *kind, const char *node, const char *detail,
		int64_t wall, int64_t *event_id);
/* Records a committed placement and its "placed" event in one transaction. */
int store_placement(struct store *s, const struct store_placement *p, int64_t wall,
		    int64_t *placement_id);

typedef int (*store_node_fn)(void *ctx, const struct store_node *node);
/* Calls fn for every stored node, ordered by name; stops on a negative return. */
int store_nodes_each(struct store *s, store_node_fn fn, void *ctx);
/* Events with id > since_id, oldest first, at most limit (0 = 100), as a JSON
 * array of {"id","time","kind","node","detail"} (node null when none). */
int store_events_json(struct store *s, int64_t since_id, unsigned limit, json_t **out);
/* The most recent `limit` events, oldest first, same shape. */
int store_events_tail_json(struct store *s, unsigned limit, json_t **out);
