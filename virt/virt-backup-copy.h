/* A backup's copy to another node (docs/protocol.md, "Backup copy
 * payload"): the chain ending at one backup as a POSIX tar (pax, restricted
 * to ustar where it suffices), each link in turn, full first: ID.json,
 * ID.sig, then each ID.DISK.qcow2 in its manifest's order; for an encrypted
 * chain whose keys the sender holds, last, ID.keys of the newest link
 * (lib/backup-keys.h: sealed to the target, signed by the sender); regular
 * files with flat names, nothing else.
 *
 * virt-backup-tar.c reads such a tar from a peer, strictly, one entry at a
 * time; virt-backup-pack.c writes one from this node's store;
 * virt-backup-unpack.c stores one into this node's store, verified as the
 * listing and restore verify, or leaves the store as it was. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "lib/backup-keys.h"
#include "lib/room.h"
#include "virt/virt-backup.h"

#define BACKUP_COPY_STAGING ".incoming." /* <gdir>/.incoming.XXXXXX while unpacking */
/* Kept free beyond the copy while it is stored, as a move's receiver does. */
#define BACKUP_COPY_ROOM_MARGIN TRANSFER_ROOM_MARGIN

/* Unit tests only (they cannot fill a disk): when set, what the unpack takes
 * for the free bytes of the guest directory's filesystem instead of
 * fstatvfs's. No program sets it. */
extern int (*backup_copy_free_for_tests)(int dirfd, uint64_t *bytes);

enum backup_copy_kind { BACKUP_COPY_JSON, BACKUP_COPY_SIG, BACKUP_COPY_VOLUME, BACKUP_COPY_KEYS };

struct backup_copy_entry {
	char name[BACKUP_FILE_MAX];      /* flat: ID.json, ID.sig, ID.DISK.qcow2 or ID.keys */
	char id[BACKUP_ID_LEN + 1];
	char disk[EXPORT_DISK_MAX + 1];  /* a volume's; else "" */
	enum backup_copy_kind kind;
	uint64_t size;
};

/* Whether name is one of a backup's files, into *e (all but size). */
bool backup_copy_name_parse(const char *name, struct backup_copy_entry *e);

/* --- virt-backup-tar.c --- */
struct backup_tar;
/* Reads fd's first size bytes with pread (the descriptor's own offset is
 * left alone), never more: size is the caller's one fstat of fd, the figure
 * it checked the room against, whatever the file grows to after. */
int backup_tar_open(int fd, uint64_t size, struct backup_tar **t, char *err, size_t errlen);
/* The next entry, checked: a regular file (no link, no sparse map) in a
 * ustar or pax header, a name backup_copy_name_parse takes, in order (links
 * by ascending id, each ID.json, ID.sig, then its volumes, none twice; at
 * most one ID.keys, of the last link, after everything else), at
 * most BACKUP_CHAIN_MAX links, a manifest within BACKUP_MANIFEST_MAX, a
 * signature within EXPORT_SIG_MAX, keys within BACKUP_KEYS_MAX, the sizes
 * together within size. 0,
 * 1 at the end (every link had its signature), or -EBADMSG with why. */
int backup_tar_next(struct backup_tar *t, struct backup_copy_entry *e, char *err, size_t errlen);
/* The current entry's bytes, exactly its size, written to out (-1: read
 * and dropped). */
int backup_tar_copy(struct backup_tar *t, int out, char *err, size_t errlen);
void backup_tar_close(struct backup_tar *t);

/* --- virt-backup-sweep.c --- */
/* What an interrupted copy or backup left in the guest directory gfd (gdir
 * names it in the log): each staging directory, and each ID.sig and
 * ID.DISK.qcow2 with no ID.json (a backup is whole or absent: its manifest
 * comes last). Only under gfd's backup_lock: a backup being made writes its
 * volume files first under it. The count of files removed (staging not
 * counted). */
size_t backup_copy_sweep(int gfd, const char *gdir);
/* A staging directory name of parent, with its files (nothing else is
 * made there). */
void backup_copy_remove_dir(int parent, const char *name);

