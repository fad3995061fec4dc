/* Guest provisioning through the libvirt C API: a storage pool the project
 * owns, base images with recorded checksums, qcow2 overlays, a NoCloud seed
 * built in memory, and domains that carry the project's metadata.
 *
 * Every call returns 0 or -errno; on failure h->err holds one line for the
 * operator (libvirt's own message included where there is one). Nothing here
 * shells out: volume formats are libvirt's business, seeds are libarchive's.
 *
 * virt_host_open silences libvirt's default error printer (process-wide):
 * its messages reach the caller through h->err instead.
 *
 * The seams (struct virt_ops) exist because libvirt's test driver has no
 * volume upload/download and no domain capabilities; unit tests substitute
 * them, and the integration test wraps them to inject failures. */
#pragma once
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <libvirt/libvirt.h>

#include "lib/guest-net.h"
#include "lib/guest-policy.h"
#include "lib/names-file.h"

#define VIRT_NS_URI "https://os-infrastructure.invalid/ns/guest/1"
#define VIRT_NS_PREFIX "osi"
#define VIRT_DEFAULT_POOL "osi"
#define VIRT_NAME_MAX 64
#define VIRT_MAX_DATA_DISKS 4
#define VIRT_DISK_NAME_MAX 16
#define VIRT_ERR_MAX 512

/* Indexes lib/guest-types' table (same order), where the names live. */
enum virt_guest_type {
	VIRT_TOTEBOX,
	VIRT_MEDIAKIT,
	VIRT_ORCHESTRATION,
	VIRT_PRIVATEGIT,
	VIRT_TYPE_COUNT,
};

const char *virt_type_name(enum virt_guest_type type);
int virt_type_parse(const char *text, enum virt_guest_type *type);

enum virt_placement {
	VIRT_PLACE_ADVISORY,      /* the fleet suggests, the operator may override */
	VIRT_PLACE_OPERATOR_NODE, /* the operator must name the node (Totebox) */
};

/* A data disk outlives its guest: destroy keeps it, virt_data_delete removes it. */
struct virt_data_disk {
	char name[VIRT_DISK_NAME_MAX]; /* [a-z0-9]; the guest sees /dev/disk/by-id/virtio-osi-NAME */
	uint64_t bytes;
	char mount[64];                /* where the template mounts it (informative) */
};

/* images/<type>.json, parsed strictly (unknown keys are errors). vcpus,
 * memory and placement are optional: the guest type table gives them. */
struct virt_manifest {
	enum virt_guest_type type;
	char summary[128];
	unsigned vcpus;
	uint64_t memory_bytes;
	uint64_t disk_bytes;
	char base[VIRT_NAME_MAX];      /* default base image name */
	struct virt_data_disk data[VIRT_MAX_DATA_DISKS];
	unsigned ndata;
	enum virt_placement placement;
	char user_data[128];           /* template path, relative to the images directory */
	struct guest_port ports[GUEST_PORTS_MAX]; /* what it serves, to whom (lib/guest-policy.h) */
	unsigned nports;
};

/* Pure: text -> struct. err gets "key: reason" on failure. */
int virt_manifest_parse(const char *text, size_t len, struct virt_manifest *m,
			char *err, size_t errlen);
/* Reads DIR/<the type's manifest> and its template; *user_data is malloc'd text. */
int virt_manifest_load(const char *images_dir, enum virt_guest_type type,
		       struct virt_manifest *m, char **user_data, char *err, size_t errlen);

enum virt_net {
	VIRT_NET_NONE,    /* no interface */
	VIRT_NET_NETWORK, /* libvirt network net_source (usually "default") */
	VIRT_NET_BRIDGE,  /* host bridge net_source */
	VIRT_NET_USER,    /* user-mode (slirp/passt), no host setup needed */
	VIRT_NET_FABRIC,  /* VIRT_FABRIC_NETWORK with the spec's fixed mac (virt-network.c) */
};

/* What the operator asked for. Two creates with the same name and the same
 * spec (instance_id and start aside) are the same request. */
