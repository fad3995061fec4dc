#include "lib/mesh-wg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/clock.h"
#include "lib/firewall.h"
#include "lib/wg-if.h"
#include "lib/wg.h"

static struct wg_allowedip host_route(uint32_t addr, uint8_t len)
{
	struct wg_allowedip ip = { .family = AF_INET, .cidr = len };

	ip.ip4.s_addr = htonl(addr);
	return ip;
}

static int add_plan_peer(struct wg_device *dev, const struct mesh_peer *mp, uint8_t subnet_len,
			 char *err, size_t errlen)
{
	struct wg_peer *p;
	struct wg_allowedip ip;
	int ret;

	ret = wg_device_add_peer(dev, mp->wg_pk, &p);
	if (ret < 0)
		return ret;
	p->flags = WG_PEER_REPLACE_ALLOWEDIPS | WG_PEER_HAS_KEEPALIVE;
	p->persistent_keepalive = mp->keepalive;
	if (mp->endpoint[0] && wg_endpoint_resolve(&p->endpoint, mp->endpoint) < 0) {
		memset(&p->endpoint, 0, sizeof(p->endpoint));
		snprintf(err, errlen, "endpoint %s of %s does not resolve", mp->endpoint, mp->name);
	}
	for (size_t i = 0; i < mp->nallowed && ret == 0; i++) {
		ip = host_route(mp->allowed[i], 32);
		ret = wg_peer_add_allowedip(p, &ip);
	}
	for (size_t i = 0; i < mp->nguests && ret == 0; i++) {
		ip = host_route(mp->guests[i], subnet_len);
		ret = wg_peer_add_allowedip(p, &ip);
	}
	return ret;
}

/* Removal of the peers the plan no longer has, from what the device holds. */
static int add_removals(struct wg_device *dev, const char *ifname, const struct mesh_plan *plan)
{
	struct wg_device *cur = NULL;
	struct wg_peer *p;
	int ret = wg_get_device(ifname, &cur);

	for (size_t i = 0; ret == 0 && i < cur->peers_len; i++) {
		if (mesh_plan_find(plan, cur->peers[i].public_key))
			continue;
		ret = wg_device_add_peer(dev, cur->peers[i].public_key, &p);
		if (ret == 0)
			p->flags = WG_PEER_REMOVE_ME;
	}
	wg_device_free(cur);
	return ret;
}

/* The control plane's sources follow the same ledger as the peers. */
static int apply_firewall(const char *ifname, const struct mesh_plan *plan, char *err,
			  size_t errlen)
{
	struct fw_spec s = { .members = plan->members, .nmembers = plan->nmembers };

	snprintf(s.mesh_if, sizeof(s.mesh_if), "%s", ifname);
	return fw_apply(&s, err, errlen);
}

/* The guest prefix through the mesh interface, with the peers: a member
 * whose interface predates the guest fabric (kept across the upgrade) gets
 * it from its agent's next apply, not only from a new mesh_up. Self's own
 * subnet is more specific, on its guest bridge once that exists. A link
 * still down (mesh_up's first apply) gets it from configure. */
static int route_guests(const char *ifname, const struct mesh_plan *plan, char *err,
			size_t errlen)
{
	struct wg_allowedip ip;
	int ret;

	if (!plan->self || !plan->has_guest)
		return 0;
	ip = host_route(plan->guest.addr, plan->guest.len);
	ret = wg_if_add_route(ifname, &ip);
	if (ret == -ENETDOWN)
		return 0;
	if (ret < 0)
		snprintf(err, errlen, "%s: route to the guest prefix: %s", ifname, strerror(-ret));
	return ret;
}

int mesh_apply(const char *ifname, const struct mesh_plan *plan, const struct identity *id,
	       uint16_t listen_port, char *err, size_t errlen)
{
	struct wg_device dev = { 0 };
	int ret;

	if (errlen)
		err[0] = '\0';
	ret = wg_device_set_name(&dev, ifname);
	if (ret == 0 && id) {
		if (!id->has_wg) {
			ret = -ENOKEY;
			goto cleanup;
		}
		dev.flags |= WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT;
		memcpy(dev.private_key, id->wg_sk, sizeof(dev.private_key));
		dev.listen_port = listen_port;
	}
	/* The firewall first: a member that leaves the plan loses its access
	 * before its peer goes, and a table that cannot be applied leaves the
	 * peers as they were rather than ahead of it. */
	if (ret == 0)
		ret = apply_firewall(ifname, plan, err, errlen);
	if (ret == 0)
		ret = add_removals(&dev, ifname, plan);
	for (size_t i = 0; ret == 0 && i < plan->count; i++)
		ret = add_plan_peer(&dev, &plan->peers[i], plan->guest.subnet_len, err, errlen);
	if (ret == 0)
		ret = wg_set_device(&dev);
	if (ret == 0)
		ret = route_guests(ifname, plan, err, errlen);
cleanup:
	wg_device_clear(&dev);
	return ret;
}

/* Only packets that arrive on the mesh interface are forwarded: the relay
 * does not become a router for anything else. */
