/* The privileged helper's part of a backup's copy to another node
 * (docs/protocol.md, "Backup copy payload"): backup-out packs the chain
 * ending at one backup of this node's store, backup-in stores the copy
 * another node packed. The store is the one `vm backups` reads here:
 * host.conf's backup_dir, else <state_dir>/backups. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "service-vm-host/host-config.h"

/* The node's backup directory into buf. */
int helper_backup_dir(const struct host_config *c, char *buf, size_t len);
/* backup-out: the chain of guest's backup id, checked (every link signed by
 * a live member of this node's ledger, every file's SHA-256), packed into
 * a file nobody else can open, handed back read-only (*fd, *bytes). */
int helper_backup_out(const struct host_config *c, const char *guest, const char *id, int *fd,
		      uint64_t *bytes, char *err, size_t errlen);
/* backup-in: the copy the agent received (fd) stored into guest's backup
 * directory, every link signed by a live member of this node's ledger;
 * summary says what was stored. Nothing new stays on failure. */
int helper_backup_in(const struct host_config *c, const char *guest, int fd, char *summary,
		     size_t slen, char *err, size_t errlen);
