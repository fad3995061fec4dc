/* The export archive's reader: a good archive verifies (format 2, and
 * format 1 as older versions wrote it); a flipped byte anywhere that
 * matters, a cut at any length, an untrusted signer, an entry out of order,
 * extra or of the wrong kind, a format entry added or taken away are
 * refused. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "tests/unit/fixture.h"
#include "lib/sha256-tree.h"
#include "virt/virt-export.h"

#define VOL_BYTES 20000

struct fx {
	char dir[64], path[128];
	struct identity id;
	char volume[VOL_BYTES];
};

enum shape { GOOD, SIG_FIRST, EXTRA_ENTRY, NO_SIG, SYMLINK, WRONG_NAME, SHORT_SIZE,
	     V1,             /* as versions before 2 wrote it: no format entry, plain SHA-256 */
	     FORMAT_DROPPED, /* a format 2 manifest, its format entry taken away */
	     FORMAT_ADDED,   /* a format 1 manifest behind a format entry */
	     FORMAT_OTHER,   /* a format entry of another version */
	     FORMAT_LATE };  /* the format entry after a volume */

static void entry(struct archive *a, const char *name, const void *data, size_t len, bool link)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, link ? AE_IFLNK : AE_IFREG);
	if (link)
		archive_entry_set_symlink(e, "/etc/passwd");
	archive_entry_set_perm(e, 0600);
	archive_entry_set_size(e, link ? 0 : (la_int64_t)len);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (!link)
		assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

static void manifest_of(struct fx *f, struct export_manifest *m, size_t vol_bytes, unsigned version)
{
	struct sha256_tree *t = sha256_tree_new(version == 1 ? SHA256_TREE_PLAIN : SHA256_TREE_PIECES);

	memset(m, 0, sizeof(*m));
	strcpy(m->type, "privategit");
	strcpy(m->name, "git-1");
	strcpy(m->instance_id, "i-1");
	strcpy(m->base, "test-image");
	memset(m->base_sha256, 'b', 64);
	m->vcpus = 1;
	m->memory_bytes = 1 << 30;
	m->disk_bytes = 4ull << 30;
	strcpy(m->net, "none");
	strcpy(m->node, "node-a");
	m->user_data = strdup("#cloud-config\n");
	m->nvol = 1;
	strcpy(m->vol[0].disk, "repos");
	m->vol[0].capacity = 1 << 30;
	m->vol[0].bytes = vol_bytes;
	m->version = version;
	assert_non_null(t);
	sha256_tree_update(t, f->volume, VOL_BYTES);
	assert_int_equal(sha256_tree_hex(t, m->vol[0].sha256), 0);
}

static void build(struct fx *f, enum shape shape)
{
	struct archive *a = archive_write_new();
	struct export_manifest m;
	char *text, *sig, err[128];
	size_t len, slen;
	const char *vname = shape == WRONG_NAME ? "volumes/data-other.qcow2" : "volumes/data-repos.qcow2";

	bool v1 = shape == V1 || shape == FORMAT_ADDED;
	bool format = !v1 || shape == FORMAT_ADDED;

	manifest_of(f, &m, shape == SHORT_SIZE ? VOL_BYTES - 1 : VOL_BYTES, v1 ? 1 : 2);
	assert_int_equal(export_manifest_encode(&m, &text, &len, err, sizeof(err)), 0);
	assert_int_equal(export_sign(&f->id, text, len, &sig, &slen), 0);
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, f->path), ARCHIVE_OK);
	if (shape == FORMAT_OTHER)
		entry(a, EXPORT_FORMAT_ENTRY, "osi-export-v3\n", 14, false);
	else if (format && shape != FORMAT_DROPPED && shape != FORMAT_LATE)
		entry(a, EXPORT_FORMAT_ENTRY, EXPORT_FORMAT "\n", strlen(EXPORT_FORMAT) + 1, false);
	if (shape == SIG_FIRST)
		entry(a, EXPORT_SIG_ENTRY, sig, slen, false);
	entry(a, vname, f->volume, VOL_BYTES, shape == SYMLINK);
	if (shape == FORMAT_LATE)
		entry(a, EXPORT_FORMAT_ENTRY, EXPORT_FORMAT "\n", strlen(EXPORT_FORMAT) + 1, false);
	entry(a, EXPORT_MANIFEST_ENTRY, text, len, false);
	if (shape != NO_SIG && shape != SIG_FIRST)
		entry(a, EXPORT_SIG_ENTRY, sig, slen, false);
	if (shape == EXTRA_ENTRY)
		entry(a, "volumes/data-late.qcow2", "x", 1, false);
	archive_write_close(a);
	archive_write_free(a);
	export_manifest_free(&m);
	free(text);
	free(sig);
}

static int trust_id(const struct export_sig *s, void *ctx, char *err, size_t errlen)
{
	const struct identity *id = ctx;

	if (memcmp(s->key, id->sign_pk, SIGN_PK_BYTES)) {
		snprintf(err, errlen, "unknown key");
		return -EPERM;
	}
	return 0;
}

