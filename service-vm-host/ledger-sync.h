/* The agent's side of the mesh, on a node with <state_dir>/ledger: keeps the
 * WireGuard interface up and its peers following the ledger, serves the
 * ledger on <mesh address>:7105 (lib/mesh-sync.h) and pulls what it missed
 * from a peer at start and every ledger_sync_interval. After any change of
 * the ledger, wherever it came from (a push, a pull, or a command on this
 * node that wrote the file and pushed to us), the peers are applied again
 * and changed() runs so the agent reloads its fleet key and address. */
#pragma once
#include <uv.h>

#include "service-vm-host/host-config.h"
#include "lib/identity.h"

struct ledger_sync;

typedef void (*ledger_sync_changed_fn)(void *ctx);

int ledger_sync_start(uv_loop_t *loop, const struct host_config *cfg, const struct identity *id,
		      ledger_sync_changed_fn changed, void *ctx, struct ledger_sync **out);
/* Applies the ledger now if it changed since last applied (SIGHUP). */
void ledger_sync_check(struct ledger_sync *s);
/* Closes every handle; safe with NULL. The struct is freed once they are. */
void ledger_sync_stop(struct ledger_sync *s);
