/* The node's sealing key: an X25519 key pair, root's alone, to which the
 * node's own copy of each data volume key is sealed (virt/virt-secret.c).
 * Not the node identity, which the unprivileged agent holds. Kept as one
 * line "osi-seal-key-v1 <secret key, hex>" in a file of its owner (root,
 * the user that runs the helper and the CLI's root commands), mode 0600,
 * in a directory of the same owner no one else may write. Made on first
 * use, never replaced (a volume sealed to a lost key could not be handed
 * on). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "lib/conf-path.h"
#include "lib/key-seal.h"

#define SEAL_KEY_DEFAULT CONF_ETC_DIR "/seal.key"

struct seal_key {
	uint8_t pk[32];
	uint8_t sk[32];
};

/* Loads path; with create, makes it (and its directory, 0700) when absent.
 * -ENOENT when absent and not created, -EPERM when it or its directory is
 * another user's, open to group or others, or a symlink, -EBADMSG when it
 * does not parse. */
int seal_key_load(const char *path, int create, struct seal_key *k);
/* Opens a blob sealed to k's public key: -EBADMSG for a wrong length,
 * -EPERM when it was sealed to another key. key is zeroed on failure. */
int seal_key_open(const struct seal_key *k, const uint8_t *sealed, size_t n,
		  uint8_t key[KEY_SEAL_KEY_BYTES]);
void seal_key_wipe(struct seal_key *k);
