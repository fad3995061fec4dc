/* The manifest of one backup of a guest's data volumes (docs/protocol.md,
 * "Backups"): which guest, full or incremental and its parent, the libvirt
 * checkpoint it ends at, and each volume file's size and SHA-256; and its
 * detached Ed25519 signature by the member that took it.
 *
 * Pure: text <-> struct, sign, verify; as strict as the export manifest
 * (unknown, duplicate or missing keys are errors), since restore trusts
 * nothing it has not checked. The signature covers the manifest's exact
 * bytes, under a domain of its own so that it can never pass for an
 * export's. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/export-manifest.h"
#include "lib/identity.h"

#define BACKUP_FORMAT "osi-backup-v1"
#define BACKUP_SIG_FORMAT "osi-backup-sig-v1"
#define BACKUP_SIG_DOMAIN "osi-backup-v1"    /* signed: these 13 bytes, then the manifest */
#define BACKUP_MANIFEST_MAX (16u * 1024)
#define BACKUP_ID_LEN 16                     /* YYYYMMDDTHHMMSSZ, UTC */
#define BACKUP_CHECKPOINT_PREFIX "osi-backup-"
#define BACKUP_FILE_MAX (BACKUP_ID_LEN + EXPORT_DISK_MAX + 16)

struct backup_volume {
	char disk[EXPORT_DISK_MAX + 1];  /* [a-z0-9] */
	uint64_t capacity;               /* the guest's view of the disk */
	uint64_t bytes;                  /* the file's size */
	char sha256[65];                 /* of the file, lowercase hex */
};

struct backup_manifest {
	char id[BACKUP_ID_LEN + 1];
	char guest[EXPORT_TEXT_MAX];
	char instance_id[EXPORT_TEXT_MAX];
	char node[NODE_NAME_MAX + 1];    /* the member that took it */
	bool incremental;
	char parent[BACKUP_ID_LEN + 1];  /* incremental: the backup it adds to; else "" */
	char checkpoint[EXPORT_TEXT_MAX]; /* osi-backup-ID, or "" (none was made) */
	int64_t created;                 /* unix seconds */
	struct backup_volume vol[EXPORT_VOLUMES_MAX];
	unsigned nvol;
};

/* Whether text is an id: 16 characters YYYYMMDDTHHMMSSZ (digits and T, Z). */
bool backup_id_valid(const char *text);
/* The id of a moment, UTC. */
void backup_id_format(int64_t unix_seconds, char out[BACKUP_ID_LEN + 1]);
/* Checks every field as the parser would; err gets "field: reason". */
int backup_manifest_check(const struct backup_manifest *m, char *err, size_t errlen);
/* *out is malloc'd compact JSON, keys sorted; -EINVAL if m does not check. */
int backup_manifest_encode(const struct backup_manifest *m, char **out, size_t *len,
			   char *err, size_t errlen);
int backup_manifest_parse(const char *text, size_t len, struct backup_manifest *m,
			  char *err, size_t errlen);
/* The files of a backup, in its directory: ID.json, ID.sig, ID.DISK.qcow2. */
int backup_file_name(const char *id, const char *what, char *buf, size_t len);
int backup_volume_file(const char *id, const char *disk, char *buf, size_t len);

/* The signature file's text (*out malloc'd) over the manifest's bytes; the
 * same fields as an export's signature (struct export_sig), its own format. */
int backup_sign(const struct identity *id, const char *manifest, size_t len, char **out,
		size_t *outlen);
int backup_sig_parse(const char *text, size_t len, struct export_sig *s, char *err, size_t errlen);
bool backup_sig_valid(const struct export_sig *s, const char *manifest, size_t len);
