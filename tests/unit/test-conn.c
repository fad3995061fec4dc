#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/conn.h"
#include "lib/wire-frame.h"

/* One loop per test; the peer is a plain socket the test drives itself. */
struct fixture {
	uv_loop_t loop;
	uv_timer_t stop, tick;
	struct conn_listener *l;
	struct conn *last;
	int peer;
	unsigned frames, accepted, refused, closed, oversized;
	int why;
	uint64_t closed_at, started_at;
	size_t reply_bytes;
	unsigned renew_frames; /* the first this many frames renew the lifetime */
	bool stop_on_close;
	char path[108];
};

static struct fixture *F;

static void on_stop(uv_timer_t *t)
{
	uv_stop(t->loop);
}

static void run_for(struct fixture *f, uint64_t ms)
{
	uv_timer_start(&f->stop, on_stop, ms, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void on_frame(struct conn *c, const uint8_t *p, size_t len)
{
	uint8_t *reply;

	F->frames++;
	if (F->frames <= F->renew_frames)
		conn_renew(c);
	if (!F->reply_bytes)
		return;
	reply = calloc(1, F->reply_bytes);
	assert_non_null(reply);
	reply[0] = (uint8_t)((F->reply_bytes - 4) >> 24);
	reply[1] = (uint8_t)((F->reply_bytes - 4) >> 16);
	reply[2] = (uint8_t)((F->reply_bytes - 4) >> 8);
	reply[3] = (uint8_t)(F->reply_bytes - 4);
	reply[4] = FRAME_REPLY;
	assert_int_equal(conn_send(c, reply, F->reply_bytes, false), 0);
}

static void on_closed(struct conn *c, int why)
{
	F->closed++;
	F->why = why;
	F->closed_at = uv_now(&F->loop);
	if (F->stop_on_close)
		uv_stop(&F->loop);
}

static void on_oversized(struct conn *c)
{
	F->oversized++;
}

static void on_accepted(struct conn *c, void *ctx)
{
	F->accepted++;
	F->last = c;
}

static void on_over_cap(struct conn *c, void *ctx, const char *why)
{
	F->refused++;
}

static struct conn_listener_opts opts(void)
{
	struct conn_listener_opts o = {
		.max_conns = 8,
		.limits = { .frame_max = 1024 },
		.cbs = { .frame = on_frame, .closed = on_closed, .oversized = on_oversized },
		.accepted = on_accepted,
		.over_cap = on_over_cap,
	};
	return o;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	uv_timer_init(&f->loop, &f->stop);
	uv_timer_init(&f->loop, &f->tick);
	f->peer = -1;
	f->started_at = uv_now(&f->loop);
	F = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->peer >= 0)
		close(f->peer);
	conn_listener_close(f->l);
	uv_close((uv_handle_t *)&f->stop, NULL);
	uv_close((uv_handle_t *)&f->tick, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	if (f->path[0])
		unlink(f->path);
	free(f);
	return 0;
}

static void listen_tcp(struct fixture *f, const struct conn_listener_opts *o)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	assert_int_equal(conn_listen_tcp(&f->loop, (struct sockaddr *)&sin, o, &f->l), 0);
}

/* A blocking connect from src to the listener: loopback completes it in the
 * kernel before the loop runs. */
static int dial_tcp(struct fixture *f, const char *src)
{
	struct sockaddr_storage ss;
	struct sockaddr_in from = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(conn_listener_sockname(f->l, &ss), 0);
	inet_pton(AF_INET, src, &from.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, sizeof(struct sockaddr_in)), 0);
	return fd;
}

static void on_trickle(uv_timer_t *t)
{
	static const uint8_t zero;

	if (F->closed || write(F->peer, &zero, 1) != 1)
		uv_timer_stop(t);
}

/* Bytes that never make a frame do not move the first-frame deadline. */
static void test_deadline_while_trickling(void **state)
{
	struct fixture *f = *state;
	struct conn_listener_opts o = opts();

	o.limits.first_frame_ms = 300;
	o.limits.idle_ms = 10000;
	f->stop_on_close = true;
	listen_tcp(f, &o);
	f->peer = dial_tcp(f, "127.0.0.1");
	assert_int_equal(write(f->peer, "\0\0\0\x64", 4), 4); /* a 100-byte frame, slowly */
	uv_timer_start(&f->tick, on_trickle, 0, 40);
	run_for(f, 2000);
	assert_int_equal(f->accepted, 1);
	assert_int_equal(f->closed, 1);
	assert_int_equal(f->why, -ETIMEDOUT);
	assert_true(f->closed_at - f->started_at >= 290);
	assert_true(f->closed_at - f->started_at < 1000);
	assert_int_equal(f->frames, 0);
}

