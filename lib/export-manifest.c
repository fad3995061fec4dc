/* The export archive's manifest and its signature (lib/export-manifest.h). */
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/errbuf.h"
#include "lib/export-manifest.h"
#include "lib/guest-types.h"
#include "lib/json-fields.h"
#include "lib/names.h"

static const char *const nets[] = { "none", "network", "bridge", "user", "fabric" };

void export_manifest_free(struct export_manifest *m)
{
	free(m->user_data);
	m->user_data = NULL;
}

enum sha256_tree_kind export_manifest_hash(const struct export_manifest *m)
{
	return m->version == 1 ? SHA256_TREE_PLAIN : SHA256_TREE_PIECES;
}

/* A volume's digest's key: its kind's name. */
static const char *hash_key(const struct export_manifest *m)
{
	return m->version == 1 ? "sha256" : "sha256_tree";
}

static bool hex_valid(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

static bool disk_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > EXPORT_DISK_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static bool mac_valid(const char *s)
{
	if (!*s)
		return true;
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !hex_valid((char[]){ s[i], 0 }, 1))
			return false;
	return true;
}

static bool net_valid(const char *s)
{
	for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
		if (!strcmp(s, nets[i]))
			return true;
	return false;
}

/* An encrypted volume opens for at least one named member, each named once;
 * a plain one carries no keys. */
static int check_keys(const struct export_volume *v, unsigned i, char *err, size_t errlen)
{
	if (v->nkeys > EXPORT_RECIPIENTS_MAX)
		return errbuf_fail(-EINVAL, err, errlen, "volumes[%u].keys: more than %d", i, EXPORT_RECIPIENTS_MAX);
	if (v->encrypted != (v->nkeys > 0))
		return errbuf_fail(-EINVAL, err, errlen, "volumes[%u].keys: %s", i, v->encrypted
			    ? "an encrypted volume needs at least one sealed key"
			    : "a plain volume carries no keys");
	for (unsigned k = 0; k < v->nkeys; k++) {
		if (!name_label_valid(v->keys[k].recipient, NODE_NAME_MAX))
			return errbuf_fail(-EINVAL, err, errlen, "volumes[%u].keys[%u].recipient: not a member name", i, k);
		if (!hex_valid(v->keys[k].key_id, KEY_SEAL_ID_HEX))
			return errbuf_fail(-EINVAL, err, errlen, "volumes[%u].keys[%u].key_id: not %d lowercase hex digits",
				    i, k, KEY_SEAL_ID_HEX);
		for (unsigned j = 0; j < k; j++)
			if (!strcmp(v->keys[j].recipient, v->keys[k].recipient))
				return errbuf_fail(-EINVAL, err, errlen, "volumes[%u].keys[%u]: %s twice", i, k,
					    v->keys[k].recipient);
	}
	return 0;
}

static int check_volumes(const struct export_manifest *m, char *err, size_t errlen)
{
	int ret;

	if (m->nvol > EXPORT_VOLUMES_MAX)
		return errbuf_fail(-EINVAL, err, errlen, "volumes: more than %d", EXPORT_VOLUMES_MAX);
	for (unsigned i = 0; i < m->nvol; i++) {
		const struct export_volume *v = &m->vol[i];

		if (!disk_valid(v->disk))
			return errbuf_fail(-EINVAL, err, errlen, "volumes[%u].disk: not 1..%d of [a-z0-9]", i, EXPORT_DISK_MAX);
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(m->vol[j].disk, v->disk))
				return errbuf_fail(-EINVAL, err, errlen, "volumes[%u].disk: %s twice", i, v->disk);
		if (!printable(v->mount))
			return errbuf_fail(-EINVAL, err, errlen, "volumes[%u].mount: not printable ASCII", i);
		if (!v->capacity || !v->bytes)
			return errbuf_fail(-EINVAL, err, errlen, "volumes[%u]: capacity and bytes must be above 0", i);
		if (!hex_valid(v->sha256, 64))
			return errbuf_fail(-EINVAL, err, errlen, "volumes[%u].%s: not 64 lowercase hex digits", i,
					   hash_key(m));
		if ((ret = check_keys(v, i, err, errlen)))
			return ret;
	}
	return 0;
}

