/* Pending invitations of an inviting process. Dead invitations (used,
 * burned, expired) keep their slot and state, so that a late joiner learns
 * why, but lose their secret. Several ceremonies may run at once: every
 * public function holds the set's lock, so an attempt or a use is counted
 * once and exactly. */
#include "genesis/ceremony.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "lib/clock.h"

static bool usable(const struct invitation *inv, uint64_t now_ns)
{
	return inv->live && !inv->used && inv->attempts_left && now_ns < inv->expires_ns;
}

void invitation_set_init(struct invitation_set *set)
{
	memset(set, 0, sizeof(*set));
	pthread_mutex_init(&set->lock, NULL);
}

void invitation_set_wipe(struct invitation_set *set)
{
	pthread_mutex_lock(&set->lock);
	sodium_memzero(set->inv, sizeof(set->inv));
	pthread_mutex_unlock(&set->lock);
}

void invitation_set_prune(struct invitation_set *set, uint64_t now_ns)
{
	pthread_mutex_lock(&set->lock);
	for (size_t i = 0; i < CEREMONY_INVITATIONS_MAX; ++i) {
		if (set->inv[i].live && !usable(&set->inv[i], now_ns))
			sodium_memzero(set->inv[i].prs, sizeof(set->inv[i].prs));
	}
	pthread_mutex_unlock(&set->lock);
}

static struct invitation *find(struct invitation_set *set, unsigned int slot)
{
	for (size_t i = 0; i < CEREMONY_INVITATIONS_MAX; ++i) {
		if (set->inv[i].live && set->inv[i].slot == slot)
			return &set->inv[i];
	}
	return NULL;
}

const struct invitation *invitation_find(const struct invitation_set *set, unsigned int slot)
{
	return find((struct invitation_set *)set, slot);
}

/* The entry for slot if it is dead, else a free entry, else the dead entry
 * that expired first; NULL if all hold pending invitations. */
static struct invitation *entry_for(struct invitation_set *set, unsigned int slot, uint64_t now)
{
	struct invitation *e = find(set, slot), *oldest = NULL;

	if (e)
		return usable(e, now) ? NULL : e;
	for (size_t i = 0; i < CEREMONY_INVITATIONS_MAX; ++i) {
		e = &set->inv[i];
		if (!e->live)
			return e;
		if (!usable(e, now) && (!oldest || e->expires_ns < oldest->expires_ns))
			oldest = e;
	}
	return oldest;
}

static int add(struct invitation_set *set, const struct shortcode *code, unsigned int ttl_ms)
{
	uint64_t now = clock_mono_ns();
	struct invitation *e;
	size_t len = SHORTCODE_PRS_LEN;
	int ret;

	if (!code || code->slot < 1 || code->slot > SHORTCODE_SLOT_MAX)
		return -EINVAL;
	e = entry_for(set, code->slot, now);
	if (!e)
		return find(set, code->slot) ? -EEXIST : -ENOSPC;
	sodium_memzero(e, sizeof(*e));
	ret = shortcode_secret(code, e->prs, &len);
	if (ret < 0)
		return ret;
	e->live = true;
	e->slot = code->slot;
	e->attempts_left = CEREMONY_ATTEMPTS;
	e->expires_ns = now + (uint64_t)(ttl_ms ? ttl_ms : CEREMONY_INVITE_TTL_MS) * NSEC_PER_MSEC;
	return (int)e->slot;
}

int invitation_add(struct invitation_set *set, const struct shortcode *code, unsigned int ttl_ms)
{
	int ret;

	pthread_mutex_lock(&set->lock);
	ret = add(set, code, ttl_ms);
	pthread_mutex_unlock(&set->lock);
	return ret < 0 ? ret : 0;
}

/* A slot no entry holds, dead or alive, so that a refusal never names the
 * wrong invitation. */
static unsigned int free_slot(struct invitation_set *set)
{
	for (;;) {
		unsigned int slot = 1 + randombytes_uniform(SHORTCODE_SLOT_MAX);

		if (!find(set, slot))
			return slot;
	}
}

int invitation_create(struct invitation_set *set, unsigned int ttl_ms, char *code, size_t len)
{
	struct shortcode sc;
	int ret;

	if (sodium_init() < 0)
		return -EIO;
	pthread_mutex_lock(&set->lock);
	ret = entry_for(set, 0, clock_mono_ns()) ? 0 : -ENOSPC;
	if (ret == 0)
		ret = shortcode_generate(free_slot(set), &sc, code, len);
	if (ret == 0) {
		ret = add(set, &sc, ttl_ms);
		shortcode_wipe(&sc);
	}
	pthread_mutex_unlock(&set->lock);
	if (ret < 0 && code && len)
		sodium_memzero(code, len);
	return ret;
}

static int refusal(const struct invitation *inv, uint64_t now_ns)
{
	if (!inv)
		return CEREMONY_NO_INVITATION;
	if (inv->used)
		return CEREMONY_USED;
	if (!inv->attempts_left)
		return CEREMONY_BURNED;
	if (now_ns >= inv->expires_ns)
		return CEREMONY_EXPIRED;
	return 0;
}

int invitation_refusal(const struct invitation_set *set, unsigned int slot, uint64_t now_ns)
{
	struct invitation_set *s = (struct invitation_set *)set; /* the lock only */
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = refusal(find(s, slot), now_ns);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int invitation_secret(struct invitation_set *set, unsigned int slot, uint64_t now_ns,
		      uint8_t prs[SHORTCODE_PRS_LEN])
{
	const struct invitation *inv;
	int ret;

	pthread_mutex_lock(&set->lock);
	inv = find(set, slot);
	ret = refusal(inv, now_ns);
	if (ret == 0)
		memcpy(prs, inv->prs, SHORTCODE_PRS_LEN);
	pthread_mutex_unlock(&set->lock);
	return ret;
}

int invitation_attempt(struct invitation_set *set, unsigned int slot, uint64_t now_ns,
		       unsigned int *left)
{
	struct invitation *inv;
	int ret;

	pthread_mutex_lock(&set->lock);
	inv = find(set, slot);
	ret = refusal(inv, now_ns);
	if (ret == 0)
		*left = --inv->attempts_left;
	pthread_mutex_unlock(&set->lock);
	return ret;
}

int invitation_use(struct invitation_set *set, unsigned int slot)
{
	struct invitation *inv;
	int ret = 0;

	pthread_mutex_lock(&set->lock);
	inv = find(set, slot);
	if (!inv)
		ret = CEREMONY_NO_INVITATION;
	else if (inv->used)
		ret = CEREMONY_USED;
	else
		inv->used = true;
	if (inv)
		sodium_memzero(inv->prs, sizeof(inv->prs));
	pthread_mutex_unlock(&set->lock);
	return ret;
}

size_t invitation_pending(const struct invitation_set *set, uint64_t now_ns, uint64_t *next_expiry)
{
	struct invitation_set *s = (struct invitation_set *)set; /* the lock only */
	uint64_t next = UINT64_MAX;
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < CEREMONY_INVITATIONS_MAX; ++i) {
		const struct invitation *inv = &set->inv[i];

		if (!usable(inv, now_ns))
			continue;
		++n;
		if (inv->expires_ns < next)
			next = inv->expires_ns;
	}
	pthread_mutex_unlock(&s->lock);
	if (next_expiry)
		*next_expiry = next;
	return n;
}
