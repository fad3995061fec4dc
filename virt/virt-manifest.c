/* Guest types, their manifests (images/<type>.json) and the spec an operator
 * asks for. Pure, apart from virt_manifest_load reading two files. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fileio.h"
#include "lib/guest-types.h"
#include "lib/units.h"
#include "lib/names.h"
#include "virt/virt-internal.h"
#include "lib/errbuf.h"

#define MANIFEST_MAX (64 * 1024)
#define USER_DATA_MAX (256 * 1024)
#define MIB (1024ULL * 1024)
#define GIB (1024ULL * MIB)

/* The enum indexes lib/guest-types' table, which holds the names. */
_Static_assert(VIRT_TYPE_COUNT == GUEST_TYPE_COUNT, "virt_guest_type must index the guest type table");

const char *virt_type_name(enum virt_guest_type type)
{
	const struct guest_type *t = guest_type_at((unsigned)type);

	return t ? t->name : "unknown";
}

int virt_type_parse(const char *text, enum virt_guest_type *type)
{
	const struct guest_type *t = guest_type_find(text);

	if (!t)
		return -EINVAL;
	*type = (enum virt_guest_type)guest_type_index(t);
	return 0;
}

/* Image names may carry a version: ubuntu-24.04. */
static bool image_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= VIRT_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'))
			return false;
	}
	return true;
}

static bool disk_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= VIRT_DISK_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
			return false;
	}
	return true;
}

static bool path_ok(const char *p, bool absolute)
{
	if (!p[0] || (absolute != (p[0] == '/')) || strstr(p, ".."))
		return false;
	for (; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("/-_.", *p)))
			return false;
	}
	return true;
}

static bool owner_ok(const char *s)
{
	if (!s[0] || strlen(s) >= VIRT_NAME_MAX)
		return false;
	for (; *s; s++) {
		if (*s < 0x20 || *s > 0x7e)
			return false;
	}
	return true;
}

static int size_in(const char *key, const char *text, uint64_t lo, uint64_t hi, uint64_t *out,
		   char *err, size_t errlen)
{
	if (parse_size(text, out) < 0)
		return errbuf_fail(-EINVAL, err, errlen, "%s: \"%s\" is not a size", key, text);
	if (*out < lo || *out > hi)
		return errbuf_fail(-ERANGE, err, errlen, "%s: %s is out of range", key, text);
	return 0;
}

static int copy(char *dst, size_t len, const char *key, const char *src, char *err, size_t errlen)
{
	if (strlen(src) >= len)
		return errbuf_fail(-ENAMETOOLONG, err, errlen, "%s: too long", key);
	strcpy(dst, src);
	return 0;
}

static int parse_data_disks(json_t *arr, struct virt_manifest *m, char *err, size_t errlen)
{
	json_error_t je;
	size_t i;
	json_t *d;
	int ret;

	if (!json_is_array(arr))
		return errbuf_fail(-EINVAL, err, errlen, "data_disks: not an array");
	if (json_array_size(arr) > VIRT_MAX_DATA_DISKS)
		return errbuf_fail(-E2BIG, err, errlen, "data_disks: at most %d", VIRT_MAX_DATA_DISKS);
	json_array_foreach(arr, i, d) {
		struct virt_data_disk *dd = &m->data[i];
		const char *name, *size, *mount;

		if (json_unpack_ex(d, &je, 0, "{s:s, s:s, s:s !}", "name", &name, "size", &size,
				   "mount", &mount) < 0)
			return errbuf_fail(-EINVAL, err, errlen, "data_disks[%zu]: %s", i, je.text);
		if (!disk_name_ok(name))
			return errbuf_fail(-EINVAL, err, errlen, "data_disks[%zu].name: [a-z0-9]{1,%d} expected",
				    i, VIRT_DISK_NAME_MAX - 1);
		for (size_t k = 0; k < i; k++) {
			if (!strcmp(m->data[k].name, name))
				return errbuf_fail(-EINVAL, err, errlen, "data_disks: %s named twice", name);
		}
		strcpy(dd->name, name);
		ret = size_in("data_disks.size", size, MIB, 64 * 1024 * GIB, &dd->bytes, err, errlen);
		if (ret < 0)
			return ret;
		if (!path_ok(mount, true) || strlen(mount) >= sizeof(dd->mount))
			return errbuf_fail(-EINVAL, err, errlen, "data_disks[%zu].mount: an absolute path expected", i);
		strcpy(dd->mount, mount);
		m->ndata++;
	}
	return 0;
}

