/* A backup's copy to another node: the chain packed from one store and
 * stored into another, and what the receiver refuses (an altered byte, a
 * foreign guest's manifest, an entry that is not a flat regular file of a
 * backup, a different backup under an id the store holds, an untrusted
 * signer), each leaving the receiving store as it was. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "lib/backup-keys.h"
#include "lib/backup-trust.h"
#include "lib/fileio.h"
#include "tests/unit/fixture.h"
#include "tests/unit/luks-image.h"
#include "virt/virt-backup-copy.h"

#define F1 "20261201T000000Z"
#define I1 "20261202T000000Z"
#define I2 "20261203T000000Z"

struct fx {
	char base[64], src[300], dst[300], dgdir[400], err[512], summary[512];
	struct identity id;
};

static int trust_id(const struct export_sig *s, void *ctx, char *err, size_t errlen)
{
	const struct identity *id = ctx;

	if (sodium_memcmp(s->key, id->sign_pk, SIGN_PK_BYTES))
		return snprintf(err, errlen, "not the test key"), -EPERM;
	return 0;
}

static bool luks_volumes; /* the next volumes' headers say LUKS (crypt_method 2) */
static const uint8_t *luks_key; /* set: the next volumes are real LUKS qcow2s under it */
static char luks_dir[64];       /* where the LUKS images are made, one per key */

static bool have_qemu_img(void)
{
	return system("command -v qemu-img > /dev/null") == 0;
}

/* A qcow2 v3 header and some bytes of its own (or a LUKS image: luks_key). */
static void volume(const char *gdir, const char *id, const char *disk, struct backup_volume *v)
{
	uint8_t buf[200] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 }, sum[32];

	buf[35] = luks_volumes ? 2 : 0;
	char path[600];
	size_t len = 0;

	snprintf((char *)buf + 80, sizeof(buf) - 80, "payload of %s %s", id, disk);
	snprintf(path, sizeof(path), "%s/%s.%s.qcow2", gdir, id, disk);
	assert_int_equal(luks_or_plain_at(luks_dir, luks_key, path, buf, sizeof(buf), sum, &len), 0);
	sodium_bin2hex(v->sha256, sizeof(v->sha256), sum, sizeof(sum));
	snprintf(v->disk, sizeof(v->disk), "%s", disk);
	v->capacity = 1 << 30;
	v->bytes = len;
}

/* One backup of guest into dir/guest, signed; parent "" for a full. */
static void backup(struct fx *f, const char *dir, const char *guest, const char *id,
		   const char *parent, int64_t created)
{
	char gdir[400];
	struct backup_manifest m = { .created = created, .nvol = 2 };

	assert_int_equal(backup_guest_dir(dir, guest, true, gdir, sizeof(gdir), f->err, sizeof(f->err)), 0);
	snprintf(m.id, sizeof(m.id), "%s", id);
	snprintf(m.guest, sizeof(m.guest), "%s", guest);
	strcpy(m.instance_id, "i-1");
	strcpy(m.node, "node-a");
	m.incremental = parent[0] != '\0';
	snprintf(m.parent, sizeof(m.parent), "%s", parent);
	volume(gdir, id, "archive", &m.vol[0]);
	volume(gdir, id, "media", &m.vol[1]);
	assert_int_equal(backup_store_manifest(gdir, &m, &f->id, f->err, sizeof(f->err)), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || fixture_tmpdir(f->base, sizeof(f->base), "test-backup-copy"))
		return -1;
	snprintf(f->src, sizeof(f->src), "%s/src", f->base);
	snprintf(f->dst, sizeof(f->dst), "%s/dst", f->base);
	snprintf(f->dgdir, sizeof(f->dgdir), "%s/vault1", f->dst);
	snprintf(luks_dir, sizeof(luks_dir), "%s", f->base);
	strcpy(f->id.name, "node-a");
	crypto_sign_keypair(f->id.sign_pk, f->id.sign_sk);
	backup(f, f->src, "vault1", F1, "", 100);
	backup(f, f->src, "vault1", I1, F1, 200);
	backup(f, f->src, "vault1", I2, I1, 300);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	backup_copy_free_for_tests = NULL;
	luks_key = NULL;
	fixture_rmtree(f->base);
	free(f);
	return 0;
}

static int pack(struct fx *f, const char *guest, const char *id)
{
	char gdir[400];
	uint64_t bytes;
	int fd = memfd_create("copy", MFD_CLOEXEC);

	assert_true(fd >= 0);
	snprintf(gdir, sizeof(gdir), "%s/%s", f->src, guest);
	assert_int_equal(backup_copy_pack(gdir, id, trust_id, &f->id, NULL, fd, &bytes, f->err,
					  sizeof(f->err)), 0);
	assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)bytes);
	return fd;
}

static int unpack(struct fx *f, int fd, backup_trust_fn trust)
{
	int ret;

	f->err[0] = f->summary[0] = '\0';
	ret = backup_copy_unpack(f->dst, "vault1", fd, trust, &f->id, NULL, f->summary, sizeof(f->summary),
				 f->err, sizeof(f->err));
	close(fd);
	return ret;
}

