/* lib/spawn-confined.h. Between fork and exec the child makes only
 * async-signal-safe calls (signal-safety(7)): raw syscalls, no malloc, no
 * stdio; what it needs formatted is formatted before the fork. Followed:
 * prctl(2) (PR_SET_NO_NEW_PRIVS, PR_CAPBSET_READ/DROP, PR_CAP_AMBIENT),
 * capabilities(7), capset(2), unshare(2), user_namespaces(7),
 * network_namespaces(7), close_range(2), setsid(2), setrlimit(2), seccomp(2)
 * and the kernel's Documentation/userspace-api/seccomp_filter.rst. */
#include "lib/spawn-confined.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

extern char **environ;

enum step { STEP_FDS, STEP_SESSION, STEP_STDIO, STEP_LIMITS, STEP_NNP, STEP_NET, STEP_BOUNDING, STEP_OWNER,
	    STEP_AMBIENT, STEP_CAPS, STEP_FILTER, STEP_EXEC };

static const char *const step_names[] = {
	[STEP_FDS] = "descriptors", [STEP_SESSION] = "session", [STEP_STDIO] = "standard streams",
	[STEP_LIMITS] = "resource limits", [STEP_NNP] = "no new privileges",
	[STEP_NET] = "network namespace", [STEP_BOUNDING] = "capability bounding set",
	[STEP_OWNER] = "the files' owner",
	[STEP_AMBIENT] = "ambient capabilities", [STEP_CAPS] = "capabilities",
	[STEP_FILTER] = "system call filter",
};

/* What a child that did not reach its program writes on its report pipe. */
struct report {
	int step, err;
};

struct child {
	char path[PATH_MAX];
	char *const *argv;
	const int *keep;
	size_t nkeep;
	const struct spawn_confined_opts *o;
	int report;              /* close-on-exec: EOF at a successful exec */
	bool as_owner;           /* becomes uid:gid, the owner of the files kept */
	uid_t uid;
	gid_t gid;
};

/* The smallest descriptor at or above from that the child keeps, -1 if none. */
static int next_kept(const struct child *c, int from)
{
	int best = c->report >= from ? c->report : -1;

	for (size_t k = 0; k < c->nkeep; k++)
		if (c->keep[k] >= from && (best < 0 || c->keep[k] < best))
			best = c->keep[k];
	return best;
}

/* keep[] loses close-on-exec (in the child only); every other descriptor
 * above 2 is closed, the report pipe at exec. */
static int only_kept_fds(const struct child *c)
{
	int from = 3, next;

	for (size_t k = 0; k < c->nkeep; k++)
		if (c->keep[k] >= 0 && fcntl(c->keep[k], F_SETFD, 0) < 0)
			return -errno;
	do {
		next = next_kept(c, from);
		if ((next < 0 || next > from) &&
		    close_range((unsigned)from, next < 0 ? ~0u : (unsigned)next - 1, 0) < 0)
			return -errno;
		from = next + 1;
	} while (next >= 0);
	return 0;
}

/* Its own session, so that the terminal a CLI runs in is no longer its
 * controlling one (no TIOCSTI into it, no signals from it). */
static int own_session(void)
{
	return setsid() < 0 ? -errno : 0;
}

/* fd (a descriptor 0-2) on /dev/null, opened with flags. */
static int to_null(int fd, int flags)
{
	int n = open("/dev/null", flags); /* kept at exec if it is fd */

	if (n < 0)
		return -errno;
	if (n != fd && dup2(n, fd) < 0) {
		close(n);
		return -errno;
	}
	return n == fd ? 0 : close(n);
}

/* Nothing to read (the callers give it no input but files and keys it is
 * named), its output unread; its errors too when quiet. */
static int quiet_stdio(const struct child *c)
{
	int ret;

	if ((ret = to_null(STDIN_FILENO, O_RDONLY)) < 0 || (ret = to_null(STDOUT_FILENO, O_WRONLY)) < 0)
		return ret;
	return c->o->quiet ? to_null(STDERR_FILENO, O_WRONLY) : 0;
}

static int limit(int resource, rlim_t max)
{
	struct rlimit rl = { max, max };

	return setrlimit(resource, &rl) < 0 ? -errno : 0;
}

/* No file it writes grows past max_file_bytes (SIGXFSZ, else EFBIG), few
 * descriptors, no core dump (it may hold a key). */
static int limits(const struct child *c)
{
	int ret;

	if ((ret = limit(RLIMIT_FSIZE, c->o->max_file_bytes)) < 0 ||
	    (ret = limit(RLIMIT_NOFILE, SPAWN_CONFINED_NOFILE)) < 0)
		return ret;
	return limit(RLIMIT_CORE, 0);
}

