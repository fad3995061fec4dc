/* Shared by virt-backup.c and virt-backup-restore.c only. */
#pragma once
#include <libvirt/libvirt.h>

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
