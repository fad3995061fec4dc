/* A backup copy's OFFER and HELD bodies (service-vm-host/move-offer.c), as a
 * target and a source read them from each other: the input as an offer,
 * and as an answer to an offer of as many files as its first byte says.
 * What parses must build back to the same bytes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "service-vm-host/move-offer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct move_offer o;
	uint8_t again[MOVE_OFFER_BODY_MAX];
	bool held[MOVE_OFFER_MAX];
	int n;

	if (!move_offer_parse(data, size, &o)) {
		n = move_offer_build(&o, again, sizeof(again));
		if (n != (int)size || memcmp(again, data, size))
			abort();
		(void)move_offer_bytes(&o, NULL);
	}
	if (size && !move_held_parse(data, size, data[0], held)) {
		n = move_held_build(held, data[0], again, sizeof(again));
		if (n != (int)size || memcmp(again, data, size))
			abort();
	}
	return 0;
}
