#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "lib/units.h"

#define KIB 1024ULL
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define TIB (GIB * 1024)

static void size_ok(const char *text, uint64_t want)
{
	uint64_t got = 12345;

	if (parse_size(text, &got) != 0)
		fail_msg("parse_size(\"%s\") failed", text);
	if (got != want)
		fail_msg("parse_size(\"%s\") = %llu, want %llu", text,
			 (unsigned long long)got, (unsigned long long)want);
}

static void size_err(const char *text, int want)
{
	uint64_t got = 777;
	int ret = parse_size(text, &got);

	if (ret != want)
		fail_msg("parse_size(\"%s\") returned %d, want %d", text, ret, want);
	assert_int_equal(got, 777);
}

static void test_size_plain(void **state)
{
	size_ok("0", 0);
	size_ok("1048576", 1048576);
	size_ok("1023B", 1023);
	size_ok("18446744073709551615", UINT64_MAX);
}

static void test_size_suffixes(void **state)
{
	size_ok("1K", KIB);
	size_ok("512M", 512 * MIB);
	size_ok("2G", 2 * GIB);
	size_ok("3T", 3 * TIB);
	size_ok("2GiB", 2 * GIB);
	size_ok("2Gi", 2 * GIB);
	size_ok("2GB", 2 * GIB);
	size_ok("2gib", 2 * GIB);
	size_ok("2gB", 2 * GIB);
	size_ok("4k", 4 * KIB);
	size_ok("4KIB", 4 * KIB);
}

static void test_size_decimals(void **state)
{
	size_ok("1.5G", GIB + GIB / 2);
	size_ok("0.5K", 512);
	size_ok("1.25M", MIB + MIB / 4);
	/* truncated to a whole byte */
	size_ok("1.1K", 1126);
	/* digits past the sixth are ignored */
	size_ok("1.0000009K", 1024);
	size_ok("0.000001T", 1099511);
}

static void test_size_rejects(void **state)
{
	size_err("", -EINVAL);
	size_err("G", -EINVAL);
	size_err("-1", -EINVAL);
	size_err("-1G", -EINVAL);
	size_err("+1G", -EINVAL);
	size_err(" 1G", -EINVAL);
	size_err("1G ", -EINVAL);
	size_err("1 G", -EINVAL);
	size_err("1X", -EINVAL);
	size_err("1GG", -EINVAL);
	size_err("1GiBs", -EINVAL);
	size_err("1iB", -EINVAL);
	size_err("1P", -EINVAL);
	size_err(".5G", -EINVAL);
	size_err("1.G", -EINVAL);
	size_err("1.5", -EINVAL);
	size_err("1.5B", -EINVAL);
	size_err("1..5G", -EINVAL);
	size_err("0x10", -EINVAL);
}

static void test_size_overflow(void **state)
{
	size_err("18446744073709551616", -ERANGE);
	size_err("99999999999999999999999", -ERANGE);
	size_ok("16777215T", 16777215ULL * TIB);
	size_err("16777216T", -ERANGE);
	size_err("17179869184G", -ERANGE);
	size_ok("16777215.9T", 16777215ULL * TIB + TIB * 9 / 10);
	size_err("18446744073709551615.5K", -ERANGE);
}

static void duration_ok(const char *text, uint64_t want)
{
	uint64_t got = 12345;

	if (parse_duration_ms(text, &got) != 0)
		fail_msg("parse_duration_ms(\"%s\") failed", text);
	if (got != want)
		fail_msg("parse_duration_ms(\"%s\") = %llu, want %llu", text,
			 (unsigned long long)got, (unsigned long long)want);
}

static void duration_err(const char *text, int want)
{
	uint64_t got = 777;
	int ret = parse_duration_ms(text, &got);

	if (ret != want)
		fail_msg("parse_duration_ms(\"%s\") returned %d, want %d", text, ret, want);
	assert_int_equal(got, 777);
}

static void test_duration(void **state)
{
	duration_ok("30", 30000);
	duration_ok("0", 0);
	duration_ok("250ms", 250);
	duration_ok("10s", 10000);
	duration_ok("1m", 60000);
	duration_ok("1h", 3600000);
	duration_ok("1.5s", 1500);
	duration_ok("1.5", 1500);
	duration_ok("0.25m", 15000);
	duration_ok("0.0015s", 1);
	duration_ok("18446744073709551615ms", UINT64_MAX);
}

static void test_duration_rejects(void **state)
{
	duration_err("", -EINVAL);
	duration_err("s", -EINVAL);
	duration_err("-1s", -EINVAL);
	duration_err("10 s", -EINVAL);
	duration_err("10sec", -EINVAL);
	duration_err("10d", -EINVAL);
	duration_err("10S", -EINVAL);
	duration_err("1.5ms", -EINVAL);
	duration_err("1.", -EINVAL);
	duration_err("18446744073709551616ms", -ERANGE);
	duration_err("18446744073709551615s", -ERANGE);
	duration_ok("5124095576030h", 5124095576030ULL * 3600000);
	duration_err("5124095576031h", -ERANGE);
	/* the whole part fits, the fraction tips it over */
	duration_ok("18446744073709551.615s", UINT64_MAX);
	duration_err("18446744073709551.616s", -ERANGE);
}

