/* What the root helper checks of a move-in before it makes anything
 * (service-vm-host/move-checks.c): only a regular file open for reading is
 * taken as the archive, and only an archive of the move's own guest as the
 * fleet approved it (type, memory, vCPUs). */
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

static const struct move_spec approved = { "totebox", 192ULL << 20, 1 };

static void manifest_of_another_guest(void **state)
{
	struct export_manifest m;
	char why[256];

	(void)state;
	memset(&m, 0, sizeof(m));
	strcpy(m.name, "victim");
	strcpy(m.type, "totebox");
	m.memory_bytes = 192ULL << 20;
	m.vcpus = 1;
	assert_non_null(move_manifest_check(&m, "moved", &approved, why, sizeof(why)));
	assert_string_equal(why, "refused: the archive holds guest victim, not moved");
	assert_non_null(move_manifest_check(&m, "victim-2", &approved, why, sizeof(why)));
	strcpy(m.name, "moved");
	assert_null(move_manifest_check(&m, "moved", &approved, why, sizeof(why)));
}

/* The archive must describe the guest as the fleet approved and placed it:
 * a source cannot bring in a bigger guest, or another type. */
static void manifest_beyond_the_approved_spec(void **state)
{
	struct export_manifest m;
	char why[256];

	(void)state;
	memset(&m, 0, sizeof(m));
	strcpy(m.name, "moved");
	strcpy(m.type, "totebox");
	m.memory_bytes = 4ULL << 30;
	m.vcpus = 4;
	assert_ptr_equal(move_manifest_check(&m, "moved", &approved, why, sizeof(why)), why);
	assert_string_equal(why, "the archive describes a totebox of 4.0G and 4 vCPUs; the fleet "
			    "approved a totebox of 192.0M and 1 vCPU: refused, nothing was defined");
	/* each field alone */
	m.memory_bytes = 192ULL << 20;
	assert_non_null(move_manifest_check(&m, "moved", &approved, why, sizeof(why)));
	m.vcpus = 1;
	assert_null(move_manifest_check(&m, "moved", &approved, why, sizeof(why)));
	m.memory_bytes = (192ULL << 20) + 1024; /* the same in human units: bytes given */
	assert_non_null(move_manifest_check(&m, "moved", &approved, why, sizeof(why)));
	assert_non_null(strstr(why, "201327616 bytes"));
	assert_non_null(strstr(why, "201326592 bytes"));
	m.memory_bytes = (192ULL << 20) - 1024;
	assert_non_null(move_manifest_check(&m, "moved", &approved, why, sizeof(why)));
	m.memory_bytes = (192ULL << 20) - 1; /* another KiB */
	assert_non_null(move_manifest_check(&m, "moved", &approved, why, sizeof(why)));
	/* a record of bytes that are no whole KiB: the domain holds the KiB */
	const struct move_spec odd = { "totebox", 1000000000, 1 };
	m.memory_bytes = 976562ULL * 1024;
	assert_null(move_manifest_check(&m, "moved", &odd, why, sizeof(why)));
	m.memory_bytes = 976563ULL * 1024;
	assert_non_null(move_manifest_check(&m, "moved", &odd, why, sizeof(why)));
	m.memory_bytes = 192ULL << 20;
	strcpy(m.type, "mediakit");
	assert_non_null(move_manifest_check(&m, "moved", &approved, why, sizeof(why)));
	assert_non_null(strstr(why, "describes a mediakit"));
	strcpy(m.type, "totebox");
	assert_null(move_manifest_check(&m, "moved", &approved, why, sizeof(why)));
	/* no approved spec: nothing is taken */
	assert_non_null(move_manifest_check(&m, "moved", NULL, why, sizeof(why)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fd_refusals),
		cmocka_unit_test(manifest_of_another_guest),
		cmocka_unit_test(manifest_beyond_the_approved_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
