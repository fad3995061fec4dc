/* A backup copy's offer and the target's answer (docs/protocol.md, "Move
 * transfer"), the frames between HELLO and the first DATA:
 *   OFFER  n:u8, then n times id[16] dlen:u8 disk[dlen] bytes:u64be sha256[32]
 *          the chain's volume files as its signed manifests name them  source -> target
 *   HELD   n:u8 (the offer's), then n times held:u8 (0 or 1)          target -> source
 * The target's root helper answers held only for a file it holds with that
 * size and SHA-256, hashed again now; the source's helper leaves those out
 * of the copy, and the target's takes them from its store, checked once
 * more against the copy's signed manifest. The same bodies go between each
 * mover and its helper. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/backup-manifest.h"

#define MOVE_OFFER_MAX 28 /* 7 links (a chain's most) of 4 volumes */
#define MOVE_OFFER_BODY_MAX (1 + MOVE_OFFER_MAX * (BACKUP_ID_LEN + 1 + EXPORT_DISK_MAX + 8 + 32))
#define MOVE_HELD_BODY_MAX (1 + MOVE_OFFER_MAX)

struct move_offer_file {
	char id[BACKUP_ID_LEN + 1];
	char disk[EXPORT_DISK_MAX + 1];  /* [a-z0-9]{1,15} */
	uint64_t bytes;
	uint8_t sha256[32];
};

struct move_offer {
	unsigned n;
	struct move_offer_file f[MOVE_OFFER_MAX];
};

/* The body into buf: its length, or -EINVAL (a file's id or disk not
 * valid, a file twice, more than MOVE_OFFER_MAX, cap too small). */
int move_offer_build(const struct move_offer *o, uint8_t *buf, size_t cap);
/* NULL and *out, or why not. */
const char *move_offer_parse(const uint8_t *b, size_t len, struct move_offer *out);
/* held[0..n) into buf: its length, or -EINVAL. */
int move_held_build(const bool *held, unsigned n, uint8_t *buf, size_t cap);
/* The answer to an offer of n files: NULL and held[0..n), or why not. */
const char *move_held_parse(const uint8_t *b, size_t len, unsigned n, bool *held);
/* The bytes of the offered files held (not sent); of all of them when
 * held is NULL. Each file's size is at most 2^58 (parse), so no sum of 28
 * wraps. */
uint64_t move_offer_bytes(const struct move_offer *o, const bool *held);
