#include "genesis/shortcode.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

/* How much of a mistyped word is echoed back in an error. */
#define ECHO_MAX 24

static bool is_sep(char c)
{
	return c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	       c == '\v' || c == '\f';
}

static bool valid(const struct shortcode *code)
{
	if (!code || code->slot < 1 || code->slot > SHORTCODE_SLOT_MAX)
		return false;
	for (size_t i = 0; i < SHORTCODE_WORDS; ++i) {
		if (code->word[i] >= WORDLIST_SIZE)
			return false;
	}
	return true;
}

static void pack(const uint16_t word[SHORTCODE_WORDS], uint8_t out[SHORTCODE_PRS_LEN])
{
	uint32_t acc = 0;
	unsigned int bits = 0;
	size_t n = 0;

	for (size_t i = 0; i < SHORTCODE_WORDS; ++i) {
		acc = (acc << WORDLIST_BITS) | word[i];
		bits += WORDLIST_BITS;
		while (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
		acc &= (1U << bits) - 1;
	}
	if (bits)
		out[n] = (uint8_t)(acc << (8 - bits));
}

static void unpack(const uint8_t in[SHORTCODE_PRS_LEN], uint16_t word[SHORTCODE_WORDS])
{
	uint32_t acc = 0;
	unsigned int bits = 0;
	size_t n = 0;

	for (size_t i = 0; i < SHORTCODE_WORDS; ++i) {
		while (bits < WORDLIST_BITS) {
			acc = (acc << 8) | in[n++];
			bits += 8;
		}
		bits -= WORDLIST_BITS;
		word[i] = (uint16_t)(acc >> bits);
		acc &= (1U << bits) - 1;
	}
}

int shortcode_format(const struct shortcode *code, char *text, size_t len)
{
	size_t used;
	int n;

	if (!valid(code) || !text)
		return -EINVAL;
	n = snprintf(text, len, "%u", code->slot);
	if (n < 0 || (size_t)n >= len)
		goto nospace;
	used = (size_t)n;
	for (size_t i = 0; i < SHORTCODE_WORDS; ++i) {
		n = snprintf(text + used, len - used, "-%s", wordlist_word(code->word[i]));
		if (n < 0 || (size_t)n >= len - used)
			goto nospace;
		used += (size_t)n;
	}
	return 0;
nospace:
	sodium_memzero(text, len);
	return -ENOSPC;
}

int shortcode_generate(unsigned int slot, struct shortcode *out, char *text, size_t len)
{
	uint8_t rnd[SHORTCODE_PRS_LEN];
	int ret = 0;

	if (!out || slot < 1 || slot > SHORTCODE_SLOT_MAX)
		return -EINVAL;
	/* WORDLIST_SIZE is a power of two, so every packing of random bits is
	 * a valid code and each word is uniform. */
	randombytes_buf(rnd, sizeof(rnd));
	out->slot = slot;
	unpack(rnd, out->word);
	sodium_memzero(rnd, sizeof(rnd));
	if (text)
		ret = shortcode_format(out, text, len);
	if (ret < 0)
		shortcode_wipe(out);
	return ret;
}

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* What the person typed, made safe to print: no control bytes, bounded. */
static void echo(char out[ECHO_MAX + 4], const char *tok, size_t len)
{
	size_t n = len > ECHO_MAX ? ECHO_MAX : len;

	for (size_t i = 0; i < n; ++i)
		out[i] = tok[i] >= 0x20 && tok[i] < 0x7f ? tok[i] : '?';
	strcpy(out + n, len > n ? "..." : "");
}

static const char *next_token(const char **p, size_t *len)
{
	const char *start;

	while (is_sep(**p))
		++*p;
	if (!**p)
		return NULL;
	start = *p;
	while (**p && !is_sep(**p))
		++*p;
	*len = (size_t)(*p - start);
	return start;
}

static int parse_slot(const char *tok, size_t len, unsigned int *slot, char *err, size_t errlen)
{
	unsigned int value = 0;

	for (size_t i = 0; i < len; ++i) {
		if (tok[i] < '0' || tok[i] > '9')
			return fail(err, errlen, "code must start with the invitation number");
		value = value * 10 + (unsigned int)(tok[i] - '0');
		if (value > SHORTCODE_SLOT_MAX)
			break;
	}
	if (value < 1 || value > SHORTCODE_SLOT_MAX)
		return fail(err, errlen, "invitation number must be 1..%d", SHORTCODE_SLOT_MAX);
	*slot = value;
	return 0;
}

/* The word's index, or -EINVAL with the reason in err. */
static int parse_word(const char *tok, size_t len, char *err, size_t errlen)
{
	char lower[WORDLIST_MAX_LEN];
	char shown[ECHO_MAX + 4];
	int ret = -ENOENT;

	if (len <= sizeof(lower)) {
		for (size_t i = 0; i < len; ++i)
			lower[i] = tok[i] >= 'A' && tok[i] <= 'Z' ? (char)(tok[i] - 'A' + 'a') : tok[i];
		ret = wordlist_index(lower, len);
		sodium_memzero(lower, sizeof(lower));
	}
	if (ret >= 0)
		return ret;
	echo(shown, tok, len);
	return fail(err, errlen, "unknown word '%s'", shown);
}

int shortcode_parse(const char *typed, struct shortcode *out, char *err, size_t errlen)
{
	struct shortcode code = { 0 };
	const char *p = typed, *tok;
	size_t len, words = 0;
	int ret;

	if (!typed || !out)
		return -EINVAL;
	tok = next_token(&p, &len);
	if (!tok) {
		ret = fail(err, errlen, "the code is empty");
		goto cleanup;
	}
	ret = parse_slot(tok, len, &code.slot, err, errlen);
	if (ret < 0)
		goto cleanup;
	/* Every word is looked up, so a misspelling is reported before a
	 * wrong count: "3 words" is no help when one of them is a typo. */
	while ((tok = next_token(&p, &len))) {
		ret = parse_word(tok, len, err, errlen);
		if (ret < 0)
			goto cleanup;
		if (words < SHORTCODE_WORDS)
			code.word[words] = (uint16_t)ret;
		++words;
	}
	if (words != SHORTCODE_WORDS) {
		ret = fail(err, errlen, "expected %d words, got %zu", SHORTCODE_WORDS, words);
		goto cleanup;
	}
	*out = code;
	ret = 0;
cleanup:
	sodium_memzero(&code, sizeof(code));
	return ret;
}

int shortcode_secret(const struct shortcode *code, uint8_t *prs, size_t *len)
{
	if (!valid(code) || !prs || !len)
		return -EINVAL;
	if (*len < SHORTCODE_PRS_LEN) {
		*len = SHORTCODE_PRS_LEN;
		return -ENOSPC;
	}
	pack(code->word, prs);
	*len = SHORTCODE_PRS_LEN;
	return 0;
}

void shortcode_wipe(struct shortcode *code)
{
	if (code)
		sodium_memzero(code, sizeof(*code));
}
