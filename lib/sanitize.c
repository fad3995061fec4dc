#include "lib/sanitize.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The escape of byte c at p (p[0] == c), into esc; 0 if c passes as is.
 * *used is how many source bytes the escape stands for. */
static size_t escape_one(const unsigned char *p, char esc[9], size_t *used)
{
	*used = 1;
	switch (p[0]) {
	case '\n':
		return (size_t)snprintf(esc, 9, "\\n");
	case '\r':
		return (size_t)snprintf(esc, 9, "\\r");
	case '\t':
		return (size_t)snprintf(esc, 9, "\\t");
	}
	if (p[0] < 0x20 || p[0] == 0x7f)
		return (size_t)snprintf(esc, 9, "\\x%02x", p[0]);
	if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
		*used = 2;
		return (size_t)snprintf(esc, 9, "\\xc2\\x%02x", p[1]);
	}
	return 0;
}

size_t sanitize_text(char *dst, size_t cap, const char *src)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t need = 0, kept = 0, len, used;
	bool full = false;
	char esc[9];

	while (*p) {
		len = escape_one(p, esc, &used);
		if (!len) {
			esc[0] = (char)*p;
			len = 1;
		}
		if (!full && kept + len < cap) {
			memcpy(dst + kept, esc, len);
			kept += len;
		} else {
			full = true;
		}
		need += len;
		p += used;
	}
	if (cap)
		dst[kept] = '\0';
	return need;
}
