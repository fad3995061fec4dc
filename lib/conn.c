#include "lib/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wire-frame.h"

/* A connection's stream and its timer count in open_handles; it is freed
 * when both close callbacks have run. */
struct conn {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	uv_timer_t timer;
	uv_connect_t connect;
	int open_handles;
	struct conn_limits lim;
	struct conn_cbs cbs;
	struct conn_listener *l;      /* NULL for a client */
	struct conn *prev, *next;     /* in l->conns */
	struct sockaddr_storage peer;
	bool tcp, have_peer, counted, uncapped;
	bool got_frame, want_read, ignore, reading, closing, close_pending, delivering;
	int why;
	uint64_t start_ms, last_ms;
	void *data;
	struct frame_reader rd;
	uint8_t rbuf[CONN_READ_BYTES];
};

struct conn_listener {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	struct conn_listener_opts o;
	bool tcp, closing, handle_closed;
	unsigned count;           /* connections within the caps */
	struct conn *conns;       /* every open connection, counted or not */
};

struct write_req {
	uv_write_t req;
	struct conn *c;
	uint8_t *data;
	bool close_after;
};

static void listener_maybe_free(struct conn_listener *l);

/* ---- deadlines ---- */

static uint64_t deadline(const struct conn *c)
{
	uint64_t d = UINT64_MAX;

	if (c->lim.lifetime_ms)
		d = c->start_ms + c->lim.lifetime_ms;
	if (!c->got_frame && c->lim.first_frame_ms && c->start_ms + c->lim.first_frame_ms < d)
		d = c->start_ms + c->lim.first_frame_ms;
	if (c->got_frame && c->lim.idle_ms && c->last_ms + c->lim.idle_ms < d)
		d = c->last_ms + c->lim.idle_ms;
	return d;
}

static void fail(struct conn *c, int why);

static void on_timer(uv_timer_t *t);

static void arm_timer(struct conn *c)
{
	uint64_t d = deadline(c), now = uv_now(c->timer.loop);

	if (c->closing)
		return;
	if (d == UINT64_MAX)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, on_timer, d > now ? d - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (uv_now(t->loop) >= deadline(c))
		fail(c, -ETIMEDOUT);
	else
		arm_timer(c);
}

/* ---- closing ---- */

static void unlink_conn(struct conn *c)
{
	struct conn_listener *l = c->l;

	if (!l)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->counted)
		l->count--;
	c->l = NULL;
	listener_maybe_free(l);
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->open_handles)
		return;
	unlink_conn(c);
	if (c->cbs.closed)
		c->cbs.closed(c, c->why);
	frame_reader_free(&c->rd);
	free(c);
}

