/* A backup's manifest and its signature (lib/backup-manifest.h). */
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/backup-manifest.h"
#include "lib/errbuf.h"
#include "lib/guest-types.h"
#include "lib/json-fields.h"
#include "lib/names.h"

static bool all_of(const char *s, size_t n, const char *set)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!s[i] || !strchr(set, s[i]))
			return false;
	return true;
}

bool backup_id_valid(const char *t)
{
	static const char digits[] = "0123456789";

	return strlen(t) == BACKUP_ID_LEN && t[8] == 'T' && t[15] == 'Z' &&
	       all_of((char[]){ t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], 0 }, 8, digits) &&
	       all_of((char[]){ t[9], t[10], t[11], t[12], t[13], t[14], 0 }, 6, digits);
}

void backup_id_format(int64_t unix_seconds, char out[BACKUP_ID_LEN + 1])
{
	time_t t = (time_t)unix_seconds;
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, BACKUP_ID_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) != BACKUP_ID_LEN)
		snprintf(out, BACKUP_ID_LEN + 1, "19700101T000000Z");
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

static int check_volumes(const struct backup_manifest *m, char *err, size_t errlen)
{
	static const char disk_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";

	if (m->nvol < 1 || m->nvol > EXPORT_VOLUMES_MAX)
		return errbuf_fail(-EINVAL, err, errlen, "volumes: 1 to %d", EXPORT_VOLUMES_MAX);
	for (unsigned i = 0; i < m->nvol; i++) {
		const struct backup_volume *v = &m->vol[i];
		size_t n = strlen(v->disk);

		if (n < 1 || n > EXPORT_DISK_MAX || !all_of(v->disk, n, disk_chars))
			return errbuf_fail(-EINVAL, err, errlen, "volumes[%u].disk: not 1..%d of [a-z0-9]", i, EXPORT_DISK_MAX);
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(m->vol[j].disk, v->disk))
				return errbuf_fail(-EINVAL, err, errlen, "volumes[%u].disk: %s twice", i, v->disk);
		if (!v->capacity || !v->bytes)
			return errbuf_fail(-EINVAL, err, errlen, "volumes[%u]: capacity and bytes must be above 0", i);
		if (!all_of(v->sha256, 64, "0123456789abcdef"))
			return errbuf_fail(-EINVAL, err, errlen, "volumes[%u].sha256: not 64 lowercase hex digits", i);
	}
	return 0;
}

int backup_manifest_check(const struct backup_manifest *m, char *err, size_t errlen)
{
	char cp[EXPORT_TEXT_MAX];

	if (!backup_id_valid(m->id))
		return errbuf_fail(-EINVAL, err, errlen, "id: not YYYYMMDDTHHMMSSZ");
	if (!guest_name_valid(m->guest))
		return errbuf_fail(-EINVAL, err, errlen, "guest: not a guest name (1..63 of [a-z0-9-])");
	if (!*m->instance_id || !printable(m->instance_id))
		return errbuf_fail(-EINVAL, err, errlen, "instance_id: printable ASCII, not empty");
	if (!name_label_valid(m->node, NODE_NAME_MAX))
		return errbuf_fail(-EINVAL, err, errlen, "node: not a member name");
	if (m->incremental ? !backup_id_valid(m->parent) || strcmp(m->parent, m->id) >= 0 : *m->parent)
		return errbuf_fail(-EINVAL, err, errlen, "parent: an earlier backup's id for an incremental, else empty");
	snprintf(cp, sizeof(cp), BACKUP_CHECKPOINT_PREFIX "%s", m->id);
	if (*m->checkpoint && strcmp(m->checkpoint, cp))
		return errbuf_fail(-EINVAL, err, errlen, "checkpoint: %s or empty", cp);
	if (m->created < 0)
		return errbuf_fail(-EINVAL, err, errlen, "created: negative");
	return check_volumes(m, err, errlen);
}

int backup_file_name(const char *id, const char *what, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.%s", id, what);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int backup_volume_file(const char *id, const char *disk, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.%s.qcow2", id, disk);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static json_t *volumes_json(const struct backup_manifest *m)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < m->nvol; i++) {
		const struct backup_volume *v = &m->vol[i];

		if (json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:s}", "disk", v->disk,
						       "capacity", (json_int_t)v->capacity,
						       "bytes", (json_int_t)v->bytes, "sha256", v->sha256)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

int backup_manifest_encode(const struct backup_manifest *m, char **out, size_t *len,
			   char *err, size_t errlen)
{
	json_t *o;
	int ret = backup_manifest_check(m, err, errlen);

	if (ret)
		return ret;
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:o}", "format", BACKUP_FORMAT,
		      "id", m->id, "guest", m->guest, "instance_id", m->instance_id, "node", m->node,
		      "kind", m->incremental ? "incremental" : "full", "parent", m->parent,
		      "checkpoint", m->checkpoint, "created", (json_int_t)m->created,
		      "volumes", volumes_json(m));
	return json_dump_canonical(o, out, len);
}

