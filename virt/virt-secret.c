/* The keys of encrypted data volumes: one private, persistent libvirt
 * secret per volume, its usage the volume's path, its value 32 random bytes
 * made here, in hex (libvirt wants UTF-8; QEMU takes the hex text as the
 * LUKS passphrase). A private secret's value never comes back out of
 * libvirt, so the key is also kept sealed to the node's seal key (root's
 * alone, lib/seal-key.h) in the secret's description, which libvirt shows
 * to read-only clients too: export, move and restore open that copy with
 * the seal key and seal it again to whoever receives it. Not to the node
 * identity, which the unprivileged agent holds. */
#include <errno.h>
#include <libvirt/virterror.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/identity.h"
#include "lib/key-seal.h"
#include "lib/log.h"
#include "lib/seal-key.h"
#include "virt/virt-internal.h"

#define SEAL_TAG "osi-seal-v1 "

/* sealed_b64 NULL: the key is kept in libvirt only. */
int virt_xml_secret(const char *vol_path, const char *sealed_b64, char **out)
{
	struct vbuf b = { 0 };

	vbuf_printf(&b, "<secret ephemeral='no' private='yes'>\n  <description>");
	if (sealed_b64)
		vbuf_printf(&b, SEAL_TAG "%s ", sealed_b64);
	vbuf_printf(&b, "data volume ");
	vbuf_xml(&b, vol_path);
	vbuf_printf(&b, "</description>\n  <usage type='volume'>\n    <volume>");
	vbuf_xml(&b, vol_path);
	vbuf_printf(&b, "</volume>\n  </usage>\n</secret>\n");
	return vbuf_take(&b, out);
}

/* The sealed copy in a secret's XML: -ENOKEY when it has none. */
int virt_xml_secret_sealed(const char *xml, uint8_t sealed[KEY_SEAL_BYTES])
{
	const char *d = strstr(xml, "<description>" SEAL_TAG), *p;
	char b64[KEY_SEAL_B64_MAX];
	size_t n;

	if (!d)
		return -ENOKEY;
	p = d + strlen("<description>" SEAL_TAG);
	n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");
	if (n >= sizeof(b64))
		return -EBADMSG;
	memcpy(b64, p, n);
	b64[n] = '\0';
	return key_seal_unb64(b64, sealed);
}

/* The uuid of <encryption format='luks'><secret ... uuid='U'/> in a
 * volume's or disk's XML; -ENOENT when the volume is plain. */
int virt_xml_luks_uuid(const char *xml, char uuid[VIRT_UUID_LEN])
{
	const char *e = strstr(xml, "<encryption format='luks'"), *s, *u, *end;

	if (!e)
		e = strstr(xml, "<encryption format=\"luks\"");
	if (!e)
		return -ENOENT;
	end = strstr(e, "</encryption>");
	s = strstr(e, "<secret ");
	if (!end || !s || s > end || !(u = strstr(s, "uuid=")) || u > end)
		return -EINVAL;
	u += 6;
	if (strspn(u, "0123456789abcdef-") != VIRT_UUID_LEN - 1)
		return -EINVAL;
	memcpy(uuid, u, VIRT_UUID_LEN - 1);
	uuid[VIRT_UUID_LEN - 1] = '\0';
	return 0;
}

/* A new volume is made only where none is, so a secret still named for its
 * path outlived its volume (removed behind libvirt's back, or by a restore
 * that did not finish). Its key may still open backups made under it, so
 * it is never dropped here: a fresh volume takes it over (LUKS wraps a new
 * master key with it); an import, which brings its own key, is refused. */
static int stale_secret(struct virt_host *h, const char *vol_path, const uint8_t *key_in,
			char uuid[VIRT_UUID_LEN])
{
	virSecretPtr sec = virSecretLookupByUsage(h->conn, VIR_SECRET_USAGE_TYPE_VOLUME, vol_path);
	int ok;

	if (!sec)
		return 0;
	ok = virSecretGetUUIDString(sec, uuid) == 0 ||
	     virt_fail_lv(h, -EIO, "the secret of %s", vol_path) == 0; /* before the free clears it */
	virSecretFree(sec);
	if (!ok)
		return -EIO;
	if (key_in)
		return virt_fail(h, -EEXIST, "libvirt secret %s for %s remains from an earlier volume "
				 "(backups made under it need it): if none does, remove it (virsh "
				 "secret-undefine %s) and import again", uuid, vol_path, uuid);
	log_warn("data volume %s takes over secret %s, left by an earlier volume at that path "
		 "(backups made under it stay readable)", vol_path, uuid);
	return 1;
}

