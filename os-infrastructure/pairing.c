#include "os-infrastructure/pairing.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/conf-path.h"
#include "lib/fileio.h"
#include "lib/firewall.h"
#include "lib/mesh-sync.h"
#include "lib/mesh-wg.h"
#include "lib/mesh.h"
#include "lib/units.h"

#define RETRY_MS 200
#define PAIRING_GREET_MS 5000

/* ---- options ---- */

void pairing_opts_init(struct pairing_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->ifname = MESH_DEFAULT_IFNAME;
	o->invite.allow_roles = PAIRING_DEFAULT_ROLES;
}

static int duration(const struct cmd *c, const char *opt, const char *arg, uint64_t *ms)
{
	if (parse_duration_ms(arg, ms) < 0)
		return cmd_usage_error(c, "%s: '%s' is not a duration (10s, 5m)", opt, arg);
	return 0;
}

int pairing_option(const struct cmd *c, struct pairing_opts *o, int opt, const char *arg)
{
	unsigned roles;

	switch (opt) {
	case 'n':
		if (!node_name_valid(arg))
			return cmd_usage_error(c, "'%s' is not a node name: 1 to %d of a-z, 0-9 and "
					       "'-', not starting or ending with '-'", arg,
					       NODE_NAME_MAX);
		o->name = arg;
		return 0;
	case 'e':
		if (!ledger_endpoint_valid(arg))
			return cmd_usage_error(c, "--endpoint '%s' is not HOST:PORT", arg);
		o->endpoint = arg;
		return 0;
	case 'i':
		if (!*arg || strlen(arg) >= IFNAMSIZ || strchr(arg, '/'))
			return cmd_usage_error(c, "--interface '%s' is not an interface name", arg);
		o->ifname = arg;
		return 0;
	case 'p':
		if (parse_u64(arg, 1, 65535, &o->port) < 0)
			return cmd_usage_error(c, "--port must be 1..65535");
		return 0;
	case 'r':
		if (ledger_roles_parse(arg, &o->roles) < 0)
			return cmd_usage_error(c, "--role: '%s' (node, relay, fleet, admin)", arg);
		return 0;
	case 'N': o->no_start = true; return 0;
	case 'l': o->invite.listen = arg; return 0;
	case 'c': o->invite.connect = arg; return 0;
	case 'T': return duration(c, "--ttl", arg, &o->invite.ttl_ms);
	case 'L': return duration(c, "--linger", arg, &o->invite.linger_ms);
	case 'g':
		if (ledger_roles_parse(arg, &roles) < 0)
			return cmd_usage_error(c, "--grant: '%s' (fleet, admin; node, relay)", arg);
		o->invite.allow_roles |= roles;
		return 0;
	case 'S': o->invite.sas.from_file = arg; return 0;
	case 'E': o->invite.sas.expect = arg; return 0;
	default: return 1;
	}
}

