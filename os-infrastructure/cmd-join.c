/* os-infrastructure --join CODE: a new machine pairs with a member. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/clock.h"
#include "os-infrastructure/cmd.h"
#include "lib/mesh.h"
#include "os-infrastructure/pairing.h"

static void make_request(const struct identity *id, const struct pairing_opts *o,
			 struct ceremony_joiner *j)
{
	memset(j, 0, sizeof(*j));
	memcpy(j->name, id->name, sizeof(j->name));
	memcpy(j->sign_pk, id->sign_pk, sizeof(j->sign_pk));
	memcpy(j->kx_pk, id->kx_pk, sizeof(j->kx_pk));
	memcpy(j->wg_pk, id->wg_pk, sizeof(j->wg_pk));
	snprintf(j->endpoint, sizeof(j->endpoint), "%s", o->endpoint ? o->endpoint : "");
	j->roles = LEDGER_ROLE_NODE | o->roles;
}

static int pair(const char *code, const char *via, const struct identity *id,
		const struct pairing_opts *o, struct ceremony_answer *a)
{
	struct ceremony_join_cfg cfg = { .confirm_sas = pairing_confirm,
					 .ctx = (void *)&o->invite.sas };
	uint64_t wait = o->invite.ttl_ms ? o->invite.ttl_ms : CEREMONY_INVITE_TTL_MS;
	struct ceremony_joiner me;
	char err[CEREMONY_ERR_MAX * 2] = "";
	int lfd, fd, ret;

	make_request(id, o, &me);
	if (via) {
		printf("pairing with %s...\n", via);
		ret = ceremony_join(via, code, &me, &cfg, a, err, sizeof(err));
	} else {
		lfd = pairing_listen(o->invite.listen);
		if (lfd < 0)
			return cmd_fail("cannot listen on %s: %s", o->invite.listen, strerror(-lfd));
		printf("waiting for the inviter on %s...\n", o->invite.listen);
		fd = pairing_accept(lfd, clock_mono_ns() + wait * NSEC_PER_MSEC);
		close(lfd);
		if (fd < 0)
			return cmd_fail("no inviter connected: %s", strerror(-fd));
		ret = ceremony_join_fd(fd, code, &me, &cfg, a, err, sizeof(err));
	}
	return ret < 0 ? cmd_fail("pairing failed: %s", err[0] ? err : strerror(-ret)) : 0;
}

/* One line from fd, byte by byte so that what follows (a SAS typed or
 * piped later) stays unread; -ENODATA at end of input before any byte. */
static int read_line(int fd, char *line, size_t size)
{
	size_t n = 0;
	ssize_t r;
	char c;

	for (;;) {
		r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0 && !n)
			return -ENODATA;
		if (r == 0 || c == '\n')
			break;
		if (c != '\r' && n + 1 < size)
			line[n++] = c;
	}
	line[n] = '\0';
	return 0;
}

/* The code from the terminal without echo, or one line of stdin: never in
 * argv, where every local user can read it (/proc/PID/cmdline). */
static int read_code(char *code, size_t size)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	int ret;

	if (tty) {
		fprintf(stderr, "Short code: ");
		fflush(stderr);
		quiet = old;
		quiet.c_lflag &= (tcflag_t)~ECHO;
		quiet.c_lflag |= ECHONL;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	ret = read_line(STDIN_FILENO, code, size);
	if (tty)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	return ret;
}

/* The code as given: "-" or nothing reads it (read_code); a code in argv
 * still works, with a warning, and is blanked there at once. */
static int take_code(char *arg, char *code, size_t size)
{
	int ret;

	if (arg && *arg && strcmp(arg, "-")) {
		fprintf(stderr, PROG_NAME ": warning: a code on the command line is readable by "
			"every local user (/proc/PID/cmdline); use --join - (or no code) to be "
			"prompted, or pipe it on stdin\n");
		snprintf(code, size, "%s", arg);
		memset(arg, 'x', strlen(arg));
		return 0;
	}
	ret = read_code(code, size);
	if (ret < 0)
		return cmd_usage_error(&cmd_join, "no short code on stdin%s",
				       ret == -ENODATA ? "" : ": read failed");
	if (!code[0])
		return cmd_usage_error(&cmd_join, "the short code is empty");
	return 0;
}

/* The answer's ledger must verify and hold us, with our keys, at the
 * address the inviter announced. */
static int take_ledger(const char *dir, const struct identity *id, const struct ceremony_answer *a,
		       struct ledger *l)
{
	const struct ledger_member *me;
	char err[256], addr[16];
	int lock, ret;