static void send_frames(int fd, unsigned n)
{
	static const uint8_t frame[] = { 0, 0, 0, 2, FRAME_LOCAL, '{' };

	for (unsigned i = 0; i < n; i++)
		assert_int_equal(write(fd, frame, sizeof(frame)), sizeof(frame));
}

/* After the first frame the idle timeout applies instead. */
static void test_idle_after_first_frame(void **state)
{
	struct fixture *f = *state;
	struct conn_listener_opts o = opts();

	o.limits.first_frame_ms = 5000;
	o.limits.idle_ms = 200;
	f->stop_on_close = true;
	listen_tcp(f, &o);
	f->peer = dial_tcp(f, "127.0.0.1");
	send_frames(f->peer, 1);
	run_for(f, 2000);
	assert_int_equal(f->frames, 1);
	assert_int_equal(f->closed, 1);
	assert_int_equal(f->why, -ETIMEDOUT);
	assert_true(f->closed_at - f->started_at < 1000);
}

static void on_tick_frame(uv_timer_t *t)
{
	if (F->closed)
		uv_timer_stop(t);
	else
		send_frames(F->peer, 1);
}

/* A connection renewed by each of its first 6 frames (one every 100 ms)
 * outlives its 300 ms lifetime, and ends 300 ms after the last renewal. */
static void test_renew_extends_lifetime(void **state)
{
	struct fixture *f = *state;
	struct conn_listener_opts o = opts();

	o.limits.lifetime_ms = 300;
	o.limits.idle_ms = 10000;
	f->renew_frames = 6;
	f->stop_on_close = true;
	listen_tcp(f, &o);
	f->peer = dial_tcp(f, "127.0.0.1");
	uv_timer_start(&f->tick, on_tick_frame, 0, 100);
	run_for(f, 3000);
	assert_int_equal(f->closed, 1);
	assert_int_equal(f->why, -ETIMEDOUT);
	assert_true(f->frames >= 7);
	assert_true(f->closed_at - f->started_at >= 750);
	assert_true(f->closed_at - f->started_at < 1500);
}

static void on_drain(uv_timer_t *t)
{
	char buf[65536];

	while (read(F->peer, buf, sizeof(buf)) > 0)
		;
	if (F->frames == 40 && conn_reading(F->last))
		uv_stop(t->loop);
}

/* A peer that asks and never reads: once the queue passes the cap nothing
 * more is read, and reading resumes when it drains. */
static void test_write_queue_stops_reading(void **state)
{
	struct fixture *f = *state;
	struct conn_listener_opts o = opts();
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const unsigned asked = 40;

	o.limits.write_queue_max = 64 * 1024;
	f->reply_bytes = 1 << 20;
	snprintf(f->path, sizeof(f->path), "/tmp/test-conn-%d.sock", (int)getpid());
	unlink(f->path);
	assert_int_equal(conn_listen_unix(&f->loop, f->path, &o, &f->l), 0);
	f->peer = socket(AF_UNIX, SOCK_STREAM, 0);
	memcpy(sun.sun_path, f->path, strlen(f->path) + 1);
	assert_int_equal(connect(f->peer, (struct sockaddr *)&sun, sizeof(sun)), 0);
	send_frames(f->peer, asked);
	run_for(f, 300);
	assert_int_equal(f->accepted, 1);
	assert_true(f->frames >= 1);
	assert_true(f->frames < 4);
	assert_false(conn_reading(f->last));
	assert_true(conn_write_queue(f->last) > o.limits.write_queue_max);

	fcntl(f->peer, F_SETFL, O_NONBLOCK);
	uv_timer_start(&f->tick, on_drain, 0, 5);
	run_for(f, 3000);
	assert_int_equal(f->frames, asked);
	assert_int_equal(f->closed, 0);
	assert_true(conn_reading(f->last));
}

/* Two connections from one address are served, the third is refused; a
 * different address still gets in. */
static void test_per_source_cap(void **state)
{
	struct fixture *f = *state;
	struct conn_listener_opts o = opts();
	int fds[4];

	o.max_per_source = 2;
	listen_tcp(f, &o);
	fds[0] = dial_tcp(f, "127.0.0.1");
	fds[1] = dial_tcp(f, "127.0.0.1");
	fds[2] = dial_tcp(f, "127.0.0.1");
	fds[3] = dial_tcp(f, "127.0.0.2");
	run_for(f, 200);
	assert_int_equal(f->accepted, 3);
	assert_int_equal(f->refused, 1);
	assert_int_equal(conn_listener_count(f->l), 3);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	run_for(f, 200);
	assert_int_equal(conn_listener_count(f->l), 0);
}

