/* The guest fabric's routed network through the libvirt network API:
 * define/start/autostart, static leases, DNS host entries. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libvirt/virterror.h>
#include <sodium.h>

#include "virt/virt-internal.h"
#include "lib/log.h"

#define NET_UPDATE_BOTH (VIR_NETWORK_UPDATE_AFFECT_LIVE | VIR_NETWORK_UPDATE_AFFECT_CONFIG)

static virNetworkPtr fabric_lookup(struct virt_host *h)
{
	return virNetworkLookupByName(h->conn, VIRT_FABRIC_NETWORK);
}

static int net_xml(struct virt_host *h, virNetworkPtr net, char **xml)
{
	*xml = virNetworkGetXMLDesc(net, VIR_NETWORK_XML_INACTIVE);
	if (!*xml) /* the test driver has only the one definition */
		*xml = virNetworkGetXMLDesc(net, 0);
	return *xml ? 0 : virt_fail_lv(h, -EIO, "%s: cannot read its definition", VIRT_FABRIC_NETWORK);
}

static int start(struct virt_host *h, virNetworkPtr net)
{
	if (virNetworkIsActive(net) != 1 && virNetworkCreate(net) < 0)
		return virt_fail_lv(h, -EIO, "cannot start network %s", VIRT_FABRIC_NETWORK);
	if (virNetworkSetAutostart(net, 1) < 0)
		return virt_fail_lv(h, -EIO, "%s: cannot set autostart", VIRT_FABRIC_NETWORK);
	return 0;
}

/* The leases of the old definition that the new range still holds. */
static size_t keep_leases(const struct virt_fabric *f, struct virt_lease *l, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (l[i].addr >= f->range.dhcp_first && l[i].addr <= f->range.dhcp_last)
			l[k++] = l[i];
	return k;
}

/* *net: the network that is there (NULL: none); then the one defined. */
static int define(struct virt_host *h, const struct virt_fabric *f, const char *old,
		  virNetworkPtr *net)
{
	struct guest_net_range r;
	struct virt_lease *l = NULL;
	size_t n = 0;
	char *xml = NULL, uuid[VIR_UUID_STRING_BUFLEN] = "";
	int ret = 0;

	if (old && virt_fabric_xml_leases(old, &r, &l, &n) < 0)
		n = 0;
	n = keep_leases(f, l, n);
	if (*net && virNetworkGetUUIDString(*net, uuid) < 0)
		uuid[0] = '\0';
	if ((ret = virt_fabric_xml(f, uuid, l, n, &xml)) < 0) {
		free(l);
		return virt_fail(h, ret, "network XML: %s", strerror(-ret));
	}
	*net = virNetworkDefineXML(h->conn, xml);
	free(xml);
	free(l);
	if (!*net)
		return virt_fail_lv(h, -EIO, "cannot define network %s", VIRT_FABRIC_NETWORK);
	return 0;
}

int virt_fabric_ensure(struct virt_host *h, const struct virt_fabric *f)
{
	virNetworkPtr net = fabric_lookup(h), redef = NULL;
	char *old = NULL;
	int ret;

	if (net && (ret = net_xml(h, net, &old)) < 0)
		goto out;
	if (net && virt_fabric_xml_matches(old, f)) {
		ret = start(h, net);
		goto out;
	}
	redef = net;
	ret = define(h, f, old, &redef);
	if (redef == net)
		redef = NULL;
	if (ret < 0)
		goto out;
	/* A running network takes a new definition only by a restart. */
	if (net && virNetworkIsActive(redef) == 1) {
		log_warn("network %s: definition changed; restarting it", VIRT_FABRIC_NETWORK);
		if (virNetworkDestroy(redef) < 0) {
			ret = virt_fail_lv(h, -EIO, "cannot stop network %s", VIRT_FABRIC_NETWORK);
			goto out;
		}
	}
	ret = start(h, redef);
	if (!ret)
		log_info("network %s %s on %s", VIRT_FABRIC_NETWORK, net ? "redefined" : "defined",
			 VIRT_FABRIC_BRIDGE);
out:
	free(old);
	if (redef)
		virNetworkFree(redef);
	if (net)
		virNetworkFree(net);
	return ret;
}

