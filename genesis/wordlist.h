/* The pairing word list: 1024 common English words of 4 to 8 lowercase
 * letters, sorted, with no word a prefix of another and every pair at least
 * two edits apart (substitution, insertion, deletion or swap of neighbours),
 * so a single slip of the finger never turns one word into another. Known
 * homophone pairs and spelling variants are left out. Short codes and SAS
 * words both index it. */
#pragma once
#include <stddef.h>

#define WORDLIST_BITS 10
#define WORDLIST_SIZE (1U << WORDLIST_BITS)
#define WORDLIST_MIN_LEN 4
#define WORDLIST_MAX_LEN 8

/* The word at index, or NULL if index >= WORDLIST_SIZE. */
const char *wordlist_word(unsigned int index);
/* The index of word[0..len), which must already be lowercase, or -ENOENT.
 * A binary search: its timing depends on the word, which is acceptable for
 * words a person reads off a screen on the same machine. */
int wordlist_index(const char *word, size_t len);
