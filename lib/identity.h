/* A node's identity: an Ed25519 signing key pair and an X25519 key pair for
 * heartbeat key agreement, created on the node and kept in
 * <state_dir>/identity (mode 0600, written atomically). Private keys never
 * leave this struct except to that file. */
#pragma once
#include <stdint.h>

#include "auth.h"
#include "wire-heartbeat.h"

struct identity {
	char name[NODE_NAME_MAX + 1];
	uint8_t sign_pk[SIGN_PK_BYTES];
	uint8_t sign_sk[SIGN_SK_BYTES];
	uint8_t kx_pk[KX_PK_BYTES];
	uint8_t kx_sk[KX_SK_BYTES];
};

#define IDENTITY_FILE "identity"

/* Creates a fresh identity and stores it; -EEXIST if one is already there. */
int identity_create(const char *state_dir, const char *name, struct identity *out);
/* Loads <state_dir>/identity; -ENOENT if absent, -EPERM if the file is readable
 * by group or others, -EBADMSG if it does not parse. */
int identity_load(const char *state_dir, struct identity *out);
/* Parses the file's text (used by identity_load and the fuzz harness). */
int identity_parse(const char *text, struct identity *out);
void identity_wipe(struct identity *id);
