/* The agent's configuration (host.conf): host-config.c loads it for the agent
 * and for its privileged helper, which reads the file itself. */
#pragma once
#include <limits.h>
#include <stdint.h>

#include "lib/host-conf.h"

#define HOST_INTERVAL_MIN_MS 100
#define HOST_INTERVAL_MAX_MS (3600 * 1000)

/* Defaults, then path (unless NULL; a missing file is fine if optional), then
 * the "key=value" overrides, then the checks; logs why not. */
int host_config_load(struct host_config *cfg, const char *path, int optional,
		     char *const *sets, int nsets);
void host_config_print_help(void);