static unsigned update_flags(virNetworkPtr net)
{
	return virNetworkIsActive(net) == 1 ? NET_UPDATE_BOTH : VIR_NETWORK_UPDATE_AFFECT_CONFIG;
}

static int update(struct virt_host *h, virNetworkPtr net, unsigned cmd, unsigned section,
		  const char *xml)
{
	if (virNetworkUpdate(net, cmd, section, -1, xml, update_flags(net)) < 0)
		return virt_fail_lv(h, -EIO, "network %s: update refused", VIRT_FABRIC_NETWORK);
	return 0;
}

static int leases_of(struct virt_host *h, virNetworkPtr *net, struct guest_net_range *r,
		     struct virt_lease **l, size_t *n)
{
	char *xml = NULL;
	int ret;

	*net = fabric_lookup(h);
	if (!*net)
		return virt_fail(h, -ENOENT, "no network %s (the helper's fabric verb makes it)",
				 VIRT_FABRIC_NETWORK);
	if ((ret = net_xml(h, *net, &xml)) < 0)
		return ret;
	ret = virt_fabric_xml_leases(xml, r, l, n);
	free(xml);
	return ret < 0 ? virt_fail(h, ret, "%s: no DHCP range", VIRT_FABRIC_NETWORK) : 0;
}

static const struct virt_lease *find(const struct virt_lease *l, size_t n, const char *guest)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i].name, guest))
			return &l[i];
	return NULL;
}

static void fresh_mac(const struct virt_lease *l, size_t n, char mac[18])
{
	uint8_t rnd[3];

	randombytes_buf(rnd, sizeof(rnd));
	virt_lease_mac(rnd, l, n, mac);
}

/* want when a lease may take it, else NULL (why, when there was a want). */
static const char *kept_mac(const char *guest, const char *want, const struct virt_lease *l,
			    size_t n)
{
	const char *why = want && *want ? virt_lease_mac_refusal(want, l, n) : "";

	if (why && *why)
		log_warn("guest %s: its MAC %s not kept (%s)", guest, want, why);
	return why ? NULL : want;
}

static int lease_update(struct virt_host *h, virNetworkPtr net, unsigned cmd,
			const struct virt_lease *e)
{
	char *xml = NULL;
	int ret = virt_lease_xml(e, &xml);

	if (!ret)
		ret = update(h, net, cmd, VIR_NETWORK_SECTION_IP_DHCP_HOST, xml);
	free(xml);
	return ret;
}

/* The lease of a guest name is replaced only while no domain of that name
 * is defined here to use it (a create could have come since the caller's
 * check). */
static int no_domain_named(struct virt_host *h, const char *guest)
{
	virDomainPtr d = virDomainLookupByName(h->conn, guest);

	if (!d)
		return 0;
	virDomainFree(d);
	return virt_fail(h, -EEXIST, "a guest named %s is defined on this node: its lease stays", guest);
}

int virt_lease_get(struct virt_host *h, const char *guest, const char *want,
		   struct virt_lease *out, bool *fresh)
{
	struct guest_net_range r;
	struct virt_lease *l = NULL;
	const struct virt_lease *had;
	const char *keep;
	virNetworkPtr net;
	size_t n = 0;
	int ret;

