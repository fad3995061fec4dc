/* Which backups form a chain, what the next one adds to, what pruning may
 * remove (virt/virt-backup.h). Pure: no files, no libvirt. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virt/virt-backup.h"

static int by_id(const void *a, const void *b)
{
	return strcmp(((const struct backup_entry *)a)->m.id, ((const struct backup_entry *)b)->m.id);
}

void backup_sort(struct backup_entry *e, size_t n)
{
	if (n > 1)
		qsort(e, n, sizeof(*e), by_id);
}

ssize_t backup_find(const struct backup_entry *e, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(e[i].m.id, id))
			return (ssize_t)i;
	return -1;
}

static bool same_disks(const struct backup_manifest *a, const struct backup_manifest *b)
{
	if (a->nvol != b->nvol)
		return false;
	for (unsigned i = 0; i < a->nvol; i++)
		if (strcmp(a->vol[i].disk, b->vol[i].disk) || a->vol[i].capacity != b->vol[i].capacity)
			return false;
	return true;
}

/* Whether parent p may precede child c in a chain; why not in err. */
static int link_ok(const struct backup_entry *p, const struct backup_entry *c, char *err, size_t errlen)
{
	if (!p->intact)
		return snprintf(err, errlen, "%s needs %s, which is damaged: %s", c->m.id, p->m.id, p->why),
		       -EBADMSG;
	if (strcmp(p->m.guest, c->m.guest) || strcmp(p->m.instance_id, c->m.instance_id))
		return snprintf(err, errlen, "%s needs %s, a backup of another guest or instance",
				c->m.id, p->m.id), -EBADMSG;
	if (!same_disks(&p->m, &c->m))
		return snprintf(err, errlen, "%s needs %s, whose volumes differ", c->m.id, p->m.id),
		       -EBADMSG;
	return 0;
}

int backup_chain(const struct backup_entry *e, size_t n, size_t at, size_t *chain, size_t *len,
		 char *err, size_t errlen)
{
	size_t k = 0;
	ssize_t p;

	if (at >= n)
		return snprintf(err, errlen, "no such backup"), -ENOENT;
	if (!e[at].intact)
		return snprintf(err, errlen, "%s is damaged: %s", e[at].m.id, e[at].why), -EBADMSG;
	chain[k++] = at;
	while (e[at].m.incremental) {
		/* a parent's id is always earlier, so this ends within n links */
		if ((p = backup_find(e, n, e[at].m.parent)) < 0)
			return snprintf(err, errlen, "the chain is broken: %s needs %s, which is not here",
					e[at].m.id, e[at].m.parent), -EBADMSG;
		if (k == n || strcmp(e[p].m.id, e[at].m.id) >= 0)
			return snprintf(err, errlen, "the chain of %s loops", e[chain[0]].m.id), -EBADMSG;
		int ret = link_ok(&e[p], &e[at], err, errlen);

		if (ret)
			return ret;
		chain[k++] = (size_t)p;
		at = (size_t)p;
	}
	for (size_t i = 0; i < k / 2; i++) {
		size_t t = chain[i];

		chain[i] = chain[k - 1 - i];
		chain[k - 1 - i] = t;
	}
	*len = k;
	return 0;
}

static bool listed(const char *name, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(name, names[i]))
			return true;
	return false;
}

static bool disks_are(const struct backup_manifest *m, const char *const *disks, size_t ndisks)
{
	if (m->nvol != ndisks)
		return false;
	for (unsigned i = 0; i < m->nvol; i++)
		if (strcmp(m->vol[i].disk, disks[i]))
			return false;
	return true;
}

ssize_t backup_parent(const struct backup_entry *e, size_t n, const char *instance_id,
		      const char *const *disks, size_t ndisks, const char *const *checkpoints,
		      size_t ncp, unsigned max_chain)
{
	size_t *chain = n ? calloc(n, sizeof(*chain)) : NULL, len;
	ssize_t found = -1;
	char why[8];

	for (size_t i = n; chain && i-- > 0 && found < 0;) {
		const struct backup_manifest *m = &e[i].m;

		if (!e[i].intact || !*m->checkpoint || !listed(m->checkpoint, checkpoints, ncp) ||
		    strcmp(m->instance_id, instance_id) || !disks_are(m, disks, ndisks))
			continue;
		/* the newest checkpoint decides: its chain or a full */
		if (backup_chain(e, n, i, chain, &len, why, sizeof(why)) == 0 && len < max_chain)
			found = (ssize_t)i;
		break;
	}
	free(chain);
	return found;
}

size_t backup_prune(const struct backup_entry *e, size_t n, unsigned keep, bool *remove)
{
	size_t removed = 0;

	for (size_t i = 0; i < n; i++)
		remove[i] = keep > 0 && i + keep < n;
	/* newest first, so a kept child marks its parent before the parent is looked at */
	for (size_t i = n; i-- > 0;) {
		ssize_t p;

		if (remove[i] || !e[i].m.incremental || (p = backup_find(e, n, e[i].m.parent)) < 0)
			continue;
		remove[p] = false;
	}
	for (size_t i = 0; i < n; i++)
		removed += remove[i];
	return removed;
}

void backup_next_id(const struct backup_entry *e, size_t n, int64_t now, char id[BACKUP_ID_LEN + 1])
{
	backup_id_format(now, id);
	for (int64_t t = now + 1; n && strcmp(id, e[n - 1].m.id) <= 0; t++)
		backup_id_format(t, id);
}
