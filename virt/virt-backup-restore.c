/* Restoring a shut-off guest's data volumes from a backup chain
 * (virt/virt-backup.h). Every link's signature, trust and file SHA-256 are
 * checked first; then qemu-img reads the chain (the full at the bottom,
 * each incremental over the one before, named explicitly so that no backing
 * file a header names is ever opened) into one new qcow2 per volume in the
 * backup directory; only then is each volume replaced through libvirt: the
 * old one deleted, a new one of the same name and capacity created and the
 * rebuilt file uploaded. The guest's checkpoints go (their bitmaps are not
 * in the new volumes), so the next backup is a full. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "virt/virt-backup-internal.h"
#include "virt/virt-internal.h"

extern char **environ;

struct restoring {
	struct virt_host *h;
	const char *guest;
	char gdir[PATH_MAX];
	struct backup_entry *e;
	size_t n, *chain, len;
};

/* json: of the chain's files for volume disk, top first, each link's backing
 * the one below it and the full's none. */
static char *chain_json(const struct restoring *r, const char *disk)
{
	json_t *below = json_null(), *node = NULL;
	char name[BACKUP_FILE_MAX], path[PATH_MAX], *text;

	for (size_t k = 0; k < r->len; k++) {
		backup_volume_file(r->e[r->chain[k]].m.id, disk, name, sizeof(name));
		if (snprintf(path, sizeof(path), "%s/%s", r->gdir, name) >= (int)sizeof(path)) {
			json_decref(below);
			return NULL;
		}
		node = json_pack("{s:s, s:{s:s, s:s}, s:o}", "driver", "qcow2", "file", "driver", "file",
				 "filename", path, "backing", below);
		if (!node)
			return NULL;
		below = node;
	}
	text = json_dumps(node, JSON_COMPACT);
	json_decref(node);
	return text;
}

