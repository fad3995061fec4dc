/* The guest agents' addresses for an agent that is not root: libvirt
 * answers virDomainInterfaceAddresses' agent source on a read-write
 * connection only, which the agent (user osi) does not have, so it asks its
 * privileged helper the fixed verb "agent-addresses" (lib/guest-ops.c;
 * service-vm-host/helper-agent.h) and keeps the answer for the addresses
 * reply. Driven by the guests probe's cadence: after a probe that saw a
 * connected guest agent channel, at most once per AGENT_ASK_PERIOD_MS; a
 * helper that fails or says something malformed is logged once and passed
 * over (no addresses until it answers again). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "service-vm-host/sampler.h"

#define AGENT_ASK_PERIOD_MS 15000
#define AGENT_ASK_TIMEOUT_MS 5000
#define AGENT_ASK_LINE_MAX (PROBE_AGENT_MAX * PROBE_GA_MAX + 256)

struct agent_ask {
	uv_loop_t *loop;
	char socket[108];      /* the helper's; "" asks nothing */
	uv_timer_t timer;
	uv_poll_t poll;
	int fd;
	bool root;             /* geteuid() == 0 at init: the probe asks itself */
	bool ready, busy, started_once, failing, have;
	uint64_t asked_ms;
	struct probe_result got; /* its agent[] and nagent: the last answer */
	char buf[AGENT_ASK_LINE_MAX];
};

int agent_ask_init(struct agent_ask *k, uv_loop_t *loop);
/* The helper's socket path (host.conf virt_socket); too long: none. */
void agent_ask_set_socket(struct agent_ask *k, const char *path);
/* After each probe: asks if this process is not root, last is a probe that
 * answered and counted a connected channel, none is under way and the last
 * began AGENT_ASK_PERIOD_MS ago or more; forgets the answer when last says
 * no channel is connected. Never blocks. */
void agent_ask_maybe(struct agent_ask *k, const struct probe_result *last);
/* last's own ga= entries, then the helper's last answer for guests last
 * lists as running and has none of its own; at most PROBE_AGENT_MAX. */
unsigned agent_ask_merge(const struct agent_ask *k, const struct probe_result *last,
			 struct probe_agent out[PROBE_AGENT_MAX]);
void agent_ask_close(struct agent_ask *k);
