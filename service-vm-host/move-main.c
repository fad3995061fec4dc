/* service-vm-host-move: one side of a cold move's transfer, run by the agent
 * (unprivileged, as the agent) for a fleet's move-out or move-in request.
 * Blocking code in its own process: the agent's loop only relays the JSON
 * lines this prints on stdout ({"state","detail","bytes","total"}).
 *
 *   service-vm-host-move out GUEST PEER:PORT HELPER_SOCKET STATE_DIR TARGET
 *   service-vm-host-move in  GUEST LISTEN:PORT HELPER_SOCKET STATE_DIR TYPE MEMORY_BYTES VCPUS
 *   service-vm-host-move backup-out GUEST PEER:PORT HELPER_SOCKET STATE_DIR BACKUP_ID
 *   service-vm-host-move backup-in  GUEST LISTEN:PORT HELPER_SOCKET STATE_DIR RESTORE_ID|-
 *
 * The move token (64 hex digits) comes in OSI_MOVE_TOKEN, never in argv.
 * out: asks the helper for move-out (a clean shutdown and a signed export,
 * encrypted volumes' keys sealed to TARGET, handed back as a read-only
 * descriptor), connects to the target and sends
 * it (service-vm-host/move-wire.h). in: listens for the source, takes only
 * the token's greeting, and passes what arrives to the helper's move-in with
 * the type and size the fleet approved (TYPE MEMORY_BYTES VCPUS), which the
 * archive's manifest must match. The mover never parses the bytes (the
 * source splices them, the target passes them on in runs, move-io.c): the
 * helpers check each volume's SHA-256 against the signed manifest, end to
 * end.
 * backup-out and backup-in do the same with a backup's chain: the helper
 * packs it (backup-out, the backup's id in the second record) and stores
 * what arrived after checking every signature and hash (backup-in; then,
 * given RESTORE_ID, restores the guest's data volumes from that backup). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/fileio.h"
#include "lib/backup-manifest.h"
#include "lib/clock.h"
#include "lib/bytes.h"
#include "lib/bulk-priority.h"
#include "lib/fd-pass.h"
#include "lib/units.h"
#include "service-vm-host/fleet-approval.h"
#include "service-vm-host/helper-req.h"
#include "service-vm-host/move-io.h"
#include "service-vm-host/move-offer.h"
#include "service-vm-host/move-wire.h"

/* The target waits for the source as long as the fleet's step may last
 * (server-move.c, 1 h): the source connects only after the guest's clean
 * shutdown (up to 300 s) and the export of its volumes, which takes as long
 * as they are large. The fleet ends a step silent for 5 min, so a side that
 * waits says so every KEEPALIVE_S (OSI_MOVE_TEST_KEEPALIVE_S in tests). */
#define ACCEPT_WAIT_S 3600
#define CONNECT_WAIT_S 60
#define IO_WAIT_S 120
#define HELLO_WAIT_S 10 /* a connection's greeting, whole, within the wait */
#define KEEPALIVE_S 60
#define HELD_WAIT_S 3600 /* a backup copy's target hashes what it holds of the chain */
#define PASS_BUF (256u << 10) /* a DATA frame's bytes pass the target's mover in runs of this */

/* What a transfer carries: a move's signed export, or a backup's chain. */
struct mode {
	const char *arg;         /* argv[1] */
	const char *verb, *ready; /* the helper's verb, and its end state on this side */
	const char *waiting;     /* in: what the source does before it connects */
	const char *nothing;     /* in: what a failure leaves here */
};

static const struct mode modes[] = {
	{ "out", "move-out", "exported", NULL, NULL },
	{ "in", "move-in", "defined", "for the source: its clean shutdown, then its export",
	  "nothing was defined here" },
	{ "backup-out", "backup-out", "packed", NULL, NULL },
	{ "backup-in", "backup-in", "stored", "for the source to pack the backup's chain",
	  "nothing was stored here" },
};

struct side {
	const struct mode *mode;
	const char *guest, *addr, *helper, *state_dir;
	const char *target; /* out's node, backup-out's id, backup-in's id to restore (or NULL) */
	const char *type;                /* in: the fleet's approved spec */
	uint64_t memory_bytes, vcpus;
	uint8_t token[MOVE_TOKEN_BYTES];
	uint8_t approval[APPROVAL_MAX];  /* backup modes: the fleet's signed request */
	size_t approval_len;
	uint64_t total, done, started_ms, shown_ms;
	unsigned held;                   /* backup modes: files the target holds, not sent */
	uint64_t held_bytes;
};

static void say(const char *state, const char *detail, const struct side *s)
{
	json_t *m = json_pack("{s:s, s:s?}", "state", state, "detail", detail);
	char *text;

	if (s && s->total) {
		json_object_set_new(m, "bytes", json_integer((json_int_t)s->done));
		json_object_set_new(m, "total", json_integer((json_int_t)s->total));
	}
	text = json_dumps(m, JSON_COMPACT);
	if (text)
		printf("%s\n", text);
	fflush(stdout);
	free(text);
	json_decref(m);
}