/* --- virt-backup-pack.c --- */
/* One volume file of a chain, as its signed manifest names it. */
struct backup_copy_file {
	char id[BACKUP_ID_LEN + 1];
	char disk[EXPORT_DISK_MAX + 1];
	uint64_t bytes;
	char sha256[65];
};
#define BACKUP_COPY_FILES_MAX (BACKUP_CHAIN_MAX * EXPORT_VOLUMES_MAX)
/* Asked by the pack once the chain's links are listed (signatures checked,
 * no file hashed yet): its n volume files, oldest link first, each in its
 * manifest's order, and bound, the most the tar can be with all of them;
 * sets skip[i] for each file the copy is to leave out (the receiver holds
 * it: backup_copy_held). 0, or -errno with why. */
typedef int (*backup_copy_offer_fn)(void *ctx, const struct backup_copy_file *f, size_t n,
				    uint64_t bound, bool *skip, char *err, size_t errlen);
/* Asked by the pack once the chain is verified, when a volume file of its
 * full is LUKS-encrypted (encrypted[i] for the full's volume i): the
 * ID.keys entry to carry (*text malloc'd; NULL: none), of the chain whose
 * full and newest link are given. */
typedef int (*backup_copy_keys_fn)(void *ctx, const struct backup_manifest *full,
				   const struct backup_manifest *top, const bool *encrypted,
				   char **text, size_t *len, char *err, size_t errlen);
struct backup_copy_hooks {
	backup_copy_keys_fn keys;    /* NULL: no keys entry */
	void *kctx;
	backup_copy_offer_fn offer;  /* NULL: every file goes */
	void *octx;
};
/* The chain ending at id in gdir (first swept, backup_copy_sweep, when
 * its lock is free; listed with trust; each volume file that goes hashed
 * against its manifest as it is opened, what was hashed is what is
 * written; one the offer hook skips is left out, unread but for the full's
 * qcow2 header) as the tar, into out from its current offset, with the keys
 * hook's entry last when it gives one; *bytes: the tar's size, at most the
 * bound offered less the skipped files' bytes.
 * -ENOENT: no such backup; -ENOSPC: out's filesystem lacks the room;
 * -EBADMSG: a link damaged or the chain broken. */
int backup_copy_pack(const char *gdir, const char *id, backup_trust_fn trust, void *ctx,
		     const struct backup_copy_hooks *hooks, int out, uint64_t *bytes, char *err,
		     size_t errlen);

/* --- virt-backup-held.c --- */
/* Which of the n offered files the store dir/guest holds with that content:
 * held[i] when a backup there, its signature by whom trust accepts, has
 * the file's id, its manifest names the disk with that size and SHA-256,
 * and the file hashes to it now (what the store is trusted for is what it
 * hashes, never a name). Under the guest's lock. *bytes: the held files'. */
int backup_copy_held(const char *dir, const char *guest, backup_trust_fn trust, void *ctx,
		     const struct backup_copy_file *f, size_t n, bool *held, uint64_t *bytes,
		     char *err, size_t errlen);

/* --- virt-backup-unpack.c --- */
/* What a receiver opens a copy's keys with: its identity (their recipient)
 * and its seal key (what they are kept sealed to; the secret half opens
 * the keys kept already, to compare). */
struct backup_copy_keys_in {
	const struct identity *self;
	const uint8_t *seal_pk, *seal_sk;
};
/* The tar in fd (from a peer) into dir/guest: staged in the guest's
 * directory, every link checked (a signature trust accepts, every file's
 * size and SHA-256, each qcow2 header, the manifest's guest, one whole
 * chain ending at its newest link), then each link the store lacks moved in
 * (volumes, signature, manifest last). A volume file the copy leaves out
 * (the sender was told the store holds it) is taken from the store's link
 * of the same manifest, byte for byte, and checked as if it had come. A link the store holds must have the
 * same manifest, byte for byte; it is left as it is if intact (signature,
 * signer, every file's SHA-256), else its other files are replaced from
 * the copy's. A copy with keys (ID.keys) must have them signed by whom
 * trust accepts, of this chain, sealed to kin's identity (kin NULL: a copy
 * with keys is refused); each is tried on the staged full's file of its
 * volume (backup_key_check), and one that does not open it is left out;
 * those left are kept as FULL.keys sealed to kin's seal key, merged with a
 * FULL.keys there: a volume's key kept already stays unless the copy
 * brings a differing one (which opens the full: the kept one cannot), which
 * replaces it; summary says what was left out or replaced. On failure
 * nothing new stays. summary: what was stored, for the operator. */
int backup_copy_unpack(const char *dir, const char *guest, int fd, backup_trust_fn trust,
		       void *ctx, const struct backup_copy_keys_in *kin, char *summary, size_t slen,
		       char *err, size_t errlen);
