/* Provisioning against libvirt's test driver (tests/fixtures/virt-node.xml):
 * pool creation, image import and verification, define/start/metadata,
 * idempotent create, rollback, destroy that keeps data volumes, and the
 * explicit data deletion. The driver has no volume streams and no domain
 * capabilities, so those go through the seams: uploads land in memory here,
 * and the test decides whether KVM is on offer. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <sodium.h>

#include "lib/fileio.h"
#include "virt/virt-backup.h"
#include "virt/virt-internal.h"
#include "virt/virt-move.h"
#include "tests/unit/fixture.h"

#define MAX_VOLS 32
/* magic, version 3, no backing file, cluster bits, virtual size 4 GiB */
#define QCOW2_HEAD "QFI\xfb\0\0\0\3\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x10\0\0\0\x01\0\0\0\0"

/* What the fake uploader stored, by volume name. */
struct stored {
	char name[96];
	unsigned char *data;
	size_t len;
};

struct fixture {
	char dir[64];
	char uri[PATH_MAX + 16];
	struct virt_host h;
	struct stored vols[MAX_VOLS];
	size_t nvols;
	const char *fail_upload_suffix; /* uploads to matching volumes fail midway */
	int fail_step;                  /* -1: none */
	int kvm;
	unsigned uploads;
};

static struct stored *stored_get(struct fixture *f, const char *name)
{
	for (size_t i = 0; i < f->nvols; i++) {
		if (!strcmp(f->vols[i].name, name))
			return &f->vols[i];
	}
	return NULL;
}

static bool suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !strcmp(s + a - b, suf);
}

static int fake_upload(virStorageVolPtr vol, uint64_t len, virt_read_fn source, void *rctx,
		       void *opaque, char *err, size_t errlen)
{
	struct fixture *f = opaque;
	const char *name = virStorageVolGetName(vol);
	struct stored *s = stored_get(f, name);
	unsigned char *buf = malloc(len ? len : 1);
	size_t got = 0;

	assert_non_null(buf);
	f->uploads++;
	while (got < len) {
		ssize_t n = source(rctx, buf + got, len - got < 4096 ? len - got : 4096);

		assert_true(n > 0);
		got += (size_t)n;
		if (f->fail_upload_suffix && suffix(name, f->fail_upload_suffix) && got >= len / 2) {
			free(buf);
			snprintf(err, errlen, "injected upload failure");
			return -EIO;
		}
	}
	if (!s) {
		assert_true(f->nvols < MAX_VOLS);
		s = &f->vols[f->nvols++];
		snprintf(s->name, sizeof(s->name), "%s", name);
	}
	free(s->data);
	s->data = buf;
	s->len = len;
	return 0;
}

static int fake_download(virStorageVolPtr vol, virt_sink_fn sink, void *sctx, void *opaque,
			 char *err, size_t errlen)
{
	struct stored *s = stored_get(opaque, virStorageVolGetName(vol));

	if (!s) {
		snprintf(err, errlen, "nothing uploaded to %s", virStorageVolGetName(vol));
		return -ENOENT;
	}
	return sink(sctx, s->data, s->len);
}

static int fake_kvm(virConnectPtr conn, void *opaque, char *err, size_t errlen)
{
	return ((struct fixture *)opaque)->kvm;
}

static int fake_progress(enum virt_step step, const char *guest, void *opaque)
{
	struct fixture *f = opaque;

	return (int)step == f->fail_step ? -ECANCELED : 0;
}

static void quiet(void *data, virErrorPtr err)
{
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *fixtures = getenv("OSI_FIXTURES");
	char pool_dir[128], consoles[128], manifest[128];
	struct virt_config cfg = { 0 };

	if (!f)
		return -1;
	if (fixture_tmpdir(f->dir, sizeof(f->dir), "test-virt"))
		return -1;
	snprintf(f->uri, sizeof(f->uri), "test://%s/virt-node.xml", fixtures ? fixtures : "tests/fixtures");
	snprintf(pool_dir, sizeof(pool_dir), "%s/images", f->dir);
	snprintf(consoles, sizeof(consoles), "%s/consoles", f->dir);
	snprintf(manifest, sizeof(manifest), "%s/images.json", f->dir);
	cfg.uri = f->uri;
	cfg.pool_dir = pool_dir;
	cfg.console_dir = consoles;
	cfg.image_manifest = manifest;
	cfg.fetch_url = "http://127.0.0.1:9/";
	virSetErrorFunc(NULL, quiet);
	if (virt_host_open(&f->h, &cfg) < 0) {
		fprintf(stderr, "%s\n", f->h.err);
		return -1;
	}
	f->h.ops.upload = fake_upload;
	f->h.ops.download = fake_download;
	f->h.ops.has_kvm = fake_kvm;
	f->h.ops.progress = fake_progress;
	f->h.ops.opaque = f;
	f->fail_step = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virt_host_close(&f->h);
	for (size_t i = 0; i < f->nvols; i++)
		free(f->vols[i].data);
	if (fixture_rmtree(f->dir) != 0)
		return -1;
	free(f);
	return 0;
}

#define check(f, call) do { \
	int ret_ = (call); \
	if (ret_ < 0) \
		fail_msg("%s: %d %s", #call, ret_, (f)->h.err); \
} while (0)

static void write_image(struct fixture *f, const char *name, const void *head, size_t headlen,
			size_t size, char *path, size_t pathlen)
{
	unsigned char *buf = calloc(1, size);

	assert_non_null(buf);
	memcpy(buf, head, headlen);
	for (size_t i = headlen; i < size; i++)
		buf[i] = (unsigned char)(i * 7);
	snprintf(path, pathlen, "%s/%s", f->dir, name);
	assert_int_equal(atomic_write_file(path, buf, size, 0644), 0);
	free(buf);
}

static void import_base(struct fixture *f, const char *name)
{
	char path[PATH_MAX];

	write_image(f, "base.raw", "\x33\xc0", 2, 300000, path, sizeof(path));
	check(f, virt_image_import(&f->h, path, name, NULL, NULL));
}

