#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/fileio.h"
#include "tests/unit/fixture.h"

struct fixture {
	char dir[64];
	char path[96];
};

static int setup_dir(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (fixture_tmpdir(f->dir, sizeof(f->dir), "test-fileio"))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/file", f->dir);
	*state = f;
	return 0;
}

static int teardown_dir(void **state)
{
	struct fixture *f = *state;

	if (fixture_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	}
	closedir(d);
	return n;
}

static void write_raw(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static void test_write_no_temp_left(void **state)
{
	struct fixture *f = *state;
	char *buf;
	size_t len;

	assert_int_equal(atomic_write_file(f->path, "hello\n", 6, 0644), 0);
	assert_int_equal(count_entries(f->dir), 1);
	assert_int_equal(read_file(f->path, 100, &buf, &len), 0);
	assert_int_equal(len, 6);
	assert_string_equal(buf, "hello\n");
	free(buf);
}

static mode_t write_with_umask(const char *path, mode_t mask, mode_t mode)
{
	struct stat st;
	mode_t old = umask(mask);
	int ret = atomic_write_file(path, "x", 1, mode);

	umask(old);
	assert_int_equal(ret, 0);
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void test_mode_ignores_umask(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(write_with_umask(f->path, 077, 0644), 0644);
	assert_int_equal(write_with_umask(f->path, 0, 0600), 0600);
	assert_int_equal(write_with_umask(f->path, 022, 0666), 0666);
	assert_int_equal(write_with_umask(f->path, 0777, 0640), 0640);
}

static void test_replaces_existing(void **state)
{
	struct fixture *f = *state;
	struct stat before, after;
	char *buf;
	size_t len;

	write_raw(f->path, "old contents that are longer", 28);
	assert_int_equal(stat(f->path, &before), 0);
	assert_int_equal(atomic_write_file(f->path, "new", 3, 0600), 0);
	assert_int_equal(stat(f->path, &after), 0);
	/* a new inode: the old file was replaced, not rewritten in place */
	assert_true(before.st_ino != after.st_ino);
	assert_int_equal(read_file(f->path, 100, &buf, &len), 0);
	assert_int_equal(len, 3);
	assert_string_equal(buf, "new");
	free(buf);
	assert_int_equal(count_entries(f->dir), 1);
}

static void test_create_never_replaces(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char *buf;
	size_t len;

	assert_int_equal(atomic_create_file(f->path, "first", 5, 0600), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(atomic_create_file(f->path, "second", 6, 0600), -EEXIST);
	assert_int_equal(read_file(f->path, 100, &buf, &len), 0);
	assert_string_equal(buf, "first");
	free(buf);
	assert_int_equal(count_entries(f->dir), 1); /* no temporary file left */
}

/* Written unnamed and linked in: no name of the form path.tmp.PID is used
 * (one there is left alone), so a writer killed midway leaves none that
 * holds part of the file. Seen failing before: -EISDIR from the named
 * temporary. */
static void test_create_unnamed(void **state)
{
	struct fixture *f = *state;
	char tmp[PATH_MAX + 32], *buf;
	size_t len;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", f->path, (int)getpid());
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_int_equal(atomic_create_file(f->path, "whole", 5, 0600), 0);
	assert_int_equal(read_file(f->path, 100, &buf, &len), 0);
	assert_string_equal(buf, "whole");
	free(buf);
	assert_int_equal(rmdir(tmp), 0);
	assert_int_equal(count_entries(f->dir), 1);
}

static void test_failed_write_keeps_old(void **state)
{
	struct fixture *f = *state;
	char tmp[PATH_MAX], *buf;
	size_t len;

	write_raw(f->path, "old", 3);
	/* a directory where the temporary file would go makes open() fail */
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", f->path, (int)getpid());
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_true(atomic_write_file(f->path, "new", 3, 0600) < 0);
	assert_int_equal(read_file(f->path, 100, &buf, &len), 0);
	assert_string_equal(buf, "old");
	free(buf);
	rmdir(tmp);
}

static void test_write_missing_dir(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/nope/file", f->dir);
	assert_int_equal(atomic_write_file(path, "x", 1, 0600), -ENOENT);
	assert_int_equal(count_entries(f->dir), 0);
}

static void test_write_empty(void **state)
{
	struct fixture *f = *state;
	char *buf;
	size_t len = 99;

	assert_int_equal(atomic_write_file(f->path, "", 0, 0600), 0);
	assert_int_equal(read_file(f->path, 0, &buf, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
	free(buf);
}

static void test_read_limits(void **state)
{
	struct fixture *f = *state;
	size_t big = 10000, len = 0;
	char *data = malloc(big), *buf = NULL;

	assert_non_null(data);
	for (size_t i = 0; i < big; i++)
		data[i] = (char)('a' + i % 26);
	write_raw(f->path, data, big);

	assert_int_equal(read_file(f->path, big, &buf, &len), 0);
	assert_int_equal(len, big);
	assert_memory_equal(buf, data, big);
	assert_int_equal(buf[big], '\0');
	free(buf);

	buf = NULL;
	assert_int_equal(read_file(f->path, big - 1, &buf, &len), -EFBIG);
	assert_null(buf);
	assert_int_equal(read_file(f->path, 100, &buf, &len), -EFBIG);
	assert_int_equal(read_file(f->path, 0, &buf, &len), -EFBIG);
	/* the boundary right at the first buffer size */
	write_raw(f->path, data, 4096);
	assert_int_equal(read_file(f->path, 4095, &buf, &len), -EFBIG);
	assert_int_equal(read_file(f->path, 4096, &buf, &len), 0);
	assert_int_equal(len, 4096);
	free(buf);
	free(data);
}

static void test_read_missing(void **state)
{
	struct fixture *f = *state;
	char *buf = NULL;
	size_t len;

	assert_int_equal(read_file(f->path, 100, &buf, &len), -ENOENT);
	assert_null(buf);
	assert_int_equal(read_file(f->dir, 100, &buf, &len), -EISDIR);
}

static void test_mkdir_p(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct stat st;
	mode_t old;

	snprintf(path, sizeof(path), "%s/a/b/c", f->dir);
	old = umask(022);
	assert_int_equal(mkdir_p(path, 0700), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	/* existing directories are fine, trailing slash too */
	assert_int_equal(mkdir_p(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/a/b/", f->dir);
	assert_int_equal(mkdir_p(path, 0700), 0);
	assert_int_equal(mkdir_p("", 0700), -EINVAL);
	/* a file in the way */
	write_raw(f->path, "x", 1);
	snprintf(path, sizeof(path), "%s/sub", f->path);
	assert_int_equal(mkdir_p(path, 0700), -ENOTDIR);
}

/* The tests' own cleanup: everything under the directory goes, nothing a
 * symlink inside it points at does. */
static void test_fixture_rmtree(void **state)
{
	struct fixture *f = *state;
	char outside[64], kept[96], path[PATH_MAX];

	assert_int_equal(fixture_tmpdir(outside, sizeof(outside), "test-fileio-outside"), 0);
	snprintf(kept, sizeof(kept), "%s/kept", outside);
	write_raw(kept, "x", 1);
	snprintf(path, sizeof(path), "%s/a/b", f->dir);
	assert_int_equal(mkdir_p(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/a/b/file", f->dir);
	write_raw(path, "y", 1);
	snprintf(path, sizeof(path), "%s/a/link", f->dir);
	assert_int_equal(symlink(outside, path), 0);

	assert_int_equal(fixture_rmtree(f->dir), 0);
	assert_int_equal(access(f->dir, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(access(kept, F_OK), 0);
	assert_int_equal(fixture_rmtree(outside), 0);
	/* teardown removes it again: give it something to remove */
	assert_int_equal(mkdir(f->dir, 0700), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_no_temp_left, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_mode_ignores_umask, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_replaces_existing, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_create_never_replaces, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_create_unnamed, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_failed_write_keeps_old, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_write_missing_dir, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_write_empty, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_limits, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_read_missing, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_mkdir_p, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_fixture_rmtree, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