/* Size and placement default to the guest type table; a manifest may give
 * them (a test or a one-off), but never loosens a type's placement rule. */
static int parse_shape(const struct guest_type *t, json_t *vcpus, const char *memory,
		       const char *placement, struct virt_manifest *m, char *err, size_t errlen)
{
	int ret;

	m->vcpus = t->vcpus;
	m->memory_bytes = t->memory_bytes;
	m->placement = t->named_node_only ? VIRT_PLACE_OPERATOR_NODE : VIRT_PLACE_ADVISORY;
	if (vcpus && !json_is_integer(vcpus))
		return errbuf_fail(-EINVAL, err, errlen, "vcpus: an integer expected");
	if (vcpus && (json_integer_value(vcpus) < 1 || json_integer_value(vcpus) > 64))
		return errbuf_fail(-ERANGE, err, errlen, "vcpus: 1 to 64");
	if (vcpus)
		m->vcpus = (unsigned)json_integer_value(vcpus);
	if (memory && (ret = size_in("memory", memory, 64 * MIB, 1024 * GIB, &m->memory_bytes,
				     err, errlen)) < 0)
		return ret;
	if (placement && !strcmp(placement, "advisory"))
		m->placement = VIRT_PLACE_ADVISORY;
	else if (placement && !strcmp(placement, "operator-node"))
		m->placement = VIRT_PLACE_OPERATOR_NODE;
	else if (placement)
		return errbuf_fail(-EINVAL, err, errlen, "placement: \"advisory\" or \"operator-node\"");
	/* WORM data is not transferable over the network: a vault is placed by name. */
	if (t->named_node_only && m->placement != VIRT_PLACE_OPERATOR_NODE)
		return errbuf_fail(-EINVAL, err, errlen, "placement: a %s is always placed on an operator-named node",
			    t->name);
	return 0;
}

static int parse_root(json_t *root, struct virt_manifest *m, char *err, size_t errlen)
{
	const char *type, *summary, *memory = NULL, *disk, *base, *placement = NULL, *user_data;
	const struct guest_type *t;
	json_t *data = NULL, *vcpus = NULL, *ports = NULL;
	json_error_t je;
	int ret;

	if (json_unpack_ex(root, &je, 0, "{s:s, s:s, s?o, s?s, s:s, s:s, s?o, s?s, s:s, s?o !}",
			   "type", &type, "summary", &summary, "vcpus", &vcpus, "memory", &memory,
			   "disk", &disk, "base_image", &base, "data_disks", &data,
			   "placement", &placement, "user_data", &user_data, "ports", &ports) < 0)
		return errbuf_fail(-EINVAL, err, errlen, "%s", je.text);
	t = guest_type_find(type);
	if (!t)
		return errbuf_fail(-EINVAL, err, errlen, "type: unknown guest type \"%s\"", type);
	m->type = (enum virt_guest_type)guest_type_index(t);
	if ((ret = copy(m->summary, sizeof(m->summary), "summary", summary, err, errlen)) < 0 ||
	    (ret = parse_shape(t, vcpus, memory, placement, m, err, errlen)) < 0 ||
	    (ret = size_in("disk", disk, MIB, 64 * 1024 * GIB, &m->disk_bytes, err, errlen)) < 0)
		return ret;
	if (!image_name_ok(base))
		return errbuf_fail(-EINVAL, err, errlen, "base_image: not an image name");
	strcpy(m->base, base);
	if (data && (ret = parse_data_disks(data, m, err, errlen)) < 0)
		return ret;
	if (!path_ok(user_data, false) || strlen(user_data) >= sizeof(m->user_data))
		return errbuf_fail(-EINVAL, err, errlen, "user_data: a relative path expected");
	strcpy(m->user_data, user_data);
	/* Absent: serves nothing (manifests older than the guest fabric). */
	return ports ? guest_ports_parse(ports, m->ports, &m->nports, err, errlen) : 0;
}

