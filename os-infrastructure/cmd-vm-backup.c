/* vm backup NAME, vm backups NAME, vm restore NAME --from ID (or
 * --put-back, what a restore that did not finish left): on the
 * guest's node, against its libvirt, like vm export. Backups are signed
 * with this member's identity; listing and restore trust this member's own
 * key, a live member of the verified ledger, or the key named with
 * --trust-key. A schedule is a systemd timer (osi-backup@NAME.timer), not
 * a loop of ours: --every writes its settings (backup-schedule.c), the
 * scheduled run's command line with the options given (backup-unit.c). */
#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/backup-trust.h"
#include "lib/conf-path.h"
#include "lib/host-conf.h"
#include "lib/identity.h"
#include "lib/ledger.h"
#include "lib/mesh.h"
#include "lib/safe-path.h"
#include "os-infrastructure/backup-unit.h"
#include "os-infrastructure/cmd-vm-backup.h"
#include "osi-config.h"
#include "virt/virt-backup.h"

struct backup_args {
	const char *config, *dir, *to, *every, *from, *trust_key, *unit_dir;
	uint64_t keep;
	bool full, put_back;
	struct virt_config vc;
	struct host_config hc;
	char dir_buf[PATH_MAX];
	char conf_path[PATH_MAX];  /* the host.conf read, "" for none */
	/* whom to trust */
	struct ledger l;
	bool have_ledger, have_key, have_self;
	uint8_t key[SIGN_PK_BYTES];
	struct identity self;
};

static int parse(int argc, char *argv[], struct backup_args *a)
{
	static const struct option opts[] = {
		{ "uri", required_argument, NULL, 'u' }, { "pool-dir", required_argument, NULL, 'p' },
		{ "config", required_argument, NULL, 'C' }, { "dir", required_argument, NULL, 'd' },
		{ "keep", required_argument, NULL, 'k' }, { "full", no_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 't' }, { "every", required_argument, NULL, 'e' },
		{ "from", required_argument, NULL, 'f' }, { "trust-key", required_argument, NULL, 'K' },
		{ "unit-dir", required_argument, NULL, 'U' }, { "put-back", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":u:p:C:d:k:Ft:e:f:K:U:Ph", opts, NULL)) != -1) {
		switch (c) {
		case 'u': a->vc.uri = optarg; break;
		case 'p': a->vc.pool_dir = optarg; break;
		case 'C': a->config = optarg; break;
		case 'd': a->dir = optarg; break;
		case 'k':
			if (parse_u64(optarg, 1, 10000, &a->keep) < 0)
				return cmd_usage_error(&cmd_vm, "--keep takes a count, 1..10000");
			break;
		case 'F': a->full = true; break;
		case 't': a->to = optarg; break;
		case 'e': a->every = optarg; break;
		case 'f': a->from = optarg; break;
		case 'K': a->trust_key = optarg; break;
		case 'U': a->unit_dir = optarg; break;
		case 'P': a->put_back = true; break;
		case 'h': return cmd_help(&cmd_vm);
		default: return cmd_bad_option(&cmd_vm, c, argv);
		}
	}
	return 0;
}

/* host.conf's libvirt URI and pool; the backup directory. */
static int settings(struct backup_args *a)
{
	char err[512];

	if (host_conf_lookup(&a->hc, a->config, CONF_ETC_DIR, OSI_STATE_DIR, a->conf_path, err,
			     sizeof(err)) < 0)
		return cmd_fail("%s", err);
	if (!a->vc.uri)
		a->vc.uri = a->hc.virt_uri;
	if (!a->vc.pool_dir && a->hc.pool_dir[0])
		a->vc.pool_dir = a->hc.pool_dir;
	a->vc.seal_key = a->hc.seal_key;
	if (!a->dir && a->hc.backup_dir[0])
		a->dir = a->hc.backup_dir;
	if (!a->dir) {
		if (snprintf(a->dir_buf, sizeof(a->dir_buf), "%s/backups",
			     a->hc.state_dir[0] ? a->hc.state_dir : OSI_STATE_DIR) >= (int)sizeof(a->dir_buf))
			return cmd_fail("the state directory's name is too long");
		a->dir = a->dir_buf;
	}
	return 0;
}

