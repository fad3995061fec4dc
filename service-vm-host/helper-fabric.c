#include "service-vm-host/helper-fabric.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/guest-net.h"
#include "lib/ledger.h"
#include "lib/log.h"
#include "lib/mesh.h"
#include "lib/names-file.h"
#include "service-vm-host/helper-resolved.h"

static int say(struct virt_host *h, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int say(struct virt_host *h, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->err, sizeof(h->err), fmt, ap);
	va_end(ap);
	return ret;
}

/* This node's subnet, from the verified ledger; the layout in *g. */
static int fabric_of(struct virt_host *h, const struct host_config *c, struct virt_fabric *f,
		     struct guest_net *g)
{
	const struct ledger_member *me;
	struct ledger l;
	uint32_t subnet;
	char err[256];
	int ret;

	memset(f, 0, sizeof(*f));
	ledger_init(&l);
	ret = mesh_ledger_load(c->state_dir, &l, err, sizeof(err));
	if (ret < 0) {
		ret = say(h, ret, "the guest fabric needs this node's ledger: %s", err);
		goto out;
	}
	me = ledger_find(&l, c->name);
	if (!me || me->revoked) {
		ret = say(h, -ENOENT, "%s is not a live member of the ledger", c->name);
		goto out;
	}
	if ((ret = guest_net_from_ledger(g, &l, err, sizeof(err))) < 0 ||
	    (ret = guest_net_subnet(g, me->addr, &subnet, err, sizeof(err))) < 0) {
		ret = say(h, ret, "guest subnet of %s: %s", c->name, err);
		goto out;
	}
	ret = guest_net_range(g, subnet, &f->range);
	f->prefix_len = g->subnet_len;
	snprintf(f->zone, sizeof(f->zone), "%s", c->guest_zone);
out:
	ledger_free(&l);
	return ret;
}

int helper_fabric(struct virt_host *h, const struct host_config *c)
{
	struct virt_fabric f;
	struct guest_net g;
	int ret;

	if ((ret = fabric_of(h, c, &f, &g)) < 0 || (ret = virt_fabric_ensure(h, &f)) < 0)
		return ret;
	resolved_link_dns(VIRT_FABRIC_BRIDGE, f.range.gateway, f.zone);
	return 0;
}

int helper_names(struct virt_host *h, const struct host_config *c)
{
	struct names_entry *e = NULL;
	struct names_scope scope;
	struct virt_fabric f;
	struct guest_net g;
	char path[PATH_MAX], err[256];
	size_t n = 0;
	int ret;

	if ((ret = fabric_of(h, c, &f, &g)) < 0)
		return ret;
	if (snprintf(path, sizeof(path), "%s/names", c->state_dir) >= (int)sizeof(path))
		return say(h, -ENAMETOOLONG, "state_dir too long");
	scope = (struct names_scope){ c->guest_zone, g.addr, g.len, g.mesh_addr, g.mesh_len };
	ret = names_file_load(path, &scope, &e, &n, err, sizeof(err));
	if (ret < 0)
		return say(h, ret, "names refused, nothing changed: %s", err);
	ret = virt_fabric_names(h, e, n);
	if (!ret)
		log_info("names: %zu served under %s", n, c->guest_zone);
	free(e);
	return ret;
}

int helper_fabric_lease(struct virt_host *h, const struct host_config *c, struct virt_spec *s,
			bool *fresh)
{
	struct virt_lease l;
	int ret = helper_fabric(h, c);

	*fresh = false;
	if (ret < 0 || (ret = virt_lease_get(h, s->name, NULL, &l, fresh)) < 0)
		return ret;
	snprintf(s->mac, sizeof(s->mac), "%s", l.mac);
	ledger_addr_format(l.addr, s->address);
	return 0;
}
