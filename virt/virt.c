/* Guests: create (idempotent, rolled back on failure), list, show, start,
 * stop, destroy; and the explicit removal of a data volume. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <libvirt/virterror.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/names.h"
#include "osi-config.h"
#include "virt/virt-internal.h"

#define DEFAULT_CONSOLE_DIR "/var/log/os-infrastructure/guests"
#define VOL_NAME_MAX VIRT_VOL_NAME_MAX
#define UNDEFINE_FLAGS (VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)

static const char *const step_names[] = {
	[VIRT_STEP_VOLUMES] = "volumes",
	[VIRT_STEP_SEED] = "seed",
	[VIRT_STEP_DEFINE] = "defining",
	[VIRT_STEP_BOOT] = "booting",
	[VIRT_STEP_RUNNING] = "running",
};

static const char *const state_names[] = {
	[VIRT_STATE_UNKNOWN] = "unknown",
	[VIRT_STATE_DEFINED] = "shut off",
	[VIRT_STATE_RUNNING] = "running",
	[VIRT_STATE_PAUSED] = "paused",
	[VIRT_STATE_STOPPING] = "stopping",
	[VIRT_STATE_CRASHED] = "crashed",
};

const char *virt_step_name(enum virt_step step)
{
	return (unsigned)step <= VIRT_STEP_RUNNING ? step_names[step] : "unknown";
}

const char *virt_state_name(enum virt_state state)
{
	return (unsigned)state <= VIRT_STATE_CRASHED ? state_names[state] : "unknown";
}

unsigned virt_undefine_flags(virDomainPtr dom, unsigned flags)
{
	return virDomainListAllCheckpoints(dom, NULL, 0) > 0 ?
	       flags | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA : flags;
}

const char *virt_lv_error(void)
{
	const char *msg = virGetLastErrorMessage();

	return msg ? msg : "unknown libvirt error";
}

static int vfail(struct virt_host *h, int ret, bool lv, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
static int vfail(struct virt_host *h, int ret, bool lv, const char *fmt, va_list ap)
{
	char msg[VIRT_ERR_MAX];

	/* Through a copy: callers may pass h->err itself as an argument. */
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* A long message is cut; it stays one terminated line. */
	if (snprintf(h->err, sizeof(h->err), "%s%s%s", msg, lv ? ": " : "", lv ? virt_lv_error() : "") < 0)
		h->err[0] = '\0';
	return ret;
}

int virt_fail(struct virt_host *h, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(h, ret, false, fmt, ap);
	va_end(ap);
	return ret;
}

int virt_fail_lv(struct virt_host *h, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(h, ret, true, fmt, ap);
	va_end(ap);
	return ret;
}

/* Our messages carry libvirt's; printing them twice helps no one. */
static void quiet(void *data, virErrorPtr err)
{
}

