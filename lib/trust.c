#include "lib/trust.h"
#include "lib/roles.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/errbuf.h"
#include "lib/fileio.h"
#include "lib/nametable.h"

#define TRUST_HEADER \
	"# os-infrastructure trust file: <name> <role>[,<role>...] <ed25519-public> <x25519-public>\n"
#define FIELDS 4
#define ROLES_TEXT_MAX sizeof("node,fleet,admin")
#define TRUST_ROLES_ALL (TRUST_ROLE_NODE | TRUST_ROLE_FLEET | TRUST_ROLE_ADMIN)

static const struct role_name role_names[] = {
	{ "node", TRUST_ROLE_NODE },
	{ "fleet", TRUST_ROLE_FLEET },
	{ "admin", TRUST_ROLE_ADMIN },
};

int trust_roles_parse(const char *text, unsigned *roles)
{
	return roles_parse(text, role_names, sizeof(role_names) / sizeof(role_names[0]), roles);
}

void trust_roles_format(unsigned roles, char *buf, size_t len)
{
	roles_format(roles, role_names, sizeof(role_names) / sizeof(role_names[0]), buf, len);
}

static int hex_key(uint8_t *key, size_t keylen, const char *hex)
{
	size_t i;

	/* Lowercase only, so that one key has exactly one spelling. */
	for (i = 0; hex[i]; i++) {
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return -EINVAL;
	}
	if (i != keylen * 2)
		return -EINVAL;
	return sodium_hex2bin(key, keylen, hex, i, NULL, NULL, NULL) < 0 ? -EINVAL : 0;
}

static bool entry_valid(const struct trust_entry *e)
{
	return memchr(e->name, '\0', sizeof(e->name)) && node_name_valid(e->name) &&
	       e->roles && !(e->roles & ~TRUST_ROLES_ALL);
}

/* Splits a line in place into whitespace-separated fields; max + 1 means
 * there were more than max. */
