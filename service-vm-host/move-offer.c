#include "service-vm-host/move-offer.h"

#include <errno.h>
#include <string.h>

#include "lib/bytes.h"

/* Far above any volume, and small enough that MOVE_OFFER_MAX of them sum
 * below 2^63: no sum of an offer wraps. */
#define FILE_BYTES_MAX (1ull << 58)
_Static_assert(MOVE_OFFER_MAX <= 32, "FILE_BYTES_MAX");

static bool disk_valid(const char *d)
{
	size_t n = strlen(d);

	if (n < 1 || n > EXPORT_DISK_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= '0' && d[i] <= '9')))
			return false;
	return true;
}

/* Whether file k names what one before it does. */
static bool twice(const struct move_offer *o, unsigned k)
{
	for (unsigned j = 0; j < k; j++)
		if (!strcmp(o->f[j].id, o->f[k].id) && !strcmp(o->f[j].disk, o->f[k].disk))
			return true;
	return false;
}

static const char *file_check(const struct move_offer *o, unsigned k)
{
	const struct move_offer_file *f = &o->f[k];

	if (!backup_id_valid(f->id) || !disk_valid(f->disk))
		return "an offered file with an invalid backup id or disk";
	if (f->bytes > FILE_BYTES_MAX)
		return "an offered file of an impossible size";
	return twice(o, k) ? "a file offered twice" : NULL;
}

int move_offer_build(const struct move_offer *o, uint8_t *buf, size_t cap)
{
	size_t at = 1;

	if (o->n > MOVE_OFFER_MAX || cap < 1)
		return -EINVAL;
	buf[0] = (uint8_t)o->n;
	for (unsigned k = 0; k < o->n; k++) {
		const struct move_offer_file *f = &o->f[k];
		size_t d = strlen(f->disk);

		if (file_check(o, k) || cap - at < BACKUP_ID_LEN + 1 + d + 8 + 32)
			return -EINVAL;
		memcpy(buf + at, f->id, BACKUP_ID_LEN);
		buf[at + BACKUP_ID_LEN] = (uint8_t)d;
		memcpy(buf + at + BACKUP_ID_LEN + 1, f->disk, d);
		at += BACKUP_ID_LEN + 1 + d;
		put_be64(buf + at, f->bytes);
		memcpy(buf + at + 8, f->sha256, 32);
		at += 8 + 32;
	}
	return (int)at;
}

const char *move_offer_parse(const uint8_t *b, size_t len, struct move_offer *out)
{
	size_t at = 1;
	const char *why;

	memset(out, 0, sizeof(*out));
	if (len < 1 || b[0] > MOVE_OFFER_MAX)
		return "an offer of more files than a chain has";
	out->n = b[0];
	for (unsigned k = 0; k < out->n; k++) {
		struct move_offer_file *f = &out->f[k];
		size_t d;

		if (len - at < BACKUP_ID_LEN + 1)
			return "an offer cut short";
		d = b[at + BACKUP_ID_LEN];
		if (d < 1 || d > EXPORT_DISK_MAX || len - at - BACKUP_ID_LEN - 1 < d + 8 + 32)
			return "an offer cut short, or a disk name of a bad length";
		memcpy(f->id, b + at, BACKUP_ID_LEN);
		memcpy(f->disk, b + at + BACKUP_ID_LEN + 1, d);
		at += BACKUP_ID_LEN + 1 + d;
		f->bytes = get_be64(b + at);
		memcpy(f->sha256, b + at + 8, 32);
		at += 8 + 32;
		if (strlen(f->id) != BACKUP_ID_LEN || strlen(f->disk) != d)
			return "an offered file with a NUL in its name";
		if ((why = file_check(out, k)))
			return why;
	}
	return at == len ? NULL : "an offer with bytes past its last file";
}

int move_held_build(const bool *held, unsigned n, uint8_t *buf, size_t cap)
{
	if (n > MOVE_OFFER_MAX || cap < 1 + (size_t)n)
		return -EINVAL;
	buf[0] = (uint8_t)n;
	for (unsigned k = 0; k < n; k++)
		buf[1 + k] = held[k] ? 1 : 0;
	return (int)(1 + n);
}

const char *move_held_parse(const uint8_t *b, size_t len, unsigned n, bool *held)
{
	if (n > MOVE_OFFER_MAX || len != 1 + (size_t)n || b[0] != n)
		return "an answer that is not to the offer";
	for (unsigned k = 0; k < n; k++) {
		if (b[1 + k] > 1)
			return "an answer other than 0 or 1 for a file";
		held[k] = b[1 + k] == 1;
	}
	return NULL;
}

uint64_t move_offer_bytes(const struct move_offer *o, const bool *held)
{
	uint64_t sum = 0;

	for (unsigned k = 0; k < o->n && k < MOVE_OFFER_MAX; k++)
		if (!held || held[k])
			sum += o->f[k].bytes;
	return sum;
}
