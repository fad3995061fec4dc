#include "lib/replay.h"

#include <stdbool.h>
#include <string.h>

#define WORDS (REPLAY_WINDOW / 64)

_Static_assert(REPLAY_WINDOW % 64 == 0, "the window is whole words");

/* Bit d of the bitmap stands for seq top - d, so bit 0 is top itself and the
 * window holds top - (REPLAY_WINDOW - 1) .. top. */

static bool test_bit(const uint64_t *bits, uint64_t d)
{
	return (bits[d / 64] >> (d % 64)) & 1;
}

static void set_bit(uint64_t *bits, uint64_t d)
{
	bits[d / 64] |= UINT64_C(1) << (d % 64);
}

/* Moves every bit up by d positions (top advanced by d); bits that pass the
 * end of the window fall off. */
static void shift_up(uint64_t *bits, uint64_t d)
{
	size_t words = (size_t)(d / 64);
	unsigned b = (unsigned)(d % 64);

	if (d >= REPLAY_WINDOW) {
		memset(bits, 0, WORDS * sizeof(*bits));
		return;
	}
	for (size_t i = WORDS; i-- > 0;) {
		uint64_t v = 0;

		if (i >= words) {
			v = bits[i - words] << b;
			if (b && i > words)
				v |= bits[i - words - 1] >> (64 - b);
		}
		bits[i] = v;
	}
}

void replay_init(struct replay_window *w)
{
	memset(w, 0, sizeof(*w));
}

enum replay_verdict replay_check(const struct replay_window *w, uint64_t seq)
{
	uint64_t d;

	if (!w->any || seq > w->top)
		return REPLAY_FRESH;
	d = w->top - seq;
	if (d >= REPLAY_WINDOW)
		return REPLAY_TOO_OLD;
	return test_bit(w->bits, d) ? REPLAY_DUPLICATE : REPLAY_FRESH;
}

void replay_accept(struct replay_window *w, uint64_t seq)
{
	if (!w->any) {
		memset(w->bits, 0, sizeof(w->bits));
		w->any = 1;
		w->top = seq;
	} else if (seq > w->top) {
		shift_up(w->bits, seq - w->top);
		w->top = seq;
	} else if (w->top - seq >= REPLAY_WINDOW) {
		return;
	}
	set_bit(w->bits, w->top - seq);
}
