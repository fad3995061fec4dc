/* "node rekey": a member replaces its three keys (and optionally its
 * endpoint) under the same name, address and guests (ledger kind rekey).
 *
 * The new identity is staged in <state_dir>/rekey/identity before any entry
 * exists, and moved over <state_dir>/identity only once the ledger holds its
 * keys: a crash in between leaves both, and "node rekey --install" finishes.
 *
 * On an admin, "node rekey" does everything: the request is signed with the
 * old key, the entry by the same old key as the admin, the sequencer takes
 * it, the members get it, then the keys are installed. On any other member,
 * "node rekey" prints a request line; an admin runs "node rekey-approve
 * LINE"; the member then runs "node rekey --install", which switches its
 * WireGuard key, pulls the ledger from the sequencer with the new key and
 * keeps the new identity only if the ledger holds it. */
#pragma once
#include <stdbool.h>

#include "os-infrastructure/cmd.h"

#define REKEY_STAGE_DIR "rekey"
#define REKEY_REQUEST_PREFIX "osi-rekey-request:"

int node_rekey(const struct cli *cli, const char *endpoint, bool request_only);
int node_rekey_install(const struct cli *cli);
int node_rekey_approve(const struct cli *cli, const char *line);