static void spec(struct virt_spec *s, enum virt_guest_type type, const char *name)
{
	memset(s, 0, sizeof(*s));
	strcpy(s->name, name);
	s->type = type;
	strcpy(s->owner, "operator");
	strcpy(s->base, "testguest");
	s->vcpus = 1;
	s->memory_bytes = 192ULL << 20;
	s->disk_bytes = 1ULL << 30;
	s->net = VIRT_NET_NONE;
	s->user_data = "#cloud-config\n";
	s->start = true;
	if (type == VIRT_TOTEBOX) {
		s->ndata = 1;
		strcpy(s->data[0].name, "archive");
		s->data[0].bytes = 2ULL << 30;
		strcpy(s->data[0].mount, "/srv/archive");
	}
}

static bool vol_exists(struct fixture *f, const char *name)
{
	virStorageVolPtr v = virt_vol_lookup(&f->h, name);

	if (v)
		virStorageVolFree(v);
	return v != NULL;
}

static int count_vols(struct fixture *f)
{
	virStoragePoolPtr p = virStoragePoolLookupByName(f->h.conn, "osi");
	int n;

	assert_non_null(p);
	n = virStoragePoolNumOfVolumes(p);
	virStoragePoolFree(p);
	return n;
}

static int count_domains(struct fixture *f)
{
	return virConnectNumOfDomains(f->h.conn) + virConnectNumOfDefinedDomains(f->h.conn);
}

static void test_pool_created_once(void **state)
{
	struct fixture *f = *state;
	virStoragePoolPtr p;
	char *xml;
	int autostart = 0;

	assert_null(virStoragePoolLookupByName(f->h.conn, "osi"));
	check(f, virt_pool_ensure(&f->h));
	p = virStoragePoolLookupByName(f->h.conn, "osi");
	assert_non_null(p);
	assert_int_equal(virStoragePoolIsActive(p), 1);
	assert_int_equal(virStoragePoolGetAutostart(p, &autostart), 0);
	assert_int_equal(autostart, 1);
	xml = virStoragePoolGetXMLDesc(p, 0);
	assert_non_null(strstr(xml, f->dir));
	free(xml);
	assert_int_equal(virStoragePoolDestroy(p), 0);
	virStoragePoolFree(p);
	check(f, virt_pool_ensure(&f->h));
	p = virStoragePoolLookupByName(f->h.conn, "osi");
	assert_int_equal(virStoragePoolIsActive(p), 1);
	virStoragePoolFree(p);
	assert_int_equal(virConnectNumOfStoragePools(f->h.conn) + virConnectNumOfDefinedStoragePools(f->h.conn), 2);
}

static void test_image_import_list_verify(void **state)
{
	struct fixture *f = *state;
	unsigned char digest[32];
	char path[PATH_MAX], hex[65], *text;
	struct virt_image *list, im;
	struct stored *s;
	size_t n, len;

	write_image(f, "u.qcow2", QCOW2_HEAD, 32, 70000, path, sizeof(path));
	check(f, virt_image_import(&f->h, path, "ubuntu-24.04", NULL, &im));
	assert_string_equal(im.format, "qcow2");
	assert_int_equal(im.virtual_bytes, 1ULL << 32);
	assert_int_equal(im.bytes, 70000);
	assert_string_equal(im.volume, "base-ubuntu-24.04.img");
	assert_int_equal(read_file(path, 1 << 20, &text, &len), 0);
	crypto_hash_sha256(digest, (unsigned char *)text, len);
	sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
	free(text);
	assert_string_equal(im.sha256, hex);
	s = stored_get(f, "base-ubuntu-24.04.img");
	assert_non_null(s);
	assert_int_equal(s->len, 70000);

	import_base(f, "testguest");
	check(f, virt_image_list(&f->h, &list, &n));
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "ubuntu-24.04");
	assert_string_equal(list[1].name, "testguest");
	assert_string_equal(list[1].format, "raw");
	assert_int_equal(list[1].virtual_bytes, 300000);
	free(list);
	assert_int_equal(read_file(f->h.image_manifest, 1 << 20, &text, &len), 0);
	assert_non_null(strstr(text, hex));
	free(text);

	check(f, virt_image_verify(&f->h, "ubuntu-24.04"));
	s->data[100] ^= 1;
	assert_int_equal(virt_image_verify(&f->h, "ubuntu-24.04"), -EBADMSG);
	assert_non_null(strstr(f->h.err, "changed since import"));
	assert_int_equal(virt_image_verify(&f->h, "nothing"), -ENOENT);
}

static void test_image_import_refusals(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	int vols;

	import_base(f, "testguest");
	vols = count_vols(f);
	write_image(f, "other.raw", "x", 1, 5000, path, sizeof(path));
	assert_int_equal(virt_image_import(&f->h, path, "testguest", NULL, NULL), -EEXIST);
	assert_int_equal(virt_image_import(&f->h, path, "Bad/Name", NULL, NULL), -EINVAL);
	assert_int_equal(virt_image_import(&f->h, "/nonexistent", "x", NULL, NULL), -ENOENT);
	/* A checksum that does not match leaves no volume and no record. */
	assert_int_equal(virt_image_import(&f->h, path, "other",
		"0000000000000000000000000000000000000000000000000000000000000000", NULL), -EBADMSG);
	assert_false(vol_exists(f, "base-other.img"));
	/* An upload that fails midway, likewise. */
	f->fail_upload_suffix = ".img";
	assert_int_equal(virt_image_import(&f->h, path, "other", NULL, NULL), -EIO);
	assert_non_null(strstr(f->h.err, "injected"));
	assert_false(vol_exists(f, "base-other.img"));
	assert_int_equal(count_vols(f), vols);
	f->fail_upload_suffix = NULL;
	{
		struct virt_image im;

		assert_int_equal(virt_image_get(&f->h, "other", &im), -ENOENT);
		assert_non_null(strstr(f->h.err, "image import"));
	}
}

