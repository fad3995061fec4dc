/* qemu-img, which root runs on a peer's backup file (backup_key_check, a
 * restore's convert), runs confined (lib/spawn-confined.h): no capability
 * in its effective or bounding set, no new privileges, a network
 * namespace not the caller's, no descriptor it was not given, a system
 * call filter, no file it may write; what it was
 * given (the file, the key's memfd) it still reads, as the file's owner. A fake qemu-img first
 * in PATH writes what it sees. Root only (as root is whom it confines);
 * 77 elsewhere, or without qemu-img to make the LUKS file checked first. */
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
#include <sodium.h>

#include "lib/fileio.h"
#include "lib/key-seal.h"
#include "tests/unit/fixture.h"
#include "tests/unit/luks-image.h"
#include "virt/virt-backup-internal.h"
#include "virt/virt-internal.h"

struct fx {
	char dir[64], out[PATH_MAX], *path;
	int seen; /* the reading end of out, a FIFO */
	uint8_t key[KEY_SEAL_KEY_BYTES];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || fixture_tmpdir(f->dir, sizeof(f->dir), "test-qemu-img-confined"))
		return -1;
	randombytes_buf(f->key, sizeof(f->key));
	snprintf(f->out, sizeof(f->out), "%s/seen", f->dir);
	f->path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int ret = fixture_rmtree(f->dir);

	if (f->path)
		setenv("PATH", f->path, 1);
	free(f->path);
	free(f);
	return ret;
}

/* A qemu-img first in PATH that writes, for the process it runs as, the
 * lines of /proc/PID/status named, its network namespace, whether
 * descriptor leak is open, the first 4 bytes of descriptor file and the
 * key its --object (argument 4, "secret,id=k0,file=/dev/fd/N") names. */
static void fake_qemu_img(struct fx *f, int leak, int file)
{
	char bin[PATH_MAX], fake[PATH_MAX + 16], text[PATH_MAX * 2 + 1024], path[PATH_MAX + 32];

	snprintf(bin, sizeof(bin), "%s/bin", f->dir);
	snprintf(fake, sizeof(fake), "%s/qemu-img", bin);
	/* reached, run and written by whichever uid it runs as */
	assert_int_equal(chmod(f->dir, 0711), 0);
	assert_int_equal(mkdir(bin, 0755), 0);
	/* a pipe: a file it wrote would pass its RLIMIT_FSIZE of 0 */
	assert_int_equal(mkfifo(f->out, 0666), 0);
	assert_int_equal(chmod(f->out, 0666), 0);
	assert_true((f->seen = open(f->out, O_RDWR | O_NONBLOCK | O_CLOEXEC)) >= 0);
	snprintf(text, sizeof(text),
		 "#!/bin/sh\nout=%s\n"
		 "exec > $out\n"
		 "grep -E '^(CapEff|CapBnd|CapPrm|CapAmb|NoNewPrivs|Seccomp):' /proc/$$/status\n"
		 "echo \"fsize $(ulimit -f)\"\n"
		 "echo \"net $(readlink /proc/$$/ns/net)\"\n"
		 "echo \"uid $(id -u) $(id -g)\"\n"
		 "if [ -e /proc/$$/fd/%d ]; then echo leaked; fi\n"
		 "echo \"file $(head -c 3 /dev/fd/%d)\"\n"
		 "echo \"key $(cat \"${4##*file=}\")\"\n", f->out, leak, file);
	assert_int_equal(atomic_write_file(fake, text, strlen(text), 0755), 0);
	assert_int_equal(chmod(fake, 0755), 0);
	snprintf(path, sizeof(path), "%s:/usr/bin:/bin", bin);
	assert_int_equal(setenv("PATH", path, 1), 0);
}

static void expect_line(const char *seen, const char *line)
{
	if (!strstr(seen, line))
		fail_msg("the fake qemu-img saw:\n%s\nwithout \"%s\"", seen, line);
}

/* What the fake qemu-img saw in backup_key_check of f's LUKS file, owned
 * by uid:gid (mode 0600), into seen. */
