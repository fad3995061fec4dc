/* What a guest's QEMU guest agent reports of its network interfaces
 * (libvirt's virDomainInterfaceAddresses, source "agent"): interface names
 * and IPv4/IPv6 addresses, bounded and checked the same way on the node
 * (the guests probe's ga= tokens, service-vm-host/sampler.h) and in the
 * fleet (the addresses reply's "agent", docs/protocol.md section 5). The
 * guest is not trusted: what does not pass is dropped, never shown. */
#pragma once
#include <stdbool.h>

#define GUEST_AGENT_ADDRS_MAX 8   /* per guest */
#define GUEST_AGENT_IFNAME_MAX 15 /* Linux's IFNAMSIZ - 1 */
#define GUEST_AGENT_ADDR_MAX 45   /* INET6_ADDRSTRLEN - 1 */

struct guest_agent_addr {
	char ifname[GUEST_AGENT_IFNAME_MAX + 1];
	char addr[GUEST_AGENT_ADDR_MAX + 1];
};

struct guest_agent {
	unsigned n;
	struct guest_agent_addr a[GUEST_AGENT_ADDRS_MAX];
};

/* 1-15 bytes of [A-Za-z0-9_.-]. */
bool guest_agent_ifname_valid(const char *s);
/* An IPv4 dotted quad or an IPv6 address exactly as inet_ntop writes it. */
bool guest_agent_addr_valid(const char *s);
/* Appends one; -EINVAL if a field is not valid, -EEXIST if the pair is
 * there already, -ENOSPC past GUEST_AGENT_ADDRS_MAX. */
int guest_agent_add(struct guest_agent *g, const char *ifname, const char *addr);

struct json_t;
/* {"IFNAME":["ADDR",...],...}, strictly: an object of valid names, each an
 * array of 1.. valid addresses as strings, none twice, at most
 * GUEST_AGENT_ADDRS_MAX in all. -EBADMSG (and out empty) otherwise. */
int guest_agent_from_json(const struct json_t *v, struct guest_agent *out);
/* The same shape; NULL when out of memory. */
struct json_t *guest_agent_to_json(const struct guest_agent *g);
