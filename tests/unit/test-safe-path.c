/* lib/safe-path.c: a path a root service is told to use at every run is
 * accepted only if no one but root can change what it names: each
 * directory on the way root's and not writable by group or others (sticky
 * ones, like /tmp, accepted as parents), the file itself too. Needs root
 * (chown); skipped (77) otherwise. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/safe-path.h"

static char base[] = "/tmp/safe-path.XXXXXX";

static void mk(const char *rel, mode_t mode, bool dir)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	if (dir)
		assert_int_equal(mkdir(p, mode), 0);
	else
		assert_int_equal(close(creat(p, mode)), 0);
	assert_int_equal(chmod(p, mode), 0); /* whatever the umask */
}

/* path_safe(base/rel): 0 or -EPERM, err containing want. */
static void check(const char *rel, int want_ret, const char *want)
{
	char p[PATH_MAX], res[PATH_MAX], err[512] = "";
	int ret;

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	ret = path_safe(p, res, err, sizeof(err));
	if (ret != want_ret || (want && !strstr(err, want)))
		fail_msg("%s: %d (%s), wanted %d (%s)", p, ret, err, want_ret, want ? want : "");
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(base))
		return -1;
	mk("ok.conf", 0644, false);
	mk("group", 0775, true);
	mk("group/f", 0644, false);
	mk("world", 0777, true);
	mk("world/f", 0644, false);
	mk("sticky", 01777, true);
	mk("sticky/f", 0644, false);
	mk("gw.conf", 0664, false);
	mk("other.conf", 0644, false);
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

/* mkdtemp's 0700 directory of root's under /tmp (1777, sticky). */
static void sticky_tmp_is_a_safe_parent(void **state)
{
	(void)state;
	check("ok.conf", 0, NULL);
	check("", 0, NULL);
	check("sticky/f", 0, NULL);
}

static void group_writable_parent_refused(void **state)
{
	char want[PATH_MAX + 32];

	(void)state;
	snprintf(want, sizeof(want), "%s/group is writable by its group", base);
	check("group/f", -EPERM, want);
}

static void world_writable_parent_refused(void **state)
{
	char want[PATH_MAX + 32];

	(void)state;
	snprintf(want, sizeof(want), "%s/world is writable by others", base);
	check("world/f", -EPERM, want);
}

static void writable_or_sticky_leaf_refused(void **state)
{
	(void)state;
	check("gw.conf", -EPERM, "gw.conf is writable by its group");
	check("sticky", -EPERM, "sticky is writable by others");
}

static void another_owner_refused(void **state)
{
	char p[PATH_MAX];

	(void)state;
	snprintf(p, sizeof(p), "%s/other.conf", base);
	assert_int_equal(chown(p, 65534, 65534), 0);
	check("other.conf", -EPERM, "other.conf is owned by uid 65534, not root");
	assert_int_equal(chown(base, 65534, 0), 0);
	check("ok.conf", -EPERM, "is owned by uid 65534");
	assert_int_equal(chown(base, 0, 0), 0);
}

/* Judged by the nearest existing directory, strictly: a sticky one lets
 * others make the missing name first. */
static void missing_path_judged_by_its_parent(void **state)
{
	char p[PATH_MAX], res[PATH_MAX], err[512];

	(void)state;
	snprintf(p, sizeof(p), "%s/new/dir", base);
	assert_int_equal(path_safe(p, res, err, sizeof(err)), 0);
	assert_string_equal(res, p);
	check("sticky/new", -EPERM, "does not exist yet");
	check("group/new", -EPERM, "writable by its group");
	check("new/../gw.conf", -EINVAL, "does not exist yet");
}

/* The target is judged, and the resolved path is the one to use: a symlink
 * in a writable directory could be pointed elsewhere later. */
static void symlink_resolved(void **state)
{
	char p[PATH_MAX], target[PATH_MAX], res[PATH_MAX], err[512];

	(void)state;
	snprintf(p, sizeof(p), "%s/world/link", base);
	snprintf(target, sizeof(target), "%s/ok.conf", base);
	assert_int_equal(symlink(target, p), 0);
	assert_int_equal(path_safe(p, res, err, sizeof(err)), 0);
	assert_string_equal(res, target);
	snprintf(p, sizeof(p), "%s/link-to-group", base);
	snprintf(target, sizeof(target), "%s/group/f", base);
	assert_int_equal(symlink(target, p), 0);
	check("link-to-group", -EPERM, "group is writable by its group");
}

static void relative_refused(void **state)
{
	char res[PATH_MAX], err[256];

	(void)state;
	assert_int_equal(path_safe("etc/host.conf", res, err, sizeof(err)), -EINVAL);
	assert_int_equal(path_safe("/", res, err, sizeof(err)), 0);
	assert_string_equal(res, "/");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sticky_tmp_is_a_safe_parent),
		cmocka_unit_test(group_writable_parent_refused),
		cmocka_unit_test(world_writable_parent_refused),
		cmocka_unit_test(writable_or_sticky_leaf_refused),
		cmocka_unit_test(another_owner_refused),
		cmocka_unit_test(missing_path_judged_by_its_parent),
		cmocka_unit_test(symlink_resolved),
		cmocka_unit_test(relative_refused),
	};

	if (geteuid() != 0) {
		printf("skipped: the files of other owners are made with chown, which needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
