/* service-vm-host-virt: the agent's privileged half, run by systemd once per
 * connection to service-vm-host-virt.socket (Accept=yes, SOCK_SEQPACKET,
 * root:osi 0660). The connection brings exactly one struct helper_req,
 * checked field by field before anything else happens; the libvirt URI,
 * images, pool, network, base image and owner come from this helper's own
 * root-owned host.conf, never from the caller. It reports one JSON line per
 * step on the same socket: {"state":S,"detail":S?,"accel":S?}.
 *
 * A create interrupted by SIGTERM, SIGHUP or the caller closing the socket
 * finishes the libvirt call under way and then rolls back what it made, so a
 * retry starts clean (the ntpd/bgpd split: the network-facing agent never
 * touches libvirt itself).
 *
 *   service-vm-host-virt [--config FILE] [--set KEY=VALUE]...
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>
#include <systemd/sd-daemon.h>

#include "lib/bulk-priority.h"
#include "lib/bytes.h"
#include "lib/conf-path.h"
#include "lib/log.h"
#include "osi-config.h"
#include "service-vm-host/helper-agent.h"
#include "lib/fd-pass.h"
#include "service-vm-host/fleet-approval.h"
#include "service-vm-host/helper-backup.h"
#include "service-vm-host/helper-fabric.h"
#include "service-vm-host/helper-net.h"
#include "service-vm-host/helper-move.h"
#include "service-vm-host/helper-req.h"
#include "service-vm-host/move-offer.h"
#include "service-vm-host/host-config.h"
#include "virt/virt.h"

#define PROG "service-vm-host-virt"
#define REQUEST_WAIT_S 5
#define VERDICT_WAIT_S 150 /* the mover's wait for END, and some */
#define HELD_WAIT_S 3900   /* backup-out: the mover's wait for the target's answer (1 h), and some */
#define MAX_SETS 32

static int peer = -1;
static int passed_fd = -1; /* the received file: a move-in's with the request, a backup-in's later */
static volatile sig_atomic_t stop_signal;
static bool peer_gone;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* Whether to give up: a signal came, or the caller hung up. */
static bool aborted(void)
{
	struct pollfd p = { .fd = peer, .events = POLLRDHUP };

	if (!peer_gone && poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)))
		peer_gone = true;
	return stop_signal || peer_gone;
}

static bool on_wait(void *opaque)
{
	(void)opaque;
	return aborted();
}

