/* The agent's part of the guest fabric: the fleet pushes the fabric table
 * (dispatch verb "fabric"); the agent keeps it as <state_dir>/fabric.json
 * (atomic; its cache) and applies it off the event loop: the names file
 * (<state_dir>/names: the guests and the ledger's live members under the
 * zone), the helper's verbs "fabric" (the routed network) and "names" (its
 * DNS entries; a helper that cannot is logged and passed), then the guest
 * policy (the manifests' ports in images_dir) and this node's published
 * ports with libnftables (fw_apply_fabric). At start the cache is applied
 * first, so names and policy hold while the fleet is down. */
#pragma once
#include <uv.h>

#include "lib/fabric-msg.h"
#include "service-vm-host/host-config.h"

#define FABRIC_NAMES_FILE "names"

struct fabric_node;

/* Applies the cache when there is one (a bad cache is logged and ignored). */
int fabric_node_start(uv_loop_t *loop, const struct host_config *cfg, struct fabric_node **out);
/* Stores f as the cache, then applies it (after any apply under way); takes
 * f's arrays (f is emptied). -errno with err when it could not be stored. */
int fabric_node_push(struct fabric_node *n, struct fabric *f, char *err, size_t errlen);
void fabric_node_stop(struct fabric_node *n);

/* The names file's text for f (pure; for tests): each guest inside the
 * guest prefix, then each live member, "A.B.C.D NAME.ZONE\n". *out malloc'd. */
struct guest_net;
struct ledger;
/* Whether g's address lies in the guest subnet of g's own node, a live
 * member of l: a guest cannot take another node's address. */
bool fabric_guest_placed(const struct fabric_guest *g, const struct guest_net *net,
			 const struct ledger *l);
int fabric_names_text(const struct fabric *f, const struct guest_net *net,
		      const struct ledger *l, char **out, size_t *len);
