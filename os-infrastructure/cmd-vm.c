/* vm: guests. Creating one is two steps with the operator in between: the
 * fleet proposes a plan (its advisory node and why), the operator confirms
 * it (y at the prompt, or --yes, which is logged as such), and only then
 * does the fleet dispatch the creation to the node. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "os-infrastructure/client.h"
#include "os-infrastructure/cmd.h"
#include "os-infrastructure/cmd-vm-backup.h"
#include "os-infrastructure/cmd-vm-export.h"
#include "os-infrastructure/cmd-vm-move.h"
#include "os-infrastructure/render.h"
#include "lib/conf-path.h"
#include "lib/guest-ops.h"
#include "lib/host-conf.h"
#include "lib/units.h"
#include "osi-config.h"
#include "virt/virt.h"

struct create_args {
	const char *type, *name, *node;
	uint64_t memory, vcpus;
	bool yes, wait;
};

static int parse_create(int argc, char *argv[], struct create_args *a)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' }, { "name", required_argument, NULL, 'n' },
		{ "node", required_argument, NULL, 'N' }, { "memory", required_argument, NULL, 'm' },
		{ "vcpus", required_argument, NULL, 'c' }, { "yes", no_argument, NULL, 'y' },
		{ "no-wait", no_argument, NULL, 'W' }, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	int c;

	a->wait = true;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":t:n:N:m:c:yh", opts, NULL)) != -1) {
		switch (c) {
		case 't': a->type = optarg; break;
		case 'n': a->name = optarg; break;
		case 'N': a->node = optarg; break;
		case 'm':
			if (parse_size(optarg, &a->memory) < 0)
				return cmd_usage_error(&cmd_vm, "--memory: '%s' is not a size like 2G", optarg);
			break;
		case 'c':
			if (parse_u64(optarg, 1, 256, &a->vcpus) < 0)
				return cmd_usage_error(&cmd_vm, "--vcpus must be 1..256");
			break;
		case 'y': a->yes = true; break;
		case 'W': a->wait = false; break;
		case 'h': return cmd_help(&cmd_vm);
		default: return cmd_bad_option(&cmd_vm, c, argv);
		}
	}
	if (!a->type || !a->name)
		return cmd_usage_error(&cmd_vm, "vm create needs --type and --name");
	return optind == argc ? 0 : cmd_usage_error(&cmd_vm, "unexpected argument '%s'", argv[optind]);
}

/* y/N from the terminal itself, so a pipe on stdin cannot confirm. */
static bool ask(void)
{
	char line[16] = "";
	FILE *tty = fopen("/dev/tty", "r+");

	if (!tty)
		return false;
	fputs("Create this guest? [y/N] ", tty);
	fflush(tty);
	if (!fgets(line, sizeof(line), tty))
		line[0] = '\0';
	fclose(tty);
	return line[0] == 'y' || line[0] == 'Y';
}

static int call(const struct cli *cli, json_t *req, json_t **reply)
{
	int ret = req ? fleet_request(cli, req, reply) : cmd_fail("out of memory");

	json_decref(req);
	return ret;
}

/* Follows the creation until an end state, one line per change. */
static int follow(const struct cli *cli, const char *name)
{
	char last[32] = "";

	for (;;) {
		json_t *r;
		const json_t *g;
		const char *st, *detail;
		int ret = call(cli, json_pack("{s:s, s:s}", "op", "vm-show", "name", name), &r);

		if (ret)
			return ret;
		g = json_object_get(r, "guest");
		st = json_string_value(json_object_get(g, "state"));
		detail = json_string_value(json_object_get(g, "detail"));
		if (st && strcmp(st, last)) {
			printf("%s: %s%s%s\n", name, st, detail ? " — " : "", detail ? detail : "");
			fflush(stdout);
			snprintf(last, sizeof(last), "%s", st);
		}
		ret = !st || !strcmp(st, "failed") || !strcmp(st, "node-lost") ? EXIT_FAIL
		      : !strcmp(st, "running") || !strcmp(st, "stopped") ? EXIT_OK : -1;
		json_decref(r);
		if (ret >= 0)
			return ret;
		cmd_follow_tick(cli);
	}
}

