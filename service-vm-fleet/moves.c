#include "service-vm-fleet/moves.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_NS (10ull * 1000000000ull)
#define BIT(s) (1u << (s))

static const char *const phases[MP__COUNT] = { "transfer", "starting", "moved", "kept", "aborting" };
static const char *const verbs[MS__COUNT] = {
	"move-out", "move-in", "start", "move-commit", "move-undefine", "move-abort", "move-abort",
	"release-source",
};

const char *move_phase_name(enum move_phase p)
{
	return p < MP__COUNT ? phases[p] : "?";
}

int move_phase_parse(const char *text, enum move_phase *out)
{
	for (unsigned i = 0; text && i < MP__COUNT; i++)
		if (!strcmp(text, phases[i]))
			return *out = (enum move_phase)i, 0;
	return -EINVAL;
}

const char *move_step_verb(enum move_step s)
{
	return s < MS__COUNT ? verbs[s] : NULL;
}

bool move_step_to_source(enum move_step s)
{
	return s == MS_OUT || s == MS_UNDEFINE || s == MS_ABORT_SOURCE || s == MS_RELEASE;
}

void moves_init(struct moves *m)
{
	memset(m, 0, sizeof(*m));
}

void moves_free(struct moves *m)
{
	sodium_memzero(m->list, m->cap * sizeof(*m->list));
	sodium_memzero(m->plans, m->capplans * sizeof(*m->plans));
	free(m->list);
	free(m->plans);
	moves_init(m);
}

struct move *moves_find(const struct moves *m, const char *guest)
{
	for (size_t i = 0; guest && i < m->count; i++)
		if (!strcmp(m->list[i].guest, guest))
			return &m->list[i];
	return NULL;
}

bool move_busy(const struct move *mv)
{
	return mv && mv->phase != MP_KEPT;
}

static void random_hex(char *out, size_t bytes)
{
	unsigned char rnd[32];

	randombytes_buf(rnd, bytes);
	sodium_bin2hex(out, bytes * 2 + 1, rnd, bytes);
	sodium_memzero(rnd, sizeof(rnd));
}