int pairing_default_name(const struct pairing_opts *o, char name[NODE_NAME_MAX + 1])
{
	char host[256] = "";

	if (o->name) {
		snprintf(name, NODE_NAME_MAX + 1, "%s", o->name);
		return 0;
	}
	if (gethostname(host, sizeof(host) - 1) < 0)
		return -errno;
	host[strcspn(host, ".")] = '\0';
	for (char *p = host; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	if (!node_name_valid(host))
		return -EINVAL;
	memcpy(name, host, strlen(host) + 1); /* valid: at most NODE_NAME_MAX */
	return 0;
}

uint16_t pairing_listen_port(const struct pairing_opts *o)
{
	const char *colon = o->endpoint ? strrchr(o->endpoint, ':') : NULL;
	uint64_t port;

	if (o->port)
		return (uint16_t)o->port;
	if (colon && parse_u64(colon + 1, 1, 65535, &port) == 0)
		return (uint16_t)port;
	return MESH_WG_PORT;
}

/* ---- the SAS ---- */

static int sas_from_file(const char *path, const struct ceremony_sas_info *info, char *line,
			 size_t len)
{
	struct timespec pause = { .tv_nsec = 20 * 1000 * 1000 };
	char *text, *nl;
	size_t n;

	for (;;) {
		if (read_file(path, 4096, &text, &n) == 0) {
			/* a line not yet ended is read again at the next turn */
			if ((nl = strchr(text, '\n')))
				*nl = '\0';
			if (nl)
				snprintf(line, len, "%s", text);
			free(text);
			if (nl)
				return 0;
		}
		if (clock_mono_ns() >= info->deadline_ns)
			return -ETIMEDOUT;
		nanosleep(&pause, NULL);
	}
}

int pairing_confirm(void *ctx, const struct ceremony_sas_info *info)
{
	const struct sas_opts *o = ctx;
	char line[128] = "", roles[64];
	int ret;

	if (!o->expect && !o->from_file)
		return ceremony_confirm_prompt(STDIN_FILENO, STDOUT_FILENO, info);
	ledger_roles_format(info->joiner->roles, roles, sizeof(roles));
	if (info->inviter)
		printf("'%s' asks to join (roles: %s%s%s)\n", info->joiner->name, roles,
		       info->joiner->endpoint[0] ? ", reachable at " : "", info->joiner->endpoint);
	else
		printf("asking to join as '%s' (roles: %s)\n", info->joiner->name, roles);
	printf("SAS: %s  (%s)\n", info->digits, info->words);
	fflush(stdout);
	if (o->expect)
		snprintf(line, sizeof(line), "%s", o->expect);
	else if ((ret = sas_from_file(o->from_file, info, line, sizeof(line))) < 0)
		return ret;
	ret = sas_check(&info->sas, line);
	printf("SAS %s\n", ret == 0 ? "confirmed" : "MISMATCH: the two screens differ");
	fflush(stdout);
	return ret == 0 ? CEREMONY_CONFIRM : ret == -EBADMSG ? CEREMONY_MISMATCH : CEREMONY_DECLINE;
}

/* ---- sockets ---- */

/* "host:port", "[v6]:port", "host", "[v6]", ":port" or a bare IPv6
 * address; the port defaults to the ceremony's. */
static int split(const char *host_port, char *host, size_t hostlen, char port[8])
{
	const char *h = host_port, *end, *colon;

	if (*h == '[') {
		end = strchr(++h, ']');
		if (!end || (end[1] && end[1] != ':'))
			return -EINVAL;
		colon = end[1] ? end + 1 : NULL;
	} else {
		colon = strchr(h, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;
		end = colon ? colon : h + strlen(h);
	}
	if ((size_t)(end - h) >= hostlen || (colon && strlen(colon + 1) >= 8))
		return -EINVAL;
	memcpy(host, h, (size_t)(end - h));
	host[end - h] = '\0';
	snprintf(port, 8, "%s", colon && colon[1] ? colon + 1 : "7104");
	return 0;
}

static int resolve(const char *host_port, bool passive, struct addrinfo **ai)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	char host[256], port[8];

	if (split(host_port, host, sizeof(host), port) < 0)
		return -EINVAL;
	if (passive)
		hints.ai_flags |= AI_PASSIVE;
	return getaddrinfo(host[0] ? host : NULL, port, &hints, ai) ? -EHOSTUNREACH : 0;
}

static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		uint64_t now = clock_mono_ns();
		int n;

		if (now >= deadline)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)((deadline - now) / NSEC_PER_MSEC + 1));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