/* With evict_silent, connections that never sent a frame make room: a
 * newcomer from a capped address closes the oldest silent one of that
 * address; once every holder has spoken, a newcomer is refused. */
static void test_evict_silent(void **state)
{
	struct fixture *f = *state;
	struct conn_listener_opts o = opts();
	char b;
	int fds[5];

	o.max_per_source = 2;
	o.evict_silent = true;
	listen_tcp(f, &o);
	fds[0] = dial_tcp(f, "127.0.0.1");
	run_for(f, 50);
	fds[1] = dial_tcp(f, "127.0.0.1");
	run_for(f, 50);
	fds[2] = dial_tcp(f, "127.0.0.1");
	run_for(f, 200);
	assert_int_equal(f->accepted, 3);
	assert_int_equal(f->refused, 0);
	assert_int_equal(conn_listener_count(f->l), 2);
	assert_int_equal(read(fds[0], &b, 1), 0); /* the oldest silent one was closed */
	send_frames(fds[1], 1);
	send_frames(fds[2], 1);
	run_for(f, 200);
	fds[3] = dial_tcp(f, "127.0.0.1");
	run_for(f, 200);
	assert_int_equal(f->refused, 1);
	fds[4] = dial_tcp(f, "127.0.0.2");
	run_for(f, 200);
	assert_int_equal(f->accepted, 4);
	assert_int_equal(conn_listener_count(f->l), 3);
	for (int i = 0; i < 5; i++)
		close(fds[i]);
}

static void test_listener_cap(void **state)
{
	struct fixture *f = *state;
	struct conn_listener_opts o = opts();
	int fds[3];

	o.max_conns = 2;
	listen_tcp(f, &o);
	for (int i = 0; i < 3; i++)
		fds[i] = dial_tcp(f, i == 2 ? "127.0.0.3" : "127.0.0.1");
	run_for(f, 200);
	assert_int_equal(f->accepted, 2);
	assert_int_equal(f->refused, 1);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

static void test_oversized_closes(void **state)
{
	struct fixture *f = *state;
	struct conn_listener_opts o = opts();
	static const uint8_t big[] = { 0, 0, 0x10, 0, FRAME_LOCAL };

	listen_tcp(f, &o);
	f->peer = dial_tcp(f, "127.0.0.1");
	assert_int_equal(write(f->peer, big, sizeof(big)), sizeof(big));
	run_for(f, 500);
	assert_int_equal(f->oversized, 1);
	assert_int_equal(f->closed, 1);
	assert_int_equal(f->why, -EMSGSIZE);
	assert_int_equal(f->frames, 0);
}

/* A client connection over the module, against a listener of the module. */
static void on_client_frame(struct conn *c, const uint8_t *p, size_t len)
{
	F->frames += 100;
	conn_close(c);
}

static void on_client_accepted(struct conn *c, void *ctx)
{
	static const uint8_t frame[] = { 0, 0, 0, 2, FRAME_REPLY, '{' };
	uint8_t *copy = malloc(sizeof(frame));

	assert_non_null(copy);
	memcpy(copy, frame, sizeof(frame));
	F->accepted++;
	conn_send(c, copy, sizeof(frame), true);
}

static void test_client(void **state)
{
	struct fixture *f = *state;
	struct conn_listener_opts o = opts();
	struct conn_limits lim = { .frame_max = 64, .lifetime_ms = 1000 };
	struct conn_cbs cbs = { .frame = on_client_frame, .closed = on_closed };
	struct sockaddr_storage ss;
	struct conn *c;

	o.accepted = on_client_accepted;
	listen_tcp(f, &o);
	assert_int_equal(conn_listener_sockname(f->l, &ss), 0);
	assert_int_equal(conn_connect_tcp(&f->loop, (struct sockaddr *)&ss, &lim, &cbs, NULL, &c), 0);
	run_for(f, 500);
	assert_int_equal(f->accepted, 1);
	assert_int_equal(f->frames, 100);
	assert_int_equal(f->closed, 2); /* the server's side and the client */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deadline_while_trickling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_after_first_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_renew_extends_lifetime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_queue_stops_reading, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_source_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evict_silent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listener_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
