/* "fleet takeover": an admin on a surviving member moves the ledger's
 * sequencer (and, with --with-fleet, the fleet role) away from a member that
 * has been unreachable longer than a threshold. The entry cannot wait for
 * the dead sequencer: the new sequencer accepts it, and concurrent takeovers
 * converge by the ledger's own rule (lib/ledger.h, "Concurrent takeovers"). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/errbuf.h"
#include "lib/mesh-sync.h"
#include "lib/mesh.h"
#include "lib/units.h"
#include "os-infrastructure/cmd.h"
#include "os-infrastructure/fleet-standby.h"
#include "os-infrastructure/pairing.h"

#define DEFAULT_AFTER_MS (5u * 60 * 1000)
#define PROBE_TIMEOUT_MS 1000u

struct takeover {
	const char *from; /* NULL: the current sequencer */
	const char *to;   /* NULL: this member */
	bool with_fleet;
	bool yes;
	uint64_t after_ms;
};

/* 0 if something accepts a TCP connection on addr:port within the timeout. */
static int tcp_answers(uint32_t addr, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(addr) };
	struct pollfd p = { .events = POLLOUT };
	int soerr = -1, ret = -ETIMEDOUT;
	socklen_t len = sizeof(soerr);

	p.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p.fd < 0)
		return -errno;
	if (!connect(p.fd, (struct sockaddr *)&sa, sizeof(sa)))
		ret = 0;
	else if (errno == EINPROGRESS && poll(&p, 1, PROBE_TIMEOUT_MS) == 1 &&
		 !getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &soerr, &len))
		ret = soerr ? -soerr : 0;
	close(p.fd);
	return ret;
}

/* The member answers a signed ledger GET (its agent), or the fleet's API
 * port (its fleet): the same two services status and ledger sync reach. */
static bool member_answers(const struct ledger_member *m, const struct identity *id)
{
	struct mesh_sync_reply r;
	char addr[16], err[128];

	ledger_addr_format(m->addr, addr);
	if (mesh_sync_call(addr, MESH_SYNC_PORT, id, NULL, 0, PROBE_TIMEOUT_MS, &r, err,
			   sizeof(err)) == 0) {
		mesh_sync_reply_free(&r);
		return true;
	}
	return (m->roles & LEDGER_ROLE_FLEET) && tcp_answers(m->addr, MESH_API_PORT) == 0;
}

/* Refuses as soon as the sequencer answers; 0 once it has stayed silent
 * for the whole threshold. */
static int watch_silence(const struct ledger_member *seq, const struct identity *id,
			 uint64_t after_ms)
{
	uint64_t start = clock_mono_ns(), waited;

	printf("watching '%s' for %llu s: takeover only if it stays unreachable\n", seq->name,
	       (unsigned long long)(after_ms / 1000));
	fflush(stdout);
	for (;;) {
		if (member_answers(seq, id))
			return cmd_fail("'%s' answers: a takeover is only for a sequencer that is "
					"gone (it is not)", seq->name);
		waited = (clock_mono_ns() - start) / 1000000u;
		if (waited >= after_ms)
			return 0;
		usleep((useconds_t)((after_ms - waited < 1000 ? after_ms - waited : 1000) * 1000));
	}
}

static int check_request(const struct ledger *l, const struct identity *id, struct takeover *t)
{
	const struct ledger_member *me = ledger_find(l, id->name), *seq = ledger_sequencer(l), *to;

	if (!me || me->revoked || !(me->roles & LEDGER_ROLE_ADMIN))
		return cmd_fail("'%s' is not a live admin of this mesh: only admins take over",
				id->name);
	if (!seq)
		return cmd_fail("the ledger has no sequencer");
	if (t->from && strcmp(t->from, seq->name))
		return cmd_fail("'%s' is not the sequencer ('%s' is)", t->from, seq->name);
	t->from = seq->name;
	t->to = t->to ? t->to : id->name;
	to = ledger_find(l, t->to);
	if (!to || to->revoked)
		return cmd_fail("'%s' is not a live member", t->to);
	if (to == seq)
		return cmd_fail("'%s' is the sequencer already", t->to);
	if (to != me && !member_answers(to, id))
		return cmd_fail("'%s' does not answer: the new sequencer must be alive", t->to);
	return 0;
}