static int copy_opt(char *dst, size_t len, const char *value, const char *dflt)
{
	int n = snprintf(dst, len, "%s", value ? value : dflt);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int virt_host_open(struct virt_host *h, const struct virt_config *cfg)
{
	static const struct virt_config none;
	int ret;

	memset(h, 0, sizeof(*h));
	if (!cfg)
		cfg = &none;
	if (sodium_init() < 0)
		return virt_fail(h, -EIO, "libsodium initialisation failed");
	ret = copy_opt(h->pool, sizeof(h->pool), cfg->pool, VIRT_DEFAULT_POOL);
	if (!ret)
		ret = copy_opt(h->pool_dir, sizeof(h->pool_dir), cfg->pool_dir, OSI_STATE_DIR "/images");
	if (!ret && cfg->image_manifest)
		ret = copy_opt(h->image_manifest, sizeof(h->image_manifest), cfg->image_manifest, "");
	else if (!ret && snprintf(h->image_manifest, sizeof(h->image_manifest), "%s.json",
				  h->pool_dir) >= (int)sizeof(h->image_manifest))
		ret = -ENAMETOOLONG;
	if (!ret)
		ret = copy_opt(h->console_dir, sizeof(h->console_dir), cfg->console_dir, DEFAULT_CONSOLE_DIR);
	if (!ret)
		ret = copy_opt(h->fetch_url, sizeof(h->fetch_url), cfg->fetch_url, "");
	if (!ret)
		ret = copy_opt(h->seal_key, sizeof(h->seal_key), cfg->seal_key, "");
	if (ret < 0)
		return virt_fail(h, ret, "configuration: a path is too long");
	if (!name_label_valid(h->pool, VIRT_NAME_MAX - 1) || h->pool_dir[0] != '/')
		return virt_fail(h, -EINVAL, "pool %s at %s: a plain name and an absolute path expected",
				 h->pool, h->pool_dir);
	h->skip_verify = cfg->skip_verify;
	h->ops.upload = virt_default_upload;
	h->ops.download = virt_default_download;
	h->ops.has_kvm = virt_default_has_kvm;
	virSetErrorFunc(NULL, quiet);
	if (virInitialize() < 0)
		return virt_fail_lv(h, -EIO, "libvirt initialisation failed");
	h->conn = virConnectOpen(cfg->uri);
	if (!h->conn)
		return virt_fail_lv(h, -ECONNREFUSED, "cannot connect to %s", cfg->uri ? cfg->uri : "libvirt");
	virConnSetErrorFunc(h->conn, NULL, quiet);
	return 0;
}

void virt_host_close(struct virt_host *h)
{
	if (h->conn)
		virConnectClose(h->conn);
	h->conn = NULL;
}

int virt_console_path(const struct virt_host *h, const char *guest, char *buf, size_t len)
{
	int n;

	if (!h->console_dir[0]) {
		if (len)
			buf[0] = '\0';
		return 0;
	}
	n = snprintf(buf, len, "%s/%s.log", h->console_dir, guest);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Destroys, deletions and reuses of data volumes, one line each, next to
 * the image index; the log line goes to stderr as well. */
static void audit(struct virt_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void audit(struct virt_host *h, const char *fmt, ...)
{
	char path[PATH_MAX], copy[PATH_MAX], line[1024], when[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_warn("%s", line);
	snprintf(copy, sizeof(copy), "%s", h->image_manifest);
	snprintf(path, sizeof(path), "%s/virt-audit.log", dirname(copy));
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	n = dprintf(fd, "%s %s\n", when, line);
	if (n < 0)
		log_warn("%s: %s", path, strerror(errno));
	close(fd);
}

static enum virt_state state_of(int s)
{
	switch (s) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED:
		return VIRT_STATE_RUNNING;
	case VIR_DOMAIN_PAUSED:
	case VIR_DOMAIN_PMSUSPENDED:
		return VIRT_STATE_PAUSED;
	case VIR_DOMAIN_SHUTDOWN:
		return VIRT_STATE_STOPPING;
	case VIR_DOMAIN_SHUTOFF:
		return VIRT_STATE_DEFINED;
	case VIR_DOMAIN_CRASHED:
		return VIRT_STATE_CRASHED;
	default:
		return VIRT_STATE_UNKNOWN;
	}
}

static int read_meta(virDomainPtr dom, struct virt_meta *m)
{
	char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, VIRT_NS_URI, 0);
	int ret;

	if (!xml)
		return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN_METADATA ? -ENOMSG : -EIO;
	ret = virt_xml_meta_parse(xml, m);
	free(xml);
	return ret;
}

/* -ENOMSG: the domain is not one of ours. */
static int describe(struct virt_host *h, virDomainPtr dom, struct virt_guest *g)
{
	struct virt_meta m;
	virDomainInfo info;
	int ret, autostart = 0;
	char *xml;

	memset(g, 0, sizeof(*g));
	ret = read_meta(dom, &m);
	if (ret < 0)
		return ret == -ENOMSG ? ret : virt_fail_lv(h, ret, "metadata of %s", virDomainGetName(dom));
	if (virDomainGetInfo(dom, &info) < 0)
		return virt_fail_lv(h, -EIO, "state of %s", virDomainGetName(dom));
	snprintf(g->name, sizeof(g->name), "%s", virDomainGetName(dom));
	g->type = m.type;
	strcpy(g->owner, m.owner);
	strcpy(g->instance_id, m.instance_id);
	strcpy(g->base, m.base);
	strcpy(g->spec, m.spec);
	strcpy(g->address, m.address);
	memcpy(g->data, m.data, sizeof(g->data));
	g->ndata = m.ndata;
	g->state = state_of(info.state);
	g->vcpus = info.nrVirtCpu;
	g->memory_bytes = (uint64_t)info.maxMem * 1024;
	if (virDomainGetAutostart(dom, &autostart) == 0)
		g->autostart = autostart != 0;
	xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	g->kvm = xml && !strncmp(xml, "<domain type='kvm'", 18);
	free(xml);
	return 0;
}

/* A missing domain is -ENOENT; a lookup that failed otherwise is -EIO. */
static int lookup(struct virt_host *h, const char *name, virDomainPtr *dom)
{
	*dom = virDomainLookupByName(h->conn, name);
	if (*dom)
		return 0;
	if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
		return virt_fail(h, -ENOENT, "no guest %s", name);
	return virt_fail_lv(h, -EIO, "looking up %s", name);
}

/* Ours, or refused: we never act on domains someone else defined. */
static int lookup_ours(struct virt_host *h, const char *name, virDomainPtr *dom, struct virt_meta *m)
{
	int ret = lookup(h, name, dom);

	if (ret < 0)
		return ret;
	ret = read_meta(*dom, m);
	if (ret == 0)
		return 0;
	if (ret == -ENOMSG)
		ret = virt_fail(h, -EPERM, "%s was not created by os-infrastructure; leaving it alone", name);
	else
		virt_fail_lv(h, ret, "metadata of %s", name); /* before the free clears it */
	virDomainFree(*dom);
	*dom = NULL;
	return ret;
}

int virt_guest_get(struct virt_host *h, const char *name, struct virt_guest *out)
{
	virDomainPtr dom;
	int ret = lookup(h, name, &dom);

	if (ret < 0)
		return ret;
	ret = describe(h, dom, out);
	if (ret == -ENOMSG)
		virt_fail(h, -EPERM, "%s was not created by os-infrastructure", name);
	virDomainFree(dom);
	return ret == -ENOMSG ? -EPERM : ret;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct virt_guest *)a)->name, ((const struct virt_guest *)b)->name);
}

