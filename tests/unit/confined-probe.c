/* What lib/spawn-confined.c's child may still do, tried from inside it:
 * confined-probe OUT TTY writes to descriptor OUT one line per try, "NAME
 * 0" when the call succeeded, else "NAME ERRNO" (TTY: a terminal's
 * descriptor it was given, -1 for none). Run by test-spawn-confined. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static int out;

static void tried(const char *name, long ret)
{
	dprintf(out, "%s %d\n", name, ret < 0 ? errno : 0);
}

static void limit(const char *name, int resource)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl) == 0)
		dprintf(out, "%s %llu\n", name, (unsigned long long)rl.rlim_max);
}

/* 32 KiB into a file of its own: EFBIG past RLIMIT_FSIZE (SIGXFSZ ignored). */
static long write_32k(void)
{
	char block[4096] = { 0 };
	int fd = memfd_create("probe", 0);
	long n = 0;

	signal(SIGXFSZ, SIG_IGN);
	for (int i = 0; fd >= 0 && i < 8 && n >= 0; i++)
		n = write(fd, block, sizeof(block));
	return fd < 0 ? -1 : n;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int tty = argc > 2 ? atoi(argv[2]) : -1;
	struct stat st;
	char c = '#';

	if (argc < 4)
		return 2;
	out = atoi(argv[1]);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[3]);
	tried("socket", socket(AF_UNIX, SOCK_STREAM, 0));
	tried("connect", connect(-1, (struct sockaddr *)&sa, sizeof(sa))); /* EBADF when not filtered */
	tried("unshare", unshare(CLONE_NEWUSER));
	tried("clone", syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0) == 0 ? (_exit(0), 0) : -1);
	tried("clone3", syscall(SYS_clone3, NULL, 0));
	tried("kill", kill(getppid(), 0));
	tried("kill-self", kill(getpid(), 0));
	if (tty >= 0)
		tried("tiocsti", ioctl(tty, TIOCSTI, &c));
	tried("ctty", open("/dev/tty", O_RDWR | O_NOCTTY));
	dprintf(out, "session %d\n", getsid(0) == getpid());
	dprintf(out, "stdin %d\n", fstat(0, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
	limit("fsize", RLIMIT_FSIZE);
	limit("nofile", RLIMIT_NOFILE);
	limit("core", RLIMIT_CORE);
	tried("write-past-fsize", write_32k());
	tried("procmem", open("/proc/1/mem", O_RDONLY));
	return 0;
}
