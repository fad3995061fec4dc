#include "lib/guest-policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "lib/firewall.h"
#include "lib/textbuf.h"
#include "lib/errbuf.h"
#include "lib/names.h"

#define T "inet " FW_TABLE

/* ---- the manifest's "ports" ---- */

static int add_source(struct guest_port *p, const char *s, size_t i, char *err, size_t errlen)
{
	const struct guest_type *t = guest_type_find(s);
	bool dup;

	if (!strcmp(s, "public")) {
		dup = p->public;
		p->public = true;
	} else if (!strcmp(s, "members")) {
		dup = p->members;
		p->members = true;
	} else if (t) {
		dup = p->types & (1u << guest_type_index(t));
		p->types |= 1u << guest_type_index(t);
	} else {
		return errbuf_fail(-EINVAL, err, errlen, "ports[%zu].from: unknown guest type \"%s\" "
			    "(a type, \"members\" or \"public\")", i, s);
	}
	if (dup)
		return errbuf_fail(-EINVAL, err, errlen, "ports[%zu].from: \"%s\" named twice", i, s);
	return 0;
}

static int parse_from(json_t *from, struct guest_port *p, size_t i, char *err, size_t errlen)
{
	json_t *v;
	size_t k;
	int ret;

	if (!json_is_array(from) || !json_array_size(from))
		return errbuf_fail(-EINVAL, err, errlen, "ports[%zu].from: a non-empty array expected", i);
	json_array_foreach(from, k, v) {
		if (!json_is_string(v))
			return errbuf_fail(-EINVAL, err, errlen, "ports[%zu].from[%zu]: a string expected", i, k);
		ret = add_source(p, json_string_value(v), i, err, errlen);
		if (ret < 0)
			return ret;
	}
	if (p->public && (p->members || p->types))
		return errbuf_fail(-EINVAL, err, errlen, "ports[%zu].from: \"public\" already admits everyone",
			    i);
	return 0;
}

static int parse_port(json_t *e, struct guest_port *p, size_t i, char *err, size_t errlen)
{
	const char *proto = "tcp";
	json_int_t port;
	json_error_t je;
	json_t *from;

	memset(p, 0, sizeof(*p));
	if (json_unpack_ex(e, &je, 0, "{s:I, s?s, s:o !}", "port", &port, "proto", &proto,
			   "from", &from) < 0)
		return errbuf_fail(-EINVAL, err, errlen, "ports[%zu]: %s", i, je.text);
	if (port < 1 || port > 65535)
		return errbuf_fail(-ERANGE, err, errlen, "ports[%zu].port: 1 to 65535", i);
	p->port = (uint16_t)port;
	if (!strcmp(proto, "tcp"))
		p->proto = GUEST_PROTO_TCP;
	else if (!strcmp(proto, "udp"))
		p->proto = GUEST_PROTO_UDP;
	else
		return errbuf_fail(-EINVAL, err, errlen, "ports[%zu].proto: \"tcp\" or \"udp\"", i);
	return parse_from(from, p, i, err, errlen);
}

int guest_ports_parse(struct json_t *arr, struct guest_port *ports, unsigned *nports,
		      char *err, size_t errlen)
{
	json_t *e;
	size_t i;
	int ret;

	*nports = 0;
	if (!json_is_array(arr))
		return errbuf_fail(-EINVAL, err, errlen, "ports: not an array");
	if (json_array_size(arr) > GUEST_PORTS_MAX)
		return errbuf_fail(-E2BIG, err, errlen, "ports: at most %d", GUEST_PORTS_MAX);
	json_array_foreach(arr, i, e) {
		ret = parse_port(e, &ports[i], i, err, errlen);
		for (size_t k = 0; ret == 0 && k < i; k++)
			if (ports[k].port == ports[i].port && ports[k].proto == ports[i].proto)
				ret = errbuf_fail(-EINVAL, err, errlen, "ports: %u named twice", ports[i].port);
		if (ret < 0) {
			*nports = 0;
			return ret;
		}
		(*nports)++;
	}
	return 0;
}

/* ---- checks ---- */

