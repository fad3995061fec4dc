/* What a restore that did not finish left, put back (virt/virt-backup.h):
 * each of the shut-off guest's data volumes with a kept file renamed back
 * over its name, the old key its key file holds set back in its secret,
 * the pool refreshed. Everything is checked for every volume before
 * anything changes; a leftover is removed only once what it protects is
 * back (the kept file by the rename itself, a key file once its key is in
 * the secret). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/seal-key.h"
#include "virt/virt-backup-internal.h"
#include "virt/virt-internal.h"

struct volume_left {
	char vol[VIRT_VOL_NAME_MAX];
	char secret[VIRT_UUID_LEN];
	struct backup_aside a;
	struct backup_aside_left l;
	bool keyed;                          /* key is the old one, to set back */
	uint8_t key[KEY_SEAL_KEY_BYTES];
};

struct putting {
	struct virt_host *h;
	const char *guest;
	struct volume_left v[VIRT_MAX_DATA_DISKS];
	unsigned n;
	struct seal_key sk;
	bool sk_loaded;
};

/* Whether something of a restore is left in the pool for volume vol. */
static bool left_for(struct putting *p, const char *vol)
{
	struct backup_aside a;
	struct stat st;

	return backup_aside_names(p->h->pool_dir, vol, &a) == 0 &&
	       (lstat(a.kept, &st) == 0 || lstat(a.keyf, &st) == 0);
}

/* The volume of disk: the one libvirt has, else the name (current scheme,
 * then the old one) under which something is left in the pool. */
static int volume_of(struct putting *p, const char *disk, char *vol, size_t len)
{
	char role[8 + VIRT_DISK_NAME_MAX];

	if (backup_data_vol(p->h, p->guest, disk, vol, len) == 0)
		return 0;
	snprintf(role, sizeof(role), "data-%s", disk);
	if (virt_volume_name(vol, len, p->guest, role) < 0)
		return -EINVAL;
	if (left_for(p, vol) ||
	    (virt_volume_name_legacy(vol, len, p->guest, role) == 0 && left_for(p, vol)))
		return 0;
	return -ENOENT;
}

int backup_leftovers(struct virt_host *h, const char *guest, const struct virt_guest *g)
{
	struct putting p = { .h = h, .guest = guest };
	char vol[VIRT_VOL_NAME_MAX];
	struct backup_aside a;
	int ret;

	for (unsigned j = 0; j < g->ndata; j++)
		if (volume_of(&p, g->data[j], vol, sizeof(vol)) == 0 &&
		    backup_aside_names(h->pool_dir, vol, &a) == 0 &&
		    (ret = backup_aside_refuse(&a, guest, h->err, sizeof(h->err))) < 0)
			return ret;
	return 0;
}

/* Whether key opens the file that will be the volume's (the kept one if
 * left, else the one under its name); from names where the key is. */
static int key_fits(struct putting *p, struct volume_left *v, const char *from)
{
	const char *path = v->l.kept ? v->a.kept : v->a.path;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), code = -1, ret;
	char why[VIRT_ERR_MAX];

	if (fd < 0)
		return virt_fail(p->h, -errno, "%s: %s", path, strerror(errno));
	ret = backup_key_check(p->h, fd, v->key, &code);
	close(fd);
	if (ret < 0) {
		memcpy(why, p->h->err, sizeof(why));
		return virt_fail(p->h, ret, "%s: %.300s", path, why);
	}
	if (code != 0 && code != 2 && code != 3)
		return virt_fail(p->h, -EKEYREJECTED, "the key %s does not open %s (qemu-img check: "
				 "status %d)", from, path, code);
	return 0;
}

