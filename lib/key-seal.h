/* A data volume's key sealed to one member (libsodium crypto_box_seal):
 * anyone may seal to a public key, only the holder of its secret key opens.
 * Members' sealing keys are their ledger Ed25519 keys converted to X25519
 * (crypto_sign_ed25519_pk_to_curve25519; docs/operator.md, "Keys"), so no
 * new key needs to travel; a caller that already holds an X25519 key may
 * seal to it directly. Keys are zeroed here after use; the caller zeroes
 * its own copy of the volume key. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "lib/identity.h"

#define KEY_SEAL_KEY_BYTES 32                       /* a volume key */
#define KEY_SEAL_BYTES (KEY_SEAL_KEY_BYTES + 48)    /* + crypto_box_SEALBYTES */
#define KEY_SEAL_B64_MAX 112                        /* base64 of that, NUL included */
#define KEY_SEAL_ID_HEX 16                          /* key id: 8 bytes in hex */

/* 0, or -EINVAL when ed_pk is not a usable Ed25519 public key. */
int key_seal_ed25519(const uint8_t ed_pk[32], const uint8_t key[KEY_SEAL_KEY_BYTES],
		     uint8_t out[KEY_SEAL_BYTES]);
int key_seal_x25519(const uint8_t x_pk[32], const uint8_t key[KEY_SEAL_KEY_BYTES],
		    uint8_t out[KEY_SEAL_BYTES]);
/* Opens with the node identity's Ed25519 key pair: -EBADMSG for a blob of
 * the wrong length, -EPERM when it was not sealed to this identity (or was
 * altered). key is zeroed on failure. */
int key_unseal(const struct identity *id, const uint8_t *sealed, size_t n,
	       uint8_t key[KEY_SEAL_KEY_BYTES]);
/* Which key a blob is sealed to: the first 8 bytes of BLAKE2b-256 of the
 * Ed25519 public key, in lowercase hex. */
void key_seal_id(const uint8_t ed_pk[32], char out[KEY_SEAL_ID_HEX + 1]);
/* Base64 (standard alphabet, padded) of a sealed blob, and back: decoding
 * takes exactly KEY_SEAL_BYTES, anything else is -EBADMSG. */
void key_seal_b64(const uint8_t sealed[KEY_SEAL_BYTES], char out[KEY_SEAL_B64_MAX]);
int key_seal_unb64(const char *b64, uint8_t sealed[KEY_SEAL_BYTES]);