void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->reading = false;
	uv_close(&c->h.handle, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void fail(struct conn *c, int why)
{
	if (c->closing)
		return;
	c->why = why;
	conn_close(c);
}

void conn_uncap(struct conn *c)
{
	c->uncapped = true;
}

bool conn_closing(const struct conn *c)
{
	return c->closing;
}

/* ---- reading ---- */

static bool queue_full(const struct conn *c)
{
	return c->lim.write_queue_max &&
	       uv_stream_get_write_queue_size(&c->h.stream) > c->lim.write_queue_max;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)hint;
	*buf = uv_buf_init((char *)c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* Hands out buffered frames while nothing holds them back, then reads or
 * not: a full write queue stops both until it drains. */
static void pump(struct conn *c)
{
	const uint8_t *p;
	size_t len;

	if (c->delivering || c->closing)
		return;
	c->delivering = true;
	while (!c->closing && c->want_read && !c->ignore && !queue_full(c) &&
	       frame_reader_next(&c->rd, &p, &len) == 1) {
		c->got_frame = true;
		c->last_ms = uv_now(c->timer.loop);
		c->cbs.frame(c, p, len);
	}
	c->delivering = false;
	if (c->closing)
		return;
	arm_timer(c);
	if (c->want_read && !queue_full(c)) {
		if (!c->reading && uv_read_start(&c->h.stream, on_alloc, on_read) == 0)
			c->reading = true;
	} else if (c->reading) {
		uv_read_stop(&c->h.stream);
		c->reading = false;
	}
}

static void oversized(struct conn *c)
{
	conn_read_stop(c);
	c->why = -EMSGSIZE;
	if (c->cbs.oversized)
		c->cbs.oversized(c);
	if (!c->close_pending)
		conn_close(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (n < 0)
		return fail(c, (int)n);
	if (n == 0 || c->ignore || !c->want_read)
		return;
	if (frame_reader_feed(&c->rd, (const uint8_t *)buf->base, (size_t)n) < 0)
		return oversized(c);
	pump(c);
}

void conn_set_frame_max(struct conn *c, size_t frame_max)
{
	c->lim.frame_max = frame_max;
	frame_reader_free(&c->rd);
	frame_reader_init(&c->rd, frame_max);
}

void conn_renew(struct conn *c)
{
	c->start_ms = uv_now(c->timer.loop);
	arm_timer(c);
}

void conn_read_stop(struct conn *c)
{
	c->want_read = false;
	if (c->reading && !c->closing)
		uv_read_stop(&c->h.stream);
	c->reading = false;
}

void conn_ignore_input(struct conn *c)
{
	c->ignore = true;
	frame_reader_free(&c->rd);
}

/* ---- writing ---- */

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->c;
	bool close_after = w->close_after;

	free(w->data);
	free(w);
	if (status < 0)
		return fail(c, status);
	if (close_after)
		return conn_close(c);
	c->last_ms = uv_now(c->timer.loop);
	pump(c);
}

int conn_send(struct conn *c, uint8_t *frame, size_t len, bool close_after)
{
	struct write_req *w;
	uv_buf_t b;
	int ret;

	if (c->closing) {
		free(frame);
		return -EPIPE;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		free(frame);
		fail(c, -ENOMEM);
		return -ENOMEM;
	}
	w->c = c;
	w->data = frame;
	w->close_after = close_after;
	if (close_after) {
		conn_read_stop(c);
		c->close_pending = true;
	}
	b = uv_buf_init((char *)frame, (unsigned)len);
	ret = uv_write(&w->req, &c->h.stream, &b, 1, on_written);
	if (ret < 0) {
		free(frame);
		free(w);
		fail(c, ret);
		return ret;
	}
	if (c->reading && queue_full(c)) {
		uv_read_stop(&c->h.stream);
		c->reading = false;
	}
	return 0;
}

/* ---- creating ---- */

/* A peer that leaves while a reply is being written must cost an EPIPE,
 * not the process: libuv writes without MSG_NOSIGNAL. */
static void ignore_sigpipe(void)
{
	static bool done;

	if (!done)
		signal(SIGPIPE, SIG_IGN);
	done = true;
}

static struct conn *conn_new(uv_loop_t *loop, const struct conn_limits *lim,
			     const struct conn_cbs *cbs, bool tcp)
{
	struct conn *c = calloc(1, sizeof(*c));

	ignore_sigpipe();
	if (!c)
		return NULL;
	c->lim = *lim;
	c->cbs = *cbs;
	c->tcp = tcp;
	c->want_read = true;
	frame_reader_init(&c->rd, lim->frame_max ? lim->frame_max : FRAME_REQUEST_MAX);
	if (tcp)
		uv_tcp_init(loop, &c->h.tcp);
	else
		uv_pipe_init(loop, &c->h.pipe, 0);
	uv_timer_init(loop, &c->timer);
	c->h.handle.data = c;
	c->timer.data = c;
	c->connect.data = c;
	c->open_handles = 2;
	c->start_ms = c->last_ms = uv_now(loop);
	arm_timer(c);
	return c;
}

static void on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;

	if (c->closing)
		return;
	if (c->cbs.connected)
		c->cbs.connected(c, status);
	if (status < 0)
		return fail(c, status);
	pump(c);
}

int conn_connect_tcp(uv_loop_t *loop, const struct sockaddr *addr, const struct conn_limits *lim,
		     const struct conn_cbs *cbs, void *data, struct conn **out)
{
	struct conn *c = conn_new(loop, lim, cbs, true);
	int ret;

	if (!c)
		return -ENOMEM;
	c->data = data;
	*out = c;
	ret = uv_tcp_connect(&c->connect, &c->h.tcp, addr, on_connect);
	if (ret < 0)
		fail(c, ret);
	return 0;
}

/* ---- listening ---- */

static bool same_source(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr));
	return false;
}

/* The oldest counted connection that has not delivered a frame, among all
 * (source NULL) or those from one address. */
static struct conn *oldest_silent(const struct conn_listener *l, const struct conn *c,
				  const struct sockaddr_storage *source)
{
	struct conn *found = NULL;

	for (struct conn *o = l->conns; o; o = o->next)
		if (o != c && o->counted && !o->got_frame && !o->closing && !o->uncapped &&
		    (!source || same_source(&o->peer, source)))
			found = o; /* the list is newest first */
	return found;
}

/* Makes room for c by closing a silent holder, if the listener allows. */
static bool evict_for(struct conn_listener *l, const struct conn *c, const char *why)
{
	bool per_source = why && strstr(why, "one address");
	struct conn *victim;

	if (!why || !l->o.evict_silent)
		return false;
	victim = oldest_silent(l, c, per_source ? &c->peer : NULL);
	if (!victim)
		return false;
	victim->counted = false;
	l->count--;
	conn_close(victim);
	return true;
}

