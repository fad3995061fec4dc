/* Detached signature files (lib/detached-sig.h). */
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/detached-sig.h"
#include "lib/errbuf.h"
#include "lib/json-fields.h"
#include "lib/names.h"

static const char *const sig_keys[] = { "format", "signer", "key", "sig", NULL };

/* The kind's domain string, then the manifest's bytes. */
static unsigned char *message(const struct detached_sig_kind *k, const char *manifest, size_t len,
			      size_t *n)
{
	size_t d = strlen(k->domain);
	unsigned char *msg = len <= k->manifest_max ? malloc(d + len + 1) : NULL;

	if (!msg)
		return NULL;
	memcpy(msg, k->domain, d);
	memcpy(msg + d, manifest, len);
	*n = d + len;
	return msg;
}

int detached_sig_sign(const struct detached_sig_kind *k, const struct identity *id,
		      const char *manifest, size_t len, char **out, size_t *outlen)
{
	uint8_t sig[SIG_BYTES];
	char key_hex[SIGN_PK_BYTES * 2 + 1], sig_hex[SIG_BYTES * 2 + 1];
	size_t n;
	unsigned char *msg = message(k, manifest, len, &n);
	json_t *o;

	if (!msg)
		return -ENOMEM;
	crypto_sign_detached(sig, NULL, msg, n, id->sign_sk);
	free(msg);
	sodium_bin2hex(key_hex, sizeof(key_hex), id->sign_pk, SIGN_PK_BYTES);
	sodium_bin2hex(sig_hex, sizeof(sig_hex), sig, SIG_BYTES);
	o = json_pack("{s:s, s:s, s:s, s:s}", "format", k->format, "signer", id->name,
		      "key", key_hex, "sig", sig_hex);
	return json_dump_canonical(o, out, outlen);
}

static int get_hex(const json_t *o, const char *key, uint8_t *bin, size_t n, char *err, size_t errlen)
{
	char hex[SIG_BYTES * 2 + 1];
	size_t i;

	if (json_field_text(o, "signature ", key, hex, sizeof(hex), err, errlen) || strlen(hex) != n * 2)
		return errbuf_fail(-EINVAL, err, errlen, "signature %s: not %zu lowercase hex digits", key, n * 2);
	for (i = 0; i < n * 2 && strchr("0123456789abcdef", hex[i]); i++)
		;
	if (i != n * 2 || sodium_hex2bin(bin, n, hex, n * 2, NULL, NULL, NULL) != 0)
		return errbuf_fail(-EINVAL, err, errlen, "signature %s: not %zu lowercase hex digits", key, n * 2);
	return 0;
}

int detached_sig_parse(const struct detached_sig_kind *k, const char *text, size_t len,
		       struct export_sig *s, char *err, size_t errlen)
{
	char format[32];
	json_error_t jerr;
	json_t *o;
	int ret;

	memset(s, 0, sizeof(*s));
	if (len > DETACHED_SIG_MAX)
		return errbuf_fail(-EINVAL, err, errlen, "the %s is above %u bytes", k->what, DETACHED_SIG_MAX);
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o)) {
		json_decref(o);
		return errbuf_fail(-EINVAL, err, errlen, "the %s is not a JSON object", k->what);
	}
	if (!(ret = json_fields_only(o, sig_keys, "signature ", err, errlen)) &&
	    !(ret = json_field_text(o, "signature ", "format", format, sizeof(format), err, errlen)) &&
	    strcmp(format, k->format))
		ret = errbuf_fail(-EINVAL, err, errlen, "signature format: '%s', this version reads %s", format, k->format);
	if (!ret &&
	    !(ret = json_field_text(o, "signature ", "signer", s->signer, sizeof(s->signer), err, errlen)) &&
	    !name_label_valid(s->signer, NODE_NAME_MAX))
		ret = errbuf_fail(-EINVAL, err, errlen, "signature signer: not a member name");
	if (!ret && !(ret = get_hex(o, "key", s->key, sizeof(s->key), err, errlen)))
		ret = get_hex(o, "sig", s->sig, sizeof(s->sig), err, errlen);
	json_decref(o);
	return ret;
}

bool detached_sig_valid(const struct detached_sig_kind *k, const struct export_sig *s,
			const char *manifest, size_t len)
{
	size_t n;
	unsigned char *msg = message(k, manifest, len, &n);
	bool ok = msg && crypto_sign_verify_detached(s->sig, msg, n, s->key) == 0;

	free(msg);
	return ok;
}
