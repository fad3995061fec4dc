/* Backups: which parent the next one takes, which chain a restore reads,
 * what pruning may remove, and the directory (a damaged or altered file is
 * found). */
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

#include "virt/virt-backup-internal.h"
#include "virt/virt-backup.h"

static const char *const DISKS[] = { "archive" };

/* e[i]: id "2026120iT000000Z"; parent index p (-1: a full); checkpoint or not. */
static void entry(struct backup_entry *e, int i, int p, bool cp)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->m.id, sizeof(e->m.id), "202612%02uT000000Z", (unsigned)(i + 1) % 100u);
	strcpy(e->m.guest, "vault1");
	strcpy(e->m.instance_id, "i-1");
	strcpy(e->m.node, "node-a");
	if (p >= 0) {
		e->m.incremental = true;
		snprintf(e->m.parent, sizeof(e->m.parent), "202612%02uT000000Z", (unsigned)(p + 1) % 100u);
	}
	if (cp)
		snprintf(e->m.checkpoint, sizeof(e->m.checkpoint), BACKUP_CHECKPOINT_PREFIX "%s", e->m.id);
	e->m.nvol = 1;
	strcpy(e->m.vol[0].disk, "archive");
	e->m.vol[0].capacity = 1 << 30;
	e->m.vol[0].bytes = 1000;
	memset(e->m.vol[0].sha256, 'a', 64);
	e->intact = true;
}

