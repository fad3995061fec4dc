#include "service-vm-host/approval-spent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/errbuf.h"
#include "service-vm-host/fleet-approval.h"

/* <state_dir>/approvals, made if missing; refused unless it is a directory
 * of ours that nobody else may write. */
static int open_dir(const char *state_dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (snprintf(path, sizeof(path), "%s/approvals", state_dir) >= (int)sizeof(path))
		return errbuf_fail(-ENAMETOOLONG, err, errlen, "the state directory's name is too long");
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return errbuf_fail(-errno, err, errlen, "%s: %s", path, strerror(errno));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errbuf_fail(-errno, err, errlen, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 077)) {
		close(fd);
		return errbuf_fail(-EPERM, err, errlen, "%s is not this user's alone: refused", path);
	}
	return fd;
}

/* Files older than twice the window go. */
static void sweep(int dfd, int64_t now)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	struct stat st;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime < now - 2 * APPROVAL_FRESH_S)
			unlinkat(dfd, e->d_name, 0);
	closedir(d);
}

int approval_spend(const char *state_dir, const uint8_t sig[SIG_BYTES], int64_t now, char *err,
		   size_t errlen)
{
	uint8_t sum[crypto_hash_sha256_BYTES];
	char name[2 * sizeof(sum) + 1];
	int dfd = open_dir(state_dir, err, errlen), fd;

	if (dfd < 0)
		return dfd;
	sweep(dfd, now);
	crypto_hash_sha256(sum, sig, SIG_BYTES);
	sodium_bin2hex(name, sizeof(name), sum, sizeof(sum));
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;

		close(dfd);
		return e == EEXIST ? errbuf_fail(-EALREADY, err, errlen, "this approval of the fleet was "
						 "used already (a replay)")
				   : errbuf_fail(-e, err, errlen, "cannot record the approval: %s", strerror(e));
	}
	close(fd);
	fsync(dfd);
	close(dfd);
	return 0;
}