static void hostport_ok(const char *text, const char *host, uint16_t port)
{
	char got[64];
	uint16_t gport = 0;
	int ret = parse_hostport(text, got, sizeof(got), &gport);

	if (ret != 0)
		fail_msg("parse_hostport(\"%s\") returned %d", text, ret);
	assert_string_equal(got, host);
	assert_int_equal(gport, port);
}

static void hostport_err(const char *text, int want)
{
	char got[64] = "untouched";
	uint16_t gport = 42;
	int ret = parse_hostport(text, got, sizeof(got), &gport);

	if (ret != want)
		fail_msg("parse_hostport(\"%s\") returned %d, want %d", text, ret, want);
	assert_string_equal(got, "untouched");
}

static void test_hostport(void **state)
{
	hostport_ok("127.0.0.1:7101", "127.0.0.1", 7101);
	hostport_ok("[::1]:7101", "::1", 7101);
	hostport_ok("[fd00:1::2]:1", "fd00:1::2", 1);
	hostport_ok("host.example:80", "host.example", 80);
	hostport_ok("fleet-1:65535", "fleet-1", 65535);
}

static void test_hostport_rejects(void **state)
{
	hostport_err("", -EINVAL);
	hostport_err("127.0.0.1", -EINVAL);
	hostport_err("127.0.0.1:", -EINVAL);
	hostport_err(":7101", -EINVAL);
	hostport_err("host:0", -EINVAL);
	hostport_err("host:65536", -EINVAL);
	hostport_err("host:100000", -EINVAL);
	hostport_err("host:-1", -EINVAL);
	hostport_err("host:+80", -EINVAL);
	hostport_err("host:80x", -EINVAL);
	hostport_err("host: 80", -EINVAL);
	hostport_err("::1:7101", -EINVAL);
	hostport_err("[::1]7101", -EINVAL);
	hostport_err("[::1]:", -EINVAL);
	hostport_err("[]:80", -EINVAL);
	hostport_err("[::1:80", -EINVAL);
	hostport_err("[not-v6]:80", -EINVAL);
	hostport_err("bad host:80", -EINVAL);
	hostport_err("a/b:80", -EINVAL);
}

static void test_hostport_short_buffer(void **state)
{
	char host[9];
	uint16_t port;

	assert_int_equal(parse_hostport("12345678:1", host, sizeof(host), &port), 0);
	assert_string_equal(host, "12345678");
	assert_int_equal(parse_hostport("123456789:1", host, sizeof(host), &port), -ENAMETOOLONG);
}

static void size_fmt(uint64_t bytes, const char *want)
{
	char buf[32];

	memset(buf, 'x', sizeof(buf));
	format_size(bytes, buf, sizeof(buf));
	if (strcmp(buf, want))
		fail_msg("format_size(%llu) = \"%s\", want \"%s\"", (unsigned long long)bytes, buf, want);
}

static void test_format_size(void **state)
{
	char small[4];

	size_fmt(0, "0B");
	size_fmt(1023, "1023B");
	size_fmt(1024, "1.0K");
	size_fmt(1536, "1.5K");
	size_fmt(512 * MIB, "512.0M");
	size_fmt(2 * GIB, "2.0G");
	size_fmt(GIB + GIB / 2, "1.5G");
	size_fmt(3 * TIB, "3.0T");
	size_fmt(2048 * TIB, "2048.0T");
	size_fmt(MIB - 1, "1.0M");
	size_fmt(GIB - MIB, "1023.0M");
	size_fmt(1075, "1.0K");
	size_fmt(1076, "1.1K");
	size_fmt(UINT64_MAX, "16777216.0T");

	memset(small, 'x', sizeof(small));
	format_size(2 * GIB, small, sizeof(small));
	assert_string_equal(small, "2.0");
}

static void test_format_parse_round_trip(void **state)
{
	static const uint64_t values[] = { 0, 1, 1023, 1024, 512 * MIB, 2 * GIB, 7 * TIB };
	char buf[32];
	uint64_t back;

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		format_size(values[i], buf, sizeof(buf));
		assert_int_equal(parse_size(buf, &back), 0);
		assert_int_equal(back, values[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_plain),
		cmocka_unit_test(test_size_suffixes),
		cmocka_unit_test(test_size_decimals),
		cmocka_unit_test(test_size_rejects),
		cmocka_unit_test(test_size_overflow),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_duration_rejects),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_hostport_rejects),
		cmocka_unit_test(test_hostport_short_buffer),
		cmocka_unit_test(test_format_size),
		cmocka_unit_test(test_format_parse_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
