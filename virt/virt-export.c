/* Export of a guest through libvirt (virt/virt-export.h; the import is
 * virt-import.c). The volumes travel through h->ops' download stream, except
 * that an export reads a volume's file itself when libvirt's dir pool is on
 * this machine (virt/virt-export-local.h). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
#include "lib/sha256-tree.h"

/* Into a pipe, 1 MiB at a time (libarchive's default is 10 KiB), the last
 * block unpadded; into a file, each write as it comes (from the volume's
 * mapping: not copied into a block). */
#define EXPORT_WRITE_BLOCK (1 << 20)

/* Writes to a file or a pipe: a pipe nobody reads for EXPORT_STREAM_IDLE_S
 * ends the export, so a mover that stops taking it cannot keep the root
 * helper (and the guest stopped) forever. Into a file, a write from the
 * volume's mapping (which stays put until every write is done) runs on a
 * thread of its own, two at a time, as qemu-img writes on several. */
struct out_job {
	pthread_t thread;
	bool busy;
	int fd, err;
	const void *buf;
	size_t len;
	off_t off;
};

struct out {
	int fd;
	bool file;                   /* written at offsets, and back as it goes */
	uint64_t written;
	const uint8_t *lent, *lent_end; /* the mapping being written */
	struct out_job job[2];
	unsigned next;
	int err;                     /* the first a job met */
};

