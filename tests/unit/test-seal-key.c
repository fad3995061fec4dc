/* The node's seal key: made once and read back the same; refused when it
 * or its directory is open to others, another user's, or a symlink; opens
 * only what was sealed to it. */
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

#include <cmocka.h>
#include <sodium.h>

#include "lib/seal-key.h"
#include "tests/unit/fixture.h"

static char dir[] = "/tmp/osi-test-seal-key-XXXXXX";
static char path[PATH_MAX];

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/keys/seal.key", dir);
	return 0;
}

static int teardown(void **state)
{
	return fixture_rmtree(dir) == 0 ? 0 : -1;
}

static void test_made_once(void **state)
{
	struct seal_key a, b;
	struct stat st;
	uint8_t key[KEY_SEAL_KEY_BYTES], back[KEY_SEAL_KEY_BYTES], sealed[KEY_SEAL_BYTES];

	assert_int_equal(seal_key_load(path, 0, &a), -ENOENT);
	assert_int_equal(seal_key_load(path, 1, &a), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(seal_key_load(path, 1, &b), 0);
	assert_memory_equal(a.pk, b.pk, sizeof(a.pk));
	randombytes_buf(key, sizeof(key));
	assert_int_equal(key_seal_x25519(a.pk, key, sealed), 0);
	assert_int_equal(seal_key_open(&b, sealed, sizeof(sealed), back), 0);
	assert_memory_equal(back, key, sizeof(key));
	assert_int_equal(seal_key_open(&b, sealed, sizeof(sealed) - 1, back), -EBADMSG);
	/* another key does not open it */
	crypto_box_keypair(b.pk, b.sk);
	assert_int_equal(seal_key_open(&b, sealed, sizeof(sealed), back), -EPERM);
	sealed[3] ^= 1;
	assert_int_equal(seal_key_open(&a, sealed, sizeof(sealed), back), -EPERM);
	seal_key_wipe(&a);
	seal_key_wipe(&b);
}

static void test_refused(void **state)
{
	struct seal_key k;
	char link[PATH_MAX + 8], keys[PATH_MAX];

	assert_int_equal(seal_key_load(path, 1, &k), 0);
	assert_int_equal(chmod(path, 0640), 0); /* group-readable */
	assert_int_equal(seal_key_load(path, 1, &k), -EPERM);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(seal_key_load(path, 1, &k), -EPERM);
	assert_int_equal(chmod(path, 0600), 0);
	if (geteuid() == 0) { /* another user's (osi's, say): refused even by root */
		assert_int_equal(chown(path, 65534, 65534), 0);
		assert_int_equal(seal_key_load(path, 1, &k), -EPERM);
		assert_int_equal(chown(path, 0, 0), 0);
	}
	snprintf(link, sizeof(link), "%s/keys/link.key", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(seal_key_load(link, 1, &k), -EPERM);
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	assert_int_equal(chmod(keys, 0770), 0); /* a directory others may change */
	assert_int_equal(seal_key_load(path, 1, &k), -EPERM);
	assert_int_equal(chmod(keys, 0700), 0);
	assert_int_equal(seal_key_load(path, 1, &k), 0);
	assert_int_equal(seal_key_load("seal.key", 1, &k), -EINVAL); /* relative */
	seal_key_wipe(&k);
}

static void test_garbage(void **state)
{
	struct seal_key k;
	char other[PATH_MAX + 8];
	FILE *f;

	snprintf(other, sizeof(other), "%s/keys/bad.key", dir);
	f = fopen(other, "w");
	assert_non_null(f);
	fputs("osi-seal-key-v1 zz\n", f);
	fclose(f);
	assert_int_equal(chmod(other, 0600), 0);
	assert_int_equal(seal_key_load(other, 1, &k), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_made_once),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_garbage),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