/* The receiving store's backups, each intact; and no staging left. */
static size_t stored(struct fx *f)
{
	struct backup_entry *e;
	struct dirent *de;
	size_t n;
	DIR *d;

	assert_int_equal(backup_list(f->dgdir, trust_id, &f->id, &e, &n, f->err, sizeof(f->err)), 0);
	for (size_t i = 0; i < n; i++)
		assert_true(e[i].intact);
	free(e);
	if ((d = opendir(f->dgdir))) {
		while ((de = readdir(d)))
			assert_null(strstr(de->d_name, BACKUP_COPY_STAGING));
		closedir(d);
	}
	return n;
}

static void same_file(const char *a, const char *b)
{
	char *x, *y;
	size_t xl, yl;

	assert_int_equal(read_file(a, 1 << 20, &x, &xl), 0);
	assert_int_equal(read_file(b, 1 << 20, &y, &yl), 0);
	assert_int_equal(xl, yl);
	assert_memory_equal(x, y, xl);
	free(x);
	free(y);
}

/* A chain of LUKS qcow2 volumes is stored as it is, and the receiver says
 * what restoring it there needs. */
static void encrypted(void **state)
{
	struct fx *f = *state;

	luks_volumes = true;
	backup(f, f->src, "vault1", "20261205T000000Z", "", 400);
	luks_volumes = false;
	assert_int_equal(unpack(f, pack(f, "vault1", "20261205T000000Z"), trust_id), 0);
	assert_non_null(strstr(f->summary, "1 backup(s) of vault1 stored in "));
	assert_non_null(strstr(f->summary, "; LUKS-encrypted, no key came with it"));
	assert_non_null(strstr(f->summary, "restorable here only into a volume under the same key"));
}

/* The sender's keys for an encrypted chain: its volumes' key sealed to to. */
struct keyctx {
	const struct identity *signer, *to;
	uint8_t key[KEY_SEAL_KEY_BYTES];
	unsigned calls;
	const char *only;  /* the key of that volume only, if set */
	char *text;
	size_t len;
};

static int make_keys(void *ctx, const struct backup_manifest *full, const struct backup_manifest *top,
		     const bool *enc, char **text, size_t *len, char *err, size_t errlen)
{
	struct keyctx *c = ctx;
	struct backup_keys k = { .nvol = 0 };

	c->calls++;
	strcpy(k.backup, top->id);
	strcpy(k.guest, top->guest);
	strcpy(k.instance_id, top->instance_id);
	strcpy(k.node, c->signer->name);
	strcpy(k.recipient, c->to->name);
	key_seal_id(c->to->sign_pk, k.key_id);
	for (unsigned i = 0; i < full->nvol; i++) {
		if (!enc[i] || (c->only && strcmp(c->only, full->vol[i].disk)))
			continue;
		strcpy(k.vol[k.nvol].disk, full->vol[i].disk);
		strcpy(k.vol[k.nvol].sha256, full->vol[i].sha256);
		assert_int_equal(key_seal_ed25519(c->to->sign_pk, c->key, k.vol[k.nvol].sealed), 0);
		k.nvol++;
	}
	return backup_keys_sign(c->signer, &k, text, len, err, errlen);
}

static int pack_keys(struct fx *f, const char *id, struct keyctx *c)
{
	char gdir[400];
	uint64_t bytes;
	int fd = memfd_create("copy", MFD_CLOEXEC);

	snprintf(gdir, sizeof(gdir), "%s/vault1", f->src);
	assert_int_equal(backup_copy_pack(gdir, id, trust_id, &f->id,
					  &(struct backup_copy_hooks){ .keys = make_keys, .kctx = c }, fd, &bytes, f->err,
					  sizeof(f->err)), 0);
	return fd;
}

static int unpack_keys(struct fx *f, int fd, const struct backup_copy_keys_in *kin)
{
	int ret;

	f->err[0] = f->summary[0] = '\0';
	ret = backup_copy_unpack(f->dst, "vault1", fd, trust_id, &f->id, kin, f->summary,
				 sizeof(f->summary), f->err, sizeof(f->err));
	close(fd);
	return ret;
}

#define F5 "20261205T000000Z"
#define I6 "20261206T000000Z"

/* An encrypted chain's keys travel sealed to the receiver, signed by the
 * sender, and are kept beside the chain (FULL.keys) sealed to the
 * receiver's seal key; keys that are not the receiver's, or not signed by
 * whom it trusts, refuse the whole copy. A plain chain carries none. */