static int check_service(const struct guest_service *sv, unsigned *seen, char *err,
			 size_t errlen)
{
	const unsigned all = (1u << GUEST_TYPE_COUNT) - 1;

	if (sv->type >= GUEST_TYPE_COUNT)
		return errbuf_fail(-EINVAL, err, errlen, "service of unknown guest type %u", sv->type);
	if (*seen & (1u << sv->type))
		return errbuf_fail(-EINVAL, err, errlen, "two manifests for %s", guest_type_at(sv->type)->name);
	*seen |= 1u << sv->type;
	if (sv->nports > GUEST_PORTS_MAX)
		return errbuf_fail(-E2BIG, err, errlen, "%s: too many ports", guest_type_at(sv->type)->name);
	for (unsigned i = 0; i < sv->nports; i++) {
		const struct guest_port *p = &sv->ports[i];

		if (!p->port || p->proto > GUEST_PROTO_UDP || (p->types & ~all) ||
		    (!p->public && !p->members && !p->types) ||
		    (p->public && (p->members || p->types)))
			return errbuf_fail(-EINVAL, err, errlen, "%s: port %u: bad port or sources",
				    guest_type_at(sv->type)->name, p->port);
	}
	return 0;
}

static int check_spec(const struct guest_policy_spec *s, char *err, size_t errlen)
{
	struct guest_net_range r;
	unsigned seen = 0;
	uint32_t owner;
	int ret = 0;

	if (!s->net || !ifname_valid(s->bridge) || (s->nservices && !s->services) ||
	    (s->nguests && !s->guests) || (s->nmembers && !s->members))
		return errbuf_fail(-EINVAL, err, errlen, "incomplete policy spec");
	if (s->own_subnet && guest_net_range(s->net, s->own_subnet, &r) < 0)
		return errbuf_fail(-EINVAL, err, errlen, "own subnet is not one of the guest prefix's");
	for (size_t i = 0; i < s->nservices && ret == 0; i++)
		ret = check_service(&s->services[i], &seen, err, errlen);
	for (size_t i = 0; i < s->nguests && ret == 0; i++) {
		const struct guest_policy_guest *g = &s->guests[i];

		if (!memchr(g->name, '\0', sizeof(g->name)) || !guest_name_valid(g->name) ||
		    g->type >= GUEST_TYPE_COUNT || guest_net_owner_addr(s->net, g->addr, &owner) < 0)
			ret = errbuf_fail(-EINVAL, err, errlen, "guest %zu (%.*s): bad name, type or address",
				   i, GUEST_NAME_MAX, g->name);
	}
	return ret;
}

/* ---- rendering ---- */

static void put_addr(struct textbuf *o, uint32_t a, int len)
{
	char text[16];

	ledger_addr_format(a, text);
	if (len < 32)
		textbuf_add(o, "%s/%d", text, len);
	else
		textbuf_add(o, "%s", text);
}

static void put_set(struct textbuf *o, const char *name, const uint32_t *a, size_t n,
		    const struct guest_policy_guest *g, size_t ng, unsigned type)
{
	bool first = true;

	textbuf_add(o, "add set " T " %s { type ipv4_addr; }\nflush set " T " %s\n", name, name);
	for (size_t i = 0; i < n + ng; i++) {
		if (i >= n && g[i - n].type != type)
			continue;
		if (first)
			textbuf_add(o, "add element " T " %s { ", name);
		else
			textbuf_add(o, ", ");
		put_addr(o, i < n ? a[i] : g[i - n].addr, 32);
		first = false;
	}
	if (!first)
		textbuf_add(o, " }\n");
}

static void put_objects(struct textbuf *o, const struct guest_policy_spec *s)
{
	char name[64];

	textbuf_add(o, "add table " T "\n");
	textbuf_add(o, "add counter " T " " GUEST_POLICY_COUNTER "\n");
	put_set(o, "fabric_members", s->members, s->nmembers, NULL, 0, 0);
	for (unsigned t = 0; t < GUEST_TYPE_COUNT; t++) {
		snprintf(name, sizeof(name), "guests_%s", guest_type_at(t)->name);
		put_set(o, name, NULL, 0, s->guests, s->nguests, t);
	}
	textbuf_add(o, "add chain " T " forward { type filter hook forward priority filter - 5; "
		    "policy accept; }\nflush chain " T " forward\n");
	textbuf_add(o, "add chain " T " guest_input { type filter hook input priority filter - 4; "
		    "policy accept; }\nflush chain " T " guest_input\n");
}

