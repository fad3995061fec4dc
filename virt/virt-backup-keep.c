/* A volume's key that a restore is about to replace, kept with this node's
 * chains encrypted under it (virt/virt-backup-internal.h): added to each
 * such full's FULL.keys, the kept form restore reads (lib/backup-keys.h),
 * merged; it replaces a differing key kept there for the volume (which
 * does not open the full: a LUKS header made here has one key slot; kept
 * by an older build, or brought by a member's wrong copy). Without it,
 * the local backups of a guest made again would no longer open once a
 * restore of a copied chain puts its volume under the copy's key. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/backup-keys.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/seal-key.h"
#include "virt/virt-backup-internal.h"
#include "virt/virt-internal.h"

struct keeping {
	struct virt_host *h;
	const char *gdir, *disk;
	const uint8_t *key;
	struct seal_key sk;
};

/* The keys kept with full m (a fresh kept form when it has none): -EBADMSG
 * when the file there is not the kept form of m's chain. */
static int kept_of(struct keeping *k, const struct backup_manifest *m, struct backup_keys *out)
{
	char name[BACKUP_FILE_MAX], *text = NULL, why[200] = "";
	size_t len;
	int ret;

	backup_file_name(m->id, "keys", name, sizeof(name));
	ret = backup_read_small(k->gdir, name, BACKUP_KEYS_MAX, &text, &len, why, sizeof(why));
	if (ret == -ENOENT) {
		memset(out, 0, sizeof(*out));
		out->local = true;
		snprintf(out->backup, sizeof(out->backup), "%s", m->id);
		snprintf(out->guest, sizeof(out->guest), "%s", m->guest);
		snprintf(out->instance_id, sizeof(out->instance_id), "%s", m->instance_id);
		return 0;
	}
	if (!ret && !(ret = backup_keys_parse(text, len, out, why, sizeof(why))) && !out->local)
		ret = -EBADMSG;
	if (!ret)
		ret = backup_keys_match(out, m, m, why, sizeof(why));
	free(text);
	if (ret < 0)
		log_warn("%s/%s: %s: no key added to it", k->gdir, name, why[0] ? why : strerror(-ret));
	return ret < 0 ? -EBADMSG : 0;
}

/* Whether the key opens full m's file of the disk (an encrypted one). */
static int opens(struct keeping *k, const struct backup_manifest *m, bool *yes)
{
	char name[BACKUP_FILE_MAX], path[PATH_MAX];
	uint8_t head[EXPORT_QCOW2_HEAD];
	int fd, code = -1, ret = 0;

	*yes = false;
	backup_volume_file(m->id, k->disk, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", k->gdir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return 0; /* not there: the listing says so, restore refuses it */
	if (pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head) &&
	    (head[32] | head[33] | head[34] | head[35]) &&
	    (ret = backup_key_check(k->h, fd, k->key, &code)) == -EBADMSG)
		ret = 0; /* a header restore refuses anyway */
	close(fd);
	*yes = !ret && (code == 0 || code == 3);
	return ret;
}

/* Whether keys keeps k's key for the disk (opened with the seal key). */
static bool keeps_it(struct keeping *k, const struct backup_keys *keys)
{
	uint8_t old[KEY_SEAL_KEY_BYTES];
	bool same = backup_keys_kept_open(keys, k->disk, k->sk.pk, k->sk.sk, old) == 0 &&
		    sodium_memcmp(old, k->key, sizeof(old)) == 0;

	sodium_memzero(old, sizeof(old));
	return same;
}

/* The key added to full m's kept keys if it opens m's file of the disk,
 * in place of a differing one kept there. */
static int keep_with(struct keeping *k, const struct backup_manifest *m, unsigned *kept)
{
	struct backup_keys keys;
	struct backup_key v;
	char name[BACKUP_FILE_MAX], path[PATH_MAX], *text = NULL, why[200];
	size_t len;
	bool yes;
	int i, j, ret;

	for (i = 0; i < (int)m->nvol && strcmp(m->vol[i].disk, k->disk); i++)
		;
	if (i == (int)m->nvol || kept_of(k, m, &keys) < 0 || keeps_it(k, &keys))
		return 0;
	if ((ret = opens(k, m, &yes)) < 0 || !yes)
		return ret;
	memset(&v, 0, sizeof(v));
	snprintf(v.disk, sizeof(v.disk), "%s", k->disk);
	memcpy(v.sha256, m->vol[i].sha256, sizeof(v.sha256));
	if ((j = backup_keys_find(&keys, k->disk)) >= 0)
		log_warn("%s: the key kept with backup %s for %s does not open its file: replaced by the "
			 "volume's, which does", k->gdir, m->id, k->disk);
	if (key_seal_x25519(k->sk.pk, k->key, v.sealed) < 0)
		return virt_fail(k->h, -EINVAL, "cannot seal the key of %s here", k->disk);
	if (j >= 0)
		keys.vol[j] = v;
	else if (backup_keys_add(&keys, &v) < 0)
		return virt_fail(k->h, -EINVAL, "cannot keep the key of %s with backup %s", k->disk, m->id);
	if ((ret = backup_keys_encode(&keys, &text, &len, why, sizeof(why))) < 0)
		return virt_fail(k->h, ret, "the keys kept with backup %s: %s", m->id, why);
	backup_file_name(m->id, "keys", name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", k->gdir, name);
	if ((ret = atomic_write_file(path, text, len, 0600)) < 0)
		virt_fail(k->h, ret, "%s: %s", path, strerror(-ret));
	else
		(*kept)++;
	free(text);
	return ret;
}

int backup_keep_key(struct virt_host *h, const char *gdir, const struct backup_entry *e, size_t n,
		    const char *skip, const char *disk, const uint8_t key[KEY_SEAL_KEY_BYTES],
		    unsigned *kept)
{
	struct keeping k = { .h = h, .gdir = gdir, .disk = disk, .key = key };
	int ret = 0;

	*kept = 0;
	if ((ret = seal_key_load(h->seal_key, 0, &k.sk)) < 0)
		return virt_fail(h, ret, "seal key %s: %s", h->seal_key, strerror(-ret));
	for (size_t i = 0; i < n && !ret; i++)
		if (e[i].intact && !e[i].m.incremental && strcmp(e[i].m.id, skip))
			ret = keep_with(&k, &e[i].m, kept);
	seal_key_wipe(&k.sk);
	return ret;
}
