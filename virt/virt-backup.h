/* Backups of a guest's data volumes (docs/operator.md, "Backups"): each a
 * set of files in the guest's backup directory, ID.DISK.qcow2 per data
 * volume, ID.json (lib/backup-manifest.h) and ID.sig, made through libvirt's
 * backup API with checkpoints while the guest runs (incremental from the
 * last checkpoint where the chain allows), or by reading the volume while it
 * is shut off (full). Restore rebuilds each volume from the chain with
 * qemu-img after checking every signature and SHA-256.
 *
 * virt-backup-chain.c is pure (which parent, which chain, what to prune);
 * virt-backup-store.c reads and writes the directory; virt-backup.c and
 * virt-backup-restore.c talk to libvirt. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/backup-manifest.h"
#include "virt/virt.h"

struct stat;

#define BACKUP_CHAIN_MAX 7     /* links in a chain; the next backup is a full */

struct backup_entry {
	struct backup_manifest m;
	bool intact;           /* manifest signed by a trusted key, every file there, its size */
	char why[160];         /* why not intact */
};

/* Whom restore and the listing trust to have signed: 0, or -EPERM and why. */
typedef int (*backup_trust_fn)(const struct export_sig *s, void *ctx, char *err, size_t errlen);

/* --- virt-backup-chain.c (pure) --- */
void backup_sort(struct backup_entry *e, size_t n);
/* The index of id in e, or -1. */
ssize_t backup_find(const struct backup_entry *e, size_t n, const char *id);
/* The chain ending at e[at], its full first: indexes into chain (room for
 * n), *len of them. -EBADMSG with the reason when a link is missing, not
 * intact, of another guest or instance, or has other disks. */
int backup_chain(const struct backup_entry *e, size_t n, size_t at, size_t *chain, size_t *len,
		 char *err, size_t errlen);
/* What the next backup of instance (with disks[0..ndisks)) adds to: the
 * newest intact backup whose checkpoint libvirt still has (checkpoints[]),
 * whose chain is whole and shorter than max_chain; -1: a full. */
ssize_t backup_parent(const struct backup_entry *e, size_t n, const char *instance_id,
		      const char *const *disks, size_t ndisks, const char *const *checkpoints,
		      size_t ncp, unsigned max_chain);
/* remove[i] for what goes so that the newest keep backups stay restorable:
 * every backup a kept one needs is kept too. The count removed. */
size_t backup_prune(const struct backup_entry *e, size_t n, unsigned keep, bool *remove);
/* now's id, or one second after the newest if that is not earlier. */
void backup_next_id(const struct backup_entry *e, size_t n, int64_t now,
		    char id[BACKUP_ID_LEN + 1]);

/* --- virt-backup-store.c --- */
/* The guest's directory under dir (made 0700 with dir when create). */
int backup_guest_dir(const char *dir, const char *guest, bool create, char *out, size_t len,
		     char *err, size_t errlen);
/* Every ID.json in gdir, sorted, each checked (signature, trust, files and
 * sizes) into intact/why. *out malloc'd. */
int backup_list(const char *gdir, backup_trust_fn trust, void *ctx, struct backup_entry **out,
		size_t *n, char *err, size_t errlen);
/* One backup, restore or prune of a guest at a time (a timer's run and the
 * operator's meet here): an exclusive lock on gdir, held until unlock.
 * -EBUSY when another holds it. */
int backup_lock(const char *gdir, int *fd, char *err, size_t errlen);
void backup_unlock(int fd);
/* A small file of gdir (name: no symlink, regular, ours, at most max
 * bytes: else -EFBIG) into *text, malloc'd and NUL-terminated; -EPERM with
 * why when another may write it. */
int backup_read_small(const char *gdir, const char *name, size_t max, char **text, size_t *len,
		      char *why, size_t whylen);
/* SHA-256 of every file of e against its manifest, each opened once (no
 * symlink, owned by us, not group/other-writable); fds (NULL: closed) gets
 * each volume's open descriptor, in manifest order, for the caller to read
 * and close: what was hashed is what is used. */
int backup_verify_files(const char *gdir, const struct backup_entry *e, int *fds, char *err,
			size_t errlen);
