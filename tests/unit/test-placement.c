#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/clock.h"
#include "service-vm-fleet/placement.h"

#define GiB (1024ULL * 1024 * 1024)
#define GiB_KIB (1024ULL * 1024)
#define T0 (1000 * NSEC_PER_SEC)

static const struct place_config defaults = { .margin_min_bytes = GiB, .margin_percent = 5 };

static void add(struct registry *r, const char *name, uint64_t total_kib, uint64_t avail_kib,
		uint16_t ncpu, uint32_t guests)
{
	struct heartbeat hb = {
		.seq = 1, .ncpu = ncpu, .mem_total_kib = total_kib, .mem_available_kib = avail_kib,
		.guests_running = guests, .interval_ms = 10000,
	};

	snprintf(hb.name, sizeof(hb.name), "%s", name);
	assert_int_equal(registry_heartbeat(r, &hb, T0, 1700000000), 0);
}

/* big, mid, small fit a 2G/2 vCPU request; the rest are excluded, one per
 * reason. small is exactly at the margin; edge is one KiB short of it. */
static void fleet(struct registry *r)
{
	assert_int_equal(registry_init(r, NULL, T0, NULL, NULL), 0);
	add(r, "tiny", 4 * GiB_KIB, 1468006, 4, 0);           /* 1.4G */
	add(r, "mid", 16 * GiB_KIB, 10 * GiB_KIB, 8, 1);
	add(r, "cpu", 64 * GiB_KIB, 60 * GiB_KIB, 1, 0);
	add(r, "big", 64 * GiB_KIB, 40 * GiB_KIB, 16, 3);
	add(r, "small", 8 * GiB_KIB, 3 * GiB_KIB, 4, 0);
	add(r, "edge", 8 * GiB_KIB, 3 * GiB_KIB - 1, 4, 0);
	add(r, "gone", 64 * GiB_KIB, 60 * GiB_KIB, 16, 0);
	assert_int_equal(registry_restore(r, "quiet", NODE_LIVE, 1, 2), 0);
	/* Only "gone" is silent: one of eight is no hold. */
	for (size_t i = 0; i < r->count; i++) {
		if (strcmp(r->nodes[i].name, "gone"))
			r->nodes[i].last_seen_ns = T0 + 20 * NSEC_PER_SEC;
	}
	registry_sweep(r, T0 + 31 * NSEC_PER_SEC);
	assert_int_equal(registry_find(r, "gone")->state, NODE_EVICTED);
	assert_int_equal(registry_find(r, "quiet")->state, NODE_LIVE);
}

static void add_flags(struct registry *r, const char *name, uint32_t flags)
{
	struct heartbeat hb = {
		.seq = 1, .ncpu = 8, .mem_total_kib = 64 * GiB_KIB, .mem_available_kib = 60 * GiB_KIB,
		.interval_ms = 10000, .flags = flags,
	};

	snprintf(hb.name, sizeof(hb.name), "%s", name);
	assert_int_equal(registry_heartbeat(r, &hb, T0, 1700000000), 0);
}

static const struct place_entry *excluded(const struct place_result *res, const char *name)
{
	for (size_t i = 0; i < res->exclusions_listed; i++) {
		if (!strcmp(res->exclusions[i].node->name, name))
			return &res->exclusions[i];
	}
	fail_msg("%s is not listed as excluded", name);
	return NULL;
}

static void test_names_and_margin(void **state)
{
	const struct place_config pct0 = { .margin_min_bytes = 7, .margin_percent = 0 };
	const struct place_config all = { .margin_min_bytes = 0, .margin_percent = 100 };

	assert_string_equal(place_exclusion_name(PLACE_EX_EVICTED), "evicted");
	assert_string_equal(place_exclusion_name(PLACE_EX_NO_SAMPLE), "no-sample");
	assert_string_equal(place_exclusion_name(PLACE_EX_MEMORY), "memory");
	assert_string_equal(place_exclusion_name(PLACE_EX_VCPUS), "vcpus");
	assert_string_equal(place_exclusion_name(PLACE_EX_NOT_NAMED), "not-named");
	assert_string_equal(place_exclusion_name(PLACE_EX__COUNT), "unknown");

	/* 64 GiB * 5 % = 3435973836.8 bytes, floored. */
	assert_int_equal(placement_margin(&defaults, 64 * GiB), 3435973836ULL);
	/* 20 GiB * 5 % is exactly 1 GiB; 16 GiB * 5 % is below the minimum. */
	assert_int_equal(placement_margin(&defaults, 20 * GiB), GiB);
	assert_int_equal(placement_margin(&defaults, 16 * GiB), GiB);
	assert_int_equal(placement_margin(&defaults, 21 * GiB), 21 * GiB / 20);
	assert_int_equal(placement_margin(&defaults, 0), GiB);
	assert_int_equal(placement_margin(&pct0, 64 * GiB), 7);
	assert_int_equal(placement_margin(&all, UINT64_MAX), UINT64_MAX);
	assert_int_equal(placement_margin(&all, 199), 199);
}

