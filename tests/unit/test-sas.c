#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "genesis/sas.h"

/* ISK_IR from the draft's ristretto255/SHA-512 test vectors (../shared/reference). */
static const char isk_hex[] =
	"b69effbf61b51d56401c0f65601abe428de8206feaaf0e32198896dcae7b35cd"
	"2b38950a39dfd5d4a79164614c2984f7daa460b588c1e80c3fa2068af7900447";
static const char transcript[] = "osi pairing test transcript";

static void load_isk(uint8_t isk[SAS_ISK_LEN])
{
	size_t len = 0;

	assert_int_equal(sodium_hex2bin(isk, SAS_ISK_LEN, isk_hex, strlen(isk_hex), NULL, &len,
					NULL), 0);
	assert_int_equal(len, SAS_ISK_LEN);
}

static void derive(const uint8_t isk[SAS_ISK_LEN], const char *context, struct sas *out)
{
	assert_int_equal(sas_derive(isk, context, context ? strlen(context) : 0, out), 0);
}

static void expect(const struct sas *sas, const char *digits, const char *words)
{
	char text[SAS_WORDS_TEXT_MAX];

	assert_int_equal(sas_format_digits(sas, text, sizeof(text)), 0);
	assert_string_equal(text, digits);
	assert_int_equal(sas_format_words(sas, text, sizeof(text)), 0);
	assert_string_equal(text, words);
}

/* The expected values were computed once with an independent BLAKE2b
 * (Python's hashlib.blake2b(b"osi-sas-v1\0" + context, key=isk,
 * digest_size=32)). For the transcript the hash starts
 * dd2272573bc9e4fb 75401a8d5b1144cc: the first eight bytes read
 * little-endian are 0xfbe4c93b577222dd, which is 292765 mod 10^6; the next
 * eight give 0xcc44115b8d1a4075, whose low three 10-bit groups are 117
 * (bungalow), 656 (pendant) and 209 (column). */
static void test_vector(void **state)
{
	uint8_t isk[SAS_ISK_LEN];
	struct sas sas;

	load_isk(isk);
	derive(isk, transcript, &sas);
	assert_int_equal(sas.number, 292765);
	assert_int_equal(sas.word[0], 117);
	assert_int_equal(sas.word[1], 656);
	assert_int_equal(sas.word[2], 209);
	expect(&sas, "292 765", "bungalow pendant column");

	derive(isk, NULL, &sas);
	expect(&sas, "875 413", "barley maroon freezer");
	derive(isk, "", &sas);
	expect(&sas, "875 413", "barley maroon freezer");
}

static void test_deterministic(void **state)
{
	uint8_t isk[SAS_ISK_LEN];
	struct sas a, b;

	randombytes_buf(isk, sizeof(isk));
	derive(isk, transcript, &a);
	derive(isk, transcript, &b);
	assert_int_equal(a.number, b.number);
	assert_memory_equal(a.word, b.word, sizeof(a.word));
}

static void test_one_bit_changes_everything(void **state)
{
	uint8_t isk[SAS_ISK_LEN];
	struct sas base, flipped;

	load_isk(isk);
	derive(isk, transcript, &base);
	isk[0] ^= 1;
	derive(isk, transcript, &flipped);
	expect(&flipped, "776 495", "teacher buzzard shield");
	isk[0] ^= 1;

	for (size_t bit = 0; bit < SAS_ISK_LEN * 8; ++bit) {
		isk[bit / 8] ^= (uint8_t)(1U << (bit % 8));
		derive(isk, transcript, &flipped);
		isk[bit / 8] ^= (uint8_t)(1U << (bit % 8));
		assert_int_not_equal(flipped.number, base.number);
		assert_memory_not_equal(flipped.word, base.word, sizeof(base.word));
	}
}

static void test_context_matters(void **state)
{
	uint8_t isk[SAS_ISK_LEN];
	struct sas a, b;

	load_isk(isk);
	derive(isk, transcript, &a);
	derive(isk, "osi pairing test transcripT", &b);
	assert_int_not_equal(a.number, b.number);
	assert_int_equal(sas_derive(isk, NULL, 1, &a), -EINVAL);
	assert_int_equal(sas_derive(NULL, transcript, 1, &a), -EINVAL);
	assert_int_equal(sas_derive(isk, transcript, 1, NULL), -EINVAL);
}

