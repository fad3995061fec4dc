/* Text appended with printf formats into a buffer the caller sized up front;
 * the first failure sticks (err), so a run of appends is checked once. */
#pragma once
#include <stddef.h>

struct textbuf {
	char *p;
	size_t len, cap;
	int err;        /* 0, or -EMSGSIZE once something did not fit */
};

void textbuf_add(struct textbuf *tb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
