#include "lib/roles.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int roles_parse(const char *text, const struct role_name *table, size_t n, unsigned *out)
{
	unsigned acc = 0;

	for (const char *p = text;;) {
		size_t len = strcspn(p, ","), i;

		for (i = 0; i < n; i++)
			if (strlen(table[i].name) == len && !memcmp(p, table[i].name, len))
				break;
		if (i == n)
			return -EINVAL;
		acc |= table[i].bit;
		if (!p[len])
			break;
		p += len + 1;
	}
	*out = acc;
	return 0;
}

void roles_format(unsigned roles, const struct role_name *table, size_t n, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w;

		if (!(roles & table[i].bit))
			continue;
		w = snprintf(buf + used, len - used, "%s%s", used ? "," : "", table[i].name);
		if (w < 0 || (size_t)w >= len - used) {
			buf[used] = '\0';
			return;
		}
		used += (size_t)w;
	}
}
