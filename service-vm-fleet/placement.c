#include "service-vm-fleet/placement.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/guest-types.h"
#include "lib/units.h"

#define PLACE_DEFAULT_MARGIN_MIN (1024ULL * 1024 * 1024)
#define PLACE_DEFAULT_MARGIN_PERCENT 5
/* Up to this limit the best candidates are kept by insertion in one pass;
 * above it (or with no limit) they are sorted. */
#define TOPK_MAX 64

static const char *const reason_names[PLACE_EX__COUNT] = {
	[PLACE_EX_EVICTED] = "evicted",
	[PLACE_EX_NO_SAMPLE] = "no-sample",
	[PLACE_EX_MEMORY] = "memory",
	[PLACE_EX_VCPUS] = "vcpus",
	[PLACE_EX_NOT_NAMED] = "not-named",
	[PLACE_EX_REVOKED] = "revoked",
	[PLACE_EX_NO_DISPATCH] = "no-dispatch",
	[PLACE_EX_NO_IMAGE] = "no-image",
};

static const struct place_config default_config = {
	.margin_min_bytes = PLACE_DEFAULT_MARGIN_MIN,
	.margin_percent = PLACE_DEFAULT_MARGIN_PERCENT,
};

const char *place_exclusion_name(enum place_exclusion_reason r)
{
	return (unsigned)r < PLACE_EX__COUNT ? reason_names[r] : "unknown";
}

uint64_t placement_margin(const struct place_config *cfg, uint64_t mem_total_bytes)
{
	uint64_t whole, part;

	/* Split so that total * percent cannot overflow. */
	if (__builtin_mul_overflow(mem_total_bytes / 100, cfg->margin_percent, &whole))
		return UINT64_MAX;
	part = mem_total_bytes % 100 * cfg->margin_percent / 100;
	whole = whole > UINT64_MAX - part ? UINT64_MAX : whole + part;
	return whole > cfg->margin_min_bytes ? whole : cfg->margin_min_bytes;
}

/* The exclusion reason, or -1 for a candidate with *after set. Cheap tests
 * first: this runs once per node and decision. The margin test is
 * after >= floor(total * percent / 100), exact in 128 bits. */
static inline int judge(const struct place_config *cfg, const struct place_request *req,
			int type, const struct node_fit *f, uint64_t *after)
{
	if (!f->live)
		return f->revoked ? PLACE_EX_REVOKED : PLACE_EX_EVICTED;
	if (!f->sampled)
		return PLACE_EX_NO_SAMPLE;
	switch (hb_can_build(f->flags, type)) {
	case HB_BUILD_NO_DISPATCH:
		return PLACE_EX_NO_DISPATCH;
	case HB_BUILD_NO_IMAGE:
		return PLACE_EX_NO_IMAGE;
	default:
		break;
	}
	if (f->ncpu < req->vcpus)
		return PLACE_EX_VCPUS;
	if (f->available < req->memory_bytes)
		return PLACE_EX_MEMORY;
	*after = f->available - req->memory_bytes;
	if (*after < cfg->margin_min_bytes ||
	    (unsigned __int128)f->mem_total * cfg->margin_percent >
	    (unsigned __int128)*after * 100 + 99)
		return PLACE_EX_MEMORY;
	return -1;
}

/* The request's type as an index of the guest type table, or -1. */
static int request_type(const struct place_request *req)
{
	const struct guest_type *t = guest_type_find(req->type);

	return t ? (int)guest_type_index(t) : -1;
}

/* Fills e with node idx's numbers; returns as judge() does. */
static int evaluate(const struct registry *r, const struct place_config *cfg,
		    const struct place_request *req, size_t idx, struct place_entry *e)
{
	const struct node_fit *f = &r->fit[idx];

	e->node = &r->nodes[idx];
	e->available = f->available;
	e->margin = placement_margin(cfg, f->mem_total);
	e->after = f->available > req->memory_bytes ? f->available - req->memory_bytes : 0;
	e->guests = f->guests;
	return judge(cfg, req, request_type(req), f, &e->after);
}