static int run_qemu_img(struct virt_host *h, char *const argv[])
{
	pid_t pid;
	int status, ret = posix_spawnp(&pid, "qemu-img", NULL, NULL, argv, environ);

	if (ret)
		return virt_fail(h, -ret, "qemu-img: %s", strerror(ret));
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return virt_fail(h, -errno, "qemu-img: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return virt_fail(h, -EIO, "qemu-img convert of the chain failed (status %d)", status);
	return 0;
}

static void rebuilt_path(const struct restoring *r, const char *disk, char *buf, size_t len)
{
	if (snprintf(buf, len, "%s/.restore-%s.qcow2", r->gdir, disk) >= (int)len)
		buf[0] = '\0';
}

static int rebuild(struct restoring *r, const char *disk)
{
	char out[PATH_MAX], *spec = chain_json(r, disk), *input;
	int ret;

	if (!spec || asprintf(&input, "json:%s", spec) < 0) {
		free(spec);
		return -ENOMEM;
	}
	free(spec);
	rebuilt_path(r, disk, out, sizeof(out));
	unlink(out);
	char *argv[] = { "qemu-img", "convert", "-q", "-O", "qcow2", "-o", "compat=1.1", input, out, NULL };
	ret = run_qemu_img(r->h, argv);
	free(input);
	return ret;
}

struct file_read {
	int fd;
};

static ssize_t file_read(void *ctx, void *buf, size_t len)
{
	struct file_read *f = ctx;
	ssize_t n;

	while ((n = read(f->fd, buf, len)) < 0 && errno == EINTR)
		;
	return n < 0 ? -errno : n;
}

/* The volume replaced by the rebuilt file (checked: no backing file). */
static int replace(struct restoring *r, const struct backup_volume *v)
{
	char path[PATH_MAX], vol[VIRT_VOL_NAME_MAX], *xml = NULL, err[256] = "";
	uint8_t head[EXPORT_QCOW2_HEAD];
	struct file_read f;
	virStorageVolPtr sv = NULL;
	const char *why;
	struct stat st;
	ssize_t got;
	int ret;

	rebuilt_path(r, v->disk, path, sizeof(path));
	if ((f.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fstat(f.fd, &st) < 0)
		return virt_fail(r->h, -errno, "%s: %s", path, strerror(errno));
	got = pread(f.fd, head, sizeof(head), 0);
	if ((why = export_volume_header_check(head, got > 0 ? (size_t)got : 0))) {
		close(f.fd);
		return virt_fail(r->h, -EBADMSG, "the rebuilt %s: %s", v->disk, why);
	}
	if ((ret = backup_data_vol(r->h, r->guest, v->disk, vol, sizeof(vol))) < 0 ||
	    (ret = virt_vol_delete(r->h, vol)) < 0 ||
	    (ret = virt_xml_volume(vol, v->capacity, "qcow2", NULL, NULL, &xml)) < 0 ||
	    (ret = virt_vol_create(r->h, xml, &sv)) < 0) {
		free(xml);
		close(f.fd);
		return ret;
	}
	free(xml);
	ret = r->h->ops.upload(sv, (uint64_t)st.st_size, file_read, &f, r->h->ops.opaque, err, sizeof(err));
	virStorageVolFree(sv);
	close(f.fd);
	return ret < 0 ? virt_fail(r->h, ret, "writing %s: %s (the backup is intact: restore again)",
				   vol, err[0] ? err : strerror(-ret)) : 0;
}

static int verify_chain(struct restoring *r, const char *id)
{
	struct virt_host *h = r->h;
	ssize_t at = backup_find(r->e, r->n, id);
	int ret;

	if (at < 0)
		return virt_fail(h, -ENOENT, "%s has no backup %s (vm backups %s lists them)", r->guest, id,
				 r->guest);
	if (!(r->chain = calloc(r->n, sizeof(*r->chain))))
		return -ENOMEM;
	if ((ret = backup_chain(r->e, r->n, (size_t)at, r->chain, &r->len, h->err, sizeof(h->err))) < 0)
		return ret;
	for (size_t k = 0; k < r->len; k++)
		if ((ret = backup_verify_files(r->gdir, &r->e[r->chain[k]], h->err, sizeof(h->err))) < 0)
			return ret;
	return 0;
}

/* Whether the volume is LUKS-encrypted (a restore would lose its key). */
static int encrypted(struct restoring *r, const char *disk, bool *yes)
{
	char vol[VIRT_VOL_NAME_MAX], *xml = NULL;
	virStorageVolPtr v;
	int ret;

	if ((ret = backup_data_vol(r->h, r->guest, disk, vol, sizeof(vol))) < 0)
		return ret;
	if (!(v = virt_vol_lookup(r->h, vol)) || !(xml = virStorageVolGetXMLDesc(v, 0)))
		ret = virt_fail_lv(r->h, -EIO, "volume %s", vol);
	*yes = xml && strstr(xml, "<encryption");
	free(xml);
	if (v)
		virStorageVolFree(v);
	return ret;
}

/* The guest's data disks are the backup's, and plain volumes. */
static int same_disks(struct restoring *r, const struct virt_guest *g, const struct backup_manifest *m)
{
	bool luks = false;
	int ret;

	for (unsigned i = 0; i < m->nvol; i++) {
		unsigned j = 0;

		while (j < g->ndata && strcmp(g->data[j], m->vol[i].disk))
			j++;
		if (j == g->ndata)
			return virt_fail(r->h, -EINVAL, "%s has no data disk %s, which backup %s holds",
					 r->guest, m->vol[i].disk, m->id);
		if ((ret = encrypted(r, m->vol[i].disk, &luks)) < 0)
			return ret;
		if (luks)
			return virt_fail(r->h, -ENOTSUP, "not yet: %s's data volume %s is LUKS-encrypted, "
					 "and a restore into it is not done yet", r->guest, m->vol[i].disk);
	}
	return 0;
}

static void refused(struct virt_host *h, int ret)
{
	char why[VIRT_ERR_MAX];

	memcpy(why, h->err, sizeof(why));
	virt_fail(h, ret, "refused, nothing was written: %.*s", (int)sizeof(why) - 40, why);
}

int virt_restore(struct virt_host *h, const char *guest, const char *id,
		 const struct backup_request *req, size_t *links)
{
	struct restoring r = { .h = h, .guest = guest };
	const struct backup_manifest *top;
	char path[PATH_MAX];
	struct virt_guest g;
	virDomainPtr dom;
	int ret;

	if ((ret = virt_guest_get(h, guest, &g)) < 0)
		return ret;
	if (g.state != VIRT_STATE_DEFINED)
		return virt_fail(h, -EBUSY, "%s is %s: stop it first (vm stop %s), a restore replaces its "
				 "data volumes", guest, virt_state_name(g.state), guest);
	if ((ret = backup_guest_dir(req->dir, guest, false, r.gdir, sizeof(r.gdir), h->err, sizeof(h->err))) < 0 ||
	    (ret = backup_list(r.gdir, req->trust, req->ctx, &r.e, &r.n, h->err, sizeof(h->err))) < 0 ||
	    (ret = verify_chain(&r, id)) < 0 ||
	    (ret = same_disks(&r, &g, (top = &r.e[r.chain[r.len - 1]].m))) < 0) {
		refused(h, ret);
		goto cleanup;
	}
	for (unsigned i = 0; i < top->nvol && !ret; i++)
		ret = rebuild(&r, top->vol[i].disk);
	if (ret)
		refused(h, ret);
	for (unsigned i = 0; i < top->nvol && !ret; i++)
		ret = replace(&r, &top->vol[i]);
	if (!ret && (dom = virDomainLookupByName(h->conn, guest))) {
		backup_checkpoints_drop(h, dom, NULL, VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY);
		virDomainFree(dom);
	}
	if (!ret) {
		*links = r.len;
		log_info("guest %s restored from backup %s (%zu link(s))", guest, id, r.len);
	}
	for (unsigned i = 0; r.len && i < top->nvol; i++) {
		rebuilt_path(&r, top->vol[i].disk, path, sizeof(path));
		unlink(path);
	}
cleanup:
	free(r.chain);
	free(r.e);
	return ret;
}
