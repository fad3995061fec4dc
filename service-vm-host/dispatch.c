#include "service-vm-host/dispatch.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/guest-types.h"
#include "lib/log.h"
#include "lib/mesh.h"
#include "lib/trust.h"
#include "lib/units.h"
#include "lib/wire-frame.h"

#define HELPER "service-vm-host-virt"
#define IDLE_MS 10000
#define LINE_BYTES 2048
#define MAX_JOBS 16

struct dispatch {
	uv_tcp_t listener;
	const struct host_config *cfg;
	unsigned jobs;
	char helper[4096];
};

/* Every handle a job initialises counts once in open_handles and is closed
 * exactly once; the job is freed when the last close callback runs. */
struct job {
	uv_tcp_t tcp;
	uv_timer_t idle;
	uv_process_t proc;
	uv_pipe_t out;
	int open_handles;
	struct dispatch *d;
	struct frame_reader rd;
	uint8_t nonce[API_NONCE_BYTES];
	bool requested, running, ended, final_sent;
	char line[LINE_BYTES];
	size_t linelen;
	uint8_t rbuf[8192];
};

static void job_closed(uv_handle_t *h)
{
	struct job *j = h->data;

	if (--j->open_handles == 0) {
		j->d->jobs--;
		frame_reader_free(&j->rd);
		free(j);
	}
}

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, job_closed);
}

/* Ends the conversation with the fleet. A helper still working on an
 * unfinished request is stopped: nobody is left to hear its result. */
static void job_end(struct job *j)
{
	if (j->ended)
		return;
	j->ended = true;
	close_handle((uv_handle_t *)&j->tcp);
	close_handle((uv_handle_t *)&j->idle);
	if (j->running && !j->final_sent)
		uv_process_kill(&j->proc, SIGTERM);
}

struct write_req {
	uv_write_t req;
	struct job *job;
	uint8_t *frame;
	bool last;
};

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;

	if (status < 0 || w->last)
		job_end(w->job);
	free(w->frame);
	free(w);
}

static void send_reply(struct job *j, const char *json, bool last)
{
	struct write_req *w;
	size_t len;
	uv_buf_t b;

	if (j->ended)
		return;
	w = calloc(1, sizeof(*w));
	if (!w || frame_build_plain(FRAME_REPLY, json, strlen(json), &w->frame, &len) < 0) {
		free(w);
		return job_end(j);
	}
	w->job = j;
	w->last = last;
	b = uv_buf_init((char *)w->frame, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&j->tcp, &b, 1, on_written) < 0) {
		free(w->frame);
		free(w);
		job_end(j);
	}
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
					      "destroyed", "failed" };
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
	last = strcmp(st, "defining") && strcmp(st, "booting");
	j->final_sent = last;
	if (!strcmp(st, "failed"))
		log_warn("dispatch: %s", line);
	send_reply(j, line, last);
	json_decref(m);
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
		return close_handle((uv_handle_t *)&j->out);
	j->linelen += (size_t)n;
	j->line[j->linelen] = '\0';
	while ((nl = strchr(j->line, '\n'))) {
		*nl = '\0';
		relay_line(j, j->line);
		j->linelen -= (size_t)(nl + 1 - j->line);
		memmove(j->line, nl + 1, j->linelen + 1);
	}
	if (j->linelen >= sizeof(j->line) - 1)
		j->linelen = 0; /* an overlong line is dropped; the exit status still counts */
}

static void on_helper_exit(uv_process_t *p, int64_t status, int sig)
{
	struct job *j = p->data;
	char why[120];

	j->running = false;
	close_handle((uv_handle_t *)&j->proc);
	if (!j->final_sent) {
		snprintf(why, sizeof(why), "the provisioning helper ended (status %lld, signal %d) "
			 "without a result", (long long)status, sig);
		j->final_sent = true;
		send_failure(j, why);
	}
}

