#include "service-vm-fleet/rebuild.h"

#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/ledger.h"
#include "lib/log.h"
#include "lib/mesh.h"
#include "service-vm-fleet/fleet.h"

/* The last takeover's index, when it named this fleet; -1 otherwise. */
static long last_takeover(const struct ledger *l, const char *self)
{
	for (size_t i = l->count; i-- > 0;) {
		const struct ledger_entry *e = &l->entries[i];

		if (e->kind == LEDGER_TAKEOVER)
			return strcmp(e->subject, self) ? -1 : (long)i;
	}
	return -1;
}

static int add_nodes(struct fleet *f, const struct ledger *l, size_t *added)
{
	const struct ledger_member *m;
	size_t n;
	int ret = ledger_members(l, &m, &n);

	*added = 0;
	for (size_t i = 0; ret == 0 && i < n; i++) {
		if (m[i].revoked || !(m[i].roles & LEDGER_ROLE_NODE))
			continue;
		ret = registry_restore(&f->reg, m[i].name, NODE_LIVE, 0, 0);
		*added += ret == 0;
	}
	return ret;
}

int fleet_rebuild(struct fleet *f)
{
	struct ledger l;
	char err[256], detail[320];
	size_t added = 0;
	long at;
	int ret = 0;

	if (f->reg.count || !mesh_has_ledger(f->cfg.state_dir))
		return 0;
	ledger_init(&l);
	if (mesh_ledger_load(f->cfg.state_dir, &l, err, sizeof(err)) < 0)
		goto cleanup; /* the trust reload says why */
	at = last_takeover(&l, f->id.name);
	if (at < 0)
		goto cleanup;
	ret = add_nodes(f, &l, &added);
	if (ret < 0)
		goto cleanup;
	snprintf(detail, sizeof(detail),
		 "new chapter: fleet.db started empty on %s after the takeover at ledger entry "
		 "%ld from '%s'; %zu nodes from the ledger, guests from the agents' reports; "
		 "earlier events stayed with '%s'", f->id.name, at, l.entries[at].from, added,
		 l.entries[at].from);
	log_info("%s", detail);
	if (store_event(f->store, "chapter", NULL, detail, clock_wall_s(), NULL) < 0)
		log_err("store: cannot record the chapter: %s", store_errmsg(f->store));
cleanup:
	ledger_free(&l);
	return ret;
}