static int enable_forwarding(const char *ifname)
{
	char path[128];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", ifname);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "1\n", 2) != 2)
		ret = -errno;
	close(fd);
	/* Forwarding back out of the interface it came in on is the point:
	 * no redirects telling a peer to go direct. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/send_redirects", ifname);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "0\n", 2) != 2 && ret == 0)
			ret = -errno;
		close(fd);
	}
	return ret;
}

static int configure(const struct mesh_conf *c, const struct mesh_plan *plan,
		     const struct identity *id, char *err, size_t errlen)
{
	struct wg_allowedip ip = host_route(plan->self->addr, 32);
	const char *step = "address";
	int ret;

	ret = wg_if_add_address(c->interface, &ip);
	if (ret == 0) {
		step = "WireGuard configuration";
		ret = mesh_apply(c->interface, plan, id, (uint16_t)c->listen_port, err, errlen);
	}
	if (ret == 0) {
		step = "link up";
		ret = wg_if_set_up(c->interface, 0);
	}
	if (ret == 0) {
		step = "route to the mesh prefix";
		ip = host_route(plan->prefix_addr, plan->prefix_len);
		ret = wg_if_add_route(c->interface, &ip);
	}
	if (ret == 0 && plan->has_guest) {
		step = "route to the guest prefix";
		ip = host_route(plan->guest.addr, plan->guest.len);
		ret = wg_if_add_route(c->interface, &ip);
	}
	if (ret == 0 && plan->relay) {
		step = "forwarding (relay)";
		ret = enable_forwarding(c->interface);
	}
	if (ret < 0)
		snprintf(err, errlen, "%s: %s: %s", c->interface, step, strerror(-ret));
	return ret;
}

int mesh_up(const char *state_dir, const struct identity *id, const struct ledger *l,
	    int log_fd, pid_t *pid, char *err, size_t errlen)
{
	struct mesh_plan plan;
	struct mesh_conf c;
	int ret;

	*pid = 0;
	ret = mesh_conf_load(state_dir, &c, err, errlen);
	if (ret < 0)
		return ret;
	ret = mesh_plan(l, id->name, &plan);
	if (ret < 0) {
		snprintf(err, errlen, "cannot compute the peers: %s", strerror(-ret));
		return ret;
	}
	if (!plan.self || memcmp(plan.self->sign_pk, id->sign_pk, sizeof(id->sign_pk)) ||
	    !id->has_wg || memcmp(plan.self->wg_pk, id->wg_pk, sizeof(id->wg_pk))) {
		snprintf(err, errlen, "'%s' is not a live member of this mesh with this identity",
			 id->name);
		ret = -EKEYREVOKED;
		goto cleanup;
	}
	if (!wg_if_exists(c.interface)) {
		ret = wg_if_create(c.interface, log_fd, pid);
		if (ret < 0) {
			snprintf(err, errlen, "cannot create %s: %s%s", c.interface, strerror(-ret),
				 ret == -ENOENT ? " (no kernel WireGuard and no wireguard-go)" : "");
			goto cleanup;
		}
	}
	ret = configure(&c, &plan, id, err, errlen);
cleanup:
	mesh_plan_free(&plan);
	return ret;
}

/* Removes the peer, then adds it back as it was (endpoint, keepalive,
 * allowed IPs): a new peer with a keepalive initiates a handshake at once. */
static int recreate_peer(const char *ifname, const struct wg_peer *cur)
{
	struct wg_device dev = { 0 };
	struct wg_peer *p;
	int ret = wg_device_set_name(&dev, ifname);

	if (ret == 0)
		ret = wg_device_add_peer(&dev, cur->public_key, &p);
	if (ret == 0) {
		p->flags = WG_PEER_REMOVE_ME;
		ret = wg_set_device(&dev);
	}
	wg_device_clear(&dev);
	if (ret == 0)
		ret = wg_device_set_name(&dev, ifname);
	if (ret == 0)
		ret = wg_device_add_peer(&dev, cur->public_key, &p);
	if (ret == 0) {
		p->flags = WG_PEER_REPLACE_ALLOWEDIPS | WG_PEER_HAS_KEEPALIVE;
		p->persistent_keepalive = cur->persistent_keepalive;
		p->endpoint = cur->endpoint;
	}
	for (size_t i = 0; ret == 0 && i < cur->allowedips_len; i++)
		ret = wg_peer_add_allowedip(p, &cur->allowedips[i]);
	if (ret == 0)
		ret = wg_set_device(&dev);
	wg_device_clear(&dev);
	return ret;
}

/* 1 after a handshake, 2 when not ours to initiate, 0 while none yet (and
 * recreated when due), -errno. */
static int kick_once(const char *ifname, const uint8_t wg_pk[32], bool due)
{
	struct wg_device *dev = NULL;
	const struct wg_peer *p;
	int ret = wg_get_device(ifname, &dev);

	if (ret < 0)
		return ret;
	p = wg_device_find_peer(dev, wg_pk);
	if (!p || !p->persistent_keepalive)
		ret = 2;
	else if (p->last_handshake.tv_sec || p->last_handshake.tv_nsec)
		ret = 1;
	else if (due)
		ret = recreate_peer(ifname, p);
	wg_device_free(dev);
	return ret;
}

int mesh_kick_peer(const char *ifname, const uint8_t wg_pk[32], uint64_t timeout_ms)
{
	struct timespec pause = { .tv_nsec = 20 * 1000 * 1000 };
	uint64_t start = clock_mono_ns(), next = start + MESH_KICK_INTERVAL_MS * NSEC_PER_MSEC;
	int ret;

	for (;;) {
		uint64_t now = clock_mono_ns();
		bool due = now >= next;

		ret = kick_once(ifname, wg_pk, due);
		if (ret != 0)
			return ret < 0 ? ret : ret - 1;
		if (now >= start + timeout_ms * NSEC_PER_MSEC)
			return -ETIMEDOUT;
		if (due)
			next = now + MESH_KICK_INTERVAL_MS * NSEC_PER_MSEC;
		nanosleep(&pause, NULL);
	}
}
