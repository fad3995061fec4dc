/* A backup schedule is systemd's: osi-backup@NAME.timer starts
 * osi-backup@NAME.service, which runs `vm backup NAME --keep N`. Here only
 * the two drop-ins that set the period and N are written, and with --to
 * NODE the copy's arguments and the network the service then needs to ask
 * the fleet (it has none otherwise). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "lib/fileio.h"
#include "lib/guest-types.h"
#include "lib/units.h"
#include "os-infrastructure/cmd-vm-backup.h"
#include "virt/virt-backup.h"

static int drop_in(const char *unit_dir, const char *unit, const char *text)
{
	char dir[PATH_MAX], path[PATH_MAX];
	int ret;

	if (snprintf(dir, sizeof(dir), "%s/%s.d", unit_dir, unit) >= (int)sizeof(dir) ||
	    snprintf(path, sizeof(path), "%s/os-infrastructure.conf", dir) >= (int)sizeof(path))
		return cmd_fail("%s: name too long", unit_dir);
	if ((ret = mkdir_p(dir, 0755)) < 0 || (ret = atomic_write_file(path, text, strlen(text), 0644)) < 0)
		return cmd_fail("%s: %s", path, strerror(-ret));
	return 0;
}

/* The service may write only what ReadWritePaths= names: the backup
 * directory, made now (root's, 0700) since systemd needs it to exist. */
static int writable(const char *dir, const char *guest, char *line, size_t len)
{
	char gdir[PATH_MAX], err[512];

	if (dir[0] != '/' || strpbrk(dir, " \t\n\\\"'%;"))
		return cmd_fail("%s: the backup directory must be an absolute path without blanks, "
				"quotes, '%%' or ';' to be named in a unit", dir);
	if (backup_guest_dir(dir, guest, true, gdir, sizeof(gdir), err, sizeof(err)) < 0)
		return cmd_fail("%s", err);
	if (snprintf(line, len, "ReadWritePaths=%s\n", dir) >= (int)len)
		return cmd_fail("%s: name too long", dir);
	return 0;
}

/* --to NODE's lines of the service's drop-in, or none. */
static void copy_lines(const char *to, char *out, size_t len)
{
	if (!to)
		out[0] = '\0';
	else
		snprintf(out, len, "Environment=\"OSI_BACKUP_COPY=--to %s\"\nPrivateNetwork=no\n"
			 "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n", to);
}

int backup_schedule(const char *guest, const char *every, unsigned keep, const char *unit_dir,
		    const char *dir, const char *to)
{
	char unit[128], text[768 + PATH_MAX], rw[PATH_MAX + 32], copy[192];
	uint64_t ms;
	int ret;

	if (!guest_name_valid(guest))
		return cmd_usage_error(&cmd_vm, "'%s' is not a guest name", guest);
	if (parse_duration_ms(every, &ms) < 0 || ms < 60000 || ms > 366ULL * 86400000)
		return cmd_usage_error(&cmd_vm, "--every takes a duration from 1m to 366d, e.g. 24h");
	if ((ret = writable(dir, guest, rw, sizeof(rw))))
		return ret;
	unit_dir = unit_dir ?: BACKUP_UNIT_DIR;
	keep = keep ?: BACKUP_KEEP_DEFAULT;
	snprintf(unit, sizeof(unit), "osi-backup@%s.timer", guest);
	snprintf(text, sizeof(text), "# os-infrastructure vm backup %s --every %s\n[Timer]\n"
		 "OnCalendar=\nOnBootSec=15min\nOnUnitActiveSec=%llus\n", guest, every,
		 (unsigned long long)(ms / 1000));
	if ((ret = drop_in(unit_dir, unit, text)))
		return ret;
	snprintf(unit, sizeof(unit), "osi-backup@%s.service", guest);
	copy_lines(to, copy, sizeof(copy));
	snprintf(text, sizeof(text), "# os-infrastructure vm backup %s --keep %u%s%s\n[Service]\n"
		 "Environment=OSI_BACKUP_KEEP=%u\n%s%s", guest, keep, to ? " --to " : "", to ? to : "",
		 keep, rw, copy);
	if ((ret = drop_in(unit_dir, unit, text)))
		return ret;
	printf("Scheduled: a backup of %s every %s, the newest %u kept%s%s (drop-ins in %s/osi-backup@%s.*.d).\n"
	       "Enable it:  systemctl daemon-reload && systemctl enable --now osi-backup@%s.timer\n",
	       guest, every, keep, to ? ", each copied to " : "", to ? to : "", unit_dir, guest, guest);
	return cmd_output(0);
}
