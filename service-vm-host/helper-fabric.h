/* The privileged helper's work for the guest fabric: the node's routed
 * network from the verified ledger, guests' static leases, and the names
 * file the agent writes (untrusted input, lib/names-file.h). */
#pragma once
#include "service-vm-host/host-config.h"
#include "virt/virt.h"

/* The `fabric` verb: osi-fabric made, started and autostarted for this node
 * (its subnet from <state_dir>/ledger, verified), then resolved's per-link
 * DNS on the bridge when resolved runs. h->err on failure. */
int helper_fabric(struct virt_host *h, const struct host_config *c);
/* The `names` verb: <state_dir>/names checked whole, then the network's DNS
 * host entries replaced by it; any bad line changes nothing. */
int helper_names(struct virt_host *h, const struct host_config *c);
/* A create on the fabric: the network ensured, the guest's lease taken and
 * put in s (mac, address). *fresh: a new lease, to release if create fails. */
int helper_fabric_lease(struct virt_host *h, const struct host_config *c, struct virt_spec *s,
			bool *fresh);
