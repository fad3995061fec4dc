/* Export of a guest through libvirt (virt/virt-export.h; the import is
 * virt-import.c). The volumes travel through h->ops' download stream, except
 * that an export reads a volume's file itself when libvirt's dir pool is on
 * this machine (virt/virt-export-local.h). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "lib/ledger.h"
#include "lib/log.h"
#include "lib/units.h"
#include "virt/virt-export.h"
#include "virt/virt-export-local.h"
#include "virt/virt-internal.h"
#include "lib/sha256.h"

/* libarchive's default writes 10 KiB at a time; the last block stays unpadded. */
#define EXPORT_WRITE_BLOCK (1 << 20)

struct hashing {
	struct sha256 *st;
	uint64_t total, limit;
	struct archive *a;
};

static void hex_digest(struct hashing *x, char out[65])
{
	sha256_hex(x->st, out);
	x->st = NULL;
}

int virt_data_vol_name(struct virt_host *h, const char *guest, const char *disk, char *buf,
		       size_t len, bool exist)
{
	char role[8 + VIRT_DISK_NAME_MAX];
	virStorageVolPtr v;

	snprintf(role, sizeof(role), "data-%s", disk);
	if (virt_volume_name(buf, len, guest, role) < 0)
		return -EINVAL;
	if (!exist || (v = virt_vol_lookup(h, buf)) != NULL) {
		if (exist)
			virStorageVolFree(v);
		return 0;
	}
	if (virt_volume_name_legacy(buf, len, guest, role) < 0 || !(v = virt_vol_lookup(h, buf)))
		return -ENOENT;
	virStorageVolFree(v);
	return 0;
}

/* The value of attr in the first element that begins with tag, after from. */
static void xml_attr(const char *xml, const char *tag, const char *attr, char *out, size_t len)
{
	const char *p = strstr(xml, tag), *q;
	char key[32];

	out[0] = '\0';
	snprintf(key, sizeof(key), " %s='", attr);
	if (!p || !(p = strstr(p, key)) || !(q = strchr(p + strlen(key), '\'')))
		return;
	p += strlen(key);
	snprintf(out, len, "%.*s", (int)(q - p), p);
}

static int describe_net(struct virt_host *h, const char *name, struct export_manifest *m)
{
	virDomainPtr dom = virDomainLookupByName(h->conn, name);
	char *xml = dom ? virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE) : NULL;
	const char *ifc;

	if (dom)
		virDomainFree(dom);
	if (!xml)
		return virt_fail_lv(h, -EIO, "the definition of %s", name);
	ifc = strstr(xml, "<interface type=");
	strcpy(m->net, "none");
	if (ifc) {
		xml_attr(ifc, "<mac", "address", m->mac, sizeof(m->mac));
		if (!strncmp(ifc, "<interface type='user'", 22)) {
			strcpy(m->net, "user");
		} else if (!strncmp(ifc, "<interface type='bridge'", 24)) {
			strcpy(m->net, "bridge");
			xml_attr(ifc, "<source", "bridge", m->net_source, sizeof(m->net_source));
		} else if (!strncmp(ifc, "<interface type='network'", 25)) {
			xml_attr(ifc, "<source", "network", m->net_source, sizeof(m->net_source));
			strcpy(m->net, strcmp(m->net_source, VIRT_FABRIC_NETWORK) ? "network" : "fabric");
		}
	}
	free(xml);
	return 0;
}

static int vol_info(struct virt_host *h, const char *vol, uint64_t *capacity, uint64_t *physical)
{
	virStorageVolPtr v = virt_vol_lookup(h, vol);
	virStorageVolInfo info;
	int ok;

	if (!v)
		return virt_fail(h, -ENOENT, "no volume %s", vol);
	ok = virStorageVolGetInfoFlags(v, &info, VIR_STORAGE_VOL_GET_PHYSICAL) == 0;
	virStorageVolFree(v);
	if (!ok)
		return virt_fail_lv(h, -EIO, "volume %s", vol);
	*capacity = info.capacity;
	*physical = info.allocation;
	return 0;
}

static int describe(struct virt_host *h, const char *name, const struct export_source *src,
		    struct export_manifest *m)
{
	struct virt_guest g;
	struct virt_image im;
	char vol[VIRT_VOL_NAME_MAX];
	uint64_t phys;
	int ret;