static void test_image_fetch_offline(void **state)
{
	struct fixture *f = *state;
	int ret = virt_image_fetch(&f->h, "ubuntu-24.04", NULL);

	if (ret == -ENOSYS) {
		assert_non_null(strstr(f->h.err, "image import"));
		return;
	}
	assert_int_equal(ret, -ENETUNREACH);
	assert_non_null(strstr(f->h.err, "cannot reach 127.0.0.1: offline? use image import"));
	assert_int_equal(virt_image_fetch(&f->h, "debian-12", NULL), -ENOENT);
}

/* The whole fetch path, offline: a file:// mirror with SHA256SUMS. */
static void test_image_fetch_from_mirror(void **state)
{
	struct fixture *f = *state;
	char mirror[128], path[PATH_MAX], sums[256], hex[65];
	unsigned char digest[32], *buf;
	struct virt_image im;
	size_t len;
	char *text;
	int vols;

	snprintf(mirror, sizeof(mirror), "%s/mirror", f->dir);
	assert_int_equal(mkdir(mirror, 0755), 0);
	write_image(f, "mirror/ubuntu-24.04-server-cloudimg-amd64.img", QCOW2_HEAD, 32, 9000, path, sizeof(path));
	assert_int_equal(read_file(path, 1 << 20, &text, &len), 0);
	buf = (unsigned char *)text;
	crypto_hash_sha256(digest, buf, len);
	free(text);
	sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
	snprintf(sums, sizeof(sums), "%064d *other.img\n%s *ubuntu-24.04-server-cloudimg-amd64.img\n", 0, hex);
	snprintf(path, sizeof(path), "%s/SHA256SUMS", mirror);
	assert_int_equal(atomic_write_file(path, sums, strlen(sums), 0644), 0);
	snprintf(f->h.fetch_url, sizeof(f->h.fetch_url), "file://%s", mirror);
	if (virt_image_fetch(&f->h, "ubuntu-24.04", &im) == -ENOSYS)
		skip();
	check(f, virt_image_get(&f->h, "ubuntu-24.04", &im));
	assert_string_equal(im.sha256, hex);
	assert_non_null(strstr(im.source, "file://"));
	assert_string_equal(im.format, "qcow2");

	/* A mirror whose image does not match its SHA256SUMS imports nothing. */
	hex[0] = hex[0] == 'f' ? 'e' : 'f';
	snprintf(sums, sizeof(sums), "%s *ubuntu-24.04-server-cloudimg-amd64.img\n", hex);
	assert_int_equal(atomic_write_file(path, sums, strlen(sums), 0644), 0);
	check(f, virt_vol_delete(&f->h, "base-ubuntu-24.04.img"));
	snprintf(f->h.image_manifest, sizeof(f->h.image_manifest), "%s/other-index.json", f->dir);
	vols = count_vols(f);
	assert_int_equal(virt_image_fetch(&f->h, "ubuntu-24.04", NULL), -EBADMSG);
	assert_non_null(strstr(f->h.err, "expected"));
	assert_int_equal(count_vols(f), vols);
	{
		struct virt_image *list;
		size_t n;

		check(f, virt_image_list(&f->h, &list, &n));
		assert_int_equal(n, 0);
		free(list);
	}
}

static void test_create_defines_and_starts(void **state)
{
	struct fixture *f = *state;
	struct virt_spec s;
	struct virt_guest g;
	struct stored *seed;
	virDomainPtr dom;
	char *xml, *meta;
	int autostart = 0;

	import_base(f, "testguest");
	spec(&s, VIRT_TOTEBOX, "vault-1");
	strcpy(s.instance_id, "i-fixed-1");
	check(f, virt_guest_create(&f->h, &s, &g));
	assert_false(g.existed);
	assert_string_equal(g.name, "vault-1");
	assert_int_equal(g.type, VIRT_TOTEBOX);
	assert_string_equal(g.owner, "operator");
	assert_string_equal(g.instance_id, "i-fixed-1");
	assert_int_equal(g.state, VIRT_STATE_RUNNING);
	assert_false(g.kvm);
	assert_true(g.autostart);
	assert_int_equal(g.ndata, 1);
	assert_string_equal(g.data[0], "archive");
	assert_int_equal(g.memory_bytes, 192ULL << 20);

	assert_true(vol_exists(f, "vault-1.root.qcow2"));
	assert_true(vol_exists(f, "vault-1.seed.iso"));
	assert_true(vol_exists(f, "vault-1.data.archive.qcow2"));
	dom = virDomainLookupByName(f->h.conn, "vault-1");
	assert_non_null(dom);
	assert_int_equal(virDomainGetAutostart(dom, &autostart), 0);
	assert_int_equal(autostart, 1);
	xml = virDomainGetXMLDesc(dom, 0);
	assert_non_null(strstr(xml, "<domain type='qemu'"));
	assert_non_null(strstr(xml, "<cpu mode='maximum'"));
	assert_non_null(strstr(xml, "consoles/vault-1.log"));
	free(xml);
	meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, VIRT_NS_URI, 0);
	assert_non_null(strstr(meta, "<type>totebox</type>"));
	assert_non_null(strstr(meta, "<owner>operator</owner>"));
	free(meta);
	virDomainFree(dom);

	/* The seed that went up is an ISO with this guest's identity. */
	seed = stored_get(f, "vault-1.seed.iso");
	assert_non_null(seed);
	{
		struct archive *a = archive_read_new();
		struct archive_entry *e;
		char buf[256] = "";

		archive_read_support_format_iso9660(a);
		assert_int_equal(archive_read_open_memory(a, seed->data, seed->len), ARCHIVE_OK);
		while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
			if (!strcmp(archive_entry_pathname(e), "meta-data"))
				assert_true(archive_read_data(a, buf, sizeof(buf) - 1) > 0);
		}
		archive_read_free(a);
		assert_string_equal(buf, "instance-id: i-fixed-1\nlocal-hostname: vault-1\n");
	}
}