static void report(const char *state, const char *detail, const char *accel)
{
	json_t *m = json_pack("{s:s, s:s?, s:s?}", "state", state, "detail", detail, "accel", accel);
	char *line = m ? json_dumps(m, JSON_COMPACT) : NULL;
	char buf[VIRT_ERR_MAX + 256];
	int n = line ? snprintf(buf, sizeof(buf), "%s\n", line) : -1;

	if (n > 0 && (size_t)n < sizeof(buf) && send(peer, buf, (size_t)n, MSG_NOSIGNAL) < 0)
		peer_gone = true;
	if (!strcmp(state, "failed"))
		log_warn("%s", detail ? detail : "failed");
	free(line);
	json_decref(m);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	char msg[VIRT_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report("failed", msg, NULL);
	return 1;
}

static int on_step(enum virt_step step, const char *guest, void *opaque)
{
	(void)opaque;
	if (aborted()) {
		log_warn("create %s: %s before step %s; rolling back", guest,
			 stop_signal ? strsignal(stop_signal) : "the caller hung up", virt_step_name(step));
		return -ECANCELED;
	}
	/* The fleet's states: volumes, seed and definition are "defining". */
	if (step == VIRT_STEP_VOLUMES)
		report("defining", "volumes and NoCloud seed", NULL);
	else if (step == VIRT_STEP_BOOT)
		report("booting", NULL, NULL);
	return 0;
}


static int create(struct virt_host *h, const struct host_config *c, const struct helper_req *r)
{
	enum virt_guest_type vt;
	struct virt_manifest m;
	struct virt_guest g;
	struct virt_spec s;
	char *user_data = NULL;
	bool fresh = false;
	int ret;

	if (virt_type_parse(r->type, &vt) < 0)
		return fail("unknown guest type '%s'", r->type);
	ret = virt_manifest_load(c->images_dir, vt, &m, &user_data, h->err, sizeof(h->err));
	if (ret < 0)
		return fail("%s", h->err);
	virt_spec_from_manifest(&s, &m, r->name, c->name);
	s.memory_bytes = r->memory_bytes;
	s.vcpus = (unsigned)r->vcpus;
	s.user_data = user_data;
	s.start = true;
	if (c->base_image[0])
		snprintf(s.base, sizeof(s.base), "%s", c->base_image);
	if (helper_guest_net(c->guest_network, &s) < 0) {
		free(user_data);
		return fail("unknown guest network '%s'", c->guest_network);
	}
	ret = virt_pool_ensure(h);
	if (ret == 0 && s.net == VIRT_NET_FABRIC)
		ret = helper_fabric_lease(h, c, &s, &fresh);
	if (ret == 0)
		ret = virt_guest_create(h, &s, &g);
	free(user_data);
	if (ret < 0) {
		char why[VIRT_ERR_MAX];

		snprintf(why, sizeof(why), "%s", h->err);
		if (fresh)
			virt_lease_release(h, s.name);
		return fail("%s", why);
	}
	report("running", g.existed ? "already defined with this spec" : g.address[0] ? g.address : NULL,
	       g.kvm ? "kvm" : "tcg");
	return 0;
}

/* The node's verbs: about its guest network, not one guest. */
static int node_act(struct virt_host *h, const struct host_config *c, const struct guest_op_def *op)
{
	int ret = op->op == GOP_FABRIC ? helper_fabric(h, c) : helper_names(h, c);

	if (ret < 0)
		return fail("%s", h->err);
	report(op->done_state, NULL, NULL);
	return 0;
}

/* agent-addresses: one line, the guest agents' ga= tokens. */
static int agent_act(struct virt_host *h)
{
	char *line = helper_agent_line(h);
	int ret = !line ? fail("%s", h->err) : send(peer, line, strlen(line), MSG_NOSIGNAL) < 0;

	free(line);
	return ret;
}

/* Its static lease goes with it (none: nothing to do). */
static void release_lease(struct virt_host *h, const char *name)
{
	if (virt_lease_release(h, name) < 0 && !strstr(h->err, "no network"))
		log_warn("%s", h->err);
	h->err[0] = '\0';
}

static int act(struct virt_host *h, const struct guest_op_def *op, const char *name)
{
	unsigned kept = 0;
	char detail[96] = "";
	int ret;

	switch (op->op) {
	case GOP_START: ret = virt_guest_start(h, name); break;
	case GOP_STOP: ret = virt_guest_stop(h, name, false); break;
	case GOP_DESTROY:
		ret = virt_guest_destroy(h, name, &kept);
		if (ret == 0 || ret == -ENOENT) {
			char why[VIRT_ERR_MAX];

			snprintf(why, sizeof(why), "%s", h->err);
			release_lease(h, name);
			snprintf(h->err, sizeof(h->err), "%s", why);
		}
		break;
	default: return fail("the helper does not do '%s'", op->verb);
	}
	/* A destroy is done when nothing of the guest is left, whoever removed
	 * it: the fleet may then forget the name. */
	if (ret == -ENOENT && op->op == GOP_DESTROY) {
		report(op->done_state, "nothing of it was left on the node", NULL);
		return 0;
	}
	if (ret < 0)
		return fail("%s", h->err);
	if (kept)
		snprintf(detail, sizeof(detail), "%u data volume%s kept; deleting one is a separate step",
			 kept, kept == 1 ? "" : "s");
	report(op->done_state, kept ? detail : NULL, NULL);
	return 0;
}

/* Root's configuration only: a file someone else could have written would
 * hand libvirt (as root) whatever pool, images or URI they chose. */
static int trusted(const char *path)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	if (stat(dir, &st) < 0)
		return -errno;
	if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
	    ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)))
		return -EPERM;
	return 0;
}

