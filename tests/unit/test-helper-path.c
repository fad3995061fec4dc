#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "osi-config.h"
#include "service-vm-host/helper-path.h"
#include "tests/unit/fixture.h"

static int setup(void **state)
{
	return fixture_file_setup(state, "test-helper-path", "service-vm-host-guests");
}

static int teardown(void **state)
{
	return fixture_file_teardown(state);
}

static void make_file(const char *path, mode_t mode)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

/* A build tree: the helper sits next to the agent and wins. */
static void test_sibling_first(void **state)
{
	struct fixture_file *d = *state;
	char path[PATH_MAX];

	make_file(d->file, 0755);
	assert_int_equal(host_helper_path_in(d->path, "service-vm-host-guests", path, sizeof(path)), 0);
	assert_string_equal(path, d->file);
}

/* An installed tree: nothing next to bindir/service-vm-host, so libexec. */
static void test_libexec_otherwise(void **state)
{
	struct fixture_file *d = *state;
	char path[PATH_MAX];

	assert_int_equal(host_helper_path_in(d->path, "service-vm-host-guests", path, sizeof(path)), 0);
	assert_string_equal(path, OSI_LIBEXEC_DIR "/service-vm-host-guests");
	/* A file that cannot run is not a helper (root too: no x bit at all). */
	make_file(d->file, 0644);
	assert_int_equal(host_helper_path_in(d->path, "service-vm-host-guests", path, sizeof(path)), 0);
	assert_string_equal(path, OSI_LIBEXEC_DIR "/service-vm-host-guests");
}

static void test_too_long(void **state)
{
	char path[16];

	assert_int_equal(host_helper_path_in("/nonexistent", "service-vm-host-guests", path, sizeof(path)),
			 -ENAMETOOLONG);
}

/* This test program has no helper beside it in tests/. */
static void test_from_own_executable(void **state)
{
	char path[PATH_MAX];

	assert_int_equal(host_helper_path("service-vm-host-virt", path, sizeof(path)), 0);
	assert_string_equal(path, OSI_LIBEXEC_DIR "/service-vm-host-virt");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sibling_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_libexec_otherwise, setup, teardown),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_from_own_executable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
