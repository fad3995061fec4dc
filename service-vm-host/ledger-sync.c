#include "service-vm-host/ledger-sync.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <sodium.h>

#include "lib/conn.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/mesh-sync.h"
#include "lib/mesh-wg.h"
#include "lib/mesh.h"
#include "lib/wg-if.h"
#include "lib/wire-frame.h"

#define MAX_CONNS 16
#define MAX_PER_SOURCE 4
#define CONN_TIMEOUT_MS 10000   /* absolute, from accept to the reply written */
#define PULL_TIMEOUT_MS 3000
/* A pushed ledger may be ahead of ours, but not by more than this. */
#define PUSH_GROWTH_BYTES (1u << 20)

struct ledger_sync {
	uv_loop_t *loop;
	const struct host_config *cfg;
	const struct identity *id;
	ledger_sync_changed_fn changed;
	void *ctx;
	struct mesh_conf conf;
	struct conn_listener *server;
	uv_timer_t timer;
	uv_work_t work;
	int open_handles;
	bool listening, working, stopping;
	pid_t wg_pid;
	uint8_t applied[LEDGER_HASH_BYTES], notified[LEDGER_HASH_BYTES];
	bool have_applied, have_notified, warned_revoked;
	/* results of the pull, written by the worker thread */
	char pull_from[NODE_NAME_MAX + 1];
	int pull_ret, pull_status;
	uint32_t pull_added;
	char pull_err[256];
};

static void maybe_free(struct ledger_sync *s)
{
	if (s->stopping && !s->open_handles && !s->working)
		free(s);
}

static void sync_handle_closed(uv_handle_t *h)
{
	struct ledger_sync *s = h->data;

	s->open_handles--;
	maybe_free(s);
}

/* ---- applying the ledger ---- */

static void apply_wg(struct ledger_sync *s, const struct ledger *l, const uint8_t head[])
{
	struct mesh_plan plan;
	char err[256] = "";
	int ret;

	if (s->have_applied && !memcmp(head, s->applied, LEDGER_HASH_BYTES))
		return;
	ret = mesh_plan(l, s->id->name, &plan);
	if (ret < 0) {
		log_err("ledger: cannot compute the peers: %s", strerror(-ret));
		return;
	}
	if (!plan.self && !s->warned_revoked) {
		log_warn("ledger: %s is no longer a live member; removing every peer", s->id->name);
		s->warned_revoked = true;
	}
	ret = mesh_apply(s->conf.interface, &plan, NULL, 0, err, sizeof(err));
	if (ret < 0) {
		log_warn("%s: cannot apply the peers: %s", s->conf.interface, strerror(-ret));
	} else {
		if (err[0])
			log_warn("%s: %s", s->conf.interface, err);
		log_info("%s: %zu peers from the ledger (%zu entries)%s%s", s->conf.interface,
			 plan.count, l->count, plan.relay ? "; relaying" : "",
			 plan.unreachable ? "; some members have no path (no relay)" : "");
		memcpy(s->applied, head, LEDGER_HASH_BYTES);
		s->have_applied = true;
	}
	mesh_plan_free(&plan);
}

static void check_apply(struct ledger_sync *s)
{
	uint8_t head[LEDGER_HASH_BYTES];
	struct ledger l;
	char err[256];

	ledger_init(&l);
	if (mesh_ledger_load(s->cfg->state_dir, &l, err, sizeof(err)) < 0) {
		log_err("ledger: %s", err);
		goto cleanup;
	}
	ledger_head_hash(&l, head);
	apply_wg(s, &l, head);
	if (!s->have_notified || memcmp(head, s->notified, sizeof(head))) {
		memcpy(s->notified, head, sizeof(head));
		s->have_notified = true;
		s->changed(s->ctx);
	}
cleanup:
	ledger_free(&l);
}

/* ---- serving ---- */

/* One per connection: the nonce its request must sign. */
struct sync_client {
	struct ledger_sync *s;
	uint8_t nonce[SYNC_NONCE_BYTES];
};

static void log_served(const struct mesh_sync_served *o, const char *err)
{
	if (o->denied)
		log_warn("ledger sync: refused a %s: %s", o->push ? "push" : "request", err);
	else if (o->status == MESH_SYNC_ERROR)
		log_err("ledger sync: %s", err);
	else if (o->push && o->status != MESH_SYNC_OK && o->status != MESH_SYNC_STALE)
		log_warn("ledger sync: refused a ledger pushed by %s: %s%s%s", o->signer,
			 mesh_sync_status_text(o->status), err[0] ? ": " : "", err);
	if (o->added)
		log_info("ledger sync: took %u new entr%s from a push by %s", o->added,
			 o->added == 1 ? "y" : "ies", o->signer);
}

static void handle(struct conn *c, const uint8_t *p, size_t len)
{
	struct sync_client *cl = conn_data(c);
	struct ledger_sync *s = cl->s;
	struct mesh_sync_served o;
	char err[256] = "";

	if (mesh_sync_serve(s->cfg->state_dir, cl->nonce, p, len, &o, err, sizeof(err)) < 0)
		return conn_close(c);
	log_served(&o, err);
	conn_send(c, o.frame, o.frame_len, true);
	/* Also when nothing was added: a command on this node may have
	 * written the file itself and pushed to us to say so. */
	if (o.push && !o.denied)
		check_apply(s);
}

