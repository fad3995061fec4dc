/* What the root helper checks of a move-in before it makes anything. */
#pragma once
#include "lib/export-manifest.h"

/* The received archive's descriptor, as the agent passed it: a regular file
 * opened for reading (not O_PATH, not a FIFO or device). NULL if fine. */
const char *move_fd_check(int fd);
/* The archive's manifest is of the guest the move is of: NULL if so. */
const char *move_manifest_check(const struct export_manifest *m, const char *name);
