/* Names of nodes, guests and volumes' parts: a lowercase hostname label
 * (RFC 1123 section 2.1, letters folded to lowercase): 1..max of [a-z0-9-],
 * not starting or ending with '-'. Valid as a DNS label, a libvirt domain
 * name and a file name. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

bool name_label_valid(const char *name, size_t max);

/* A network interface name as the kernel takes it (1..IFNAMSIZ-1) and as
 * nftables rule text may quote it: letters, digits, '-', '_', '.'. */
bool ifname_valid(const char *name);
