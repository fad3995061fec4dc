/* The operator API's listeners. Local clients on the Unix socket are trusted
 * by their kernel-verified credentials (root, or the fleet's own user); remote
 * clients must sign every request with the Ed25519 key of a trusted member,
 * over a transcript bound to this connection's random nonce and a sequence
 * number, so a captured request cannot be replayed on any connection. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service-vm-fleet/api.h"
#include "lib/fileio.h"
#include "service-vm-fleet/fleet.h"
#include "lib/log.h"
#include "service-vm-fleet/servers.h"
#include "lib/wire-frame.h"

#define MAX_CONNS 64
#define IDLE_MS 30000

struct conn {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	uv_timer_t idle;
	int open_handles;
	struct fleet *f;
	struct frame_reader rd;
	uint8_t nonce[API_NONCE_BYTES];
	uint64_t next_seq;
	bool local;
	bool admin;      /* TCP: the signer holds the admin role */
	bool refused;    /* a refusal is on its way: nothing more is read */
	char caller[64];
	uint8_t rbuf[16384];
};

struct write_req {
	uv_write_t req;
	uint8_t *data;
	bool close_after;
};

static uv_tcp_t tcp_listener;
static uv_pipe_t unix_listener;
static bool tcp_started, unix_started;
static unsigned nconns;

static void conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->open_handles)
		return;
	frame_reader_free(&c->rd);
	free(c);
	nconns--;
}

static void conn_close(struct conn *c)
{
	if (uv_is_closing(&c->h.handle))
		return;
	uv_close(&c->h.handle, conn_handle_closed);
	uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
}

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = req->handle->data;

	free(w->data);
	if (status < 0 || w->close_after)
		conn_close(c);
	free(w);
}

static void send_frame(struct conn *c, uint8_t *frame, size_t len, bool close_after)
{
	struct write_req *w = calloc(1, sizeof(*w));
	uv_buf_t b = uv_buf_init((char *)frame, (unsigned)len);

	if (!w) {
		free(frame);
		conn_close(c);
		return;
	}
	w->data = frame;
	w->close_after = close_after;
	if (uv_write(&w->req, &c->h.stream, &b, 1, on_written) < 0) {
		free(frame);
		free(w);
		conn_close(c);
	}
}

static void send_json(struct conn *c, json_t *reply, bool close_after)
{
	char *text = json_dumps(reply, JSON_COMPACT);
	uint8_t *frame;
	size_t len;

	json_decref(reply);
	if (!text || frame_build_plain(FRAME_REPLY, text, strlen(text), &frame, &len) < 0) {
		free(text);
		conn_close(c);
		return;
	}
	free(text);
	send_frame(c, frame, len, close_after);
}

static void refuse(struct conn *c, const char *why)
{
	c->refused = true;
	uv_read_stop(&c->h.stream);
	c->f->api_rejected++;
	log_warn("api: refused %s: %s", c->caller, why);
	send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error", why), true);
}

static void run_request(struct conn *c, const uint8_t *body, size_t len)
{
	char err[200];
	json_t *req = api_parse_request((const char *)body, len, err, sizeof(err));

	if (!req) {
		send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error", err), false);
		return;
	}
	/* Over the network, changing anything takes the admin role; looking
	 * does not, so status works from every member. */
	if (!c->local && !c->admin && api_op_changes(req)) {
		send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error",
				       "this operation needs the admin role"), false);
		json_decref(req);
		return;
	}
	send_json(c, api_handle(c->f, req, c->caller), false);
	json_decref(req);
}

static void handle_signed(struct conn *c, const uint8_t *p, size_t len)
{
	struct frame_signed s;
	const struct trust_entry *m;

	if (frame_parse_signed(p, len, &s) < 0)
		return refuse(c, "malformed signed request");
	m = fleet_api_member(c->f, s.name);
	if (!m)
		return refuse(c, "signer is not a trusted member");
	if (s.seq != c->next_seq)
		return refuse(c, "request out of sequence");
	if (!api_verify(s.sig, m->sign_pk, c->nonce, s.seq, s.name, s.body, s.body_len))
		return refuse(c, "bad signature");
	c->next_seq++;
	c->admin = m->roles & TRUST_ROLE_ADMIN;
	snprintf(c->caller, sizeof(c->caller), "%s", s.name);
	run_request(c, s.body, s.body_len);
}

