/* A cold move's requests to the nodes' agents (fleet-move.h): each step is
 * one dispatch conversation, as in server-dispatch.c (the agent's greeting,
 * one request signed by the fleet, progress frames until an end state).
 * move-out and move-in carry the transfer's token and the target's mesh
 * address on port 7106; the volumes never pass through the fleet. A timer
 * sends what the recorded moves need, so a move resumed after a restart
 * goes on once its nodes are heard. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/conn.h"
#include "lib/firewall.h"
#include "lib/guest-ops.h"
#include "lib/log.h"
#include "lib/wire-frame.h"
#include "service-vm-fleet/fleet-move.h"
#include "service-vm-fleet/servers.h"

#define MOVE_STEP_MS (60 * 60 * 1000) /* since the transfer's bytes last grew */
#define MOVE_IDLE_MS (5 * 60 * 1000)  /* a clean shutdown and an export say nothing meanwhile */
#define MOVE_PUMP_MS 2000
#define REPLY_MAX 8192

struct step {
	struct fleet *f;
	char guest[GUEST_NAME_MAX + 1];
	char node[NODE_NAME_MAX + 1];
	char token[MOVE_TOKEN_HEX + 1];
	char addr[64 + 8];      /* the target's transfer address, host:port */
	char target[NODE_NAME_MAX + 1];
	char type[16];          /* move-in: the guest as the fleet recorded and placed it */
	uint64_t memory_bytes;
	uint32_t vcpus;
	enum move_step s;
	bool sent, finished;
	uint64_t renewed_at;    /* the bytes a reply reported when the lifetime last renewed */
	struct conn *c;
	struct step *next;
};

static uv_loop_t *loop;
static uv_timer_t pump_timer;
static struct step *active; /* the conversations under way */

static json_t *body(const struct step *st)
{
	json_t *m = st->s == MS_IN ?
		json_pack("{s:s, s:s, s:{s:s, s:s, s:I, s:I}}", "op", move_step_verb(st->s),
			  "node", st->node, "guest", "name", st->guest, "type", st->type,
			  "memory_bytes", (json_int_t)st->memory_bytes,
			  "vcpus", (json_int_t)st->vcpus) :
		json_pack("{s:s, s:s, s:{s:s}}", "op", move_step_verb(st->s), "node", st->node,
			  "guest", "name", st->guest);

	if (m && st->s == MS_OUT)
		json_object_set_new(m, "move", json_pack("{s:s, s:s, s:s}", "token", st->token,
			"peer", st->addr, "target", st->target));
	else if (m && st->s == MS_IN)
		json_object_set_new(m, "move", json_pack("{s:s, s:s}", "token", st->token,
			"listen", st->addr));
	return m;
}

static int send_request(struct conn *c, struct step *st, const uint8_t nonce[API_NONCE_BYTES])
{
	json_t *m = body(st);
	char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	int ret = text ? server_send_signed(st->f, c, nonce, text) : -ENOMEM;

	json_decref(m);
	free(text);
	return ret;
}

static void on_frame(struct conn *c, const uint8_t *p, size_t len)
{
	struct step *st = conn_data(c);
	uint8_t nonce[API_NONCE_BYTES];
	json_t *m;
	const char *state;

	if (!st->sent) {
		if (frame_parse_hello(p, len, nonce) < 0 || send_request(c, st, nonce) < 0)
			return conn_close(c);
		st->sent = true;
		return;
	}
	if (p[0] != FRAME_REPLY || st->finished)
		return;
	m = json_loadb((const char *)p + 1, len - 1, 0, NULL);
	state = json_string_value(json_object_get(m, "state"));
	if (state) {
		const char *done = st->s == MS_START ? "running" :
				   guest_op_find(move_step_verb(st->s))->done_state;

		st->finished = !strcmp(state, done) || !strcmp(state, "failed");
		server_renew_on_progress(c, m, &st->renewed_at);
		fleet_move_line(st->f, st->guest, st->s, m);
	}
	json_decref(m);
	if (st->finished)
		conn_close(c);
}

