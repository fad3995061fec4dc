#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wire-frame.h"

static const uint8_t hdr_len5[] = { 0, 0, 0, 5 };

static void test_hello(void **state)
{
	uint8_t nonce[API_NONCE_BYTES], back[API_NONCE_BYTES], *f;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(nonce); i++)
		nonce[i] = (uint8_t)(0xf0 ^ i);
	assert_int_equal(frame_build_hello(nonce, &f, &len), 0);
	assert_int_equal(len, 4 + 34);
	assert_memory_equal(f, "\x00\x00\x00\x22\x01\x01", 6);
	assert_memory_equal(f + 6, nonce, sizeof(nonce));
	assert_int_equal(frame_parse_hello(f + 4, 34, back), 0);
	assert_memory_equal(back, nonce, sizeof(nonce));

	assert_int_equal(frame_parse_hello(f + 4, 33, back), -EBADMSG);
	assert_int_equal(frame_parse_hello(f + 4, 0, back), -EBADMSG);
	f[4] = FRAME_REPLY;
	assert_int_equal(frame_parse_hello(f + 4, 34, back), -EBADMSG);
	f[4] = FRAME_HELLO;
	f[5] = 2;
	assert_int_equal(frame_parse_hello(f + 4, 34, back), -EBADMSG);
	free(f);
}

static void test_hello_oversized(void **state)
{
	uint8_t p[35] = { FRAME_HELLO, FRAME_VERSION }, nonce[API_NONCE_BYTES];

	(void)state;
	assert_int_equal(frame_parse_hello(p, 35, nonce), -EBADMSG);
	assert_int_equal(frame_parse_hello(p, 34, nonce), 0);
}

static void fill_sig(uint8_t sig[SIG_BYTES])
{
	for (size_t i = 0; i < SIG_BYTES; i++)
		sig[i] = (uint8_t)(0x80 + i);
}

static void test_signed_layout(void **state)
{
	static const char body[] = "{\"op\":\"status\"}";
	uint8_t sig[SIG_BYTES], *f;
	struct frame_signed fs;
	size_t len, plen;

	(void)state;
	fill_sig(sig);
	assert_int_equal(frame_build_signed(0x0102030405060708ULL, "adm", sig, body,
					    strlen(body), &f, &len), 0);
	plen = 1 + 8 + 1 + 3 + SIG_BYTES + strlen(body);
	assert_int_equal(len, 4 + plen);
	assert_int_equal(f[3], plen); /* below 256 */
	assert_memory_equal(f, "\x00\x00\x00", 3);
	assert_memory_equal(f + 4, "\x02\x01\x02\x03\x04\x05\x06\x07\x08\x03" "adm", 13);
	assert_memory_equal(f + 17, sig, SIG_BYTES);
	assert_memory_equal(f + 17 + SIG_BYTES, body, strlen(body));

	assert_int_equal(frame_parse_signed(f + 4, plen, &fs), 0);
	assert_int_equal(fs.seq, 0x0102030405060708ULL);
	assert_string_equal(fs.name, "adm");
	assert_ptr_equal(fs.sig, f + 17);
	assert_ptr_equal(fs.body, f + 17 + SIG_BYTES);
	assert_int_equal(fs.body_len, strlen(body));
	free(f);
}

/* payload: type, seq, n, name[n], sig, body; returns its length */
static size_t signed_payload(uint8_t *p, uint8_t n, const char *name, size_t body_len)
{
	size_t len = 0;

	p[len++] = FRAME_SIGNED;
	memset(p + len, 0, 8);
	p[len + 7] = 1;
	len += 8;
	p[len++] = n;
	memcpy(p + len, name, n);
	len += n;
	fill_sig(p + len);
	len += SIG_BYTES;
	memset(p + len, '{', body_len);
	return len + body_len;
}

