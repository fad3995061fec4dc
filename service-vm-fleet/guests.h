/* Guests the fleet has planned or created, and plans awaiting confirmation.
 * Pure bookkeeping: time is passed in, persistence is the caller's. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/guest-agent.h"
#include "lib/guest-types.h"
#include "lib/wire-heartbeat.h"

enum guest_state {
	GS_PLANNED, GS_DISPATCHED, GS_DEFINING, GS_BOOTING, GS_RUNNING,
	GS_STOPPED, GS_FAILED, GS_DESTROYED, GS__COUNT
};
const char *guest_state_name(enum guest_state s);
int guest_state_parse(const char *text, enum guest_state *out);
/* A creation still under way: the host has not reported an end state. */
bool guest_state_pending(enum guest_state s);

#define PLAN_TOKEN_HEX 32
#define GUEST_ADDR_MAX 45 /* an IPv6 address in text */

/* The last operation sent to the guest's node and how it ended: the CLI
 * follows it to the node's answer. seq grows with each operation. */
enum guest_op_state { GOPS_NONE, GOPS_PENDING, GOPS_DONE, GOPS_FAILED };
const char *guest_op_state_name(enum guest_op_state s);

struct guest {
	char name[GUEST_NAME_MAX + 1];
	char type[16];
	char node[NODE_NAME_MAX + 1];
	uint64_t memory_bytes;
	uint32_t vcpus;
	enum guest_state state;
	char detail[512];                 /* a failed move's reason may name two digests */
	char accel[8];
	char address[GUEST_ADDR_MAX + 1]; /* "" when not known */
	struct guest_agent agent;         /* its guest agent's report (memory only) */
	int64_t created, updated;
	char op[12];                      /* the last operation sent: create, start, ... */
	enum guest_op_state op_state;
	char op_detail[200];
	uint32_t op_seq;
	/* Its data volumes' files as its node's last addresses reply said
	 * (move-room.h); memory only. */
	bool data_known;
	uint32_t data_volumes;
	uint64_t data_bytes;
	int64_t data_wall;                /* when (unix seconds) */
};

struct plan {
	char token[PLAN_TOKEN_HEX + 1];
	uint64_t expires_ns;
	bool advisory;             /* the fleet chose the node */
	struct guest guest;
};

struct guests {
	struct guest *list;
	size_t count, cap;
	struct plan *plans;
	size_t nplans, capplans;
};

void guests_init(struct guests *g);
void guests_free(struct guests *g);
struct guest *guests_find(const struct guests *g, const char *name);
/* A name is free again once its guest was destroyed or its creation failed:
 * a failed guest stays listed until a new guest (the retry) takes its name. */
bool guest_name_reusable(const struct guest *gu);
/* The guest's address as its node's agent reported it: a dotted-quad IPv4
 * address, else none (NULL, or anything else, clears it). True if it
 * changed. */
bool guest_set_address(struct guest *gu, const char *addr);
/* -EEXIST if a guest has the name (a reusable one is replaced). */
int guests_add(struct guests *g, const struct guest *gu);
/* Forgets a guest (a destroyed one): -ENOENT if there is none. */
int guests_remove(struct guests *g, const char *name);
/* Draws a random token; -EEXIST if a guest has the name and it is not
 * reusable. A pending plan for
 * the same name is replaced. */
int guests_plan(struct guests *g, const struct guest *gu, bool advisory, uint64_t now,
		uint64_t ttl_ns, struct plan **out);
/* Removes and returns the plan: -ENOENT for an unknown token, -ETIMEDOUT for
 * an expired one (removed too). */
int guests_take_plan(struct guests *g, const char *token, uint64_t now, struct plan *out);
/* Drops expired plans; returns how many. */
size_t guests_expire_plans(struct guests *g, uint64_t now);
