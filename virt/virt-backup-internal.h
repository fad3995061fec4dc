/* Shared by virt-backup.c and virt-backup-restore.c only. */
#pragma once
#include <libvirt/libvirt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

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
 * key sealed to seal_pk); -EEXIST, removing nothing, when either is there. */
int backup_aside_set(struct backup_aside *a, const char *secret, const uint8_t *seal_pk,
		     const uint8_t *key, char *err, size_t errlen);
/* kept renamed over path (whatever is there): the old file under its name. */
int backup_aside_put_back(struct backup_aside *a);
/* What of kept and keyf is still ours is removed. */
void backup_aside_release(struct backup_aside *a);

/* virt-backup-restore.c: what qemu-img check opens a full's file fd with
 * (under secret k0), its backing named as none (malloc'd, NULL: no memory). */
char *backup_key_check_spec(int fd);
