/* Sliding-window replay protection for sequence numbers (in the manner of
 * RFC 6479 and WireGuard's counter): the highest accepted seq `top` and a
 * bitmap covering top and the REPLAY_WINDOW - 1 seqs below it. Anything at or
 * below top - REPLAY_WINDOW is too old. Check first, and only after the MAC has
 * verified, record. */
#pragma once
#include <stdint.h>

#define REPLAY_WINDOW 1024

struct replay_window {
	uint64_t top;   /* highest accepted seq; valid when any != 0 */
	uint8_t any;
	uint64_t bits[REPLAY_WINDOW / 64];
};

enum replay_verdict { REPLAY_FRESH = 0, REPLAY_DUPLICATE, REPLAY_TOO_OLD };

void replay_init(struct replay_window *w);
enum replay_verdict replay_check(const struct replay_window *w, uint64_t seq);
/* Record seq as seen; call only after replay_check() said REPLAY_FRESH. */
void replay_accept(struct replay_window *w, uint64_t seq);
