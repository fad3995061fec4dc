/* The WireGuard interface itself: created in the kernel when it has
 * WireGuard, else by starting wireguard-go; then addresses, link state and
 * routes through rtnetlink. Never through ip(8). Calls return 0 or -errno. */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

#include "lib/wg-types.h"

/* Creates ifname and returns once it can be configured with wg_set_device.
 * Kernel first (RTM_NEWLINK, kind "wireguard"); when the kernel does not know
 * that kind, wireguard-go (or $WG_QUICK_USERSPACE_IMPLEMENTATION, as for
 * wg-quick) runs in the foreground as a child in a session of its own, with
 * an empty environment but WG_PROCESS_FOREGROUND=1 and LOG_LEVEL (the
 * caller's, else "error"), stdin from /dev/null and stdout and stderr on
 * log_fd (/dev/null when -1: never the caller's own, which a pipe reader
 * would wait on forever). *pid is its PID, 0 for a kernel interface. The
 * child outlives the caller; a caller that stays reaps it (waitpid) and may
 * restart it. Deleting the interface (wg_if_delete) makes wireguard-go exit.
 * -EEXIST when ifname exists; -ECHILD when wireguard-go exited and
 * -ETIMEDOUT when it did not answer within 10 s. */
int wg_if_create(const char *ifname, int log_fd, pid_t *pid);
int wg_if_delete(const char *ifname);
bool wg_if_exists(const char *ifname);
/* Brings the link up; mtu 0 leaves the MTU as it is. */
int wg_if_set_up(const char *ifname, unsigned int mtu);
/* Adds (or replaces) an address with its prefix length, e.g. 10.42.0.3/32.
 * IPv6 addresses skip duplicate address detection. */
int wg_if_add_address(const char *ifname, const struct wg_allowedip *addr);
/* Adds or replaces a route to dst through ifname in the main table; and
 * removes it. */
int wg_if_add_route(const char *ifname, const struct wg_allowedip *dst);
int wg_if_del_route(const char *ifname, const struct wg_allowedip *dst);
