#include "service-vm-host/move-wire.h"

#include <errno.h>
#include <string.h>

#include "lib/bytes.h"
#include "service-vm-host/move-offer.h"

#define HELLO_MIN (sizeof(MOVE_MAGIC) - 1 + MOVE_TOKEN_BYTES + 1 + 1 + 8)
#define HELLO_MAX (HELLO_MIN - 1 + GUEST_NAME_MAX)

void move_head_build(uint8_t head[MOVE_HEAD], uint8_t type, uint32_t body_len)
{
	put_be32(head, body_len + 1);
	head[4] = type;
}

int move_hello_build(const struct move_hello *h, uint8_t *buf, size_t cap)
{
	size_t n = strlen(h->guest), m = sizeof(MOVE_MAGIC) - 1, body = m + MOVE_TOKEN_BYTES + 1 + n + 8;
	uint8_t *p = buf + MOVE_HEAD;

	if (!guest_name_valid(h->guest) || cap < MOVE_HEAD + body)
		return -EINVAL;
	move_head_build(buf, MOVE_HELLO, (uint32_t)body);
	memcpy(p, MOVE_MAGIC, m);
	memcpy(p + m, h->token, MOVE_TOKEN_BYTES);
	p[m + MOVE_TOKEN_BYTES] = (uint8_t)n;
	memcpy(p + m + MOVE_TOKEN_BYTES + 1, h->guest, n);
	put_be64(p + m + MOVE_TOKEN_BYTES + 1 + n, h->total);
	return (int)(MOVE_HEAD + body);
}

const char *move_hello_parse(const uint8_t *b, size_t len, struct move_hello *out)
{
	size_t m = sizeof(MOVE_MAGIC) - 1, n;

	memset(out, 0, sizeof(*out));
	if (len < HELLO_MIN || len > HELLO_MAX || memcmp(b, MOVE_MAGIC, m))
		return "not a move greeting";
	n = b[m + MOVE_TOKEN_BYTES];
	if (len != m + MOVE_TOKEN_BYTES + 1 + n + 8)
		return "a greeting whose guest name runs past its end";
	memcpy(out->token, b + m, MOVE_TOKEN_BYTES);
	memcpy(out->guest, b + m + MOVE_TOKEN_BYTES + 1, n);
	if (!guest_name_valid(out->guest) || strlen(out->guest) != n)
		return "a greeting with an invalid guest name";
	out->total = get_be64(b + m + MOVE_TOKEN_BYTES + 1 + n);
	return NULL;
}

const char *move_head_parse(const uint8_t head[MOVE_HEAD], uint8_t *type, uint32_t *body_len)
{
	uint32_t len = get_be32(head);

	*type = head[4];
	if (len < 1)
		return "an empty frame";
	*body_len = len - 1;
	switch (*type) {
	case MOVE_HELLO: return *body_len <= HELLO_MAX ? NULL : "an oversized greeting";
	case MOVE_DATA: return *body_len >= 1 && *body_len <= MOVE_CHUNK ? NULL : "a data frame of a bad size";
	case MOVE_END: return *body_len == 0 ? NULL : "an end frame with a body";
	case MOVE_ACK: return *body_len >= 1 && *body_len <= 1 + MOVE_ACK_TEXT_MAX ? NULL : "an ack of a bad size";
	case MOVE_OFFER: return *body_len >= 1 && *body_len <= MOVE_OFFER_BODY_MAX ? NULL : "an offer of a bad size";
	case MOVE_HELD: return *body_len >= 1 && *body_len <= MOVE_HELD_BODY_MAX ? NULL : "an answer of a bad size";
	default: return "an unknown frame type";
	}
}

const char *move_room_check(uint64_t total, uint64_t avail)
{
	if (!total)
		return "an empty archive";
	if (avail < MOVE_ROOM_MARGIN || total > avail - MOVE_ROOM_MARGIN)
		return "no room here for the archive";
	return NULL;
}