int virt_manifest_parse(const char *text, size_t len, struct virt_manifest *m,
			char *err, size_t errlen)
{
	json_error_t je;
	json_t *root;
	int ret;

	memset(m, 0, sizeof(*m));
	if (len > MANIFEST_MAX)
		return errbuf_fail(-EFBIG, err, errlen, "manifest larger than %d bytes", MANIFEST_MAX);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return errbuf_fail(-EINVAL, err, errlen, "line %d: %s", je.line, je.text);
	ret = parse_root(root, m, err, errlen);
	json_decref(root);
	if (ret < 0)
		memset(m, 0, sizeof(*m));
	return ret;
}

int virt_manifest_load(const char *images_dir, enum virt_guest_type type,
		       struct virt_manifest *m, char **user_data, char *err, size_t errlen)
{
	const struct guest_type *t = guest_type_at((unsigned)type);
	char path[PATH_MAX], *text = NULL;
	size_t len;
	int ret;

	*user_data = NULL;
	if (!t)
		return errbuf_fail(-EINVAL, err, errlen, "unknown guest type");
	if (snprintf(path, sizeof(path), "%s/%s", images_dir, t->manifest) >= (int)sizeof(path))
		return errbuf_fail(-ENAMETOOLONG, err, errlen, "%s: path too long", images_dir);
	ret = read_file(path, MANIFEST_MAX, &text, &len);
	if (ret < 0)
		return errbuf_fail(ret, err, errlen, "%s: %s", path, strerror(-ret));
	ret = virt_manifest_parse(text, len, m, err, errlen);
	free(text);
	text = NULL;
	if (ret < 0) {
		/* Prefix the file name to the parser's reason. */
		char reason[256];

		snprintf(reason, sizeof(reason), "%s", err ? err : "");
		return errbuf_fail(ret, err, errlen, "%s: %s", path, reason);
	}
	if (m->type != type)
		return errbuf_fail(-EINVAL, err, errlen, "%s: says type %s", path, virt_type_name(m->type));
	snprintf(path, sizeof(path), "%s/%s", images_dir, m->user_data);
	ret = read_file(path, USER_DATA_MAX, &text, &len);
	if (ret < 0)
		return errbuf_fail(ret, err, errlen, "%s: %s", path, strerror(-ret));
	if (strlen(text) != len) {
		free(text);
		return errbuf_fail(-EINVAL, err, errlen, "%s: contains a NUL byte", path);
	}
	*user_data = text;
	return 0;
}

void virt_spec_from_manifest(struct virt_spec *s, const struct virt_manifest *m,
			     const char *name, const char *owner)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->owner, sizeof(s->owner), "%s", owner);
	s->type = m->type;
	snprintf(s->base, sizeof(s->base), "%s", m->base);
	s->vcpus = m->vcpus;
	s->memory_bytes = m->memory_bytes;
	s->disk_bytes = m->disk_bytes;
	memcpy(s->data, m->data, sizeof(s->data));
	s->ndata = m->ndata;
	s->net = VIRT_NET_NETWORK;
	strcpy(s->net_source, "default");
	s->start = true;
}

static bool mac_ok(const char *m)
{
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? m[i] != ':' : !strchr("0123456789abcdef", m[i]) || !m[i])
			return false;
	return !m[17];
}

static bool ipv4_ok(const char *a)
{
	struct in_addr in;

	return inet_pton(AF_INET, a, &in) == 1;
}