static void test_rank(void **state)
{
	const struct place_request req = { .memory_bytes = 2 * GiB, .vcpus = 2,
					   .type = "mediakit" };
	struct place_result res;
	struct registry r;

	fleet(&r);
	assert_int_equal(placement_rank(&r, NULL, &req, 0, &res), 0);
	assert_int_equal(res.ncandidates, 3);
	assert_int_equal(res.candidates_listed, 3);
	assert_string_equal(res.candidates[0].node->name, "big");
	assert_string_equal(res.candidates[1].node->name, "mid");
	assert_string_equal(res.candidates[2].node->name, "small");
	assert_int_equal(res.candidates[0].available, 40 * GiB);
	assert_int_equal(res.candidates[0].margin, 3435973836ULL);
	assert_int_equal(res.candidates[0].after, 38 * GiB);
	assert_int_equal(res.candidates[0].guests, 3);
	assert_int_equal(res.candidates[1].after, 8 * GiB);
	assert_int_equal(res.candidates[2].after, GiB);
	assert_int_equal(res.candidates[2].margin, GiB);

	assert_int_equal(res.nexclusions, 5);
	assert_int_equal(res.exclusions_listed, 5);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_MEMORY], 2);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_VCPUS], 1);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_EVICTED], 1);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_NO_SAMPLE], 1);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_NOT_NAMED], 0);
	/* Registry order. */
	assert_string_equal(res.exclusions[0].node->name, "tiny");
	assert_string_equal(res.exclusions[4].node->name, "quiet");
	assert_int_equal(excluded(&res, "tiny")->reason, PLACE_EX_MEMORY);
	assert_string_equal(excluded(&res, "tiny")->why,
			    "needs 2.0G + 1.0G margin, has 1.4G available");
	assert_int_equal(excluded(&res, "tiny")->after, 0);
	assert_int_equal(excluded(&res, "edge")->reason, PLACE_EX_MEMORY);
	assert_int_equal(excluded(&res, "edge")->after, GiB - 1024);
	assert_string_equal(excluded(&res, "edge")->why,
			    "needs 2.0G + 1.0G margin, has 3.0G available");
	assert_int_equal(excluded(&res, "cpu")->reason, PLACE_EX_VCPUS);
	assert_string_equal(excluded(&res, "cpu")->why, "needs 2 vCPUs, has 1");
	assert_int_equal(excluded(&res, "gone")->reason, PLACE_EX_EVICTED);
	assert_string_equal(excluded(&res, "gone")->why, "evicted after more than 30 s of silence");
	assert_int_equal(excluded(&res, "quiet")->reason, PLACE_EX_NO_SAMPLE);
	assert_string_equal(excluded(&res, "quiet")->why, "no heartbeat since the fleet started");
	place_result_free(&res);
	assert_null(res.candidates);
	assert_int_equal(res.ncandidates, 0);
	registry_free(&r);
}

/* Pending reservations count against a node until its next heartbeat. */
static void test_pending(void **state)
{
	const struct place_request req = { .memory_bytes = 2 * GiB, .vcpus = 2 };
	struct place_result res;
	struct registry r;

	fleet(&r);
	assert_int_equal(registry_reserve(&r, "big", 36 * GiB, 4), 0);
	assert_int_equal(node_available_bytes(registry_find(&r, "big")), 4 * GiB);
	assert_int_equal(placement_rank(&r, &defaults, &req, 0, &res), 0);
	assert_int_equal(res.ncandidates, 2);
	assert_string_equal(res.candidates[0].node->name, "mid");
	assert_string_equal(res.candidates[1].node->name, "small");
	assert_int_equal(excluded(&res, "big")->available, 4 * GiB);
	assert_string_equal(excluded(&res, "big")->why,
			    "needs 2.0G + 3.2G margin, has 4.0G available (36.0G pending)");
	place_result_free(&res);

	/* More pending than reported: saturates at zero. */
	assert_int_equal(registry_reserve(&r, "small", 5 * GiB, 1), 0);
	assert_int_equal(node_available_bytes(registry_find(&r, "small")), 0);
	assert_int_equal(node_available_bytes(registry_find(&r, "quiet")), 0);
	registry_free(&r);
}

