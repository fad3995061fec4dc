#include "service-vm-host/seqstore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fileio.h"

#define SEQ_FILE "heartbeat.seq"
#define SEQ_FILE_MAX 64

int seqstore_parse(const char *text, uint64_t *value)
{
	const char *p = text;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return -EBADMSG;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
			return -EBADMSG;
	}
	if (*p == '\n')
		p++;
	if (*p)
		return -EBADMSG;
	*value = v;
	return 0;
}

/* The ceiling reaches the disk before any number below it is handed out. */
static int reserve(struct seqstore *s)
{
	char text[32];
	uint64_t ceiling;
	int len, ret;

	if (__builtin_add_overflow(s->next, (uint64_t)SEQ_BLOCK, &ceiling))
		return -EOVERFLOW;
	len = snprintf(text, sizeof(text), "%" PRIu64 "\n", ceiling);
	ret = atomic_write_file(s->path, text, (size_t)len, 0600);
	if (ret < 0)
		return ret;
	s->ceiling = ceiling;
	return 0;
}

int seqstore_open(struct seqstore *s, const char *state_dir)
{
	char *text = NULL;
	size_t len;
	uint64_t first = 1;
	int ret;

	memset(s, 0, sizeof(*s));
	if (snprintf(s->path, sizeof(s->path), "%s/" SEQ_FILE, state_dir) >= (int)sizeof(s->path))
		return -ENAMETOOLONG;
	ret = read_file(s->path, SEQ_FILE_MAX, &text, &len);
	if (ret == 0) {
		/* Starting over from 1 could reuse numbers the fleet has seen. */
		if (strlen(text) != len || seqstore_parse(text, &first) < 0)
			ret = -EBADMSG;
	} else if (ret == -EFBIG) {
		ret = -EBADMSG;
	} else if (ret == -ENOENT) {
		ret = 0;
	}
	free(text);
	if (ret < 0)
		return ret;
	s->next = first;
	s->ceiling = first;
	return reserve(s);
}

int seqstore_next(struct seqstore *s, uint64_t *seq)
{
	int ret;

	if (s->next == s->ceiling) {
		ret = reserve(s);
		if (ret < 0)
			return ret;
	}
	*seq = s->next++;
	return 0;
}
