#include "lib/wire-heartbeat.h"

#include <errno.h>
#include <string.h>

#include "lib/bytes.h"
#include "lib/names.h"

/* Offsets from the layout in wire-heartbeat.h. */
enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 4,
	OFF_TYPE = 5,
	OFF_RESERVED0 = 6,
	OFF_NAME = 8,
	OFF_SEQ = 40,
	OFF_CPU = 48,
	OFF_NCPU = 50,
	OFF_FLAGS = 52,
	OFF_MEM_TOTAL = 56,
	OFF_MEM_AVAIL = 64,
	OFF_GUESTS = 72,
	OFF_INTERVAL = 76,
	OFF_GUEST_MEM = 80,
	OFF_RESERVED1 = 88,
};

#define NAME_FIELD (NODE_NAME_MAX + 1)
#define CPU_PERMILLE_MAX 1000

_Static_assert(OFF_RESERVED1 + 8 == HB_MAC_OFFSET, "layout ends at the MAC");
_Static_assert(HB_MAC_OFFSET + HB_MAC_SIZE == HB_SIZE, "MAC ends the datagram");

bool node_name_valid(const char *name)
{
	return name_label_valid(name, NODE_NAME_MAX);
}

enum hb_build hb_can_build(uint32_t flags, int type)
{
	if (!(flags & HB_FLAG_CAPS))
		return HB_BUILD_OK;
	if (!(flags & HB_FLAG_DISPATCH))
		return HB_BUILD_NO_DISPATCH;
	if (type < 0 || type >= HB_FLAG_BASE_MAX || !(flags & HB_FLAG_IMAGES))
		return HB_BUILD_OK;
	return flags & HB_FLAG_BASE(type) ? HB_BUILD_OK : HB_BUILD_NO_IMAGE;
}

static bool fields_valid(const struct heartbeat *hb)
{
	return hb->cpu_busy_permille <= CPU_PERMILLE_MAX &&
	       hb->mem_available_kib <= hb->mem_total_kib;
}

int hb_encode(const struct heartbeat *hb, uint8_t out[HB_SIZE])
{
	if (!node_name_valid(hb->name) || !fields_valid(hb))
		return -EINVAL;
	/* Zeroing the whole datagram, MAC included, means an unsealed one
	 * carries no stale memory and never verifies. */
	memset(out, 0, HB_SIZE);
	memcpy(out + OFF_MAGIC, HB_MAGIC, 4);
	out[OFF_VERSION] = HB_VERSION;
	out[OFF_TYPE] = HB_TYPE_HEARTBEAT;
	memcpy(out + OFF_NAME, hb->name, strlen(hb->name));
	put_be64(out + OFF_SEQ, hb->seq);
	put_be16(out + OFF_CPU, hb->cpu_busy_permille);
	put_be16(out + OFF_NCPU, hb->ncpu);
	put_be32(out + OFF_FLAGS, hb->flags);
	put_be64(out + OFF_MEM_TOTAL, hb->mem_total_kib);
	put_be64(out + OFF_MEM_AVAIL, hb->mem_available_kib);
	put_be32(out + OFF_GUESTS, hb->guests_running);
	put_be32(out + OFF_INTERVAL, hb->interval_ms);
	put_be64(out + OFF_GUEST_MEM, hb->guest_mem_kib);
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* The name field must be the name, then NUL bytes to the end of the field. */
static bool name_field_valid(const uint8_t *field, char name[NAME_FIELD])
{
	const uint8_t *nul = memchr(field, '\0', NAME_FIELD);
	size_t n;

	if (!nul)
		return false;
	n = (size_t)(nul - field);
	if (!all_zero(nul, NAME_FIELD - n))
		return false;
	memcpy(name, field, n);
	name[n] = '\0';
	return node_name_valid(name);
}

int hb_decode(const uint8_t *buf, size_t len, struct heartbeat *out)
{
	struct heartbeat hb = { 0 };

	if (len < HB_SIZE)
		return -HB_REJECT_TRUNCATED;
	if (len > HB_SIZE)
		return -HB_REJECT_OVERSIZED;
	if (memcmp(buf + OFF_MAGIC, HB_MAGIC, 4) != 0 || buf[OFF_VERSION] != HB_VERSION ||
	    buf[OFF_TYPE] != HB_TYPE_HEARTBEAT)
		return -HB_REJECT_MALFORMED;
	if (!all_zero(buf + OFF_RESERVED0, 2) || !all_zero(buf + OFF_RESERVED1, 8))
		return -HB_REJECT_MALFORMED;
	if (!name_field_valid(buf + OFF_NAME, hb.name))
		return -HB_REJECT_MALFORMED;
	hb.seq = get_be64(buf + OFF_SEQ);
	hb.cpu_busy_permille = get_be16(buf + OFF_CPU);
	hb.ncpu = get_be16(buf + OFF_NCPU);
	hb.flags = get_be32(buf + OFF_FLAGS);
	hb.mem_total_kib = get_be64(buf + OFF_MEM_TOTAL);
	hb.mem_available_kib = get_be64(buf + OFF_MEM_AVAIL);
	hb.guests_running = get_be32(buf + OFF_GUESTS);
	hb.interval_ms = get_be32(buf + OFF_INTERVAL);
	hb.guest_mem_kib = get_be64(buf + OFF_GUEST_MEM);
	if (!fields_valid(&hb))
		return -HB_REJECT_MALFORMED;
	*out = hb;
	return 0;
}

static const char *const reject_names[HB_REJECT__COUNT] = {
	[HB_OK] = "ok",
	[HB_REJECT_MALFORMED] = "malformed",
	[HB_REJECT_OVERSIZED] = "oversized",
	[HB_REJECT_TRUNCATED] = "truncated",
	[HB_REJECT_UNKNOWN] = "unknown",
	[HB_REJECT_BAD_MAC] = "bad-mac",
	[HB_REJECT_REPLAYED] = "replayed",
	[HB_REJECT_STALE] = "stale",
	[HB_REJECT_REVOKED] = "revoked",
};

const char *hb_reject_name(enum hb_reject reason)
{
	if ((unsigned)reason >= HB_REJECT__COUNT)
		return "invalid";
	return reject_names[reason];
}
