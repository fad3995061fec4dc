/* The guest operations: one table, the single source of truth for which verbs
 * exist, who may ask for them, how they travel and what their arguments may
 * be. The fleet's API, the fleet's dispatch, the agent's request check and the
 * privileged helper all look verbs up here. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

enum guest_op {
	GOP_CREATE,
	GOP_START,
	GOP_STOP,
	GOP_DESTROY,
	GOP_DATA_DELETE,
	GOP_MIGRATE,
	GOP_ADDRESSES,
	GOP_FABRIC,
	GOP_NAMES,
	GOP_MOVE_OUT,
	GOP_MOVE_IN,
	GOP_MOVE_ABORT,
	GOP_MOVE_COMMIT,
	GOP_MOVE_UNDEFINE,
	GOP_RELEASE_SOURCE,
	GOP_AGENT_ADDRESSES,
	GOP_BACKUP_OUT,
	GOP_BACKUP_IN,
};

struct guest_op_def {
	const char *verb;         /* "create", ... as on the wire and in argv */
	enum guest_op op;
	bool admin_only;          /* over TCP, only an admin-role member may ask */
	bool action;              /* asked through the API's vm-action (start/stop/destroy) */
	bool dispatched;          /* the fleet sends it to the node's agent */
	unsigned helper_args;     /* arguments the helper takes after the verb, name first;
				     0 for a dispatched verb the agent answers itself */
	const char *done_state;   /* what the helper reports when done; NULL for create */
	const char *refusal;      /* non-NULL: always refused, with this reason */
	bool bulk;                /* moves a guest's data in bulk: the helper doing it,
				     and the agent's mover, yield to the node's other
				     work (lib/bulk-priority.h) */
};

/* NULL if no such verb. */
const struct guest_op_def *guest_op_find(const char *verb);
const struct guest_op_def *guest_op_at(unsigned i);   /* NULL past the end */
/* "start, stop or destroy": the verbs with `action` set, for messages. */
const char *guest_op_action_names(void);

/* Argument limits of a create, checked by the fleet and again by the agent. */
#define GUEST_MEM_MIN (32ULL << 20)
#define GUEST_MEM_MAX (1ULL << 42)
#define GUEST_VCPUS_MIN 1
#define GUEST_VCPUS_MAX 256
bool guest_size_valid(uint64_t memory_bytes, uint64_t vcpus);
