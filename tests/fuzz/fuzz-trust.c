/* trust_parse on arbitrary text. A set that parses must be well formed and
 * must come back unchanged when written out in the documented format. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/trust.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *format_set(const struct trust_set *set)
{
	char *text = malloc(set->count * 200 + 1), *p = text;

	if (!text)
		abort();
	*p = '\0';
	for (size_t i = 0; i < set->count; i++) {
		const struct trust_entry *e = &set->entries[i];
		char roles[32], sign[65], kx[65];

		trust_roles_format(e->roles, roles, sizeof(roles));
		sodium_bin2hex(sign, sizeof(sign), e->sign_pk, sizeof(e->sign_pk));
		sodium_bin2hex(kx, sizeof(kx), e->kx_pk, sizeof(e->kx_pk));
		p += sprintf(p, "%s %s %s %s\n", e->name, roles, sign, kx);
	}
	return text;
}

static void check_set(const struct trust_set *set)
{
	struct trust_set again;
	char err[200], *text;

	for (size_t i = 0; i < set->count; i++) {
		const struct trust_entry *e = &set->entries[i];

		if (!node_name_valid(e->name) || !e->roles || e->roles > 7)
			abort();
		if (trust_find(set, e->name) != e)
			abort();
	}
	text = format_set(set);
	if (trust_parse(text, &again, err, sizeof(err)) != 0 || again.count != set->count)
		abort();
	if (set->count &&
	    memcmp(again.entries, set->entries, set->count * sizeof(set->entries[0])))
		abort();
	trust_free(&again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trust_set set;
	char err[200], *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (trust_parse(text, &set, err, sizeof(err)) == 0)
		check_set(&set);
	else if (strncmp(err, "line ", 5) || set.entries || set.count)
		abort();
	trust_free(&set);
	free(text);
	return 0;
}
