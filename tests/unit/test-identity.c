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

#include "lib/fileio.h"
#include "lib/identity.h"
#include "tests/unit/fixture.h"

/* RFC 8032 7.1 test 1 and RFC 7748 6.1 (Alice). */
#define ED_SEED "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define ED_PK "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define X_SK "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
#define X_PK "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
#define GOOD "name = alpha\nsign_secret = " ED_SEED ED_PK "\nkx_secret = " X_SK "\n"
/* RFC 7748 6.1 (Bob), as a WireGuard key. */
#define WG_SK "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
#define WG_PK "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"

struct fixture {
	char base[64];
	char state[96];
	char file[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || sodium_init() < 0)
		return -1;
	if (fixture_tmpdir(f->base, sizeof(f->base), "test-identity"))
		return -1;
	snprintf(f->state, sizeof(f->state), "%s/state/sub", f->base);
	snprintf(f->file, sizeof(f->file), "%s/" IDENTITY_FILE, f->state);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (fixture_rmtree(f->base) != 0)
		return -1;
	free(f);
	return 0;
}

static void unhex(uint8_t *out, size_t len, const char *hex)
{
	assert_int_equal(sodium_hex2bin(out, len, hex, strlen(hex), NULL, NULL, NULL), 0);
}

static int all_zero(const void *p, size_t len)
{
	return sodium_is_zero(p, len);
}

static void test_parse_known_keys(void **state)
{
	struct identity id;
	uint8_t want[32];

	assert_int_equal(identity_parse(GOOD, &id), 0);
	assert_string_equal(id.name, "alpha");
	unhex(want, 32, ED_PK);
	assert_memory_equal(id.sign_pk, want, 32);
	unhex(want, 32, ED_SEED);
	assert_memory_equal(id.sign_sk, want, 32);
	unhex(want, 32, X_PK);
	assert_memory_equal(id.kx_pk, want, 32);
	unhex(want, 32, X_SK);
	assert_memory_equal(id.kx_sk, want, 32);
	assert_false(id.has_wg);
	assert_true(all_zero(id.wg_sk, sizeof(id.wg_sk)));
	identity_wipe(&id);
	assert_true(all_zero(&id, sizeof(id)));
}

static void test_parse_wg_key(void **state)
{
	struct identity id;
	uint8_t want[32];

	assert_int_equal(identity_parse(GOOD "wg_secret = " WG_SK "\n", &id), 0);
	assert_true(id.has_wg);
	unhex(want, 32, WG_SK);
	assert_memory_equal(id.wg_sk, want, 32);
	unhex(want, 32, WG_PK);
	assert_memory_equal(id.wg_pk, want, 32);
	identity_wipe(&id);
}

static void test_parse_layout(void **state)
{
	struct identity id;
	const char *text =
		"# comment\r\n"
		"\n"
		"  kx_secret=" X_SK "  \r\n"
		"\tname\t=\tbeta-2\n"
		"sign_secret   =" ED_SEED ED_PK;

	assert_int_equal(identity_parse(text, &id), 0);
	assert_string_equal(id.name, "beta-2");
	identity_wipe(&id);
}

static void parse_fails(const char *text)
{
	struct identity id;

	memset(&id, 0xff, sizeof(id));
	if (identity_parse(text, &id) != -EBADMSG)
		fail_msg("identity_parse accepted:\n%s", text);
	/* nothing half-parsed is left behind */
	assert_true(all_zero(&id, sizeof(id)));
}

