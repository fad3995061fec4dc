#include "service-vm-host/dispatch.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/conn.h"
#include "lib/log.h"
#include "lib/mesh.h"
#include "lib/trust.h"
#include "lib/units.h"
#include "lib/wire-frame.h"
#include "lib/fabric-msg.h"
#include "lib/firewall.h"
#include "service-vm-host/dispatch-check.h"
#include "service-vm-host/fleet-approval.h"
#include "service-vm-host/fabric.h"
#include "service-vm-host/helper-path.h"
#include "service-vm-host/helper-req.h"

#define LINE_BYTES 2048
/* The fleet sends its request as soon as it has the greeting. */
#define FIRST_FRAME_MS 5000
#define MAX_JOBS 32
#define MAX_PER_SOURCE 4        /* until the peer proves it is the fleet */
#define WRITE_QUEUE_MAX (256u * 1024)
#define TRUST_RELOAD_MS 1000    /* an unknown signer loads the ledger at most this often */

struct dispatch {
	struct conn_listener *listener;
	uv_loop_t *loop;
	const struct host_config *cfg;
	const struct guests *probe; /* the agent's guests probe */
	struct fabric_node *fabric;
	struct trust_set trust;   /* the fleets this node obeys, as last loaded */
	struct stat stamp[2];     /* the ledger and the trust file when loaded */
	uint64_t loaded_ms;
	bool stopping;
};

/* The connection and the helper's socket each count once in open_parts;
 * the job is freed when the last of them is closed. */
struct job {
	struct conn *c;
	uv_pipe_t out;
	int open_parts;
	struct dispatch *d;
	uint8_t nonce[API_NONCE_BYTES];
	bool requested, running, final_sent;
	bool mover;               /* a transfer: a service-vm-host-move, not the helper */
	uv_process_t proc;
	char guest[GUEST_NAME_MAX + 1];
	char verb[16];
	char line[LINE_BYTES];
	size_t linelen;
};

static void job_release(struct job *j)
{
	if (--j->open_parts == 0)
		free(j);
}

static void job_closed(uv_handle_t *h)
{
	job_release(h->data);
}

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, job_closed);
}

/* The conversation with the fleet is over. A helper still working on an
 * unfinished request is told so by closing its socket: nobody is left to
 * hear its result, and it rolls back a half-made guest (unless the agent
 * itself is stopping: then the helper finishes on its own). */
static void on_conn_closed(struct conn *c, int why)
{
	struct job *j = conn_data(c);

	(void)why;
	j->c = NULL;
	if (j->running && !j->final_sent && !j->d->stopping) {
		log_warn("dispatch: the fleet left during %s %s; closing the helper's socket "
			 "(it rolls back)", j->verb, j->guest);
		j->running = false;
		if (j->mover)
			uv_process_kill(&j->proc, SIGTERM);
		close_handle((uv_handle_t *)&j->out);
	}
	job_release(j);
}

static void job_end(struct job *j)
{
	if (j->c)
		conn_close(j->c);
}

static void send_reply(struct job *j, const char *json, bool last)
{
	uint8_t *frame;
	size_t len;

	if (!j->c || conn_closing(j->c))
		return;
	if (frame_build_plain(FRAME_REPLY, json, strlen(json), &frame, &len) < 0)
		return job_end(j);
	conn_send(j->c, frame, len, last);
}

static void send_failure(struct job *j, const char *why)
{
	json_t *m = json_pack("{s:s, s:s}", "state", "failed", "detail", why);
	char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;

	if (text)
		send_reply(j, text, true);
	else
		job_end(j);
	free(text);
	json_decref(m);
}

static void refuse(struct job *j, const char *why)
{
	log_warn("dispatch: refused a request: %s", why);
	send_failure(j, why);
}

/* A helper line is relayed only if it is one JSON object whose state the
 * fleet knows; the first end state closes the conversation once written. */
