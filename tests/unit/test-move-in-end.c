/* A move-in's stream (service-vm-host/helper-move.c, virt_import_stream)
 * against libvirt's test driver, its volume upload replaced (the driver has
 * none): a complete, well-formed archive, signed by a member, defines
 * nothing unless the mover saw the source's END (its verdict). The same
 * archive with the verdict given defines the guest, so what refuses the
 * first is the verdict alone. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
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

#include <cmocka.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <sodium.h>

#include "lib/export-manifest.h"
#include "lib/fileio.h"
#include "lib/identity.h"
#include "lib/trust.h"
#include "service-vm-host/helper-move.h"
#include "tests/unit/fixture.h"
#include "lib/sha256-tree.h"
#include "virt/virt-move.h"

#define VOL_BYTES 8192
#define CAPACITY (64ull << 20)
#define ARCHIVE_MAX (256u << 10)

struct fx {
	char dir[64], uri[PATH_MAX + 16];
	struct host_config c;
	struct virt_host h;
	struct identity id;
	uint8_t volume[VOL_BYTES];
	char *archive;
	size_t len;
};

static void quiet(void *data, virErrorPtr err)
{
}

/* The driver has no volume streams: what an upload brings is read and dropped. */
static int drop_upload(virStorageVolPtr vol, uint64_t len, virt_read_fn read, void *rctx,
		       void *opaque, char *err, size_t errlen)
{
	uint8_t buf[4096];

	for (uint64_t got = 0; got < len;) {
		ssize_t n = read(rctx, buf, len - got < sizeof(buf) ? (size_t)(len - got) : sizeof(buf));

		if (n <= 0)
			return snprintf(err, errlen, "short upload"), -EIO;
		got += (uint64_t)n;
	}
	return 0;
}

static int no_kvm(virConnectPtr conn, void *opaque, char *err, size_t errlen)
{
	return 0;
}

/* The mover's word, as stream_verdict gives it: END seen, or not. */
static int no_end(char *err, size_t errlen)
{
	snprintf(err, errlen, "the agent's mover did not see the source end the stream whole");
	return -EBADMSG;
}

static int end_seen(char *err, size_t errlen)
{
	return 0;
}

static void entry(struct archive *a, const char *name, const void *data, size_t len)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0600);
	archive_entry_set_size(e, (la_int64_t)len);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

/* A qcow2 v3 header of CAPACITY bytes, no backing file, then data. */
static void volume_of(struct fx *f)
{
	static const uint8_t head[] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };

	for (size_t i = 0; i < VOL_BYTES; i++)
		f->volume[i] = (uint8_t)(i * 13);
	memset(f->volume, 0, 104);
	memcpy(f->volume, head, sizeof(head));
	f->volume[23] = 16; /* cluster bits */
	for (int i = 0; i < 8; i++)
		f->volume[24 + i] = (uint8_t)(CAPACITY >> (56 - 8 * i));
	f->volume[103] = 104; /* header length */
}

/* The archive a source's export of vault1 writes, whole, signed by node-a. */
static void archive_of(struct fx *f, const char *base_sha256)
{
	struct archive *a = archive_write_new();
	struct export_manifest m = { .vcpus = 1, .memory_bytes = 192ull << 20, .disk_bytes = 1ull << 30,
				     .nvol = 1 };
	struct sha256_tree *t = sha256_tree_new(SHA256_TREE_PIECES);
	char *text, *sig, err[256];
	size_t len, slen, used = 0;

	strcpy(m.type, "totebox");
	strcpy(m.name, "vault1");
	strcpy(m.instance_id, "i-moved-1");
	strcpy(m.owner, "operator");
	strcpy(m.base, "testguest");
	strcpy(m.base_sha256, base_sha256);
	strcpy(m.net, "none");
	strcpy(m.node, "node-a");
	m.user_data = "#cloud-config\n";
	strcpy(m.vol[0].disk, "archive");
	strcpy(m.vol[0].mount, "/srv/archive");
	m.vol[0].capacity = CAPACITY;
	m.vol[0].bytes = VOL_BYTES;
	assert_non_null(t);
	sha256_tree_update(t, f->volume, VOL_BYTES);
	assert_int_equal(sha256_tree_hex(t, m.vol[0].sha256), 0);
	assert_int_equal(export_manifest_encode(&m, &text, &len, err, sizeof(err)), 0);
	assert_int_equal(export_sign(&f->id, text, len, &sig, &slen), 0);
	f->archive = malloc(ARCHIVE_MAX);
	assert_non_null(f->archive);
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_memory(a, f->archive, ARCHIVE_MAX, &used), ARCHIVE_OK);
	entry(a, EXPORT_FORMAT_ENTRY, EXPORT_FORMAT "\n", strlen(EXPORT_FORMAT) + 1);
	entry(a, "volumes/data-archive.qcow2", f->volume, VOL_BYTES);
	entry(a, EXPORT_MANIFEST_ENTRY, text, len);
	entry(a, EXPORT_SIG_ENTRY, sig, slen);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	f->len = used;
	free(text);
	free(sig);
}