static void test_parse_rejects(void **state)
{
	const char *sign = "sign_secret = " ED_SEED ED_PK "\n";
	const char *kx = "kx_secret = " X_SK "\n";
	char text[1024];

	parse_fails("");
	parse_fails("# only a comment\n");
	/* each field missing in turn */
	snprintf(text, sizeof(text), "%s%s", sign, kx);
	parse_fails(text);
	snprintf(text, sizeof(text), "name = a\n%s", kx);
	parse_fails(text);
	snprintf(text, sizeof(text), "name = a\n%s", sign);
	parse_fails(text);
	/* duplicates and unknown keys */
	snprintf(text, sizeof(text), "name = a\nname = b\n%s%s", sign, kx);
	parse_fails(text);
	snprintf(text, sizeof(text), "%s%s%s", GOOD, "sign_public = " ED_PK "\n", "");
	parse_fails(text);
	snprintf(text, sizeof(text), "%sjunk\n", GOOD);
	parse_fails(text);
	snprintf(text, sizeof(text), "Name = a\n%s%s", sign, kx);
	parse_fails(text);
	/* names */
	snprintf(text, sizeof(text), "name = Alpha\n%s%s", sign, kx);
	parse_fails(text);
	snprintf(text, sizeof(text), "name =\n%s%s", sign, kx);
	parse_fails(text);
	snprintf(text, sizeof(text), "name = a b\n%s%s", sign, kx);
	parse_fails(text);
	snprintf(text, sizeof(text), "name = %s\n%s%s", "abcdefghijklmnopqrstuvwxyz012345", sign, kx);
	parse_fails(text);
	/* hex of the wrong length or with non-hex characters */
	parse_fails("name = a\nsign_secret = " ED_SEED ED_PK "0\nkx_secret = " X_SK "\n");
	parse_fails("name = a\nsign_secret = " ED_SEED ED_PK "00\nkx_secret = " X_SK "\n");
	parse_fails("name = a\nsign_secret = " ED_SEED "\nkx_secret = " X_SK "\n");
	parse_fails("name = a\nsign_secret = " ED_SEED ED_PK "\nkx_secret = " X_SK "0\n");
	parse_fails("name = a\nsign_secret = " ED_SEED ED_PK "\nkx_secret = " X_PK X_PK "\n");
	parse_fails("name = a\nsign_secret = g" ED_SEED "\nkx_secret = " X_SK "\n");
	parse_fails("name = a\nsign_secret = " ED_SEED ED_PK "\nkx_secret = " X_SK " x\n");
	parse_fails("name = a\nsign_secret = " ED_SEED ED_PK "\nkx_secret = 0x" X_SK "\n");
	/* the WireGuard key: once, exactly 32 bytes of hex */
	parse_fails(GOOD "wg_secret = " WG_SK "\nwg_secret = " WG_SK "\n");
	parse_fails(GOOD "wg_secret = " WG_SK "0\n");
	parse_fails(GOOD "wg_secret = " X_PK X_PK "\n");
	parse_fails(GOOD "wg_secret =\n");
	parse_fails(GOOD "wg_public = " WG_PK "\n");
}

static void test_parse_rejects_mismatched_public_half(void **state)
{
	/* the seed of RFC 8032 test 1 with the public key of another seed */
	parse_fails("name = a\nsign_secret = " ED_SEED X_PK "\nkx_secret = " X_SK "\n");
}

static void test_parse_accepts_uppercase(void **state)
{
	char text[512];
	struct identity id;

	snprintf(text, sizeof(text), "%s", GOOD);
	for (char *p = strstr(text, "sign_secret = ") + 14; *p != '\n'; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(identity_parse(text, &id), 0);
	identity_wipe(&id);
}

static void test_create_and_load(void **state)
{
	struct fixture *f = *state;
	struct identity made, loaded;
	uint8_t pk[32], msg[3] = { 1, 2, 3 }, sig[SIG_BYTES];
	struct stat st;
	mode_t old;

	old = umask(0);
	assert_int_equal(identity_create(f->state, "node-1", &made), 0);
	umask(old);
	assert_string_equal(made.name, "node-1");
	assert_int_equal(stat(f->file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(f->state, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);

	crypto_sign_ed25519_sk_to_pk(pk, made.sign_sk);
	assert_memory_equal(pk, made.sign_pk, 32);
	assert_int_equal(crypto_scalarmult_base(pk, made.kx_sk), 0);
	assert_memory_equal(pk, made.kx_pk, 32);
	assert_true(made.has_wg);
	assert_int_equal(crypto_scalarmult_base(pk, made.wg_sk), 0);
	assert_memory_equal(pk, made.wg_pk, 32);
	/* clamped as WireGuard expects */
	assert_int_equal(made.wg_sk[0] & 7, 0);
	assert_int_equal(made.wg_sk[31] & 0xc0, 0x40);

	assert_int_equal(identity_load(f->state, &loaded), 0);
	assert_memory_equal(&loaded, &made, sizeof(made));
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), loaded.sign_sk);
	assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof(msg), made.sign_pk), 0);
	identity_wipe(&made);
	identity_wipe(&loaded);
}