static void encrypted_keys(void **state)
{
	struct fx *f = *state;
	struct identity b, other, forger;
	uint8_t pk[32], sk[32], back[KEY_SEAL_KEY_BYTES];
	struct backup_copy_keys_in kin = { .self = &b, .seal_pk = pk }, wrong = { .self = &other, .seal_pk = pk };
	struct keyctx c = { .signer = &f->id, .to = &b };
	struct backup_keys kept;
	char path[600], *text;
	struct stat st;
	size_t len;

	strcpy(b.name, "node-b");
	crypto_sign_keypair(b.sign_pk, b.sign_sk);
	strcpy(other.name, "node-c");
	crypto_sign_keypair(other.sign_pk, other.sign_sk);
	strcpy(forger.name, "node-a"); /* the sender's name, another key */
	crypto_sign_keypair(forger.sign_pk, forger.sign_sk);
	crypto_box_keypair(pk, sk);
	randombytes_buf(c.key, sizeof(c.key));
	if (!have_qemu_img())
		skip();
	luks_key = c.key;
	backup(f, f->src, "vault1", F5, "", 400);
	backup(f, f->src, "vault1", I6, F5, 500);
	luks_key = NULL;

	assert_int_equal(unpack_keys(f, pack_keys(f, I6, &c), &wrong), -EPERM);
	assert_non_null(strstr(f->err, "sealed to node-b"));
	assert_int_equal(unpack_keys(f, pack_keys(f, I6, &c), NULL), -EBADMSG);
	assert_non_null(strstr(f->err, "carries keys"));
	c.signer = &forger;
	assert_int_equal(unpack_keys(f, pack_keys(f, I6, &c), &kin), -EBADMSG);
	assert_non_null(strstr(f->err, "the copy's keys: not the test key"));
	c.signer = &f->id;
	assert_int_equal(stored(f), 0);

	assert_int_equal(unpack_keys(f, pack_keys(f, I6, &c), &kin), 0);
	assert_non_null(strstr(f->summary, "2 backup(s) of vault1 stored in "));
	assert_non_null(strstr(f->summary, "keys kept here sealed to this node's seal key"));
	snprintf(path, sizeof(path), "%s/" F5 ".keys", f->dgdir);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/" I6 ".keys", f->dgdir);
	assert_int_not_equal(lstat(path, &st), 0); /* only the full's */
	assert_int_equal(backup_read_small(f->dgdir, F5 ".keys", BACKUP_KEYS_MAX, &text, &len, f->err,
					   sizeof(f->err)), 0);
	assert_int_equal(backup_keys_parse(text, len, &kept, f->err, sizeof(f->err)), 0);
	free(text);
	assert_true(kept.local);
	assert_string_equal(kept.backup, F5);
	assert_int_equal(kept.nvol, 2);
	assert_int_equal(crypto_box_seal_open(back, kept.vol[0].sealed, KEY_SEAL_BYTES, pk, sk), 0);
	assert_memory_equal(back, c.key, sizeof(back));
	assert_int_equal(stored(f), 2);

	/* a plain chain: the maker is not asked */
	c.calls = 0;
	close(pack_keys(f, I2, &c));
	assert_int_equal(c.calls, 0);
}


/* The kept keys' volume entries of dir's FULL.keys, opened with the seal key. */
static void kept_key(struct fx *f, const char *disk, const uint8_t pk[32], const uint8_t sk[32],
		     uint8_t key[KEY_SEAL_KEY_BYTES], unsigned *nvol)
{
	struct backup_keys kept;
	char *text;
	size_t len;
	int i;

	assert_int_equal(backup_read_small(f->dgdir, F5 ".keys", BACKUP_KEYS_MAX, &text, &len, f->err,
					   sizeof(f->err)), 0);
	assert_int_equal(backup_keys_parse(text, len, &kept, f->err, sizeof(f->err)), 0);
	free(text);
	*nvol = kept.nvol;
	assert_true((i = backup_keys_find(&kept, disk)) >= 0);
	assert_int_equal(crypto_box_seal_open(key, kept.vol[i].sealed, KEY_SEAL_BYTES, pk, sk), 0);
}

/* A second copy of a chain whose keys are kept already: any live member
 * may sign keys, so one with other keys for the same chain (a compromised
 * one) has them checked against the full's file, and those that do not
 * open it are left out, the kept key as it is, and the summary says so;
 * the same key says nothing; a volume with no key kept yet is added when
 * its key opens. An unreadable FULL.keys refuses the copy and stays.
 * Needs qemu-img (skipped without). */
static void keys_merged(void **state)
{
	struct fx *f = *state;
	struct identity b;
	uint8_t pk[32], sk[32], back[KEY_SEAL_KEY_BYTES], first[KEY_SEAL_KEY_BYTES];
	struct backup_copy_keys_in kin = { .self = &b, .seal_pk = pk, .seal_sk = sk };
	struct keyctx c = { .signer = &f->id, .to = &b };
	char path[600];
	unsigned nvol;

	strcpy(b.name, "node-b");
	crypto_sign_keypair(b.sign_pk, b.sign_sk);
	crypto_box_keypair(pk, sk);
	randombytes_buf(c.key, sizeof(c.key));
	memcpy(first, c.key, sizeof(first));
	if (!have_qemu_img())
		skip();
	luks_key = first;
	backup(f, f->src, "vault1", F5, "", 400);
	backup(f, f->src, "vault1", I6, F5, 500);
	luks_key = NULL;

	c.only = "archive";
	assert_int_equal(unpack_keys(f, pack_keys(f, F5, &c), &kin), 0);
	assert_non_null(strstr(f->summary, "keys kept here sealed to this node's seal key"));
	assert_non_null(strstr(f->summary, "; no key came for volume(s) media (restorable here only "
				"into a volume under the same key)"));
	kept_key(f, "archive", pk, sk, back, &nvol);
	assert_int_equal(nvol, 1);
	assert_memory_equal(back, first, sizeof(back));

	/* other keys, signed by a member, for the same chain: they open nothing */
	randombytes_buf(c.key, sizeof(c.key));
	c.only = NULL;
	assert_int_equal(unpack_keys(f, pack_keys(f, I6, &c), &kin), 0);
	assert_non_null(strstr(f->summary, "; the key it brought for volume(s) archive,media does not "
				"open the full's file (it was left out)"));
	assert_non_null(strstr(f->summary, "keys kept here sealed to this node's seal key"));
	kept_key(f, "archive", pk, sk, back, &nvol);
	assert_memory_equal(back, first, sizeof(back));
	assert_int_equal(nvol, 1); /* media's does not open: not added */

	/* the same key again: nothing to say; media's, which opens, added */
	memcpy(c.key, first, sizeof(c.key));
	assert_int_equal(unpack_keys(f, pack_keys(f, I6, &c), &kin), 0);
	assert_null(strstr(f->summary, "the key it brought"));
	kept_key(f, "media", pk, sk, back, &nvol);
	assert_int_equal(nvol, 2);
	assert_memory_equal(back, first, sizeof(back));

	snprintf(path, sizeof(path), "%s/" F5 ".keys", f->dgdir);
	assert_int_equal(atomic_write_file(path, "{}", 2, 0600), 0);
	assert_int_equal(unpack_keys(f, pack_keys(f, I6, &c), &kin), -EBADMSG);
	assert_non_null(strstr(f->err, "the copy is refused, and that file stays as it is"));
	assert_int_equal(backup_read_small(f->dgdir, F5 ".keys", BACKUP_KEYS_MAX, (char **)&c.text,
					   &c.len, f->err, sizeof(f->err)), 0);
	assert_int_equal(c.len, 2);
	free(c.text);
}

