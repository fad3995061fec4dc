#include "lib/wire-frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/bytes.h"

/* Buffered bytes, and so every offset, fit in 31 bits. */
#define BUF_MAX 0x7fffffffu

#define HELLO_PAYLOAD (1 + 1 + API_NONCE_BYTES)
/* type, seq, name length, then the name, the signature and the body */
#define SIGNED_FIXED (1 + 8 + 1 + SIG_BYTES)

void frame_reader_init(struct frame_reader *r, size_t max_payload)
{
	memset(r, 0, sizeof(*r));
	r->max = max_payload < BUF_MAX - FRAME_HEADER ? max_payload : BUF_MAX - FRAME_HEADER;
}

void frame_reader_free(struct frame_reader *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

static int reserve(struct frame_reader *r, size_t need)
{
	size_t cap = r->cap ? r->cap : 4096;
	uint8_t *buf;

	if (need <= r->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	buf = realloc(r->buf, cap);
	if (!buf)
		return -ENOMEM;
	r->buf = buf;
	r->cap = cap;
	return 0;
}

/* Every complete header in the buffer must announce 1..max bytes. */
static int check_headers(const struct frame_reader *r)
{
	size_t pos = 0;

	while (r->len - pos >= FRAME_HEADER) {
		uint32_t n = get_be32(r->buf + pos);

		if (n == 0 || n > r->max)
			return -EMSGSIZE;
		pos += FRAME_HEADER + n;
		if (pos >= r->len)
			break;
	}
	return 0;
}

int frame_reader_feed(struct frame_reader *r, const uint8_t *data, size_t len)
{
	size_t off;
	int ret;

	if (r->broken)
		return -EMSGSIZE;
	off = r->off;
	if (off) {
		memmove(r->buf, r->buf + off, r->len - off);
		r->len -= off;
		r->off = 0;
	}
	if (len == 0)
		return 0;
	if (len > BUF_MAX - r->len) {
		ret = -ENOMEM;
		goto cleanup;
	}
	ret = reserve(r, r->len + len);
	if (ret < 0)
		goto cleanup;
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	ret = check_headers(r);
cleanup:
	if (ret < 0) {
		frame_reader_free(r);
		r->broken = true;
	}
	return ret;
}

int frame_reader_next(struct frame_reader *r, const uint8_t **payload, size_t *len)
{
	size_t off = r->off;
	uint32_t n;

	if (r->broken || r->len - off < FRAME_HEADER)
		return 0;
	n = get_be32(r->buf + off);
	if (n == 0 || n > r->max || r->len - off - FRAME_HEADER < n)
		return 0;
	*payload = r->buf + off + FRAME_HEADER;
	*len = n;
	r->off = off + FRAME_HEADER + n;
	return 1;
}

/* Allocates header and payload, writes both headers and returns where the
 * type-specific bytes go. */
static uint8_t *frame_new(enum frame_type type, size_t payload_len, uint8_t **out, size_t *len)
{
	uint8_t *f = malloc(FRAME_HEADER + payload_len);

	if (!f)
		return NULL;
	put_be32(f, (uint32_t)payload_len);
	f[FRAME_HEADER] = (uint8_t)type;
	*out = f;
	*len = FRAME_HEADER + payload_len;
	return f + FRAME_HEADER + 1;
}

int frame_build_hello(const uint8_t nonce[API_NONCE_BYTES], uint8_t **out, size_t *len)
{
	uint8_t *p = frame_new(FRAME_HELLO, HELLO_PAYLOAD, out, len);

	if (!p)
		return -ENOMEM;
	p[0] = FRAME_VERSION;
	memcpy(p + 1, nonce, API_NONCE_BYTES);
	return 0;
}

int frame_build_signed(uint64_t seq, const char *name, const uint8_t sig[SIG_BYTES],
		       const void *body, size_t body_len, uint8_t **out, size_t *len)
{
	size_t name_len, payload_len;
	uint8_t *p;

	if (!node_name_valid(name) || !body || body_len == 0)
		return -EINVAL;
	name_len = strlen(name);
	if (body_len > FRAME_REQUEST_MAX - SIGNED_FIXED - name_len)
		return -EMSGSIZE;
	payload_len = SIGNED_FIXED + name_len + body_len;
	p = frame_new(FRAME_SIGNED, payload_len, out, len);
	if (!p)
		return -ENOMEM;
	put_be64(p, seq);
	p += sizeof(seq);
	*p++ = (uint8_t)name_len;
	memcpy(p, name, name_len);
	p += name_len;
	memcpy(p, sig, SIG_BYTES);
	memcpy(p + SIG_BYTES, body, body_len);
	return 0;
}

int frame_build_plain(enum frame_type type, const void *body, size_t body_len,
		      uint8_t **out, size_t *len)
{
	size_t max;
	uint8_t *p;

	if (type == FRAME_LOCAL)
		max = FRAME_REQUEST_MAX;
	else if (type == FRAME_REPLY)
		max = FRAME_REPLY_MAX;
	else
		return -EINVAL;
	if (!body || body_len == 0)
		return -EINVAL;
	if (body_len > max - 1)
		return -EMSGSIZE;
	p = frame_new(type, 1 + body_len, out, len);
	if (!p)
		return -ENOMEM;
	memcpy(p, body, body_len);
	return 0;
}

int frame_parse_hello(const uint8_t *p, size_t len, uint8_t nonce[API_NONCE_BYTES])
{
	if (len != HELLO_PAYLOAD || p[0] != FRAME_HELLO || p[1] != FRAME_VERSION)
		return -EBADMSG;
	memcpy(nonce, p + 2, API_NONCE_BYTES);
	return 0;
}

int frame_parse_signed(const uint8_t *p, size_t len, struct frame_signed *out)
{
	struct frame_signed f = { 0 };
	size_t name_len;

	if (len < SIGNED_FIXED + 1 + 1 || p[0] != FRAME_SIGNED)
		return -EBADMSG;
	f.seq = get_be64(p + 1);
	name_len = p[9];
	if (name_len == 0 || name_len > NODE_NAME_MAX)
		return -EBADMSG;
	/* name, signature and at least one byte of body */
	if (len - SIGNED_FIXED - 1 < name_len)
		return -EBADMSG;
	if (memchr(p + 10, '\0', name_len))
		return -EBADMSG;
	memcpy(f.name, p + 10, name_len);
	f.name[name_len] = '\0';
	if (!node_name_valid(f.name))
		return -EBADMSG;
	f.sig = p + 10 + name_len;
	f.body = f.sig + SIG_BYTES;
	f.body_len = len - SIGNED_FIXED - name_len;
	*out = f;
	return 0;
}