static int confirm(const struct cli *cli, const char *token, const char *how, const char *name,
		   bool wait)
{
	json_t *done;
	char guest[80];
	int ret = call(cli, json_pack("{s:s, s:s, s:s}", "op", "vm-confirm", "token", token, "how", how),
		       &done);

	if (ret)
		return ret;
	snprintf(guest, sizeof(guest), "%s", name ? name :
		 json_string_value(json_object_get(json_object_get(done, "guest"), "name")));
	json_decref(done);
	printf("Confirmed (%s); the fleet dispatched %s to its node.\n", how, guest);
	return wait ? follow(cli, guest) : cmd_output(0);
}

/* Asks for a plan and prints it; *token receives its token. */
static int plan(const struct cli *cli, const struct create_args *a, char *token, size_t len)
{
	json_t *req, *reply;
	int ret;

	req = json_pack("{s:s, s:s, s:s, s:s?}", "op", "vm-plan", "type", a->type, "name", a->name,
			"node", a->node);
	if (req && a->memory)
		json_object_set_new(req, "memory_bytes", json_integer((json_int_t)a->memory));
	if (req && a->vcpus)
		json_object_set_new(req, "vcpus", json_integer((json_int_t)a->vcpus));
	ret = call(cli, req, &reply);
	if (ret)
		return ret;
	render_plan(stdout, reply);
	fflush(stdout);
	snprintf(token, len, "%s",
		 json_string_value(json_object_get(json_object_get(reply, "plan"), "token")));
	json_decref(reply);
	return 0;
}

static int create(const struct cli *cli, int argc, char *argv[])
{
	struct create_args a = { 0 };
	char token[80];
	int ret = parse_create(argc, argv, &a);

	if (ret || (ret = plan(cli, &a, token, sizeof(token))))
		return ret;
	if (!a.yes && !ask()) {
		json_t *r = NULL;

		call(cli, json_pack("{s:s, s:s}", "op", "vm-cancel", "token", token), &r);
		json_decref(r);
		return cmd_fail("not confirmed: nothing was created%s",
				isatty(STDIN_FILENO) ? "" : " (no terminal to ask: pass --yes to confirm)");
	}
	return confirm(cli, token, a.yes ? "cli-yes" : "cli-interactive", a.name, a.wait);
}

/* "vm plan": the plan only, to confirm later with "vm confirm TOKEN". */
static int plan_only(const struct cli *cli, int argc, char *argv[])
{
	struct create_args a = { 0 };
	char token[80];
	int ret = parse_create(argc, argv, &a);

	if (ret || (ret = plan(cli, &a, token, sizeof(token))))
		return ret;
	printf("Token: %s\nConfirm with: " PROG_NAME " vm confirm %s\n", token, token);
	return cmd_output(0);
}

static int confirm_token(const struct cli *cli, int argc, char *argv[])
{
	bool wait = !(argc == 3 && !strcmp(argv[2], "--no-wait"));

	if (argc < 2 || argc > 3 || (argc == 3 && wait))
		return cmd_usage_error(&cmd_vm, "vm confirm TOKEN [--no-wait]");
	return confirm(cli, argv[1], "cli-token", NULL, wait);
}

static int list_or_show(const struct cli *cli, int argc, char *argv[], bool show)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, { 0 },
	};
	enum format fmt = FORMAT_TABLE;
	json_t *reply;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
		if (c == 'h')
			return cmd_help(&cmd_vm);
		if (c != 'f')
			return cmd_bad_option(&cmd_vm, c, argv);
		if (cmd_parse_format(&cmd_vm, optarg, &fmt))
			return EXIT_USAGE;
	}
	if (argc - optind != (show ? 1 : 0))
		return cmd_usage_error(&cmd_vm, show ? "which guest?" : "vm list takes no argument");
	ret = call(cli, show ? json_pack("{s:s, s:s}", "op", "vm-show", "name", argv[optind])
			     : json_pack("{s:s}", "op", "vm-list"), &reply);
	if (!ret)
		ret = cmd_output(render_guests(stdout, reply, fmt));
	json_decref(reply);
	return ret;
}