/* A key kept here that does not open the chain (kept by an older build,
 * or brought by a member's copy before keys were checked) is replaced by
 * a copy's key that does; a copy's key that opens nothing is never kept,
 * and no FULL.keys is made of it. Seen failing before the fix: the wrong
 * key was kept (and stayed), the right one left out. Needs qemu-img. */
static void keys_checked_to_open(void **state)
{
	struct fx *f = *state;
	struct identity b;
	uint8_t pk[32], sk[32], back[KEY_SEAL_KEY_BYTES], right[KEY_SEAL_KEY_BYTES];
	struct backup_copy_keys_in kin = { .self = &b, .seal_pk = pk, .seal_sk = sk };
	struct keyctx c = { .signer = &f->id, .to = &b, .only = "archive" };
	struct backup_keys wrong = { .local = true, .nvol = 1 };
	struct backup_entry *e;
	char path[600], *text;
	struct stat st;
	size_t n, len;
	unsigned nvol;

	strcpy(b.name, "node-b");
	crypto_sign_keypair(b.sign_pk, b.sign_sk);
	crypto_box_keypair(pk, sk);
	randombytes_buf(right, sizeof(right));
	if (!have_qemu_img())
		skip();
	luks_key = right;
	backup(f, f->src, "vault1", F5, "", 400);
	luks_key = NULL;

	/* a wrong key only: the chain is stored, no key kept */
	randombytes_buf(c.key, sizeof(c.key));
	assert_int_equal(unpack_keys(f, pack_keys(f, F5, &c), &kin), 0);
	assert_non_null(strstr(f->summary, "1 backup(s) of vault1 stored in "));
	assert_non_null(strstr(f->summary, "; LUKS-encrypted, no key it brought opens it"));
	assert_non_null(strstr(f->summary, "; the key it brought for volume(s) archive does not open "
				"the full's file (it was left out)"));
	snprintf(path, sizeof(path), "%s/" F5 ".keys", f->dgdir);
	assert_int_not_equal(lstat(path, &st), 0);

	/* a wrong key kept here, as an older build kept one */
	assert_int_equal(backup_list(f->dgdir, trust_id, &f->id, &e, &n, f->err, sizeof(f->err)), 0);
	strcpy(wrong.backup, F5);
	strcpy(wrong.guest, "vault1");
	strcpy(wrong.instance_id, "i-1");
	strcpy(wrong.vol[0].disk, "archive");
	strcpy(wrong.vol[0].sha256, e[0].m.vol[0].sha256);
	free(e);
	assert_int_equal(key_seal_x25519(pk, c.key, wrong.vol[0].sealed), 0);
	assert_int_equal(backup_keys_encode(&wrong, &text, &len, f->err, sizeof(f->err)), 0);
	assert_int_equal(atomic_write_file(path, text, len, 0600), 0);
	free(text);

	/* the right key comes: it replaces the kept one */
	memcpy(c.key, right, sizeof(c.key));
	assert_int_equal(unpack_keys(f, pack_keys(f, F5, &c), &kin), 0);
	assert_non_null(strstr(f->summary, "; the key it brought for volume(s) archive opens the full's "
				"file and replaces the differing one kept here"));
	kept_key(f, "archive", pk, sk, back, &nvol);
	assert_int_equal(nvol, 1);
	assert_memory_equal(back, right, sizeof(back));

	/* a wrong one again: the right key stays */
	randombytes_buf(c.key, sizeof(c.key));
	assert_int_equal(unpack_keys(f, pack_keys(f, F5, &c), &kin), 0);
	assert_non_null(strstr(f->summary, "does not open the full's file (it was left out)"));
	kept_key(f, "archive", pk, sk, back, &nvol);
	assert_memory_equal(back, right, sizeof(back));
}