	if ((ret = virt_guest_get(h, name, &g)) < 0)
		return ret;
	if (g.state != VIRT_STATE_DEFINED)
		return virt_fail(h, -EBUSY, "%s is %s: stop it first (vm stop %s), an export reads "
				 "volumes at rest", name, virt_state_name(g.state), name);
	if ((ret = virt_image_get(h, g.base, &im)) < 0)
		return ret;
	snprintf(m->type, sizeof(m->type), "%s", virt_type_name(g.type));
	snprintf(m->name, sizeof(m->name), "%s", g.name);
	snprintf(m->owner, sizeof(m->owner), "%s", g.owner);
	snprintf(m->instance_id, sizeof(m->instance_id), "%s", g.instance_id);
	snprintf(m->base, sizeof(m->base), "%s", g.base);
	snprintf(m->base_sha256, sizeof(m->base_sha256), "%s", im.sha256);
	snprintf(m->node, sizeof(m->node), "%s", src->node);
	m->vcpus = g.vcpus;
	m->memory_bytes = g.memory_bytes;
	m->created = (int64_t)time(NULL);
	if ((ret = virt_volume_name(vol, sizeof(vol), name, "disk")) < 0 ||
	    (ret = vol_info(h, vol, &m->disk_bytes, &phys)) < 0 || (ret = describe_net(h, name, m)) < 0)
		return ret;
	m->nvol = g.ndata;
	for (unsigned i = 0; i < g.ndata && !ret; i++) {
		snprintf(m->vol[i].disk, sizeof(m->vol[i].disk), "%s", g.data[i]);
		snprintf(m->vol[i].mount, sizeof(m->vol[i].mount), "%s", src->mounts[i] ?: "");
		if (virt_data_vol_name(h, name, g.data[i], vol, sizeof(vol), true) < 0)
			return virt_fail(h, -ENOENT, "%s: its data volume %s is missing", name, g.data[i]);
		ret = vol_info(h, vol, &m->vol[i].capacity, &m->vol[i].bytes);
		if (!ret) /* the ciphertext travels as it is, its key sealed */
			ret = export_keys_seal(h, vol, src, &m->vol[i]);
	}
	m->user_data = strdup(src->user_data ?: "#cloud-config\n");
	return ret ? ret : m->user_data ? 0 : -ENOMEM;
}

/* A chunk this large is hashed in a thread beside its write into the
 * archive (both only read it): the hash and the copy each take one core. */
#define HASH_BESIDE_MIN (1u << 20)

struct hash_job {
	struct sha256 *st;
	const void *buf;
	size_t len;
};

static void *hash_job_run(void *arg)
{
	struct hash_job *j = arg;

	sha256_update(j->st, j->buf, j->len);
	return NULL;
}

static int write_sink(void *ctx, const void *buf, size_t len)
{
	struct hashing *x = ctx;
	struct hash_job j = { x->st, buf, len };
	pthread_t t;
	bool beside;
	la_ssize_t n;

	if (x->total + len > x->limit)
		return -EFBIG;
	beside = len >= HASH_BESIDE_MIN && pthread_create(&t, NULL, hash_job_run, &j) == 0;
	if (!beside)
		sha256_update(x->st, buf, len);
	n = archive_write_data(x->a, buf, len);
	if (beside)
		pthread_join(t, NULL); /* buf is the reader's again after this */
	x->total += len;
	return n == (la_ssize_t)len ? 0 : -EPIPE; /* the archive's side */
}

static int entry_begin(struct archive *a, const char *name, uint64_t size)
{
	struct archive_entry *e = archive_entry_new();
	int r;

	if (!e)
		return -ENOMEM;
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0600);
	archive_entry_set_size(e, (la_int64_t)size);
	archive_entry_set_mtime(e, time(NULL), 0);
	r = archive_write_header(a, e);
	archive_entry_free(e);
	return r == ARCHIVE_OK ? 0 : -EIO;
}

static int write_volume(struct virt_host *h, struct archive *a, const char *guest,
			struct export_volume *v)
{
	struct hashing x = { .a = a, .limit = v->bytes };
	char vol[VIRT_VOL_NAME_MAX], entry[EXPORT_VOLUME_ENTRY_MAX], err[256] = "";
	virStorageVolPtr sv;
	int ret;

