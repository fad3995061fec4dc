#include "virt/virt-move.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "virt/virt-internal.h"

static int find(struct virt_host *h, const char *name, virDomainPtr *dom)
{
	struct virt_guest g;
	int ret = virt_guest_get(h, name, &g); /* ours, or refused */

	if (ret < 0)
		return ret;
	*dom = virDomainLookupByName(h->conn, name);
	return *dom ? 0 : virt_fail_lv(h, -ENOENT, "no guest %s", name);
}

static bool shut_off(virDomainPtr dom)
{
	int state = 0, reason = 0;

	return virDomainGetState(dom, &state, &reason, 0) == 0 && state == VIR_DOMAIN_SHUTOFF;
}

static bool called_off(struct virt_host *h, const char *name)
{
	if (!h->ops.cancelled || !h->ops.cancelled(h->ops.opaque))
		return false;
	virt_fail(h, -ECANCELED, "the move of %s was called off while it shut down", name);
	return true;
}

int virt_move_quiesce(struct virt_host *h, const char *name, unsigned timeout_s)
{
	struct timespec tick = { .tv_nsec = 250 * 1000 * 1000 };
	virDomainPtr dom;
	int ret = find(h, name, &dom);

	if (ret < 0)
		return ret;
	if (called_off(h, name))
		ret = -ECANCELED;
	else if (!shut_off(dom) && virDomainShutdown(dom) < 0)
		ret = virt_fail_lv(h, -EIO, "cannot ask %s to shut down", name);
	for (unsigned i = 0; !ret && !shut_off(dom); i++) {
		if (i >= timeout_s * 4) {
			ret = virt_fail(h, -ETIMEDOUT, "%s did not shut down within %u s; it keeps "
					"running here (stop it, then move it again)", name, timeout_s);
			break;
		}
		if (called_off(h, name)) {
			ret = -ECANCELED;
			break;
		}
		if (i % 40 == 39)
			virDomainShutdown(dom); /* ACPI events can be lost while a guest boots */
		nanosleep(&tick, NULL);
	}
	if (!ret && called_off(h, name)) /* off, but the abort may have given it back */
		ret = -ECANCELED;
	if (!ret && virDomainSetAutostart(dom, 0) < 0)
		ret = virt_fail_lv(h, -EIO, "%s: cannot turn autostart off", name);
	virDomainFree(dom);
	return ret;
}

int virt_move_autostart(struct virt_host *h, const char *name, bool on)
{
	virDomainPtr dom;
	int ret = find(h, name, &dom);

	if (ret < 0)
		return ret;
	if (virDomainSetAutostart(dom, on) < 0)
		ret = virt_fail_lv(h, -EIO, "%s: cannot set autostart", name);
	virDomainFree(dom);
	return ret;
}

int virt_move_undefine(struct virt_host *h, const char *name)
{
	virDomainPtr dom;
	int ret = find(h, name, &dom);

	if (ret < 0)
		return ret;
	if (!shut_off(dom))
		ret = virt_fail(h, -EBUSY, "%s is running here: it is not undefined", name);
	else if (virDomainUndefineFlags(dom, virt_undefine_flags(dom, 0)) < 0)
		ret = virt_fail_lv(h, -EIO, "cannot undefine %s", name);
	virDomainFree(dom);
	return ret;
}

/* Whether vol is G.data.D.qcow2 for this guest and a legal disk D. */
static bool data_volume_of(const char *guest, const char *vol)
{
	size_t n = strlen(guest), len = strlen(vol);
	char disk[VIRT_DISK_NAME_MAX + 1], role[8 + VIRT_DISK_NAME_MAX], want[VIRT_VOL_NAME_MAX];

	if (strncmp(vol, guest, n) || strncmp(vol + n, ".data.", 6) || len < n + 6 + 7 ||
	    len - n - 6 - 6 > VIRT_DISK_NAME_MAX)
		return false;
	snprintf(disk, sizeof(disk), "%.*s", (int)(len - n - 6 - 6), vol + n + 6);
	snprintf(role, sizeof(role), "data-%s", disk);
	return virt_volume_name(want, sizeof(want), guest, role) == 0 && !strcmp(want, vol);
}