int pairing_connect(const char *host_port, uint64_t deadline_ns)
{
	struct addrinfo *ai = NULL;
	int fd, ret, soerr = 0, one = 1;
	socklen_t sl = sizeof(soerr);

	ret = resolve(host_port, false, &ai);
	if (ret < 0)
		return ret;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ret = fd < 0 ? -errno : 0;
	if (ret == 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
		ret = -errno;
	if (ret == 0)
		ret = wait_fd(fd, POLLOUT, deadline_ns);
	if (ret == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		ret = -errno;
	if (ret == 0 && soerr)
		ret = -soerr;
	if (ret == 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	freeaddrinfo(ai);
	if (ret < 0 && fd >= 0)
		close(fd);
	return ret < 0 ? ret : fd;
}

int pairing_listen(const char *host_port)
{
	struct addrinfo *ai = NULL;
	int fd, ret, one = 1;

	ret = resolve(host_port ? host_port : ":7104", true, &ai);
	if (ret < 0)
		return ret;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ret = fd < 0 ? -errno : 0;
	if (ret == 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ret == 0 && (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0))
		ret = -errno;
	freeaddrinfo(ai);
	if (ret < 0 && fd >= 0)
		close(fd);
	return ret < 0 ? ret : fd;
}

int pairing_accept(int listen_fd, uint64_t deadline_ns)
{
	int ret, fd, one = 1;

	for (;;) {
		ret = wait_fd(listen_fd, POLLIN, deadline_ns);
		if (ret < 0)
			return ret;
		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			return fd;
		}
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			return -errno;
	}
}

/* ---- admission ---- */

/* sas first: pairing_confirm() gets the same ctx as admit(). */
struct admit_ctx {
	struct sas_opts sas;
	const char *state_dir;
	const struct identity *id;
	unsigned allow_roles;
	const char *for_name; /* reinstate this member instead of admitting */
	struct ledger ledger; /* after the admission */
	char admitted[NODE_NAME_MAX + 1];
	char address[16];
};

/* The sequencer's acceptance makes our entry final (ledger.h). On a
 * refusal the sequencer's copy, which the reply carries, is merged after
 * dropping our entry: 1 asks the caller to try again. */
static int ask_sequencer(struct ledger *l, const struct identity *id,
			 const struct ledger_member *seq, char *err, size_t errlen)
{
	struct mesh_sync_reply r;
	struct ledger remote;
	uint8_t *bytes = NULL;
	char addr[16], why[256] = "";
	size_t len;
	int ret;

	ledger_init(&remote);
	ledger_addr_format(seq->addr, addr);
	ret = ledger_encode(l, &bytes, &len);
	if (ret == 0)
		ret = mesh_sync_call(addr, MESH_SYNC_PORT, id, bytes, len, 0, &r, why, sizeof(why));
	free(bytes);
	if (ret < 0) {
		snprintf(err, errlen, "the sequencer %s does not answer (%s); admissions need it",
			 seq->name, why);
		return ret;
	}
	if (r.status == MESH_SYNC_OK) {
		ret = 0;
	} else if ((r.status == MESH_SYNC_FORK || r.status == MESH_SYNC_STALE) && r.ledger &&
		   ledger_truncate(l, l->count - 1) == 0 &&
		   ledger_parse(r.ledger, r.len, &remote, why, sizeof(why)) == 0 &&
		   ledger_extend(l, &remote, why, sizeof(why)) >= 0) {
		ret = 1;
	} else {
		snprintf(err, errlen, "the sequencer %s refused the admission: %s", seq->name,
			 mesh_sync_status_text(r.status));
		ret = -EPERM;
	}
	mesh_sync_reply_free(&r);
	ledger_free(&remote);
	return ret;
}

/* Appends under the ledger lock and makes the entry final: at once on the
 * sequencer, else once the sequencer took it; after a refusal, append()
 * runs again on the merged ledger. */
int pairing_commit(const char *state_dir, const struct identity *id, struct ledger *l,
		   pairing_append_fn append, void *arg, char *err, size_t errlen)
{
	struct ledger_member seq;
	int lock, ret;

	lock = mesh_ledger_lock(state_dir);
	if (lock < 0) {
		snprintf(err, errlen, "cannot lock the ledger: %s", strerror(-lock));
		return lock;
	}
	ret = mesh_ledger_load(state_dir, l, err, errlen);
	for (int attempt = 0; ret == 0; attempt++) {
		const struct ledger_member *s = ledger_sequencer(l);

		if (!s || attempt == 3) {
			snprintf(err, errlen, "concurrent changes kept winning; try again");
			ret = -EBUSY;
			break;
		}
		seq = *s; /* the pointer dies with the append */
		ret = append(l, id, arg, err, errlen);
		if (ret == 0 && strcmp(seq.name, id->name))
			ret = ask_sequencer(l, id, &seq, err, errlen);
		if (ret == 0) {
			ret = mesh_ledger_save(state_dir, l);
			break;
		}
		if (ret == 1) /* the sequencer was ahead: keep its entries, go again */
			ret = mesh_ledger_save(state_dir, l);
	}
	mesh_ledger_unlock(lock);
	return ret;
}

static int fill_answer(struct admit_ctx *c, const struct ledger_member *m,
		       struct ceremony_answer *a)
{
	const struct ledger_entry *g = &c->ledger.entries[0];
	char prefix[16];

	ledger_addr_format(g->prefix_addr, prefix);
	snprintf(a->mesh_prefix, sizeof(a->mesh_prefix), "%s/%u", prefix, g->prefix_len);
	ledger_addr_format(m->addr, a->address);
	if (mesh_fleet_address(&c->ledger, a->fleet, sizeof(a->fleet)) < 0)
		a->fleet[0] = '\0';
	return ledger_encode(&c->ledger, &a->ledger, &a->ledger_len);
}

/* The ledger with the admission must fit the ceremony's ANSWER, checked
 * here, before the sequencer or the disk sees the entry: an admission the
 * joiner cannot receive is never committed. */
static int check_deliverable(struct ledger *l, char *err, size_t errlen)
{
	uint8_t *bytes = NULL;
	size_t len = 0;
	int ret = ledger_encode(l, &bytes, &len);

	free(bytes);
	if (ret == 0 && len > CEREMONY_LEDGER_MAX)
		ret = -EFBIG;
	if (ret < 0) {
		snprintf(err, errlen, "the ledger with this admission (%zu bytes) cannot be sent: %s",
			 len, ret == -EFBIG ? "over the ceremony's limit" : strerror(-ret));
		ledger_truncate(l, l->count - 1);
	}
	return ret;
}

static int append_admit(struct ledger *l, const struct identity *id, void *arg, char *err,
			size_t errlen)
{
	struct ledger_member *m = arg;
	int ret = ledger_next_address(l, &m->addr);

	if (ret < 0) {
		snprintf(err, errlen, "no address left in the mesh prefix");
		return ret;
	}
	ret = ledger_append_admit(l, id, m, err, errlen);
	return ret < 0 ? ret : check_deliverable(l, err, errlen);
}

/* invite --for: the joiner takes the keys of a live member whose old keys
 * are lost, at its address, with its roles (ledger kind reinstate). */
static int append_reinstate(struct ledger *l, const struct identity *id, void *arg, char *err,
			    size_t errlen)
{
	struct ledger_member *m = arg;
	const struct ledger_member *old = ledger_find(l, m->name);
	int ret;

	if (!old || old->revoked) {
		snprintf(err, errlen, "'%s' is not a live member", m->name);
		return -ENOENT;
	}
	m->addr = old->addr;
	ret = ledger_append_reinstate(l, id, m, err, errlen);
	return ret < 0 ? ret : check_deliverable(l, err, errlen);
}

static int admit(void *ctx, const struct ceremony_joiner *j, struct ceremony_answer *answer,
		 char *err, size_t errlen)
{
	struct admit_ctx *c = ctx;
	struct ledger_member m = { .roles = j->roles ? j->roles : LEDGER_ROLE_NODE };
	char roles[64];
	int ret;

	if (c->for_name && strcmp(j->name, c->for_name)) {
		snprintf(err, errlen, "this invitation is for '%s', not '%s'", c->for_name, j->name);
		return -EPERM;
	}
	if (!c->for_name && (m.roles & ~c->allow_roles)) {
		ledger_roles_format(m.roles & ~c->allow_roles, roles, sizeof(roles));
		snprintf(err, errlen, "this invitation does not grant %s (invite --grant)", roles);
		return -EPERM;
	}
	memcpy(m.name, j->name, sizeof(m.name));
	memcpy(m.sign_pk, j->sign_pk, sizeof(m.sign_pk));
	memcpy(m.kx_pk, j->kx_pk, sizeof(m.kx_pk));
	memcpy(m.wg_pk, j->wg_pk, sizeof(m.wg_pk));
	snprintf(m.endpoint, sizeof(m.endpoint), "%s", j->endpoint);
	ret = pairing_commit(c->state_dir, c->id, &c->ledger,
			     c->for_name ? append_reinstate : append_admit, &m, err, errlen);
	if (ret == 0)
		ret = fill_answer(c, &m, answer);
	if (ret == 0) {
		memcpy(c->admitted, m.name, sizeof(c->admitted));
		ledger_addr_format(m.addr, c->address);
	}
	return ret;
}

void pairing_report_push(void *ctx, const struct ledger_member *m, int ret,
			const struct mesh_sync_reply *r, const char *err)
{
	char addr[16];

	ledger_addr_format(m->addr, addr);
	if (ret < 0)
		printf("ledger: %s (%s) not reached (%s); it pulls the ledger when it can\n",
		       m->name, addr, err);
	else
		printf("ledger: %s (%s): %s\n", m->name, addr, mesh_sync_status_text(r->status));
}

/* Our first handshake to the new member went out before its wireguard-go
 * ran: without this, it is reachable only once WireGuard retries (5 s), and
 * the next admission pushed to it in that window is lost. */
static void greet_new_member(const char *ifname, const struct ledger *l, const char *name)
{
	const struct ledger_member *m = ledger_find(l, name);
	uint64_t t0 = clock_mono_ns();
	int ret;

	if (!m || m->revoked)
		return;
	ret = mesh_kick_peer(ifname, m->wg_pk, PAIRING_GREET_MS);
	if (ret == 1)
		return;
	if (ret == -ETIMEDOUT)
		printf("mesh: no handshake with %s after %d ms; WireGuard keeps trying\n", name,
		       PAIRING_GREET_MS);
	else if (ret < 0)
		printf("mesh: cannot check the handshake with %s: %s\n", name, strerror(-ret));
	else
		printf("mesh: %s reachable (%llu ms after its admission)\n", name,
		       (unsigned long long)((clock_mono_ns() - t0) / NSEC_PER_MSEC));
	fflush(stdout);
}

/* This node's own peers follow at once (its agent may not run yet), its
 * agent is told quietly, then every other member but skip hears it. */
void pairing_publish(const char *state_dir, const struct ledger *l, const struct identity *id,
		     const char *skip)
{
	const struct ledger_member *me = ledger_find(l, id->name);
	struct mesh_sync_reply r;
	struct mesh_plan plan;
	struct mesh_conf c;
	uint8_t *bytes = NULL;
	char err[256] = "", addr[16];
	size_t len;
	int ret;

	ret = mesh_conf_load(state_dir, &c, err, sizeof(err));
	if (ret == 0)
		ret = mesh_plan(l, id->name, &plan);
	if (ret == 0) {
		ret = mesh_apply(c.interface, &plan, NULL, 0, err, sizeof(err));
		if (ret < 0)
			printf("mesh: cannot update the peers of %s: %s\n", c.interface, strerror(-ret));
		else
			printf("mesh: %s has %zu peer%s\n", c.interface, plan.count,
			       plan.count == 1 ? "" : "s");
		mesh_plan_free(&plan);
	}
	if (me && !me->revoked && ledger_encode(l, &bytes, &len) == 0) {
		ledger_addr_format(me->addr, addr);
		if (mesh_sync_call(addr, MESH_SYNC_PORT, id, bytes, len, 1000, &r, err,
				   sizeof(err)) == 0)
			mesh_sync_reply_free(&r);
	}
	free(bytes);
	fflush(stdout);
	mesh_sync_push_all(l, id, false, skip, MESH_SYNC_PORT, 0, pairing_report_push, NULL);
	if (ret == 0 && skip)
		greet_new_member(c.interface, l, skip);
}

/* ---- inviting ---- */

static int check_admin(const struct ledger *l, const struct identity *id)
{
	const struct ledger_member *me = ledger_find(l, id->name);

	if (!me || me->revoked || memcmp(me->sign_pk, id->sign_pk, sizeof(id->sign_pk)))
		return cmd_fail("'%s' is not a live member of this mesh", id->name);
	if (!(me->roles & LEDGER_ROLE_ADMIN))
		return cmd_fail("'%s' is not an admin: only admins admit new members", id->name);
	return EXIT_OK;
}

/* The deadline of the current wait: the invitation's expiry while it lives,
 * then the end of the linger; 0 when it is over. */
static uint64_t serve_deadline(struct invitation_set *set, unsigned slot, uint64_t linger_ns,
			       uint64_t *dead_ns)
{
	uint64_t now = clock_mono_ns(), next;
	int why;

	if (invitation_pending(set, now, &next))
		return next;
	if (!*dead_ns) {
		*dead_ns = now;
		why = invitation_refusal(set, slot, now);
		printf("the invitation is dead: %s%s\n", ceremony_reason_text(why),
		       linger_ns ? "; refusing further attempts for a while" : "");
		fflush(stdout);
	}
	return now < *dead_ns + linger_ns ? *dead_ns + linger_ns : 0;
}

static int next_conn(int lfd, const struct invite_opts *o, uint64_t deadline)
{
	struct timespec pause = { .tv_nsec = RETRY_MS * 1000 * 1000 };
	int fd;

	if (!o->connect)
		return pairing_accept(lfd, deadline);
	/* The joiner may not listen yet: try again until the deadline. */
	for (;;) {
		uint64_t now = clock_mono_ns(), until = now + NSEC_PER_SEC;

		if (now >= deadline)
			return -ETIMEDOUT;
		fd = pairing_connect(o->connect, until < deadline ? until : deadline);
		if (fd >= 0 || fd == -EINVAL)
			return fd;
		nanosleep(&pause, NULL);
	}
}

/* While an invitation is served, the project's firewall (where this member
 * has one) lets the ceremony's port in from the underlay; it closes by
 * itself when the invitation would have expired. */
static void ceremony_port(int lfd, const struct invite_opts *o, bool open)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	uint64_t ttl_ms = (o->ttl_ms ? o->ttl_ms : CEREMONY_INVITE_TTL_MS) + o->linger_ms;
	uint16_t port;
	char err[256];
	int ret;

	if (lfd < 0 || getsockname(lfd, (struct sockaddr *)&ss, &len) < 0)
		return;
	port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
						((struct sockaddr_in *)&ss)->sin_port);
	ret = fw_ceremony_open(open ? port : 0, open ? (unsigned)(ttl_ms / 1000) + 1 : 0, err,
			       sizeof(err));
	if (ret < 0 && ret != -ENOENT)
		fprintf(stderr, "warning: %s\n", err);
}

