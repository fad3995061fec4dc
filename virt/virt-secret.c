/* The keys of encrypted data volumes: one private libvirt secret per volume,
 * its value 32 random bytes made here, in hex (libvirt wants UTF-8). The
 * key lives in libvirt's secret store only; nothing else holds it. */
#include <errno.h>
#include <libvirt/virterror.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "virt/virt-internal.h"

#define KEY_BYTES 32

int virt_xml_secret(const char *vol_path, char **out)
{
	struct vbuf b = { 0 };

	vbuf_printf(&b, "<secret ephemeral='no' private='yes'>\n  <description>data volume ");
	vbuf_xml(&b, vol_path);
	vbuf_printf(&b, "</description>\n  <usage type='volume'>\n    <volume>");
	vbuf_xml(&b, vol_path);
	vbuf_printf(&b, "</volume>\n  </usage>\n</secret>\n");
	return vbuf_take(&b, out);
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

/* -EOPNOTSUPP when the connection has no secret driver (test:///). */
int virt_secret_make(struct virt_host *h, const char *vol_path, char uuid[VIRT_UUID_LEN])
{
	unsigned char key[KEY_BYTES];
	char hex[2 * KEY_BYTES + 1], *xml = NULL;
	virSecretPtr sec;
	int ret;

	if ((ret = virt_xml_secret(vol_path, &xml)) < 0)
		return virt_fail(h, ret, "secret XML: %s", strerror(-ret));
	sec = virSecretDefineXML(h->conn, xml, 0);
	free(xml);
	if (!sec) {
		virErrorPtr e = virGetLastError();

		if (e && e->code == VIR_ERR_NO_SUPPORT)
			return -EOPNOTSUPP;
		return virt_fail_lv(h, -EIO, "cannot define the secret of %s", vol_path);
	}
	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
	ret = 0;
	if (virSecretGetUUIDString(sec, uuid) < 0 ||
	    virSecretSetValue(sec, (unsigned char *)hex, 2 * KEY_BYTES, 0) < 0) {
		ret = virt_fail_lv(h, -EIO, "cannot set the secret of %s", vol_path);
		virSecretUndefine(sec);
	}
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hex, sizeof(hex));
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

/* The volume's secret uuid, "" for a plain volume (or an unreadable XML). */
void virt_vol_secret(virStorageVolPtr v, char uuid[VIRT_UUID_LEN])
{
	char *xml = virStorageVolGetXMLDesc(v, 0);

	if (!xml || virt_xml_luks_uuid(xml, uuid) < 0)
		uuid[0] = '\0';
	free(xml);
}
