/* The mesh on the WireGuard device: applying a peer plan (mesh.h) and
 * bringing the interface up from a member's stored state. Needs
 * CAP_NET_ADMIN (and the UAPI socket directory for wireguard-go). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/identity.h"
#include "lib/ledger.h"
#include "lib/mesh.h"

/* Makes ifname's peers the plan's: listed peers are added or updated (their
 * allowed IPs replaced; an endpoint set only when the ledger has one, so a
 * peer behind NAT keeps the one WireGuard learned), every other peer is
 * removed. With id, also sets the private key and listen_port. Then the
 * project's nftables table (lib/firewall.h) takes the plan's members as the
 * only sources of the control plane; and, once the link is up, the guest
 * prefix is routed through ifname (as mesh_up does). A ledger
 * endpoint that does not resolve is left out and named in err (not an
 * error). */
int mesh_apply(const char *ifname, const struct mesh_plan *plan, const struct identity *id,
	       uint16_t listen_port, char *err, size_t errlen);

/* From a member's state: creates the interface of mesh.conf unless it
 * exists (kernel, else wireguard-go with its output on log_fd; *pid its PID,
 * 0 otherwise), gives it the member's /32, the key, listen port and peers,
 * brings it up, routes the mesh prefix through it and, on the relay, turns
 * on IPv4 forwarding for packets arriving on it. -EKEYREVOKED if id is not a
 * live member of l. */
int mesh_up(const char *state_dir, const struct identity *id, const struct ledger *l,
	    int log_fd, pid_t *pid, char *err, size_t errlen);

/* A new member's wireguard-go starts only after its ceremony, so the first
 * handshake we send it may find nobody listening, and WireGuard tries again
 * only 5 s later (REKEY_TIMEOUT): pushes in that window are lost. While the
 * peer with wg_pk has had no handshake, this re-creates it every
 * MESH_KICK_INTERVAL_MS, which makes WireGuard initiate at once, until a
 * handshake or timeout_ms. Only where we initiate (the peer has a
 * keepalive, i.e. we are behind NAT); otherwise the other side does. 0 once
 * a handshake happened, 1 when the peer is not ours to initiate (none, or no
 * keepalive), -ETIMEDOUT, -errno. */
#define MESH_KICK_INTERVAL_MS 200
int mesh_kick_peer(const char *ifname, const uint8_t wg_pk[32], uint64_t timeout_ms);
