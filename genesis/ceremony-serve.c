/* Serving a listening socket: several ceremonies at once, each in its own
 * thread, so that a connection that stalls holds only itself and a stream
 * of them cannot keep the real joiner out; a cap per source address keeps
 * one host from taking every place. */
#include "genesis/ceremony.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/clock.h"

struct worker {
	bool busy;          /* a thread runs, or ended and is not reaped yet */
	bool done;          /* atomic: the thread has ended */
	bool cut;           /* we shut the connection down */
	int keep;           /* our reference: shutdown() ends a stalled run */
	int fd;             /* the thread's, which the ceremony closes */
	int wake;           /* written once the thread ends */
	uint8_t src[16];    /* the peer's address, IPv4 as ::ffff:a.b.c.d */
	struct invitation_set *set;
	const struct ceremony_inviter_cfg *cfg;
	int ret;
	char err[CEREMONY_ERR_MAX * 2];
	pthread_t th;
};

struct server {
	struct worker w[CEREMONY_CONNS_MAX];
	int wake[2];
	const struct ceremony_serve_cfg *scfg;
	int last;           /* how the last run ended */
	bool admitted;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t one = 1;

	w->ret = ceremony_serve_fd(w->fd, w->set, w->cfg, w->err, sizeof(w->err));
	__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
	(void)!write(w->wake, &one, 1);
	return NULL;
}

static void source_of(const struct sockaddr_storage *ss, uint8_t src[16])
{
	memset(src, 0, 16);
	if (ss->ss_family == AF_INET6) {
		memcpy(src, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	} else if (ss->ss_family == AF_INET) {
		src[10] = src[11] = 0xff;
		memcpy(src + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}
}

static size_t running(const struct server *s, const uint8_t *src)
{
	size_t n = 0;

	for (size_t i = 0; i < CEREMONY_CONNS_MAX; ++i)
		n += s->w[i].busy && (!src || !memcmp(s->w[i].src, src, 16));
	return n;
}

/* Joins the threads that ended and reports each run. */
static void reap(struct server *s, bool all)
{
	for (size_t i = 0; i < CEREMONY_CONNS_MAX; ++i) {
		struct worker *w = &s->w[i];

		if (!w->busy || (!all && !__atomic_load_n(&w->done, __ATOMIC_ACQUIRE)))
			continue;
		pthread_join(w->th, NULL);
		close(w->keep);
		w->busy = false;
		if (w->ret == 0)
			s->admitted = true;
		else if (!w->cut)
			s->last = w->ret;
		if (!w->cut && s->scfg && s->scfg->ended)
			s->scfg->ended(s->scfg->ctx, w->ret, w->err);
	}
}

/* One more connection, unless its address has its share already. */
static void start(struct server *s, int lfd, struct invitation_set *set,
		  const struct ceremony_inviter_cfg *cfg)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);
	struct worker *w = NULL;
	uint8_t src[16];
	int fd, one = 1;

	fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	source_of(&ss, src);
	for (size_t i = 0; i < CEREMONY_CONNS_MAX && !w; ++i)
		w = s->w[i].busy ? NULL : &s->w[i];
	if (!w || running(s, src) >= CEREMONY_CONNS_PER_SOURCE) {
		close(fd);
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(w, 0, sizeof(*w));
	memcpy(w->src, src, sizeof(src));
	w->keep = fd;
	w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	w->wake = s->wake[1];
	w->set = set;
	w->cfg = cfg;
	if (w->fd < 0 || pthread_create(&w->th, NULL, worker_main, w) != 0) {
		if (w->fd >= 0)
			close(w->fd);
		close(fd);
		return;
	}
	w->busy = true;
}

static uint64_t until(const struct server *s, struct invitation_set *set)
{
	uint64_t next;

	if (s->scfg && s->scfg->until)
		return s->scfg->until(s->scfg->ctx);
	return invitation_pending(set, clock_mono_ns(), &next) ? next : 0;
}

/* Waits for a connection (if there is room and time) or a thread's end. */
static int wait_event(struct server *s, int lfd, uint64_t deadline)
{
	struct pollfd p[2] = { { .fd = s->wake[0], .events = POLLIN }, { .fd = lfd, .events = POLLIN } };
	uint64_t now = clock_mono_ns();
	nfds_t n = deadline && running(s, NULL) < CEREMONY_CONNS_MAX ? 2 : 1;
	int ms = -1, ret;
	uint8_t sink[64];

	if (n == 2)
		ms = now >= deadline ? 0 : (int)((deadline - now) / NSEC_PER_MSEC + 1);
	ret = poll(p, n, ms);
	if (ret < 0)
		return errno == EINTR ? 0 : -errno;
	if (p[0].revents)
		while (read(s->wake[0], sink, sizeof(sink)) > 0)
			;
	return n == 2 && p[1].revents ? 1 : 0;
}

int ceremony_serve(int listen_fd, struct invitation_set *set,
		   const struct ceremony_inviter_cfg *cfg, const struct ceremony_serve_cfg *scfg)
{
	struct server s = { .scfg = scfg, .last = -ETIMEDOUT };
	uint64_t deadline;
	int ret = 0;

	if (listen_fd < 0 || !set || !cfg)
		return -EINVAL;
	if (pipe2(s.wake, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	for (;;) {
		reap(&s, false);
		if (s.admitted)
			break;
		deadline = until(&s, set);
		if (!deadline && !running(&s, NULL))
			break;
		ret = wait_event(&s, listen_fd, deadline);
		if (ret < 0)
			break;
		if (ret > 0)
			start(&s, listen_fd, set, cfg);
		ret = 0;
	}
	/* Admitted, or a poll() failure: the other runs end now. */
	for (size_t i = 0; i < CEREMONY_CONNS_MAX; ++i) {
		if (s.w[i].busy && !__atomic_load_n(&s.w[i].done, __ATOMIC_ACQUIRE)) {
			s.w[i].cut = true;
			shutdown(s.w[i].keep, SHUT_RDWR);
		}
	}
	reap(&s, true);
	close(s.wake[0]);
	close(s.wake[1]);
	if (ret < 0)
		return ret;
	return s.admitted ? 0 : s.last;
}
