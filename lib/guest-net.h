/* The guests' address space, derived from the ledger: every member computes
 * the same map from the same ledger, and nothing new is recorded in it, so a
 * ledger written before the guest fabric existed gives its members their
 * subnets without a new ceremony.
 *
 * Layout. The guest prefix is GUEST_NET_PREFIX (10.78.0.0/16), or
 * GUEST_NET_ALT_PREFIX (10.79.0.0/16) when the mesh prefix overlaps it: a
 * pure function of the genesis entry's mesh prefix. (The genesis entry
 * cannot carry a prefix of its own: its layout is fixed, signed and hashed,
 * and an older member would refuse a ledger that added one.) The member at
 * mesh address <mesh prefix> + N owns the N-th /24 of the guest prefix:
 * 10.77.0.5 owns 10.78.5.0/24. Mesh addresses are unique among every member
 * ever admitted (the sequencer serializes admissions, ledger.h) and never
 * reused after a revocation, so the subnets are too, concurrent admissions
 * included. A /16 of /24s serves the members with N in 1..255; a member
 * with a higher N (the 256th admission onwards in a /16 mesh) has no guest
 * subnet, and guest_net_subnet says so (-ERANGE).
 *
 * In a member's subnet, the first host address is the gateway (its routed
 * libvirt network's bridge) and the rest are the DHCP range.
 *
 * Addresses are uint32_t in host byte order, as in ledger.h. Pure. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "lib/ledger.h"

#define GUEST_NET_PREFIX "10.78.0.0/16"
#define GUEST_NET_ALT_PREFIX "10.79.0.0/16"
#define GUEST_NET_SUBNET_LEN 24
#define GUEST_NET_SUBNET_MAX_LEN 30     /* a gateway and one guest */
#define GUEST_NET_LIBVIRT_DEFAULT "192.168.122.0/24" /* never overlapped */

struct guest_net {
	uint32_t mesh_addr;     /* the mesh prefix */
	uint8_t mesh_len;
	uint32_t addr;          /* the guest prefix */
	uint8_t len;
	uint8_t subnet_len;     /* each member's subnet */
};

struct guest_net_range {
	uint32_t subnet;
	uint32_t gateway;       /* first host: the member's bridge */
	uint32_t dhcp_first;    /* second host */
	uint32_t dhcp_last;     /* last host */
};

/* A layout with an explicit guest prefix: host bits zero, len <= subnet_len
 * <= GUEST_NET_SUBNET_MAX_LEN, overlapping neither the mesh prefix nor
 * libvirt's default network. -EINVAL with err. */
int guest_net_init(struct guest_net *g, uint32_t mesh_addr, uint8_t mesh_len, uint32_t addr,
		   uint8_t len, uint8_t subnet_len, char *err, size_t errlen);
/* The layout every member uses for this mesh prefix (rules above). */
int guest_net_default(struct guest_net *g, uint32_t mesh_addr, uint8_t mesh_len, char *err,
		      size_t errlen);
/* The same from a ledger's genesis entry (verified or not). */
int guest_net_from_ledger(struct guest_net *g, const struct ledger *l, char *err, size_t errlen);

/* How many members can have a subnet: 2^(subnet_len - len) - 1, as N = 0
 * (the mesh's network address) is never a member; fewer when the mesh
 * prefix has fewer host addresses. */
uint32_t guest_net_capacity(const struct guest_net *g);
/* A member's subnet from its mesh address: -EDOM when it is not a host
 * address of the mesh prefix, -ERANGE when its index does not fit. */
int guest_net_subnet(const struct guest_net *g, uint32_t member_addr, uint32_t *subnet,
		     char *err, size_t errlen);
/* Gateway and DHCP range of a subnet of the layout; -EINVAL otherwise. */
int guest_net_range(const struct guest_net *g, uint32_t subnet, struct guest_net_range *r);
/* The mesh address of the member whose subnet holds addr; -ENOENT when no
 * member's subnet does (outside the prefix, or the unused subnet 0). */
int guest_net_owner_addr(const struct guest_net *g, uint32_t addr, uint32_t *member_addr);
/* The live member of a verified ledger whose subnet holds addr, or NULL. */
const struct ledger_member *guest_net_owner(const struct guest_net *g, const struct ledger *l,
					    uint32_t addr);
