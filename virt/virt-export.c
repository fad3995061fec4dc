/* Export and import of a guest through libvirt (virt/virt-export.h). The
 * volumes travel through h->ops' upload and download streams, except that an
 * export reads a volume's file itself when libvirt's dir pool is on this
 * machine (virt/virt-export-local.h). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "lib/ledger.h"
#include "lib/log.h"
#include "lib/units.h"
#include "virt/virt-export.h"
#include "virt/virt-export-local.h"
#include "virt/virt-internal.h"
#include "virt/virt-sha256.h"

/* libarchive's default writes 10 KiB at a time; the last block stays unpadded. */
#define EXPORT_WRITE_BLOCK (1 << 20)

struct hashing {
	struct virt_sha256 *st;
	uint64_t total, limit;
	struct archive *a;       /* export: written to; import: read from */
	uint8_t head[EXPORT_QCOW2_HEAD]; /* import: the volume's first bytes */
	size_t nhead;
	const char *refused;     /* import: why the header is not acceptable */
};

static void hex_digest(struct hashing *x, char out[65])
{
	virt_sha256_hex(x->st, out);
	x->st = NULL;
}

static int data_vol_name(struct virt_host *h, const char *guest, const char *disk, char *buf,
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
		if (data_vol_name(h, name, g.data[i], vol, sizeof(vol), true) < 0)
			return virt_fail(h, -ENOENT, "%s: its data volume %s is missing", name, g.data[i]);
		ret = vol_info(h, vol, &m->vol[i].capacity, &m->vol[i].bytes);
		if (!ret) /* the ciphertext travels as it is, its key sealed */
			ret = export_keys_seal(h, vol, src, &m->vol[i]);
	}
	m->user_data = strdup(src->user_data ?: "#cloud-config\n");
	return ret ? ret : m->user_data ? 0 : -ENOMEM;
}

static int write_sink(void *ctx, const void *buf, size_t len)
{
	struct hashing *x = ctx;

	if (x->total + len > x->limit)
		return -EFBIG;
	virt_sha256_update(x->st, buf, len);
	x->total += len;
	return archive_write_data(x->a, buf, len) == (la_ssize_t)len ? 0 : -EIO;
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

	if (data_vol_name(h, guest, v->disk, vol, sizeof(vol), true) < 0 || !(sv = virt_vol_lookup(h, vol)))
		return virt_fail(h, -ENOENT, "%s: data volume %s vanished", guest, v->disk);
	export_volume_entry(v, entry, sizeof(entry));
	ret = (x.st = virt_sha256_new()) ? entry_begin(a, entry, v->bytes) : -ENOMEM;
	if (!ret) /* the file itself when it is here, else libvirt's stream */
		ret = h->ops.download == virt_default_download
		      ? virt_export_local_read(sv, v->bytes, write_sink, &x, err, sizeof(err)) : -ENOTSUP;
	if (ret == -ENOTSUP)
		ret = h->ops.download(sv, write_sink, &x, h->ops.opaque, err, sizeof(err));
	virStorageVolFree(sv);
	if (ret < 0) {
		virt_sha256_free(x.st);
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

static int write_archive(struct virt_host *h, const struct export_source *src, const char *tmp,
			 struct export_manifest *m)
{
	struct archive *a = archive_write_new();
	int ret = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0 || !a) {
		ret = virt_fail(h, fd < 0 ? -errno : -ENOMEM, "%s: %s", tmp, strerror(fd < 0 ? errno : ENOMEM));
		goto cleanup;
	}
	if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, EXPORT_WRITE_BLOCK) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		ret = virt_fail(h, -EIO, "%s: %s", tmp, archive_error_string(a));
		goto cleanup;
	}
	for (unsigned i = 0; i < m->nvol && !ret; i++)
		ret = write_volume(h, a, m->name, &m->vol[i]);
	if (!ret)
		ret = write_tail(h, a, src, m);
	if (!ret && archive_write_close(a) != ARCHIVE_OK)
		ret = virt_fail(h, -EIO, "%s: %s", tmp, archive_error_string(a));
	if (!ret && fsync(fd) < 0)
		ret = virt_fail(h, -errno, "%s: %s", tmp, strerror(errno));