/* One request per connection. */
static void on_frame(struct conn *c, const uint8_t *p, size_t len)
{
	conn_read_stop(c);
	handle(c, p, len);
}

static void on_closed(struct conn *c, int why)
{
	(void)why;
	free(conn_data(c));
}

/* The largest request worth reading: our own ledger's size and room to
 * grow, never the format's 32 MiB ceiling for a ledger of a few entries. */
static size_t frame_max(const struct ledger_sync *s)
{
	char path[PATH_MAX];
	struct stat st;
	uint64_t max;

	if (mesh_path(s->cfg->state_dir, MESH_LEDGER_FILE, path) < 0 || stat(path, &st) < 0)
		st.st_size = 0;
	max = MESH_SYNC_REQUEST_HEAD_MAX + 2 * (uint64_t)st.st_size + PUSH_GROWTH_BYTES;
	return max < MESH_SYNC_FRAME_MAX ? (size_t)max : MESH_SYNC_FRAME_MAX;
}

/* The challenge goes first: the request must sign its nonce. */
static void on_accepted(struct conn *c, void *ctx)
{
	struct sync_client *cl = calloc(1, sizeof(*cl));
	uint8_t *frame;
	size_t len;

	if (!cl)
		return conn_close(c);
	cl->s = ctx;
	conn_set_data(c, cl);
	conn_set_frame_max(c, frame_max(cl->s));
	randombytes_buf(cl->nonce, sizeof(cl->nonce));
	if (mesh_sync_build_challenge(cl->nonce, &frame, &len) < 0)
		return conn_close(c);
	conn_send(c, frame, len, false);
}

static void on_stopped(void *ctx)
{
	struct ledger_sync *s = ctx;

	s->open_handles--;
	maybe_free(s);
}

/* On this member's own mesh address only: the underlay never sees it. */
static void try_listen(struct ledger_sync *s)
{
	struct conn_listener_opts o = {
		.max_conns = MAX_CONNS,
		.max_per_source = MAX_PER_SOURCE,
		.evict_silent = true,
		.backlog = 16,
		.limits = { .first_frame_ms = CONN_TIMEOUT_MS, .lifetime_ms = CONN_TIMEOUT_MS,
			    .frame_max = MESH_SYNC_FRAME_MAX },
		.cbs = { .frame = on_frame, .closed = on_closed },
		.accepted = on_accepted,
		.stopped = on_stopped,
		.ctx = s,
	};
	struct ledger_member const *me;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(MESH_SYNC_PORT) };
	struct ledger l;
	char err[256], addr[16];
	int ret;

	ledger_init(&l);
	ret = mesh_ledger_load(s->cfg->state_dir, &l, err, sizeof(err));
	me = ret == 0 ? ledger_find(&l, s->id->name) : NULL;
	if (!me || me->revoked)
		goto cleanup;
	sin.sin_addr.s_addr = htonl(me->addr);
	ledger_addr_format(me->addr, addr);
	ret = conn_listen_tcp(s->loop, (struct sockaddr *)&sin, &o, &s->server);
	if (ret < 0) {
		log_warn("ledger sync: cannot listen on %s:%d yet: %s", addr, MESH_SYNC_PORT,
			 uv_strerror(ret));
	} else {
		s->open_handles++;
		s->listening = true;
		log_info("ledger sync: serving on %s:%d", addr, MESH_SYNC_PORT);
	}
cleanup:
	ledger_free(&l);
}

/* ---- the interface and the pull ---- */

static void ensure_interface(struct ledger_sync *s)
{
	struct ledger l;
	char err[256] = "";
	pid_t pid;
	int ret;

	if (s->wg_pid > 0 && waitpid(s->wg_pid, NULL, WNOHANG) == s->wg_pid) {
		log_warn("wireguard-go (pid %d) of %s exited", (int)s->wg_pid, s->conf.interface);
		s->wg_pid = 0;
	}
	if (wg_if_exists(s->conf.interface))
		return;
	ledger_init(&l);
	ret = mesh_ledger_load(s->cfg->state_dir, &l, err, sizeof(err));
	if (ret == 0)
		ret = mesh_up(s->cfg->state_dir, s->id, &l, -1, &pid, err, sizeof(err));
	if (ret < 0) {
		log_err("cannot bring up the mesh interface %s: %s", s->conf.interface, err);
	} else {
		s->wg_pid = pid;
		s->have_applied = false;
		if (pid)
			log_info("%s up from the stored state (wireguard-go pid %d)",
				 s->conf.interface, (int)pid);
		else
			log_info("%s up from the stored state", s->conf.interface);
		if (err[0])
			log_warn("%s: %s", s->conf.interface, err);
	}
	ledger_free(&l);
}