	if (virt_data_vol_name(h, guest, v->disk, vol, sizeof(vol), true) < 0 || !(sv = virt_vol_lookup(h, vol)))
		return virt_fail(h, -ENOENT, "%s: data volume %s vanished", guest, v->disk);
	export_volume_entry(v, entry, sizeof(entry));
	ret = (x.st = sha256_new()) ? entry_begin(a, entry, v->bytes) : -ENOMEM;
	if (!ret) /* the file itself when it is here, else libvirt's stream */
		ret = h->ops.download == virt_default_download
		      ? virt_export_local_read(sv, v->bytes, write_sink, &x, err, sizeof(err)) : -ENOTSUP;
	if (ret == -ENOTSUP)
		ret = h->ops.download(sv, write_sink, &x, h->ops.opaque, err, sizeof(err));
	virStorageVolFree(sv);
	if (ret == -EPIPE) {
		sha256_free(x.st);
		return virt_fail(h, -EIO, "writing the archive of %s: %s", vol,
				 archive_error_string(a) ?: "failed");
	}
	if (ret < 0) {
		sha256_free(x.st);
		return virt_fail(h, ret, "reading %s: %s", vol, err[0] ? err : strerror(-ret));
	}
	if (x.total != v->bytes)
		ret = virt_fail(h, -EIO, "reading %s: %llu bytes where libvirt said %llu", vol,
				(unsigned long long)x.total, (unsigned long long)v->bytes);
	hex_digest(&x, v->sha256);
	return ret;
}

static int write_small(struct archive *a, const char *name, const char *text, size_t len)
{
	int ret = entry_begin(a, name, len);

	if (!ret && archive_write_data(a, text, len) != (la_ssize_t)len)
		ret = -EIO;
	return ret;
}

static int write_tail(struct virt_host *h, struct archive *a, const struct export_source *src,
		      const struct export_manifest *m)
{
	char *text = NULL, *sig = NULL, why[256];
	size_t len, slen;
	int ret = export_manifest_encode(m, &text, &len, why, sizeof(why));

	if (ret)
		return virt_fail(h, ret, "the manifest: %s", why);
	ret = export_sign(src->signer, text, len, &sig, &slen);
	if (!ret)
		ret = write_small(a, EXPORT_MANIFEST_ENTRY, text, len);
	if (!ret)
		ret = write_small(a, EXPORT_SIG_ENTRY, sig, slen);
	free(text);
	free(sig);
	return ret ? virt_fail(h, ret, "writing the manifest: %s", archive_error_string(a) ?: strerror(-ret)) : 0;
}

/* Writes to a file or a pipe: a pipe nobody reads for EXPORT_STREAM_IDLE_S
 * ends the export, so a mover that stops taking it cannot keep the root
 * helper (and the guest stopped) forever. */
struct out {
	int fd;
	bool file;                /* a file is written back as it goes */
	uint64_t written, synced;
};

#define WRITEBACK (32ull << 20) /* the closing fsync then waits for little */

static la_ssize_t fd_write(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct out *o = ctx;
	struct pollfd pf = { .fd = o->fd, .events = POLLOUT };
	ssize_t n;
	int r;

	while ((r = poll(&pf, 1, EXPORT_STREAM_IDLE_S * 1000)) < 0 && errno == EINTR)
		;
	if (r == 0) {
		archive_set_error(a, ETIMEDOUT, "the reader took nothing for %d s", EXPORT_STREAM_IDLE_S);
		return -1;
	}
	while ((n = write(pf.fd, buf, len)) < 0 && errno == EINTR)
		;
	if (n < 0)
		archive_set_error(a, errno, "%s", errno == EPIPE ? "the reader went away" : strerror(errno));
	if (n > 0 && o->file && (o->written += (uint64_t)n) - o->synced >= WRITEBACK) {
		sync_file_range(o->fd, (off_t)o->synced, (off_t)(o->written - o->synced),
				SYNC_FILE_RANGE_WRITE);
		o->synced = o->written;
	}
	return n;
}

