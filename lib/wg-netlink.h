/* The netlink backend: the kernel's "wireguard" generic netlink family
 * (linux/wireguard.h). Internal to wg.c and wg-if.c; message building and
 * parsing are exposed so the unit tests can check the encoding without the
 * kernel module. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

#include "lib/wg-types.h"

/* Big enough for any message the kernel sends in a dump. */
#define WGNL_RECV_SIZE 32768

/* The family's id, or -ENOENT when the kernel has no WireGuard. */
int wgnl_family_id(void);
/* Any generic netlink family's id, or -ENOENT. */
int wgnl_resolve_family(const char *name);
int wgnl_set_device(const struct wg_device *dev);
int wgnl_get_device(const char *ifname, struct wg_device **out);

/* A set is sent as as many messages as it takes: device attributes in the
 * first, then peers; a peer whose allowed IPs do not fit continues in the
 * next message with only its public key and the rest of its allowed IPs, and
 * its flags (REPLACE_ALLOWEDIPS) only in its first fragment. */
struct wgnl_set_cursor {
	const struct wg_device *dev;
	size_t peer;            /* next peer to send */
	size_t ip;              /* next allowed IP of that peer */
	bool device_sent;
	bool peer_started;      /* that peer's first fragment went out */
	bool done;
};

void wgnl_set_begin(struct wgnl_set_cursor *c, const struct wg_device *dev);
/* Builds the next message into buf: 1 and *out, 0 once everything was built,
 * -EMSGSIZE when len is too small to make any progress. */
int wgnl_set_next(struct wgnl_set_cursor *c, void *buf, size_t len, uint16_t family,
		  uint32_t seq, struct nlmsghdr **out);
struct nlmsghdr *wgnl_get_request(void *buf, size_t len, uint16_t family, uint32_t seq,
				  const char *ifname);
/* Adds one message of a WG_CMD_GET_DEVICE dump to dev, joining a peer split
 * across messages with its previous part. -EBADMSG when malformed. */
int wgnl_parse_device(const struct nlmsghdr *nlh, struct wg_device *dev);

/* Shared with wg-if.c: a socket on bus, and one request answered by an ack
 * or a dump, each data message passed to cb. -errno from the kernel. */
int wgnl_open(int bus, struct mnl_socket **out);
int wgnl_talk(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);
