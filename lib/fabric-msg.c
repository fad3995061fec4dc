#include "lib/fabric-msg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/errbuf.h"
#include "lib/firewall.h"
#include "lib/ledger.h"
#include "lib/mesh.h"

const char *fabric_host_port_reserved(enum guest_proto proto, unsigned port)
{
	if (port >= FW_PORT_FIRST && port <= FW_PORT_LAST)
		return "host ports 7101-7105 are the control plane's";
	if (proto == GUEST_PROTO_TCP && port == 22)
		return "host TCP port 22 is the host's ssh";
	if (proto == GUEST_PROTO_UDP && port == MESH_WG_PORT)
		return "host UDP port 51820 is the mesh's WireGuard";
	return NULL;
}

const struct fabric_guest *fabric_find(const struct fabric *f, const char *guest)
{
	for (size_t i = 0; guest && i < f->nguests; i++)
		if (!strcmp(f->guests[i].name, guest))
			return &f->guests[i];
	return NULL;
}

static int parse_addr(const char *text, uint32_t *out)
{
	struct in_addr a;

	if (!text || inet_pton(AF_INET, text, &a) != 1 || !a.s_addr)
		return -EINVAL;
	*out = ntohl(a.s_addr);
	return 0;
}

static int parse_guest(json_t *e, size_t i, struct fabric *f, char *err, size_t errlen)
{
	struct fabric_guest *g = &f->guests[i];
	const char *name, *type, *node, *addr;
	const struct guest_type *t;
	json_error_t je;

	if (json_unpack_ex(e, &je, JSON_STRICT, "{s:s, s:s, s:s, s:s}", "name", &name, "type",
			   &type, "node", &node, "addr", &addr) < 0)
		return errbuf_fail(-EINVAL, err, errlen, "guests[%zu]: %s", i, je.text);
	if (!guest_name_valid(name))
		return errbuf_fail(-EINVAL, err, errlen, "guests[%zu].name: invalid", i);
	if (fabric_find(f, name))
		return errbuf_fail(-EINVAL, err, errlen, "guests[%zu].name: \"%s\" twice", i, name);
	t = guest_type_find(type);
	if (!t)
		return errbuf_fail(-EINVAL, err, errlen, "guests[%zu].type: unknown", i);
	if (!node_name_valid(node))
		return errbuf_fail(-EINVAL, err, errlen, "guests[%zu].node: invalid", i);
	if (parse_addr(addr, &g->addr) < 0)
		return errbuf_fail(-EINVAL, err, errlen, "guests[%zu].addr: not a dotted quad", i);
	for (size_t k = 0; k < i; k++)
		if (f->guests[k].addr == g->addr)
			return errbuf_fail(-EINVAL, err, errlen, "guests[%zu].addr: %s twice", i, addr);
	strcpy(g->name, name);
	strcpy(g->node, node);
	g->type = guest_type_index(t);
	f->nguests = i + 1;
	return 0;
}

static int parse_pub(json_t *e, size_t i, struct fabric *f, char *err, size_t errlen)
{
	struct fabric_pub *p = &f->pubs[i];
	json_int_t port, host_port;
	const char *guest, *proto, *reserved;
	json_error_t je;

	if (json_unpack_ex(e, &je, JSON_STRICT, "{s:s, s:s, s:I, s:I}", "guest", &guest, "proto",
			   &proto, "port", &port, "host_port", &host_port) < 0)
		return errbuf_fail(-EINVAL, err, errlen, "published[%zu]: %s", i, je.text);
	if (!fabric_find(f, guest))
		return errbuf_fail(-EINVAL, err, errlen, "published[%zu].guest: not among the guests", i);
	if (strcmp(proto, "tcp") && strcmp(proto, "udp"))
		return errbuf_fail(-EINVAL, err, errlen, "published[%zu].proto: tcp or udp", i);
	if (port < 1 || port > 65535 || host_port < 1 || host_port > 65535)
		return errbuf_fail(-EINVAL, err, errlen, "published[%zu]: ports are 1 to 65535", i);
	p->proto = strcmp(proto, "udp") ? GUEST_PROTO_TCP : GUEST_PROTO_UDP;
	reserved = fabric_host_port_reserved(p->proto, (unsigned)host_port);
	if (reserved)
		return errbuf_fail(-EINVAL, err, errlen, "published[%zu].host_port: %s", i, reserved);
	strcpy(p->guest, guest);
	p->port = (uint16_t)port;
	p->host_port = (uint16_t)host_port;
	/* a host port is the node's: the same one may serve on another node */
	for (size_t k = 0; k < i; k++)
		if (f->pubs[k].proto == p->proto && f->pubs[k].host_port == p->host_port &&
		    !strcmp(fabric_find(f, f->pubs[k].guest)->node, fabric_find(f, guest)->node))
			return errbuf_fail(-EINVAL, err, errlen, "published[%zu]: %s host port %u twice",
					   i, proto, p->host_port);
	f->npubs = i + 1;
	return 0;
}