static void explain(const struct registry *r, const struct place_config *cfg,
		    const struct place_request *req, struct place_entry *e)
{
	char need[16], margin[16], avail[16], pending[16];
	const struct node *n = e->node;
	int len = 0;

	switch (e->reason) {
	case PLACE_EX_EVICTED:
		snprintf(e->why, sizeof(e->why), "evicted after more than %g s of silence",
			 (double)r->cfg.evict_after_ns / NSEC_PER_SEC);
		break;
	case PLACE_EX_NO_SAMPLE:
		snprintf(e->why, sizeof(e->why), "no heartbeat since the fleet started");
		break;
	case PLACE_EX_VCPUS:
		snprintf(e->why, sizeof(e->why), "needs %u vCPUs, has %u", req->vcpus,
			 n->last.ncpu);
		break;
	case PLACE_EX_MEMORY:
		format_size(req->memory_bytes, need, sizeof(need));
		format_size(e->margin, margin, sizeof(margin));
		format_size(e->available, avail, sizeof(avail));
		len = snprintf(e->why, sizeof(e->why), "needs %s + %s margin, has %s available",
			       need, margin, avail);
		if (n->pending_bytes && len > 0 && (size_t)len < sizeof(e->why)) {
			format_size(n->pending_bytes, pending, sizeof(pending));
			snprintf(e->why + len, sizeof(e->why) - (size_t)len, " (%s pending)",
				 pending);
		}
		break;
	case PLACE_EX_NOT_NAMED:
		snprintf(e->why, sizeof(e->why), "the operator named %s", req->node);
		break;
	case PLACE_EX_REVOKED:
		snprintf(e->why, sizeof(e->why), "revoked: no longer trusted by the fleet");
		break;
	case PLACE_EX_NO_DISPATCH:
		snprintf(e->why, sizeof(e->why), "no dispatch address (dispatch_listen is not set "
			 "in its host.conf)");
		break;
	case PLACE_EX_NO_IMAGE:
		snprintf(e->why, sizeof(e->why), "no base image for %s (image import on the node)",
			 req->type);
		break;
	default:
		e->why[0] = '\0';
	}
}

struct rank_key {
	uint64_t after;
	uint32_t guests;
	uint32_t idx;
};

/* Most memory left after the request, then fewer guests, then name. */
static int key_cmp(const void *pa, const void *pb, void *ctx)
{
	const struct rank_key *a = pa, *b = pb;
	const struct node *nodes = ctx;

	if (a->after != b->after)
		return a->after > b->after ? -1 : 1;
	if (a->guests != b->guests)
		return a->guests < b->guests ? -1 : 1;
	return strcmp(nodes[a->idx].name, nodes[b->idx].name);
}

/* Scratch state of one ranking: candidate keys (the best kcap when topk, all
 * otherwise) and the indices of the exclusions to list. */
struct ranking {
	const struct registry *r;
	const struct place_config *cfg;
	const struct place_request *req;
	struct place_result *out;
	long named;                  /* the operator's node, or -1 */
	int type;                    /* request_type() */
	struct rank_key *keys;
	size_t nkeys, kcap;
	bool topk;
	uint32_t *ex;
	size_t nex, excap;
};

/* Inserts a candidate among the best kept so far (all of them when not
 * topk). */
static void keep_candidate(struct ranking *rk, size_t idx, uint64_t after)
{
	const struct node *nodes = rk->r->nodes;
	struct rank_key key = { .after = after, .guests = rk->r->fit[idx].guests,
				.idx = (uint32_t)idx };
	size_t i = rk->nkeys;

	if (!rk->topk) {
		rk->keys[rk->nkeys++] = key;
		return;
	}
	if (i == rk->kcap) {
		if (key_cmp(&key, &rk->keys[i - 1], (void *)nodes) >= 0)
			return;
		i--;
	} else {
		rk->nkeys++;
	}
	while (i > 0 && key_cmp(&key, &rk->keys[i - 1], (void *)nodes) < 0) {
		rk->keys[i] = rk->keys[i - 1];
		i--;
	}
	rk->keys[i] = key;
}

static void keep_exclusion(struct ranking *rk, size_t idx, int reason)
{
	rk->out->nexclusions++;
	rk->out->excluded_by_reason[reason]++;
	if (rk->nex < rk->excap)
		rk->ex[rk->nex++] = (uint32_t)idx;
}

/* The hot loop: one pass over every node. Most candidates lose to the
 * current k-th best on memory alone and are only counted. */