static void handle_payload(struct conn *c, const uint8_t *p, size_t len)
{
	if (c->local && p[0] == FRAME_LOCAL)
		return run_request(c, p + 1, len - 1);
	if (!c->local && p[0] == FRAME_SIGNED)
		return handle_signed(c, p, len);
	refuse(c, c->local ? "expected a local request frame" : "expected a signed request frame");
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	*buf = uv_buf_init((char *)c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	const uint8_t *p;
	size_t len;

	if (nread < 0)
		return conn_close(c);
	if (nread == 0)
		return;
	uv_timer_again(&c->idle);
	if (frame_reader_feed(&c->rd, (const uint8_t *)buf->base, (size_t)nread) < 0)
		return refuse(c, "frame too large");
	while (!c->refused && !uv_is_closing(&c->h.handle) && frame_reader_next(&c->rd, &p, &len) == 1)
		handle_payload(c, p, len);
}

static void on_idle(uv_timer_t *t)
{
	conn_close(t->data);
}

/* Only root or the fleet's own user may use the local socket. */
static int check_peer(struct conn *c)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	uv_os_fd_t fd;

	if (uv_fileno(&c->h.handle, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0)
		return -EPERM;
	snprintf(c->caller, sizeof(c->caller), "unix:uid=%u", (unsigned)cred.uid);
	if (cred.uid != 0 && cred.uid != geteuid())
		return -EPERM;
	return 0;
}

static void greet(struct conn *c)
{
	uint8_t *frame;
	size_t len;

	randombytes_buf(c->nonce, sizeof(c->nonce));
	if (frame_build_hello(c->nonce, &frame, &len) < 0)
		return conn_close(c);
	send_frame(c, frame, len, false);
	uv_read_start(&c->h.stream, on_alloc, on_read);
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct fleet *f = listener->data;
	bool local = listener == (uv_stream_t *)&unix_listener;
	struct conn *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->f = f;
	c->local = local;
	c->next_seq = 1;
	nconns++;
	frame_reader_init(&c->rd, FRAME_REQUEST_MAX);
	if (local)
		uv_pipe_init(listener->loop, &c->h.pipe, 0);
	else
		uv_tcp_init(listener->loop, &c->h.tcp);
	uv_timer_init(listener->loop, &c->idle);
	c->h.handle.data = c;
	c->idle.data = c;
	c->open_handles = 2;
	uv_timer_start(&c->idle, on_idle, IDLE_MS, IDLE_MS);
	if (uv_accept(listener, &c->h.stream) < 0)
		return conn_close(c);
	snprintf(c->caller, sizeof(c->caller), local ? "unix" : "tcp");
	if (nconns > MAX_CONNS)
		return refuse(c, "too many connections");
	if (local && check_peer(c) < 0)
		return refuse(c, "only root may use the local operator socket");
	greet(c);
}

static int start_unix(uv_loop_t *loop, struct fleet *f)
{
	const char *path = f->cfg.api_socket;
	char dir[PATH_MAX];
	char *slash;
	int ret;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir_p(dir, 0755);
	}
	unlink(path); /* a stale socket from a killed fleet */
	uv_pipe_init(loop, &unix_listener, 0);
	unix_listener.data = f;
	unix_started = true;
	ret = uv_pipe_bind(&unix_listener, path);
	if (ret == 0 && chmod(path, 0600) < 0)
		ret = -errno;
	if (ret == 0)
		ret = uv_listen((uv_stream_t *)&unix_listener, 16, on_connection);
	if (ret < 0)
		log_err("cannot listen on %s: %s", path, uv_strerror(ret));
	else
		log_info("operator api on unix %s", path);
	return ret;
}

static int start_tcp(uv_loop_t *loop, struct fleet *f)
{
	struct sockaddr_storage ss;
	int ret;

	if (server_resolve(f->cfg.api_listen, &ss) < 0) {
		log_err("api_listen '%s' is not a numeric host:port", f->cfg.api_listen);
		return -EINVAL;
	}
	uv_tcp_init(loop, &tcp_listener);
	tcp_listener.data = f;
	tcp_started = true;
	ret = uv_tcp_bind(&tcp_listener, (const struct sockaddr *)&ss, 0);
	if (ret == 0)
		ret = uv_listen((uv_stream_t *)&tcp_listener, 64, on_connection);
	if (ret < 0)
		log_err("cannot listen on %s: %s", f->cfg.api_listen, uv_strerror(ret));
	else
		log_info("operator api on tcp %s (signed requests)", f->cfg.api_listen);
	return ret;
}

int server_api_start(uv_loop_t *loop, struct fleet *f)
{
	int ret = 0;

	if (f->cfg.api_socket[0])
		ret = start_unix(loop, f);
	if (ret == 0 && f->cfg.api_listen[0])
		ret = start_tcp(loop, f);
	return ret;
}

void server_api_close(void)
{
	if (unix_started && !uv_is_closing((uv_handle_t *)&unix_listener))
		uv_close((uv_handle_t *)&unix_listener, NULL);
	if (tcp_started && !uv_is_closing((uv_handle_t *)&tcp_listener))
		uv_close((uv_handle_t *)&tcp_listener, NULL);
}