static int verify(struct fx *f, char *err)
{
	struct export_manifest m;
	int ret = export_archive_verify(f->path, trust_id, &f->id, &m, err, 256);

	if (ret == 0)
		export_manifest_free(&m);
	else
		assert_null(m.user_data);
	return ret;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || fixture_tmpdir(f->dir, sizeof(f->dir), "osi-export") < 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/guest.osx", f->dir);
	strcpy(f->id.name, "node-a");
	crypto_sign_keypair(f->id.sign_pk, f->id.sign_sk);
	for (size_t i = 0; i < VOL_BYTES; i++)
		f->volume[i] = (char)('A' + i % 23);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	fixture_rmtree(f->dir);
	free(f);
	return 0;
}

static void good_and_read_back(void **state)
{
	struct fx *f = *state;
	static const enum shape shapes[] = { GOOD, V1 };

	for (unsigned i = 0; i < 2; i++) {
		struct export_manifest m;
		struct archive *a;
		char err[256] = "", buf[VOL_BYTES + 10];
		size_t got = 0;
		ssize_t n;

		build(f, shapes[i]);
		assert_int_equal(export_archive_verify(f->path, trust_id, &f->id, &m, err, sizeof(err)), 0);
		assert_string_equal(m.name, "git-1");
		assert_int_equal(m.version, i ? 1 : 2);
		assert_int_equal(export_archive_open(f->path, &a, err, sizeof(err)), 0);
		assert_int_equal(export_archive_next(a, &m.vol[0], err, sizeof(err)), 0);
		while ((n = export_archive_read(a, buf + got, sizeof(buf) - got)) > 0)
			got += (size_t)n;
		assert_int_equal(got, VOL_BYTES);
		assert_memory_equal(buf, f->volume, VOL_BYTES);
		export_archive_close(a);
		export_manifest_free(&m);
	}
}

static void flip_at(const char *path, long off)
{
	FILE *fp = fopen(path, "r+b");
	int c;

	assert_non_null(fp);
	fseek(fp, off, SEEK_SET);
	c = fgetc(fp);
	fseek(fp, off, SEEK_SET);
	fputc(c ^ 0x01, fp);
	fclose(fp);
}

static long find(const char *path, const char *needle)
{
	static char buf[1 << 17];
	FILE *fp = fopen(path, "rb");
	size_t n = fread(buf, 1, sizeof(buf), fp);
	char *p = memmem(buf, n, needle, strlen(needle));

	fclose(fp);
	assert_non_null(p);
	return p - buf;
}

static void tampered(void **state)
{
	struct fx *f = *state;
	char err[256];

	build(f, GOOD);
	flip_at(f->path, find(f->path, "ABCDEFG") + 3000);
	assert_int_equal(verify(f, err), -EBADMSG);
	assert_non_null(strstr(err, "altered"));
	build(f, GOOD);
	flip_at(f->path, find(f->path, "\"name\":\"git-1\"") + 9);
	assert_int_equal(verify(f, err), -EBADMSG);
	assert_non_null(strstr(err, "signature does not verify"));
	build(f, GOOD);
	flip_at(f->path, find(f->path, "\"sig\":\"") + 9);
	assert_int_equal(verify(f, err), -EBADMSG);
}

static void truncated(void **state)
{
	struct fx *f = *state;
	struct stat st;
	char err[256];
	off_t end;

	build(f, GOOD);
	assert_int_equal(stat(f->path, &st), 0);
	/* Up to the signature's last byte: a cut in the zero blocks after it
	 * loses nothing that was signed, and is read as a whole archive. */
	end = find(f->path, "\"sig\":\"") + 7 + SIG_BYTES * 2;
	assert_true(end < st.st_size);
	for (off_t cut = 0; cut <= end; cut += cut < 2048 || cut > end - 600 ? 97 : 509) {
		build(f, GOOD);
		assert_int_equal(truncate(f->path, cut), 0);
		if (verify(f, err) == 0)
			fail_msg("cut at %lld of %lld verified", (long long)cut, (long long)st.st_size);
	}
}

static void untrusted(void **state)
{
	struct fx *f = *state;
	struct identity other = f->id;
	char err[256];

	build(f, GOOD);
	crypto_sign_keypair(other.sign_pk, other.sign_sk);
	{
		struct export_manifest m;

		assert_int_equal(export_archive_verify(f->path, trust_id, &other, &m, err, sizeof(err)), -EPERM);
		assert_non_null(strstr(err, "not trusted"));
	}
}

