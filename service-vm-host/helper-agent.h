/* The privileged helper's "agent-addresses" verb: what the running guests'
 * QEMU guest agents report, asked on the helper's read-write connection for
 * an agent that is not root (libvirt answers the agent's view on a
 * read-write connection only). */
#pragma once
#include <stddef.h>

#include "virt/virt.h"

/* Each running domain carrying the project's metadata whose agent channel
 * is connected is asked (service-vm-host/agent-query.h's bounds); tokens
 * gets " ga=G:IF:A"... as the probe line carries them ("" when none).
 * h->err and -errno when libvirt cannot list the domains. */
int helper_agent_addresses(struct virt_host *h, char *tokens, size_t len);
/* The verb's one answer line, {"state":"agent","ga":TOKENS}\n, malloc'd;
 * NULL with h->err set on failure. */
char *helper_agent_line(struct virt_host *h);