static int trust(const struct export_sig *s, void *ctx, char *err, size_t errlen)
{
	struct backup_args *a = ctx;

	if (a->have_key)
		return sodium_memcmp(a->key, s->key, SIGN_PK_BYTES) == 0 ? 0 :
		       (snprintf(err, errlen, "signed by %s, not the key given with --trust-key", s->signer), -EPERM);
	if (a->have_self && !sodium_memcmp(a->self.sign_pk, s->key, SIGN_PK_BYTES))
		return 0;
	if (!a->have_ledger)
		return snprintf(err, errlen, "signed by %s, not by this member, and there is no ledger: "
				"name the signer's key with --trust-key HEX", s->signer), -EPERM;
	return backup_trust_ledger(&a->l, s, err, errlen);
}

static int key_of(const char *hex, uint8_t key[SIGN_PK_BYTES])
{
	size_t n = strlen(hex);

	return n == SIGN_PK_BYTES * 2 && !sodium_hex2bin(key, SIGN_PK_BYTES, hex, n, NULL, NULL, NULL)
	       ? 0 : -EINVAL;
}

static int trust_setup(const struct cli *cli, struct backup_args *a, bool need_self)
{
	char err[256];
	int ret;

	ledger_init(&a->l);
	if ((ret = identity_load(cli->state_dir, &a->self)) == 0)
		a->have_self = true;
	else if (need_self)
		return cmd_fail("cannot load the identity in %s to sign the backup: %s", cli->state_dir,
				strerror(-ret));
	if (a->trust_key) {
		if (key_of(a->trust_key, a->key) < 0)
			return cmd_usage_error(&cmd_vm, "--trust-key: 64 hex digits (an Ed25519 public key)");
		a->have_key = true;
	}
	if (!mesh_has_ledger(cli->state_dir))
		return 0;
	if (mesh_ledger_load(cli->state_dir, &a->l, err, sizeof(err)) < 0 ||
	    ledger_verify(&a->l, err, sizeof(err)) < 0)
		return cmd_fail("the ledger in %s: %s", cli->state_dir, err);
	a->have_ledger = true;
	return 0;
}

static void done(struct backup_args *a)
{
	ledger_free(&a->l);
	identity_wipe(&a->self);
}

/* Started by osi-backup@.service (whose unit sets OSI_SCHEDULED): what
 * this run, as root, reads to choose whom to trust and what to run is
 * judged again, as when it was scheduled, before it is read (the files
 * may have changed since). paths: before settings, else the URI after. */
static int scheduled_check(const struct cli *cli, struct backup_args *a, bool paths)
{
	char found[PATH_MAX], res[PATH_MAX], trust_dflt[PATH_MAX], err[768];
	const char *p[][2] = {
		{ "--config", a->config ?: conf_default_path(CONF_ETC_DIR, OSI_STATE_DIR,
							       HOST_CONFIG_FILE, found) },
		{ "--state-dir", strcmp(cli->state_dir, OSI_STATE_DIR) ? cli->state_dir : NULL },
		{ "--trust-file", cli->trust_file },
	};

	if (!getenv("OSI_SCHEDULED"))
		return 0;
	if (!paths)
		return backup_uri_local(a->vc.uri, a->vc.uri == a->hc.virt_uri ? "host.conf's virt_uri" :
					"--uri", err, sizeof(err)) < 0 ? cmd_fail("refused: %s", err) : 0;
	snprintf(trust_dflt, sizeof(trust_dflt), "%s/trust", cli->state_dir);
	if (p[2][1] && !strcmp(p[2][1], trust_dflt))
		p[2][1] = NULL;
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		if (p[i][1] && path_safe(p[i][1], res, err, sizeof(err)) < 0)
			return cmd_fail("refused: %s %s: %s: a scheduled backup runs as root and uses only "
					"what root alone may change", p[i][0], p[i][1], err);
	return 0;
}

static int open_host(const struct cli *cli, int argc, char *argv[], struct backup_args *a,
		     struct virt_host *h, const char *usage, bool need_self)
{
	int ret = parse(argc, argv, a);

	if (ret)
		return ret;
	if (argc - optind != 1)
		return cmd_usage_error(&cmd_vm, "%s", usage);
	if ((ret = scheduled_check(cli, a, true)) || (ret = settings(a)) ||
	    (ret = scheduled_check(cli, a, false)) || (ret = trust_setup(cli, a, need_self)))
		return ret;
	if (virt_host_open(h, &a->vc) < 0)
		return cmd_fail("%s", h->err);
	return 0;
}

/* vm backup NAME --every D: the scheduled run is this command with the
 * options given now (those left out are looked up again at each run). */
