/* The fleet controller's state: configuration, identity, trusted keys,
 * registry, store and counters. The servers (server-*.c) feed it; api.c and
 * metrics.c read it. Single-threaded: everything runs on one libuv loop. */
#pragma once
#include <limits.h>
#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "lib/config.h"
#include "service-vm-fleet/backup-copies.h"
#include "service-vm-fleet/fabric-table.h"
#include "service-vm-fleet/guests.h"
#include "service-vm-fleet/moves.h"
#include "lib/identity.h"
#include "service-vm-fleet/ingest.h"
#include "service-vm-fleet/placement.h"
#include "service-vm-fleet/registry.h"
#include "service-vm-fleet/store.h"

struct fleet_config {
	char state_dir[PATH_MAX];
	char trust_file[PATH_MAX];
	char heartbeat_listen[128];
	char api_listen[128];
	char api_socket[PATH_MAX];
	char metrics_listen[128];
	char log_level[16];
	uint64_t evict_after_ms;
	uint64_t hold_min_live;
	uint64_t margin_min_bytes;
	uint64_t margin_percent;
	uint64_t checkpoint_interval_ms;
	uint64_t plan_ttl_ms;
	uint64_t dispatch_port;
	char guest_zone[NAMES_ZONE_MAX + 1];
};

extern const struct config_key fleet_config_keys[];
extern const size_t fleet_config_nkeys;

/* Placement latency histogram bounds, in microseconds. */
#define PLACE_BUCKETS 7
extern const double place_bucket_us[PLACE_BUCKETS];

struct fleet {
	struct fleet_config cfg;
	struct identity id;
	struct trust_set trust;
	struct ingest ingest;
	struct registry reg;
	struct place_config place;
	struct store *store;
	uint64_t started_ns;
	int64_t started_wall;
	uint64_t store_errors;
	uint64_t place_count[PLACE_BUCKETS + 1];
	double place_sum_us;
	uint64_t api_requests, api_rejected;
	char trust_seen[2][96];    /* identity of the ledger and trust file last loaded */
	struct guests guests;
	struct fleet_pubs pubs;    /* published guest ports */
	struct fabric_peer *peers; /* the fabric table's pushes, per node */
	size_t npeers;
	uint64_t fabric_gen;       /* grows when the table changes */
	/* Where each node's heartbeats come from (its mesh address), by registry
	 * index; dispatch goes there. ss_family 0: not heard since start. */
	struct sockaddr_storage *addrs;
	size_t naddrs;
	/* Hands an action ("create", "start", "stop", "destroy") to the node's
	 * agent; progress comes back through fleet_guest_progress(). */
	void (*dispatch)(struct fleet *f, const struct guest *g, const char *action);
	/* Cold moves (fleet-move.h); a step goes to its node through move_send. */
	struct moves moves;
	void (*move_send)(struct fleet *f, struct move *mv, enum move_step s);
	/* Backups' copies to another node (backup-copies.h): both parts of a
	 * copy go out through copy_send (server-backup-copy.c); -errno if not. */
	struct backup_copies copies;
	int (*copy_send)(struct fleet *f, struct backup_copy *bc);
};

/* Fills defaults from the key table. */
int fleet_config_defaults(struct fleet_config *cfg, char *err, size_t errlen);
/* Resolves keys that default to paths under state_dir; -ENAMETOOLONG. */
int fleet_config_finish(struct fleet_config *cfg);

/* Loads identity and trust, opens the store, restores the registry. */
int fleet_open(struct fleet *f, const struct fleet_config *cfg, uint64_t now);
void fleet_close(struct fleet *f);
/* Re-reads the trust (the ledger, else the trust file); on error the old set
 * stays in force. Nodes the new set no longer holds are marked revoked at
 * once (registry_apply_trust). */
int fleet_reload_trust(struct fleet *f);
/* Reloads the trust when the ledger or trust file changed on disk since the
 * last look (a member joined or was revoked); cheap enough for every sweep. */
void fleet_watch_trust(struct fleet *f);
/* The sweep timer's longest period: evict_after / 30, within 50 ms .. 1 s. */
uint64_t fleet_sweep_period_ms(const struct fleet_config *cfg);
/* One run of the sweep timer: expires plans, evicts (or holds), watches the
 * trust. Returns the delay in ms until the next run: the next eviction
 * deadline (just past it), at most the period. */
uint64_t fleet_tick(struct fleet *f, uint64_t now);
/* One accepted or rejected datagram from src. */
void fleet_datagram(struct fleet *f, const uint8_t *buf, size_t len, const struct sockaddr *src,
		    uint64_t now, int64_t wall);
/* A node's report on a guest (or the dispatcher's, when the node is unreachable). */
void fleet_guest_progress(struct fleet *f, const char *name, enum guest_state state,
			  const char *detail, const char *accel);
/* The address dispatch uses for a node, or NULL if not heard since start. */
const struct sockaddr_storage *fleet_node_addr(const struct fleet *f, const char *node);
/* Stores every node's last sequence number (a periodic checkpoint, so a
 * restarted fleet rejects replays of anything older). */
void fleet_checkpoint(struct fleet *f);
void fleet_record_placement_latency(struct fleet *f, double us);
/* Whether a trusted member may use the TCP operator API. */
const struct trust_entry *fleet_api_member(const struct fleet *f, const char *name);
