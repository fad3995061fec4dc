/* What the file import (virt-import.c) and the stream import
 * (virt-import-stream.c) share. */
#pragma once
#include <stdint.h>
#include <sys/types.h>

#include "virt/virt-export.h"
#include "virt/virt-internal.h"

struct sha256_tree;

/* One volume's upload: read(rctx) gives its bytes; its qcow2 header is
 * checked as it passes, and it is hashed into t when t is set. */
struct import_upload {
	virt_read_fn read;
	void *rctx;
	struct sha256_tree *t;
	uint64_t total;
	uint8_t head[EXPORT_QCOW2_HEAD];
	size_t nhead;
	const char *refused; /* why the header is not acceptable */
};

ssize_t import_upload_read(void *ctx, void *buf, size_t len);
/* bytes into the new volume sv (named vol), through h->ops.upload. */
int import_upload(struct virt_host *h, virStorageVolPtr sv, const char *vol, uint64_t bytes,
		  struct import_upload *x);
/* The manifest's base image is here, with its SHA-256. */
int import_base_check(struct virt_host *h, const struct export_manifest *m);
/* Room in the pool for data_bytes of volumes and the root overlay and seed,
 * checked before anything is made: a full disk is refused with the figures
 * rather than met halfway through an upload. */
int import_room(struct virt_host *h, const char *name, uint64_t data_bytes);
/* An encrypted volume's key (sealed to id) becomes the private secret of
 * vol's path; the volume's deletion (on failure) drops it again. */
int import_secret(struct virt_host *h, const struct identity *id, const struct export_manifest *m,
		  const struct export_volume *v, const char *vol, char uuid[VIRT_UUID_LEN]);
/* Every encrypted volume's key opens for id. */
int import_keys(struct virt_host *h, const struct identity *id, const struct export_manifest *m);
/* The guest of m defined (not started) over its volumes, here. */
int import_define(struct virt_host *h, const struct export_manifest *m);