static void round_trip(void **state)
{
	struct fx *f = *state;
	const char *names[] = { F1 ".json", F1 ".sig", F1 ".archive.qcow2", I1 ".media.qcow2",
				I2 ".json", I2 ".sig", I2 ".media.qcow2" };
	char a[700], b[700];

	assert_int_equal(unpack(f, pack(f, "vault1", I2), trust_id), 0);
	assert_non_null(strstr(f->summary, "3 backup(s) of vault1 stored in "));
	assert_non_null(strstr(f->summary, "0 already there"));
	assert_null(strstr(f->summary, "LUKS"));
	assert_int_equal(stored(f), 3);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(a, sizeof(a), "%s/vault1/%s", f->src, names[i]);
		snprintf(b, sizeof(b), "%s/%s", f->dgdir, names[i]);
		same_file(a, b);
	}
	/* again: every link is there, the same, and left alone */
	assert_int_equal(unpack(f, pack(f, "vault1", I2), trust_id), 0);
	assert_non_null(strstr(f->summary, "0 backup(s) of vault1 stored in "));
	assert_non_null(strstr(f->summary, "3 already there"));
	assert_int_equal(stored(f), 3);
}

/* A link the store holds with the same manifest but damaged files (a
 * volume altered, another missing, a signature gone) is not counted as
 * there: its files are taken from the copy, which carries the same ones. */
static void damaged_there(void **state)
{
	struct fx *f = *state;
	const char *names[] = { F1 ".sig", F1 ".archive.qcow2", I1 ".sig", I1 ".media.qcow2" };
	char a[700], b[700];
	int fd;

	assert_int_equal(unpack(f, pack(f, "vault1", I1), trust_id), 0);
	snprintf(b, sizeof(b), "%s/" F1 ".archive.qcow2", f->dgdir);
	assert_true((fd = open(b, O_WRONLY)) >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 100), 1);
	close(fd);
	snprintf(b, sizeof(b), "%s/" I1 ".media.qcow2", f->dgdir);
	assert_int_equal(unlink(b), 0);
	snprintf(b, sizeof(b), "%s/" I1 ".sig", f->dgdir);
	assert_int_equal(unlink(b), 0);
	assert_int_equal(unpack(f, pack(f, "vault1", I2), trust_id), 0);
	assert_non_null(strstr(f->summary, "1 backup(s) of vault1 stored in "));
	assert_non_null(strstr(f->summary, "2 already there, 2 of them damaged there and repaired"));
	assert_int_equal(stored(f), 3);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(a, sizeof(a), "%s/vault1/%s", f->src, names[i]);
		snprintf(b, sizeof(b), "%s/%s", f->dgdir, names[i]);
		same_file(a, b);
	}
	/* sound now: the next copy finds nothing to repair */
	assert_int_equal(unpack(f, pack(f, "vault1", I2), trust_id), 0);
	assert_non_null(strstr(f->summary, "3 already there ("));
}

static void partly_there(void **state)
{
	struct fx *f = *state;

	assert_int_equal(unpack(f, pack(f, "vault1", F1), trust_id), 0);
	assert_non_null(strstr(f->summary, "1 backup(s) of vault1"));
	assert_int_equal(stored(f), 1);
	assert_int_equal(unpack(f, pack(f, "vault1", I1), trust_id), 0);
	assert_non_null(strstr(f->summary, "1 backup(s) of vault1 stored in "));
	assert_non_null(strstr(f->summary, "1 already there"));
	assert_int_equal(stored(f), 2);
}

/* The tar's bytes, one changed where needle is. */
static int altered(int fd, const char *needle)
{
	off_t size = lseek(fd, 0, SEEK_END);
	char *buf = malloc((size_t)size), *at;
	int out = memfd_create("altered", MFD_CLOEXEC);

	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)size, 0), size);
	assert_non_null(at = memmem(buf, (size_t)size, needle, strlen(needle)));
	at[strlen(needle) - 1] ^= 1;
	assert_int_equal(write(out, buf, (size_t)size), size);
	free(buf);
	close(fd);
	return out;
}

static void tampered(void **state)
{
	struct fx *f = *state;

	assert_int_equal(unpack(f, altered(pack(f, "vault1", I2), "payload of " I1 " media"), trust_id),
			 -EBADMSG);
	assert_non_null(strstr(f->err, "altered"));
	assert_int_equal(stored(f), 0);
	assert_int_equal(access(f->dgdir, F_OK), -1); /* the directory made for it went too */
	/* a manifest's byte: its signature no longer verifies */
	assert_int_equal(unpack(f, altered(pack(f, "vault1", I2), "\"created\":300"), trust_id),
			 -EBADMSG);
	assert_non_null(strstr(f->err, "signature does not verify"));
	assert_int_equal(stored(f), 0);
}

static int trust_none(const struct export_sig *s, void *ctx, char *err, size_t errlen)
{
	return snprintf(err, errlen, "not trusted here"), -EPERM;
}

static void untrusted(void **state)
{
	struct fx *f = *state;

	assert_int_equal(unpack(f, pack(f, "vault1", I1), trust_none), -EBADMSG);
	assert_non_null(strstr(f->err, "not trusted here"));
	assert_int_equal(stored(f), 0);
}

