#include "service-vm-host/guest-probe.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "lib/guest-types.h"
#include "lib/log.h"
#include "service-vm-host/helper-path.h"

/* After the exit, how long stdout may stay open (held by a grandchild). */
#define GUESTS_GRACE_MS 1000

static const char *const daemon_sockets[] = {
	"/run/libvirt/libvirt-sock-ro",
	"/run/libvirt/virtqemud-sock-ro",
};

bool guests_socket_present(const char *uri)
{
	static const char system_suffix[] = ":///system";
	size_t n = strlen(uri), m = strlen(system_suffix);
	struct stat st;

	if (n < m || strcmp(uri + n - m, system_suffix))
		return true;
	for (size_t i = 0; i < sizeof(daemon_sockets) / sizeof(daemon_sockets[0]); i++) {
		if (stat(daemon_sockets[i], &st) == 0 && S_ISSOCK(st.st_mode))
			return true;
	}
	return false;
}

/* Logs changes only: a libvirt that keeps failing the same way says so once. */
static void record(struct guests *g, const struct probe_result *r)
{
	bool was_ok = g->have_last && g->last.ok;

	if (r->ok && !was_ok)
		log_info("libvirt answers: %" PRIu32 " guests running, %" PRIu64 " MiB",
			 r->running, r->memory_kib / 1024);
	else if (!r->ok && (was_ok || !g->have_last || strcmp(g->last.reason, r->reason)))
		log_warn("guests not counted: %s", r->reason);
	else if (r->ok)
		log_debug("libvirt: %" PRIu32 " guests, %" PRIu64 " KiB", r->running, r->memory_kib);
	g->last = *r;
	g->have_last = true;
	agent_ask_maybe(&g->ask, r);
}

static void __attribute__((format(printf, 2, 3))) fail(struct guests *g, const char *fmt, ...)
{
	struct probe_result r = { .ok = false };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r.reason, sizeof(r.reason), fmt, ap);
	va_end(ap);
	record(g, &r);
}

static void on_close(uv_handle_t *h)
{
	struct guests *g = h->data;

	g->open_handles--;
}

static void close_probe(struct guests *g)
{
	uv_timer_stop(&g->timer);
	uv_close((uv_handle_t *)&g->proc, on_close);
	uv_close((uv_handle_t *)&g->pipe, on_close);
	g->running = false;
}

static void finish(struct guests *g)
{
	struct probe_result r;
	bool parsed;

	if (!g->exited || !g->eof)
		return;
	parsed = parse_probe_line(g->buf, g->used, &r) == 0;
	if (g->timed_out)
		fail(g, "no answer from %s within %d s", g->uri, GUESTS_TIMEOUT_MS / 1000);
	else if (parsed && (!r.ok || g->exit_status == 0))
		record(g, &r);
	else if (g->term_signal)
		fail(g, "%s killed by signal %d", GUESTS_HELPER, g->term_signal);
	else
		fail(g, "%s exited with status %" PRId64 " without a valid answer",
		     GUESTS_HELPER, g->exit_status);
	close_probe(g);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct guests *g = h->data;

	/* A full buffer yields UV_ENOBUFS: the line was too long anyway. */
	*buf = uv_buf_init(g->buf + g->used, (unsigned)(sizeof(g->buf) - g->used));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct guests *g = s->data;

	if (n > 0) {
		g->used += (size_t)n;
		return;
	}
	if (n == 0)
		return;
	uv_read_stop(s);
	g->eof = true;
	finish(g);
}

static void on_timer(uv_timer_t *t)
{
	struct guests *g = t->data;

	if (!g->exited) {
		uv_process_kill(&g->proc, SIGKILL);
		g->timed_out = true;
		uv_timer_start(&g->timer, on_timer, GUESTS_GRACE_MS, 0);
		return;
	}
	uv_read_stop((uv_stream_t *)&g->pipe);
	g->eof = true;
	finish(g);
}

static void on_probe_exit(uv_process_t *p, int64_t status, int sig)
{
	struct guests *g = p->data;

	g->exited = true;
	g->exit_status = status;
	g->term_signal = sig;
	if (!g->eof)
		uv_timer_start(&g->timer, on_timer, GUESTS_GRACE_MS, 0);
	finish(g);
}