cleanup:
	if (a)
		archive_write_free(a);
	if (fd >= 0 && close(fd) < 0 && !ret)
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

static ssize_t hashing_read(void *ctx, void *buf, size_t len)
{
	struct hashing *x = ctx;
	ssize_t n = export_archive_read(x->a, buf, len);
	size_t take;

	if (n > 0 && x->nhead < sizeof(x->head)) {
		take = sizeof(x->head) - x->nhead < (size_t)n ? sizeof(x->head) - x->nhead : (size_t)n;
		memcpy(x->head + x->nhead, buf, take);
		x->nhead += take;
		if (x->nhead == sizeof(x->head) &&
		    (x->refused = export_volume_header_check(x->head, x->nhead)))
			return -1;
	}
	if (n > 0) {
		virt_sha256_update(x->st, buf, (size_t)n);
		x->total += (uint64_t)n;
	}
	return n;
}

/* Nothing of that name may be here: no domain, no data volume. */
static int import_free(struct virt_host *h, const struct export_manifest *m)
{
	struct virt_guest g;
	struct virt_image im;
	char vol[VIRT_VOL_NAME_MAX];

	if (virt_guest_get(h, m->name, &g) == 0)
		return virt_fail(h, -EEXIST, "a guest named %s is defined on this node: destroy it or "
				 "import elsewhere", m->name);
	for (unsigned i = 0; i < m->nvol; i++)
		if (data_vol_name(h, m->name, m->vol[i].disk, vol, sizeof(vol), true) == 0)
			return virt_fail(h, -EEXIST, "data volume %s is already here (kept from an earlier "
					 "%s): remove it with vm data-delete first, or import elsewhere",
					 vol, m->name);
	if (virt_image_get(h, m->base, &im) < 0)
		return virt_fail(h, -ENOENT, "the base image %s is not on this node: import it first "
				 "(image import), the root disk is rebuilt on it", m->base);
	if (strcmp(im.sha256, m->base_sha256))
		return virt_fail(h, -EBADMSG, "the base image %s here has SHA-256 %s, the guest was "
				 "built on %s", m->base, im.sha256, m->base_sha256);
	return 0;
}

/* Room in the pool for the archive's volumes (each as large as its qcow2
 * file in the archive) and IMPORT_SLACK for the root overlay and seed,
 * checked before anything is made: a full disk is refused with the figures
 * rather than met halfway through an upload. */
#define IMPORT_SLACK (16ull << 20)
static int import_room(struct virt_host *h, const struct export_manifest *m)
{
	uint64_t need = IMPORT_SLACK, avail;
	char a[32], b[32], c[32];
	int ret;

	for (unsigned i = 0; i < m->nvol; i++)
		need += m->vol[i].bytes;
	ret = virt_pool_room(h, need, &avail);
	if (ret != -ENOSPC)
		return ret;
	format_size(avail, a, sizeof(a));
	format_size(need - IMPORT_SLACK, b, sizeof(b));
	format_size(IMPORT_SLACK, c, sizeof(c));
	return virt_fail(h, -ENOSPC, "storage pool %s has %s free, %s needs %s (data volumes) + %s "
			 "(root overlay, seed): nothing was defined; free space or choose another node",
			 h->pool, a, m->name, b, c);
}

/* An encrypted volume's key becomes its private secret here before the
 * volume exists; the volume's deletion (on failure) drops it again. */
static int import_secret(struct virt_host *h, const struct identity *id, const struct export_manifest *m,
			 const struct export_volume *v, const char *vol, char uuid[VIRT_UUID_LEN])
{
	uint8_t key[KEY_SEAL_KEY_BYTES];
	char path[PATH_MAX];
	int ret;

	uuid[0] = '\0';
	if (!v->encrypted)
		return 0;
	if (snprintf(path, sizeof(path), "%s/%s", h->pool_dir, vol) >= (int)sizeof(path))
		return virt_fail(h, -ENAMETOOLONG, "%s: path too long", vol);
	if ((ret = export_keys_open(h, id, m->name, v, key)) < 0)
		return ret;
	ret = virt_secret_make(h, path, key, uuid);
	sodium_memzero(key, sizeof(key));
	if (ret == -EOPNOTSUPP)
		ret = virt_fail(h, ret, "%s: this libvirt keeps no secrets, an encrypted volume cannot "
				"be opened here", vol);
	return ret;
}