/* A network namespace of its own (only a loopback, down): 1 made, 0 not
 * allowed here (no CAP_SYS_ADMIN), else -errno. */
static int own_network(void)
{
	if (unshare(CLONE_NEWNET) == 0)
		return 1;
	return errno == EPERM ? 0 : -errno;
}

/* The same without CAP_SYS_ADMIN (the helper's unit leaves it none): inside
 * a new user namespace, with no uid map, as mapping uid 0 needs
 * CAP_SETFCAP (user_namespaces(7)) and files are still checked against the
 * process's own uid and gid. Where that is not allowed either the program
 * does not run. */
static int own_network_in_user_ns(void)
{
	return unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0 ? -errno : 0;
}

/* Every capability the kernel knows out of the bounding set: PR_CAPBSET_READ
 * fails with EINVAL past the last (/proc/sys/kernel/cap_last_cap). One
 * already out is not dropped again (that needs CAP_SETPCAP, which a process
 * whose set is already empty lacks). */
static int empty_bounding_set(void)
{
	for (unsigned long cap = 0;; cap++) {
		int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);

		if (in < 0)
			return errno == EINVAL && cap > 0 ? 0 : -errno;
		if (in && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return -errno;
	}
}

/* Effective, permitted and inheritable emptied. With the bounding and
 * ambient sets empty too, an exec by uid 0 gains none back: capabilities(7)
 * gives root's exec P'(permitted) = P(inheritable) | P(bounding) |
 * P'(ambient), so SECBIT_NOROOT is not needed. */
static int no_capabilities(void)
{
	struct __user_cap_header_struct head = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	return syscall(SYS_capset, &head, data) < 0 ? -errno : 0;
}

/* The owner of the files kept, so that it may open them again as
 * /dev/fd/N (a reopen checks the file's mode against the process, as
 * open(2) does): raw syscalls, for this thread only (setresuid(2)). Going
 * from uid 0 to another empties the capability sets (capabilities(7)). */
static int become_owner(const struct child *c)
{
	if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, c->gid, c->gid, c->gid) < 0 ||
	    syscall(SYS_setresuid, c->uid, c->uid, c->uid) < 0)
		return -errno;
	return 0;
}

/* The system call filter (seccomp(2), Documentation/userspace-api/
 * seccomp_filter.rst): a DENY-LIST, everything not named is allowed. An
 * allow-list would have to follow every qemu-img and glibc release (a
 * missed call kills a restore); what is named here is what uid 0 without
 * capabilities could still turn against the host: sockets (root's UNIX
 * sockets: libvirt's, D-Bus, the helper's; a network namespace does not
 * hide a path), more namespaces, mounts, tracing and other processes'
 * memory, signals to other processes, the kernel's keyring, BPF, perf,
 * modules, io_uring (its operations pass no filter) and typing into a
 * terminal. strace of qemu-img check and convert of LUKS qcow2 chains
 * shows none of them but io_uring_setup, which it does without (it polls). */
#if defined(__x86_64__)
#define FILTER_ARCH AUDIT_ARCH_X86_64
#define FILTER_MAX 256
#define ARG_LO(i) ((unsigned)offsetof(struct seccomp_data, args[i]) + \
		   (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? 0 : 4))
#define NEW_NAMESPACES (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
			CLONE_NEWPID | CLONE_NEWNET)

struct filter {
	struct sock_filter ins[FILTER_MAX];
	unsigned short n;
};

static void emit(struct filter *f, unsigned short code, unsigned k, unsigned char jt, unsigned char jf)
{
	if (f->n < FILTER_MAX)
		f->ins[f->n] = (struct sock_filter){ code, jt, jf, k };
	f->n++;
}

static void answer(struct filter *f, unsigned nr, unsigned ret)
{
	emit(f, BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1);
	emit(f, BPF_RET | BPF_K, ret, 0, 0);
}

static void deny(struct filter *f, unsigned nr)
{
	answer(f, nr, SECCOMP_RET_ERRNO | EPERM);
}

/* nr is refused when the low 32 bits of its argument arg (what the kernel
 * reads of an int, an unsigned int or clone's flags) match: op BPF_JEQ
 * (equal to value) or BPF_JSET (any bit of value); else allowed. */