int virt_secret_xml_sealed(struct virt_host *h, const char *vol_path,
			   const uint8_t key[KEY_SEAL_KEY_BYTES], char **xml)
{
	uint8_t sealed[KEY_SEAL_BYTES];
	char b64[KEY_SEAL_B64_MAX];
	bool seal = h->seal_key[0];
	struct seal_key sk;
	int ret;

	if (seal && (ret = seal_key_load(h->seal_key, 1, &sk)) < 0)
		return virt_fail(h, ret, "seal key %s: %s (it must be root's, mode 0600, in a "
				 "directory only root may change)", h->seal_key, strerror(-ret));
	if (seal) {
		ret = key_seal_x25519(sk.pk, key, sealed);
		seal_key_wipe(&sk);
		if (ret < 0)
			return virt_fail(h, ret, "cannot seal the key of %s", vol_path);
		key_seal_b64(sealed, b64);
	} else {
		log_warn("data volume %s: no seal key configured, so its key can be opened here "
			 "only (export, move and restore will refuse it)", vol_path);
	}
	if ((ret = virt_xml_secret(vol_path, seal ? b64 : NULL, xml)) < 0)
		return virt_fail(h, ret, "secret XML: %s", strerror(-ret));
	return 0;
}

static int define_secret(struct virt_host *h, const char *vol_path, const uint8_t key[KEY_SEAL_KEY_BYTES],
			 virSecretPtr *out)
{
	char *xml = NULL;
	int ret;

	if ((ret = virt_secret_xml_sealed(h, vol_path, key, &xml)) < 0)
		return ret;
	*out = virSecretDefineXML(h->conn, xml, 0);
	free(xml);
	if (!*out) {
		virErrorPtr e = virGetLastError();

		if (e && e->code == VIR_ERR_NO_SUPPORT)
			return -EOPNOTSUPP;
		return virt_fail_lv(h, -EIO, "cannot define the secret of %s", vol_path);
	}
	return 0;
}

/* key NULL: a fresh random key. 0 when made, 1 when an earlier volume's
 * secret for this path was taken over (not to be dropped on failure),
 * -EOPNOTSUPP when the connection has no secret driver (test:///). */
int virt_secret_make(struct virt_host *h, const char *vol_path, const uint8_t *key_in,
		     char uuid[VIRT_UUID_LEN])
{
	uint8_t key[KEY_SEAL_KEY_BYTES];
	char hex[2 * KEY_SEAL_KEY_BYTES + 1];
	virSecretPtr sec = NULL;
	int ret = stale_secret(h, vol_path, key_in, uuid);

	if (ret)
		return ret;
	if (key_in)
		memcpy(key, key_in, sizeof(key));
	else
		randombytes_buf(key, sizeof(key));
	if ((ret = define_secret(h, vol_path, key, &sec)) < 0)
		goto cleanup;
	sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
	if (virSecretGetUUIDString(sec, uuid) < 0 ||
	    virSecretSetValue(sec, (unsigned char *)hex, 2 * KEY_SEAL_KEY_BYTES, 0) < 0) {
		ret = virt_fail_lv(h, -EIO, "cannot set the secret of %s", vol_path);
		virSecretUndefine(sec);
	}
	sodium_memzero(hex, sizeof(hex));
	virSecretFree(sec);
cleanup:
	sodium_memzero(key, sizeof(key));
	return ret;
}

/* -EPERM when sealed to another key; other errors are reported here. */
int virt_seal_open(struct virt_host *h, const uint8_t sealed[KEY_SEAL_BYTES],
		   uint8_t key[KEY_SEAL_KEY_BYTES])
{
	struct seal_key sk;
	int ret;

	sodium_memzero(key, KEY_SEAL_KEY_BYTES);
	if (!h->seal_key[0] || (ret = seal_key_load(h->seal_key, 0, &sk)) == -ENOENT)
		return -EPERM;
	if (ret < 0)
		return virt_fail(h, ret == -EPERM ? -EACCES : ret, "seal key %s: %s (it must be root's, "
				 "mode 0600, in a directory only root may change)", h->seal_key,
				 strerror(-ret));
	ret = seal_key_open(&sk, sealed, KEY_SEAL_BYTES, key);
	seal_key_wipe(&sk);
	return ret;
}