/* 64 GiB * 5 % = 3435973836.8: a node keeping exactly the floored margin
 * fits, one byte less does not. */
static void test_margin_boundary(void **state)
{
	const uint64_t margin = 3435973836ULL;
	struct place_request req = { .memory_bytes = 40 * GiB - margin, .vcpus = 1 };
	struct place_result res;
	struct registry r;

	assert_int_equal(registry_init(&r, NULL, T0, NULL, NULL), 0);
	add(&r, "big", 64 * GiB_KIB, 40 * GiB_KIB, 16, 0);
	assert_int_equal(placement_rank(&r, &defaults, &req, 0, &res), 0);
	assert_int_equal(res.ncandidates, 1);
	assert_int_equal(res.candidates[0].after, margin);
	assert_int_equal(res.candidates[0].margin, margin);
	place_result_free(&res);
	req.memory_bytes++;
	assert_int_equal(placement_rank(&r, &defaults, &req, 0, &res), 0);
	assert_int_equal(res.ncandidates, 0);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_MEMORY], 1);
	assert_int_equal(res.exclusions[0].after, margin - 1);
	place_result_free(&res);
	/* The same through a pending reservation instead of a bigger request. */
	req.memory_bytes--;
	assert_int_equal(registry_reserve(&r, "big", 1, 0), 0);
	assert_int_equal(placement_rank(&r, &defaults, &req, 1, &res), 0);
	assert_int_equal(res.ncandidates, 0);
	place_result_free(&res);
	registry_free(&r);
}

/* A percentage with no remainder: 64 GiB * 25 % is exactly 16 GiB. */
static void test_margin_exact_percent(void **state)
{
	const struct place_config quarter = { .margin_min_bytes = 0, .margin_percent = 25 };
	struct place_request req = { .memory_bytes = 24 * GiB, .vcpus = 1 };
	struct place_result res;
	struct registry r;

	assert_int_equal(registry_init(&r, NULL, T0, NULL, NULL), 0);
	add(&r, "big", 64 * GiB_KIB, 40 * GiB_KIB, 16, 0);
	assert_int_equal(placement_margin(&quarter, 64 * GiB), 16 * GiB);
	assert_int_equal(placement_rank(&r, &quarter, &req, 0, &res), 0);
	assert_int_equal(res.ncandidates, 1);
	assert_int_equal(res.candidates[0].after, 16 * GiB);
	place_result_free(&res);
	req.memory_bytes++;
	assert_int_equal(placement_rank(&r, &quarter, &req, 0, &res), 0);
	assert_int_equal(res.ncandidates, 0);
	assert_string_equal(res.exclusions[0].why,
			    "needs 24.0G + 16.0G margin, has 40.0G available");
	place_result_free(&res);
	registry_free(&r);
}

static void test_ties(void **state)
{
	const struct place_request req = { .memory_bytes = GiB, .vcpus = 1 };
	struct place_result res;
	struct registry r;

	assert_int_equal(registry_init(&r, NULL, T0, NULL, NULL), 0);
	add(&r, "c", 8 * GiB_KIB, 4 * GiB_KIB, 2, 1);
	add(&r, "b", 8 * GiB_KIB, 4 * GiB_KIB, 2, 1);
	add(&r, "a", 8 * GiB_KIB, 4 * GiB_KIB, 2, 2);
	add(&r, "d", 8 * GiB_KIB, 4 * GiB_KIB, 2, 0);
	assert_int_equal(registry_reserve(&r, "d", 0, 1), 0);
	assert_int_equal(registry_reserve(&r, "d", 0, 1), 0);
	assert_int_equal(placement_rank(&r, &defaults, &req, 0, &res), 0);
	assert_int_equal(res.ncandidates, 4);
	/* Equal memory: fewer guests (running + pending), then name. */
	assert_string_equal(res.candidates[0].node->name, "b");
	assert_string_equal(res.candidates[1].node->name, "c");
	assert_string_equal(res.candidates[2].node->name, "a");
	assert_string_equal(res.candidates[3].node->name, "d");
	assert_int_equal(res.candidates[3].guests, 2);
	place_result_free(&res);
	assert_int_equal(placement_rank(&r, &defaults, &req, 2, &res), 0);
	assert_int_equal(res.candidates_listed, 2);
	assert_string_equal(res.candidates[0].node->name, "b");
	assert_string_equal(res.candidates[1].node->name, "c");
	place_result_free(&res);
	registry_free(&r);
}