int virt_guest_list(struct virt_host *h, struct virt_guest **out, size_t *n)
{
	virDomainPtr *doms = NULL;
	struct virt_guest *g = NULL;
	int count, ret = 0;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	count = virConnectListAllDomains(h->conn, &doms, 0);
	if (count < 0)
		return virt_fail_lv(h, -EIO, "cannot list domains");
	g = calloc((size_t)count + 1, sizeof(*g));
	if (!g)
		ret = -ENOMEM;
	for (int i = 0; i < count; i++) {
		/* A domain that vanished since the listing is simply not shown. */
		if (!ret && describe(h, doms[i], &g[k]) == 0)
			k++;
		virDomainFree(doms[i]);
	}
	free(doms);
	if (ret < 0) {
		free(g);
		return virt_fail(h, ret, "out of memory");
	}
	h->err[0] = '\0';
	qsort(g, k, sizeof(*g), by_name);
	*out = g;
	*n = k;
	return 0;
}

int virt_guest_start(struct virt_host *h, const char *name)
{
	struct virt_meta m;
	virDomainPtr dom;
	int ret = lookup_ours(h, name, &dom, &m);

	if (ret < 0)
		return ret;
	if (virDomainIsActive(dom) != 1 && virDomainCreate(dom) < 0)
		ret = virt_fail_lv(h, -EIO, "cannot start %s", name);
	virDomainFree(dom);
	return ret;
}

int virt_guest_stop(struct virt_host *h, const char *name, bool force)
{
	struct virt_meta m;
	virDomainPtr dom;
	int ret = lookup_ours(h, name, &dom, &m);

	if (ret < 0)
		return ret;
	if (virDomainIsActive(dom) == 1) {
		if (force ? virDomainDestroy(dom) < 0 : virDomainShutdown(dom) < 0)
			ret = virt_fail_lv(h, -EIO, "cannot stop %s", name);
	}
	virDomainFree(dom);
	return ret;
}

/* Whether xml attaches vol: by pool and name (pool NULL: any pool), or by
 * path when path is given. Names are [a-z0-9.-]: no escaping to undo. */
static bool xml_has_vol(const char *xml, const char *pool, const char *vol, const char *path)
{
	char needle[VIRT_NAME_MAX + VIRT_VOL_NAME_MAX + PATH_MAX];

	if (pool)
		snprintf(needle, sizeof(needle), "pool='%s' volume='%s'", pool, vol);
	else
		snprintf(needle, sizeof(needle), "volume='%s'", vol);
	if (strstr(xml, needle))
		return true;
	snprintf(needle, sizeof(needle), "file='%s'", path ? path : "");
	return path && strstr(xml, needle);
}

static bool dom_has_vol(virDomainPtr dom, const char *vol, const char *path)
{
	static const unsigned flags[] = { VIR_DOMAIN_XML_INACTIVE, 0 };
	bool has = false;

	for (size_t i = 0; i < 2 && !has; i++) {
		char *xml = virDomainGetXMLDesc(dom, flags[i]);

		/* A description we cannot read is not a proof of absence. */
		has = !xml || xml_has_vol(xml, NULL, vol, path);
		free(xml);
	}
	return has;
}

/* 1 and the domain's name in who when any domain (defined or running, ours
 * or not) attaches vol; 0 when none does; -EIO when that cannot be told. */
static int vol_attached(struct virt_host *h, const char *vol, char *who, size_t wholen)
{
	virStorageVolPtr v = virt_vol_lookup(h, vol);
	char *path = v ? virStorageVolGetPath(v) : NULL;
	virDomainPtr *doms = NULL;
	int n, found = 0;

	if (v)
		virStorageVolFree(v);
	n = virConnectListAllDomains(h->conn, &doms, 0);
	for (int i = 0; i < n; i++) {
		if (!found && dom_has_vol(doms[i], vol, path)) {
			found = 1;
			snprintf(who, wholen, "%s", virDomainGetName(doms[i]));
		}
		virDomainFree(doms[i]);
	}
	free(doms);
	free(path);
	return n < 0 ? -EIO : found;
}

/* Removes vol unless some domain attaches it; -ENOENT counts as done.
 * Returns 1 when removed, 0 when absent or kept. */
