/* The fleet's reading of a node's "agent" entry for one guest: any JSON
 * value; a value taken must hold only what the checks allow and come back
 * the same from guest_agent_to_json. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/guest-agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	struct guest_agent g, again;
	json_t *back;

	if (!v)
		return 0;
	if (guest_agent_from_json(v, &g) == 0) {
		if (g.n > GUEST_AGENT_ADDRS_MAX)
			abort();
		for (unsigned i = 0; i < g.n; i++)
			if (!guest_agent_ifname_valid(g.a[i].ifname) ||
			    !guest_agent_addr_valid(g.a[i].addr))
				abort();
		back = guest_agent_to_json(&g);
		if (back && (guest_agent_from_json(back, &again) < 0 || again.n != g.n))
			abort();
		json_decref(back);
	}
	json_decref(v);
	return 0;
}