int export_manifest_check(const struct export_manifest *m, char *err, size_t errlen)
{
	if (!guest_type_find(m->type))
		return errbuf_fail(-EINVAL, err, errlen, "type: '%s' is not one of %s", m->type, guest_type_names());
	if (!guest_name_valid(m->name))
		return errbuf_fail(-EINVAL, err, errlen, "name: not a guest name (1..63 of [a-z0-9-])");
	if (!printable(m->owner) || !printable(m->instance_id) || !*m->instance_id ||
	    !printable(m->net_source))
		return errbuf_fail(-EINVAL, err, errlen, "owner, instance_id, net_source: printable ASCII "
				   "(instance_id not empty)");
	if (!mac_valid(m->mac))
		return errbuf_fail(-EINVAL, err, errlen, "mac: not 17 characters xx:xx:xx:xx:xx:xx, lowercase");
	if (!*m->base || !printable(m->base) || strchr(m->base, '/') || !hex_valid(m->base_sha256, 64))
		return errbuf_fail(-EINVAL, err, errlen, "base, base_sha256: a name and 64 lowercase hex digits");
	if (m->vcpus < 1 || m->vcpus > 256 || !m->memory_bytes || !m->disk_bytes)
		return errbuf_fail(-EINVAL, err, errlen, "vcpus (1..256), memory_bytes, disk_bytes: out of range");
	if (!net_valid(m->net))
		return errbuf_fail(-EINVAL, err, errlen, "net: '%s' is not none, network, bridge, user or fabric", m->net);
	if (!name_label_valid(m->node, NODE_NAME_MAX))
		return errbuf_fail(-EINVAL, err, errlen, "node: not a member name");
	if (!m->user_data || strlen(m->user_data) > EXPORT_USER_DATA_MAX)
		return errbuf_fail(-EINVAL, err, errlen, "user_data: missing or above %u bytes", EXPORT_USER_DATA_MAX);
	return check_volumes(m, err, errlen);
}

int export_volume_entry(const struct export_volume *v, char *buf, size_t len)
{
	int n = snprintf(buf, len, "volumes/data-%s.qcow2", v->disk);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

uint64_t export_archive_bound_of(unsigned nvol, uint64_t bytes)
{
	/* each volume: a pax header of its own, ustar's, padding */
	uint64_t n = 2 * 8192 + EXPORT_MANIFEST_MAX + EXPORT_SIG_MAX + 1024 + (uint64_t)nvol * 8192 +
		     1024; /* the format entry */

	return bytes > UINT64_MAX - n ? UINT64_MAX : n + bytes;
}

uint64_t export_archive_bound(const struct export_manifest *m)
{
	uint64_t bytes = 0;

	for (unsigned i = 0; i < m->nvol; i++)
		bytes += m->vol[i].bytes;
	return export_archive_bound_of(m->nvol, bytes);
}

int export_volume_entry_disk(const char *entry, char *disk, size_t len)
{
	static const char pre[] = "volumes/data-", post[] = ".qcow2";
	size_t n = strlen(entry), k;

	if (n <= strlen(pre) + strlen(post) || strncmp(entry, pre, strlen(pre)) ||
	    strcmp(entry + n - strlen(post), post))
		return -EINVAL;
	k = n - strlen(pre) - strlen(post);
	if (k >= len || k > EXPORT_DISK_MAX)
		return -ENAMETOOLONG;
	memcpy(disk, entry + strlen(pre), k);
	disk[k] = '\0';
	return disk_valid(disk) ? 0 : -EINVAL;
}

static json_t *keys_json(const struct export_volume *v)
{
	json_t *a = json_array();
	char b64[KEY_SEAL_B64_MAX];

	for (unsigned k = 0; a && k < v->nkeys; k++) {
		key_seal_b64(v->keys[k].sealed, b64);
		if (json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "recipient", v->keys[k].recipient,
						       "key_id", v->keys[k].key_id, "sealed", b64)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *volumes_json(const struct export_manifest *m)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < m->nvol; i++) {
		const struct export_volume *v = &m->vol[i];

		if (json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:I, s:s, s:b, s:o}", "disk", v->disk,
						       "mount", v->mount, "capacity", (json_int_t)v->capacity,
						       "bytes", (json_int_t)v->bytes, hash_key(m), v->sha256,
						       "encrypted", v->encrypted, "keys", keys_json(v))) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

int export_manifest_encode(const struct export_manifest *m, char **out, size_t *len,
			   char *err, size_t errlen)
{
	json_t *o;
	int ret = export_manifest_check(m, err, errlen);

	if (ret)
		return ret;
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:I, s:s, s:o}",
		      "format", m->version == 1 ? EXPORT_FORMAT_V1 : EXPORT_FORMAT, "type", m->type, "name", m->name, "owner", m->owner,
		      "instance_id", m->instance_id, "mac", m->mac, "base", m->base,
		      "base_sha256", m->base_sha256, "vcpus", (json_int_t)m->vcpus,
		      "memory_bytes", (json_int_t)m->memory_bytes, "disk_bytes", (json_int_t)m->disk_bytes,
		      "net", m->net, "net_source", m->net_source, "node", m->node,
		      "created", (json_int_t)m->created, "user_data", m->user_data,
		      "volumes", volumes_json(m));
	return json_dump_canonical(o, out, len);
}

