/* host.conf: its keys, their defaults and checks. The agent and its
 * privileged helper each load it: the helper from its own root-owned copy. */
#include "service-vm-host/host-config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/conf-path.h"
#include "lib/config.h"
#include "lib/log.h"
#include "osi-config.h"

#define FLEET_EVICT_MS 30000

#define STR(field) CFG_STRING, offsetof(struct host_config, field), \
	sizeof(((struct host_config *)0)->field)
#define NUM(field, type) type, offsetof(struct host_config, field), sizeof(uint64_t)

static const struct config_key keys[] = {
	{ "name", STR(name), "",
	  "this node's name, as in its identity (empty: the hostname up to the first dot)" },
	{ "state_dir", STR(state_dir), OSI_STATE_DIR,
	  "holds the identity (from `os-infrastructure keygen`) and heartbeat.seq" },
	{ "fleet_address", STR(fleet_address), "",
	  "service-vm-fleet's heartbeat address: numeric IP and UDP port on the mesh (empty: "
	  "the fleet member's mesh address and port 7101 from the ledger, else 127.0.0.1:7101)" },
	{ "trust_file", STR(trust_file), "",
	  "trust file naming the fleet's keys when there is no <state_dir>/ledger "
	  "(empty: <state_dir>/trust); SIGHUP reloads it" },
	{ "heartbeat_interval", NUM(heartbeat_interval_ms, CFG_DURATION_MS), "10s",
	  "time between heartbeats (100ms..1h); the fleet evicts a node silent for 30 s" },
	{ "guests_uri", STR(guests_uri), "qemu:///system",
	  "libvirt URI asked read-only for running guests (empty: do not ask)" },
	{ "log_level", STR(log_level), "info", "error, warn, info or debug" },
	{ "dispatch_listen", STR(dispatch_listen), "",
	  "this node's mesh address and TCP port for the fleet's guest requests, e.g. "
	  "10.77.0.2:7103; heartbeats are sent from the same address (empty: no dispatch)" },
	{ "virt_socket", STR(virt_socket), OSI_RUN_DIR "/virt.sock",
	  "service-vm-host-virt's socket (root:osi 0660, from service-vm-host-virt.socket): "
	  "the agent asks the privileged helper for guest work here" },
	{ "virt_uri", STR(virt_uri), "qemu:///system",
	  "libvirt URI guests are built with (this and the keys below: read by "
	  "service-vm-host-virt from its own copy of the file)" },
	{ "images_dir", STR(images_dir), OSI_IMAGES_DIR,
	  "guest manifests and cloud-init templates (images/ of the source tree)" },
	{ "pool_dir", STR(pool_dir), "", "the project's storage pool directory "
	  "(empty: <state_dir>/images)" },
	{ "console_dir", STR(console_dir), "", "guest serial console logs "
	  "(empty: /var/log/os-infrastructure/guests)" },
	{ "guest_network", STR(guest_network), "network:default",
	  "guest NIC: none, user, network:NAME or bridge:NAME" },
	{ "base_image", STR(base_image), "", "base image for every guest (empty: each manifest's)" },
	{ "ledger_sync_interval", NUM(ledger_sync_interval_ms, CFG_DURATION_MS), "30s",
	  "with a ledger: how often to pull it from a peer and check the mesh interface" },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* The hostname's first label, lowercased, when it makes a node name. */
static int name_from_hostname(struct host_config *cfg)
{
	char host[256] = "";

	if (gethostname(host, sizeof(host) - 1) < 0)
		return -errno;
	host[strcspn(host, ".")] = '\0';
	for (char *p = host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!node_name_valid(host)) {
		log_err("the hostname '%s' is not a node name: set name (1 to %d of a-z, 0-9 "
			"and '-', not starting or ending with '-')", host, NODE_NAME_MAX);
		return -EINVAL;
	}
	strcpy(cfg->name, host);
	return 0;
}

static int finish_config(struct host_config *cfg)
{
	enum log_level level;
	uint64_t ms = cfg->heartbeat_interval_ms;

	if (log_level_parse(cfg->log_level, &level) < 0) {
		log_err("log_level '%s': expected error, warn, info or debug", cfg->log_level);
		return -EINVAL;
	}
	log_set_level(level);
	if (!cfg->name[0] && name_from_hostname(cfg) < 0)
		return -EINVAL;
	if (!node_name_valid(cfg->name)) {
		log_err("name '%s' is not a node name (1 to %d of a-z, 0-9 and '-')", cfg->name,
			NODE_NAME_MAX);
		return -EINVAL;
	}
	if (!cfg->state_dir[0]) {
		log_err("state_dir is empty");
		return -EINVAL;
	}
	if (!cfg->trust_file[0] &&
	    snprintf(cfg->trust_file, sizeof(cfg->trust_file), "%s/trust", cfg->state_dir) >=
	    (int)sizeof(cfg->trust_file)) {
		log_err("state_dir is too long");
		return -ENAMETOOLONG;
	}
	if (ms < HOST_INTERVAL_MIN_MS || ms > HOST_INTERVAL_MAX_MS) {
		log_err("heartbeat_interval must be between 100ms and 1h");
		return -ERANGE;
	}
	if (cfg->ledger_sync_interval_ms < HOST_INTERVAL_MIN_MS) {
		log_err("ledger_sync_interval must be at least 100ms");
		return -ERANGE;
	}
	if (ms >= FLEET_EVICT_MS)
		log_warn("heartbeat_interval is %llu ms: a fleet with the default 30 s eviction "
			 "will drop this node between heartbeats", (unsigned long long)ms);
	return 0;
}

int host_config_load(struct host_config *cfg, const char *path, int optional,
		     char *const *sets, int nsets)
{
	char err[512];
	int ret;

	ret = config_defaults(keys, NKEYS, cfg, err, sizeof(err));
	if (ret == 0 && path)
		ret = config_load(keys, NKEYS, cfg, path, optional, err, sizeof(err));
	if (ret == 0 && path)
		log_info("configuration: %s", path);
	else if (ret == 0)
		log_info("configuration: no %s nor %s: defaults and --set only",
			 CONF_ETC_DIR "/" HOST_CONFIG_FILE, OSI_STATE_DIR "/" HOST_CONFIG_FILE);
	for (int i = 0; ret == 0 && i < nsets; i++)
		ret = config_override(keys, NKEYS, cfg, sets[i], err, sizeof(err));
	if (ret < 0) {
		log_err("%s", err);
		return ret;
	}
	return finish_config(cfg);
}

void host_config_print_help(void)
{
	config_print_help(keys, NKEYS);
}