int moves_plan(struct moves *m, const char *guest, const char *source, const char *target,
	       uint64_t now, uint64_t ttl_ns, struct move_plan **out)
{
	struct move_plan *p = NULL;

	for (size_t i = 0; i < m->nplans && !p; i++)
		if (!strcmp(m->plans[i].guest, guest))
			p = &m->plans[i];
	if (!p && m->nplans == m->capplans) {
		size_t cap = m->capplans ? m->capplans * 2 : 4;
		struct move_plan *n = realloc(m->plans, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		m->plans = n;
		m->capplans = cap;
	}
	if (!p)
		p = &m->plans[m->nplans++];
	memset(p, 0, sizeof(*p));
	random_hex(p->token, MOVE_PLAN_HEX / 2);
	p->expires_ns = now + ttl_ns;
	snprintf(p->guest, sizeof(p->guest), "%s", guest);
	snprintf(p->source, sizeof(p->source), "%s", source);
	snprintf(p->target, sizeof(p->target), "%s", target);
	*out = p;
	return 0;
}

int moves_take_plan(struct moves *m, const char *token, uint64_t now, struct move_plan *out)
{
	for (size_t i = 0; token && i < m->nplans; i++) {
		if (strlen(token) != MOVE_PLAN_HEX ||
		    sodium_memcmp(m->plans[i].token, token, MOVE_PLAN_HEX))
			continue;
		*out = m->plans[i];
		m->plans[i] = m->plans[--m->nplans];
		return out->expires_ns <= now ? -ETIMEDOUT : 0;
	}
	return -ENOENT;
}

static struct move *add(struct moves *m, const char *guest)
{
	if (moves_find(m, guest))
		return NULL;
	if (m->count == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 4;
		struct move *n = realloc(m->list, cap * sizeof(*n));

		if (!n)
			return NULL;
		m->list = n;
		m->cap = cap;
	}
	memset(&m->list[m->count], 0, sizeof(m->list[0]));
	return &m->list[m->count++];
}

int moves_begin(struct moves *m, const struct move_plan *p, int64_t wall, struct move **out)
{
	struct move *mv;

	if (moves_find(m, p->guest))
		return -EEXIST;
	if (!(mv = add(m, p->guest)))
		return -ENOMEM;
	snprintf(mv->guest, sizeof(mv->guest), "%s", p->guest);
	snprintf(mv->source, sizeof(mv->source), "%s", p->source);
	snprintf(mv->target, sizeof(mv->target), "%s", p->target);
	random_hex(mv->token, MOVE_TOKEN_HEX / 2);
	mv->phase = MP_TRANSFER;
	mv->started = wall;
	mv->want = BIT(MS_OUT) | BIT(MS_IN);
	*out = mv;
	return 0;
}

static void abort_move(struct move *mv)
{
	mv->phase = MP_ABORTING;
	mv->want = BIT(MS_ABORT_TARGET) | BIT(MS_ABORT_SOURCE);
	mv->done = 0;
	mv->retry_ns = 0;
}

int moves_resume(struct moves *m, const struct move *stored)
{
	struct move *mv = add(m, stored->guest);

	if (!mv)
		return moves_find(m, stored->guest) ? -EEXIST : -ENOMEM;
	*mv = *stored;
	mv->want = mv->flying = mv->done = 0;
	mv->retry_ns = 0;
	/* Nobody followed the transfer or the start: the source is the guest. */
	if (mv->phase == MP_TRANSFER || mv->phase == MP_STARTING || mv->phase == MP_ABORTING)
		abort_move(mv);
	else if (mv->phase == MP_MOVED)
		mv->want = BIT(MS_COMMIT) | BIT(MS_UNDEFINE);
	return 0;
}

void moves_remove(struct moves *m, const char *guest)
{
	struct move *mv = moves_find(m, guest);

	if (!mv)
		return;
	*mv = m->list[--m->count];
	sodium_memzero(&m->list[m->count], sizeof(m->list[0]));
}

static void set_detail(struct move *mv, const char *detail)
{
	snprintf(mv->detail, sizeof(mv->detail), "%s", detail ? detail : "");
}

static enum move_effect failed(struct move *mv, enum move_step s, const char *detail, uint64_t now)
{
	char why[sizeof(mv->detail)];

	if (mv->phase == MP_TRANSFER || mv->phase == MP_STARTING) {
		snprintf(why, sizeof(why), "%s failed: %s", move_step_verb(s), detail ? detail : "?");
		set_detail(mv, why);
		abort_move(mv);
		return ME_RECORD;
	}
	if (mv->phase == MP_KEPT && s == MS_RELEASE) {
		set_detail(mv, detail);
		return ME_RECORD; /* the operator asks again */
	}
	/* Past the point of no return, or undoing: the phase's own steps are
	 * sent again; a late answer of an earlier step changes nothing. */
	if (!(BIT(s) & (mv->phase == MP_MOVED ? BIT(MS_COMMIT) | BIT(MS_UNDEFINE)
			: mv->phase == MP_ABORTING ? BIT(MS_ABORT_TARGET) | BIT(MS_ABORT_SOURCE) : 0)))
		return ME_NONE;
	mv->want |= BIT(s);
	mv->retry_ns = now + RETRY_NS;
	return ME_NONE;
}

enum move_effect move_answer(struct move *mv, enum move_step s, bool ok, const char *detail,
			     uint64_t now)
{
	mv->flying &= ~BIT(s);
	if (!ok)
		return failed(mv, s, detail, now);
	mv->done |= BIT(s);
	switch (mv->phase) {
	case MP_TRANSFER:
		if ((mv->done & (BIT(MS_OUT) | BIT(MS_IN))) != (BIT(MS_OUT) | BIT(MS_IN)))
			return ME_NONE;
		mv->phase = MP_STARTING;
		mv->want = BIT(MS_START);
		set_detail(mv, "transferred and verified; starting on the target");
		return ME_RECORD;
	case MP_STARTING:
		if (s != MS_START)
			return ME_NONE;
		mv->phase = MP_MOVED;
		mv->want = BIT(MS_COMMIT) | BIT(MS_UNDEFINE);
		set_detail(mv, "running on the target");
		return ME_MOVED;
	case MP_MOVED:
		if ((mv->done & (BIT(MS_COMMIT) | BIT(MS_UNDEFINE))) != (BIT(MS_COMMIT) | BIT(MS_UNDEFINE)))
			return ME_NONE;
		mv->phase = MP_KEPT;
		set_detail(mv, "the source's copy is undefined and kept until release-source");
		return ME_RECORD;
	case MP_KEPT:
		return s == MS_RELEASE ? ME_FORGET : ME_NONE;
	case MP_ABORTING:
		if ((mv->done & (BIT(MS_ABORT_TARGET) | BIT(MS_ABORT_SOURCE))) !=
		    (BIT(MS_ABORT_TARGET) | BIT(MS_ABORT_SOURCE)))
			return ME_NONE;
		return ME_FORGET;
	default:
		return ME_NONE;
	}
}

bool move_transfer_renews(uint64_t *renewed_at, uint64_t bytes)
{
	if (bytes < *renewed_at || bytes - *renewed_at < MOVE_RENEW_BYTES)
		return false;
	*renewed_at = bytes;
	return true;
}

void move_progress(struct move *mv, uint64_t bytes, uint64_t total, const char *detail)
{
	if (mv->phase != MP_TRANSFER)
		return;
	if (total) {
		mv->bytes = bytes;
		mv->total = total;
	}
	if (detail)
		set_detail(mv, detail);
}

bool move_node_lost(struct move *mv, const char *node, const char *why)
{
	if (mv->phase != MP_TRANSFER || (strcmp(mv->source, node) && strcmp(mv->target, node)))
		return false;
	set_detail(mv, why);
	abort_move(mv);
	return true;
}

unsigned move_sendable(const struct move *mv, uint64_t now)
{
	unsigned s = mv->want & ~mv->flying;

	if (mv->retry_ns > now)
		return 0;
	if (mv->flying & BIT(MS_IN))
		s &= ~BIT(MS_ABORT_TARGET);
	if (mv->flying & BIT(MS_OUT))
		s &= ~BIT(MS_ABORT_SOURCE);
	return s;
}