static int remove_unattached(struct virt_host *h, const char *name, const char *vol)
{
	char who[VIRT_NAME_MAX] = "";
	int r = vol_attached(h, vol, who, sizeof(who));

	if (r != 0) {
		audit(h, "guest %s: volume %s kept: %s", name, vol,
		      r > 0 ? "another domain attaches it" : "cannot tell whether a domain attaches it");
		if (r > 0)
			log_warn("guest %s: volume %s is attached to %s", name, vol, who);
		return 0;
	}
	r = virt_vol_delete(h, vol);
	if (r == -ENOENT)
		return 0;
	return r < 0 ? r : 1;
}

/* The overlay and seed a domain is proven to own: named in its metadata (or,
 * for domains made before names were recorded, by the old convention), that
 * name being this guest's under the scheme, and attached to the domain.
 * Data volumes are never among them. */
static unsigned owned_disks(struct virt_host *h, virDomainPtr dom, const char *name,
			    const struct virt_meta *m, char vols[2][VIRT_VOL_NAME_MAX])
{
	static const char *const roles[] = { "disk", "seed" };
	const char *rec[] = { m->root, m->seed };
	bool legacy = !m->root[0] && !m->seed[0];
	char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
	unsigned n = 0;

	for (size_t i = 0; i < 2; i++) {
		char *v = vols[i];
		int r = legacy ? virt_volume_name_legacy(v, VIRT_VOL_NAME_MAX, name, roles[i])
			       : virt_volume_name(v, VIRT_VOL_NAME_MAX, name, roles[i]);

		if (r < 0 || (!legacy && strcmp(v, rec[i])) || !xml || !xml_has_vol(xml, h->pool, v, NULL))
			v[0] = '\0';
		else
			n++;
	}
	free(xml);
	return n;
}

static int remove_disks(struct virt_host *h, const char *name, char vols[2][VIRT_VOL_NAME_MAX],
			unsigned *removed)
{
	int ret = 0;

	*removed = 0;
	for (size_t i = 0; i < 2; i++) {
		int r = vols[i][0] ? remove_unattached(h, name, vols[i]) : 0;

		if (r > 0)
			(*removed)++;
		else if (r < 0 && !ret)
			ret = r;
	}
	return ret;
}

static void remove_console_log(struct virt_host *h, const char *name)
{
	char path[PATH_MAX];

	if (virt_console_path(h, name, path, sizeof(path)) == 0 && path[0] &&
	    unlink(path) < 0 && errno != ENOENT)
		log_warn("%s: %s", path, strerror(errno));
}

/* Guest name and disk -> volume: recorded, or by the scheme the domain was
 * made under. */
static int data_vol(const struct virt_meta *m, const char *name, unsigned i, char *vol, size_t len)
{
	char role[8 + VIRT_DISK_NAME_MAX];

	if (m->datavol[i][0])
		return snprintf(vol, len, "%s", m->datavol[i]) >= (int)len ? -ENAMETOOLONG : 0;
	snprintf(role, sizeof(role), "data-%s", m->data[i]);
	return m->root[0] ? virt_volume_name(vol, len, name, role)
			  : virt_volume_name_legacy(vol, len, name, role);
}

static unsigned report_kept(struct virt_host *h, const char *name, const struct virt_meta *m)
{
	char vol[VIRT_VOL_NAME_MAX];
	unsigned kept = 0;

	for (unsigned i = 0; i < m->ndata; i++) {
		virStorageVolPtr v;

		if (data_vol(m, name, i, vol, sizeof(vol)) < 0 || !(v = virt_vol_lookup(h, vol)))
			continue;
		virStorageVolFree(v);
		kept++;
		audit(h, "guest %s (%s) destroyed; its data volume %s is kept: removing it is a separate, explicit step",
		      name, virt_type_name(m->type), vol);
	}
	return kept;
}

/* No domain: only what an interrupted create left. Under the current names
 * an overlay or seed can belong to this guest alone; one that a domain
 * attaches is kept all the same. Old-scheme names prove nothing without
 * their domain and are left alone, as are data volumes. */
static int destroy_leftovers(struct virt_host *h, const char *name)
{
	char vols[2][VIRT_VOL_NAME_MAX];
	unsigned removed;
	int ret;

	if (virt_volume_name(vols[0], sizeof(vols[0]), name, "disk") < 0 ||
	    virt_volume_name(vols[1], sizeof(vols[1]), name, "seed") < 0)
		return virt_fail(h, -ENAMETOOLONG, "%s: name too long", name);
	ret = remove_disks(h, name, vols, &removed);
	if (ret < 0)
		return virt_fail(h, ret, "guest %s: removing what an interrupted create left: %s", name,
				 h->err[0] ? h->err : strerror(-ret));
	if (!removed)
		return virt_fail(h, -ENOENT, "no guest %s", name);
	remove_console_log(h, name);
	audit(h, "guest %s: removed %u volume(s) left without a domain", name, removed);
	h->err[0] = '\0';
	return 0;
}