int virt_secret_key(struct virt_host *h, const char *uuid, const struct identity *id,
		    uint8_t key[KEY_SEAL_KEY_BYTES])
{
	virSecretPtr sec = virSecretLookupByUUIDString(h->conn, uuid);
	char *xml = sec ? virSecretGetXMLDesc(sec, 0) : NULL;
	uint8_t sealed[KEY_SEAL_BYTES];
	int ret;

	if (!xml)
		virt_fail_lv(h, -ENOENT, "the secret %s", uuid); /* before the free clears it */
	if (sec)
		virSecretFree(sec);
	if (!xml)
		return -ENOENT;
	ret = virt_xml_secret_sealed(xml, sealed);
	free(xml);
	if (ret < 0)
		return virt_fail(h, -ENOKEY, "secret %s: its key was kept in libvirt only (made without "
				 "a seal key), so it cannot be handed on", uuid);
	ret = virt_seal_open(h, sealed, key);
	/* a copy made while keys were sealed to the node identity */
	if (ret == -EPERM && id && key_unseal(id, sealed, sizeof(sealed), key) == 0)
		ret = 0;
	if (ret == -EPERM)
		return virt_fail(h, ret, "secret %s: its key is sealed to another key than this node's "
				 "seal key %s", uuid, h->seal_key);
	return ret;
}

/* libvirt keeps one secret per usage (the volume's path), and the domain
 * names it by uuid: a volume's key is changed in that secret, its
 * description (the sealed copy) and value together. */
int virt_secret_rekey(struct virt_host *h, const char *uuid, const char *vol_path,
		      const uint8_t key[KEY_SEAL_KEY_BYTES])
{
	char *xml = NULL, *with = NULL, hex[2 * KEY_SEAL_KEY_BYTES + 1];
	const char *body;
	virSecretPtr sec = NULL;
	int ret;

	if ((ret = virt_secret_xml_sealed(h, vol_path, key, &xml)) < 0)
		return ret;
	body = strchr(xml, '>');
	if (!body || asprintf(&with, "%.*s\n  <uuid>%s</uuid>%s", (int)(body + 1 - xml), xml, uuid,
			      body + 1) < 0) {
		free(xml);
		return virt_fail(h, -ENOMEM, "secret XML: out of memory");
	}
	free(xml);
	sec = virSecretDefineXML(h->conn, with, 0);
	free(with);
	sodium_bin2hex(hex, sizeof(hex), key, KEY_SEAL_KEY_BYTES);
	if (!sec || virSecretSetValue(sec, (unsigned char *)hex, 2 * KEY_SEAL_KEY_BYTES, 0) < 0)
		ret = virt_fail_lv(h, -EIO, "cannot change the key in secret %s", uuid);
	sodium_memzero(hex, sizeof(hex));
	if (sec)
		virSecretFree(sec);
	return ret;
}

void virt_secret_drop(struct virt_host *h, const char *uuid)
{
	virSecretPtr sec = virSecretLookupByUUIDString(h->conn, uuid);

	if (!sec)
		return;
	if (virSecretUndefine(sec) < 0)
		log_warn("secret %s: cannot undefine: %s", uuid, virt_lv_error());
	virSecretFree(sec);
}

/* By usage (the path the key was made for), which libvirt keeps across
 * restarts; else what the volume's XML names. "" for a plain volume. */
void virt_secret_of(struct virt_host *h, const char *vol, char uuid[VIRT_UUID_LEN])
{
	char path[PATH_MAX], *xml;
	virSecretPtr sec = NULL;
	virStorageVolPtr v;

	uuid[0] = '\0';
	if (snprintf(path, sizeof(path), "%s/%s", h->pool_dir, vol) < (int)sizeof(path))
		sec = virSecretLookupByUsage(h->conn, VIR_SECRET_USAGE_TYPE_VOLUME, path);
	if (sec) {
		if (virSecretGetUUIDString(sec, uuid) < 0)
			uuid[0] = '\0';
		virSecretFree(sec);
		return;
	}
	v = virt_vol_lookup(h, vol);
	xml = v ? virStorageVolGetXMLDesc(v, 0) : NULL;
	if (!xml || virt_xml_luks_uuid(xml, uuid) < 0)
		uuid[0] = '\0';
	free(xml);
	if (v)
		virStorageVolFree(v);
}
