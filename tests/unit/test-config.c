#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/config.h"
#include "lib/fileio.h"
#include "tests/unit/fixture.h"

struct cfg {
	char name[8];
	uint64_t port;
	uint64_t ram;
	uint64_t timeout;
	uint64_t margin;
	char path[32];
};

static const struct config_key keys[] = {
	{ "name", CFG_STRING, offsetof(struct cfg, name), sizeof(((struct cfg *)0)->name),
	  "alpha", "node name" },
	{ "port", CFG_UINT, offsetof(struct cfg, port), 0, "7101", "UDP port" },
	{ "ram", CFG_SIZE, offsetof(struct cfg, ram), 0, "512M", "RAM reserve" },
	{ "timeout", CFG_DURATION_MS, offsetof(struct cfg, timeout), 0, "30s", "eviction" },
	{ "margin", CFG_PERCENT, offsetof(struct cfg, margin), 0, "10", "safety margin" },
	{ "path", CFG_STRING, offsetof(struct cfg, path), sizeof(((struct cfg *)0)->path),
	  "", NULL },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static int setup_cfg(void **state)
{
	static struct cfg c;
	char err[128];

	memset(&c, 0xa5, sizeof(c));
	if (config_defaults(keys, NKEYS, &c, err, sizeof(err)) != 0)
		return -1;
	*state = &c;
	return 0;
}

static void test_defaults(void **state)
{
	struct cfg *c = *state;

	assert_string_equal(c->name, "alpha");
	assert_int_equal(c->port, 7101);
	assert_int_equal(c->ram, 512ULL << 20);
	assert_int_equal(c->timeout, 30000);
	assert_int_equal(c->margin, 10);
	assert_string_equal(c->path, "");
}

static void test_bad_default(void **state)
{
	static const struct config_key bad[] = {
		{ "ok", CFG_UINT, offsetof(struct cfg, port), 0, "1", "" },
		{ "ram", CFG_SIZE, offsetof(struct cfg, ram), 0, "lots", "" },
	};
	struct cfg c;
	char err[128];

	assert_int_equal(config_defaults(bad, 2, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "key 'ram'"));
}

static void test_parse_all_types(void **state)
{
	struct cfg *c = *state;
	char err[128] = "";
	const char *text =
		"# a comment\n"
		"\n"
		"   name=beta\n"
		"port = 80   # trailing comment\n"
		"ram\t=\t2GiB\n"
		"timeout = 250ms\r\n"
		"margin = 100\n"
		"path = \"/var/lib/x y\"  # quoted, with a space\n";

	assert_int_equal(config_parse(keys, NKEYS, c, text, err, sizeof(err)), 0);
	assert_string_equal(c->name, "beta");
	assert_int_equal(c->port, 80);
	assert_int_equal(c->ram, 2ULL << 30);
	assert_int_equal(c->timeout, 250);
	assert_int_equal(c->margin, 100);
	assert_string_equal(c->path, "/var/lib/x y");
}

static void test_parse_values_edge(void **state)
{
	struct cfg *c = *state;
	char err[128] = "";

	assert_int_equal(config_parse(keys, NKEYS, c, "path = a#b", err, sizeof(err)), 0);
	assert_string_equal(c->path, "a#b");
	assert_int_equal(config_parse(keys, NKEYS, c, "path = \"# not a comment\"", err,
				      sizeof(err)), 0);
	assert_string_equal(c->path, "# not a comment");
	assert_int_equal(config_parse(keys, NKEYS, c, "path = \"\"", err, sizeof(err)), 0);
	assert_string_equal(c->path, "");
	assert_int_equal(config_parse(keys, NKEYS, c, "path = x\npath = # empty", err,
				      sizeof(err)), 0);
	assert_string_equal(c->path, "");
	assert_int_equal(config_parse(keys, NKEYS, c, "", err, sizeof(err)), 0);
	assert_int_equal(config_parse(keys, NKEYS, c, "port = 1\nport = 2\n", err, sizeof(err)), 0);
	assert_int_equal(c->port, 2);
	assert_int_equal(config_parse(keys, NKEYS, c, "port = 18446744073709551615", err,
				      sizeof(err)), 0);
	assert_int_equal(c->port, UINT64_MAX);
}

static void parse_fails(const char *text, int want, const char *want_err)
{
	struct cfg c;
	char err[128] = "";
	int ret;

	memset(&c, 0, sizeof(c));
	ret = config_parse(keys, NKEYS, &c, text, err, sizeof(err));
	if (ret != want || strcmp(err, want_err))
		fail_msg("config_parse(\"%s\") = %d \"%s\", want %d \"%s\"", text, ret, err, want,
			 want_err);
}

static void test_parse_errors(void **state)
{
	parse_fails("port = 1\n\n# x\nfoo = 1\n", -ENOENT, "line 4: unknown key 'foo'");
	parse_fails("port\n", -EINVAL, "line 1: expected 'key = value'");
	parse_fails("= 3\n", -EINVAL, "line 1: expected 'key = value'");
	parse_fails("port 80\n", -EINVAL, "line 1: expected 'key = value'");
	parse_fails("Port = 80\n", -ENOENT, "line 1: unknown key 'Port'");
	parse_fails("name = toolongname\n", -ENAMETOOLONG,
		    "line 1: key 'name': value too long (at most 7 bytes)");
	parse_fails("port = -1\n", -EINVAL,
		    "line 1: key 'port': invalid value '-1' (expected a decimal integer)");
	parse_fails("port = 18446744073709551616\n", -ERANGE,
		    "line 1: key 'port': value '18446744073709551616' out of range");
	parse_fails("port =\n", -EINVAL,
		    "line 1: key 'port': invalid value '' (expected a decimal integer)");
	parse_fails("margin = 101\n", -ERANGE, "line 1: key 'margin': value '101' out of range");
	parse_fails("margin = 5%\n", -EINVAL,
		    "line 1: key 'margin': invalid value '5%' (expected a percentage 0..100)");
	parse_fails("ram = 1X\n", -EINVAL,
		    "line 1: key 'ram': invalid value '1X' (expected a size such as 512M or 2G)");
	parse_fails("\n\ntimeout = 5 s\n", -EINVAL,
		    "line 3: key 'timeout': invalid value '5 s' "
		    "(expected a duration such as 250ms, 10s, 5m or 1h)");
	parse_fails("path = \"abc\n", -EINVAL, "line 1: unterminated quoted value");
	parse_fails("path = \"abc\"x\n", -EINVAL, "line 1: unexpected text after the closing quote");
	parse_fails("path = \"abc\"#x\n", -EINVAL, "line 1: unexpected text after the closing quote");
}

static void test_string_boundary(void **state)
{
	struct cfg *c = *state;
	char err[128] = "";

	assert_int_equal(config_set(keys, NKEYS, c, "name", "1234567", err, sizeof(err)), 0);
	assert_string_equal(c->name, "1234567");
	assert_int_equal(config_set(keys, NKEYS, c, "name", "12345678", err, sizeof(err)),
			 -ENAMETOOLONG);
	assert_string_equal(err, "key 'name': value too long (at most 7 bytes)");
	/* a failed set leaves the old value */
	assert_string_equal(c->name, "1234567");
}

static void test_set_leaves_value_on_error(void **state)
{
	struct cfg *c = *state;
	char err[128] = "";

	assert_int_equal(config_set(keys, NKEYS, c, "margin", "101", err, sizeof(err)), -ERANGE);
	assert_int_equal(c->margin, 10);
	assert_int_equal(config_set(keys, NKEYS, c, "margin", "0", err, sizeof(err)), 0);
	assert_int_equal(c->margin, 0);
	assert_int_equal(config_set(keys, NKEYS, c, "nope", "0", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "unknown key 'nope'");
	/* a NULL err is allowed */
	assert_int_equal(config_set(keys, NKEYS, c, "nope", "0", NULL, 0), -ENOENT);
}

static void test_override(void **state)
{
	struct cfg *c = *state;
	char err[128] = "";

	assert_int_equal(config_override(keys, NKEYS, c, "timeout=1.5m", err, sizeof(err)), 0);
	assert_int_equal(c->timeout, 90000);
	assert_int_equal(config_override(keys, NKEYS, c, "path=a=b", err, sizeof(err)), 0);
	assert_string_equal(c->path, "a=b");
	assert_int_equal(config_override(keys, NKEYS, c, "path=", err, sizeof(err)), 0);
	assert_string_equal(c->path, "");
	assert_int_equal(config_override(keys, NKEYS, c, "timeout", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "expected key=value, got 'timeout'");
	assert_int_equal(config_override(keys, NKEYS, c, "=5", err, sizeof(err)), -EINVAL);
	assert_int_equal(config_override(keys, NKEYS, c, "time=5", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "unknown key 'time'");
	assert_int_equal(config_override(keys, NKEYS, c, "timeoutx=5", err, sizeof(err)), -ENOENT);
	assert_int_equal(config_override(keys, NKEYS, c, "ram=1.5G", err, sizeof(err)), 0);
	assert_int_equal(c->ram, 3ULL << 29);
}

static void test_err_truncates(void **state)
{
	struct cfg *c = *state;
	char err[8];

	assert_int_equal(config_parse(keys, NKEYS, c, "foo = 1", err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "line 1:");
}

static void test_load(void **state)
{
	struct cfg *c = *state;
	char dir[64], path[96], err[160];
	const char *text = "port = 9\nmargin = 50\n";

	assert_int_equal(fixture_tmpdir(dir, sizeof(dir), "test-config"), 0);
	snprintf(path, sizeof(path), "%s/osi.conf", dir);

	assert_int_equal(config_load(keys, NKEYS, c, path, 1, err, sizeof(err)), 0);
	assert_int_equal(c->port, 7101);
	assert_int_equal(config_load(keys, NKEYS, c, path, 0, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "osi.conf: No such file or directory"));

	assert_int_equal(atomic_write_file(path, text, strlen(text), 0644), 0);
	assert_int_equal(config_load(keys, NKEYS, c, path, 0, err, sizeof(err)), 0);
	assert_int_equal(c->port, 9);
	assert_int_equal(c->margin, 50);

	assert_int_equal(atomic_write_file(path, "port = 1\nbad\n", 13, 0644), 0);
	assert_int_equal(config_load(keys, NKEYS, c, path, 1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "osi.conf: line 2: expected 'key = value'"));

	assert_int_equal(atomic_write_file(path, "port = 1\0x", 10, 0644), 0);
	assert_int_equal(config_load(keys, NKEYS, c, path, 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "contains a NUL byte"));

	assert_int_equal(fixture_rmtree(dir), 0);
}

static void test_print_help(void **state)
{
	char tmpl[] = "/tmp/test-config-help-XXXXXX", buf[512];
	int fd = mkstemp(tmpl), saved;
	ssize_t n;

	assert_true(fd >= 0);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(dup2(fd, STDOUT_FILENO) >= 0);
	config_print_help(keys, NKEYS);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf,
			    "  name = alpha\n      node name\n"
			    "  port = 7101\n      UDP port\n"
			    "  ram = 512M\n      RAM reserve\n"
			    "  timeout = 30s\n      eviction\n"
			    "  margin = 10\n      safety margin\n"
			    "  path = \"\"\n");
	close(fd);
	unlink(tmpl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, setup_cfg),
		cmocka_unit_test(test_bad_default),
		cmocka_unit_test_setup(test_parse_all_types, setup_cfg),
		cmocka_unit_test_setup(test_parse_values_edge, setup_cfg),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test_setup(test_string_boundary, setup_cfg),
		cmocka_unit_test_setup(test_set_leaves_value_on_error, setup_cfg),
		cmocka_unit_test_setup(test_override, setup_cfg),
		cmocka_unit_test_setup(test_err_truncates, setup_cfg),
		cmocka_unit_test_setup(test_load, setup_cfg),
		cmocka_unit_test_setup(test_print_help, setup_cfg),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
