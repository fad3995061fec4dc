/* The fleet's durable state in SQLite (WAL, synchronous=FULL) in
 * <state_dir>/fleet.db: nodes, placements and the event log. Each state
 * change is one transaction that updates the node row and appends its event,
 * so kill -9 at any moment loses no registered node and no event.
 * Heartbeats themselves are never written one by one.
 *
 * Single-threaded: one struct store per thread. Errors are -errno: -EIO
 * generally, -ENOSPC (disk full), -EBUSY (another writer held the database
 * for more than 5 s), -ENOMEM, -EINVAL (bad argument or a constraint the
 * data violates), -EILSEQ (text that is not UTF-8), -EPROTO (see store_open),
 * rarely -EROFS or -E2BIG. A failed write leaves nothing behind. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* PRAGMA user_version of the schema this build writes. */
#define STORE_SCHEMA_VERSION 1

struct store;

struct store_node {
	const char *name;
	const char *state;           /* "live" | "evicted" */
	int64_t registered_wall;
	int64_t last_seen_wall;
	/* last sample, for display after a restart; ncpu == 0 means "no sample
	 * in this record": store_transition then keeps the stored one */
	uint32_t ncpu;
	uint64_t mem_total_kib;
	uint64_t mem_available_kib;
	uint32_t cpu_busy_permille;
	uint32_t guests_running;
	/* replay floor: the stored value only ever rises (0 keeps it) */
	uint64_t last_seq;
};

struct store_placement {
	const char *node;            /* a node the store knows (registered) */
	const char *guest_name;      /* may be NULL for anonymous reservations */
	const char *guest_type;
	uint64_t memory_bytes;
	uint32_t vcpus;
	const char *origin;          /* who asked: "unix:uid=0" or a node name */
};

struct store_seq {
	const char *name;
	uint64_t seq;
};

/* Creates the file and schema when missing (mode 0600, whatever the umask;
 * an existing file loses any group and other permissions). -EPROTO if the
 * file's schema is newer than STORE_SCHEMA_VERSION: its contents and journal
 * mode are left untouched. SQLite's failures are logged with its message
 * (there is no store to ask afterwards). */
int store_open(const char *path, struct store **out);
void store_close(struct store *s);
/* The database itself, for a table kept by its own file (store-move.c). */
struct sqlite3 *store_db(struct store *s);
/* SQLite's message for the last failed call (or ours for argument errors);
 * "" if nothing failed yet. Valid until the next call on s. */
const char *store_errmsg(struct store *s);
/* A consistent copy of the whole database into a new file at path (the
 * SQLite online backup: one read transaction, writers wait). */
int store_backup(struct store *s, const char *path);

/* Upserts the node row and appends the event in one transaction.
 * kind: "registered", "evicted", "readmitted". node may carry a NULL state to
 * append an event without touching a row (hold events: node->name NULL). */
int store_transition(struct store *s, const struct store_node *node, const char *kind,
		     const char *detail, int64_t wall, int64_t *event_id);
/* Appends an event with no node ("held", "hold-released", "hold-override").
 * node may name one anyway; no row is touched. detail NULL is stored as "". */
int store_event(struct store *s, const char *kind, const char *node, const char *detail,
		int64_t wall, int64_t *event_id);
/* Records a committed placement and its "placed" event in one transaction.
 * node, guest_type and origin are required; -EINVAL for an unknown node. */
int store_placement(struct store *s, const struct store_placement *p, int64_t wall,
		    int64_t *placement_id);
/* Raises the stored replay floor (last_seq) of each named node, in one
 * transaction; names without a row are skipped. */
int store_checkpoint_seqs(struct store *s, const struct store_seq *seqs, size_t n);

typedef int (*store_node_fn)(void *ctx, const struct store_node *node);
/* Calls fn for every stored node, ordered by name; stops on a negative return
 * and returns it. The strings live until fn returns; fn must not call back
 * into the store. */
int store_nodes_each(struct store *s, store_node_fn fn, void *ctx);
/* Events with id > since_id, oldest first, at most limit (0 = 100), as a JSON
 * array of {"id","time","kind","node","detail"} (node null when none). */
int store_events_json(struct store *s, int64_t since_id, unsigned limit, json_t **out);
/* The most recent `limit` events (0 = 100), oldest first, same shape. */
int store_events_tail_json(struct store *s, unsigned limit, json_t **out);

/* A guest row: its plan and where its creation stands. */
struct store_guest {
	const char *name, *type, *node, *state;
	const char *detail;          /* may be NULL */
	const char *accel;           /* "kvm" | "tcg" | NULL */
	uint64_t memory_bytes;
	uint32_t vcpus;
	int64_t created, updated;
};

/* Writes the guest row and, when kind is not NULL, appends its event (on the
 * guest's node) in one transaction. */
int store_guest(struct store *s, const struct store_guest *g, const char *kind,
		const char *detail, int64_t wall);
/* Deletes a (destroyed) guest's row and appends its event on node in one
 * transaction: the name is free again, the history keeps it. */
int store_guest_forget(struct store *s, const char *name, const char *node, const char *kind,
		       const char *detail, int64_t wall);
typedef int (*store_guest_fn)(void *ctx, const struct store_guest *g);
/* Every stored guest but destroyed ones (rows an older build kept), by name;
 * strings are valid during the call only. */
int store_guests_each(struct store *s, store_guest_fn fn, void *ctx);

/* A published port of a guest (store_guest_forget drops a guest's). */
struct store_pub {
	const char *guest, *proto;   /* proto "tcp" | "udp" */
	unsigned port, host_port;
};
/* Records (add) or deletes one, with its event on node, in one transaction;
 * adding one the table holds fails (-EEXIST). */
int store_publish(struct store *s, const struct store_pub *p, bool add, const char *node,
		  int64_t wall);
typedef int (*store_pub_fn)(void *ctx, const struct store_pub *p);
int store_published_each(struct store *s, store_pub_fn fn, void *ctx);
