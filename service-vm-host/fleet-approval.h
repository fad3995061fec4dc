/* The fleet's signed request, carried from the agent to the root helper so
 * that the helper itself checks what it is asked to do with the node's
 * backups (backup-out, backup-in): the agent, which runs as osi, cannot ask
 * for a copy or a restore the fleet did not sign. The blob is
 *   nonce[32] sig[64] n:u8 signer[n] body[...]
 * exactly as the agent received it (its greeting's nonce, the SIGNED
 * frame's fields), at most APPROVAL_MAX bytes; hex in the mover's
 * environment (OSI_FLEET_APPROVAL), one record on the helper's socket. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/trust.h"
#include "lib/wire-frame.h"
#include "service-vm-host/dispatch-check.h"

#define APPROVAL_MAX 4096
/* A request signed longer ago (or ahead) is stale: a transfer's receiving
 * part reaches the helper only after the whole transfer, which the fleet
 * lets last an hour (server-backup-copy.c), after a wait for the sender;
 * a replay within it is refused by approval-spent.h. */
#define APPROVAL_FRESH_S (2 * 60 * 60)

/* The blob into out (cap bytes): its length, or -ENOSPC. */
int approval_pack(const uint8_t nonce[API_NONCE_BYTES], const struct frame_signed *s, uint8_t *out,
		  size_t cap);
/* Whether blob is a request signed by the fleet this node reports to (the
 * first fleet-role member of ts, as the agent checks it), for this node
 * (self), of verb op about guest, naming backup (backup-out's id, a
 * backup-in's restore id; NULL: a backup-in that names none), and issued
 * within APPROVAL_FRESH_S of now (unix seconds). *keep (if keep): the
 * body's "keep", how many backups the target keeps of the guest after a
 * copy (1..10000), 0 without one. NULL if so, else why not. */
const char *approval_check(const uint8_t *blob, size_t len, const struct trust_set *ts,
			   const char *self, const char *op, const char *guest, const char *backup,
			   int64_t now, unsigned *keep);
/* A backup-out's body's "target", the node the copy goes to (what its
 * volumes' keys are sealed to), into out; "" when the body has none (a
 * fleet of an older version). Only of a blob approval_check accepted. 0,
 * or -EINVAL when it is there but not a member name. */
int approval_target(const uint8_t *blob, size_t len, char out[NODE_NAME_MAX + 1]);
