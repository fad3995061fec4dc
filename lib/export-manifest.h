/* The manifest of a guest export archive (docs/protocol.md, "Export
 * archive"): what the guest is (type, spec, metadata, identity) and the
 * volumes that follow it, each with its size and SHA-256; and its detached
 * Ed25519 signature by the member that read the volumes.
 *
 * Pure: text <-> struct, sign, verify. Parsing is strict (unknown keys,
 * duplicates, bad names, sizes or digests are errors) because import trusts
 * nothing it has not checked. The signature covers the manifest's exact
 * bytes as stored in the archive, so no canonical form is needed. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/auth.h"
#include "lib/detached-sig.h"
#include "lib/identity.h"
#include "lib/key-seal.h"
#include "lib/sha256-tree.h"

#define EXPORT_FORMAT "osi-export-v2"    /* volumes' sha256_tree (lib/sha256-tree.h) */
#define EXPORT_FORMAT_V1 "osi-export-v1" /* volumes' plain sha256: still read */
#define EXPORT_FORMAT_ENTRY "format"     /* a v2 archive's first entry: EXPORT_FORMAT "\n" */
#define EXPORT_SIG_FORMAT "osi-export-sig-v1"
#define EXPORT_SIG_DOMAIN "osi-export-v1" /* signed: these 13 bytes, then the manifest */
#define EXPORT_MANIFEST_ENTRY "manifest.json"
#define EXPORT_SIG_ENTRY "manifest.sig"
#define EXPORT_MANIFEST_MAX (256u * 1024)
#define EXPORT_SIG_MAX DETACHED_SIG_MAX
#define EXPORT_USER_DATA_MAX (128u * 1024)
#define EXPORT_VOLUMES_MAX 4              /* VIRT_MAX_DATA_DISKS */
#define EXPORT_DISK_MAX 15                /* VIRT_DISK_NAME_MAX - 1 */
#define EXPORT_TEXT_MAX 64
#define EXPORT_VOLUME_ENTRY_MAX 40
#define EXPORT_RECIPIENTS_MAX 8

/* An encrypted volume's key sealed to one member (lib/key-seal.h). */
struct export_sealed_key {
	char recipient[NODE_NAME_MAX + 1]; /* the member's ledger name */
	char key_id[KEY_SEAL_ID_HEX + 1];  /* key_seal_id of its Ed25519 key */
	uint8_t sealed[KEY_SEAL_BYTES];    /* "sealed" in base64 in the JSON */
};

struct export_volume {
	char disk[EXPORT_DISK_MAX + 1];  /* [a-z0-9] */
	char mount[EXPORT_TEXT_MAX];     /* informative */
	uint64_t capacity;               /* the guest's view of the disk */
	uint64_t bytes;                  /* the archive entry's size (qcow2 file) */
	char sha256[65];                 /* of those bytes, lowercase hex, of the manifest's kind */
	bool encrypted;                  /* LUKS qcow2: the bytes are ciphertext */
	struct export_sealed_key keys[EXPORT_RECIPIENTS_MAX]; /* 1.. when encrypted, else none */
	unsigned nkeys;
};

struct export_manifest {
	char type[EXPORT_TEXT_MAX];      /* lib/guest-types name */
	char name[EXPORT_TEXT_MAX];      /* guest name */
	char owner[EXPORT_TEXT_MAX];
	char instance_id[EXPORT_TEXT_MAX];
	char mac[18];                    /* "" when the guest had no fixed MAC */
	char base[EXPORT_TEXT_MAX];      /* the base image the root disk is rebuilt on */
	char base_sha256[65];
	unsigned vcpus;
	uint64_t memory_bytes;
	uint64_t disk_bytes;
	char net[16];                    /* none, network, bridge, user, fabric */
	char net_source[EXPORT_TEXT_MAX];
	char node[NODE_NAME_MAX + 1];    /* where it was exported */
	int64_t created;                 /* unix seconds, informative */
	char *user_data;                 /* malloc'd cloud-config text */
	struct export_volume vol[EXPORT_VOLUMES_MAX];
	unsigned nvol;
	unsigned version;                /* 2 (0 writes 2), or 1 as read from an older archive */
};

/* How m's volumes are hashed: plain SHA-256 (version 1) or the list hash. */
enum sha256_tree_kind export_manifest_hash(const struct export_manifest *m);

void export_manifest_free(struct export_manifest *m);
/* Checks every field as the parser would; err gets "field: reason". */
int export_manifest_check(const struct export_manifest *m, char *err, size_t errlen);
/* *out is malloc'd compact JSON, keys sorted; -EINVAL if m does not check. */
int export_manifest_encode(const struct export_manifest *m, char **out, size_t *len,
			   char *err, size_t errlen);
/* Strict; on success m owns user_data (free with export_manifest_free). */
int export_manifest_parse(const char *text, size_t len, struct export_manifest *m,
			  char *err, size_t errlen);
/* The volume's name inside the archive: "volumes/data-DISK.qcow2". */
int export_volume_entry(const struct export_volume *v, char *buf, size_t len);
/* The most bytes m's archive can take (virt-export.c writes pax restricted
 * with an unpadded last block): its volumes, each entry's headers and
 * padding, the manifest and signature at their largest, the end marker. */
uint64_t export_archive_bound(const struct export_manifest *m);
/* The same bound for nvol volumes of bytes in all (UINT64_MAX past it): what
 * the fleet expects of a move before its manifest exists. */
uint64_t export_archive_bound_of(unsigned nvol, uint64_t bytes);
/* The disk of a volume entry's name (its inverse): 0, or -EINVAL when entry
 * is not "volumes/data-DISK.qcow2" with a valid DISK. */
int export_volume_entry_disk(const char *entry, char *disk, size_t len);

/* The signature entry's text (*out malloc'd) over the manifest's bytes. */
int export_sign(const struct identity *id, const char *manifest, size_t len, char **out,
		size_t *outlen);
int export_sig_parse(const char *text, size_t len, struct export_sig *s, char *err, size_t errlen);
/* Whether s->sig is s->key's signature of the manifest's bytes. */
bool export_sig_valid(const struct export_sig *s, const char *manifest, size_t len);

/* What an imported volume's first bytes may be: a qcow2 header (version 2
 * or 3) with no backing file and no external data file, so the guest can
 * only ever see the volume's own bytes (a signed archive naming a host file
 * as backing would hand the guest that file). Needs EXPORT_QCOW2_HEAD bytes,
 * fewer only when the volume is that short. NULL if fine, else why not.
 * Layout: qemu's docs/interop/qcow2.txt (header, "incompatible features"
 * bit 2). */
#define EXPORT_QCOW2_HEAD 80
const char *export_volume_header_check(const uint8_t *b, size_t n);
