/* A data volume kept aside while a restore replaces it
 * (virt/virt-backup-internal.h): a hard link to its file in the pool,
 * <pool>/.osi-restore-VOL, and, when its key changes, that key sealed to
 * the node's seal key in <pool>/.osi-restore-VOL.key (root's, 0600,
 * written atomically). Both stay until the new volume is in place, or the
 * old one is back under its name with its key; one left over is never
 * removed here (it may hold the only copy of the volume's data or key). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/errbuf.h"
#include "lib/fileio.h"
#include "lib/key-seal.h"
#include "virt/virt-backup-internal.h"

int backup_aside_names(const char *pool_dir, const char *vol, struct backup_aside *a)
{
	memset(a, 0, sizeof(*a));
	if (!pool_dir[0] ||
	    snprintf(a->path, sizeof(a->path), "%s/%s", pool_dir, vol) >= (int)sizeof(a->path) ||
	    snprintf(a->kept, sizeof(a->kept), "%s/.osi-restore-%s", pool_dir, vol) >=
		    (int)sizeof(a->kept) ||
	    snprintf(a->keyf, sizeof(a->keyf), "%s.key", a->kept) >= (int)sizeof(a->keyf))
		return -ENAMETOOLONG;
	return 0;
}

static int key_file(struct backup_aside *a, const char *secret, const uint8_t seal_pk[32],
		    const uint8_t key[KEY_SEAL_KEY_BYTES])
{
	uint8_t sealed[KEY_SEAL_BYTES];
	char b64[KEY_SEAL_B64_MAX], *text = NULL;
	json_t *o;
	int ret;

	if (key_seal_x25519(seal_pk, key, sealed) < 0)
		return -EINVAL;
	key_seal_b64(sealed, b64);
	o = json_pack("{s:s, s:s, s:s, s:s}", "format", BACKUP_ASIDE_KEY_FORMAT, "file", a->kept,
		      "secret", secret, "sealed", b64);
	text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!text)
		return -ENOMEM;
	ret = atomic_create_file(a->keyf, text, strlen(text), 0600);
	free(text);
	return ret;
}

int backup_aside_set(struct backup_aside *a, const char *secret, const uint8_t *seal_pk,
		     const uint8_t *key, char *err, size_t errlen)
{
	struct stat st;
	int ret;

	if (lstat(a->kept, &st) == 0 || lstat(a->keyf, &st) == 0)
		return errbuf_fail(-EEXIST, err, errlen, "%s%s remains from a restore that did not finish "
				   "(it holds the volume's data%s from before it): nothing is removed; put "
				   "it back or remove it (docs/operator.md, \"A restore that failed\") and "
				   "restore again", a->kept, lstat(a->keyf, &st) == 0 ? " and .key" : "",
				   lstat(a->keyf, &st) == 0 ? " and key" : "");
	if (link(a->path, a->kept) < 0)
		return errbuf_fail(-errno, err, errlen, "keeping %s until its replacement is in place: %s",
				   a->path, strerror(errno));
	a->linked = true;
	if (!key)
		return 0;
	if ((ret = key_file(a, secret, seal_pk, key)) < 0) {
		unlink(a->kept); /* the same file as the volume's, which nothing changed yet */
		a->linked = false;
		return errbuf_fail(ret, err, errlen, "keeping the key of %s in %s: %s", a->path, a->keyf,
				   strerror(-ret));
	}
	a->keyed = true;
	return 0;
}

int backup_aside_put_back(struct backup_aside *a)
{
	struct stat x, y;

	/* the same file under both names (its deletion failed): rename would
	 * leave both */
	if (stat(a->path, &x) == 0 && stat(a->kept, &y) == 0 && x.st_dev == y.st_dev &&
	    x.st_ino == y.st_ino) {
		if (unlink(a->kept) < 0)
			return -errno;
	} else if (rename(a->kept, a->path) < 0) {
		return -errno;
	}
	a->linked = false; /* it is the volume's file again */
	return 0;
}

void backup_aside_release(struct backup_aside *a)
{
	if (a->keyed && unlink(a->keyf) == 0)
		a->keyed = false;
	if (a->linked && unlink(a->kept) == 0)
		a->linked = false;
}