static void on_closed(struct conn *c, int why)
{
	struct step *st = conn_data(c), **p;

	for (p = &active; *p; p = &(*p)->next)
		if (*p == st) {
			*p = st->next;
			break;
		}

	if (!st->finished)
		fleet_move_lost(st->f, st->guest, st->s, why == -ETIMEDOUT ? "no answer in time" :
				st->sent ? "the node's agent closed the connection before an end state"
					 : "cannot reach the node's agent");
	free(st);
}

static void send_step(struct fleet *f, struct move *mv, enum move_step s)
{
	static const struct conn_cbs cbs = { .frame = on_frame, .closed = on_closed };
	const struct conn_limits lim = { .lifetime_ms = MOVE_STEP_MS, .idle_ms = MOVE_IDLE_MS,
					 .frame_max = REPLY_MAX };
	const char *node = move_step_to_source(s) ? mv->source : mv->target;
	const struct sockaddr_storage *at = fleet_node_addr(f, node), *tat = fleet_node_addr(f, mv->target);
	const struct guest *g = guests_find(&f->guests, mv->guest); /* a move-in's approved spec */
	struct sockaddr_storage ss;
	struct step *st = calloc(1, sizeof(*st));
	char host[64] = "";
	struct conn *c;

	if (!st || !at || !tat || (s == MS_IN && !g) ||
	    uv_ip_name((const struct sockaddr *)tat, host, sizeof(host)) < 0) {
		free(st);
		mv->flying &= ~(1u << s);
		mv->want |= 1u << s;
		mv->retry_ns = clock_mono_ns() + 10ull * NSEC_PER_SEC;
		return;
	}
	st->f = f;
	st->s = s;
	snprintf(st->guest, sizeof(st->guest), "%s", mv->guest);
	snprintf(st->node, sizeof(st->node), "%s", node);
	snprintf(st->token, sizeof(st->token), "%s", mv->token);
	snprintf(st->target, sizeof(st->target), "%s", mv->target);
	snprintf(st->addr, sizeof(st->addr), "%s:%u", host, FW_PORT_MOVE);
	if (g) {
		snprintf(st->type, sizeof(st->type), "%s", g->type);
		st->memory_bytes = g->memory_bytes;
		st->vcpus = g->vcpus;
	}
	ss = *at;
	((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)f->cfg.dispatch_port);
	log_info("move of %s: %s to %s", mv->guest, move_step_verb(s), node);
	if (conn_connect_tcp(loop, (struct sockaddr *)&ss, &lim, &cbs, st, &c) < 0) {
		free(st);
		mv->flying &= ~(1u << s);
		mv->want |= 1u << s;
		mv->retry_ns = clock_mono_ns() + 10ull * NSEC_PER_SEC;
		return;
	}
	st->c = c;
	st->next = active;
	active = st;
}

/* A transfer step whose move no longer transfers (it is undone) is ended:
 * the agent then stops its mover, so a target still waiting for a source
 * that failed answers at once and its copy can be removed. */
static void end_stale(struct fleet *f)
{
	for (struct step *st = active, *next; st; st = next) {
		const struct move *mv = moves_find(&f->moves, st->guest);

		next = st->next;
		if ((st->s == MS_OUT || st->s == MS_IN) && !st->finished &&
		    (!mv || mv->phase != MP_TRANSFER) && !conn_closing(st->c))
			conn_close(st->c);
	}
}

static void on_pump(uv_timer_t *t)
{
	end_stale(t->data);
	fleet_moves_pump(t->data, clock_mono_ns());
}

void server_move_init(uv_loop_t *l, struct fleet *f)
{
	loop = l;
	f->move_send = send_step;
	uv_timer_init(l, &pump_timer);
	pump_timer.data = f;
	uv_timer_start(&pump_timer, on_pump, MOVE_PUMP_MS, MOVE_PUMP_MS);
	uv_unref((uv_handle_t *)&pump_timer);
}