static void foreign_guest(void **state)
{
	struct fx *f = *state;

	backup(f, f->src, "vault2", F1, "", 100);
	assert_int_equal(unpack(f, pack(f, "vault2", F1), trust_id), -EBADMSG);
	assert_non_null(strstr(f->err, "is of guest vault2, not vault1"));
	assert_int_equal(stored(f), 0);
}

static void different_there(void **state)
{
	struct fx *f = *state;

	backup(f, f->dst, "vault1", F1, "", 101);
	assert_int_equal(unpack(f, pack(f, "vault1", I2), trust_id), -EEXIST);
	assert_non_null(strstr(f->err, "the store already holds a different backup " F1));
	assert_int_equal(stored(f), 1); /* its own, untouched */
}

/* The free bytes the unpack is told of, instead of its filesystem's:
 * bytes for the first `until` questions, later after; on the first, the
 * copy's file grown to grow_len bytes of grow, as its sender could. */
static struct {
	uint64_t bytes, later;
	unsigned asked, until;
	int grow_fd;
	const char *grow;
	size_t grow_len;
} fake;

static int free_fake(int dirfd, uint64_t *bytes)
{
	(void)dirfd;
	if (fake.grow_fd >= 0) {
		assert_int_equal(pwrite(fake.grow_fd, fake.grow, fake.grow_len, 0), fake.grow_len);
		fake.grow_fd = -1;
	}
	*bytes = fake.asked++ < fake.until ? fake.bytes : fake.later;
	return 0;
}

static void fake_free(uint64_t bytes, unsigned until, uint64_t later)
{
	memset(&fake, 0, sizeof(fake));
	fake.bytes = bytes;
	fake.until = until;
	fake.later = later;
	fake.grow_fd = -1;
	backup_copy_free_for_tests = free_fake;
}

/* The copy's size and 512 MiB must be free, the margin a move keeps. */
static void margin(void **state)
{
	struct fx *f = *state;
	int fd = pack(f, "vault1", I2);
	uint64_t size = (uint64_t)lseek(fd, 0, SEEK_END);

	fake_free(size + (512ull << 20) - 1, ~0u, 0);
	assert_int_equal(unpack(f, fd, trust_id), -ENOSPC);
	assert_non_null(strstr(f->err, " and 512 MiB)"));
	assert_int_equal(stored(f), 0);
	assert_int_equal(access(f->dgdir, F_OK), -1);
	fake_free(size + (512ull << 20), ~0u, 0);
	assert_int_equal(unpack(f, pack(f, "vault1", I2), trust_id), 0);
	assert_int_equal(stored(f), 3);
}

/* The room is asked again before each entry: a disk that fills while the
 * copy is staged (the sender cannot make it stage more than was checked,
 * below) ends it with nothing left. */
static void filling(void **state)
{
	struct fx *f = *state;

	fake_free(1ull << 40, 3, 1 << 20);
	assert_int_equal(unpack(f, pack(f, "vault1", I2), trust_id), -ENOSPC);
	assert_non_null(strstr(f->err, "free while the copy is stored"));
	assert_int_equal(fake.asked, 4);
	assert_int_equal(stored(f), 0);
	assert_int_equal(access(f->dgdir, F_OK), -1);
}

/* The sender keeps a writable descriptor of the received file: growing it
 * after the receiver took its size must not make root stage more than the
 * room was checked for. Here the file holds half the tar when its size is
 * taken and all of it a moment later. */
static void grown(void **state)
{
	struct fx *f = *state;
	int full = pack(f, "vault1", I2), fd = memfd_create("grown", MFD_CLOEXEC);
	off_t size = lseek(full, 0, SEEK_END);
	char *buf = malloc((size_t)size);

	assert_non_null(buf);
	assert_int_equal(pread(full, buf, (size_t)size, 0), size);
	close(full);
	assert_int_equal(write(fd, buf, (size_t)size / 2), size / 2);
	fake_free(1ull << 40, ~0u, 0);
	fake.grow_fd = fd;
	fake.grow = buf;
	fake.grow_len = (size_t)size;
	assert_int_equal(unpack(f, fd, trust_id), -EBADMSG);
	assert_int_equal(fake.grow_fd, -1); /* it did grow */
	assert_int_equal(stored(f), 0);
	assert_int_equal(access(f->dgdir, F_OK), -1);
	free(buf);
}

/* A copy refused because another holds the guest directory's lock leaves
 * that directory alone, even empty: its holder is using it. */
static void busy(void **state)
{
	struct fx *f = *state;
	int lock;

	assert_int_equal(backup_guest_dir(f->dst, "vault1", true, f->dgdir, sizeof(f->dgdir), f->err,
					  sizeof(f->err)), 0);
	assert_int_equal(backup_lock(f->dgdir, &lock, f->err, sizeof(f->err)), 0);
	assert_int_equal(unpack(f, pack(f, "vault1", I2), trust_id), -EBUSY);
	assert_int_equal(access(f->dgdir, F_OK), 0);
	backup_unlock(lock);
	assert_int_equal(stored(f), 0);
}

#define O1 "20261130T000000Z"

/* Backup O1 of dir's vault1 without its manifest, as a crash in the middle
 * of a copy's commit or of a backup leaves it; and a file of nobody's. */
