/* The strict field readers: each refusal and its message, and the fields
 * that pass. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/json-fields.h"

/* NULs let in, so the reader's own refusal of them is seen (a manifest's
 * parser never lets them in). */
static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);

	if (!o)
		fail_msg("test JSON: %s", jerr.text);
	return o;
}

static void text_fails(const char *json, const char *where, size_t len, const char *want)
{
	json_t *o = load(json);
	char buf[16] = "unchanged", err[128] = "";

	assert_true(len <= sizeof(buf));
	assert_int_equal(json_field_text(o, where, "s", buf, len, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
	assert_string_equal(buf, "unchanged");
	json_decref(o);
}

static void text(void **state)
{
	json_t *o = load("{\"s\":\"abcd\",\"e\":\"\"}");
	char buf[5], err[128];

	(void)state;
	assert_int_equal(json_field_text(o, "", "s", buf, sizeof(buf), err, sizeof(err)), 0);
	assert_string_equal(buf, "abcd");
	assert_int_equal(json_field_text(o, "", "e", buf, sizeof(buf), err, sizeof(err)), 0);
	assert_string_equal(buf, "");
	json_decref(o);
	text_fails("{}", "", 8, "s: missing, not a string, or longer than 7");
	text_fails("{\"s\":null}", "", 8, "s: missing, not a string, or longer than 7");
	text_fails("{\"s\":7}", "", 8, "s: missing, not a string, or longer than 7");
	text_fails("{\"s\":[\"a\"]}", "", 8, "s: missing, not a string, or longer than 7");
	/* one past the room: the terminating NUL needs its byte */
	text_fails("{\"s\":\"abcde\"}", "signature ", 5,
		   "signature s: missing, not a string, or longer than 4");
	/* a NUL inside would shorten the string silently */
	text_fails("{\"s\":\"ab\\u0000cd\"}", "", 8, "s: missing, not a string, or longer than 7");
	text_fails("{\"s\":\"a\"}", "", 0, "s: missing, not a string, or longer than 0");
}

static void u64_fails(const char *json, int flags, const char *want)
{
	json_error_t jerr;
	json_t *o = json_loads(json, flags, &jerr);
	uint64_t n = 42;
	char err[128] = "";

	assert_non_null(o);
	assert_int_equal(json_field_u64(o, "volumes.", "n", &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
	assert_int_equal(n, 42);
	json_decref(o);
}

static void u64(void **state)
{
	static const char *const why = "volumes.n: missing or not a non-negative integer";
	json_t *o = load("{\"z\":0,\"n\":9223372036854775807}");
	json_error_t jerr;
	uint64_t n = 1;
	char err[128];

	(void)state;
	assert_int_equal(json_field_u64(o, "", "z", &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(json_field_u64(o, "", "n", &n, err, sizeof(err)), 0);
	assert_true(n == INT64_MAX);
	json_decref(o);
	u64_fails("{}", 0, why);
	u64_fails("{\"n\":-1}", 0, why);
	u64_fails("{\"n\":-9223372036854775808}", 0, why);
	u64_fails("{\"n\":1.0}", 0, why);
	u64_fails("{\"n\":\"12\"}", 0, why);
	u64_fails("{\"n\":true}", 0, why);
	/* past INT64_MAX jansson refuses the text itself, or, told to, reads a real */
	assert_null(json_loads("{\"n\":18446744073709551616}", 0, &jerr));
	assert_null(json_loads("{\"n\":9223372036854775808}", 0, &jerr));
	u64_fails("{\"n\":18446744073709551616}", JSON_DECODE_INT_AS_REAL, why);
}

static void keys(void **state)
{
	static const char *const known[] = { "a", "b", NULL };
	json_t *o;
	char err[128];

	(void)state;
	o = load("{\"a\":1}");
	assert_int_equal(json_fields_only(o, known, "volumes.", err, sizeof(err)), 0);
	assert_int_equal(json_fields_exact(o, known, "volumes.", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "volumes.b: missing");
	json_decref(o);
	o = load("{\"b\":1,\"a\":2}");
	assert_int_equal(json_fields_only(o, known, "", err, sizeof(err)), 0);
	assert_int_equal(json_fields_exact(o, known, "", err, sizeof(err)), 0);
	json_decref(o);
	o = load("{\"a\":1,\"b\":2,\"c\":3}");
	assert_int_equal(json_fields_only(o, known, "", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "c: unknown key");
	assert_int_equal(json_fields_exact(o, known, "signature ", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "signature c: unknown key");
	json_decref(o);
	/* a missing key is named before an unknown one */
	o = load("{\"a\":1,\"B\":2}");
	assert_int_equal(json_fields_exact(o, known, "", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "b: missing");
	json_decref(o);
	o = load("{}");
	assert_int_equal(json_fields_only(o, known, "", err, sizeof(err)), 0);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text),
		cmocka_unit_test(u64),
		cmocka_unit_test(keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
