#include "service-vm-host/agent-query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/guest-agent.h"
#include "lib/guest-types.h"

uint64_t agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool agent_channel_connected(virDomainPtr dom)
{
	char *xml = virDomainGetXMLDesc(dom, 0);
	const char *at = xml ? strstr(xml, "name='org.qemu.guest_agent.0'") : NULL;
	const char *end = at ? strchr(at, '>') : NULL;
	const char *st = at ? strstr(at, "state='connected'") : NULL;
	bool yes = st && end && st < end;

	free(xml);
	return yes;
}

static bool loopback(const char *ifname, const char *addr)
{
	return !strcmp(ifname, "lo") || !strncmp(addr, "127.", 4) || !strcmp(addr, "::1");
}

static void query_one(virDomainPtr dom, struct agent_found *out)
{
	const char *name = virDomainGetName(dom);
	virDomainInterfacePtr *ifs = NULL;
	struct guest_agent seen = { 0 };
	int n;

	if (!name || !guest_name_valid(name) || !agent_channel_connected(dom) ||
	    virDomainAgentSetResponseTimeout(dom, AGENT_REPLY_S, 0) < 0)
		return;
	n = virDomainInterfaceAddresses(dom, &ifs, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT, 0);
	for (int i = 0; i < n; i++) {
		for (unsigned k = 0; ifs[i]->name && k < ifs[i]->naddrs; k++) {
			const char *addr = ifs[i]->addrs[k].addr;
			struct probe_agent *p = &out->a[out->n];

			if (out->n < PROBE_AGENT_MAX && addr && !loopback(ifs[i]->name, addr) &&
			    guest_agent_add(&seen, ifs[i]->name, addr) == 0) {
				snprintf(p->name, sizeof(p->name), "%s", name);
				p->a = seen.a[seen.n - 1];
				out->n++;
			}
		}
		virDomainInterfaceFree(ifs[i]);
	}
	free(ifs);
}

void agent_query(virDomainPtr *doms, int n, uint64_t start_ms, struct agent_found *out)
{
	for (int i = 0; i < n && agent_now_ms() - start_ms < AGENT_BUDGET_MS; i++)
		query_one(doms[i], out);
}

int agent_tokens(const struct agent_found *f, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return -ENOSPC;
	buf[0] = '\0';
	for (unsigned i = 0; i < f->n; i++) {
		int w = snprintf(buf + used, len - used, " ga=%s:%s:%s", f->a[i].name,
				 f->a[i].a.ifname, f->a[i].a.addr);

		if (w < 0 || (size_t)w >= len - used)
			return -ENOSPC;
		used += (size_t)w;
	}
	return 0;
}
