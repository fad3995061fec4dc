/* The guest fabric network: its XML both ways, lease picking, and the
 * libvirt calls against the test driver (which keeps networks in memory). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libvirt/virterror.h>

#include "virt/virt.h"

static void fabric(struct virt_fabric *f, const char *zone)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->zone, sizeof(f->zone), "%s", zone);
	f->range.subnet = 0x0a4e0500;
	f->range.gateway = 0x0a4e0501;
	f->range.dhcp_first = 0x0a4e0502;
	f->range.dhcp_last = 0x0a4e05fe;
	f->prefix_len = 24;
}

static void network_xml(void **state)
{
	struct virt_lease l = { "52:54:00:00:00:01", "web1", 0x0a4e0503 }, *got;
	struct guest_net_range r;
	struct virt_fabric f;
	size_t n;
	char *xml;

	(void)state;
	fabric(&f, "osi.internal");
	assert_int_equal(virt_fabric_xml(&f, NULL, &l, 1, &xml), 0);
	assert_non_null(strstr(xml, "<name>osi-fabric</name>"));
	assert_non_null(strstr(xml, "<forward mode='route'/>"));
	assert_non_null(strstr(xml, "<bridge name='osibr0'"));
	assert_non_null(strstr(xml, "<domain name='osi.internal' localOnly='yes'/>"));
	assert_non_null(strstr(xml, "<ip address='10.78.5.1' prefix='24'>"));
	assert_non_null(strstr(xml, "<range start='10.78.5.2' end='10.78.5.254'/>"));
	assert_non_null(strstr(xml, "<host mac='52:54:00:00:00:01' name='web1' ip='10.78.5.3'/>"));
	assert_null(strstr(xml, "nat"));
	assert_true(virt_fabric_xml_matches(xml, &f));
	assert_int_equal(virt_fabric_xml_leases(xml, &r, &got, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r.dhcp_first, 0x0a4e0502);
	assert_int_equal(r.dhcp_last, 0x0a4e05fe);
	assert_string_equal(got[0].mac, l.mac);
	assert_string_equal(got[0].name, "web1");
	assert_int_equal(got[0].addr, l.addr);
	free(got);
	fabric(&f, "other.internal");
	assert_false(virt_fabric_xml_matches(xml, &f));
	fabric(&f, "osi.internal");
	f.range.dhcp_last--;
	assert_false(virt_fabric_xml_matches(xml, &f));
	free(xml);
}

static void picking(void **state)
{
	struct guest_net_range r = { 0x0a4e0500, 0x0a4e0501, 0x0a4e0502, 0x0a4e0504 };
	struct virt_lease used[3] = {
		{ "52:54:00:00:00:01", "a", 0x0a4e0502 },
		{ "52:54:00:00:00:02", "b", 0x0a4e0504 },
		{ "52:54:00:ab:cd:ef", "c", 0x0a4e0503 },
	};
	const uint8_t rnd[3] = { 0, 0, 1 }, rnd2[3] = { 0xab, 0xcd, 0xef };
	char mac[18];
	uint32_t a;

	(void)state;
	assert_int_equal(virt_lease_pick(&r, used, 2, &a), 0);
	assert_int_equal(a, 0x0a4e0503);                 /* the hole, lowest first */
	assert_int_equal(virt_lease_pick(&r, used, 0, &a), 0);
	assert_int_equal(a, 0x0a4e0502);
	assert_int_equal(virt_lease_pick(&r, used, 3, &a), -ENOSPC);
	virt_lease_mac(rnd, used, 3, mac);
	assert_string_equal(mac, "52:54:00:00:00:03");   /* 01 and 02 taken */
	virt_lease_mac(rnd2, used, 2, mac);
	assert_string_equal(mac, "52:54:00:ab:cd:ef");
	virt_lease_mac(rnd2, used, 3, mac);
	assert_string_equal(mac, "52:54:00:ab:cd:f0");

	/* a MAC brought by an import or a move: ours and free, or refused */
	assert_null(virt_lease_mac_refusal("52:54:00:ab:cd:f0", used, 3));
	assert_null(virt_lease_mac_refusal("52:54:00:ab:cd:ef", used, 2));
	assert_non_null(virt_lease_mac_refusal("52:54:00:ab:cd:ef", used, 3));  /* c holds it */
	assert_non_null(virt_lease_mac_refusal("52:54:00:AB:CD:F0", used, 3));
	assert_non_null(virt_lease_mac_refusal("01:54:00:ab:cd:f0", used, 3));  /* multicast */
	assert_non_null(virt_lease_mac_refusal("00:16:3e:ab:cd:f0", used, 3));  /* a vendor's */
	assert_non_null(virt_lease_mac_refusal("52:54:00:ab:cd:f", used, 3));
	assert_non_null(virt_lease_mac_refusal("52:54:00:ab:cd:f00", used, 3));
	assert_non_null(virt_lease_mac_refusal("52:54:00:ab-cd:f0", used, 3));
	assert_non_null(virt_lease_mac_refusal("52:54:00:ab:cd:g0", used, 3));
	assert_non_null(virt_lease_mac_refusal("", used, 0));
}

