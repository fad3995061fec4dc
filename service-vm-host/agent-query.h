/* Asking running guests' QEMU guest agents for their addresses through
 * libvirt (virDomainInterfaceAddresses, source agent), on a read-write
 * connection: libvirt refuses the agent's view on a read-only one. Shared
 * by the guests probe (run as root) and the privileged helper's
 * "agent-addresses" verb (for an agent that is not root). Only a guest
 * whose guest agent channel is connected is asked, within AGENT_REPLY_S
 * each and AGENT_BUDGET_MS in all; loopback and what lib/guest-agent.h
 * refuses are left out. */
#pragma once
#include <stdbool.h>

#include <libvirt/libvirt.h>

#include "service-vm-host/sampler.h"

#define AGENT_BUDGET_MS 2000
#define AGENT_REPLY_S 1

/* Whether dom's live XML shows its org.qemu.guest_agent.0 channel
 * connected (a read-only connection shows it too). */
bool agent_channel_connected(virDomainPtr dom);

struct agent_found {
	unsigned n;
	struct probe_agent a[PROBE_AGENT_MAX];
};

/* Asks each of doms (domains of a read-write connection) in turn, until
 * AGENT_BUDGET_MS have passed since start_ms (agent_now_ms()'s clock),
 * appending to out (at most GUEST_AGENT_ADDRS_MAX per guest,
 * PROBE_AGENT_MAX in all). */
void agent_query(virDomainPtr *doms, int n, uint64_t start_ms, struct agent_found *out);
uint64_t agent_now_ms(void);
/* out's tokens as the probe line carries them: " ga=G:IF:A"..., NUL-ended;
 * -ENOSPC if len is short (PROBE_AGENT_MAX * PROBE_GA_MAX + 1 is enough). */
int agent_tokens(const struct agent_found *f, char *buf, size_t len);
