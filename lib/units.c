#include "lib/units.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Fraction digits beyond this are read but ignored: 10^6 * 2^40 still fits
 * in 64 bits, and a millionth of the unit is finer than anyone writes. */
#define FRAC_DIGITS_MAX 6

struct decimal {
	uint64_t whole;
	uint64_t frac;       /* the first fdigits digits after the point */
	unsigned fdigits;
	int has_point;
};

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Reads "123" or "123.45" from *p and leaves *p after it. No sign, no
 * whitespace, digits on both sides of the point. */
static int parse_decimal(const char **p, struct decimal *d)
{
	const char *s = *p;

	memset(d, 0, sizeof(*d));
	if (!is_digit(*s))
		return -EINVAL;
	for (; is_digit(*s); s++) {
		unsigned digit = (unsigned)(*s - '0');

		if (d->whole > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		d->whole = d->whole * 10 + digit;
	}
	if (*s == '.') {
		d->has_point = 1;
		if (!is_digit(*++s))
			return -EINVAL;
		for (; is_digit(*s); s++) {
			if (d->fdigits == FRAC_DIGITS_MAX)
				continue;
			d->frac = d->frac * 10 + (uint64_t)(*s - '0');
			d->fdigits++;
		}
	}
	*p = s;
	return 0;
}

/* value * mult, with the fraction truncated to a whole base unit. */
static int scale(const struct decimal *d, uint64_t mult, uint64_t *out)
{
	uint64_t pow10 = 1, frac, whole;

	/* A fraction of the base unit (half a byte, half a millisecond) is a typo. */
	if (d->has_point && mult == 1)
		return -EINVAL;
	for (unsigned i = 0; i < d->fdigits; i++)
		pow10 *= 10;
	if (d->whole > UINT64_MAX / mult)
		return -ERANGE;
	whole = d->whole * mult;
	frac = d->frac * mult / pow10;
	if (whole > UINT64_MAX - frac)
		return -ERANGE;
	*out = whole + frac;
	return 0;
}

static int size_multiplier(const char *unit, uint64_t *mult)
{
	static const char prefixes[] = "kmgt";
	const char *pos;

	if (!*unit || !strcasecmp(unit, "b")) {
		*mult = 1;
		return 0;
	}
	pos = strchr(prefixes, unit[0] | 0x20);
	if (!pos)
		return -EINVAL;
	unit++;
	if (*unit && strcasecmp(unit, "i") && strcasecmp(unit, "ib") && strcasecmp(unit, "b"))
		return -EINVAL;
	*mult = 1ULL << (10 * (pos - prefixes + 1));
	return 0;
}

int parse_size(const char *text, uint64_t *bytes)
{
	struct decimal d;
	uint64_t mult;
	int ret;

	ret = parse_decimal(&text, &d);
	if (ret < 0)
		return ret;
	ret = size_multiplier(text, &mult);
	if (ret < 0)
		return ret;
	return scale(&d, mult, bytes);
}

int parse_duration_ms(const char *text, uint64_t *ms)
{
	static const struct {
		const char *suffix;
		uint64_t ms;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60 * 1000 }, { "h", 3600 * 1000 },
	};
	struct decimal d;
	int ret;

	ret = parse_decimal(&text, &d);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcmp(text, units[i].suffix))
			return scale(&d, units[i].ms, ms);
	}
	return -EINVAL;
}

static int parse_port(const char *text, uint16_t *port)
{
	unsigned long v = 0;
	size_t n = 0;

	for (; is_digit(text[n]); n++) {
		if (n == 5)
			return -EINVAL;
		v = v * 10 + (unsigned long)(text[n] - '0');
	}
	if (n == 0 || text[n] || v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

static int hostname_chars_valid(const char *host, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = host[i];

		if (!(is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
		      c == '-' || c == '.' || c == '_'))
			return 0;
	}
	return 1;
}

int parse_hostport(const char *text, char *host, size_t hostlen, uint16_t *port)
{
	const char *start = text, *end, *colon;
	char v6[INET6_ADDRSTRLEN];
	struct in6_addr addr;
	size_t len;

	if (*text == '[') {
		start = text + 1;
		end = strchr(start, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		colon = end + 1;
		len = (size_t)(end - start);
		if (len == 0 || len >= sizeof(v6))
			return -EINVAL;
		memcpy(v6, start, len);
		v6[len] = '\0';
		if (inet_pton(AF_INET6, v6, &addr) != 1)
			return -EINVAL;
	} else {
		colon = strchr(text, ':');
		/* A second colon means an IPv6 address without brackets. */
		if (!colon || strchr(colon + 1, ':'))
			return -EINVAL;
		len = (size_t)(colon - text);
		if (len == 0 || !hostname_chars_valid(text, len))
			return -EINVAL;
	}
	if (parse_port(colon + 1, port) < 0)
		return -EINVAL;
	if (len >= hostlen)
		return -ENAMETOOLONG;
	memcpy(host, start, len);
	host[len] = '\0';
	return 0;
}

void format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	uint64_t whole, tenths, unit = 1024;
	unsigned u = 0;

	if (bytes < 1024) {
		snprintf(buf, len, "%" PRIu64 "B", bytes);
		return;
	}
	while (u + 1 < sizeof(units) - 1 && bytes >= unit * 1024) {
		unit *= 1024;
		u++;
	}
	whole = bytes / unit;
	tenths = ((bytes % unit) * 10 + unit / 2) / unit;
	if (tenths == 10) {
		whole++;
		tenths = 0;
	}
	/* 1023.96K rounds to 1024.0K: say 1.0M instead. */
	if (whole == 1024 && u + 1 < sizeof(units) - 1) {
		whole = 1;
		u++;
	}
	snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "%c", whole, tenths, units[u]);
}
