/* Heartbeat sequence numbers that never repeat, across restarts too.
 * <state_dir>/heartbeat.seq holds the first number not yet reserved. On start
 * and whenever a block runs out, the agent reserves the next SEQ_BLOCK numbers
 * by writing the new ceiling atomically BEFORE using any of them; a crash
 * skips at most one block and never repeats a number. */
#pragma once
#include <stdint.h>

#define SEQ_BLOCK 4096

struct seqstore {
	char path[4096];
	uint64_t next;    /* next number to hand out */
	uint64_t ceiling; /* first number not covered by the stored reservation */
};

int seqstore_open(struct seqstore *s, const char *state_dir);
/* Hands out the next number; -EIO etc. if a new block cannot be reserved. */
int seqstore_next(struct seqstore *s, uint64_t *seq);
/* Parses the file's text (decimal, optional trailing newline). */
int seqstore_parse(const char *text, uint64_t *value);
