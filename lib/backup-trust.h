/* Whom a node trusts to have signed a backup (lib/backup-manifest.h): a
 * live member of its verified ledger, under the key the ledger holds for
 * it. Shared by the CLI's listing and restore and the root helper's copy
 * between nodes. */
#pragma once
#include <stddef.h>

#include "lib/export-manifest.h"
#include "lib/ledger.h"

/* 0 when s's signer is a live (not revoked) member of l with s's key;
 * else -EPERM and why in err. */
int backup_trust_ledger(const struct ledger *l, const struct export_sig *s, char *err,
			size_t errlen);
