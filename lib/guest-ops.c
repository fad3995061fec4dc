#include "lib/guest-ops.h"

#include <stdio.h>
#include <string.h>

#define MIGRATE_REFUSAL "live migration is excluded by design: a guest stays on the node it " \
	"was placed on; to move one, create a new guest elsewhere and move the data"

static const struct guest_op_def ops[] = {
	{ "create",      GOP_CREATE,      true, false, true,  4, NULL,        NULL, false },
	{ "start",       GOP_START,       true, true,  true,  1, "running",   NULL, false },
	{ "stop",        GOP_STOP,        true, true,  true,  1, "stopped",   NULL, false },
	{ "destroy",     GOP_DESTROY,     true, true,  true,  1, "destroyed", NULL, false },
	{ "data-delete", GOP_DATA_DELETE, true, false, false, 3, NULL,        NULL, false },
	{ "migrate",     GOP_MIGRATE,     true, false, false, 0, NULL,        MIGRATE_REFUSAL, false },
	/* read-only: the node's agent answers from its last guests probe */
	{ "addresses",   GOP_ADDRESSES,   true, false, true,  0, NULL,        NULL, false },
	/* the fleet's push of the fabric table; the agent stores it and asks its
	 * helper the same verb (make the routed network) and "names" (helper only,
	 * no name: both are about the node, not one guest) */
	{ "fabric",      GOP_FABRIC,      true, false, true,  0, "fabric",    NULL, false },
	{ "names",       GOP_NAMES,       true, false, false, 0, "names",     NULL, false },
	/* a cold move (docs/architecture.md, "Moving a guest"): the source's
	 * agent sends what its helper exported, the target's receives it and its
	 * helper imports it; then abort (target) or undefine and release (source) */
	{ "move-out",      GOP_MOVE_OUT,       true, false, true, 1, "sent",       NULL, true },
	{ "move-in",       GOP_MOVE_IN,        true, false, true, 1, "defined",    NULL, true },
	{ "move-abort",    GOP_MOVE_ABORT,     true, false, true, 1, "discarded",  NULL, false },
	{ "move-commit",   GOP_MOVE_COMMIT,    true, false, true, 1, "committed",  NULL, false },
	{ "move-undefine", GOP_MOVE_UNDEFINE,  true, false, true, 1, "undefined",  NULL, false },
	{ "release-source", GOP_RELEASE_SOURCE, true, false, true, 1, "released", NULL, false },
	/* helper only, no name: what the running guests' QEMU guest agents
	 * report, asked by an agent that is not root (libvirt answers it on a
	 * read-write connection only) */
	{ "agent-addresses", GOP_AGENT_ADDRESSES, true, false, false, 0, "agent", NULL, false },
	/* a backup's copy to another node (docs/architecture.md, "Backups on
	 * another node"): the guest's node packs the chain ending at a backup,
	 * the other node's agent receives it and its helper verifies and stores it */
	{ "backup-out",    GOP_BACKUP_OUT,     true, false, true, 1, "sent",       NULL, true },
	{ "backup-in",     GOP_BACKUP_IN,      true, false, true, 1, "stored",     NULL, true },
};

#define OPS_COUNT (sizeof(ops) / sizeof(ops[0]))

const struct guest_op_def *guest_op_find(const char *verb)
{
	for (unsigned i = 0; verb && i < OPS_COUNT; i++)
		if (!strcmp(ops[i].verb, verb))
			return &ops[i];
	return NULL;
}

const struct guest_op_def *guest_op_at(unsigned i)
{
	return i < OPS_COUNT ? &ops[i] : NULL;
}

/* "start, stop or destroy", built once from the table. */
const char *guest_op_action_names(void)
{
	static char names[96];
	const struct guest_op_def *last = NULL;
	size_t n = 0;

	if (names[0])
		return names;
	for (unsigned i = 0; i < OPS_COUNT; i++)
		if (ops[i].action)
			last = &ops[i];
	for (unsigned i = 0; i < OPS_COUNT && n < sizeof(names); i++)
		if (ops[i].action)
			n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s",
					      !n ? "" : &ops[i] == last ? " or " : ", ", ops[i].verb);
	return names;
}

bool guest_size_valid(uint64_t memory_bytes, uint64_t vcpus)
{
	return memory_bytes >= GUEST_MEM_MIN && memory_bytes <= GUEST_MEM_MAX &&
	       vcpus >= GUEST_VCPUS_MIN && vcpus <= GUEST_VCPUS_MAX;
}
