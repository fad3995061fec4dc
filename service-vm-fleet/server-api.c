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
#include "lib/conn.h"
#include "lib/fileio.h"
#include "service-vm-fleet/fleet.h"
#include "lib/log.h"
#include "service-vm-fleet/servers.h"
#include "lib/wire-frame.h"

/* Local and remote clients have separate caps, so a flood over the network
 * never locks root out of the local socket; one address gets a share. */
#define MAX_LOCAL 32
#define MAX_REMOTE 64
#define MAX_PER_SOURCE 8
/* Absolute: trickled bytes do not extend it. */
#define FIRST_FRAME_MS 10000
#define IDLE_MS 30000
/* Past this many unsent reply bytes a client's requests wait unread. */
#define WRITE_QUEUE_MAX (1u << 20)

struct client {
	struct conn *c;
	struct fleet *f;
	uint8_t nonce[API_NONCE_BYTES];
	uint64_t next_seq;
	bool local;
	bool admin;      /* TCP: the signer holds the admin role */
	bool refused;    /* a refusal is on its way: nothing more is read */
	char caller[64];
};

static struct conn_listener *tcp_listener, *unix_listener;

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
	conn_send(c, frame, len, close_after);
}

static void refuse(struct client *cl, const char *why)
{
	cl->refused = true;
	cl->f->api_rejected++;
	log_warn("api: refused %s: %s", cl->caller, why);
	send_json(cl->c, json_pack("{s:b, s:s}", "ok", 0, "error", why), true);
}

static void run_request(struct client *cl, const uint8_t *body, size_t len)
{
	char err[200];
	json_t *req = api_parse_request((const char *)body, len, err, sizeof(err));
	const char *why;

	if (!req) {
		send_json(cl->c, json_pack("{s:b, s:s}", "ok", 0, "error", err), false);
		return;
	}
	why = api_refusal(req, cl->local, cl->admin);
	if (why) {
		send_json(cl->c, json_pack("{s:b, s:s}", "ok", 0, "error", why), false);
		json_decref(req);
		return;
	}
	send_json(cl->c, api_handle(cl->f, req, cl->caller), false);
	json_decref(req);
}

static void handle_signed(struct client *cl, const uint8_t *p, size_t len)
{
	struct frame_signed s;
	const struct trust_entry *m;

	if (frame_parse_signed(p, len, &s) < 0)
		return refuse(cl, "malformed signed request");
	m = fleet_api_member(cl->f, s.name);
	if (!m)
		return refuse(cl, "signer is not a trusted member");
	if (s.seq != cl->next_seq)
		return refuse(cl, "request out of sequence");
	if (!api_verify(s.sig, m->sign_pk, cl->nonce, s.seq, s.name, s.body, s.body_len))
		return refuse(cl, "bad signature");
	cl->next_seq++;
	cl->admin = m->roles & TRUST_ROLE_ADMIN;
	snprintf(cl->caller, sizeof(cl->caller), "%s", s.name);
	run_request(cl, s.body, s.body_len);
}

static void handle_payload(struct client *cl, const uint8_t *p, size_t len)
{
	if (cl->local && p[0] == FRAME_LOCAL)
		return run_request(cl, p + 1, len - 1);
	if (!cl->local && p[0] == FRAME_SIGNED)
		return handle_signed(cl, p, len);
	refuse(cl, cl->local ? "expected a local request frame" : "expected a signed request frame");
}

static void on_frame(struct conn *c, const uint8_t *p, size_t len)
{
	struct client *cl = conn_data(c);

	if (!cl->refused)
		handle_payload(cl, p, len);
}

static void on_oversized(struct conn *c)
{
	refuse(conn_data(c), "frame too large");
}

static void on_closed(struct conn *c, int why)
{
	free(conn_data(c));
}

/* Only root or the fleet's own user may use the local socket. */
static int check_peer(struct client *cl)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)conn_stream(cl->c), &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0)
		return -EPERM;
	snprintf(cl->caller, sizeof(cl->caller), "unix:uid=%u", (unsigned)cred.uid);
	if (cred.uid != 0 && cred.uid != geteuid())
		return -EPERM;
	return 0;
}

static void greet(struct client *cl)
{
	uint8_t *frame;
	size_t len;

	randombytes_buf(cl->nonce, sizeof(cl->nonce));
	if (frame_build_hello(cl->nonce, &frame, &len) < 0)
		return conn_close(cl->c);
	conn_send(cl->c, frame, len, false);
}

static void accepted(struct conn *c, struct fleet *f, bool local)
{
	struct client *cl = calloc(1, sizeof(*cl));

	if (!cl)
		return conn_close(c);
	cl->c = c;
	cl->f = f;
	cl->local = local;
	cl->next_seq = 1;
	conn_set_data(c, cl);
	snprintf(cl->caller, sizeof(cl->caller), local ? "unix" : "tcp");
	if (local && check_peer(cl) < 0)
		return refuse(cl, "only root may use the local operator socket");
	greet(cl);
}

static void on_local(struct conn *c, void *ctx)
{
	accepted(c, ctx, true);
}

static void on_remote(struct conn *c, void *ctx)
{
	accepted(c, ctx, false);
}

static void on_over_cap(struct conn *c, void *ctx, const char *why)
{
	struct fleet *f = ctx;

	f->api_rejected++;
	log_warn("api: refused a connection: %s", why);
	send_json(c, json_pack("{s:b, s:s}", "ok", 0, "error", why), true);
}

static struct conn_listener_opts listener_opts(struct fleet *f, bool local)
{
	struct conn_listener_opts o = {
		.max_conns = local ? MAX_LOCAL : MAX_REMOTE,
		.max_per_source = local ? 0 : MAX_PER_SOURCE,
		.evict_silent = true,
		.backlog = local ? 16 : 64,
		.limits = { .first_frame_ms = FIRST_FRAME_MS, .idle_ms = IDLE_MS,
			    .frame_max = FRAME_REQUEST_MAX, .write_queue_max = WRITE_QUEUE_MAX },
		.cbs = { .frame = on_frame, .oversized = on_oversized, .closed = on_closed },
		.accepted = local ? on_local : on_remote,
		.over_cap = on_over_cap,
		.ctx = f,
	};
	return o;
}

static int start_unix(uv_loop_t *loop, struct fleet *f)
{
	struct conn_listener_opts o = listener_opts(f, true);
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
	ret = conn_listen_unix(loop, path, &o, &unix_listener);
	if (ret == 0 && chmod(path, 0600) < 0)
		ret = -errno;
	if (ret < 0)
		log_err("cannot listen on %s: %s", path, uv_strerror(ret));
	else
		log_info("operator api on unix %s", path);
	return ret;
}

static int start_tcp(uv_loop_t *loop, struct fleet *f)
{
	struct conn_listener_opts o = listener_opts(f, false);
	struct sockaddr_storage ss;
	int ret;

	if (server_resolve(f->cfg.api_listen, &ss) < 0) {
		log_err("api_listen '%s' is not a numeric host:port", f->cfg.api_listen);
		return -EINVAL;
	}
	ret = conn_listen_tcp(loop, (const struct sockaddr *)&ss, &o, &tcp_listener);
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
	conn_listener_close(unix_listener);
	conn_listener_close(tcp_listener);
	unix_listener = tcp_listener = NULL;
}
