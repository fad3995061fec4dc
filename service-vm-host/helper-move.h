/* The privileged helper's part of a cold move (docs/architecture.md,
 * "Moving a guest"). Each verb acts on one guest named in the fixed-size
 * request; proof that a copy belongs to a move is a marker file in
 * <state_dir>/moves, a directory only root may write. */
#pragma once
#include <stdint.h>

#include "lib/guest-ops.h"
#include "service-vm-host/host-config.h"
#include "service-vm-host/move-checks.h"
#include "virt/virt.h"

/* move-out: shuts the guest down cleanly (autostart off), then exports it
 * signed by this node, its encrypted volumes' keys sealed to the target node
 * (a live member of this node's ledger), into a pipe: its read end goes to
 * sink->ready with the archive's bound before a byte is written, and the
 * export writes as the reader takes (*bytes: the archive's length). On
 * failure the guest starts with the host again. */
struct move_out_sink {
	int (*ready)(int fd, uint64_t bound, void *ctx);
	void *ctx;
};
int helper_move_out(struct virt_host *h, const struct host_config *c, const char *name,
		    const char *to, const struct move_out_sink *sink, uint64_t *bytes);
/* move-in: the archive the agent received (fd) is verified (signed by a
 * live member) and imported, encrypted volumes' keys opened with this
 * node's identity: the guest is defined, not started, autostart off, and
 * marked as a move's copy. An archive whose manifest differs from spec (the
 * type and size the fleet approved) is refused before anything is made. */
/* What this node decides for a move-in, not the archive (the source signs
 * it, and an agent holding a member's key could sign its own): the guest's
 * network becomes this node's guest_network, as a create's; its root disk
 * and data volumes must be its type's here (images_dir), none larger (a
 * data volume kept from before may be smaller). -EBADMSG and err if not. */
struct export_manifest;
int helper_move_fit(struct export_manifest *m, const struct host_config *c, char *err,
		    size_t errlen);
/* move-in: the archive read from the pipe fd as the agent's mover receives
 * it (virt_import_stream), at most bound bytes of volumes; verdict is the
 * mover's word on the stream it carried (0: its SHA-256 equals the
 * source's), asked after the archive's end and before the define. */
typedef int (*move_verdict_fn)(char *err, size_t errlen);
int helper_move_in(struct virt_host *h, const struct host_config *c, const char *name,
		   const struct move_spec *spec, int fd, uint64_t bound, move_verdict_fn verdict);
/* The other verbs; *detail gets what to report beside the done state. */
int helper_move_act(struct virt_host *h, const struct host_config *c, const struct guest_op_def *op,
		    const char *name, char *detail, size_t len);
