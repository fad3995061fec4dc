/* vm backup, vm backups, vm restore: run on the guest's node (cmd-vm-backup.c). */
#pragma once
#include "os-infrastructure/cmd.h"

int vm_backup(const struct cli *cli, int argc, char *argv[]);
int vm_backups(const struct cli *cli, int argc, char *argv[]);
int vm_restore(const struct cli *cli, int argc, char *argv[]);

#define BACKUP_UNIT_DIR "/etc/systemd/system"
#define BACKUP_KEEP_DEFAULT 7
/* vm backup NAME --every D: drop-ins for osi-backup@NAME.timer (every D)
 * and .service (the scheduled run's command line, u's options carried
 * (backup-unit.h), and u->rw_dir made and writable under its
 * ProtectSystem=strict; with u->to, the network to ask the fleet) in
 * unit_dir (NULL: BACKUP_UNIT_DIR), and how to enable the timer
 * (backup-schedule.c). Refused, nothing written, where a path the run
 * would use (u's, and conf: the host.conf it reads without --config, NULL
 * for none) is one others than root may change (lib/safe-path.h). */
struct backup_unit;
int backup_schedule(const struct backup_unit *u, const char *conf, const char *every,
		    const char *unit_dir);
/* vm backup NAME --to NODE, vm restore NAME --from ID --to NODE: the fleet
 * has backup id copied from this node (from, its name) to NODE, restore:
 * and the guest restored there, keep: and NODE's backups of the guest then
 * pruned to the newest keep (0: none), and this follows it to its end
 * (backup-copy.c). An exit status. */
int backup_copy_to(const struct cli *cli, const char *guest, const char *id, const char *from,
		   const char *to, bool restore, unsigned keep);