/* argv for the helper: options from the configuration, then the verb. */
static int spawn_helper(struct job *j, const char *op, const json_t *g)
{
	const struct host_config *c = j->d->cfg;
	char mem[24], cpus[12];
	const char *name = json_string_value(json_object_get(g, "name"));
	const char *type = json_string_value(json_object_get(g, "type"));
	char *args[24];
	int n = 0, ret;
	uv_stdio_container_t io[3];
	uv_process_options_t po = { 0 };

	snprintf(mem, sizeof(mem), "%lld", (long long)json_integer_value(json_object_get(g, "memory_bytes")));
	snprintf(cpus, sizeof(cpus), "%lld", (long long)json_integer_value(json_object_get(g, "vcpus")));
	args[n++] = j->d->helper;
	args[n++] = "--uri"; args[n++] = (char *)c->virt_uri;
	args[n++] = "--images"; args[n++] = (char *)c->images_dir;
	args[n++] = "--net"; args[n++] = (char *)c->guest_network;
	args[n++] = "--base"; args[n++] = (char *)c->base_image;
	args[n++] = "--owner"; args[n++] = (char *)c->name;
	if (c->pool_dir[0]) {
		args[n++] = "--pool-dir"; args[n++] = (char *)c->pool_dir;
	}
	if (c->console_dir[0]) {
		args[n++] = "--console-dir"; args[n++] = (char *)c->console_dir;
	}
	args[n++] = (char *)op;
	args[n++] = (char *)name;
	if (!strcmp(op, "create")) {
		args[n++] = (char *)type; args[n++] = mem; args[n++] = cpus;
	}
	args[n] = NULL;
	uv_pipe_init(j->tcp.loop, &j->out, 0);
	j->out.data = j;
	j->open_handles++;
	io[0].flags = UV_IGNORE;
	io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	io[1].data.stream = (uv_stream_t *)&j->out;
	io[2].flags = UV_INHERIT_FD;
	io[2].data.fd = 2;
	po.file = j->d->helper;
	po.args = args;
	po.stdio = io;
	po.stdio_count = 3;
	po.exit_cb = on_helper_exit;
	j->proc.data = j;
	ret = uv_spawn(j->tcp.loop, &j->proc, &po);
	/* libuv keeps the process handle on the loop even when the spawn fails:
	 * it must be closed like any other, or the freed job stays linked. */
	j->open_handles++;
	if (ret < 0) {
		close_handle((uv_handle_t *)&j->proc);
		close_handle((uv_handle_t *)&j->out);
		return ret;
	}
	j->running = true;
	log_info("dispatch: %s %s%s%s", op, name, type && !strcmp(op, "create") ? " as " : "",
		 type && !strcmp(op, "create") ? type : "");
	return uv_read_start((uv_stream_t *)&j->out, on_helper_alloc, on_helper_read);
}

/* {"op":"create"|"start"|"stop"|"destroy","node":N,
 *  "guest":{"name","type","memory_bytes","vcpus"}}: N must be this node, so a
 * request routed to the wrong host (a relay rewriting source addresses, say)
 * is refused rather than obeyed. */
static const char *check_request(const json_t *req, const char *self, const char **op,
				 const json_t **g)
{
	const char *name, *type, *node = json_string_value(json_object_get(req, "node"));
	json_int_t mem, cpus;

	if (!node || strcmp(node, self))
		return "request is for another node";
	*op = json_string_value(json_object_get(req, "op"));
	*g = json_object_get(req, "guest");
	name = json_string_value(json_object_get(*g, "name"));
	if (!*op || (strcmp(*op, "create") && strcmp(*op, "start") && strcmp(*op, "stop") &&
		     strcmp(*op, "destroy")))
		return "unknown operation";
	if (!name || !guest_name_valid(name))
		return "invalid guest name";
	if (strcmp(*op, "create"))
		return NULL;
	type = json_string_value(json_object_get(*g, "type"));
	mem = json_integer_value(json_object_get(*g, "memory_bytes"));
	cpus = json_integer_value(json_object_get(*g, "vcpus"));
	if (!guest_type_find(type))
		return "unknown guest type";
	if (mem < (32 << 20) || mem > (1LL << 42) || cpus < 1 || cpus > 256)
		return "guest size out of range";
	return NULL;
}

