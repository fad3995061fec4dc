/* The fleet's approvals the root helper has acted on (fleet-approval.h),
 * so that none is acted on twice: an agent replaying one it was handed
 * before is refused. One empty file per approval, named by the SHA-256 of
 * its signature, in <state_dir>/approvals (root's, 0700, no symlink);
 * files older than twice the approvals' window go, since those are
 * refused as stale anyway. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "lib/auth.h"

/* Records sig as used at now (unix seconds): 0, -EALREADY if it was used
 * before, or -errno; why in err. */
int approval_spend(const char *state_dir, const uint8_t sig[SIG_BYTES], int64_t now, char *err,
		   size_t errlen);