static const json_t *find_guest(const json_t *list, const char *name)
{
	size_t i;
	const json_t *g;

	json_array_foreach(list, i, g)
		if (!strcmp(json_string_value(json_object_get(g, "name")) ?: "", name))
			return g;
	return NULL;
}

/* A destroyed guest is forgotten by the fleet and its absence is the
 * answer; what the node said (kept data volumes) is in its last event. */
static int destroyed(const struct cli *cli, const char *name)
{
	size_t len = strlen(name), i;
	const char *last = NULL;
	json_t *r = NULL, *ev;

	if (call(cli, json_pack("{s:s, s:i}", "op", "events", "limit", 100), &r) == 0)
		json_array_foreach(json_object_get(r, "events"), i, ev) {
			const char *d = json_string_value(json_object_get(ev, "detail"));

			if (!strcmp(json_string_value(json_object_get(ev, "kind")) ?: "", "guest-destroyed") &&
			    d && !strncmp(d, name, len) && d[len] == ' ')
				last = d + len + 1;
		}
	printf("%s: %s\n", name, last ? last : "destroyed");
	json_decref(r);
	return cmd_output(0);
}

/* One look at the operation: -EINPROGRESS, else the exit status. */
static int op_outcome(const struct cli *cli, const json_t *g, const char *name, const char *verb,
		      json_int_t seq)
{
	const json_t *op = json_object_get(g, "op");
	const char *st = json_string_value(json_object_get(op, "state"));
	const char *detail = json_string_value(json_object_get(op, "detail"));

	if (!g && !strcmp(verb, "destroy"))
		return destroyed(cli, name);
	if (!g || json_integer_value(json_object_get(op, "seq")) != seq || !st ||
	    strcmp(json_string_value(json_object_get(op, "verb")) ?: "", verb))
		return cmd_fail("%s: the fleet no longer follows this %s (it restarted, or another "
				"operation was sent): see '" PROG_NAME " vm show %s'", name, verb, name);
	if (!strcmp(st, "pending"))
		return -EINPROGRESS;
	if (!strcmp(st, "failed"))
		return cmd_fail("%s: %s failed on its node: %s", name, verb, detail ? detail : "no reason given");
	printf("%s: %s%s%s\n", name, json_string_value(json_object_get(g, "state")),
	       detail ? " — " : "", detail ? detail : "");
	return cmd_output(0);
}

/* Waits for the node's answer to start, stop or destroy. */
static int follow_op(const struct cli *cli, const char *name, const char *verb, json_int_t seq)
{

	for (;;) {
		json_t *r;
		int ret = call(cli, json_pack("{s:s}", "op", "vm-list"), &r);

		if (!ret)
			ret = op_outcome(cli, find_guest(json_object_get(r, "guests"), name), name, verb,
					 seq);
		json_decref(r);
		if (ret != -EINPROGRESS)
			return ret;
		cmd_follow_tick(cli);
	}
}

static int action(const struct cli *cli, int argc, char *argv[])
{
	bool wait = !(argc == 3 && !strcmp(argv[2], "--no-wait"));
	json_int_t seq;
	json_t *reply;
	int ret;

	if (argc < 2 || argc > 3 || (argc == 3 && wait))
		return cmd_usage_error(&cmd_vm, "vm %s NAME [--no-wait]", argv[0]);
	ret = call(cli, json_pack("{s:s, s:s, s:s}", "op", "vm-action", "name", argv[1], "action",
				  argv[0]), &reply);
	if (ret)
		return ret;
	seq = json_integer_value(json_object_get(json_object_get(json_object_get(reply, "guest"), "op"),
						 "seq"));
	json_decref(reply);
	printf("%s: %s sent to its node.\n", argv[1], argv[0]);
	fflush(stdout);
	return wait ? follow_op(cli, argv[1], argv[0], seq) : cmd_output(0);
}