static void test_leading_zeros(void **state)
{
	uint8_t isk[SAS_ISK_LEN];
	struct sas sas = { 0 };
	char text[SAS_DIGITS_TEXT_MAX];

	load_isk(isk);
	derive(isk, "ctx-232", &sas);
	expect(&sas, "000 103", "satchel kazoo hood");

	sas.number = 0;
	assert_int_equal(sas_format_digits(&sas, text, sizeof(text)), 0);
	assert_string_equal(text, "000 000");
	sas.number = 999999;
	assert_int_equal(sas_format_digits(&sas, text, sizeof(text)), 0);
	assert_string_equal(text, "999 999");
	sas.number = 1000;
	assert_int_equal(sas_format_digits(&sas, text, sizeof(text)), 0);
	assert_string_equal(text, "001 000");
	assert_int_equal(sas_format_digits(&sas, text, sizeof(text) - 1), -ENOSPC);
	sas.number = 1000000;
	assert_int_equal(sas_format_digits(&sas, text, sizeof(text)), -EINVAL);
}

static void test_always_six_digits(void **state)
{
	uint8_t isk[SAS_ISK_LEN];
	char text[SAS_DIGITS_TEXT_MAX];
	struct sas sas;

	for (int n = 0; n < 5000; ++n) {
		randombytes_buf(isk, sizeof(isk));
		derive(isk, transcript, &sas);
		assert_int_equal(sas_format_digits(&sas, text, sizeof(text)), 0);
		assert_int_equal(strlen(text), 7);
		for (size_t i = 0; i < 7; ++i) {
			if (i == 3)
				assert_int_equal(text[i], ' ');
			else
				assert_in_range(text[i], '0', '9');
		}
	}
}

static void test_format_words_space(void **state)
{
	struct sas sas = { .number = 1, .word = { 0, 0, 0 } };
	char text[SAS_WORDS_TEXT_MAX];

	/* The longest rendering fits: three 8-letter words. */
	assert_int_equal(sas_format_words(&sas, text, sizeof(text)), 0);
	assert_string_equal(text, "aardvark aardvark aardvark");
	assert_int_equal(strlen(text) + 1, SAS_WORDS_TEXT_MAX);
	assert_int_equal(sas_format_words(&sas, text, sizeof(text) - 1), -ENOSPC);
	sas.word[2] = WORDLIST_SIZE;
	assert_int_equal(sas_format_words(&sas, text, sizeof(text)), -EINVAL);
}

static void test_check(void **state)
{
	uint8_t isk[SAS_ISK_LEN];
	struct sas sas, zero = { 0 };

	load_isk(isk);
	derive(isk, transcript, &sas);
	assert_int_equal(sas_check(&sas, "292 765"), 0);
	assert_int_equal(sas_check(&sas, "292765"), 0);
	assert_int_equal(sas_check(&sas, "  29 27\t65\n"), 0);
	assert_int_equal(sas_check(&sas, "292 766"), -EBADMSG);
	assert_int_equal(sas_check(&sas, "765 292"), -EBADMSG);
	assert_int_equal(sas_check(&sas, "29276"), -EINVAL);
	assert_int_equal(sas_check(&sas, "2927650"), -EINVAL);
	assert_int_equal(sas_check(&sas, "292-765"), -EINVAL);
	assert_int_equal(sas_check(&sas, "29a765"), -EINVAL);
	assert_int_equal(sas_check(&sas, ""), -EINVAL);
	assert_int_equal(sas_check(&sas, "   "), -EINVAL);

	assert_int_equal(sas_check(&sas, "bungalow pendant column"), 0);
	assert_int_equal(sas_check(&sas, " Bungalow-PENDANT \t column\n"), 0);
	assert_int_equal(sas_check(&sas, "bungalow pendant colum"), -EBADMSG);
	assert_int_equal(sas_check(&sas, "pendant bungalow column"), -EBADMSG);
	assert_int_equal(sas_check(&sas, "bungalowpendant column x"), -EBADMSG);
	assert_int_equal(sas_check(&sas, "bungalowwwwwwwwwwwwwwwwwwwwww pendant column"), -EBADMSG);
	assert_int_equal(sas_check(&sas, "bungalow pendant"), -EINVAL);
	assert_int_equal(sas_check(&sas, "bungalow pendant column column"), -EINVAL);
	assert_int_equal(sas_check(&sas, "bungalow pendant column!"), -EINVAL);

	assert_int_equal(sas_check(&zero, "000 000"), 0);
	assert_int_equal(sas_check(&zero, "aardvark aardvark aardvark"), 0);
	assert_int_equal(sas_check(&zero, "0"), -EINVAL);
	zero.number = 1000000;
	assert_int_equal(sas_check(&zero, "000 000"), -EINVAL);
	assert_int_equal(sas_check(NULL, "000 000"), -EINVAL);
	assert_int_equal(sas_check(&sas, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_one_bit_changes_everything),
		cmocka_unit_test(test_context_matters),
		cmocka_unit_test(test_leading_zeros),
		cmocka_unit_test(test_always_six_digits),
		cmocka_unit_test(test_format_words_space),
		cmocka_unit_test(test_check),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
