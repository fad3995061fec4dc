/* A backup schedule is systemd's: osi-backup@NAME.timer starts
 * osi-backup@NAME.service. Here only the two drop-ins are written: the
 * timer's period, and the service's command line (backup-unit.c: `vm
 * backup NAME --keep N` with every option given with --every), the backup
 * directory it may write and, with --to NODE, the network it then needs to
 * ask the fleet (it has none otherwise). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "lib/fileio.h"
#include "lib/guest-types.h"
#include "lib/safe-path.h"
#include "lib/units.h"
#include "os-infrastructure/backup-unit.h"
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

/* The unit's sandbox (PrivateTmp=, ProtectHome=) hides these from the
 * scheduled run: said, not refused, as a test set-up may live there. */
static void hidden(const char *what, const char *path)
{
	static const char *const under[] = { "/tmp", "/var/tmp", "/home", "/root", "/run/user" };

	for (size_t i = 0; path && i < sizeof(under) / sizeof(under[0]); i++) {
		size_t n = strlen(under[i]);

		if (!strncmp(path, under[i], n) && (path[n] == '/' || !path[n]))
			fprintf(stderr, "warning: %s %s is under %s, which osi-backup@.service does not "
				"see (PrivateTmp=, ProtectHome=)\n", what, path, under[i]);
	}
}

static void warn_hidden(const struct backup_unit *u)
{
	hidden("the backup directory", u->rw_dir);
	hidden("--config", u->config);
	hidden("--pool-dir", u->pool_dir);
	hidden("--state-dir", u->state_dir);
	hidden("--socket", u->socket);
	hidden("--trust-file", u->trust_file);
}

/* The service may write only what ReadWritePaths= names: the backup
 * directory, made now (root's, 0700) since systemd needs it to exist. */
static int make_dir(const struct backup_unit *u)
{
	char gdir[PATH_MAX], err[512];

	if (backup_guest_dir(u->rw_dir, u->guest, true, gdir, sizeof(gdir), err, sizeof(err)) < 0)
		return cmd_fail("%s", err);
	return 0;
}

/* Each path the scheduled run reads or writes as root, at every run: only
 * root may change it (path_safe), else whoever could would choose what the
 * run trusts (the state directory, the trust file) or runs (host.conf's
 * virt_uri); carried as it resolved now. conf: the host.conf the run reads
 * without --config, judged, not carried. Not --pool-dir: the pool is
 * libvirt's (its daemon's user, nobody for a session libvirtd, writes the
 * staged backups there), so its owner is already trusted as libvirt is. */
static int safe_paths(struct backup_unit *u, const char *conf, char bufs[][PATH_MAX])
{
	struct { const char *what, **path; } p[] = {
		{ "--config", &u->config }, { "--state-dir", &u->state_dir },
		{ "--trust-file", &u->trust_file }, { "--dir", &u->dir },
		{ "the backup directory", &u->rw_dir }, { "host.conf", &conf },
	};
	char err[768];

	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		if (!*p[i].path)
			continue;
		if (path_safe(*p[i].path, bufs[i], err, sizeof(err)) < 0)
			return cmd_fail("%s %s: %s: the scheduled run uses it as root at every run, so it "
					"and every directory above it must be root's and writable by no group "
					"or other (a sticky directory such as /tmp is accepted above it); "
					"nothing was written", p[i].what, *p[i].path, err);
		*p[i].path = bufs[i];
	}
	return 0;
}

int backup_schedule(const struct backup_unit *given, const char *conf, const char *every,
		    const char *unit_dir)
{
	static char bufs[6][PATH_MAX];
	struct backup_unit unit_safe = *given, *u = &unit_safe;
	char unit[128], timer[512], service[16384], err[512];
	uint64_t ms;
	int ret;

	if (!guest_name_valid(u->guest))
		return cmd_usage_error(&cmd_vm, "'%s' is not a guest name", u->guest);
	if (parse_duration_ms(every, &ms) < 0 || ms < 60000 || ms > 366ULL * 86400000)
		return cmd_usage_error(&cmd_vm, "--every takes a duration from 1m to 366d, e.g. 24h");
	if (backup_unit_text(u, service, sizeof(service), err, sizeof(err)) < 0)
		return cmd_fail("%s", err);
	if ((ret = safe_paths(u, given->config ? NULL : conf, bufs)))
		return ret;
	if (backup_unit_text(u, service, sizeof(service), err, sizeof(err)) < 0)
		return cmd_fail("%s", err);
	if ((ret = make_dir(u)))
		return ret;
	warn_hidden(u);
	unit_dir = unit_dir ?: BACKUP_UNIT_DIR;
	if (snprintf(timer, sizeof(timer), "# os-infrastructure vm backup %s --every %s\n[Timer]\n"
		     "OnCalendar=\nOnBootSec=15min\nOnUnitActiveSec=%llus\n", u->guest, every,
		     (unsigned long long)(ms / 1000)) >= (int)sizeof(timer))
		return cmd_usage_error(&cmd_vm, "--every %s: too long", every);
	snprintf(unit, sizeof(unit), "osi-backup@%s.service", u->guest);
	if ((ret = drop_in(unit_dir, unit, service)))
		return ret;
	snprintf(unit, sizeof(unit), "osi-backup@%s.timer", u->guest);
	if ((ret = drop_in(unit_dir, unit, timer)))
		return ret;
	printf("Scheduled: a backup of %s every %s, the newest %u kept%s%s (drop-ins in %s/osi-backup@%s.*.d).\n"
	       "Enable it:  systemctl daemon-reload && systemctl enable --now osi-backup@%s.timer\n",
	       u->guest, every, u->keep, u->to ? ", each copied to " : "", u->to ? u->to : "", unit_dir,
	       u->guest, u->guest);
	return cmd_output(0);
}
