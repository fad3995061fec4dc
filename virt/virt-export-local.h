/* Reading a volume's file directly, beside libvirt's download stream. */
#ifndef VIRT_EXPORT_LOCAL_H
#define VIRT_EXPORT_LOCAL_H

#include <libvirt/libvirt.h>
#include <stdint.h>

#include "virt/virt.h"

/* Pushes vol's file into sink when libvirt runs on this machine (a URI with
 * no host), the pool is a dir pool, the volume's path lies in the pool's
 * directory and is a regular file of bytes bytes, and we may open it.
 * -ENOTSUP when any of that fails before a byte was pushed: the caller uses
 * the stream instead. */
/* The file itself, read-only, under the same conditions: an fd, or -ENOTSUP. */
int virt_export_local_open(virStorageVolPtr vol, uint64_t bytes);
int virt_export_local_read(virStorageVolPtr vol, uint64_t bytes, virt_sink_fn sink, void *sctx,
			   char *err, size_t errlen);
/* Writes bytes from read into vol's file (truncated first, synced at the
 * end) under the same conditions, except that the file may be of any size:
 * a volume just made. -ENOTSUP before a byte was written: use the stream. */
int virt_import_local_write(virStorageVolPtr vol, uint64_t bytes, virt_read_fn read, void *rctx,
			    char *err, size_t errlen);

#endif
