/* service-vm-host-guests URI [BASE...]: asks libvirt, read-only, how many
 * guests are running and how much memory they hold, each running guest's
 * IPv4 address when libvirt knows it (its DHCP lease, else the host's ARP
 * table), and, given the base image name of each guest type
 * (lib/guest-types.c's order, "-" for none), which of them are in the
 * project's pool; prints one line for the agent:
 *   ok running=N memory_kib=M [bases=MASK] channels=K [pool_free=BYTES]
 *      [ip=GUEST:A.B.C.D]... [ga=GUEST:IFNAME:ADDRESS]...
 *      [vm=GUEST:TYPE:STATE:VCPUS:MEMORY_KIB:OWNER:INSTANCE_ID [vd=GUEST:VOLUMES:BYTES]]...
 *   or     error <reason>
 * (bit i of MASK: BASE i is there, as the volume virt/ imports it under;
 * a vm= for each domain, running or not, that carries the project's
 * metadata: what a fleet that lost its fleet.db adopts; a ga= for each
 * address a running guest's QEMU guest agent reports, when this process runs
 * as root: libvirt answers the agent's view on a read-write connection only;
 * K: the running guests whose guest agent channel is connected; BYTES of
 * pool_free: what the pool has available, as a move's import counts it; a
 * vd= after a guest's vm=: how many data volumes it has and their files'
 * sizes in all, what a move's export carries, when each was found).
 * It lives apart from the agent so that libvirt's size and a hung daemon
 * stay out of the process that sends heartbeats. */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/guest-types.h"
#include "service-vm-host/agent-query.h"
#include "service-vm-host/sampler.h"
#include "virt/virt.h"
#include "virt/virt-internal.h"

/* The agent gives up after a few seconds; never outlive it for long. */
#define PROBE_ALARM_S 30

static void quiet(void *data, virErrorPtr err)
{
}

