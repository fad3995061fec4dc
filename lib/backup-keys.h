/* The keys of an encrypted backup chain (docs/protocol.md, "Backup copy
 * payload"): per LUKS-encrypted volume, the volume's key sealed to one
 * holder. Carried in a backup's copy as ID.keys (ID: the chain's newest
 * link), sealed to the target node's ledger key and signed by the sending
 * node, so that a guest made again on the target can be restored from the
 * copy; kept beside the stored chain as FULL.keys (FULL: the chain's full,
 * whose file the key opens, so every link's restore finds it), then sealed
 * to that node's own seal key (root's) and not signed (the store is root's
 * alone).
 *
 * Pure: text <-> struct, sign, verify, the checks against the chain's
 * manifests, and the resealing; as strict as the manifests (unknown,
 * duplicate or missing keys are errors). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/backup-manifest.h"
#include "lib/key-seal.h"

#define BACKUP_KEYS_FORMAT "osi-backup-keys-v1"             /* carried, signed */
#define BACKUP_KEYS_LOCAL_FORMAT "osi-backup-keys-local-v1" /* kept, sealed to the seal key */
#define BACKUP_KEYS_SIG_FORMAT "osi-backup-keys-sig-v1"
#define BACKUP_KEYS_SIG_DOMAIN "osi-backup-keys-v1"         /* signed: these 18 bytes, then the body */
#define BACKUP_KEYS_MAX (8u * 1024)                          /* the whole file */

struct backup_key {
	char disk[EXPORT_DISK_MAX + 1];
	char sha256[65];                 /* the chain's full's file of that disk */
	uint8_t sealed[KEY_SEAL_BYTES];  /* crypto_box_seal of the 32-byte volume key */
};

struct backup_keys {
	bool local;                        /* the kept form: no node, recipient, key_id */
	char backup[BACKUP_ID_LEN + 1];    /* carried: the chain's newest link; kept: its full */
	char guest[EXPORT_TEXT_MAX];
	char instance_id[EXPORT_TEXT_MAX];
	char node[NODE_NAME_MAX + 1];      /* carried: the member that sealed and signed */
	char recipient[NODE_NAME_MAX + 1]; /* carried: the member they are sealed to */
	char key_id[KEY_SEAL_ID_HEX + 1];  /* carried: key_seal_id of its ledger key */
	struct backup_key vol[EXPORT_VOLUMES_MAX];
	unsigned nvol;
};

int backup_keys_check(const struct backup_keys *k, char *err, size_t errlen);
/* Compact JSON, keys sorted (*out malloc'd); -EINVAL if k does not check. */
int backup_keys_encode(const struct backup_keys *k, char **out, size_t *len, char *err,
		       size_t errlen);
/* Either form, by its "format"; k->local says which. */
int backup_keys_parse(const char *text, size_t len, struct backup_keys *k, char *err,
		      size_t errlen);

/* The carried file: the signature's JSON line, "\n", then the body (k
 * encoded), which the signature covers under its own domain. */
int backup_keys_sign(const struct identity *id, const struct backup_keys *k, char **out,
		     size_t *len, char *err, size_t errlen);
/* The carried file split, its body parsed (the carried form only) and its
 * signature checked against the key it names (whom to trust is the
 * caller's: s->signer, s->key). 0, or -EBADMSG with why. */
int backup_keys_verify(const char *text, size_t len, struct backup_keys *k, struct export_sig *s,
		       char *err, size_t errlen);

/* Whether k is of the chain whose newest link is top and full its full:
 * the same guest and instance, each volume one of the full's with that
 * file's SHA-256, backup top's id (carried) or full's (kept). */
int backup_keys_match(const struct backup_keys *k, const struct backup_manifest *top,
		      const struct backup_manifest *full, char *err, size_t errlen);
/* The carried keys opened with self (their recipient: name and key id
 * must be self's) and sealed again to seal_pk, into *out (the kept form,
 * for the chain whose full is full_id). -EPERM when they are not self's.
 * Keys are zeroed after use. */
int backup_keys_reseal(const struct backup_keys *k, const char *full_id, const struct identity *self,
		       const uint8_t seal_pk[32], struct backup_keys *out, char *err, size_t errlen);
/* The key of disk kept in k (the kept form), opened with the seal key:
 * -EINVAL for the carried form, -ENOENT when k has none for disk, -EPERM
 * when it is sealed to another key. key is zeroed on failure. */
int backup_keys_kept_open(const struct backup_keys *k, const char *disk, const uint8_t seal_pk[32],
			  const uint8_t seal_sk[32], uint8_t key[KEY_SEAL_KEY_BYTES]);
/* The index of disk in k, or -1. */
int backup_keys_find(const struct backup_keys *k, const char *disk);
/* v added to k unless k keeps a key for its disk already: 0, -EEXIST (the
 * kept one stays), -ENOSPC (k is full). */
int backup_keys_add(struct backup_keys *k, const struct backup_key *v);
