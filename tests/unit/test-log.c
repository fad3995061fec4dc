#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/sanitize.h"

/* What log_msg writes for one call: stderr goes to a temporary file. */
static char *logged(const char *arg)
{
	FILE *tmp = tmpfile();
	int saved = dup(STDERR_FILENO);
	char *text = calloc(1, 1 << 16);
	size_t n;

	assert_non_null(tmp);
	assert_non_null(text);
	fflush(stderr);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
	log_msg(LOG_LVL_WARN, "guest g1 failed: %s", arg);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(tmp);
	n = fread(text, 1, (1 << 16) - 1, tmp);
	text[n] = '\0';
	fclose(tmp);
	return text;
}

static size_t count(const char *s, char c)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

/* A relayed detail that carries a newline and a forged log line stays on
 * the line of the message that quotes it. */
static void test_forged_line(void **state)
{
	char *out = logged("disk full\n2026-01-01T00:00:00.000Z service-vm-fleet[info] node n9 admitted");

	(void)state;
	assert_int_equal(count(out, '\n'), 1);
	assert_int_equal(out[strlen(out) - 1], '\n');
	assert_non_null(strstr(out, "[warn] guest g1 failed: disk full\\n2026-01-01T00:00:00.000Z "
				    "service-vm-fleet[info] node n9 admitted\n"));
	free(out);
}

static void test_terminal_controls(void **state)
{
	char *out = logged("a\rb\x1b[2Jc\x7f" "d\x01" "e\xc2\x9b" "31mf\tg h\\n é");

	(void)state;
	assert_int_equal(count(out, '\n'), 1);
	assert_non_null(strstr(out, "failed: a\\rb\\x1b[2Jc\\x7fd\\x01e\\xc2\\x9b31mf\\tg h\\n \xc3\xa9\n"));
	free(out);
}

/* Messages longer than the logger's buffers are escaped whole. */
static void test_long_message(void **state)
{
	char *big = malloc(6001), *out;

	(void)state;
	assert_non_null(big);
	for (int i = 0; i < 6000; i++)
		big[i] = i % 100 == 99 ? '\n' : 'x';
	big[6000] = '\0';
	out = logged(big);
	assert_int_equal(count(out, '\n'), 1);
	assert_int_equal(count(out, '\\'), 60);
	assert_int_equal(count(out, 'x'), 5940);
	free(big);
	free(out);
}

static void test_sanitize(void **state)
{
	char buf[16];

	(void)state;
	assert_int_equal(sanitize_text(buf, sizeof(buf), "plain é \\n"), 11);
	assert_string_equal(buf, "plain é \\n");
	assert_int_equal(sanitize_text(buf, sizeof(buf), "a\nb\x1b"), 8);
	assert_string_equal(buf, "a\\nb\\x1b");
	/* escaping twice changes nothing */
	assert_int_equal(sanitize_text(buf, sizeof(buf), "a\\nb\\x1b"), 8);
	assert_string_equal(buf, "a\\nb\\x1b");
	/* an escape that does not fit is left out whole */
	assert_int_equal(sanitize_text(buf, 6, "abc\x1b"), 7);
	assert_string_equal(buf, "abc");
	assert_int_equal(sanitize_text(buf, 1, "\n"), 2);
	assert_string_equal(buf, "");
	assert_int_equal(sanitize_text(NULL, 0, "\n\n"), 4);
	/* C1 controls, and a lone 0xc2 at the end */
	assert_int_equal(sanitize_text(buf, sizeof(buf), "\xc2\x85\xc2"), 9);
	assert_string_equal(buf, "\\xc2\\x85\xc2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forged_line),
		cmocka_unit_test(test_terminal_controls),
		cmocka_unit_test(test_long_message),
		cmocka_unit_test(test_sanitize),
	};

	log_init("test-log");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
