#include "lib/firewall.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nftables/libnftables.h>

#include "lib/textbuf.h"
#include "lib/names.h"

#define T "inet " FW_TABLE

/* "add" leaves an existing object as it is, so the ceremony set keeps its
 * elements (and their timeouts) while the members and rules are replaced;
 * the whole buffer is one nftables transaction. */
static void put_objects(struct textbuf *o)
{
	textbuf_add(o, "add table " T "\n");
	textbuf_add(o, "add set " T " members { type ipv4_addr; }\n");
	textbuf_add(o, "add set " T " ceremony { type inet_service; flags timeout; }\n");
	textbuf_add(o, "add counter " T " denied\n");
	textbuf_add(o, "add chain " T " input { type filter hook input priority filter - 5; "
	       "policy accept; }\n");
	textbuf_add(o, "add chain " T " control_forward { type filter hook forward priority "
		       "filter - 5; policy accept; }\n");
	textbuf_add(o, "flush chain " T " input\n");
	textbuf_add(o, "flush chain " T " control_forward\n");
	textbuf_add(o, "flush set " T " members\n");
}

static void put_members(struct textbuf *o, const struct fw_spec *s)
{
	char addr[INET_ADDRSTRLEN];
	struct in_addr a;

	if (!s->nmembers)
		return;
	textbuf_add(o, "add element " T " members { ");
	for (size_t i = 0; i < s->nmembers; i++) {
		a.s_addr = htonl(s->members[i]);
		inet_ntop(AF_INET, &a, addr, sizeof(addr));
		textbuf_add(o, "%s%s", i ? ", " : "", addr);
	}
	textbuf_add(o, " }\n");
}

static void put_rules(struct textbuf *o, const struct fw_spec *s)
{
	const char *r = "add rule " T " input";

	/* Guests behind a host's NAT would reach other members' control plane
	 * as that host's member address: nothing forwarded into the mesh from
	 * elsewhere may go to those ports. */
	textbuf_add(o, "add rule " T " control_forward iifname != \"%s\" oifname \"%s\" "
		       "meta l4proto { tcp, udp } th dport %d-%d counter name \"denied\" drop\n",
		    s->mesh_if, s->mesh_if, FW_PORT_FIRST, FW_PORT_LAST);
	textbuf_add(o, "add rule " T " control_forward iifname != \"%s\" oifname \"%s\" "
		       "tcp dport %d counter name \"denied\" drop\n", s->mesh_if, s->mesh_if, FW_PORT_MOVE);
	textbuf_add(o, "%s iif \"lo\" accept\n", r);
	textbuf_add(o, "%s ct state established,related accept\n", r);
	textbuf_add(o, "%s tcp dport @ceremony accept\n", r);
	textbuf_add(o, "%s iifname \"%s\" ip saddr @members tcp dport %d-%d accept\n", r, s->mesh_if,
	    FW_PORT_FIRST, FW_PORT_LAST);
	textbuf_add(o, "%s iifname \"%s\" ip saddr @members udp dport %d accept\n", r, s->mesh_if,
	    FW_PORT_FIRST);
	textbuf_add(o, "%s iifname \"%s\" ip saddr @members tcp dport %d accept\n", r, s->mesh_if,
	    FW_PORT_MOVE);
	textbuf_add(o, "%s tcp dport %d counter name \"denied\" drop\n", r, FW_PORT_MOVE);
	textbuf_add(o, "%s meta l4proto { tcp, udp } th dport %d-%d counter name \"denied\" drop\n", r,
	    FW_PORT_FIRST, FW_PORT_LAST);
}

int fw_render(const struct fw_spec *s, char *buf, size_t len)
{
	struct textbuf o = { .p = buf, .cap = len };

	if (!s || !buf || !len || !ifname_valid(s->mesh_if) || (s->nmembers && !s->members))
		return -EINVAL;
	buf[0] = '\0';
	put_objects(&o);
	put_members(&o, s);
	put_rules(&o, s);
	return o.err ? -ENOSPC : 0;
}

static void set_err(char *err, size_t errlen, const char *what, const char *detail)
{
	size_t n;

	if (!err || !errlen)
		return;
	snprintf(err, errlen, "%s: %s", what, detail && *detail ? detail : "failed");
	n = strlen(err);
	while (n && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
}

/* One nftables transaction; nft's own message in err on failure. */
static int run(const char *cmds, const char *what, char *err, size_t errlen)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	int ret;

	if (!nft)
		return -ENOMEM;
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	ret = nft_run_cmd_from_buffer(nft, cmds) ? -EIO : 0;
	if (ret < 0)
		set_err(err, errlen, what, nft_ctx_get_error_buffer(nft));
	nft_ctx_free(nft);
	return ret;
}

