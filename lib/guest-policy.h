/* What a guest may reach, from the appliance manifests: each manifest
 * (images/<type>.json) lists the ports its appliance serves and who may
 * reach each one; this compiles them, with the fleet's guest inventory,
 * into nftables text for the project's table "inet osi" (lib/firewall.h).
 *
 * Manifest syntax, the optional key "ports" (absent or []: serves nothing):
 *   "ports": [ { "port": 443, "proto": "tcp", "from": ["public"] }, ... ]
 * port 1..65535; proto "tcp" (default) or "udp"; from one or more of a
 * guest type name (guests of that type, on any node), "members" (the
 * members' hosts, by mesh address) or "public" (anyone, alone). Strict:
 * unknown keys or names, duplicates and an empty "from" are errors.
 *
 * The rules (guest_policy_render), in two base chains of their own so that
 * fw_apply, which replaces the "input" chain, leaves them alone:
 *   forward      a local guest may send only from its node's subnet; no
 *                guest reaches 7101-7105 anywhere; replies pass; a flow to
 *                a guest passes when its port's "from" admits the source;
 *                anything else to a guest, and anything from a guest to
 *                the guest or mesh prefix, is dropped.
 *   guest_input  a guest reaches its own host only for DHCP and DNS (the
 *                routed network's dnsmasq); nothing of any host otherwise.
 * Every drop counts in the named counter "guest_denied". Traffic between
 * two guests on the same bridge is switched, not forwarded, and is not
 * seen here; traffic from a guest to outside the fabric is left to the
 * routed network's forward mode.
 *
 * Pure: nothing here applies the text. Addresses are host order. */
#pragma once
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/guest-net.h"
#include "lib/guest-types.h"

#define GUEST_PORTS_MAX 8
#define GUEST_POLICY_COUNTER "guest_denied"
#define GUEST_POLICY_BRIDGE "osibr0"   /* the routed network's bridge (not made yet) */

enum guest_proto { GUEST_PROTO_TCP, GUEST_PROTO_UDP };

struct guest_port {
	uint16_t port;
	enum guest_proto proto;
	bool public;            /* anyone; then nothing else is set */
	bool members;           /* the members' hosts */
	unsigned types;         /* bit i: guests of guest_type_at(i) */
};

/* One manifest's ports. */
struct guest_service {
	unsigned type;          /* guest type table index */
	struct guest_port ports[GUEST_PORTS_MAX];
	unsigned nports;
};

struct guest_policy_guest {
	char name[GUEST_NAME_MAX + 1];
	unsigned type;
	uint32_t addr;          /* inside the guest prefix */
};

struct guest_policy_spec {
	const struct guest_net *net;
	char bridge[IFNAMSIZ];  /* this node's guest bridge */
	uint32_t own_subnet;    /* this node's guest subnet; 0: none */
	const struct guest_service *services; /* at most one per type */
	size_t nservices;
	const struct guest_policy_guest *guests; /* every guest of the fleet */
	size_t nguests;
	const uint32_t *members; /* live members' mesh addresses */
	size_t nmembers;
};

struct json_t;
/* The manifest's "ports" value into ports[]; -EINVAL or -E2BIG with err
 * ("ports[1].from: unknown guest type \"x\""). */
int guest_ports_parse(struct json_t *arr, struct guest_port *ports, unsigned *nports,
		      char *err, size_t errlen);

/* The two chains, their sets and the counter as nft(8) text. -EINVAL (err
 * says why) on an unusable spec, -ENOSPC if buf is too small. */
int guest_policy_render(const struct guest_policy_spec *s, char *buf, size_t len, char *err,
			size_t errlen);