static int pwrite_all(int fd, const uint8_t *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

static void *job_run(void *arg)
{
	struct out_job *j = arg;

	j->err = pwrite_all(j->fd, j->buf, j->len, j->off);
	if (!j->err) /* the closing fsync then waits for little */
		sync_file_range(j->fd, j->off, (off_t)j->len, SYNC_FILE_RANGE_WRITE);
	return NULL;
}

static void job_join(struct out *o, struct out_job *j)
{
	if (!j->busy)
		return;
	pthread_join(j->thread, NULL);
	j->busy = false;
	if (j->err && !o->err)
		o->err = j->err;
}

/* Every write done: 0, or the first error. */
static int out_wait(struct out *o)
{
	job_join(o, &o->job[0]);
	job_join(o, &o->job[1]);
	return o->err;
}

static int file_write(struct out *o, const void *buf, size_t len)
{
	struct out_job *j = &o->job[o->next];
	off_t off = (off_t)o->written;

	o->written += len;
	if ((const uint8_t *)buf < o->lent || (const uint8_t *)buf + len > o->lent_end)
		return pwrite_all(o->fd, buf, len, off);
	job_join(o, j);
	*j = (struct out_job){ .fd = o->fd, .buf = buf, .len = len, .off = off };
	o->next ^= 1;
	if (pthread_create(&j->thread, NULL, job_run, j) == 0)
		j->busy = true;
	else
		job_run(j);
	return o->err ? o->err : j->busy ? 0 : j->err; /* a job still running reports at its join */
}

static la_ssize_t fd_write(struct archive *a, void *ctx, const void *buf, size_t len)
{
	struct out *o = ctx;
	struct pollfd pf = { .fd = o->fd, .events = POLLOUT };
	ssize_t n;
	int r;

	if (o->file) {
		if ((r = file_write(o, buf, len)) < 0)
			archive_set_error(a, -r, "%s", strerror(-r));
		return r < 0 ? -1 : (la_ssize_t)len;
	}
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
	return n;
}

struct hashing {
	struct sha256_tree *t;
	uint64_t total, limit;
	struct archive *a;
	struct out *o;
	const uint8_t *map;     /* the volume's file, hashed and written from there */
};

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

	if (!xml)
		virt_fail_lv(h, -EIO, "the definition of %s", name); /* before the free clears it */
	if (dom)
		virDomainFree(dom);
	if (!xml)
		return -EIO;
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
	/* libvirt's error is read before the free, which clears it */
	ok = virStorageVolGetInfoFlags(v, &info, VIR_STORAGE_VOL_GET_PHYSICAL) == 0 ||
	     virt_fail_lv(h, -EIO, "volume %s", vol) == 0;
	virStorageVolFree(v);
	if (!ok)
		return -EIO;
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

/* Bytes from libvirt's stream: a copy is hashed. */
static int write_sink(void *ctx, const void *buf, size_t len)
{
	struct hashing *x = ctx;

	if (x->total + len > x->limit)
		return -EFBIG;
	sha256_tree_update(x->t, buf, len);
	x->total += len;
	return archive_write_data(x->a, buf, len) == (la_ssize_t)len ? 0 : -EPIPE; /* the archive's side */
}

/* The volume's file read into the hash's own pieces, each written while
 * the ones before it are hashed on the other cores: into a pipe (a move's
 * root helper must not die of a file that shrinks under a mapping), or a
 * file that cannot be mapped whole. */
static int write_read(struct hashing *x, int fd, char *err, size_t errlen)
{
	size_t room;
	ssize_t n;
	int ret = 0;

	for (;;) {
		void *buf = sha256_tree_next(x->t, &room);

		if ((n = read(fd, buf, room)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (x->total + (uint64_t)n > x->limit) {
			ret = -EFBIG;
			break;
		}
		if (archive_write_data(x->a, buf, (size_t)n) != n) {
			ret = -EPIPE;
			break;
		}
		sha256_tree_commit(x->t, (size_t)n);
		x->total += (uint64_t)n;
	}
	if (n < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s", strerror(-ret));
	}
	return ret;
}

/* Into a file, the volume's file mapped: each piece hashed there and written
 * from there on two threads (struct out), no copy in this process. */
static int write_mapped(struct hashing *x, int fd)
{
	const uint8_t *map;
	uint64_t off;
	int ret = 0;

	if (!x->limit || x->limit > SIZE_MAX ||
	    (map = mmap(NULL, (size_t)x->limit, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED)
		return -ENOTSUP;
	madvise((void *)map, (size_t)x->limit, MADV_SEQUENTIAL);
	x->map = map;
	x->o->lent = map;
	x->o->lent_end = map + x->limit;
	for (off = 0; off < x->limit && !ret; off += SHA256_TREE_PIECE) {
		size_t n = x->limit - off < SHA256_TREE_PIECE ? (size_t)(x->limit - off) : SHA256_TREE_PIECE;

		sha256_tree_piece(x->t, map + off, n);
		if (archive_write_data(x->a, map + off, n) != (la_ssize_t)n)
			ret = -EPIPE;
		x->total += n;
	}
	return ret;
}

static int write_local(struct hashing *x, int fd, char *err, size_t errlen)
{
	int ret = x->o->file ? write_mapped(x, fd) : -ENOTSUP;

	if (ret == -ENOTSUP)
		ret = write_read(x, fd, err, errlen);
	close(fd);
	return ret;
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

/* Once the hash and every write are done with it; -errno when a write failed. */
static int unmap(struct hashing *x)
{
	int ret = out_wait(x->o);

	if (x->map)
		munmap((void *)x->map, (size_t)x->limit);
	x->map = NULL;
	x->o->lent = x->o->lent_end = NULL;
	return ret;
}

static int write_volume(struct virt_host *h, struct archive *a, struct out *o, const char *guest,
			enum sha256_tree_kind hash, struct export_volume *v)
{
	struct hashing x = { .a = a, .o = o, .limit = v->bytes };
	char vol[VIRT_VOL_NAME_MAX], entry[EXPORT_VOLUME_ENTRY_MAX], err[256] = "";
	virStorageVolPtr sv;
	int ret;

	if (virt_data_vol_name(h, guest, v->disk, vol, sizeof(vol), true) < 0 || !(sv = virt_vol_lookup(h, vol)))
		return virt_fail(h, -ENOENT, "%s: data volume %s vanished", guest, v->disk);
	export_volume_entry(v, entry, sizeof(entry));
	ret = (x.t = sha256_tree_new(hash)) ? entry_begin(a, entry, v->bytes) : -ENOMEM;
	if (!ret) /* the file itself when it is here, else libvirt's stream */
		ret = h->ops.download == virt_default_download ? virt_export_local_open(sv, v->bytes) : -ENOTSUP;
	if (ret >= 0 && x.t)
		ret = write_local(&x, ret, err, sizeof(err));
	if (ret == -ENOTSUP)
		ret = h->ops.download(sv, write_sink, &x, h->ops.opaque, err, sizeof(err));
	virStorageVolFree(sv);
	if (ret == -EPIPE) {
		sha256_tree_free(x.t);
		unmap(&x);
		return virt_fail(h, -EIO, "writing the archive of %s: %s", vol,
				 archive_error_string(a) ?: "failed");
	}
	if (ret < 0) {
		sha256_tree_free(x.t);
		unmap(&x);
		return virt_fail(h, ret, "reading %s: %s", vol, err[0] ? err : strerror(-ret));
	}
	if (x.total != v->bytes)
		ret = virt_fail(h, -EIO, "reading %s: %llu bytes where libvirt said %llu", vol,
				(unsigned long long)x.total, (unsigned long long)v->bytes);
	if (sha256_tree_hex(x.t, v->sha256) < 0 && !ret)
		ret = virt_fail(h, -ENOMEM, "hashing %s: out of memory", vol);
	if (unmap(&x) < 0 && !ret)
		ret = virt_fail(h, o->err, "writing the archive of %s: %s", vol, strerror(-o->err));
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
	    archive_write_set_bytes_per_block(a, o.file ? 0 : EXPORT_WRITE_BLOCK) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open(a, &o, NULL, fd_write, NULL) != ARCHIVE_OK)
		ret = virt_fail(h, -EIO, "the archive: %s", archive_error_string(a));
	if (!ret && m->version != 1 && write_small(a, EXPORT_FORMAT_ENTRY, EXPORT_FORMAT "\n",
						   strlen(EXPORT_FORMAT) + 1))
		ret = virt_fail(h, -EIO, "the archive: %s", archive_error_string(a) ?: "failed");
	for (unsigned i = 0; i < m->nvol && !ret; i++)
		ret = write_volume(h, a, &o, m->name, export_manifest_hash(m), &m->vol[i]);
	if (!ret)
		ret = write_tail(h, a, src, m);
	if (!ret && archive_write_close(a) != ARCHIVE_OK)
		ret = virt_fail(h, -EIO, "the archive: %s", archive_error_string(a));
	if (out_wait(&o) && !ret)
		ret = virt_fail(h, o.err, "the archive: %s", strerror(-o.err));
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

/* A volume's file cut short while it is mapped faults (SIGBUS) where a read
 * would come short: the export ends there, its .part removed, saying so. */
static char bus_part[PATH_MAX];

static void on_bus(int sig)
{
	static const char msg[] = "os-infrastructure: export: a volume's file shrank while it was read "
				  "(SIGBUS); nothing was written\n";

	(void)sig;
	unlink(bus_part);
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1);
}

static int write_archive_guarded(struct virt_host *h, const struct export_source *src, const char *tmp,
				 struct export_manifest *m)
{
	struct sigaction sa = { .sa_handler = on_bus }, old;
	int ret;

	snprintf(bus_part, sizeof(bus_part), "%s", tmp);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	ret = write_archive(h, src, tmp, m);
	sigaction(SIGBUS, &old, NULL);
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
		ret = write_archive_guarded(h, src, tmp, m);
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

