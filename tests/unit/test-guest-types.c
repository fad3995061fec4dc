/* The guest type table (lib/guest-types.c) is the one list of types: every
 * entry has a manifest in images/ that loads and takes its size and placement
 * from the table, and every manifest in images/ belongs to an entry. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "lib/fileio.h"
#include "lib/guest-types.h"
#include "virt/virt.h"

static const char *images(void)
{
	static char dir[4096];
	const char *src = getenv("OSI_SOURCE");

	assert_non_null(src);
	snprintf(dir, sizeof(dir), "%s/images", src);
	return dir;
}

static void every_type_has_a_manifest_that_loads(void **state)
{
	const struct guest_type *t;
	char err[512] = "";
	unsigned i;

	for (i = 0; (t = guest_type_at(i)); i++) {
		struct virt_manifest m;
		enum virt_guest_type vt;
		char *ud = NULL;

		assert_int_equal(virt_type_parse(t->name, &vt), 0);
		assert_int_equal(vt, i);
		if (virt_manifest_load(images(), vt, &m, &ud, err, sizeof(err)) < 0)
			fail_msg("%s: %s", t->name, err);
		assert_int_equal(m.type, vt);
		assert_int_equal(m.vcpus, t->vcpus);
		assert_int_equal(m.memory_bytes, t->memory_bytes);
		assert_int_equal(m.placement == VIRT_PLACE_OPERATOR_NODE, t->named_node_only);
		assert_true(ud && ud[0]);
		free(ud);
	}
	assert_int_equal(i, GUEST_TYPE_COUNT);
	assert_int_equal(i, VIRT_TYPE_COUNT);
}

/* A manifest that gave its own size or placement would be a second source. */
static void check_manifest_file(const char *dir, const char *file)
{
	const struct guest_type *t;
	struct virt_manifest m;
	char path[4096], err[256] = "";
	json_t *root;
	char *text;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	assert_int_equal(read_file(path, 1 << 20, &text, &len), 0);
	if (virt_manifest_parse(text, len, &m, err, sizeof(err)) < 0)
		fail_msg("%s: %s", file, err);
	t = guest_type_at((unsigned)m.type);
	assert_non_null(t);
	assert_string_equal(t->manifest, file);
	root = json_loadb(text, len, 0, NULL);
	assert_non_null(root);
	if (json_object_get(root, "vcpus") || json_object_get(root, "memory") ||
	    json_object_get(root, "placement"))
		fail_msg("%s: size and placement belong to lib/guest-types.c", file);
	json_decref(root);
	free(text);
}

static void every_manifest_names_a_known_type(void **state)
{
	DIR *d = opendir(images());
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len < 6 || strcmp(e->d_name + len - 5, ".json"))
			continue;
		check_manifest_file(images(), e->d_name);
		n++;
	}
	closedir(d);
	assert_int_equal(n, GUEST_TYPE_COUNT);
}

static void names_come_from_the_table(void **state)
{
	const struct guest_type *t;
	char want[256] = "";

	for (unsigned i = 0; (t = guest_type_at(i)); i++) {
		if (i)
			strcat(want, ", ");
		strcat(want, t->name);
		assert_ptr_equal(guest_type_find(t->name), t);
		assert_int_equal(guest_type_index(t), i);
		assert_string_equal(virt_type_name((enum virt_guest_type)i), t->name);
	}
	assert_string_equal(guest_type_names(), want);
	assert_string_equal(guest_type_names(), "totebox, mediakit, orchestration, privategit");
	assert_string_equal(virt_type_name(VIRT_TYPE_COUNT), "unknown");
}

/* The parser takes the placement rule from the table: a type placed only on
 * a named node cannot be made advisory by its manifest; others can be. */
static void placement_rule_from_the_table(void **state)
{
	const struct guest_type *t;
	char text[512], err[256];

	for (unsigned i = 0; (t = guest_type_at(i)); i++) {
		struct virt_manifest m;

		snprintf(text, sizeof(text), "{\"type\":\"%s\",\"summary\":\"s\",\"vcpus\":1,"
			 "\"memory\":\"512M\",\"disk\":\"2G\",\"base_image\":\"u\","
			 "\"placement\":\"advisory\",\"user_data\":\"x/u\"}", t->name);
		assert_int_equal(virt_manifest_parse(text, strlen(text), &m, err, sizeof(err)),
				 t->named_node_only ? -EINVAL : 0);
		if (!t->named_node_only) {
			assert_int_equal(m.vcpus, 1);
			assert_int_equal(m.memory_bytes, 512ULL << 20);
		}
	}
}

static void names(void **state)
{
	assert_true(guest_name_valid("web-1"));
	assert_true(guest_name_valid("a"));
	assert_false(guest_name_valid(""));
	assert_false(guest_name_valid("-web"));
	assert_false(guest_name_valid("web-"));
	assert_false(guest_name_valid("Web"));
	assert_false(guest_name_valid("web_1"));
	assert_false(guest_name_valid("0123456789012345678901234567890123456789012345678901234567890123"));
	assert_true(guest_name_valid("012345678901234567890123456789012345678901234567890123456789012"));
	assert_null(guest_type_find("vax"));
	assert_null(guest_type_find(NULL));
	assert_null(guest_type_at(GUEST_TYPE_COUNT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_type_has_a_manifest_that_loads),
		cmocka_unit_test(every_manifest_names_a_known_type),
		cmocka_unit_test(names_come_from_the_table),
		cmocka_unit_test(placement_rule_from_the_table),
		cmocka_unit_test(names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
