/* An approval of the fleet is acted on once: the same signature again is
 * refused as a replay, another one is taken, old records are swept, and a
 * record directory anyone else may write is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service-vm-host/approval-spent.h"
#include "service-vm-host/fleet-approval.h"

#define NOW 1796400000

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test-approval-spent-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_once(void **state)
{
	uint8_t a[SIG_BYTES] = { 1 }, b[SIG_BYTES] = { 2 };
	char err[256], path[128];
	struct stat st;

	(void)state;
	assert_int_equal(approval_spend(dir, a, NOW, err, sizeof(err)), 0);
	assert_int_equal(approval_spend(dir, a, NOW + 1, err, sizeof(err)), -EALREADY);
	assert_non_null(strstr(err, "used already"));
	assert_int_equal(approval_spend(dir, b, NOW + 2, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/approvals", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* its records are swept once they are past twice the window (their
	 * approvals are stale by then): a's file gets an old time */
	snprintf(path, sizeof(path), "touch -d '2000-01-01' %s/approvals/*", dir);
	assert_int_equal(system(path), 0);
	assert_int_equal(approval_spend(dir, b, NOW + 3, err, sizeof(err)), 0); /* b's record went */
}

static void test_open_dir_refused(void **state)
{
	uint8_t a[SIG_BYTES] = { 3 };
	char err[256], path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/approvals", dir);
	assert_int_equal(mkdir(path, 0777), 0);
	assert_int_equal(chmod(path, 0777), 0);
	assert_int_equal(approval_spend(dir, a, NOW, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "refused"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_dir_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