static int import_volume(struct virt_host *h, struct archive *a, const struct export_manifest *m,
			 const struct identity *id, const struct export_volume *v, bool *made)
{
	struct hashing x = { .a = a };
	char vol[VIRT_VOL_NAME_MAX], sum[65], *xml = NULL, err[256] = "", uuid[VIRT_UUID_LEN] = "";
	virStorageVolPtr sv = NULL;
	int ret;

	if ((ret = export_archive_next(a, v, h->err, sizeof(h->err))) < 0 ||
	    (ret = data_vol_name(h, m->name, v->disk, vol, sizeof(vol), false)) < 0 ||
	    (ret = import_secret(h, id, m, v, vol, uuid)) < 0 ||
	    (ret = virt_xml_volume(vol, v->capacity, "qcow2", NULL, NULL, &xml)) < 0 ||
	    (ret = virt_vol_create(h, xml, &sv)) < 0) {
		free(xml);
		if (uuid[0])
			virt_secret_drop(h, uuid);
		return ret;
	}
	free(xml);
	*made = true;
	ret = (x.st = virt_sha256_new()) ? h->ops.upload(sv, v->bytes, hashing_read, &x, h->ops.opaque,
							 err, sizeof(err)) : -ENOMEM;
	virStorageVolFree(sv);
	if (!x.refused && x.nhead < sizeof(x.head))
		x.refused = export_volume_header_check(x.head, x.nhead);
	if (x.refused) {
		virt_sha256_free(x.st);
		return virt_fail(h, -EBADMSG, "%s: refused, %s", vol, x.refused);
	}
	if (ret < 0) {
		virt_sha256_free(x.st);
		return virt_fail(h, ret, "writing %s: %s", vol, err[0] ? err : strerror(-ret));
	}
	hex_digest(&x, sum);
	if (x.total != v->bytes || strcmp(sum, v->sha256))
		return virt_fail(h, -EBADMSG, "%s: what was written is not what was verified (the "
				 "archive changed during the import)", vol);
	return 0;
}

static void spec_from(struct virt_spec *s, const struct export_manifest *m)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", m->name);
	virt_type_parse(m->type, &s->type);
	snprintf(s->owner, sizeof(s->owner), "%s", m->owner);
	snprintf(s->base, sizeof(s->base), "%s", m->base);
	snprintf(s->instance_id, sizeof(s->instance_id), "%s", m->instance_id);
	snprintf(s->mac, sizeof(s->mac), "%s", m->mac);
	snprintf(s->net_source, sizeof(s->net_source), "%s", m->net_source);
	s->vcpus = m->vcpus;
	s->memory_bytes = m->memory_bytes;
	s->disk_bytes = m->disk_bytes;
	s->user_data = m->user_data;
	s->net = !strcmp(m->net, "user") ? VIRT_NET_USER : !strcmp(m->net, "bridge") ? VIRT_NET_BRIDGE
		 : !strcmp(m->net, "network") ? VIRT_NET_NETWORK : !strcmp(m->net, "fabric")
		 ? VIRT_NET_FABRIC : VIRT_NET_NONE;
	s->ndata = m->nvol;
	for (unsigned i = 0; i < m->nvol; i++) {
		snprintf(s->data[i].name, sizeof(s->data[i].name), "%s", m->vol[i].disk);
		snprintf(s->data[i].mount, sizeof(s->data[i].mount), "%s", m->vol[i].mount);
		s->data[i].bytes = m->vol[i].capacity;
	}
}

/* Off the fabric libvirt picked a MAC at define: the exported one replaces
 * it in the persistent definition, so the guest keeps its MAC. */
static int keep_mac(struct virt_host *h, const char *name, const char *mac)
{
	virDomainPtr dom = virDomainLookupByName(h->conn, name), again = NULL;
	char *xml = dom ? virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE | VIR_DOMAIN_XML_SECURE) : NULL;
	char *ifc = xml ? strstr(xml, "<interface type=") : NULL;
	char *at = ifc ? strstr(ifc, "<mac address='") : NULL;
	int ret = 0;

	if (at && strlen(at + 14) > 17 && at[14 + 17] == '\'') {
		memcpy(at + 14, mac, 17);
		again = virDomainDefineXML(h->conn, xml);
		if (!again)
			ret = virt_fail_lv(h, -EIO, "%s: keeping MAC %s", name, mac);
	}
	if (again)
		virDomainFree(again);
	if (dom)
		virDomainFree(dom);
	free(xml);
	return ret;
}

