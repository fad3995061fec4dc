/* host.conf as the CLI's data-delete reads it: the file given, else the
 * services' lookup (/etc, then the state directory), else the defaults. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/fileio.h"
#include "lib/host-conf.h"
#include "osi-config.h"
#include "tests/unit/fixture.h"

struct fixture {
	char dir[64];
	char etc[PATH_MAX / 2], st[PATH_MAX / 2];
	char err[256], path[PATH_MAX];
	struct host_config cfg;
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	if (fixture_tmpdir(f.dir, sizeof(f.dir), "test-host-conf") < 0)
		return -1;
	snprintf(f.etc, sizeof(f.etc), "%s/etc", f.dir);
	snprintf(f.st, sizeof(f.st), "%s/state", f.dir);
	if (mkdir_p(f.etc, 0700) < 0 || mkdir_p(f.st, 0700) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	return fixture_rmtree(f->dir);
}

static void put(const char *dir, const char *text)
{
	char file[PATH_MAX];

	snprintf(file, sizeof(file), "%s/host.conf", dir);
	assert_int_equal(atomic_create_file(file, text, strlen(text), 0644), 0);
}

static int lookup(struct fixture *f, const char *given)
{
	return host_conf_lookup(&f->cfg, given, f->etc, f->st, f->path, f->err, sizeof(f->err));
}

/* No file anywhere: the helper's defaults, an empty pool_dir (virt's own). */
static void test_lookup_defaults(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(lookup(f, NULL), 0);
	assert_string_equal(f->path, "");
	assert_string_equal(f->cfg.virt_uri, "qemu:///system");
	assert_string_equal(f->cfg.pool_dir, "");
	/* the guest fabric (issue 11): guests on it, names under the zone */
	assert_string_equal(f->cfg.guest_network, "fabric");
	assert_string_equal(f->cfg.guest_zone, "osi.internal");
	assert_true(names_zone_valid(f->cfg.guest_zone));
}

/* The state directory's file, unless /etc has one (issue 10 #5). */
static void test_lookup_order(void **state)
{
	struct fixture *f = *state;
	char want[PATH_MAX];

	put(f->st, "virt_uri = test:///st\npool_dir = /srv/st-pool\nname = n1\n");
	assert_int_equal(lookup(f, NULL), 0);
	snprintf(want, sizeof(want), "%s/host.conf", f->st);
	assert_string_equal(f->path, want);
	assert_string_equal(f->cfg.virt_uri, "test:///st");
	assert_string_equal(f->cfg.pool_dir, "/srv/st-pool");
	put(f->etc, "virt_uri = qemu+unix:///system?socket=/x\n");
	assert_int_equal(lookup(f, NULL), 0);
	snprintf(want, sizeof(want), "%s/host.conf", f->etc);
	assert_string_equal(f->path, want);
	assert_string_equal(f->cfg.virt_uri, "qemu+unix:///system?socket=/x");
	assert_string_equal(f->cfg.pool_dir, "");
}

/* --config FILE is read instead of the lookup, and must exist. */
static void test_lookup_given(void **state)
{
	struct fixture *f = *state;
	char given[PATH_MAX];

	put(f->etc, "virt_uri = test:///etc\n");
	snprintf(given, sizeof(given), "%s/other.conf", f->dir);
	assert_int_equal(lookup(f, given), -ENOENT);
	assert_int_equal(atomic_create_file(given, "pool_dir = /p\n", 14, 0644), 0);
	assert_int_equal(lookup(f, given), 0);
	assert_string_equal(f->path, given);
	assert_string_equal(f->cfg.virt_uri, "qemu:///system");
	assert_string_equal(f->cfg.pool_dir, "/p");
	snprintf(given, sizeof(given), "%s/bad.conf", f->dir);
	assert_int_equal(atomic_create_file(given, "no_such_key = 1\n", 16, 0644), 0);
	assert_true(lookup(f, given) < 0);
	assert_non_null(strstr(f->err, "no_such_key"));
}

/* pool_dir's help names the directory an empty pool_dir really means: the
 * compiled-in one, not <state_dir>/images (issue 10 #5). */
static void test_pool_dir_doc(void **state)
{
	const struct config_key *k = NULL;

	(void)state;
	for (size_t i = 0; i < host_config_nkeys; i++)
		if (!strcmp(host_config_keys[i].name, "pool_dir"))
			k = &host_config_keys[i];
	assert_non_null(k);
	assert_non_null(strstr(k->doc, OSI_STATE_DIR "/images"));
	assert_null(strstr(k->doc, "<state_dir>/images"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lookup_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_given, setup, teardown),
		cmocka_unit_test(test_pool_dir_doc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
