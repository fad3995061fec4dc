/* The two parts of a backup's copy (backup-copies.h), each one dispatch
 * conversation with a node's agent, as a move's steps are (server-move.c):
 * the agent's greeting, one request signed by the fleet, progress frames
 * until an end state. backup-in goes to the target (listen on its mesh
 * address, port 7106), backup-out to the guest's node (send there the chain
 * ending at the backup). The backup never passes through the fleet. A part
 * whose copy ended (the other part failed, a node was evicted) is closed, so
 * its agent stops its mover at once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/conn.h"
#include "lib/firewall.h"
#include "lib/log.h"
#include "lib/wire-frame.h"
#include "service-vm-fleet/backup-copies.h"
#include "service-vm-fleet/fleet.h"
#include "service-vm-fleet/servers.h"

#define PART_LIFETIME_MS (60 * 60 * 1000) /* since the chain's bytes last grew */
#define PART_IDLE_MS (5 * 60 * 1000)      /* the movers report at least every minute */
#define PUMP_MS 2000
#define REPLY_MAX 8192

struct part {
	struct fleet *f;
	char guest[GUEST_NAME_MAX + 1];
	char token[65];         /* which copy of the guest this part belongs to */
	char node[NODE_NAME_MAX + 1];
	bool out, sent, finished;
	uint64_t renewed_at;    /* the bytes a reply reported when the lifetime last renewed */
	char *text;             /* the request */
	struct conn *c;
	struct part *next;
};

static uv_loop_t *loop;
static uv_timer_t pump_timer;
static struct part *active;

static struct backup_copy *copy_of(const struct part *p)
{
	struct backup_copy *bc = backup_copy_find(&p->f->copies, p->guest);

	return bc && !strcmp(bc->token, p->token) ? bc : NULL;
}

static void on_frame(struct conn *c, const uint8_t *p, size_t len)
{
	struct part *pt = conn_data(c);
	struct backup_copy *bc = copy_of(pt);
	uint8_t nonce[API_NONCE_BYTES];
	const char *state;
	json_t *m;

	if (!pt->sent) {
		if (frame_parse_hello(p, len, nonce) < 0 || server_send_signed(pt->f, c, nonce, pt->text) < 0)
			return conn_close(c);
		pt->sent = true;
		return;
	}
	if (p[0] != FRAME_REPLY || pt->finished)
		return;
	m = json_loadb((const char *)p + 1, len - 1, 0, NULL);
	state = json_string_value(json_object_get(m, "state"));
	if (state) {
		pt->finished = !strcmp(state, pt->out ? "sent" : "stored") || !strcmp(state, "failed");
		server_renew_on_progress(c, m, &pt->renewed_at);
		if (bc)
			backup_copy_line(bc, pt->out, m, clock_wall_s());
	}
	json_decref(m);
	if (pt->finished)
		conn_close(c);
}

static void on_closed(struct conn *c, int why)
{
	struct part *pt = conn_data(c), **p;
	struct backup_copy *bc = copy_of(pt);

	for (p = &active; *p; p = &(*p)->next)
		if (*p == pt) {
			*p = pt->next;
			break;
		}
	if (!pt->finished && bc)
		backup_copy_fail(bc, pt->node, why == -ETIMEDOUT ? "no answer in time" :
				 pt->sent ? "the agent closed the connection before an end state"
					  : "cannot reach the node's agent", clock_wall_s());
	if (bc && bc->state != COPY_SENDING)
		log_info("backup copy of %s (%s) from %s to %s: %s", bc->guest, bc->id, bc->source,
			 bc->target, bc->detail);
	free(pt->text);
	free(pt);
}

static json_t *request(const struct backup_copy *bc, bool out, const char *addr)
{
	json_t *m = out ? json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:s}}", "op", "backup-out",
				    "node", bc->source, "guest", "name", bc->guest, "move", "token",
				    bc->token, "peer", addr, "backup", bc->id)
			: json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s}}", "op", "backup-in", "node",
				    bc->target, "guest", "name", bc->guest, "move", "token", bc->token,
				    "listen", addr);

	if (m && !out && bc->restore[0])
		json_object_set_new(json_object_get(m, "move"), "restore", json_string(bc->restore));
	if (m && out) /* whom its helper seals an encrypted chain's keys to */
		json_object_set_new(m, "target", json_string(bc->target));
	if (m && !out && bc->keep)
		json_object_set_new(m, "keep", json_integer(bc->keep));
	if (m) /* the helper checks it too, and refuses a stale one */
		json_object_set_new(m, "issued", json_integer((json_int_t)clock_wall_s()));
	return m;
}

static int send_part(struct fleet *f, const struct backup_copy *bc, bool out)
{
	static const struct conn_cbs cbs = { .frame = on_frame, .closed = on_closed };
	const struct conn_limits lim = { .lifetime_ms = PART_LIFETIME_MS, .idle_ms = PART_IDLE_MS,
					 .frame_max = REPLY_MAX };
	const char *node = out ? bc->source : bc->target;
	const struct sockaddr_storage *at = fleet_node_addr(f, node), *tat = fleet_node_addr(f, bc->target);
	struct sockaddr_storage ss;
	char host[64], addr[80];
	struct part *pt;
	json_t *m;

	if (!at || !tat || uv_ip_name((const struct sockaddr *)tat, host, sizeof(host)) < 0)
		return -EHOSTUNREACH;
	snprintf(addr, sizeof(addr), "%s:%u", host, FW_PORT_MOVE);
	if (!(pt = calloc(1, sizeof(*pt))) || !(m = request(bc, out, addr))) {
		free(pt);
		return -ENOMEM;
	}
	pt->text = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	pt->f = f;
	pt->out = out;
	snprintf(pt->guest, sizeof(pt->guest), "%s", bc->guest);
	snprintf(pt->token, sizeof(pt->token), "%s", bc->token);
	snprintf(pt->node, sizeof(pt->node), "%s", node);
	ss = *at;
	((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)f->cfg.dispatch_port);
	if (!pt->text || conn_connect_tcp(loop, (struct sockaddr *)&ss, &lim, &cbs, pt, &pt->c) < 0) {
		free(pt->text);
		free(pt);
		return -ECONNREFUSED;
	}
	pt->next = active;
	active = pt;
	log_info("backup copy of %s (%s): %s to %s", bc->guest, bc->id, out ? "backup-out" : "backup-in",
		 node);
	return 0;
}

/* The receiving part first: the sender's mover retries its connection for
 * a minute while the target's mover starts listening. */
static int send_copy(struct fleet *f, struct backup_copy *bc)
{
	int ret = send_part(f, bc, false);

	if (ret == 0 && (ret = send_part(f, bc, true)) < 0)
		backup_copy_fail(bc, bc->source, "cannot reach the node's agent", clock_wall_s());
	return ret;
}

static void on_pump(uv_timer_t *t)
{
	(void)t;
	for (struct part *pt = active; pt; pt = pt->next) {
		const struct backup_copy *bc = copy_of(pt);

		if (!pt->finished && (!bc || bc->state != COPY_SENDING) && !conn_closing(pt->c))
			conn_close(pt->c);
	}
}

void server_backup_copy_init(uv_loop_t *l, struct fleet *f)
{
	loop = l;
	f->copy_send = send_copy;
	uv_timer_init(l, &pump_timer);
	pump_timer.data = f;
	uv_timer_start(&pump_timer, on_pump, PUMP_MS, PUMP_MS);
	uv_unref((uv_handle_t *)&pump_timer);
}
