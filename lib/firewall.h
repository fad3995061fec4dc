/* The project's own nftables table, "inet osi": only mesh members, arriving
 * on the mesh interface, reach the control-plane ports (7101-7105); the
 * ceremony port is open from anywhere only while an invitation is (an
 * element with a timeout in the "ceremony" set). The table is replaced whole
 * in one transaction and never touches another table (libvirt's, the
 * operator's); deleting it restores the host as it was.
 *
 * Syntax: nft(8), nftables 1.0.6; applied through libnftables
 * (nft_run_cmd_from_buffer), never by running nft. */
#pragma once
#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#define FW_TABLE "osi"
#define FW_PORT_FIRST 7101 /* heartbeats (udp), API, dispatch, ceremony, ledger sync */
#define FW_PORT_LAST 7105
#define FW_PORT_MOVE 7106 /* a cold move's transfer, agent to agent: members only too */

struct fw_spec {
	char mesh_if[IFNAMSIZ];     /* the WireGuard interface */
	const uint32_t *members;    /* live members' mesh addresses, host order */
	size_t nmembers;
};

/* The whole ruleset as nft(8) text: a pure function for tests. -ENOSPC if
 * buf is too small, -EINVAL on an unusable spec. */
int fw_render(const struct fw_spec *s, char *buf, size_t len);

/* Replaces the table with s's, atomically, keeping the ceremony set's live
 * elements. Needs CAP_NET_ADMIN. */
int fw_apply(const struct fw_spec *s, char *err, size_t errlen);

/* Opens TCP port to every source for ttl_s seconds (ttl_s 0 closes every
 * ceremony port). -ENOENT when the table is not there (nothing to open). */
int fw_ceremony_open(uint16_t port, unsigned ttl_s, char *err, size_t errlen);

/* The guest fabric's part of the table, beside the input chain and the
 * ceremony set (which it leaves alone): policy is guest_policy_render's text
 * (its forward and guest_input chains), then this node's published ports,
 * each a DNAT in the chain "published" (nat, prerouting) of a packet to a
 * local address on host_port, not from bridge, to the guest's addr:port,
 * and the forward accept of such a flow ahead of the policy's drops. */
struct fw_published {
	uint32_t addr;              /* the guest, host order */
	uint16_t port, host_port;
	int udp;                    /* 0: tcp */
};
int fw_fabric_render(const char *policy, const char *bridge, const struct fw_published *p,
		     size_t n, char *buf, size_t len);
/* One transaction; -ENOMEM, -EINVAL, or -EIO with nft's message in err. */
int fw_apply_fabric(const char *policy, const char *bridge, const struct fw_published *p,
		    size_t n, char *err, size_t errlen);

/* The packets the counters "denied" and "guest_denied" dropped (a counter
 * not there: 0); -ENOENT without the table. */
int fw_counters(uint64_t *denied, uint64_t *guest_denied);

/* Deletes the table; 0 also when it was not there. */
int fw_remove(char *err, size_t errlen);