static const char *over_cap(const struct conn_listener *l, const struct conn *c)
{
	unsigned same = 0;

	if (l->o.max_conns && l->count >= l->o.max_conns)
		return "too many connections";
	if (!c->have_peer || !l->o.max_per_source)
		return NULL;
	for (const struct conn *o = l->conns; o; o = o->next)
		if (o != c && o->counted && !o->uncapped && same_source(&o->peer, &c->peer))
			same++;
	return same >= l->o.max_per_source ? "too many connections from one address" : NULL;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct conn_listener *l = server->data;
	struct conn *c;
	const char *why;
	int len = sizeof(c->peer);

	if (status < 0 || l->closing)
		return;
	c = conn_new(server->loop, &l->o.limits, &l->o.cbs, l->tcp);
	if (!c)
		return;
	c->l = l;
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	if (uv_accept(server, &c->h.stream) < 0)
		return conn_close(c);
	if (l->tcp && uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&c->peer, &len) == 0)
		c->have_peer = true;
	why = over_cap(l, c);
	while (why && evict_for(l, c, why))
		why = over_cap(l, c);
	if (why) {
		conn_read_stop(c);
		if (l->o.over_cap)
			l->o.over_cap(c, l->o.ctx, why);
		if (!c->close_pending)
			conn_close(c);
		return;
	}
	c->counted = true;
	l->count++;
	if (l->o.accepted)
		l->o.accepted(c, l->o.ctx);
	pump(c);
}

static void listener_maybe_free(struct conn_listener *l)
{
	if (!l->closing || !l->handle_closed || l->conns)
		return;
	if (l->o.stopped)
		l->o.stopped(l->o.ctx);
	free(l);
}

static void listener_closed(uv_handle_t *h)
{
	struct conn_listener *l = h->data;

	l->handle_closed = true;
	listener_maybe_free(l);
}

static void listener_failed(uv_handle_t *h)
{
	free(h->data);
}

static int listen_common(struct conn_listener *l, int ret, struct conn_listener **out)
{
	if (ret == 0)
		ret = uv_listen(&l->h.stream, l->o.backlog > 0 ? l->o.backlog : 16, on_connection);
	if (ret < 0) {
		uv_close(&l->h.handle, listener_failed);
		return ret;
	}
	*out = l;
	return 0;
}

static struct conn_listener *listener_new(const struct conn_listener_opts *o, bool tcp)
{
	struct conn_listener *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->o = *o;
	l->tcp = tcp;
	l->h.handle.data = l;
	return l;
}

int conn_listen_tcp(uv_loop_t *loop, const struct sockaddr *addr,
		    const struct conn_listener_opts *o, struct conn_listener **out)
{
	struct conn_listener *l = listener_new(o, true);

	*out = NULL;
	if (!l)
		return -ENOMEM;
	uv_tcp_init(loop, &l->h.tcp);
	return listen_common(l, uv_tcp_bind(&l->h.tcp, addr, 0), out);
}

int conn_listen_unix(uv_loop_t *loop, const char *path, const struct conn_listener_opts *o,
		     struct conn_listener **out)
{
	struct conn_listener *l = listener_new(o, false);

	*out = NULL;
	if (!l)
		return -ENOMEM;
	uv_pipe_init(loop, &l->h.pipe, 0);
	return listen_common(l, uv_pipe_bind(&l->h.pipe, path), out);
}

void conn_listener_close(struct conn_listener *l)
{
	if (!l || l->closing)
		return;
	l->closing = true;
	uv_close(&l->h.handle, listener_closed);
	for (struct conn *c = l->conns; c; c = c->next)
		conn_close(c);
}

unsigned conn_listener_count(const struct conn_listener *l)
{
	return l ? l->count : 0;
}

int conn_listener_sockname(const struct conn_listener *l, struct sockaddr_storage *ss)
{
	int len = sizeof(*ss);

	if (!l->tcp)
		return -ENOTSOCK;
	return uv_tcp_getsockname(&l->h.tcp, (struct sockaddr *)ss, &len);
}

/* ---- accessors ---- */

void conn_set_data(struct conn *c, void *data)
{
	c->data = data;
}

void *conn_data(const struct conn *c)
{
	return c->data;
}

uv_stream_t *conn_stream(struct conn *c)
{
	return &c->h.stream;
}

uv_loop_t *conn_loop(const struct conn *c)
{
	return c->timer.loop;
}

int conn_peer(const struct conn *c, struct sockaddr_storage *ss)
{
	if (!c->have_peer)
		return -ENOTCONN;
	*ss = c->peer;
	return 0;
}

size_t conn_write_queue(const struct conn *c)
{
	return uv_stream_get_write_queue_size(&c->h.stream);
}

bool conn_reading(const struct conn *c)
{
	return c->reading;
}
