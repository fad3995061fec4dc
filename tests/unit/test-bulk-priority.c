/* lib/bulk-priority.c: a bulk mover runs at nice 10 and the lowest
 * best-effort I/O level, and never raises a priority already lower. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/bulk-priority.h"

/* In a child, so the test runner keeps its own priority: exit 0 when
 * bulk_priority() leaves nice at want and the I/O priority at BE/7. */
static int child(int start, int want)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		long io;

		if (setpriority(PRIO_PROCESS, 0, start) < 0 || bulk_priority() < 0)
			_exit(2);
		io = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
		_exit(getpriority(PRIO_PROCESS, 0) == want && io == (2 << 13 | BULK_IOPRIO_LEVEL) ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void lowered(void **state)
{
	(void)state;
	assert_int_equal(child(0, BULK_NICE), 0);
}

static void never_raised(void **state)
{
	(void)state;
	assert_int_equal(child(15, 15), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lowered),
		cmocka_unit_test(never_raised),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
