#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/wire-heartbeat.h"

static struct heartbeat sample(void)
{
	struct heartbeat hb = {
		.name = "node-a1",
		.seq = 0x0102030405060708ULL,
		.cpu_busy_permille = 1000,
		.ncpu = 0x0a0b,
		.flags = HB_FLAG_LIBVIRT,
		.mem_total_kib = 0x1112131415161718ULL,
		.mem_available_kib = 0x1112131415161718ULL,
		.guests_running = 0x21222324,
		.interval_ms = 10000,
		.guest_mem_kib = 0x3132333435363738ULL,
	};
	return hb;
}

static void encode_sample(uint8_t buf[HB_SIZE])
{
	struct heartbeat hb = sample();

	assert_int_equal(hb_encode(&hb, buf), 0);
}

/* The byte layout drawn in wire-heartbeat.h, written out by hand. */
static void test_encode_layout(void **state)
{
	static const uint8_t want[HB_MAC_OFFSET] = {
		'O', 'I', 'H', 'B', 1, 1, 0, 0,
		'n', 'o', 'd', 'e', '-', 'a', '1', 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* seq */
		0x03, 0xe8, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x01, /* cpu, ncpu, flags */
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, /* mem_total */
		0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, /* mem_available */
		0x21, 0x22, 0x23, 0x24, 0x00, 0x00, 0x27, 0x10, /* guests, interval */
		0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, /* guest_mem */
		0, 0, 0, 0, 0, 0, 0, 0,
	};
	uint8_t buf[HB_SIZE], zero[HB_MAC_SIZE] = { 0 };

	(void)state;
	memset(buf, 0xaa, sizeof(buf));
	encode_sample(buf);
	assert_memory_equal(buf, want, sizeof(want));
	assert_memory_equal(buf + HB_MAC_OFFSET, zero, HB_MAC_SIZE);
}

static void test_roundtrip(void **state)
{
	struct heartbeat in = sample(), out;
	uint8_t buf[HB_SIZE];

	(void)state;
	in.flags = 0xfffffffe; /* unknown flag bits are carried, not judged */
	in.mem_available_kib = 0;
	in.cpu_busy_permille = 0;
	assert_int_equal(hb_encode(&in, buf), 0);
	memset(buf + HB_MAC_OFFSET, 0x5c, HB_MAC_SIZE); /* decode ignores the MAC */
	memset(&out, 0x77, sizeof(out));
	assert_int_equal(hb_decode(buf, sizeof(buf), &out), 0);
	assert_string_equal(out.name, "node-a1");
	assert_int_equal(out.seq, in.seq);
	assert_int_equal(out.cpu_busy_permille, 0);
	assert_int_equal(out.ncpu, in.ncpu);
	assert_int_equal(out.flags, 0xfffffffe);
	assert_int_equal(out.mem_total_kib, in.mem_total_kib);
	assert_int_equal(out.mem_available_kib, 0);
	assert_int_equal(out.guests_running, in.guests_running);
	assert_int_equal(out.interval_ms, in.interval_ms);
	assert_int_equal(out.guest_mem_kib, in.guest_mem_kib);
	for (size_t i = strlen(out.name); i < sizeof(out.name); i++)
		assert_int_equal(out.name[i], 0);
}

/* The capability bits at their places on the wire: flags 0x0000050f is
 * libvirt, capabilities, dispatch, images, base of types 0 and 2. */
static void test_capability_bits(void **state)
{
	struct heartbeat in = sample(), out;
	uint8_t buf[HB_SIZE];

	(void)state;
	in.flags = HB_FLAG_LIBVIRT | HB_FLAG_CAPS | HB_FLAG_DISPATCH | HB_FLAG_IMAGES |
		   HB_FLAG_BASE(0) | HB_FLAG_BASE(2);
	assert_int_equal(hb_encode(&in, buf), 0);
	assert_int_equal(buf[52], 0x00);
	assert_int_equal(buf[53], 0x00);
	assert_int_equal(buf[54], 0x05);
	assert_int_equal(buf[55], 0x0f);
	assert_int_equal(hb_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.flags, in.flags);
	assert_int_equal(hb_can_build(out.flags, 0), HB_BUILD_OK);
	assert_int_equal(hb_can_build(out.flags, 1), HB_BUILD_NO_IMAGE);
	assert_int_equal(hb_can_build(out.flags, 2), HB_BUILD_OK);
	assert_int_equal(hb_can_build(out.flags, -1), HB_BUILD_OK);
	/* No dispatch address: nothing can be built, whatever the images. */
	assert_int_equal(hb_can_build(out.flags & ~HB_FLAG_DISPATCH, 0), HB_BUILD_NO_DISPATCH);
	assert_int_equal(hb_can_build(out.flags & ~HB_FLAG_DISPATCH, -1), HB_BUILD_NO_DISPATCH);
	/* Images not looked at (libvirt silent): no judgement on them. */
	assert_int_equal(hb_can_build(HB_FLAG_CAPS | HB_FLAG_DISPATCH, 1), HB_BUILD_OK);
}

