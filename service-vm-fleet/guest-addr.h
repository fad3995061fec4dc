/* Which guest addresses the fleet believes. A node's addresses reply names
 * its guests' IPv4 addresses; the fabric table then gives each address its
 * guest's type and name, so a reply must not claim what is not the node's:
 * inside the guest prefix an address counts only in the reporting node's
 * own subnet (from the ledger), and an address another guest already holds
 * stays with that guest (a conflict event, once). */
#pragma once
#include <jansson.h>
#include <stdint.h>

#include "service-vm-fleet/guests.h"

struct fleet;
struct guest_net;
struct ledger;

enum guest_addr_verdict {
	GUEST_ADDR_OK,
	GUEST_ADDR_FOREIGN, /* inside the guest prefix, not in the node's subnet */
	GUEST_ADDR_HELD,    /* another guest holds it */
};

/* What to make of gu's reported address (a dotted quad; anything else is
 * OK, as it clears the address). net and l NULL: no mesh, no prefix to
 * check. *holder: the guest holding it, for GUEST_ADDR_HELD. Pure. */
enum guest_addr_verdict guest_addr_check(const struct guests *g, const struct guest *gu,
					 const char *addr, const struct guest_net *net,
					 const struct ledger *l, const struct guest **holder);
/* Takes node's reply a ({guest: address}): its guests take the addresses
 * named and allowed; the others have none. */
void fleet_guest_addresses(struct fleet *f, const char *node, const json_t *a, int64_t wall);