/* The libvirt URI and pool directory the node's privileged helper builds
 * guests with, from host.conf, for those --uri and --pool-dir left out. */
static int virt_settings(const char *config, struct virt_config *vc, struct host_config *hc)
{
	char path[PATH_MAX], err[512];

	if (vc->uri && vc->pool_dir)
		return 0;
	if (host_conf_lookup(hc, config, CONF_ETC_DIR, OSI_STATE_DIR, path, err, sizeof(err)) < 0)
		return cmd_fail("%s", err);
	if (!vc->uri)
		vc->uri = hc->virt_uri;
	if (!vc->pool_dir && hc->pool_dir[0])
		vc->pool_dir = hc->pool_dir;
	return 0;
}

/* Runs on the guest's node, against its libvirt: a Totebox's archive is
 * never deleted by destroy, only here, with a reason that is logged. */
static int data_delete(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' }, { "uri", required_argument, NULL, 'u' },
		{ "pool-dir", required_argument, NULL, 'p' }, { "config", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	static struct host_config hc;
	struct virt_config cfg = { 0 };
	const char *reason = NULL, *config = NULL;
	struct virt_host h;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":r:u:p:C:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': reason = optarg; break;
		case 'u': cfg.uri = optarg; break;
		case 'p': cfg.pool_dir = optarg; break;
		case 'C': config = optarg; break;
		case 'h': return cmd_help(&cmd_vm);
		default: return cmd_bad_option(&cmd_vm, c, argv);
		}
	}
	if (argc - optind != 2 || !reason || !*reason)
		return cmd_usage_error(&cmd_vm, "vm data-delete GUEST DISK --reason TEXT "
				       "[--config FILE] [--uri U] [--pool-dir D]");
	if ((ret = virt_settings(config, &cfg, &hc)))
		return ret;
	if (virt_host_open(&h, &cfg) < 0)
		return cmd_fail("%s", h.err);
	if (virt_data_delete(&h, argv[optind], argv[optind + 1], reason) < 0) {
		ret = cmd_fail("%s", h.err);
	} else {
		printf("Deleted data volume %s of %s (logged: %s).\n", argv[optind + 1], argv[optind], reason);
		ret = cmd_output(0);
	}
	virt_host_close(&h);
	return ret;
}

static int port_of(const char *text, json_int_t *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < 1 || v > 65535)
		return -EINVAL;
	*out = v;
	return 0;
}

/* vm publish NAME PORT [--on HOST-PORT] [--udp] / vm unpublish NAME PORT [--udp] */
static int publish(const struct cli *cli, int argc, char *argv[], bool add)
{
	static const struct option opts[] = {
		{ "on", required_argument, NULL, 'o' }, { "udp", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' }, { 0 },
	};
	json_int_t port, host_port = 0;
	bool udp = false;
	json_t *req, *reply;
	int c, ret;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":o:uh", opts, NULL)) != -1) {
		if (c == 'h')
			return cmd_help(&cmd_vm);
		if (c == 'u')
			udp = true;
		else if (c == 'o' && add && port_of(optarg, &host_port) == 0)
			continue;
		else if (c == 'o' && add)
			return cmd_usage_error(&cmd_vm, "--on takes a port, 1..65535");
		else
			return cmd_bad_option(&cmd_vm, c, argv);
	}
	if (argc - optind != 2 || port_of(argv[optind + 1], &port) < 0)
		return cmd_usage_error(&cmd_vm, "vm %s NAME PORT (a port, 1..65535)",
				       add ? "publish" : "unpublish");
	req = json_pack("{s:s, s:s, s:I, s:s}", "op", add ? "vm-publish" : "vm-unpublish", "name",
			argv[optind], "port", port, "proto", udp ? "udp" : "tcp");
	if (req && host_port)
		json_object_set_new(req, "host_port", json_integer(host_port));
	ret = call(cli, req, &reply);
	if (!ret && add)
		printf("%s %s/%lld published on node %s's host port %lld\n", argv[optind],
		       udp ? "udp" : "tcp", (long long)port,
		       json_string_value(json_object_get(reply, "node")) ?: "?",
		       (long long)json_integer_value(json_object_get(reply, "host_port")));
	else if (!ret)
		printf("%s %s/%lld unpublished\n", argv[optind], udp ? "udp" : "tcp", (long long)port);
	json_decref(reply);
	return ret;
}