static bool confirmed(const struct takeover *t)
{
	char line[64];

	if (t->yes)
		return true;
	printf("Move the sequencer%s from '%s' to '%s'? Type '%s' to confirm: ",
	       t->with_fleet ? " and the fleet role" : "", t->from, t->to, t->from);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\n")] = '\0';
	return !strcmp(line, t->from);
}

/* The new sequencer takes the entry (it is final at once when that is us). */
static int hand_over(struct ledger *l, const struct identity *id, const char *to, char *err,
		     size_t errlen)
{
	const struct ledger_member *m = ledger_find(l, to);
	struct mesh_sync_reply r;
	uint8_t *bytes = NULL;
	char addr[16];
	size_t len;
	int ret;

	if (!strcmp(to, id->name))
		return 0;
	ledger_addr_format(m->addr, addr);
	ret = ledger_encode(l, &bytes, &len);
	if (ret == 0)
		ret = mesh_sync_call(addr, MESH_SYNC_PORT, id, bytes, len, 0, &r, err, errlen);
	free(bytes);
	if (ret < 0)
		return ret;
	if (r.status != MESH_SYNC_OK)
		ret = errbuf_fail(-EPERM, err, errlen, "'%s' refused the takeover: %s", to,
				  mesh_sync_status_text(r.status));
	mesh_sync_reply_free(&r);
	return ret;
}

/* pairing_report_push, counting the members that hold a competing entry. */
static void report_push(void *ctx, const struct ledger_member *m, int ret,
			const struct mesh_sync_reply *r, const char *err)
{
	unsigned *forks = ctx;

	pairing_report_push(NULL, m, ret, r, err);
	*forks += ret == 0 && r && r->status == MESH_SYNC_FORK;
}

static int commit(const char *state_dir, const struct identity *id, const struct takeover *t,
		  struct ledger *l, char *err, size_t errlen)
{
	int lock = mesh_ledger_lock(state_dir), ret;

	if (lock < 0)
		return errbuf_fail(lock, err, errlen, "cannot lock the ledger: %s", strerror(-lock));
	ledger_free(l);
	ret = mesh_ledger_load(state_dir, l, err, errlen);
	if (ret == 0)
		ret = ledger_append_takeover(l, id, t->from, t->to, t->with_fleet, err, errlen);
	if (ret == 0)
		ret = hand_over(l, id, t->to, err, errlen);
	if (ret == 0)
		ret = mesh_ledger_save(state_dir, l);
	mesh_ledger_unlock(lock);
	return ret;
}

static int run(const struct cli *cli, struct takeover *t)
{
	struct identity id = { 0 };
	struct ledger l;
	char err[256] = "", from[NODE_NAME_MAX + 1];
	unsigned forks = 0;
	uint64_t t0;
	int ret;

	ledger_init(&l);
	ret = identity_load(cli->state_dir, &id);
	if (ret < 0) {
		ret = cmd_fail("no identity in %s: %s", cli->state_dir, strerror(-ret));
		goto cleanup;
	}
	ret = mesh_ledger_load(cli->state_dir, &l, err, sizeof(err));
	if (ret < 0) {
		ret = cmd_fail("no ledger in %s: %s", cli->state_dir, err);
		goto cleanup;
	}
	ret = check_request(&l, &id, t);
	if (ret == 0)
		ret = watch_silence(ledger_sequencer(&l), &id, t->after_ms);
	if (ret)
		goto cleanup;
	snprintf(from, sizeof(from), "%s", t->from); /* t->from points into l */
	t->from = from;
	if (!confirmed(t)) {
		ret = cmd_fail("not confirmed: nothing changed");
		goto cleanup;
	}
	t0 = clock_mono_ns();
	ret = commit(cli->state_dir, &id, t, &l, err, sizeof(err));
	if (ret < 0) {
		ret = cmd_fail("cannot take over from '%s': %s", from, err[0] ? err : strerror(-ret));
		goto cleanup;
	}
	printf("takeover (ledger entry %zu): '%s' is the sequencer%s in place of '%s' "
	       "(%.1f ms)\n", l.count - 1, t->to, t->with_fleet ? " and the fleet" : "", from,
	       (double)(clock_mono_ns() - t0) / 1e6);
	if (t->with_fleet && !strcmp(t->to, id.name)) {
		ret = fleet_standby_install(cli->state_dir);
		if (ret != 0)
			printf(ret > 0 ? "fleet.db: the standby copy (%s/" STANDBY_FILE ")\n" :
			       "fleet.db: cannot use the standby copy in %s\n", cli->state_dir);
		pairing_services(cli->state_dir, &l, id.name, true); /* writes fleet.conf */
	}
	else if (t->with_fleet)
		printf("start service-vm-fleet on '%s': the agents send their heartbeats there\n",
		       t->to);
	fflush(stdout);
	/* The peers do not change; the dead member is not waited for. */
	mesh_sync_push_all(&l, &id, true, from, MESH_SYNC_PORT, 0, report_push, &forks);
	if (forks)
		printf("another takeover competes with this one: every member keeps the one with "
		       "the lower hash; 'mesh members' shows which member holds fleet\n");
	printf("'%s' can now be revoked: os-infrastructure node revoke %s\n", from, from);
	ret = cmd_output(0);
cleanup:
	ledger_free(&l);
	identity_wipe(&id);
	return ret;
}

