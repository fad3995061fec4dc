#include "lib/guest-agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>

bool guest_agent_ifname_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > GUEST_AGENT_IFNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* inet_pton, then inet_ntop gives back the same text. */
static bool canonical(int af, const char *s)
{
	unsigned char bin[16];
	char back[INET6_ADDRSTRLEN];

	return inet_pton(af, s, bin) == 1 && inet_ntop(af, bin, back, sizeof(back)) &&
	       !strcmp(back, s);
}

bool guest_agent_addr_valid(const char *s)
{
	if (strlen(s) > GUEST_AGENT_ADDR_MAX)
		return false;
	return canonical(strchr(s, ':') ? AF_INET6 : AF_INET, s);
}

int guest_agent_add(struct guest_agent *g, const char *ifname, const char *addr)
{
	if (!guest_agent_ifname_valid(ifname) || !guest_agent_addr_valid(addr))
		return -EINVAL;
	for (unsigned i = 0; i < g->n; i++)
		if (!strcmp(g->a[i].ifname, ifname) && !strcmp(g->a[i].addr, addr))
			return -EEXIST;
	if (g->n >= GUEST_AGENT_ADDRS_MAX)
		return -ENOSPC;
	strcpy(g->a[g->n].ifname, ifname);
	strcpy(g->a[g->n].addr, addr);
	g->n++;
	return 0;
}

static int take_list(struct guest_agent *out, const char *ifname, const json_t *list)
{
	const json_t *v;
	size_t i;

	if (!json_is_array(list) || json_array_size(list) == 0)
		return -EBADMSG;
	json_array_foreach(list, i, v) {
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
		    guest_agent_add(out, ifname, json_string_value(v)) < 0)
			return -EBADMSG;
	}
	return 0;
}

int guest_agent_from_json(const json_t *v, struct guest_agent *out)
{
	const char *ifname;
	const json_t *list;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(v))
		return -EBADMSG;
	json_object_foreach((json_t *)v, ifname, list) {
		if (take_list(out, ifname, list) < 0) {
			memset(out, 0, sizeof(*out));
			return -EBADMSG;
		}
	}
	return 0;
}

json_t *guest_agent_to_json(const struct guest_agent *g)
{
	json_t *o = json_object();

	for (unsigned i = 0; o && i < g->n; i++) {
		json_t *list = json_object_get(o, g->a[i].ifname);

		if (!list && json_object_set_new(o, g->a[i].ifname, list = json_array()) < 0)
			list = NULL;
		if (!list || json_array_append_new(list, json_string(g->a[i].addr)) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}
