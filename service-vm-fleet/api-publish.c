/* vm-publish and vm-unpublish: one port of a guest on its node's underlay
 * (DNAT by the node's agent), recorded in the store and pushed to the
 * nodes with the fabric table (server-fabric.c).
 *   {"op":"vm-publish","name":G,"port":P,"host_port":H?,"proto":"tcp"|"udp"?}
 *   {"op":"vm-unpublish","name":G,"port":P,"proto":"tcp"|"udp"?}
 * H defaults to P; proto to tcp. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "service-vm-fleet/api-internal.h"
#include "service-vm-fleet/fleet.h"

json_t *published_json(const struct fleet *f, const char *guest)
{
	json_t *list = json_array();

	for (size_t i = 0; list && i < f->pubs.count; i++) {
		const struct fleet_pub *p = &f->pubs.list[i];

		if (!strcmp(p->guest, guest))
			json_array_append_new(list, json_pack("{s:s, s:i, s:i}", "proto",
					pub_proto_name(p->proto), "port", (int)p->port,
					"host_port", (int)p->host_port));
	}
	return list;
}

static int port_arg(json_t *req, const char *key, uint16_t dflt, uint16_t *out)
{
	json_t *v = json_object_get(req, key);

	if (!v && dflt) {
		*out = dflt;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
		return -EINVAL;
	*out = (uint16_t)json_integer_value(v);
	return 0;
}

/* The guest, its port and protocol; NULL and *fail set when not usable. */
static struct guest *args(struct fleet *f, json_t *req, struct fleet_pub *p, json_t **fail)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	json_t *proto = json_object_get(req, "proto");
	struct guest *g = name ? guests_find(&f->guests, name) : NULL;

	memset(p, 0, sizeof(*p));
	*fail = NULL;
	if (!g || g->state == GS_DESTROYED)
		*fail = api_fail("no guest named '%s'", name ? name : "");
	else if (port_arg(req, "port", 0, &p->port) < 0)
		*fail = api_fail("\"port\" must be 1..65535");
	else if ((proto && !json_is_string(proto)) ||
		 pub_proto_parse(json_string_value(proto), &p->proto) < 0)
		*fail = api_fail("\"proto\" must be \"tcp\" or \"udp\"");
	if (*fail)
		return NULL;
	snprintf(p->guest, sizeof(p->guest), "%s", g->name);
	return g;
}

static void record(struct fleet *f, const struct guest *g, const struct fleet_pub *p, bool add,
		   const char *caller)
{
	const struct store_pub sp = { p->guest, pub_proto_name(p->proto), p->port, p->host_port };

	log_info("%s %s/%u of %s on host port %u (by %s)", add ? "published" : "unpublished",
		 sp.proto, (unsigned)p->port, p->guest, (unsigned)p->host_port, caller);
	if (store_publish(f->store, &sp, add, g->node, clock_wall_s()) < 0) {
		f->store_errors++;
		log_err("store: cannot record it: %s", store_errmsg(f->store));
	}
}

json_t *op_vm_publish(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	struct fleet_pub p;
	const char *why;
	json_t *fail;
	struct guest *g = args(f, req, &p, &fail);

	(void)now;
	if (!g)
		return fail;
	if (port_arg(req, "host_port", p.port, &p.host_port) < 0)
		return api_fail("\"host_port\" must be 1..65535");
	if (pubs_add(&f->pubs, &f->guests, &p, &why) < 0)
		return api_fail("%s", why);
	record(f, g, &p, true, caller);
	return json_pack("{s:b, s:s, s:s, s:s, s:i, s:i}", "ok", 1, "name", g->name, "node", g->node,
			 "proto", pub_proto_name(p.proto), "port", (int)p.port, "host_port",
			 (int)p.host_port);
}

json_t *op_vm_unpublish(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	struct fleet_pub p, gone;
	json_t *fail;
	struct guest *g = args(f, req, &p, &fail);

	(void)now;
	if (!g)
		return fail;
	if (pubs_remove(&f->pubs, p.guest, p.proto, p.port, &gone) < 0)
		return api_fail("%s/%u of %s is not published", pub_proto_name(p.proto),
				(unsigned)p.port, p.guest);
	record(f, g, &gone, false, caller);
	return json_pack("{s:b}", "ok", 1);
}
