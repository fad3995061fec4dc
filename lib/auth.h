/* Message authentication.
 *
 * Heartbeats: HMAC-SHA-512-256 (libsodium crypto_auth) keyed by a per-pair key
 * from crypto_kx: the node is the kx client, the fleet the kx server, and the
 * node's tx key equals the fleet's rx key for that node. Verification costs
 * about a microsecond, so one core can check well over 50,000 datagrams/s.
 * docs/protocol.md gives the reasoning.
 *
 * Operator API requests: Ed25519 signatures (crypto_sign_detached) over a
 * domain-separated transcript that binds the server's per-connection nonce. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "lib/wire-heartbeat.h"

#define KX_PK_BYTES crypto_kx_PUBLICKEYBYTES
#define KX_SK_BYTES crypto_kx_SECRETKEYBYTES
#define SIGN_PK_BYTES crypto_sign_PUBLICKEYBYTES
#define SIGN_SK_BYTES crypto_sign_SECRETKEYBYTES
#define SIG_BYTES crypto_sign_BYTES
#define HB_KEY_BYTES crypto_auth_KEYBYTES

/* Must be called once before any other function here; -EIO if libsodium fails. */
int auth_init(void);

/* Derive the heartbeat key on the node side (client) or fleet side (server).
 * -EINVAL if the peer key is unacceptable. */
int hb_key_node(uint8_t key[HB_KEY_BYTES], const uint8_t node_pk[KX_PK_BYTES],
		const uint8_t node_sk[KX_SK_BYTES], const uint8_t fleet_pk[KX_PK_BYTES]);
int hb_key_fleet(uint8_t key[HB_KEY_BYTES], const uint8_t fleet_pk[KX_PK_BYTES],
		 const uint8_t fleet_sk[KX_SK_BYTES], const uint8_t node_pk[KX_PK_BYTES]);

/* Fill the MAC of an encoded datagram / check it in constant time. */
void hb_auth_seal(uint8_t dgram[HB_SIZE], const uint8_t key[HB_KEY_BYTES]);
bool hb_auth_verify(const uint8_t dgram[HB_SIZE], const uint8_t key[HB_KEY_BYTES]);

/* API request signatures. The signed message is
 *   "osi-api-v1" || nonce[32] || u64be(seq) || u8(len(name)) || name || body */
#define API_NONCE_BYTES 32
int api_sign(uint8_t sig[SIG_BYTES], const uint8_t sk[SIGN_SK_BYTES],
	     const uint8_t nonce[API_NONCE_BYTES], uint64_t seq, const char *name,
	     const uint8_t *body, size_t body_len);
bool api_verify(const uint8_t sig[SIG_BYTES], const uint8_t pk[SIGN_PK_BYTES],
		const uint8_t nonce[API_NONCE_BYTES], uint64_t seq, const char *name,
		const uint8_t *body, size_t body_len);

/* Ledger sync request signatures (lib/mesh-sync.h). The signed message is
 *   "osi-sync-v2" || nonce[32] || u8(type) || u8(len(name)) || name ||
 *   BLAKE2b-256(body)
 * where nonce is the server's, fresh per connection, and body the pushed
 * ledger (empty for a get). The body enters as a hash, so a ledger of many
 * MiB is not copied to be signed. */
#define SYNC_NONCE_BYTES 32
int sync_sign(uint8_t sig[SIG_BYTES], const uint8_t sk[SIGN_SK_BYTES],
	      const uint8_t nonce[SYNC_NONCE_BYTES], uint8_t type, const char *name,
	      const uint8_t *body, size_t body_len);
bool sync_verify(const uint8_t sig[SIG_BYTES], const uint8_t pk[SIGN_PK_BYTES],
		 const uint8_t nonce[SYNC_NONCE_BYTES], uint8_t type, const char *name,
		 const uint8_t *body, size_t body_len);
