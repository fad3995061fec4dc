#include "service-vm-fleet/guest-addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "lib/guest-net.h"
#include "lib/ledger.h"
#include "lib/log.h"
#include "lib/mesh.h"
#include "service-vm-fleet/fleet.h"
#include "service-vm-fleet/store.h"

#define SEEN_MAX 64

static bool parse(const char *text, uint32_t *out)
{
	struct in_addr in;

	if (!text || inet_pton(AF_INET, text, &in) != 1)
		return false;
	*out = ntohl(in.s_addr);
	return true;
}

static bool in_prefix(const struct guest_net *net, uint32_t a)
{
	uint32_t mask = net->len ? ~0u << (32 - net->len) : 0;

	return (a & mask) == net->addr;
}

enum guest_addr_verdict guest_addr_check(const struct guests *g, const struct guest *gu,
					 const char *addr, const struct guest_net *net,
					 const struct ledger *l, const struct guest **holder)
{
	const struct ledger_member *m;
	uint32_t a, b;

	*holder = NULL;
	if (!parse(addr, &a))
		return GUEST_ADDR_OK;
	if (net && in_prefix(net, a)) {
		m = l ? guest_net_owner(net, l, a) : NULL;
		if (!m || strcmp(m->name, gu->node))
			return GUEST_ADDR_FOREIGN;
	}
	for (size_t i = 0; i < g->count; i++) {
		if (&g->list[i] != gu && parse(g->list[i].address, &b) && b == a) {
			*holder = &g->list[i];
			return GUEST_ADDR_HELD;
		}
	}
	return GUEST_ADDR_OK;
}

/* True the first time this guest is refused this address. */
static bool refusal_is_new(const char *name, const char *addr)
{
	static char seen[SEEN_MAX][GUEST_NAME_MAX + GUEST_ADDR_MAX + 3];
	static unsigned n, next;
	char key[sizeof(seen[0])];

	snprintf(key, sizeof(key), "%s %s", name, addr);
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(seen[i], key))
			return false;
	strcpy(seen[next], key);
	next = (next + 1) % SEEN_MAX;
	n += n < SEEN_MAX;
	return true;
}

static void refuse(struct fleet *f, const struct guest *gu, const char *addr,
		   const struct guest *holder, int64_t wall)
{
	char detail[400];

	if (!refusal_is_new(gu->name, addr))
		return;
	if (holder)
		snprintf(detail, sizeof(detail), "guest %s on %s reported at %s, which guest %s on "
			 "%s holds: kept there, %s has no address", gu->name, gu->node, addr,
			 holder->name, holder->node, gu->name);
	else
		snprintf(detail, sizeof(detail), "guest %s on %s reported at %s, outside %s's guest "
			 "subnet: %s has no address", gu->name, gu->node, addr, gu->node, gu->name);
	log_warn("%s", detail);
	if (f->store && store_event(f->store, "conflict", gu->node, detail, wall, NULL) < 0)
		log_err("store: cannot record a conflict: %s", store_errmsg(f->store));
}

void fleet_guest_addresses(struct fleet *f, const char *node, const json_t *a, int64_t wall)
{
	struct guests *gs = &f->guests;
	struct guest_net net, *netp = NULL;
	struct ledger l;
	char err[256];

	ledger_init(&l);
	if (mesh_has_ledger(f->cfg.state_dir)) {
		if (mesh_ledger_load(f->cfg.state_dir, &l, err, sizeof(err)) < 0 ||
		    guest_net_from_ledger(&net, &l, err, sizeof(err)) < 0) {
			log_warn("addresses from %s kept as they were: no usable ledger: %s", node, err);
			goto cleanup;
		}
		netp = &net;
	}
	for (size_t i = 0; i < gs->count; i++) {
		struct guest *gu = &gs->list[i];
		const char *addr;
		const struct guest *holder;

		if (strcmp(gu->node, node))
			continue;
		addr = json_string_value(json_object_get(a, gu->name));
		if (guest_addr_check(gs, gu, addr, netp, netp ? &l : NULL, &holder) != GUEST_ADDR_OK) {
			refuse(f, gu, addr, holder, wall);
			addr = NULL;
		}
		guest_set_address(gu, addr);
	}
cleanup:
	ledger_free(&l);
}
