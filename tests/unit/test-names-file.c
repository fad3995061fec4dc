/* The names file the helper takes from the agent: all lines good or none. */
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

#include "lib/names-file.h"

static const struct names_scope scope = { "osi.internal", 0x0a4e0000, 16, 0x0a4d0000, 16 };

static int parse(const char *text, struct names_entry **e, size_t *n, char *err)
{
	return names_file_parse(text, strlen(text), &scope, e, n, err, 128);
}

static void good(void **state)
{
	struct names_entry *e;
	char err[128];
	size_t n;

	(void)state;
	assert_int_equal(parse("10.78.5.2 web1.osi.internal\n10.77.0.5 node-a.osi.internal\n"
			       "10.78.5.3 a.b.osi.internal\n", &e, &n, err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(e[0].addr, 0x0a4e0502);
	assert_string_equal(e[0].name, "web1.osi.internal");
	assert_int_equal(e[1].addr, 0x0a4d0005);
	assert_string_equal(e[2].name, "a.b.osi.internal");
	free(e);
	assert_int_equal(parse("", &e, &n, err), 0);
	assert_int_equal(n, 0);
	assert_null(e);
}

static void bad_lines(void **state)
{
	static const char *const bad[] = {
		"10.78.5.2 web1.osi.internal",            /* no newline */
		"10.78.5.2  web1.osi.internal\n",         /* two spaces */
		"10.78.5.02 web1.osi.internal\n",         /* leading zero */
		"10.78.5.256 web1.osi.internal\n",
		"10.78.5 web1.osi.internal\n",
		"10.78.5.2.1 web1.osi.internal\n",
		"192.168.1.2 web1.osi.internal\n",        /* outside both prefixes */
		"10.78.5.2 web1.osi.internal.evil\n",     /* not under the zone */
		"10.78.5.2 osi.internal\n",               /* the zone itself */
		"10.78.5.2 xosi.internal\n",
		"10.78.5.2 Web1.osi.internal\n",          /* uppercase */
		"10.78.5.2 -x.osi.internal\n",
		"10.78.5.2 a..osi.internal\n",
		"10.78.5.2 web1.osi.internal \n",
		"10.78.5.2 web1.osi.internal\r\n",
		"\n",
		" 10.78.5.2 web1.osi.internal\n",
		"10.78.5.2 web1.osi.internal\n10.78.5.3 web1.osi.internal\n", /* twice */
	};
	struct names_entry *e;
	char err[128];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &e, &n, err), -EINVAL);
		assert_null(e);
		assert_int_equal(n, 0);
		assert_non_null(strstr(err, "line "));
	}
	assert_int_equal(names_file_parse("10.78.5.2 a\0.osi.internal\n", 26, &scope, &e, &n, err,
					  sizeof(err)), -EINVAL);
	/* the error names the bad line, after good ones */
	assert_int_equal(parse("10.78.5.2 web1.osi.internal\n1.2.3.4 x.osi.internal\n", &e, &n, err),
			 -EINVAL);
	assert_non_null(strstr(err, "line 2"));
}

static void limits(void **state)
{
	size_t cap = NAMES_FILE_BYTES + 64, len = 0, n;
	char *buf = malloc(cap), name[300], err[128];
	struct names_entry *e;

	(void)state;
	for (unsigned i = 0; i <= NAMES_FILE_LINES; i++)
		len += (size_t)snprintf(buf + len, cap - len, "10.78.%u.%u g%u.osi.internal\n",
					i / 200, i % 200 + 1, i);
	assert_int_equal(names_file_parse(buf, len, &scope, &e, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too many lines"));
	assert_int_equal(names_file_parse(buf, NAMES_FILE_BYTES + 1, &scope, &e, &n, err, sizeof(err)),
			 -EFBIG);
	/* a name of 254 characters */
	memset(name, 'a', sizeof(name));
	name[sizeof(name) - 1] = '\0';
	for (unsigned i = 60; i < 250; i += 61)
		name[i] = '.';
	strcpy(name + 241, ".osi.internal\n");
	assert_int_equal(strlen(name), 255); /* 254 and the newline */
	len = (size_t)snprintf(buf, cap, "10.78.5.2 %s", name);
	assert_int_equal(names_file_parse(buf, len, &scope, &e, &n, err, sizeof(err)), -EINVAL);
	free(buf);
}

static void zones(void **state)
{
	(void)state;
	assert_true(names_zone_valid("osi.internal"));
	assert_true(names_zone_valid("internal"));
	assert_false(names_zone_valid(""));
	assert_false(names_zone_valid(".internal"));
	assert_false(names_zone_valid("osi..internal"));
	assert_false(names_zone_valid("osi.internal."));
	assert_false(names_zone_valid("OSI.internal"));
	assert_false(names_zone_valid("a_b.internal"));
}

static void load_refuses_links(void **state)
{
	char dir[] = "/tmp/names-file-XXXXXX", path[64], link[64], err[128];
	struct names_entry *e;
	size_t n;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/names", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	f = fopen(path, "w");
	fputs("10.78.5.2 web1.osi.internal\n", f);
	fclose(f);
	assert_int_equal(names_file_load(path, &scope, &e, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	free(e);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(names_file_load(link, &scope, &e, &n, err, sizeof(err)), -ELOOP);
	assert_int_equal(names_file_load(dir, &scope, &e, &n, err, sizeof(err)) < 0, 1);
	unlink(link);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good),
		cmocka_unit_test(bad_lines),
		cmocka_unit_test(limits),
		cmocka_unit_test(zones),
		cmocka_unit_test(load_refuses_links),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
