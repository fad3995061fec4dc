#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "genesis/shortcode.h"
#include "genesis/wordlist.h"

/* Levenshtein distance; with swaps, a swap of neighbours also costs one
 * (optimal string alignment). */
static size_t edit_distance(const char *a, const char *b, int swaps)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[WORDLIST_MAX_LEN + 1][WORDLIST_MAX_LEN + 1];

	for (size_t i = 0; i <= la; ++i)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; ++j)
		d[0][j] = j;
	for (size_t i = 1; i <= la; ++i) {
		for (size_t j = 1; j <= lb; ++j) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (swaps && i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

static void test_edit_distance_itself(void **state)
{
	assert_int_equal(edit_distance("kitten", "sitting", 0), 3);
	assert_int_equal(edit_distance("night", "knight", 0), 1);
	assert_int_equal(edit_distance("form", "from", 0), 2);
	assert_int_equal(edit_distance("form", "from", 1), 1);
	assert_int_equal(edit_distance("abcd", "abcd", 1), 0);
	assert_int_equal(edit_distance("", "abcd", 1), 4);
}

static void test_wordlist_shape(void **state)
{
	assert_int_equal(WORDLIST_SIZE, 1024);
	assert_int_equal(WORDLIST_SIZE, 1U << WORDLIST_BITS);
	assert_null(wordlist_word(WORDLIST_SIZE));
	for (unsigned int i = 0; i < WORDLIST_SIZE; ++i) {
		const char *w = wordlist_word(i);
		size_t len;

		assert_non_null(w);
		len = strnlen(w, WORDLIST_MAX_LEN + 1);
		assert_in_range(len, WORDLIST_MIN_LEN, WORDLIST_MAX_LEN);
		for (size_t k = 0; k < len; ++k)
			assert_in_range(w[k], 'a', 'z');
		/* No plurals: a final s only in words like "moss", "cactus",
		 * "iris" or "atlas". */
		if (w[len - 1] == 's' && !strchr("suia", w[len - 2]))
			fail_msg("'%s' looks like a plural", w);
		/* Strictly increasing: sorted for the binary search, and unique. */
		if (i)
			assert_true(strcmp(wordlist_word(i - 1), w) < 0);
	}
}

static void test_wordlist_pairs(void **state)
{
	for (unsigned int i = 0; i < WORDLIST_SIZE; ++i) {
		const char *a = wordlist_word(i);

		for (unsigned int j = i + 1; j < WORDLIST_SIZE; ++j) {
			const char *b = wordlist_word(j);

			if (strncmp(a, b, strlen(a)) == 0 || strncmp(a, b, strlen(b)) == 0)
				fail_msg("'%s' is a prefix of '%s'", a, b);
			if (edit_distance(a, b, 0) < 2)
				fail_msg("'%s' and '%s' are one edit apart", a, b);
			if (edit_distance(a, b, 1) < 2)
				fail_msg("'%s' and '%s' are one swap apart", a, b);
		}
	}
}

/* Pairs that sound alike, or the same word spelled two ways. Many of them
 * tempted the list's author; at most one of each may ever be in it. */
static const char *const homophones[][2] = {
	{ "knight", "night" }, { "flower", "flour" }, { "bear", "bare" }, { "pear", "pair" },
	{ "deer", "dear" }, { "hare", "hair" }, { "horse", "hoarse" }, { "whale", "wail" },
	{ "toad", "towed" }, { "carrot", "karat" }, { "plum", "plumb" }, { "berry", "bury" },
	{ "mall", "maul" }, { "pier", "peer" }, { "sundae", "sunday" }, { "steak", "stake" },
	{ "colonel", "kernel" }, { "cereal", "serial" }, { "mussel", "muscle" },
	{ "boulder", "bolder" }, { "cellar", "seller" }, { "medal", "meddle" },
	{ "pedal", "peddle" }, { "petal", "pedal" }, { "bridle", "bridal" },
	{ "canvas", "canvass" }, { "quartz", "quarts" }, { "grizzly", "grisly" },
	{ "gorilla", "guerrilla" }, { "brooch", "broach" }, { "currant", "current" },
	{ "mantel", "mantle" }, { "hangar", "hanger" }, { "manor", "manner" },
	{ "cymbal", "symbol" }, { "mustard", "mustered" }, { "witch", "which" },
	{ "creek", "creak" }, { "leek", "leak" }, { "thyme", "time" }, { "coarse", "course" },
	{ "bazaar", "bizarre" }, { "levee", "levy" }, { "coop", "coupe" }, { "ferry", "fairy" },
	{ "lute", "loot" }, { "lyre", "liar" }, { "sword", "soared" }, { "tapir", "taper" },
	{ "beach", "beech" }, { "cheap", "cheep" }, { "wood", "would" }, { "sole", "soul" },
	{ "mail", "male" }, { "sail", "sale" }, { "tail", "tale" }, { "meat", "meet" },
	{ "road", "rode" }, { "rose", "rows" }, { "pane", "pain" }, { "plane", "plain" },
	{ "waist", "waste" }, { "hole", "whole" }, { "stair", "stare" }, { "steel", "steal" },
	{ "flea", "flee" }, { "peace", "piece" }, { "board", "bored" }, { "brake", "break" },
	{ "prince", "prints" }, { "suite", "sweet" }, { "cell", "sell" }, { "cent", "scent" },
	{ "chord", "cord" }, { "gate", "gait" }, { "heel", "heal" }, { "idol", "idle" },
	{ "lynx", "links" }, { "mane", "main" }, { "miner", "minor" }, { "naval", "navel" },
	{ "pole", "poll" }, { "pour", "pore" }, { "rain", "reign" }, { "root", "route" },
	{ "scene", "seen" }, { "sight", "site" }, { "sleigh", "slay" }, { "soar", "sore" },
	{ "tide", "tied" }, { "vain", "vein" }, { "wave", "waive" }, { "wine", "whine" },
	{ "yolk", "yoke" }, { "hose", "hoes" }, { "ring", "wring" }, { "cruise", "crews" },
	{ "hurdle", "hurtle" }, { "genes", "jeans" }, { "lesson", "lessen" },
	{ "marshal", "martial" }, { "pistol", "pistil" }, { "throne", "thrown" },
	{ "vial", "vile" }, { "week", "weak" }, { "carol", "carrel" }, { "cedar", "seeder" },
	{ "harbor", "harbour" }, { "donut", "doughnut" }, { "yogurt", "yoghurt" },
	{ "omelet", "omelette" }, { "plow", "plough" }, { "gray", "grey" },
	{ "theater", "theatre" }, { "armor", "armour" }, { "pajama", "pyjama" },
};

static int listed(const char *w)
{
	return wordlist_index(w, strlen(w)) >= 0;
}

static void test_wordlist_homophones(void **state)
{
	for (size_t i = 0; i < sizeof(homophones) / sizeof(homophones[0]); ++i) {
		if (listed(homophones[i][0]) && listed(homophones[i][1]))
			fail_msg("'%s' and '%s' sound alike", homophones[i][0], homophones[i][1]);
	}
}

static void test_wordlist_index(void **state)
{
	for (unsigned int i = 0; i < WORDLIST_SIZE; ++i) {
		const char *w = wordlist_word(i);

		assert_int_equal(wordlist_index(w, strlen(w)), (int)i);
	}
	assert_int_equal(wordlist_index("meadow", 6), wordlist_index("meadowxyz", 6));
	assert_int_equal(wordlist_index("Meadow", 6), -ENOENT);
	assert_int_equal(wordlist_index("meadow\0", 7), -ENOENT);
	assert_int_equal(wordlist_index("mea", 3), -ENOENT);
	assert_int_equal(wordlist_index("", 0), -ENOENT);
	assert_int_equal(wordlist_index("aaaaaaaaa", 9), -ENOENT);
	assert_int_equal(wordlist_index("aaaa", 4), -ENOENT);
	assert_int_equal(wordlist_index("zzzz", 4), -ENOENT);
}

/* Every word one keystroke away from a listed word (a letter changed,
 * added, dropped, or two neighbours swapped) is unknown. */
static void test_wordlist_one_slip(void **state)
{
	char buf[WORDLIST_MAX_LEN + 2];

	for (unsigned int i = 0; i < WORDLIST_SIZE; ++i) {
		const char *w = wordlist_word(i);
		size_t len = strlen(w);

		for (size_t k = 0; k < len; ++k) {
			for (char c = 'a'; c <= 'z'; ++c) {
				if (c == w[k])
					continue;
				memcpy(buf, w, len);
				buf[k] = c;
				assert_int_equal(wordlist_index(buf, len), -ENOENT);
			}
			memcpy(buf, w, k);
			memcpy(buf + k, w + k + 1, len - k - 1);
			assert_int_equal(wordlist_index(buf, len - 1), -ENOENT);
			if (k + 1 < len && w[k] != w[k + 1]) {
				memcpy(buf, w, len);
				buf[k] = w[k + 1];
				buf[k + 1] = w[k];
				assert_int_equal(wordlist_index(buf, len), -ENOENT);
			}
		}
		for (size_t k = 0; k <= len; ++k) {
			for (char c = 'a'; c <= 'z'; ++c) {
				memcpy(buf, w, k);
				buf[k] = c;
				memcpy(buf + k + 1, w + k, len - k);
				assert_int_equal(wordlist_index(buf, len + 1), -ENOENT);
			}
		}
	}
}

static void test_entropy(void **state)
{
	assert_int_equal(SHORTCODE_WORDS, 4);
	assert_int_equal(SHORTCODE_SECRET_BITS, SHORTCODE_WORDS * WORDLIST_BITS);
	assert_true(SHORTCODE_SECRET_BITS >= 32);
	assert_int_equal(SHORTCODE_SECRET_BITS, 40);
	assert_int_equal(SHORTCODE_PRS_LEN, 5);
	assert_int_equal(SHORTCODE_TEXT_MAX, strlen("999-aardvark-aardvark-aardvark-aardvark") + 1);
}

static void assert_same_code(const struct shortcode *a, const struct shortcode *b)
{
	assert_int_equal(a->slot, b->slot);
	assert_memory_equal(a->word, b->word, sizeof(a->word));
}

static void prs_of(const struct shortcode *code, uint8_t prs[SHORTCODE_PRS_LEN])
{
	size_t len = SHORTCODE_PRS_LEN;

	assert_int_equal(shortcode_secret(code, prs, &len), 0);
	assert_int_equal(len, SHORTCODE_PRS_LEN);
}

static void test_round_trip(void **state)
{
	for (int n = 0; n < 20000; ++n) {
		struct shortcode code, back;
		char text[SHORTCODE_TEXT_MAX], err[SHORTCODE_ERR_MAX];
		uint8_t a[SHORTCODE_PRS_LEN], b[SHORTCODE_PRS_LEN];
		unsigned int slot = 1 + randombytes_uniform(SHORTCODE_SLOT_MAX);

		assert_int_equal(shortcode_generate(slot, &code, text, sizeof(text)), 0);
		assert_int_equal(code.slot, slot);
		assert_int_equal(shortcode_parse(text, &back, err, sizeof(err)), 0);
		assert_same_code(&code, &back);
		prs_of(&code, a);
		prs_of(&back, b);
		assert_memory_equal(a, b, sizeof(a));
	}
}

static void test_generate_differs(void **state)
{
	struct shortcode a, b;

	assert_int_equal(shortcode_generate(1, &a, NULL, 0), 0);
	assert_int_equal(shortcode_generate(1, &b, NULL, 0), 0);
	assert_memory_not_equal(a.word, b.word, sizeof(a.word));
}

static void test_generate_errors(void **state)
{
	struct shortcode code;
	char text[SHORTCODE_TEXT_MAX];

	assert_int_equal(shortcode_generate(0, &code, NULL, 0), -EINVAL);
	assert_int_equal(shortcode_generate(1000, &code, NULL, 0), -EINVAL);
	assert_int_equal(shortcode_generate(1, NULL, NULL, 0), -EINVAL);
	memset(&code, 0xaa, sizeof(code));
	assert_int_equal(shortcode_generate(999, &code, text, 8), -ENOSPC);
	assert_int_equal(code.slot, 0);
	assert_int_equal(code.word[0], 0);
	for (size_t i = 0; i < 8; ++i)
		assert_int_equal(text[i], 0);
}

static void test_format(void **state)
{
	struct shortcode code = { .slot = 7 };
	char text[SHORTCODE_TEXT_MAX];
	const char *words[] = { "anchor", "violet", "meadow", "tulip" };

	for (size_t i = 0; i < SHORTCODE_WORDS; ++i)
		code.word[i] = (uint16_t)wordlist_index(words[i], strlen(words[i]));
	assert_int_equal(shortcode_format(&code, text, sizeof(text)), 0);
	assert_string_equal(text, "7-anchor-violet-meadow-tulip");
	assert_int_equal(shortcode_format(&code, text, strlen(text) + 1), 0);
	assert_int_equal(shortcode_format(&code, text, strlen(text)), -ENOSPC);
	code.slot = 0;
	assert_int_equal(shortcode_format(&code, text, sizeof(text)), -EINVAL);
	code.slot = 7;
	code.word[3] = WORDLIST_SIZE;
	assert_int_equal(shortcode_format(&code, text, sizeof(text)), -EINVAL);
}

static void test_secret_packing(void **state)
{
	struct shortcode code = { .slot = 1, .word = { 0, 1, 1022, 1023 } };
	struct shortcode other = code;
	uint8_t prs[SHORTCODE_PRS_LEN + 3];
	const uint8_t want[SHORTCODE_PRS_LEN] = { 0x00, 0x00, 0x1f, 0xfb, 0xff };
	size_t len = sizeof(prs);

	/* 0000000000 0000000001 1111111110 1111111111, read in bytes. */
	assert_int_equal(shortcode_secret(&code, prs, &len), 0);
	assert_int_equal(len, SHORTCODE_PRS_LEN);
	assert_memory_equal(prs, want, sizeof(want));
	/* The slot only picks the invitation; it is not in the secret. */
	other.slot = 998;
	prs_of(&other, prs);
	assert_memory_equal(prs, want, sizeof(want));

	len = SHORTCODE_PRS_LEN - 1;
	assert_int_equal(shortcode_secret(&code, prs, &len), -ENOSPC);
	assert_int_equal(len, SHORTCODE_PRS_LEN);
	code.word[0] = WORDLIST_SIZE;
	len = sizeof(prs);
	assert_int_equal(shortcode_secret(&code, prs, &len), -EINVAL);
	assert_int_equal(shortcode_secret(NULL, prs, &len), -EINVAL);
}

static void test_typing_variants(void **state)
{
	static const char *const typed[] = {
		"7-anchor-violet-meadow-tulip",
		"7 anchor violet meadow tulip",
		"  7-Anchor-VIOLET-meadow-TuLiP \n",
		"7--anchor - violet\tmeadow---tulip",
		"\t007 anchor-violet meadow -tulip\r\n",
		"7-ANCHOR-VIOLET-MEADOW-TULIP",
		"-7-anchor-violet-meadow-tulip-",
	};
	struct shortcode want, got;
	uint8_t a[SHORTCODE_PRS_LEN], b[SHORTCODE_PRS_LEN];
	char err[SHORTCODE_ERR_MAX];

	assert_int_equal(shortcode_parse(typed[0], &want, err, sizeof(err)), 0);
	prs_of(&want, a);
	for (size_t i = 0; i < sizeof(typed) / sizeof(typed[0]); ++i) {
		if (shortcode_parse(typed[i], &got, err, sizeof(err)))
			fail_msg("'%s' did not parse: %s", typed[i], err);
		assert_same_code(&want, &got);
		prs_of(&got, b);
		assert_memory_equal(a, b, sizeof(a));
	}
}

static void expect_error(const char *typed, const char *reason)
{
	struct shortcode out, untouched;
	char err[SHORTCODE_ERR_MAX];

	memset(&out, 0x5a, sizeof(out));
	untouched = out;
	err[0] = '\0';
	assert_int_equal(shortcode_parse(typed, &out, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, reason);
	assert_same_code(&out, &untouched);
}

static void test_parse_errors(void **state)
{
	expect_error("7-anchr-violet-meadow-tulip", "unknown word 'anchr'");
	expect_error("7-anchor-violet-meadow", "expected 4 words, got 3");
	expect_error("7-anchor-violet-meadow-tulip-salad", "expected 4 words, got 5");
	expect_error("7", "expected 4 words, got 0");
	expect_error("7-anchor-violet-meadw", "unknown word 'meadw'");
	expect_error("0-anchor-violet-meadow-tulip", "invitation number must be 1..999");
	expect_error("1000-anchor-violet-meadow-tulip", "invitation number must be 1..999");
	expect_error("99999999999999999999999-anchor", "invitation number must be 1..999");
	expect_error("anchor-violet-meadow-tulip", "code must start with the invitation number");
	expect_error("7anchor-violet-meadow-tulip", "code must start with the invitation number");
	expect_error("", "the code is empty");
	expect_error(" - \t\n", "the code is empty");
	expect_error("7-anchor-violet-meadow-tulip.", "unknown word 'tulip.'");
	expect_error("7_anchor_violet_meadow_tulip", "code must start with the invitation number");
	expect_error("7-anchor-vio1et-meadow-tulip", "unknown word 'vio1et'");
	expect_error("7-anchor-\x01\x7f-meadow-tulip", "unknown word '?\?'");
	expect_error("7-anchor-abcdefghijklmnopqrstuvwxyz-meadow-tulip",
		     "unknown word 'abcdefghijklmnopqrstuvwx...'");
	expect_error("7-anchor-violet-meadow-tulips", "unknown word 'tulips'");
	expect_error("7-anchor-violet-meadow-tuli", "unknown word 'tuli'");
	expect_error("7-anch\xc3\xb6r-violet-meadow-tulip", "unknown word 'anch??r'");
}

static void test_parse_without_err(void **state)
{
	struct shortcode out;
	char err[8];

	assert_int_equal(shortcode_parse("7-nope", &out, NULL, 0), -EINVAL);
	assert_int_equal(shortcode_parse("7-nope", &out, err, 0), -EINVAL);
	memset(err, 'x', sizeof(err));
	assert_int_equal(shortcode_parse("7-nope", &out, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "unknown");
	assert_int_equal(shortcode_parse(NULL, &out, NULL, 0), -EINVAL);
	assert_int_equal(shortcode_parse("7-anchor-violet-meadow-tulip", NULL, NULL, 0), -EINVAL);
}

static void mutate(char *text, size_t at, size_t len, int how, char c, char *out)
{
	switch (how) {
	case 0: /* change */
		memcpy(out, text, len + 1);
		out[at] = c;
		break;
	case 1: /* insert */
		memcpy(out, text, at);
		out[at] = c;
		memcpy(out + at + 1, text + at, len - at + 1);
		break;
	default: /* drop */
		memcpy(out, text, at);
		memcpy(out + at, text + at + 1, len - at);
		break;
	}
}

/* A code mistyped by one letter never parses, in any case or position, and
 * so can never be taken for the same code or another one. */
static void test_one_letter_mistyped(void **state)
{
	for (int n = 0; n < 40; ++n) {
		struct shortcode code, got;
		char text[SHORTCODE_TEXT_MAX], typo[SHORTCODE_TEXT_MAX + 1];
		char err[SHORTCODE_ERR_MAX];
		size_t len, first;

		assert_int_equal(shortcode_generate(1 + randombytes_uniform(999), &code, text,
						    sizeof(text)), 0);
		len = strlen(text);
		first = strchr(text, '-') - text + 1;
		for (size_t at = first; at <= len; ++at) {
			int letter = at < len && text[at] != '-';

			for (int how = 0; how < 3; ++how) {
				if (how != 1 && !letter)
					continue;
				for (char c = 'a'; c <= 'z'; ++c) {
					if (how == 0 && c == text[at])
						continue;
					mutate(text, at, len, how, c, typo);
					assert_int_equal(shortcode_parse(typo, &got, err, sizeof(err)),
							 -EINVAL);
					assert_memory_equal(err, "unknown word '", 14);
					if (how == 2)
						break;
				}
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edit_distance_itself),
		cmocka_unit_test(test_wordlist_shape),
		cmocka_unit_test(test_wordlist_pairs),
		cmocka_unit_test(test_wordlist_homophones),
		cmocka_unit_test(test_wordlist_index),
		cmocka_unit_test(test_wordlist_one_slip),
		cmocka_unit_test(test_entropy),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_generate_differs),
		cmocka_unit_test(test_generate_errors),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_secret_packing),
		cmocka_unit_test(test_typing_variants),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_without_err),
		cmocka_unit_test(test_one_letter_mistyped),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
