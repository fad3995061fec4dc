/* The fleet's table of guest types (lib/guest-types.c) and the manifests in
 * images/ must say the same thing about size and placement. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/fileio.h"
#include "lib/guest-types.h"
#include "virt/virt.h"

static void manifests_agree(void **state)
{
	const char *src = getenv("OSI_SOURCE");
	const struct guest_type *t;
	char path[4096], err[256];

	assert_non_null(src);
	for (unsigned i = 0; (t = guest_type_at(i)); i++) {
		struct virt_manifest m;
		char *text;
		size_t len;

		snprintf(path, sizeof(path), "%s/images/%s.json", src, t->name);
		assert_int_equal(read_file(path, 1 << 20, &text, &len), 0);
		assert_int_equal(virt_manifest_parse(text, len, &m, err, sizeof(err)), 0);
		free(text);
		assert_string_equal(virt_type_name(m.type), t->name);
		assert_int_equal(m.vcpus, t->vcpus);
		assert_int_equal(m.memory_bytes, t->memory_bytes);
		assert_int_equal(m.placement == VIRT_PLACE_OPERATOR_NODE, t->named_node_only);
	}
	assert_null(guest_type_at(4));
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
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(manifests_agree),
		cmocka_unit_test(names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
