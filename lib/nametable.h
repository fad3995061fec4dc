/* Open-addressing hash index from node name to a caller's array slot.
 * The caller owns the records; the table stores indices only and reads names
 * back through name_of(ctx, index), so a record must hold its name before it
 * is inserted, and ctx must stay valid (pass a pointer that survives the
 * records' reallocation, or call nametable_rebuild with the new one). */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct nametable {
	uint32_t *slots;     /* index + 1, 0 = empty */
	size_t cap;          /* power of two */
	size_t used;
	/* Returns the name stored at a record index. */
	const char *(*name_of)(const void *ctx, size_t index);
	const void *ctx;
};

void nametable_init(struct nametable *t, const char *(*name_of)(const void *, size_t),
		    const void *ctx);
void nametable_free(struct nametable *t);
/* Returns the record index, or -ENOENT. */
long nametable_find(const struct nametable *t, const char *name);
/* Adds name -> index; -EEXIST if the name is present, -ENOMEM. */
int nametable_insert(struct nametable *t, const char *name, size_t index);
/* Rebuilds from records 0..count-1 (after removals or when ctx moves). */
int nametable_rebuild(struct nametable *t, const void *ctx, size_t count);
