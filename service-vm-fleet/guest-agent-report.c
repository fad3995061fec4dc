#include "service-vm-fleet/guest-agent-report.h"

#include <string.h>

unsigned guests_take_agent(struct guests *g, const char *node, const json_t *agent)
{
	unsigned refused = 0;

	if (agent && !json_is_object(agent)) {
		agent = NULL;
		refused++;
	}
	for (size_t i = 0; i < g->count; i++) {
		struct guest *gu = &g->list[i];
		const json_t *v;

		if (strcmp(gu->node, node))
			continue;
		v = agent ? json_object_get(agent, gu->name) : NULL;
		if (!v || guest_agent_from_json(v, &gu->agent) < 0) {
			refused += v != NULL;
			memset(&gu->agent, 0, sizeof(gu->agent));
		}
	}
	return refused;
}
