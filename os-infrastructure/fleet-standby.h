/* The standby copy of fleet.db on another member: pulled from the fleet's
 * "standby-copy" operation (an admin's signed request over the API's framed
 * connection), checked, and written atomically to <state_dir>/fleet.db.standby;
 * a takeover that makes this member the fleet starts from it. */
#pragma once
#include <stdint.h>

#include "os-infrastructure/cmd.h"

#define STANDBY_FILE "fleet.db.standby"

/* One pull, or one every every_ms (0: once) until a pull fails. Exit status. */
int fleet_standby_pull(const struct cli *cli, uint64_t every_ms);
/* Installs the standby copy as <state_dir>/fleet.db when there is a copy and
 * no fleet.db yet: 1 installed, 0 nothing to do, -errno. */
int fleet_standby_install(const char *state_dir);
