/* The caller's error text: a buffer and its size, either of which may be
 * absent (NULL or 0), filled with one printf-style line. */
#pragma once
#include <stdarg.h>
#include <stddef.h>

__attribute__((format(printf, 3, 4)))
void errbuf_set(char *err, size_t len, const char *fmt, ...);
__attribute__((format(printf, 3, 0)))
void errbuf_vset(char *err, size_t len, const char *fmt, va_list ap);
/* errbuf_set, then returns ret: a failing check fits on one line. */
__attribute__((format(printf, 4, 5)))
int errbuf_fail(int ret, char *err, size_t len, const char *fmt, ...);