	if (fresh)
		*fresh = false;
	memset(out, 0, sizeof(*out));
	if ((ret = leases_of(h, &net, &r, &l, &n)) < 0)
		goto out;
	had = find(l, n, guest);
	keep = had && (!want || !strcasecmp(had->mac, want)) ? NULL : kept_mac(guest, want, l, n);
	if (had && !keep) {
		*out = *had;
		goto out;
	}
	if (had) { /* no domain of the name is defined to use it: its address kept */
		out->addr = had->addr;
		if ((ret = no_domain_named(h, guest)) < 0 ||
		    (ret = lease_update(h, net, VIR_NETWORK_UPDATE_COMMAND_DELETE, had)) < 0)
			goto out;
		log_info("guest %s: lease %s replaced, to keep its MAC %s", guest, had->mac, keep);
	} else if ((ret = virt_lease_pick(&r, l, n, &out->addr)) < 0) {
		ret = virt_fail(h, ret, "%s: no free address left in its range", VIRT_FABRIC_NETWORK);
		goto out;
	}
	if (keep)
		snprintf(out->mac, sizeof(out->mac), "%s", keep);
	else
		fresh_mac(l, n, out->mac);
	snprintf(out->name, sizeof(out->name), "%s", guest);
	ret = lease_update(h, net, VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, out);
	if (!ret && fresh)
		*fresh = true;
out:
	free(l);
	if (net)
		virNetworkFree(net);
	return ret;
}

int virt_lease_release(struct virt_host *h, const char *guest)
{
	struct guest_net_range r;
	struct virt_lease *l = NULL;
	const struct virt_lease *had;
	virNetworkPtr net;
	size_t n = 0;
	int ret = leases_of(h, &net, &r, &l, &n);

	if (ret < 0 || !(had = find(l, n, guest)))
		goto out;
	ret = lease_update(h, net, VIR_NETWORK_UPDATE_COMMAND_DELETE, had);
	if (!ret)
		log_info("guest %s: lease %s released", guest, had->mac);
out:
	free(l);
	if (net)
		virNetworkFree(net);
	return ret;
}

/* Whether a[0..an) and b[0..bn) give addr the same names. */
static bool same_names(uint32_t addr, const struct names_entry *a, size_t an,
		       const struct names_entry *b, size_t bn)
{
	size_t ca = 0, cb = 0;

	for (size_t i = 0; i < an; i++) {
		if (a[i].addr != addr)
			continue;
		ca++;
		for (size_t k = 0; k < bn; k++)
			if (b[k].addr == addr && !strcmp(a[i].name, b[k].name))
				goto found;
		return false;
found:;
	}
	for (size_t k = 0; k < bn; k++)
		cb += b[k].addr == addr;
	return ca == cb;
}

static bool first_of(uint32_t addr, const struct names_entry *e, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (e[k].addr == addr)
			return false;
	return true;
}

/* Each address's <host> entry, for every address of from that differs in to. */
static int apply(struct virt_host *h, virNetworkPtr net, unsigned cmd,
		 const struct names_entry *from, size_t fn, const struct names_entry *to, size_t tn)
{
	int ret = 0;

	for (size_t i = 0; i < fn && !ret; i++) {
		char *xml = NULL;

		if (!first_of(from[i].addr, from, i) || same_names(from[i].addr, from, fn, to, tn))
			continue;
		if ((ret = virt_dns_host_xml(from[i].addr, from, fn, &xml)) == 0)
			ret = update(h, net, cmd, VIR_NETWORK_SECTION_DNS_HOST, xml);
		free(xml);
	}
	return ret;
}

int virt_fabric_names(struct virt_host *h, const struct names_entry *e, size_t n)
{
	virNetworkPtr net = fabric_lookup(h);
	struct names_entry *old = NULL;
	size_t on = 0;
	char *xml = NULL;
	int ret;

	if (!net)
		return virt_fail(h, -ENOENT, "no network %s (the helper's fabric verb makes it)",
				 VIRT_FABRIC_NETWORK);
	if ((ret = net_xml(h, net, &xml)) < 0 || (ret = virt_fabric_xml_dns(xml, &old, &on)) < 0)
		goto out;
	ret = apply(h, net, VIR_NETWORK_UPDATE_COMMAND_DELETE, old, on, e, n);
	if (!ret)
		ret = apply(h, net, VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, e, n, old, on);
out:
	free(old);
	free(xml);
	virNetworkFree(net);
	return ret;
}
