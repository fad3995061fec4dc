/* Cold moves the fleet has recorded (docs/architecture.md, "Moving a
 * guest"), and move plans awaiting confirmation. Pure bookkeeping: time is
 * passed in, persistence and sending are the caller's.
 *
 * A move is a phase and a set of steps, each a request to one node's agent:
 *   transfer  out (source) and in (target) both done   -> starting, start
 *   starting  start (target) done                      -> moved: commit, undefine
 *   moved     commit (target) and undefine (source)    -> kept
 *   kept      release (source) done                    -> forgotten
 * Until "moved" is recorded the source is the guest: any failure, and a
 * fleet restarted before it, turns the move to "aborting": abort-target
 * (the copy a move brought in is removed) and abort-source (the guest is set
 * to start with its host again); both done -> forgotten. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/guest-types.h"
#include "lib/wire-heartbeat.h"

enum move_phase { MP_TRANSFER, MP_STARTING, MP_MOVED, MP_KEPT, MP_ABORTING, MP__COUNT };
enum move_step {
	MS_OUT, MS_IN, MS_START, MS_COMMIT, MS_UNDEFINE, MS_ABORT_TARGET, MS_ABORT_SOURCE,
	MS_RELEASE, MS__COUNT
};
#define MOVE_TOKEN_HEX 64
#define MOVE_PLAN_HEX 32

const char *move_phase_name(enum move_phase p);
int move_phase_parse(const char *text, enum move_phase *out);
/* The verb the step sends ("move-out", "start", ...), and whether it goes
 * to the source (else the target). */
const char *move_step_verb(enum move_step s);
bool move_step_to_source(enum move_step s);

struct move {
	char guest[GUEST_NAME_MAX + 1];
	char source[NODE_NAME_MAX + 1], target[NODE_NAME_MAX + 1];
	enum move_phase phase;
	char token[MOVE_TOKEN_HEX + 1]; /* the transfer's, both agents have it */
	uint64_t bytes, total;          /* the transfer's progress */
	int64_t started;                /* unix seconds */
	char detail[512];               /* the last progress, or why it failed (a node's
					   reason may name two SHA-256 digests, 128 characters) */
	unsigned want, flying, done;    /* bits by enum move_step */
	uint64_t retry_ns;              /* a failed step is sent again after this */
	bool source_running;            /* aborting: the source said its guest runs */
};

struct move_plan {
	char token[MOVE_PLAN_HEX + 1];
	uint64_t expires_ns;
	char guest[GUEST_NAME_MAX + 1];
	char source[NODE_NAME_MAX + 1], target[NODE_NAME_MAX + 1];
};

struct moves {
	struct move *list;
	size_t count, cap;
	struct move_plan *plans;
	size_t nplans, capplans;
};

void moves_init(struct moves *m);
void moves_free(struct moves *m);
struct move *moves_find(const struct moves *m, const char *guest);
/* A move under way (not yet kept): the guest takes no other operation. */
bool move_busy(const struct move *mv);

/* A plan under a random token; a pending plan for the same guest is replaced. */
int moves_plan(struct moves *m, const char *guest, const char *source, const char *target,
	       uint64_t now, uint64_t ttl_ns, struct move_plan **out);
/* Removes and returns the plan: -ENOENT unknown, -ETIMEDOUT expired. */
int moves_take_plan(struct moves *m, const char *token, uint64_t now, struct move_plan *out);

/* A confirmed move: phase transfer, a fresh transfer token, out and in
 * wanted. -EEXIST if the guest has a move recorded. */
int moves_begin(struct moves *m, const struct move_plan *p, int64_t wall, struct move **out);
/* A recorded move read back after a restart: what it still needs. */
int moves_resume(struct moves *m, const struct move *stored);
void moves_remove(struct moves *m, const char *guest);

/* What the caller must do after an answer. */
enum move_effect {
	ME_NONE,        /* nothing new to record */
	ME_RECORD,      /* the phase or detail changed: store it */
	ME_MOVED,       /* record "moved" and the guest's new node, in one go */
	ME_FORGET,      /* the move is over: delete its record */
};
/* The node's answer to step s: ok, or failed with detail. Progress lines
 * (bytes/total) go through move_progress instead. */
enum move_effect move_answer(struct move *mv, enum move_step s, bool ok, const char *detail,
			     uint64_t now);
void move_progress(struct move *mv, uint64_t bytes, uint64_t total, const char *detail);
/* A transfer's conversation (a move's step, a backup copy's part) reported
 * bytes: true when they grew by MOVE_RENEW_BYTES or more since *renewed_at,
 * which then moves to bytes; its lifetime is then counted again. So a
 * transfer ends an hour after it last moved 64 MiB, however large it is, and
 * an agent that reports a trickle cannot hold it forever. */
#define MOVE_RENEW_BYTES (64ull << 20)
bool move_transfer_renews(uint64_t *renewed_at, uint64_t bytes);
/* The fleet evicted node: a transfer between it and another node turns to
 * aborting at once with why as its detail (true), rather than when the
 * surviving side's step times out. Later phases are left to their steps:
 * once starting, the target may run the copy. */
bool move_node_lost(struct move *mv, const char *node, const char *why);
/* Steps to send now: wanted, not flying, not waiting for a retry, and an
 * abort never while the transfer's own step on that node is still flying. */
unsigned move_sendable(const struct move *mv, uint64_t now);