static void test_create_kvm_when_offered(void **state)
{
	struct fixture *f = *state;
	struct virt_spec s;
	struct virt_guest g;

	import_base(f, "testguest");
	f->kvm = 1;
	spec(&s, VIRT_MEDIAKIT, "web-1");
	s.start = false;
	check(f, virt_guest_create(&f->h, &s, &g));
	assert_true(g.kvm);
	assert_int_equal(g.state, VIRT_STATE_DEFINED);
	assert_int_equal(strlen(g.instance_id), 18);
	assert_true(!strncmp(g.instance_id, "i-", 2));
}

static void test_create_is_idempotent(void **state)
{
	struct fixture *f = *state;
	struct virt_spec s, t;
	struct virt_guest g1, g2;
	int doms, vols;
	unsigned uploads;

	import_base(f, "testguest");
	spec(&s, VIRT_PRIVATEGIT, "git-1");
	check(f, virt_guest_create(&f->h, &s, &g1));
	doms = count_domains(f);
	vols = count_vols(f);
	uploads = f->uploads;

	/* The same request again: the same guest, nothing new made. */
	check(f, virt_guest_create(&f->h, &s, &g2));
	assert_true(g2.existed);
	assert_string_equal(g1.instance_id, g2.instance_id);
	assert_int_equal(count_domains(f), doms);
	assert_int_equal(count_vols(f), vols);
	assert_int_equal(f->uploads, uploads);

	/* Stopped meanwhile: the retry starts it again. */
	check(f, virt_guest_stop(&f->h, "git-1", true));
	check(f, virt_guest_create(&f->h, &s, &g2));
	assert_int_equal(g2.state, VIRT_STATE_RUNNING);

	/* Another spec under the same name is refused and changes nothing. */
	t = s;
	t.memory_bytes *= 2;
	assert_int_equal(virt_guest_create(&f->h, &t, &g2), -EEXIST);
	assert_non_null(strstr(f->h.err, "different spec"));
	t = s;
	t.type = VIRT_MEDIAKIT;
	assert_int_equal(virt_guest_create(&f->h, &t, &g2), -EEXIST);
	assert_int_equal(count_domains(f), doms);
	assert_int_equal(count_vols(f), vols);

	/* A domain that is not ours is never adopted. */
	spec(&t, VIRT_MEDIAKIT, "foreign");
	assert_int_equal(virt_guest_create(&f->h, &t, &g2), -EEXIST);
	assert_non_null(strstr(f->h.err, "not created by os-infrastructure"));
	assert_int_equal(virt_guest_destroy(&f->h, "foreign", NULL), -EPERM);
	assert_int_equal(virt_guest_stop(&f->h, "foreign", true), -EPERM);
}

static void assert_nothing_left(struct fixture *f, const char *name, int doms, int vols)
{
	virDomainPtr dom = virDomainLookupByName(f->h.conn, name);

	if (dom) {
		virDomainFree(dom);
		fail_msg("domain %s left behind", name);
	}
	assert_int_equal(count_domains(f), doms);
	assert_int_equal(count_vols(f), vols);
}

static void test_rollback_on_seed_upload(void **state)
{
	struct fixture *f = *state;
	struct virt_spec s;
	int doms, vols;

	import_base(f, "testguest");
	doms = count_domains(f);
	vols = count_vols(f);
	f->fail_upload_suffix = ".seed.iso";
	spec(&s, VIRT_TOTEBOX, "vault-2");
	assert_int_equal(virt_guest_create(&f->h, &s, NULL), -EIO);
	assert_non_null(strstr(f->h.err, "injected upload failure"));
	assert_nothing_left(f, "vault-2", doms, vols);
	assert_false(vol_exists(f, "vault-2.data.archive.qcow2"));

	/* The retry, with the fault gone, succeeds from scratch. */
	f->fail_upload_suffix = NULL;
	check(f, virt_guest_create(&f->h, &s, NULL));
	assert_int_equal(count_vols(f), vols + 3);
}

static void test_rollback_at_every_step(void **state)
{
	struct fixture *f = *state;
	struct virt_spec s;
	int doms, vols;

	import_base(f, "testguest");
	doms = count_domains(f);
	vols = count_vols(f);
	spec(&s, VIRT_TOTEBOX, "vault-3");
	for (int st = VIRT_STEP_VOLUMES; st <= VIRT_STEP_RUNNING; st++) {
		f->fail_step = st;
		assert_int_equal(virt_guest_create(&f->h, &s, NULL), -ECANCELED);
		assert_non_null(strstr(f->h.err, virt_step_name((enum virt_step)st)));
		assert_nothing_left(f, "vault-3", doms, vols);
	}
	f->fail_step = -1;
}

static void test_base_checked_before_use(void **state)
{
	struct fixture *f = *state;
	struct virt_spec s;
	int vols;

	spec(&s, VIRT_MEDIAKIT, "web-2");
	assert_int_equal(virt_guest_create(&f->h, &s, NULL), -ENOENT);
	assert_non_null(strstr(f->h.err, "no base image testguest"));
	import_base(f, "testguest");
	vols = count_vols(f);
	stored_get(f, "base-testguest.img")->data[7] ^= 0x80;
	assert_int_equal(virt_guest_create(&f->h, &s, NULL), -EBADMSG);
	assert_int_equal(count_vols(f), vols);
	f->h.skip_verify = true;
	check(f, virt_guest_create(&f->h, &s, NULL));
}

static void test_leftover_volume_refused_then_destroyed(void **state)
{
	struct fixture *f = *state;
	struct virt_spec s;
	char *xml;
	virStorageVolPtr v;

	import_base(f, "testguest");
	check(f, virt_pool_ensure(&f->h));
	assert_int_equal(virt_xml_volume("web-3.root.qcow2", 1 << 20, "qcow2", NULL, NULL, &xml), 0);
	check(f, virt_vol_create(&f->h, xml, &v));
	virStorageVolFree(v);
	free(xml);
	spec(&s, VIRT_MEDIAKIT, "web-3");
	assert_int_equal(virt_guest_create(&f->h, &s, NULL), -EEXIST);
	assert_non_null(strstr(f->h.err, "web-3.root.qcow2 exists without its guest"));
	assert_true(vol_exists(f, "web-3.root.qcow2"));
	check(f, virt_guest_destroy(&f->h, "web-3", NULL));
	assert_false(vol_exists(f, "web-3.root.qcow2"));
	check(f, virt_guest_create(&f->h, &s, NULL));
	assert_int_equal(virt_guest_destroy(&f->h, "nobody-here", NULL), -ENOENT);
}