static void relay_line(struct job *j, const char *line)
{
	static const char *const states[] = { "defining", "booting", "running", "stopped",
					      "destroyed", "failed", "discarded", "committed",
					      "undefined", "released", "stopping", "waiting",
					      "moving", "importing", "sent", "defined", "packing",
					      "storing", "stored", "restoring" };
	json_t *m = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
	const char *st = json_string_value(json_object_get(m, "state"));
	bool known = false, last;

	for (size_t i = 0; st && i < sizeof(states) / sizeof(states[0]); i++)
		known = known || !strcmp(st, states[i]);
	if (!json_is_object(m) || !known || j->final_sent) {
		json_decref(m);
		if (!j->final_sent)
			send_failure(j, "the provisioning helper said something unexpected");
		j->final_sent = true;
		return;
	}
	last = strcmp(st, "defining") && strcmp(st, "booting") && strcmp(st, "stopping") &&
	       strcmp(st, "waiting") && strcmp(st, "moving") && strcmp(st, "importing") &&
	       strcmp(st, "packing") && strcmp(st, "storing") && strcmp(st, "restoring");
	j->final_sent = last;
	if (!strcmp(st, "failed"))
		log_warn("dispatch: %s", line);
	send_reply(j, line, last);
	json_decref(m);
}

/* The helper closed its end: it is done, whatever it said. */
static void helper_done(struct job *j)
{
	j->running = false;
	close_handle((uv_handle_t *)&j->out);
	if (!j->final_sent) {
		j->final_sent = true;
		send_failure(j, "the provisioning helper ended without a result");
	}
}

static void on_helper_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct job *j = h->data;

	*buf = uv_buf_init(j->line + j->linelen, (unsigned)(sizeof(j->line) - j->linelen - 1));
}

static void on_helper_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct job *j = s->data;
	char *nl;

	if (n < 0)
		return helper_done(j);
	j->linelen += (size_t)n;
	j->line[j->linelen] = '\0';
	while ((nl = strchr(j->line, '\n'))) {
		*nl = '\0';
		relay_line(j, j->line);
		j->linelen -= (size_t)(nl + 1 - j->line);
		memmove(j->line, nl + 1, j->linelen + 1);
	}
	if (j->linelen >= sizeof(j->line) - 1)
		j->linelen = 0; /* an overlong line is dropped */
}

/* The helper's socket: one fixed-size request (built and checked by
 * helper-req.c, checked again by the helper), then its progress lines. */
static int connect_helper(const char *path, const struct helper_req *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ret = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, req, sizeof(*req), MSG_NOSIGNAL) != (ssize_t)sizeof(*req))
		ret = errno ? -errno : -EIO;
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

static int ask_helper(struct job *j, const struct dispatch_req *r)
{
	const struct host_config *c = j->d->cfg;
	bool create = r->op->op == GOP_CREATE;
	struct helper_req req;
	int fd, ret;

	if (helper_req_build(&req, r->op, r->name, create ? r->type : NULL,
			     create ? r->memory_bytes : 0, create ? r->vcpus : 0) < 0)
		return -EINVAL;
	log_info("dispatch: %s %s%s%s", r->op->verb, r->name, create ? " as " : "",
		 create ? r->type : "");
	fd = connect_helper(c->virt_socket, &req);
	if (fd < 0) {
		log_warn("dispatch: cannot reach the provisioning helper at %s: %s", c->virt_socket,
			 strerror(-fd));
		return fd;
	}
	uv_pipe_init(conn_loop(j->c), &j->out, 0);
	j->out.data = j;
	j->open_parts++;
	ret = uv_pipe_open(&j->out, fd);
	if (ret < 0) {
		close(fd);
		close_handle((uv_handle_t *)&j->out);
		return ret;
	}
	j->running = true;
	snprintf(j->guest, sizeof(j->guest), "%s", r->name);
	snprintf(j->verb, sizeof(j->verb), "%s", r->op->verb);
	return uv_read_start((uv_stream_t *)&j->out, on_helper_alloc, on_helper_read);
}

/* ---- a move's transfer: service-vm-host-move, its stdout relayed ---- */