static void test_signed_bounds(void **state)
{
	uint8_t p[256];
	struct frame_signed fs, untouched;
	size_t len;

	(void)state;
	memset(&fs, 0x3c, sizeof(fs));
	untouched = fs;
	/* the smallest valid request: one-letter name, one byte of body */
	len = signed_payload(p, 1, "a", 1);
	assert_int_equal(len, 76);
	assert_int_equal(frame_parse_signed(p, len, &fs), 0);
	assert_int_equal(fs.body_len, 1);
	assert_int_equal(fs.seq, 1);
	/* every truncation of it is refused, and leaves out alone */
	memset(&fs, 0x3c, sizeof(fs));
	for (size_t l = 0; l < len; l++) {
		assert_int_equal(frame_parse_signed(p, l, &fs), -EBADMSG);
		assert_memory_equal(&fs, &untouched, sizeof(fs));
	}
	/* empty body */
	len = signed_payload(p, 3, "abc", 0);
	assert_int_equal(frame_parse_signed(p, len, &fs), -EBADMSG);
	/* name length 0 and 32 */
	len = signed_payload(p, 0, "", 10);
	assert_int_equal(frame_parse_signed(p, len, &fs), -EBADMSG);
	len = signed_payload(p, 32, "abcdefghijklmnopqrstuvwxyz012345", 10);
	assert_int_equal(frame_parse_signed(p, len, &fs), -EBADMSG);
	len = signed_payload(p, 31, "abcdefghijklmnopqrstuvwxyz01234", 10);
	assert_int_equal(frame_parse_signed(p, len, &fs), 0);
	assert_string_equal(fs.name, "abcdefghijklmnopqrstuvwxyz01234");
	/* a name length pointing past the end */
	len = signed_payload(p, 3, "abc", 1);
	p[9] = 200;
	assert_int_equal(frame_parse_signed(p, len, &fs), -EBADMSG);
	/* bad names */
	len = signed_payload(p, 3, "a\0b", 10);
	assert_int_equal(frame_parse_signed(p, len, &fs), -EBADMSG);
	len = signed_payload(p, 3, "aBc", 10);
	assert_int_equal(frame_parse_signed(p, len, &fs), -EBADMSG);
	len = signed_payload(p, 3, "ab-", 10);
	assert_int_equal(frame_parse_signed(p, len, &fs), -EBADMSG);
	/* wrong type */
	len = signed_payload(p, 3, "abc", 10);
	p[0] = FRAME_LOCAL;
	assert_int_equal(frame_parse_signed(p, len, &fs), -EBADMSG);
}

static void test_build_signed_limits(void **state)
{
	uint8_t sig[SIG_BYTES] = { 0 }, *f = NULL, *body = calloc(FRAME_REQUEST_MAX, 1);
	struct frame_signed fs;
	size_t len, fit = FRAME_REQUEST_MAX - (1 + 8 + 1 + 2 + SIG_BYTES);

	(void)state;
	assert_non_null(body);
	assert_int_equal(frame_build_signed(1, "Ab", sig, body, 1, &f, &len), -EINVAL);
	assert_int_equal(frame_build_signed(1, "", sig, body, 1, &f, &len), -EINVAL);
	assert_int_equal(frame_build_signed(1, "ab", sig, body, 0, &f, &len), -EINVAL);
	assert_int_equal(frame_build_signed(1, "ab", sig, NULL, 1, &f, &len), -EINVAL);
	assert_int_equal(frame_build_signed(1, "ab", sig, body, fit + 1, &f, &len), -EMSGSIZE);
	assert_null(f);
	assert_int_equal(frame_build_signed(1, "ab", sig, body, fit, &f, &len), 0);
	assert_int_equal(len, FRAME_HEADER + FRAME_REQUEST_MAX);
	assert_int_equal(frame_parse_signed(f + 4, len - 4, &fs), 0);
	assert_int_equal(fs.body_len, fit);
	free(f);
	free(body);
}

static void test_build_plain(void **state)
{
	uint8_t *f = NULL, *body = calloc(FRAME_REQUEST_MAX, 1);
	size_t len;

	(void)state;
	assert_non_null(body);
	assert_int_equal(frame_build_plain(FRAME_LOCAL, "{}", 2, &f, &len), 0);
	assert_int_equal(len, 7);
	assert_memory_equal(f, "\x00\x00\x00\x03\x03{}", 7);
	free(f);
	assert_int_equal(frame_build_plain(FRAME_REPLY, "[1]", 3, &f, &len), 0);
	assert_memory_equal(f, "\x00\x00\x00\x04\x04[1]", 8);
	free(f);
	f = NULL;
	assert_int_equal(frame_build_plain(FRAME_HELLO, "{}", 2, &f, &len), -EINVAL);
	assert_int_equal(frame_build_plain(FRAME_SIGNED, "{}", 2, &f, &len), -EINVAL);
	assert_int_equal(frame_build_plain((enum frame_type)9, "{}", 2, &f, &len), -EINVAL);
	assert_int_equal(frame_build_plain(FRAME_LOCAL, "", 0, &f, &len), -EINVAL);
	assert_int_equal(frame_build_plain(FRAME_LOCAL, body, FRAME_REQUEST_MAX, &f, &len),
			 -EMSGSIZE);
	assert_null(f);
	assert_int_equal(frame_build_plain(FRAME_LOCAL, body, FRAME_REQUEST_MAX - 1, &f, &len), 0);
	assert_int_equal(len, FRAME_HEADER + FRAME_REQUEST_MAX);
	free(f);
	/* replies may be larger than requests */
	assert_int_equal(frame_build_plain(FRAME_REPLY, body, FRAME_REQUEST_MAX, &f, &len), 0);
	free(f);
	free(body);
}

