/* Copies of a guest's backups to another node (vm backup NAME --to NODE;
 * docs/architecture.md, "Backups on another node"). The fleet authorises
 * each copy with a fresh token and sends its two parts (server-backup-copy.c):
 * backup-in to the target's agent, which listens on its transfer port, and
 * backup-out to the guest's node, whose mover sends the chain ending at the
 * backup. Pure bookkeeping: each copy's beginning and end go to `changed`,
 * which records the copy in fleet.db (fleet-backup-copy.c), progress does
 * not. A restarted fleet reads them back; the parts of a copy that was
 * sending ended with their connections, so it is marked failed: the target
 * stores a chain whole or not at all (each manifest is its backup's commit
 * point). */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/backup-manifest.h"
#include "lib/guest-types.h"
#include "lib/wire-heartbeat.h"

enum copy_state { COPY_SENDING, COPY_STORED, COPY_FAILED };

const char *copy_state_name(enum copy_state st);
int copy_state_parse(const char *text, enum copy_state *out);

struct backup_copies;

struct backup_copy {
	char guest[GUEST_NAME_MAX + 1];
	char id[BACKUP_ID_LEN + 1];
	char source[NODE_NAME_MAX + 1], target[NODE_NAME_MAX + 1];
	char token[65];                 /* the transfer's, both agents have it; never stored */
	char restore[BACKUP_ID_LEN + 1]; /* the target then restores the guest from it; "" not */
	unsigned keep;                  /* the target then keeps the newest keep; 0: all */
	enum copy_state state;
	bool sent;                      /* backup-out's end state arrived */
	uint64_t bytes, total;
	int64_t started, ended;         /* unix seconds; ended 0 while sending */
	char detail[512];               /* the last progress, what was stored, or why it failed */
	struct backup_copies *owner;
	struct backup_copy *next;
};

struct backup_copies {
	struct backup_copy *head;       /* the last copy of each guest */
	/* Called when a copy begins and when it ends (stored or failed), never
	 * for progress; NULL: nothing is told. */
	void (*changed)(void *ctx, const struct backup_copy *bc);
	void *ctx;
};

void backup_copies_free(struct backup_copies *c);
struct backup_copy *backup_copy_find(const struct backup_copies *c, const char *guest);
/* Whether node receives a copy under way (its transfer port is taken). */
bool backup_copy_receiving(const struct backup_copies *c, const char *node);
/* A new copy, sending, with a random token; it replaces the guest's last
 * one. restore: the target then restores the guest (which it holds) from
 * the backup; keep: the target then keeps its newest keep (0: all).
 * -EBUSY if the last one is still sending, -ENOMEM. */
int backup_copy_begin(struct backup_copies *c, const char *guest, const char *id,
		      const char *source, const char *target, bool restore, unsigned keep,
		      int64_t wall, struct backup_copy **out);
/* A copy read back from fleet.db, as it was (changed is not called):
 * -EEXIST if the guest has one already, -ENOMEM. */
int backup_copies_restore(struct backup_copies *c, const struct backup_copy *stored);
/* Every copy still sending fails (changed is called): the fleet restarted,
 * so its parts ended with their connections. */
void backup_copies_interrupted(struct backup_copies *c, int64_t wall);
/* A line of part out (backup-out, on the source) or in (backup-in, on the
 * target): {"state","detail","bytes","total"}. "stored" ends the copy well,
 * "failed" from either part badly; other states are progress. */
void backup_copy_line(struct backup_copy *bc, bool out, const json_t *line, int64_t wall);
/* A part ended without an end state, or its node was evicted. */
void backup_copy_fail(struct backup_copy *bc, const char *node, const char *why, int64_t wall);
void backup_copies_node_lost(struct backup_copies *c, const char *node, const char *why,
			     int64_t wall);
/* {"guest","backup","source","target","restore","state","bytes","total","started","ended","detail"} */
json_t *backup_copy_json(const struct backup_copy *bc);