/* node-a, the signer, is the one member of this node's trust file. */
static void trust_signer(struct fx *f)
{
	struct trust_entry e = { .roles = TRUST_ROLE_NODE };
	struct trust_set set = { &e, 1 };

	strcpy(e.name, f->id.name);
	memcpy(e.sign_pk, f->id.sign_pk, SIGN_PK_BYTES);
	memcpy(e.kx_pk, f->id.kx_pk, KX_PK_BYTES);
	snprintf(f->c.trust_file, sizeof(f->c.trust_file), "%s/trust", f->dir);
	assert_int_equal(trust_save(f->c.trust_file, &set), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char pool_dir[128], manifest[128], base[128];
	struct virt_config cfg = { .console_dir = "", .skip_verify = true };
	struct virt_image im;
	uint8_t raw[4096] = { 0x33, 0xc0 };

	if (!f || fixture_tmpdir(f->dir, sizeof(f->dir), "test-move-in-end"))
		return -1;
	snprintf(f->uri, sizeof(f->uri), "test://%s/virt-node.xml", getenv("OSI_FIXTURES"));
	snprintf(pool_dir, sizeof(pool_dir), "%s/pool", f->dir);
	snprintf(manifest, sizeof(manifest), "%s/images.json", f->dir);
	cfg.uri = f->uri;
	cfg.pool_dir = pool_dir;
	cfg.image_manifest = manifest;
	virSetErrorFunc(NULL, quiet);
	if (virt_host_open(&f->h, &cfg) < 0)
		return -1;
	f->h.ops.upload = drop_upload;
	f->h.ops.has_kvm = no_kvm;
	snprintf(f->c.state_dir, sizeof(f->c.state_dir), "%s", f->dir);
	snprintf(f->c.images_dir, sizeof(f->c.images_dir), "%s/images", getenv("OSI_SOURCE"));
	strcpy(f->c.guest_network, "none");
	if (identity_create(f->dir, "node-a", &f->id) < 0)
		return -1;
	trust_signer(f);
	snprintf(base, sizeof(base), "%s/base.raw", f->dir);
	if (atomic_write_file(base, raw, sizeof(raw), 0600) < 0 ||
	    virt_image_import(&f->h, base, "testguest", NULL, &im) < 0)
		return -1;
	volume_of(f);
	archive_of(f, im.sha256);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	virt_host_close(&f->h);
	identity_wipe(&f->id);
	free(f->archive);
	fixture_rmtree(f->dir);
	free(f);
	return 0;
}

/* The archive, whole, in a pipe whose writer has ended: its read end. */
static int stream_of(struct fx *f)
{
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_true(fcntl(p[1], F_SETPIPE_SZ, (int)ARCHIVE_MAX) >= (int)f->len);
	assert_int_equal(write(p[1], f->archive, f->len), (ssize_t)f->len);
	close(p[1]);
	return p[0];
}

static int move_in(struct fx *f, move_verdict_fn verdict)
{
	const struct move_spec spec = { "totebox", 192ull << 20, 1 };
	int fd = stream_of(f), ret = helper_move_in(&f->h, &f->c, "vault1", &spec, fd, VOL_BYTES, verdict);

	close(fd);
	return ret;
}

static bool marked(struct fx *f)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/moves/in.vault1", f->dir);
	return access(path, F_OK) == 0;
}

/* Complete and well-formed, every check held, but no END: nothing defined,
 * no volume left, no marker. Seen: with the verdict not asked (the END
 * check in virt_import_stream removed) this defined vault1. */
static void whole_archive_without_end(void **state)
{
	struct fx *f = *state;
	struct virt_guest g;

	assert_int_equal(move_in(f, no_end), -EBADMSG);
	assert_non_null(strstr(f->h.err, "did not see the source end the stream whole"));
	assert_int_equal(virt_guest_get(&f->h, "vault1", &g), -ENOENT);
	assert_int_equal(virt_move_volumes_here(&f->h, "vault1", NULL, 0), 0);
	assert_false(marked(f));

	if (move_in(f, end_seen) < 0)
		fail_msg("the same archive with END seen: %s", f->h.err);
	assert_int_equal(virt_guest_get(&f->h, "vault1", &g), 0);
	assert_string_equal(g.instance_id, "i-moved-1");
	assert_int_equal(g.state, VIRT_STATE_DEFINED);
	assert_false(g.autostart);
	assert_true(virt_move_volumes_here(&f->h, "vault1", NULL, 0) > 0);
	assert_true(marked(f));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(whole_archive_without_end, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
