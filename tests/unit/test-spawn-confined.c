/* lib/spawn-confined.c's child, probed from inside by confined-probe
 * (OSI_CONFINED_PROBE): in a session of its own, away from the terminal it
 * was started from (no TIOCSTI into it), stdin on /dev/null, under the
 * limits asked for, and refused by the system call filter what uid 0
 * without capabilities could still do: a socket (root's UNIX sockets),
 * more namespaces, a signal to another process. Both ways it makes its
 * network namespace: with CAP_SYS_ADMIN, and without (the helper's unit),
 * in a user namespace. Root only; 77 elsewhere. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/capability.h>

#include "lib/spawn-confined.h"
#include "tests/unit/fixture.h"

struct fx {
	char dir[64], sock[96];
	int listener, tty, ttyfd;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (!f || fixture_tmpdir(f->dir, sizeof(f->dir), "test-spawn-confined"))
		return -1;
	snprintf(f->sock, sizeof(f->sock), "%s/root.sock", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	f->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f->listener < 0 || bind(f->listener, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(f->listener, 4) < 0)
		return -1;
	f->tty = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (f->tty < 0 || grantpt(f->tty) < 0 || unlockpt(f->tty) < 0)
		return -1;
	f->ttyfd = open(ptsname(f->tty), O_RDWR | O_NOCTTY | O_CLOEXEC);
	*state = f;
	return f->ttyfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int ret = fixture_rmtree(f->dir);

	close(f->listener);
	close(f->tty);
	close(f->ttyfd);
	free(f);
	return ret;
}

/* Everything but CAP_SYS_ADMIN, as the helper's unit leaves root. */
static int drop_sys_admin(void)
{
	struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &head, data) < 0)
		return -1;
	data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
	data[CAP_TO_INDEX(CAP_SYS_ADMIN)].permitted &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
	return syscall(SYS_capset, &head, data) < 0 ? -1 : 0;
}

/* In a process of its own whose controlling terminal is f's pty (on 0-2,
 * as `vm restore` in an operator's shell), without CAP_SYS_ADMIN unless
 * admin: spawn_confined runs the probe and waits. Its exit status: 0 when
 * the probe ran and exited 0. */
static int probe_from_terminal(struct fx *f, bool admin, int out)
{
	struct spawn_confined_opts o = { .quiet = false, .max_file_bytes = 12345 };
	char outs[16], ttys[16], *argv[] = { "confined-probe", outs, ttys, f->sock, NULL };
	int keep[] = { out, f->ttyfd }, status;
	const char *step;
	pid_t pid;

	snprintf(outs, sizeof(outs), "%d", out);
	snprintf(ttys, sizeof(ttys), "%d", f->ttyfd);
	if (setsid() < 0 || ioctl(f->ttyfd, TIOCSCTTY, 0) < 0 || dup2(f->ttyfd, 0) < 0 ||
	    dup2(f->ttyfd, 1) < 0 || (!admin && drop_sys_admin() < 0))
		return 10;
	if (spawn_confined(getenv("OSI_CONFINED_PROBE"), argv, keep, 2, &o, &pid, &step) < 0)
		return 11;
	if (waitpid(pid, &status, 0) != pid)
		return 12;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 13;
}

/* What the probe reported, into seen. */
static void probe(struct fx *f, bool admin, char *seen, size_t len)
{
	int pfd[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	if ((pid = fork()) == 0) {
		close(pfd[0]);
		_exit(probe_from_terminal(f, admin, pfd[1]));
	}
	close(pfd[1]);
	while ((n = read(pfd[0], seen + got, len - 1 - (size_t)got)) > 0)
		got += n;
	seen[got] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("the probe did not run (status %#x); it saw:\n%s", status, seen);
}

static void expect_line(const char *seen, const char *line)
{
	if (!strstr(seen, line))
		fail_msg("the probe saw:\n%s\nwithout \"%s\"", seen, line);
}

static void confined(struct fx *f, bool admin)
{
	char seen[1024], line[64];

	probe(f, admin, seen, sizeof(seen));
	snprintf(line, sizeof(line), "socket %d\n", EPERM);
	expect_line(seen, line);
	snprintf(line, sizeof(line), "connect %d\n", EPERM);
	expect_line(seen, line);
	assert_true(accept(f->listener, NULL, NULL) < 0 && errno == EAGAIN); /* nothing reached it */
	snprintf(line, sizeof(line), "unshare %d\n", EPERM);
	expect_line(seen, line);
	snprintf(line, sizeof(line), "clone %d\n", EPERM);
	expect_line(seen, line);
	snprintf(line, sizeof(line), "clone3 %d\n", ENOSYS);
	expect_line(seen, line);
	snprintf(line, sizeof(line), "kill %d\n", EPERM);
	expect_line(seen, line);
	expect_line(seen, "kill-self 0\n");
	snprintf(line, sizeof(line), "tiocsti %d\n", EPERM);
	expect_line(seen, line);
	snprintf(line, sizeof(line), "ctty %d\n", ENXIO);
	expect_line(seen, line);
	expect_line(seen, "session 1\n");
	expect_line(seen, "stdin 1\n");
	expect_line(seen, "fsize 12345\n");
	snprintf(line, sizeof(line), "write-past-fsize %d\n", EFBIG);
	expect_line(seen, line);
	snprintf(line, sizeof(line), "nofile %d\n", SPAWN_CONFINED_NOFILE);
	expect_line(seen, line);
	expect_line(seen, "core 0\n");
}

/* As root runs it (the CLI's `vm restore`): its own network namespace. */
static void confined_as_root(void **state)
{
	confined(*state, true);
}

/* Without CAP_SYS_ADMIN (the helper's unit): a user namespace too. */
static void confined_without_sys_admin(void **state)
{
	confined(*state, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(confined_as_root, setup, teardown),
		cmocka_unit_test_setup_teardown(confined_without_sys_admin, setup, teardown),
	};

	const char *asan = getenv("ASAN_OPTIONS");
	char opts[512];

	if (geteuid() != 0 || !getenv("OSI_CONFINED_PROBE")) {
		printf("skipped: root confines, and this needs OSI_CONFINED_PROBE\n");
		return 77;
	}
	/* The probe, built with the sanitizers as the test is, would run
	 * LeakSanitizer at its exit, which stops the world with ptrace: the
	 * filter refuses that, and the probe would end in LeakSanitizer's fatal
	 * error. This process parsed its own options already. */
	snprintf(opts, sizeof(opts), "%s%sdetect_leaks=0", asan ? asan : "", asan && *asan ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
