/* A backup copy's OFFER and HELD bodies (service-vm-host/move-offer.c): they
 * round-trip, and every malformed one is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "service-vm-host/move-offer.h"
#include "service-vm-host/move-wire.h"

static void two(struct move_offer *o)
{
	memset(o, 0, sizeof(*o));
	o->n = 2;
	strcpy(o->f[0].id, "20261204T172500Z");
	strcpy(o->f[0].disk, "archive");
	o->f[0].bytes = 107374182400ull;
	memset(o->f[0].sha256, 0xab, 32);
	strcpy(o->f[1].id, "20261205T172500Z");
	strcpy(o->f[1].disk, "archive");
	o->f[1].bytes = 1048576;
	memset(o->f[1].sha256, 0x01, 32);
}

static void offer_round_trip(void **state)
{
	struct move_offer o, back;
	uint8_t buf[MOVE_OFFER_BODY_MAX];
	int n;

	two(&o);
	n = move_offer_build(&o, buf, sizeof(buf));
	assert_int_equal(n, 1 + 2 * (16 + 1 + 7 + 8 + 32));
	assert_int_equal(buf[0], 2);
	assert_memory_equal(buf + 1, "20261204T172500Z\x07" "archive", 24);
	assert_null(move_offer_parse(buf, (size_t)n, &back));
	assert_int_equal(back.n, 2);
	assert_string_equal(back.f[1].id, "20261205T172500Z");
	assert_string_equal(back.f[0].disk, "archive");
	assert_true(back.f[0].bytes == 107374182400ull);
	assert_memory_equal(back.f[0].sha256, o.f[0].sha256, 32);
	assert_true(move_offer_bytes(&back, NULL) == 107374182400ull + 1048576);
	/* one byte short, one too many */
	assert_non_null(move_offer_parse(buf, (size_t)n - 1, &back));
	assert_non_null(move_offer_parse(buf, (size_t)n + 1, &back));
	/* an empty offer (a first copy of nothing?) parses: zero files */
	buf[0] = 0;
	assert_null(move_offer_parse(buf, 1, &back));
	assert_int_equal(back.n, 0);
}

static void offer_refusals(void **state)
{
	struct move_offer o, back;
	uint8_t buf[MOVE_OFFER_BODY_MAX], good[MOVE_OFFER_BODY_MAX];
	int n;

	two(&o);
	n = move_offer_build(&o, good, sizeof(good));
	assert_int_equal(move_offer_build(&o, buf, 40), -22);  /* no room */
	strcpy(o.f[1].id, o.f[0].id);                          /* the same file twice */
	assert_int_equal(move_offer_build(&o, buf, sizeof(buf)), -22);
	two(&o);
	strcpy(o.f[0].disk, "Archive");                        /* not [a-z0-9] */
	assert_int_equal(move_offer_build(&o, buf, sizeof(buf)), -22);
	two(&o);
	strcpy(o.f[0].id, "2026-12-04T17:25");                 /* not an id */
	assert_int_equal(move_offer_build(&o, buf, sizeof(buf)), -22);
	two(&o);
	o.n = MOVE_OFFER_MAX + 1;
	assert_int_equal(move_offer_build(&o, buf, sizeof(buf)), -22);

	memcpy(buf, good, (size_t)n);
	buf[0] = MOVE_OFFER_MAX + 1;                           /* more files than a chain has */
	assert_non_null(move_offer_parse(buf, (size_t)n, &back));
	memcpy(buf, good, (size_t)n);
	buf[1 + 16] = 0;                                       /* an empty disk name */
	assert_non_null(move_offer_parse(buf, (size_t)n, &back));
	memcpy(buf, good, (size_t)n);
	buf[1 + 16] = 16;                                      /* a disk name too long */
	assert_non_null(move_offer_parse(buf, (size_t)n, &back));
	memcpy(buf, good, (size_t)n);
	buf[1 + 17] = '\0';                                    /* a NUL in the disk */
	assert_non_null(move_offer_parse(buf, (size_t)n, &back));
	memcpy(buf, good, (size_t)n);
	buf[3] = '\0';                                         /* a NUL in the id */
	assert_non_null(move_offer_parse(buf, (size_t)n, &back));
	memcpy(buf, good, (size_t)n);
	buf[1 + 24] = 0x80;                                    /* a size past 2^58 */
	assert_non_null(move_offer_parse(buf, (size_t)n, &back));
	memcpy(buf, good, (size_t)n);                          /* the second file as the first */
	memcpy(buf + 1 + 64, buf + 1, 64);
	assert_non_null(move_offer_parse(buf, (size_t)n, &back));
	assert_non_null(move_offer_parse(buf, 0, &back));
}

