/* lib/spawn-confined.h. Between fork and exec the child makes only
 * async-signal-safe calls (signal-safety(7)): raw syscalls, no malloc, no
 * stdio; what it needs formatted is formatted before the fork. Followed:
 * prctl(2) (PR_SET_NO_NEW_PRIVS, PR_CAPBSET_READ/DROP, PR_CAP_AMBIENT),
 * capabilities(7), capset(2), unshare(2), user_namespaces(7),
 * network_namespaces(7), close_range(2). */
#include "lib/spawn-confined.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

extern char **environ;

enum step { STEP_FDS, STEP_STDERR, STEP_NNP, STEP_NET, STEP_BOUNDING, STEP_OWNER, STEP_AMBIENT, STEP_CAPS,
	    STEP_EXEC };

static const char *const step_names[] = {
	[STEP_FDS] = "descriptors", [STEP_STDERR] = "stderr", [STEP_NNP] = "no new privileges",
	[STEP_NET] = "network namespace", [STEP_BOUNDING] = "capability bounding set",
	[STEP_OWNER] = "the files' owner",
	[STEP_AMBIENT] = "ambient capabilities", [STEP_CAPS] = "capabilities",
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
	bool quiet;
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

static int stderr_to_null(void)
{
	int fd = open("/dev/null", O_WRONLY); /* kept at exec if it is 2 */

	if (fd < 0)
		return -errno;
	if (fd != STDERR_FILENO && dup2(fd, STDERR_FILENO) < 0) {
		close(fd);
		return -errno;
	}
	return fd == STDERR_FILENO ? 0 : close(fd);
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

static int confine(const struct child *c, enum step *step)
{
	int ret, net;

	if ((*step = STEP_FDS, ret = only_kept_fds(c)) < 0 ||
	    (c->quiet && (*step = STEP_STDERR, ret = stderr_to_null()) < 0))
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
	*step = STEP_CAPS;
	return no_capabilities();
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

int spawn_confined(const char *prog, char *const argv[], const int *keep, size_t nkeep, bool quiet,
		   pid_t *pid, const char **step)
{
	struct child c = { .argv = argv, .keep = keep, .nkeep = nkeep, .quiet = quiet };
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
