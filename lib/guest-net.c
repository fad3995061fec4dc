#include "lib/guest-net.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "lib/errbuf.h"

static uint32_t mask(uint8_t len)
{
	return len ? ~0u << (32 - len) : 0;
}

static bool overlap(uint32_t a, uint8_t alen, uint32_t b, uint8_t blen)
{
	uint32_t m = mask(alen < blen ? alen : blen);

	return (a & m) == (b & m);
}

static void format_prefix(uint32_t addr, uint8_t len, char buf[20])
{
	char a[16];

	ledger_addr_format(addr, a);
	snprintf(buf, 20, "%s/%u", a, len);
}

int guest_net_init(struct guest_net *g, uint32_t mesh_addr, uint8_t mesh_len, uint32_t addr,
		   uint8_t len, uint8_t subnet_len, char *err, size_t errlen)
{
	uint32_t lv_addr;
	uint8_t lv_len;
	char p[20];

	format_prefix(addr, len, p);
	if (mesh_len < LEDGER_PREFIX_MIN || mesh_len > LEDGER_PREFIX_MAX ||
	    (mesh_addr & ~mask(mesh_len)))
		return errbuf_fail(-EINVAL, err, errlen, "mesh prefix: /%d to /%d, host bits zero",
			    LEDGER_PREFIX_MIN, LEDGER_PREFIX_MAX);
	if (len < 8 || len > subnet_len || subnet_len > GUEST_NET_SUBNET_MAX_LEN ||
	    (addr & ~mask(len)))
		return errbuf_fail(-EINVAL, err, errlen, "guest prefix %s with /%u subnets: /8 to the "
			    "subnet length, subnets /%d at most, host bits zero", p, subnet_len,
			    GUEST_NET_SUBNET_MAX_LEN);
	if (overlap(addr, len, mesh_addr, mesh_len))
		return errbuf_fail(-EINVAL, err, errlen, "guest prefix %s overlaps the mesh prefix", p);
	if (ledger_prefix_parse(GUEST_NET_LIBVIRT_DEFAULT, &lv_addr, &lv_len) == 0 &&
	    overlap(addr, len, lv_addr, lv_len))
		return errbuf_fail(-EINVAL, err, errlen, "guest prefix %s overlaps libvirt's default "
			    "network %s", p, GUEST_NET_LIBVIRT_DEFAULT);
	*g = (struct guest_net){ .mesh_addr = mesh_addr, .mesh_len = mesh_len, .addr = addr,
				 .len = len, .subnet_len = subnet_len };
	return 0;
}

int guest_net_default(struct guest_net *g, uint32_t mesh_addr, uint8_t mesh_len, char *err,
		      size_t errlen)
{
	uint32_t addr;
	uint8_t len;
	int ret = ledger_prefix_parse(GUEST_NET_PREFIX, &addr, &len);

	if (ret == 0 && overlap(addr, len, mesh_addr, mesh_len))
		ret = ledger_prefix_parse(GUEST_NET_ALT_PREFIX, &addr, &len);
	if (ret < 0)
		return errbuf_fail(ret, err, errlen, "guest prefix: bad built-in default");
	return guest_net_init(g, mesh_addr, mesh_len, addr, len, GUEST_NET_SUBNET_LEN, err, errlen);
}

int guest_net_from_ledger(struct guest_net *g, const struct ledger *l, char *err, size_t errlen)
{
	if (!l->count || l->entries[0].kind != LEDGER_GENESIS)
		return errbuf_fail(-EINVAL, err, errlen, "no genesis entry");
	return guest_net_default(g, l->entries[0].prefix_addr, l->entries[0].prefix_len, err,
				 errlen);
}

uint32_t guest_net_capacity(const struct guest_net *g)
{
	uint64_t subnets = (1ull << (g->subnet_len - g->len)) - 1;
	uint64_t hosts = (1ull << (32 - g->mesh_len)) - 2;

	return (uint32_t)(subnets < hosts ? subnets : hosts);
}

int guest_net_subnet(const struct guest_net *g, uint32_t member_addr, uint32_t *subnet,
		     char *err, size_t errlen)
{
	uint32_t n = member_addr - g->mesh_addr;
	char a[16];

	ledger_addr_format(member_addr, a);
	if ((member_addr & mask(g->mesh_len)) != g->mesh_addr || n == 0 ||
	    n == ~mask(g->mesh_len))
		return errbuf_fail(-EDOM, err, errlen, "%s is not a member address of the mesh", a);
	if (n > guest_net_capacity(g))
		return errbuf_fail(-ERANGE, err, errlen, "member %s (number %u) has no guest subnet: the "
			    "guest prefix holds %u", a, n, guest_net_capacity(g));
	*subnet = g->addr + (n << (32 - g->subnet_len));
	return 0;
}

int guest_net_range(const struct guest_net *g, uint32_t subnet, struct guest_net_range *r)
{
	uint32_t size = 1u << (32 - g->subnet_len), owner;

	if ((subnet & (size - 1)) || guest_net_owner_addr(g, subnet, &owner) < 0)
		return -EINVAL;
	*r = (struct guest_net_range){ .subnet = subnet, .gateway = subnet + 1,
				       .dhcp_first = subnet + 2, .dhcp_last = subnet + size - 2 };
	return 0;
}

int guest_net_owner_addr(const struct guest_net *g, uint32_t addr, uint32_t *member_addr)
{
	uint32_t n = (addr - g->addr) >> (32 - g->subnet_len);

	if ((addr & mask(g->len)) != g->addr || n == 0 || n > guest_net_capacity(g))
		return -ENOENT;
	*member_addr = g->mesh_addr + n;
	return 0;
}

const struct ledger_member *guest_net_owner(const struct guest_net *g, const struct ledger *l,
					    uint32_t addr)
{
	const struct ledger_member *m;
	uint32_t owner;
	size_t n;

	if (guest_net_owner_addr(g, addr, &owner) < 0 || ledger_members(l, &m, &n) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (m[i].addr == owner && !m[i].revoked)
			return &m[i];
	return NULL;
}
