#include "service-vm-host/helper-agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libvirt/virterror.h>

#include "service-vm-host/agent-query.h"

/* Only the project's guests: a domain without its metadata is not ours. */
static bool ours(virDomainPtr dom)
{
	char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, VIRT_NS_URI, 0);
	bool yes = xml != NULL;

	free(xml);
	return yes;
}

int helper_agent_addresses(struct virt_host *h, char *tokens, size_t len)
{
	static struct agent_found found;
	virDomainPtr *all = NULL;
	uint64_t start = agent_now_ms();
	int n = virConnectListAllDomains(h->conn, &all, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	int kept = 0, ret;

	if (n < 0) {
		virErrorPtr e = virGetLastError();

		snprintf(h->err, sizeof(h->err), "cannot list domains: %s",
			 e && e->message ? e->message : "unknown libvirt error");
		return -EIO;
	}
	for (int i = 0; i < n; i++) {
		if (ours(all[i]))
			all[kept++] = all[i];
		else
			virDomainFree(all[i]);
	}
	found.n = 0;
	agent_query(all, kept, start, &found);
	for (int i = 0; i < kept; i++)
		virDomainFree(all[i]);
	free(all);
	ret = agent_tokens(&found, tokens, len);
	if (ret < 0)
		snprintf(h->err, sizeof(h->err), "the guest agents' addresses do not fit");
	return ret;
}

char *helper_agent_line(struct virt_host *h)
{
	static char tokens[PROBE_AGENT_MAX * PROBE_GA_MAX + 1];
	json_t *m;
	char *text, *line = NULL;

	if (helper_agent_addresses(h, tokens, sizeof(tokens)) < 0)
		return NULL;
	m = json_pack("{s:s, s:s}", "state", "agent", "ga", tokens);
	text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	if (text && (line = malloc(strlen(text) + 2)))
		sprintf(line, "%s\n", text);
	if (!line)
		snprintf(h->err, sizeof(h->err), "out of memory");
	free(text);
	json_decref(m);
	return line;
}
