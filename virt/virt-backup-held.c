/* What a receiver of a backup copy already holds of the offered chain
 * (virt/virt-backup-copy.h): a file counts only when it hashes now to the
 * SHA-256 its signed manifest here names, and that is the one offered. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/errbuf.h"
#include "lib/log.h"
#include "virt/virt-backup-copy.h"

/* Volume i of the store's intact backup with f's id whose manifest names
 * f's disk, size and SHA-256; -1 when there is none. */
static int named(const struct backup_entry *e, size_t n, const struct backup_copy_file *f,
		 const struct backup_entry **at)
{
	ssize_t k = backup_find(e, n, f->id);

	if (k < 0 || !e[k].intact)
		return -1;
	*at = &e[k];
	for (unsigned i = 0; i < e[k].m.nvol; i++)
		if (!strcmp(e[k].m.vol[i].disk, f->disk))
			return e[k].m.vol[i].bytes == f->bytes && !strcmp(e[k].m.vol[i].sha256, f->sha256) ?
			       (int)i : -1;
	return -1;
}

static void which(const char *gdir, const struct backup_entry *e, size_t ne,
		  const struct backup_copy_file *f, size_t n, bool *held, uint64_t *bytes)
{
	for (size_t k = 0; k < n; k++) {
		const struct backup_entry *at = NULL;
		char why[320];
		int i = named(e, ne, &f[k], &at), fd = -1;

		held[k] = i >= 0 && backup_verify_file(gdir, &at->m, (unsigned)i, &fd, why, sizeof(why)) == 0;
		if (i >= 0 && !held[k])
			log_info("%s.%s in %s is not what its manifest says (%s): the copy brings it again",
				 f[k].id, f[k].disk, gdir, why);
		if (fd >= 0)
			close(fd);
		*bytes += held[k] ? f[k].bytes : 0;
	}
}

int backup_copy_held(const char *dir, const char *guest, backup_trust_fn trust, void *ctx,
		     const struct backup_copy_file *f, size_t n, bool *held, uint64_t *bytes,
		     char *err, size_t errlen)
{
	char gdir[PATH_MAX];
	struct backup_entry *e = NULL;
	size_t ne = 0;
	int lock = -1, ret;

	*bytes = 0;
	memset(held, 0, n * sizeof(*held));
	ret = backup_guest_dir(dir, guest, false, gdir, sizeof(gdir), err, errlen);
	if (ret == -ENOENT || (!ret && access(gdir, F_OK) < 0 && errno == ENOENT))
		return 0; /* nothing of the guest here yet */
	if (ret < 0 || (ret = backup_lock(gdir, &lock, err, errlen)) < 0 ||
	    (ret = backup_list(gdir, trust, ctx, &e, &ne, err, errlen)) < 0)
		goto out;
	/* The hashing, as long as the chain is large, holds up no backup or
	 * restore of the guest: what is held is checked again under the lock
	 * when the copy is stored (a held file swept meanwhile refuses that
	 * copy whole, and the next one sends it). */
	backup_unlock(lock);
	lock = -1;
	which(gdir, e, ne, f, n, held, bytes);
out:
	backup_unlock(lock);
	free(e);
	return ret;
}
