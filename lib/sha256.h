/* SHA-256 of bulk data (volumes, archives, transfers): OpenSSL's libcrypto when built with
 * it (it uses the CPU's SHA instructions, several times libsodium's portable
 * code), libsodium otherwise. The digests are the same. */
#ifndef OSI_SHA256_H
#define OSI_SHA256_H

#include <stddef.h>

struct sha256;

/* NULL when out of memory. */
struct sha256 *sha256_new(void);
void sha256_update(struct sha256 *s, const void *buf, size_t len);
/* Writes the digest into d, and frees s. */
void sha256_final(struct sha256 *s, unsigned char d[32]);
/* Writes 64 hex digits and a NUL into out, and frees s. */
void sha256_hex(struct sha256 *s, char out[65]);
void sha256_free(struct sha256 *s);

#endif
