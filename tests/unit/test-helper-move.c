/* The root helper's move-in (service-vm-host/helper-move.c) against
 * libvirt's test driver: a guest of that name already here is refused
 * before anything is touched, its move marker (a copy a move brought in,
 * which move-abort removes) kept; a passed FIFO is refused. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "service-vm-host/helper-move.h"
#include "tests/unit/fixture.h"

static void quiet(void *data, virErrorPtr err)
{
}

static void existing_guest_keeps_its_marker(void **state)
{
	struct virt_config cfg = { .uri = "test:///default" };
	static struct host_config c;
	struct virt_host h;
	char dir[PATH_MAX], marker[PATH_MAX + 32], archive[PATH_MAX + 32];
	const struct move_spec spec = { "totebox", 192ULL << 20, 1 };
	int fd, mfd;

	(void)state;
	virSetErrorFunc(NULL, quiet);
	assert_int_equal(fixture_tmpdir(dir, sizeof(dir), "helper-move"), 0);
	snprintf(c.state_dir, sizeof(c.state_dir), "%s", dir);
	assert_int_equal(virt_host_open(&h, &cfg), 0);
	snprintf(marker, sizeof(marker), "%s/moves", dir);
	assert_int_equal(mkdir(marker, 0700), 0);
	snprintf(marker, sizeof(marker), "%s/moves/in.test", dir);
	mfd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(mfd >= 0);
	close(mfd);
	snprintf(archive, sizeof(archive), "%s/archive", dir);
	fd = open(archive, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	/* "test" is the driver's own domain */
	assert_int_equal(helper_move_in(&h, &c, "test", &spec, fd), -EEXIST);
	assert_int_equal(access(marker, F_OK), 0);
	close(fd);
	snprintf(archive, sizeof(archive), "%s/fifo", dir);
	assert_int_equal(mkfifo(archive, 0600), 0);
	fd = open(archive, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(helper_move_in(&h, &c, "newcomer", &spec, fd), -EBADF);
	assert_non_null(strstr(h.err, "not a regular file"));
	close(fd);
	virt_host_close(&h);
	fixture_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(existing_guest_keeps_its_marker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