/* "vm VERB ... --help" anywhere before "--": the help, and nothing done. */
static bool wants_help(int argc, char *argv[])
{
	for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

static int vm(const struct cli *cli, int argc, char *argv[])
{
	const char *sub = argc > 1 ? argv[1] : "";
	const struct guest_op_def *op = guest_op_find(sub);

	if (wants_help(argc, argv))
		return cmd_help(&cmd_vm);
	if (op && op->refusal)
		return cmd_fail("%s", op->refusal);
	if (op && op->action)
		return action(cli, argc - 1, argv + 1);
	if (!strcmp(sub, "create"))
		return create(cli, argc - 1, argv + 1);
	if (!strcmp(sub, "plan"))
		return plan_only(cli, argc - 1, argv + 1);
	if (!strcmp(sub, "confirm"))
		return confirm_token(cli, argc - 1, argv + 1);
	if (!strcmp(sub, "list"))
		return list_or_show(cli, argc - 1, argv + 1, false);
	if (!strcmp(sub, "show"))
		return list_or_show(cli, argc - 1, argv + 1, true);
	if (!strcmp(sub, "publish") || !strcmp(sub, "unpublish"))
		return publish(cli, argc - 1, argv + 1, !strcmp(sub, "publish"));
	if (!strcmp(sub, "data-delete"))
		return data_delete(argc - 1, argv + 1);
	if (!strcmp(sub, "export"))
		return vm_export(cli, argc - 1, argv + 1);
	if (!strcmp(sub, "import"))
		return vm_import(cli, argc - 1, argv + 1);
	if (!strcmp(sub, "backup"))
		return vm_backup(cli, argc - 1, argv + 1);
	if (!strcmp(sub, "backups"))
		return vm_backups(cli, argc - 1, argv + 1);
	if (!strcmp(sub, "restore"))
		return vm_restore(cli, argc - 1, argv + 1);
	if (!strcmp(sub, "move"))
		return vm_move(cli, argc - 1, argv + 1);
	if (!strcmp(sub, "release-source"))
		return vm_release_source(cli, argc - 1, argv + 1);
	if (!strcmp(sub, "move-show"))
		return vm_move_show(cli, argc - 1, argv + 1);
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h"))
		return cmd_help(&cmd_vm);
	return cmd_usage_error(&cmd_vm, *sub ? "unknown vm command '%s'" : "which vm command?%s", sub);
}

const struct cmd cmd_vm = {
	.name = "vm",
	.fn = vm,
	.usage = "vm create --type T --name N [--node X] [--memory M] [--vcpus V] [--yes] [--no-wait]\n"
		 "       " PROG_NAME " vm plan --type T --name N [...]   then   vm confirm TOKEN\n"
		 "       " PROG_NAME " vm list|show NAME [--format table|json|yaml|csv]\n"
		 "       " PROG_NAME " vm start|stop|destroy NAME [--no-wait]\n"
		 "       " PROG_NAME " vm move NAME --to NODE [--yes] [--no-wait]   (offline)\n"
		 "       " PROG_NAME " vm move-show NAME | vm release-source NAME [--no-wait]\n"
		 "       " PROG_NAME " vm publish NAME PORT [--on HOST-PORT] [--udp]\n"
		 "       " PROG_NAME " vm unpublish NAME PORT [--udp]\n"
		 "       " PROG_NAME " vm data-delete GUEST DISK --reason TEXT [--config FILE] [--uri U]\n"
		 "                 [--pool-dir D]   (on the guest's node)\n"
		 "       " PROG_NAME " vm export NAME FILE [--recipient ADMIN]... [--config F] [--uri U] [--pool-dir D]\n"
		 "       " PROG_NAME " vm import FILE --node NODE [--trust-key HEX] [--config F] [...]\n"
		 "                 (both on the guest's node; see operator.md, Export and import)\n"
		 "       " PROG_NAME " vm backup NAME [--dir D] [--keep N] [--full] [--every DURATION] [--unit-dir D]\n"
		 "                 [--to NODE]   (then copied to NODE, through the fleet)\n"
		 "       " PROG_NAME " vm backups NAME [--dir D] [--trust-key HEX]\n"
		 "       " PROG_NAME " vm restore NAME --from BACKUP [--dir D] [--trust-key HEX]\n"
		 "                 [--to NODE]   (from this node's backups into the guest on NODE)\n"
		 "       " PROG_NAME " vm restore NAME --put-back [--dir D]   (what a restore that did not\n"
		 "                 finish left: the old volumes and keys)\n"
		 "                 (all on the guest's node; see operator.md, Backups)",
	.description = "Create guests (plan, then confirm), list them, start, stop, destroy; "
		       "move them offline to another node; export, import, back up and restore their data",
	.help = "  --type T       totebox, mediakit, orchestration or privategit\n"
		"  --node X       the node to use; a Totebox always needs one\n"
		"  --memory M     e.g. 2G (default: the type's)\n"
		"  --vcpus V      (default: the type's)\n"
		"  --yes          confirm the plan without asking (logged as such)\n"
		"  --no-wait      do not wait for the node's answer (create, confirm, start,\n"
		"                 stop, destroy, move, release-source); otherwise the exit\n"
		"                 status is the node's\n"
		"  --to NODE      move: the target node; backup: then copy the backup (with\n"
		"                 the chain it needs) to NODE's backup directory; restore:\n"
		"                 copy it to NODE, the guest's node, and restore there\n"
		"  --recipient A  export: an admin of the ledger the keys of encrypted data\n"
		"                 volumes are sealed to (repeatable; one needed for those)\n"
		"  --trust-key H  import, backups, restore: trust only this Ed25519 key (hex)\n"
		"                 instead of the ledger's live members\n"
		"  --dir D        backup, backups, restore: the backup directory (default:\n"
		"                 host.conf's backup_dir, else <state_dir>/backups)\n"
		"  --keep N       backup: then keep the newest N (and what they need)\n"
		"  --full         backup: a full one, not an incremental\n"
		"  --every D      backup: schedule it with the systemd timer osi-backup@NAME;\n"
		"                 each run is this backup with the options given (--dir,\n"
		"                 --config, --uri, --pool-dir, --full, --keep, --to...)\n"
		"  --unit-dir D   backup --every: where the timer's drop-ins go\n"
		"  --from ID      restore: the backup to restore (vm backups lists them)\n"		"  --put-back     restore: put back the volumes (and keys) a restore that did\n"
		"                 not finish kept aside, the guest shut off\n"
		"  --on P         publish: the host port on the guest's node (default: PORT;\n"
		"                 not 7101-7105, tcp 22, udp 51820, not one\n"
		"                 already published there)\n"
		"  --udp          publish, unpublish: a UDP port (default: TCP)\n"
		"  --reason TEXT  data-delete: why (logged in virt-audit.log)\n"
		"  --config FILE  data-delete, export, import, backup, backups, restore (run on\n"
		"                 the guest's node): the node's host.conf, whose virt_uri and\n"
		"                 pool_dir are the libvirt URI and pool its guests are built with\n"
		"                 (default: " CONF_ETC_DIR "/host.conf, else\n"
		"                 " OSI_STATE_DIR "/host.conf, else none)\n"
		"  --uri U        the same commands: libvirt URI (default: host.conf's virt_uri,\n"
		"                 qemu:///system without one)\n"
		"  --pool-dir D   the same commands: the pool directory (default: host.conf's\n"
		"                 pool_dir, " OSI_STATE_DIR "/images when empty)\n\n"
		"create shows the fleet's plan and asks for confirmation; without a terminal\n"
		"it needs --yes. Live migration does not exist, by design.\n",
};
