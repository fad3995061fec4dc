/* The agent's dispatch listener: the fleet connects over the mesh, proves
 * who it is by signing its one request (with the nonce this agent sent), and
 * the agent hands one fixed-size request to service-vm-host-virt over that
 * root helper's socket (virt_socket), relaying its progress lines back as
 * reply frames; closing the socket tells the helper to roll back. Only
 * members holding the fleet role in the trust file are obeyed. */
#pragma once
#include <uv.h>

#include "service-vm-host/fabric.h"
#include "service-vm-host/guest-probe.h"
#include "service-vm-host/host-config.h"

struct dispatch;

/* Listens on cfg->dispatch_listen; a no-op when it is empty. The fleet's
 * "addresses" is answered from probe's last answer, without the helper;
 * its "fabric" table goes to fabric (fabric.h), then the helper. */
int dispatch_start(uv_loop_t *loop, const struct host_config *cfg, const struct guests *probe,
		   struct fabric_node *fabric, struct dispatch **out);
void dispatch_stop(struct dispatch *d);
