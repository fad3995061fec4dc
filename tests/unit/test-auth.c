#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/auth.h"

struct kx {
	uint8_t pk[KX_PK_BYTES], sk[KX_SK_BYTES];
};

static void kx_seeded(struct kx *k, uint8_t fill)
{
	uint8_t seed[crypto_kx_SEEDBYTES];

	memset(seed, fill, sizeof(seed));
	assert_int_equal(crypto_kx_seed_keypair(k->pk, k->sk, seed), 0);
}

static int setup(void **state)
{
	(void)state;
	return auth_init();
}

static void test_init_twice(void **state)
{
	(void)state;
	assert_int_equal(auth_init(), 0);
	assert_int_equal(auth_init(), 0);
}

/* The node's tx key and the fleet's rx key for that node must be one key. */
static void test_hb_keys_agree(void **state)
{
	struct kx node, other, fleet;
	uint8_t kn[HB_KEY_BYTES], kf[HB_KEY_BYTES], ko[HB_KEY_BYTES], kfo[HB_KEY_BYTES];
	uint8_t rx[crypto_kx_SESSIONKEYBYTES], tx[crypto_kx_SESSIONKEYBYTES];

	(void)state;
	kx_seeded(&node, 1);
	kx_seeded(&other, 2);
	kx_seeded(&fleet, 3);
	assert_int_equal(hb_key_node(kn, node.pk, node.sk, fleet.pk), 0);
	assert_int_equal(hb_key_fleet(kf, fleet.pk, fleet.sk, node.pk), 0);
	assert_memory_equal(kn, kf, HB_KEY_BYTES);

	/* a subkey ("osi-hb01", id 1) of crypto_kx's client tx key, never the
	 * session key itself */
	assert_int_equal(crypto_kx_client_session_keys(rx, tx, node.pk, node.sk, fleet.pk), 0);
	assert_memory_not_equal(kn, tx, HB_KEY_BYTES);
	assert_memory_not_equal(kn, rx, HB_KEY_BYTES);
	assert_int_equal(crypto_kdf_derive_from_key(kf, HB_KEY_BYTES, 1, "osi-hb01", tx), 0);
	assert_memory_equal(kn, kf, HB_KEY_BYTES);
	assert_int_equal(crypto_kdf_derive_from_key(kf, HB_KEY_BYTES, 1, "osi-hb01", rx), 0);
	assert_memory_not_equal(kn, kf, HB_KEY_BYTES);

	/* another node gets another key */
	assert_int_equal(hb_key_node(ko, other.pk, other.sk, fleet.pk), 0);
	assert_int_equal(hb_key_fleet(kfo, fleet.pk, fleet.sk, other.pk), 0);
	assert_memory_equal(ko, kfo, HB_KEY_BYTES);
	assert_memory_not_equal(ko, kn, HB_KEY_BYTES);
}

static void test_hb_key_bad_peer(void **state)
{
	struct kx node, fleet;
	uint8_t zero[KX_PK_BYTES] = { 0 }, key[HB_KEY_BYTES];

	(void)state;
	kx_seeded(&node, 4);
	kx_seeded(&fleet, 5);
	/* the identity point gives an all-zero shared secret, which kx refuses */
	assert_int_equal(hb_key_node(key, node.pk, node.sk, zero), -EINVAL);
	assert_int_equal(hb_key_fleet(key, fleet.pk, fleet.sk, zero), -EINVAL);
}

static void sealed(uint8_t d[HB_SIZE], const uint8_t key[HB_KEY_BYTES])
{
	for (size_t i = 0; i < HB_SIZE; i++)
		d[i] = (uint8_t)(i * 7 + 3);
	hb_auth_seal(d, key);
}