static void test_limit(void **state)
{
	const struct place_request req = { .memory_bytes = 2 * GiB, .vcpus = 2 };
	struct place_result res;
	struct registry r;

	fleet(&r);
	assert_int_equal(placement_rank(&r, &defaults, &req, 1, &res), 0);
	assert_int_equal(res.ncandidates, 3);
	assert_int_equal(res.candidates_listed, 1);
	assert_string_equal(res.candidates[0].node->name, "big");
	assert_int_equal(res.nexclusions, 5);
	assert_int_equal(res.exclusions_listed, 1);
	assert_string_equal(res.exclusions[0].node->name, "tiny");
	assert_int_equal(res.excluded_by_reason[PLACE_EX_MEMORY], 2);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_EVICTED], 1);
	place_result_free(&res);

	assert_int_equal(placement_rank(&r, &defaults, &req, 100, &res), 0);
	assert_int_equal(res.candidates_listed, 3);
	assert_int_equal(res.exclusions_listed, 5);
	place_result_free(&res);
	registry_free(&r);
}

static void test_named(void **state)
{
	struct place_request req = { .memory_bytes = 2 * GiB, .vcpus = 2, .type = "totebox",
				     .node = "small" };
	struct place_result res;
	struct registry r;

	fleet(&r);
	assert_int_equal(placement_rank(&r, &defaults, &req, 0, &res), 0);
	assert_int_equal(res.ncandidates, 1);
	assert_string_equal(res.candidates[0].node->name, "small");
	assert_int_equal(res.nexclusions, 7);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_NOT_NAMED], 7);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_MEMORY], 0);
	assert_int_equal(excluded(&res, "big")->reason, PLACE_EX_NOT_NAMED);
	assert_string_equal(excluded(&res, "big")->why, "the operator named small");
	place_result_free(&res);

	/* The named node's own reason comes first, whatever the limit. */
	req.node = "quiet";
	assert_int_equal(placement_rank(&r, &defaults, &req, 1, &res), 0);
	assert_int_equal(res.ncandidates, 0);
	assert_int_equal(res.candidates_listed, 0);
	assert_null(res.candidates);
	assert_int_equal(res.nexclusions, 8);
	assert_int_equal(res.exclusions_listed, 1);
	assert_string_equal(res.exclusions[0].node->name, "quiet");
	assert_int_equal(res.exclusions[0].reason, PLACE_EX_NO_SAMPLE);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_NO_SAMPLE], 1);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_NOT_NAMED], 7);
	place_result_free(&res);

	req.node = "nowhere";
	assert_int_equal(placement_rank(&r, &defaults, &req, 0, &res), -ENOENT);
	assert_int_equal(res.ncandidates, 0);
	assert_null(res.exclusions);
	registry_free(&r);
}

static void test_invalid(void **state)
{
	struct place_request req = { .memory_bytes = 0, .vcpus = 1 };
	struct place_result res;
	struct registry r;

	fleet(&r);
	assert_int_equal(placement_rank(&r, &defaults, &req, 0, &res), -EINVAL);
	req.memory_bytes = 1;
	req.vcpus = 0;
	assert_int_equal(placement_rank(&r, &defaults, &req, 0, &res), -EINVAL);
	place_result_free(&res);
	registry_free(&r);
}

/* "No node fits" is an answer, also for an empty fleet. */
static void test_nothing_fits(void **state)
{
	const struct place_request huge = { .memory_bytes = 1024 * GiB, .vcpus = 1 };
	struct place_result res;
	struct registry r;

	assert_int_equal(registry_init(&r, NULL, T0, NULL, NULL), 0);
	assert_int_equal(placement_rank(&r, &defaults, &huge, 10, &res), 0);
	assert_int_equal(res.ncandidates, 0);
	assert_int_equal(res.nexclusions, 0);
	assert_null(res.candidates);
	assert_null(res.exclusions);
	place_result_free(&res);
	registry_free(&r);

	fleet(&r);
	assert_int_equal(placement_rank(&r, &defaults, &huge, 0, &res), 0);
	assert_int_equal(res.ncandidates, 0);
	assert_int_equal(res.nexclusions, 8);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_MEMORY], 6);
	place_result_free(&res);
	registry_free(&r);
}

