/* The agent's configuration: main.c fills it, everything else reads it. */
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