/* The sequencer's copy first: every other is a prefix of it. */
static void pull_order(const struct ledger *l, const struct ledger_member **order, size_t *n)
{
	const struct ledger_member *m, *seq = ledger_sequencer(l);
	size_t count, start;

	*n = 0;
	if (ledger_members(l, &m, &count) < 0 || !count)
		return;
	if (seq)
		order[(*n)++] = seq;
	start = randombytes_uniform((uint32_t)count);
	for (size_t k = 0; k < count; k++) {
		const struct ledger_member *p = &m[(start + k) % count];

		if (!p->revoked && p != seq)
			order[(*n)++] = p;
	}
}

static void pull_work(uv_work_t *w)
{
	struct ledger_sync *s = w->data;
	const struct ledger_member **order = NULL;
	struct mesh_sync_reply r;
	struct ledger l;
	char addr[16];
	size_t n = 0;

	s->pull_ret = -ENOENT;
	s->pull_from[0] = '\0';
	s->pull_err[0] = '\0';
	ledger_init(&l);
	if (mesh_ledger_load(s->cfg->state_dir, &l, s->pull_err, sizeof(s->pull_err)) < 0)
		goto cleanup;
	order = calloc(l.count + 1, sizeof(*order));
	if (!order)
		goto cleanup;
	pull_order(&l, order, &n);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(order[i]->name, s->id->name))
			continue;
		ledger_addr_format(order[i]->addr, addr);
		if (mesh_sync_call(addr, MESH_SYNC_PORT, s->id, NULL, 0, PULL_TIMEOUT_MS, &r,
				   s->pull_err, sizeof(s->pull_err)) < 0)
			continue;
		/* A member that does not know us yet: the next one may. */
		if (r.status == MESH_SYNC_DENIED) {
			snprintf(s->pull_err, sizeof(s->pull_err), "%s: %s", order[i]->name,
				 mesh_sync_status_text(r.status));
			mesh_sync_reply_free(&r);
			continue;
		}
		memcpy(s->pull_from, order[i]->name, sizeof(s->pull_from));
		s->pull_ret = r.ledger ? mesh_sync_merge(s->cfg->state_dir, r.ledger, r.len,
							  &s->pull_status, &s->pull_added, NULL,
							  NULL, s->pull_err, sizeof(s->pull_err))
				       : -ENODATA;
		mesh_sync_reply_free(&r);
		break;
	}
cleanup:
	free(order);
	ledger_free(&l);
}

static void pull_done(uv_work_t *w, int status)
{
	struct ledger_sync *s = w->data;

	s->working = false;
	if (s->stopping)
		return maybe_free(s);
	if (s->pull_ret == 0 && s->pull_added)
		log_info("ledger sync: pulled %u new entr%s from %s", s->pull_added,
			 s->pull_added == 1 ? "y" : "ies", s->pull_from);
	else if (s->pull_ret == 0 && s->pull_status == MESH_SYNC_FORK)
		log_err("ledger sync: %s holds a fork of our ledger: %s", s->pull_from, s->pull_err);
	else if (s->pull_ret < 0 && s->pull_from[0])
		log_warn("ledger sync: pull from %s failed: %s", s->pull_from, s->pull_err);
	else if (s->pull_ret < 0)
		log_debug("ledger sync: no peer answered (%s)", s->pull_err);
	check_apply(s);
}

static void on_timer(uv_timer_t *t)
{
	struct ledger_sync *s = t->data;

	ensure_interface(s);
	check_apply(s);
	if (!s->listening)
		try_listen(s);
	if (!s->working && uv_queue_work(s->loop, &s->work, pull_work, pull_done) == 0)
		s->working = true;
}

int ledger_sync_start(uv_loop_t *loop, const struct host_config *cfg, const struct identity *id,
		      ledger_sync_changed_fn changed, void *ctx, struct ledger_sync **out)
{
	struct ledger_sync *s = calloc(1, sizeof(*s));
	char err[256];
	int ret;

	if (!s)
		return -ENOMEM;
	ret = mesh_conf_load(cfg->state_dir, &s->conf, err, sizeof(err));
	if (ret < 0) {
		log_err("%s", err);
		free(s);
		return ret;
	}
	s->loop = loop;
	s->cfg = cfg;
	s->id = id;
	s->changed = changed;
	s->ctx = ctx;
	s->work.data = s;
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	s->open_handles++;
	*out = s;
	ensure_interface(s);
	check_apply(s);
	try_listen(s);
	return uv_timer_start(&s->timer, on_timer, 0, cfg->ledger_sync_interval_ms);
}

void ledger_sync_check(struct ledger_sync *s)
{
	if (s && !s->stopping)
		check_apply(s);
}

void ledger_sync_stop(struct ledger_sync *s)
{
	if (!s || s->stopping)
		return;
	s->stopping = true;
	uv_close((uv_handle_t *)&s->timer, sync_handle_closed);
	if (s->listening)
		conn_listener_close(s->server);
	/* A pull under way finishes on its own; pull_done frees. */
	if (s->working)
		uv_cancel((uv_req_t *)&s->work);
	maybe_free(s);
}