static size_t split_fields(char *line, char *fields[], size_t max)
{
	char *save = NULL;
	size_t n = 0;

	for (char *tok = strtok_r(line, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
		if (n == max)
			return max + 1;
		fields[n++] = tok;
	}
	return n;
}

static int parse_entry(char *line, struct trust_entry *e, char *msg, size_t msglen)
{
	char *f[FIELDS];

	memset(e, 0, sizeof(*e));
	if (split_fields(line, f, FIELDS) != FIELDS) {
		errbuf_set(msg, msglen,
			"expected '<name> <roles> <ed25519-public-hex> <x25519-public-hex>'");
		return -EBADMSG;
	}
	if (strlen(f[0]) > NODE_NAME_MAX || !node_name_valid(f[0])) {
		errbuf_set(msg, msglen, "invalid name '%.40s'", f[0]);
		return -EBADMSG;
	}
	strcpy(e->name, f[0]);
	if (trust_roles_parse(f[1], &e->roles) < 0) {
		errbuf_set(msg, msglen, "invalid roles '%.40s' (node, fleet, admin)", f[1]);
		return -EBADMSG;
	}
	if (hex_key(e->sign_pk, sizeof(e->sign_pk), f[2]) < 0) {
		errbuf_set(msg, msglen, "invalid ed25519 key (64 lowercase hex digits)");
		return -EBADMSG;
	}
	if (hex_key(e->kx_pk, sizeof(e->kx_pk), f[3]) < 0) {
		errbuf_set(msg, msglen, "invalid x25519 key (64 lowercase hex digits)");
		return -EBADMSG;
	}
	return 0;
}

static const char *entry_name(const void *ctx, size_t index)
{
	const struct trust_set *set = ctx;

	return set->entries[index].name;
}

static int append(struct trust_set *set, size_t *cap, const struct trust_entry *e)
{
	if (set->count == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct trust_entry *n = reallocarray(set->entries, ncap, sizeof(*n));

		if (!n)
			return -ENOMEM;
		set->entries = n;
		*cap = ncap;
	}
	set->entries[set->count++] = *e;
	return 0;
}

/* names indexes set by name; its ctx is set itself, so growth is harmless. */
static int parse_lines(char *text, struct trust_set *set, struct nametable *names,
		       char *err, size_t errlen)
{
	char msg[160], *line, *next;
	struct trust_entry e;
	size_t cap = 0;
	unsigned lineno = 0;
	int ret = 0;

	for (line = text; line && ret == 0; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		line += strspn(line, " \t\r");
		if (!*line || *line == '#')
			continue;
		ret = parse_entry(line, &e, msg, sizeof(msg));
		if (ret < 0) {
			errbuf_set(err, errlen, "line %u: %s", lineno, msg);
			break;
		}
		if (nametable_find(names, e.name) >= 0) {
			errbuf_set(err, errlen, "line %u: duplicate name '%s'", lineno, e.name);
			ret = -EBADMSG;
			break;
		}
		ret = append(set, &cap, &e);
		if (ret == 0)
			ret = nametable_insert(names, e.name, set->count - 1);
	}
	return ret;
}

int trust_parse(const char *text, struct trust_set *out, char *err, size_t errlen)
{
	struct trust_set set = { 0 };
	struct nametable names;
	char *copy;
	int ret;

	out->entries = NULL;
	out->count = 0;
	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	nametable_init(&names, entry_name, &set);
	ret = parse_lines(copy, &set, &names, err, errlen);
	if (ret < 0)
		goto cleanup;
	*out = set;
	set.entries = NULL;
cleanup:
	nametable_free(&names);
	free(set.entries);
	free(copy);
	return ret;
}

int trust_load(const char *path, struct trust_set *out, char *err, size_t errlen)
{
	char msg[200], *text = NULL;
	size_t len;
	int ret;

	out->entries = NULL;
	out->count = 0;
	ret = read_file(path, TRUST_FILE_MAX, &text, &len);
	if (ret < 0) {
		errbuf_set(err, errlen, "%s: %s", path,
			ret == -EFBIG ? "larger than 4 MiB" : strerror(-ret));
		return ret;
	}
	if (strlen(text) != len) {
		errbuf_set(err, errlen, "%s: contains a NUL byte", path);
		ret = -EBADMSG;
		goto cleanup;
	}
	ret = trust_parse(text, out, msg, sizeof(msg));
	if (ret < 0)
		errbuf_set(err, errlen, "%s: %s", path, msg);
cleanup:
	free(text);
	return ret;
}

int trust_save(const char *path, const struct trust_set *set)
{
	/* name, roles, two hex keys, three spaces and a newline */
	const size_t line_max = NODE_NAME_MAX + ROLES_TEXT_MAX + 2 * SIGN_PK_BYTES +
				2 * KX_PK_BYTES + 4;
	char *text, *p, roles[ROLES_TEXT_MAX];
	char sign_hex[SIGN_PK_BYTES * 2 + 1], kx_hex[KX_PK_BYTES * 2 + 1];
	size_t cap;
	int ret = 0;

	if (set->count > (SIZE_MAX - sizeof(TRUST_HEADER)) / line_max)
		return -ENOMEM;
	cap = sizeof(TRUST_HEADER) + set->count * line_max;
	text = malloc(cap);
	if (!text)
		return -ENOMEM;
	p = stpcpy(text, TRUST_HEADER);
	for (size_t i = 0; i < set->count; i++) {
		const struct trust_entry *e = &set->entries[i];

		/* Refuse to write a file that trust_parse would reject. */
		if (!entry_valid(e)) {
			ret = -EINVAL;
			goto cleanup;
		}
		trust_roles_format(e->roles, roles, sizeof(roles));
		sodium_bin2hex(sign_hex, sizeof(sign_hex), e->sign_pk, sizeof(e->sign_pk));
		sodium_bin2hex(kx_hex, sizeof(kx_hex), e->kx_pk, sizeof(e->kx_pk));
		p += snprintf(p, cap - (size_t)(p - text), "%s %s %s %s\n", e->name, roles,
			      sign_hex, kx_hex);
	}
	ret = atomic_write_file(path, text, (size_t)(p - text), 0644);
cleanup:
	free(text);
	return ret;
}

const struct trust_entry *trust_find(const struct trust_set *set, const char *name)
{
	for (size_t i = 0; i < set->count; i++) {
		if (!strcmp(set->entries[i].name, name))
			return &set->entries[i];
	}
	return NULL;
}

const struct trust_entry *trust_find_role(const struct trust_set *set, unsigned role)
{
	for (size_t i = 0; i < set->count; i++) {
		if (role && (set->entries[i].roles & role) == role)
			return &set->entries[i];
	}
	return NULL;
}

int trust_add(struct trust_set *set, const struct trust_entry *e)
{
	struct trust_entry *n;

	if (!entry_valid(e))
		return -EINVAL;
	if (trust_find(set, e->name))
		return -EEXIST;
	n = reallocarray(set->entries, set->count + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	set->entries = n;
	set->entries[set->count++] = *e;
	return 0;
}

int trust_remove(struct trust_set *set, const char *name)
{
	const struct trust_entry *e = trust_find(set, name);
	size_t i;

	if (!e)
		return -ENOENT;
	i = (size_t)(e - set->entries);
	memmove(&set->entries[i], &set->entries[i + 1],
		(set->count - i - 1) * sizeof(set->entries[0]));
	if (--set->count == 0) {
		free(set->entries);
		set->entries = NULL;
	}
	return 0;
}

void trust_free(struct trust_set *set)
{
	free(set->entries);
	set->entries = NULL;
	set->count = 0;
}
