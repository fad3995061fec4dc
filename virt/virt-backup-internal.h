/* Shared by virt-backup.c and virt-backup-restore.c only. */
#pragma once
#include <libvirt/libvirt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/key-seal.h"
#include "virt/virt-backup.h"

/* The name of guest's data volume disk (the current scheme, else the old one). */
int backup_data_vol(struct virt_host *h, const char *guest, const char *disk, char *buf, size_t len);
/* The libvirt secret of a LUKS volume's or disk's XML into uuid; -ENOENT:
 * plain; -EINVAL: another encryption, or not one passphrase secret. */
int backup_luks_uuid(const char *xml, char *uuid, size_t len);
/* The names of dom's checkpoints that backups made (prefix osi-backup-). */
int backup_checkpoints(struct virt_host *h, virDomainPtr dom, char ***out, size_t *n);
void backup_checkpoints_free(char **names, size_t n);
/* Deletes each of them but keep (NULL: all), with libvirt's flags; a
 * failure is logged and the rest go on. */
int backup_checkpoints_drop(struct virt_host *h, virDomainPtr dom, const char *keep, unsigned flags);

/* virt-backup-aside.c: a data volume kept while a restore replaces it. */
#define BACKUP_ASIDE_KEY_FORMAT "osi-restore-key-v1"
struct backup_aside {
	char path[PATH_MAX];  /* the volume's file in the pool */
	char kept[PATH_MAX];  /* <pool>/.osi-restore-VOL: a hard link to it */
	char keyf[PATH_MAX];  /* kept.key: its key sealed to the seal key */
	bool linked, keyed;   /* kept, keyf are ours to remove */
	bool dropped, rekeyed, created; /* what the restore did to the volume */
};
int backup_aside_names(const char *pool_dir, const char *vol, struct backup_aside *a);
/* kept made (and, with key, keyf: {"file","format","secret","sealed"},
 * key sealed to seal_pk); -EEXIST, removing nothing, when either is there
 * (the message names vm restore GUEST --put-back). */
int backup_aside_refuse(const struct backup_aside *a, const char *guest, char *err, size_t errlen);
int backup_aside_set(struct backup_aside *a, const char *guest, const char *secret,
		     const uint8_t *seal_pk, const uint8_t *key, char *err, size_t errlen);
/* kept renamed over path (whatever is there): the old file under its name. */
int backup_aside_put_back(struct backup_aside *a);
/* What of kept and keyf is still ours is removed. */
void backup_aside_release(struct backup_aside *a);

/* What a restore that did not finish left of a volume: its kept file, its
 * key file and that file's temporaries (keyf.tmp.PID, written before it is
 * linked under its name: the same sealed key). */
#define BACKUP_ASIDE_TMP_MAX 4
struct backup_aside_left {
	bool kept, keyf;
	char tmp[BACKUP_ASIDE_TMP_MAX][PATH_MAX];
	unsigned ntmp;
};
/* What is left of a's volume; -EINVAL with why when something there is
 * not what a restore leaves (a kept file that is not a regular file, too
 * many temporaries). */
int backup_aside_left(const struct backup_aside *a, struct backup_aside_left *l, char *err,
		      size_t errlen);
/* One key file's content, strictly: {"file","format","secret","sealed"}. */
struct backup_aside_key {
	char file[PATH_MAX];
	char secret[40];
	uint8_t sealed[KEY_SEAL_BYTES];
};
int backup_aside_key_parse(const char *text, size_t len, struct backup_aside_key *k, char *err,
			   size_t errlen);
/* The old key that every key file left for a's volume holds: each root's,
 * naming a's kept file and secret, opened with the seal key, all the same
 * key. With no key file, a temporary that does not parse is passed over
 * (a restore killed while writing the key file, before any change: the key
 * file is whole before anything changes; an older build's, which wrote it
 * under a name). -ENOENT when there is none; -EBADMSG/-EPERM with why. */
int backup_aside_key_open(const struct backup_aside *a, const struct backup_aside_left *l,
			  const char *secret, const uint8_t seal_pk[32], const uint8_t seal_sk[32],
			  uint8_t key[KEY_SEAL_KEY_BYTES], char *err, size_t errlen);
/* The key files left removed (their key is back in its secret): 0, or
 * -errno of the first that stays. */
int backup_aside_key_drop(const struct backup_aside *a, const struct backup_aside_left *l);

/* virt-backup-putback.c: -EEXIST, with the message of backup_aside_refuse,
 * when a restore that did not finish left something for one of g's data
 * volumes (under either name scheme), whether libvirt still has it or not. */
int backup_leftovers(struct virt_host *h, const char *guest, const struct virt_guest *g);

/* virt-backup-keep.c: key (a volume's own, which a restore replaces) added
 * to the kept keys (FULL.keys) of each intact full in e but skip's whose
 * file of disk it opens (backup_key_check), sealed to h's seal key, in
 * place of a differing key kept there for disk (it does not open the
 * full); a full that keeps this key for disk already, or whose FULL.keys
 * is not the kept form of its chain, is left as it is. *kept: how many. */
int backup_keep_key(struct virt_host *h, const char *gdir, const struct backup_entry *e, size_t n,
		    const char *skip, const char *disk, const uint8_t key[KEY_SEAL_KEY_BYTES],
		    unsigned *kept);

/* virt-backup-restore.c: what qemu-img check opens a full's file fd with
 * (under secret k0), its backing named as none (malloc'd, NULL: no memory). */
char *backup_key_check_spec(int fd);
/* Whether key opens the LUKS layer of the qcow2 open at fd: its header
 * checked as an upload's (-EBADMSG: no backing or external data file), then
 * qemu-img check with that spec; *code its exit status (0, or 3: leaked
 * clusters, opened; 2: opened, corrupt; 1: not opened, the key among the
 * reasons). A check past backup_key_check_limit_s (60 s; a key made here
 * takes about 2 s) is stopped: -ETIMEDOUT, as a LUKS header from a peer may
 * ask for key derivation by the hour. */
int backup_key_check(struct virt_host *h, int fd, const uint8_t key[KEY_SEAL_KEY_BYTES], int *code);
extern unsigned backup_key_check_limit_s;

/* A restore's qemu-img convert of a chain into a volume of capacity bytes
 * (over a copy of its full, base bytes, or 0 for a new file): how large
 * its output may grow (RLIMIT_FSIZE) and how long it may take, at least
 * backup_convert_floor_s (600 s), else 1 s per 20 MiB of capacity. */
uint64_t backup_convert_max_bytes(uint64_t capacity, uint64_t base);
unsigned backup_convert_limit_s(uint64_t capacity);
extern unsigned backup_convert_floor_s;
