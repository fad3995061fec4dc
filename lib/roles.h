/* Comma-separated role lists ("node,admin") against a table of names and
 * bits; the trust file and the ledger share the bit values. */
#pragma once
#include <stddef.h>

struct role_name {
	const char *name;
	unsigned bit;
};

/* -EINVAL on an unknown or empty name. */
int roles_parse(const char *text, const struct role_name *table, size_t n, unsigned *out);
/* Names in table order; always NUL-terminates, truncating at a whole name. */
void roles_format(unsigned roles, const struct role_name *table, size_t n, char *buf, size_t len);