static int load_config(int argc, char **argv, struct host_config *cfg)
{
	static const struct option lo[] = {
		{ "config", 1, NULL, 'c' }, { "set", 1, NULL, 's' }, { 0 },
	};
	char found[PATH_MAX], *sets[MAX_SETS];
	const char *path = conf_default_path(CONF_ETC_DIR, OSI_STATE_DIR, HOST_CONFIG_FILE, found);
	int c, nsets = 0, optional = 1, ret;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'c')
			path = optarg, optional = 0;
		else if (c == 's' && nsets < MAX_SETS)
			sets[nsets++] = optarg;
		else
			return -EINVAL;
	}
	if (optind < argc)
		return -EINVAL;
	if (path && (ret = trusted(path)) < 0) {
		log_err("%s: %s (it must be root's, in a directory only root may change)", path,
			strerror(-ret));
		return ret;
	}
	return host_config_load(cfg, path, optional, sets, nsets);
}

/* The record, and the one descriptor a move-in's record carries. */
static ssize_t recv_request(uint8_t *buf, size_t len)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *cm;
	ssize_t n = recvmsg(peer, &mh, MSG_TRUNC | MSG_CMSG_CLOEXEC);

	for (cm = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)) && passed_fd < 0)
			memcpy(&passed_fd, CMSG_DATA(cm), sizeof(int));
	return n;
}

/* move-out's and backup-out's answer: the file's descriptor (if any) with its line. */
static int send_fd(int fd, const char *state, uint64_t bytes)
{
	char line[96];
	int n = snprintf(line, sizeof(line), "{\"state\":\"%s\",\"bytes\":%llu}\n", state,
			 (unsigned long long)bytes);

	return fd_pass_send(peer, line, (size_t)n, fd) == n ? 0 : -errno;
}

/* move-out's stream: its read end, with the archive's bound, before the
 * export writes into it. */
static int stream_ready(int fd, uint64_t bound, void *ctx)
{
	(void)ctx;
	return send_fd(fd, "exporting", bound);
}

static const struct move_out_sink stream_sink = { stream_ready, NULL };

/* The mover's one-byte word after the archive's end: 1 when the stream
 * reached the source's END (its helper ended the archive whole), so an
 * archive cut short, however well-formed its part, defines nothing. */
