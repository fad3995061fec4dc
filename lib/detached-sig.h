/* A detached Ed25519 signature file over a manifest's exact bytes, as an
 * export archive and a backup carry it: one JSON object
 * {"format":F,"signer":NAME,"key":HEX64,"sig":HEX128}, signing the kind's
 * domain string followed by the manifest (so one kind's signature never
 * passes for another's). Pure: no files. */
#ifndef OSI_LIB_DETACHED_SIG_H
#define OSI_LIB_DETACHED_SIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/auth.h"
#include "lib/identity.h"

#define DETACHED_SIG_MAX 1024u

/* Named for its first user, the export; a backup's signature is the same. */
struct export_sig {
	char signer[NODE_NAME_MAX + 1];
	uint8_t key[SIGN_PK_BYTES];
	uint8_t sig[SIG_BYTES];
};

struct detached_sig_kind {
	const char *format;   /* the "format" value, e.g. osi-export-sig-v1 */
	const char *domain;   /* signed before the manifest */
	size_t manifest_max;  /* a longer manifest is neither signed nor valid */
	const char *what;     /* how errors name the file: "signature entry" */
};

/* The signature file's text (*out malloc'd, *outlen its length). */
int detached_sig_sign(const struct detached_sig_kind *k, const struct identity *id,
		      const char *manifest, size_t len, char **out, size_t *outlen);
/* Strict: exactly the four keys, the kind's format, a member name, hex. */
int detached_sig_parse(const struct detached_sig_kind *k, const char *text, size_t len,
		       struct export_sig *s, char *err, size_t errlen);
/* Whether s->sig is s->key's signature of the manifest's bytes. */
bool detached_sig_valid(const struct detached_sig_kind *k, const struct export_sig *s,
			const char *manifest, size_t len);

#endif
