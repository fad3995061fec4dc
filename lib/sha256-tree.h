/* The SHA-256 list hash of a volume (docs/protocol.md, "Export archive"):
 * SHA-256 over the SHA-256 digests of its consecutive 4 MiB pieces, the last
 * one shorter, none for no bytes. The same as
 *   split -b 4194304 --filter='openssl dgst -sha256 -binary' FILE | sha256sum
 * Its pieces are hashed on several cores at once (a single SHA-256 runs on
 * one, and is then slower here than copying the bytes). In the plain kind it
 * is a single SHA-256 of the bytes, as archives of format 1 carry. */
#ifndef OSI_SHA256_TREE_H
#define OSI_SHA256_TREE_H

#include <stddef.h>

#define SHA256_TREE_PIECE (4u << 20)

enum sha256_tree_kind { SHA256_TREE_PLAIN, SHA256_TREE_PIECES };

struct sha256_tree;

/* NULL when out of memory. */
struct sha256_tree *sha256_tree_new(enum sha256_tree_kind kind);
/* Hashes a copy of buf. */
void sha256_tree_update(struct sha256_tree *t, const void *buf, size_t len);
/* Without a copy: where the next bytes go (*room of them, 1 or more), to be
 * filled and then committed; the caller may read them until its next call. */
void *sha256_tree_next(struct sha256_tree *t, size_t *room);
void sha256_tree_commit(struct sha256_tree *t, size_t len);
/* Without a copy either: a whole piece (the last may be shorter) hashed
 * where it is, which the caller leaves unchanged until sha256_tree_hex. */
void sha256_tree_piece(struct sha256_tree *t, const void *buf, size_t len);
/* Writes 64 lowercase hex digits and a NUL into out, and frees t; -ENOMEM
 * when a piece could not be hashed (out is then no digest of the bytes). */
int sha256_tree_hex(struct sha256_tree *t, char out[65]);
void sha256_tree_free(struct sha256_tree *t);

#endif
