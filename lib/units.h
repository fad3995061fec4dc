/* Human units on the command line and in configuration files. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* "512M", "2G", "2GiB", "1048576" (bytes), "1.5G" -> bytes (binary multiples).
 * -EINVAL on junk, -ERANGE on overflow. */
int parse_size(const char *text, uint64_t *bytes);
/* "10s", "250ms", "1m", "1h", "30" (seconds) -> milliseconds. */
int parse_duration_ms(const char *text, uint64_t *ms);
/* "host:port" or "[v6]:port" -> parts; -EINVAL if malformed. */
int parse_hostport(const char *text, char *host, size_t hostlen, uint16_t *port);
/* 2147483648 -> "2.0G"; always NUL-terminates. */
void format_size(uint64_t bytes, char *buf, size_t len);