static void test_list_show_start_stop(void **state)
{
	struct fixture *f = *state;
	struct virt_guest *list, g;
	struct virt_spec s;
	size_t n;

	import_base(f, "testguest");
	spec(&s, VIRT_ORCHESTRATION, "orch-1");
	check(f, virt_guest_create(&f->h, &s, NULL));
	spec(&s, VIRT_MEDIAKIT, "media-1");
	s.start = false;
	check(f, virt_guest_create(&f->h, &s, NULL));
	check(f, virt_guest_list(&f->h, &list, &n));
	assert_int_equal(n, 2); /* "foreign" is not listed */
	assert_string_equal(list[0].name, "media-1");
	assert_int_equal(list[0].state, VIRT_STATE_DEFINED);
	assert_string_equal(list[1].name, "orch-1");
	assert_int_equal(list[1].type, VIRT_ORCHESTRATION);
	assert_int_equal(list[1].state, VIRT_STATE_RUNNING);
	free(list);
	check(f, virt_guest_start(&f->h, "media-1"));
	check(f, virt_guest_start(&f->h, "media-1"));
	check(f, virt_guest_get(&f->h, "media-1", &g));
	assert_int_equal(g.state, VIRT_STATE_RUNNING);
	check(f, virt_guest_stop(&f->h, "media-1", false));
	check(f, virt_guest_stop(&f->h, "media-1", true));
	check(f, virt_guest_get(&f->h, "media-1", &g));
	assert_int_equal(g.state, VIRT_STATE_DEFINED);
	assert_string_equal(virt_state_name(g.state), "shut off");
	assert_int_equal(virt_guest_get(&f->h, "foreign", &g), -EPERM);
	assert_int_equal(virt_guest_get(&f->h, "absent", &g), -ENOENT);
}

static void test_destroy_keeps_data_volume(void **state)
{
	struct fixture *f = *state;
	struct virt_spec s;
	struct virt_guest g;
	char log[PATH_MAX], *text;
	unsigned kept = 9;
	size_t len;
	int vols;

	import_base(f, "testguest");
	vols = count_vols(f);
	spec(&s, VIRT_TOTEBOX, "vault-4");
	check(f, virt_guest_create(&f->h, &s, &g));
	check(f, virt_console_path(&f->h, "vault-4", log, sizeof(log)));
	assert_int_equal(atomic_write_file(log, "boot\n", 5, 0644), 0);

	assert_int_equal(virt_data_delete(&f->h, "vault-4", "archive", "test"), -EBUSY);
	check(f, virt_guest_destroy(&f->h, "vault-4", &kept));
	assert_int_equal(kept, 1);
	assert_int_equal(virt_guest_get(&f->h, "vault-4", &g), -ENOENT);
	assert_false(vol_exists(f, "vault-4.root.qcow2"));
	assert_false(vol_exists(f, "vault-4.seed.iso"));
	assert_true(vol_exists(f, "vault-4.data.archive.qcow2"));
	assert_int_equal(access(log, F_OK), -1);

	/* The same vault again gets its archive back. */
	check(f, virt_guest_create(&f->h, &s, &g));
	assert_int_equal(count_vols(f), vols + 3);
	check(f, virt_guest_destroy(&f->h, "vault-4", &kept));

	/* Removing the archive is explicit, needs a reason, and is recorded. */
	assert_int_equal(virt_data_delete(&f->h, "vault-4", "archive", ""), -EINVAL);
	assert_int_equal(virt_data_delete(&f->h, "vault-4", "archive", NULL), -EINVAL);
	check(f, virt_data_delete(&f->h, "vault-4", "archive", "entity dissolved, ticket 42"));
	assert_false(vol_exists(f, "vault-4.data.archive.qcow2"));
	assert_int_equal(count_vols(f), vols);
	assert_int_equal(virt_data_delete(&f->h, "vault-4", "archive", "again"), -ENOENT);
	snprintf(log, sizeof(log), "%s/virt-audit.log", f->dir);
	assert_int_equal(read_file(log, 1 << 20, &text, &len), 0);
	assert_non_null(strstr(text, "vault-4.data.archive.qcow2 is kept"));
	assert_non_null(strstr(text, "reusing data volume vault-4.data.archive.qcow2"));
	assert_non_null(strstr(text, "deleted on request: entity dissolved, ticket 42"));
	free(text);
}

static bool dom_has(struct fixture *f, const char *name, const char *needle)
{
	virDomainPtr dom = virDomainLookupByName(f->h.conn, name);
	char *xml = dom ? virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE) : NULL;
	bool has = xml && strstr(xml, needle);

	free(xml);
	if (dom)
		virDomainFree(dom);
	return has;
}

static unsigned long long vol_capacity(struct fixture *f, const char *name)
{
	virStorageVolPtr v = virt_vol_lookup(&f->h, name);
	virStorageVolInfo info;

	if (!v)
		return 0;
	assert_int_equal(virStorageVolGetInfo(v, &info), 0);
	virStorageVolFree(v);
	return info.capacity;
}

static void make_vol(struct fixture *f, const char *name, const char *backing)
{
	virStorageVolPtr v;
	char *xml;

	check(f, virt_pool_ensure(&f->h));
	assert_int_equal(virt_xml_volume(name, 3ULL << 30, "qcow2", backing, backing ? "raw" : NULL, &xml), 0);
	check(f, virt_vol_create(&f->h, xml, &v));
	virStorageVolFree(v);
	free(xml);
}

/* Guest "vault1-data-archive" is spelled like vault1's archive volume under
 * the old names: creating, failing and destroying it leaves that archive. */