static void on_mover_exit(uv_process_t *p, int64_t status, int sig)
{
	(void)status;
	(void)sig;
	uv_close((uv_handle_t *)p, job_closed);
}

/* A backup verb's approval (fleet-approval.h) as OSI_FLEET_APPROVAL=HEX
 * into out (malloc'd), for the helper to check the fleet's signature itself;
 * NULL for the other transfers. -ENOMEM. */
static int approval_env(const struct job *j, const struct dispatch_req *r, const struct frame_signed *s,
			char **out)
{
	static const char key[] = "OSI_FLEET_APPROVAL=";
	uint8_t blob[APPROVAL_MAX];
	int n;

	*out = NULL;
	if (r->op->op != GOP_BACKUP_OUT && r->op->op != GOP_BACKUP_IN)
		return 0;
	if ((n = approval_pack(j->nonce, s, blob, sizeof(blob))) < 0)
		return n;
	if (!(*out = malloc(sizeof(key) + 2 * (size_t)n)))
		return -ENOMEM;
	memcpy(*out, key, sizeof(key) - 1);
	sodium_bin2hex(*out + sizeof(key) - 1, 2 * (size_t)n + 1, blob, (size_t)n);
	return 0;
}

static int spawn_mover(struct job *j, const struct dispatch_req *r, const struct frame_signed *s)
{
	extern char **environ;
	const struct host_config *c = j->d->cfg;
	char path[PATH_MAX], tok[80], *env[256], *args[10], mem[24], cpus[24], *approval = NULL;
	uv_process_options_t opts = { 0 };
	uv_stdio_container_t stdio[3];
	size_t n = 0;
	int ret;

	if ((ret = host_helper_path("service-vm-host-move", path, sizeof(path))) < 0 ||
	    (ret = approval_env(j, r, s, &approval)) < 0)
		return ret;
	snprintf(tok, sizeof(tok), "OSI_MOVE_TOKEN=%s", r->token);
	for (char **e = environ; *e && n < 253; e++)
		if (strncmp(*e, "OSI_MOVE_TOKEN=", 15) && strncmp(*e, "OSI_FLEET_APPROVAL=", 19))
			env[n++] = *e;
	env[n++] = tok;
	if (approval)
		env[n++] = approval;
	env[n] = NULL;
	args[0] = path;
	args[1] = r->op->op == GOP_MOVE_OUT ? "out" : r->op->op == GOP_MOVE_IN ? "in" : (char *)r->op->verb;
	args[2] = (char *)r->name;
	args[3] = (char *)r->addr;
	args[4] = (char *)c->virt_socket;
	args[5] = (char *)c->state_dir;
	args[6] = (char *)(r->target ? r->target : r->backup); /* move-out, backup-out */
	if (r->op->op == GOP_BACKUP_IN) /* the backup to restore from, or none */
		args[6] = (char *)(r->backup ? r->backup : "-");
	args[7] = NULL;
	if (r->op->op == GOP_MOVE_IN) {
		snprintf(mem, sizeof(mem), "%llu", (unsigned long long)r->memory_bytes);
		snprintf(cpus, sizeof(cpus), "%llu", (unsigned long long)r->vcpus);
		args[6] = (char *)r->type;
		args[7] = mem;
		args[8] = cpus;
	}
	args[9] = NULL;
	uv_pipe_init(conn_loop(j->c), &j->out, 0);
	j->out.data = j;
	j->open_parts++;
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&j->out;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = 2;
	opts.file = path;
	opts.args = args;
	opts.env = env;
	opts.exit_cb = on_mover_exit;
	opts.stdio = stdio;
	opts.stdio_count = 3;
	j->proc.data = j;
	ret = uv_spawn(conn_loop(j->c), &j->proc, &opts);
	sodium_memzero(tok, sizeof(tok));
	free(approval);
	j->open_parts++; /* the process handle, closed at exit (or now) */
	if (ret < 0) {
		uv_close((uv_handle_t *)&j->proc, job_closed);
		close_handle((uv_handle_t *)&j->out);
		return ret;
	}
	j->running = j->mover = true;
	snprintf(j->guest, sizeof(j->guest), "%s", r->name);
	snprintf(j->verb, sizeof(j->verb), "%s", r->op->verb);
	log_info("dispatch: %s %s (transfer %s)", r->op->verb, r->name, r->addr);
	return uv_read_start((uv_stream_t *)&j->out, on_helper_alloc, on_helper_read);
}