static void test_create_file_format(void **state)
{
	struct fixture *f = *state;
	struct identity id;
	char *text, kx_pk_hex[65];
	size_t len;
	int lines = 0;

	assert_int_equal(identity_create(f->state, "alpha", &id), 0);
	assert_int_equal(read_file(f->file, 4096, &text, &len), 0);
	assert_non_null(strstr(text, "\nname = alpha\n"));
	assert_non_null(strstr(text, "\nsign_secret = "));
	assert_non_null(strstr(text, "\nkx_secret = "));
	assert_non_null(strstr(text, "\nwg_secret = "));
	/* the x25519 public keys are derived, never stored */
	sodium_bin2hex(kx_pk_hex, sizeof(kx_pk_hex), id.kx_pk, sizeof(id.kx_pk));
	assert_null(strstr(text, kx_pk_hex));
	sodium_bin2hex(kx_pk_hex, sizeof(kx_pk_hex), id.wg_pk, sizeof(id.wg_pk));
	assert_null(strstr(text, kx_pk_hex));
	for (char *p = text; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 5);
	sodium_memzero(text, len);
	free(text);
	identity_wipe(&id);
}

static void test_create_refuses_existing(void **state)
{
	struct fixture *f = *state;
	struct identity a, b, c;

	assert_int_equal(identity_create(f->state, "alpha", &a), 0);
	memset(&b, 0x5a, sizeof(b));
	assert_int_equal(identity_create(f->state, "beta", &b), -EEXIST);
	assert_int_equal(identity_load(f->state, &c), 0);
	assert_memory_equal(&a, &c, sizeof(a));
	identity_wipe(&a);
	identity_wipe(&c);
}

static void test_create_two_differ(void **state)
{
	struct fixture *f = *state;
	struct identity a, b;
	char other[160];

	snprintf(other, sizeof(other), "%s/other", f->base);
	assert_int_equal(identity_create(f->state, "alpha", &a), 0);
	assert_int_equal(identity_create(other, "alpha", &b), 0);
	assert_memory_not_equal(a.sign_sk, b.sign_sk, sizeof(a.sign_sk));
	assert_memory_not_equal(a.kx_sk, b.kx_sk, sizeof(a.kx_sk));
	identity_wipe(&a);
	identity_wipe(&b);
}

static void test_create_bad_name(void **state)
{
	struct fixture *f = *state;
	struct identity id;

	assert_int_equal(identity_create(f->state, "", &id), -EINVAL);
	assert_int_equal(identity_create(f->state, "-a", &id), -EINVAL);
	assert_int_equal(identity_create(f->state, "UPPER", &id), -EINVAL);
	assert_int_equal(identity_create(f->state, "abcdefghijklmnopqrstuvwxyz012345", &id),
			 -EINVAL);
	assert_int_equal(access(f->file, F_OK), -1);
	assert_int_equal(identity_create(f->state, "abcdefghijklmnopqrstuvwxyz01234", &id), 0);
	identity_wipe(&id);
}

static void test_load_missing(void **state)
{
	struct fixture *f = *state;
	struct identity id;

	assert_int_equal(identity_load(f->state, &id), -ENOENT);
	assert_int_equal(identity_load("/nonexistent/dir", &id), -ENOENT);
}

