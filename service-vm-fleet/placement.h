/* Advisory placement: which live node should take a new guest.
 *
 * available(n) = last MemAvailable - pending reservations (saturating at 0)
 * margin(n)    = max(margin_min_bytes, MemTotal * margin_percent / 100)
 * candidate    : live, sampled this run, able to build (a node whose heartbeat
 *                reports capabilities needs a dispatch address and, for a
 *                typed request, that type's base image; lib/wire-heartbeat.h),
 *                ncpu >= vcpus, available - memory >= margin
 * order        : most memory left after the request, then fewer guests
 *                (running + pending), then name.
 * Every other node gets an exclusion with its reason and numbers. "No node
 * fits" is an answer (count == 0), not an error. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "service-vm-fleet/registry.h"

struct place_config {
	uint64_t margin_min_bytes;   /* default 1 GiB */
	unsigned margin_percent;     /* default 5 */
};

struct place_request {
	uint64_t memory_bytes;
	uint32_t vcpus;
	const char *type;            /* guest type (its base image is needed), or NULL */
	const char *node;            /* the operator's named node, or NULL */
};

enum place_exclusion_reason {
	PLACE_EX_EVICTED, PLACE_EX_NO_SAMPLE, PLACE_EX_MEMORY, PLACE_EX_VCPUS,
	PLACE_EX_NOT_NAMED, /* the operator named another node */
	PLACE_EX_REVOKED,   /* the trust no longer holds it */
	PLACE_EX_NO_DISPATCH, /* the node reports no dispatch address */
	PLACE_EX_NO_IMAGE,  /* the node reports no base image for the type */
	PLACE_EX__COUNT
};
const char *place_exclusion_name(enum place_exclusion_reason r);

struct place_entry {
	const struct node *node;
	uint64_t available;          /* bytes */
	uint64_t margin;             /* bytes */
	uint64_t after;              /* available - request (0 if negative) */
	uint32_t guests;             /* running + pending */
	enum place_exclusion_reason reason; /* exclusions only */
	char why[160];               /* exclusions only: one sentence */
};

struct place_result {
	struct place_entry *candidates;   /* best first */
	size_t ncandidates;               /* all that fit, even past the limit */
	size_t candidates_listed;         /* entries filled (<= limit) */
	struct place_entry *exclusions;
	size_t nexclusions;               /* all excluded */
	size_t exclusions_listed;         /* entries filled (<= limit) */
	size_t excluded_by_reason[PLACE_EX__COUNT];
};

/* limit bounds how many candidates and exclusions are listed (0 = all);
 * counts always cover every node. Candidates are listed best first;
 * exclusions in registry order, the named node's own first. cfg NULL: the
 * defaults. -EINVAL on a zero-memory or zero-vcpu request, -ENOENT if
 * req->node names no registered node, -ENOMEM. On error *out is empty. */
int placement_rank(const struct registry *r, const struct place_config *cfg,
		   const struct place_request *req, size_t limit, struct place_result *out);
void place_result_free(struct place_result *res);
uint64_t placement_margin(const struct place_config *cfg, uint64_t mem_total_bytes);
