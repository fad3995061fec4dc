/* What the root helper checks of a move-in before it makes anything. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "lib/export-manifest.h"

/* The received archive's descriptor, as the agent passed it: a regular file
 * opened for reading (not O_PATH, not a FIFO or device). NULL if fine. */
const char *move_fd_check(int fd);
/* A move-in's stream: the read end of a pipe. NULL, or what it is instead. */
const char *move_pipe_check(int fd);

/* What the fleet approved and placed on this node: the guest's type and size
 * as it recorded them, carried by the signed move-in request. */
struct move_spec {
	const char *type;
	uint64_t memory_bytes, vcpus;
};

/* The archive's manifest is of the guest the move is of (name) and describes
 * it as the fleet approved it (spec: the same type, vCPUs and memory to the
 * KiB, the unit a libvirt definition holds), so a
 * source cannot bring in a bigger guest or another type than was placed.
 * NULL if so; else the refusal, written into buf (len bytes), returned. */
const char *move_manifest_check(const struct export_manifest *m, const char *name,
				const struct move_spec *spec, char *buf, size_t len);
