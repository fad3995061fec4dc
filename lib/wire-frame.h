/* Stream framing for the operator API (TCP on the mesh, a Unix socket
 * locally) and, later, dispatch. docs/protocol.md describes it.
 *
 *   frame   = u32be length | payload            (1 <= length <= max)
 *   payload = u8 type | type-specific bytes
 *
 *   HELLO   0x01  u8 version | nonce[32]                      server -> client
 *   SIGNED  0x02  u64be seq | u8 n | name[n] | sig[64] | JSON  client -> server (TCP)
 *   LOCAL   0x03  JSON                                        client -> server (Unix)
 *   REPLY   0x04  JSON                                        server -> client
 *
 * The signature covers the transcript of auth.h's api_sign(); seq starts at 1
 * on each connection and must increase by exactly one per request. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/auth.h"
#include "lib/wire-heartbeat.h"

#define FRAME_VERSION 1
#define FRAME_HEADER 4
#define FRAME_REQUEST_MAX (64u * 1024)      /* what a server accepts */
#define FRAME_REPLY_MAX (32u * 1024 * 1024) /* what a client accepts */

enum frame_type { FRAME_HELLO = 1, FRAME_SIGNED = 2, FRAME_LOCAL = 3, FRAME_REPLY = 4 };

/* Accumulates stream bytes and hands out whole frames. */
struct frame_reader {
	uint8_t *buf;
	size_t len, cap, max;
	size_t off;      /* bytes at the front already handed out */
	bool broken;     /* a bad header was seen: the stream is unusable */
};

void frame_reader_init(struct frame_reader *r, size_t max_payload);
void frame_reader_free(struct frame_reader *r);
/* Appends bytes; -EMSGSIZE when a frame announces a length of 0 or over max,
 * -ENOMEM. After an error the stream is unusable. */
int frame_reader_feed(struct frame_reader *r, const uint8_t *data, size_t len);
/* If a whole frame is buffered, points *payload at it (valid until the next
 * feed or next call) and returns 1; returns 0 if more bytes are needed. */
int frame_reader_next(struct frame_reader *r, const uint8_t **payload, size_t *len);

struct frame_signed {
	uint64_t seq;
	char name[NODE_NAME_MAX + 1];
	const uint8_t *sig;   /* SIG_BYTES, points into the payload */
	const uint8_t *body;  /* points into the payload */
	size_t body_len;
};

/* Builders return a malloc'd frame (header included) in *out and its length. */
int frame_build_hello(const uint8_t nonce[API_NONCE_BYTES], uint8_t **out, size_t *len);
int frame_build_signed(uint64_t seq, const char *name, const uint8_t sig[SIG_BYTES],
		       const void *body, size_t body_len, uint8_t **out, size_t *len);
int frame_build_plain(enum frame_type type, const void *body, size_t body_len,
		      uint8_t **out, size_t *len);

/* Parsers take one payload (without the length header); -EBADMSG if malformed. */
int frame_parse_hello(const uint8_t *p, size_t len, uint8_t nonce[API_NONCE_BYTES]);
int frame_parse_signed(const uint8_t *p, size_t len, struct frame_signed *out);