/* ---- whom to obey ---- */

static void file_stamp(const char *path, struct stat *st)
{
	if (stat(path, st) < 0)
		memset(st, 0, sizeof(*st));
}

static bool stamp_same(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void current_stamp(const struct dispatch *d, struct stat st[2])
{
	char path[PATH_MAX];

	if (mesh_path(d->cfg->state_dir, MESH_LEDGER_FILE, path) == 0)
		file_stamp(path, &st[0]);
	else
		memset(&st[0], 0, sizeof(st[0]));
	file_stamp(d->cfg->trust_file, &st[1]);
}

static int load_trust(void *ctx, struct trust_set *out)
{
	struct dispatch *d = ctx;
	char err[256], source[PATH_MAX + 8];
	int ret;

	current_stamp(d, d->stamp);
	d->loaded_ms = uv_now(d->loop);
	ret = mesh_trust_load(d->cfg->state_dir, d->cfg->trust_file, out, source, sizeof(source),
			      err, sizeof(err));
	if (ret < 0)
		log_warn("dispatch: cannot load %s: %s", source, ret == -EBADMSG ? err : strerror(-ret));
	return ret;
}

/* A change of the ledger or the trust file (a revocation, say) counts at
 * once; otherwise the set loaded before answers, so a stranger's request
 * costs no ledger load. */
static void refresh_trust(struct dispatch *d)
{
	struct trust_set fresh = { 0 };
	struct stat now[2];

	current_stamp(d, now);
	if (stamp_same(&now[0], &d->stamp[0]) && stamp_same(&now[1], &d->stamp[1]))
		return;
	if (load_trust(d, &fresh) == 0) {
		trust_free(&d->trust);
		d->trust = fresh;
	} else {
		trust_free(&d->trust); /* an unreadable ledger trusts nobody */
	}
}

static json_int_t json_bytes(uint64_t n)
{
	return n > INT64_MAX ? INT64_MAX : (json_int_t)n;
}

/* [{"name","type","state","vcpus","memory_kib","owner","instance_id",
 * "data_volumes"?,"data_bytes"?},...]: the project's domains the last probe
 * saw, for a fleet to adopt, and the size of each one's data volumes when
 * each was found (what a move would carry). */
static json_t *probe_inventory(const struct probe_result *r)
{
	json_t *list = json_array(), *e;

	for (unsigned i = 0; list && i < r->nvms; i++) {
		const struct probe_vm *v = &r->vms[i];

		e = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s}",
			"name", v->name, "type", v->type, "state", v->state,
			"vcpus", (json_int_t)v->vcpus, "memory_kib", (json_int_t)v->memory_kib,
			"owner", v->owner, "instance_id", v->instance_id);
		if (e && v->has_data) {
			json_object_set_new(e, "data_volumes", json_integer(v->data_volumes));
			json_object_set_new(e, "data_bytes", json_integer(json_bytes(v->data_bytes)));
		}
		json_array_append_new(list, e);
	}
	return list;
}

/* {GUEST:{IFNAME:[ADDRESS,...],...},...}: what the guests' agents reported
 * (the probe checked each address and bounded them per guest); NULL when
 * none did. */
static json_t *probe_agents(const struct probe_agent *ga, unsigned n)
{
	json_t *m = n ? json_object() : NULL;

	for (unsigned i = 0; m && i < n; i++) {
		const struct probe_agent *a = &ga[i];
		json_t *g = json_object_get(m, a->name), *list;

		if (!g && json_object_set_new(m, a->name, g = json_object()) < 0)
			g = NULL;
		list = g ? json_object_get(g, a->a.ifname) : NULL;
		if (g && !list && json_object_set_new(g, a->a.ifname, list = json_array()) < 0)
			list = NULL;
		if (!list || json_array_append_new(list, json_string(a->a.addr)) < 0) {
			json_decref(m);
			return NULL;
		}
	}
	return m;
}

