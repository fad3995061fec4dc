/* Shared between virt*.c only: a growing text buffer, the pure XML and seed
 * builders, and the error helpers. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/key-seal.h"
#include "virt/virt.h"

/* A text buffer whose first failure sticks: build, then check once. */
struct vbuf {
	char *p;
	size_t len, cap;
	int err;
};

void vbuf_printf(struct vbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends text with &, <, >, ' and " escaped. */
void vbuf_xml(struct vbuf *b, const char *text);
/* 0 and *out (caller frees) or the first error; the buffer is consumed. */
int vbuf_take(struct vbuf *b, char **out);
void vbuf_free(struct vbuf *b);

#define VIRT_VOL_NAME_MAX (VIRT_NAME_MAX * 2)
#define VIRT_UUID_LEN 37

/* The names before virt_volume_name's current scheme, for guests made then. */
int virt_volume_name_legacy(char *buf, size_t len, const char *guest, const char *role);
/* guest's data volume for disk into buf; with exist, -ENOENT unless it is
 * here (under the current name or the legacy one, which buf then holds). */
int virt_data_vol_name(struct virt_host *h, const char *guest, const char *disk, char *buf,
		       size_t len, bool exist);

/* What a domain's <metadata> says about it. root, seed and datavol name the
 * volumes the domain was built on ("" in domains made before they were
 * recorded); destroy removes root and seed only when they are named here
 * and attached to the domain. */
struct virt_meta {
	enum virt_guest_type type;
	char owner[VIRT_NAME_MAX];
	char instance_id[VIRT_NAME_MAX];
	char base[VIRT_NAME_MAX];
	char spec[65];
	char data[VIRT_MAX_DATA_DISKS][VIRT_DISK_NAME_MAX];
	unsigned ndata;
	char root[VIRT_VOL_NAME_MAX];
	char seed[VIRT_VOL_NAME_MAX];
	char datavol[VIRT_MAX_DATA_DISKS][VIRT_VOL_NAME_MAX];
	char address[16];        /* its fabric lease's IPv4; "" off the fabric */
};

struct virt_domain_desc {
	const struct virt_spec *spec;
	const struct virt_meta *meta;
	const char *pool;
	const char *uuid;        /* our own, so a racing define cannot adopt another's */
	const char *console_log; /* "" for none */
	bool kvm;
	/* Per data disk: its volume's libvirt secret, "" for a plain volume. */
	char data_secret[VIRT_MAX_DATA_DISKS][VIRT_UUID_LEN];
};

int virt_xml_domain(const struct virt_domain_desc *d, char **out);
int virt_xml_meta(const struct virt_meta *m, char **out);
/* Reads the <osi:guest> element as libvirt returns it; -ENOMSG if not ours. */
int virt_xml_meta_parse(const char *xml, struct virt_meta *m);
int virt_xml_pool(const char *name, const char *dir, char **out);
/* backing may be NULL; format "raw" or "qcow2". */
int virt_xml_volume(const char *name, uint64_t capacity, const char *format,
		    const char *backing, const char *backing_format, char **out);
/* A qcow2 data volume, LUKS-encrypted with the libvirt secret uuid (NULL: plain). */
int virt_xml_volume_luks(const char *name, uint64_t capacity, const char *uuid, char **out);

/* The digest that makes a retried create recognisable. */
int virt_spec_digest(const struct virt_spec *s, char hex[65]);

struct virt_seed_file {
	const char *name;
	const char *data;
	size_t len;
};

int virt_seed_meta_data(const char *instance_id, const char *hostname, char **out);
int virt_seed_network_config(enum virt_net net, char **out);
/* An ISO9660 image (Rock Ridge and Joliet, so lowercase names survive) with
 * the given volume label, built in memory. */
int virt_seed_iso(const struct virt_seed_file *files, size_t n, const char *label,
		  void **iso, size_t *len, char *err, size_t errlen);
/* meta-data, user-data and network-config in a volume labelled cidata. */
int virt_seed_build(const char *instance_id, const char *hostname, const char *user_data,
		    enum virt_net net, void **iso, size_t *len, char *err, size_t errlen);

/* h->err = formatted text; returns ret so callers can `return virt_fail(...)`. */
int virt_fail(struct virt_host *h, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, followed by ": " and libvirt's last error message. */
int virt_fail_lv(struct virt_host *h, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *virt_lv_error(void);
/* flags, and for a domain with checkpoints (a running guest's backups made
 * them) VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA, which libvirt otherwise
 * requires to undefine it (not every driver takes the flag: only then). */
unsigned virt_undefine_flags(virDomainPtr dom, unsigned flags);

/* QEMU times a new LUKS header's key derivation in thread CPU time and gives
 * up when the host's tick accounting shows none ("Unable to get accurate CPU
 * usage"; 4 in 40 tries on a 2-core VM when idle, several in a row when
 * busy, the ticks going to steal time). virt_luks_timing: whether err is
 * that. virt_luks_timing_retry: whether to try again after failed attempt
 * (0-based); then it has slept, longer each time (7 s over all the tries). */
#define VIRT_LUKS_TRIES 8
bool virt_luks_timing(const char *err);
bool virt_luks_timing_retry(unsigned attempt, bool timing);

/* virt-pool.c */
int virt_vol_create(struct virt_host *h, const char *xml, virStorageVolPtr *out);
int virt_vol_delete(struct virt_host *h, const char *name);
virStorageVolPtr virt_vol_lookup(struct virt_host *h, const char *name);
int virt_vol_upload_buf(struct virt_host *h, virStorageVolPtr vol, const void *data, size_t len);
int virt_default_upload(virStorageVolPtr vol, uint64_t len, virt_read_fn read, void *rctx,
			void *opaque, char *err, size_t errlen);
int virt_default_download(virStorageVolPtr vol, virt_sink_fn sink, void *sctx, void *opaque,
			  char *err, size_t errlen);

/* virt-kvm.c: 1 when libvirt offers KVM and the CPU shows hardware
 * virtualisation (vmx or svm in /proc/cpuinfo's flags), else 0; -EIO with
 * err when libvirt cannot tell. */
int virt_default_has_kvm(virConnectPtr conn, void *opaque, char *err, size_t errlen);
/* Whether a /proc/cpuinfo text's flags lines name vmx or svm. */
bool virt_cpuinfo_hw_virt(const char *text);

/* virt-secret.c: the keys of encrypted data volumes. */
struct identity;
/* sealed_b64: the key sealed to the node's seal key, kept in the description (NULL: none). */
int virt_xml_secret(const char *vol_path, const char *sealed_b64, char **out);
int virt_xml_secret_sealed(const char *xml, uint8_t sealed[KEY_SEAL_BYTES]);
/* The secret's XML for the volume at vol_path, key sealed to h's seal key
 * (made on first use) in its description. */
int virt_secret_xml_sealed(struct virt_host *h, const char *vol_path,
			   const uint8_t key[KEY_SEAL_KEY_BYTES], char **xml);
int virt_xml_luks_uuid(const char *xml, char uuid[VIRT_UUID_LEN]);
/* A private, persistent secret for the volume at vol_path holding key (NULL: a
 * fresh one, or the secret an earlier volume left at that path: returns 1). */
int virt_secret_make(struct virt_host *h, const char *vol_path, const uint8_t *key,
		     char uuid[VIRT_UUID_LEN]);
/* The volume key of secret uuid, opened from its sealed copy with the node's
 * seal key (or, for a copy made before there was one, with id if given). */
int virt_secret_key(struct virt_host *h, const char *uuid, const struct identity *id,
		    uint8_t key[KEY_SEAL_KEY_BYTES]);
/* A key sealed to h's seal key, opened: -EPERM when sealed to another key
 * (or none is configured); other errors are reported in h. */
int virt_seal_open(struct virt_host *h, const uint8_t sealed[KEY_SEAL_BYTES],
		   uint8_t key[KEY_SEAL_KEY_BYTES]);
/* Secret uuid (usage vol_path) made to hold key instead, its sealed copy
 * too: same uuid, so what names it (the domain) stays as it is. */
int virt_secret_rekey(struct virt_host *h, const char *uuid, const char *vol_path,
		      const uint8_t key[KEY_SEAL_KEY_BYTES]);
void virt_secret_drop(struct virt_host *h, const char *uuid);
/* The secret of pool volume vol, "" when it is plain. */
void virt_secret_of(struct virt_host *h, const char *vol, char uuid[VIRT_UUID_LEN]);

/* virt-image.c */
int virt_image_fetch_file(struct virt_host *h, const char *url, const char *path,
			  size_t max, char *err, size_t errlen);
