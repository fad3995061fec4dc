/* The fabric push: the fleet's table (every guest with a known address, the
 * zone, the published ports) goes to each live node's agent with the
 * dispatched verb "fabric", over the same handshake as any dispatch (the
 * agent greets with a nonce, the fleet signs its one request, one reply
 * frame: {"state":"fabric","denied":N,"guest_denied":M} or
 * {"state":"failed","detail":...}). Every CHECK_MS the table is built
 * again; a different text is a new generation, sent to every live node; a
 * node heard again (the fleet restarted, or it was evicted and came back)
 * has no generation and gets the current one; a failed push is retried
 * after RETRY_MS. A fleet that just started knows no address yet (they come
 * with the first "addresses" round, server-dispatch.c): it pushes nothing
 * for SETTLE_MS, so the nodes keep serving their cached tables meanwhile. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/clock.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/wire-frame.h"
#include "service-vm-fleet/fleet.h"
#include "service-vm-fleet/servers.h"

#define CHECK_MS 2000
#define RETRY_MS 10000
#define SETTLE_MS 25000 /* one addresses round (15 s) and its timeout (5 s), and some */
#define PUSH_TIMEOUT_MS 10000
#define REPLY_FRAME_MAX 4096

struct push {
	struct fleet *f;
	char node[NODE_NAME_MAX + 1];
	uint64_t gen;
	char *text;                /* the signed body */
	bool sent, done;
};

static uv_loop_t *loop;
static uv_timer_t timer;
static char *last_table;       /* the current generation's text */

static struct fabric_peer *peer(struct fleet *f, const char *node)
{
	return fabric_peer_get(&f->peers, &f->npeers, node);
}

static void push_closed(struct conn *c, int why)
{
	struct push *j = conn_data(c);
	struct fabric_peer *p = peer(j->f, j->node);

	if (p) {
		p->inflight = false;
		if (j->done) {
			p->sent_gen = j->gen;
		} else {
			p->retry_ns = clock_mono_ns() + RETRY_MS * NSEC_PER_MSEC;
			log_warn("fabric table not taken by %s (%s); retrying in %d s", j->node,
				 why ? uv_strerror(why) : "refused", RETRY_MS / 1000);
		}
	}
	free(j->text);
	free(j);
}

static int send_body(struct conn *c, struct push *j, const uint8_t nonce[API_NONCE_BYTES])
{
	return server_send_signed(j->f, c, nonce, j->text);
}

static void reply(struct push *j, const uint8_t *body, size_t len)
{
	json_t *m = json_loadb((const char *)body, len, 0, NULL);
	const char *st = json_string_value(json_object_get(m, "state"));
	const char *detail = json_string_value(json_object_get(m, "detail"));
	struct fabric_peer *p = peer(j->f, j->node);

	if (st && !strcmp(st, "fabric")) {
		j->done = true;
		fabric_peer_counters(p, m);
	} else if (detail && strstr(detail, "keeps no fabric table")) {
		j->done = true; /* a node outside the mesh: asked again on the next change */
		log_debug("%s keeps no fabric table", j->node);
	} else {
		log_warn("fabric table refused by %s: %s", j->node, detail ?: "no reason");
	}
	json_decref(m);
}

static void push_frame(struct conn *c, const uint8_t *p, size_t len)
{
	struct push *j = conn_data(c);
	uint8_t nonce[API_NONCE_BYTES];

	if (!j->sent) {
		if (frame_parse_hello(p, len, nonce) < 0 || send_body(c, j, nonce) < 0)
			return conn_close(c);
		j->sent = true;
	} else if (p[0] == FRAME_REPLY) {
		reply(j, p + 1, len - 1);
		conn_close(c);
	}
}

/* {"op":"fabric","node":N, the table's keys} */
static char *request_text(const char *node)
{
	json_t *o = json_loads(last_table, 0, NULL);
	char *text = NULL;

	if (o && !json_object_set_new(o, "op", json_string("fabric")) &&
	    !json_object_set_new(o, "node", json_string(node)))
		text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

static void push(struct fleet *f, struct fabric_peer *p)
{
	static const struct conn_cbs cbs = { .frame = push_frame, .closed = push_closed };
	const struct conn_limits lim = { .lifetime_ms = PUSH_TIMEOUT_MS,
					 .frame_max = REPLY_FRAME_MAX };
	const struct sockaddr_storage *at = fleet_node_addr(f, p->node);
	struct sockaddr_storage ss;
	struct push *j = calloc(1, sizeof(*j));
	struct conn *c;

	if (!j || !at || !(j->text = request_text(p->node)) ||
	    strlen(j->text) > FRAME_REQUEST_MAX - 1024) {
		if (j && j->text)
			log_warn("fabric table too large to push to %s", p->node);
		free(j ? j->text : NULL);
		free(j);
		return;
	}
	ss = *at;
	((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)f->cfg.dispatch_port);
	j->f = f;
	j->gen = f->fabric_gen;
	snprintf(j->node, sizeof(j->node), "%s", p->node);
	p->inflight = true;
	if (conn_connect_tcp(loop, (struct sockaddr *)&ss, &lim, &cbs, j, &c) < 0) {
		p->inflight = false;
		p->retry_ns = clock_mono_ns() + RETRY_MS * NSEC_PER_MSEC;
		free(j->text);
		free(j);
	}
}

/* A new text is a new generation. */
static void rebuild(struct fleet *f)
{
	struct fabric t;
	json_t *o;
	char *text;

	static bool said;

	if (fleet_fabric_build(&f->guests, &f->pubs, f->cfg.guest_zone, &t) < 0) {
		if (!said)
			log_err("guest_zone '%s' is not a zone of hostname labels: no fabric table "
				"is pushed", f->cfg.guest_zone);
		said = true;
		return;
	}
	o = fabric_to_json(&t);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	fabric_free(&t);
	if (!text || (last_table && !strcmp(text, last_table))) {
		free(text);
		return;
	}
	free(last_table);
	last_table = text;
	f->fabric_gen++;
	log_debug("fabric table generation %llu", (unsigned long long)f->fabric_gen);
}

static void on_timer(uv_timer_t *t)
{
	struct fleet *f = t->data;
	uint64_t now = clock_mono_ns();

	if (now - f->started_ns < SETTLE_MS * NSEC_PER_MSEC)
		return;
	rebuild(f);
	for (size_t i = 0; last_table && i < f->reg.count; i++) {
		const struct node *n = &f->reg.nodes[i];
		bool live = n->state == NODE_LIVE && n->heard && !n->revoked &&
			    fleet_node_addr(f, n->name);
		struct fabric_peer *p = peer(f, n->name);

		if (!p)
			return;
		if (!live || !p->live)
			p->sent_gen = 0; /* heard again: it gets the table anew */
		p->live = live;
		if (live && !p->inflight && p->sent_gen != f->fabric_gen && now >= p->retry_ns &&
		    (n->last.flags & HB_FLAG_DISPATCH))
			push(f, p);
	}
}

void server_fabric_init(uv_loop_t *l, struct fleet *f)
{
	loop = l;
	uv_timer_init(l, &timer);
	timer.data = f;
	uv_timer_start(&timer, on_timer, CHECK_MS, CHECK_MS);
	uv_unref((uv_handle_t *)&timer);
}