int fw_apply(const struct fw_spec *s, char *err, size_t errlen)
{
	size_t len = 2048 + (s ? s->nmembers : 0) * 20;
	char *buf = malloc(len);
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = fw_render(s, buf, len);
	if (ret == 0)
		ret = run(buf, "firewall", err, errlen);
	else
		set_err(err, errlen, "firewall", "unusable interface name or member list");
	free(buf);
	return ret;
}

int fw_fabric_render(const char *policy, const char *bridge, const struct fw_published *p,
		     size_t n, char *buf, size_t len)
{
	struct textbuf o = { .p = buf, .cap = len };
	char addr[INET_ADDRSTRLEN];
	struct in_addr a;

	if (!policy || !buf || !len || !ifname_valid(bridge) || (n && !p))
		return -EINVAL;
	buf[0] = '\0';
	textbuf_add(&o, "%s", policy);
	textbuf_add(&o, "add chain " T " published { type nat hook prerouting priority dstnat; "
		    "policy accept; }\nflush chain " T " published\n");
	for (size_t i = 0; i < n; i++) {
		const char *proto = p[i].udp ? "udp" : "tcp";

		if (!p[i].port || !p[i].host_port)
			return -EINVAL;
		a.s_addr = htonl(p[i].addr);
		inet_ntop(AF_INET, &a, addr, sizeof(addr));
		textbuf_add(&o, "add rule " T " published iifname != \"%s\" fib daddr type local "
			    "%s dport %u dnat ip to %s:%u\n", bridge, proto, p[i].host_port, addr,
			    p[i].port);
		/* insert: ahead of the policy's drop of anything else to a guest */
		textbuf_add(&o, "insert rule " T " forward iifname != \"%s\" ct status dnat "
			    "ip daddr %s %s dport %u accept\n", bridge, addr, proto, p[i].port);
	}
	return o.err ? -ENOSPC : 0;
}

int fw_apply_fabric(const char *policy, const char *bridge, const struct fw_published *p,
		    size_t n, char *err, size_t errlen)
{
	size_t len = (policy ? strlen(policy) : 0) + 256 + n * 256;
	char *buf = malloc(len);
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = fw_fabric_render(policy, bridge, p, n, buf, len);
	if (ret == 0)
		ret = run(buf, "guest fabric", err, errlen);
	else
		set_err(err, errlen, "guest fabric", "unusable policy, bridge or published port");
	free(buf);
	return ret;
}

int fw_ceremony_open(uint16_t port, unsigned ttl_s, char *err, size_t errlen)
{
	char cmd[160];

	if (run("list table " T "\n", "firewall", NULL, 0) < 0)
		return -ENOENT;
	/* "add" would keep an existing element's old timeout: flush, then add. */
	snprintf(cmd, sizeof(cmd), "flush set " T " ceremony\n");
	if (ttl_s && port)
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd),
			 "add element " T " ceremony { %u timeout %us }\n", port, ttl_s);
	return run(cmd, "ceremony port", err, errlen);
}

static uint64_t counter(struct nft_ctx *nft, const char *name)
{
	char cmd[96];
	const char *out, *at;
	unsigned long long v = 0;

	snprintf(cmd, sizeof(cmd), "list counter " T " %s\n", name);
	if (nft_run_cmd_from_buffer(nft, cmd) == 0 && (out = nft_ctx_get_output_buffer(nft)) &&
	    (at = strstr(out, "packets ")) && sscanf(at, "packets %llu", &v) != 1)
		v = 0;
	return v;
}

int fw_counters(uint64_t *denied, uint64_t *guest_denied)
{
	struct nft_ctx *nft;

	*denied = *guest_denied = 0;
	if (run("list table " T "\n", "firewall", NULL, 0) < 0)
		return -ENOENT;
	nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!nft)
		return -ENOMEM;
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	*denied = counter(nft, "denied");
	*guest_denied = counter(nft, "guest_denied");
	nft_ctx_free(nft);
	return 0;
}

int fw_remove(char *err, size_t errlen)
{
	if (run("list table " T "\n", "firewall", NULL, 0) < 0)
		return 0;
	return run("delete table " T "\n", "firewall", err, errlen);
}