static int stream_verdict(char *err, size_t errlen)
{
	struct timeval tv = { .tv_sec = VERDICT_WAIT_S };
	uint8_t ok = 0;

	setsockopt(peer, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (recv(peer, &ok, 1, 0) == 1 && ok == 1)
		return 0;
	snprintf(err, errlen, "the agent's mover did not see the source end the stream whole");
	return -EBADMSG;
}

static int move(struct virt_host *h, const struct host_config *c, const struct guest_op_def *op,
		const struct helper_req *r)
{
	const char *name = r->name;
	const struct move_spec spec = { r->type, r->memory_bytes, r->vcpus };
	char detail[160];
	uint64_t bytes = 0;
	int ret;

	if (op->op == GOP_MOVE_OUT) {
		char to[HELPER_MOVE_TO_BYTES], buf[HELPER_MOVE_TO_BYTES + 1];
		ssize_t n = recv(peer, buf, sizeof(buf), MSG_TRUNC);
		const char *why = n < 0 ? "no target arrived" : helper_move_to_check(buf, (size_t)n, to);

		if (why)
			return fail("refused: %s", why);
		report("stopping", "a clean shutdown, then the export", NULL);
		if ((ret = helper_move_out(h, c, name, to, &stream_sink, &bytes)) < 0)
			return fail("%s", h->err);
		return send_fd(-1, "exported", bytes) < 0 ? 1 : 0; /* the mover ends its stream */
	}
	if (op->op == GOP_MOVE_IN) {
		uint8_t rec[HELPER_MOVE_BOUND_BYTES + 1];
		ssize_t n = recv(peer, rec, sizeof(rec), MSG_TRUNC);

		if (n != HELPER_MOVE_BOUND_BYTES)
			return fail("refused: no bound of the stream arrived");
		report("importing", "writing the volumes as they arrive; defined once all verified", NULL);
		ret = helper_move_in(h, c, name, &spec, passed_fd, get_be64(rec), stream_verdict);
		if (ret == 0 && aborted()) { /* nobody follows the move: its copy goes */
			helper_move_act(h, c, guest_op_find("move-abort"), name, detail, sizeof(detail));
			return fail("the move was abandoned during the import; its copy is removed");
		}
		return ret < 0 ? fail("%s", h->err) : (report(op->done_state, NULL, NULL), 0);
	}
	if (helper_move_act(h, c, op, name, detail, sizeof(detail)) < 0)
		return fail("%s", h->err);
	report(op->done_state, detail[0] ? detail : NULL, NULL);
	return 0;
}

/* A backup verb's third record, the fleet's signed request (fleet-approval.h):
 * the helper does nothing with the node's backups that the fleet did not
 * sign, whatever the agent (osi) asks. NULL or why not. */
static const char *approved(const struct host_config *c, const char *verb, const char *name,
			    const char *id, unsigned *keep, char *target, char *err, size_t errlen)
{
	uint8_t blob[APPROVAL_MAX + 1];
	ssize_t n = recv(peer, blob, sizeof(blob), MSG_TRUNC);

	if (n <= 0 || (size_t)n > APPROVAL_MAX)
		return "no approval of the fleet arrived";
	return helper_backup_approved(c, blob, (size_t)n, verb, name, id, keep, target, err,
				      errlen) < 0 ? err : NULL;
}

/* backup-out's offer to its mover: the line, then the offer's body as its
 * own record; the answer, which files the target holds, comes back as the
 * HELD body. */
static int offer_to_mover(void *ctx, const struct move_offer *o, uint64_t bound, bool *held,
			  char *err, size_t errlen)
{
	uint8_t body[MOVE_OFFER_BODY_MAX], answer[MOVE_HELD_BODY_MAX + 1];
	struct timeval tv = { .tv_sec = HELD_WAIT_S };
	char line[80];
	int n = move_offer_build(o, body, sizeof(body)), m;
	const char *why = n < 0 ? "the chain's files do not fit an offer" : NULL;
	ssize_t got;

	(void)ctx;
	m = snprintf(line, sizeof(line), "{\"state\":\"offer\",\"bytes\":%llu}\n",
		     (unsigned long long)bound);
	if (!why && (send(peer, line, (size_t)m, MSG_NOSIGNAL) != m ||
		     send(peer, body, (size_t)n, MSG_NOSIGNAL) != n))
		why = "the mover went away";
	if (!why) {
		setsockopt(peer, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		got = recv(peer, answer, sizeof(answer), MSG_TRUNC);
		why = got <= 0 ? "no answer from the target came" :
		      move_held_parse(answer, (size_t)got, o->n, held);
	}
	return why ? (snprintf(err, errlen, "%s", why), -EPROTO) : 0;
}

/* backup-out: the backup's id in a second record (as move-out's target);
 * the offer and its answer (offer_to_mover); the packed copy handed back. Libvirt only for an encrypted chain: its
 * volumes' keys, sealed to the target the fleet's approval names. */
static int backup_out(const struct host_config *c, const char *name)
{
	char id[HELPER_MOVE_TO_BYTES], buf[HELPER_MOVE_TO_BYTES + 1], err[VIRT_ERR_MAX];
	char target[NODE_NAME_MAX + 1] = "";
	ssize_t n = recv(peer, buf, sizeof(buf), MSG_TRUNC);
	const char *why = n < 0 ? "no backup id arrived" : helper_backup_id_check(buf, (size_t)n, id);
	uint64_t bytes = 0;
	int fd, ret;

	if (!why)
		why = approved(c, "backup-out", name, id, NULL, target, err, sizeof(err));
	if (why)
		return fail("refused: %s", why);
	report("packing", "checking the chain's signatures and hashes, then packing it", NULL);
	if (helper_backup_out(c, name, id, target, offer_to_mover, NULL, &fd, &bytes, err,
			      sizeof(err)) < 0)
		return fail("cannot pack backup %s of %s: %s", id, name, err);
	ret = send_fd(fd, "packed", bytes); /* the mover's; "sent" is its own end state */
	close(fd);
	return ret < 0 ? fail("cannot hand the packed copy over: %s", strerror(-ret)) : 0;
}

static int virt_open(struct virt_host *h, struct virt_config *vc, const struct host_config *c)
{
	vc->uri = c->virt_uri;
	vc->pool_dir = c->pool_dir[0] ? c->pool_dir : NULL;
	vc->console_dir = c->console_dir[0] ? c->console_dir : NULL;
	vc->seal_key = c->seal_key; /* root's: new volume keys are also sealed to it */
	if (virt_host_open(h, vc) < 0)
		return -EIO;
	h->ops.progress = on_step;
	h->ops.cancelled = on_wait; /* a move's shutdown ends when its mover is gone */
	return 0;
}

/* backup-in's first step, once approved: the source's offer (the wire's
 * OFFER body, from the mover) answered with what the store holds of it,
 * each such file hashed now: the line, then the HELD body. Then the wait,
 * as long as the transfer lasts, for the received copy's descriptor. */
static const char *held_then_copy(const struct host_config *c, const char *name, char *err,
				  size_t errlen)
{
	uint8_t body[MOVE_OFFER_BODY_MAX + 1], answer[MOVE_HELD_BODY_MAX], one[2];
	bool held[MOVE_OFFER_MAX] = { false };
	struct move_offer o;
	uint64_t bytes = 0;
	char line[80];
	ssize_t n = recv(peer, body, sizeof(body), MSG_TRUNC);
	const char *why = n <= 0 ? "no offer arrived" : move_offer_parse(body, (size_t)n, &o);
	int m;

	if (why)
		return why;
	report("moving", "checking which of the chain's files this node holds already (each hashed)",
	       NULL);
	if (helper_backup_held(c, name, &o, held, &bytes, err, errlen) < 0)
		return err;
	m = snprintf(line, sizeof(line), "{\"state\":\"held\",\"bytes\":%llu}\n",
		     (unsigned long long)bytes);
	n = move_held_build(held, o.n, answer, sizeof(answer));
	if (send(peer, line, (size_t)m, MSG_NOSIGNAL) != m || n < 0 ||
	    send(peer, answer, (size_t)n, MSG_NOSIGNAL) != n)
		return "the mover went away";
	for (;;) { /* the transfer's own limits bound it; the mover gone ends it */
		struct pollfd p = { .fd = peer, .events = POLLIN };

		if (stop_signal)
			return "stopped while the copy was received";
		if (poll(&p, 1, 1000) > 0)
			return recv_request(one, sizeof(one)) == 1 && passed_fd >= 0 ? NULL :
			       "the transfer failed: no copy came";
	}
}

/* backup-in: the received copy stored, or nothing; then, if the second
 * record names a backup, the guest's data volumes restored from it. */
static int backup_in(const struct host_config *c, const struct guest_op_def *op, const char *name)
{
	char err[VIRT_ERR_MAX], summary[VIRT_ERR_MAX + 160], id[HELPER_MOVE_TO_BYTES];
	char buf[HELPER_MOVE_TO_BYTES + 1];
	ssize_t n = recv(peer, buf, sizeof(buf), MSG_TRUNC);
	const char *why = n < 0 ? "no restore record arrived" : helper_restore_id_check(buf, (size_t)n, id);
	struct virt_config vc = { 0 };
	struct virt_host h;
	size_t links = 0, len, pruned = 0;
	unsigned keep = 0;
	int ret;

	if (!why)
		why = approved(c, "backup-in", name, id[0] ? id : NULL, &keep, NULL, err, sizeof(err));
	if (why)
		return fail("refused: %s", why);
	if ((why = held_then_copy(c, name, err, sizeof(err))))
		return fail("the backup copy of %s: %s; nothing was stored", name, why);
	report("storing", "checking every signature and hash before keeping anything", NULL);
	if (helper_backup_in(c, name, passed_fd, summary, sizeof(summary), err, sizeof(err)) < 0)
		return fail("the backup copy of %s is refused, nothing was stored: %s", name, err);
	log_info("%s", summary);
	len = strlen(summary);
	if (keep && helper_backup_prune(c, name, keep, &pruned, err, sizeof(err)) < 0)
		snprintf(summary + len, sizeof(summary) - len, "; not pruned: %s", err);
	else if (keep)
		snprintf(summary + len, sizeof(summary) - len, "; %zu older backup(s) pruned (keep %u)",
			 pruned, keep);
	if (id[0]) {
		report("restoring", summary, NULL);
		if (virt_open(&h, &vc, c) < 0)
			return fail("%s; the restore cannot reach libvirt: %s", summary, h.err);
		ret = helper_backup_restore(&h, c, name, id, &links, err, sizeof(err));
		virt_host_close(&h);
		if (ret < 0)
			return fail("%s; the restore of %s failed: %s", summary, name, err);
		len = strlen(summary);
		snprintf(summary + len, sizeof(summary) - len, "; restored %s's data volumes from backup "
			 "%s (%zu file set(s) in the chain), the guest shut off", name, id, links);
		log_info("%s", summary);
	}
	report(op->done_state, summary, NULL);
	return 0;
}

/* The connection systemd accepted, and the one record it must start with. */
static const char *take_request(struct helper_req *r, const struct guest_op_def **op)
{
	struct timeval tv = { .tv_sec = REQUEST_WAIT_S };
	uint8_t buf[sizeof(*r) + 1];
	int type = 0;
	socklen_t tl = sizeof(type);
	ssize_t n;

	if (getsockopt(peer, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_SEQPACKET)
		return "the helper's socket must be a SOCK_SEQPACKET connection";
	setsockopt(peer, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv_request(buf, sizeof(buf));
	if (n < 0)
		return "no request arrived";
	return helper_req_check(buf, (size_t)n, r, op);
}

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
	static struct host_config cfg;
	const struct guest_op_def *op;
	struct virt_config vc = { 0 };
	struct helper_req r;
	struct virt_host h;
	const char *why;
	int ret;

	log_init(PROG);
	prctl(PR_SET_DUMPABLE, 0); /* volume keys pass through: no core dump, no ptrace by uid */
	catch_signals();
	if (sd_listen_fds(1) != 1) {
		log_err("run by service-vm-host-virt.socket (Accept=yes): one connection as fd %d",
			SD_LISTEN_FDS_START);
		return 2;
	}
	peer = SD_LISTEN_FDS_START;
	fcntl(peer, F_SETFD, FD_CLOEXEC); /* no qemu-img it runs on a peer's file gets the agent's line */
	why = take_request(&r, &op);
	if (!why && passed_fd >= 0 && op->op != GOP_MOVE_IN) /* a backup-in's comes later */
		why = "only a move-in brings a file with its request";
	if (why)
		return fail("refused: %s", why);
	if (load_config(argc, argv, &cfg) < 0)
		return fail("the helper's configuration is unusable (see its log)");
	/* agent-addresses comes every 15-20 s while a guest agent is up: debug */
	log_msg(op->op == GOP_AGENT_ADDRESSES ? LOG_LVL_DEBUG : LOG_LVL_INFO, "%s %s%s%s", op->verb,
		r.name, r.type[0] ? " as " : "", r.type);
	if (op->bulk && (ret = bulk_priority()) < 0)
		log_warn("%s %s: runs at its usual priority: %s", op->verb, r.name, strerror(-ret));
	if (op->op == GOP_BACKUP_OUT)
		return backup_out(&cfg, r.name);
	if (op->op == GOP_BACKUP_IN)
		return backup_in(&cfg, op, r.name);
	if (virt_open(&h, &vc, &cfg) < 0)
		return fail("%s", h.err);
	if (op->op == GOP_CREATE)
		ret = create(&h, &cfg, &r);
	else if (op->op == GOP_FABRIC || op->op == GOP_NAMES)
		ret = node_act(&h, &cfg, op);
	else if (op->op == GOP_AGENT_ADDRESSES)
		ret = agent_act(&h);
	else if (op->op >= GOP_MOVE_OUT)
		ret = move(&h, &cfg, op, &r);
	else
		ret = act(&h, op, r.name);
	virt_host_close(&h);
	return ret;
}
