/* The keys of an encrypted backup chain (lib/backup-keys.h). */
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/backup-keys.h"
#include "lib/detached-sig.h"
#include "lib/errbuf.h"
#include "lib/guest-types.h"
#include "lib/json-fields.h"
#include "lib/names.h"

static const struct detached_sig_kind keys_sig_kind = {
	BACKUP_KEYS_SIG_FORMAT, BACKUP_KEYS_SIG_DOMAIN, BACKUP_KEYS_MAX, "keys' signature",
};

static bool hex_of(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (; *s; s++)
		if (!strchr("0123456789abcdef", *s))
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

static int check_volumes(const struct backup_keys *k, char *err, size_t errlen)
{
	if (k->nvol < 1 || k->nvol > EXPORT_VOLUMES_MAX)
		return errbuf_fail(-EINVAL, err, errlen, "volumes: 1 to %d", EXPORT_VOLUMES_MAX);
	for (unsigned i = 0; i < k->nvol; i++) {
		const char *d = k->vol[i].disk;
		size_t n = strlen(d);

		if (n < 1 || n > EXPORT_DISK_MAX || strspn(d, "abcdefghijklmnopqrstuvwxyz0123456789") != n)
			return errbuf_fail(-EINVAL, err, errlen, "volumes[%u].disk: not 1..%d of [a-z0-9]",
					   i, EXPORT_DISK_MAX);
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(k->vol[j].disk, d))
				return errbuf_fail(-EINVAL, err, errlen, "volumes[%u].disk: %s twice", i, d);
		if (!hex_of(k->vol[i].sha256, 64))
			return errbuf_fail(-EINVAL, err, errlen, "volumes[%u].sha256: not 64 lowercase hex "
					   "digits", i);
	}
	return 0;
}

int backup_keys_check(const struct backup_keys *k, char *err, size_t errlen)
{
	if (!backup_id_valid(k->backup))
		return errbuf_fail(-EINVAL, err, errlen, "backup: not YYYYMMDDTHHMMSSZ");
	if (!guest_name_valid(k->guest))
		return errbuf_fail(-EINVAL, err, errlen, "guest: not a guest name");
	if (!*k->instance_id || !printable(k->instance_id))
		return errbuf_fail(-EINVAL, err, errlen, "instance_id: printable ASCII, not empty");
	if (!k->local && (!name_label_valid(k->node, NODE_NAME_MAX) ||
			  !name_label_valid(k->recipient, NODE_NAME_MAX)))
		return errbuf_fail(-EINVAL, err, errlen, "node, recipient: not member names");
	if (!k->local && !hex_of(k->key_id, KEY_SEAL_ID_HEX))
		return errbuf_fail(-EINVAL, err, errlen, "key_id: not %d lowercase hex digits",
				   KEY_SEAL_ID_HEX);
	return check_volumes(k, err, errlen);
}