/* The old key left for volume v, opened and checked to open its file. */
static int old_key(struct putting *p, struct volume_left *v)
{
	char from[PATH_MAX + 16];
	int ret;

	virt_secret_of(p->h, v->vol, v->secret);
	if (!p->sk_loaded && (ret = seal_key_load(p->h->seal_key, 0, &p->sk)) < 0)
		return virt_fail(p->h, ret, "seal key %s: %s (it opens the old keys left)",
				 p->h->seal_key[0] ? p->h->seal_key : "(none configured)", strerror(-ret));
	p->sk_loaded = true;
	ret = backup_aside_key_open(&v->a, &v->l, v->secret, p->sk.pk, p->sk.sk, v->key, p->h->err,
				    sizeof(p->h->err));
	if (ret == -ENOENT) /* only temporaries cut short: removed once it is back */
		return 0;
	if (ret < 0)
		return ret;
	v->keyed = true;
	snprintf(from, sizeof(from), "kept in %s", v->l.keyf ? v->a.keyf : v->l.tmp[0]);
	return key_fits(p, v, from);
}

/* A kept file with no old key left to set back goes back under the key
 * the volume's secret holds now: when it is LUKS-encrypted, that key must
 * open it (a restore that changed the key and lost its key file would
 * otherwise leave a volume nothing opens). */
static int secret_fits(struct putting *p, struct volume_left *v)
{
	uint8_t head[36];
	char from[64 + VIRT_UUID_LEN];
	int fd = open(v->a.kept, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), ret;
	ssize_t got = fd < 0 ? -1 : pread(fd, head, sizeof(head), 0);

	if (fd >= 0)
		close(fd);
	if (got < (ssize_t)sizeof(head) || memcmp(head, "QFI\xfb", 4) ||
	    !(head[32] | head[33] | head[34] | head[35]))
		return 0; /* plain, or not a qcow2 the volume's key could open: as it was */
	virt_secret_of(p->h, v->vol, v->secret);
	if (!v->secret[0])
		return virt_fail(p->h, -EKEYREJECTED, "%s is LUKS-encrypted, volume %s has no secret "
				 "here to open it with, and no key of the restore is left", v->a.kept,
				 v->vol);
	ret = virt_secret_key(p->h, v->secret, NULL, v->key);
	if (ret == -ENOKEY) { /* kept in libvirt only: no restore could change it (it needs the seal key) */
		log_warn("put back of %s: %s", v->vol, p->h->err);
		return 0;
	}
	if (ret < 0) {
		char why[VIRT_ERR_MAX];

		memcpy(why, p->h->err, sizeof(why));
		return virt_fail(p->h, ret, "no key of the restore is left for %s, and the key of "
				 "secret %s cannot be read to check that it opens it: %.300s", v->a.kept,
				 v->secret, why);
	}
	snprintf(from, sizeof(from), "in secret %s (no key of the restore is left)", v->secret);
	ret = key_fits(p, v, from);
	sodium_memzero(v->key, sizeof(v->key));
	return ret;
}

/* Each data disk's leftovers found and checked; p->n of them have some. */
static int survey(struct putting *p, const struct virt_guest *g)
{
	int ret;

	for (unsigned j = 0; j < g->ndata; j++) {
		struct volume_left *v = &p->v[p->n];

		if ((ret = volume_of(p, g->data[j], v->vol, sizeof(v->vol))) == -ENOENT)
			continue; /* no volume and nothing left under its name */
		if (ret < 0)
			return virt_fail(p->h, ret, "%s: no volume name for disk %s", p->guest, g->data[j]);
		if (backup_aside_names(p->h->pool_dir, v->vol, &v->a) < 0)
			return virt_fail(p->h, -ENAMETOOLONG, "%s: no pool directory", v->vol);
		if ((ret = backup_aside_left(&v->a, &v->l, p->h->err, sizeof(p->h->err))) < 0)
			return ret;
		if (!v->l.kept && !v->l.keyf && !v->l.ntmp)
			continue;
		if ((v->l.keyf || v->l.ntmp) && (ret = old_key(p, v)) < 0)
			return ret;
		if (v->l.kept && !v->keyed && (ret = secret_fits(p, v)) < 0)
			return ret;
		p->n++;
	}
	return 0;
}

/* Volume v as it was before the restore: its old file under its name, then
 * its old key in its secret; each leftover removed once that is done. */