/* On the fabric the guest takes this node's lease for its name. */
static int define(struct virt_host *h, const struct export_manifest *m)
{
	struct virt_spec s;
	struct virt_guest g;
	struct virt_lease l;
	char why[256];
	int ret;

	spec_from(&s, m);
	if (s.net == VIRT_NET_FABRIC) {
		if ((ret = virt_lease_get(h, s.name, &l, NULL)) < 0)
			return ret;
		snprintf(s.mac, sizeof(s.mac), "%s", l.mac);
		ledger_addr_format(l.addr, s.address);
	}
	if ((ret = virt_spec_check(&s, why, sizeof(why))) < 0)
		return virt_fail(h, ret, "the archive's spec: %s", why);
	ret = virt_guest_create(h, &s, &g);
	if (!ret && s.net != VIRT_NET_FABRIC && s.net != VIRT_NET_NONE && m->mac[0] &&
	    (ret = keep_mac(h, s.name, m->mac)) < 0)
		virt_guest_destroy(h, s.name, NULL);
	if (ret < 0 && s.net == VIRT_NET_FABRIC)
		virt_lease_release(h, s.name);
	return ret;
}

/* Every encrypted volume opens for id before anything is made. */
static int import_keys(struct virt_host *h, const struct identity *id, const struct export_manifest *m)
{
	uint8_t key[KEY_SEAL_KEY_BYTES];
	int ret = 0;

	for (unsigned i = 0; i < m->nvol && !ret; i++)
		if (m->vol[i].encrypted)
			ret = export_keys_open(h, id, m->name, &m->vol[i], key);
	sodium_memzero(key, sizeof(key));
	return ret;
}

int virt_import(struct virt_host *h, const char *path, export_trust_fn trust, void *ctx,
		struct export_manifest *m)
{
	return virt_import_as(h, path, trust, ctx, NULL, m);
}

int virt_import_as(struct virt_host *h, const char *path, export_trust_fn trust, void *ctx,
		   const struct identity *id, struct export_manifest *m)
{
	return virt_import_checked(h, path, trust, ctx, id, NULL, m);
}

int virt_import_checked(struct virt_host *h, const char *path, export_trust_fn trust, void *ctx,
			const struct identity *id, import_check_fn check,
			struct export_manifest *m)
{
	struct archive *a = NULL;
	bool made[EXPORT_VOLUMES_MAX] = { false };
	char vol[VIRT_VOL_NAME_MAX], why[VIRT_ERR_MAX];
	int ret = export_archive_verify(path, trust, ctx, m, h->err, sizeof(h->err));

	if (ret)
		return ret;
	if ((check && (ret = check(m, ctx, h->err, sizeof(h->err))) < 0) ||
	    (ret = import_free(h, m)) < 0 || (ret = virt_pool_ensure(h)) < 0 ||
	    (ret = import_room(h, m)) < 0 || (ret = import_keys(h, id, m)) < 0 ||
	    (ret = export_archive_open(path, &a, h->err, sizeof(h->err))) < 0)
		goto cleanup;
	for (unsigned i = 0; i < m->nvol && !ret; i++)
		ret = import_volume(h, a, m, id, &m->vol[i], &made[i]);
	if (!ret)
		ret = define(h, m);
	if (ret)
		memcpy(why, h->err, sizeof(why));
	for (unsigned i = 0; ret && i < m->nvol; i++)
		if (made[i] && data_vol_name(h, m->name, m->vol[i].disk, vol, sizeof(vol), false) == 0)
			virt_vol_delete(h, vol);
	if (ret)
		memcpy(h->err, why, sizeof(why));
cleanup:
	export_archive_close(a);
	if (ret)
		export_manifest_free(m);
	else
		log_info("guest %s imported from %s: %u data volume(s)", m->name, path, m->nvol);
	return ret;
}
