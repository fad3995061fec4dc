/* The keys of encrypted volumes in an export (virt/virt-export.h): opened
 * from the node's sealed copy with the node identity, sealed again to each
 * recipient; at import, opened with the importing member's identity. The
 * key is in memory only between those two steps, and zeroed after. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "lib/key-seal.h"
#include "virt/virt-export.h"
#include "virt/virt-internal.h"

static int seal_all(struct virt_host *h, const struct export_source *src, const uint8_t *key,
		    struct export_volume *v)
{
	for (unsigned i = 0; i < src->nrecipients; i++) {
		const struct export_recipient *r = &src->recipients[i];
		struct export_sealed_key *k = &v->keys[i];

		if (key_seal_ed25519(r->sign_pk, key, k->sealed) < 0)
			return virt_fail(h, -EINVAL, "recipient %s: its key is not a usable Ed25519 key",
					 r->name);
		snprintf(k->recipient, sizeof(k->recipient), "%s", r->name);
		key_seal_id(r->sign_pk, k->key_id);
	}
	v->nkeys = src->nrecipients;
	return 0;
}

int export_keys_seal(struct virt_host *h, const char *vol, const struct export_source *src,
		     struct export_volume *v)
{
	uint8_t key[KEY_SEAL_KEY_BYTES];
	char uuid[VIRT_UUID_LEN];
	int ret;

	virt_secret_of(h, vol, uuid);
	if (!uuid[0])
		return 0;
	v->encrypted = true;
	if (!src->nrecipients)
		return virt_fail(h, -EPERM, "data volume %s is encrypted: name who may open it with "
				 "--recipient ADMIN (its key is sealed to each, never written in clear)",
				 v->disk);
	if (src->nrecipients > EXPORT_RECIPIENTS_MAX)
		return virt_fail(h, -EINVAL, "at most %d recipients", EXPORT_RECIPIENTS_MAX);
	if (!src->signer)
		return virt_fail(h, -ENOKEY, "data volume %s is encrypted and no node identity opens "
				 "its key here", v->disk);
	if ((ret = virt_secret_key(h, uuid, src->signer, key)) < 0)
		return ret;
	ret = seal_all(h, src, key, v);
	sodium_memzero(key, sizeof(key));
	return ret;
}

int export_keys_open(struct virt_host *h, const struct identity *id, const char *guest,
		     const struct export_volume *v, uint8_t key[KEY_SEAL_KEY_BYTES])
{
	char kid[KEY_SEAL_ID_HEX + 1], who[EXPORT_RECIPIENTS_MAX * (NODE_NAME_MAX + KEY_SEAL_ID_HEX + 16)] = "";
	size_t n = 0;

	sodium_memzero(key, KEY_SEAL_KEY_BYTES);
	if (!id)
		return virt_fail(h, -EPERM, "%s's data volume %s is encrypted and no identity was "
				 "given to open its key", guest, v->disk);
	key_seal_id(id->sign_pk, kid);
	for (unsigned i = 0; i < v->nkeys; i++) {
		const struct export_sealed_key *k = &v->keys[i];

		if (!strcmp(k->recipient, id->name) && !strcmp(k->key_id, kid))
			return key_unseal(id, k->sealed, sizeof(k->sealed), key) == 0 ? 0
			       : virt_fail(h, -EPERM, "%s's data volume %s: the key sealed to %s does "
					   "not open with this identity", guest, v->disk, id->name);
		n += (size_t)snprintf(who + n, sizeof(who) - n, "%s%s (key id %s)", i ? ", " : "",
				      k->recipient, k->key_id);
	}
	return virt_fail(h, -EPERM, "%s's data volume %s is encrypted to %s; this member, %s with key "
			 "id %s, is not a recipient: import it where a recipient's identity is, or "
			 "export again with --recipient %s", guest, v->disk, who, id->name, kid, id->name);
}