static int put_one(struct putting *p, struct volume_left *v)
{
	int ret;

	if (v->l.kept && (ret = backup_aside_put_back(&v->a)) < 0)
		return virt_fail(p->h, ret, "%s: renaming %s back over %s: %s (it stays)", v->vol,
				 v->a.kept, v->a.path, strerror(-ret));
	if (!v->keyed) { /* any temporary left was cut short: nothing to set back */
		if ((ret = backup_aside_key_drop(&v->a, &v->l)) < 0)
			log_warn("put back of %s: a temporary of %s cut short could not be removed: %s",
				 v->vol, v->a.keyf, strerror(-ret));
		return 0;
	}
	if ((ret = virt_secret_rekey(p->h, v->secret, v->a.path, v->key)) < 0)
		return ret;
	if ((ret = backup_aside_key_drop(&v->a, &v->l)) < 0)
		log_warn("put back of %s: the key is back in secret %s, but %s (or a temporary of it) "
			 "could not be removed: %s", v->vol, v->secret, v->a.keyf, strerror(-ret));
	return 0;
}

/* libvirt's view of the pool re-read (it refuses while a volume of it is
 * being made: said in the log, the volumes are back all the same). */
static void refresh(struct virt_host *h)
{
	virStoragePoolPtr pool = virStoragePoolLookupByName(h->conn, h->pool);

	if (!pool)
		log_warn("put back: pool %s: %s", h->pool, virt_lv_error());
	else if (virt_pool_refresh(h, pool) < 0)
		log_warn("put back: %s: virsh pool-refresh %s", h->err, h->pool);
	if (pool)
		virStoragePoolFree(pool);
}

static int put_all(struct putting *p)
{
	char why[VIRT_ERR_MAX];
	unsigned i;
	int ret = 0;

	for (i = 0; i < p->n && !ret; i++)
		ret = put_one(p, &p->v[i]);
	refresh(p->h);
	if (!ret) {
		for (i = 0; i < p->n; i++)
			log_info("guest %s: data volume %s put back as it was before the restore that did "
				 "not finish%s", p->guest, p->v[i].vol, p->v[i].keyed ? ", under its old key" : "");
		return 0;
	}
	memcpy(why, p->h->err, sizeof(why));
	return virt_fail(p->h, ret, "%u of %u volume(s) put back; %s: what is left stays (run it "
			 "again): %.300s", i - 1, p->n, p->v[i - 1].vol, why);
}

int virt_restore_put_back(struct virt_host *h, const char *guest, const char *dir, unsigned *put)
{
	struct putting p = { .h = h, .guest = guest };
	char gdir[PATH_MAX];
	struct virt_guest g;
	int ret, lock = -1;

	*put = 0;
	if ((ret = virt_guest_get(h, guest, &g)) < 0)
		return ret;
	if (g.state != VIRT_STATE_DEFINED)
		return virt_fail(h, -EBUSY, "%s is %s: stop it first (vm stop %s), its data volumes are "
				 "replaced", guest, virt_state_name(g.state), guest);
	/* one backup or restore of a guest at a time: a restore running now
	 * holds the lock of the guest's backup directory (none: no restore) */
	if ((ret = backup_guest_dir(dir, guest, false, gdir, sizeof(gdir), h->err, sizeof(h->err))) < 0 ||
	    ((ret = backup_lock(gdir, &lock, h->err, sizeof(h->err))) < 0 && ret != -ENOENT))
		return ret;
	if (!h->pool_dir[0])
		ret = virt_fail(h, -EINVAL, "no pool directory: name it (--pool-dir, host.conf's pool_dir)");
	else if ((ret = survey(&p, &g)) < 0) {
		char why[VIRT_ERR_MAX];

		memcpy(why, h->err, sizeof(why));
		virt_fail(h, ret, "refused, nothing was changed or removed: %.*s", (int)sizeof(why) - 48, why);
	} else if ((ret = put_all(&p)) == 0) {
		*put = p.n;
	}
	for (unsigned i = 0; i < VIRT_MAX_DATA_DISKS; i++)
		sodium_memzero(p.v[i].key, sizeof(p.v[i].key));
	if (p.sk_loaded)
		seal_key_wipe(&p.sk);
	backup_unlock(lock);
	return ret;
}
