#include "service-vm-fleet/rebuild.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/fileio.h"
#include "lib/ledger.h"
#include "lib/log.h"
#include "lib/mesh.h"
#include "service-vm-fleet/fleet.h"

#define CHAPTER_FILE "fleet.chapter"

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
		if (m[i].revoked || !(m[i].roles & LEDGER_ROLE_NODE) ||
		    registry_find(&f->reg, m[i].name))
			continue;
		ret = registry_restore(&f->reg, m[i].name, NODE_LIVE, 0, 0);
		*added += ret == 0;
	}
	return ret;
}

/* The chapter file holds the index of the takeover whose chapter fleet.db
 * opened, so that a restart does not open it again. */
static bool chapter_opened(const struct fleet *f, long at, char *path, size_t len)
{
	char *text = NULL;
	size_t n;
	bool same;

	snprintf(path, len, "%s/" CHAPTER_FILE, f->cfg.state_dir);
	if (read_file(path, 32, &text, &n) < 0)
		return false;
	same = strtol(text, NULL, 10) == at;
	free(text);
	return same;
}

int fleet_rebuild(struct fleet *f)
{
	struct ledger l;
	char err[256], detail[400], path[PATH_MAX + 32], mark[24];
	size_t stored = f->reg.count, added = 0;
	long at;
	int ret = 0;

	if (!mesh_has_ledger(f->cfg.state_dir))
		return 0;
	ledger_init(&l);
	if (mesh_ledger_load(f->cfg.state_dir, &l, err, sizeof(err)) < 0)
		goto cleanup; /* the trust reload says why */
	at = last_takeover(&l, f->id.name);
	if (at < 0 || chapter_opened(f, at, path, sizeof(path)))
		goto cleanup;
	ret = add_nodes(f, &l, &added);
	if (ret < 0)
		goto cleanup;
	snprintf(detail, sizeof(detail),
		 "new chapter: fleet.db %s on %s after the takeover at ledger entry %ld from "
		 "'%s'; %zu nodes added from the ledger; %s",
		 stored ? "from a standby copy" : "started empty", f->id.name, at,
		 l.entries[at].from, added,
		 stored ? "guests and events as of the copy" :
		 "events from before are not listed here; guests are adopted as their "
		 "nodes report them");
	log_info("%s", detail);
	if (store_event(f->store, "chapter", NULL, detail, clock_wall_s(), NULL) < 0)
		log_err("store: cannot record the chapter: %s", store_errmsg(f->store));
	snprintf(mark, sizeof(mark), "%ld\n", at);
	if (atomic_write_file(path, mark, strlen(mark), 0644) < 0)
		log_warn("cannot write %s: the next start opens the chapter again", path);
cleanup:
	ledger_free(&l);
	return ret;
}
