/* Whether only root can change what a path names: for paths a root service
 * (osi-backup@.service) is told to read or write at every run, long after
 * they were given (lib/safe-path.c). */
#pragma once
#include <limits.h>
#include <stddef.h>

/* 0 when path (absolute) resolves, with every symlink followed, to a file
 * or directory that root owns and no group or other may write, under
 * directories each root's and not writable by group or others, or sticky
 * (like /tmp: no one else may rename or delete root's entries there).
 * A path that does not exist yet is judged by its nearest existing
 * directory, which must then be safe itself (sticky is not enough: others
 * could make the missing name first). resolved receives the path with its
 * existing part resolved, the one to use from then on (a symlink on the
 * way could be pointed elsewhere by whoever may write its directory).
 * -EPERM with why in err (naming the directory or file at fault), or
 * -EINVAL / -errno. */
int path_safe(const char *path, char resolved[PATH_MAX], char *err, size_t errlen);
