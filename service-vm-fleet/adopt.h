/* Guests the fleet learns from its nodes: each node's agent reports the
 * project's domains it holds (an "addresses" reply's "guests"), and a fleet
 * whose fleet.db lacks one (a takeover without a standby copy, a fresh
 * fleet.db) adopts it as an existing guest of that node, in the state the
 * node reported. Adoption never dispatches anything: a guest is never
 * recreated. A name the fleet knows on another node is a conflict, reported
 * once per fleet run as an event, and the fleet's record is kept. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "service-vm-fleet/guests.h"

struct fleet;

/* One reported domain. */
struct adopt_vm {
	char name[GUEST_NAME_MAX + 1];
	char type[16];
	enum guest_state state;       /* GS_RUNNING or GS_STOPPED */
	uint32_t vcpus;
	uint64_t memory_bytes;
	char owner[64], instance_id[64];
};

enum adopt_verdict { ADOPT_NEW, ADOPT_KNOWN, ADOPT_CONFLICT };

/* One entry of "guests": -EBADMSG unless every member is there and sound. */
int adopt_parse(const json_t *entry, struct adopt_vm *out);
/* What a report of v on node means to the guests the fleet keeps. */
enum adopt_verdict adopt_judge(const struct guests *g, const char *node, const struct adopt_vm *v);
/* Applies a node's whole "guests" list: adopts (stored, event "adopted") or
 * reports conflicts (event "conflict"). -EBADMSG, and nothing done, if the
 * list or any entry is malformed; otherwise how many guests were adopted. */
int fleet_adopt_report(struct fleet *f, const char *node, const json_t *list, int64_t wall);
/* The fleet destroyed name on node: a report of it there within
 * ADOPT_FORGOTTEN_S (an inventory the node sampled before the destroy)
 * adopts nothing. */
#define ADOPT_FORGOTTEN_S 120
void adopt_forget(const char *node, const char *name, int64_t wall);
