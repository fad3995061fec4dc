/* The fleet's side of the guest fabric: the published ports (recorded in
 * the store, restored at start) and the fabric table built from the guests
 * the fleet knows an address of, which server-fabric.c pushes to every
 * live node. Pure bookkeeping. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "lib/fabric-msg.h"
#include "service-vm-fleet/guests.h"

struct fleet_pub {
	char guest[GUEST_NAME_MAX + 1];
	enum guest_proto proto;
	uint16_t port, host_port;
};

struct fleet_pubs {
	struct fleet_pub *list;
	size_t count, cap;
};

/* What the fleet knows of each node's copy of the table (server-fabric.c)
 * and the drop counters its agent last reported (-1: none yet). */
struct fabric_peer {
	char node[NODE_NAME_MAX + 1];
	uint64_t sent_gen;         /* the table generation it acknowledged */
	uint64_t retry_ns;         /* a failed push is retried from then */
	bool inflight, live;
	int64_t denied, guest_denied;
};

/* The node's entry, added (counters -1) if new; NULL when out of memory. */
struct fabric_peer *fabric_peer_get(struct fabric_peer **list, size_t *n, const char *node);
/* Takes "denied" and "guest_denied" from an agent's reply when present. */
struct json_t;
void fabric_peer_counters(struct fabric_peer *p, const struct json_t *reply);

void pubs_free(struct fleet_pubs *p);
/* Refuses (-EINVAL, *why) a port 0, a host port in 7101-7105, a (proto, host
 * port) already published on the guest's node or more than
 * FABRIC_PUBLISHED_MAX in all; -EEXIST when the guest's port is published. */
int pubs_add(struct fleet_pubs *p, const struct guests *g, const struct fleet_pub *e,
	     const char **why);
/* -ENOENT when that port of the guest is not published; *out the record. */
int pubs_remove(struct fleet_pubs *p, const char *guest, enum guest_proto proto, uint16_t port,
		struct fleet_pub *out);
/* Forgets a guest's ports (it was destroyed); how many. */
size_t pubs_drop_guest(struct fleet_pubs *p, const char *guest);
const char *pub_proto_name(enum guest_proto proto);
int pub_proto_parse(const char *text, enum guest_proto *out);

/* Every guest with an IPv4 address (of a known type), and the published
 * ports of those; *out freed with fabric_free. */
int fleet_fabric_build(const struct guests *g, const struct fleet_pubs *p, const char *zone,
		       struct fabric *out);
