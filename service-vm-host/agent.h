/* The host agent's event loop: every heartbeat_interval it samples /proc,
 * adds the last guests probe's answer, and sends one sealed heartbeat to the
 * fleet over UDP. main.c fills the configuration; agent_run() owns the rest. */
#pragma once
#include "service-vm-host/host-config.h"

/* Runs until SIGTERM or SIGINT; returns the process exit status. */
int agent_run(const struct host_config *cfg);