/* A frame from an agent that predates the capability bits (flags 0 or 1)
 * decodes as before and is taken as able to build any type. */
static void test_old_frame_builds_anything(void **state)
{
	struct heartbeat in = sample(), out;
	uint8_t buf[HB_SIZE];

	(void)state;
	for (uint32_t flags = 0; flags <= HB_FLAG_LIBVIRT; flags++) {
		in.flags = flags;
		assert_int_equal(hb_encode(&in, buf), 0);
		assert_int_equal(hb_decode(buf, sizeof(buf), &out), 0);
		assert_int_equal(out.flags, flags);
		for (int t = -1; t < 4; t++)
			assert_int_equal(hb_can_build(out.flags, t), HB_BUILD_OK);
	}
	/* Base bits without bit 1 say nothing either. */
	assert_int_equal(hb_can_build(HB_FLAG_IMAGES, 0), HB_BUILD_OK);
}

static void test_sizes(void **state)
{
	uint8_t buf[HB_SIZE + 1] = { 0 };
	struct heartbeat out;

	(void)state;
	encode_sample(buf);
	assert_int_equal(hb_decode(buf, 0, &out), -HB_REJECT_TRUNCATED);
	assert_int_equal(hb_decode(NULL, 0, &out), -HB_REJECT_TRUNCATED);
	assert_int_equal(hb_decode(buf, HB_SIZE - 1, &out), -HB_REJECT_TRUNCATED);
	assert_int_equal(hb_decode(buf, HB_SIZE + 1, &out), -HB_REJECT_OVERSIZED);
	assert_int_equal(hb_decode(buf, 65535, &out), -HB_REJECT_OVERSIZED);
	assert_int_equal(hb_decode(buf, HB_SIZE, &out), 0);
}

static int decode_patched(size_t off, const void *bytes, size_t n)
{
	uint8_t buf[HB_SIZE];
	struct heartbeat out, untouched;
	int ret;

	encode_sample(buf);
	memcpy(buf + off, bytes, n);
	memset(&out, 0x5a, sizeof(out));
	untouched = out;
	ret = hb_decode(buf, sizeof(buf), &out);
	if (ret < 0)
		assert_memory_equal(&out, &untouched, sizeof(out));
	return ret;
}

static void test_header_fields(void **state)
{
	const int bad = -HB_REJECT_MALFORMED;

	(void)state;
	assert_int_equal(decode_patched(0, "OIHC", 4), bad);
	assert_int_equal(decode_patched(0, "oihb", 4), bad);
	assert_int_equal(decode_patched(4, "\x00", 1), bad);
	assert_int_equal(decode_patched(4, "\x02", 1), bad);
	assert_int_equal(decode_patched(5, "\x00", 1), bad);
	assert_int_equal(decode_patched(5, "\x02", 1), bad);
	assert_int_equal(decode_patched(6, "\x01", 1), bad);
	assert_int_equal(decode_patched(7, "\x80", 1), bad);
	for (size_t off = 88; off < 96; off++)
		assert_int_equal(decode_patched(off, "\x01", 1), bad);
}

static void test_name_field(void **state)
{
	const int bad = -HB_REJECT_MALFORMED;
	uint8_t field[NODE_NAME_MAX + 1];

	(void)state;
	/* garbage after the terminating NUL */
	assert_int_equal(decode_patched(8 + 31, "x", 1), bad);
	assert_int_equal(decode_patched(8 + 8, "\x01", 1), bad);
	/* empty name */
	memset(field, 0, sizeof(field));
	assert_int_equal(decode_patched(8, field, sizeof(field)), bad);
	/* 31 characters then NUL: the longest name */
	memset(field, 'z', NODE_NAME_MAX);
	field[NODE_NAME_MAX] = 0;
	assert_int_equal(decode_patched(8, field, sizeof(field)), 0);
	/* 32 characters: no room for the NUL */
	memset(field, 'z', sizeof(field));
	assert_int_equal(decode_patched(8, field, sizeof(field)), bad);
	/* characters outside [a-z0-9-], and dashes at the ends */
	assert_int_equal(decode_patched(8, "Node-a1", 7), bad);
	assert_int_equal(decode_patched(8, "node_a1", 7), bad);
	assert_int_equal(decode_patched(8, "-node-a", 7), bad);
	assert_int_equal(decode_patched(8, "node-a-", 7), bad);
	assert_int_equal(decode_patched(8, "node\xc3\xa9", 6), bad);
	assert_int_equal(decode_patched(8, "node a1", 7), bad);
	assert_int_equal(decode_patched(8, "9-9-9-9", 7), 0);
}

