/* A move's import (virt/virt-export.h, virt_import_stream): the archive read
 * once from a pipe as it arrives, each data volume made and written as it
 * passes, the guest defined only once the manifest, its signature, every
 * volume's size and SHA-256 and the transport's own check all held. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/bytes.h"
#include "lib/log.h"
#include "virt/virt-export.h"
#include "virt/virt-import-parts.h"
#include "virt/virt-internal.h"

struct stream {
	struct virt_host *h;
	const char *name;
	uint64_t bound, written;
	unsigned n;
	char vol[EXPORT_VOLUMES_MAX][VIRT_VOL_NAME_MAX];
	uint64_t capacity[EXPORT_VOLUMES_MAX];
};

/* A volume's first bytes, read to learn its capacity, then given again. */
struct replay {
	uint8_t head[EXPORT_QCOW2_HEAD];
	size_t n, pos;
	virt_read_fn read;
	void *rctx;
};

static ssize_t replay_read(void *ctx, void *buf, size_t len)
{
	struct replay *r = ctx;
	size_t k = r->n - r->pos < len ? r->n - r->pos : len;

	if (!k)
		return r->read(r->rctx, buf, len);
	memcpy(buf, r->head + r->pos, k);
	r->pos += k;
	return (ssize_t)k;
}

static int read_head(struct stream *s, struct replay *r, uint64_t bytes, const char *vol)
{
	size_t want = bytes < sizeof(r->head) ? (size_t)bytes : sizeof(r->head);
	const char *why;

	while (r->n < want) {
		ssize_t n = r->read(r->rctx, r->head + r->n, want - r->n);

		if (n <= 0)
			return -EIO;
		r->n += (size_t)n;
	}
	if ((why = export_volume_header_check(r->head, r->n)))
		return virt_fail(s->h, -EBADMSG, "%s: refused, %s", vol, why);
	return 0;
}

/* The next volume: a new name of this guest's, within the bound; made with
 * its qcow2 header's capacity, then written as it arrives. */
static int take(void *ctx, const char *entry, uint64_t bytes, virt_read_fn read, void *rctx)
{
	struct stream *s = ctx;
	struct replay r = { .read = read, .rctx = rctx };
	struct import_upload x = { .read = replay_read, .rctx = &r };
	char disk[EXPORT_DISK_MAX + 1], held[VIRT_VOL_NAME_MAX], *vol = s->vol[s->n], *xml = NULL;
	virStorageVolPtr sv = NULL;
	int ret;

	if (s->n == EXPORT_VOLUMES_MAX || export_volume_entry_disk(entry, disk, sizeof(disk)) < 0 ||
	    virt_data_vol_name(s->h, s->name, disk, vol, VIRT_VOL_NAME_MAX, false) < 0)
		return virt_fail(s->h, -EBADMSG, "unexpected archive entry %s", entry);
	if (bytes > s->bound - s->written)
		return virt_fail(s->h, -EFBIG, "%s: the stream holds more than the %llu bytes it "
				 "announced", entry, (unsigned long long)s->bound);
	if (virt_data_vol_name(s->h, s->name, disk, held, sizeof(held), true) == 0)
		return virt_fail(s->h, -EEXIST, "data volume %s is already here (kept from an earlier "
				 "%s): remove it with vm data-delete first, or move elsewhere", held, s->name);
	if ((ret = read_head(s, &r, bytes, vol)) < 0)
		return ret;
	s->capacity[s->n] = r.n >= 32 ? get_be64(r.head + 24) : 0;
	if ((ret = virt_xml_volume(vol, s->capacity[s->n], "qcow2", NULL, NULL, &xml)) < 0 ||
	    (ret = virt_vol_create(s->h, xml, &sv)) < 0) {
		free(xml);
		return ret;
	}
	free(xml);
	s->n++, s->written += bytes;
	ret = import_upload(s->h, sv, vol, bytes, &x);
	virStorageVolFree(sv);
	if (!ret)
		log_info("data volume %s written as it arrived: %llu bytes", vol, (unsigned long long)bytes);
	return ret;
}

