#include <errno.h>
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
#include "lib/trust.h"
#include "tests/unit/fixture.h"

#define K0 "0000000000000000000000000000000000000000000000000000000000000000"
#define K1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define K2 "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

struct fixture {
	char dir[64];
	char path[96];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	if (fixture_tmpdir(f->dir, sizeof(f->dir), "test-trust"))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/trust", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (fixture_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

static struct trust_entry make_entry(const char *name, unsigned roles, uint8_t seed)
{
	struct trust_entry e;

	memset(&e, 0, sizeof(e));
	strcpy(e.name, name);
	e.roles = roles;
	for (size_t i = 0; i < sizeof(e.sign_pk); i++) {
		e.sign_pk[i] = (uint8_t)(seed + i);
		e.kx_pk[i] = (uint8_t)(seed * 7 + i * 3);
	}
	return e;
}

static void roles_ok(const char *text, unsigned want)
{
	unsigned got = 0;

	if (trust_roles_parse(text, &got) != 0 || got != want)
		fail_msg("trust_roles_parse(\"%s\") = %u, want %u", text, got, want);
}

static void test_roles_parse(void **state)
{
	static const char *const bad[] = {
		"", ",", "node,", ",node", "node,,admin", "Node", "nodes", "nod",
		"node ,admin", " node", "root", "node;admin",
	};
	unsigned roles;

	roles_ok("node", TRUST_ROLE_NODE);
	roles_ok("fleet", TRUST_ROLE_FLEET);
	roles_ok("admin", TRUST_ROLE_ADMIN);
	roles_ok("node,admin", TRUST_ROLE_NODE | TRUST_ROLE_ADMIN);
	roles_ok("admin,node", TRUST_ROLE_NODE | TRUST_ROLE_ADMIN);
	roles_ok("node,fleet,admin", 7);
	roles_ok("node,node", TRUST_ROLE_NODE);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		roles = 99;
		if (trust_roles_parse(bad[i], &roles) != -EINVAL)
			fail_msg("trust_roles_parse accepted \"%s\"", bad[i]);
		assert_int_equal(roles, 99);
	}
}

static void test_roles_format(void **state)
{
	char buf[32], small[8];

	trust_roles_format(TRUST_ROLE_NODE | TRUST_ROLE_ADMIN, buf, sizeof(buf));
	assert_string_equal(buf, "node,admin");
	trust_roles_format(7, buf, sizeof(buf));
	assert_string_equal(buf, "node,fleet,admin");
	trust_roles_format(TRUST_ROLE_FLEET, buf, sizeof(buf));
	assert_string_equal(buf, "fleet");
	trust_roles_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "");
	trust_roles_format(7 | 0x80, buf, sizeof(buf));
	assert_string_equal(buf, "node,fleet,admin");
	/* a role that does not fit is left out whole */
	trust_roles_format(7, small, sizeof(small));
	assert_string_equal(small, "node");
	trust_roles_format(7, small, 5);
	assert_string_equal(small, "node");
	trust_roles_format(7, small, 4);
	assert_string_equal(small, "");
}

static void test_parse_good(void **state)
{
	struct trust_set set;
	char err[128] = "";
	const struct trust_entry *e;
	const char *text =
		"# the fleet\n"
		"\n"
		"fleet-1 fleet,node " K1 " " K2 "\n"
		"   # indented comment\n"
		"\talpha\tnode\t" K2 "   " K1 "\r\n"
		"ops admin " K0 " " K0;

	assert_int_equal(trust_parse(text, &set, err, sizeof(err)), 0);
	assert_int_equal(set.count, 3);
	e = &set.entries[0];
	assert_string_equal(e->name, "fleet-1");
	assert_int_equal(e->roles, TRUST_ROLE_FLEET | TRUST_ROLE_NODE);
	assert_int_equal(e->sign_pk[0], 0x01);
	assert_int_equal(e->sign_pk[31], 0xef);
	assert_int_equal(e->kx_pk[0], 0xff);
	assert_int_equal(e->kx_pk[31], 0x00);
	e = &set.entries[1];
	assert_string_equal(e->name, "alpha");
	assert_int_equal(e->roles, TRUST_ROLE_NODE);
	assert_int_equal(e->sign_pk[1], 0xee);
	assert_int_equal(e->kx_pk[1], 0x23);
	assert_string_equal(set.entries[2].name, "ops");
	assert_int_equal(set.entries[2].roles, TRUST_ROLE_ADMIN);
	trust_free(&set);
	assert_null(set.entries);
	assert_int_equal(set.count, 0);
}

