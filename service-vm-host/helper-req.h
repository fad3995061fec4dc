/* The one request the agent sends service-vm-host-virt over its socket: a
 * fixed-size record (SOCK_SEQPACKET, so its size is checked exactly), fixed
 * fields, NUL-padded names. The helper takes nothing else from the agent:
 * the libvirt URI, pool, images and network come from its own root-owned
 * configuration. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "lib/guest-ops.h"
#include "lib/guest-types.h"
#include "lib/wire-heartbeat.h"

#define HELPER_REQ_MAGIC 0x3176534fu /* "OSv1" on a little-endian host */
#define HELPER_TYPE_MAX 15

struct helper_req {
	uint32_t magic;
	uint32_t op;                          /* enum guest_op */
	char name[GUEST_NAME_MAX + 1];        /* NUL-padded */
	char type[HELPER_TYPE_MAX + 1];       /* create, move-in; else all zero */
	uint64_t memory_bytes;                /* create, move-in; else 0 */
	uint64_t vcpus;                       /* create, move-in; else 0 */
};

/* Fills r (zeroed first); -EINVAL if op is not one the helper does or a field
 * does not fit. type and size go in for a create and a move-in (the spec the
 * fleet approved), and are left zero for every other verb. "fabric", "names" and "agent-addresses" are about the node:
 * no name (NULL or ""), no type, no size. The same checks as
 * helper_req_check() apply on arrival. */
int helper_req_build(struct helper_req *r, const struct guest_op_def *op, const char *name,
		     const char *type, uint64_t memory_bytes, uint64_t vcpus);

/* A move-out's second record, right after the request: the target node's
 * name, NUL-padded (its volumes' keys are sealed to that member). */
#define HELPER_MOVE_TO_BYTES (NODE_NAME_MAX + 1)
/* NULL if buf (len bytes as they arrived) is exactly one such record naming
 * a valid node, copied into to; else why not. */
const char *helper_move_to_check(const void *buf, size_t len, char to[HELPER_MOVE_TO_BYTES]);
/* A move-in's second record: the stream's bound, u64 big-endian: at most
 * that many bytes of volumes follow in the pipe the request carried (the
 * pool's room is checked for it; more is refused). After the archive's end
 * the mover sends one byte: 1 when the stream's SHA-256 equals the source's. */
#define HELPER_MOVE_BOUND_BYTES 8
/* A backup-out's second record, the same size as a move-out's: the id of the backup whose
 * chain is packed (YYYYMMDDTHHMMSSZ), NUL-padded. NULL if buf is exactly
 * one such record, copied into id; else why not. */
const char *helper_backup_id_check(const void *buf, size_t len, char id[HELPER_MOVE_TO_BYTES]);
/* A backup-in's second record: the backup to restore the guest from once
 * stored, or all NULs for none (then id is ""). NULL or why not. */
const char *helper_restore_id_check(const void *buf, size_t len, char id[HELPER_MOVE_TO_BYTES]);

/* Checks len bytes as they arrived: exactly one request, a magic and op the
 * table knows and dispatches, a valid NUL-padded name, and for a create or
 * a move-in a known type and a size within guest_size_valid() (required);
 * every unused byte zero.
 * NULL and *op set if fine, else why not. */
const char *helper_req_check(const void *buf, size_t len, struct helper_req *out,
			     const struct guest_op_def **op);