static void test_guest_named_like_a_data_volume(void **state)
{
	struct fixture *f = *state;
	char arch[128], needle[160];
	struct virt_spec s, t;
	unsigned long long cap;
	unsigned kept = 9;

	import_base(f, "testguest");
	spec(&s, VIRT_TOTEBOX, "vault1");
	check(f, virt_guest_create(&f->h, &s, NULL));
	check(f, virt_volume_name(arch, sizeof(arch), "vault1", "data-archive"));
	cap = vol_capacity(f, arch);
	assert_int_equal(cap, 2ULL << 30);

	spec(&t, VIRT_MEDIAKIT, "vault1-data-archive");
	check(f, virt_guest_create(&f->h, &t, NULL));
	check(f, virt_guest_destroy(&f->h, "vault1-data-archive", &kept));
	assert_int_equal(kept, 0);
	assert_int_equal(vol_capacity(f, arch), cap);
	snprintf(needle, sizeof(needle), "volume='%s'", arch);
	assert_true(dom_has(f, "vault1", needle));

	/* With vault1 gone and its archive kept, a failed create and the
	 * destroy that cleans up after it still do not touch the archive. */
	check(f, virt_guest_destroy(&f->h, "vault1", &kept));
	assert_int_equal(kept, 1);
	f->fail_step = VIRT_STEP_DEFINE;
	assert_int_equal(virt_guest_create(&f->h, &t, NULL), -ECANCELED);
	f->fail_step = -1;
	assert_int_equal(virt_guest_destroy(&f->h, "vault1-data-archive", NULL), -ENOENT);
	assert_int_equal(vol_capacity(f, arch), cap);
	assert_int_equal(virt_data_delete(&f->h, "vault1-data", "archive", "wrong guest"), -ENOENT);
	assert_int_equal(vol_capacity(f, arch), cap);
}

/* Totebox "web" made while "web-data-archive" runs gets an archive of its
 * own, not that guest's root overlay. */
static void test_data_volume_not_another_guests_root(void **state)
{
	struct fixture *f = *state;
	char root[128], arch[128], needle[160];
	struct virt_spec s;
	int vols;

	import_base(f, "testguest");
	spec(&s, VIRT_MEDIAKIT, "web-data-archive");
	check(f, virt_guest_create(&f->h, &s, NULL));
	check(f, virt_volume_name(root, sizeof(root), "web-data-archive", "disk"));
	vols = count_vols(f);
	spec(&s, VIRT_TOTEBOX, "web");
	check(f, virt_guest_create(&f->h, &s, NULL));
	assert_int_equal(count_vols(f), vols + 3);
	check(f, virt_volume_name(arch, sizeof(arch), "web", "data-archive"));
	assert_string_not_equal(arch, root);
	assert_int_equal(vol_capacity(f, arch), 2ULL << 30);
	snprintf(needle, sizeof(needle), "volume='%s'", root);
	assert_false(dom_has(f, "web", needle));
	assert_true(dom_has(f, "web-data-archive", needle));
}

/* Volumes under the old names: a leftover is not destroyed on the word of
 * its name, and a vault made again takes its archive back. */
static void test_old_names_kept_and_reused(void **state)
{
	struct fixture *f = *state;
	struct virt_spec s;
	unsigned kept = 9;
	int vols;

	import_base(f, "testguest");
	make_vol(f, "vault9-data-archive.qcow2", NULL);
	assert_int_equal(virt_guest_destroy(&f->h, "vault9-data-archive", NULL), -ENOENT);
	assert_true(vol_exists(f, "vault9-data-archive.qcow2"));

	vols = count_vols(f);
	spec(&s, VIRT_TOTEBOX, "vault9");
	check(f, virt_guest_create(&f->h, &s, NULL));
	assert_int_equal(count_vols(f), vols + 2);
	assert_true(dom_has(f, "vault9", "volume='vault9-data-archive.qcow2'"));
	assert_true(dom_has(f, "vault9", "<osi:data-volume>vault9-data-archive.qcow2</osi:data-volume>"));
	assert_int_equal(virt_data_delete(&f->h, "vault9", "archive", "test"), -EBUSY);
	check(f, virt_guest_destroy(&f->h, "vault9", &kept));
	assert_int_equal(kept, 1);
	assert_true(vol_exists(f, "vault9-data-archive.qcow2"));
	check(f, virt_data_delete(&f->h, "vault9", "archive", "old archive retired"));
	assert_false(vol_exists(f, "vault9-data-archive.qcow2"));
	assert_int_equal(count_vols(f), vols - 1);
}

/* A domain made before volume names were recorded: destroy removes the
 * overlay and seed it attaches under the old names, and keeps its data. */
static void test_destroy_old_domain(void **state)
{
	struct fixture *f = *state;
	static const char *const from[] = { "old-1.root.qcow2", "old-1.seed.iso", "old-1.data.archive.qcow2" };
	static const char *const to[] = { "old-1.qcow2", "old-1-seed.iso", "old-1-data-archive.qcow2" };
	struct virt_meta m = { .type = VIRT_TOTEBOX, .ndata = 1 };
	struct virt_domain_desc d = { .meta = &m, .pool = "osi", .uuid = "6695eb01-f6a4-4304-89aa-97f2502e1177",
				      .console_log = "" };
	struct virt_spec s;
	virDomainPtr dom;
	unsigned kept = 9;
	char *xml;

	import_base(f, "testguest");
	spec(&s, VIRT_TOTEBOX, "old-1");
	d.spec = &s;
	strcpy(m.owner, "operator");
	strcpy(m.instance_id, "i-old");
	strcpy(m.base, "testguest");
	memset(m.spec, 'a', 64);
	strcpy(m.data[0], "archive");
	assert_int_equal(virt_xml_domain(&d, &xml), 0);
	for (size_t i = 0; i < 3; i++) {
		char *at = strstr(xml, from[i]);

		assert_non_null(at);
		memmove(at + strlen(to[i]), at + strlen(from[i]), strlen(at + strlen(from[i])) + 1);
		memcpy(at, to[i], strlen(to[i]));
		make_vol(f, to[i], NULL);
	}
	assert_null(strstr(xml, "-volume>"));
	dom = virDomainDefineXML(f->h.conn, xml);
	assert_non_null(dom);
	virDomainFree(dom);
	free(xml);
	check(f, virt_guest_destroy(&f->h, "old-1", &kept));
	assert_int_equal(kept, 1);
	assert_false(vol_exists(f, "old-1.qcow2"));
	assert_false(vol_exists(f, "old-1-seed.iso"));
	assert_true(vol_exists(f, "old-1-data-archive.qcow2"));
}

