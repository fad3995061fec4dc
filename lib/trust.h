/* The interim trust file: which nodes the fleet and its clients trust.
 * One member per line, '#' comments and blank lines allowed:
 *
 *   <name> <role>[,<role>...] <ed25519-public-hex> <x25519-public-hex>
 *
 * Roles: node, fleet, admin. The membership ledger replaces this file. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/auth.h"
#include "lib/wire-heartbeat.h"

enum trust_role { TRUST_ROLE_NODE = 1u << 0, TRUST_ROLE_FLEET = 1u << 1, TRUST_ROLE_ADMIN = 1u << 2 };

struct trust_entry {
	char name[NODE_NAME_MAX + 1];
	unsigned roles;
	uint8_t sign_pk[SIGN_PK_BYTES];
	uint8_t kx_pk[KX_PK_BYTES];
};

struct trust_set {
	struct trust_entry *entries;
	size_t count;
};

#define TRUST_FILE_MAX (4u << 20)

/* Parses text; on error returns -EBADMSG and writes "line N: reason" into err. */
int trust_parse(const char *text, struct trust_set *out, char *err, size_t errlen);
int trust_load(const char *path, struct trust_set *out, char *err, size_t errlen);
/* Writes the whole set atomically (0644: it holds public keys only). */
int trust_save(const char *path, const struct trust_set *set);
const struct trust_entry *trust_find(const struct trust_set *set, const char *name);
/* First entry holding the role, or NULL. */
const struct trust_entry *trust_find_role(const struct trust_set *set, unsigned role);
/* -EEXIST if the name is taken. */
int trust_add(struct trust_set *set, const struct trust_entry *e);
/* -ENOENT if absent. */
int trust_remove(struct trust_set *set, const char *name);
/* Parses "node,admin"; -EINVAL on an unknown role. */
int trust_roles_parse(const char *text, unsigned *roles);
/* Writes "node,admin" into buf. */
void trust_roles_format(unsigned roles, char *buf, size_t len);
void trust_free(struct trust_set *set);
