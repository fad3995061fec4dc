/* A data volume kept aside while a restore replaces it: a leftover of an
 * earlier restore refuses and is never removed; the old key is written
 * sealed to the seal key (0600) beside the kept file; putting back renames
 * the old file over whatever is at the volume's path; release removes only
 * what is still the restore's. The spec root's qemu-img check opens a
 * full with names no backing file. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
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

#include "lib/fileio.h"
#include "lib/key-seal.h"
#include "tests/unit/fixture.h"
#include "virt/virt-backup-internal.h"

struct fx {
	char dir[64], err[512];
	uint8_t pk[32], sk[32], key[KEY_SEAL_KEY_BYTES];
	struct backup_aside a;
};

static void put(const char *path, const char *text)
{
	assert_int_equal(atomic_write_file(path, text, strlen(text), 0600), 0);
}

static bool same(const char *path, const char *text)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(text) && !memcmp(buf, text, (size_t)n);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f || fixture_tmpdir(f->dir, sizeof(f->dir), "test-backup-aside"))
		return -1;
	crypto_box_keypair(f->pk, f->sk);
	randombytes_buf(f->key, sizeof(f->key));
	if (backup_aside_names(f->dir, "vault1-data-archive.qcow2", &f->a) < 0)
		return -1;
	put(f->a.path, "old data");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int ret = fixture_rmtree(f->dir);

	free(f);
	return ret;
}

/* The key file: the kept file's name, the secret, the key sealed to pk. */
static void key_file(struct fx *f)
{
	uint8_t sealed[KEY_SEAL_BYTES], back[KEY_SEAL_KEY_BYTES];
	json_error_t jerr;
	struct stat st;
	json_t *o;

	assert_int_equal(lstat(f->a.keyf, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_non_null(o = json_load_file(f->a.keyf, 0, &jerr));
	assert_string_equal(json_string_value(json_object_get(o, "format")), BACKUP_ASIDE_KEY_FORMAT);
	assert_string_equal(json_string_value(json_object_get(o, "file")), f->a.kept);
	assert_string_equal(json_string_value(json_object_get(o, "secret")), "uuid-1");
	assert_int_equal(key_seal_unb64(json_string_value(json_object_get(o, "sealed")), sealed), 0);
	json_decref(o);
	assert_int_equal(crypto_box_seal_open(back, sealed, KEY_SEAL_BYTES, f->pk, f->sk), 0);
	assert_memory_equal(back, f->key, sizeof(back));
}

/* Set aside, the volume replaced, released: nothing of it is left. */
static void kept_then_released(void **state)
{
	struct fx *f = *state;

	assert_string_equal(strrchr(f->a.kept, '/') + 1, ".osi-restore-vault1-data-archive.qcow2");
	assert_int_equal(backup_aside_set(&f->a, "uuid-1", f->pk, f->key, f->err, sizeof(f->err)), 0);
	assert_true(same(f->a.kept, "old data"));
	key_file(f);
	assert_int_equal(unlink(f->a.path), 0); /* libvirt deletes it, a new one is made */
	put(f->a.path, "new data");
	backup_aside_release(&f->a);
	assert_false(exists(f->a.kept));
	assert_false(exists(f->a.keyf));
	assert_true(same(f->a.path, "new data"));
}

/* A leftover kept file, or key file, refuses and stays as it was. */
static void leftover_refused(void **state)
{
	struct fx *f = *state;
	struct backup_aside b;

	put(f->a.kept, "older data");
	assert_int_equal(backup_aside_set(&f->a, "uuid-1", f->pk, f->key, f->err, sizeof(f->err)), -EEXIST);
	assert_non_null(strstr(f->err, "remains from a restore that did not finish"));
	assert_true(same(f->a.kept, "older data"));
	assert_false(exists(f->a.keyf));
	backup_aside_release(&f->a); /* not ours: stays */
	assert_true(same(f->a.kept, "older data"));

	assert_int_equal(unlink(f->a.kept), 0);
	put(f->a.keyf, "older key");
	b = f->a;
	assert_int_equal(backup_aside_set(&b, "uuid-1", f->pk, f->key, f->err, sizeof(f->err)), -EEXIST);
	assert_non_null(strstr(f->err, "data and key"));
	assert_true(same(f->a.keyf, "older key"));
	assert_false(exists(f->a.kept));
}

/* A failed replacement: the partial new file still at the path (libvirt
 * could not delete it) is replaced by the old one; the key file stays
 * until the caller releases it (its key back in the secret). */
static void put_back_over_partial(void **state)
{
	struct fx *f = *state;

	assert_int_equal(backup_aside_set(&f->a, "uuid-1", f->pk, f->key, f->err, sizeof(f->err)), 0);
	assert_int_equal(unlink(f->a.path), 0);
	put(f->a.path, "partial new");
	assert_int_equal(backup_aside_put_back(&f->a), 0);
	assert_true(same(f->a.path, "old data"));
	assert_false(exists(f->a.kept));
	key_file(f);
	backup_aside_release(&f->a);
	assert_false(exists(f->a.keyf));
	assert_true(same(f->a.path, "old data"));
}

/* The volume's deletion failed: the same file under both names; put back
 * leaves it under the volume's only. */
static void put_back_same_file(void **state)
{
	struct fx *f = *state;

	assert_int_equal(backup_aside_set(&f->a, "", f->pk, NULL, f->err, sizeof(f->err)), 0);
	assert_int_equal(backup_aside_put_back(&f->a), 0);
	assert_false(exists(f->a.kept));
	assert_true(same(f->a.path, "old data"));
}

/* A plain volume (no key changes): no key file; a put back that cannot
 * rename keeps the kept file, and release after it removes only what is
 * the restore's. */
static void plain_and_failed_put_back(void **state)
{
	struct fx *f = *state;
	char sub[PATH_MAX + 8];

	assert_int_equal(backup_aside_set(&f->a, "", f->pk, NULL, f->err, sizeof(f->err)), 0);
	assert_false(exists(f->a.keyf));
	assert_int_equal(unlink(f->a.path), 0);
	assert_int_equal(mkdir(f->a.path, 0700), 0); /* something rename cannot replace */
	snprintf(sub, sizeof(sub), "%s/x", f->a.path);
	put(sub, "x");
	assert_true(backup_aside_put_back(&f->a) < 0);
	assert_true(same(f->a.kept, "old data"));
	assert_true(f->a.linked);
}

/* The spec qemu-img check opens a full's file with (as root) names its
 * backing as none: the file's header cannot choose one. */
static void key_check_spec(void **state)
{
	char *spec = backup_key_check_spec(7);
	json_error_t jerr;
	json_t *o, *backing;

	assert_non_null(spec);
	assert_true(!strncmp(spec, "json:", 5));
	assert_non_null(o = json_loads(spec + 5, 0, &jerr));
	assert_non_null(backing = json_object_get(o, "backing"));
	assert_true(json_is_null(backing));
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "file"), "filename")),
			    "/dev/fd/7");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "encrypt"), "key-secret")),
			    "k0");
	json_decref(o);
	free(spec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(kept_then_released, setup, teardown),
		cmocka_unit_test_setup_teardown(leftover_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(put_back_over_partial, setup, teardown),
		cmocka_unit_test_setup_teardown(put_back_same_file, setup, teardown),
		cmocka_unit_test_setup_teardown(plain_and_failed_put_back, setup, teardown),
		cmocka_unit_test(key_check_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
