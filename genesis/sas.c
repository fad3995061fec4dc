#include "genesis/sas.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#define SAS_MODULUS 1000000U
#define HASH_LEN 32

/* The NUL is hashed too, so no other label can be a prefix of this one. */
static const char label[] = "osi-sas-v1";

_Static_assert(SAS_WORDS * WORDLIST_BITS <= 64, "SAS words must fit in one 64-bit load");

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; --i)
		v = (v << 8) | p[i];
	return v;
}

static bool valid(const struct sas *sas)
{
	if (!sas || sas->number >= SAS_MODULUS)
		return false;
	for (size_t i = 0; i < SAS_WORDS; ++i) {
		if (sas->word[i] >= WORDLIST_SIZE)
			return false;
	}
	return true;
}

int sas_derive(const uint8_t isk[SAS_ISK_LEN], const void *context, size_t context_len,
	       struct sas *out)
{
	crypto_generichash_state state;
	uint8_t hash[HASH_LEN];
	uint64_t bits;
	int ret = -EINVAL;

	if (!isk || !out || (!context && context_len))
		return -EINVAL;
	if (crypto_generichash_init(&state, isk, SAS_ISK_LEN, sizeof(hash)) ||
	    crypto_generichash_update(&state, (const uint8_t *)label, sizeof(label)) ||
	    (context_len && crypto_generichash_update(&state, context, context_len)) ||
	    crypto_generichash_final(&state, hash, sizeof(hash)))
		goto cleanup;
	/* 2^64 is not a multiple of 10^6, so some numbers are more likely than
	 * others, by at most 10^6 / 2^64 (about 5e-14): negligible. */
	out->number = (uint32_t)(load_le64(hash) % SAS_MODULUS);
	/* The words come from other bytes, independent of the digits. */
	bits = load_le64(hash + 8);
	for (size_t i = 0; i < SAS_WORDS; ++i) {
		out->word[i] = (uint16_t)(bits & (WORDLIST_SIZE - 1));
		bits >>= WORDLIST_BITS;
	}
	ret = 0;
cleanup:
	sodium_memzero(&state, sizeof(state));
	sodium_memzero(hash, sizeof(hash));
	return ret;
}

int sas_format_digits(const struct sas *sas, char *text, size_t len)
{
	int n;

	if (!valid(sas) || !text)
		return -EINVAL;
	n = snprintf(text, len, "%03u %03u", sas->number / 1000, sas->number % 1000);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return 0;
}

int sas_format_words(const struct sas *sas, char *text, size_t len)
{
	size_t used = 0;

	if (!valid(sas) || !text)
		return -EINVAL;
	for (size_t i = 0; i < SAS_WORDS; ++i) {
		int n = snprintf(text + used, len - used, "%s%s", i ? " " : "",
				 wordlist_word(sas->word[i]));

		if (n < 0 || (size_t)n >= len - used)
			return -ENOSPC;
		used += (size_t)n;
	}
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Six digits with any whitespace around or between them. */
static int typed_digits(const char *typed, char out[SAS_WORDS_TEXT_MAX])
{
	size_t n = 0;

	for (; *typed; ++typed) {
		if (is_space(*typed))
			continue;
		if (*typed < '0' || *typed > '9' || n == SAS_DIGITS)
			return -EINVAL;
		out[n++] = *typed;
	}
	return n == SAS_DIGITS ? 0 : -EINVAL;
}

/* Lowercase words joined by single spaces, as sas_format_words() writes
 * them. A word too long for any list entry makes a mismatch, not an error. */
static int typed_words(const char *typed, char out[SAS_WORDS_TEXT_MAX])
{
	size_t n = 0, words = 0;
	bool inside = false, overflow = false;

	for (; *typed; ++typed) {
		char c = *typed;

		if (is_space(c) || c == '-') {
			inside = false;
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c < 'a' || c > 'z')
			return -EINVAL;
		if (!inside && words++) {
			if (n + 1 < SAS_WORDS_TEXT_MAX)
				out[n++] = ' ';
			else
				overflow = true;
		}
		inside = true;
		if (n + 1 < SAS_WORDS_TEXT_MAX)
			out[n++] = c;
		else
			overflow = true;
	}
	if (words != SAS_WORDS)
		return -EINVAL;
	return overflow ? -EBADMSG : 0;
}

int sas_check(const struct sas *sas, const char *typed)
{
	char want[SAS_WORDS_TEXT_MAX] = { 0 }, got[SAS_WORDS_TEXT_MAX] = { 0 };
	const char *p = typed;
	int ret;

	if (!valid(sas) || !typed)
		return -EINVAL;
	while (is_space(*p))
		++p;
	if (*p >= '0' && *p <= '9') {
		ret = typed_digits(p, got);
		snprintf(want, sizeof(want), "%06u", sas->number);
	} else {
		ret = typed_words(p, got);
		(void)sas_format_words(sas, want, sizeof(want));
	}
	/* Both buffers are zero-padded, so comparing all of them compares the
	 * strings, and the time taken does not depend on where they differ. */
	if (!ret && sodium_memcmp(want, got, sizeof(want)))
		ret = -EBADMSG;
	return ret;
}
