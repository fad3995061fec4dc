/* host.conf's guest_network, as the helper reads it for a create and a
 * move-in: the network this node puts its guests on. */
#pragma once
#include "virt/virt.h"

/* none (or empty), fabric, user, network:NAME or bridge:NAME into s->net
 * and s->net_source; -EINVAL if it is none of them. */
int helper_guest_net(const char *text, struct virt_spec *s);