static int schedule(const struct cli *cli, struct backup_args *a, const char *guest)
{
	struct backup_unit u = {
		.bin = OSI_BIN_DIR "/" PROG_NAME, .guest = guest, .full = a->full, .dir = a->dir,
		.config = a->config, .uri = a->vc.uri, .pool_dir = a->vc.pool_dir,
		.trust_key = a->trust_key, .to = a->to, .fleet = cli->fleet,
		.conf_uri = a->hc.virt_uri,
	};
	char trust_dflt[PATH_MAX];
	int ret;

	if (a->from || a->put_back)
		return cmd_usage_error(&cmd_vm, "--from and --put-back are vm restore's, not vm backup's");
	if (a->trust_key && key_of(a->trust_key, a->key) < 0)
		return cmd_usage_error(&cmd_vm, "--trust-key: 64 hex digits (an Ed25519 public key)");
	if (strcmp(cli->state_dir, OSI_STATE_DIR))
		u.state_dir = cli->state_dir;
	if (strcmp(cli->socket, OSI_RUN_DIR "/fleet.sock"))
		u.socket = cli->socket;
	snprintf(trust_dflt, sizeof(trust_dflt), "%s/trust", cli->state_dir);
	if (cli->trust_file && strcmp(cli->trust_file, trust_dflt))
		u.trust_file = cli->trust_file;
	if ((ret = settings(a)))
		return ret;
	u.keep = a->keep ? (unsigned)a->keep : BACKUP_KEEP_DEFAULT;
	u.rw_dir = a->dir;
	return backup_schedule(&u, a->conf_path[0] ? a->conf_path : NULL, a->every, a->unit_dir);
}

static struct backup_request request(struct backup_args *a)
{
	return (struct backup_request){ .dir = a->dir, .signer = a->have_self ? &a->self : NULL, .full = a->full,
					.keep = (unsigned)a->keep, .trust = trust, .ctx = a };
}

int vm_backup(const struct cli *cli, int argc, char *argv[])
{
	static struct backup_args a;
	struct backup_request r;
	struct backup_manifest m;
	struct backup_outcome o;
	struct virt_host h;
	int ret = parse(argc, argv, &a);

	if (ret)
		return ret;
	if (a.to && !node_name_valid(a.to))
		return cmd_usage_error(&cmd_vm, "--to takes a node's name");
	if (a.every && argc - optind == 1)
		return schedule(cli, &a, argv[optind]);
	ret = open_host(cli, argc, argv, &a, &h, "vm backup NAME [--dir D] [--keep N] [--full] "
			"[--to NODE] [--every DURATION]   (on the guest's node)", true);
	if (ret)
		goto out;
	r = request(&a);
	if (virt_backup(&h, argv[optind], &r, &m, &o) < 0) {
		ret = cmd_fail("backup of %s failed, nothing was kept: %s", argv[optind], h.err);
	} else {
		printf("Backup %s of %s: %s%s%s, %u volume(s), %s, in %s/%s", m.id, m.guest,
		       m.incremental ? "incremental on " : "full", m.parent,
		       *m.checkpoint ? "" : " (no checkpoint: the next one is a full)", m.nvol,
		       !o.running ? "at rest" : o.frozen ? "frozen by its guest agent"
		       : "crash-consistent (no guest agent answered)", a.dir, m.guest);
		if (o.pruned)
			printf("; %zu older backup(s) pruned", o.pruned);
		printf(".\n");
		fflush(stdout);
		ret = a.to ? backup_copy_to(cli, m.guest, m.id, a.self.name, a.to, false,
						     (unsigned)a.keep) : cmd_output(0);
	}
	virt_host_close(&h);
out:
	done(&a);
	return ret;
}

static uint64_t bytes_of(const struct backup_manifest *m)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < m->nvol; i++)
		total += m->vol[i].bytes;
	return total;
}

int vm_backups(const struct cli *cli, int argc, char *argv[])
{
	static struct backup_args a;
	struct backup_entry *e = NULL;
	char gdir[PATH_MAX], err[512], when[32];
	size_t n;
	int ret = parse(argc, argv, &a);

	if (ret)
		return ret;
	if (argc - optind != 1)
		return cmd_usage_error(&cmd_vm, "vm backups NAME [--dir D] [--trust-key HEX]");
	if ((ret = settings(&a)) || (ret = trust_setup(cli, &a, false)))
		goto out;
	if (backup_guest_dir(a.dir, argv[optind], false, gdir, sizeof(gdir), err, sizeof(err)) < 0 ||
	    backup_list(gdir, trust, &a, &e, &n, err, sizeof(err)) < 0) {
		ret = cmd_fail("%s", err);
		goto out;
	}
	printf("%-16s  %-20s  %-11s  %-16s  %12s  %s\n", "ID", "TIME (UTC)", "KIND", "PARENT", "BYTES", "STATE");
	for (size_t i = 0; i < n; i++) {
		time_t t = (time_t)e[i].m.created;
		struct tm tm;

		if (!e[i].m.created || !gmtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm))
			snprintf(when, sizeof(when), "-");
		printf("%-16s  %-20s  %-11s  %-16s  %12llu  %s\n", e[i].m.id, when,
		       e[i].intact ? e[i].m.incremental ? "incremental" : "full" : "?",
		       *e[i].m.parent ? e[i].m.parent : "-", (unsigned long long)bytes_of(&e[i].m),
		       e[i].intact ? "ok" : e[i].why);
	}
	if (!n)
		printf("(no backups of %s in %s)\n", argv[optind], a.dir);
	ret = cmd_output(0);
