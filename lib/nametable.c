#include "lib/nametable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NAMETABLE_MIN_CAP 16

/* FNV-1a: names are short, so a simple byte hash is as fast as anything. */
static uint64_t name_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 32);
}

void nametable_init(struct nametable *t, const char *(*name_of)(const void *, size_t),
		    const void *ctx)
{
	memset(t, 0, sizeof(*t));
	t->name_of = name_of;
	t->ctx = ctx;
}

void nametable_free(struct nametable *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = 0;
	t->used = 0;
}

/* The slot holding name, or the empty slot where it would go. */
static size_t probe(const uint32_t *slots, size_t cap, const char *(*name_of)(const void *, size_t),
		    const void *ctx, const char *name)
{
	size_t mask = cap - 1, i = (size_t)name_hash(name) & mask;

	while (slots[i] && strcmp(name_of(ctx, slots[i] - 1), name))
		i = (i + 1) & mask;
	return i;
}

long nametable_find(const struct nametable *t, const char *name)
{
	size_t i;

	if (!t->cap)
		return -ENOENT;
	i = probe(t->slots, t->cap, t->name_of, t->ctx, name);
	return t->slots[i] ? (long)t->slots[i] - 1 : -ENOENT;
}

/* Smallest power of two keeping the load at or below one half. */
static int cap_for(size_t count, size_t *cap)
{
	size_t c = NAMETABLE_MIN_CAP;

	while (c / 2 < count) {
		if (c > SIZE_MAX / 2 / sizeof(uint32_t))
			return -ENOMEM;
		c *= 2;
	}
	*cap = c;
	return 0;
}

/* A fresh slot array for records 0..count-1 named through name_of(ctx). */
static int fill(const struct nametable *t, const void *ctx, size_t count, uint32_t **out,
		size_t *out_cap)
{
	uint32_t *slots;
	size_t cap;
	int ret;

	if (count >= UINT32_MAX)
		return -EOVERFLOW;
	ret = cap_for(count, &cap);
	if (ret < 0)
		return ret;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t n = 0; n < count; n++) {
		size_t i = probe(slots, cap, t->name_of, ctx, t->name_of(ctx, n));

		if (slots[i]) {
			free(slots);
			return -EEXIST;
		}
		slots[i] = (uint32_t)n + 1;
	}
	*out = slots;
	*out_cap = cap;
	return 0;
}

/* Doubles the table, re-placing the indices it holds. */
static int grow(struct nametable *t)
{
	uint32_t *slots;
	size_t cap;
	int ret = cap_for(t->used + 1, &cap);

	if (ret < 0)
		return ret;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t j = 0; j < t->cap; j++) {
		uint32_t v = t->slots[j];

		if (v)
			slots[probe(slots, cap, t->name_of, t->ctx, t->name_of(t->ctx, v - 1))] = v;
	}
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

int nametable_insert(struct nametable *t, const char *name, size_t index)
{
	int ret;

	if (index >= UINT32_MAX)
		return -EOVERFLOW;
	if (nametable_find(t, name) >= 0)
		return -EEXIST;
	if ((t->used + 1) * 2 > t->cap) {
		ret = grow(t);
		if (ret < 0)
			return ret;
	}
	t->slots[probe(t->slots, t->cap, t->name_of, t->ctx, name)] = (uint32_t)index + 1;
	t->used++;
	return 0;
}

int nametable_rebuild(struct nametable *t, const void *ctx, size_t count)
{
	uint32_t *slots;
	size_t cap;
	int ret = fill(t, ctx, count, &slots, &cap);

	if (ret < 0)
		return ret;
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	t->used = count;
	t->ctx = ctx;
	return 0;
}