static int parse_key(const json_t *o, struct export_sealed_key *k, char *err, size_t errlen)
{
	static const char *const keys[] = { "recipient", "key_id", "sealed", NULL };
	char b64[KEY_SEAL_B64_MAX];
	int ret;

	if (!json_is_object(o))
		return errbuf_fail(-EINVAL, err, errlen, "volumes.keys: an entry is not an object");
	if ((ret = json_fields_only(o, keys, "volumes.keys.", err, errlen)) ||
	    (ret = json_field_text(o, "", "recipient", k->recipient, sizeof(k->recipient), err, errlen)) ||
	    (ret = json_field_text(o, "", "key_id", k->key_id, sizeof(k->key_id), err, errlen)) ||
	    (ret = json_field_text(o, "", "sealed", b64, sizeof(b64), err, errlen)))
		return ret;
	if (key_seal_unb64(b64, k->sealed) < 0)
		return errbuf_fail(-EINVAL, err, errlen, "volumes.keys.sealed: not base64 of %d bytes", KEY_SEAL_BYTES);
	return 0;
}

/* Both absent: a plain volume, as archives made before encryption say. */
static int parse_encryption(const json_t *o, struct export_volume *v, char *err, size_t errlen)
{
	const json_t *enc = json_object_get(o, "encrypted"), *keys = json_object_get(o, "keys"), *k;
	size_t i;
	int ret;

	if (enc && !json_is_boolean(enc))
		return errbuf_fail(-EINVAL, err, errlen, "volumes.encrypted: not true or false");
	v->encrypted = json_is_true(enc);
	if (!keys)
		return 0;
	if (!json_is_array(keys) || json_array_size(keys) > EXPORT_RECIPIENTS_MAX)
		return errbuf_fail(-EINVAL, err, errlen, "volumes.keys: not an array of at most %d", EXPORT_RECIPIENTS_MAX);
	json_array_foreach(keys, i, k)
		if ((ret = parse_key(k, &v->keys[i], err, errlen)))
			return ret;
	v->nkeys = (unsigned)json_array_size(keys);
	return 0;
}

static int parse_volume(const json_t *o, const struct export_manifest *m, struct export_volume *v,
			char *err, size_t errlen)
{
	const char *const keys[] = { "disk", "mount", "capacity", "bytes", hash_key(m), "encrypted", "keys",
				     NULL };
	int ret;

	if (!json_is_object(o))
		return errbuf_fail(-EINVAL, err, errlen, "volumes: an entry is not an object");
	if ((ret = json_fields_only(o, keys, "volumes.", err, errlen)) ||
	    (ret = json_field_text(o, "", "disk", v->disk, sizeof(v->disk), err, errlen)) ||
	    (ret = json_field_text(o, "", "mount", v->mount, sizeof(v->mount), err, errlen)) ||
	    (ret = json_field_u64(o, "", "capacity", &v->capacity, err, errlen)) ||
	    (ret = json_field_u64(o, "", "bytes", &v->bytes, err, errlen)) ||
	    (ret = json_field_text(o, "", hash_key(m), v->sha256, sizeof(v->sha256), err, errlen)))
		return ret;
	return parse_encryption(o, v, err, errlen);
}

static int parse_fields(const json_t *o, struct export_manifest *m, char *err, size_t errlen)
{
	char format[32];
	uint64_t vcpus = 0, created = 0;
	int ret;

	if ((ret = json_field_text(o, "", "format", format, sizeof(format), err, errlen)))
		return ret;
	if (!strcmp(format, EXPORT_FORMAT_V1))
		m->version = 1;
	else if (!strcmp(format, EXPORT_FORMAT))
		m->version = 2;
	else
		return errbuf_fail(-EINVAL, err, errlen, "format: '%s', this version reads %s and %s", format,
				   EXPORT_FORMAT, EXPORT_FORMAT_V1);
	if ((ret = json_field_text(o, "", "type", m->type, sizeof(m->type), err, errlen)) ||
	    (ret = json_field_text(o, "", "name", m->name, sizeof(m->name), err, errlen)) ||
	    (ret = json_field_text(o, "", "owner", m->owner, sizeof(m->owner), err, errlen)) ||
	    (ret = json_field_text(o, "", "instance_id", m->instance_id, sizeof(m->instance_id), err, errlen)) ||
	    (ret = json_field_text(o, "", "mac", m->mac, sizeof(m->mac), err, errlen)) ||
	    (ret = json_field_text(o, "", "base", m->base, sizeof(m->base), err, errlen)) ||
	    (ret = json_field_text(o, "", "base_sha256", m->base_sha256, sizeof(m->base_sha256), err, errlen)) ||
	    (ret = json_field_text(o, "", "net", m->net, sizeof(m->net), err, errlen)) ||
	    (ret = json_field_text(o, "", "net_source", m->net_source, sizeof(m->net_source), err, errlen)) ||
	    (ret = json_field_text(o, "", "node", m->node, sizeof(m->node), err, errlen)) ||
	    (ret = json_field_u64(o, "", "vcpus", &vcpus, err, errlen)) ||
	    (ret = json_field_u64(o, "", "memory_bytes", &m->memory_bytes, err, errlen)) ||
	    (ret = json_field_u64(o, "", "disk_bytes", &m->disk_bytes, err, errlen)) ||
	    (ret = json_field_u64(o, "", "created", &created, err, errlen)))
		return ret;
	m->vcpus = vcpus > 256 ? 0 : (unsigned)vcpus;
	m->created = (int64_t)created;
	return 0;
}