static void test_seal_is_hmac_sha512_256(void **state)
{
	uint8_t key[HB_KEY_BYTES], d[HB_SIZE], full[crypto_auth_hmacsha512_BYTES];

	(void)state;
	memset(key, 0x42, sizeof(key));
	sealed(d, key);
	/* HMAC-SHA-512 truncated to 256 bits, over bytes 0..95 only */
	crypto_auth_hmacsha512(full, d, HB_MAC_OFFSET, key);
	assert_memory_equal(d + HB_MAC_OFFSET, full, HB_MAC_SIZE);
	assert_true(hb_auth_verify(d, key));
}

static void test_verify_rejects_any_bit_flip(void **state)
{
	uint8_t key[HB_KEY_BYTES], d[HB_SIZE];

	(void)state;
	memset(key, 0x17, sizeof(key));
	sealed(d, key);
	for (size_t bit = 0; bit < HB_SIZE * 8; bit++) {
		d[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_false(hb_auth_verify(d, key));
		d[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	assert_true(hb_auth_verify(d, key));
	for (size_t bit = 0; bit < HB_KEY_BYTES * 8; bit++) {
		key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_false(hb_auth_verify(d, key));
		key[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

/* The transcript of auth.h, spelled out independently of auth.c. */
static size_t transcript(uint8_t *out, const uint8_t nonce[API_NONCE_BYTES], uint64_t seq,
			 const char *name, const void *body, size_t body_len)
{
	size_t n = 0, name_len = strlen(name);

	memcpy(out, "osi-api-v1", 10);
	n = 10;
	memcpy(out + n, nonce, API_NONCE_BYTES);
	n += API_NONCE_BYTES;
	for (int i = 7; i >= 0; i--)
		out[n++] = (uint8_t)(seq >> (8 * i));
	out[n++] = (uint8_t)name_len;
	memcpy(out + n, name, name_len);
	n += name_len;
	memcpy(out + n, body, body_len);
	return n + body_len;
}

struct signer {
	uint8_t pk[SIGN_PK_BYTES], sk[SIGN_SK_BYTES];
	uint8_t nonce[API_NONCE_BYTES];
};

static void signer_init(struct signer *s)
{
	uint8_t seed[crypto_sign_SEEDBYTES];

	memset(seed, 0x33, sizeof(seed));
	assert_int_equal(crypto_sign_seed_keypair(s->pk, s->sk, seed), 0);
	for (size_t i = 0; i < sizeof(s->nonce); i++)
		s->nonce[i] = (uint8_t)i;
}

static void test_api_transcript(void **state)
{
	static const char body[] = "{\"op\":\"list\"}";
	uint8_t sig[SIG_BYTES], want[SIG_BYTES], msg[256];
	struct signer s;
	size_t n;

	(void)state;
	signer_init(&s);
	assert_int_equal(api_sign(sig, s.sk, s.nonce, 0x0102030405060708ULL, "admin-1",
				  (const uint8_t *)body, strlen(body)), 0);
	n = transcript(msg, s.nonce, 0x0102030405060708ULL, "admin-1", body, strlen(body));
	assert_int_equal(n, 10 + 32 + 8 + 1 + 7 + strlen(body));
	/* Ed25519 is deterministic: the same transcript gives the same bytes */
	assert_int_equal(crypto_sign_detached(want, NULL, msg, n, s.sk), 0);
	assert_memory_equal(sig, want, SIG_BYTES);
	assert_true(api_verify(sig, s.pk, s.nonce, 0x0102030405060708ULL, "admin-1",
			       (const uint8_t *)body, strlen(body)));
}

static void test_api_tamper(void **state)
{
	const uint8_t body[] = "{\"a\":1}";
	const size_t blen = sizeof(body) - 1;
	uint8_t sig[SIG_BYTES], other_pk[SIGN_PK_BYTES], other_sk[SIGN_SK_BYTES];
	struct signer s;

	(void)state;
	signer_init(&s);
	assert_int_equal(api_sign(sig, s.sk, s.nonce, 7, "ab", body, blen), 0);
	assert_true(api_verify(sig, s.pk, s.nonce, 7, "ab", body, blen));
	assert_false(api_verify(sig, s.pk, s.nonce, 8, "ab", body, blen));
	assert_false(api_verify(sig, s.pk, s.nonce, 7 + (1ULL << 56), "ab", body, blen));
	assert_false(api_verify(sig, s.pk, s.nonce, 7, "ac", body, blen));
	assert_false(api_verify(sig, s.pk, s.nonce, 7, "ab", body, blen - 1));
	s.nonce[31] ^= 1;
	assert_false(api_verify(sig, s.pk, s.nonce, 7, "ab", body, blen));
	s.nonce[31] ^= 1;
	sig[0] ^= 1;
	assert_false(api_verify(sig, s.pk, s.nonce, 7, "ab", body, blen));
	sig[0] ^= 1;
	crypto_sign_keypair(other_pk, other_sk);
	assert_false(api_verify(sig, other_pk, s.nonce, 7, "ab", body, blen));
	assert_true(api_verify(sig, s.pk, s.nonce, 7, "ab", body, blen));
}

/* The length prefix keeps the name/body boundary from sliding. */
static void test_api_name_body_boundary(void **state)
{
	uint8_t sig[SIG_BYTES];
	struct signer s;

	(void)state;
	signer_init(&s);
	assert_int_equal(api_sign(sig, s.sk, s.nonce, 1, "ab", (const uint8_t *)"c{}", 3), 0);
	assert_false(api_verify(sig, s.pk, s.nonce, 1, "abc", (const uint8_t *)"{}", 2));
	assert_true(api_verify(sig, s.pk, s.nonce, 1, "ab", (const uint8_t *)"c{}", 3));
}

static void test_api_bounds(void **state)
{
	uint8_t sig[SIG_BYTES];
	uint8_t *big = calloc(64 * 1024 + 1, 1);
	struct signer s;

	(void)state;
	assert_non_null(big);
	signer_init(&s);
	assert_int_equal(api_sign(sig, s.sk, s.nonce, 1, "", big, 1), -EINVAL);
	assert_int_equal(api_sign(sig, s.sk, s.nonce, 1, "Bad", big, 1), -EINVAL);
	assert_int_equal(api_sign(sig, s.sk, s.nonce, 1, NULL, big, 1), -EINVAL);
	assert_int_equal(api_sign(sig, s.sk, s.nonce, 1, "a", NULL, 1), -EINVAL);
	assert_int_equal(api_sign(sig, s.sk, s.nonce, 1, "a", big, 64 * 1024 + 1), -EINVAL);
	assert_false(api_verify(sig, s.pk, s.nonce, 1, "a", big, 64 * 1024 + 1));

	assert_int_equal(api_sign(sig, s.sk, s.nonce, 1, "a", big, 64 * 1024), 0);
	assert_true(api_verify(sig, s.pk, s.nonce, 1, "a", big, 64 * 1024));
	assert_int_equal(api_sign(sig, s.sk, s.nonce, 1, "abcdefghijklmnopqrstuvwxyz01234",
				  NULL, 0), 0);
	assert_true(api_verify(sig, s.pk, s.nonce, 1, "abcdefghijklmnopqrstuvwxyz01234",
			       NULL, 0));
	assert_false(api_verify(sig, s.pk, s.nonce, 1, "abcdefghijklmnopqrstuvwxyz01234",
				big, 1));
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_twice),
		cmocka_unit_test(test_hb_keys_agree),
		cmocka_unit_test(test_hb_key_bad_peer),
		cmocka_unit_test(test_seal_is_hmac_sha512_256),
		cmocka_unit_test(test_verify_rejects_any_bit_flip),
		cmocka_unit_test(test_api_transcript),
		cmocka_unit_test(test_api_tamper),
		cmocka_unit_test(test_api_name_body_boundary),
		cmocka_unit_test(test_api_bounds),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