int virt_guest_destroy(struct virt_host *h, const char *name, unsigned *kept)
{
	char vols[2][VIRT_VOL_NAME_MAX];
	struct virt_meta m;
	virDomainPtr dom;
	unsigned removed, k;
	int ret;

	if (kept)
		*kept = 0;
	if (!name_label_valid(name, 63))
		return virt_fail(h, -EINVAL, "\"%s\" is not a guest name", name);
	ret = lookup_ours(h, name, &dom, &m);
	if (ret == -ENOENT)
		return destroy_leftovers(h, name);
	if (ret < 0)
		return ret;
	owned_disks(h, dom, name, &m, vols);
	if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0) {
		ret = virt_fail_lv(h, -EIO, "cannot stop %s", name);
		goto cleanup;
	}
	if (virDomainUndefineFlags(dom, virt_undefine_flags(dom, UNDEFINE_FLAGS)) < 0) {
		ret = virt_fail_lv(h, -EIO, "cannot undefine %s", name);
		goto cleanup;
	}
	ret = remove_disks(h, name, vols, &removed);
	remove_console_log(h, name);
	k = report_kept(h, name, &m);
	if (kept)
		*kept = k;
	log_info("guest %s (%s) destroyed: %u volume(s) removed, %u data volume(s) kept",
		 name, virt_type_name(m.type), removed, k);
cleanup:
	virDomainFree(dom);
	return ret;
}

/* The volume under the current name, else under the old one. */
static int find_data_vol(struct virt_host *h, const char *guest, const char *disk, char *vol, size_t len)
{
	char role[8 + VIRT_DISK_NAME_MAX];
	virStorageVolPtr v;

	snprintf(role, sizeof(role), "data-%s", disk);
	if (virt_volume_name(vol, len, guest, role) < 0)
		return -ENAMETOOLONG;
	if ((v = virt_vol_lookup(h, vol))) {
		virStorageVolFree(v);
		return 0;
	}
	if (virt_volume_name_legacy(vol, len, guest, role) < 0 || !(v = virt_vol_lookup(h, vol))) {
		virt_volume_name(vol, len, guest, role);
		return -ENOENT;
	}
	virStorageVolFree(v);
	return 0;
}

int virt_data_delete(struct virt_host *h, const char *guest, const char *disk, const char *reason)
{
	char vol[VIRT_VOL_NAME_MAX], who[VIRT_NAME_MAX] = "";
	virDomainPtr dom;
	int ret;

	if (!reason || !reason[0])
		return virt_fail(h, -EINVAL, "deleting a data volume needs a reason, which is logged");
	if (!name_label_valid(guest, 63) || !name_label_valid(disk, VIRT_DISK_NAME_MAX - 1))
		return virt_fail(h, -EINVAL, "bad guest or disk name");
	ret = lookup(h, guest, &dom);
	if (ret == 0) {
		virDomainFree(dom);
		return virt_fail(h, -EBUSY, "guest %s still exists: destroy it first", guest);
	}
	if (ret != -ENOENT)
		return ret;
	ret = find_data_vol(h, guest, disk, vol, sizeof(vol));
	if (ret == -ENOENT)
		return virt_fail(h, ret, "no data volume %s", vol);
	if (ret < 0)
		return virt_fail(h, ret, "%s: name too long", guest);
	ret = vol_attached(h, vol, who, sizeof(who));
	if (ret != 0)
		return virt_fail(h, ret < 0 ? ret : -EBUSY, "volume %s: %s%s", vol,
				 ret < 0 ? "cannot tell whether a domain attaches it" : "attached to domain ", who);
	ret = virt_vol_delete(h, vol);
	if (ret == -ENOENT)
		return virt_fail(h, ret, "no data volume %s", vol);
	if (ret < 0)
		return ret;
	audit(h, "data volume %s of guest %s deleted on request: %s", vol, guest, reason);
	h->err[0] = '\0';
	return 0;
}

/* ---- create ---- */

struct rollback {
	char vols[2 + VIRT_MAX_DATA_DISKS][VOL_NAME_MAX];
	unsigned nvols;
	virDomainPtr dom;
};

/* Undoes this attempt only: volumes it created, the domain it defined (by
 * its own UUID). Never touches h->err, which holds the reason. */
static void rollback(struct virt_host *h, struct rollback *r, const char *name)
{
	unsigned undone = 0;

	if (r->dom) {
		if (virDomainIsActive(r->dom) == 1 && virDomainDestroy(r->dom) < 0)
			log_warn("rollback %s: cannot stop: %s", name, virt_lv_error());
		if (virDomainUndefineFlags(r->dom, virt_undefine_flags(r->dom, UNDEFINE_FLAGS)) < 0)
			log_warn("rollback %s: cannot undefine: %s", name, virt_lv_error());
		else
			undone++;
		virDomainFree(r->dom);
		r->dom = NULL;
	}
	while (r->nvols) {
		const char *vol = r->vols[--r->nvols];
		virStorageVolPtr v = virt_vol_lookup(h, vol);
		char uuid[VIRT_UUID_LEN] = "";

		if (v)
			virt_secret_of(h, vol, uuid);
		if (v && virStorageVolDelete(v, 0) == 0) {
			undone++;
			if (uuid[0])
				virt_secret_drop(h, uuid);
		} else
			log_warn("rollback %s: cannot delete volume %s: %s", name, vol, virt_lv_error());
		if (v)
			virStorageVolFree(v);
	}
	if (undone)
		log_info("create %s failed; removed the %u object(s) it had made", name, undone);
}