#define DENY "counter name \"" GUEST_POLICY_COUNTER "\" drop\n"

/* "add rule inet osi forward" then "ip saddr 10.78.0.0/16 " */
static void rule_from_guests(struct textbuf *o, const char *chain, const struct guest_net *n)
{
	textbuf_add(o, "add rule " T " %s ip saddr ", chain);
	put_addr(o, n->addr, n->len);
	textbuf_add(o, " ");
}

static void put_port_rules(struct textbuf *o, const struct guest_service *sv)
{
	const char *to = guest_type_at(sv->type)->name;

	for (unsigned i = 0; i < sv->nports; i++) {
		const struct guest_port *p = &sv->ports[i];
		const char *proto = p->proto == GUEST_PROTO_UDP ? "udp" : "tcp";
		const char *r = "add rule " T " forward";

		if (p->public)
			textbuf_add(o, "%s ip daddr @guests_%s %s dport %u accept\n", r, to, proto,
				    p->port);
		if (p->members)
			textbuf_add(o, "%s ip saddr @fabric_members ip daddr @guests_%s %s dport %u "
				    "accept\n", r, to, proto, p->port);
		for (unsigned t = 0; t < GUEST_TYPE_COUNT; t++)
			if (p->types & (1u << t))
				textbuf_add(o, "%s ip saddr @guests_%s ip daddr @guests_%s %s dport %u "
					    "accept\n", r, guest_type_at(t)->name, to, proto, p->port);
	}
}

static void put_forward(struct textbuf *o, const struct guest_policy_spec *s)
{
	const struct guest_net *n = s->net;

	if (s->own_subnet) {
		textbuf_add(o, "add rule " T " forward iifname \"%s\" ip saddr != ", s->bridge);
		put_addr(o, s->own_subnet, n->subnet_len);
		textbuf_add(o, " " DENY);
	}
	rule_from_guests(o, "forward", n);
	textbuf_add(o, "meta l4proto { tcp, udp } th dport %d-%d " DENY, FW_PORT_FIRST,
		    FW_PORT_LAST);
	textbuf_add(o, "add rule " T " forward ct state established,related accept\n");
	for (size_t i = 0; i < s->nservices; i++)
		put_port_rules(o, &s->services[i]);
	textbuf_add(o, "add rule " T " forward ip daddr ");
	put_addr(o, n->addr, n->len);
	textbuf_add(o, " " DENY);
	rule_from_guests(o, "forward", n);
	textbuf_add(o, "ip daddr ");
	put_addr(o, n->mesh_addr, n->mesh_len);
	textbuf_add(o, " " DENY);
}

static void put_input(struct textbuf *o, const struct guest_policy_spec *s)
{
	const char *r = "add rule " T " guest_input";

	rule_from_guests(o, "guest_input", s->net);
	textbuf_add(o, "meta l4proto { tcp, udp } th dport %d-%d " DENY, FW_PORT_FIRST,
		    FW_PORT_LAST);
	textbuf_add(o, "%s iifname \"%s\" meta l4proto { tcp, udp } th dport %d-%d " DENY, r,
		    s->bridge, FW_PORT_FIRST, FW_PORT_LAST);
	textbuf_add(o, "%s ct state established,related accept\n", r);
	textbuf_add(o, "%s iifname \"%s\" udp dport { 53, 67 } accept\n", r, s->bridge);
	textbuf_add(o, "%s iifname \"%s\" tcp dport 53 accept\n", r, s->bridge);
	textbuf_add(o, "%s iifname \"%s\" " DENY, r, s->bridge);
	rule_from_guests(o, "guest_input", s->net);
	textbuf_add(o, DENY);
}

int guest_policy_render(const struct guest_policy_spec *s, char *buf, size_t len, char *err,
			size_t errlen)
{
	struct textbuf o = { .p = buf, .cap = len };
	int ret;

	if (!s || !buf || !len)
		return errbuf_fail(-EINVAL, err, errlen, "no spec or buffer");
	ret = check_spec(s, err, errlen);
	if (ret < 0)
		return ret;
	buf[0] = '\0';
	put_objects(&o, s);
	put_forward(&o, s);
	put_input(&o, s);
	return o.err ? errbuf_fail(-ENOSPC, err, errlen, "policy text larger than %zu bytes", len) : 0;
}