/* File k of an offer: day k + 1 of December's backups of "archive". */
static void file_k(struct move_offer *o, unsigned k, uint64_t bytes)
{
	memcpy(o->f[k].id, "20261200T172500Z", sizeof(o->f[k].id));
	o->f[k].id[6] = (char)('0' + (k + 1) / 10);
	o->f[k].id[7] = (char)('0' + (k + 1) % 10);
	strcpy(o->f[k].disk, "archive");
	o->f[k].bytes = bytes;
}

/* Four files of 2^62 bytes summed to 0 (2^64 wrapped), so an offer of
 * them passed the target's "no more than the greeting's total" (review,
 * session 10): no file may be so large now that 28 of them could wrap. */
static void sizes_cannot_wrap(void **state)
{
	struct move_offer o, back;
	uint8_t buf[MOVE_OFFER_BODY_MAX];
	int n;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.n = 4;
	for (unsigned k = 0; k < o.n; k++)
		file_k(&o, k, 1ull << 62);
	assert_int_equal(move_offer_build(&o, buf, sizeof(buf)), -EINVAL);
	for (unsigned k = 0; k < o.n; k++)
		o.f[k].bytes = 1ull << 58;
	n = move_offer_build(&o, buf, sizeof(buf));
	assert_true(n > 0);
	buf[1 + 24] = 0x08; /* the first file's size now 2^59 */
	assert_non_null(move_offer_parse(buf, (size_t)n, &back));
	o.n = MOVE_OFFER_MAX;
	for (unsigned k = 4; k < o.n; k++)
		file_k(&o, k, 1ull << 58);
	assert_true(move_offer_bytes(&o, NULL) == (uint64_t)MOVE_OFFER_MAX << 58);
}

static void held_answers(void **state)
{
	bool held[3] = { true, false, true }, back[3];
	uint8_t buf[MOVE_HELD_BODY_MAX];
	struct move_offer o;
	int n = move_held_build(held, 3, buf, sizeof(buf));

	assert_int_equal(n, 4);
	assert_memory_equal(buf, "\x03\x01\x00\x01", 4);
	assert_null(move_held_parse(buf, 4, 3, back));
	assert_true(back[0] && !back[1] && back[2]);
	assert_non_null(move_held_parse(buf, 4, 2, back));     /* an answer to another offer */
	assert_non_null(move_held_parse(buf, 3, 3, back));
	buf[2] = 2;                                            /* neither 0 nor 1 */
	assert_non_null(move_held_parse(buf, 4, 3, back));
	assert_int_equal(move_held_build(held, 3, buf, 3), -22);
	two(&o);
	assert_true(move_offer_bytes(&o, (bool[]){ false, true }) == 1048576);
}

/* The frames' heads take an offer and an answer within their limits. */
static void heads(void **state)
{
	uint8_t head[MOVE_HEAD], type;
	uint32_t blen;

	move_head_build(head, MOVE_OFFER, MOVE_OFFER_BODY_MAX);
	assert_null(move_head_parse(head, &type, &blen));
	assert_int_equal(type, MOVE_OFFER);
	move_head_build(head, MOVE_OFFER, MOVE_OFFER_BODY_MAX + 1);
	assert_non_null(move_head_parse(head, &type, &blen));
	move_head_build(head, MOVE_HELD, 0);
	assert_non_null(move_head_parse(head, &type, &blen));
	move_head_build(head, MOVE_HELD, MOVE_HELD_BODY_MAX);
	assert_null(move_head_parse(head, &type, &blen));
	move_head_build(head, MOVE_HELD, MOVE_HELD_BODY_MAX + 1);
	assert_non_null(move_head_parse(head, &type, &blen));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(offer_round_trip),
		cmocka_unit_test(offer_refusals),
		cmocka_unit_test(sizes_cannot_wrap),
		cmocka_unit_test(held_answers),
		cmocka_unit_test(heads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