static int step(struct virt_host *h, enum virt_step s, const char *name)
{
	int ret;

	if (!h->ops.progress)
		return 0;
	ret = h->ops.progress(s, name, h->ops.opaque);
	if (ret < 0)
		return virt_fail(h, ret, "create %s: stopped at step %s", name, virt_step_name(s));
	return 0;
}

static int new_volume(struct virt_host *h, struct rollback *r, const char *name, const char *xml,
		      virStorageVolPtr *out)
{
	virStorageVolPtr v = virt_vol_lookup(h, name);

	if (v) {
		virStorageVolFree(v);
		return virt_fail(h, -EEXIST, "volume %s exists without its guest (left by an interrupted create? "
				 "destroy removes it)", name);
	}
	if (virt_vol_create(h, xml, &v) < 0)
		return virt_fail(h, -EIO, "volume %s: %s", name, h->err);
	snprintf(r->vols[r->nvols++], VOL_NAME_MAX, "%s", name);
	if (out)
		*out = v;
	else
		virStorageVolFree(v);
	return 0;
}

static int make_overlay(struct virt_host *h, const struct virt_spec *s, const struct virt_image *base,
			struct rollback *r)
{
	virStorageVolPtr bv = virt_vol_lookup(h, base->volume);
	char vol[VOL_NAME_MAX], *path = NULL, *xml = NULL;
	uint64_t size = s->disk_bytes > base->virtual_bytes ? s->disk_bytes : base->virtual_bytes;
	int ret;

	if (!bv)
		return virt_fail_lv(h, -ENOENT, "base image %s: volume %s", base->name, base->volume);
	if (!(path = virStorageVolGetPath(bv)))
		virt_fail_lv(h, -EIO, "base image %s: path", base->name); /* before the free clears it */
	virStorageVolFree(bv);
	if (!path)
		return -EIO;
	ret = virt_volume_name(vol, sizeof(vol), s->name, "disk");
	if (!ret)
		ret = virt_xml_volume(vol, size, "qcow2", path, base->format, &xml);
	if (!ret)
		ret = new_volume(h, r, vol, xml, NULL);
	else
		virt_fail(h, ret, "overlay for %s: %s", s->name, strerror(-ret));
	free(xml);
	free(path);
	return ret;
}

/* A data volume under its old name (see virt_volume_name) is taken only
 * when it can be nothing else: no domain attaches it, and it has no backing
 * file (the old name may be another guest's root overlay, which has). */
static bool legacy_data_ok(struct virt_host *h, const char *vol)
{
	virStorageVolPtr v = virt_vol_lookup(h, vol);
	char who[VIRT_NAME_MAX], *xml, *bs;
	bool ok;

	if (!v)
		return false;
	xml = virStorageVolGetXMLDesc(v, 0);
	virStorageVolFree(v);
	bs = xml ? strstr(xml, "<backingStore>") : NULL;
	ok = xml && !(bs && strstr(bs, "<path>"));
	free(xml);
	return ok && vol_attached(h, vol, who, sizeof(who)) == 0;
}

/* LUKS-encrypted under a fresh secret of its own; plain only where the
 * connection has no secret store (the test driver). */
static int new_data(struct virt_host *h, struct rollback *r, const char *vol, uint64_t bytes)
{
	char path[PATH_MAX], uuid[VIRT_UUID_LEN] = "", *xml = NULL;
	bool taken;
	int ret;

	if (snprintf(path, sizeof(path), "%s/%s", h->pool_dir, vol) >= (int)sizeof(path))
		return virt_fail(h, -ENAMETOOLONG, "%s: path too long", vol);
	ret = virt_secret_make(h, path, NULL, uuid);
	if (ret == -EOPNOTSUPP) {
		log_warn("volume %s: this connection keeps no secrets, so it is not encrypted", vol);
		ret = 0;
	}
	if (ret < 0)
		return ret;
	taken = ret == 1; /* an earlier volume's secret: kept even if this fails */
	ret = 0;
	ret = virt_xml_volume_luks(vol, bytes, uuid[0] ? uuid : NULL, &xml);
	if (!ret) /* virt_vol_create tries a LUKS key derivation again */
		ret = new_volume(h, r, vol, xml, NULL);
	free(xml);
	if (ret < 0 && uuid[0] && !taken)
		virt_secret_drop(h, uuid);
	return ret;
}

/* A data volume kept from an earlier guest of the same name is its archive:
 * it is attached again, not replaced; m->datavol records which it is. */
