/* The pool we own, its volumes, and the default seams: streams for upload
 * and download, domain capabilities for KVM. */
#include <errno.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "virt/virt-internal.h"

#define STREAM_CHUNK (256 * 1024)

static virStoragePoolPtr pool_get(struct virt_host *h)
{
	virStoragePoolPtr p = virStoragePoolLookupByName(h->conn, h->pool);

	if (!p)
		virt_fail_lv(h, -ENOENT, "storage pool %s", h->pool);
	return p;
}

static int pool_define(struct virt_host *h, virStoragePoolPtr *out)
{
	char *xml = NULL;
	int ret;

	ret = virt_xml_pool(h->pool, h->pool_dir, &xml);
	if (ret < 0)
		return virt_fail(h, ret, "pool XML: %s", strerror(-ret));
	*out = virStoragePoolDefineXML(h->conn, xml, 0);
	free(xml);
	if (!*out)
		return virt_fail_lv(h, -EIO, "cannot define storage pool %s at %s", h->pool, h->pool_dir);
	log_info("storage pool %s defined at %s", h->pool, h->pool_dir);
	/* Creates the directory; an existing one is fine. */
	if (virStoragePoolBuild(*out, 0) < 0)
		log_warn("storage pool %s: build: %s", h->pool, virt_lv_error());
	return 0;
}

int virt_pool_ensure(struct virt_host *h)
{
	virStoragePoolPtr p = virStoragePoolLookupByName(h->conn, h->pool);
	int ret = 0, active, autostart = 0;

	if (!p) {
		ret = pool_define(h, &p);
		if (ret < 0)
			return ret;
	}
	active = virStoragePoolIsActive(p);
	if (active < 0) {
		ret = virt_fail_lv(h, -EIO, "storage pool %s", h->pool);
		goto cleanup;
	}
	if (!active && virStoragePoolCreate(p, 0) < 0) {
		ret = virt_fail_lv(h, -EIO, "cannot start storage pool %s", h->pool);
		goto cleanup;
	}
	if (virStoragePoolGetAutostart(p, &autostart) < 0 || !autostart) {
		if (virStoragePoolSetAutostart(p, 1) < 0)
			log_warn("storage pool %s: autostart: %s", h->pool, virt_lv_error());
	}
	/* Volumes created behind libvirt's back (by a crashed import) show up. */
	if (active && virt_pool_refresh(h, p) < 0)
		log_warn("%s", h->err);
cleanup:
	virStoragePoolFree(p);
	return ret;
}

bool virt_pool_restart(virStoragePoolPtr p)
{
	struct timespec pause = { 0, 100 * 1000 * 1000 };

	/* its start refreshes too: tried again while a removal settles */
	char why[256];

	for (int i = 0; i < 5 && virStoragePoolIsActive(p) == 0; i++) {
		if (virStoragePoolCreate(p, 0) == 0)
			return true;
		snprintf(why, sizeof(why), "%s", virt_lv_error()); /* before the next call clears it */
		if (i == 4)
			log_warn("storage pool %s does not start again: %s", virStoragePoolGetName(p), why);
		nanosleep(&pause, NULL);
	}
	return false;
}

int virt_pool_refresh(struct virt_host *h, virStoragePoolPtr p)
{
	int ret;

	if (virStoragePoolRefresh(p, 0) == 0)
		return 0;
	ret = virt_fail_lv(h, -EIO, "storage pool %s: refresh", h->pool); /* before the next call clears it */
	if (!virt_pool_restart(p))
		return ret;
	log_warn("%s: libvirt stopped the pool; started again", h->err);
	h->err[0] = '\0';
	return 0;
}

int virt_pool_room(struct virt_host *h, uint64_t need, uint64_t *avail)
{
	virStoragePoolPtr p = pool_get(h);
	virStoragePoolInfo info;
	int ret = 0;

	*avail = 0;
	if (!p)
		return -ENOENT;
	if ((ret = virt_pool_refresh(h, p)) == 0 && virStoragePoolGetInfo(p, &info) < 0)
		ret = virt_fail_lv(h, -EIO, "storage pool %s: cannot read its free space", h->pool);
	if (!ret && (*avail = info.available) < need)
		ret = -ENOSPC;
	virStoragePoolFree(p);
	return ret;
}

virStorageVolPtr virt_vol_lookup(struct virt_host *h, const char *name)
{
	virStoragePoolPtr p = virStoragePoolLookupByName(h->conn, h->pool);
	virStorageVolPtr v;

	if (!p)
		return NULL;
	v = virStorageVolLookupByName(p, name);
	virStoragePoolFree(p);
	return v;
}

bool virt_luks_timing(const char *err)
{
	return strstr(err, "accurate CPU usage") != NULL;
}

bool virt_luks_timing_retry(unsigned attempt, bool timing)
{
	if (attempt + 1 >= VIRT_LUKS_TRIES || !timing)
		return false;
	usleep((useconds_t)(attempt + 1) * 250 * 1000); /* a busy spell may pass */
	return true;
}