static int parse_array(json_t *a, const char *what, size_t max, size_t each, void **out,
		       char *err, size_t errlen)
{
	if (!json_is_array(a))
		return errbuf_fail(-EINVAL, err, errlen, "%s: an array expected", what);
	if (json_array_size(a) > max)
		return errbuf_fail(-E2BIG, err, errlen, "%s: more than %zu", what, max);
	*out = calloc(json_array_size(a) + 1, each);
	return *out ? 0 : errbuf_fail(-ENOMEM, err, errlen, "out of memory");
}

static int parse_body(json_t *o, bool envelope, struct fabric *f, char *err, size_t errlen)
{
	json_t *guests, *pubs, *e;
	const char *zone, *op = NULL, *node = NULL;
	json_error_t je;
	size_t i;
	int ret;

	if (json_unpack_ex(o, &je, JSON_STRICT, "{s:s, s:o, s:o, s?s, s?s}", "zone", &zone,
			   "guests", &guests, "published", &pubs, "op", &op, "node", &node) < 0)
		return errbuf_fail(-EINVAL, err, errlen, "fabric: %s", je.text);
	if (!envelope && (op || node))
		return errbuf_fail(-EINVAL, err, errlen, "fabric: \"op\" or \"node\" in a table");
	if (!names_zone_valid(zone))
		return errbuf_fail(-EINVAL, err, errlen, "zone: not a zone of hostname labels");
	strcpy(f->zone, zone);
	ret = parse_array(guests, "guests", FABRIC_GUESTS_MAX, sizeof(*f->guests),
			  (void **)&f->guests, err, errlen);
	if (ret < 0)
		return ret;
	json_array_foreach(guests, i, e)
		if ((ret = parse_guest(e, i, f, err, errlen)) < 0)
			return ret;
	ret = parse_array(pubs, "published", FABRIC_PUBLISHED_MAX, sizeof(*f->pubs),
			  (void **)&f->pubs, err, errlen);
	if (ret < 0)
		return ret;
	json_array_foreach(pubs, i, e)
		if ((ret = parse_pub(e, i, f, err, errlen)) < 0)
			return ret;
	return 0;
}

int fabric_from_json(const json_t *o, bool envelope, struct fabric *f, char *err, size_t errlen)
{
	int ret;

	memset(f, 0, sizeof(*f));
	if (!json_is_object(o))
		return errbuf_fail(-EINVAL, err, errlen, "fabric: an object expected");
	ret = parse_body((json_t *)o, envelope, f, err, errlen);
	if (ret < 0)
		fabric_free(f);
	return ret;
}

int fabric_parse(const char *buf, size_t len, struct fabric *f, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	int ret;

	memset(f, 0, sizeof(*f));
	if (!o)
		return errbuf_fail(-EINVAL, err, errlen, "fabric: line %d: %s", je.line, je.text);
	ret = fabric_from_json(o, false, f, err, errlen);
	json_decref(o);
	return ret;
}

json_t *fabric_to_json(const struct fabric *f)
{
	json_t *o = json_object(), *g = json_array(), *p = json_array();
	char addr[16];
	bool ok = o && g && p && !json_object_set_new(o, "zone", json_string(f->zone));

	for (size_t i = 0; ok && i < f->nguests; i++) {
		ledger_addr_format(f->guests[i].addr, addr);
		ok = !json_array_append_new(g, json_pack("{s:s, s:s, s:s, s:s}", "name",
				f->guests[i].name, "type", guest_type_at(f->guests[i].type)->name,
				"node", f->guests[i].node, "addr", addr));
	}
	for (size_t i = 0; ok && i < f->npubs; i++)
		ok = !json_array_append_new(p, json_pack("{s:s, s:s, s:i, s:i}", "guest",
				f->pubs[i].guest, "proto", f->pubs[i].proto == GUEST_PROTO_UDP ?
				"udp" : "tcp", "port", (int)f->pubs[i].port, "host_port",
				(int)f->pubs[i].host_port));
	ok = ok && !json_object_set(o, "guests", g) && !json_object_set(o, "published", p);
	json_decref(g);
	json_decref(p);
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

void fabric_free(struct fabric *f)
{
	free(f->guests);
	free(f->pubs);
	f->guests = NULL;
	f->pubs = NULL;
	f->nguests = f->npubs = 0;
}
