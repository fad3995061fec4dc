/* Strict readers of a manifest's JSON fields (lib/json-fields.h). */
#include <errno.h>
#include <string.h>

#include "lib/errbuf.h"
#include "lib/json-fields.h"

int json_field_text(const json_t *o, const char *where, const char *key, char *buf, size_t len,
		    char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, key);
	const char *s = json_string_value(v);

	/* a NUL inside the string would cut it short without a word */
	if (!s || !len || json_string_length(v) != strlen(s) || strlen(s) >= len)
		return errbuf_fail(-EINVAL, err, errlen, "%s%s: missing, not a string, or longer than %zu",
				   where, key, len ? len - 1 : 0);
	memcpy(buf, s, strlen(s) + 1);
	return 0;
}

int json_field_u64(const json_t *o, const char *where, const char *key, uint64_t *out, char *err,
		   size_t errlen)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return errbuf_fail(-EINVAL, err, errlen, "%s%s: missing or not a non-negative integer",
				   where, key);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int json_fields_only(const json_t *o, const char *const *keys, const char *where, char *err,
		     size_t errlen)
{
	const char *k;
	const json_t *v;

	json_object_foreach((json_t *)o, k, v) {
		size_t i = 0;

		while (keys[i] && strcmp(keys[i], k))
			i++;
		if (!keys[i])
			return errbuf_fail(-EINVAL, err, errlen, "%s%s: unknown key", where, k);
	}
	return 0;
}

int json_fields_exact(const json_t *o, const char *const *keys, const char *where, char *err,
		      size_t errlen)
{
	for (size_t n = 0; keys[n]; n++)
		if (!json_object_get(o, keys[n]))
			return errbuf_fail(-EINVAL, err, errlen, "%s%s: missing", where, keys[n]);
	return json_fields_only(o, keys, where, err, errlen);
}

int json_dump_canonical(json_t *o, char **out, size_t *len)
{
	*out = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!*out)
		return -ENOMEM;
	*len = strlen(*out);
	return 0;
}
