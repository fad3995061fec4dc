/* What the root helper checks of a move-in before it makes anything
 * (service-vm-host/move-checks.c): only a regular file open for reading is
 * taken as the archive, and only an archive of the move's own guest. */
#include <fcntl.h>
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

#include "service-vm-host/move-checks.h"

static void fd_refusals(void **state)
{
	char dir[] = "/tmp/move-checks-XXXXXX", fifo[64], file[64];
	int fd, p[2];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	snprintf(file, sizeof(file), "%s/file", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	fd = open(fifo, O_RDWR | O_CLOEXEC); /* does not block on a FIFO */
	assert_true(fd >= 0);
	assert_non_null(move_fd_check(fd));
	close(fd);
	assert_int_equal(pipe(p), 0);
	assert_non_null(move_fd_check(p[0]));
	close(p[0]), close(p[1]);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_non_null(move_fd_check(fd));
	close(fd);
	fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_non_null(move_fd_check(fd)); /* a regular file, not open for reading */
	close(fd);
	fd = open(file, O_PATH | O_CLOEXEC);
	assert_non_null(move_fd_check(fd));
	close(fd);
	assert_non_null(move_fd_check(-1));
	fd = open(file, O_RDONLY | O_CLOEXEC);
	assert_null(move_fd_check(fd));
	close(fd);
	unlink(file), unlink(fifo), rmdir(dir);
}

static void manifest_of_another_guest(void **state)
{
	struct export_manifest m;

	(void)state;
	memset(&m, 0, sizeof(m));
	strcpy(m.name, "victim");
	assert_non_null(move_manifest_check(&m, "moved"));
	assert_non_null(move_manifest_check(&m, "victim-2"));
	strcpy(m.name, "moved");
	assert_null(move_manifest_check(&m, "moved"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fd_refusals),
		cmocka_unit_test(manifest_of_another_guest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
