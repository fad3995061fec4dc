/* The guest fabric network's XML: built, and read back from libvirt's own
 * output (attributes in single quotes, as libvirt writes them). Pure. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "virt/virt-internal.h"
#include "lib/ledger.h"

static void addr(char buf[16], uint32_t a)
{
	ledger_addr_format(a, buf);
}

static void lease_host(struct vbuf *b, const struct virt_lease *l)
{
	char ip[16];

	addr(ip, l->addr);
	vbuf_printf(b, "<host mac='%s' name='", l->mac);
	vbuf_xml(b, l->name);
	vbuf_printf(b, "' ip='%s'/>", ip);
}

int virt_fabric_xml(const struct virt_fabric *f, const char *uuid, const struct virt_lease *leases,
		    size_t n, char **out)
{
	char gw[16], first[16], last[16];
	struct vbuf b = { 0 };

	addr(gw, f->range.gateway);
	addr(first, f->range.dhcp_first);
	addr(last, f->range.dhcp_last);
	vbuf_printf(&b, "<network>\n  <name>" VIRT_FABRIC_NETWORK "</name>\n");
	if (uuid && uuid[0]) {
		vbuf_printf(&b, "  <uuid>");
		vbuf_xml(&b, uuid);
		vbuf_printf(&b, "</uuid>\n");
	}
	vbuf_printf(&b, "  <forward mode='route'/>\n"
		    "  <bridge name='" VIRT_FABRIC_BRIDGE "' stp='off' delay='0'/>\n"
		    "  <domain name='");
	vbuf_xml(&b, f->zone);
	vbuf_printf(&b, "' localOnly='yes'/>\n"
		    "  <ip address='%s' prefix='%u'>\n    <dhcp>\n"
		    "      <range start='%s' end='%s'/>\n", gw, f->prefix_len, first, last);
	for (size_t i = 0; i < n; i++) {
		vbuf_printf(&b, "      ");
		lease_host(&b, &leases[i]);
		vbuf_printf(&b, "\n");
	}
	vbuf_printf(&b, "    </dhcp>\n  </ip>\n</network>\n");
	return vbuf_take(&b, out);
}

int virt_lease_xml(const struct virt_lease *l, char **out)
{
	struct vbuf b = { 0 };

	lease_host(&b, l);
	return vbuf_take(&b, out);
}

/* The value of attribute name in the tag starting at tag; "" if absent. */
static void attr(const char *tag, const char *name, char *out, size_t len)
{
	const char *end = strchr(tag, '>');
	char key[32];
	const char *a;
	size_t n;

	out[0] = '\0';
	snprintf(key, sizeof(key), " %s='", name);
	a = strstr(tag, key);
	if (!end || !a || a > end)
		return;
	a += strlen(key);
	n = strcspn(a, "'");
	if (a[n] == '\'' && n < len) {
		memcpy(out, a, n);
		out[n] = '\0';
	}
}

static bool tag_says(const char *xml, const char *tag, const char *name, const char *want)
{
	const char *t = strstr(xml, tag);
	char v[256];

	if (!t)
		return false;
	attr(t, name, v, sizeof(v));
	return !strcmp(v, want);
}

bool virt_fabric_xml_matches(const char *xml, const struct virt_fabric *f)
{
	char gw[16], first[16], last[16], len[4];

	addr(gw, f->range.gateway);
	addr(first, f->range.dhcp_first);
	addr(last, f->range.dhcp_last);
	snprintf(len, sizeof(len), "%u", f->prefix_len);
	return tag_says(xml, "<forward ", "mode", "route") &&
	       tag_says(xml, "<bridge ", "name", VIRT_FABRIC_BRIDGE) &&
	       tag_says(xml, "<domain ", "name", f->zone) &&
	       tag_says(xml, "<domain ", "localOnly", "yes") &&
	       tag_says(xml, "<ip ", "address", gw) && tag_says(xml, "<ip ", "prefix", len) &&
	       tag_says(xml, "<range ", "start", first) && tag_says(xml, "<range ", "end", last) &&
	       !strstr(strstr(xml, "<ip ") + 1, "<ip ");
}

static int parse_addr(const char *text, uint32_t *a)
{
	struct in_addr in;

	if (inet_pton(AF_INET, text, &in) != 1)
		return -EINVAL;
	*a = ntohl(in.s_addr);
	return 0;
}

