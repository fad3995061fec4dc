/* The firewall (lib/firewall.h) kept in step with the ledger: the live
 * members' mesh addresses are the only sources the control plane accepts. */
#pragma once
#include <stddef.h>

#include "lib/ledger.h"

/* Applies the table for ifname from a verified ledger. Needs CAP_NET_ADMIN. */
int mesh_firewall_apply(const char *ifname, const struct ledger *l, char *err, size_t errlen);