/* The bounded top-k must agree with the full sort, ties included. */
static void test_topk_matches_sort(void **state)
{
	const struct place_request req = { .memory_bytes = GiB, .vcpus = 2 };
	const size_t limits[] = { 1, 2, 10, 63, 64, 65, 200, 499, 500, 1000 };
	struct place_result full, part;
	struct registry r;
	char name[32];

	srand(7);
	assert_int_equal(registry_init(&r, NULL, T0, NULL, NULL), 0);
	for (unsigned i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "n%03u", (i * 37) % 500);
		add(&r, name, 32 * GiB_KIB, (uint64_t)(rand() % 16) * GiB_KIB / 2,
		    (uint16_t)(1 + rand() % 4), (uint32_t)(rand() % 3));
	}
	assert_int_equal(placement_rank(&r, &defaults, &req, 0, &full), 0);
	assert_true(full.ncandidates > 100);
	assert_int_equal(full.ncandidates + full.nexclusions, 500);
	for (size_t i = 1; i < full.ncandidates; i++) {
		const struct place_entry *a = &full.candidates[i - 1], *b = &full.candidates[i];

		bool same = a->after == b->after && a->guests == b->guests;

		assert_true(a->after > b->after ||
			    (a->after == b->after && a->guests < b->guests) ||
			    (same && strcmp(a->node->name, b->node->name) < 0));
	}
	for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
		size_t want = limits[l] < full.ncandidates ? limits[l] : full.ncandidates;

		assert_int_equal(placement_rank(&r, &defaults, &req, limits[l], &part), 0);
		assert_int_equal(part.ncandidates, full.ncandidates);
		assert_int_equal(part.nexclusions, full.nexclusions);
		assert_int_equal(part.candidates_listed, want);
		for (size_t i = 0; i < want; i++)
			assert_ptr_equal(part.candidates[i].node, full.candidates[i].node);
		assert_int_equal(part.exclusions_listed,
				 limits[l] < full.nexclusions ? limits[l] : full.nexclusions);
		for (size_t i = 0; i < part.exclusions_listed; i++)
			assert_ptr_equal(part.exclusions[i].node, full.exclusions[i].node);
		place_result_free(&part);
	}
	place_result_free(&full);
	registry_free(&r);
}

static bool not_big(void *ctx, const char *name)
{
	return strcmp(name, "big") != 0;
}

/* A revoked member leaves placement at the trust reload, with its reason,
 * even while its last heartbeat is recent; named, it is refused too. */
static void test_revoked_excluded(void **state)
{
	const struct place_request req = { .memory_bytes = 2 * GiB, .vcpus = 2 };
	const struct place_request named = { .memory_bytes = 2 * GiB, .vcpus = 2, .node = "big" };
	struct place_result res;
	struct registry r;

	fleet(&r);
	registry_apply_trust(&r, not_big, NULL, true);
	assert_int_equal(placement_rank(&r, &defaults, &req, 0, &res), 0);
	assert_int_equal(res.ncandidates, 2);
	assert_string_equal(res.candidates[0].node->name, "mid");
	assert_int_equal(excluded(&res, "big")->reason, PLACE_EX_REVOKED);
	assert_string_equal(excluded(&res, "big")->why, "revoked: no longer trusted by the fleet");
	assert_int_equal(res.excluded_by_reason[PLACE_EX_REVOKED], 1);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_EVICTED], 1);
	place_result_free(&res);
	assert_int_equal(placement_rank(&r, &defaults, &named, 0, &res), 0);
	assert_int_equal(res.ncandidates, 0);
	assert_int_equal(res.exclusions[0].reason, PLACE_EX_REVOKED);
	place_result_free(&res);
	assert_string_equal(place_exclusion_name(PLACE_EX_REVOKED), "revoked");
	registry_free(&r);
}

/* A node that reports it has no dispatch address, or lacks the type's base
 * image, is excluded with the reason; an agent that reports nothing (old)
 * and one that has not looked at its images are candidates as before. */
