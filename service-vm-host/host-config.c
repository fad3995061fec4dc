/* host.conf's checks (its keys are in lib/host-conf.c). The agent and its
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
#include "lib/names-file.h"
#include "osi-config.h"

#define FLEET_EVICT_MS 30000

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
	if (!names_zone_valid(cfg->guest_zone)) {
		log_err("guest_zone '%s' is not a zone (hostname labels joined by '.', at most %d "
			"characters)", cfg->guest_zone, NAMES_ZONE_MAX);
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

	ret = host_conf_read(cfg, path, optional, sets, nsets, err, sizeof(err));
	if (ret == 0 && path)
		log_info("configuration: %s", path);
	else if (ret == 0)
		log_info("configuration: no %s nor %s: defaults and --set only",
			 CONF_ETC_DIR "/" HOST_CONFIG_FILE, OSI_STATE_DIR "/" HOST_CONFIG_FILE);
	if (ret < 0) {
		log_err("%s", err);
		return ret;
	}
	return finish_config(cfg);
}

void host_config_print_help(void)
{
	config_print_help(host_config_keys, host_config_nkeys);
}