/* {"addresses":{GUEST:IPV4,...},"guests":[...],"agent":{...},
 * "pool_free_bytes":N}: what the last guests probe learnt (no addresses, no
 * "guests", no "agent" and no "pool_free_bytes" when libvirt did not answer;
 * no "agent" when no guest's agent did; no "pool_free_bytes" when there is
 * no pool), then the connection ends. */
static const char *answer_addresses(struct job *j)
{
	const struct guests *g = j->d->probe;
	bool known = g && g->have_last && g->last.ok;
	json_t *m = json_object(), *a = json_object();
	static struct probe_agent ga[PROBE_AGENT_MAX];
	char *text = NULL;
	unsigned n;

	uint64_t c[2];

	for (unsigned i = 0; a && known && i < g->last.naddrs; i++)
		json_object_set_new(a, g->last.addrs[i].name, json_string(g->last.addrs[i].ipv4));
	if (m && known)
		json_object_set_new(m, "guests", probe_inventory(&g->last));
	if (m && known && g->last.has_pool)
		json_object_set_new(m, "pool_free_bytes", json_integer(json_bytes(g->last.pool_free)));
	if (m && known && (n = agent_ask_merge(&g->ask, &g->last, ga))) /* + the helper's */
		json_object_set_new(m, "agent", probe_agents(ga, n));
	if (m && fw_counters(&c[0], &c[1]) == 0) { /* the drop counters ride along */
		json_object_set_new(m, "denied", json_integer((json_int_t)c[0]));
		json_object_set_new(m, "guest_denied", json_integer((json_int_t)c[1]));
	}
	if (m && a && json_object_set(m, "addresses", a) == 0)
		text = json_dumps(m, JSON_COMPACT);
	json_decref(a);
	json_decref(m);
	if (!text)
		return "out of memory";
	send_reply(j, text, true);
	free(text);
	return NULL;
}

/* The fleet's fabric table: checked whole, stored, applied after the
 * reply; the reply carries the table's drop counters (-1: no table yet). */
static const char *answer_fabric(struct job *j, const json_t *req)
{
	struct fabric f;
	char err[256], *text;
	uint64_t c[2];
	bool have = fw_counters(&c[0], &c[1]) == 0;
	json_t *m;

	if (!j->d->fabric)
		return "this node keeps no fabric table";
	if (fabric_from_json(req, true, &f, err, sizeof(err)) < 0) {
		log_warn("dispatch: fabric table refused: %s", err);
		return "malformed fabric table";
	}
	if (fabric_node_push(j->d->fabric, &f, err, sizeof(err)) < 0) {
		fabric_free(&f);
		log_warn("dispatch: %s", err);
		return "cannot store the fabric table";
	}
	m = json_pack("{s:s, s:I, s:I}", "state", "fabric", "denied",
		      have ? (json_int_t)c[0] : -1, "guest_denied", have ? (json_int_t)c[1] : -1);
	text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	json_decref(m);
	if (!text)
		return "out of memory";
	send_reply(j, text, true);
	free(text);
	return NULL;
}

