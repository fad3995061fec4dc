/* Interface life cycle over rtnetlink, and wireguard-go where the kernel has
 * no WireGuard. wireguard-go runs in the foreground (WG_PROCESS_FOREGROUND=1)
 * rather than daemonizing itself, so that we hold its PID without scraping
 * for it, see it die while we wait for it to come up, and can hand it to a
 * supervisor; it gets a session of its own so that it outlives the caller. */
#include "lib/wg-if.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "lib/wg-netlink.h"
#include "lib/wg-uapi.h"

#define USERSPACE_START_MS 10000

static int rtnl_request(struct nlmsghdr *nlh)
{
	struct mnl_socket *nl;
	int ret = wgnl_open(NETLINK_ROUTE, &nl);

	if (ret)
		return ret;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	ret = wgnl_talk(nl, nlh, NULL, NULL);
	mnl_socket_close(nl);
	return ret < 0 ? ret : 0;
}

static struct nlmsghdr *put_header(void *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, MNL_SOCKET_BUFFER_SIZE);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	return nlh;
}

static int ifindex_of(const char *ifname, int *index)
{
	if (!ifname[0] || strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	*index = (int)if_nametoindex(ifname);
	return *index ? 0 : -ENODEV;
}

bool wg_if_exists(const char *ifname)
{
	int index;

	return !ifindex_of(ifname, &index);
}

static int kernel_create(const char *ifname)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_header(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	struct nlattr *info;

	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "wireguard");
	mnl_attr_nest_end(nlh, info);
	return rtnl_request(nlh);
}

static int spawn_userspace(const char *ifname, int log_fd, pid_t *pid)
{
	const char *prog = getenv("WG_QUICK_USERSPACE_IMPLEMENTATION");
	const char *level = getenv("LOG_LEVEL");
	char level_env[32], *argv[3], *envp[3];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t all, none;
	int ret;

	if (!prog || !*prog)
		prog = "wireguard-go";
	if (!level || strlen(level) > 16)
		level = "error";
	snprintf(level_env, sizeof(level_env), "LOG_LEVEL=%s", level);
	argv[0] = (char *)prog;
	argv[1] = (char *)ifname;
	argv[2] = NULL;
	envp[0] = "WG_PROCESS_FOREGROUND=1";
	envp[1] = level_env;
	envp[2] = NULL;
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (log_fd < 0) {
		posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	} else {
		posix_spawn_file_actions_adddup2(&fa, log_fd, STDOUT_FILENO);
		posix_spawn_file_actions_adddup2(&fa, log_fd, STDERR_FILENO);
	}
	/* Nothing else of ours, such as a listening socket, goes with it. */
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
					POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	ret = -posix_spawnp(pid, prog, &fa, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return ret;
}

/* Up means the UAPI socket answers a get. */
static int wait_userspace(const char *ifname, pid_t pid)
{
	struct timespec pause = { .tv_nsec = 20 * 1000 * 1000 };
	struct wg_device *dev;
	int status;

	for (int ms = 0; ms < USERSPACE_START_MS; ms += 20) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return -ECHILD;
		if (!wg_uapi_get_device(ifname, &dev)) {
			wg_device_free(dev);
			return 0;
		}
		nanosleep(&pause, NULL);
	}
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	return -ETIMEDOUT;
}

int wg_if_create(const char *ifname, int log_fd, pid_t *pid)
{
	int ret;

	*pid = 0;
	if (!ifname[0] || strlen(ifname) >= IFNAMSIZ || strchr(ifname, '/'))
		return -EINVAL;
	if (wg_if_exists(ifname))
		return -EEXIST;
	ret = kernel_create(ifname);
	if (ret != -EOPNOTSUPP)
		return ret;
	ret = spawn_userspace(ifname, log_fd, pid);
	if (ret)
		return ret;
	ret = wait_userspace(ifname, *pid);
	if (ret)
		*pid = 0;
	return ret;
}

int wg_if_delete(const char *ifname)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_header(buf, RTM_DELLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	int index, ret = ifindex_of(ifname, &index);

	if (ret)
		return ret;
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = index;
	return rtnl_request(nlh);
}

int wg_if_set_up(const char *ifname, unsigned int mtu)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_header(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	int index, ret = ifindex_of(ifname, &index);

	if (ret)
		return ret;
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = index;
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return rtnl_request(nlh);
}

static size_t addr_len(const struct wg_allowedip *ip)
{
	return ip->family == AF_INET6 ? sizeof(ip->ip6) : sizeof(ip->ip4);
}

static bool prefix_valid(const struct wg_allowedip *ip)
{
	return (ip->family == AF_INET && ip->cidr <= 32) ||
	       (ip->family == AF_INET6 && ip->cidr <= 128);
}

int wg_if_add_address(const char *ifname, const struct wg_allowedip *addr)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_header(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	int index, ret = ifindex_of(ifname, &index);

	if (ret)
		return ret;
	if (!prefix_valid(addr))
		return -EINVAL;
	ifa->ifa_family = (uint8_t)addr->family;
	ifa->ifa_prefixlen = addr->cidr;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)index;
	mnl_attr_put(nlh, IFA_LOCAL, addr_len(addr), &addr->ip6);
	mnl_attr_put(nlh, IFA_ADDRESS, addr_len(addr), &addr->ip6);
	/* No neighbour on a tunnel can hold the same address: skip DAD's delay. */
	if (addr->family == AF_INET6)
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	return rtnl_request(nlh);
}

/* The kernel refuses a route whose destination has host bits set. */
static void mask_prefix(struct wg_allowedip *ip)
{
	uint8_t *bytes = (uint8_t *)&ip->ip6;
	size_t len = addr_len(ip);

	for (size_t i = 0; i < len; i++) {
		unsigned int keep = ip->cidr > i * 8 ? ip->cidr - i * 8 : 0;

		if (keep < 8)
			bytes[i] &= (uint8_t)(0xff00 >> keep);
	}
}

static int route_request(const char *ifname, const struct wg_allowedip *dst, bool add)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = put_header(buf, add ? RTM_NEWROUTE : RTM_DELROUTE,
					  add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	struct wg_allowedip net = *dst;
	int index, ret = ifindex_of(ifname, &index);

	if (ret)
		return ret;
	if (!prefix_valid(dst))
		return -EINVAL;
	mask_prefix(&net);
	rtm->rtm_family = (uint8_t)net.family;
	rtm->rtm_dst_len = net.cidr;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = add ? RTPROT_BOOT : RTPROT_UNSPEC;
	rtm->rtm_scope = add ? RT_SCOPE_LINK : RT_SCOPE_NOWHERE;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_DST, addr_len(&net), &net.ip6);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)index);
	return rtnl_request(nlh);
}

int wg_if_add_route(const char *ifname, const struct wg_allowedip *dst)
{
	return route_request(ifname, dst, true);
}

int wg_if_del_route(const char *ifname, const struct wg_allowedip *dst)
{
	return route_request(ifname, dst, false);
}