static int failed(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int failed(const char *fmt, ...)
{
	char msg[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	say("failed", msg, NULL);
	return 1;
}

static void progress(struct side *s, bool force)
{
	uint64_t now = clock_mono_ns() / 1000000, ms = now - s->started_ms;
	char detail[96];
	double rate = ms ? (double)s->done / ((double)ms / 1000.0) : 0;

	if (!force && now - s->shown_ms < 1000)
		return;
	s->shown_ms = now;
	snprintf(detail, sizeof(detail), "%.1f MiB/s, %.0f s left", rate / 1048576.0,
		 rate > 0 ? (double)(s->total - s->done) / rate : 0.0);
	say("moving", detail, s);
}

static int keepalive_ms(void)
{
	const char *v = getenv("OSI_MOVE_TEST_KEEPALIVE_S");
	int n = v ? atoi(v) : 0;

	return (n > 0 && n <= KEEPALIVE_S ? n : KEEPALIVE_S) * 1000;
}

/* A progress line while waiting: what for, and for how long so far. */
static void still(const char *state, const char *what, uint64_t since_ns)
{
	char detail[160];

	snprintf(detail, sizeof(detail), "%s — %llu s so far", what,
		 (unsigned long long)((clock_mono_ns() - since_ns) / 1000000000ull));
	say(state, detail, NULL);
}

static int parse_addr(const char *text, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	long port = colon ? strtol(colon + 1, NULL, 10) : 0;

	memset(sa, 0, sizeof(*sa));
	if (!colon || (size_t)(colon - text) >= sizeof(host) || port < 1 || port > 65535)
		return -EINVAL;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

static int full_write(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		p += n, len -= (size_t)n;
	}
	return 0;
}

static int full_read(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -EPIPE : -errno;
		p += n, len -= (size_t)n;
	}
	return 0;
}

/* ---- the helper ---- */

/* The request (with pass_fd, if any; a move-in's with the approved spec),
 * then its second record (rec, reclen bytes: a move-out's target, a move-in's
 * bound, a backup mode's id), and for a backup mode the fleet's approval,
 * which the helper checks. */
static int helper_open(const struct side *s, const char *verb, int pass_fd, const void *rec,
		       size_t reclen)
{
	const char *path = s->helper;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct helper_req req;
	int fd;

	if (helper_req_build(&req, guest_op_find(verb), s->guest, s->type, s->memory_bytes,
			     s->vcpus) < 0 ||
	    strlen(path) >= sizeof(sa.sun_path))
		return -EINVAL;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    fd_pass_send(fd, &req, sizeof(req), pass_fd) != (ssize_t)sizeof(req) ||
	    (rec && send(fd, rec, reclen, MSG_NOSIGNAL) != (ssize_t)reclen) ||
	    (s->approval_len &&
	     send(fd, s->approval, s->approval_len, MSG_NOSIGNAL) != (ssize_t)s->approval_len)) {
		int e = errno ? errno : EIO;

		close(fd);
		return -e;
	}
	return fd;
}

/* The helper's next line (and a descriptor it carried, if any): its state
 * into *m (the caller decrefs), -EPIPE when it closed. */
static int helper_line(int hfd, json_t **m, int *got_fd)
{
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl;
	char buf[4096];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	struct cmsghdr *cm;
	ssize_t n = recvmsg(hfd, &mh, MSG_CMSG_CLOEXEC);

	if (n <= 0)
		return -EPIPE;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof(int)) && got_fd)
			memcpy(got_fd, CMSG_DATA(cm), sizeof(int));
	buf[n] = '\0';
	*m = json_loads(buf, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, NULL);
	return json_is_object(*m) && json_string_value(json_object_get(*m, "state")) ? 0 : -EBADMSG;
}

/* Relays the helper's lines until one of the ends; the end's line in *end.
 * While the helper is silent (a shutdown, an export, an import) its last
 * line is repeated with the time so far. */
static int helper_wait(int hfd, const char *want, int *got_fd, json_t **end)
{
	char state[32] = "waiting", what[128] = "for the helper";
	uint64_t since = clock_mono_ns();

	for (;;) {
		struct pollfd p = { .fd = hfd, .events = POLLIN };
		json_t *m = NULL;
		const char *st;
		int ret;

		if (poll(&p, 1, keepalive_ms()) == 0) {
			still(state, what, since);
			continue;
		}
		ret = helper_line(hfd, &m, got_fd);

		if (ret < 0) {
			json_decref(m);
			return failed("the helper ended without a result");
		}
		st = json_string_value(json_object_get(m, "state"));
		if (!strcmp(st, want) || !strcmp(st, "failed")) {
			*end = m;
			return strcmp(st, want) ? 1 : 0;
		}
		say(st, json_string_value(json_object_get(m, "detail")), NULL);
		snprintf(state, sizeof(state), "%s", st);
		snprintf(what, sizeof(what), "%s", json_string_value(json_object_get(m, "detail")) ?: st);
		since = clock_mono_ns();
		json_decref(m);
	}
}

/* ---- out ---- */