static json_t *volumes_json(const struct backup_keys *k)
{
	json_t *a = json_array();
	char b64[KEY_SEAL_B64_MAX];

	for (unsigned i = 0; a && i < k->nvol; i++) {
		key_seal_b64(k->vol[i].sealed, b64);
		if (json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "disk", k->vol[i].disk,
						       "sha256", k->vol[i].sha256, "sealed", b64)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

int backup_keys_encode(const struct backup_keys *k, char **out, size_t *len, char *err,
		       size_t errlen)
{
	int ret = backup_keys_check(k, err, errlen);
	json_t *o;

	*out = NULL;
	if (ret)
		return ret;
	o = json_pack("{s:s, s:s, s:s, s:s, s:o}", "format", k->local ? BACKUP_KEYS_LOCAL_FORMAT :
		      BACKUP_KEYS_FORMAT, "backup", k->backup, "guest", k->guest, "instance_id",
		      k->instance_id, "volumes", volumes_json(k));
	if (o && !k->local &&
	    (json_object_set_new(o, "node", json_string(k->node)) < 0 ||
	     json_object_set_new(o, "recipient", json_string(k->recipient)) < 0 ||
	     json_object_set_new(o, "key_id", json_string(k->key_id)) < 0)) {
		json_decref(o);
		o = NULL;
	}
	return json_dump_canonical(o, out, len);
}

static int parse_volume(const json_t *o, struct backup_key *v, char *err, size_t errlen)
{
	static const char *const keys[] = { "disk", "sha256", "sealed", NULL };
	char b64[KEY_SEAL_B64_MAX];
	int ret;

	if (!json_is_object(o))
		return errbuf_fail(-EINVAL, err, errlen, "volumes: an entry is not an object");
	if ((ret = json_fields_exact(o, keys, "volumes.", err, errlen)) ||
	    (ret = json_field_text(o, "volumes.", "disk", v->disk, sizeof(v->disk), err, errlen)) ||
	    (ret = json_field_text(o, "volumes.", "sha256", v->sha256, sizeof(v->sha256), err, errlen)) ||
	    (ret = json_field_text(o, "volumes.", "sealed", b64, sizeof(b64), err, errlen)))
		return ret;
	if (key_seal_unb64(b64, v->sealed) < 0)
		return errbuf_fail(-EINVAL, err, errlen, "volumes.sealed: not the base64 of %d bytes",
				   KEY_SEAL_BYTES);
	return 0;
}

static int parse_object(const json_t *o, struct backup_keys *k, char *err, size_t errlen)
{
	static const char *const carried[] = { "format", "backup", "guest", "instance_id", "node",
					       "recipient", "key_id", "volumes", NULL };
	static const char *const local[] = { "format", "backup", "guest", "instance_id", "volumes",
					     NULL };
	const json_t *vols = json_object_get(o, "volumes"), *v;
	char format[32];
	size_t i;
	int ret;

	if (!json_is_object(o))
		return errbuf_fail(-EINVAL, err, errlen, "the keys are not a JSON object");
	if ((ret = json_field_text(o, "", "format", format, sizeof(format), err, errlen)))
		return ret;
	k->local = !strcmp(format, BACKUP_KEYS_LOCAL_FORMAT);
	if (!k->local && strcmp(format, BACKUP_KEYS_FORMAT))
		return errbuf_fail(-EINVAL, err, errlen, "format: '%s', this version reads %s", format,
				   BACKUP_KEYS_FORMAT);
	if ((ret = json_fields_exact(o, k->local ? local : carried, "", err, errlen)) ||
	    (ret = json_field_text(o, "", "backup", k->backup, sizeof(k->backup), err, errlen)) ||
	    (ret = json_field_text(o, "", "guest", k->guest, sizeof(k->guest), err, errlen)) ||
	    (ret = json_field_text(o, "", "instance_id", k->instance_id, sizeof(k->instance_id), err,
				   errlen)))
		return ret;
	if (!k->local &&
	    ((ret = json_field_text(o, "", "node", k->node, sizeof(k->node), err, errlen)) ||
	     (ret = json_field_text(o, "", "recipient", k->recipient, sizeof(k->recipient), err, errlen)) ||
	     (ret = json_field_text(o, "", "key_id", k->key_id, sizeof(k->key_id), err, errlen))))
		return ret;
	if (!json_is_array(vols) || json_array_size(vols) > EXPORT_VOLUMES_MAX)
		return errbuf_fail(-EINVAL, err, errlen, "volumes: not an array of at most %d",
				   EXPORT_VOLUMES_MAX);
	json_array_foreach(vols, i, v)
		if ((ret = parse_volume(v, &k->vol[i], err, errlen)))
			return ret;
	k->nvol = (unsigned)json_array_size(vols);
	return 0;
}

int backup_keys_parse(const char *text, size_t len, struct backup_keys *k, char *err,
		      size_t errlen)
{
	json_error_t jerr;
	json_t *o;
	int ret;

	memset(k, 0, sizeof(*k));
	if (len > BACKUP_KEYS_MAX)
		return errbuf_fail(-EINVAL, err, errlen, "the keys are above %u bytes", BACKUP_KEYS_MAX);
	if (!(o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)))
		return errbuf_fail(-EINVAL, err, errlen, "the keys are not JSON: %s", jerr.text);
	ret = parse_object(o, k, err, errlen);
	json_decref(o);
	return ret ? ret : backup_keys_check(k, err, errlen);
}

int backup_keys_sign(const struct identity *id, const struct backup_keys *k, char **out,
		     size_t *len, char *err, size_t errlen)
{
	char *body = NULL, *sig = NULL;
	size_t blen, slen;
	int ret;

	*out = NULL;
	if (k->local)
		return errbuf_fail(-EINVAL, err, errlen, "the kept form is not signed");
	if ((ret = backup_keys_encode(k, &body, &blen, err, errlen)) < 0)
		return ret;
	if ((ret = detached_sig_sign(&keys_sig_kind, id, body, blen, &sig, &slen)) == 0 &&
	    (slen + 1 + blen > BACKUP_KEYS_MAX || asprintf(out, "%s\n%s", sig, body) < 0)) {
		*out = NULL;
		ret = errbuf_fail(-ENOMEM, err, errlen, "the keys do not fit %u bytes", BACKUP_KEYS_MAX);
	}
	if (*out)
		*len = slen + 1 + blen;
	free(body);
	free(sig);
	return ret;
}

int backup_keys_verify(const char *text, size_t len, struct backup_keys *k, struct export_sig *s,
		       char *err, size_t errlen)
{
	const char *nl = len <= BACKUP_KEYS_MAX ? memchr(text, '\n', len) : NULL;
	char why[200];

	memset(k, 0, sizeof(*k));
	if (!nl)
		return errbuf_fail(-EBADMSG, err, errlen, "the keys are not a signature line and a body");
	if (detached_sig_parse(&keys_sig_kind, text, (size_t)(nl - text), s, why, sizeof(why)) < 0 ||
	    backup_keys_parse(nl + 1, len - (size_t)(nl - text) - 1, k, why, sizeof(why)) < 0)
		return errbuf_fail(-EBADMSG, err, errlen, "the keys: %s", why);
	if (k->local)
		return errbuf_fail(-EBADMSG, err, errlen, "the keys: the kept form, not a carried one");
	if (!detached_sig_valid(&keys_sig_kind, s, nl + 1, len - (size_t)(nl - text) - 1))
		return errbuf_fail(-EBADMSG, err, errlen, "the keys' signature does not match them");
	if (strcmp(s->signer, k->node))
		return errbuf_fail(-EBADMSG, err, errlen, "the keys are signed by %s, not their node %s",
				   s->signer, k->node);
	return 0;
}

int backup_keys_find(const struct backup_keys *k, const char *disk)
{
	for (unsigned i = 0; i < k->nvol; i++)
		if (!strcmp(k->vol[i].disk, disk))
			return (int)i;
	return -1;
}

int backup_keys_add(struct backup_keys *k, const struct backup_key *v)
{
	if (backup_keys_find(k, v->disk) >= 0)
		return -EEXIST;
	if (k->nvol >= EXPORT_VOLUMES_MAX)
		return -ENOSPC;
	k->vol[k->nvol++] = *v;
	return 0;
}

int backup_keys_match(const struct backup_keys *k, const struct backup_manifest *top,
		      const struct backup_manifest *full, char *err, size_t errlen)
{
	if (strcmp(k->guest, top->guest) || strcmp(k->instance_id, top->instance_id))
		return errbuf_fail(-EBADMSG, err, errlen, "the keys are of guest %s (%s), the chain of %s "
				   "(%s)", k->guest, k->instance_id, top->guest, top->instance_id);
	if (strcmp(k->backup, k->local ? full->id : top->id))
		return errbuf_fail(-EBADMSG, err, errlen, "the keys are for backup %s, not %s", k->backup,
				   k->local ? full->id : top->id);
	for (unsigned i = 0; i < k->nvol; i++) {
		unsigned j = 0;

		while (j < full->nvol && strcmp(full->vol[j].disk, k->vol[i].disk))
			j++;
		if (j == full->nvol)
			return errbuf_fail(-EBADMSG, err, errlen, "the keys name volume %s, which backup %s "
					   "has not", k->vol[i].disk, full->id);
		if (strcmp(full->vol[j].sha256, k->vol[i].sha256))
			return errbuf_fail(-EBADMSG, err, errlen, "the key of volume %s is for another file "
					   "than backup %s's", k->vol[i].disk, full->id);
	}
	return 0;
}

int backup_keys_reseal(const struct backup_keys *k, const char *full_id, const struct identity *self,
		       const uint8_t seal_pk[32], struct backup_keys *out, char *err, size_t errlen)
{
	uint8_t key[KEY_SEAL_KEY_BYTES];
	char kid[KEY_SEAL_ID_HEX + 1];
	int ret = 0;

	key_seal_id(self->sign_pk, kid);
	if (!backup_id_valid(full_id))
		return errbuf_fail(-EINVAL, err, errlen, "not a backup id");
	if (k->local || strcmp(k->recipient, self->name) || strcmp(k->key_id, kid))
		return errbuf_fail(-EPERM, err, errlen, "the keys are sealed to %s (key id %s), this node "
				   "is %s (key id %s)", k->recipient, k->key_id, self->name, kid);
	*out = *k;
	out->local = true;
	memcpy(out->backup, full_id, sizeof(out->backup));
	out->node[0] = out->recipient[0] = out->key_id[0] = '\0';
	for (unsigned i = 0; i < k->nvol && !ret; i++) {
		if (key_unseal(self, k->vol[i].sealed, KEY_SEAL_BYTES, key) < 0)
			ret = errbuf_fail(-EPERM, err, errlen, "the key of volume %s does not open with this "
					  "node's identity", k->vol[i].disk);
		else if (key_seal_x25519(seal_pk, key, out->vol[i].sealed) < 0)
			ret = errbuf_fail(-EINVAL, err, errlen, "cannot seal the key of %s here",
					  k->vol[i].disk);
	}
	sodium_memzero(key, sizeof(key));
	return ret;
}

int backup_keys_kept_open(const struct backup_keys *k, const char *disk, const uint8_t seal_pk[32],
			  const uint8_t seal_sk[32], uint8_t key[KEY_SEAL_KEY_BYTES])
{
	int i = backup_keys_find(k, disk);

	sodium_memzero(key, KEY_SEAL_KEY_BYTES);
	if (!k->local)
		return -EINVAL;
	if (i < 0)
		return -ENOENT;
	if (crypto_box_seal_open(key, k->vol[i].sealed, KEY_SEAL_BYTES, seal_pk, seal_sk) < 0) {
		sodium_memzero(key, KEY_SEAL_KEY_BYTES);
		return -EPERM;
	}
	return 0;
}
