/* lib/sha256-tree.h. Pieces fill a ring of three buffers: while the caller
 * fills one, the two before it are hashed, each in a thread of its own; the
 * digests enter the outer SHA-256 in order, as each thread is joined. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/sha256.h"
#include "lib/sha256-tree.h"

#define RING 3

struct piece {
	uint8_t *buf;
	const uint8_t *lent;    /* the caller's bytes, hashed in place of buf's */
	size_t len;
	uint8_t digest[32];
	pthread_t thread;
	bool busy, failed;
};

struct sha256_tree {
	enum sha256_tree_kind kind;
	struct sha256 *outer;   /* of the bytes (plain), or of the digests */
	struct piece ring[RING];
	unsigned fill, oldest;  /* the piece filled; the oldest being hashed */
	uint8_t *plain;         /* the plain kind's buffer for next/commit */
	bool failed;            /* a piece's hash could not start: no digest */
};

static void piece_hash(struct piece *p)
{
	struct sha256 *s = sha256_new();

	p->failed = !s;
	if (s) {
		sha256_update(s, p->lent ? p->lent : p->buf, p->len);
		sha256_final(s, p->digest);
	}
}

static void take_in(struct sha256_tree *t, struct piece *p)
{
	t->failed |= p->failed;
	sha256_update(t->outer, p->digest, sizeof(p->digest));
	p->len = 0;
	p->lent = NULL;
}

static void *piece_run(void *arg)
{
	piece_hash(arg);
	return NULL;
}

/* The oldest piece in flight joined and its digest taken in. */
static void join_oldest(struct sha256_tree *t)
{
	struct piece *p = &t->ring[t->oldest];

	pthread_join(p->thread, NULL);
	p->busy = false;
	take_in(t, p);
	t->oldest = (t->oldest + 1) % RING;
}

static void dispatch(struct sha256_tree *t)
{
	struct piece *p = &t->ring[t->fill];

	if (pthread_create(&p->thread, NULL, piece_run, p) == 0) {
		p->busy = true;
	} else { /* in order still: what is in flight first */
		while (t->ring[t->oldest].busy)
			join_oldest(t);
		piece_hash(p);
		take_in(t, p);
		t->oldest = (t->fill + 1) % RING;
	}
	t->fill = (t->fill + 1) % RING;
}

void *sha256_tree_next(struct sha256_tree *t, size_t *room)
{
	struct piece *p;

	if (t->kind == SHA256_TREE_PLAIN) {
		*room = SHA256_TREE_PIECE;
		return t->plain;
	}
	p = &t->ring[t->fill];
	while (p->busy)
		join_oldest(t);
	if (p->lent) { /* a short lent piece, then more bytes: it becomes a copy */
		memcpy(p->buf, p->lent, p->len);
		p->lent = NULL;
	}
	*room = SHA256_TREE_PIECE - p->len;
	return p->buf + p->len;
}

void sha256_tree_commit(struct sha256_tree *t, size_t len)
{
	struct piece *p = &t->ring[t->fill];

	if (t->kind == SHA256_TREE_PLAIN) {
		sha256_update(t->outer, t->plain, len);
		return;
	}
	if ((p->len += len) == SHA256_TREE_PIECE)
		dispatch(t);
}

void sha256_tree_piece(struct sha256_tree *t, const void *buf, size_t len)
{
	struct piece *p;

	if (t->kind == SHA256_TREE_PLAIN || len > SHA256_TREE_PIECE) {
		sha256_tree_update(t, buf, len);
		return;
	}
	sha256_tree_next(t, &(size_t){ 0 });
	p = &t->ring[t->fill];
	if (p->len) { /* a piece begun by update or commit: finished with a copy */
		sha256_tree_update(t, buf, len);
		return;
	}
	p->lent = buf;
	p->len = len;
	if (len == SHA256_TREE_PIECE)
		dispatch(t);
}

void sha256_tree_update(struct sha256_tree *t, const void *buf, size_t len)
{
	const uint8_t *b = buf;
	size_t room, k;

	if (t->kind == SHA256_TREE_PLAIN) {
		sha256_update(t->outer, buf, len);
		return;
	}
	while (len) {
		uint8_t *dst = sha256_tree_next(t, &room);

		k = len < room ? len : room;
		memcpy(dst, b, k);
		sha256_tree_commit(t, k);
		b += k;
		len -= k;
	}
}

static void drain(struct sha256_tree *t)
{
	for (unsigned i = 0; i < RING; i++)
		if (t->ring[t->oldest].busy)
			join_oldest(t);
}

int sha256_tree_hex(struct sha256_tree *t, char out[65])
{
	struct piece *p = &t->ring[t->fill];
	int ret;

	if (t->kind == SHA256_TREE_PIECES) {
		while (t->ring[t->oldest].busy)
			join_oldest(t);
		if (p->len) {
			piece_hash(p);
			take_in(t, p);
		}
	}
	ret = t->failed ? -ENOMEM : 0;
	sha256_hex(t->outer, out);
	t->outer = NULL;
	sha256_tree_free(t);
	return ret;
}

void sha256_tree_free(struct sha256_tree *t)
{
	if (!t)
		return;
	drain(t);
	for (unsigned i = 0; i < RING; i++)
		free(t->ring[i].buf);
	free(t->plain);
	sha256_free(t->outer);
	free(t);
}

struct sha256_tree *sha256_tree_new(enum sha256_tree_kind kind)
{
	struct sha256_tree *t = calloc(1, sizeof(*t));
	bool ok = t && (t->outer = sha256_new());

	for (unsigned i = 0; ok && kind == SHA256_TREE_PIECES && i < RING; i++)
		ok = (t->ring[i].buf = malloc(SHA256_TREE_PIECE)) != NULL;
	if (ok && kind == SHA256_TREE_PLAIN)
		ok = (t->plain = malloc(SHA256_TREE_PIECE)) != NULL;
	if (t)
		t->kind = kind;
	if (!ok) {
		sha256_tree_free(t);
		return NULL;
	}
	return t;
}
