/* Import of a guest from an export archive through libvirt
 * (virt/virt-export.h): the volumes are written through h->ops' upload
 * stream. A file is verified whole before anything is made; a move's stream
 * is imported as it passes (virt-import-stream.c), nothing defined before
 * its manifest verified. */
#include <archive.h>
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ledger.h"
#include "lib/room.h"
#include "lib/log.h"
#include "lib/units.h"
#include "virt/virt-export.h"
#include "virt/virt-export-local.h"
#include "virt/virt-import-parts.h"
#include "virt/virt-internal.h"
#include "lib/sha256-tree.h"

ssize_t import_upload_read(void *ctx, void *buf, size_t len)
{
	struct import_upload *x = ctx;
	ssize_t n = x->read(x->rctx, buf, len);
	size_t take;

	if (n > 0 && x->nhead < sizeof(x->head)) {
		take = sizeof(x->head) - x->nhead < (size_t)n ? sizeof(x->head) - x->nhead : (size_t)n;
		memcpy(x->head + x->nhead, buf, take);
		x->nhead += take;
		if (x->nhead == sizeof(x->head) &&
		    (x->refused = export_volume_header_check(x->head, x->nhead)))
			return -1;
	}
	if (n > 0 && x->t)
		sha256_tree_update(x->t, buf, (size_t)n);
	if (n > 0)
		x->total += (uint64_t)n;
	return n;
}

int import_upload(struct virt_host *h, virStorageVolPtr sv, const char *vol, uint64_t bytes,
		  struct import_upload *x)
{
	char err[256] = "";
	int ret = h->ops.upload == virt_default_upload /* the file itself when it is here */
		  ? virt_import_local_write(sv, bytes, import_upload_read, x, err, sizeof(err)) : -ENOTSUP;

	if (ret == -ENOTSUP)
		ret = h->ops.upload(sv, bytes, import_upload_read, x, h->ops.opaque, err, sizeof(err));

	if (!x->refused && x->nhead < sizeof(x->head))
		x->refused = export_volume_header_check(x->head, x->nhead);
	if (x->refused)
		return virt_fail(h, -EBADMSG, "%s: refused, %s", vol, x->refused);
	if (ret < 0)
		return virt_fail(h, ret, "writing %s: %s", vol, err[0] ? err : strerror(-ret));
	if (x->total != bytes)
		return virt_fail(h, -EBADMSG, "%s: %llu bytes written of %llu", vol,
				 (unsigned long long)x->total, (unsigned long long)bytes);
	return 0;
}

int import_base_check(struct virt_host *h, const struct export_manifest *m)
{
	struct virt_image im;

	if (virt_image_get(h, m->base, &im) < 0)
		return virt_fail(h, -ENOENT, "the base image %s is not on this node: import it first "
				 "(image import), the root disk is rebuilt on it", m->base);
	if (strcmp(im.sha256, m->base_sha256))
		return virt_fail(h, -EBADMSG, "the base image %s here has SHA-256 %s, the guest was "
				 "built on %s", m->base, im.sha256, m->base_sha256);
	return 0;
}

/* Nothing of that name may be here: no domain, no data volume. */
static int import_free(struct virt_host *h, const struct export_manifest *m)
{
	struct virt_guest g;
	char vol[VIRT_VOL_NAME_MAX];

	if (virt_guest_get(h, m->name, &g) == 0)
		return virt_fail(h, -EEXIST, "a guest named %s is defined on this node: destroy it or "
				 "import elsewhere", m->name);
	for (unsigned i = 0; i < m->nvol; i++)
		if (virt_data_vol_name(h, m->name, m->vol[i].disk, vol, sizeof(vol), true) == 0)
			return virt_fail(h, -EEXIST, "data volume %s is already here (kept from an earlier "
					 "%s): remove it with vm data-delete first, or import elsewhere",
					 vol, m->name);
	return import_base_check(h, m);
}

#define IMPORT_SLACK IMPORT_ROOM_SLACK
int import_room(struct virt_host *h, const char *name, uint64_t data_bytes)
{
	uint64_t need = data_bytes > UINT64_MAX - IMPORT_SLACK ? UINT64_MAX : IMPORT_SLACK + data_bytes;
	uint64_t avail;
	char a[32], b[32], c[32];
	int ret = virt_pool_room(h, need, &avail);

	if (ret != -ENOSPC)
		return ret;
	format_size(avail, a, sizeof(a));
	format_size(data_bytes, b, sizeof(b));
	format_size(IMPORT_SLACK, c, sizeof(c));
	return virt_fail(h, -ENOSPC, "storage pool %s has %s free, %s needs %s (data volumes) + %s "
			 "(root overlay, seed): nothing was defined; free space or choose another node",
			 h->pool, a, name, b, c);
}

int import_secret(struct virt_host *h, const struct identity *id, const struct export_manifest *m,
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
	struct import_upload x = { .read = export_archive_read, .rctx = a };
	char vol[VIRT_VOL_NAME_MAX], sum[65], *xml = NULL, uuid[VIRT_UUID_LEN] = "";
	virStorageVolPtr sv = NULL;
	int ret;

	if ((ret = export_archive_next(a, v, h->err, sizeof(h->err))) < 0 ||
	    (ret = virt_data_vol_name(h, m->name, v->disk, vol, sizeof(vol), false)) < 0 ||
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
	ret = (x.t = sha256_tree_new(export_manifest_hash(m))) ? import_upload(h, sv, vol, v->bytes, &x)
								: -ENOMEM;
	virStorageVolFree(sv);
	if (ret < 0) {
		sha256_tree_free(x.t);
		return ret;
	}
	if (sha256_tree_hex(x.t, sum) < 0)
		return virt_fail(h, -ENOMEM, "hashing %s: out of memory", vol);
	if (strcmp(sum, v->sha256))
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

/* On the fabric the guest takes this node's lease for its name, with the
 * MAC it had where it was exported when that MAC is free here. */
int import_define(struct virt_host *h, const struct export_manifest *m)
{
	struct virt_spec s;
	struct virt_guest g;
	struct virt_lease l;
	char why[256];
	int ret;

	spec_from(&s, m);
	if (s.net == VIRT_NET_FABRIC) {
		if ((ret = virt_lease_get(h, s.name, m->mac, &l, NULL)) < 0)
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
int import_keys(struct virt_host *h, const struct identity *id, const struct export_manifest *m)
{
	uint8_t key[KEY_SEAL_KEY_BYTES];
	int ret = 0;

	for (unsigned i = 0; i < m->nvol && !ret; i++)
		if (m->vol[i].encrypted)
			ret = export_keys_open(h, id, m->name, &m->vol[i], key);
	sodium_memzero(key, sizeof(key));
	return ret;
}

static uint64_t export_data_bytes(const struct export_manifest *m)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < m->nvol; i++)
		n += m->vol[i].bytes;
	return n;
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
	    (ret = import_room(h, m->name, export_data_bytes(m))) < 0 || (ret = import_keys(h, id, m)) < 0 ||
	    (ret = export_archive_open(path, &a, h->err, sizeof(h->err))) < 0)
		goto cleanup;
	for (unsigned i = 0; i < m->nvol && !ret; i++)
		ret = import_volume(h, a, m, id, &m->vol[i], &made[i]);
	if (!ret)
		ret = import_define(h, m);
	if (ret)
		memcpy(why, h->err, sizeof(why));
	for (unsigned i = 0; ret && i < m->nvol; i++)
		if (made[i] && virt_data_vol_name(h, m->name, m->vol[i].disk, vol, sizeof(vol), false) == 0)
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
