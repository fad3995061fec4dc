/* Resolving first (realpath) and then judging the resolved path, each
 * component with lstat, judges what a later open would reach, whatever
 * symlinks the given path holds; the caller then uses the resolved path, so
 * a symlink in a directory others may write (which the resolved path no
 * longer names) cannot be pointed elsewhere later. */
#include "lib/safe-path.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A "." or ".." component in what does not exist yet: where it leads is
 * not known until it does. */
static bool dotted(const char *tail)
{
	for (const char *c = strchr(tail, '/'); c; c = strchr(c + 1, '/')) {
		size_t n = strcspn(c + 1, "/");

		if ((n == 1 && c[1] == '.') || (n == 2 && c[1] == '.' && c[2] == '.'))
			return true;
	}
	return false;
}

/* The longest existing prefix of path, resolved, in res; *tail: the rest
 * of path ("" when it all exists). */
static int resolve(const char *path, char res[PATH_MAX], const char **tail, char *err, size_t errlen)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return snprintf(err, errlen, "%s: path too long", path), -ENAMETOOLONG;
	for (;;) {
		char *slash;

		if (realpath(buf, res)) {
			*tail = path + strlen(buf);
			return 0;
		}
		if (errno != ENOENT || !(slash = strrchr(buf, '/')))
			return snprintf(err, errlen, "%s: %s", buf, strerror(errno)), -errno;
		slash[slash == buf] = '\0';
	}
}

/* One component: root's, and no group or other may write it, unless it is
 * a parent directory with the sticky bit. */
static int judge(const char *p, bool parent, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(p, &st) < 0)
		return snprintf(err, errlen, "%s: %s", p, strerror(errno)), -errno;
	if (S_ISLNK(st.st_mode))
		return snprintf(err, errlen, "%s became a symlink while it was checked", p), -EPERM;
	if (st.st_uid != 0)
		return snprintf(err, errlen, "%s is owned by uid %u, not root", p, (unsigned)st.st_uid), -EPERM;
	if ((st.st_mode & 022) && !(parent && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX)))
		return snprintf(err, errlen, "%s is writable by %s (mode %04o)%s", p,
				(st.st_mode & 002) ? "others" : "its group", (unsigned)(st.st_mode & 07777),
				parent ? ", and is not sticky" : ""), -EPERM;
	return 0;
}

/* Every directory from / down to res, then res itself, the only one
 * judged as a leaf. */
static int walk(const char *res, char *err, size_t errlen)
{
	char p[PATH_MAX];
	size_t n = strlen(res);
	int ret = judge("/", n > 1, err, errlen);

	for (size_t i = 2; !ret && i <= n; i++) {
		if (i < n && res[i] != '/')
			continue;
		memcpy(p, res, i);
		p[i] = '\0';
		ret = judge(p, i < n, err, errlen);
	}
	return ret;
}

int path_safe(const char *path, char resolved[PATH_MAX], char *err, size_t errlen)
{
	char res[PATH_MAX];
	const char *tail = "";
	int ret;

	if (path[0] != '/')
		return snprintf(err, errlen, "%s: not an absolute path", path), -EINVAL;
	if ((ret = resolve(path, res, &tail, err, errlen)) < 0)
		return ret;
	if (*tail && dotted(tail))
		return snprintf(err, errlen, "%s: a '.' or '..' after %s, which does not exist yet",
				path, res), -EINVAL;
	if ((ret = walk(res, err, errlen)) < 0) {
		size_t n = strlen(res);

		if (*tail && !strncmp(err, res, n) && err[n] == ' ') /* the nearest existing one */
			snprintf(err + strlen(err), errlen - strlen(err), " (%s does not exist yet: "
				 "whoever may write %s could make it)", path, res);
		return ret;
	}
	if (snprintf(resolved, PATH_MAX, "%s%s", *tail && !strcmp(res, "/") ? "" : res, tail) >= PATH_MAX)
		return snprintf(err, errlen, "%s: path too long", path), -ENAMETOOLONG;
	return 0;
}
