/* The move transfer's frame heads and greeting (service-vm-host/move-wire.c):
 * the first 5 bytes as a head, the rest as a greeting's body. A greeting
 * that parses must build back to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "service-vm-host/move-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct move_hello h;
	uint8_t type, again[MOVE_HEAD + 128];
	uint32_t blen;
	int n;

	if (size >= MOVE_HEAD)
		move_head_parse(data, &type, &blen);
	if (move_hello_parse(data, size, &h))
		return 0;
	n = move_hello_build(&h, again, sizeof(again));
	if (n != (int)(MOVE_HEAD + size) || memcmp(again + MOVE_HEAD, data, size))
		abort();
	return 0;
}