static void test_parse_empty(void **state)
{
	struct trust_set set;
	char err[128] = "";

	assert_int_equal(trust_parse("", &set, err, sizeof(err)), 0);
	assert_int_equal(set.count, 0);
	assert_null(trust_find(&set, "a"));
	trust_free(&set);
	assert_int_equal(trust_parse("# nothing\n\n   \n", &set, err, sizeof(err)), 0);
	assert_int_equal(set.count, 0);
	trust_free(&set);
}

static void parse_fails(const char *text, const char *want_err)
{
	struct trust_set set = { (struct trust_entry *)1, 99 };
	char err[160] = "";
	int ret = trust_parse(text, &set, err, sizeof(err));

	if (ret != -EBADMSG || strcmp(err, want_err))
		fail_msg("trust_parse(\"%s\") = %d \"%s\", want \"%s\"", text, ret, err, want_err);
	assert_null(set.entries);
	assert_int_equal(set.count, 0);
}

static void test_parse_errors(void **state)
{
	const char *expected =
		"expected '<name> <roles> <ed25519-public-hex> <x25519-public-hex>'";
	char want[160];

	parse_fails("a node " K1 " " K2 "\nb node " K1 " " K2 "\na fleet " K2 " " K1 "\n",
		    "line 3: duplicate name 'a'");
	snprintf(want, sizeof(want), "line 1: %s", expected);
	parse_fails("a node " K1 "\n", want);
	parse_fails("a node " K1 " " K2 " extra\n", want);
	parse_fails("a node " K1 " " K2 " # comment\n", want);
	snprintf(want, sizeof(want), "line 2: %s", expected);
	parse_fails("# x\na\n", want);
	parse_fails("A node " K1 " " K2 "\n", "line 1: invalid name 'A'");
	parse_fails("-a node " K1 " " K2 "\n", "line 1: invalid name '-a'");
	parse_fails("abcdefghijklmnopqrstuvwxyz012345 node " K1 " " K2 "\n",
		    "line 1: invalid name 'abcdefghijklmnopqrstuvwxyz012345'");
	parse_fails("a node,root " K1 " " K2 "\n",
		    "line 1: invalid roles 'node,root' (node, fleet, admin)");
	parse_fails("a node 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef " K2,
		    "line 1: invalid ed25519 key (64 lowercase hex digits)");
	parse_fails("a node " K1 "0 " K2, "line 1: invalid ed25519 key (64 lowercase hex digits)");
	parse_fails("a node 123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef " K2,
		    "line 1: invalid ed25519 key (64 lowercase hex digits)");
	parse_fails("a node " K1 " g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		    "line 1: invalid x25519 key (64 lowercase hex digits)");
	parse_fails("a node " K1 " " K2 "00", "line 1: invalid x25519 key (64 lowercase hex digits)");
}

static void test_parse_name_boundary(void **state)
{
	struct trust_set set;
	char err[128];

	assert_int_equal(trust_parse("abcdefghijklmnopqrstuvwxyz01234 node " K1 " " K2, &set,
				     err, sizeof(err)), 0);
	assert_int_equal(set.count, 1);
	assert_string_equal(set.entries[0].name, "abcdefghijklmnopqrstuvwxyz01234");
	trust_free(&set);
}

static void test_find_add_remove(void **state)
{
	struct trust_set set = { 0 };
	struct trust_entry a = make_entry("a", TRUST_ROLE_NODE, 1);
	struct trust_entry b = make_entry("b", TRUST_ROLE_NODE | TRUST_ROLE_FLEET, 2);
	struct trust_entry c = make_entry("c", TRUST_ROLE_ADMIN | TRUST_ROLE_FLEET, 3);
	struct trust_entry bad;

	assert_null(trust_find_role(&set, TRUST_ROLE_FLEET));
	assert_int_equal(trust_add(&set, &a), 0);
	assert_int_equal(trust_add(&set, &b), 0);
	assert_int_equal(trust_add(&set, &c), 0);
	assert_int_equal(trust_add(&set, &b), -EEXIST);
	assert_int_equal(set.count, 3);

	bad = make_entry("Bad", TRUST_ROLE_NODE, 4);
	assert_int_equal(trust_add(&set, &bad), -EINVAL);
	bad = make_entry("d", 0, 4);
	assert_int_equal(trust_add(&set, &bad), -EINVAL);
	bad = make_entry("d", 0x10, 4);
	assert_int_equal(trust_add(&set, &bad), -EINVAL);
	memset(bad.name, 'a', sizeof(bad.name));
	bad.roles = TRUST_ROLE_NODE;
	assert_int_equal(trust_add(&set, &bad), -EINVAL);
	assert_int_equal(set.count, 3);

	assert_memory_equal(trust_find(&set, "b"), &b, sizeof(b));
	assert_null(trust_find(&set, "bb"));
	assert_null(trust_find(&set, ""));
	assert_string_equal(trust_find_role(&set, TRUST_ROLE_FLEET)->name, "b");
	assert_string_equal(trust_find_role(&set, TRUST_ROLE_ADMIN)->name, "c");
	assert_string_equal(trust_find_role(&set, TRUST_ROLE_ADMIN | TRUST_ROLE_FLEET)->name, "c");
	assert_null(trust_find_role(&set, TRUST_ROLE_ADMIN | TRUST_ROLE_NODE));
	assert_null(trust_find_role(&set, 0));

	assert_int_equal(trust_remove(&set, "b"), 0);
	assert_int_equal(trust_remove(&set, "b"), -ENOENT);
	assert_int_equal(set.count, 2);
	assert_string_equal(set.entries[0].name, "a");
	assert_string_equal(set.entries[1].name, "c");
	assert_string_equal(trust_find_role(&set, TRUST_ROLE_FLEET)->name, "c");
	assert_int_equal(trust_remove(&set, "c"), 0);
	assert_int_equal(trust_remove(&set, "a"), 0);
	assert_int_equal(set.count, 0);
	assert_null(set.entries);
	assert_int_equal(trust_remove(&set, "a"), -ENOENT);
	/* usable again after becoming empty */
	assert_int_equal(trust_add(&set, &a), 0);
	trust_free(&set);
}

static void test_save_format(void **state)
{
	struct fixture *f = *state;
	struct trust_set set = { 0 };
	struct trust_entry e;
	struct stat st;
	char *text;
	size_t len;
	mode_t old;

	memset(&e, 0, sizeof(e));
	strcpy(e.name, "fleet-1");
	e.roles = TRUST_ROLE_ADMIN | TRUST_ROLE_NODE | TRUST_ROLE_FLEET;
	e.sign_pk[0] = 0xab;
	e.kx_pk[31] = 0x01;
	assert_int_equal(trust_add(&set, &e), 0);
	old = umask(077);
	assert_int_equal(trust_save(f->path, &set), 0);
	umask(old);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(read_file(f->path, 4096, &text, &len), 0);
	assert_string_equal(text,
			    "# os-infrastructure trust file: <name> <role>[,<role>...] "
			    "<ed25519-public> <x25519-public>\n"
			    "fleet-1 node,fleet,admin "
			    "ab00000000000000000000000000000000000000000000000000000000000000 "
			    "0000000000000000000000000000000000000000000000000000000000000001\n");
	free(text);
	trust_free(&set);
}

static void test_save_refuses_invalid(void **state)
{
	struct fixture *f = *state;
	struct trust_entry entries[2] = { make_entry("a", TRUST_ROLE_NODE, 1),
					  make_entry("b", 0, 2) };
	struct trust_set set = { entries, 2 };

	assert_int_equal(trust_save(f->path, &set), -EINVAL);
	assert_int_equal(access(f->path, F_OK), -1);
	strcpy(entries[1].name, "B");
	entries[1].roles = TRUST_ROLE_NODE;
	assert_int_equal(trust_save(f->path, &set), -EINVAL);
	entries[1].name[0] = 'b';
	assert_int_equal(trust_save(f->path, &set), 0);
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct trust_set set = { 0 }, back, empty = { 0 };
	char err[160] = "", name[16];

	for (unsigned i = 0; i < 2000; i++) {
		struct trust_entry e;

		snprintf(name, sizeof(name), "n%u", i);
		e = make_entry(name, 1 + i % 7, (uint8_t)i);
		assert_int_equal(trust_add(&set, &e), 0);
	}
	assert_int_equal(trust_save(f->path, &set), 0);
	assert_int_equal(trust_load(f->path, &back, err, sizeof(err)), 0);
	assert_int_equal(back.count, set.count);
	assert_memory_equal(back.entries, set.entries, set.count * sizeof(set.entries[0]));
	trust_free(&back);

	/* the empty set round-trips too */
	assert_int_equal(trust_save(f->path, &empty), 0);
	assert_int_equal(trust_load(f->path, &back, err, sizeof(err)), 0);
	assert_int_equal(back.count, 0);
	trust_free(&back);
	trust_free(&set);
}

static void test_duplicate_far_apart(void **state)
{
	struct fixture *f = *state;
	struct trust_set set = { 0 }, back;
	struct trust_entry e;
	char err[160] = "", name[16], *text, *bigger;
	size_t len;

	for (unsigned i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		e = make_entry(name, TRUST_ROLE_NODE, (uint8_t)i);
		assert_int_equal(trust_add(&set, &e), 0);
	}
	assert_int_equal(trust_save(f->path, &set), 0);
	assert_int_equal(read_file(f->path, TRUST_FILE_MAX, &text, &len), 0);
	bigger = malloc(len + 200);
	assert_non_null(bigger);
	/* header is line 1, n0..n499 are lines 2..501 */
	snprintf(bigger, len + 200, "%sn17 node %s %s\n", text, K1, K2);
	assert_int_equal(trust_parse(bigger, &back, err, sizeof(err)), -EBADMSG);
	assert_string_equal(err, "line 502: duplicate name 'n17'");
	free(bigger);
	free(text);
	trust_free(&set);
}

static void test_load_errors(void **state)
{
	struct fixture *f = *state;
	struct trust_set set;
	char err[256] = "", want[256], *big;
	const char line[] = "a node " K1 " " K2 "\n";

	assert_int_equal(trust_load(f->path, &set, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "%s: No such file or directory", f->path);
	assert_string_equal(err, want);

	assert_int_equal(atomic_write_file(f->path, "\n\nbad\n", 6, 0644), 0);
	assert_int_equal(trust_load(f->path, &set, err, sizeof(err)), -EBADMSG);
	snprintf(want, sizeof(want), "%s: line 3: expected", f->path);
	assert_memory_equal(err, want, strlen(want));

	assert_int_equal(atomic_write_file(f->path, line, sizeof(line), 0644), 0);
	assert_int_equal(trust_load(f->path, &set, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "contains a NUL byte"));

	big = malloc(TRUST_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, '#', TRUST_FILE_MAX + 1);
	assert_int_equal(atomic_write_file(f->path, big, TRUST_FILE_MAX + 1, 0644), 0);
	assert_int_equal(trust_load(f->path, &set, err, sizeof(err)), -EFBIG);
	big[TRUST_FILE_MAX - 1] = '\n';
	assert_int_equal(atomic_write_file(f->path, big, TRUST_FILE_MAX, 0644), 0);
	assert_int_equal(trust_load(f->path, &set, err, sizeof(err)), 0);
	assert_int_equal(set.count, 0);
	trust_free(&set);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roles_parse),
		cmocka_unit_test(test_roles_format),
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_empty),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_name_boundary),
		cmocka_unit_test(test_find_add_remove),
		cmocka_unit_test_setup_teardown(test_save_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_refuses_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_far_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
