/* The mover's bounded reads (service-vm-host/move-io.c): a peer trickling
 * bytes is cut off at the deadline, not after a timeout per byte. */
#include <errno.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whole_read),
		cmocka_unit_test(trickle_cut_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
