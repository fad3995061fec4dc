/* A minimal HTTP/1.x responder for Prometheus scrapes: one request per
 * connection, GET /metrics only, then close. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "service-vm-fleet/fleet.h"
#include "lib/log.h"
#include "service-vm-fleet/metrics.h"
#include "service-vm-fleet/servers.h"

#define SCRAPE_TIMEOUT_MS 10000
#define MAX_SCRAPES 16

struct scrape {
	uv_tcp_t tcp;
	uv_timer_t timer;
	int open_handles;
	struct fleet *f;
	size_t len;
	char buf[HTTP_REQUEST_MAX];
	bool answered;
};

static uv_tcp_t listener;
static bool started;
static unsigned nscrapes;

static void closed(uv_handle_t *h)
{
	struct scrape *s = h->data;

	if (--s->open_handles == 0) {
		free(s);
		nscrapes--;
	}
}

static void scrape_close(struct scrape *s)
{
	if (uv_is_closing((uv_handle_t *)&s->tcp))
		return;
	uv_close((uv_handle_t *)&s->tcp, closed);
	uv_close((uv_handle_t *)&s->timer, closed);
}

static void on_written(uv_write_t *req, int status)
{
	free(req->data);
	scrape_close(req->handle->data);
	free(req);
}

static void respond(struct scrape *s, const char *status, const char *body)
{
	uv_write_t *req = calloc(1, sizeof(*req));
	char *text = NULL;
	int n = asprintf(&text, "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4; "
			 "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 status, strlen(body), body);
	uv_buf_t b;

	s->answered = true;
	if (!req || n < 0) {
		free(req);
		if (n >= 0)
			free(text);
		return scrape_close(s);
	}
	req->data = text;
	b = uv_buf_init(text, (unsigned)n);
	if (uv_write(req, (uv_stream_t *)&s->tcp, &b, 1, on_written) < 0) {
		free(text);
		free(req);
		scrape_close(s);
	}
}

static void answer(struct scrape *s, const char *method, const char *path)
{
	char *body;

	if (strcmp(path, "/metrics"))
		return respond(s, "404 Not Found", "only /metrics is served here\n");
	if (strcmp(method, "GET"))
		return respond(s, "405 Method Not Allowed", "use GET\n");
	body = metrics_render(s->f, clock_mono_ns());
	if (!body)
		return respond(s, "500 Internal Server Error", "out of memory\n");
	respond(s, "200 OK", body);
	free(body);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct scrape *s = h->data;

	*buf = uv_buf_init(s->buf + s->len, (unsigned)(sizeof(s->buf) - s->len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct scrape *s = st->data;
	char method[16], path[256];
	int ret;

	if (nread < 0 || s->answered) {
		if (!s->answered)
			scrape_close(s);
		return;
	}
	s->len += (size_t)nread;
	ret = http_parse_request(s->buf, s->len, method, sizeof(method), path, sizeof(path));
	if (ret == 0 && s->len < sizeof(s->buf))
		return;
	uv_read_stop(st);
	if (ret == 1)
		answer(s, method, path);
	else
		respond(s, ret == -EMSGSIZE || ret == 0 ? "431 Request Header Fields Too Large"
							: "400 Bad Request", "bad request\n");
}

static void on_timeout(uv_timer_t *t)
{
	scrape_close(t->data);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct scrape *s;

	if (status < 0 || !(s = calloc(1, sizeof(*s))))
		return;
	s->f = l->data;
	nscrapes++;
	uv_tcp_init(l->loop, &s->tcp);
	uv_timer_init(l->loop, &s->timer);
	s->tcp.data = s->timer.data = s;
	s->open_handles = 2;
	if (uv_accept(l, (uv_stream_t *)&s->tcp) < 0 || nscrapes > MAX_SCRAPES)
		return scrape_close(s);
	uv_timer_start(&s->timer, on_timeout, SCRAPE_TIMEOUT_MS, 0);
	uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
}

int server_metrics_start(uv_loop_t *loop, struct fleet *f)
{
	struct sockaddr_storage ss;
	int ret;

	if (!f->cfg.metrics_listen[0])
		return 0;
	if (server_resolve(f->cfg.metrics_listen, &ss) < 0) {
		log_err("metrics_listen '%s' is not a numeric host:port", f->cfg.metrics_listen);
		return -EINVAL;
	}
	uv_tcp_init(loop, &listener);
	listener.data = f;
	started = true;
	ret = uv_tcp_bind(&listener, (const struct sockaddr *)&ss, 0);
	if (ret == 0)
		ret = uv_listen((uv_stream_t *)&listener, 16, on_connection);
	if (ret < 0)
		log_err("cannot serve metrics on %s: %s", f->cfg.metrics_listen, uv_strerror(ret));
	else
		log_info("metrics on http://%s/metrics", f->cfg.metrics_listen);
	return ret;
}

void server_metrics_close(void)
{
	if (started && !uv_is_closing((uv_handle_t *)&listener))
		uv_close((uv_handle_t *)&listener, NULL);
}
