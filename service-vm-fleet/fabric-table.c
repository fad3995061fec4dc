#include "service-vm-fleet/fabric-table.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

struct fabric_peer *fabric_peer_get(struct fabric_peer **list, size_t *n, const char *node)
{
	struct fabric_peer *p;

	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*list)[i].node, node))
			return &(*list)[i];
	p = realloc(*list, (*n + 1) * sizeof(*p));
	if (!p)
		return NULL;
	*list = p;
	p = &p[(*n)++];
	memset(p, 0, sizeof(*p));
	snprintf(p->node, sizeof(p->node), "%s", node);
	p->denied = p->guest_denied = -1;
	return p;
}

void fabric_peer_counters(struct fabric_peer *p, const json_t *reply)
{
	const json_t *d = json_object_get(reply, "denied"), *g = json_object_get(reply, "guest_denied");

	if (p && json_is_integer(d) && json_is_integer(g)) {
		p->denied = json_integer_value(d);
		p->guest_denied = json_integer_value(g);
	}
}

void pubs_free(struct fleet_pubs *p)
{
	free(p->list);
	memset(p, 0, sizeof(*p));
}

const char *pub_proto_name(enum guest_proto proto)
{
	return proto == GUEST_PROTO_UDP ? "udp" : "tcp";
}

int pub_proto_parse(const char *text, enum guest_proto *out)
{
	if (!text || !strcmp(text, "tcp"))
		*out = GUEST_PROTO_TCP;
	else if (!strcmp(text, "udp"))
		*out = GUEST_PROTO_UDP;
	else
		return -EINVAL;
	return 0;
}

static const char *node_of(const struct guests *g, const char *guest)
{
	const struct guest *gu = guests_find(g, guest);

	return gu ? gu->node : "";
}

int pubs_add(struct fleet_pubs *p, const struct guests *g, const struct fleet_pub *e,
	     const char **why)
{
	const char *node = node_of(g, e->guest);

	if (!e->port || !e->host_port)
		return *why = "ports are 1 to 65535", -EINVAL;
	if ((*why = fabric_host_port_reserved(e->proto, e->host_port)))
		return -EINVAL;
	for (size_t i = 0; i < p->count; i++) {
		const struct fleet_pub *o = &p->list[i];

		if (!strcmp(o->guest, e->guest) && o->proto == e->proto && o->port == e->port)
			return *why = "that port of the guest is already published", -EEXIST;
		if (o->proto == e->proto && o->host_port == e->host_port &&
		    !strcmp(node_of(g, o->guest), node))
			return *why = "that host port is already published on the guest's node",
			       -EINVAL;
	}
	if (p->count >= FABRIC_PUBLISHED_MAX)
		return *why = "too many published ports", -EINVAL;
	if (p->count == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct fleet_pub *l = realloc(p->list, cap * sizeof(*l));

		if (!l)
			return *why = "out of memory", -ENOMEM;
		p->list = l;
		p->cap = cap;
	}
	p->list[p->count++] = *e;
	return 0;
}

int pubs_remove(struct fleet_pubs *p, const char *guest, enum guest_proto proto, uint16_t port,
		struct fleet_pub *out)
{
	for (size_t i = 0; i < p->count; i++) {
		if (strcmp(p->list[i].guest, guest) || p->list[i].proto != proto ||
		    p->list[i].port != port)
			continue;
		if (out)
			*out = p->list[i];
		memmove(&p->list[i], &p->list[i + 1], (p->count - i - 1) * sizeof(*p->list));
		p->count--;
		return 0;
	}
	return -ENOENT;
}

size_t pubs_drop_guest(struct fleet_pubs *p, const char *guest)
{
	size_t n = 0;

	for (size_t i = 0; i < p->count;) {
		if (strcmp(p->list[i].guest, guest)) {
			i++;
			continue;
		}
		memmove(&p->list[i], &p->list[i + 1], (p->count - i - 1) * sizeof(*p->list));
		p->count--;
		n++;
	}
	return n;
}

static bool guest_entry(const struct guest *gu, struct fabric_guest *out)
{
	const struct guest_type *t = guest_type_find(gu->type);
	struct in_addr a;

	if (!t || !gu->address[0] || inet_pton(AF_INET, gu->address, &a) != 1 || !a.s_addr)
		return false;
	snprintf(out->name, sizeof(out->name), "%s", gu->name);
	snprintf(out->node, sizeof(out->node), "%s", gu->node);
	out->type = guest_type_index(t);
	out->addr = ntohl(a.s_addr);
	return true;
}

static bool addr_taken(const struct fabric *f, uint32_t addr)
{
	for (size_t i = 0; i < f->nguests; i++)
		if (f->guests[i].addr == addr)
			return true;
	return false;
}

int fleet_fabric_build(const struct guests *g, const struct fleet_pubs *p, const char *zone,
		       struct fabric *out)
{
	memset(out, 0, sizeof(*out));
	if (!names_zone_valid(zone))
		return -EINVAL;
	snprintf(out->zone, sizeof(out->zone), "%s", zone);
	out->guests = calloc(g->count + 1, sizeof(*out->guests));
	out->pubs = calloc(p->count + 1, sizeof(*out->pubs));
	if (!out->guests || !out->pubs) {
		fabric_free(out);
		return -ENOMEM;
	}
	/* an address two guests report (one stale) stays with the first */
	for (size_t i = 0; i < g->count && out->nguests < FABRIC_GUESTS_MAX; i++) {
		struct fabric_guest e;

		if (guest_entry(&g->list[i], &e) && !addr_taken(out, e.addr))
			out->guests[out->nguests++] = e;
	}
	for (size_t i = 0; i < p->count; i++) {
		if (!fabric_find(out, p->list[i].guest))
			continue;
		snprintf(out->pubs[out->npubs].guest, sizeof(out->pubs->guest), "%s",
			 p->list[i].guest);
		out->pubs[out->npubs].proto = p->list[i].proto;
		out->pubs[out->npubs].port = p->list[i].port;
		out->pubs[out->npubs++].host_port = p->list[i].host_port;
	}
	return 0;
}