static int make_data(struct virt_host *h, const struct virt_spec *s, struct virt_meta *m,
		     struct rollback *r)
{
	char old[VIRT_VOL_NAME_MAX], role[8 + VIRT_DISK_NAME_MAX];
	int ret = 0;

	for (unsigned i = 0; i < s->ndata && !ret; i++) {
		const char *vol = m->datavol[i];
		virStorageVolPtr v = virt_vol_lookup(h, vol);

		if (v) {
			virStorageVolFree(v);
			audit(h, "guest %s: reusing data volume %s kept from an earlier guest", s->name, vol);
			continue;
		}
		snprintf(role, sizeof(role), "data-%s", s->data[i].name);
		if (virt_volume_name_legacy(old, sizeof(old), s->name, role) == 0 && legacy_data_ok(h, old)) {
			strcpy(m->datavol[i], old);
			audit(h, "guest %s: reusing data volume %s kept from an earlier guest (old name)",
			      s->name, old);
			continue;
		}
		ret = new_data(h, r, vol, s->data[i].bytes);
	}
	return ret;
}

static int make_seed(struct virt_host *h, const struct virt_spec *s, struct rollback *r)
{
	char vol[VOL_NAME_MAX], *xml = NULL, err[256] = "";
	virStorageVolPtr v = NULL;
	void *iso = NULL;
	size_t len = 0;
	int ret;

	ret = virt_seed_build(s->instance_id, s->name, s->user_data, s->net, &iso, &len, err, sizeof(err));
	if (ret < 0)
		return virt_fail(h, ret, "%s", err);
	ret = virt_volume_name(vol, sizeof(vol), s->name, "seed");
	if (!ret)
		ret = virt_xml_volume(vol, len, "raw", NULL, NULL, &xml);
	if (!ret)
		ret = new_volume(h, r, vol, xml, &v);
	if (!ret)
		ret = virt_vol_upload_buf(h, v, iso, len);
	if (v)
		virStorageVolFree(v);
	free(xml);
	free(iso);
	return ret;
}

