/* Volume keys sealed to a member's Ed25519 (or X25519) key and opened with
 * its identity: round trip, the wrong identity, a cut or altered blob, the
 * base64 form, the key id. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "lib/key-seal.h"

static void member(struct identity *id, const char *name)
{
	memset(id, 0, sizeof(*id));
	strcpy(id->name, name);
	crypto_sign_keypair(id->sign_pk, id->sign_sk);
}

static void test_round_trip(void **state)
{
	struct identity a;
	uint8_t key[KEY_SEAL_KEY_BYTES], back[KEY_SEAL_KEY_BYTES], s1[KEY_SEAL_BYTES], s2[KEY_SEAL_BYTES];

	member(&a, "alpha");
	randombytes_buf(key, sizeof(key));
	assert_int_equal(key_seal_ed25519(a.sign_pk, key, s1), 0);
	assert_int_equal(key_seal_ed25519(a.sign_pk, key, s2), 0);
	assert_memory_not_equal(s1, s2, sizeof(s1)); /* fresh ephemeral key each time */
	assert_null(memmem(s1, sizeof(s1), key, sizeof(key)));
	assert_int_equal(key_unseal(&a, s1, sizeof(s1), back), 0);
	assert_memory_equal(back, key, sizeof(key));
	assert_int_equal(key_unseal(&a, s2, sizeof(s2), back), 0);
	assert_memory_equal(back, key, sizeof(key));
}

/* Sealing to the converted X25519 key is the same as sealing to the Ed25519 one. */
static void test_x25519(void **state)
{
	struct identity a;
	uint8_t key[KEY_SEAL_KEY_BYTES], back[KEY_SEAL_KEY_BYTES], s[KEY_SEAL_BYTES], x_pk[32];

	member(&a, "alpha");
	randombytes_buf(key, sizeof(key));
	assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(x_pk, a.sign_pk), 0);
	assert_int_equal(key_seal_x25519(x_pk, key, s), 0);
	assert_int_equal(key_unseal(&a, s, sizeof(s), back), 0);
	assert_memory_equal(back, key, sizeof(key));
}

static void test_wrong_key(void **state)
{
	struct identity a, b;
	uint8_t key[KEY_SEAL_KEY_BYTES], back[KEY_SEAL_KEY_BYTES], s[KEY_SEAL_BYTES];

	member(&a, "alpha");
	member(&b, "beta");
	randombytes_buf(key, sizeof(key));
	assert_int_equal(key_seal_ed25519(a.sign_pk, key, s), 0);
	memset(back, 0xaa, sizeof(back));
	assert_int_equal(key_unseal(&b, s, sizeof(s), back), -EPERM);
	for (size_t i = 0; i < sizeof(back); i++)
		assert_int_equal(back[i], 0); /* nothing half opened is left */
	/* One bit flipped anywhere: refused. */
	for (size_t i = 0; i < sizeof(s); i += 7) {
		s[i] ^= 1;
		assert_int_equal(key_unseal(&a, s, sizeof(s), back), -EPERM);
		s[i] ^= 1;
	}
	/* Not an Ed25519 point: refused, not sealed to garbage. */
	memset(b.sign_pk, 0xff, sizeof(b.sign_pk));
	assert_int_equal(key_seal_ed25519(b.sign_pk, key, s), -EINVAL);
}

static void test_truncated(void **state)
{
	struct identity a;
	uint8_t key[KEY_SEAL_KEY_BYTES], back[KEY_SEAL_KEY_BYTES], s[KEY_SEAL_BYTES + 1];
	char b64[KEY_SEAL_B64_MAX], longer[KEY_SEAL_B64_MAX + 8];

	member(&a, "alpha");
	randombytes_buf(key, sizeof(key));
	assert_int_equal(key_seal_ed25519(a.sign_pk, key, s), 0);
	for (size_t n = 0; n < KEY_SEAL_BYTES; n++)
		assert_int_equal(key_unseal(&a, s, n, back), -EBADMSG);
	assert_int_equal(key_unseal(&a, s, KEY_SEAL_BYTES + 1, back), -EBADMSG);
	/* base64: round trip, then cut, padded wrong, too long, trailing junk */
	key_seal_b64(s, b64);
	assert_int_equal(strlen(b64), 108);
	memset(s, 0, sizeof(s));
	assert_int_equal(key_seal_unb64(b64, s), 0);
	assert_int_equal(key_unseal(&a, s, KEY_SEAL_BYTES, back), 0);
	assert_memory_equal(back, key, sizeof(key));
	b64[104] = '\0';
	assert_int_equal(key_seal_unb64(b64, s), -EBADMSG);
	assert_int_equal(key_seal_unb64("", s), -EBADMSG);
	assert_int_equal(key_seal_unb64("!!!!", s), -EBADMSG);
	key_seal_b64(s, b64);
	snprintf(longer, sizeof(longer), "%sAAAA", b64);
	assert_int_equal(key_seal_unb64(longer, s), -EBADMSG);
}

static void test_key_id(void **state)
{
	struct identity a, b;
	char ia[KEY_SEAL_ID_HEX + 1], ia2[KEY_SEAL_ID_HEX + 1], ib[KEY_SEAL_ID_HEX + 1];

	member(&a, "alpha");
	member(&b, "beta");
	key_seal_id(a.sign_pk, ia);
	key_seal_id(a.sign_pk, ia2);
	key_seal_id(b.sign_pk, ib);
	assert_int_equal(strlen(ia), KEY_SEAL_ID_HEX);
	assert_string_equal(ia, ia2);
	assert_string_not_equal(ia, ib);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_x25519),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_key_id),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