static void chains(void **state)
{
	struct backup_entry e[4];
	size_t chain[4], len;
	char err[256];

	(void)state;
	entry(&e[0], 0, -1, true);
	entry(&e[1], 1, 0, true);
	entry(&e[2], 2, 1, true);
	entry(&e[3], 3, -1, false);
	assert_int_equal(backup_chain(e, 4, 2, chain, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 3);
	assert_int_equal(chain[0], 0);
	assert_int_equal(chain[1], 1);
	assert_int_equal(chain[2], 2);
	assert_int_equal(backup_chain(e, 4, 3, chain, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 1);
	assert_int_equal(backup_chain(e, 4, 4, chain, &len, err, sizeof(err)), -ENOENT);

	/* the middle link damaged, missing, of another instance, other disks */
	e[1].intact = false;
	strcpy(e[1].why, "the signature does not verify");
	assert_int_equal(backup_chain(e, 4, 2, chain, &len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "damaged"));
	e[1].intact = true;
	strcpy(e[2].m.parent, "20261130T000000Z");
	assert_int_equal(backup_chain(e, 4, 2, chain, &len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "not here"));
	strcpy(e[2].m.parent, e[1].m.id);
	strcpy(e[1].m.instance_id, "i-2");
	assert_int_equal(backup_chain(e, 4, 2, chain, &len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "another guest or instance"));
	strcpy(e[1].m.instance_id, "i-1");
	e[0].m.vol[0].capacity = 2 << 20;
	assert_int_equal(backup_chain(e, 4, 2, chain, &len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "volumes differ"));
	e[0].m.vol[0].capacity = 1 << 30;
	assert_int_equal(backup_chain(e, 4, 2, chain, &len, err, sizeof(err)), 0);
}

static void parents(void **state)
{
	struct backup_entry e[4];
	const char *cps[] = { "osi-backup-20261202T000000Z", "osi-backup-20261201T000000Z" };
	const char *other[] = { "data" };

	(void)state;
	entry(&e[0], 0, -1, true);
	entry(&e[1], 1, 0, true);
	/* the newest checkpoint libvirt still has */
	assert_int_equal(backup_parent(e, 2, "i-1", DISKS, 1, cps, 2, BACKUP_CHAIN_MAX), 1);
	assert_int_equal(backup_parent(e, 2, "i-1", DISKS, 1, cps + 1, 1, BACKUP_CHAIN_MAX), 0);
	/* none: a full */
	assert_int_equal(backup_parent(e, 2, "i-1", DISKS, 1, NULL, 0, BACKUP_CHAIN_MAX), -1);
	assert_int_equal(backup_parent(e, 0, "i-1", DISKS, 1, cps, 2, BACKUP_CHAIN_MAX), -1);
	/* another instance of the name, other disks, a chain at its length */
	assert_int_equal(backup_parent(e, 2, "i-9", DISKS, 1, cps, 2, BACKUP_CHAIN_MAX), -1);
	assert_int_equal(backup_parent(e, 2, "i-1", other, 1, cps, 2, BACKUP_CHAIN_MAX), -1);
	assert_int_equal(backup_parent(e, 2, "i-1", DISKS, 1, cps, 2, 2), -1);
	assert_int_equal(backup_parent(e, 2, "i-1", DISKS, 1, cps, 2, 3), 1);
	/* a full made while shut off has no checkpoint: the last one still counts */
	entry(&e[2], 2, -1, false);
	assert_int_equal(backup_parent(e, 3, "i-1", DISKS, 1, cps, 2, BACKUP_CHAIN_MAX), 1);
	/* the newest checkpoint's chain is broken: a full, not an older link */
	e[0].intact = false;
	assert_int_equal(backup_parent(e, 3, "i-1", DISKS, 1, cps, 2, BACKUP_CHAIN_MAX), -1);
	/* damaged itself: the one before it decides */
	e[0].intact = true;
	e[1].intact = false;
	assert_int_equal(backup_parent(e, 3, "i-1", DISKS, 1, cps, 2, BACKUP_CHAIN_MAX), 0);
}

static void pruning(void **state)
{
	struct backup_entry e[5];
	bool rm[5];

	(void)state;
	/* F1 I1 I2 F2 I3, keep 2: I3 and the F2 it needs */
	entry(&e[0], 0, -1, false);
	entry(&e[1], 1, 0, false);
	entry(&e[2], 2, 1, false);
	entry(&e[3], 3, -1, false);
	entry(&e[4], 4, 3, true);
	assert_int_equal(backup_prune(e, 5, 2, rm), 3);
	assert_true(rm[0] && rm[1] && rm[2] && !rm[3] && !rm[4]);
	/* keep 1: I3 still needs F2 */
	assert_int_equal(backup_prune(e, 5, 1, rm), 3);
	assert_true(!rm[3] && !rm[4]);
	/* F1 I1 I2, keep 1: the whole chain stays */
	assert_int_equal(backup_prune(e, 3, 1, rm), 0);
	/* keep 0: keep all */
	assert_int_equal(backup_prune(e, 5, 0, rm), 0);
	/* keep more than there are */
	assert_int_equal(backup_prune(e, 5, 9, rm), 0);
}

static void next_ids(void **state)
{
	struct backup_entry e[1];
	char id[BACKUP_ID_LEN + 1];

	(void)state;
	backup_next_id(NULL, 0, 1796385600, id);
	assert_string_equal(id, "20261204T120000Z");
	entry(&e[0], 3, -1, false); /* 20261204T000000Z */
	strcpy(e[0].m.id, "20261204T120000Z");
	backup_next_id(e, 1, 1796385600, id);
	assert_string_equal(id, "20261204T120001Z");
	backup_next_id(e, 1, 1796385600 - 5, id);
	assert_string_equal(id, "20261204T120001Z");
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	assert_true(snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path));
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
}

static int trust_none(const struct export_sig *s, void *ctx, char *err, size_t errlen)
{
	(void)s;
	(void)ctx;
	return snprintf(err, errlen, "not trusted here"), -EPERM;
}

static void directory(void **state)
{
	char base[] = "/tmp/osi-backup-test.XXXXXX", gdir[512], err[256], path[600];
	struct backup_entry *e, one;
	struct identity id;
	struct stat st;
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(base));
	assert_int_equal(backup_guest_dir(base, "vault1", true, gdir, sizeof(gdir), err, sizeof(err)), 0);
	assert_int_equal(stat(gdir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(backup_guest_dir(base, "../x", true, gdir, sizeof(gdir), err, sizeof(err)), -EINVAL);
	assert_int_equal(backup_guest_dir(base, "vault1", false, gdir, sizeof(gdir), err, sizeof(err)), 0);
	{ /* one at a time */
		int a, b;

		assert_int_equal(backup_lock(gdir, &a, err, sizeof(err)), 0);
		assert_int_equal(backup_lock(gdir, &b, err, sizeof(err)), -EBUSY);
		assert_non_null(strstr(err, "another backup or restore"));
		backup_unlock(a);
		assert_int_equal(backup_lock(gdir, &b, err, sizeof(err)), 0);
		backup_unlock(b);
	}
	memset(&id, 0, sizeof(id));
	strcpy(id.name, "node-a");
	crypto_sign_keypair(id.sign_pk, id.sign_sk);

	entry(&one, 0, -1, false);
	one.m.vol[0].bytes = 5;
	/* sha256("hello") */
	strcpy(one.m.vol[0].sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
	put(gdir, "20261201T000000Z.archive.qcow2", "hello");
	assert_int_equal(backup_store_manifest(gdir, &one.m, &id, err, sizeof(err)), 0);
	assert_int_equal(backup_list(gdir, NULL, NULL, &e, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_true(e[0].intact);
	assert_int_equal(backup_verify_files(gdir, &e[0], NULL, err, sizeof(err)), 0);
	/* the same size, one byte changed: listed whole, refused by its hash */
	put(gdir, "20261201T000000Z.archive.qcow2", "hellp");
	assert_int_equal(backup_verify_files(gdir, &e[0], NULL, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "altered"));
	{ /* what others may write is refused, and a symlink is never followed */
		int fds[1] = { -1 };

		put(gdir, "20261201T000000Z.archive.qcow2", "hello");
		assert_int_equal(backup_verify_files(gdir, &e[0], fds, err, sizeof(err)), 0);
		assert_true(fds[0] >= 0);
		close(fds[0]);
		snprintf(path, sizeof(path), "%s/20261201T000000Z.archive.qcow2", gdir);
		assert_int_equal(chmod(path, 0620), 0);
		assert_int_equal(backup_verify_files(gdir, &e[0], NULL, err, sizeof(err)), -EPERM);
		assert_non_null(strstr(err, "writable by its group or others"));
		assert_int_equal(chmod(path, 0600), 0);
		snprintf(path, sizeof(path), "%s/link", base);
		assert_int_equal(symlink(gdir, path), 0);
		assert_true(backup_guest_dir(path, "vault1", true, gdir, sizeof(gdir), err, sizeof(err)) < 0);
		assert_non_null(strstr(err, "symlink"));
		err[0] = '\0';
		assert_true(backup_guest_dir(path, "vault1", false, gdir, sizeof(gdir), err, sizeof(err)) < 0);
		assert_non_null(strstr(err, "symlink"));
		unlink(path);
		backup_guest_dir(base, "vault1", false, gdir, sizeof(gdir), err, sizeof(err));
	}
	free(e);
	/* untrusted, truncated, a manifest changed */
	assert_int_equal(backup_list(gdir, trust_none, NULL, &e, &n, err, sizeof(err)), 0);
	assert_false(e[0].intact);
	assert_non_null(strstr(e[0].why, "not trusted"));
	free(e);
	put(gdir, "20261201T000000Z.archive.qcow2", "hel");
	assert_int_equal(backup_list(gdir, NULL, NULL, &e, &n, err, sizeof(err)), 0);
	assert_false(e[0].intact);
	assert_non_null(strstr(e[0].why, "bytes"));
	free(e);
	snprintf(path, sizeof(path), "%s/20261201T000000Z.json", gdir);
	one.m.created++;
	unlink(path);
	{
		char *text;
		size_t len;

		assert_int_equal(backup_manifest_encode(&one.m, &text, &len, err, sizeof(err)), 0);
		put(gdir, "20261201T000000Z.json", text);
		free(text);
	}
	assert_int_equal(backup_list(gdir, NULL, NULL, &e, &n, err, sizeof(err)), 0);
	assert_false(e[0].intact);
	assert_non_null(strstr(e[0].why, "signature does not verify"));
	put(gdir, "20261201T000000Z.keys", "{}"); /* keys a copy kept go with their backup */
	assert_int_equal(backup_remove(gdir, &e[0].m), 0);
	snprintf(path, sizeof(path), "%s/20261201T000000Z.keys", gdir);
	assert_int_not_equal(access(path, F_OK), 0);
	free(e);
	assert_int_equal(backup_list(gdir, NULL, NULL, &e, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	free(e);
	rmdir(gdir);
	rmdir(base);
}

/* A chain link may name a backing file (never opened), not a data file. */
static void link_headers(void **state)
{
	uint8_t b[80] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };

	(void)state;
	assert_null(backup_link_header_check(b, sizeof(b)));
	b[8 + 7] = 0x70; /* backing_file_offset: named, still fine */
	b[16 + 3] = 4;
	assert_null(backup_link_header_check(b, sizeof(b)));
	b[79] = 4; /* incompatible feature bit 2: an external data file */
	assert_non_null(strstr(backup_link_header_check(b, sizeof(b)), "external data file"));
	assert_non_null(backup_link_header_check(b, 40));
	b[7] = 2;
	assert_null(backup_link_header_check(b, 72));
	b[0] = 'X';
	assert_non_null(strstr(backup_link_header_check(b, sizeof(b)), "not a qcow2"));
}

/* A volume's or disk's <encryption>: its one LUKS passphrase secret. */
static void luks_uuids(void **state)
{
	char uuid[40];

	(void)state;
	assert_int_equal(backup_luks_uuid("<volume><target><format type='qcow2'/></target></volume>", uuid,
					  sizeof(uuid)), -ENOENT);
	assert_string_equal(uuid, "");
	assert_int_equal(backup_luks_uuid("<target><encryption format='luks'>\n  <secret type='passphrase' "
					  "uuid='14c81a8c-2dfc-4448-b6a5-f94b7c9c4b4c'/>\n</encryption>",
					  uuid, sizeof(uuid)), 0);
	assert_string_equal(uuid, "14c81a8c-2dfc-4448-b6a5-f94b7c9c4b4c");
	assert_int_equal(backup_luks_uuid("<encryption format='qcow'><secret type='passphrase' uuid='ab'/>",
					  uuid, sizeof(uuid)), -EINVAL);
	assert_int_equal(backup_luks_uuid("<encryption format='luks'><secret type='passphrase' uuid=''/>",
					  uuid, sizeof(uuid)), -EINVAL);
	assert_int_equal(backup_luks_uuid("<encryption format='luks'><secret type='passphrase' uuid='../x'/>",
					  uuid, sizeof(uuid)), -EINVAL);
	assert_int_equal(backup_luks_uuid("<encryption format='luks'><secret type='passphrase' uuid='"
					  "0123456789012345678901234567890123456789'/>", uuid, sizeof(uuid)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(chains),
		cmocka_unit_test(parents),
		cmocka_unit_test(pruning),
		cmocka_unit_test(next_ids),
		cmocka_unit_test(directory),
		cmocka_unit_test(luks_uuids),
		cmocka_unit_test(link_headers),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
