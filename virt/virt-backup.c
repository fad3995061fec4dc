/* Taking a backup (virt/virt-backup.h). A running guest: libvirt's backup
 * API in push mode, its data disks only, into files in the staging
 * directory (qemu must reach them: the pool's directory, not the private
 * backup directory), with a checkpoint made by the same call; incremental
 * from the newest checkpoint whose backup chain is whole. A shut-off guest:
 * libvirt has no checkpoint for an inactive domain (libvirt 9.0), so each
 * volume is read whole. Either way the files are copied into the backup
 * directory hashing as they go, then the manifest and its signature are
 * written, then older checkpoints are dropped and old backups pruned. */
#include <errno.h>
#include <fcntl.h>
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "virt/virt-backup-internal.h"
#include "virt/virt-export-local.h"
#include "virt/virt-internal.h"
#include "lib/sha256.h"

#define COPY_BLOCK (1 << 20)

struct disk_info {
	char vol[VIRT_VOL_NAME_MAX];
	char target[16];           /* the guest's device name: vdb */
	bool v3;                   /* qcow2 v3: can carry a checkpoint's bitmap */
	char luks[40];             /* LUKS-encrypted: its libvirt secret's uuid; else "" */
	uint64_t capacity, physical;
};

struct taking {
	struct virt_host *h;
	const struct backup_request *r;
	virDomainPtr dom;
	struct virt_guest g;
	struct disk_info d[VIRT_MAX_DATA_DISKS];
	char gdir[PATH_MAX];
	bool running, checkpoint_made, frozen;
};

#define FREEZE_AGENT_S 10 /* the guest agent's answer to a freeze or a thaw */

/* The instant a running backup's point in time is taken, a guest whose
 * agent answers has its filesystems frozen (fsfreeze: written out, then
 * held), so the backup is consistent, not merely crash-consistent. No
 * agent, or one that refuses: crash-consistent, as before. */
static bool freeze(struct taking *t)
{
	virDomainAgentSetResponseTimeout(t->dom, FREEZE_AGENT_S, 0);
	if (virDomainFSFreeze(t->dom, NULL, 0, 0) >= 0)
		return true;
	log_info("backup of %s: no freeze through its guest agent (%s): crash-consistent",
		 t->g.name, virt_lv_error());
	return false;
}

static void thaw(struct taking *t)
{
	for (int i = 0; i < 3; i++)
		if (virDomainFSThaw(t->dom, NULL, 0, 0) >= 0)
			return;
	log_err("backup of %s: its filesystems could not be thawed (%s): thaw them with "
		"'virsh domfsthaw %s'", t->g.name, virt_lv_error(), t->g.name);
}

int backup_luks_uuid(const char *xml, char *uuid, size_t len)
{
	const char *e = strstr(xml, "<encryption"), *u, *q;

	uuid[0] = '\0';
	if (!e)
		return -ENOENT;
	if (strncmp(e, "<encryption format='luks'", 25) || !(u = strstr(e, "<secret type='passphrase' uuid='")) ||
	    !(q = strchr(u + 32, '\'')) || (size_t)(q - u - 32) >= len || q == u + 32 ||
	    strspn(u + 32, "0123456789abcdef-") != (size_t)(q - u - 32))
		return -EINVAL;
	snprintf(uuid, len, "%.*s", (int)(q - u - 32), u + 32);
	return 0;
}

int backup_data_vol(struct virt_host *h, const char *guest, const char *disk, char *buf, size_t len)
{
	char role[8 + VIRT_DISK_NAME_MAX];
	virStorageVolPtr v;

	snprintf(role, sizeof(role), "data-%s", disk);
	if (virt_volume_name(buf, len, guest, role) < 0)
		return -EINVAL;
	if ((v = virt_vol_lookup(h, buf)) ||
	    (virt_volume_name_legacy(buf, len, guest, role) == 0 && (v = virt_vol_lookup(h, buf)))) {
		virStorageVolFree(v);
		return 0;
	}
	return virt_fail(h, -ENOENT, "%s: its data volume %s is missing", guest, disk);
}

