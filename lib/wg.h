/* WireGuard device configuration: one struct for a device and its peers, and
 * two backends chosen at run time per interface (the shape of wireguard-tools'
 * ipc.c):
 *
 *   uapi     the text protocol on /var/run/wireguard/<ifname>.sock spoken by
 *            wireguard-go (https://www.wireguard.com/xplatform/);
 *   netlink  the kernel's "wireguard" generic netlink family
 *            (linux/wireguard.h, WG_CMD_GET_DEVICE / WG_CMD_SET_DEVICE).
 *
 * An interface with a UAPI socket is always spoken to over it; otherwise the
 * kernel is used when its "wireguard" family resolves, else UAPI again (and
 * the call fails with -ENODEV when no such interface exists).
 *
 * Calls return 0 or -errno. Private and preshared keys are wiped from every
 * buffer this library used once it is done with it; a caller that filled a
 * struct wg_device with a private key wipes it with wg_device_clear(). */
#pragma once
#include "lib/wg-types.h"

/* Applies dev to the interface dev->name. Peers not listed are left alone
 * unless WG_DEVICE_REPLACE_PEERS is set. */
int wg_set_device(const struct wg_device *dev);
/* Reads the configuration and peer statistics of ifname into a new device,
 * freed with wg_device_free(). */
int wg_get_device(const char *ifname, struct wg_device **out);
/* "uapi" or "netlink": the backend the two calls above would use for ifname. */
const char *wg_backend_name(const char *ifname);
