/* The agent's configuration (host.conf): host-config.c loads it for the agent
 * and for its privileged helper, which reads the file itself. */
#pragma once
#include <limits.h>
#include <stdint.h>

#include "lib/wire-heartbeat.h"

struct host_config {
	char name[NODE_NAME_MAX + 1];
	char state_dir[PATH_MAX];
	char fleet_address[128];
	char trust_file[PATH_MAX];
	uint64_t heartbeat_interval_ms;
	char guests_uri[256];
	char log_level[16];
	/* dispatch: guests built on the fleet's request */
	char dispatch_listen[128];
	char virt_socket[PATH_MAX];     /* the agent reaches the helper here */
	/* read by the helper only, from its own (root-owned) copy of the file */
	char virt_uri[256];
	char images_dir[PATH_MAX];
	char pool_dir[PATH_MAX];
	char console_dir[PATH_MAX];
	char guest_network[96];
	char base_image[64];
	/* the mesh (a node with <state_dir>/ledger) */
	uint64_t ledger_sync_interval_ms;
};

#define HOST_INTERVAL_MIN_MS 100
#define HOST_INTERVAL_MAX_MS (3600 * 1000)
#define HOST_CONFIG_FILE "host.conf"

/* Defaults, then path (unless NULL; a missing file is fine if optional), then
 * the "key=value" overrides, then the checks; logs why not. */
int host_config_load(struct host_config *cfg, const char *path, int optional,
		     char *const *sets, int nsets);
void host_config_print_help(void);
