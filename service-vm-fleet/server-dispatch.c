/* Dispatch: the fleet hands a confirmed guest action to the node's
 * service-vm-host over TCP on the node's mesh address (where its heartbeats
 * come from). One connection per action: the agent greets with a nonce, the
 * fleet sends one request signed with its own key, and the agent answers
 * with progress frames until an end state, then closes. Every
 * ADDRESSES_PERIOD_MS the fleet also asks every node it has heard (and not
 * revoked) for its guests ("addresses", read-only, the same handshake): one
 * reply frame with their addresses, the guests the node's libvirt holds (for
 * adoption, with their data volumes' size), its pool's free space (for a
 * move's plan) and the drop counters (docs/protocol.md, section 5). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/conn.h"
#include "lib/guest-ops.h"
#include "service-vm-fleet/adopt.h"
#include "service-vm-fleet/fleet.h"
#include "service-vm-fleet/guest-addr.h"
#include "service-vm-fleet/guest-agent-report.h"
#include "service-vm-fleet/move-room.h"
#include "lib/log.h"
#include "service-vm-fleet/servers.h"
#include "lib/wire-frame.h"

#define DISPATCH_TIMEOUT_MS (15 * 60 * 1000) /* a TCG guest build is slow */
#define REPLY_FRAME_MAX 8192 /* the greeting and progress reports (a helper line is under 2 KiB) */
#define ADDRESSES_PERIOD_MS 15000
#define ADDRESSES_TIMEOUT_MS 5000
#define ADDRESSES_FRAME_MAX (64 * 1024) /* up to PROBE_VMS_MAX guests */

struct job {
	struct fleet *f;
	char guest[GUEST_NAME_MAX + 1];
	char node[NODE_NAME_MAX + 1]; /* an "addresses" job's node */
	const struct guest_op_def *op;
	char where[80];
	const char *failure;  /* why the job ended early, if it did */
	char why[160];
	bool connected, sent, finished;
};

static uv_loop_t *loop;
static uv_timer_t addresses_timer;

/* A job that did not reach an end state failed with the reason: a creation
 * fails its guest; another action fails only itself (the guest keeps its
 * state, fleet_guest_progress tells them apart). */
static void job_failed(struct job *j, const char *failure)
{
	if (j->finished || !failure)
		return;
	if (j->op->op == GOP_ADDRESSES) {
		log_debug("guest addresses from %s: %s", j->node, failure);
		return;
	}
	fleet_guest_progress(j->f, j->guest, GS_FAILED, failure, NULL);
}

static void job_end(struct conn *c, const char *failure)
{
	struct job *j = conn_data(c);

	if (!j->failure)
		j->failure = failure;
	conn_close(c);
}

static void on_closed(struct conn *c, int why)
{
	struct job *j = conn_data(c);
	const char *failure = j->failure;

	if (!failure && why == -ETIMEDOUT)
		failure = "no end state from the node within 15 minutes";
	else if (!failure && why == -EMSGSIZE)
		failure = "the node sent an oversized frame";
	else if (!failure && !j->connected) {
		snprintf(j->why, sizeof(j->why), "cannot reach the node's agent at %s: %s", j->where,
			 uv_strerror(why));
		failure = j->why;
	} else if (!failure) {
		failure = "the node closed the connection before finishing";
	}
	job_failed(j, failure);
	free(j);
}

static json_t *request_body(struct job *j)
{
	const struct guest *g = guests_find(&j->f->guests, j->guest);

	if (j->op->op == GOP_ADDRESSES)
		return json_pack("{s:s, s:s}", "op", j->op->verb, "node", j->node);
	if (!g)
		return NULL;
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:I, s:I}}", "op", j->op->verb, "node", g->node,
			 "guest", "name", g->name, "type", g->type,
			 "memory_bytes", (json_int_t)g->memory_bytes, "vcpus", (json_int_t)g->vcpus);
}

static int send_request(struct conn *c, struct job *j, const uint8_t nonce[API_NONCE_BYTES])
{
	json_t *body = request_body(j);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int ret = text ? server_send_signed(j->f, c, nonce, text) : -ENOMEM;

	json_decref(body);
	free(text);
	return ret;
}

/* One progress frame: {"state":S,"detail":S?,"accel":S?} */
static void progress(struct conn *c, struct job *j, const uint8_t *body, size_t len)
{
	json_t *m = json_loadb((const char *)body, len, 0, NULL);
	const char *st = json_string_value(json_object_get(m, "state"));
	enum guest_state s;

	if (!st || guest_state_parse(st, &s) < 0) {
		json_decref(m);
		return job_end(c, "the node sent a malformed progress report");
	}
	fleet_guest_progress(j->f, j->guest, s, json_string_value(json_object_get(m, "detail")),
			     json_string_value(json_object_get(m, "accel")));
	if (!guest_state_pending(s))
		j->finished = true;
	json_decref(m);
}

