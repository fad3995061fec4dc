#include "lib/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_parent(const char *path)
{
	char copy[PATH_MAX];
	int fd, ret = 0;

	if (strlen(path) >= sizeof(copy))
		return -ENAMETOOLONG;
	strcpy(copy, path);
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* A new file's mode set (the umask must not widen or narrow what the
 * caller asked for), data written whole and synced. */
static int fill_synced(int fd, mode_t mode, const void *data, size_t len)
{
	int ret = fchmod(fd, mode) < 0 ? -errno : 0;

	if (ret == 0)
		ret = write_all(fd, data, len);
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	return ret;
}

/* Writes a complete temporary file next to path and fsyncs it; the caller
 * then publishes it with rename (replace) or link (create only). */
static int write_temp(const char *path, const void *data, size_t len, mode_t mode,
		      char *tmp, size_t tmplen)
{
	int fd, ret;

	if (snprintf(tmp, tmplen, "%s.tmp.%d", path, (int)getpid()) >= (int)tmplen)
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	ret = fill_synced(fd, mode, data, len);
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
	return ret;
}

int atomic_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int ret = write_temp(path, data, len, mode, tmp, sizeof(tmp));

	if (ret < 0)
		return ret;
	if (rename(tmp, path) < 0) {
		ret = -errno;
		unlink(tmp);
		return ret;
	}
	return fsync_parent(path);
}

/* path made at once whole: an unnamed file of its directory (O_TMPFILE)
 * written, synced and linked in, so no name ever holds it half-written.
 * *unnamed false when the kernel or filesystem makes no such file, or
 * /proc is not there to link it by. */
static int create_unnamed(const char *path, const void *data, size_t len, mode_t mode,
			  bool *unnamed)
{
	char dir[PATH_MAX], self[32];
	int fd, ret;

	*unnamed = true;
	if (strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	fd = open(dirname(dir), O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
	if (fd < 0) {
		*unnamed = errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL;
		return -errno;
	}
	ret = fill_synced(fd, mode, data, len);
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (ret == 0 && linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0) {
		ret = -errno;
		*unnamed = errno != ENOENT || access(self, F_OK) == 0;
	}
	close(fd);
	return ret;
}

int atomic_create_file(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	bool unnamed;
	int ret = create_unnamed(path, data, len, mode, &unnamed);

	if (unnamed)
		return ret < 0 ? ret : fsync_parent(path);
	if ((ret = write_temp(path, data, len, mode, tmp, sizeof(tmp))) < 0)
		return ret;
	/* link() fails with EEXIST instead of replacing: of two racing
	 * creators exactly one wins, and the file is never half-written. */
	ret = link(tmp, path) < 0 ? -errno : 0;
	unlink(tmp);
	return ret < 0 ? ret : fsync_parent(path);
}

int read_file(const char *path, size_t max, char **out, size_t *len)
{
	char *buf = NULL;
	size_t used = 0, cap = 0;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n;

		if (used + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nbuf;

			if (cap > max + 1)
				ncap = cap;
			nbuf = realloc(buf, ncap);
			if (!nbuf) {
				ret = -ENOMEM;
				goto cleanup;
			}
			buf = nbuf;
			cap = ncap;
		}
		n = read(fd, buf + used, cap - used - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto cleanup;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > max) {
			ret = -EFBIG;
			goto cleanup;
		}
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	buf = NULL;
cleanup:
	free(buf);
	close(fd);
	return ret;
}

int mkdir_p(const char *path, mode_t mode)
{
	char copy[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(copy))
		return -EINVAL;
	strcpy(copy, path);
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int fd_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n, len -= (size_t)n;
	}
	return 0;
}