static int connect_target(const struct side *s)
{
	struct sockaddr_in sa;
	struct timeval tv = { .tv_sec = IO_WAIT_S };
	uint64_t until = clock_mono_ns() + (uint64_t)CONNECT_WAIT_S * 1000000000ull;

	if (parse_addr(s->addr, &sa) < 0)
		return -EINVAL;
	while (clock_mono_ns() < until) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			return fd;
		}
		if (fd >= 0)
			close(fd);
		usleep(300 * 1000);
	}
	return -ETIMEDOUT;
}

/* Up to want bytes from file (the helper's pipe, or the packed file at
 * *off) into the empty pipe via: a wait for the first, then what more is
 * there now, until want, file's end, or via has no slot left (a writer's
 * small writes each take one). The count (0 at the end) or -errno. */
static ssize_t gather(int file, loff_t *off, int via, size_t want)
{
	size_t got = 0;

	while (got < want) {
		ssize_t n = splice(file, off, via, NULL, want - got,
				   SPLICE_F_MOVE | SPLICE_F_MORE | (got ? SPLICE_F_NONBLOCK : 0));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && got && errno == EAGAIN)
			break;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* The file, or a pipe to its end, framed as DATA of up to a pipe's worth,
 * each moved file -> pipe -> socket by the kernel; never past s->total. */
static int send_file(struct side *s, int sock, int file, bool pipe)
{
	loff_t off = 0;
	int via[2], cap, ret = pipe2(via, O_CLOEXEC) < 0 ? -errno : 0;
	uint8_t head[MOVE_HEAD], one;

	if (ret < 0)
		return ret;
	fcntl(via[1], F_SETPIPE_SZ, MOVE_CHUNK);
	cap = fcntl(via[1], F_GETPIPE_SZ);
	while (!ret && s->done < s->total) {
		size_t want = s->total - s->done < MOVE_CHUNK ? (size_t)(s->total - s->done) : MOVE_CHUNK;
		ssize_t n = gather(file, pipe ? NULL : &off, via[1], cap > 0 && (size_t)cap < want ? (size_t)cap : want);

		if (n == 0 && pipe)
			break;
		if (n <= 0) {
			ret = -EIO;
			break;
		}
		move_head_build(head, MOVE_DATA, (uint32_t)n);
		if ((ret = full_write(sock, head, sizeof(head))) == 0)
			ret = move_drain(via[0], sock, (size_t)n);
		s->done += (uint64_t)n;
		progress(s, false);
	}
	if (!ret && pipe && s->done == s->total && read(file, &one, 1) != 0)
		ret = -EFBIG; /* more than its bound */
	close(via[0]);
	close(via[1]);
	return ret;
}

static int ack(int sock, char *text, size_t len)
{
	uint8_t head[MOVE_HEAD], body[1 + MOVE_ACK_TEXT_MAX], type;
	uint32_t blen;

	if (full_read(sock, head, sizeof(head)) < 0 || move_head_parse(head, &type, &blen) ||
	    type != MOVE_ACK || full_read(sock, body, blen) < 0) {
		snprintf(text, len, "the target closed the transfer without an answer");
		return -EPIPE;
	}
	snprintf(text, len, "%.*s", (int)(blen - 1), (const char *)body + 1);
	return body[0] ? 0 : -EBADMSG;
}

/* The helper's end line, its "bytes" into *bytes: 0 at want, else 1 (said). */
static int helper_done(int hfd, const char *want, int *fd, uint64_t *bytes)
{
	json_t *end = NULL;
	int ret = helper_wait(hfd, want, fd, &end);

	if (ret == 1 && end)
		say("failed", json_string_value(json_object_get(end, "detail")), NULL);
	if (!ret)
		*bytes = (uint64_t)json_integer_value(json_object_get(end, "bytes"));
	json_decref(end);
	return ret ? 1 : 0;
}

static int greet(const struct side *s, int sock, uint64_t total)
{
	struct move_hello h = { .total = total };
	uint8_t buf[MOVE_HEAD + 128];
	int n;

	memcpy(h.token, s->token, sizeof(h.token));
	snprintf(h.guest, sizeof(h.guest), "%s", s->guest);
	n = move_hello_build(&h, buf, sizeof(buf));
	return n < 0 ? n : full_write(sock, buf, (size_t)n);
}

static int send_frame(int sock, uint8_t type, const uint8_t *body, size_t len)
{
	uint8_t head[MOVE_HEAD];

	move_head_build(head, type, (uint32_t)len);
	return full_write(sock, head, sizeof(head)) < 0 ? -EIO : full_write(sock, body, len);
}

/* The target's answer to the offer: HELD, or an ACK that refuses (its
 * reason into why). While it hashes what it holds, the wait is said. */
static int held_of(int sock, const struct move_offer *o, bool *held, char *why, size_t len)
{
	uint64_t since = clock_mono_ns(), by = since + (uint64_t)HELD_WAIT_S * 1000000000ull;
	uint8_t head[MOVE_HEAD], body[1 + MOVE_ACK_TEXT_MAX], type;
	struct pollfd p = { .fd = sock, .events = POLLIN };
	const char *bad = NULL;
	uint32_t blen = 0;

	while (poll(&p, 1, keepalive_ms()) == 0 && clock_mono_ns() < by)
		still("moving", "the target checks which of the chain's files it holds already", since);
	by = clock_mono_ns() + (uint64_t)IO_WAIT_S * 1000000000ull;
	if (move_read_by(sock, head, sizeof(head), by) < 0 || move_head_parse(head, &type, &blen) ||
	    (type != MOVE_HELD && type != MOVE_ACK) || blen > sizeof(body) ||
	    move_read_by(sock, body, blen, by) < 0)
		return snprintf(why, len, "the target did not answer the offer of the chain's files"), -EIO;
	if (type == MOVE_ACK)
		return snprintf(why, len, "the target refused the transfer: %.*s", (int)(blen - 1),
				(const char *)body + 1), -EPERM;
	if ((bad = move_held_parse(body, blen, o->n, held)))
		return snprintf(why, len, "the target's answer to the offer: %s", bad), -EBADMSG;
	return 0;
}

/* backup-out, before the chain is packed: the helper's offer (the chain's
 * volume files, and the bound of the copy) goes to the target after HELLO,
 * its answer (which of them it holds) back to the helper, which packs only
 * the rest. The connection, or -1 (said). */
static int offered(struct side *s, int hfd)
{
	uint8_t body[MOVE_OFFER_BODY_MAX + 1], answer[MOVE_HELD_BODY_MAX];
	bool held[MOVE_OFFER_MAX] = { false };
	char why[MOVE_ACK_TEXT_MAX + 1] = "";
	struct move_offer o;
	uint64_t bound = 0;
	ssize_t n;
	int sock = -1, m;

	if (helper_done(hfd, "offer", NULL, &bound))
		return -1; /* said */
	n = recv(hfd, body, sizeof(body), 0);
	if (n <= 0 || move_offer_parse(body, (size_t)n, &o))
		snprintf(why, sizeof(why), "the helper's offer of the chain's files is malformed");
	else if ((sock = connect_target(s)) < 0)
		snprintf(why, sizeof(why), "cannot reach the target's mover at %s", s->addr);
	else if (greet(s, sock, bound) < 0 || send_frame(sock, MOVE_OFFER, body, (size_t)n) < 0)
		snprintf(why, sizeof(why), "the transfer to %s broke off before its data", s->addr);
	else if (held_of(sock, &o, held, why, sizeof(why)) < 0)
		;
	else if ((m = move_held_build(held, o.n, answer, sizeof(answer))) < 0 ||
		 send(hfd, answer, (size_t)m, MSG_NOSIGNAL) != m)
		snprintf(why, sizeof(why), "the helper went away before it packed the chain");
	if (why[0]) {
		if (sock >= 0)
			close(sock);
		failed("%s", why);
		return -1;
	}
	for (unsigned k = 0; k < o.n; k++)
		s->held += held[k];
	s->held_bytes = move_offer_bytes(&o, held);
	say("packing", "the files the target lacks: each hashed, then packed", NULL);
	return sock;
}

/* What the sender's line adds when the target held files of the chain. */
static void held_text(const struct side *s, char *buf, size_t len)
{
	char size[32];

	format_size(s->held_bytes, size, sizeof(size));
	if (s->held)
		snprintf(buf, len, " (%u volume file(s), %s, the target holds already: not sent)", s->held,
			 size);
	else
		buf[0] = '\0';
}

/* out: the helper hands over the export's pipe with its bound first and
 * writes as this sends, then says the archive's length; backup-out: the
 * files the target lacks, packed whole, after the offer. END goes only
 * after the helper's end. */
static int move_out(struct side *s)
{
	uint8_t hello[MOVE_HEAD];
	char text[MOVE_ACK_TEXT_MAX + 1], line[MOVE_ACK_TEXT_MAX + 192], held[128];
	char to[HELPER_MOVE_TO_BYTES] = "";
	bool pipe = s->mode == &modes[0];
	uint64_t bytes = 0;
	int hfd, file = -1, sock = -1;

	snprintf(to, sizeof(to), "%s", s->target);
	hfd = helper_open(s, s->mode->verb, -1, to, sizeof(to));
	if (hfd < 0)
		return failed("cannot reach the provisioning helper: %s", strerror(-hfd));
	if (!pipe && (sock = offered(s, hfd)) < 0)
		return 1; /* said */
	if (helper_done(hfd, pipe ? "exporting" : s->mode->ready, &file, &s->total))
		return 1;
	if (!pipe)
		close(hfd);
	if (file < 0 || !s->total)
		return failed("the helper handed over nothing to send");
	if (pipe && (sock = connect_target(s)) < 0)
		return failed("cannot reach the target's mover at %s", s->addr);
	s->started_ms = clock_mono_ns() / 1000000;
	if ((pipe && greet(s, sock, s->total) < 0) || send_file(s, sock, file, pipe) < 0)
		return failed("the transfer to %s broke off after %llu bytes", s->addr,
			      (unsigned long long)s->done);
	close(file);
	if (pipe && helper_done(hfd, s->mode->ready, NULL, &bytes))
		return 1; /* said */
	if (pipe && bytes != s->done)
		return failed("the export's %llu bytes are not the %llu sent", (unsigned long long)bytes,
			      (unsigned long long)s->done);
	move_head_build(hello, MOVE_END, 0);
	if (full_write(sock, hello, MOVE_HEAD) < 0 || ack(sock, text, sizeof(text)) < 0)
		return failed("the target refused the transfer: %s", text);
	s->total = s->done;
	progress(s, true);
	held_text(s, held, sizeof(held));
	snprintf(line, sizeof(line), "%llu bytes%s; the target: %s", (unsigned long long)s->done, held,
		 text);
	say("sent", line, NULL);
	return 0;
}

/* ---- in ---- */

static int listen_on(const char *addr)
{
	struct sockaddr_in sa;
	int one = 1, fd;

	if (parse_addr(addr, &sa) < 0)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* The first connection whose greeting carries the token and the guest: each
 * greeting whole within HELLO_WAIT_S, all of them within ACCEPT_WAIT_S. */
static int accept_source(struct side *s, int lfd)
{
	uint64_t since = clock_mono_ns(), until = since + (uint64_t)ACCEPT_WAIT_S * 1000000000ull;
	uint64_t told = since, every = (uint64_t)keepalive_ms() * 1000000ull;
	struct timeval tv = { .tv_sec = IO_WAIT_S };

	while (clock_mono_ns() < until) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		uint8_t head[MOVE_HEAD], body[128], type;
		uint64_t by = clock_mono_ns() + (uint64_t)HELLO_WAIT_S * 1000000000ull;
		struct move_hello h;
		uint32_t blen;
		int fd;

		if (clock_mono_ns() - told >= every) {
			still("waiting", s->mode->waiting, since);
			told = clock_mono_ns();
		}
		if (poll(&p, 1, 1000) <= 0 || (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		by = by < until ? by : until;
		if (move_read_by(fd, head, sizeof(head), by) == 0 && !move_head_parse(head, &type, &blen) &&
		    type == MOVE_HELLO && blen <= sizeof(body) && move_read_by(fd, body, blen, by) == 0 &&
		    !move_hello_parse(body, blen, &h) && !strcmp(h.guest, s->guest) &&
		    sodium_memcmp(h.token, s->token, MOVE_TOKEN_BYTES) == 0) {
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			s->total = h.total;
			return fd;
		}
		fprintf(stderr, "service-vm-host-move: a connection without this move's token refused\n");
		close(fd);
	}
	return -ETIMEDOUT;
}

static void send_ack(int sock, bool ok, const char *text)
{
	uint8_t buf[MOVE_HEAD + 1 + MOVE_ACK_TEXT_MAX];
	size_t n = strnlen(text, MOVE_ACK_TEXT_MAX);

	move_head_build(buf, MOVE_ACK, (uint32_t)(1 + n));
	buf[MOVE_HEAD] = ok;
	memcpy(buf + MOVE_HEAD + 1, text, n);
	full_write(sock, buf, MOVE_HEAD + 1 + n);
}

/* A test may corrupt one byte as it arrives (OSI_MOVE_TEST_FLIP=OFFSET):
 * that frame alone is read into the mover, flipped and written on. */
static int test_flip(const struct side *s, int sock, int out, size_t n, uint64_t by)
{
	const char *at = getenv("OSI_MOVE_TEST_FLIP");
	uint64_t off = at ? strtoull(at, NULL, 10) : UINT64_MAX;
	uint8_t *buf;
	int ret;

	if (off < s->done || off >= s->done + n)
		return 1;
	if (!(buf = malloc(n)))
		return -ENOMEM;
	ret = move_read_by(sock, buf, n, by) < 0 ? -ECONNRESET : 0;
	buf[off - s->done] ^= 0x01;
	if (!ret)
		ret = fd_write_all(out, buf, n);
	free(buf);
	return ret;
}

/* The next frame's head, a DATA within the total or END: 0, else -EIO
 * with why. */
static int next_head(const struct side *s, int sock, uint64_t by, uint8_t *type, uint32_t *blen,
		     char *why, size_t len)
{
	uint8_t head[MOVE_HEAD];
	const char *bad;
	int ret = move_read_by(sock, head, sizeof(head), by);

	if (ret < 0) {
		snprintf(why, len, "the source's stream broke off after %llu bytes (%s)",
			 (unsigned long long)s->done, ret == -EPIPE ? "closed" : strerror(-ret));
		return -EIO;
	}
	bad = move_head_parse(head, type, blen);
	if (!bad && *type != MOVE_DATA && *type != MOVE_END)
		bad = "a frame of another type";
	if (!bad && *type == MOVE_DATA && s->done + *blen > s->total)
		bad = "more bytes than its greeting's total";
	if (bad) {
		snprintf(why, len, "the source sent %s after %llu bytes", bad, (unsigned long long)s->done);
		return -EIO;
	}
	return 0;
}

/* A frame's landing failed (ret): whose fault, in why. -EPIPE when out
 * refused it (the helper gave up: its line says why), else -EIO. */
static int not_landed(const struct side *s, int ret, char *why, size_t len)
{
	if (ret == -EPIPE || ret == -ENOSPC || ret == -EDQUOT || ret == -EIO || ret == -EFBIG ||
	    ret == -EROFS || ret == -ENOMEM) { /* out's, or this node's */
		snprintf(why, len, "writing the received archive here: %s", strerror(-ret));
		return ret == -EPIPE ? -EPIPE : -EIO;
	}
	snprintf(why, len, "the source's stream broke off after %llu bytes (%s)",
		 (unsigned long long)s->done, ret == -ECONNRESET ? "closed" : strerror(-ret));
	return -EIO;
}

/* DATA frames up to END, each passed into out: a move-in's pipe to the
 * helper, or a staging file. 0 at END; -EPIPE when out refused a write;
 * else -EIO with why. The bytes are checked where they land: each volume's
 * SHA-256 against the signed manifest, by the helper. */
static int receive(struct side *s, int sock, int out, char *why, size_t len)
{
	uint8_t *buf = malloc(PASS_BUF);
	int ret = buf ? 0 : -ENOMEM;

	while (!ret) {
		uint64_t by = clock_mono_ns() + (uint64_t)IO_WAIT_S * 1000000000ull; /* per frame */
		uint8_t type;
		uint32_t blen;

		if (next_head(s, sock, by, &type, &blen, why, len) < 0) {
			ret = -EIO;
			break;
		}
		if (type == MOVE_END)
			break;
		if ((ret = test_flip(s, sock, out, blen, by)) == 1)
			ret = move_pass_by(sock, out, buf, PASS_BUF, blen, by);
		if (ret < 0) {
			ret = not_landed(s, ret, why, len);
			break;
		}
		s->done += blen;
		progress(s, false);
	}
	if (ret == -ENOMEM)
		snprintf(why, len, "the target is out of memory");
	free(buf);
	return ret == -ENOMEM ? -EIO : ret;
}

/* The greeting's total fits in the state directory's filesystem, a margin
 * kept: otherwise the source hears why, and nothing is written. */
static int room_for(const struct side *s, int sock)
{
	struct statvfs v;
	const char *why = statvfs(s->state_dir, &v) < 0 ? "the target cannot see its free space"
			  : move_room_check(s->total, (uint64_t)v.f_bavail * v.f_frsize);

	if (!why)
		return 0;
	send_ack(sock, false, why);
	close(sock);
	return -ENOSPC;
}

/* The helper's end after a transfer: 0 when it reached the mode's end state
 * (said here), else its reason in why (or the transfer's, kept). */
static int helper_end(struct side *s, int hfd, char *why, size_t len)
{
	json_t *end = NULL;
	int ret = helper_wait(hfd, s->mode->ready, NULL, &end);
	const char *detail = json_string_value(json_object_get(end, "detail"));

	close(hfd);
	if (!ret)
		say(s->mode->ready, detail, NULL);
	else if (!why[0])
		snprintf(why, len, "%s", detail ? detail : "the helper ended without a result");
	json_decref(end);
	return ret ? -EIO : 0;
}

/* A move-in: the archive flows into a pipe to the helper as it arrives, the
 * helper making and writing the volumes while they pass; whether the stream
 * reached END (the source's helper ended the archive whole) goes to the
 * helper before it defines, and the source hears the helper's end. */
static int stream_in(struct side *s, int sock)
{
	uint8_t bound[HELPER_MOVE_BOUND_BYTES], ok;
	char why[MOVE_ACK_TEXT_MAX + 1] = "";
	int p[2] = { -1, -1 }, hfd, ret;

	put_be64(bound, s->total);
	hfd = pipe2(p, O_CLOEXEC) < 0 ? -errno : 0;
	if (hfd == 0) {
		fcntl(p[1], F_SETPIPE_SZ, MOVE_CHUNK); /* fewer wakeups; the default is enough */
		hfd = helper_open(s, s->mode->verb, p[0], bound, sizeof(bound));
		close(p[0]);
	}
	if (hfd < 0) {
		if (p[1] >= 0)
			close(p[1]);
		send_ack(sock, false, "the target cannot reach its provisioning helper");
		close(sock);
		return failed("cannot reach the provisioning helper: %s", strerror(-hfd));
	}
	ret = receive(s, sock, p[1], why, sizeof(why));
	close(p[1]);
	if (ret == -EPIPE) /* the helper's reason is the one */
		why[0] = '\0';
	ok = ret == 0;
	send(hfd, &ok, 1, MSG_NOSIGNAL);
	if (ret == 0)
		progress(s, true);
	ret = helper_end(s, hfd, why, sizeof(why)) < 0 || ret < 0 ? -EIO : 0;
	if (ret) /* this side's reason reaches the fleet before the source's, which is cut */
		failed("%s; %s", why, s->mode->nothing);
	send_ack(sock, ret == 0, ret == 0 ? "verified and defined" : why);
	close(sock);
	return ret ? 1 : 0;
}

/* The helper's answer to the offer (its "held" line, then the HELD body)
 * into answer: its length, or -1 with why (the helper's reason). */
static ssize_t helper_held(int hfd, uint8_t *answer, size_t cap, char *why, size_t len)
{
	json_t *end = NULL;
	int ret = helper_wait(hfd, "held", NULL, &end);
	const char *detail = json_string_value(json_object_get(end, "detail"));
	ssize_t n = ret ? -1 : recv(hfd, answer, cap, 0);

	if (ret)
		snprintf(why, len, "%s", detail ? detail : "the helper ended without a result");
	else if (n <= 0)
		snprintf(why, len, "the helper did not say which files this node holds");
	json_decref(end);
	return n > 0 ? n : -1;
}

/* A backup-in's offer, right after HELLO: handed to the helper (after the
 * request, its restore record rec and the fleet's approval), which says
 * which of the files this node holds, hashed now; that answer goes to the
 * source, and the most DATA is then the greeting's total less their bytes.
 * The helper's connection, or -1 (said, the source told why). */
static int offer_in(struct side *s, int sock, const char *rec)
{
	uint8_t head[MOVE_HEAD], body[MOVE_OFFER_BODY_MAX], answer[MOVE_HELD_BODY_MAX + 1], type;
	uint64_t by = clock_mono_ns() + (uint64_t)IO_WAIT_S * 1000000000ull;
	bool held[MOVE_OFFER_MAX] = { false };
	char why[MOVE_ACK_TEXT_MAX + 1] = "", line[160], size[32];
	struct move_offer o;
	uint32_t blen = 0;
	ssize_t n = -1;
	int hfd = -1;

	if (move_read_by(sock, head, sizeof(head), by) < 0 || move_head_parse(head, &type, &blen) ||
	    type != MOVE_OFFER || move_read_by(sock, body, blen, by) < 0 ||
	    move_offer_parse(body, blen, &o))
		snprintf(why, sizeof(why), "the source sent no valid offer of the chain's files");
	else if (move_offer_bytes(&o, NULL) > s->total)
		snprintf(why, sizeof(why), "the source offered more bytes than its greeting's total");
	else if ((hfd = helper_open(s, s->mode->verb, -1, rec, HELPER_MOVE_TO_BYTES)) < 0)
		snprintf(why, sizeof(why), "the target cannot reach its provisioning helper");
	else if (send(hfd, body, blen, MSG_NOSIGNAL) != (ssize_t)blen)
		snprintf(why, sizeof(why), "the target's provisioning helper went away");
	else if ((n = helper_held(hfd, answer, sizeof(answer), why, sizeof(why))) < 0)
		;
	else if (move_held_parse(answer, (size_t)n, o.n, held) ||
		 send_frame(sock, MOVE_HELD, answer, (size_t)n) < 0)
		snprintf(why, sizeof(why), "the answer to the source's offer did not go");
	if (why[0]) {
		if (hfd >= 0)
			close(hfd);
		send_ack(sock, false, why);
		close(sock);
		failed("%s; %s", why, s->mode->nothing);
		return -1;
	}
	for (unsigned k = 0; k < o.n; k++)
		s->held += held[k];
	s->held_bytes = move_offer_bytes(&o, held); /* a part of the offer's, checked above */
	s->total -= s->held_bytes < s->total ? s->held_bytes : s->total;
	format_size(s->held_bytes, size, sizeof(size));
	snprintf(line, sizeof(line), "%u of the chain's %u volume file(s) (%s) held here already, "
		 "checked: not sent again", s->held, o.n, size);
	say("moving", line, NULL);
	return hfd;
}

/* After HELD the source's helper hashes and packs the files this node
 * lacks before the first DATA comes: waited for as long as a source's
 * connect, said every KEEPALIVE_S; later frames have IO_WAIT_S each. */
static void await_data(int sock)
{
	uint64_t since = clock_mono_ns(), until = since + (uint64_t)ACCEPT_WAIT_S * 1000000000ull;
	struct pollfd p = { .fd = sock, .events = POLLIN };

	while (poll(&p, 1, keepalive_ms()) == 0 && clock_mono_ns() < until)
		still("moving", "for the source to pack the files this node lacks", since);
}

/* A backup-in: the offer answered (offer_in), then the files this node
 * lacks into an unnamed file, handed to the helper once received whole. */
static int file_in(struct side *s, int sock)
{
	char why[MOVE_ACK_TEXT_MAX + 1] = "", rec[HELPER_MOVE_TO_BYTES] = "";
	int file, hfd, ret;

	if (s->target) /* the backup to restore from, or none */
		snprintf(rec, sizeof(rec), "%s", s->target);
	if ((hfd = offer_in(s, sock, rec)) < 0)
		return 1; /* said */
	if ((ret = room_for(s, sock)) < 0) {
		close(hfd);
		return failed("refused %llu bytes: %s", (unsigned long long)s->total, strerror(-ret));
	}
	file = open(s->state_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (file < 0) {
		close(hfd);
		send_ack(sock, false, "the target cannot make its staging file");
		close(sock);
		return failed("cannot make a staging file in %s: %s", s->state_dir, strerror(errno));
	}
	await_data(sock);
	ret = receive(s, sock, file, why, sizeof(why));
	send_ack(sock, ret == 0, ret == 0 ? "received whole; each file is checked before it is kept" : why);
	close(sock);
	if (ret < 0) {
		close(file); /* unnamed: nothing is left */
		close(hfd);  /* the helper, waiting for it, stores nothing */
		return failed("%s; %s", why, s->mode->nothing);
	}
	s->total = s->done; /* the bound's figure no longer: what came */
	progress(s, true);
	say("moving", "received whole: each file's SHA-256 is checked next, against the signed manifests", s);
	ret = fd_pass_send(hfd, "c", 1, file) == 1 ? 0 : -errno;
	close(file);
	if (ret < 0) {
		close(hfd);
		return failed("cannot hand the copy to the provisioning helper: %s", strerror(-ret));
	}
	return helper_end(s, hfd, why, sizeof(why)) < 0 ? failed("%s", why) : 0;
}

static int move_in(struct side *s)
{
	int lfd = listen_on(s->addr), sock;

	if (lfd < 0)
		return failed("cannot listen on %s for the source: %s", s->addr, strerror(-lfd));
	say("waiting", "for the source's transfer", NULL);
	sock = accept_source(s, lfd);
	close(lfd);
	if (sock < 0)
		return failed("the source did not connect within %d s", ACCEPT_WAIT_S);
	s->started_ms = clock_mono_ns() / 1000000;
	return s->mode == &modes[1] ? stream_in(s, sock) : file_in(s, sock);
}

/* in's TYPE MEMORY_BYTES VCPUS: a known type and a valid size, or -EINVAL. */
static int spec_args(struct side *s, char **argv)
{
	char *end1, *end2;

	errno = 0;
	s->type = argv[0];
	s->memory_bytes = strtoull(argv[1], &end1, 10);
	s->vcpus = strtoull(argv[2], &end2, 10);
	if (errno || *end1 || *end2 || argv[1][0] < '0' || argv[1][0] > '9' ||
	    argv[2][0] < '0' || argv[2][0] > '9' || !guest_type_find(s->type) ||
	    !guest_size_valid(s->memory_bytes, s->vcpus))
		return -EINVAL;
	return 0;
}

static const struct mode *mode_of(const char *arg)
{
	for (size_t i = 0; arg && i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(modes[i].arg, arg))
			return &modes[i];
	return NULL;
}

/* The arguments after STATE_DIR: out's TARGET, backup-out's ID, in's
 * TYPE MEMORY_BYTES VCPUS, backup-in's RESTORE_ID or "-". 0 or -EINVAL. */
static int mode_args(struct side *s, int argc, char **argv)
{
	const struct mode *m = s->mode;

	if (m == &modes[0] || m == &modes[2]) {
		if (argc != 7 || strlen(argv[6]) >= HELPER_MOVE_TO_BYTES ||
		    !(m == &modes[0] ? node_name_valid(argv[6]) : backup_id_valid(argv[6])))
			return -EINVAL;
		s->target = argv[6];
		return 0;
	}
	if (m == &modes[1])
		return argc == 9 ? spec_args(s, argv + 6) : -EINVAL;
	if (argc != 7 || (strcmp(argv[6], "-") && !backup_id_valid(argv[6])))
		return -EINVAL;
	s->target = strcmp(argv[6], "-") ? argv[6] : NULL;
	return 0;
}

static bool backup_mode(const struct side *s)
{
	return s->mode == &modes[2] || s->mode == &modes[3];
}

/* OSI_FLEET_APPROVAL's hex into s->approval (and out of the environment). */
static int approval_arg(struct side *s)
{
	const char *hex = getenv("OSI_FLEET_APPROVAL");
	size_t n = 0;

	if (!hex || sodium_hex2bin(s->approval, sizeof(s->approval), hex, strlen(hex), NULL, &n, NULL) < 0 ||
	    !n)
		return -EINVAL;
	s->approval_len = n;
	unsetenv("OSI_FLEET_APPROVAL");
	return 0;
}

int main(int argc, char **argv)
{
	const char *tok = getenv("OSI_MOVE_TOKEN");
	struct side s = { .mode = mode_of(argc > 1 ? argv[1] : NULL) };
	size_t n = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL); /* the agent gone, nobody hears the result */
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0 || !s.mode || mode_args(&s, argc, argv) < 0 ||
	    !tok || sodium_hex2bin(s.token, sizeof(s.token), tok, strlen(tok), NULL, &n, NULL) < 0 ||
	    n != sizeof(s.token) || !guest_name_valid(argv[2]))
		return failed("usage: service-vm-host-move out GUEST ADDR:PORT HELPER STATE_DIR TARGET | "
			      "in GUEST ADDR:PORT HELPER STATE_DIR TYPE MEMORY_BYTES VCPUS | "
			      "backup-out GUEST ADDR:PORT HELPER STATE_DIR BACKUP_ID | "
			      "backup-in GUEST ADDR:PORT HELPER STATE_DIR RESTORE_ID|- (token in OSI_MOVE_TOKEN)");
	unsetenv("OSI_MOVE_TOKEN");
	if ((n = (size_t)-bulk_priority()) != 0) /* every mode moves a guest's data in bulk */
		fprintf(stderr, "service-vm-host-move: runs at its usual priority: %s\n", strerror((int)n));
	if (backup_mode(&s) && approval_arg(&s) < 0)
		return failed("a backup transfer needs the fleet's approval in OSI_FLEET_APPROVAL");
	s.guest = argv[2];
	s.addr = argv[3];
	s.helper = argv[4];
	s.state_dir = argv[5];
	return s.mode->waiting ? move_in(&s) : move_out(&s);
}