static int grow(void **p, size_t size, size_t n, size_t *cap)
{
	void *np;

	if (n < *cap)
		return 0;
	*cap = *cap ? *cap * 2 : 16;
	np = realloc(*p, *cap * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	return 0;
}

int virt_fabric_xml_leases(const char *xml, struct guest_net_range *range,
			   struct virt_lease **out, size_t *n)
{
	const char *dhcp = strstr(xml, "<dhcp>"), *end = dhcp ? strstr(dhcp, "</dhcp>") : NULL;
	struct virt_lease *l = NULL;
	size_t cap = 0, count = 0;
	char v[64];

	*out = NULL;
	*n = 0;
	memset(range, 0, sizeof(*range));
	if (!end)
		return -ENOENT;
	attr(strstr(dhcp, "<range ") ? strstr(dhcp, "<range ") : dhcp, "start", v, sizeof(v));
	if (parse_addr(v, &range->dhcp_first) < 0)
		return -EINVAL;
	attr(strstr(dhcp, "<range "), "end", v, sizeof(v));
	if (parse_addr(v, &range->dhcp_last) < 0)
		return -EINVAL;
	for (const char *h = dhcp; (h = strstr(h + 1, "<host ")) && h < end;) {
		struct virt_lease e = { 0 };

		attr(h, "mac", e.mac, sizeof(e.mac));
		attr(h, "name", e.name, sizeof(e.name));
		attr(h, "ip", v, sizeof(v));
		if (parse_addr(v, &e.addr) < 0)
			continue;
		if (grow((void **)&l, sizeof(*l), count, &cap) < 0) {
			free(l);
			return -ENOMEM;
		}
		l[count++] = e;
	}
	*out = l;
	*n = count;
	return 0;
}

static bool held(const struct virt_lease *used, size_t n, uint32_t a)
{
	for (size_t i = 0; i < n; i++)
		if (used[i].addr == a)
			return true;
	return false;
}

int virt_lease_pick(const struct guest_net_range *r, const struct virt_lease *used, size_t n,
		    uint32_t *a)
{
	for (uint32_t x = r->dhcp_first; x && x <= r->dhcp_last; x++) {
		if (!held(used, n, x)) {
			*a = x;
			return 0;
		}
	}
	return -ENOSPC;
}

void virt_lease_mac(const uint8_t rnd[3], const struct virt_lease *used, size_t n, char mac[18])
{
	uint32_t v = (uint32_t)rnd[0] << 16 | (uint32_t)rnd[1] << 8 | rnd[2];

	for (;;) {
		size_t i;

		snprintf(mac, 18, "52:54:00:%02x:%02x:%02x", v >> 16 & 0xff, v >> 8 & 0xff, v & 0xff);
		for (i = 0; i < n && strcasecmp(used[i].mac, mac); i++)
			;
		if (i == n)
			return;
		v = (v + 1) & 0xffffff;
	}
}

const char *virt_lease_mac_refusal(const char *mac, const struct virt_lease *used, size_t n)
{
	if (strlen(mac) != 17 || strncmp(mac, "52:54:00:", 9))
		return "not a 52:54:00 address of the fabric's";
	for (int i = 9; i < 17; i++)
		if (i % 3 == 2 ? mac[i] != ':' : !strchr("0123456789abcdef", mac[i]))
			return "not a 52:54:00 address of the fabric's";
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(used[i].mac, mac))
			return "another lease of this node's network holds it";
	return NULL;
}

int virt_dns_host_xml(uint32_t a, const struct names_entry *entries, size_t n, char **out)
{
	struct vbuf b = { 0 };
	char ip[16];

	addr(ip, a);
	vbuf_printf(&b, "<host ip='%s'>", ip);
	for (size_t i = 0; i < n; i++) {
		if (entries[i].addr != a)
			continue;
		vbuf_printf(&b, "<hostname>");
		vbuf_xml(&b, entries[i].name);
		vbuf_printf(&b, "</hostname>");
	}
	vbuf_printf(&b, "</host>");
	return vbuf_take(&b, out);
}

int virt_fabric_xml_dns(const char *xml, struct names_entry **out, size_t *n)
{
	const char *dns = strstr(xml, "<dns>"), *end = dns ? strstr(dns, "</dns>") : NULL;
	struct names_entry *e = NULL;
	size_t cap = 0, count = 0;
	char v[64];

	*out = NULL;
	*n = 0;
	for (const char *h = dns; end && (h = strstr(h + 1, "<host ")) && h < end;) {
		const char *hend = strstr(h, "</host>");
		uint32_t a;

		attr(h, "ip", v, sizeof(v));
		if (!hend || parse_addr(v, &a) < 0)
			continue;
		for (const char *k = h; (k = strstr(k + 1, "<hostname>")) && k < hend;) {
			const char *z = strstr(k, "</hostname>");
			size_t len = z ? (size_t)(z - k) - 10 : 0;

			if (!len || len > NAMES_FQDN_MAX)
				continue;
			if (grow((void **)&e, sizeof(*e), count, &cap) < 0) {
				free(e);
				return -ENOMEM;
			}
			e[count].addr = a;
			memcpy(e[count].name, k + 10, len);
			e[count++].name[len] = '\0';
		}
	}
	*out = e;
	*n = count;
	return 0;
}