struct serving {
	struct invitation_set *set;
	unsigned slot;
	uint64_t linger_ns, dead_ns;
	unsigned *tries;
};

static uint64_t serving_until(void *ctx)
{
	struct serving *sv = ctx;

	return serve_deadline(sv->set, sv->slot, sv->linger_ns, &sv->dead_ns);
}

static void serving_ended(void *ctx, int ret, const char *err)
{
	struct serving *sv = ctx;

	++*sv->tries;
	if (ret < 0) {
		printf("pairing failed: %s\n", err);
		fflush(stdout);
	}
}

/* The joiner listens: one connection at a time, ours. */
static int serve_out(struct serving *sv, const struct invite_opts *o,
		     const struct ceremony_inviter_cfg *cfg)
{
	char err[CEREMONY_ERR_MAX * 2];
	uint64_t deadline;
	int fd, ret = -ENOENT;

	while ((deadline = serving_until(sv))) {
		fd = next_conn(-1, o, deadline);
		if (fd == -ETIMEDOUT)
			continue;
		if (fd < 0)
			return fd;
		ret = ceremony_serve_fd(fd, sv->set, cfg, err, sizeof(err));
		serving_ended(sv, ret, err);
		if (ret == 0)
			break;
	}
	return ret;
}

/* We listen: several ceremonies at once (ceremony_serve()), so that
 * connections that stall from the underlay cannot keep the joiner out. */