struct virt_spec {
	char name[VIRT_NAME_MAX];        /* domain name and hostname: [a-z0-9-], at most 63 */
	enum virt_guest_type type;
	char owner[VIRT_NAME_MAX];       /* printable ASCII, recorded in metadata */
	char base[VIRT_NAME_MAX];        /* base image (see virt_image_import) */
	unsigned vcpus;
	uint64_t memory_bytes;
	uint64_t disk_bytes;             /* overlay size; never below the base's */
	struct virt_data_disk data[VIRT_MAX_DATA_DISKS];
	unsigned ndata;
	enum virt_net net;
	char net_source[VIRT_NAME_MAX];
	char mac[18];                    /* VIRT_NET_FABRIC: its static lease's MAC */
	char address[16];                /* VIRT_NET_FABRIC: its static lease's IPv4 */
	const char *user_data;           /* cloud-config text; NULL: "#cloud-config\n" */
	char instance_id[VIRT_NAME_MAX]; /* empty: generated */
	bool start;                      /* start after define (and on retries) */
};

void virt_spec_from_manifest(struct virt_spec *s, const struct virt_manifest *m,
			     const char *name, const char *owner);
/* 0 or -EINVAL with a reason in err. */
int virt_spec_check(const struct virt_spec *s, char *err, size_t errlen);

enum virt_step {
	VIRT_STEP_VOLUMES,  /* overlay and data volumes */
	VIRT_STEP_SEED,     /* NoCloud seed built and uploaded */
	VIRT_STEP_DEFINE,   /* domain defined, autostart set */
	VIRT_STEP_BOOT,     /* domain starting */
	VIRT_STEP_RUNNING,
};
const char *virt_step_name(enum virt_step step);

typedef ssize_t (*virt_read_fn)(void *ctx, void *buf, size_t len);
typedef int (*virt_sink_fn)(void *ctx, const void *buf, size_t len);

struct virt_ops {
	/* Writes exactly len bytes, pulled from read, into vol. */
	int (*upload)(virStorageVolPtr vol, uint64_t len, virt_read_fn read, void *rctx,
		      void *opaque, char *err, size_t errlen);
	/* Pushes all of vol's bytes into sink. */
	int (*download)(virStorageVolPtr vol, virt_sink_fn sink, void *sctx, void *opaque,
			char *err, size_t errlen);
	/* 1 when the host offers KVM for x86_64, 0 when it offers only TCG. */
	int (*has_kvm)(virConnectPtr conn, void *opaque, char *err, size_t errlen);
	/* Called as each step begins; a negative return aborts and rolls back. */
	int (*progress)(enum virt_step step, const char *guest, void *opaque);
	/* Polled during long waits (a move's shutdown); true ends the wait
	 * with -ECANCELED. NULL: never. */
	bool (*cancelled)(void *opaque);
	void *opaque;
};

struct virt_config {
	const char *uri;            /* NULL: libvirt's default */
	const char *pool;           /* NULL: VIRT_DEFAULT_POOL */
	const char *pool_dir;       /* NULL: OSI_STATE_DIR/images */
	const char *image_manifest; /* NULL: <pool_dir>.json, next to the pool */
	const char *console_dir;    /* NULL: /var/log/os-infrastructure/guests; "": no log */
	const char *fetch_url;      /* NULL: the Ubuntu release directory */
	bool skip_verify;           /* do not re-hash a base image before each use */
	/* The node's sealing key (lib/seal-key.h; made on first use): each new
	 * data volume key is also kept sealed to it, so export, move and restore
	 * (root only) can open it. NULL: keys stay in libvirt only (not
	 * exportable). */
	const char *seal_key;
};

struct virt_host {
	virConnectPtr conn;
	char pool[VIRT_NAME_MAX];
	char pool_dir[PATH_MAX];
	char image_manifest[PATH_MAX];
	char console_dir[PATH_MAX];
	char fetch_url[256];
	bool skip_verify;
	char seal_key[PATH_MAX];    /* virt_config.seal_key, "" for none */
	struct virt_ops ops;        /* defaults set by virt_host_open; replace at will */
	bool kvm_known;             /* ops.has_kvm's answer, kept for this host's life */
	bool kvm;
	char err[VIRT_ERR_MAX];
};

int virt_host_open(struct virt_host *h, const struct virt_config *cfg);
/* Whether libvirt builds KVM guests here (1) or TCG ones (0), asked once
 * (ops.has_kvm, about 2 s on a TCG host) and kept: -errno with err. */
int virt_host_kvm(struct virt_host *h, char *err, size_t errlen);
void virt_host_close(struct virt_host *h);

/* The pool: defined, built, started and set to autostart when missing. */
int virt_pool_ensure(struct virt_host *h);
/* The pool's free bytes, as libvirt sees them after a refresh, in *avail:
 * 0 when need fits, -ENOSPC when not (h->err left for the caller to say
 * what needed it), -EIO when libvirt cannot tell. */
