/* The pure checks of a dispatch request, apart from the connection so they
 * can be tested alone: who signed it, and whether this node should obey. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/auth.h"
#include "lib/guest-ops.h"
#include "lib/trust.h"
#include "lib/wire-frame.h"

/* What a request asks, pointing into the JSON it was checked from. */
struct dispatch_req {
	const struct guest_op_def *op;
	const char *name, *type;  /* type and size: a create's, a move-in's */
	uint64_t memory_bytes, vcpus;
	const char *token, *addr; /* move-out: the target's mover; move-in: where to listen */
	const char *target;       /* move-out: the node its volumes' keys are sealed to */
	const char *backup;       /* backup-out: the backup whose chain is copied;
				     backup-in: the one to restore the guest from, or NULL */
};

/* The verbs whose work is a transfer between two nodes' movers
 * (service-vm-host-move), and of those the ones that send. */
bool dispatch_transfer(enum guest_op op);
bool dispatch_transfer_out(enum guest_op op);

/* {"op":V,"node":N,"guest":{"name","type","memory_bytes","vcpus"}}: V a
 * dispatched verb, N this node (a request routed to the wrong host is
 * refused rather than obeyed), a valid guest name, and for a create or a
 * move-in a known type and a size within guest_size_valid() (a move-in's is
 * the spec the fleet approved, which its archive must match); for a move-out
 * or move-in, a backup-out or backup-in, "move":{"token":64 hex digits,
 * "peer"|"listen":"A.B.C.D:PORT"}, for a move-out also "target", the target
 * node's name, for a backup-out "backup", the backup's id, for a backup-in
 * optionally "restore", the id to restore the guest from. NULL if
 * fine, else why not. */
const char *dispatch_check_request(const json_t *req, const char *self, struct dispatch_req *out);

/* Loads the set this node obeys (the ledger or the trust file): costly. */
typedef int (*dispatch_trust_load_fn)(void *ctx, struct trust_set *out);

/* Whether s was signed for this nonce by the fleet this node reports to
 * (the set's first member holding the fleet role; any other fleet-role
 * member is refused, with a reason saying so). The cached set is asked
 * first: its fleet's key settles it, good or bad, without loading
 * anything. Only a signer the cache does not hold as its fleet makes it load
 * the set again, and only if may_load (the caller rate-limits); a loaded set
 * replaces *cached. NULL if accepted, else why not. */
const char *dispatch_check_signer(struct trust_set *cached, const struct frame_signed *s,
				  const uint8_t nonce[API_NONCE_BYTES], bool may_load,
				  dispatch_trust_load_fn load, void *ctx);