/* The target dev of the disk whose source is volume vol, from the domain's XML. */
static int disk_target(const char *xml, const char *vol, char *out, size_t len)
{
	char key[VIRT_VOL_NAME_MAX + 16];
	const char *p, *q;

	snprintf(key, sizeof(key), "volume='%s'", vol);
	if (!(p = strstr(xml, key)) || !(p = strstr(p, "<target dev='")) || !(q = strchr(p + 13, '\'')) ||
	    (size_t)(q - p - 13) >= len)
		return -ENOENT;
	snprintf(out, len, "%.*s", (int)(q - p - 13), p + 13);
	return 0;
}

/* Whether the volume is qcow2 v3 (bitmaps need it): its header when the
 * file is here, else what libvirt's XML says (an encrypted volume's XML
 * shows no <compat>, its header does). */
static bool qcow2_v3(virStorageVolPtr v, const char *vxml)
{
	char *path = virStorageVolGetPath(v);
	uint8_t head[8];
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	bool known = fd >= 0 && pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head) &&
		     !memcmp(head, "QFI\xfb", 4);

	free(path);
	if (fd >= 0)
		close(fd);
	if (known)
		return head[4] == 0 && head[5] == 0 && head[6] == 0 && head[7] >= 3;
	return vxml && strstr(vxml, "<format type='qcow2'/>") && !strstr(vxml, "<compat>0.10</compat>");
}

static int describe_disk(struct taking *t, unsigned i, const char *xml)
{
	struct disk_info *d = &t->d[i];
	virStorageVolPtr v;
	virStorageVolInfo info = { 0 };
	char *vxml = NULL;
	int ret;

	if ((ret = backup_data_vol(t->h, t->g.name, t->g.data[i], d->vol, sizeof(d->vol))) < 0)
		return ret;
	if (disk_target(xml, d->vol, d->target, sizeof(d->target)) < 0)
		return virt_fail(t->h, -ENOENT, "%s does not attach %s", t->g.name, d->vol);
	if (!(v = virt_vol_lookup(t->h, d->vol)))
		return virt_fail_lv(t->h, -ENOENT, "volume %s", d->vol);
	if (virStorageVolGetInfoFlags(v, &info, VIR_STORAGE_VOL_GET_PHYSICAL) < 0 ||
	    !(vxml = virStorageVolGetXMLDesc(v, 0)))
		ret = virt_fail_lv(t->h, -EIO, "volume %s", d->vol);
	if (!ret && backup_luks_uuid(vxml, d->luks, sizeof(d->luks)) == -EINVAL)
		ret = virt_fail(t->h, -ENOTSUP, "%s: an encryption other than LUKS under one libvirt "
				"secret", d->vol);
	d->capacity = info.capacity;
	d->physical = info.allocation;
	d->v3 = qcow2_v3(v, vxml);
	free(vxml);
	virStorageVolFree(v);
	return ret;
}

static int describe(struct taking *t, const char *guest)
{
	char *xml;
	int ret;

	if ((ret = virt_guest_get(t->h, guest, &t->g)) < 0)
		return ret;
	if (!t->g.ndata)
		return virt_fail(t->h, -ENOENT, "%s has no data volumes: nothing to back up", guest);
	if (t->g.state != VIRT_STATE_RUNNING && t->g.state != VIRT_STATE_DEFINED)
		return virt_fail(t->h, -EBUSY, "%s is %s: back it up running or shut off", guest,
				 virt_state_name(t->g.state));
	t->running = t->g.state == VIRT_STATE_RUNNING;
	if (!(t->dom = virDomainLookupByName(t->h->conn, guest)) ||
	    !(xml = virDomainGetXMLDesc(t->dom, VIR_DOMAIN_XML_INACTIVE)))
		return virt_fail_lv(t->h, -EIO, "the definition of %s", guest);
	for (unsigned i = 0; i < t->g.ndata && !ret; i++)
		ret = describe_disk(t, i, xml);
	free(xml);
	return ret;
}

