/* The heartbeat datagram (UDP, host agent -> fleet). Fixed 128 bytes, all
 * integers big-endian; docs/protocol.md draws it byte by byte.
 *
 *   0  4  magic "OIHB"            48  2  cpu_busy_permille (0..1000)
 *   4  1  version (1)             50  2  ncpu
 *   5  1  type (1 = heartbeat)    52  4  flags (HB_FLAG_* below)
 *   6  2  reserved, zero          56  8  mem_total_kib
 *   8 32  node name, NUL-padded   64  8  mem_available_kib
 *  40  8  seq                     72  4  guests_running
 *                                 76  4  interval_ms
 *                                 80  8  guest_mem_kib (committed to guests)
 *                                 88  8  reserved, zero
 *                                 96 32  MAC over bytes 0..95
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HB_MAGIC "OIHB"
#define HB_VERSION 1
#define HB_TYPE_HEARTBEAT 1
#define HB_SIZE 128
#define HB_MAC_OFFSET 96
#define HB_MAC_SIZE 32
#define NODE_NAME_MAX 31 /* bytes, excluding the NUL */

#define HB_FLAG_LIBVIRT 0x1u   /* libvirt answered: the guest fields are real */
/* What the node can build; an agent that predates these leaves bit 1 clear
 * and the fleet treats it as able to build anything. */
#define HB_FLAG_CAPS 0x2u      /* bit 2 is reported */
#define HB_FLAG_DISPATCH 0x4u  /* the agent has a dispatch address (dispatch_listen) */
#define HB_FLAG_IMAGES 0x8u    /* the base image bits are reported */
/* Bits 8..15: the base image of guest type i (lib/guest-types.c's table
 * order) is in the node's pool. */
#define HB_FLAG_BASE_SHIFT 8
#define HB_FLAG_BASE_MAX 8
#define HB_FLAG_BASE(i) (1u << (HB_FLAG_BASE_SHIFT + (i)))

/* What a node's flags say of building a guest of type index type (-1: any
 * type): HB_BUILD_OK also for an agent that does not report (bit 1 clear),
 * and for the image when the node has not looked (bit 3 clear). */
enum hb_build { HB_BUILD_OK, HB_BUILD_NO_DISPATCH, HB_BUILD_NO_IMAGE };
enum hb_build hb_can_build(uint32_t flags, int type);

struct heartbeat {
	char name[NODE_NAME_MAX + 1];
	uint64_t seq;
	uint16_t cpu_busy_permille;
	uint16_t ncpu;
	uint32_t flags;
	uint64_t mem_total_kib;
	uint64_t mem_available_kib;
	uint32_t guests_running;
	uint32_t interval_ms;
	uint64_t guest_mem_kib;
};

/* Names are 1..31 characters of [a-z0-9-], not starting or ending with '-'. */
bool node_name_valid(const char *name);

/* Writes the first HB_MAC_OFFSET bytes of the datagram; the MAC is added by
 * hb_auth_seal(). Returns -EINVAL for an invalid name or out-of-range field. */
int hb_encode(const struct heartbeat *hb, uint8_t out[HB_SIZE]);

/* Parses an unauthenticated datagram. Returns 0, or a negative error whose
 * meaning is given by enum hb_reject (as -reason) so that callers can count
 * each reason. Never reads past len. */
int hb_decode(const uint8_t *buf, size_t len, struct heartbeat *out);

/* Why a datagram was dropped. Order matters only for display. */
enum hb_reject {
	HB_OK = 0,
	HB_REJECT_MALFORMED = 1,   /* wrong magic, version, type, reserved bits, name, ranges */
	HB_REJECT_OVERSIZED,       /* longer than HB_SIZE */
	HB_REJECT_TRUNCATED,       /* shorter than HB_SIZE */
	HB_REJECT_UNKNOWN,         /* name not in the trusted set */
	HB_REJECT_BAD_MAC,         /* authentication failed */
	HB_REJECT_REPLAYED,        /* seq already seen inside the window */
	HB_REJECT_STALE,           /* seq older than the window */
	HB_REJECT_REVOKED,         /* node was trusted and is now revoked */
	HB_REJECT__COUNT
};
const char *hb_reject_name(enum hb_reject reason);