static int serve(struct invitation_set *set, unsigned slot, const struct invite_opts *o,
		 struct admit_ctx *ac, unsigned *tries)
{
	struct ceremony_inviter_cfg cfg = { .confirm_sas = pairing_confirm, .admit = admit,
					    .ctx = ac };
	struct serving sv = { .set = set, .slot = slot, .linger_ns = o->linger_ms * NSEC_PER_MSEC,
			      .tries = tries };
	struct ceremony_serve_cfg scfg = { .until = serving_until, .ended = serving_ended,
					   .ctx = &sv };
	int lfd, ret;

	if (o->connect)
		return serve_out(&sv, o, &cfg);
	lfd = pairing_listen(o->listen);
	if (lfd < 0)
		return cmd_fail("cannot listen on %s: %s", o->listen ? o->listen : ":7104",
				strerror(-lfd));
	ceremony_port(lfd, o, true);
	ret = ceremony_serve(lfd, set, &cfg, &scfg);
	ceremony_port(lfd, o, false);
	close(lfd);
	return ret;
}

/* The last line of an invitation nobody used: the invitation's own state
 * says why in words (expired, burned, used), never an errno's text. */
static int no_one_joined(const struct invitation_set *set, unsigned slot,
			 const struct invite_opts *o, unsigned tries, int ret)
{
	int why = invitation_refusal(set, slot, clock_mono_ns());

	if (!why)
		return cmd_fail("no one joined: %s", strerror(-ret));
	if (why == CEREMONY_EXPIRED && !tries && o->connect)
		return cmd_fail("no one joined: %s; no joiner listened at %s",
				ceremony_reason_text(why), o->connect);
	if (why == CEREMONY_EXPIRED && !tries)
		return cmd_fail("no one joined: %s; nobody tried the code",
				ceremony_reason_text(why));
	return cmd_fail("no one joined: %s", ceremony_reason_text(why));
}