static void dns_xml(void **state)
{
	const struct names_entry e[3] = {
		{ 0x0a4e0502, "web1.osi.internal" },
		{ 0x0a4d0005, "node-a.osi.internal" },
		{ 0x0a4e0502, "www.osi.internal" },
	};
	struct names_entry *got;
	size_t n;
	char *xml, doc[512];

	(void)state;
	assert_int_equal(virt_dns_host_xml(0x0a4e0502, e, 3, &xml), 0);
	assert_string_equal(xml, "<host ip='10.78.5.2'><hostname>web1.osi.internal</hostname>"
			    "<hostname>www.osi.internal</hostname></host>");
	snprintf(doc, sizeof(doc), "<network><dns>\n  %s\n</dns><ip><dhcp><host mac='x' ip='1.2.3.4'/>"
		 "</dhcp></ip></network>", xml);
	free(xml);
	assert_int_equal(virt_fabric_xml_dns(doc, &got, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(got[0].addr, 0x0a4e0502);
	assert_string_equal(got[1].name, "www.osi.internal");
	free(got);
	assert_int_equal(virt_fabric_xml_dns("<network/>", &got, &n), 0);
	assert_int_equal(n, 0);
}

static void quiet(void *data, virErrorPtr err)
{
	(void)data;
	(void)err;
}

/* Whether the network's definition has this lease. */
static bool has_lease(struct virt_host *h, const struct virt_lease *l)
{
	virNetworkPtr net = virNetworkLookupByName(h->conn, VIRT_FABRIC_NETWORK);
	char *xml = net ? virNetworkGetXMLDesc(net, 0) : NULL, *host = NULL;
	bool found = xml && virt_lease_xml(l, &host) == 0 && strstr(xml, host);

	free(host);
	free(xml);
	if (net)
		virNetworkFree(net);
	return found;
}

/* An import or a move brings the guest's MAC: its new lease takes it when
 * it is ours and free here; else a fresh one. web3 holds a lease (*web3). */
static void kept_macs(struct virt_host *h, const struct virt_lease *web3)
{
	struct virt_lease a, b;
	bool fresh;

	assert_int_equal(virt_lease_get(h, "mv1", "52:54:00:12:34:56", &a, &fresh), 0);
	assert_true(fresh);
	assert_string_equal(a.mac, "52:54:00:12:34:56");
	assert_int_equal(a.addr, 0x0a4e0504);              /* this node's range, lowest free */
	assert_true(has_lease(h, &a));
	assert_int_equal(virt_lease_get(h, "mv1", "52:54:00:12:34:56", &b, &fresh), 0);
	assert_false(fresh);
	assert_string_equal(b.mac, a.mac);

	/* held by another guest's lease here: a fresh one */
	assert_int_equal(virt_lease_get(h, "mv2", web3->mac, &b, &fresh), 0);
	assert_true(fresh);
	assert_string_not_equal(b.mac, web3->mac);
	assert_memory_equal(b.mac, "52:54:00:", 9);
	assert_int_equal(virt_lease_release(h, "mv2"), 0);
	/* not one of ours (multicast, a vendor's): a fresh one */
	assert_int_equal(virt_lease_get(h, "mv2", "01:00:5e:00:00:01", &b, &fresh), 0);
	assert_memory_equal(b.mac, "52:54:00:", 9);
	assert_int_equal(virt_lease_release(h, "mv2"), 0);
	assert_int_equal(virt_lease_get(h, "mv2", "00:16:3e:00:00:01", &b, &fresh), 0);
	assert_memory_equal(b.mac, "52:54:00:", 9);

	/* the name's lease here with another MAC (no domain uses it): replaced
	 * by one with the guest's MAC at the same address */
	assert_int_equal(virt_lease_get(h, "mv2", "52:54:00:65:43:21", &a, &fresh), 0);
	assert_true(fresh);
	assert_string_equal(a.mac, "52:54:00:65:43:21");
	assert_int_equal(a.addr, b.addr);
	assert_true(has_lease(h, &a));
	assert_false(has_lease(h, &b));
	/* a create (no MAC wanted) keeps whatever lease the name has */
	assert_int_equal(virt_lease_get(h, "mv2", NULL, &b, &fresh), 0);
	assert_false(fresh);
	assert_string_equal(b.mac, a.mac);
	assert_int_equal(virt_lease_release(h, "mv1"), 0);
	assert_int_equal(virt_lease_release(h, "mv2"), 0);

	/* a domain of the name is defined here (test:///default's "test"):
	 * its lease is not replaced */
	assert_int_equal(virt_lease_get(h, "test", NULL, &a, &fresh), 0);
	assert_int_equal(virt_lease_get(h, "test", "52:54:00:65:43:22", &b, &fresh), -EEXIST);
	assert_true(has_lease(h, &a));
	assert_int_equal(virt_lease_release(h, "test"), 0);
}

/* test:///default: define, leases, names, redefinition. */
static void against_the_test_driver(void **state)
{
	struct virt_config cfg = { .uri = "test:///default", .pool_dir = "/tmp/osi-test-virt-net",
				   .console_dir = "" };
	struct virt_lease a, b, again;
	struct virt_host h;
	struct virt_fabric f;
	virNetworkPtr net;
	bool fresh;
	char *xml;
	const struct names_entry e[2] = {
		{ 0x0a4e0502, "web1.osi.internal" }, { 0x0a4d0005, "node-a.osi.internal" },
	};

	(void)state;
	virSetErrorFunc(NULL, quiet);
	assert_int_equal(virt_host_open(&h, &cfg), 0);
	assert_int_equal(virt_lease_get(&h, "web1", NULL, &a, &fresh), -ENOENT);
	fabric(&f, "osi.internal");
	assert_int_equal(virt_fabric_ensure(&h, &f), 0);
	assert_int_equal(virt_fabric_ensure(&h, &f), 0);  /* left as it is */
	net = virNetworkLookupByName(h.conn, VIRT_FABRIC_NETWORK);
	assert_non_null(net);
	assert_int_equal(virNetworkIsActive(net), 1);

	assert_int_equal(virt_lease_get(&h, "web1", NULL, &a, &fresh), 0);
	assert_true(fresh);
	assert_int_equal(a.addr, 0x0a4e0502);
	assert_int_equal(virt_lease_get(&h, "web2", NULL, &b, &fresh), 0);
	assert_int_equal(b.addr, 0x0a4e0503);
	assert_string_not_equal(a.mac, b.mac);
	assert_int_equal(virt_lease_get(&h, "web1", NULL, &again, &fresh), 0);
	assert_false(fresh);
	assert_int_equal(again.addr, a.addr);
	assert_string_equal(again.mac, a.mac);
	assert_int_equal(virt_lease_release(&h, "web1"), 0);
	assert_int_equal(virt_lease_release(&h, "web1"), 0);
	assert_int_equal(virt_lease_get(&h, "web3", NULL, &again, &fresh), 0);
	assert_int_equal(again.addr, 0x0a4e0502);        /* the lowest free again */

	kept_macs(&h, &again);

	assert_int_equal(virt_fabric_names(&h, e, 2), 0);
	assert_int_equal(virt_fabric_names(&h, e, 2), 0);
	assert_int_equal(virt_fabric_names(&h, e, 1), 0);
	xml = virNetworkGetXMLDesc(net, 0);
	assert_non_null(strstr(xml, "web1.osi.internal"));
	assert_null(strstr(xml, "node-a"));
	free(xml);

	/* another zone: redefined, the leases kept */
	fabric(&f, "other.internal");
	assert_int_equal(virt_fabric_ensure(&h, &f), 0);
	virNetworkFree(net);
	net = virNetworkLookupByName(h.conn, VIRT_FABRIC_NETWORK);
	xml = virNetworkGetXMLDesc(net, 0);
	/* (the test driver shows the old definition until its next start) */
	assert_non_null(strstr(xml, b.mac));
	free(xml);
	assert_int_equal(virNetworkIsActive(net), 1);
	virNetworkFree(net);
	virt_host_close(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(network_xml),
		cmocka_unit_test(picking),
		cmocka_unit_test(dns_xml),
		cmocka_unit_test(against_the_test_driver),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