static void handle_request(struct job *j, const uint8_t *p, size_t len)
{
	struct trust_set ts = { 0 };
	const struct trust_entry *m;
	struct frame_signed s;
	const json_t *g;
	const char *op, *why = NULL;
	json_t *req = NULL;
	char err[256], source[PATH_MAX + 8];

	j->requested = true;
	if (frame_parse_signed(p, len, &s) < 0 || s.seq != 1)
		return refuse(j, "malformed request frame");
	if (mesh_trust_load(j->d->cfg->state_dir, j->d->cfg->trust_file, &ts, source,
			    sizeof(source), err, sizeof(err)) < 0)
		return refuse(j, "this node cannot read its ledger or trust file");
	m = trust_find(&ts, s.name);
	if (!m || !(m->roles & TRUST_ROLE_FLEET))
		why = "signer is not a fleet this node trusts";
	else if (!api_verify(s.sig, m->sign_pk, j->nonce, s.seq, s.name, s.body, s.body_len))
		why = "bad signature";
	trust_free(&ts);
	if (why)
		return refuse(j, why);
	req = json_loadb((const char *)s.body, s.body_len, JSON_REJECT_DUPLICATES, NULL);
	why = req ? check_request(req, j->d->cfg->name, &op, &g) : "request is not JSON";
	if (!why && spawn_helper(j, op, g) < 0)
		why = "cannot start the provisioning helper";
	json_decref(req);
	if (why)
		refuse(j, why);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct job *j = h->data;

	*buf = uv_buf_init((char *)j->rbuf, sizeof(j->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct job *j = s->data;
	const uint8_t *p;
	size_t len;

	if (n < 0)
		return job_end(j);
	if (j->requested)
		return; /* one request per connection */
	if (frame_reader_feed(&j->rd, (const uint8_t *)buf->base, (size_t)n) < 0)
		return refuse(j, "frame too large");
	if (frame_reader_next(&j->rd, &p, &len) == 1) {
		uv_timer_stop(&j->idle); /* a creation may take minutes */
		handle_request(j, p, len);
	}
}

static void on_idle(uv_timer_t *t)
{
	job_end(t->data);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct dispatch *d = l->data;
	struct job *j;
	uint8_t *hello;
	size_t len;

	if (status < 0 || !(j = calloc(1, sizeof(*j))))
		return;
	j->d = d;
	d->jobs++;
	frame_reader_init(&j->rd, FRAME_REQUEST_MAX);
	uv_tcp_init(l->loop, &j->tcp);
	uv_timer_init(l->loop, &j->idle);
	j->tcp.data = j->idle.data = j;
	j->open_handles = 2;
	if (uv_accept(l, (uv_stream_t *)&j->tcp) < 0 || d->jobs > MAX_JOBS)
		return job_end(j);
	uv_timer_start(&j->idle, on_idle, IDLE_MS, 0);
	randombytes_buf(j->nonce, sizeof(j->nonce));
	if (frame_build_hello(j->nonce, &hello, &len) < 0)
		return job_end(j);
	{
		struct write_req *w = calloc(1, sizeof(*w));
		uv_buf_t b = uv_buf_init((char *)hello, (unsigned)len);

		if (w) {
			w->job = j;
			w->frame = hello;
		}
		if (!w || uv_write(&w->req, (uv_stream_t *)&j->tcp, &b, 1, on_written) < 0) {
			free(w);
			free(hello);
			return job_end(j);
		}
	}
	uv_read_start((uv_stream_t *)&j->tcp, on_alloc, on_read);
}

static void free_dispatch(uv_handle_t *h)
{
	free(h->data);
}

static int helper_path(char *path, size_t size)
{
	size_t len = size;
	char *slash;

	if (uv_exepath(path, &len) < 0 || !(slash = strrchr(path, '/')))
		return -ENOENT;
	if ((size_t)(slash + 1 - path) + sizeof(HELPER) > size)
		return -ENAMETOOLONG;
	memcpy(slash + 1, HELPER, sizeof(HELPER));
	return 0;
}

int dispatch_start(uv_loop_t *loop, const struct host_config *cfg, struct dispatch **out)
{
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
	if (helper_path(d->helper, sizeof(d->helper)) < 0) {
		free(d);
		return -ENOENT;
	}
	uv_tcp_init(loop, &d->listener);
	d->listener.data = d;
	ret = uv_tcp_bind(&d->listener, (struct sockaddr *)&ss, 0);
	if (ret == 0)
		ret = uv_listen((uv_stream_t *)&d->listener, 16, on_connection);
	if (ret < 0) {
		log_err("cannot listen for dispatch on %s: %s", cfg->dispatch_listen, uv_strerror(ret));
		uv_close((uv_handle_t *)&d->listener, free_dispatch);
		return ret;
	}
	log_info("dispatch on tcp %s (requests signed by the fleet)", cfg->dispatch_listen);
	*out = d;
	return 0;
}

void dispatch_stop(struct dispatch *d)
{
	if (d && !uv_is_closing((uv_handle_t *)&d->listener))
		uv_close((uv_handle_t *)&d->listener, free_dispatch);
}
