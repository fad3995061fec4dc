#include "lib/auth.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define API_DOMAIN "osi-api-v1"
#define API_DOMAIN_LEN (sizeof(API_DOMAIN) - 1)
/* Bodies travel in a frame of at most 64 KiB (wire-frame.h). */
#define API_BODY_MAX (64u * 1024)

_Static_assert(crypto_kdf_KEYBYTES == crypto_kx_SESSIONKEYBYTES, "kx session key feeds the KDF");
_Static_assert(HB_KEY_BYTES >= crypto_kdf_BYTES_MIN && HB_KEY_BYTES <= crypto_kdf_BYTES_MAX, "kdf size");

/* The kx session key is never used directly: the heartbeat MAC key is a
 * subkey of it with its own context, so no key serves two purposes. */
#define HB_KDF_CONTEXT "osi-hb01"
#define HB_KDF_SUBKEY 1

static int derive(uint8_t key[HB_KEY_BYTES], const uint8_t session[crypto_kx_SESSIONKEYBYTES])
{
	return crypto_kdf_derive_from_key(key, HB_KEY_BYTES, HB_KDF_SUBKEY, HB_KDF_CONTEXT, session)
		? -EINVAL : 0;
}
_Static_assert(HB_MAC_SIZE == crypto_auth_BYTES, "MAC field holds one crypto_auth tag");

int auth_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

int hb_key_node(uint8_t key[HB_KEY_BYTES], const uint8_t node_pk[KX_PK_BYTES],
		const uint8_t node_sk[KX_SK_BYTES], const uint8_t fleet_pk[KX_PK_BYTES])
{
	uint8_t rx[crypto_kx_SESSIONKEYBYTES], tx[crypto_kx_SESSIONKEYBYTES];
	int ret = 0;

	if (crypto_kx_client_session_keys(rx, tx, node_pk, node_sk, fleet_pk) != 0) {
		ret = -EINVAL;
		goto cleanup;
	}
	ret = derive(key, tx);
cleanup:
	sodium_memzero(rx, sizeof(rx));
	sodium_memzero(tx, sizeof(tx));
	return ret;
}

int hb_key_fleet(uint8_t key[HB_KEY_BYTES], const uint8_t fleet_pk[KX_PK_BYTES],
		 const uint8_t fleet_sk[KX_SK_BYTES], const uint8_t node_pk[KX_PK_BYTES])
{
	uint8_t rx[crypto_kx_SESSIONKEYBYTES], tx[crypto_kx_SESSIONKEYBYTES];
	int ret = 0;

	if (crypto_kx_server_session_keys(rx, tx, fleet_pk, fleet_sk, node_pk) != 0) {
		ret = -EINVAL;
		goto cleanup;
	}
	ret = derive(key, rx);
cleanup:
	sodium_memzero(rx, sizeof(rx));
	sodium_memzero(tx, sizeof(tx));
	return ret;
}

void hb_auth_seal(uint8_t dgram[HB_SIZE], const uint8_t key[HB_KEY_BYTES])
{
	crypto_auth(dgram + HB_MAC_OFFSET, dgram, HB_MAC_OFFSET, key);
}

bool hb_auth_verify(const uint8_t dgram[HB_SIZE], const uint8_t key[HB_KEY_BYTES])
{
	return crypto_auth_verify(dgram + HB_MAC_OFFSET, dgram, HB_MAC_OFFSET, key) == 0;
}

/* Builds the transcript of auth.h into a fresh buffer. Ed25519 has no
 * streaming form (short of the prehashed variant), so it is signed whole. */
static int api_transcript(const uint8_t nonce[API_NONCE_BYTES], uint64_t seq,
			  const char *name, const uint8_t *body, size_t body_len,
			  uint8_t **out, size_t *out_len)
{
	size_t name_len, len;
	uint64_t seq_be = htobe64(seq);
	uint8_t *buf, *p;

	if (!node_name_valid(name) || (!body && body_len) || body_len > API_BODY_MAX)
		return -EINVAL;
	name_len = strlen(name);
	len = API_DOMAIN_LEN + API_NONCE_BYTES + sizeof(seq_be) + 1 + name_len + body_len;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	p = buf;
	memcpy(p, API_DOMAIN, API_DOMAIN_LEN);
	p += API_DOMAIN_LEN;
	memcpy(p, nonce, API_NONCE_BYTES);
	p += API_NONCE_BYTES;
	memcpy(p, &seq_be, sizeof(seq_be));
	p += sizeof(seq_be);
	*p++ = (uint8_t)name_len;
	memcpy(p, name, name_len);
	p += name_len;
	if (body_len)
		memcpy(p, body, body_len);
	*out = buf;
	*out_len = len;
	return 0;
}