/* Printable ASCII only, and short: the agent's parser accepts nothing else. */
static int __attribute__((format(printf, 1, 2))) fail(const char *fmt, ...)
{
	char reason[PROBE_REASON_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	for (char *p = reason; *p; p++) {
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	}
	if (!reason[0])
		strcpy(reason, "unknown");
	printf("error %s\n", reason);
	return 1;
}

static const char *last_error(void)
{
	virErrorPtr err = virGetLastError();

	return err && err->message ? err->message : "unknown libvirt error";
}

/* Bit i set when argv base i is a volume of the pool. No pool: none are. */
static uint32_t bases_present(virStoragePoolPtr pool, char **bases, int n)
{
	uint32_t mask = 0;

	for (int i = 0; pool && i < n && i < PROBE_BASES_MAX; i++) {
		char vol[VIRT_NAME_MAX + 16];
		virStorageVolPtr v;

		if (!strcmp(bases[i], "-"))
			continue;
		snprintf(vol, sizeof(vol), "base-%s.img", bases[i]);
		v = virStorageVolLookupByName(pool, vol);
		if (v) {
			mask |= 1u << i;
			virStorageVolFree(v);
		}
	}
	return mask;
}

/* " pool_free=N": the bytes libvirt counts available in the pool, counted
 * afresh first when the pool was looked up on a read-write connection (as
 * root), which alone may ask for it: otherwise as libvirt last counted them
 * (every creation, import and move into the pool recounts). Nothing when
 * there is no pool. */
static void print_pool(virStoragePoolPtr pool, bool rw)
{
	virStoragePoolInfo info;

	if (!pool)
		return;
	if (rw && virStoragePoolRefresh(pool, 0) < 0) /* refused while a volume is written: the last count */
		virt_pool_restart(pool); /* or stopped by libvirt, as a refresh that fails stops it */
	if (virStoragePoolGetInfo(pool, &info) == 0 && info.state == VIR_STORAGE_POOL_RUNNING)
		printf(" pool_free=%llu", info.available);
}

/* The file of guest's data volume for disk, under the name an export looks
 * it up by (the current scheme, else the legacy one); -ENOENT if neither. */
static int data_file_bytes(virStoragePoolPtr pool, const char *guest, const char *disk,
			   uint64_t *bytes)
{
	char role[8 + VIRT_DISK_NAME_MAX], vol[VIRT_VOL_NAME_MAX];
	virStorageVolPtr v = NULL;
	virStorageVolInfo info;
	int ok;

	snprintf(role, sizeof(role), "data-%s", disk);
	if (virt_volume_name(vol, sizeof(vol), guest, role) == 0)
		v = virStorageVolLookupByName(pool, vol);
	if (!v && virt_volume_name_legacy(vol, sizeof(vol), guest, role) == 0)
		v = virStorageVolLookupByName(pool, vol);
	if (!v)
		return -ENOENT;
	ok = virStorageVolGetInfoFlags(v, &info, VIR_STORAGE_VOL_GET_PHYSICAL) == 0;
	virStorageVolFree(v);
	*bytes = ok ? info.allocation : 0;
	return ok ? 0 : -EIO;
}

/* " vd=NAME:VOLUMES:BYTES" when each of m's data volumes is in the pool. */
static void print_data(virStoragePoolPtr pool, const char *name, const struct virt_meta *m)
{
	uint64_t total = 0, bytes = 0;
	int ret = pool ? 0 : -ENOENT;

	for (unsigned i = 0; !ret && i < m->ndata; i++) {
		ret = data_file_bytes(pool, name, m->data[i], &bytes);
		total = total + bytes < total ? UINT64_MAX : total + bytes;
	}
	if (!ret)
		printf(" vd=%s:%u:%" PRIu64, name, m->ndata, total);
}

/* The first IPv4 address of the domain's interfaces from source src. */
static bool first_ipv4(virDomainPtr dom, unsigned src, char out[PROBE_IPV4_MAX + 1])
{
	virDomainInterfacePtr *ifs = NULL;
	int n = virDomainInterfaceAddresses(dom, &ifs, src, 0);
	bool found = false;

	for (int i = 0; i < n; i++) {
		for (unsigned k = 0; !found && k < ifs[i]->naddrs; k++) {
			const virDomainIPAddress *a = &ifs[i]->addrs[k];

			if (a->type == VIR_IP_ADDR_TYPE_IPV4 && a->addr && strlen(a->addr) <= PROBE_IPV4_MAX) {
				strcpy(out, a->addr);
				found = true;
			}
		}
		virDomainInterfaceFree(ifs[i]);
	}
	free(ifs);
	return found;
}

/* " ip=NAME:A.B.C.D" for a running guest libvirt knows an address of; a
 * name that is not a guest name (not the project's) is left out. */
static void print_address(virDomainPtr dom, unsigned *count)
{
	const char *name = virDomainGetName(dom);
	char ip[PROBE_IPV4_MAX + 1];

	if (*count >= PROBE_ADDRS_MAX || !name || !guest_name_valid(name))
		return;
	if (first_ipv4(dom, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, ip) ||
	    first_ipv4(dom, VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP, ip)) {
		printf(" ip=%s:%s", name, ip);
		(*count)++;
	}
}

/* " ga=NAME:IFNAME:ADDRESS" for what the guests' agents report. Their view
 * needs a read-write connection, tried only as root: the packaged agent
 * (user osi) may not write to libvirt, and a refused attempt every probe
 * would fill libvirtd's log; it asks the root helper instead
 * ("agent-addresses", when channels= says an agent is there). */
static void print_agents(virConnectPtr rw, virDomainPtr *doms, int n)
{
	static struct agent_found found;
	static char line[PROBE_AGENT_MAX * PROBE_GA_MAX + 1];
	uint64_t start = agent_now_ms();

	for (int i = 0; rw && i < n; i++) {
		char uuid[VIR_UUID_STRING_BUFLEN];
		virDomainPtr d;

		if (virDomainGetUUIDString(doms[i], uuid) < 0 ||
		    !(d = virDomainLookupByUUIDString(rw, uuid)))
			continue;
		agent_query(&d, 1, start, &found);
		virDomainFree(d);
	}
	if (agent_tokens(&found, line, sizeof(line)) == 0)
		fputs(line, stdout);
}

/* The field as the agent's parser takes it: 0x21-0x7e but ':', "-" if empty. */
static void print_word(const char *text)
{
	char out[PROBE_FIELD_MAX + 1];
	size_t n = 0;

	for (; text[n] && n < PROBE_FIELD_MAX; n++)
		out[n] = text[n] > 0x20 && text[n] < 0x7f && text[n] != ':' ? text[n] : '?';
	out[n] = '\0';
	printf("%s", n ? out : "-");
}

/* " vm=..." for a domain of the project's (its metadata names its type). */
static void print_vm(virDomainPtr dom, virStoragePoolPtr pool, unsigned *count)
{
	const char *name = virDomainGetName(dom);
	struct virt_meta m;
	virDomainInfo info;
	char *xml;
	int ret;

	if (*count >= PROBE_VMS_MAX || !name || !guest_name_valid(name))
		return;
	xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, VIRT_NS_URI, 0);
	ret = xml ? virt_xml_meta_parse(xml, &m) : -ENOMSG;
	free(xml);
	if (ret < 0 || virDomainGetInfo(dom, &info) < 0)
		return;
	printf(" vm=%s:%s:%s:%u:%lu:", name, virt_type_name(m.type),
	       virDomainIsActive(dom) == 1 ? "running" : "stopped", info.nrVirtCpu,
	       info.maxMem);
	print_word(m.owner);
	putchar(':');
	print_word(m.instance_id);
	print_data(pool, name, &m);
	(*count)++;
}