/* A stream of frames whose payloads are "A", "BB", "CCC", ... */
static size_t make_stream(uint8_t *out, size_t nframes)
{
	size_t len = 0;

	for (size_t i = 0; i < nframes; i++) {
		size_t n = i + 1;

		out[len++] = 0;
		out[len++] = 0;
		out[len++] = (uint8_t)(n >> 8);
		out[len++] = (uint8_t)n;
		memset(out + len, 'A' + (int)(i % 26), n);
		len += n;
	}
	return len;
}

static size_t drain(struct frame_reader *r, size_t first)
{
	const uint8_t *p;
	size_t n, i = first;

	while (frame_reader_next(r, &p, &n) == 1) {
		assert_int_equal(n, i + 1);
		for (size_t k = 0; k < n; k++)
			assert_int_equal(p[k], 'A' + (int)(i % 26));
		i++;
	}
	return i;
}

static void test_reader_byte_at_a_time(void **state)
{
	uint8_t stream[4096];
	struct frame_reader r;
	size_t len = make_stream(stream, 40), got = 0;

	(void)state;
	frame_reader_init(&r, 100);
	for (size_t i = 0; i < len; i++) {
		assert_int_equal(frame_reader_feed(&r, stream + i, 1), 0);
		got = drain(&r, got);
	}
	assert_int_equal(got, 40);
	/* everything consumed: the next feed keeps only the new bytes */
	assert_int_equal(frame_reader_feed(&r, hdr_len5, 2), 0);
	assert_int_equal(r.len, 2);
	frame_reader_free(&r);
}

static void test_reader_many_in_one_feed(void **state)
{
	uint8_t stream[4096];
	struct frame_reader r;
	size_t len = make_stream(stream, 60);
	const uint8_t *p;
	size_t n;

	(void)state;
	frame_reader_init(&r, 60);
	assert_int_equal(frame_reader_next(&r, &p, &n), 0);
	/* all but the last byte: 59 frames ready, the 60th waits */
	assert_int_equal(frame_reader_feed(&r, stream, len - 1), 0);
	assert_int_equal(drain(&r, 0), 59);
	assert_int_equal(frame_reader_next(&r, &p, &n), 0);
	assert_int_equal(frame_reader_feed(&r, stream + len - 1, 1), 0);
	assert_int_equal(r.len, 4 + 60); /* consumed frames were compacted away */
	assert_int_equal(drain(&r, 59), 60);
	assert_int_equal(frame_reader_next(&r, &p, &n), 0);
	frame_reader_free(&r);
}

/* Random split points against one long stream, payloads checked in order. */
static void test_reader_random_splits(void **state)
{
	uint8_t *stream = malloc(200000);
	uint32_t rs = 12345;
	struct frame_reader r;
	size_t len, pos = 0, got = 0;

	(void)state;
	assert_non_null(stream);
	len = make_stream(stream, 600);
	frame_reader_init(&r, 600);
	while (pos < len) {
		size_t chunk;

		rs = rs * 1103515245 + 12345;
		chunk = (rs >> 16) % 3000 + 1;
		if (chunk > len - pos)
			chunk = len - pos;
		assert_int_equal(frame_reader_feed(&r, stream + pos, chunk), 0);
		pos += chunk;
		/* sometimes leave frames in the buffer across feeds */
		if ((rs >> 8) & 1)
			got = drain(&r, got);
	}
	got = drain(&r, got);
	assert_int_equal(got, 600);
	frame_reader_free(&r);
	free(stream);
}

