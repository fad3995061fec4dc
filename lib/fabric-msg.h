/* The fabric table: what the fleet pushes to every live node (dispatched
 * verb "fabric") and what the agent keeps as <state_dir>/fabric.json, its
 * cache. JSON, strict (unknown keys, duplicates, bad values refuse the whole
 * message):
 *   {"zone": Z,
 *    "guests":    [{"name": G, "type": T, "node": N, "addr": "A.B.C.D"}, ...],
 *    "published": [{"guest": G, "proto": "tcp"|"udp", "port": P, "host_port": H}, ...]}
 * Z a zone (names_zone_valid); G a guest name, each once; T a guest type;
 * N a node name; A a dotted quad (no leading zeros, not 0.0.0.0), each once;
 * a published G among the guests, P and H 1..65535, H outside the control
 * plane's 7101-7105, each (proto, H) once per node. The dispatched request carries
 * the same keys plus "op" and "node" (checked by dispatch-check.c).
 * Pure: no I/O. Addresses are host order. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/guest-policy.h"
#include "lib/names-file.h"
#include "lib/wire-heartbeat.h"

#define FABRIC_GUESTS_MAX 1024
#define FABRIC_PUBLISHED_MAX 256
#define FABRIC_FILE "fabric.json"
#define FABRIC_FILE_MAX (1u << 20)

struct fabric_guest {
	char name[GUEST_NAME_MAX + 1];
	unsigned type;                    /* guest type table index */
	char node[NODE_NAME_MAX + 1];
	uint32_t addr;
};

struct fabric_pub {
	char guest[GUEST_NAME_MAX + 1];
	enum guest_proto proto;
	uint16_t port, host_port;
};

struct fabric {
	char zone[NAMES_ZONE_MAX + 1];
	struct fabric_guest *guests;      /* malloc'd */
	size_t nguests;
	struct fabric_pub *pubs;          /* malloc'd */
	size_t npubs;
};

struct json_t;

/* From a parsed object; envelope: also allow "op" and "node" (the request).
 * -EINVAL or -E2BIG with err; *f is empty on failure. */
int fabric_from_json(const struct json_t *o, bool envelope, struct fabric *f, char *err,
		     size_t errlen);
/* From text (the cache file). */
int fabric_parse(const char *buf, size_t len, struct fabric *f, char *err, size_t errlen);
/* The object (new reference), NULL when out of memory. */
struct json_t *fabric_to_json(const struct fabric *f);
void fabric_free(struct fabric *f);

/* NULL, or why a published host port would take a port the host itself
 * serves: 7101-7105 (the control plane), TCP 22 (ssh), UDP MESH_WG_PORT
 * (the mesh's WireGuard). A DNAT there would cut the node off. */
const char *fabric_host_port_reserved(enum guest_proto proto, unsigned port);
const struct fabric_guest *fabric_find(const struct fabric *f, const char *guest);