int virt_spec_check(const struct virt_spec *s, char *err, size_t errlen)
{
	if (!name_label_valid(s->name, 63))
		return errbuf_fail(-EINVAL, err, errlen,
			    "name \"%s\": 1-63 of [a-z0-9-], not starting or ending with -", s->name);
	if ((unsigned)s->type >= VIRT_TYPE_COUNT)
		return errbuf_fail(-EINVAL, err, errlen, "unknown guest type");
	if (!owner_ok(s->owner))
		return errbuf_fail(-EINVAL, err, errlen, "owner: printable ASCII, 1-%d characters", VIRT_NAME_MAX - 1);
	if (!image_name_ok(s->base))
		return errbuf_fail(-EINVAL, err, errlen, "base image \"%s\": not an image name", s->base);
	if (s->vcpus < 1 || s->vcpus > 64)
		return errbuf_fail(-ERANGE, err, errlen, "vcpus: 1 to 64");
	if (s->memory_bytes < 64 * MIB || s->memory_bytes > 1024 * GIB)
		return errbuf_fail(-ERANGE, err, errlen, "memory: 64M to 1T");
	if (s->disk_bytes < MIB || s->disk_bytes > 64 * 1024 * GIB)
		return errbuf_fail(-ERANGE, err, errlen, "disk: 1M to 64T");
	if (s->ndata > VIRT_MAX_DATA_DISKS)
		return errbuf_fail(-E2BIG, err, errlen, "at most %d data disks", VIRT_MAX_DATA_DISKS);
	for (unsigned i = 0; i < s->ndata; i++) {
		if (!disk_name_ok(s->data[i].name) || s->data[i].bytes < MIB)
			return errbuf_fail(-EINVAL, err, errlen, "data disk %u: bad name or size", i);
		for (unsigned k = 0; k < i; k++) {
			if (!strcmp(s->data[k].name, s->data[i].name))
				return errbuf_fail(-EINVAL, err, errlen, "data disk %s named twice", s->data[i].name);
		}
	}
	if ((s->net == VIRT_NET_NETWORK || s->net == VIRT_NET_BRIDGE) && !owner_ok(s->net_source))
		return errbuf_fail(-EINVAL, err, errlen, "network: a source name is needed");
	if (s->net > VIRT_NET_FABRIC)
		return errbuf_fail(-EINVAL, err, errlen, "network: unknown kind");
	if (s->net == VIRT_NET_FABRIC && (!mac_ok(s->mac) || !ipv4_ok(s->address)))
		return errbuf_fail(-EINVAL, err, errlen, "network: the fabric needs a lease (MAC and address)");
	if (s->instance_id[0] && !image_name_ok(s->instance_id))
		return errbuf_fail(-EINVAL, err, errlen, "instance-id: [a-z0-9._-] expected");
	return 0;
}

static void hash_line(crypto_hash_sha256_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void hash_line(crypto_hash_sha256_state *st, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		crypto_hash_sha256_update(st, (const unsigned char *)line,
					  (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* One line per field, each field's text unambiguous (no newlines allowed in
 * any of them), so two specs share a digest only if they are the same. */
int virt_spec_digest(const struct virt_spec *s, char hex[65])
{
	crypto_hash_sha256_state st;
	unsigned char out[crypto_hash_sha256_BYTES];
	const char *ud = s->user_data ? s->user_data : "";

	crypto_hash_sha256_init(&st);
	hash_line(&st, "osi-spec-1\ntype=%s\nowner=%s\nbase=%s\nvcpus=%u\n", virt_type_name(s->type),
		  s->owner, s->base, s->vcpus);
	hash_line(&st, "memory=%" PRIu64 "\ndisk=%" PRIu64 "\nnet=%d:%s\n", s->memory_bytes,
		  s->disk_bytes, (int)s->net, s->net == VIRT_NET_NETWORK || s->net == VIRT_NET_BRIDGE ?
		  s->net_source : "");
	for (unsigned i = 0; i < s->ndata && i < VIRT_MAX_DATA_DISKS; i++)
		hash_line(&st, "data=%s:%" PRIu64 ":%s\n", s->data[i].name, s->data[i].bytes,
			  s->data[i].mount);
	hash_line(&st, "user-data=%zu\n", strlen(ud));
	crypto_hash_sha256_update(&st, (const unsigned char *)ud, strlen(ud));
	crypto_hash_sha256_final(&st, out);
	sodium_bin2hex(hex, 65, out, sizeof(out));
	return 0;
}
