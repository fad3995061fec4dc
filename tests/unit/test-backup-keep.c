/* A volume's key that a restore replaces is kept with the fulls of this
 * node's chains that it opens (their FULL.keys, sealed to the seal key, the
 * kept form restore reads), merged: a full under another key (also one
 * that keeps its own key), the chain being restored, an incremental, a
 * full that keeps this key already, and one whose FULL.keys is not the
 * kept form are left as they are; a full that keeps another key for the
 * disk, which does not open it, has it replaced. Seen failing before the
 * replacement: full 4 kept the wrong key. Needs qemu-img (skipped
 * without). */
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
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "lib/backup-keys.h"
#include "lib/fileio.h"
#include "lib/seal-key.h"
#include "tests/unit/fixture.h"
#include "tests/unit/luks-image.h"
#include "virt/virt-backup-internal.h"
#include "virt/virt-internal.h"

#define N 6

struct fx {
	char dir[64];
	struct virt_host h;
	struct seal_key sk;
	struct backup_entry e[N];
	uint8_t mine[KEY_SEAL_KEY_BYTES], other[KEY_SEAL_KEY_BYTES];
};

/* Full i of guest vault1 (instance iid), its archive's file a LUKS qcow2
 * under key. */
static void full(struct fx *f, unsigned i, const char *iid, const uint8_t *key)
{
	struct backup_manifest *m = &f->e[i].m;
	char name[BACKUP_FILE_MAX], path[PATH_MAX];

	memset(&f->e[i], 0, sizeof(f->e[i]));
	f->e[i].intact = true;
	snprintf(m->id, sizeof(m->id), "2026120%uT000000Z", i + 1);
	strcpy(m->guest, "vault1");
	snprintf(m->instance_id, sizeof(m->instance_id), "%s", iid);
	m->nvol = 1;
	strcpy(m->vol[0].disk, "archive");
	memset(m->vol[0].sha256, 'a' + (char)i, 64);
	backup_volume_file(m->id, "archive", name, sizeof(name));
	snprintf(path, sizeof(path), "%s/vault1/%s", f->dir, name);
	assert_int_equal(luks_image_at(f->dir, key, path), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char gdir[128];

	if (!f || fixture_tmpdir(f->dir, sizeof(f->dir), "test-backup-keep"))
		return -1;
	snprintf(gdir, sizeof(gdir), "%s/vault1", f->dir);
	snprintf(f->h.seal_key, sizeof(f->h.seal_key), "%s/seal/seal.key", f->dir);
	if (mkdir(gdir, 0700) < 0 || seal_key_load(f->h.seal_key, 1, &f->sk) < 0)
		return -1;
	randombytes_buf(f->mine, sizeof(f->mine));
	randombytes_buf(f->other, sizeof(f->other));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int ret = fixture_rmtree(f->dir);

	seal_key_wipe(&f->sk);
	free(f);
	return ret;
}

static char *path_of(struct fx *f, unsigned i, const char *what, char *buf, size_t len)
{
	char name[BACKUP_FILE_MAX];

	backup_file_name(f->e[i].m.id, what, name, sizeof(name));
	snprintf(buf, len, "%s/vault1/%s", f->dir, name);
	return buf;
}

/* The kept keys of full i: the kept form of its chain, archive's key. */
static void kept_is(struct fx *f, unsigned i, const uint8_t *key)
{
	struct backup_keys k;
	uint8_t back[KEY_SEAL_KEY_BYTES];
	char path[PATH_MAX], *text = NULL, err[256];
	size_t len;
	struct stat st;

	assert_int_equal(stat(path_of(f, i, "keys", path, sizeof(path)), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(read_file(path, BACKUP_KEYS_MAX, &text, &len), 0);
	assert_int_equal(backup_keys_parse(text, len, &k, err, sizeof(err)), 0);
	free(text);
	assert_true(k.local);
	assert_int_equal(backup_keys_match(&k, &f->e[i].m, &f->e[i].m, err, sizeof(err)), 0);
	assert_int_equal(backup_keys_kept_open(&k, "archive", f->sk.pk, f->sk.sk, back), 0);
	assert_memory_equal(back, key, sizeof(back));
}

/* Full i's FULL.keys, the kept form, keeping key for archive. */
static void keys_of(struct fx *f, unsigned i, const uint8_t *key)
{
	struct backup_keys k = { .local = true, .nvol = 1 };
	char path[PATH_MAX], *text, err[256];
	size_t len;

	strcpy(k.backup, f->e[i].m.id);
	strcpy(k.guest, "vault1");
	snprintf(k.instance_id, sizeof(k.instance_id), "%s", f->e[i].m.instance_id);
	strcpy(k.vol[0].disk, "archive");
	memcpy(k.vol[0].sha256, f->e[i].m.vol[0].sha256, 65);
	assert_int_equal(key_seal_x25519(f->sk.pk, key, k.vol[0].sealed), 0);
	assert_int_equal(backup_keys_encode(&k, &text, &len, err, sizeof(err)), 0);
	assert_int_equal(atomic_write_file(path_of(f, i, "keys", path, sizeof(path)), text, len, 0600), 0);
	free(text);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void kept_where_it_opens(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX], gdir[128], *before = NULL, *after = NULL;
	size_t blen, alen;
	unsigned kept;

	if (system("command -v qemu-img > /dev/null") != 0)
		skip();
	full(f, 0, "new", f->mine);    /* a local backup of the guest made again */
	full(f, 1, "old", f->other);   /* the copied chain being restored */
	full(f, 2, "new", f->other);   /* under another key */
	full(f, 3, "new", f->mine);    /* an incremental: its full holds the key */
	f->e[3].m.incremental = true;
	full(f, 4, "new", f->mine);    /* keeps another key for archive, which does not open it */
	full(f, 5, "new", f->mine);    /* not intact: the listing says why */
	f->e[5].intact = false;
	keys_of(f, 4, f->other); /* as an older build kept a copy's wrong key */
	keys_of(f, 2, f->other); /* its own key, which opens it */
	assert_int_equal(read_file(path_of(f, 2, "keys", path, sizeof(path)), BACKUP_KEYS_MAX, &before,
				   &blen), 0);
	snprintf(gdir, sizeof(gdir), "%s/vault1", f->dir);
	assert_int_equal(backup_keep_key(&f->h, gdir, f->e, N, f->e[1].m.id, "archive", f->mine, &kept), 0);
	assert_int_equal(kept, 2);
	kept_is(f, 0, f->mine);
	kept_is(f, 4, f->mine); /* the wrong one replaced */
	assert_false(exists(path_of(f, 1, "keys", path, sizeof(path))));
	assert_false(exists(path_of(f, 3, "keys", path, sizeof(path))));
	assert_false(exists(path_of(f, 5, "keys", path, sizeof(path))));
	assert_int_equal(read_file(path_of(f, 2, "keys", path, sizeof(path)), BACKUP_KEYS_MAX, &after, &alen), 0);
	assert_true(alen == blen && !memcmp(before, after, blen));
	free(before);
	free(after);
	/* again: full 0 keeps it already, nothing changes */
	assert_int_equal(backup_keep_key(&f->h, gdir, f->e, N, f->e[1].m.id, "archive", f->mine, &kept), 0);
	assert_int_equal(kept, 0);
	kept_is(f, 0, f->mine);
	/* another disk of full 0's added beside it, merged */
	strcpy(f->e[0].m.vol[1].disk, "photos");
	memset(f->e[0].m.vol[1].sha256, 'f', 64);
	f->e[0].m.nvol = 2;
	{
		char from[PATH_MAX], to[PATH_MAX], name[BACKUP_FILE_MAX];

		backup_volume_file(f->e[0].m.id, "archive", name, sizeof(name));
		snprintf(from, sizeof(from), "%s/%s", gdir, name);
		backup_volume_file(f->e[0].m.id, "photos", name, sizeof(name));
		snprintf(to, sizeof(to), "%s/%s", gdir, name);
		assert_int_equal(link(from, to), 0);
	}
	assert_int_equal(backup_keep_key(&f->h, gdir, f->e, 1, "", "photos", f->mine, &kept), 0);
	assert_int_equal(kept, 1);
	kept_is(f, 0, f->mine);
	{
		struct backup_keys k;
		char *text = NULL, err[256];
		size_t len;

		assert_int_equal(read_file(path_of(f, 0, "keys", path, sizeof(path)), BACKUP_KEYS_MAX,
					   &text, &len), 0);
		assert_int_equal(backup_keys_parse(text, len, &k, err, sizeof(err)), 0);
		free(text);
		assert_int_equal(k.nvol, 2);
		assert_int_equal(backup_keys_find(&k, "photos"), 1);
	}
}

/* A FULL.keys that is not the kept form of its chain is left as it is. */
static void foreign_keys_left(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX], gdir[128], *text = NULL;
	size_t len;
	unsigned kept;

	if (system("command -v qemu-img > /dev/null") != 0)
		skip();
	full(f, 0, "new", f->mine);
	assert_int_equal(atomic_write_file(path_of(f, 0, "keys", path, sizeof(path)), "{}", 2, 0600), 0);
	snprintf(gdir, sizeof(gdir), "%s/vault1", f->dir);
	assert_int_equal(backup_keep_key(&f->h, gdir, f->e, 1, "", "archive", f->mine, &kept), 0);
	assert_int_equal(kept, 0);
	assert_int_equal(read_file(path, 64, &text, &len), 0);
	assert_true(len == 2 && !memcmp(text, "{}", 2));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(kept_where_it_opens, setup, teardown),
		cmocka_unit_test_setup_teardown(foreign_keys_left, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