int virt_pool_room(struct virt_host *h, uint64_t need, uint64_t *avail);
/* virStoragePoolRefresh of the pool p. A refresh that fails inside libvirt's
 * backend (a volume's file removed between its listing and its open, as a
 * rolled-back import's is) makes libvirt stop the pool, and every later call
 * on it fails "not active" until someone starts it: it is started again
 * here. 0, or -EIO with h->err (a refresh refused while a volume is made
 * leaves the pool running). */
int virt_pool_refresh(struct virt_host *h, virStoragePoolPtr p);
/* The same restart, for a caller without a virt_host: true when p was
 * stopped and is running again. */
bool virt_pool_restart(virStoragePoolPtr p);

struct virt_image {
	char name[VIRT_NAME_MAX];
	char volume[VIRT_NAME_MAX + 16];
	char format[8];              /* "raw" or "qcow2", sniffed while streaming */
	uint64_t bytes;
	uint64_t virtual_bytes;
	char sha256[65];
	int64_t imported;            /* wall clock, seconds */
	char source[128];
};

/* Streams FILE into a new volume, hashing as it goes. expect_sha256 (hex)
 * may be NULL; when given, a mismatch removes the volume. */
int virt_image_import(struct virt_host *h, const char *path, const char *name,
		      const char *expect_sha256, struct virt_image *out);
/* *out is malloc'd (may be NULL when *n is 0). */
int virt_image_list(struct virt_host *h, struct virt_image **out, size_t *n);
int virt_image_get(struct virt_host *h, const char *name, struct virt_image *out);
/* Re-hashes the volume through libvirt and compares with the record. */
int virt_image_verify(struct virt_host *h, const char *name);
/* Volume and record; refused (-EBUSY) while a guest was made from it. */
int virt_image_remove(struct virt_host *h, const char *name);
/* "ubuntu-24.04": download and SHA256SUMS check, then import. Offline it
 * fails with -ENETUNREACH and says so. */
int virt_image_fetch(struct virt_host *h, const char *name, struct virt_image *out);

enum virt_state {
	VIRT_STATE_UNKNOWN,
	VIRT_STATE_DEFINED,  /* shut off */
	VIRT_STATE_RUNNING,
	VIRT_STATE_PAUSED,
	VIRT_STATE_STOPPING,
	VIRT_STATE_CRASHED,
};
const char *virt_state_name(enum virt_state state);

struct virt_guest {
	char name[VIRT_NAME_MAX];
	enum virt_guest_type type;
	char owner[VIRT_NAME_MAX];
	char instance_id[VIRT_NAME_MAX];
	char base[VIRT_NAME_MAX];
	char spec[65];               /* digest of the spec that created it */
	enum virt_state state;
	bool kvm;                    /* false: TCG */
	bool autostart;
	unsigned vcpus;
	uint64_t memory_bytes;
	char data[VIRT_MAX_DATA_DISKS][VIRT_DISK_NAME_MAX];
	unsigned ndata;
	bool existed;                /* create found it already there */
	char address[16];            /* its fabric address from the metadata, "" if none */
};

/* Idempotent: an existing guest of that name with the same spec is success
 * (and is started if s->start); any other existing domain is -EEXIST. A
 * failure removes whatever this attempt created. */
int virt_guest_create(struct virt_host *h, const struct virt_spec *s, struct virt_guest *out);
/* Guests carrying our metadata; others are ignored. *out is malloc'd. */
int virt_guest_list(struct virt_host *h, struct virt_guest **out, size_t *n);
int virt_guest_get(struct virt_host *h, const char *name, struct virt_guest *out);
int virt_guest_start(struct virt_host *h, const char *name);
/* Asks the guest to shut down; force pulls the plug. */
int virt_guest_stop(struct virt_host *h, const char *name, bool force);
/* Pulls the plug (stop first for a clean shutdown), undefines, removes the
 * overlay, seed and console log: only volumes the domain's metadata names
 * and the domain attaches, and no other domain does. Data volumes are kept
 * and logged; *kept (may be NULL) says how many. With no domain, removes
 * the overlay and seed an interrupted create left under that name, unless
 * a domain attaches them. */
int virt_guest_destroy(struct virt_host *h, const char *name, unsigned *kept);
/* The explicit, logged removal of a guest's data volume. Refused while a
 * domain of that name exists; reason is mandatory and goes to the log. */
int virt_data_delete(struct virt_host *h, const char *guest, const char *disk, const char *reason);

