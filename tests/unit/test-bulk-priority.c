/* lib/bulk-priority.c: a bulk mover runs at nice 10 and the lowest
 * best-effort I/O level, and never raises a priority already lower. */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/bulk-priority.h"

#define IO(class, level) ((class) << 13 | (level))

/* In a child, so the test runner keeps its own priority: exit 0 when
 * bulk_priority() leaves nice at want and the I/O priority at want_io.
 * start below the runner's own nice (a test run under nice, not root)
 * starts from the runner's. */
static int child(int start, long start_io, int want, long want_io)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		int mine;
		long io;

		errno = 0;
		mine = getpriority(PRIO_PROCESS, 0);
		if (start > mine && setpriority(PRIO_PROCESS, 0, start) < 0)
			_exit(2);
		if (start_io >= 0 && syscall(SYS_ioprio_set, 1, 0, start_io) < 0)
			_exit(2);
		if (bulk_priority() < 0)
			_exit(3);
		io = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
		_exit(getpriority(PRIO_PROCESS, 0) == (want > mine ? want : mine) && io == want_io ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void lowered(void **state)
{
	(void)state;
	assert_int_equal(child(0, -1, BULK_NICE, IO(2, BULK_IOPRIO_LEVEL)), 0);
}

static void never_raised(void **state)
{
	(void)state;
	assert_int_equal(child(15, -1, 15, IO(2, BULK_IOPRIO_LEVEL)), 0);
	/* the idle I/O class is lower than best-effort's lowest: kept */
	assert_int_equal(child(0, IO(3, 0), BULK_NICE, IO(3, 0)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lowered),
		cmocka_unit_test(never_raised),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