static void scan_all(struct ranking *rk)
{
	const struct node_fit *fit = rk->r->fit;
	const struct place_config *cfg = rk->cfg;
	const struct place_request *req = rk->req;
	size_t count = rk->r->count, ncand = 0;
	uint64_t worst = 0;
	bool full = false;

	for (size_t i = 0; i < count; i++) {
		uint64_t after;
		int reason = judge(cfg, req, rk->type, &fit[i], &after);

		if (reason >= 0) {
			keep_exclusion(rk, i, reason);
			continue;
		}
		ncand++;
		if (full && after < worst)
			continue;
		keep_candidate(rk, i, after);
		full = rk->topk && rk->nkeys == rk->kcap;
		worst = full ? rk->keys[rk->kcap - 1].after : 0;
	}
	rk->out->ncandidates = ncand;
}

/* Only the named node may be a candidate; its own reason is listed first,
 * whatever the limit. */
static void scan_named(struct ranking *rk)
{
	size_t named = (size_t)rk->named;
	uint64_t after;
	int reason = judge(rk->cfg, rk->req, rk->type, &rk->r->fit[named], &after);

	if (reason < 0) {
		rk->out->ncandidates = 1;
		keep_candidate(rk, named, after);
	} else {
		keep_exclusion(rk, named, reason);
	}
	for (size_t i = 0; i < rk->r->count; i++) {
		if (i != named)
			keep_exclusion(rk, i, PLACE_EX_NOT_NAMED);
	}
}

static int emit_entries(struct ranking *rk, size_t limit)
{
	struct place_result *out = rk->out;
	size_t ncand = limit && limit < rk->nkeys ? limit : rk->nkeys;

	if (!rk->topk && rk->nkeys > 1)
		qsort_r(rk->keys, rk->nkeys, sizeof(*rk->keys), key_cmp, (void *)rk->r->nodes);
	if (ncand && !(out->candidates = calloc(ncand, sizeof(*out->candidates))))
		return -ENOMEM;
	if (rk->nex && !(out->exclusions = calloc(rk->nex, sizeof(*out->exclusions))))
		return -ENOMEM;
	for (size_t i = 0; i < ncand; i++)
		evaluate(rk->r, rk->cfg, rk->req, rk->keys[i].idx, &out->candidates[i]);
	out->candidates_listed = ncand;
	for (size_t i = 0; i < rk->nex; i++) {
		struct place_entry *e = &out->exclusions[i];
		int reason = evaluate(rk->r, rk->cfg, rk->req, rk->ex[i], e);

		if (rk->named >= 0 && rk->ex[i] != (size_t)rk->named)
			reason = PLACE_EX_NOT_NAMED;
		e->reason = (enum place_exclusion_reason)reason;
		explain(rk->r, rk->cfg, rk->req, e);
	}
	out->exclusions_listed = rk->nex;
	return 0;
}

int placement_rank(const struct registry *r, const struct place_config *cfg,
		   const struct place_request *req, size_t limit, struct place_result *out)
{
	struct rank_key topkeys[TOPK_MAX];
	uint32_t topex[TOPK_MAX];
	struct ranking rk = { .r = r, .cfg = cfg ? cfg : &default_config, .req = req, .out = out,
			      .named = -1, .type = request_type(req) };
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!req->memory_bytes || !req->vcpus)
		return -EINVAL;
	if (req->node) {
		rk.named = nametable_find(&r->index, req->node);
		if (rk.named < 0)
			return -ENOENT;
	}
	rk.excap = limit && limit < r->count ? limit : r->count;
	rk.topk = limit && limit <= TOPK_MAX;
	rk.kcap = rk.topk ? limit : r->count;
	if (rk.topk) {
		rk.keys = topkeys;
		rk.ex = topex;
	} else {
		rk.keys = calloc(rk.kcap ? rk.kcap : 1, sizeof(*rk.keys));
		rk.ex = calloc(rk.excap ? rk.excap : 1, sizeof(*rk.ex));
		if (!rk.keys || !rk.ex) {
			ret = -ENOMEM;
			goto cleanup;
		}
	}
	if (rk.named < 0)
		scan_all(&rk);
	else
		scan_named(&rk);
	ret = emit_entries(&rk, limit);
cleanup:
	if (!rk.topk) {
		free(rk.keys);
		free(rk.ex);
	}
	if (ret < 0)
		place_result_free(out);
	return ret;
}

void place_result_free(struct place_result *res)
{
	free(res->candidates);
	free(res->exclusions);
	memset(res, 0, sizeof(*res));
}