int api_sign(uint8_t sig[SIG_BYTES], const uint8_t sk[SIGN_SK_BYTES],
	     const uint8_t nonce[API_NONCE_BYTES], uint64_t seq, const char *name,
	     const uint8_t *body, size_t body_len)
{
	uint8_t *msg;
	size_t len;
	int ret;

	ret = api_transcript(nonce, seq, name, body, body_len, &msg, &len);
	if (ret < 0)
		return ret;
	if (crypto_sign_detached(sig, NULL, msg, len, sk) != 0)
		ret = -EIO;
	free(msg);
	return ret;
}

bool api_verify(const uint8_t sig[SIG_BYTES], const uint8_t pk[SIGN_PK_BYTES],
		const uint8_t nonce[API_NONCE_BYTES], uint64_t seq, const char *name,
		const uint8_t *body, size_t body_len)
{
	uint8_t *msg;
	size_t len;
	bool ok;

	if (api_transcript(nonce, seq, name, body, body_len, &msg, &len) < 0)
		return false;
	ok = crypto_sign_verify_detached(sig, msg, len, pk) == 0;
	free(msg);
	return ok;
}

#define SYNC_DOMAIN "osi-sync-v2"
#define SYNC_DOMAIN_LEN (sizeof(SYNC_DOMAIN) - 1)
#define SYNC_HASH_BYTES 32
#define SYNC_MSG_MAX (SYNC_DOMAIN_LEN + SYNC_NONCE_BYTES + 2 + NODE_NAME_MAX + SYNC_HASH_BYTES)

/* The transcript of auth.h in msg (SYNC_MSG_MAX bytes); its length, or -EINVAL. */
static int sync_transcript(uint8_t msg[SYNC_MSG_MAX], const uint8_t nonce[SYNC_NONCE_BYTES],
			   uint8_t type, const char *name, const uint8_t *body, size_t body_len)
{
	size_t name_len;
	uint8_t *p = msg;

	if (!node_name_valid(name) || (!body && body_len))
		return -EINVAL;
	name_len = strlen(name);
	memcpy(p, SYNC_DOMAIN, SYNC_DOMAIN_LEN);
	p += SYNC_DOMAIN_LEN;
	memcpy(p, nonce, SYNC_NONCE_BYTES);
	p += SYNC_NONCE_BYTES;
	*p++ = type;
	*p++ = (uint8_t)name_len;
	memcpy(p, name, name_len);
	p += name_len;
	crypto_generichash(p, SYNC_HASH_BYTES, body, body_len, NULL, 0);
	p += SYNC_HASH_BYTES;
	return (int)(p - msg);
}

int sync_sign(uint8_t sig[SIG_BYTES], const uint8_t sk[SIGN_SK_BYTES],
	      const uint8_t nonce[SYNC_NONCE_BYTES], uint8_t type, const char *name,
	      const uint8_t *body, size_t body_len)
{
	uint8_t msg[SYNC_MSG_MAX];
	int len = sync_transcript(msg, nonce, type, name, body, body_len);

	if (len < 0)
		return len;
	return crypto_sign_detached(sig, NULL, msg, (size_t)len, sk) ? -EIO : 0;
}

bool sync_verify(const uint8_t sig[SIG_BYTES], const uint8_t pk[SIGN_PK_BYTES],
		 const uint8_t nonce[SYNC_NONCE_BYTES], uint8_t type, const char *name,
		 const uint8_t *body, size_t body_len)
{
	uint8_t msg[SYNC_MSG_MAX];
	int len = sync_transcript(msg, nonce, type, name, body, body_len);

	return len >= 0 && crypto_sign_verify_detached(sig, msg, (size_t)len, pk) == 0;
}
