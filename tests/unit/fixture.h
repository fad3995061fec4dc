/* Unit-test fixtures: a private directory under /tmp, and its removal with
 * everything in it (nftw, depth first, symlinks not followed; no shell). */
#pragma once
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Creates /tmp/<name>-XXXXXX into dir (size len). 0, or -1 with errno. */
static inline int fixture_tmpdir(char *dir, size_t len, const char *name)
{
	int n = snprintf(dir, len, "/tmp/%s-XXXXXX", name);

	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkdtemp(dir) ? 0 : -1;
}

static inline int fixture_remove_one(const char *path, const struct stat *st, int type,
				     struct FTW *ftw)
{
	return remove(path);
}

/* Removes dir and all it holds. 0, or -1 with errno. */
static inline int fixture_rmtree(const char *dir)
{
	return nftw(dir, fixture_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A temporary directory and one file's path in it, as cmocka setup and
 * teardown, for a module that keeps one file. */
struct fixture_file {
	char path[64];
	char file[128];
};

static inline int fixture_file_setup(void **state, const char *name, const char *file)
{
	struct fixture_file *d = calloc(1, sizeof(*d));

	if (!d || fixture_tmpdir(d->path, sizeof(d->path), name)) {
		free(d);
		return -1;
	}
	snprintf(d->file, sizeof(d->file), "%s/%s", d->path, file);
	*state = d;
	return 0;
}

static inline int fixture_file_teardown(void **state)
{
	struct fixture_file *d = *state;

	fixture_rmtree(d->path);
	free(d);
	return 0;
}
