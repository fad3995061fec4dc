/* The mesh as a member sees it: where its state lives, whom it trusts and
 * which WireGuard peers it has, all derived from the membership ledger
 * (ledger.h) in <state_dir>/ledger.
 *
 * Peers (mesh_plan). For member M, every other live member P is:
 *   - a direct peer when P or M has an endpoint: P's key, P's /32 as its
 *     allowed IP, P's endpoint when it has one. A member behind NAT (no
 *     endpoint) reaches the other direction by talking first: it keeps every
 *     peer alive every MESH_KEEPALIVE_S seconds so that its NAT mapping
 *     stays open and the peer can answer;
 *   - relayed when neither has an endpoint: P's /32 is added to the allowed
 *     IPs of the mesh's relay, the first live member (in admission order)
 *     holding the relay role and an endpoint. Both ends compute the same
 *     relay, so the path is symmetric: WireGuard accepts a packet from a
 *     peer only if its source is among that peer's allowed IPs. The relay
 *     forwards between its peers (its interface has IPv4 forwarding on).
 * P's guest subnet (lib/guest-net.h) goes wherever P's /32 goes: into P's
 * own peer, or the relay's when P is relayed. A member whose mesh address
 * has no guest subnet (past the layout's capacity) is counted in
 * no_guest_subnet and still gets its /32.
 * Without a relay, two members behind NAT cannot reach each other
 * (plan->unreachable counts them). A revoked or unknown member gets no peers.
 *
 * Files, besides the identity: ledger (0644, written atomically, changed
 * only under ledger.lock), mesh.conf (interface and listen port). */
#pragma once
#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/guest-net.h"
#include "lib/ledger.h"
#include "lib/trust.h"

#define MESH_LEDGER_FILE "ledger"
#define MESH_LEDGER_LOCK "ledger.lock"
#define MESH_CONF_FILE "mesh.conf"
#define MESH_DEFAULT_IFNAME "osi0"
#define MESH_DEFAULT_PREFIX "10.77.0.0/16"
#define MESH_WG_PORT 51820
#define MESH_KEEPALIVE_S 25
#define MESH_HEARTBEAT_PORT 7101 /* service-vm-fleet, on its mesh address */
#define MESH_API_PORT 7102
#define MESH_SYNC_PORT 7105      /* ledger sync, service-vm-host on every member */

/* "<state_dir>/<file>"; -ENAMETOOLONG. */
int mesh_path(const char *state_dir, const char *file, char path[PATH_MAX]);
/* true when <state_dir>/ledger exists: this node is (or was) a member. */
bool mesh_has_ledger(const char *state_dir);
/* Takes the exclusive lock every read-modify-write of the ledger holds;
 * returns the fd to hand to mesh_ledger_unlock, or -errno. */
int mesh_ledger_lock(const char *state_dir);
void mesh_ledger_unlock(int fd);
int mesh_ledger_load(const char *state_dir, struct ledger *l, char *err, size_t errlen);
int mesh_ledger_save(const char *state_dir, const struct ledger *l);

/* ---- trust ---- */

/* The live members of a verified ledger as a trust set: name, sign and kx
 * keys, and the roles node, fleet and admin (relay has no trust meaning). */
int mesh_trust_from_ledger(const struct ledger *l, struct trust_set *out);
/* The set the fleet and the agents obey: from <state_dir>/ledger when it
 * exists (a ledger that fails to verify is an error, never a reason to fall
 * back), else from trust_file. source says which ("ledger /x/ledger" or the
 * trust file's path). -ENOENT when neither exists; -EBADMSG with err. */
int mesh_trust_load(const char *state_dir, const char *trust_file, struct trust_set *out,
		    char *source, size_t sourcelen, char *err, size_t errlen);

/* ---- mesh.conf ---- */

struct mesh_conf {
	char interface[IFNAMSIZ];
	uint64_t listen_port;
};

/* Defaults, then <state_dir>/mesh.conf if present. */
int mesh_conf_load(const char *state_dir, struct mesh_conf *c, char *err, size_t errlen);
int mesh_conf_save(const char *state_dir, const struct mesh_conf *c);

/* ---- peers ---- */

struct mesh_peer {
	char name[NODE_NAME_MAX + 1];
	uint8_t wg_pk[LEDGER_WG_KEY_BYTES];
	char endpoint[LEDGER_ENDPOINT_MAX + 1]; /* "" when none */
	uint16_t keepalive;                     /* seconds, 0 off */
	uint32_t *allowed;                      /* /32s, host order; [0] is the peer's own */
	size_t nallowed;
	uint32_t *guests;                       /* guest subnets it carries, host order, */
	size_t nguests;                         /* each /plan->guest.subnet_len */
};

struct mesh_plan {
	const struct ledger_member *self;       /* NULL when not a live member */
	uint32_t prefix_addr;
	uint8_t prefix_len;
	bool relay;                             /* self forwards for others */
	char relay_name[NODE_NAME_MAX + 1];     /* "" when the mesh has none */
	struct mesh_peer *peers;
	size_t count;
	size_t unreachable;                     /* members no path reaches */
	uint32_t *members;                      /* every live member's address, self too */
	size_t nmembers;                        /* (the firewall's sources, lib/firewall.h) */
	bool has_guest;                         /* guest is the mesh's guest layout */
	struct guest_net guest;
	uint32_t guest_subnet;                  /* self's, 0 when it has none */
	size_t no_guest_subnet;                 /* live members without one */
};

/* Computes self's peers from a verified ledger (rules above); pure. */
int mesh_plan(const struct ledger *l, const char *self, struct mesh_plan *out);
const struct mesh_peer *mesh_plan_find(const struct mesh_plan *p, const uint8_t *wg_pk);
void mesh_plan_free(struct mesh_plan *p);

/* The fleet members see: the first live fleet member's mesh address and
 * heartbeat port ("10.77.0.3:7101"), or -ENOENT. */
int mesh_fleet_address(const struct ledger *l, char *buf, size_t len);