/* Volume file i of m alone, as backup_verify_files checks each: its open
 * descriptor into *fd (-1 on failure). */
int backup_verify_file(const char *gdir, const struct backup_manifest *m, unsigned i, int *fd,
		       char *err, size_t errlen);
/* What a chain link's first EXPORT_QCOW2_HEAD bytes may be: qcow2 v2 or v3
 * without an external data file (a backing file named there is never
 * opened: restore names each link's backing itself). NULL if fine. */
const char *backup_link_header_check(const uint8_t *b, size_t n);
/* -EPERM with why in err unless st is owned by our uid and not writable by
 * group or others. */
int backup_owned(const char *path, const struct stat *st, char *err, size_t errlen);
/* Writes ID.json and ID.sig (the commit point of a backup). */
int backup_store_manifest(const char *gdir, const struct backup_manifest *m,
			  const struct identity *signer, char *err, size_t errlen);
/* Removes a backup's files (its kept keys, ID.keys, too). */
int backup_remove(const char *gdir, const struct backup_manifest *m);


/* --- virt-backup.c, virt-backup-restore.c --- */
/* Removes from gdir what backup_prune() says goes to keep the newest keep
 * restorable; the caller holds gdir's lock. *pruned: how many went. */
int backup_prune_store(const char *gdir, unsigned keep, backup_trust_fn trust, void *ctx,
		       size_t *pruned, char *err, size_t errlen);
struct backup_request {
	const char *dir;                 /* the node's backup directory */
	const char *staging;             /* where libvirt may write (NULL: the pool's dir) */
	const struct identity *signer;
	bool full;                       /* no incremental even when one could be */
	unsigned keep;                   /* 0: keep all */
	backup_trust_fn trust;
	void *ctx;
};

/* What a backup was, beyond its manifest. */
struct backup_outcome {
	size_t pruned;  /* older backups removed (keep) */
	bool running;   /* taken from the running guest (else its volumes at rest) */
	bool frozen;    /* running, its filesystems frozen by its guest agent for the instant */
};
/* One backup of guest's data volumes; *m is what was stored. */
int virt_backup(struct virt_host *h, const char *guest, const struct backup_request *r,
		struct backup_manifest *m, struct backup_outcome *out);
/* The key of guest's data volume disk here, opened from its secret's
 * sealed copy (the seal key; id: a copy sealed to the identity before).
 * -ENOENT when there is no such volume or it is plain; why in h->err. */
int virt_backup_volume_key(struct virt_host *h, const char *guest, const char *disk,
			   const struct identity *id, uint8_t key[32]);
/* Whether key opens the LUKS layer of the qcow2 at path (a full's file,
 * no backing: backup_key_check, about 2 s of key derivation in qemu-img).
 * -EBADMSG when its header is not one restore takes, another -errno when
 * it cannot be checked; why in h->err. */
int virt_backup_key_opens(struct virt_host *h, const char *path, const uint8_t key[32], bool *opens);
/* The shut-off guest's data volumes rebuilt from the chain ending at id;
 * an encrypted volume whose own key does not open the chain's full goes
 * under the key kept with the chain (FULL.keys, lib/backup-keys.h), its
 * secret keeping its uuid; nothing is written before every link verified
 * and each key checked to open the chain's full. Every volume is kept
 * aside (virt-backup-internal.h) before any is replaced, and put back if
 * any fails. */
int virt_restore(struct virt_host *h, const char *guest, const char *id,
		 const struct backup_request *r, size_t *links);
/* What a restore of the shut-off guest that did not finish left in the
 * pool (kept files .osi-restore-VOL, key files .osi-restore-VOL.key and
 * their temporaries) put back: every one checked first (a key file must
 * name its kept file and the volume's secret, open with the seal key and
 * open the file it is put back with), or nothing changes; then each old
 * file renamed back under its volume's name, its old key set back in its
 * secret, the key files removed, the pool refreshed. dir: the backup
 * directory, whose guest lock it takes. *put: how many volumes (0: none
 * had anything left). */
int virt_restore_put_back(struct virt_host *h, const char *guest, const char *dir, unsigned *put);