/* The names of the guest's checkpoints that backups made; *n of them. */
int backup_checkpoints(struct virt_host *h, virDomainPtr dom, char ***out, size_t *n)
{
	virDomainCheckpointPtr *cps = NULL;
	int count = virDomainListAllCheckpoints(dom, &cps, 0);

	*out = NULL;
	*n = 0;
	if (count < 0)
		return virt_fail_lv(h, -EIO, "the checkpoints of %s", virDomainGetName(dom));
	*out = calloc((size_t)count + 1, sizeof(char *));
	for (int i = 0; i < count; i++) {
		const char *name = virDomainCheckpointGetName(cps[i]);

		if (*out && name && !strncmp(name, BACKUP_CHECKPOINT_PREFIX, strlen(BACKUP_CHECKPOINT_PREFIX)) &&
		    ((*out)[*n] = strdup(name)))
			(*n)++;
		virDomainCheckpointFree(cps[i]);
	}
	free(cps);
	return *out ? 0 : -ENOMEM;
}

void backup_checkpoints_free(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

/* Drops every backup checkpoint of dom but keep (NULL: all). */
int backup_checkpoints_drop(struct virt_host *h, virDomainPtr dom, const char *keep, unsigned flags)
{
	char **names;
	size_t n;
	int ret = backup_checkpoints(h, dom, &names, &n);

	for (size_t i = 0; !ret && i < n; i++) {
		virDomainCheckpointPtr cp;

		if (keep && !strcmp(names[i], keep))
			continue;
		cp = virDomainCheckpointLookupByName(dom, names[i], 0);
		if (!cp || virDomainCheckpointDelete(cp, flags) < 0)
			log_warn("backup: checkpoint %s of %s not dropped: %s", names[i],
				 virDomainGetName(dom), virt_lv_error());
		if (cp)
			virDomainCheckpointFree(cp);
	}
	backup_checkpoints_free(names, n);
	return ret;
}

/* Every volume can carry a bitmap (an encrypted one too: restore opens
 * its key from the copy sealed to the node). */
static bool can_checkpoint(const struct taking *t)
{
	for (unsigned i = 0; i < t->g.ndata; i++)
		if (!t->d[i].v3)
			return false;
	return true;
}

static void plan(struct taking *t, const struct backup_entry *e, size_t n, struct backup_manifest *m)
{
	const char *disks[VIRT_MAX_DATA_DISKS];
	char **cps = NULL;
	size_t ncp = 0;
	ssize_t parent = -1;

	memset(m, 0, sizeof(*m));
	backup_next_id(e, n, (int64_t)time(NULL), m->id);
	for (unsigned i = 0; i < t->g.ndata; i++)
		disks[i] = t->g.data[i];
	if (t->running && can_checkpoint(t) && !t->r->full &&
	    backup_checkpoints(t->h, t->dom, &cps, &ncp) == 0)
		parent = backup_parent(e, n, t->g.instance_id, disks, t->g.ndata,
				       (const char *const *)cps, ncp, BACKUP_CHAIN_MAX);
	backup_checkpoints_free(cps, ncp);
	snprintf(m->guest, sizeof(m->guest), "%s", t->g.name);
	snprintf(m->instance_id, sizeof(m->instance_id), "%s", t->g.instance_id);
	snprintf(m->node, sizeof(m->node), "%s", t->r->signer->name);
	m->incremental = parent >= 0;
	if (parent >= 0)
		snprintf(m->parent, sizeof(m->parent), "%s", e[parent].m.id);
	if (t->running && can_checkpoint(t))
		snprintf(m->checkpoint, sizeof(m->checkpoint), BACKUP_CHECKPOINT_PREFIX "%s", m->id);
	m->created = (int64_t)time(NULL);
	m->nvol = t->g.ndata;
	for (unsigned i = 0; i < t->g.ndata; i++) {
		snprintf(m->vol[i].disk, sizeof(m->vol[i].disk), "%s", t->g.data[i]);
		m->vol[i].capacity = t->d[i].capacity;
	}
}

static void staged_path(const struct taking *t, const struct backup_manifest *m, unsigned i,
			char *buf, size_t len)
{
	if (snprintf(buf, len, "%s/.osi-backup-%s-%s.%s.qcow2", t->r->staging ?: t->h->pool_dir,
		     m->guest, m->id, m->vol[i].disk) >= (int)len)
		buf[0] = '\0'; /* libvirt and open refuse "" */
}

static int backup_xml(const struct taking *t, const struct backup_manifest *m, char **bxml, char **cxml)
{
	struct vbuf b = { 0 }, c = { 0 };
	char path[PATH_MAX];

	vbuf_printf(&b, "<domainbackup mode='push'>");
	if (m->incremental)
		vbuf_printf(&b, "<incremental>" BACKUP_CHECKPOINT_PREFIX "%s</incremental>", m->parent);
	vbuf_printf(&b, "<disks>");
	vbuf_printf(&c, "<domaincheckpoint><name>%s</name><disks>", m->checkpoint);
	for (unsigned i = 0; i < m->nvol; i++) {
		staged_path(t, m, i, path, sizeof(path));
		vbuf_printf(&b, "<disk name='");
		vbuf_xml(&b, t->d[i].target);
		vbuf_printf(&b, "' backup='yes' type='file'><target file='");
		vbuf_xml(&b, path);
		vbuf_printf(&b, "'>");
		if (t->d[i].luks[0]) { /* encrypted like the volume, under its key */
			vbuf_printf(&b, "<encryption format='luks'><secret type='passphrase' uuid='");
			vbuf_xml(&b, t->d[i].luks);
			vbuf_printf(&b, "'/></encryption>");
		}
		vbuf_printf(&b, "</target><driver type='qcow2'/></disk>");
		vbuf_printf(&c, "<disk name='");
		vbuf_xml(&c, t->d[i].target);
		vbuf_printf(&c, "' checkpoint='bitmap'/>");
	}
	vbuf_printf(&b, "</disks></domainbackup>");
	vbuf_printf(&c, "</disks></domaincheckpoint>");
	if (vbuf_take(&b, bxml) < 0 || vbuf_take(&c, cxml) < 0)
		return -ENOMEM;
	return 0;
}

/* Waits for the backup job to end; 0 only when libvirt says it completed. */
static int wait_job(struct taking *t)
{
	virDomainJobInfo ji;
	virTypedParameterPtr p = NULL;
	int type = 0, np = 0;
	struct timespec pause = { 0, 100 * 1000 * 1000 };

	for (;;) {
		if (virDomainGetJobInfo(t->dom, &ji) < 0)
			return virt_fail_lv(t->h, -EIO, "the backup job of %s", t->g.name);
		if (ji.type == VIR_DOMAIN_JOB_NONE)
			break;
		nanosleep(&pause, NULL);
	}
	if (virDomainGetJobStats(t->dom, &type, &p, &np, VIR_DOMAIN_JOB_STATS_COMPLETED) < 0)
		return virt_fail_lv(t->h, -EIO, "the backup job of %s", t->g.name);
	virTypedParamsFree(p, np);
	return type == VIR_DOMAIN_JOB_COMPLETED ? 0 :
	       virt_fail(t->h, -EIO, "the backup job of %s did not complete (libvirt's job type %d)",
			 t->g.name, type);
}

static void unstage(struct taking *t, const struct backup_manifest *m)
{
	char path[PATH_MAX];

	for (unsigned i = 0; i < m->nvol; i++) {
		staged_path(t, m, i, path, sizeof(path));
		unlink(path);
	}
}

static int push_backup(struct taking *t, const struct backup_manifest *m)
{
	char *bxml = NULL, *cxml = NULL;
	int ret;

	unstage(t, m);
	if ((ret = backup_xml(t, m, &bxml, &cxml)) < 0)
		return ret;
	/* An encrypted target's new LUKS header (virt_luks_timing_retry): a
	 * failed begin made nothing, so a few tries. */
	for (unsigned i = 0; i < VIRT_LUKS_TRIES; i++) {
		bool frozen = freeze(t);

		ret = virDomainBackupBegin(t->dom, bxml, *m->checkpoint ? cxml : NULL, 0);
		if (ret < 0)
			virt_fail_lv(t->h, -EIO, "backup of %s", t->g.name);
		if (frozen)
			thaw(t);
		if (ret == 0) {
			t->frozen = frozen;
			t->checkpoint_made = *m->checkpoint;
			break;
		}
		ret = -EIO;
		unstage(t, m);
		if (!virt_luks_timing_retry(i, virt_luks_timing(t->h->err)))
			break;
		log_warn("backup of %s: %s; trying again", t->g.name, t->h->err);
	}
	free(bxml);
	free(cxml);
	return ret ? ret : wait_job(t);
}

struct copying {
	int fd;
	struct sha256 *st;
	uint64_t total;
};

static int copy_sink(void *ctx, const void *buf, size_t len)
{
	struct copying *c = ctx;
	const char *p = buf;

	sha256_update(c->st, buf, len);
	c->total += len;
	while (len) {
		ssize_t w = write(c->fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* The staged file of volume i pushed through the sink, then removed. */
static int from_staged(struct taking *t, const struct backup_manifest *m, unsigned i, struct copying *c)
{
	char path[PATH_MAX], *buf = malloc(COPY_BLOCK);
	int fd, ret = 0;
	ssize_t got;

	staged_path(t, m, i, path, sizeof(path));
	if (!buf || (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		ret = buf ? virt_fail(t->h, -errno, "%s: %s", path, strerror(errno)) : -ENOMEM;
		free(buf);
		return ret;
	}
	while (!ret && (got = read(fd, buf, COPY_BLOCK)) > 0)
		ret = copy_sink(c, buf, (size_t)got);
	if (!ret && got < 0)
		ret = -errno;
	close(fd);
	free(buf);
	unlink(path);
	return ret ? virt_fail(t->h, ret, "copying %s: %s", path, strerror(-ret)) : 0;
}

/* A shut-off guest's volume i, read whole (its file when it is here). */
static int from_volume(struct taking *t, unsigned i, struct copying *c)
{
	virStorageVolPtr v = virt_vol_lookup(t->h, t->d[i].vol);
	char err[256] = "";
	int ret;

	if (!v)
		return virt_fail_lv(t->h, -ENOENT, "volume %s", t->d[i].vol);
	ret = t->h->ops.download == virt_default_download
	      ? virt_export_local_read(v, t->d[i].physical, copy_sink, c, err, sizeof(err)) : -ENOTSUP;
	if (ret == -ENOTSUP)
		ret = t->h->ops.download(v, copy_sink, c, t->h->ops.opaque, err, sizeof(err));
	virStorageVolFree(v);
	return ret ? virt_fail(t->h, ret, "reading %s: %s", t->d[i].vol, err[0] ? err : strerror(-ret)) : 0;
}

static int take_volume(struct taking *t, struct backup_manifest *m, unsigned i)
{
	struct copying c = { .fd = -1 };
	char name[BACKUP_FILE_MAX], path[PATH_MAX];
	int ret;

	backup_volume_file(m->id, m->vol[i].disk, name, sizeof(name));
	if (snprintf(path, sizeof(path), "%s/%s", t->gdir, name) >= (int)sizeof(path))
		return virt_fail(t->h, -ENAMETOOLONG, "%s: name too long", t->gdir);
	if (!(c.st = sha256_new()))
		return -ENOMEM;
	if ((c.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		sha256_free(c.st);
		return virt_fail(t->h, -errno, "%s: %s", path, strerror(errno));
	}
	ret = t->running ? from_staged(t, m, i, &c) : from_volume(t, i, &c);
	if (!ret && fsync(c.fd) < 0)
		ret = virt_fail(t->h, -errno, "%s: %s", path, strerror(errno));
	close(c.fd);
	if (ret) {
		sha256_free(c.st);
		return ret;
	}
	sha256_hex(c.st, m->vol[i].sha256);
	m->vol[i].bytes = c.total;
	return c.total ? 0 : virt_fail(t->h, -EIO, "%s: empty", path);
}

static void undo(struct taking *t, const struct backup_manifest *m)
{
	char path[PATH_MAX];
	virDomainCheckpointPtr cp;

	for (unsigned i = 0; i < m->nvol; i++) {
		staged_path(t, m, i, path, sizeof(path));
		unlink(path);
	}
	backup_remove(t->gdir, m);
	if (t->checkpoint_made && (cp = virDomainCheckpointLookupByName(t->dom, m->checkpoint, 0))) {
		virDomainCheckpointDelete(cp, 0);
		virDomainCheckpointFree(cp);
	}
}

int backup_prune_store(const char *gdir, unsigned keep, backup_trust_fn trust, void *ctx,
		       size_t *pruned, char *err, size_t errlen)
{
	struct backup_entry *e = NULL;
	bool *remove;
	size_t n;
	int ret = backup_list(gdir, trust, ctx, &e, &n, err, errlen);

	*pruned = 0;
	if (ret)
		return ret;
	if (!(remove = calloc(n + 1, sizeof(*remove)))) {
		free(e);
		return -ENOMEM;
	}
	backup_prune(e, n, keep, remove);
	for (size_t i = 0; i < n; i++)
		if (remove[i] && backup_remove(gdir, &e[i].m) == 0) {
			log_info("backup %s of %s pruned (keep %u)", e[i].m.id, e[i].m.guest, keep);
			(*pruned)++;
		}
	free(remove);
	free(e);
	return 0;
}

static int prune(struct taking *t, size_t *pruned)
{
	return backup_prune_store(t->gdir, t->r->keep, t->r->trust, t->r->ctx, pruned, t->h->err,
				  sizeof(t->h->err));
}

int virt_backup(struct virt_host *h, const char *guest, const struct backup_request *r,
		struct backup_manifest *m, struct backup_outcome *out)
{
	struct taking t = { .h = h, .r = r };
	struct backup_entry *e = NULL;
	size_t n = 0;
	int ret, lock = -1;

	memset(out, 0, sizeof(*out));
	memset(m, 0, sizeof(*m));
	if ((ret = describe(&t, guest)) < 0 ||
	    (ret = backup_guest_dir(r->dir, guest, true, t.gdir, sizeof(t.gdir), h->err, sizeof(h->err))) < 0 ||
	    (ret = backup_lock(t.gdir, &lock, h->err, sizeof(h->err))) < 0 ||
	    (ret = backup_list(t.gdir, r->trust, r->ctx, &e, &n, h->err, sizeof(h->err))) < 0)
		goto cleanup;
	plan(&t, e, n, m);
	if (t.running)
		ret = push_backup(&t, m);
	for (unsigned i = 0; i < m->nvol && !ret; i++)
		ret = take_volume(&t, m, i);
	if (!ret)
		ret = backup_store_manifest(t.gdir, m, r->signer, h->err, sizeof(h->err));
	if (ret) {
		undo(&t, m);
		goto cleanup;
	}
	log_info("backup %s of %s: %s%s%s, %u volume(s)", m->id, guest,
		 m->incremental ? "incremental on " : "full", m->parent, *m->checkpoint ? ", checkpoint" : "",
		 m->nvol);
	if (*m->checkpoint)
		backup_checkpoints_drop(h, t.dom, m->checkpoint, 0);
	if (r->keep)
		prune(&t, &out->pruned);
	out->running = t.running;
	out->frozen = t.frozen;
cleanup:
	backup_unlock(lock);
	free(e);
	if (t.dom)
		virDomainFree(t.dom);
	return ret;
}
