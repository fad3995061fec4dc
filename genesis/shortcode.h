/* Short codes for the pairing ceremony: "<slot>-<word>-<word>-<word>-<word>",
 * e.g. "7-anchor-violet-meadow-tulip" (with words from wordlist.h). The slot
 * (1..999) is not secret: it picks the pending invitation on the inviter.
 * The four words are the secret, 4 x 10 = 40 bits from randombytes_buf, and
 * their packed indices are the CPace password (PRS).
 *
 * Parsing ignores case and leading or trailing whitespace, and takes any run
 * of spaces, tabs, newlines and dashes as one separator. Anything else fails
 * with -EINVAL and a reason for the operator. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "genesis/wordlist.h"

#define SHORTCODE_SLOT_MAX 999
#define SHORTCODE_WORDS 4
#define SHORTCODE_SECRET_BITS (SHORTCODE_WORDS * WORDLIST_BITS)
#define SHORTCODE_PRS_LEN ((SHORTCODE_SECRET_BITS + 7) / 8)
/* "999-" then four words of up to WORDLIST_MAX_LEN letters, dashes between. */
#define SHORTCODE_TEXT_MAX (3 + SHORTCODE_WORDS * (1 + WORDLIST_MAX_LEN) + 1)
/* Long enough for every reason shortcode_parse() gives. */
#define SHORTCODE_ERR_MAX 80

_Static_assert(SHORTCODE_SECRET_BITS >= 32, "a short code must carry at least 32 secret bits");

struct shortcode {
	unsigned int slot;
	uint16_t word[SHORTCODE_WORDS];
};

/* Draws fresh words for slot (1..999). If text is not NULL, also writes the
 * code there (len >= SHORTCODE_TEXT_MAX always suffices). -EINVAL for a bad
 * slot, -ENOSPC if text is too small; out is wiped on failure. */
int shortcode_generate(unsigned int slot, struct shortcode *out, char *text, size_t len);
/* Canonical text form: slot, dashes, lowercase words. -ENOSPC wipes text. */
int shortcode_format(const struct shortcode *code, char *text, size_t len);
/* Parses what a person typed. On failure returns -EINVAL, leaves out
 * untouched and, if err is not NULL, writes a reason such as
 * "unknown word 'harbr'" or "expected 4 words, got 3". */
int shortcode_parse(const char *typed, struct shortcode *out, char *err, size_t errlen);
/* The secret as SHORTCODE_PRS_LEN bytes: the word indices packed
 * big-endian, WORDLIST_BITS each, first word first. The slot is not part of
 * it. *len is the room in prs on entry and the bytes written on return;
 * -ENOSPC (with *len set to what is needed) if prs is too small. */
int shortcode_secret(const struct shortcode *code, uint8_t *prs, size_t *len);
void shortcode_wipe(struct shortcode *code);
