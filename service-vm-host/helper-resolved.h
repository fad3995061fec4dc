/* systemd-resolved's per-link DNS for the guest bridge, over D-Bus (sd-bus):
 * names under the zone go to the guest network's dnsmasq. */
#pragma once
#include <stdint.h>

/* DNS=dns (host byte order) and Domains=~zone on ifname. 0 when set, 1
 * when resolved does not run (said in one log line: nothing to do), -errno
 * with a log line otherwise. */
int resolved_link_dns(const char *ifname, uint32_t dns, const char *zone);
