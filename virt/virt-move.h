/* What a cold move asks of libvirt on either node (docs/architecture.md,
 * "Moving a guest"): quiesce the source, undefine it keeping its volumes,
 * remove those volumes once released, and discard a copy a failed move
 * brought in. Export and import (virt-export.h) carry the data itself. */
#pragma once
#include <stdbool.h>

#include "virt/virt.h"

/* Asks a running guest to shut down and waits up to timeout_s until it is
 * off (-ETIMEDOUT after), then turns autostart off: a source that reboots
 * mid-move must not start a copy the target may be starting too. Ends at
 * once with -ECANCELED, autostart untouched, when h->ops.cancelled says so
 * (the move was called off: the fleet's abort may already have run). */
int virt_move_quiesce(struct virt_host *h, const char *name, unsigned timeout_s);
/* Turns autostart on again (the move was rolled back). */
int virt_move_autostart(struct virt_host *h, const char *name, bool on);
/* Undefines a shut-off guest's domain; its volumes and lease stay. */
int virt_move_undefine(struct virt_host *h, const char *name);
/* Deletes the overlay, seed and data volumes named for guest (and its
 * fabric lease): refused (-EBUSY) while a domain of that name is defined.
 * *removed says how many volumes went. */
int virt_move_remove_volumes(struct virt_host *h, const char *name, unsigned *removed);
/* How many volumes named for guest (as virt_move_remove_volumes would take)
 * are in the pool, the first one's name into first (if not NULL); -errno. */
int virt_move_volumes_here(struct virt_host *h, const char *name, char *first, size_t len);
