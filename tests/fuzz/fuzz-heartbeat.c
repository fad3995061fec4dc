/* Heartbeat datagrams as the fleet receives them: decode, then the MAC.
 * Whatever decodes must encode back to the same bytes, since the layout
 * leaves no freedom (padding and reserved bytes are zero). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/auth.h"
#include "lib/wire-heartbeat.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

/* The seeds carry MACs under this key, so the verify-true path is reached. */
static const uint8_t fuzz_key[HB_KEY_BYTES] = "osi-fuzz-heartbeat-key-32-bytes";

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	static int ready;
	struct heartbeat hb;
	uint8_t again[HB_SIZE];
	int ret;

	if (!ready) {
		if (auth_init() < 0)
			abort();
		ready = 1;
	}
	ret = hb_decode(d, n, &hb);
	if (ret > 0 || ret <= -HB_REJECT__COUNT)
		abort();
	if (strcmp(hb_reject_name((enum hb_reject)-ret), "invalid") == 0)
		abort();
	if (ret < 0)
		return 0;
	if (n != HB_SIZE || !node_name_valid(hb.name) || hb.cpu_busy_permille > 1000 ||
	    hb.mem_available_kib > hb.mem_total_kib)
		abort();
	if (hb_encode(&hb, again) != 0 || memcmp(again, d, HB_MAC_OFFSET) != 0)
		abort();
	memcpy(again + HB_MAC_OFFSET, d + HB_MAC_OFFSET, HB_MAC_SIZE);
	if (hb_auth_verify(again, fuzz_key)) {
		/* a datagram that verifies must be exactly what seal produces */
		hb_auth_seal(again, fuzz_key);
		if (memcmp(again, d, HB_SIZE) != 0)
			abort();
	}
	return 0;
}
