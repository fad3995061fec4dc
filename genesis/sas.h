/* The short authentication string both screens show after CPace. It is
 * derived from the ISK and a context that binds the session (the CPace
 * session id and both parties' identities, say), so a relay that ran two
 * separate CPace sessions shows two different strings.
 *
 * Two renderings of the same hash: six digits, shown as "123 456"
 * (about 20 bits), and three words from wordlist.h (30 bits). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "genesis/wordlist.h"

#define SAS_ISK_LEN 64
#define SAS_DIGITS 6
#define SAS_WORDS 3
/* "123 456" */
#define SAS_DIGITS_TEXT_MAX (SAS_DIGITS + 2)
/* "word word word", each word at most WORDLIST_MAX_LEN letters. */
#define SAS_WORDS_TEXT_MAX (SAS_WORDS * (WORDLIST_MAX_LEN + 1))

struct sas {
	uint32_t number; /* 0..999999 */
	uint16_t word[SAS_WORDS];
};

/* BLAKE2b keyed with the ISK over "osi-sas-v1" and the context. context may
 * be NULL if context_len is 0. */
int sas_derive(const uint8_t isk[SAS_ISK_LEN], const void *context, size_t context_len,
	       struct sas *out);
/* "012 345": always six digits, leading zeros kept. -ENOSPC if len is short. */
int sas_format_digits(const struct sas *sas, char *text, size_t len);
/* "word word word", lowercase, single spaces. -ENOSPC if len is short. */
int sas_format_words(const struct sas *sas, char *text, size_t len);
/* Compares what a script or person typed with sas, in constant time with
 * respect to sas. Whitespace may stand anywhere in the digits ("123 456",
 * "123456"); words may be in any case, separated by any run of spaces, tabs
 * or dashes. 0 on a match, -EBADMSG on a mismatch, -EINVAL if typed is
 * neither six digits nor three words. */
int sas_check(const struct sas *sas, const char *typed);
