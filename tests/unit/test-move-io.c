/* The mover's bounded reads, passes and splices (service-vm-host/move-io.c):
 * a peer trickling bytes is cut off at the deadline, not after a timeout per
 * byte; a pass lands every byte, in order, and tells the peer's end from the
 * reader's; a drain empties a pipe into a socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "service-vm-host/move-io.h"

static void whole_read(void **state)
{
	int sv[2];
	char buf[6];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], "hel", 3), 3);
	assert_int_equal(write(sv[1], "lo!", 3), 3);
	assert_int_equal(move_read_by(sv[0], buf, 6, move_now_ns() + 1000000000ull), 0);
	assert_memory_equal(buf, "hello!", 6);
	close(sv[1]);
	assert_int_equal(move_read_by(sv[0], buf, 1, move_now_ns() + 1000000000ull), -EPIPE);
	close(sv[0]);
}

/* A byte arrives every 100 ms, each well within any per-read timeout: the
 * read still ends at its deadline (300 ms), not when the last byte comes. */
static void trickle_cut_off(void **state)
{
	int sv[2];
	char buf[16];
	pid_t pid;
	uint64_t t0;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		for (int i = 0; i < 16; i++) {
			usleep(100000);
			if (write(sv[1], "x", 1) != 1)
				break;
		}
		_exit(0);
	}
	close(sv[1]);
	t0 = move_now_ns();
	assert_int_equal(move_read_by(sv[0], buf, sizeof(buf), t0 + 300000000ull), -ETIMEDOUT);
	assert_true(move_now_ns() - t0 < 1000000000ull);
	close(sv[0]);
	waitpid(pid, NULL, 0);
}

/* A connected TCP pair on loopback, as the movers use. */
static void tcp_pair(int sv[2])
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
	sv[1] = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(sv[1], (struct sockaddr *)&sa, sizeof(sa)), 0);
	sv[0] = accept(l, NULL, NULL);
	assert_true(sv[0] >= 0);
	close(l);
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 2654435761u >> 13);
}

/* A writer process sending n pattern bytes in odd-sized pieces. */
static pid_t send_pattern(int fd, size_t n)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t buf[7777];

		for (size_t at = 0; at < n;) {
			size_t k = n - at < sizeof(buf) ? n - at : sizeof(buf);

			for (size_t i = 0; i < k; i++)
				buf[i] = pattern(at + i);
			if (write(fd, buf, k) != (ssize_t)k)
				_exit(1);
			at += k;
		}
		_exit(0);
	}
	return pid;
}

static uint8_t run[4096]; /* the mover's buffer, small: frames pass in several runs */

static void passed_into_pipe(void **state)
{
	int sv[2], p[2];
	char buf[16];

	(void)state;
	tcp_pair(sv);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(sv[1], "hello, ", 7), 7);
	assert_int_equal(write(sv[1], "world", 5), 5);
	assert_int_equal(move_pass_by(sv[0], p[1], run, sizeof(run), 12, move_now_ns() + 1000000000ull), 0);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 12);
	assert_memory_equal(buf, "hello, world", 12);
	close(p[0]), close(p[1]), close(sv[0]), close(sv[1]);
}

/* 3 MiB into a file, in runs: every byte where it belongs. */
static void passed_into_file(void **state)
{
	const size_t n = 3u << 20;
	int sv[2], file = open("/tmp", O_TMPFILE | O_RDWR, 0600), status;
	uint8_t *got = malloc(n);
	pid_t pid;

	(void)state;
	assert_true(file >= 0 && got);
	tcp_pair(sv);
	pid = send_pattern(sv[1], n);
	assert_int_equal(move_pass_by(sv[0], file, run, sizeof(run), n, move_now_ns() + 10000000000ull), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	assert_int_equal(pread(file, got, n, 0), (ssize_t)n);
	for (size_t i = 0; i < n; i++)
		if (got[i] != pattern(i))
			fail_msg("byte %zu is %u, not %u", i, got[i], pattern(i));
	free(got);
	close(file), close(sv[0]), close(sv[1]);
}

/* The peer's end and the reader's end are told apart: the mover blames
 * the source for one and its helper for the other. */
static void pass_ends(void **state)
{
	int sv[2], p[2];
	uint64_t t0;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	tcp_pair(sv);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(move_pass_by(sv[0], p[1], run, 0, 4, move_now_ns() + 1000000000ull), -EINVAL);
	assert_int_equal(write(sv[1], "abc", 3), 3);
	close(sv[1]);
	assert_int_equal(move_pass_by(sv[0], p[1], run, sizeof(run), 10, move_now_ns() + 1000000000ull),
			 -ECONNRESET);
	close(sv[0]);
	close(p[0]);
	tcp_pair(sv);
	assert_int_equal(write(sv[1], "abc", 3), 3);
	assert_int_equal(move_pass_by(sv[0], p[1], run, sizeof(run), 3, move_now_ns() + 1000000000ull), -EPIPE);
	close(p[1]);
	assert_int_equal(pipe(p), 0);
	t0 = move_now_ns();
	assert_int_equal(move_pass_by(sv[0], p[1], run, sizeof(run), 4, t0 + 300000000ull), -ETIMEDOUT);
	assert_true(move_now_ns() - t0 < 1000000000ull);
	close(p[0]), close(p[1]), close(sv[0]), close(sv[1]);
}

/* A frame already in the socket, its reader (the helper) slow: the wait for
 * the pipe does not count against the source's deadline. The first splice
 * said -ETIMEDOUT here, blaming the source. */
static void slow_reader_not_counted(void **state)
{
	const size_t n = 1u << 20;
	int sv[2], p[2], status;
	pid_t writer, reader;

	(void)state;
	tcp_pair(sv);
	assert_int_equal(pipe(p), 0);
	writer = send_pattern(sv[1], n);
	reader = fork();
	assert_true(reader >= 0);
	if (reader == 0) {
		char buf[65536];
		size_t got = 0;
		ssize_t r;

		close(p[1]);
		usleep(1500000); /* longer than the deadline below */
		while (got < n && (r = read(p[0], buf, sizeof(buf))) > 0)
			got += (size_t)r;
		_exit(got == n ? 0 : 1);
	}
	close(p[0]);
	assert_int_equal(move_pass_by(sv[0], p[1], run, sizeof(run), n, move_now_ns() + 1000000000ull), 0);
	assert_int_equal(waitpid(reader, &status, 0), reader);
	assert_int_equal(status, 0);
	assert_int_equal(waitpid(writer, &status, 0), writer);
	close(p[1]), close(sv[0]), close(sv[1]);
}

/* What a pipe holds reaches a socket whole (the source's DATA). */
static void drained_to_socket(void **state)
{
	int sv[2], p[2];
	char buf[8];

	(void)state;
	tcp_pair(sv);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "payload!", 8), 8);
	assert_int_equal(move_drain(p[0], sv[1], 8), 0);
	assert_int_equal(move_read_by(sv[0], buf, 8, move_now_ns() + 1000000000ull), 0);
	assert_memory_equal(buf, "payload!", 8);
	close(p[0]), close(p[1]), close(sv[0]), close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whole_read),
		cmocka_unit_test(trickle_cut_off),
		cmocka_unit_test(passed_into_pipe),
		cmocka_unit_test(passed_into_file),
		cmocka_unit_test(pass_ends),
		cmocka_unit_test(drained_to_socket),
		cmocka_unit_test(slow_reader_not_counted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