/* The error is read before the pool is freed, which clears it. */
int virt_vol_create(struct virt_host *h, const char *xml, virStorageVolPtr *out)
{
	virStoragePoolPtr p = pool_get(h);
	int ret = 0;

	if (!p)
		return -ENOENT;
	for (unsigned i = 0; !(*out = virStorageVolCreateXML(p, xml, 0)); i++) {
		/* libvirt's message holds qemu-img's command line: read whole, not cut to h->err */
		bool timing = virt_luks_timing(virt_lv_error());

		ret = virt_fail_lv(h, -EIO, "cannot create volume");
		if (!virt_luks_timing_retry(i, timing))
			break;
		log_warn("%s; trying again", h->err);
	}
	virStoragePoolFree(p);
	return *out ? 0 : ret;
}

/* -ENOENT when there is nothing to delete, so callers may ignore it. */
int virt_vol_delete(struct virt_host *h, const char *name)
{
	virStorageVolPtr v = virt_vol_lookup(h, name);
	char uuid[VIRT_UUID_LEN] = "";
	int ret = 0;

	if (!v)
		return -ENOENT;
	virt_secret_of(h, name, uuid);
	if (virStorageVolDelete(v, 0) < 0)
		ret = virt_fail_lv(h, -EIO, "cannot delete volume %s", name);
	else if (uuid[0])
		virt_secret_drop(h, uuid); /* the key of a deleted volume opens nothing */
	virStorageVolFree(v);
	return ret;
}

struct buf_reader {
	const unsigned char *p;
	size_t left;
};

static ssize_t buf_read(void *ctx, void *out, size_t len)
{
	struct buf_reader *r = ctx;

	if (len > r->left)
		len = r->left;
	memcpy(out, r->p, len);
	r->p += len;
	r->left -= len;
	return (ssize_t)len;
}

int virt_vol_upload_buf(struct virt_host *h, virStorageVolPtr vol, const void *data, size_t len)
{
	struct buf_reader r = { data, len };
	char err[256] = "";
	int ret;

	ret = h->ops.upload(vol, len, buf_read, &r, h->ops.opaque, err, sizeof(err));
	if (ret < 0)
		return virt_fail(h, ret, "upload to %s: %s", virStorageVolGetName(vol),
				 err[0] ? err : strerror(-ret));
	return 0;
}

static int send_all(virStreamPtr st, const char *p, size_t n)
{
	while (n) {
		int sent = virStreamSend(st, p, n);

		if (sent < 0)
			return -EIO;
		p += sent;
		n -= (size_t)sent;
	}
	return 0;
}

/* Ends a transfer and frees st (NULL: nothing began): finished when ret is
 * 0, else aborted. */
static int stream_end(virStreamPtr st, int ret, char *err, size_t errlen)
{
	if (!st)
		return ret;
	if (ret == 0 && virStreamFinish(st) < 0) {
		ret = -EIO;
		snprintf(err, errlen, "%s", virt_lv_error());
	} else if (ret < 0) {
		virStreamAbort(st);
	}
	virStreamFree(st);
	return ret;
}

int virt_default_upload(virStorageVolPtr vol, uint64_t len, virt_read_fn source, void *rctx,
			void *opaque, char *err, size_t errlen)
{
	virStreamPtr st = virStreamNew(virStorageVolGetConnect(vol), 0);
	char *chunk = malloc(STREAM_CHUNK);
	uint64_t total = 0;
	int ret = 0;

	if (!st || !chunk) {
		ret = -ENOMEM;
		goto cleanup;
	}
	if (virStorageVolUpload(vol, st, 0, len, 0) < 0) {
		snprintf(err, errlen, "%s", virt_lv_error());
		virStreamFree(st);
		st = NULL;
		ret = -EIO;
		goto cleanup;
	}
	for (;;) {
		ssize_t n = source(rctx, chunk, STREAM_CHUNK);

		if (n < 0) {
			ret = (int)n;
			snprintf(err, errlen, "reading the source: %s", strerror(-ret));
			goto cleanup;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > len) {
			ret = -EFBIG;
			snprintf(err, errlen, "the source grew while it was sent");
			goto cleanup;
		}
		if (send_all(st, chunk, (size_t)n) < 0) {
			ret = -EIO;
			snprintf(err, errlen, "%s", virt_lv_error());
			goto cleanup;
		}
	}
	if (total != len) {
		ret = -EIO;
		snprintf(err, errlen, "the source shrank while it was sent");
	}
cleanup:
	free(chunk);
	return stream_end(st, ret, err, errlen);
}

int virt_default_download(virStorageVolPtr vol, virt_sink_fn sink, void *sctx, void *opaque,
			  char *err, size_t errlen)
{
	virStreamPtr st = virStreamNew(virStorageVolGetConnect(vol), 0);
	char *chunk = malloc(STREAM_CHUNK);
	int ret = 0;

	if (!st || !chunk) {
		ret = -ENOMEM;
		goto cleanup;
	}
	if (virStorageVolDownload(vol, st, 0, 0, 0) < 0) {
		snprintf(err, errlen, "%s", virt_lv_error());
		virStreamFree(st);
		st = NULL;
		ret = -EIO;
		goto cleanup;
	}
	for (;;) {
		int n = virStreamRecv(st, chunk, STREAM_CHUNK);

		if (n < 0) {
			ret = -EIO;
			snprintf(err, errlen, "%s", virt_lv_error());
			goto cleanup;
		}
		if (n == 0)
			break;
		ret = sink(sctx, chunk, (size_t)n);
		if (ret < 0)
			goto cleanup;
	}
cleanup:
	free(chunk);
	return stream_end(st, ret, err, errlen);
}
