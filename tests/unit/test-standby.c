/* The standby copy of fleet.db: store_backup makes a consistent copy that
 * opens as a store with the same events, and the "standby-copy" operation
 * returns it base64-encoded. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "service-vm-fleet/api-internal.h"
#include "service-vm-fleet/fleet.h"
#include "service-vm-fleet/store.h"
#include "tests/unit/fixture.h"

static bool has_event(struct store *s, const char *kind)
{
	json_t *ev = NULL, *e;
	size_t i;
	bool found = false;

	assert_int_equal(store_events_tail_json(s, 0, &ev), 0);
	json_array_foreach(ev, i, e)
		found |= !strcmp(json_string_value(json_object_get(e, "kind")) ?: "", kind);
	json_decref(ev);
	return found;
}

static void backup_opens_with_the_events(void **state)
{
	char dir[64], path[128], copy[128];
	struct store *s, *c;

	(void)state;
	assert_int_equal(fixture_tmpdir(dir, sizeof(dir), "test-standby"), 0);
	snprintf(path, sizeof(path), "%s/fleet.db", dir);
	snprintf(copy, sizeof(copy), "%s/copy.db", dir);
	assert_int_equal(store_open(path, &s), 0);
	assert_int_equal(store_event(s, "chapter", NULL, "before the copy", 1, NULL), 0);
	assert_int_equal(store_backup(s, copy), 0);
	assert_int_equal(store_event(s, "hold-override", NULL, "after the copy", 2, NULL), 0);
	assert_int_equal(store_open(copy, &c), 0);
	assert_true(has_event(c, "chapter"));
	assert_false(has_event(c, "hold-override"));
	store_close(c);
	snprintf(copy, sizeof(copy), "%s/no/such/dir/copy.db", dir);
	assert_int_equal(store_backup(s, copy), -EIO);
	assert_non_null(strstr(store_errmsg(s), "backup to"));
	store_close(s);
	fixture_rmtree(dir);
}

static void the_operation_returns_the_copy(void **state)
{
	struct fleet f;
	char path[PATH_MAX + 16];
	unsigned char *bin;
	size_t bin_len, b64_len;
	const char *b64;
	json_t *r;

	(void)state;
	memset(&f, 0, sizeof(f));
	assert_int_equal(fixture_tmpdir(f.cfg.state_dir, sizeof(f.cfg.state_dir), "test-standby"), 0);
	snprintf(path, sizeof(path), "%s/fleet.db", f.cfg.state_dir);
	assert_int_equal(store_open(path, &f.store), 0);
	r = op_standby_copy(&f, NULL, "laptop-a", 0);
	assert_true(json_is_true(json_object_get(r, "ok")));
	b64 = json_string_value(json_object_get(r, "db"));
	assert_non_null(b64);
	b64_len = strlen(b64);
	bin = malloc(b64_len);
	assert_int_equal(sodium_base642bin(bin, b64_len, b64, b64_len, NULL, &bin_len, NULL,
					   sodium_base64_VARIANT_ORIGINAL), 0);
	assert_int_equal((json_int_t)bin_len, json_integer_value(json_object_get(r, "bytes")));
	assert_memory_equal(bin, "SQLite format 3", 16);
	free(bin);
	json_decref(r);
	store_close(f.store);
	fixture_rmtree(f.cfg.state_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backup_opens_with_the_events),
		cmocka_unit_test(the_operation_returns_the_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