static void test_image_remove(void **state)
{
	struct fixture *f = *state;
	struct virt_image *list;
	struct virt_spec s;
	size_t n;

	import_base(f, "testguest");
	spec(&s, VIRT_MEDIAKIT, "web-5");
	check(f, virt_guest_create(&f->h, &s, NULL));
	assert_int_equal(virt_image_remove(&f->h, "testguest"), -EBUSY);
	assert_non_null(strstr(f->h.err, "in use by guest web-5"));
	assert_true(vol_exists(f, "base-testguest.img"));
	check(f, virt_guest_destroy(&f->h, "web-5", NULL));
	check(f, virt_image_remove(&f->h, "testguest"));
	assert_false(vol_exists(f, "base-testguest.img"));
	check(f, virt_image_list(&f->h, &list, &n));
	assert_int_equal(n, 0);
	free(list);
	assert_int_equal(virt_image_remove(&f->h, "testguest"), -ENOENT);
	import_base(f, "testguest");
}

static void test_open_refuses_bad_config(void **state)
{
	struct virt_host h;
	struct virt_config cfg = { .uri = "test:///default", .pool = "Bad Pool" };

	assert_int_equal(virt_host_open(&h, &cfg), -EINVAL);
	cfg.pool = NULL;
	cfg.pool_dir = "relative";
	assert_int_equal(virt_host_open(&h, &cfg), -EINVAL);
	cfg.pool_dir = NULL;
	cfg.uri = "nosuchdriver:///x";
	assert_true(virt_host_open(&h, &cfg) < 0);
	assert_non_null(strstr(h.err, "cannot connect"));
	virt_host_close(&h);
}

static bool always(void *opaque)
{
	(void)opaque;
	return true;
}

/* A move called off (its mover gone) ends the shutdown wait at once and
 * leaves autostart as it was: the fleet's abort may already have turned
 * it on again. Seen failing: the helper waited out 300 s, then turned
 * autostart off under a guest the abort had given back. */
static void test_quiesce_called_off(void **state)
{
	struct fixture *f = *state;
	struct virt_spec s;
	struct virt_guest g;

	import_base(f, "testguest");
	spec(&s, VIRT_TOTEBOX, "vault-q");
	check(f, virt_guest_create(&f->h, &s, NULL));
	f->h.ops.cancelled = always;
	assert_int_equal(virt_move_quiesce(&f->h, "vault-q", 300), -ECANCELED);
	assert_non_null(strstr(f->h.err, "called off"));
	check(f, virt_guest_get(&f->h, "vault-q", &g));
	assert_int_equal(g.state, VIRT_STATE_RUNNING);
	assert_true(g.autostart);
	f->h.ops.cancelled = NULL;
	check(f, virt_move_quiesce(&f->h, "vault-q", 300));
	check(f, virt_guest_get(&f->h, "vault-q", &g));
	assert_int_equal(g.state, VIRT_STATE_DEFINED);
	assert_false(g.autostart);
}

/* The pool's free space as libvirt reports it: what fits, and what not. */
static void test_pool_room(void **state)
{
	struct fixture *f = *state;
	uint64_t avail = 0;

	check(f, virt_pool_ensure(&f->h));
	check(f, virt_pool_room(&f->h, 1, &avail));
	assert_true(avail > 1);
	assert_int_equal(virt_pool_room(&f->h, UINT64_MAX, &avail), -ENOSPC);
}

/* A restore whose second volume fails to upload: the first, already
 * replaced, is put back as it was (libvirt's delete and the upload make a
 * new file at the volume's path: here the upload renames one over it), and
 * nothing is left aside; a leftover of an earlier restore refuses and
 * stays. */
struct restore_fx {
	struct fixture *f;
	char pool[PATH_MAX];
	const char *fail;
};

static int trust_any(const struct export_sig *s, void *ctx, char *err, size_t errlen)
{
	return 0;
}

static int file_upload(virStorageVolPtr vol, uint64_t len, virt_read_fn source, void *rctx,
		       void *opaque, char *err, size_t errlen)
{
	struct restore_fx *r = opaque;
	char path[PATH_MAX + 128], tmp[PATH_MAX + 140], buf[4096];
	const char *name = virStorageVolGetName(vol);
	ssize_t n;

	if (r->fail && strstr(name, r->fail)) {
		snprintf(err, errlen, "injected upload failure");
		return -EIO;
	}
	snprintf(path, sizeof(path), "%s/%s", r->pool, name);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	FILE *out = fopen(tmp, "w");
	assert_non_null(out);
	while ((n = source(rctx, buf, sizeof(buf))) > 0)
		assert_int_equal(fwrite(buf, 1, (size_t)n, out), (size_t)n);
	fclose(out);
	assert_int_equal(rename(tmp, path), 0);
	return 0;
}

static void backup_volume(const char *gdir, const char *disk, struct backup_volume *v)
{
	uint8_t buf[512] = { 0 }, sum[32];
	char path[PATH_MAX + 64];

	memcpy(buf, QCOW2_HEAD, 32);
	snprintf((char *)buf + 100, 64, "backup of %s", disk);
	snprintf(path, sizeof(path), "%s/20261201T000000Z.%s.qcow2", gdir, disk);
	assert_int_equal(atomic_write_file(path, buf, sizeof(buf), 0600), 0);
	crypto_hash_sha256(sum, buf, sizeof(buf));
	sodium_bin2hex(v->sha256, sizeof(v->sha256), sum, sizeof(sum));
	snprintf(v->disk, sizeof(v->disk), "%s", disk);
	v->capacity = 2ULL << 30;
	v->bytes = sizeof(buf);
}