/* Where the console of a guest is logged ("" when logging is off). */
int virt_console_path(const struct virt_host *h, const char *guest, char *buf, size_t len);
/* Volume names in the pool; role "disk", "seed" or "data-DISK". Injective
 * over legal names (see virt-xml.c); -EINVAL for a name outside them. */
int virt_volume_name(char *buf, size_t len, const char *guest, const char *role);

/* The guest fabric's routed network (virt-network.c): one per node, made
 * through the libvirt network API, forward mode route (no NAT onto the
 * mesh), the node's gateway/24 on VIRT_FABRIC_BRIDGE, DHCP over the rest of
 * its subnet, and libvirt's own dnsmasq serving <name>.<zone> (localOnly:
 * names under the zone never leave the node's dnsmasq). Each guest has a
 * static lease (<host mac name ip>), allocated by the helper at create and
 * released at destroy, so its address survives reboots. */
#define VIRT_FABRIC_NETWORK "osi-fabric"
#define VIRT_FABRIC_BRIDGE GUEST_POLICY_BRIDGE
#define VIRT_LEASES_MAX 1024

struct virt_fabric {
	char zone[NAMES_FQDN_MAX + 1];
	struct guest_net_range range;
	uint8_t prefix_len;          /* the subnet's, GUEST_NET_SUBNET_LEN */
};

struct virt_lease {
	char mac[18];                /* 52:54:00:xx:xx:xx, lowercase */
	char name[VIRT_NAME_MAX];
	uint32_t addr;               /* host byte order */
};

/* Pure. The network's definition (uuid: the one it had, or NULL; leases:
 * static hosts to keep, n may be 0). */
int virt_fabric_xml(const struct virt_fabric *f, const char *uuid, const struct virt_lease *leases,
		    size_t n, char **out);
/* Whether libvirt's XML of the network says what f does (forward mode,
 * bridge, address, DHCP range, domain); leases and DNS entries aside. */
bool virt_fabric_xml_matches(const char *xml, const struct virt_fabric *f);
/* The DHCP range and the static hosts of a network's XML; *out malloc'd. */
int virt_fabric_xml_leases(const char *xml, struct guest_net_range *range,
			   struct virt_lease **out, size_t *n);
/* One <host mac name ip/> for virNetworkUpdate. */
int virt_lease_xml(const struct virt_lease *l, char **out);
/* The lowest address of the range no lease holds; -ENOSPC when full. */
int virt_lease_pick(const struct guest_net_range *r, const struct virt_lease *used, size_t n,
		    uint32_t *addr);
/* 52:54:00 and the three bytes of rnd; bumped until no lease holds it. */
void virt_lease_mac(const uint8_t rnd[3], const struct virt_lease *used, size_t n, char mac[18]);
/* NULL when mac may be a new lease's: 52:54:00:xx:xx:xx, lowercase (locally
 * administered, unicast: the range virt_lease_mac gives) and held by no
 * lease of used[0..n); else why not. */
const char *virt_lease_mac_refusal(const char *mac, const struct virt_lease *used, size_t n);
/* One <host ip><hostname>...</host> of the DNS section: the names of
 * entries[0..n) that carry addr. */
int virt_dns_host_xml(uint32_t addr, const struct names_entry *entries, size_t n, char **out);
/* The DNS hosts in a network's XML as (addr, name) pairs; *out malloc'd. */
int virt_fabric_xml_dns(const char *xml, struct names_entry **out, size_t *n);

/* Defined, started and autostarted; an existing one with the same
 * definition is left, a differing one redefined (keeping the static leases
 * inside the new range) and restarted. */
int virt_fabric_ensure(struct virt_host *h, const struct virt_fabric *f);
/* The guest's static lease: the one it has, else a new one (lowest free
 * address, fresh MAC) added live and persistently. *fresh (may be NULL)
 * says which. mac (NULL or "": any) is the MAC the guest had elsewhere (an
 * import, a move): the new lease takes it, and a lease the name already has
 * with another MAC is replaced by one with it at the same address, unless
 * virt_lease_mac_refusal refuses it (logged; then as without). -ENOENT: no
 * fabric network. */
int virt_lease_get(struct virt_host *h, const char *guest, const char *mac, struct virt_lease *out,
		   bool *fresh);
/* Removes the guest's static lease; 0 when it had none. */
int virt_lease_release(struct virt_host *h, const char *guest);
/* The DNS host entries become exactly entries[0..n) (live and persistent). */
int virt_fabric_names(struct virt_host *h, const struct names_entry *entries, size_t n);