int pairing_invite(const char *state_dir, const struct identity *id, const struct invite_opts *o)
{
	struct admit_ctx ac = { .sas = o->sas, .state_dir = state_dir, .id = id,
				.allow_roles = o->allow_roles, .for_name = o->for_name };
	const struct ledger_member *old;
	struct invitation_set set;
	char code[SHORTCODE_TEXT_MAX], err[256], ttl[32];
	unsigned tries = 0;
	int ret, slot;

	ledger_init(&ac.ledger);
	invitation_set_init(&set);
	ret = mesh_ledger_load(state_dir, &ac.ledger, err, sizeof(err));
	if (ret < 0) {
		ret = cmd_fail("this node is not a mesh member: %s", err);
		goto cleanup;
	}
	ret = check_admin(&ac.ledger, id);
	if (ret)
		goto cleanup;
	old = o->for_name ? ledger_find(&ac.ledger, o->for_name) : NULL;
	if (o->for_name && (!old || old->revoked)) {
		ret = cmd_fail("'%s' is not a live member: --for only brings back a member whose "
			       "keys are lost", o->for_name);
		goto cleanup;
	}
	slot = invitation_create(&set, (unsigned)o->ttl_ms, code, sizeof(code));
	if (slot < 0) {
		ret = cmd_fail("cannot create an invitation: %s", strerror(-slot));
		goto cleanup;
	}
	snprintf(ttl, sizeof(ttl), "%llu s", (unsigned long long)(o->ttl_ms ? o->ttl_ms :
		 CEREMONY_INVITE_TTL_MS) / 1000);
	printf("Code: %s\n", code);
	if (o->connect)
		printf("On the new machine: " PROG_NAME " --join --listen %s, then type the code\n"
		       "(valid for %s, one use; this side connects to it)\n", o->connect, ttl);
	else
		printf("On the new machine: " PROG_NAME " --join --via ADDRESS:%s, then type the "
		       "code\n(ADDRESS: this machine's; valid for %s, one use)\n",
		       o->listen && strrchr(o->listen, ':') ? strrchr(o->listen, ':') + 1 : "7104",
		       ttl);
	fflush(stdout);
	sodium_memzero(code, sizeof(code));
	ret = serve(&set, (unsigned)slot, o, &ac, &tries);
	if (ret < 0) {
		ret = no_one_joined(&set, (unsigned)slot, o, tries, ret);
		goto cleanup;
	}
	printf("'%s' %s at %s\n", ac.admitted, o->for_name ? "reinstated with new keys" : "admitted",
	       ac.address);
	fflush(stdout);
	pairing_publish(state_dir, &ac.ledger, id, ac.admitted);
	ret = cmd_output(0);
cleanup:
	invitation_set_wipe(&set);
	ledger_free(&ac.ledger);
	return ret;
}

