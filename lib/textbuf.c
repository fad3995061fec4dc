#include "lib/textbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

void textbuf_add(struct textbuf *tb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (tb->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(tb->p + tb->len, tb->cap - tb->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= tb->cap - tb->len)
		tb->err = -EMSGSIZE;
	else
		tb->len += (size_t)n;
}
