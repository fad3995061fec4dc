/* SHA-256 for the volumes of an export: OpenSSL's libcrypto when built with
 * it (it uses the CPU's SHA instructions, several times libsodium's portable
 * code), libsodium otherwise. The digests are the same. */
#ifndef VIRT_SHA256_H
#define VIRT_SHA256_H

#include <stddef.h>

struct virt_sha256;

/* NULL when out of memory. */
struct virt_sha256 *virt_sha256_new(void);
void virt_sha256_update(struct virt_sha256 *s, const void *buf, size_t len);
/* Writes 64 hex digits and a NUL into out, and frees s. */
void virt_sha256_hex(struct virt_sha256 *s, char out[65]);
void virt_sha256_free(struct virt_sha256 *s);

#endif