/* The archive into fd, a file (then synced) or a pipe; *bytes: its length. */
static int write_archive_fd(struct virt_host *h, const struct export_source *src, int fd,
			    struct export_manifest *m, uint64_t *bytes)
{
	struct archive *a = archive_write_new();
	struct stat st;
	struct out o = { .fd = fd, .file = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) };
	int ret = 0;

	if (!a)
		return virt_fail(h, -ENOMEM, "out of memory");
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, EXPORT_WRITE_BLOCK) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open(a, &o, NULL, fd_write, NULL) != ARCHIVE_OK)
		ret = virt_fail(h, -EIO, "the archive: %s", archive_error_string(a));
	for (unsigned i = 0; i < m->nvol && !ret; i++)
		ret = write_volume(h, a, m->name, &m->vol[i]);
	if (!ret)
		ret = write_tail(h, a, src, m);
	if (!ret && archive_write_close(a) != ARCHIVE_OK)
		ret = virt_fail(h, -EIO, "the archive: %s", archive_error_string(a));
	if (!ret && o.file && fsync(fd) < 0)
		ret = virt_fail(h, -errno, "the archive: %s", strerror(errno));
	if (!ret)
		*bytes = (uint64_t)archive_filter_bytes(a, -1);
	archive_write_free(a);
	return ret;
}

static int write_archive(struct virt_host *h, const struct export_source *src, const char *tmp,
			 struct export_manifest *m)
{
	uint64_t bytes;
	int ret, fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return virt_fail(h, -errno, "%s: %s", tmp, strerror(errno));
	ret = write_archive_fd(h, src, fd, m, &bytes);
	if (close(fd) < 0 && !ret)
		ret = virt_fail(h, -EIO, "%s: close: %s", tmp, strerror(errno));
	return ret;
}

/* Room for the archive where it is written: its volumes' files and 1 MiB
 * (headers, manifest, user-data). A full disk is refused with the figures
 * before a byte is written rather than met as ENOSPC partway. */
static int export_room(struct virt_host *h, const char *tmp, const struct export_manifest *m)
{
	char dir[PATH_MAX], a[32], b[32];
	uint64_t need = 1ull << 20, avail;
	struct statvfs v;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", tmp);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	for (unsigned i = 0; i < m->nvol; i++)
		need += m->vol[i].bytes;
	if (statvfs(dir, &v) < 0)
		return virt_fail(h, -errno, "%s: %s", dir, strerror(errno));
	avail = (uint64_t)v.f_bavail * v.f_frsize;
	if (avail >= need)
		return 0;
	format_size(avail, a, sizeof(a));
	format_size(need, b, sizeof(b));
	return virt_fail(h, -ENOSPC, "%s has %s free, the archive of %s needs about %s: nothing was "
			 "written", dir, a, m->name, b);
}

int virt_export_describe(struct virt_host *h, const char *name, const struct export_source *src,
			 struct export_manifest *m)
{
	int ret;

	memset(m, 0, sizeof(*m));
	ret = describe(h, name, src, m);
	if (ret)
		export_manifest_free(m);
	return ret;
}

int virt_export_stream(struct virt_host *h, const struct export_source *src, int fd,
		       struct export_manifest *m, uint64_t *bytes)
{
	int ret = write_archive_fd(h, src, fd, m, bytes);

	if (!ret)
		log_info("guest %s exported into a stream: %u data volume(s), %llu bytes", m->name,
			 m->nvol, (unsigned long long)*bytes);
	return ret;
}

int virt_export(struct virt_host *h, const char *name, const struct export_source *src,
		const char *path, struct export_manifest *m)
{
	char tmp[PATH_MAX];
	int ret;

	memset(m, 0, sizeof(*m));
	if (snprintf(tmp, sizeof(tmp), "%s.part", path) >= (int)sizeof(tmp))
		return virt_fail(h, -ENAMETOOLONG, "%s: name too long", path);
	ret = describe(h, name, src, m);
	if (!ret)
		ret = export_room(h, tmp, m);
	if (!ret) {
		ret = write_archive(h, src, tmp, m);
		if (!ret && rename(tmp, path) < 0)
			ret = virt_fail(h, -errno, "%s: %s", path, strerror(errno));
		if (ret && ret != -EEXIST) /* the .part of another export is not ours */
			unlink(tmp);
	}
	if (ret)
		export_manifest_free(m);
	else
		log_info("guest %s exported to %s: %u data volume(s)", name, path, m->nvol);
	return ret;
}