/* Each volume's capacity as made is the manifest's, and each encrypted
 * volume's key opens here and becomes its secret. */
static int finish_volumes(struct stream *s, const struct identity *id, const struct export_manifest *m)
{
	char uuid[VIRT_UUID_LEN];
	int ret = import_keys(s->h, id, m);

	for (unsigned i = 0; i < m->nvol && !ret; i++) {
		if (m->vol[i].capacity != s->capacity[i])
			return virt_fail(s->h, -EBADMSG, "%s: its qcow2 header says %llu bytes, the "
					 "manifest %llu", s->vol[i], (unsigned long long)s->capacity[i],
					 (unsigned long long)m->vol[i].capacity);
		ret = import_secret(s->h, id, m, &m->vol[i], s->vol[i], uuid);
	}
	return ret;
}

/* libvirt's answer on KVM takes about 2 s on a TCG host, and the define
 * needs it: asked beside the stream (libvirt's connections take calls from
 * several threads), kept in h once the stream ended. */
struct kvm_probe {
	struct virt_host *h;
	pthread_t thread;
	bool started;
	int kvm;
	char err[256];
};

static void *probe_kvm(void *arg)
{
	struct kvm_probe *p = arg;

	p->kvm = p->h->ops.has_kvm(p->h->conn, p->h->ops.opaque, p->err, sizeof(p->err));
	return NULL;
}

static void probe_start(struct kvm_probe *p, struct virt_host *h)
{
	p->h = h;
	p->started = !h->kvm_known && pthread_create(&p->thread, NULL, probe_kvm, p) == 0;
}

static void probe_end(struct kvm_probe *p)
{
	if (!p->started)
		return;
	pthread_join(p->thread, NULL);
	if (p->kvm >= 0) /* else the define asks again, and says why */
		p->h->kvm_known = true, p->h->kvm = p->kvm == 1;
}

/* Once the archive was read to its end, the transport's word on what it
 * carried comes first: a corruption in transit is named as such, whatever
 * else it broke. */
static int transport(struct virt_host *h, const struct import_stream *o, int ret)
{
	char why[VIRT_ERR_MAX];
	int v = o->verdict(o->ctx, why, sizeof(why));

	return v < 0 ? virt_fail(h, v, "%s", why) : ret;
}

int virt_import_stream(struct virt_host *h, int fd, const struct import_stream *o,
		       struct export_manifest *m)
{
	struct stream s = { .h = h, .name = o->name, .bound = o->bound };
	struct kvm_probe kvm = { .kvm = -1 };
	char why[VIRT_ERR_MAX];
	bool whole = false;
	int ret;

	memset(m, 0, sizeof(*m));
	if ((ret = virt_pool_ensure(h)) < 0 || (ret = import_room(h, o->name, o->bound)) < 0)
		return ret;
	probe_start(&kvm, h);
	ret = export_archive_stream(fd, take, &s, o->trust, o->ctx, m, &whole, h->err, sizeof(h->err));
	probe_end(&kvm);
	if (whole)
		ret = transport(h, o, ret);
	if (!ret && strcmp(m->name, o->name))
		ret = virt_fail(h, -EBADMSG, "the archive is of %s, not %s", m->name, o->name);
	if (!ret && o->check)
		ret = o->check(m, o->ctx, h->err, sizeof(h->err));
	if (!ret && !(ret = import_base_check(h, m)) && !(ret = finish_volumes(&s, o->id, m)))
		ret = import_define(h, m);
	if (!ret) {
		log_info("guest %s imported from a move's stream: %u data volume(s)", m->name, m->nvol);
		return 0;
	}
	snprintf(why, sizeof(why), "%s", h->err);
	for (unsigned i = 0; i < s.n; i++) /* a volume's secret goes with it */
		virt_vol_delete(h, s.vol[i]);
	snprintf(h->err, sizeof(h->err), "%s", why);
	export_manifest_free(m);
	return ret;
}