/* Whether vn is one of name's volumes: a data volume, its root disk or seed. */
static bool volume_of(const char *name, const char *vn)
{
	char vol[VIRT_VOL_NAME_MAX];

	return data_volume_of(name, vn) ||
	       (virt_volume_name(vol, sizeof(vol), name, "disk") == 0 && !strcmp(vn, vol)) ||
	       (virt_volume_name(vol, sizeof(vol), name, "seed") == 0 && !strcmp(vn, vol));
}

/* A pool libvirt cannot start again (its refresh fails on a file, most
 * likely a volume of name's an import left cut short): name's volume files
 * removed from the pool's directory itself, each with its secret, then the
 * pool started. The count removed, or -errno. */
static int remove_files_of(struct virt_host *h, const char *name, virStoragePoolPtr pool)
{
	DIR *d = opendir(h->pool_dir);
	char uuid[VIRT_UUID_LEN];
	struct dirent *e;
	int count = 0;

	if (!d)
		return virt_fail(h, -errno, "%s: %s", h->pool_dir, strerror(errno));
	while ((e = readdir(d)))
		if (e->d_type == DT_REG && volume_of(name, e->d_name)) {
			virt_secret_of(h, e->d_name, uuid);
			if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
				log_warn("volume %s of %s removed from %s itself: libvirt could not start "
					 "pool %s", e->d_name, name, h->pool_dir, h->pool);
				count++;
				if (uuid[0])
					virt_secret_drop(h, uuid);
			}
		}
	closedir(d);
	if (!virt_pool_restart(pool))
		return virt_fail_lv(h, -EIO, "pool %s does not start again", h->pool);
	return count;
}

/* Each of name's volumes in the pool: removed (remove), or counted, the
 * first one's name into first. The count, or -errno. */
static int each_volume(struct virt_host *h, const char *name, bool remove, char *first, size_t len)
{
	virStoragePoolPtr pool = virStoragePoolLookupByName(h->conn, h->pool);
	virStorageVolPtr *vols = NULL;
	char vol[VIRT_VOL_NAME_MAX];
	int n, count = 0, ret = 0;

	if (!pool)
		return virt_fail_lv(h, -EIO, "pool %s", h->pool);
	virt_pool_refresh(h, pool); /* refused while a volume is made: the list as it stands */
	if ((n = virStoragePoolListAllVolumes(pool, &vols, 0)) < 0) {
		ret = virt_fail_lv(h, -EIO, "listing pool %s", h->pool); /* before the free clears it */
		if (remove && virStoragePoolIsActive(pool) == 0) {
			log_warn("%s", h->err);
			ret = remove_files_of(h, name, pool);
		}
		virStoragePoolFree(pool);
		return ret;
	}
	for (int i = 0; i < n; i++) {
		const char *vn = virStorageVolGetName(vols[i]);
		bool ours = vn && volume_of(name, vn);

		snprintf(vol, sizeof(vol), "%s", vn ? vn : "");
		virStorageVolFree(vols[i]);
		if (!ours)
			continue;
		if (!count++ && first)
			snprintf(first, len, "%s", vol);
		if (!remove)
			continue;
		if (virt_vol_delete(h, vol) < 0 && !ret) /* its secret, if any, goes too */
			ret = virt_fail(h, -EIO, "cannot delete volume %s", vol);
		else
			log_info("volume %s of moved guest %s removed", vol, name);
	}
	free(vols);
	virStoragePoolFree(pool);
	return ret < 0 ? ret : count;
}

int virt_move_volumes_here(struct virt_host *h, const char *name, char *first, size_t len)
{
	int ret = virt_pool_ensure(h); /* a node's first guest finds no pool yet */

	return ret < 0 ? ret : each_volume(h, name, false, first, len);
}

int virt_move_remove_volumes(struct virt_host *h, const char *name, unsigned *removed)
{
	virDomainPtr dom = virDomainLookupByName(h->conn, name);
	int ret;

	*removed = 0;
	if (dom) {
		virDomainFree(dom);
		return virt_fail(h, -EBUSY, "a guest named %s is defined here: its volumes stay", name);
	}
	ret = each_volume(h, name, true, NULL, 0);
	if (ret >= 0)
		*removed = (unsigned)ret, ret = 0;
	if (virt_lease_release(h, name) < 0 && !strstr(h->err, "no network") && !ret)
		log_warn("%s", h->err);
	if (!ret)
		h->err[0] = '\0';
	return ret;
}