static void deny_when(struct filter *f, unsigned nr, unsigned arg, unsigned short op, unsigned value)
{
	emit(f, BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 4);
	emit(f, BPF_LD | BPF_W | BPF_ABS, ARG_LO(arg), 0, 0);
	emit(f, BPF_JMP | op | BPF_K, value, 0, 1);
	emit(f, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM, 0, 0);
	emit(f, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
}

/* nr is allowed only when argument arg names this process: pid, or 0 when
 * zero_is_self (sched_setaffinity(0, ...)). */
static void only_self(struct filter *f, unsigned nr, unsigned arg, pid_t pid, bool zero_is_self)
{
	emit(f, BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 5);
	emit(f, BPF_LD | BPF_W | BPF_ABS, ARG_LO(arg), 0, 0);
	emit(f, BPF_JMP | BPF_JEQ | BPF_K, (unsigned)pid, 2, 0);
	emit(f, BPF_JMP | BPF_JEQ | BPF_K, zero_is_self ? 0 : (unsigned)pid, 1, 0);
	emit(f, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM, 0, 0);
	emit(f, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
}

/* Allowed on itself alone: pid 0 or its own in the first argument. */
static const unsigned short self_or_zero[] = {
	__NR_prlimit64, __NR_sched_setaffinity, __NR_sched_setscheduler, __NR_sched_setparam,
	__NR_sched_setattr, __NR_migrate_pages, __NR_move_pages,
};

static const unsigned short denied[] = {
	__NR_socket, __NR_socketpair, __NR_connect, __NR_bind, __NR_listen, __NR_accept, __NR_accept4,
	__NR_sendto, __NR_sendmsg, __NR_sendmmsg, __NR_recvfrom, __NR_recvmsg, __NR_recvmmsg,
	__NR_unshare, __NR_setns, __NR_mount, __NR_umount2, __NR_pivot_root, __NR_chroot,
	__NR_fsopen, __NR_fsconfig, __NR_fsmount, __NR_fspick, __NR_open_tree, __NR_move_mount,
	__NR_mount_setattr, __NR_open_by_handle_at, __NR_name_to_handle_at,
	__NR_ptrace, __NR_process_vm_readv, __NR_process_vm_writev, __NR_process_madvise, __NR_kcmp,
	__NR_tkill, __NR_rt_sigqueueinfo, __NR_rt_tgsigqueueinfo, __NR_pidfd_open, __NR_pidfd_getfd,
	__NR_pidfd_send_signal, __NR_setpriority, __NR_ioprio_set,
	__NR_bpf, __NR_perf_event_open, __NR_keyctl, __NR_add_key, __NR_request_key, __NR_init_module,
	__NR_finit_module, __NR_delete_module, __NR_kexec_load, __NR_kexec_file_load, __NR_reboot,
	__NR_swapon, __NR_swapoff, __NR_personality, __NR_userfaultfd, __NR_io_uring_setup,
	__NR_io_uring_enter, __NR_io_uring_register, __NR_acct, __NR_quotactl, __NR_syslog,
};

/* The filter for the process pid, into f: the architecture first (an
 * x86_64 process can also make i386 calls, int 0x80, and x32 ones, with
 * bit 30 set, whose numbers the list does not name: killed). */
static int build_filter(struct filter *f, pid_t pid)
{
	f->n = 0;
	emit(f, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
	emit(f, BPF_JMP | BPF_JEQ | BPF_K, FILTER_ARCH, 1, 0);
	emit(f, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
	emit(f, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
	emit(f, BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1);
	emit(f, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0);
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		deny(f, denied[i]);
	answer(f, __NR_clone3, SECCOMP_RET_ERRNO | ENOSYS); /* its flags are behind a pointer: glibc falls back to clone */
	deny_when(f, __NR_clone, 0, BPF_JSET, NEW_NAMESPACES);
	deny_when(f, __NR_ioctl, 1, BPF_JEQ, TIOCSTI);
	deny_when(f, __NR_ioctl, 1, BPF_JEQ, TIOCLINUX);
	only_self(f, __NR_kill, 0, pid, false);
	only_self(f, __NR_tgkill, 0, pid, false);
	for (size_t i = 0; i < sizeof(self_or_zero) / sizeof(self_or_zero[0]); i++)
		only_self(f, self_or_zero[i], 0, pid, true);
	emit(f, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
	return f->n <= FILTER_MAX ? 0 : -E2BIG;
}

/* Installed last: it refuses unshare, which the namespaces above need. */
static int system_call_filter(void)
{
	struct filter f;
	struct sock_fprog prog;
	int ret = build_filter(&f, getpid());

	if (ret < 0)
		return ret;
	prog.len = f.n;
	prog.filter = f.ins;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0 ? -errno : 0;
}
#else
/* No filter is written for this architecture: the program does not run
 * (fail closed) rather than run unfiltered. */
static int system_call_filter(void)
{
	return -ENOSYS;
}
#endif

static int confine(const struct child *c, enum step *step)
{
	int ret, net;

	if ((*step = STEP_FDS, ret = only_kept_fds(c)) < 0 || (*step = STEP_SESSION, ret = own_session()) < 0 ||
	    (*step = STEP_STDIO, ret = quiet_stdio(c)) < 0 || (*step = STEP_LIMITS, ret = limits(c)) < 0)
		return ret;
	if ((*step = STEP_NNP, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) < 0)
		return -errno;
	if ((*step = STEP_NET, net = own_network()) < 0)
		return net;
	/* the bounding set goes while CAP_SETPCAP may still be there, the
	 * user namespace comes once CAP_SETUID is no longer needed */
	if ((net && (*step = STEP_BOUNDING, ret = empty_bounding_set()) < 0) ||
	    (c->as_owner && (*step = STEP_OWNER, ret = become_owner(c)) < 0) ||
	    (!net && (*step = STEP_NET, ret = own_network_in_user_ns()) < 0) ||
	    (!net && (*step = STEP_BOUNDING, ret = empty_bounding_set()) < 0))
		return ret;
	if ((*step = STEP_AMBIENT, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)) < 0)
		return -errno;
	if ((*step = STEP_CAPS, ret = no_capabilities()) < 0)
		return ret;
	*step = STEP_FILTER;
	return system_call_filter();
}

static _Noreturn void run_child(const struct child *c)
{
	enum step step;
	struct report r;
	int ret = confine(c, &step);

	if (ret == 0) {
		execve(c->path, c->argv, environ);
		step = STEP_EXEC;
		ret = -errno;
	}
	r.step = step;
	r.err = -ret;
	(void)!write(c->report, &r, sizeof(r));
	_exit(127);
}

/* prog's path as execvp would find it: the first executable regular file
 * of its name in PATH. */
static int find_program(const char *prog, char *buf, size_t len)
{
	const char *dirs = getenv("PATH"), *end;
	struct stat st;
	int n;

	if (strchr(prog, '/'))
		return snprintf(buf, len, "%s", prog) < (int)len ? 0 : -ENAMETOOLONG;
	for (dirs = dirs ? dirs : "/bin:/usr/bin"; *dirs; dirs = *end ? end + 1 : end) {
		end = strchrnul(dirs, ':');
		n = snprintf(buf, len, "%.*s/%s", end == dirs ? 1 : (int)(end - dirs),
			     end == dirs ? "." : dirs, prog);
		if (n < (int)len && stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* The one owner of the files kept that not everyone may read and write
 * (a memfd may be), when it is not this process: then the child becomes it. */
static int files_owner(struct child *c)
{
	bool one = false;
	struct stat st;

	for (size_t k = 0; k < c->nkeep; k++) {
		if (c->keep[k] < 0)
			continue;
		if (fstat(c->keep[k], &st) < 0)
			return -errno;
		if ((st.st_mode & (S_IROTH | S_IWOTH)) == (S_IROTH | S_IWOTH))
			continue;
		if (one && (st.st_uid != c->uid || st.st_gid != c->gid))
			return 0; /* several: it stays as it is, and opens what it may */
		one = true;
		c->uid = st.st_uid;
		c->gid = st.st_gid;
	}
	c->as_owner = one && c->uid != geteuid();
	return 0;
}

/* The report a child wrote before it _exit'ed, else none (its exec closed
 * the pipe): 0, or -errno and *step. */
static int child_report(int fd, pid_t pid, const char **step)
{
	struct report r;
	ssize_t n;

	while ((n = read(fd, &r, sizeof(r))) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(r))
		return 0;
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	*step = r.step == STEP_EXEC ? NULL : step_names[r.step];
	return r.err > 0 ? -r.err : -EIO;
}

int spawn_confined(const char *prog, char *const argv[], const int *keep, size_t nkeep,
		   const struct spawn_confined_opts *o, pid_t *pid, const char **step)
{
	struct child c = { .argv = argv, .keep = keep, .nkeep = nkeep, .o = o };
	int pipefd[2], ret;

	*step = NULL;
	if ((ret = find_program(prog, c.path, sizeof(c.path))) < 0 || (ret = files_owner(&c)) < 0)
		return ret;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	c.report = pipefd[1];
	if ((*pid = fork()) == 0)
		run_child(&c);
	ret = *pid < 0 ? -errno : 0;
	close(pipefd[1]);
	if (!ret)
		ret = child_report(pipefd[0], *pid, step);
	close(pipefd[0]);
	return ret;
}