static void orphans(struct fx *f, const char *dir)
{
	char path[600];

	backup(f, dir, "vault1", O1, "", 50);
	snprintf(path, sizeof(path), "%s/vault1/" O1 ".json", dir);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/vault1/" O1 ".keys", dir);
	assert_int_equal(atomic_write_file(path, "{}", 2, 0600), 0);
	snprintf(path, sizeof(path), "%s/vault1/notes.txt", dir);
	assert_int_equal(atomic_write_file(path, "x", 1, 0600), 0);
}

/* Whether dir's vault1 still has name. */
static bool has(const char *dir, const char *name)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/vault1/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Each backup is whole or absent: an unpack, then a pack, first removes
 * the files of a backup with no manifest, under the guest's lock. */
static void swept(void **state)
{
	struct fx *f = *state;
	int lock;

	orphans(f, f->dst);
	assert_int_equal(unpack(f, pack(f, "vault1", I1), trust_id), 0);
	assert_false(has(f->dst, O1 ".sig") || has(f->dst, O1 ".archive.qcow2") ||
		     has(f->dst, O1 ".media.qcow2") || has(f->dst, O1 ".keys"));
	assert_true(has(f->dst, "notes.txt"));
	assert_int_equal(stored(f), 2);
	/* the packing side, while its lock is free; else it packs all the same */
	orphans(f, f->src);
	snprintf(f->dgdir, sizeof(f->dgdir), "%s/vault1", f->src);
	assert_int_equal(backup_lock(f->dgdir, &lock, f->err, sizeof(f->err)), 0);
	close(pack(f, "vault1", I2));
	assert_true(has(f->src, O1 ".sig") && has(f->src, O1 ".media.qcow2"));
	backup_unlock(lock);
	close(pack(f, "vault1", I2));
	assert_false(has(f->src, O1 ".sig") || has(f->src, O1 ".archive.qcow2") ||
		     has(f->src, O1 ".media.qcow2"));
	assert_true(has(f->src, "notes.txt") && has(f->src, I2 ".media.qcow2"));
	assert_int_equal(stored(f), 3);
}

/* A tar of one entry of the given type (and link target) after a
 * well-formed first link. */
static int crafted(struct fx *f, const char *name, unsigned type, const char *link, bool hard)
{
	int fd = memfd_create("crafted", MFD_CLOEXEC), src = pack(f, "vault1", F1);
	off_t size = lseek(src, 0, SEEK_END);
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	char *buf = malloc((size_t)size);

	/* the packed tar without its end, then one more entry */
	assert_int_equal(pread(src, buf, (size_t)size, 0), size);
	close(src);
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	assert_int_equal(archive_write_open_fd(a, fd), ARCHIVE_OK);
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, 0600);
	if (link && hard)
		archive_entry_set_hardlink(e, link);
	else if (link)
		archive_entry_set_symlink(e, link);
	archive_entry_set_size(e, type == AE_IFREG && !link ? 4 : 0);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (type == AE_IFREG && !link)
		archive_write_data(a, "abcd", 4);
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(e);
	{ /* prepend the first link: its entries, without the two end blocks */
		off_t tail = lseek(fd, 0, SEEK_END);
		char *t = malloc((size_t)tail);
		int out = memfd_create("crafted2", MFD_CLOEXEC);
		size_t keep = (size_t)size;

		assert_int_equal(pread(fd, t, (size_t)tail, 0), tail);
		static const char zero[512];

		while (keep >= 512 && !memcmp(buf + keep - 512, zero, 512))
			keep -= 512; /* the end's zero blocks */
		assert_int_equal(write(out, buf, keep), (ssize_t)keep);
		assert_int_equal(write(out, t, (size_t)tail), tail);
		free(t);
		close(fd);
		fd = out;
	}
	free(buf);
	return fd;
}

static void bad_entries(void **state)
{
	struct fx *f = *state;

	assert_int_equal(unpack(f, crafted(f, "../x", AE_IFREG, NULL, false), trust_id), -EBADMSG);
	assert_non_null(strstr(f->err, "unexpected entry ../x"));
	assert_int_equal(unpack(f, crafted(f, "a/" F1 ".sig", AE_IFREG, NULL, false), trust_id), -EBADMSG);
	assert_non_null(strstr(f->err, "unexpected entry"));
	assert_int_equal(unpack(f, crafted(f, F1 ".x.qcow2", AE_IFLNK, "/etc/shadow", false),
				trust_id), -EBADMSG);
	assert_non_null(strstr(f->err, "not a regular file"));
	assert_int_equal(unpack(f, crafted(f, F1 ".x.qcow2", AE_IFREG, F1 ".json", true), trust_id),
			 -EBADMSG);
	assert_non_null(strstr(f->err, "not a regular file"));
	assert_int_equal(unpack(f, crafted(f, F1 ".x.qcow2", AE_IFDIR, NULL, false), trust_id), -EBADMSG);
	assert_non_null(strstr(f->err, "not a regular file"));
	/* a file twice, a link out of order, a volume no manifest lists */
	assert_int_equal(unpack(f, crafted(f, F1 ".archive.qcow2", AE_IFREG, NULL, false), trust_id),
			 -EBADMSG);
	assert_non_null(strstr(f->err, "twice"));
	assert_int_equal(unpack(f, crafted(f, "20261130T000000Z.json", AE_IFREG, NULL, false), trust_id),
			 -EBADMSG);
	assert_non_null(strstr(f->err, "oldest first"));
	assert_int_equal(unpack(f, crafted(f, F1 ".extra.qcow2", AE_IFREG, NULL, false), trust_id),
			 -EBADMSG);
	assert_non_null(strstr(f->err, "3 volume file(s), its manifest lists 2"));
	/* keys of another backup than the last link's; keys that are not keys */
	assert_int_equal(unpack(f, crafted(f, "20261130T000000Z.keys", AE_IFREG, NULL, false), trust_id),
			 -EBADMSG);
	assert_non_null(strstr(f->err, "each link's files come together"));
	assert_int_equal(unpack(f, crafted(f, F1 ".keys", AE_IFREG, NULL, false), trust_id), -EBADMSG);
	assert_non_null(strstr(f->err, "carries keys"));
	assert_int_equal(stored(f), 0);
}

