/* Dispatch: the fleet hands a confirmed guest action to the node's
 * service-vm-host over TCP on the node's mesh address (where its heartbeats
 * come from). One connection per action: the agent greets with a nonce, the
 * fleet sends one request signed with its own key, and the agent answers
 * with progress frames until an end state, then closes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "service-vm-fleet/fleet.h"
#include "lib/log.h"
#include "service-vm-fleet/servers.h"
#include "lib/wire-frame.h"

#define DISPATCH_TIMEOUT_MS (15 * 60 * 1000) /* a TCG guest build is slow */

struct job {
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_timer_t timer;
	int open_handles;
	struct fleet *f;
	struct frame_reader rd;
	char guest[GUEST_NAME_MAX + 1];
	char action[16];
	char where[80];
	bool sent, finished;
	uint8_t rbuf[8192];
};

static uv_loop_t *loop;

static void job_closed(uv_handle_t *h)
{
	struct job *j = h->data;

	if (--j->open_handles == 0) {
		frame_reader_free(&j->rd);
		free(j);
	}
}

/* Ends the job; a creation that did not reach an end state is failed with
 * the reason. Other actions only log: the guest keeps its state. */
static void job_end(struct job *j, const char *failure)
{
	if (!j->finished && failure) {
		if (!strcmp(j->action, "create"))
			fleet_guest_progress(j->f, j->guest, GS_FAILED, failure, NULL);
		else
			log_warn("guest %s: %s failed: %s", j->guest, j->action, failure);
	}
	j->finished = true;
	if (!uv_is_closing((uv_handle_t *)&j->tcp)) {
		uv_close((uv_handle_t *)&j->tcp, job_closed);
		uv_close((uv_handle_t *)&j->timer, job_closed);
	}
}

struct write_req {
	uv_write_t req;
	struct job *job;
	uint8_t *frame;
};

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct job *j = w->job;

	free(w->frame);
	free(w);
	if (status < 0)
		job_end(j, "lost the node while sending the request");
}

static json_t *request_body(struct job *j)
{
	const struct guest *g = guests_find(&j->f->guests, j->guest);

	if (!g)
		return NULL;
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:I, s:I}}", "op", j->action, "node", g->node, "guest",
			 "name", g->name, "type", g->type, "memory_bytes", (json_int_t)g->memory_bytes,
			 "vcpus", (json_int_t)g->vcpus);
}

static int send_request(struct job *j, const uint8_t nonce[API_NONCE_BYTES])
{
	json_t *body = request_body(j);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct write_req *w = calloc(1, sizeof(*w));
	uint8_t sig[SIG_BYTES];
	uv_buf_t b;
	size_t len;
	int ret = -ENOMEM;

	json_decref(body);
	if (!text || !w)
		goto cleanup;
	ret = api_sign(sig, j->f->id.sign_sk, nonce, 1, j->f->id.name, (uint8_t *)text, strlen(text));
	if (ret == 0)
		ret = frame_build_signed(1, j->f->id.name, sig, text, strlen(text), &w->frame, &len);
	if (ret < 0)
		goto cleanup;
	w->job = j;
	b = uv_buf_init((char *)w->frame, (unsigned)len);
	ret = uv_write(&w->req, (uv_stream_t *)&j->tcp, &b, 1, on_written);
	if (ret == 0)
		w = NULL; /* on_written frees it and the frame */
cleanup:
	if (w)
		free(w->frame);
	free(w);
	free(text);
	return ret;
}

/* One progress frame: {"state":S,"detail":S?,"accel":S?} */
static void progress(struct job *j, const uint8_t *body, size_t len)
{
	json_t *m = json_loadb((const char *)body, len, 0, NULL);
	const char *st = json_string_value(json_object_get(m, "state"));
	enum guest_state s;

	if (!st || guest_state_parse(st, &s) < 0) {
		json_decref(m);
		return job_end(j, "the node sent a malformed progress report");
	}
	fleet_guest_progress(j->f, j->guest, s, json_string_value(json_object_get(m, "detail")),
			     json_string_value(json_object_get(m, "accel")));
	if (!guest_state_pending(s))
		j->finished = true;
	json_decref(m);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct job *j = s->data;
	uint8_t nonce[API_NONCE_BYTES];
	const uint8_t *p;
	size_t len;

	if (nread < 0)
		return job_end(j, "the node closed the connection before finishing");
	if (frame_reader_feed(&j->rd, (const uint8_t *)buf->base, (size_t)nread) < 0)
		return job_end(j, "the node sent an oversized frame");
	while (!uv_is_closing((uv_handle_t *)&j->tcp) && frame_reader_next(&j->rd, &p, &len) == 1) {
		if (!j->sent) {
			if (frame_parse_hello(p, len, nonce) < 0 || send_request(j, nonce) < 0)
				return job_end(j, "dispatch handshake with the node failed");
			j->sent = true;
		} else if (p[0] == FRAME_REPLY) {
			progress(j, p + 1, len - 1);
		}
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct job *j = h->data;

	*buf = uv_buf_init((char *)j->rbuf, sizeof(j->rbuf));
}

static void on_connect(uv_connect_t *c, int status)
{
	struct job *j = c->data;
	char why[160];

	if (status < 0) {
		snprintf(why, sizeof(why), "cannot reach the node's agent at %s: %s", j->where,
			 uv_strerror(status));
		return job_end(j, why);
	}
	uv_read_start((uv_stream_t *)&j->tcp, on_alloc, on_read);
}

static void on_timeout(uv_timer_t *t)
{
	job_end(t->data, "no end state from the node within 15 minutes");
}

static void dispatch(struct fleet *f, const struct guest *g, const char *action)
{
	const struct sockaddr_storage *at = fleet_node_addr(f, g->node);
	struct sockaddr_storage ss;
	char host[64] = "?";
	struct job *j;

	if (!at)
		return fleet_guest_progress(f, g->name, GS_FAILED,
					    "the node has not reported since the fleet started", NULL);
	j = calloc(1, sizeof(*j));
	if (!j)
		return fleet_guest_progress(f, g->name, GS_FAILED, "out of memory", NULL);
	ss = *at;
	((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)f->cfg.dispatch_port);
	uv_ip_name((struct sockaddr *)&ss, host, sizeof(host));
	snprintf(j->where, sizeof(j->where), "%s:%u", host, (unsigned)f->cfg.dispatch_port);
	j->f = f;
	snprintf(j->guest, sizeof(j->guest), "%s", g->name);
	snprintf(j->action, sizeof(j->action), "%s", action);
	frame_reader_init(&j->rd, FRAME_REQUEST_MAX);
	uv_tcp_init(loop, &j->tcp);
	uv_timer_init(loop, &j->timer);
	j->tcp.data = j->timer.data = j->connect.data = j;
	j->open_handles = 2;
	uv_timer_start(&j->timer, on_timeout, DISPATCH_TIMEOUT_MS, 0);
	log_info("dispatching %s of %s to %s at %s", action, g->name, g->node, j->where);
	if (uv_tcp_connect(&j->connect, &j->tcp, (struct sockaddr *)&ss, on_connect) < 0)
		job_end(j, "cannot open a connection to the node");
}

void server_dispatch_init(uv_loop_t *l, struct fleet *f)
{
	loop = l;
	f->dispatch = dispatch;
}