static void test_capabilities_exclude(void **state)
{
	const uint32_t caps = HB_FLAG_LIBVIRT | HB_FLAG_CAPS | HB_FLAG_DISPATCH | HB_FLAG_IMAGES;
	struct place_request req = { .memory_bytes = 2 * GiB, .vcpus = 2, .type = "mediakit" };
	struct place_result res;
	const struct place_entry *e;
	struct registry r;

	(void)state;
	assert_int_equal(registry_init(&r, NULL, T0, NULL, NULL), 0);
	add_flags(&r, "old", HB_FLAG_LIBVIRT);
	add_flags(&r, "nodispatch", HB_FLAG_CAPS | HB_FLAG_IMAGES | HB_FLAG_BASE(0) |
		  HB_FLAG_BASE(1) | HB_FLAG_BASE(2) | HB_FLAG_BASE(3));
	add_flags(&r, "tote-only", caps | HB_FLAG_BASE(0));
	add_flags(&r, "media", caps | HB_FLAG_BASE(1));
	add_flags(&r, "unlooked", HB_FLAG_CAPS | HB_FLAG_DISPATCH);

	assert_int_equal(placement_rank(&r, &defaults, &req, 0, &res), 0);
	assert_int_equal(res.ncandidates, 3);
	assert_int_equal(res.nexclusions, 2);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_NO_DISPATCH], 1);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_NO_IMAGE], 1);
	e = excluded(&res, "nodispatch");
	assert_int_equal(e->reason, PLACE_EX_NO_DISPATCH);
	assert_string_equal(place_exclusion_name(e->reason), "no-dispatch");
	assert_non_null(strstr(e->why, "no dispatch address"));
	e = excluded(&res, "tote-only");
	assert_int_equal(e->reason, PLACE_EX_NO_IMAGE);
	assert_string_equal(place_exclusion_name(e->reason), "no-image");
	assert_non_null(strstr(e->why, "no base image for mediakit"));
	place_result_free(&res);

	/* The same with a limit (the top-k path) and for a Totebox. */
	req.type = "totebox";
	assert_int_equal(placement_rank(&r, &defaults, &req, 2, &res), 0);
	assert_int_equal(res.ncandidates, 3); /* old, tote-only, unlooked */
	assert_int_equal(res.excluded_by_reason[PLACE_EX_NO_IMAGE], 1);
	assert_int_equal(res.excluded_by_reason[PLACE_EX_NO_DISPATCH], 1);
	place_result_free(&res);

	/* Without a type only the dispatch address counts. */
	req.type = NULL;
	assert_int_equal(placement_rank(&r, &defaults, &req, 0, &res), 0);
	assert_int_equal(res.ncandidates, 4);
	assert_string_equal(excluded(&res, "nodispatch")->node->name, "nodispatch");
	place_result_free(&res);
	registry_free(&r);
}

/* The operator's node is judged the same way: its own reason comes first. */
static void test_capabilities_named(void **state)
{
	struct place_request req = { .memory_bytes = 2 * GiB, .vcpus = 2, .type = "totebox",
				     .node = "n1" };
	struct place_result res;
	struct registry r;

	(void)state;
	assert_int_equal(registry_init(&r, NULL, T0, NULL, NULL), 0);
	add_flags(&r, "n1", HB_FLAG_CAPS | HB_FLAG_IMAGES | HB_FLAG_BASE(0));
	add_flags(&r, "n2", HB_FLAG_CAPS | HB_FLAG_DISPATCH | HB_FLAG_IMAGES | HB_FLAG_BASE(0));
	assert_int_equal(placement_rank(&r, &defaults, &req, 0, &res), 0);
	assert_int_equal(res.ncandidates, 0);
	assert_string_equal(res.exclusions[0].node->name, "n1");
	assert_int_equal(res.exclusions[0].reason, PLACE_EX_NO_DISPATCH);
	assert_int_equal(res.exclusions[1].reason, PLACE_EX_NOT_NAMED);
	place_result_free(&res);
	registry_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_margin),
		cmocka_unit_test(test_rank),
		cmocka_unit_test(test_pending),
		cmocka_unit_test(test_margin_boundary),
		cmocka_unit_test(test_margin_exact_percent),
		cmocka_unit_test(test_ties),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_named),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_nothing_fits),
		cmocka_unit_test(test_topk_matches_sort),
		cmocka_unit_test(test_revoked_excluded),
		cmocka_unit_test(test_capabilities_exclude),
		cmocka_unit_test(test_capabilities_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
