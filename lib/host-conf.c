/* host.conf's keys, their defaults and one line each: the agent, its
 * privileged helper and the CLI's data-delete read the same table. */
#include "lib/host-conf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/conf-path.h"
#include "osi-config.h"

#define STR(field) CFG_STRING, offsetof(struct host_config, field), \
	sizeof(((struct host_config *)0)->field)
#define NUM(field, type) type, offsetof(struct host_config, field), sizeof(uint64_t)

const struct config_key host_config_keys[] = {
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
	  "service-vm-host-virt from its own copy of the file; this and pool_dir also by "
	  "`os-infrastructure vm data-delete`)" },
	{ "images_dir", STR(images_dir), OSI_IMAGES_DIR,
	  "guest manifests and cloud-init templates (images/ of the source tree)" },
	{ "pool_dir", STR(pool_dir), "", "the project's storage pool directory "
	  "(empty: " OSI_STATE_DIR "/images, whatever state_dir says)" },
	{ "backup_dir", STR(backup_dir), "", "where `vm backup` keeps this node's backups, "
	  "one 0700 directory per guest (empty: <state_dir>/backups)" },
	{ "console_dir", STR(console_dir), "", "guest serial console logs "
	  "(empty: /var/log/os-infrastructure/guests)" },
	{ "seal_key", STR(seal_key), "", "root's own key (0600, made on first use, in a 0700 "
	  "directory of root's) the node's copy of each encrypted data volume's key is sealed "
	  "to; read by the helper and the root commands vm export, import and restore "
	  "(empty: <state_dir>/seal/seal.key)" },
	{ "guest_network", STR(guest_network), "fabric",
	  "guest NIC: fabric (the node's routed network osi-fabric, a static lease "
	  "each), none, user, network:NAME or bridge:NAME" },
	{ "guest_zone", STR(guest_zone), "osi.internal",
	  "DNS zone of the guest fabric: guests are <guest>.<zone>, members <node>.<zone> "
	  "(hostname labels)" },
	{ "base_image", STR(base_image), "", "base image for every guest (empty: each manifest's)" },
	{ "ledger_sync_interval", NUM(ledger_sync_interval_ms, CFG_DURATION_MS), "30s",
	  "with a ledger: how often to pull it from a peer and check the mesh interface" },
};
const size_t host_config_nkeys = sizeof(host_config_keys) / sizeof(host_config_keys[0]);

int host_conf_read(struct host_config *cfg, const char *path, int optional,
		   char *const *sets, int nsets, char *err, size_t errlen)
{
	const struct config_key *k = host_config_keys;
	size_t n = host_config_nkeys;
	int ret = config_defaults(k, n, cfg, err, errlen);

	if (ret == 0 && path)
		ret = config_load(k, n, cfg, path, optional, err, errlen);
	for (int i = 0; ret == 0 && i < nsets; i++)
		ret = config_override(k, n, cfg, sets[i], err, errlen);
	if (ret == 0 && !cfg->seal_key[0] &&
	    snprintf(cfg->seal_key, sizeof(cfg->seal_key), "%s/seal/seal.key", cfg->state_dir) >=
	    (int)sizeof(cfg->seal_key)) {
		snprintf(err, errlen, "state_dir: too long for the seal key's path");
		ret = -ENAMETOOLONG;
	}
	return ret;
}

int host_conf_lookup(struct host_config *cfg, const char *given, const char *etc_dir,
		     const char *state_dir, char path[PATH_MAX], char *err, size_t errlen)
{
	char found[PATH_MAX];
	const char *file = given ? given
			   : conf_default_path(etc_dir, state_dir, HOST_CONFIG_FILE, found);
	int ret;

	path[0] = '\0';
	if (file && strlen(file) >= PATH_MAX) {
		snprintf(err, errlen, "%s: path too long", file);
		return -ENAMETOOLONG;
	}
	ret = host_conf_read(cfg, file, !given, NULL, 0, err, errlen);
	if (ret == 0 && file)
		strcpy(path, file);
	return ret;
}