static void key_check_seen(struct fx *f, uid_t uid, gid_t gid, char *seen, size_t len)
{
	char path[PATH_MAX];
	struct virt_host h;
	ssize_t n;
	int fd, leak, code = -1;

	memset(&h, 0, sizeof(h));
	snprintf(path, sizeof(path), "%s/luks.qcow2", f->dir);
	assert_int_equal(luks_image_at(f->dir, f->key, path), 0);
	assert_int_equal(chown(path, uid, gid), 0);
	assert_int_equal(chmod(path, 0600), 0);
	assert_true((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
	assert_true((leak = open("/dev/null", O_RDONLY)) >= 0); /* no close-on-exec */
	fake_qemu_img(f, leak, fd);

	if (backup_key_check(&h, fd, f->key, &code) < 0)
		fail_msg("%s", h.err);
	assert_int_equal(code, 0);
	close(leak);
	close(fd);
	assert_true((n = read(f->seen, seen, len - 1)) > 0);
	seen[n] = '\0';
	close(f->seen);
}

/* It read the file and the key it was given, and nothing else was open. */
static void read_what_given(struct fx *f, const char *seen)
{
	char line[128], hex[2 * KEY_SEAL_KEY_BYTES + 1];

	assert_null(strstr(seen, "leaked"));
	expect_line(seen, "file QFI\n");
	sodium_bin2hex(hex, sizeof(hex), f->key, sizeof(f->key));
	snprintf(line, sizeof(line), "key %s\n", hex);
	expect_line(seen, line);
}

/* backup_key_check's qemu-img has no capability and a network of its own. */
static void key_check_confined(void **state)
{
	struct fx *f = *state;
	char net[64], line[128], seen[1024];
	ssize_t n;

	assert_true((n = readlink("/proc/self/ns/net", net, sizeof(net) - 1)) > 0);
	net[n] = '\0';
	key_check_seen(f, geteuid(), getegid(), seen, sizeof(seen));
	expect_line(seen, "CapEff:\t0000000000000000\n");
	expect_line(seen, "CapPrm:\t0000000000000000\n");
	expect_line(seen, "CapBnd:\t0000000000000000\n");
	expect_line(seen, "CapAmb:\t0000000000000000\n");
	expect_line(seen, "NoNewPrivs:\t1\n");
	expect_line(seen, "Seccomp:\t2\n"); /* a filter */
	expect_line(seen, "fsize 0\n");      /* it writes nothing */
	expect_line(seen, "\nnet net:[");
	snprintf(line, sizeof(line), "net %s\n", net);
	if (strstr(seen, line))
		fail_msg("the fake qemu-img ran in the test's network namespace (%s)", net);
	read_what_given(f, seen);
}

/* A file root may open only by CAP_DAC_OVERRIDE (a pool volume libvirt
 * gave its guests' user) is still opened again as /dev/fd/N: qemu-img runs
 * as its owner. */
static void key_check_as_owner(void **state)
{
	struct fx *f = *state;
	char seen[1024];

	key_check_seen(f, 65534, 65534, seen, sizeof(seen));
	expect_line(seen, "uid 65534 65534\n");
	expect_line(seen, "CapEff:\t0000000000000000\n");
	expect_line(seen, "CapBnd:\t0000000000000000\n");
	read_what_given(f, seen);
}

/* A restore's convert may write its volume's capacity and the metadata
 * over it, no more, and takes at most max(600 s, 1 s per 20 MiB). */
static void convert_limits(void **state)
{
	(void)state;
	assert_int_equal(backup_convert_limit_s(1ull << 30), 600);
	assert_int_equal(backup_convert_limit_s(100ull << 30), 5120);
	assert_true(backup_convert_max_bytes(1ull << 30, 0) >= (1ull << 30) + (2ull << 20));
	assert_true(backup_convert_max_bytes(1ull << 30, 0) < (2ull << 30));
	assert_int_equal(backup_convert_max_bytes(1ull << 30, 5000) - backup_convert_max_bytes(1ull << 30, 0),
			 5000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(key_check_confined, setup, teardown),
		cmocka_unit_test_setup_teardown(key_check_as_owner, setup, teardown),
		cmocka_unit_test(convert_limits),
	};

	if (geteuid() != 0) {
		printf("skipped: qemu-img is confined for root, and this checks what root drops\n");
		return 77;
	}
	if (system("command -v qemu-img > /dev/null") != 0) {
		printf("skipped: no qemu-img to make the LUKS file checked before the fake runs\n");
		return 77;
	}
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
