/* Strict readers of a signed manifest's JSON fields: a string that fits, a
 * u64, only known keys. Each returns 0, or -EINVAL with a message in err
 * that names the field as where followed by key ("" at a manifest's top,
 * "volumes." inside its volumes, "signature " in a signature file). */
#ifndef OSI_LIB_JSON_FIELDS_H
#define OSI_LIB_JSON_FIELDS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A string member without NUL bytes that fits buf (len - 1 characters). */
/* o, taken (decref'd here; NULL for a failed pack), dumped compact with
 * its keys sorted, the one form a signature covers: *out (malloc'd) and
 * *len, 0; or -ENOMEM. */
int json_dump_canonical(json_t *o, char **out, size_t *len);
int json_field_text(const json_t *o, const char *where, const char *key, char *buf, size_t len,
		    char *err, size_t errlen);
/* An integer member from 0 up (jansson's integers stop at INT64_MAX). */
int json_field_u64(const json_t *o, const char *where, const char *key, uint64_t *out, char *err,
		   size_t errlen);
/* No member outside keys (NULL-terminated); a missing one is not checked. */
int json_fields_only(const json_t *o, const char *const *keys, const char *where, char *err,
		     size_t errlen);
/* Exactly keys: each present (the first missing is named), none other. */
int json_fields_exact(const json_t *o, const char *const *keys, const char *where, char *err,
		      size_t errlen);

#endif