/* The node's guests take the addresses it named; its others have none. */
static void addresses(struct conn *c, struct job *j, const uint8_t *body, size_t len)
{
	json_t *m = json_loadb((const char *)body, len, 0, NULL);
	const json_t *a = json_object_get(m, "addresses");

	if (json_is_object(a)) {
		fabric_peer_counters(fabric_peer_get(&j->f->peers, &j->f->npeers, j->node), m);
		if (json_object_get(m, "guests") &&
		    fleet_adopt_report(j->f, j->node, json_object_get(m, "guests"), clock_wall_s()) < 0)
			log_warn("guest inventory from %s refused: malformed", j->node);
		fleet_guest_addresses(j->f, j->node, a, clock_wall_s());
		fleet_room_report(j->f, j->node, m, clock_wall_s());
		if (guests_take_agent(&j->f->guests, j->node, json_object_get(m, "agent")))
			log_debug("guest agent report from %s: malformed entries dropped", j->node);
		j->finished = true;
	}
	json_decref(m);
	job_end(c, j->finished ? NULL : "the node sent a malformed addresses reply");
}

static void on_frame(struct conn *c, const uint8_t *p, size_t len)
{
	struct job *j = conn_data(c);
	uint8_t nonce[API_NONCE_BYTES];

	if (!j->sent) {
		if (frame_parse_hello(p, len, nonce) < 0 || send_request(c, j, nonce) < 0)
			return job_end(c, "dispatch handshake with the node failed");
		j->sent = true;
	} else if (p[0] == FRAME_REPLY && j->op->op == GOP_ADDRESSES) {
		addresses(c, j, p + 1, len - 1);
	} else if (p[0] == FRAME_REPLY) {
		progress(c, j, p + 1, len - 1);
	}
}

static void on_connected(struct conn *c, int status)
{
	struct job *j = conn_data(c);

	j->connected = status == 0;
}

/* Where the node's agent listens: its heartbeats' address, dispatch_port. */
static bool agent_at(struct fleet *f, const char *node, struct sockaddr_storage *ss, char *where,
		     size_t len)
{
	const struct sockaddr_storage *at = fleet_node_addr(f, node);
	char host[64] = "?";

	if (!at)
		return false;
	*ss = *at;
	((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)f->cfg.dispatch_port);
	uv_ip_name((struct sockaddr *)ss, host, sizeof(host));
	snprintf(where, len, "%s:%u", host, (unsigned)f->cfg.dispatch_port);
	return true;
}

static void dispatch(struct fleet *f, const struct guest *g, const char *action)
{
	static const struct conn_cbs cbs = { .frame = on_frame, .connected = on_connected,
					     .closed = on_closed };
	const struct conn_limits lim = { .lifetime_ms = DISPATCH_TIMEOUT_MS,
					 .frame_max = REPLY_FRAME_MAX };
	const struct guest_op_def *op = guest_op_find(action);
	struct sockaddr_storage ss;
	struct conn *c;
	struct job *j;

	if (!op || !op->dispatched || !op->helper_args)
		return fleet_guest_progress(f, g->name, GS_FAILED, "not an operation for a node", NULL);
	if (!fleet_node_addr(f, g->node))
		return fleet_guest_progress(f, g->name, GS_FAILED,
					    "the node has not reported since the fleet started", NULL);
	j = calloc(1, sizeof(*j));
	if (!j)
		return fleet_guest_progress(f, g->name, GS_FAILED, "out of memory", NULL);
	agent_at(f, g->node, &ss, j->where, sizeof(j->where));
	j->f = f;
	j->op = op;
	snprintf(j->guest, sizeof(j->guest), "%s", g->name);
	log_info("dispatching %s of %s to %s at %s", action, g->name, g->node, j->where);
	if (conn_connect_tcp(loop, (struct sockaddr *)&ss, &lim, &cbs, j, &c) < 0) {
		job_failed(j, "cannot open a connection to the node");
		free(j);
	}
}

static void ask_addresses(struct fleet *f, const char *node)
{
	static const struct conn_cbs cbs = { .frame = on_frame, .connected = on_connected,
					     .closed = on_closed };
	const struct conn_limits lim = { .lifetime_ms = ADDRESSES_TIMEOUT_MS,
					 .frame_max = ADDRESSES_FRAME_MAX };
	struct sockaddr_storage ss;
	struct conn *c;
	struct job *j = calloc(1, sizeof(*j));

	if (!j || !agent_at(f, node, &ss, j->where, sizeof(j->where))) {
		free(j);
		return;
	}
	j->f = f;
	j->op = guest_op_find("addresses");
	snprintf(j->node, sizeof(j->node), "%s", node);
	if (conn_connect_tcp(loop, (struct sockaddr *)&ss, &lim, &cbs, j, &c) < 0)
		free(j);
}

/* Every node heard since the start is asked: one the fleet knows no guest
 * of may hold guests a lost fleet.db listed. */
static void on_addresses_timer(uv_timer_t *t)
{
	struct fleet *f = t->data;

	for (size_t i = 0; i < f->reg.count; i++)
		if (f->reg.nodes[i].heard && !f->reg.nodes[i].revoked)
			ask_addresses(f, f->reg.nodes[i].name);
}

void server_dispatch_init(uv_loop_t *l, struct fleet *f)
{
	loop = l;
	f->dispatch = dispatch;
	uv_timer_init(l, &addresses_timer);
	addresses_timer.data = f;
	uv_timer_start(&addresses_timer, on_addresses_timer, ADDRESSES_PERIOD_MS, ADDRESSES_PERIOD_MS);
	uv_unref((uv_handle_t *)&addresses_timer);
}
