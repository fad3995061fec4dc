#include "lib/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/errbuf.h"
#include "lib/fileio.h"
#include "lib/units.h"

#define CONFIG_FILE_MAX (1u << 20)
#define MSG_MAX 256

static const struct config_key *find_key(const struct config_key *keys, size_t n,
					 const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		if (strlen(keys[i].name) == len && !memcmp(keys[i].name, name, len))
			return &keys[i];
	}
	return NULL;
}

static int parse_uint(const char *text, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull would accept spaces, a sign and wrap "-1" around. */
	if (*text < '0' || *text > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (*end)
		return -EINVAL;
	if (errno == ERANGE)
		return -ERANGE;
	*out = v;
	return 0;
}

static int parse_number(enum config_type type, const char *text, uint64_t *out)
{
	int ret;

	switch (type) {
	case CFG_UINT:
		return parse_uint(text, out);
	case CFG_SIZE:
		return parse_size(text, out);
	case CFG_DURATION_MS:
		return parse_duration_ms(text, out);
	case CFG_PERCENT:
		ret = parse_uint(text, out);
		return ret == 0 && *out > 100 ? -ERANGE : ret;
	default:
		return -EINVAL;
	}
}

static const char *type_hint(enum config_type type)
{
	switch (type) {
	case CFG_UINT:
		return "expected a decimal integer";
	case CFG_SIZE:
		return "expected a size such as 512M or 2G";
	case CFG_DURATION_MS:
		return "expected a duration such as 250ms, 10s, 5m or 1h";
	case CFG_PERCENT:
		return "expected a percentage 0..100";
	default:
		return "unsupported key type";
	}
}

/* Stores value into the key's field; cfg is untouched on error. */
static int store(const struct config_key *k, void *cfg, const char *value,
		 char *err, size_t errlen)
{
	char *field = (char *)cfg + k->offset;
	uint64_t num;
	size_t len;
	int ret;

	if (k->type == CFG_STRING) {
		len = strlen(value);
		if (len >= k->size) {
			errbuf_set(err, errlen, "key '%s': value too long (at most %zu bytes)",
				k->name, k->size ? k->size - 1 : 0);
			return -ENAMETOOLONG;
		}
		memcpy(field, value, len + 1);
		return 0;
	}
	ret = parse_number(k->type, value, &num);
	if (ret == -ERANGE) {
		errbuf_set(err, errlen, "key '%s': value '%.64s' out of range", k->name, value);
		return ret;
	}
	if (ret < 0) {
		errbuf_set(err, errlen, "key '%s': invalid value '%.64s' (%s)", k->name, value,
			type_hint(k->type));
		return ret;
	}
	memcpy(field, &num, sizeof(num));
	return 0;
}

int config_set(const struct config_key *keys, size_t n, void *cfg, const char *key,
	       const char *value, char *err, size_t errlen)
{
	const struct config_key *k = find_key(keys, n, key, strlen(key));

	if (!k) {
		errbuf_set(err, errlen, "unknown key '%.64s'", key);
		return -ENOENT;
	}
	return store(k, cfg, value, err, errlen);
}

int config_defaults(const struct config_key *keys, size_t n, void *cfg, char *err, size_t errlen)
{
	char msg[MSG_MAX];

	for (size_t i = 0; i < n; i++) {
		const char *def = keys[i].def;
		int ret;

		if (!def)
			def = keys[i].type == CFG_STRING ? "" : "0";
		ret = store(&keys[i], cfg, def, msg, sizeof(msg));
		if (ret < 0) {
			errbuf_set(err, errlen, "default: %s", msg);
			return ret;
		}
	}
	return 0;
}

static char *skip_space(char *p)
{
	while (*p && isspace((unsigned char)*p))
		p++;
	return p;
}

/* Cuts the value out of the text after '=' (p[-1] is always readable). */
static int cut_value(char *p, char **value, char *msg, size_t msglen)
{
	char *end, *rest;

	if (*p == '"') {
		end = strchr(p + 1, '"');
		if (!end) {
			errbuf_set(msg, msglen, "unterminated quoted value");
			return -EINVAL;
		}
		rest = skip_space(end + 1);
		if (*rest && (*rest != '#' || rest == end + 1)) {
			errbuf_set(msg, msglen, "unexpected text after the closing quote");
			return -EINVAL;
		}
		*end = '\0';
		*value = p + 1;
		return 0;
	}
	/* '#' starts a comment only after whitespace, so "a#b" is a value. */
	for (end = p; *end; end++) {
		if (*end == '#' && isspace((unsigned char)end[-1]))
			break;
	}
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	*value = p;
	return 0;
}

static int parse_line(const struct config_key *keys, size_t n, void *cfg, char *line,
		      char *msg, size_t msglen)
{
	const struct config_key *k;
	char *p = skip_space(line), *key, *value;
	size_t keylen;
	int ret;

	if (!*p || *p == '#')
		return 0;
	key = p;
	while (*p && *p != '=' && !isspace((unsigned char)*p))
		p++;
	keylen = (size_t)(p - key);
	p = skip_space(p);
	if (*p != '=' || keylen == 0) {
		errbuf_set(msg, msglen, "expected 'key = value'");
		return -EINVAL;
	}
	k = find_key(keys, n, key, keylen);
	if (!k) {
		errbuf_set(msg, msglen, "unknown key '%.*s'", (int)(keylen > 64 ? 64 : keylen),
			key);
		return -ENOENT;
	}
	ret = cut_value(skip_space(p + 1), &value, msg, msglen);
	if (ret < 0)
		return ret;
	return store(k, cfg, value, msg, msglen);
}

int config_parse(const struct config_key *keys, size_t n, void *cfg, const char *text,
		 char *err, size_t errlen)
{
	char msg[MSG_MAX], *copy, *line, *next;
	unsigned lineno = 0;
	int ret = 0;

	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	for (line = copy; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		ret = parse_line(keys, n, cfg, line, msg, sizeof(msg));
		if (ret < 0) {
			errbuf_set(err, errlen, "line %u: %s", lineno, msg);
			break;
		}
	}
	free(copy);
	return ret;
}

int config_load(const struct config_key *keys, size_t n, void *cfg, const char *path,
		int optional, char *err, size_t errlen)
{
	char msg[MSG_MAX], *text = NULL;
	size_t len;
	int ret;

	ret = read_file(path, CONFIG_FILE_MAX, &text, &len);
	if (ret == -ENOENT && optional)
		return 0;
	if (ret < 0) {
		errbuf_set(err, errlen, "%s: %s", path,
			ret == -EFBIG ? "file too large" : strerror(-ret));
		return ret;
	}
	if (strlen(text) != len) {
		errbuf_set(err, errlen, "%s: contains a NUL byte", path);
		ret = -EINVAL;
		goto cleanup;
	}
	ret = config_parse(keys, n, cfg, text, msg, sizeof(msg));
	if (ret < 0)
		errbuf_set(err, errlen, "%s: %s", path, msg);
cleanup:
	free(text);
	return ret;
}

int config_override(const struct config_key *keys, size_t n, void *cfg, const char *kv,
		    char *err, size_t errlen)
{
	const struct config_key *k;
	const char *eq = strchr(kv, '=');

	if (!eq || eq == kv) {
		errbuf_set(err, errlen, "expected key=value, got '%.64s'", kv);
		return -EINVAL;
	}
	k = find_key(keys, n, kv, (size_t)(eq - kv));
	if (!k) {
		errbuf_set(err, errlen, "unknown key '%.*s'", (int)(eq - kv > 64 ? 64 : eq - kv),
			kv);
		return -ENOENT;
	}
	return store(k, cfg, eq + 1, err, errlen);
}

void config_print_help(const struct config_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *def = keys[i].def;

		if (!def)
			def = keys[i].type == CFG_STRING ? "" : "0";
		/* Print the default as it would be written in the file. */
		printf("  %s = %s%s%s\n", keys[i].name, *def ? "" : "\"", def, *def ? "" : "\"");
		if (keys[i].doc)
			printf("      %s\n", keys[i].doc);
	}
}
