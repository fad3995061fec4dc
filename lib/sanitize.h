/* Text from outside (an agent's progress detail, a name it chose) made safe
 * to write into a log line or an event: no byte of it can end the line,
 * move the cursor or drive a terminal. */
#pragma once
#include <stddef.h>

/* Copies src into dst with every control character escaped: \n, \r, \t,
 * other C0 bytes and DEL as \xHH, and the C1 controls (UTF-8 U+0080..U+009F)
 * as \xc2\xHH. Other bytes, backslash included, pass as they are, so
 * escaping escaped text changes nothing. dst (cap bytes) always ends in a
 * NUL when cap > 0 and never holds half an escape. Returns the length the
 * whole escaped text needs, as snprintf does. dst may be NULL if cap is 0. */
size_t sanitize_text(char *dst, size_t cap, const char *src);
