#include "service-vm-fleet/fleet-backup-copy.h"

#include <errno.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "service-vm-fleet/store-backup-copy.h"

static void record(void *ctx, const struct backup_copy *bc)
{
	struct fleet *f = ctx;

	if (store_backup_copy_put(f->store, bc) < 0) { /* SQLite's message is logged */
		f->store_errors++;
		log_err("store: the copy of %s's backup %s to %s (%s) is not recorded", bc->guest,
			bc->id, bc->target, copy_state_name(bc->state));
	}
}

static int restore(void *ctx, const struct backup_copy *bc)
{
	struct fleet *f = ctx;

	return backup_copies_restore(&f->copies, bc) == -ENOMEM ? -ENOMEM : 0;
}

int fleet_copies_load(struct fleet *f)
{
	int ret = store_backup_copies_init(f->store);

	if (ret >= 0)
		ret = store_backup_copies_each(f->store, restore, f);
	if (ret < 0)
		return ret;
	f->copies.changed = record;
	f->copies.ctx = f;
	for (const struct backup_copy *bc = f->copies.head; bc; bc = bc->next)
		if (bc->state == COPY_SENDING)
			log_warn("the copy of %s's backup %s from %s to %s was sending when the fleet "
				 "stopped: it is marked failed", bc->guest, bc->id, bc->source, bc->target);
	backup_copies_interrupted(&f->copies, clock_wall_s());
	return 0;
}
