/* The privileged helper's part of a backup's copy to another node
 * (docs/protocol.md, "Backup copy payload"): backup-out packs the chain
 * ending at one backup of this node's store, backup-in stores the copy
 * another node packed. The store is the one `vm backups` reads here:
 * host.conf's backup_dir, else <state_dir>/backups. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "lib/auth.h"
#include "service-vm-host/host-config.h"
#include "service-vm-host/move-offer.h"

struct virt_host;

/* Whether blob (the third record of a backup verb: fleet-approval.h) is the
 * fleet's signed request for this verb, guest and backup id (NULL: a
 * backup-in that restores nothing), the fleet being the one this node's
 * verified ledger names; *keep the count its body asks the target to keep
 * (0: no pruning); target (if not NULL) the node a backup-out's body names
 * as the copy's target ("" when none: fleet-approval.h). 0, or -EPERM and
 * why in err. */
int helper_backup_approved(const struct host_config *c, const uint8_t *blob, size_t len,
			   const char *verb, const char *guest, const char *id, unsigned *keep,
			   char target[NODE_NAME_MAX + 1], char *err, size_t errlen);
/* After a copy whose approval says keep: the guest's store pruned to the
 * newest keep (and what they need), under its lock. */
int helper_backup_prune(const struct host_config *c, const char *guest, unsigned keep,
			size_t *pruned, char *err, size_t errlen);
/* The node's backup directory into buf. */
int helper_backup_dir(const struct host_config *c, char *buf, size_t len);
/* Where a backup-out's offer goes (the chain's volume files, and bound, the
 * most the copy can be) and the target's answer comes from: held[i] for
 * each file it holds (its mover asks the target). 0, or -errno and why. */
typedef int (*helper_offer_fn)(void *ctx, const struct move_offer *o, uint64_t bound, bool *held,
			       char *err, size_t errlen);
/* backup-out: the chain of guest's backup id, checked (every link signed by
 * a live member of this node's ledger), offered (offer; NULL: nothing is
 * held there), then each file the target does not hold checked (its
 * SHA-256) and packed into a file nobody else can open, handed back
 * read-only (*fd, *bytes). An encrypted chain carries the keys of guest's
 * volumes here sealed to target (a live member of the ledger), signed by
 * this node ("": none). */
int helper_backup_out(const struct host_config *c, const char *guest, const char *id,
		      const char *target, helper_offer_fn offer, void *octx, int *fd,
		      uint64_t *bytes, char *err, size_t errlen);
/* backup-in's first step: which of the offered files guest's store here
 * holds with that size and SHA-256, each hashed now (backup_copy_held);
 * *bytes theirs. */
int helper_backup_held(const struct host_config *c, const char *guest, const struct move_offer *o,
		       bool *held, uint64_t *bytes, char *err, size_t errlen);
/* backup-in: the copy the agent received (fd; the files held here left
 * out of it) stored into guest's backup
 * directory, every link signed by a live member of this node's ledger, its
 * keys (if any) opened with this node's identity and kept sealed to its
 * seal key; summary says what was stored. Nothing new stays on failure. */
int helper_backup_in(const struct host_config *c, const char *guest, int fd, char *summary,
		     size_t slen, char *err, size_t errlen);
/* A backup-in that names a backup then restores guest's data volumes from
 * it, as `vm restore` does on the node (virt_restore: every link checked
 * again, the guest shut off); *links as there. */
int helper_backup_restore(struct virt_host *h, const struct host_config *c, const char *guest,
			  const char *id, size_t *links, char *err, size_t errlen);