static bool file_is(const char *path, const char *text)
{
	char buf[64] = "";
	FILE *in = fopen(path, "r");
	size_t n = in ? fread(buf, 1, sizeof(buf) - 1, in) : 0;

	if (in)
		fclose(in);
	return n == strlen(text) && !memcmp(buf, text, n);
}

static void test_restore_puts_back_every_volume(void **state)
{
	struct fixture *f = *state;
	struct restore_fx r = { .f = f, .fail = "media" };
	struct identity id = { .name = "node-a" };
	struct backup_manifest m = { .created = 100, .nvol = 2 };
	char dir[PATH_MAX], gdir[PATH_MAX], a[PATH_MAX + 64], b[PATH_MAX + 64], kept[PATH_MAX + 80];
	struct backup_request req = { .dir = dir, .signer = &id, .trust = trust_any };
	struct virt_spec s;
	struct virt_guest g;
	size_t links = 0;

	import_base(f, "testguest");
	spec(&s, VIRT_TOTEBOX, "vault-5");
	s.start = false;
	s.ndata = 2;
	strcpy(s.data[1].name, "media");
	s.data[1].bytes = 2ULL << 30;
	strcpy(s.data[1].mount, "/srv/media");
	check(f, virt_guest_create(&f->h, &s, &g));

	snprintf(r.pool, sizeof(r.pool), "%s", f->h.pool_dir);
	snprintf(a, sizeof(a), "%s/vault-5.data.archive.qcow2", r.pool);
	snprintf(b, sizeof(b), "%s/vault-5.data.media.qcow2", r.pool);
	mkdir(r.pool, 0700);
	assert_int_equal(atomic_write_file(a, "old archive", 11, 0600), 0);
	assert_int_equal(atomic_write_file(b, "old media", 9, 0600), 0);

	crypto_sign_keypair(id.sign_pk, id.sign_sk);
	snprintf(dir, sizeof(dir), "%s/backups", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(backup_guest_dir(dir, "vault-5", true, gdir, sizeof(gdir), f->h.err,
					  sizeof(f->h.err)), 0);
	strcpy(m.id, "20261201T000000Z");
	strcpy(m.guest, "vault-5");
	strcpy(m.instance_id, g.instance_id);
	strcpy(m.node, "node-a");
	backup_volume(gdir, "archive", &m.vol[0]);
	backup_volume(gdir, "media", &m.vol[1]);
	assert_int_equal(backup_store_manifest(gdir, &m, &id, f->h.err, sizeof(f->h.err)), 0);

	f->h.ops.upload = file_upload;
	f->h.ops.opaque = &r;
	assert_int_equal(virt_restore(&f->h, "vault-5", m.id, &req, &links), -EIO);
	assert_non_null(strstr(f->h.err, "injected upload failure"));
	assert_non_null(strstr(f->h.err, "every data volume was put back as it was"));
	assert_true(file_is(a, "old archive"));
	assert_true(file_is(b, "old media"));
	snprintf(kept, sizeof(kept), "%s/.osi-restore-vault-5.data.archive.qcow2", r.pool);
	assert_int_not_equal(access(kept, F_OK), 0);
	snprintf(kept, sizeof(kept), "%s/.osi-restore-vault-5.data.media.qcow2", r.pool);
	assert_int_not_equal(access(kept, F_OK), 0);

	/* the test driver's pool refresh reads no directory: what it lost to
	 * the put back (the new volume deleted) is defined again */
	for (int i = 0; i < 2; i++) {
		char xml[256];
		virStorageVolPtr v;

		snprintf(xml, sizeof(xml), "<volume><name>vault-5.data.%s.qcow2</name><capacity>2147483648"
			 "</capacity><target><format type='qcow2'/></target></volume>",
			 i ? "media" : "archive");
		if (!vol_exists(f, i ? "vault-5.data.media.qcow2" : "vault-5.data.archive.qcow2")) {
			check(f, virt_vol_create(&f->h, xml, &v));
			virStorageVolFree(v);
		}
	}

	/* a leftover refuses before anything is written, and stays */
	assert_int_equal(atomic_write_file(kept, "older media", 11, 0600), 0);
	r.fail = NULL;
	assert_int_equal(virt_restore(&f->h, "vault-5", m.id, &req, &links), -EEXIST);
	assert_non_null(strstr(f->h.err, "refused, nothing was written"));
	assert_non_null(strstr(f->h.err, "remains from a restore that did not finish"));
	assert_true(file_is(kept, "older media"));
	assert_true(file_is(a, "old archive"));
	assert_true(file_is(b, "old media"));

	assert_int_equal(unlink(kept), 0);
	assert_int_equal(virt_restore(&f->h, "vault-5", m.id, &req, &links), 0);
	assert_int_equal(links, 1);
	assert_false(file_is(a, "old archive"));
	assert_int_not_equal(access(kept, F_OK), 0);
	f->h.ops.upload = fake_upload;
	f->h.ops.opaque = f;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_pool_created_once),
		T(test_image_import_list_verify),
		T(test_image_import_refusals),
		T(test_image_fetch_offline),
		T(test_image_fetch_from_mirror),
		T(test_create_defines_and_starts),
		T(test_create_kvm_when_offered),
		T(test_create_is_idempotent),
		T(test_rollback_on_seed_upload),
		T(test_rollback_at_every_step),
		T(test_base_checked_before_use),
		T(test_leftover_volume_refused_then_destroyed),
		T(test_list_show_start_stop),
		T(test_destroy_keeps_data_volume),
		T(test_guest_named_like_a_data_volume),
		T(test_data_volume_not_another_guests_root),
		T(test_old_names_kept_and_reused),
		T(test_destroy_old_domain),
		T(test_image_remove),
		T(test_quiesce_called_off),
		T(test_pool_room),
		T(test_restore_puts_back_every_volume),
		cmocka_unit_test(test_open_refuses_bad_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