/* The payload stays put until the next call, even when it was the last. */
static void test_reader_payload_lifetime(void **state)
{
	uint8_t stream[64];
	struct frame_reader r;
	const uint8_t *p1, *p2;
	size_t n1, n2, len = make_stream(stream, 3);

	(void)state;
	frame_reader_init(&r, 10);
	assert_int_equal(frame_reader_feed(&r, stream, len), 0);
	assert_int_equal(frame_reader_next(&r, &p1, &n1), 1);
	assert_int_equal(n1, 1);
	assert_int_equal(p1[0], 'A');
	assert_int_equal(frame_reader_next(&r, &p2, &n2), 1);
	assert_int_equal(n2, 2);
	assert_memory_equal(p2, "BB", 2);
	assert_int_equal(frame_reader_next(&r, &p1, &n1), 1);
	assert_memory_equal(p1, "CCC", 3);
	assert_int_equal(frame_reader_next(&r, &p2, &n2), 0);
	assert_memory_equal(p1, "CCC", 3);
	frame_reader_free(&r);
}

static void test_reader_limits(void **state)
{
	static const uint8_t zero[] = { 0, 0, 0, 0 };
	static const uint8_t over[] = { 0, 0, 0, 11 };
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff };
	uint8_t at_max[4 + 10] = { 0, 0, 0, 10 };
	struct frame_reader r;
	const uint8_t *p;
	size_t n;

	(void)state;
	frame_reader_init(&r, 10);
	assert_int_equal(frame_reader_feed(&r, at_max, sizeof(at_max)), 0);
	assert_int_equal(frame_reader_next(&r, &p, &n), 1);
	assert_int_equal(n, 10);
	assert_int_equal(frame_reader_feed(&r, over, sizeof(over)), -EMSGSIZE);
	/* the stream stays dead */
	assert_int_equal(frame_reader_feed(&r, at_max, sizeof(at_max)), -EMSGSIZE);
	assert_int_equal(frame_reader_next(&r, &p, &n), 0);
	frame_reader_free(&r);

	frame_reader_init(&r, 10);
	assert_int_equal(frame_reader_feed(&r, zero, sizeof(zero)), -EMSGSIZE);
	frame_reader_free(&r);

	/* a header split across feeds is judged once whole */
	frame_reader_init(&r, 10);
	assert_int_equal(frame_reader_feed(&r, huge, 3), 0);
	assert_int_equal(frame_reader_next(&r, &p, &n), 0);
	assert_int_equal(frame_reader_feed(&r, huge + 3, 1), -EMSGSIZE);
	frame_reader_free(&r);

	/* a bad second frame in the same feed as a good one */
	frame_reader_init(&r, 10);
	{
		uint8_t two[4 + 5 + 4] = { 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o', 0, 0, 0, 0 };

		assert_int_equal(frame_reader_feed(&r, two, sizeof(two)), -EMSGSIZE);
	}
	frame_reader_free(&r);
}

/* A frame larger than the first buffer the reader allocates. */
static void test_reader_large_frame(void **state)
{
	const size_t n = 1u << 20;
	uint8_t *f = malloc(4 + n);
	struct frame_reader r;
	const uint8_t *p;
	size_t got;

	(void)state;
	assert_non_null(f);
	f[0] = 0;
	f[1] = 0x10;
	f[2] = 0;
	f[3] = 0;
	for (size_t i = 0; i < n; i++)
		f[4 + i] = (uint8_t)(i * 31);
	frame_reader_init(&r, n);
	for (size_t pos = 0; pos < 4 + n; pos += 65536) {
		size_t chunk = 4 + n - pos < 65536 ? 4 + n - pos : 65536;

		assert_int_equal(frame_reader_next(&r, &p, &got), 0);
		assert_int_equal(frame_reader_feed(&r, f + pos, chunk), 0);
	}
	assert_int_equal(frame_reader_next(&r, &p, &got), 1);
	assert_int_equal(got, n);
	assert_memory_equal(p, f + 4, n);
	frame_reader_free(&r);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_hello_oversized),
		cmocka_unit_test(test_signed_layout),
		cmocka_unit_test(test_signed_bounds),
		cmocka_unit_test(test_build_signed_limits),
		cmocka_unit_test(test_build_plain),
		cmocka_unit_test(test_reader_byte_at_a_time),
		cmocka_unit_test(test_reader_many_in_one_feed),
		cmocka_unit_test(test_reader_random_splits),
		cmocka_unit_test(test_reader_payload_lifetime),
		cmocka_unit_test(test_reader_limits),
		cmocka_unit_test(test_reader_large_frame),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