static void test_ranges(void **state)
{
	const int bad = -HB_REJECT_MALFORMED;

	(void)state;
	assert_int_equal(decode_patched(48, "\x03\xe8", 2), 0);   /* 1000 */
	assert_int_equal(decode_patched(48, "\x03\xe9", 2), bad); /* 1001 */
	assert_int_equal(decode_patched(48, "\xff\xff", 2), bad);
	/* mem_available one above mem_total (0x...18 -> 0x...19) */
	assert_int_equal(decode_patched(71, "\x19", 1), bad);
	assert_int_equal(decode_patched(71, "\x17", 1), 0);
	assert_int_equal(decode_patched(56, "\x00", 1), bad);
}

static void test_encode_rejects(void **state)
{
	uint8_t buf[HB_SIZE];
	struct heartbeat hb;

	(void)state;
	hb = sample();
	hb.cpu_busy_permille = 1001;
	assert_int_equal(hb_encode(&hb, buf), -EINVAL);
	hb = sample();
	hb.mem_available_kib = hb.mem_total_kib + 1;
	assert_int_equal(hb_encode(&hb, buf), -EINVAL);
	hb = sample();
	memset(hb.name, 'a', sizeof(hb.name)); /* not terminated */
	assert_int_equal(hb_encode(&hb, buf), -EINVAL);
	hb.name[NODE_NAME_MAX] = '\0';
	assert_int_equal(hb_encode(&hb, buf), 0);
	strcpy(hb.name, "");
	assert_int_equal(hb_encode(&hb, buf), -EINVAL);
	strcpy(hb.name, "UPPER");
	assert_int_equal(hb_encode(&hb, buf), -EINVAL);
}

static void test_node_name_valid(void **state)
{
	(void)state;
	assert_true(node_name_valid("a"));
	assert_true(node_name_valid("0"));
	assert_true(node_name_valid("a-b"));
	assert_true(node_name_valid("a--b"));
	assert_true(node_name_valid("laptop-a"));
	assert_true(node_name_valid("abcdefghijklmnopqrstuvwxyz01234"));  /* 31 */
	assert_false(node_name_valid("abcdefghijklmnopqrstuvwxyz012345")); /* 32 */
	assert_false(node_name_valid(NULL));
	assert_false(node_name_valid(""));
	assert_false(node_name_valid("-"));
	assert_false(node_name_valid("-a"));
	assert_false(node_name_valid("a-"));
	assert_false(node_name_valid("A"));
	assert_false(node_name_valid("a.b"));
	assert_false(node_name_valid("a/b"));
	assert_false(node_name_valid("a b"));
	assert_false(node_name_valid("a\n"));
}

static void test_reject_names(void **state)
{
	(void)state;
	assert_string_equal(hb_reject_name(HB_REJECT_MALFORMED), "malformed");
	assert_string_equal(hb_reject_name(HB_REJECT_OVERSIZED), "oversized");
	assert_string_equal(hb_reject_name(HB_REJECT_TRUNCATED), "truncated");
	assert_string_equal(hb_reject_name(HB_REJECT_UNKNOWN), "unknown");
	assert_string_equal(hb_reject_name(HB_REJECT_BAD_MAC), "bad-mac");
	assert_string_equal(hb_reject_name(HB_REJECT_REPLAYED), "replayed");
	assert_string_equal(hb_reject_name(HB_REJECT_STALE), "stale");
	assert_string_equal(hb_reject_name(HB_REJECT_REVOKED), "revoked");
	assert_string_equal(hb_reject_name(HB_OK), "ok");
	assert_string_equal(hb_reject_name(HB_REJECT__COUNT), "invalid");
	assert_string_equal(hb_reject_name((enum hb_reject)-1), "invalid");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_layout),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_name_field),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_capability_bits),
		cmocka_unit_test(test_old_frame_builds_anything),
		cmocka_unit_test(test_node_name_valid),
		cmocka_unit_test(test_reject_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