static void not_a_copy(void **state)
{
	struct fx *f = *state;
	int fd = memfd_create("empty", MFD_CLOEXEC);

	assert_int_equal(write(fd, "hello", 5), 5);
	assert_true(unpack(f, fd, trust_id) < 0);
	fd = memfd_create("empty", MFD_CLOEXEC);
	assert_true(unpack(f, fd, trust_id) < 0);
	assert_int_equal(stored(f), 0);
	/* no such backup to pack */
	{
		char gdir[400];
		uint64_t bytes;

		fd = memfd_create("copy", MFD_CLOEXEC);
		snprintf(gdir, sizeof(gdir), "%s/vault1", f->src);
		assert_int_equal(backup_copy_pack(gdir, "20261231T000000Z", trust_id, &f->id, NULL, fd, &bytes,
						  f->err, sizeof(f->err)), -ENOENT);
		close(fd);
	}
}

static void names(void **state)
{
	struct backup_copy_entry e;

	(void)state;
	assert_true(backup_copy_name_parse(F1 ".json", &e) && e.kind == BACKUP_COPY_JSON);
	assert_true(backup_copy_name_parse(F1 ".sig", &e) && e.kind == BACKUP_COPY_SIG);
	assert_true(backup_copy_name_parse(F1 ".keys", &e) && e.kind == BACKUP_COPY_KEYS);
	assert_true(backup_copy_name_parse(F1 ".data1.qcow2", &e) && e.kind == BACKUP_COPY_VOLUME);
	assert_string_equal(e.disk, "data1");
	assert_string_equal(e.id, F1);
	assert_false(backup_copy_name_parse(F1 ".Data.qcow2", &e));
	assert_false(backup_copy_name_parse(F1 "..qcow2", &e));
	assert_false(backup_copy_name_parse(F1 ".a/b.qcow2", &e));
	assert_false(backup_copy_name_parse(F1 ".abcdefghijklmnop.qcow2", &e));
	assert_false(backup_copy_name_parse("2026120XT000000Z.json", &e));
	assert_false(backup_copy_name_parse(F1 ".json/", &e));
	assert_false(backup_copy_name_parse(F1, &e));
	assert_false(backup_copy_name_parse("", &e));
}

/* The receiver's rule: a live member of its ledger, with that key. */
static void ledger_trust(void **state)
{
	struct fx *f = *state;
	struct export_sig s = { 0 };
	struct ledger l;
	char err[256];

	ledger_init(&l);
	crypto_scalarmult_base(f->id.wg_pk, f->id.sign_sk); /* any key will do */
	assert_int_equal(ledger_genesis(&l, &f->id, NULL, 0x0a4d0000, 16, f->id.wg_pk, "",
					LEDGER_FOUNDER_ROLES, err, sizeof(err)), 0);
	strcpy(s.signer, "node-a");
	memcpy(s.key, f->id.sign_pk, SIGN_PK_BYTES);
	assert_int_equal(backup_trust_ledger(&l, &s, err, sizeof(err)), 0);
	s.key[0] ^= 1;
	assert_int_equal(backup_trust_ledger(&l, &s, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "not a live member of the ledger with that key"));
	s.key[0] ^= 1;
	strcpy(s.signer, "node-b");
	assert_int_equal(backup_trust_ledger(&l, &s, err, sizeof(err)), -EPERM);
	ledger_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(encrypted, setup, teardown),
		cmocka_unit_test_setup_teardown(encrypted_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(keys_merged, setup, teardown),
		cmocka_unit_test_setup_teardown(keys_checked_to_open, setup, teardown),
		cmocka_unit_test_setup_teardown(partly_there, setup, teardown),
		cmocka_unit_test_setup_teardown(damaged_there, setup, teardown),
		cmocka_unit_test_setup_teardown(tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(untrusted, setup, teardown),
		cmocka_unit_test_setup_teardown(foreign_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(different_there, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(not_a_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(ledger_trust, setup, teardown),
		cmocka_unit_test_setup_teardown(margin, setup, teardown),
		cmocka_unit_test_setup_teardown(filling, setup, teardown),
		cmocka_unit_test_setup_teardown(grown, setup, teardown),
		cmocka_unit_test_setup_teardown(busy, setup, teardown),
		cmocka_unit_test_setup_teardown(swept, setup, teardown),
		cmocka_unit_test(names),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