/* ---- identity, interface, services ---- */

int pairing_identity(const char *state_dir, const char *name, struct identity *id)
{
	int ret = identity_load(state_dir, id);

	if (ret == -ENOENT && name) {
		ret = mkdir_p(state_dir, 0700);
		if (ret == 0)
			ret = identity_create(state_dir, name, id);
		if (ret == 0)
			printf("created the identity of '%s' in %s\n", name, state_dir);
	}
	if (ret == -ENOENT)
		return cmd_fail("no identity in %s", state_dir);
	if (ret == -EPERM)
		return cmd_fail("%s/" IDENTITY_FILE " is readable by group or others; chmod 600 it",
				state_dir);
	if (ret < 0)
		return cmd_fail("cannot load or create the identity in %s: %s", state_dir,
				strerror(-ret));
	if (name && strcmp(name, id->name)) {
		identity_wipe(id);
		return cmd_fail("%s holds the identity of '%s', not '%s'", state_dir, id->name, name);
	}
	ret = identity_ensure_wg(state_dir, id);
	if (ret < 0) {
		identity_wipe(id);
		return cmd_fail("cannot add a WireGuard key to the identity: %s", strerror(-ret));
	}
	return EXIT_OK;
}

int pairing_mesh_up(const char *state_dir, const struct identity *id, const char *ifname,
		    uint16_t listen_port)
{
	struct mesh_conf c = { .listen_port = listen_port };
	const struct ledger_member *me;
	struct ledger l;
	char err[256] = "", addr[16];
	pid_t pid;
	int ret;

	ledger_init(&l);
	snprintf(c.interface, sizeof(c.interface), "%s", ifname);
	ret = mesh_conf_save(state_dir, &c);
	if (ret < 0) {
		ret = cmd_fail("cannot write %s/" MESH_CONF_FILE ": %s", state_dir, strerror(-ret));
		goto cleanup;
	}
	ret = mesh_ledger_load(state_dir, &l, err, sizeof(err));
	if (ret == 0)
		ret = mesh_up(state_dir, id, &l, -1, &pid, err, sizeof(err));
	if (ret < 0) {
		ret = cmd_fail("mesh: %s", err);
		goto cleanup;
	}
	me = ledger_find(&l, id->name);
	ledger_addr_format(me->addr, addr);
	if (err[0])
		printf("mesh: %s\n", err);
	if (pid)
		printf("mesh: %s up at %s/32, listening on UDP %u (wireguard-go pid %d)\n", ifname,
		       addr, listen_port, (int)pid);
	else
		printf("mesh: %s up at %s/32, listening on UDP %u\n", ifname, addr, listen_port);
	fflush(stdout);
cleanup:
	ledger_free(&l);
	return ret;
}

