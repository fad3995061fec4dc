#include "service-vm-host/agent-ask.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/log.h"
#include "service-vm-host/helper-req.h"

int agent_ask_init(struct agent_ask *k, uv_loop_t *loop)
{
	int ret;

	memset(k, 0, sizeof(*k));
	k->loop = loop;
	k->fd = -1;
	k->root = geteuid() == 0;
	ret = uv_timer_init(loop, &k->timer);
	if (ret < 0)
		return ret;
	k->timer.data = k;
	k->ready = true;
	return 0;
}

void agent_ask_set_socket(struct agent_ask *k, const char *path)
{
	if (strlen(path) < sizeof(k->socket))
		strcpy(k->socket, path);
}

static void on_poll_closed(uv_handle_t *h)
{
	struct agent_ask *k = h->data;

	close(k->fd);
	k->fd = -1;
	k->busy = false;
}

static void finish(struct agent_ask *k)
{
	uv_timer_stop(&k->timer);
	uv_close((uv_handle_t *)&k->poll, on_poll_closed);
}

/* Logged once until the helper answers again. */
static void __attribute__((format(printf, 2, 3))) failed(struct agent_ask *k, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!k->failing)
		log_warn("guest agents' addresses not asked of the helper: %s", why);
	k->failing = true;
	k->have = false;
	k->got.nagent = 0;
}

/* {"state":"agent","ga":" ga=G:IF:A..."}, else {"state":"failed",...}. */
static void take(struct agent_ask *k, const char *line, size_t len)
{
	json_t *m = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	const char *st = json_string_value(json_object_get(m, "state"));
	const json_t *ga = json_object_get(m, "ga");

	if (st && !strcmp(st, "agent") && json_is_string(ga) &&
	    parse_agent_tokens(json_string_value(ga), json_string_length(ga), &k->got) == 0) {
		if (k->failing)
			log_info("the helper answers the guest agents' addresses again");
		k->failing = false;
		k->have = true;
	} else if (st && !strcmp(st, "failed")) {
		failed(k, "%s", json_string_value(json_object_get(m, "detail")) ?: "failed");
	} else {
		failed(k, "a malformed answer");
	}
	json_decref(m);
}

static void on_readable(uv_poll_t *p, int status, int events)
{
	struct agent_ask *k = p->data;
	ssize_t n;

	(void)events;
	if (status < 0) {
		failed(k, "%s", uv_strerror(status));
		return finish(k);
	}
	n = recv(k->fd, k->buf, sizeof(k->buf), MSG_TRUNC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || (size_t)n >= sizeof(k->buf))
		failed(k, "%s", n < 0 ? strerror(errno) : n ? "an answer too long" : "no answer");
	else
		take(k, k->buf, (size_t)n);
	finish(k);
}

static void on_timeout(uv_timer_t *t)
{
	struct agent_ask *k = t->data;

	failed(k, "no answer within %d s", AGENT_ASK_TIMEOUT_MS / 1000);
	finish(k);
}

static int connect_helper(const char *path)
{
	const struct guest_op_def *op = guest_op_find("agent-addresses");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct helper_req req;
	int fd, ret = 0;

	if (helper_req_build(&req, op, NULL, NULL, 0, 0) < 0 || strlen(path) >= sizeof(sa.sun_path))
		return -EINVAL;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req))
		ret = errno ? -errno : -EIO;
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

static void ask(struct agent_ask *k)
{
	int ret;

	k->started_once = true;
	k->asked_ms = uv_now(k->loop);
	k->fd = connect_helper(k->socket);
	if (k->fd < 0) {
		failed(k, "%s: %s", k->socket, strerror(-k->fd));
		return;
	}
	ret = uv_poll_init(k->loop, &k->poll, k->fd);
	if (ret < 0) {
		close(k->fd);
		k->fd = -1;
		failed(k, "%s", uv_strerror(ret));
		return;
	}
	k->poll.data = k;
	k->busy = true;
	ret = uv_poll_start(&k->poll, UV_READABLE | UV_DISCONNECT, on_readable);
	if (ret < 0) {
		failed(k, "%s", uv_strerror(ret));
		uv_close((uv_handle_t *)&k->poll, on_poll_closed);
		return;
	}
	uv_timer_start(&k->timer, on_timeout, AGENT_ASK_TIMEOUT_MS, 0);
}

void agent_ask_maybe(struct agent_ask *k, const struct probe_result *last)
{
	if (!k->ready || !k->socket[0] || k->root)
		return;
	if (!last->ok || !last->agent_channels) {
		k->have = false; /* no agent there now: nothing to ask, nothing to show */
		return;
	}
	if (k->busy || (k->started_once && uv_now(k->loop) < k->asked_ms + AGENT_ASK_PERIOD_MS))
		return;
	ask(k);
}

static bool running(const struct probe_result *last, const char *name)
{
	for (unsigned i = 0; i < last->nvms; i++)
		if (!strcmp(last->vms[i].name, name))
			return !strcmp(last->vms[i].state, "running");
	return false;
}

static bool reported(const struct probe_result *last, const char *name)
{
	for (unsigned i = 0; i < last->nagent; i++)
		if (!strcmp(last->agent[i].name, name))
			return true;
	return false;
}

unsigned agent_ask_merge(const struct agent_ask *k, const struct probe_result *last,
			 struct probe_agent out[PROBE_AGENT_MAX])
{
	unsigned n = 0;

	for (unsigned i = 0; i < last->nagent && n < PROBE_AGENT_MAX; i++)
		out[n++] = last->agent[i];
	for (unsigned i = 0; k->have && i < k->got.nagent && n < PROBE_AGENT_MAX; i++) {
		const struct probe_agent *a = &k->got.agent[i];

		if (running(last, a->name) && !reported(last, a->name))
			out[n++] = *a;
	}
	return n;
}

void agent_ask_close(struct agent_ask *k)
{
	if (!k->ready)
		return;
	if (k->busy) {
		uv_timer_stop(&k->timer);
		if (!uv_is_closing((uv_handle_t *)&k->poll))
			uv_close((uv_handle_t *)&k->poll, on_poll_closed);
	}
	uv_close((uv_handle_t *)&k->timer, NULL);
	k->ready = false;
}