static void test_load_refuses_open_modes(void **state)
{
	struct fixture *f = *state;
	static const mode_t bad[] = { 0640, 0604, 0620, 0602, 0610, 0601, 0644, 0660 };
	struct identity id;

	assert_int_equal(identity_create(f->state, "alpha", &id), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(f->file, bad[i]), 0);
		memset(&id, 0xff, sizeof(id));
		if (identity_load(f->state, &id) != -EPERM)
			fail_msg("mode %o accepted", (unsigned)bad[i]);
	}
	assert_int_equal(chmod(f->file, 0400), 0);
	assert_int_equal(identity_load(f->state, &id), 0);
	identity_wipe(&id);
}

static void test_load_rejects_bad_files(void **state)
{
	struct fixture *f = *state;
	struct identity id;
	char *big;

	assert_int_equal(mkdir_p(f->state, 0700), 0);
	assert_int_equal(atomic_write_file(f->file, "name = a\n", 9, 0600), 0);
	assert_int_equal(identity_load(f->state, &id), -EBADMSG);
	assert_int_equal(atomic_write_file(f->file, GOOD "\0", sizeof(GOOD), 0600), 0);
	assert_int_equal(identity_load(f->state, &id), -EBADMSG);
	big = calloc(1, 4096);
	assert_non_null(big);
	memset(big, '#', 4095);
	memcpy(big, GOOD, strlen(GOOD));
	assert_int_equal(atomic_write_file(f->file, big, 4095, 0600), 0);
	assert_int_equal(identity_load(f->state, &id), -EBADMSG);
	free(big);
	assert_int_equal(atomic_write_file(f->file, GOOD, strlen(GOOD), 0600), 0);
	assert_int_equal(identity_load(f->state, &id), 0);
	assert_string_equal(id.name, "alpha");
	identity_wipe(&id);
	/* a directory where the file should be */
	assert_int_equal(unlink(f->file), 0);
	assert_int_equal(mkdir(f->file, 0700), 0);
	assert_int_equal(identity_load(f->state, &id), -EBADMSG);
}

static void test_ensure_wg_adds_once(void **state)
{
	struct fixture *f = *state;
	struct identity old, id, again, other;
	struct stat st;
	uint8_t want[32];

	assert_int_equal(mkdir_p(f->state, 0700), 0);
	assert_int_equal(atomic_write_file(f->file, GOOD, strlen(GOOD), 0600), 0);
	assert_int_equal(identity_load(f->state, &old), 0);
	assert_false(old.has_wg);
	id = old;
	assert_int_equal(identity_ensure_wg(f->state, &id), 0);
	assert_true(id.has_wg);
	assert_int_equal(crypto_scalarmult_base(want, id.wg_sk), 0);
	assert_memory_equal(want, id.wg_pk, 32);
	/* the other keys are untouched, the file is still private */
	assert_memory_equal(id.sign_sk, old.sign_sk, sizeof(old.sign_sk));
	assert_memory_equal(id.kx_sk, old.kx_sk, sizeof(old.kx_sk));
	assert_int_equal(stat(f->file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(identity_load(f->state, &again), 0);
	assert_memory_equal(&again, &id, sizeof(id));
	/* a second caller holding the old copy gets the stored key, not a new one */
	assert_int_equal(identity_ensure_wg(f->state, &old), 0);
	assert_memory_equal(old.wg_sk, id.wg_sk, 32);
	/* with a key already, nothing is read or written */
	assert_int_equal(identity_ensure_wg("/nonexistent/dir", &again), 0);
	/* another node's identity is not this file's */
	assert_int_equal(identity_parse("name = other\nsign_secret = " ED_SEED ED_PK
					"\nkx_secret = " X_SK "\n", &other), 0);
	assert_int_equal(identity_ensure_wg(f->state, &other), -ESTALE);
	identity_wipe(&old);
	identity_wipe(&id);
	identity_wipe(&again);
	identity_wipe(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse_known_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_wg_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_rejects_mismatched_public_half, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_parse_accepts_uppercase, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_and_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_file_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_refuses_existing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_two_differ, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_bad_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_open_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_rejects_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ensure_wg_adds_once, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