static void new_uuid(char out[37])
{
	unsigned char u[16];

	randombytes_buf(u, sizeof(u));
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

/* Each data volume as it is: encrypted ones (new, or kept from an earlier
 * guest) open with their secret, plain ones (made before) stay plain. */
static void data_secrets(struct virt_host *h, const struct virt_meta *m, struct virt_domain_desc *d)
{
	for (unsigned i = 0; i < m->ndata; i++)
		virt_secret_of(h, m->datavol[i], d->data_secret[i]);
}

static int define(struct virt_host *h, const struct virt_spec *s, const struct virt_meta *m,
		  bool kvm, struct rollback *r)
{
	char uuid[37], log[PATH_MAX], *xml = NULL;
	struct virt_domain_desc d = { .spec = s, .meta = m, .pool = h->pool, .uuid = uuid,
				      .console_log = log, .kvm = kvm };
	int ret;

	new_uuid(uuid);
	data_secrets(h, m, &d);
	ret = virt_console_path(h, s->name, log, sizeof(log));
	if (!ret && log[0] && (ret = mkdir_p(h->console_dir, 0755)) < 0)
		return virt_fail(h, ret, "%s: %s", h->console_dir, strerror(-ret));
	if (!ret)
		ret = virt_xml_domain(&d, &xml);
	if (ret < 0)
		return virt_fail(h, ret, "domain XML for %s: %s", s->name, strerror(-ret));
	r->dom = virDomainDefineXML(h->conn, xml);
	free(xml);
	if (!r->dom)
		return virt_fail_lv(h, -EIO, "cannot define %s", s->name);
	if (virDomainSetAutostart(r->dom, 1) < 0)
		return virt_fail_lv(h, -EIO, "%s: cannot set autostart", s->name);
	return 0;
}

/* A guest of that name exists: the same request again, or a refusal. */
static int adopt(struct virt_host *h, virDomainPtr dom, const struct virt_spec *s,
		 const char *digest, struct virt_guest *out)
{
	struct virt_guest g;
	int ret = describe(h, dom, &g);

	if (ret == -ENOMSG)
		return virt_fail(h, -EEXIST, "a domain named %s exists and was not created by os-infrastructure", s->name);
	if (ret < 0)
		return ret;
	if (strcmp(g.spec, digest))
		return virt_fail(h, -EEXIST, "guest %s exists with a different spec (%s, owner %s); "
				 "destroy it or choose another name", s->name, virt_type_name(g.type), g.owner);
	if (s->start && virDomainIsActive(dom) != 1) {
		if (virDomainCreate(dom) < 0)
			return virt_fail_lv(h, -EIO, "cannot start %s", s->name);
		if ((ret = describe(h, dom, &g)) < 0)
			return ret;
	}
	g.existed = true;
	if (out)
		*out = g;
	log_info("create %s: already there with the same spec (instance-id %s)", s->name, g.instance_id);
	return 0;
}

static int fill_meta(struct virt_meta *m, const struct virt_spec *s, const char *digest)
{
	char role[8 + VIRT_DISK_NAME_MAX];
	int ret;

	memset(m, 0, sizeof(*m));
	m->type = s->type;
	strcpy(m->owner, s->owner);
	strcpy(m->instance_id, s->instance_id);
	strcpy(m->base, s->base);
	strcpy(m->spec, digest);
	if (s->net == VIRT_NET_FABRIC)
		strcpy(m->address, s->address);
	for (unsigned i = 0; i < s->ndata; i++)
		strcpy(m->data[i], s->data[i].name);
	m->ndata = s->ndata;
	ret = virt_volume_name(m->root, sizeof(m->root), s->name, "disk");
	if (!ret)
		ret = virt_volume_name(m->seed, sizeof(m->seed), s->name, "seed");
	for (unsigned i = 0; i < s->ndata && !ret; i++) {
		snprintf(role, sizeof(role), "data-%s", s->data[i].name);
		ret = virt_volume_name(m->datavol[i], sizeof(m->datavol[i]), s->name, role);
	}
	return ret;
}

static int prepare(struct virt_host *h, struct virt_spec *s, struct virt_image *base, int *kvm)
{
	char err[256] = "";
	int ret;

	if ((ret = virt_pool_ensure(h)) < 0 || (ret = virt_image_get(h, s->base, base)) < 0)
		return ret;
	if (!h->skip_verify && (ret = virt_image_verify(h, s->base)) < 0)
		return ret;
	*kvm = virt_host_kvm(h, err, sizeof(err));
	if (*kvm < 0)
		return virt_fail(h, *kvm, "%s", err[0] ? err : "cannot tell whether KVM is available");
	if (!s->instance_id[0]) {
		unsigned char rnd[8];
		char hex[17];

		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
		snprintf(s->instance_id, sizeof(s->instance_id), "i-%s", hex);
	}
	return 0;
}

static int build(struct virt_host *h, const struct virt_spec *s, struct virt_meta *m,
		 const struct virt_image *base, bool kvm, struct rollback *r)
{
	int ret;

	if ((ret = step(h, VIRT_STEP_VOLUMES, s->name)) < 0 || (ret = make_overlay(h, s, base, r)) < 0 ||
	    (ret = make_data(h, s, m, r)) < 0)
		return ret;
	if ((ret = step(h, VIRT_STEP_SEED, s->name)) < 0 || (ret = make_seed(h, s, r)) < 0)
		return ret;
	if ((ret = step(h, VIRT_STEP_DEFINE, s->name)) < 0 || (ret = define(h, s, m, kvm, r)) < 0)
		return ret;
	if (!s->start)
		return 0;
	if ((ret = step(h, VIRT_STEP_BOOT, s->name)) < 0)
		return ret;
	if (virDomainCreate(r->dom) < 0)
		return virt_fail_lv(h, -EIO, "cannot start %s", s->name);
	return step(h, VIRT_STEP_RUNNING, s->name);
}

int virt_host_kvm(struct virt_host *h, char *err, size_t errlen)
{
	int kvm;

	if (h->kvm_known)
		return h->kvm;
	kvm = h->ops.has_kvm(h->conn, h->ops.opaque, err, errlen);
	if (kvm >= 0)
		h->kvm_known = true, h->kvm = kvm == 1;
	return kvm;
}

int virt_guest_create(struct virt_host *h, const struct virt_spec *in, struct virt_guest *out)
{
	struct virt_spec s = *in;
	struct rollback r = { .nvols = 0 };
	struct virt_image base;
	struct virt_meta m;
	virDomainPtr dom;
	char digest[65];
	int ret, kvm = 0;

	ret = virt_spec_check(&s, h->err, sizeof(h->err));
	if (ret < 0)
		return ret;
	virt_spec_digest(&s, digest);
	ret = lookup(h, s.name, &dom);
	if (ret == 0) {
		ret = adopt(h, dom, &s, digest, out);
		virDomainFree(dom);
		return ret;
	}
	if (ret != -ENOENT)
		return ret;
	h->err[0] = '\0';
	if ((ret = prepare(h, &s, &base, &kvm)) < 0)
		return ret;
	if ((ret = fill_meta(&m, &s, digest)) < 0)
		return virt_fail(h, ret, "%s: volume names: %s", s.name, strerror(-ret));
	ret = build(h, &s, &m, &base, kvm == 1, &r);
	if (ret < 0)
		goto cleanup;
	if (out && (ret = describe(h, r.dom, out)) < 0)
		goto cleanup;
	log_info("guest %s (%s) created: instance-id %s, %s", s.name, virt_type_name(s.type),
		 s.instance_id, kvm == 1 ? "KVM" : "TCG");
	r.nvols = 0;
	virDomainFree(r.dom);
	r.dom = NULL;
cleanup:
	rollback(h, &r, s.name);
	return ret;
}