static void handle_request(struct job *j, const uint8_t *p, size_t len)
{
	struct dispatch *d = j->d;
	struct dispatch_req r;
	struct frame_signed s;
	const char *why;
	json_t *req;

	if (frame_parse_signed(p, len, &s) < 0 || s.seq != 1)
		return refuse(j, "malformed request frame");
	refresh_trust(d);
	why = dispatch_check_signer(&d->trust, &s, j->nonce,
				    uv_now(conn_loop(j->c)) - d->loaded_ms >= TRUST_RELOAD_MS,
				    load_trust, d);
	if (why)
		return refuse(j, why);
	conn_uncap(j->c);
	req = json_loadb((const char *)s.body, s.body_len, JSON_REJECT_DUPLICATES, NULL);
	why = req ? dispatch_check_request(req, d->cfg->name, &r) : "request is not JSON";
	if (!why && r.op->op == GOP_ADDRESSES)
		why = answer_addresses(j);
	else if (!why && r.op->op == GOP_FABRIC)
		why = answer_fabric(j, req);
	else if (!why && dispatch_transfer(r.op->op))
		why = spawn_mover(j, &r, &s) < 0 ? "cannot start the mover" : NULL;
	else if (!why && ask_helper(j, &r) < 0)
		why = "cannot start the provisioning helper";
	json_decref(req);
	if (why)
		refuse(j, why);
}

/* One request per connection; after it, what arrives is dropped, but the
 * fleet leaving is still seen (and stops the helper). */
static void on_frame(struct conn *c, const uint8_t *p, size_t len)
{
	struct job *j = conn_data(c);

	if (j->requested)
		return;
	j->requested = true;
	handle_request(j, p, len);
	conn_ignore_input(c); /* frees what p points into */
}

static void on_oversized(struct conn *c)
{
	refuse(conn_data(c), "frame too large");
}

static void on_accepted(struct conn *c, void *ctx)
{
	struct dispatch *d = ctx;
	struct job *j = calloc(1, sizeof(*j));
	uint8_t *hello;
	size_t len;

	if (!j)
		return conn_close(c);
	j->d = d;
	j->c = c;
	j->open_parts = 1;
	conn_set_data(c, j);
	randombytes_buf(j->nonce, sizeof(j->nonce));
	if (frame_build_hello(j->nonce, &hello, &len) < 0)
		return conn_close(c);
	conn_send(c, hello, len, false);
}

/* Over a cap: no job, nothing sent. */
static void on_closed(struct conn *c, int why)
{
	if (conn_data(c))
		on_conn_closed(c, why);
}

static void on_stopped(void *ctx)
{
	struct dispatch *d = ctx;

	trust_free(&d->trust);
	free(d);
}

int dispatch_start(uv_loop_t *loop, const struct host_config *cfg, const struct guests *probe,
		   struct fabric_node *fabric, struct dispatch **out)
{
	struct conn_listener_opts o = {
		.max_conns = MAX_JOBS,
		.max_per_source = MAX_PER_SOURCE,
		.evict_silent = true,
		.backlog = 16,
		.limits = { .first_frame_ms = FIRST_FRAME_MS, .frame_max = FRAME_REQUEST_MAX,
			    .write_queue_max = WRITE_QUEUE_MAX },
		.cbs = { .frame = on_frame, .oversized = on_oversized, .closed = on_closed },
		.accepted = on_accepted,
		.stopped = on_stopped,
	};
	struct sockaddr_storage ss;
	struct dispatch *d;
	char host[64];
	uint16_t port;
	int ret;

	*out = NULL;
	if (!cfg->dispatch_listen[0])
		return 0;
	if (parse_hostport(cfg->dispatch_listen, host, sizeof(host), &port) < 0 ||
	    (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) &&
	     uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss))) {
		log_err("dispatch_listen '%s' is not a numeric host:port", cfg->dispatch_listen);
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = cfg;
	d->probe = probe;
	d->fabric = fabric;
	d->loop = loop;
	o.ctx = d;
	ret = conn_listen_tcp(loop, (struct sockaddr *)&ss, &o, &d->listener);
	if (ret < 0) {
		log_err("cannot listen for dispatch on %s: %s", cfg->dispatch_listen, uv_strerror(ret));
		free(d);
		return ret;
	}
	log_info("dispatch on tcp %s (requests signed by the fleet)", cfg->dispatch_listen);
	*out = d;
	return 0;
}

void dispatch_stop(struct dispatch *d)
{
	if (d && !d->stopping) {
		d->stopping = true;
		d->fabric = NULL; /* stopped with the agent: a late push is refused */
		conn_listener_close(d->listener);
	}
}