static void print_vms(virConnectPtr conn, virStoragePoolPtr pool)
{
	virDomainPtr *all = NULL;
	unsigned count = 0;
	int n = virConnectListAllDomains(conn, &all, 0);

	for (int i = 0; i < n; i++) {
		print_vm(all[i], pool, &count);
		virDomainFree(all[i]);
	}
	free(all);
}

int main(int argc, char **argv)
{
	virDomainPtr *doms = NULL;
	virConnectPtr conn, rw = NULL;
	virStoragePoolPtr pool;
	uint64_t mem = 0;
	unsigned running = 0, naddrs = 0, channels = 0;
	int n, ret;

	if (argc < 2 || !argv[1][0])
		return fail("usage: service-vm-host-guests URI [BASE...]");
	alarm(PROBE_ALARM_S);
	virSetErrorFunc(NULL, quiet);
	if (virInitialize() < 0)
		return fail("libvirt initialisation failed");
	conn = virConnectOpenReadOnly(argv[1]);
	if (!conn)
		return fail("cannot connect to %s: %s", argv[1], last_error());
	n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	if (n < 0) {
		ret = fail("cannot list domains: %s", last_error());
		goto cleanup;
	}
	for (int i = 0; i < n; i++) {
		virDomainInfo info;

		/* A guest that stopped since the listing is simply not counted. */
		if (virDomainGetInfo(doms[i], &info) == 0) {
			running++;
			channels += agent_channel_connected(doms[i]);
			mem = mem + info.memory < mem ? UINT64_MAX : mem + info.memory;
		}
	}
	/* As root, a read-write connection too: the guests' agents answer only
	 * there, and the pool is counted afresh. The pool is looked up once,
	 * there if it is open. */
	rw = geteuid() == 0 ? virConnectOpen(argv[1]) : NULL;
	pool = virStoragePoolLookupByName(rw ? rw : conn, VIRT_DEFAULT_POOL);
	printf("ok running=%u memory_kib=%" PRIu64, running, mem);
	if (argc > 2)
		printf(" bases=%" PRIu32, bases_present(pool, argv + 2, argc - 2));
	printf(" channels=%u", channels);
	print_pool(pool, rw != NULL);
	for (int i = 0; i < n; i++)
		print_address(doms[i], &naddrs);
	print_agents(rw, doms, n);
	for (int i = 0; i < n; i++)
		virDomainFree(doms[i]);
	print_vms(conn, pool);
	putchar('\n');
	if (pool)
		virStoragePoolFree(pool);
	if (rw)
		virConnectClose(rw);
	ret = 0;
cleanup:
	free(doms);
	virConnectClose(conn);
	return fflush(stdout) == 0 ? ret : 1;
}