static int write_conf(const char *state_dir, const char *file, const char *text)
{
	char path[PATH_MAX];
	int ret = mesh_path(state_dir, file, path);

	if (ret == 0)
		ret = atomic_create_file(path, text, strlen(text), 0644);
	if (ret == -EEXIST)
		return 0;
	if (ret < 0)
		printf("cannot write %s: %s\n", path, strerror(-ret));
	return ret;
}

/* A file in /etc comes first when a service starts without --config
 * (lib/conf-path.h): say so rather than let it hide what we wrote. */
static void warn_shadowed(const char *state_dir, const char *file)
{
	char path[PATH_MAX], ours[PATH_MAX];
	const char *read = conf_default_path(CONF_ETC_DIR, state_dir, file, path);

	if (read && mesh_path(state_dir, file, ours) == 0 && strcmp(read, ours))
		printf("note: %s exists and is what the services read without --config, not %s\n",
		       read, ours);
}

static bool systemd_running(void)
{
	return access("/run/systemd/system", F_OK) == 0;
}

static int systemctl(bool fleet)
{
	char *argv[] = { "systemctl", "enable", "--now", "osi-mesh.service",
			 "service-vm-host.service", fleet ? "service-vm-fleet.service" : NULL,
			 "service-vm-fleet-ledger.path", NULL };
	extern char **environ;
	pid_t pid;
	int status;

	if (posix_spawnp(&pid, "systemctl", NULL, NULL, argv, environ) != 0)
		return -ENOENT;
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

void pairing_services(const char *state_dir, const struct ledger *l, const char *self, bool start)
{
	const struct ledger_member *me = ledger_find(l, self);
	bool fleet = me && (me->roles & LEDGER_ROLE_FLEET);
	char addr[16], text[PATH_MAX + 256];

	if (!me)
		return;
	ledger_addr_format(me->addr, addr);
	snprintf(text, sizeof(text), "# written by " PROG_NAME " when this node joined the mesh\n"
		 "name = %s\nstate_dir = %s\ndispatch_listen = %s:7103\n", self, state_dir, addr);
	write_conf(state_dir, "host.conf", text);
	warn_shadowed(state_dir, "host.conf");
	if (fleet) {
		snprintf(text, sizeof(text), "# written by " PROG_NAME " when this node joined "
			 "the mesh\nstate_dir = %s\nheartbeat_listen = %s:%d\napi_listen = %s:%d\n",
			 state_dir, addr, MESH_HEARTBEAT_PORT, addr, MESH_API_PORT);
		write_conf(state_dir, "fleet.conf", text);
		warn_shadowed(state_dir, "fleet.conf");
	}
	if (start && systemd_running() && systemctl(fleet) == 0) {
		printf("services: osi-mesh, service-vm-host%s enabled and started\n",
		       fleet ? ", service-vm-fleet (reloaded when the ledger changes)" : "");
		return;
	}
	printf("services: %s; start them with\n"
	       "  service-vm-host --config %s/host.conf\n",
	       !start ? "not started (--no-start)" : systemd_running() ?
	       "systemctl failed (are the units of genesis/systemd installed?)" :
	       "systemd is not running here", state_dir);
	if (fleet)
		printf("  service-vm-fleet --config %s/fleet.conf\n", state_dir);
	fflush(stdout);
}
