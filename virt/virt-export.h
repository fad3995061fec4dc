/* Guest export and import (docs/protocol.md, "Export archive"): one pax
 * archive holding the guest's data volumes as qcow2 files, then its
 * manifest (lib/export-manifest.h), then the manifest's signature.
 *
 * The archive side (virt-export-archive.c) needs no libvirt: it verifies a
 * whole archive (entry names and order, sizes, SHA-256 of each volume, the
 * signature and who made it) before anything is defined, and reads volumes
 * back for the upload. The libvirt side (virt-export.c) writes an archive
 * from a shut-off guest and imports one: nothing is created until the
 * archive verified, and a failure removes what the import created. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "lib/export-manifest.h"
#include "virt/virt.h"

/* Whom the importer trusts to have signed: 0, or -EPERM with a reason. */
typedef int (*export_trust_fn)(const struct export_sig *s, void *ctx, char *err, size_t errlen);

/* Reads the whole archive at path. 0 and *m (free with
 * export_manifest_free), or -EBADMSG (damaged, truncated, tampered, out of
 * order, unexpected entry), -EPERM (signer refused) with a reason in err. */
int export_archive_verify(const char *path, export_trust_fn trust, void *ctx,
			  struct export_manifest *m, char *err, size_t errlen);

/* How long a move's pipe may stay idle, either way, before the root
 * helper gives up on it (a healthy transfer never pauses this long: the
 * movers end one silent for 120 s). */
#define EXPORT_STREAM_IDLE_S 300
/* A stream's volume entry as it passes: take reads its bytes with read(rctx)
 * (which hashes them for the manifest's check); what it leaves is read
 * after it. 0, or a negative errno that ends the stream (its reason in the
 * taker's own error). */
typedef int (*export_take_fn)(void *ctx, const char *entry, uint64_t bytes, virt_read_fn read,
			      void *rctx);
/* Reads an archive from fd once, in order, as export_archive_verify reads a
 * file, handing each volume to take as it passes: the manifest, its
 * signature and the volumes' sizes and SHA-256 are checked only after the
 * last volume, so a taker must keep nothing until this returns 0. *whole:
 * whether the archive was read to its end (checked or not). */
int export_archive_stream(int fd, export_take_fn take, void *take_ctx, export_trust_fn trust,
			  void *ctx, struct export_manifest *m, bool *whole, char *err, size_t errlen);
struct archive;
/* The archive opened for reading at its first volume's data. */
int export_archive_open(const char *path, struct archive **a, char *err, size_t errlen);
/* Advances to volume v's entry (the next one): -EBADMSG if it is not. */
int export_archive_next(struct archive *a, const struct export_volume *v, char *err, size_t errlen);
/* A virt_read_fn over the current entry's data. */
ssize_t export_archive_read(void *a, void *buf, size_t len);
void export_archive_close(struct archive *a);

/* A member an encrypted volume's key is sealed to (lib/key-seal.h). */
struct export_recipient {
	char name[NODE_NAME_MAX + 1];
	uint8_t sign_pk[SIGN_PK_BYTES];  /* its ledger Ed25519 key */
};

struct export_source {
	const struct identity *signer; /* also opens the node's copy of volume keys */
	const char *node;             /* recorded in the manifest */
	const char *user_data;        /* the cloud-config the guest is rebuilt with */
	const char *mounts[VIRT_MAX_DATA_DISKS]; /* informative, may be NULL */
	/* Whom encrypted volumes' keys are sealed to; none: such a volume is refused. */
	const struct export_recipient *recipients;
	unsigned nrecipients;
};

/* The shut-off guest name into a new file at path (written beside it, then
 * renamed; nothing is left on failure). *m gets the manifest written. */
int virt_export(struct virt_host *h, const char *name, const struct export_source *src,
		const char *path, struct export_manifest *m);
/* A move's export in two steps: the shut-off guest described into *m (its
 * volumes' sizes: export_archive_bound(m) bounds the archive), then the
 * archive written into fd, a pipe, as it is read (*bytes: its length). */
int virt_export_describe(struct virt_host *h, const char *name, const struct export_source *src,
			 struct export_manifest *m);
int virt_export_stream(struct virt_host *h, const struct export_source *src, int fd,
		       struct export_manifest *m, uint64_t *bytes);
/* Verifies the archive, then makes its data volumes and defines the guest
 * (not started) with the same name, instance-id and MAC, its root disk
 * rebuilt on the same base image (which must be here, same SHA-256). */
int virt_import(struct virt_host *h, const char *path, export_trust_fn trust, void *ctx,
		struct export_manifest *m);
/* The same, opening encrypted volumes' keys with id (one of the archive's
 * recipients): each is checked before anything is made, and becomes a
 * private libvirt secret of the new volume. virt_import refuses them. */
int virt_import_as(struct virt_host *h, const char *path, export_trust_fn trust, void *ctx,
		   const struct identity *id, struct export_manifest *m);
/* The same, check (if not NULL) refusing the verified manifest, with a
 * reason in err, before anything is made: a move takes only its guest. It
 * may also set what this node decides rather than the archive (a move-in's
 * network: this node's). */
typedef int (*import_check_fn)(struct export_manifest *m, void *ctx, char *err, size_t errlen);
int virt_import_checked(struct virt_host *h, const char *path, export_trust_fn trust, void *ctx,
			const struct identity *id, import_check_fn check,
			struct export_manifest *m);

/* A move's import from a stream (virt-import-stream.c). */
struct import_stream {
	const char *name;          /* the guest the stream must be of */
	uint64_t bound;            /* at most this many volume bytes, room checked first */
	export_trust_fn trust;
	import_check_fn check;     /* may be NULL */
	/* After the archive's end, before the define: whether the transport
	 * checked what it carried (0), else a reason in err. */
	int (*verdict)(void *ctx, char *err, size_t errlen);
	void *ctx;                 /* of trust, check and verdict */
	const struct identity *id; /* opens encrypted volumes' keys */
};
/* Reads an archive from fd once (export_archive_stream): each data volume
 * is made and written as it passes; the guest is defined only when the
 * manifest verified, o->check and o->verdict passed. On failure every
 * volume made is deleted (nothing defined) and h->err says why. */
int virt_import_stream(struct virt_host *h, int fd, const struct import_stream *o,
		       struct export_manifest *m);
/* virt-export-keys.c. The volume's key, if it has one, sealed to each of
 * src's recipients into v (encrypted, keys); 0 for a plain volume. */
int export_keys_seal(struct virt_host *h, const char *vol, const struct export_source *src,
		     struct export_volume *v);
/* v's key as sealed to id; -EPERM with a reason when id is not a recipient
 * or the blob does not open. key is zeroed on failure. */
int export_keys_open(struct virt_host *h, const struct identity *id, const char *guest,
		     const struct export_volume *v, uint8_t key[KEY_SEAL_KEY_BYTES]);
