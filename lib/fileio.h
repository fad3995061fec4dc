/* Whole-file reads and atomic replacement (write to a temporary file in the
 * same directory, fsync, rename, fsync the directory). A crash at any point
 * leaves either the old file or the new one, never a mix. */
#pragma once
#include <stddef.h>
#include <sys/types.h>

int atomic_write_file(const char *path, const void *data, size_t len, mode_t mode);
/* The same, but never replaces: -EEXIST if path exists (checked atomically).
 * Written as an unnamed file of path's directory (O_TMPFILE) and linked in,
 * so no temporary name is left by a writer killed midway; on a filesystem
 * without those, through path.tmp.PID as atomic_write_file. */
int atomic_create_file(const char *path, const void *data, size_t len, mode_t mode);
/* Reads at most max bytes; -EFBIG if the file is larger. *out is NUL-terminated
 * (not counted in *len) and must be freed by the caller. */
/* All of len bytes to fd, a short write continued: 0, or -errno (-EIO when
 * nothing more is taken). */
int fd_write_all(int fd, const void *buf, size_t len);
int read_file(const char *path, size_t max, char **out, size_t *len);
/* mkdir -p with the given mode for directories it creates. */
int mkdir_p(const char *path, mode_t mode);