static void bad_shapes(void **state)
{
	struct fx *f = *state;
	static const enum shape shapes[] = { SIG_FIRST, EXTRA_ENTRY, NO_SIG, SYMLINK, WRONG_NAME, SHORT_SIZE,
					     FORMAT_DROPPED, FORMAT_ADDED, FORMAT_OTHER, FORMAT_LATE };
	char err[256];

	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		build(f, shapes[i]);
		assert_int_equal(verify(f, err), -EBADMSG);
		if (shapes[i] == FORMAT_DROPPED || shapes[i] == FORMAT_ADDED)
			assert_non_null(strstr(err, "format entry"));
	}
	assert_int_equal(export_archive_verify("/nonexistent/x", trust_id, &f->id,
					       &(struct export_manifest){ 0 }, err, sizeof(err)), -EBADMSG);
}

static char checked[64];

static int refuse_git_1(struct export_manifest *m, void *ctx, char *err, size_t errlen)
{
	snprintf(checked, sizeof(checked), "%s", m->name);
	snprintf(err, errlen, "not the move's guest");
	return -EBADMSG;
}

/* A move's check sees the verified manifest and refuses it before anything
 * is made: the host has no libvirt connection here, so reaching it would fail
 * otherwise (a move-in defined another guest's archive, then compared names). */
static void import_refused_by_check(void **state)
{
	struct fx *f = *state;
	struct virt_host h;
	struct export_manifest m;

	memset(&h, 0, sizeof(h));
	build(f, GOOD);
	assert_int_equal(virt_import_checked(&h, f->path, trust_id, &f->id, NULL, refuse_git_1, &m),
			 -EBADMSG);
	assert_string_equal(checked, "git-1");
	assert_string_equal(h.err, "not the move's guest");
	assert_null(m.user_data);
}

struct taken {
	unsigned n;
	char entry[64];
	size_t want; /* how much of the volume the taker reads itself */
	char data[VOL_BYTES];
	size_t got;
};

static int take_part(void *ctx, const char *entry, uint64_t bytes, virt_read_fn read, void *rctx)
{
	struct taken *t = ctx;
	ssize_t n;

	t->n++;
	snprintf(t->entry, sizeof(t->entry), "%s", entry);
	assert_int_equal(bytes, VOL_BYTES);
	while (t->got < t->want && (n = read(rctx, t->data + t->got, t->want - t->got)) > 0)
		t->got += (size_t)n;
	return 0;
}

/* The archive streamed through a pipe by a writer thread of our own: the
 * reader sees it once, in order. */
static int stream(struct fx *f, struct taken *t, bool *whole, char *err, size_t cut)
{
	struct export_manifest m;
	char buf[4096];
	int p[2], in = open(f->path, O_RDONLY | O_CLOEXEC), ret;
	size_t sent = 0;
	ssize_t n;
	pid_t pid;

	assert_true(in >= 0);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		while ((!cut || sent < cut) && (n = read(in, buf, cut && cut - sent < sizeof(buf)
							      ? cut - sent : sizeof(buf))) > 0)
			sent += (size_t)write(p[1], buf, (size_t)n);
		_exit(0);
	}
	close(p[1]);
	close(in);
	ret = export_archive_stream(p[0], take_part, t, trust_id, &f->id, &m, whole, err, 256);
	close(p[0]);
	waitpid(pid, NULL, 0);
	if (ret == 0)
		export_manifest_free(&m);
	else
		assert_null(m.user_data);
	return ret;
}

/* A move's stream is read once: the taker gets the volume as it passes
 * (reading as much of it as it likes, the rest read after it), then the
 * manifest is checked against what passed; a byte flipped in the volume is
 * found only then, the archive read whole; a cut stream is not whole. */
static void streamed(void **state)
{
	struct fx *f = *state;
	struct taken t = { .want = VOL_BYTES };
	char err[256] = "";
	bool whole = false;

	build(f, GOOD);
	assert_int_equal(stream(f, &t, &whole, err, 0), 0);
	assert_true(whole);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.entry, "volumes/data-repos.qcow2");
	assert_int_equal(t.got, VOL_BYTES);
	assert_memory_equal(t.data, f->volume, VOL_BYTES);

	memset(&t, 0, sizeof(t));
	t.want = 100; /* the taker stops early: the rest still counts */
	assert_int_equal(stream(f, &t, &whole, err, 0), 0);

	memset(&t, 0, sizeof(t));
	flip_at(f->path, find(f->path, "ABCDEFGHIJ") + 5000);
	assert_int_equal(stream(f, &t, &whole, err, 0), -EBADMSG);
	assert_true(whole);
	assert_non_null(strstr(err, "altered (in the archive, or in transit): SHA-256"));

	build(f, GOOD);
	memset(&t, 0, sizeof(t));
	assert_int_equal(stream(f, &t, &whole, err, 12000), -EBADMSG);
	assert_false(whole);
	assert_non_null(strstr(err, "damaged or truncated"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(good_and_read_back, setup, teardown),
		cmocka_unit_test_setup_teardown(tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(untrusted, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_shapes, setup, teardown),
		cmocka_unit_test_setup_teardown(import_refused_by_check, setup, teardown),
		cmocka_unit_test_setup_teardown(streamed, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