out:
	free(e);
	done(&a);
	return ret;
}

/* --to NODE: the backup is here, the guest on NODE: copied there, and the
 * guest restored there (no libvirt here). */
static int restore_to(const struct cli *cli, int argc, char *argv[], struct backup_args *a)
{
	char gdir[PATH_MAX], err[512];
	int ret;

	if (argc - optind != 1)
		return cmd_usage_error(&cmd_vm, "vm restore NAME --from BACKUP --to NODE");
	if (!node_name_valid(a->to) || !backup_id_valid(a->from))
		return cmd_usage_error(&cmd_vm, "--to takes a node's name, --from a backup's id");
	if ((ret = settings(a)) || (ret = trust_setup(cli, a, true)))
		goto out;
	if (backup_guest_dir(a->dir, argv[optind], false, gdir, sizeof(gdir), err, sizeof(err)) < 0) {
		ret = cmd_fail("%s", err);
		goto out;
	}
	ret = backup_copy_to(cli, argv[optind], a->from, a->self.name, a->to, true, 0);
	if (ret == 0)
		printf("Restored %s's data volumes on %s from backup %s; the guest is shut off there: "
		       "vm start %s.\n", argv[optind], a->to, a->from, argv[optind]);
out:
	done(a);
	return ret;
}

/* --put-back: what a restore that did not finish left, put back (no
 * backup is read, so no trust is set up). */
static int put_back(int argc, char *argv[], struct backup_args *a)
{
	struct virt_host h;
	unsigned put = 0;
	int ret;

	if (argc - optind != 1 || a->from || a->to)
		return cmd_usage_error(&cmd_vm, "vm restore NAME --put-back [--dir D]   (on the guest's "
				       "node; no --from, no --to)");
	if ((ret = settings(a)))
		return ret;
	if (virt_host_open(&h, &a->vc) < 0)
		return cmd_fail("%s", h.err);
	if (virt_restore_put_back(&h, argv[optind], a->dir, &put) < 0)
		ret = cmd_fail("put back of %s: %s", argv[optind], h.err);
	else if (!put)
		printf("Nothing of a restore of %s is left in %s: nothing to put back.\n", argv[optind],
		       h.pool_dir), ret = cmd_output(0);
	else
		printf("Put back %u data volume(s) of %s as they were before the restore that did not "
		       "finish (each under its old key where one was kept); the guest is shut off: vm "
		       "start %s.\n", put, argv[optind], argv[optind]), ret = cmd_output(0);
	virt_host_close(&h);
	return ret;
}

int vm_restore(const struct cli *cli, int argc, char *argv[])
{
	static struct backup_args a;
	struct backup_request r;
	struct virt_host h;
	size_t links = 0;
	int ret = parse(argc, argv, &a);

	if (ret)
		return ret;
	if (a.put_back)
		return put_back(argc, argv, &a);
	if (!a.from)
		return cmd_usage_error(&cmd_vm, "vm restore NAME --from BACKUP (an id from vm backups NAME), "
				       "or vm restore NAME --put-back");
	if (a.to)
		return restore_to(cli, argc, argv, &a);
	ret = open_host(cli, argc, argv, &a, &h, "vm restore NAME --from BACKUP [--dir D] "
			"[--trust-key HEX]   (on the guest's node)", false);
	if (ret)
		goto out;
	r = request(&a);
	if (virt_restore(&h, argv[optind], a.from, &r, &links) < 0)
		ret = cmd_fail("restore of %s: %s", argv[optind], h.err);
	else
		printf("Restored %s's data volumes from backup %s (%zu file set(s) in the chain); the guest "
		       "is shut off: vm start %s.\n", argv[optind], a.from, links, argv[optind]),
		ret = cmd_output(0);
	virt_host_close(&h);
out:
	done(&a);
	return ret;
}
