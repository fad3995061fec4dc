/* The transfer stream of a cold move (docs/protocol.md, "Move transfer"),
 * source agent to target agent over the mesh, TCP FW_PORT_MOVE (7106, lib/firewall.h). Frames
 * as everywhere, length:u32be then type:u8 and the body:
 *   HELLO  "osi-move-v4" token[32] n:u8 guest[n] total:u64be   source -> target
 *          (total: the most DATA bytes that follow; v2 since the move streams,
 *          v3 since END carries no digest, v4 since a backup copy's OFFER
 *          and HELD come next)
 *   OFFER, HELD  a backup copy's only, before DATA: move-offer.h
 *   DATA   the archive's next 1..MOVE_CHUNK bytes                source -> target
 *   END    empty: the source's helper ended the archive whole     source -> target
 *   ACK    ok:u8 text (why not, UTF-8, at most 480 bytes)        target -> source */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "lib/guest-types.h"
#include "lib/room.h"

#define MOVE_TOKEN_BYTES 32
#define MOVE_CHUNK (1u << 20)
#define MOVE_MAGIC "osi-move-v4"
#define MOVE_HEAD 5 /* length:u32be type:u8 */
#define MOVE_ACK_TEXT_MAX 480

enum move_frame {
	MOVE_HELLO = 16, MOVE_DATA = 17, MOVE_END = 18, MOVE_ACK = 19, MOVE_OFFER = 20, MOVE_HELD = 21
};

struct move_hello {
	uint8_t token[MOVE_TOKEN_BYTES];
	char guest[GUEST_NAME_MAX + 1];
	uint64_t total;
};

/* Writes HEAD and body into buf (at least MOVE_HEAD + 128 bytes); returns
 * the frame's length, or -EINVAL for a guest name that is not valid. */
int move_hello_build(const struct move_hello *h, uint8_t *buf, size_t cap);
/* The body after the type byte: NULL and *out, or why not. */
const char *move_hello_parse(const uint8_t *body, size_t len, struct move_hello *out);
/* A frame's head: NULL with *type and *body_len (after the type byte), or
 * why not (an unknown type, a body longer than that type allows). */
const char *move_head_parse(const uint8_t head[MOVE_HEAD], uint8_t *type, uint32_t *body_len);
/* Whether an archive of total bytes may be written where avail bytes are
 * free, MOVE_ROOM_MARGIN staying free (the state directory also holds the
 * ledger and fleet.db): NULL, or why not. */
#define MOVE_ROOM_MARGIN TRANSFER_ROOM_MARGIN
const char *move_room_check(uint64_t total, uint64_t avail);
/* Just the head of a frame of type with a body of body_len bytes. */
void move_head_build(uint8_t head[MOVE_HEAD], uint8_t type, uint32_t body_len);
