/* host.conf: the node's settings, read by the agent, its privileged helper
 * and the operator's `vm data-delete` (which asks the same libvirt URI and
 * pool directory as the helper). One table of keys, here, for all three;
 * service-vm-host/host-config.c adds the agent's checks. */
#pragma once
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/config.h"
#include "lib/names-file.h"
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
	char backup_dir[PATH_MAX];      /* read by `vm backup`, `vm backups`, `vm restore` */
	char console_dir[PATH_MAX];
	char seal_key[PATH_MAX];        /* root's key the node's copies of volume keys are sealed to */
	char guest_network[96];
	char guest_zone[NAMES_ZONE_MAX + 1];
	char base_image[64];
	/* the mesh (a node with <state_dir>/ledger) */
	uint64_t ledger_sync_interval_ms;
};

#define HOST_CONFIG_FILE "host.conf"

extern const struct config_key host_config_keys[];
extern const size_t host_config_nkeys;

/* Defaults, then path (unless NULL; a missing file is fine if optional),
 * then the "key=value" overrides; no checks beyond each key's own. */
int host_conf_read(struct host_config *cfg, const char *path, int optional,
		   char *const *sets, int nsets, char *err, size_t errlen);
/* Reads given (which must exist), else what the services read without
 * --config: <etc_dir>/host.conf, else <state_dir>/host.conf, else nothing
 * (the defaults). path receives the file read, "" for none. */
int host_conf_lookup(struct host_config *cfg, const char *given, const char *etc_dir,
		     const char *state_dir, char path[PATH_MAX], char *err, size_t errlen);
