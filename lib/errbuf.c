#include "lib/errbuf.h"

#include <stdio.h>

void errbuf_vset(char *err, size_t len, const char *fmt, va_list ap)
{
	if (err && len)
		vsnprintf(err, len, fmt, ap);
}

void errbuf_set(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errbuf_vset(err, len, fmt, ap);
	va_end(ap);
}

int errbuf_fail(int ret, char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errbuf_vset(err, len, fmt, ap);
	va_end(ap);
	return ret;
}
