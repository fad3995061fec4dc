#include "lib/names-file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/errbuf.h"
#include "lib/names.h"

/* Labels joined by single dots, each a valid hostname label. */
static bool labels_valid(const char *s, size_t len)
{
	char label[64];
	size_t start = 0;

	if (!len)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (i - start < 1 || i - start > 63)
			return false;
		memcpy(label, s + start, i - start);
		label[i - start] = '\0';
		if (!name_label_valid(label, 63))
			return false;
		start = i + 1;
	}
	return true;
}

bool names_zone_valid(const char *zone)
{
	size_t len = strnlen(zone, NAMES_ZONE_MAX + 1);

	return len <= NAMES_ZONE_MAX && labels_valid(zone, len);
}

/* 1 to 3 digits, no leading zero, at most 255, four of them. */
static int parse_quad(const char *s, size_t len, uint32_t *addr)
{
	size_t i = 0;

	*addr = 0;
	for (int part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		if (part && (i >= len || s[i++] != '.'))
			return -EINVAL;
		while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 4) {
			if (digits == 1 && v == 0)
				return -EINVAL;
			v = v * 10 + (unsigned)(s[i++] - '0');
			digits++;
		}
		if (!digits || digits > 3 || v > 255)
			return -EINVAL;
		*addr = (*addr << 8) | v;
	}
	return i == len ? 0 : -EINVAL;
}

static bool in_prefix(uint32_t addr, uint32_t net, uint8_t len)
{
	uint32_t mask = len ? ~0u << (32 - len) : 0;

	return len <= 32 && (addr & mask) == (net & mask);
}

static const char *check_name(const char *name, size_t len, const char *zone)
{
	size_t zl = strlen(zone);

	if (len > NAMES_FQDN_MAX)
		return "name too long";
	if (!labels_valid(name, len))
		return "name is not lowercase hostname labels";
	if (len < zl + 2 || name[len - zl - 1] != '.' || memcmp(name + len - zl, zone, zl))
		return "name is not under the zone";
	return NULL;
}

static const char *parse_line(const char *line, size_t len, const struct names_scope *s,
			      struct names_entry *e)
{
	const char *sp = memchr(line, ' ', len);
	const char *why;

	if (!sp)
		return "expected \"A.B.C.D NAME\"";
	if (parse_quad(line, (size_t)(sp - line), &e->addr) < 0)
		return "not an IPv4 dotted quad";
	if (!in_prefix(e->addr, s->guest_addr, s->guest_len) &&
	    !in_prefix(e->addr, s->mesh_addr, s->mesh_len))
		return "address outside the guest and mesh prefixes";
	len -= (size_t)(sp - line) + 1;
	if ((why = check_name(sp + 1, len, s->zone)))
		return why;
	memcpy(e->name, sp + 1, len);
	e->name[len] = '\0';
	return NULL;
}

static bool seen(const struct names_entry *e, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(e[i].name, name))
			return true;
	return false;
}

static int grow(struct names_entry **e, size_t *cap)
{
	size_t ncap = *cap ? *cap * 2 : 16;
	struct names_entry *p = realloc(*e, ncap * sizeof(**e));

	if (!p)
		return -ENOMEM;
	*e = p;
	*cap = ncap;
	return 0;
}

int names_file_parse(const char *buf, size_t len, const struct names_scope *s,
		     struct names_entry **out, size_t *n, char *err, size_t errlen)
{
	struct names_entry *e = NULL;
	size_t count = 0, cap = 0, lineno = 0, pos = 0;
	const char *why = NULL;

	*out = NULL;
	*n = 0;
	if (!s->zone || !names_zone_valid(s->zone))
		return errbuf_fail(-EINVAL, err, errlen, "the zone is not valid");
	if (len > NAMES_FILE_BYTES)
		return errbuf_fail(-EFBIG, err, errlen, "larger than %u bytes", NAMES_FILE_BYTES);
	while (pos < len && !why) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (buf + pos)) : len - pos;

		lineno++;
		if (!nl)
			why = "the last line has no newline";
		else if (lineno > NAMES_FILE_LINES)
			why = "too many lines";
		else if (count == cap && grow(&e, &cap) < 0)
			why = "out of memory";
		else if (memchr(buf + pos, '\0', ll))
			why = "NUL byte";
		else if (!(why = parse_line(buf + pos, ll, s, &e[count])) && seen(e, count, e[count].name))
			why = "name listed twice";
		if (!why)
			count++;
		pos += ll + 1;
	}
	if (why) {
		free(e);
		return errbuf_fail(-EINVAL, err, errlen, "line %zu: %s", lineno, why);
	}
	if (!count)
		free(e), e = NULL;
	*out = e;
	*n = count;
	return 0;
}

int names_file_load(const char *path, const struct names_scope *s, struct names_entry **out,
		    size_t *n, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	char *buf = NULL;
	ssize_t got = 0;
	int ret;

	*out = NULL;
	*n = 0;
	if (fd < 0)
		return errbuf_fail(-errno, err, errlen, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = errbuf_fail(-EINVAL, err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > (off_t)NAMES_FILE_BYTES) {
		ret = errbuf_fail(-EFBIG, err, errlen, "%s: larger than %u bytes", path, NAMES_FILE_BYTES);
		goto out;
	}
	buf = malloc(NAMES_FILE_BYTES + 1);
	if (!buf) {
		ret = errbuf_fail(-ENOMEM, err, errlen, "out of memory");
		goto out;
	}
	for (ssize_t r; (r = read(fd, buf + got, NAMES_FILE_BYTES + 1 - (size_t)got)) != 0; got += r) {
		if (r < 0 && errno == EINTR)
			r = 0;
		else if (r < 0 || got + r > (ssize_t)NAMES_FILE_BYTES) {
			ret = errbuf_fail(r < 0 ? -EIO : -EFBIG, err, errlen, "%s: %s", path,
					  r < 0 ? strerror(errno) : "grew past the limit");
			goto out;
		}
	}
	ret = names_file_parse(buf, (size_t)got, s, out, n, err, errlen);
out:
	free(buf);
	close(fd);
	return ret;
}
