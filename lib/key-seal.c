/* Volume keys sealed to members (lib/key-seal.h). */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "lib/key-seal.h"

int key_seal_x25519(const uint8_t x_pk[32], const uint8_t key[KEY_SEAL_KEY_BYTES],
		    uint8_t out[KEY_SEAL_BYTES])
{
	return crypto_box_seal(out, key, KEY_SEAL_KEY_BYTES, x_pk) == 0 ? 0 : -EINVAL;
}

int key_seal_ed25519(const uint8_t ed_pk[32], const uint8_t key[KEY_SEAL_KEY_BYTES],
		     uint8_t out[KEY_SEAL_BYTES])
{
	uint8_t x_pk[crypto_box_PUBLICKEYBYTES];

	if (crypto_sign_ed25519_pk_to_curve25519(x_pk, ed_pk) != 0)
		return -EINVAL;
	return key_seal_x25519(x_pk, key, out);
}

int key_unseal(const struct identity *id, const uint8_t *sealed, size_t n,
	       uint8_t key[KEY_SEAL_KEY_BYTES])
{
	uint8_t x_pk[crypto_box_PUBLICKEYBYTES], x_sk[crypto_box_SECRETKEYBYTES];
	int ret = 0;

	sodium_memzero(key, KEY_SEAL_KEY_BYTES);
	if (n != KEY_SEAL_BYTES)
		return -EBADMSG;
	if (crypto_sign_ed25519_pk_to_curve25519(x_pk, id->sign_pk) != 0 ||
	    crypto_sign_ed25519_sk_to_curve25519(x_sk, id->sign_sk) != 0 ||
	    crypto_box_seal_open(key, sealed, n, x_pk, x_sk) != 0)
		ret = -EPERM;
	sodium_memzero(x_sk, sizeof(x_sk));
	if (ret)
		sodium_memzero(key, KEY_SEAL_KEY_BYTES);
	return ret;
}

void key_seal_id(const uint8_t ed_pk[32], char out[KEY_SEAL_ID_HEX + 1])
{
	uint8_t h[32];

	crypto_generichash(h, sizeof(h), ed_pk, 32, NULL, 0);
	sodium_bin2hex(out, KEY_SEAL_ID_HEX + 1, h, KEY_SEAL_ID_HEX / 2);
}

void key_seal_b64(const uint8_t sealed[KEY_SEAL_BYTES], char out[KEY_SEAL_B64_MAX])
{
	sodium_bin2base64(out, KEY_SEAL_B64_MAX, sealed, KEY_SEAL_BYTES,
			  sodium_base64_VARIANT_ORIGINAL);
}

int key_seal_unb64(const char *b64, uint8_t sealed[KEY_SEAL_BYTES])
{
	size_t n = 0;
	const char *end = NULL;

	if (strlen(b64) >= KEY_SEAL_B64_MAX ||
	    sodium_base642bin(sealed, KEY_SEAL_BYTES, b64, strlen(b64), NULL, &n, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    n != KEY_SEAL_BYTES || *end)
		return -EBADMSG;
	return 0;
}
