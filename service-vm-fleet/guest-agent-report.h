/* What the guests' QEMU guest agents report, as each node's addresses reply
 * carries it ("agent", docs/protocol.md section 5): kept in memory with
 * each guest for `vm show`, never used for names, routes or policy. */
#pragma once
#include <jansson.h>

#include "service-vm-fleet/guests.h"

/* Node's guests take their entries of agent ({GUEST:{IFNAME:[ADDR,...]}},
 * NULL when the reply had none); an entry that is malformed (checked by
 * lib/guest-agent.h) counts as none, as does an agent that is not an
 * object. Returns how many entries were refused. */
unsigned guests_take_agent(struct guests *g, const char *node, const json_t *agent);
