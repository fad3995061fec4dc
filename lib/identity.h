/* A node's identity: an Ed25519 signing key pair, an X25519 key pair for
 * heartbeat key agreement and a WireGuard (X25519) key pair for the mesh,
 * created on the node and kept in <state_dir>/identity (mode 0600, written
 * atomically). Private keys never leave this struct except to that file and,
 * for the WireGuard key, to the local WireGuard device. Identities made
 * before the mesh existed have no WireGuard key until identity_ensure_wg(). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "lib/auth.h"
#include "lib/wire-heartbeat.h"

#define IDENTITY_WG_KEY_BYTES 32

struct identity {
	char name[NODE_NAME_MAX + 1];
	uint8_t sign_pk[SIGN_PK_BYTES];
	uint8_t sign_sk[SIGN_SK_BYTES];
	uint8_t kx_pk[KX_PK_BYTES];
	uint8_t kx_sk[KX_SK_BYTES];
	bool has_wg;
	uint8_t wg_pk[IDENTITY_WG_KEY_BYTES];
	uint8_t wg_sk[IDENTITY_WG_KEY_BYTES];
};

#define IDENTITY_FILE "identity"
#define IDENTITY_LOCK_FILE "identity.lock"

/* Creates a fresh identity (all three key pairs) and stores it; -EEXIST if
 * one is already there. */
int identity_create(const char *state_dir, const char *name, struct identity *out);
/* Loads <state_dir>/identity; -ENOENT if absent, -EPERM if the file is readable
 * by group or others, -EBADMSG if it does not parse. */
int identity_load(const char *state_dir, struct identity *out);
/* Parses the file's text (used by identity_load and the fuzz harness). */
int identity_parse(const char *text, struct identity *out);
/* Gives id a WireGuard key if it has none: under <state_dir>/identity.lock
 * the file is read again (another process may have added one meanwhile) and,
 * if it still lacks the key, rewritten atomically with a fresh one. id must
 * be the identity stored there (-ESTALE otherwise). No-op if id has a key. */
int identity_ensure_wg(const char *state_dir, struct identity *id);
void identity_wipe(struct identity *id);