	if (ledger_parse(a->ledger, a->ledger_len, l, err, sizeof(err)) < 0 ||
	    ledger_verify(l, err, sizeof(err)) < 0)
		return cmd_fail("the inviter's ledger does not verify: %s", err);
	me = ledger_find(l, id->name);
	if (me)
		ledger_addr_format(me->addr, addr);
	if (!me || me->revoked || memcmp(me->sign_pk, id->sign_pk, sizeof(id->sign_pk)) ||
	    memcmp(me->wg_pk, id->wg_pk, sizeof(id->wg_pk)) || strcmp(addr, a->address))
		return cmd_fail("the inviter's ledger does not admit '%s' as announced", id->name);
	lock = mesh_ledger_lock(dir);
	if (lock < 0)
		return cmd_fail("cannot lock the ledger in %s: %s", dir, strerror(-lock));
	ret = mesh_has_ledger(dir) ? -EEXIST : mesh_ledger_save(dir, l);
	mesh_ledger_unlock(lock);
	if (ret < 0)
		return cmd_fail("cannot save the ledger in %s: %s", dir, strerror(-ret));
	printf("joined mesh %s as '%s' at %s%s%s\n", a->mesh_prefix, id->name, a->address,
	       a->fleet[0] ? "; fleet at " : "", a->fleet);
	return 0;
}

static int join(const struct cli *cli, int argc, char *argv[])
{
	static const struct option opts[] = {
		PAIRING_OPTIONS,
		{ "via", required_argument, NULL, 'V' },
		{ 0 }
	};
	char *arg = strchr(argv[0], '='), code[128] = "";
	const char *via = NULL;
	struct ceremony_answer answer = { 0 };
	char name[NODE_NAME_MAX + 1];
	struct identity id = { 0 };
	struct pairing_opts o;
	struct ledger l;
	int c, ret;

	arg = arg ? arg + 1 : NULL;
	pairing_opts_init(&o);
	optind = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'h')
			return cmd_help(&cmd_join);
		if (c == 'V')
			via = optarg;
		else if ((ret = pairing_option(&cmd_join, &o, c, optarg)) == 1)
			return cmd_bad_option(&cmd_join, c, argv);
		else if (ret)
			return ret;
	}
	if (!arg && optind < argc)
		arg = argv[optind++];
	if (optind < argc)
		return cmd_usage_error(&cmd_join, "unexpected argument '%s'", argv[optind]);
	if (!via == !o.invite.listen)
		return cmd_usage_error(&cmd_join, "give --via HOST:PORT (connect to the inviter) or "
				       "--listen ADDR:PORT (the inviter connects)");
	if (pairing_default_name(&o, name) < 0)
		return cmd_usage_error(&cmd_join, "the hostname is not a node name: give --name");
	if (mesh_has_ledger(cli->state_dir))
		return cmd_fail("%s already holds a mesh ledger: this node is a member", cli->state_dir);
	ret = take_code(arg, code, sizeof(code));
	if (ret)
		return ret;
	setvbuf(stdout, NULL, _IOLBF, 0);
	ledger_init(&l);
	ret = pairing_identity(cli->state_dir, name, &id);
	if (ret == 0)
		ret = pair(code, via, &id, &o, &answer);
	if (ret == 0)
		ret = take_ledger(cli->state_dir, &id, &answer, &l);
	if (ret == 0)
		ret = pairing_mesh_up(cli->state_dir, &id, o.ifname, pairing_listen_port(&o));
	if (ret == 0)
		pairing_services(cli->state_dir, &l, id.name, !o.no_start);
	ceremony_answer_free(&answer);
	ledger_free(&l);
	identity_wipe(&id);
	sodium_memzero(code, sizeof(code));
	return ret;
}

const struct cmd cmd_join = {
	.name = "join",
	.fn = join,
	.usage = "--join [-|CODE] (--via HOST:PORT | --listen ADDR:PORT) [--role relay|fleet|node]\n"
		 "       [--endpoint HOST:PORT] [--name N] [OPTIONS]",
	.description = "Join the mesh with a short code from a member's 'invite'",
	.help = "  --via HOST:PORT    the inviter's ceremony (port 7104 if omitted)\n"
		"  --listen ADDR:PORT wait there for an inviter behind NAT to connect\n"
		"                     ('invite --connect' on its side)\n"
		"  --role ROLES       relay, fleet or admin besides node; fleet and admin\n"
		"                     only if the inviter gave 'invite --grant' them\n"
		"  --endpoint H:P     where other members reach this node's WireGuard (omit\n"
		"                     behind NAT)\n"
		"  --name N           this node's name (default: the hostname)\n"
		"  --interface IF     WireGuard interface (default " MESH_DEFAULT_IFNAME ")\n"
		"  --port N           WireGuard UDP port (default: the endpoint's, else 51820)\n"
		"  --ttl DURATION     how long --listen waits (default 10m)\n"
		"  --no-start         write the services' configuration, do not start them\n"
		PAIRING_HELP_SAS "\n"
		"The code is read from the terminal without echo (or one line of stdin) when\n"
		"it is '-' or missing; a code in the arguments works but is readable by every\n"
		"local user while the command runs, so it draws a warning.\n"
		"Runs the pairing ceremony, shows the SAS (confirm only if the inviter's\n"
		"screen shows the same), stores the ledger the inviter signed and brings up\n"
		"WireGuard with this node's address and its peers from the ledger.\n",
};