static int spawn(struct guests *g)
{
	char *args[2 + PROBE_BASES_MAX + 1] = { g->helper, g->uri };
	uv_process_options_t opts = { 0 };
	uv_stdio_container_t stdio[3];
	int ret;

	ret = uv_pipe_init(g->loop, &g->pipe, 0);
	if (ret < 0)
		return ret;
	g->pipe.data = g;
	g->proc.data = g;
	for (unsigned i = 0; i < g->nbases; i++)
		args[2 + i] = g->bases[i];
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&g->pipe;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = 2;
	opts.file = g->helper;
	opts.args = args;
	opts.exit_cb = on_probe_exit;
	opts.stdio = stdio;
	opts.stdio_count = 3;
	g->open_handles = 2;
	g->exited = g->eof = g->timed_out = false;
	g->used = 0;
	g->running = true;
	/* The process handle must be closed even when the spawn fails. */
	ret = uv_spawn(g->loop, &g->proc, &opts);
	if (ret < 0)
		goto cleanup;
	ret = uv_read_start((uv_stream_t *)&g->pipe, on_alloc, on_read);
	if (ret < 0) {
		uv_process_kill(&g->proc, SIGKILL);
		goto cleanup;
	}
	return uv_timer_start(&g->timer, on_timer, GUESTS_TIMEOUT_MS, 0);
cleanup:
	close_probe(g);
	return ret;
}

void guests_probe(struct guests *g)
{
	int ret;

	if (!g->uri[0] || g->running || g->open_handles)
		return;
	/* The loop's clock is monotonic; a little slack keeps a 10 s heartbeat
	 * from skipping every other probe when timers fire a few ms early. */
	if (g->started_once && uv_now(g->loop) + 100 < g->started_ms + GUESTS_PERIOD_MS)
		return;
	g->started_once = true;
	g->started_ms = uv_now(g->loop);
	if (!guests_socket_present(g->uri)) {
		fail(g, "no libvirt daemon socket (%s or %s)", daemon_sockets[0], daemon_sockets[1]);
		return;
	}
	ret = spawn(g);
	if (ret < 0)
		fail(g, "cannot run %s: %s", g->helper, uv_strerror(ret));
}

bool guests_last(const struct guests *g, uint32_t *running, uint64_t *memory_kib)
{
	if (!g->have_last || !g->last.ok)
		return false;
	*running = g->last.running;
	*memory_kib = g->last.memory_kib;
	return true;
}

bool guests_bases(const struct guests *g, uint32_t *mask)
{
	if (!g->have_last || !g->last.ok || !g->last.has_bases)
		return false;
	*mask = g->last.bases;
	return true;
}

static void manifest_base(const char *images_dir, const struct guest_type *t, char *out,
			  size_t len)
{
	char path[4096];
	json_error_t je;
	json_t *root;
	const char *base;

	snprintf(out, len, "-");
	if (snprintf(path, sizeof(path), "%s/%s", images_dir, t->manifest) >= (int)sizeof(path))
		return;
	root = json_load_file(path, 0, &je);
	base = json_string_value(json_object_get(root, "base_image"));
	if (base && base[0] && strlen(base) < len && !strchr(base, '/'))
		snprintf(out, len, "%s", base);
	else
		log_warn("%s: no base_image read (%s): %s guests are not offered as buildable",
			 path, root ? "no such key" : je.text, t->name);
	json_decref(root);
}

void guests_set_bases(struct guests *g, const char *images_dir, const char *override)
{
	g->nbases = GUEST_TYPE_COUNT < PROBE_BASES_MAX ? GUEST_TYPE_COUNT : PROBE_BASES_MAX;
	for (unsigned i = 0; i < g->nbases; i++) {
		if (override && override[0] && strlen(override) < sizeof(g->bases[i]))
			snprintf(g->bases[i], sizeof(g->bases[i]), "%s", override);
		else
			manifest_base(images_dir, guest_type_at(i), g->bases[i], sizeof(g->bases[i]));
	}
}

int guests_init(struct guests *g, uv_loop_t *loop, const char *helper, const char *uri)
{
	int ret;

	memset(g, 0, sizeof(*g));
	g->loop = loop;
	if (strlen(uri) >= sizeof(g->uri))
		return -ENAMETOOLONG;
	strcpy(g->uri, uri);
	if (helper) {
		if (strlen(helper) >= sizeof(g->helper))
			return -ENAMETOOLONG;
		strcpy(g->helper, helper);
	} else {
		ret = host_helper_path(GUESTS_HELPER, g->helper, sizeof(g->helper));
		if (ret < 0)
			return ret;
	}
	ret = uv_timer_init(loop, &g->timer);
	if (ret < 0)
		return ret;
	g->timer.data = g;
	return agent_ask_init(&g->ask, loop);
}

void guests_close(struct guests *g)
{
	if (g->running) {
		if (!g->exited)
			uv_process_kill(&g->proc, SIGKILL);
		close_probe(g);
	}
	uv_close((uv_handle_t *)&g->timer, NULL);
	agent_ask_close(&g->ask);
}
