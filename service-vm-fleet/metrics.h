/* /metrics in the Prometheus text exposition format (version 0.0.4), and the
 * few lines of HTTP/1.x request parsing that serving it needs. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct fleet;

#define HTTP_REQUEST_MAX 8192

/* Renders every metric into a malloc'd string; NULL on allocation failure. */
char *metrics_render(const struct fleet *f, uint64_t now);

/* Looks for a complete request head in buf. Returns 0 if more bytes are
 * needed, 1 when complete (method and path copied, NUL-terminated), or
 * -EBADMSG / -EMSGSIZE for a malformed or oversized head. */
int http_parse_request(const char *buf, size_t len, char *method, size_t mlen,
		       char *path, size_t plen);