static int parse_object(const json_t *o, struct export_manifest *m, char *err, size_t errlen)
{
	static const char *const keys[] = {
		"format", "type", "name", "owner", "instance_id", "mac", "base", "base_sha256", "vcpus",
		"memory_bytes", "disk_bytes", "net", "net_source", "node", "created", "user_data",
		"volumes", NULL,
	};
	const json_t *ud = json_object_get(o, "user_data"), *vols = json_object_get(o, "volumes"), *v;
	size_t i;
	int ret;

	if (!json_is_object(o))
		return errbuf_fail(-EINVAL, err, errlen, "the manifest is not a JSON object");
	if ((ret = json_fields_only(o, keys, "", err, errlen)) || (ret = parse_fields(o, m, err, errlen)))
		return ret;
	if (!json_is_string(ud) || json_string_length(ud) != strlen(json_string_value(ud)) ||
	    json_string_length(ud) > EXPORT_USER_DATA_MAX)
		return errbuf_fail(-EINVAL, err, errlen, "user_data: missing, not a string, or above %u bytes",
			    EXPORT_USER_DATA_MAX);
	if (!json_is_array(vols) || json_array_size(vols) > EXPORT_VOLUMES_MAX)
		return errbuf_fail(-EINVAL, err, errlen, "volumes: not an array of at most %d", EXPORT_VOLUMES_MAX);
	json_array_foreach(vols, i, v)
		if ((ret = parse_volume(v, m, &m->vol[i], err, errlen)))
			return ret;
	m->nvol = (unsigned)json_array_size(vols);
	m->user_data = strdup(json_string_value(ud));
	return m->user_data ? 0 : -ENOMEM;
}

int export_manifest_parse(const char *text, size_t len, struct export_manifest *m,
			  char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o;
	int ret;

	memset(m, 0, sizeof(*m));
	if (len > EXPORT_MANIFEST_MAX)
		return errbuf_fail(-EINVAL, err, errlen, "the manifest is above %u bytes", EXPORT_MANIFEST_MAX);
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return errbuf_fail(-EINVAL, err, errlen, "the manifest is not JSON: %s (line %d)", jerr.text, jerr.line);
	ret = parse_object(o, m, err, errlen);
	json_decref(o);
	if (!ret)
		ret = export_manifest_check(m, err, errlen);
	if (ret)
		export_manifest_free(m);
	return ret;
}

static const struct detached_sig_kind export_sig_kind = {
	EXPORT_SIG_FORMAT, EXPORT_SIG_DOMAIN, EXPORT_MANIFEST_MAX, "signature entry",
};

int export_sign(const struct identity *id, const char *manifest, size_t len, char **out,
		size_t *outlen)
{
	return detached_sig_sign(&export_sig_kind, id, manifest, len, out, outlen);
}

int export_sig_parse(const char *text, size_t len, struct export_sig *s, char *err, size_t errlen)
{
	return detached_sig_parse(&export_sig_kind, text, len, s, err, errlen);
}

bool export_sig_valid(const struct export_sig *s, const char *manifest, size_t len)
{
	return detached_sig_valid(&export_sig_kind, s, manifest, len);
}

static uint64_t be64_at(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

const char *export_volume_header_check(const uint8_t *b, size_t n)
{
	uint64_t version;

	if (n < 72 || memcmp(b, "QFI\xfb", 4))
		return "not a qcow2 volume";
	version = be64_at(b + 4) >> 32;
	if (version != 2 && version != 3)
		return "an unknown qcow2 version";
	if (be64_at(b + 8) != 0)
		return "a qcow2 volume with a backing file (it would show the guest a file of the host)";
	if (version == 3 && (n < EXPORT_QCOW2_HEAD || (be64_at(b + 72) & (1u << 2))))
		return n < EXPORT_QCOW2_HEAD ? "a cut qcow2 header"
		       : "a qcow2 volume with an external data file";
	return NULL;
}