static int parse_volume(const json_t *o, struct backup_volume *v, char *err, size_t errlen)
{
	static const char *const keys[] = { "disk", "capacity", "bytes", "sha256", NULL };
	int ret;

	if (!json_is_object(o))
		return errbuf_fail(-EINVAL, err, errlen, "volumes: an entry is not an object");
	if ((ret = json_fields_exact(o, keys, "volumes.", err, errlen)) ||
	    (ret = json_field_text(o, "", "disk", v->disk, sizeof(v->disk), err, errlen)) ||
	    (ret = json_field_u64(o, "", "capacity", &v->capacity, err, errlen)) ||
	    (ret = json_field_u64(o, "", "bytes", &v->bytes, err, errlen)))
		return ret;
	return json_field_text(o, "", "sha256", v->sha256, sizeof(v->sha256), err, errlen);
}

static int parse_object(const json_t *o, struct backup_manifest *m, char *err, size_t errlen)
{
	static const char *const keys[] = {
		"format", "id", "guest", "instance_id", "node", "kind", "parent", "checkpoint",
		"created", "volumes", NULL,
	};
	const json_t *vols = json_object_get(o, "volumes"), *v;
	char format[32], kind[16];
	uint64_t created;
	size_t i;
	int ret;

	if (!json_is_object(o))
		return errbuf_fail(-EINVAL, err, errlen, "the manifest is not a JSON object");
	if ((ret = json_fields_exact(o, keys, "", err, errlen)) ||
	    (ret = json_field_text(o, "", "format", format, sizeof(format), err, errlen)))
		return ret;
	if (strcmp(format, BACKUP_FORMAT))
		return errbuf_fail(-EINVAL, err, errlen, "format: '%s', this version reads %s", format, BACKUP_FORMAT);
	if ((ret = json_field_text(o, "", "id", m->id, sizeof(m->id), err, errlen)) ||
	    (ret = json_field_text(o, "", "guest", m->guest, sizeof(m->guest), err, errlen)) ||
	    (ret = json_field_text(o, "", "instance_id", m->instance_id, sizeof(m->instance_id), err, errlen)) ||
	    (ret = json_field_text(o, "", "node", m->node, sizeof(m->node), err, errlen)) ||
	    (ret = json_field_text(o, "", "kind", kind, sizeof(kind), err, errlen)) ||
	    (ret = json_field_text(o, "", "parent", m->parent, sizeof(m->parent), err, errlen)) ||
	    (ret = json_field_text(o, "", "checkpoint", m->checkpoint, sizeof(m->checkpoint), err, errlen)) ||
	    (ret = json_field_u64(o, "", "created", &created, err, errlen)))
		return ret;
	if (strcmp(kind, "full") && strcmp(kind, "incremental"))
		return errbuf_fail(-EINVAL, err, errlen, "kind: '%s' is not full or incremental", kind);
	m->incremental = !strcmp(kind, "incremental");
	m->created = created > INT64_MAX ? -1 : (int64_t)created;
	if (!json_is_array(vols) || json_array_size(vols) > EXPORT_VOLUMES_MAX)
		return errbuf_fail(-EINVAL, err, errlen, "volumes: not an array of at most %d", EXPORT_VOLUMES_MAX);
	json_array_foreach(vols, i, v)
		if ((ret = parse_volume(v, &m->vol[i], err, errlen)))
			return ret;
	m->nvol = (unsigned)json_array_size(vols);
	return 0;
}

int backup_manifest_parse(const char *text, size_t len, struct backup_manifest *m,
			  char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *o;
	int ret;

	memset(m, 0, sizeof(*m));
	if (len > BACKUP_MANIFEST_MAX)
		return errbuf_fail(-EINVAL, err, errlen, "the manifest is above %u bytes", BACKUP_MANIFEST_MAX);
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return errbuf_fail(-EINVAL, err, errlen, "the manifest is not JSON: %s (line %d)", jerr.text, jerr.line);
	ret = parse_object(o, m, err, errlen);
	json_decref(o);
	return ret ? ret : backup_manifest_check(m, err, errlen);
}

static const struct detached_sig_kind backup_sig_kind = {
	BACKUP_SIG_FORMAT, BACKUP_SIG_DOMAIN, BACKUP_MANIFEST_MAX, "signature",
};

int backup_sign(const struct identity *id, const char *manifest, size_t len, char **out,
		size_t *outlen)
{
	return detached_sig_sign(&backup_sig_kind, id, manifest, len, out, outlen);
}

int backup_sig_parse(const char *text, size_t len, struct export_sig *s, char *err, size_t errlen)
{
	return detached_sig_parse(&backup_sig_kind, text, len, s, err, errlen);
}

bool backup_sig_valid(const struct export_sig *s, const char *manifest, size_t len)
{
	return detached_sig_valid(&backup_sig_kind, s, manifest, len);
}