static int fleet(const struct cli *cli, int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },
		{ "with-fleet", no_argument, NULL, 'W' },
		{ "yes", no_argument, NULL, 'y' },
		{ "after", required_argument, NULL, 'A' },
		{ "every", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct takeover t = { .after_ms = DEFAULT_AFTER_MS };
	uint64_t every_ms = 0;
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, ":hy", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			return cmd_help(&cmd_fleet);
		case 'F':
			t.from = optarg;
			break;
		case 'T':
			t.to = optarg;
			break;
		case 'W':
			t.with_fleet = true;
			break;
		case 'y':
			t.yes = true;
			break;
		case 'A':
		case 'E':
			if (parse_duration_ms(optarg, c == 'A' ? &t.after_ms : &every_ms) < 0)
				return cmd_usage_error(&cmd_fleet, "bad duration '%s'", optarg);
			break;
		default:
			return cmd_bad_option(&cmd_fleet, c, argv);
		}
	}
	if (argc - optind == 1 && !strcmp(argv[optind], "standby"))
		return fleet_standby_pull(cli, every_ms);
	if (argc - optind != 1 || strcmp(argv[optind], "takeover"))
		return cmd_usage_error(&cmd_fleet, argc - optind ? "unknown fleet command" :
				       "which fleet command?");
	return run(cli, &t);
}

const struct cmd cmd_fleet = {
	.name = "fleet",
	.fn = fleet,
	.usage = "fleet takeover [--from DEAD] [--to MEMBER] [--with-fleet] [--after DURATION] "
		 "[--yes]\n"
		 "       " PROG_NAME " fleet standby [--every DURATION]",
	.description = "Move the ledger's sequencer (and the fleet) away from a member that is gone; "
		       "keep a standby copy of fleet.db",
	.help = "  --from DEAD    the sequencer being replaced (default: the current one;\n"
		"                 refused if it is not the sequencer)\n"
		"  --to MEMBER    the new sequencer, a live member (default: this member)\n"
		"  --with-fleet   move the fleet role too: every agent reports to MEMBER\n"
		"  --after D      how long the sequencer must stay unreachable (default 5m)\n"
		"  --yes          do not ask for confirmation\n"
		"  --every D      standby: pull again every D (default: once)\n\n"
		"Run on an admin. The command watches the sequencer's ledger sync and fleet\n"
		"API ports for --after and refuses as soon as either answers. Then it appends\n"
		"a signed takeover entry, has the new sequencer accept it and pushes it to\n"
		"every member. If two admins take over at once, the ledger keeps the entry\n"
		"with the lower hash everywhere (docs/protocol.md). The old sequencer can then\n"
		"be revoked with 'node revoke'. When the new fleet is this member and a\n"
		"standby copy is here (and no fleet.db), it becomes the new fleet.db.\n\n"
		"standby (on an admin) asks the fleet for a consistent copy of fleet.db\n"
		"(SQLite's online backup, over the signed API) and writes it atomically to\n"
		"<state-dir>/" STANDBY_FILE ".\n",
};
