/* The move transfer's frames (service-vm-host/move-wire.c): the greeting
 * round-trips, and every malformed head or greeting is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "service-vm-host/move-wire.h"

static void hello_round_trip(void **state)
{
	struct move_hello h = { .total = 0x0102030405060708ull }, back;
	uint8_t buf[MOVE_HEAD + 128], type;
	uint32_t blen;
	int n;

	memset(h.token, 0xa5, sizeof(h.token));
	strcpy(h.guest, "vault-1");
	n = move_hello_build(&h, buf, sizeof(buf));
	assert_true(n > MOVE_HEAD);
	assert_null(move_head_parse(buf, &type, &blen));
	assert_int_equal(type, MOVE_HELLO);
	assert_int_equal(blen, n - MOVE_HEAD);
	assert_null(move_hello_parse(buf + MOVE_HEAD, blen, &back));
	assert_memory_equal(back.token, h.token, sizeof(h.token));
	assert_string_equal(back.guest, "vault-1");
	assert_true(back.total == h.total);
	/* one byte short, one too many, a length byte that lies */
	assert_non_null(move_hello_parse(buf + MOVE_HEAD, blen - 1, &back));
	assert_non_null(move_hello_parse(buf + MOVE_HEAD, blen + 1, &back));
	buf[MOVE_HEAD + 11 + 32] = 9;
	assert_non_null(move_hello_parse(buf + MOVE_HEAD, blen, &back));
}

static void hello_refusals(void **state)
{
	struct move_hello h = { .total = 1 }, back;
	uint8_t buf[MOVE_HEAD + 128];
	int n;

	strcpy(h.guest, "Bad.Name");
	assert_int_equal(move_hello_build(&h, buf, sizeof(buf)), -22);
	strcpy(h.guest, "ok");
	assert_int_equal(move_hello_build(&h, buf, 10), -22);
	n = move_hello_build(&h, buf, sizeof(buf));
	buf[MOVE_HEAD] = 'x'; /* the magic */
	assert_non_null(move_hello_parse(buf + MOVE_HEAD, (size_t)n - MOVE_HEAD, &back));
	buf[MOVE_HEAD] = 'o';
	buf[MOVE_HEAD + 11 + 32 + 1] = 'O'; /* an upper-case guest name */
	assert_non_null(move_hello_parse(buf + MOVE_HEAD, (size_t)n - MOVE_HEAD, &back));
	buf[MOVE_HEAD + 11 + 32 + 1] = '\0'; /* a NUL inside the name */
	assert_non_null(move_hello_parse(buf + MOVE_HEAD, (size_t)n - MOVE_HEAD, &back));
	assert_non_null(move_hello_parse(buf, 0, &back));
}

static void heads(void **state)
{
	uint8_t h[MOVE_HEAD], type;
	uint32_t blen;

	move_head_build(h, MOVE_DATA, MOVE_CHUNK);
	assert_null(move_head_parse(h, &type, &blen));
	assert_int_equal(blen, MOVE_CHUNK);
	move_head_build(h, MOVE_DATA, MOVE_CHUNK + 1);
	assert_non_null(move_head_parse(h, &type, &blen));
	move_head_build(h, MOVE_DATA, 0);
	assert_non_null(move_head_parse(h, &type, &blen));
	move_head_build(h, MOVE_END, 0);
	assert_null(move_head_parse(h, &type, &blen));
	move_head_build(h, MOVE_END, 32); /* v2's digest */
	assert_non_null(move_head_parse(h, &type, &blen));
	move_head_build(h, MOVE_ACK, 1 + MOVE_ACK_TEXT_MAX + 1);
	assert_non_null(move_head_parse(h, &type, &blen));
	move_head_build(h, MOVE_ACK, 0);
	assert_non_null(move_head_parse(h, &type, &blen));
	move_head_build(h, 4, 10);
	assert_non_null(move_head_parse(h, &type, &blen));
	memset(h, 0, sizeof(h)); /* length 0 */
	assert_non_null(move_head_parse(h, &type, &blen));
	memset(h, 0xff, sizeof(h));
	assert_non_null(move_head_parse(h, &type, &blen));
}

/* A HELLO's total is the source's word: the target refuses one it has no
 * room for, keeping a margin free, before it writes anything. */
static void room(void **state)
{
	(void)state;
	assert_null(move_room_check(1, MOVE_ROOM_MARGIN + 1));
	assert_null(move_room_check(1ull << 30, (1ull << 30) + MOVE_ROOM_MARGIN));
	assert_non_null(move_room_check((1ull << 30) + 1, (1ull << 30) + MOVE_ROOM_MARGIN));
	assert_non_null(move_room_check(UINT64_MAX, UINT64_MAX));
	assert_non_null(move_room_check(1, MOVE_ROOM_MARGIN - 1));
	assert_non_null(move_room_check(1, 0));
	assert_non_null(move_room_check(0, UINT64_MAX));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hello_round_trip),
		cmocka_unit_test(hello_refusals),
		cmocka_unit_test(heads),
		cmocka_unit_test(room),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
