/* Domain, volume and pool XML per guest type; the metadata round trip; the
 * spec digest; the manifests in images/ and the strict manifest parser. The
 * domain XML of every type is also parsed back by libvirt's test driver. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "virt/virt-internal.h"
#include "lib/names.h"

static char images_dir[PATH_MAX];

static void quiet(void *data, virErrorPtr err)
{
}

static int setup(void **state)
{
	const char *src = getenv("OSI_SOURCE");

	snprintf(images_dir, sizeof(images_dir), "%s/images", src ? src : ".");
	virSetErrorFunc(NULL, quiet);
	return 0;
}

static void load(enum virt_guest_type t, struct virt_manifest *m, struct virt_spec *s, char **ud)
{
	char err[512] = "";
	int ret = virt_manifest_load(images_dir, t, m, ud, err, sizeof(err));

	if (ret < 0)
		fail_msg("%s: %s", virt_type_name(t), err);
	virt_spec_from_manifest(s, m, "guest-1", "operator");
	s->user_data = *ud;
}

static char *domain_xml(const struct virt_spec *s, bool kvm, const char *log)
{
	struct virt_meta m = { .type = s->type };
	char uuid[] = "6695eb01-f6a4-4304-89aa-97f2502e111?";
	struct virt_domain_desc d = { .spec = s, .meta = &m, .pool = "osi", .uuid = uuid,
				      .console_log = log, .kvm = kvm };
	char *xml = NULL;

	uuid[35] = (char)('0' + s->type);
	strcpy(m.owner, s->owner);
	strcpy(m.instance_id, "i-0123456789abcdef");
	strcpy(m.base, s->base);
	virt_spec_digest(s, m.spec);
	for (unsigned i = 0; i < s->ndata; i++)
		strcpy(m.data[i], s->data[i].name);
	m.ndata = s->ndata;
	assert_int_equal(virt_xml_domain(&d, &xml), 0);
	return xml;
}

#define assert_has(hay, needle) do { \
	if (!strstr((hay), (needle))) \
		fail_msg("missing %s in:\n%s", (needle), (hay)); \
} while (0)

static void test_manifests_in_images(void **state)
{
	for (unsigned t = 0; t < VIRT_TYPE_COUNT; t++) {
		struct virt_manifest m;
		struct virt_spec s;
		char err[256], *ud = NULL;

		load((enum virt_guest_type)t, &m, &s, &ud);
		assert_int_equal(m.type, t);
		assert_true(m.vcpus >= 1);
		assert_string_equal(m.base, "ubuntu-24.04");
		assert_true(!strncmp(ud, "#cloud-config\n", 14));
		assert_int_equal(virt_spec_check(&s, err, sizeof(err)), 0);
		free(ud);
	}
}

static void test_totebox_manifest(void **state)
{
	struct virt_manifest m;
	struct virt_spec s;
	char *ud;

	load(VIRT_TOTEBOX, &m, &s, &ud);
	assert_int_equal(m.placement, VIRT_PLACE_OPERATOR_NODE);
	assert_int_equal(m.ndata, 1);
	assert_string_equal(m.data[0].name, "archive");
	assert_string_equal(m.data[0].mount, "/srv/archive");
	assert_has(ud, "chattr +a");
	free(ud);
	load(VIRT_MEDIAKIT, &m, &s, &ud);
	assert_int_equal(m.placement, VIRT_PLACE_ADVISORY);
	assert_int_equal(m.ndata, 0);
	assert_has(ud, "nginx");
	free(ud);
}

static void test_domain_tcg(void **state)
{
	struct virt_manifest m;
	struct virt_spec s;
	char *ud, *xml;

	load(VIRT_TOTEBOX, &m, &s, &ud);
	xml = domain_xml(&s, false, "/var/log/osi/guest-1.log");
	assert_true(!strncmp(xml, "<domain type='qemu'>", 20));
	assert_has(xml, "<cpu mode='maximum' check='none'/>");
	assert_has(xml, "<name>guest-1</name>");
	assert_has(xml, "<source pool='osi' volume='guest-1.root.qcow2'/>");
	assert_has(xml, "<target dev='vda' bus='virtio'/>");
	assert_has(xml, "<source pool='osi' volume='guest-1.data.archive.qcow2'/>");
	assert_has(xml, "<target dev='vdb' bus='virtio'/>");
	assert_has(xml, "<serial>osi-archive</serial>");
	assert_has(xml, "<disk type='volume' device='cdrom'>");
	assert_has(xml, "<source pool='osi' volume='guest-1.seed.iso'/>");
	assert_has(xml, "<controller type='scsi' index='0' model='virtio-scsi'/>");
	assert_has(xml, "<interface type='network'>\n      <source network='default'/>\n      <model type='virtio'/>");
	assert_has(xml, "<serial type='pty'>\n      <log file='/var/log/osi/guest-1.log' append='off'/>");
	assert_has(xml, "<target type='virtio' name='org.qemu.guest_agent.0'/>");
	assert_has(xml, "<rng model='virtio'>");
	assert_has(xml, "<osi:guest xmlns:osi=\"" VIRT_NS_URI "\">");
	assert_has(xml, "<osi:type>totebox</osi:type>");
	assert_has(xml, "<osi:data>archive</osi:data>");
	assert_has(xml, "<memory unit='KiB'>4194304</memory>");
	assert_has(xml, "<vcpu>2</vcpu>");
	free(xml);
	free(ud);
}

static void test_domain_kvm_and_networks(void **state)
{
	struct virt_manifest m;
	struct virt_spec s;
	char *ud, *xml;

	load(VIRT_MEDIAKIT, &m, &s, &ud);
	xml = domain_xml(&s, true, "");
	assert_true(!strncmp(xml, "<domain type='kvm'>", 19));
	assert_has(xml, "<cpu mode='host-passthrough'");
	assert_null(strstr(xml, "<log file"));
	assert_null(strstr(xml, "vdb"));
	free(xml);

	s.net = VIRT_NET_NONE;
	xml = domain_xml(&s, false, "");
	assert_null(strstr(xml, "<interface"));
	free(xml);
	s.net = VIRT_NET_USER;
	xml = domain_xml(&s, false, "");
	assert_has(xml, "<interface type='user'>");
	free(xml);
	s.net = VIRT_NET_BRIDGE;
	strcpy(s.net_source, "br0");
	xml = domain_xml(&s, false, "");
	assert_has(xml, "<interface type='bridge'>\n      <source bridge='br0'/>");
	free(xml);
	/* the fabric: its network, and the fixed MAC of the guest's lease */
	s.net = VIRT_NET_FABRIC;
	strcpy(s.mac, "52:54:00:0a:0b:0c");
	strcpy(s.address, "10.78.5.2");
	xml = domain_xml(&s, false, "");
	assert_has(xml, "<interface type='network'>\n      <mac address='52:54:00:0a:0b:0c'/>\n"
		   "      <source network='osi-fabric'/>\n");
	/* clean-traffic pinned to the lease: no spoofed source IP, MAC or ARP */
	assert_has(xml, "      <source network='osi-fabric'/>\n"
		   "      <filterref filter='clean-traffic'>\n"
		   "        <parameter name='IP' value='10.78.5.2'/>\n"
		   "        <parameter name='MAC' value='52:54:00:0a:0b:0c'/>\n"
		   "      </filterref>\n      <model type='virtio'/>");
	free(xml);
	free(ud);
}

/* A fabric guest's address is recorded in its metadata and read back;
 * a spec on the fabric without a lease is refused. */
static void test_fabric_address(void **state)
{
	struct virt_meta m = { .type = VIRT_TOTEBOX }, back;
	struct virt_manifest man;
	struct virt_spec s;
	char *xml, *ud, err[128];

	strcpy(m.owner, "o");
	strcpy(m.instance_id, "i-1");
	strcpy(m.base, "b");
	strcpy(m.spec, "s");
	assert_int_equal(virt_xml_meta(&m, &xml), 0);
	assert_null(strstr(xml, "address"));
	assert_int_equal(virt_xml_meta_parse(xml, &back), 0);
	assert_string_equal(back.address, "");
	free(xml);
	strcpy(m.address, "10.78.5.2");
	assert_int_equal(virt_xml_meta(&m, &xml), 0);
	assert_has(xml, "<osi:address>10.78.5.2</osi:address>");
	assert_int_equal(virt_xml_meta_parse(xml, &back), 0);
	assert_string_equal(back.address, "10.78.5.2");
	free(xml);

	load(VIRT_TOTEBOX, &man, &s, &ud);
	s.net = VIRT_NET_FABRIC;
	assert_int_equal(virt_spec_check(&s, err, sizeof(err)), -EINVAL);
	strcpy(s.mac, "52:54:00:0a:0b:0c");
	assert_int_equal(virt_spec_check(&s, err, sizeof(err)), -EINVAL);
	strcpy(s.address, "10.78.5.2");
	assert_int_equal(virt_spec_check(&s, err, sizeof(err)), 0);
	strcpy(s.mac, "52:54:00:0a:0b:0C");
	assert_int_equal(virt_spec_check(&s, err, sizeof(err)), -EINVAL);
	strcpy(s.mac, "52:54:00:0a:0b:0c'");
	assert_int_equal(virt_spec_check(&s, err, sizeof(err)), -EINVAL);
	free(ud);
}

/* Every type's XML is accepted by libvirt's parser, and the metadata that
 * comes back through virDomainGetMetadata reads as what went in. */
static void test_domain_parses_in_libvirt(void **state)
{
	char node[PATH_MAX], uri[PATH_MAX + 16];
	const char *fixtures = getenv("OSI_FIXTURES");
	virConnectPtr conn;

	snprintf(node, sizeof(node), "%s/virt-node.xml", fixtures ? fixtures : "tests/fixtures");
	snprintf(uri, sizeof(uri), "test://%s", node);
	conn = virConnectOpen(uri);
	assert_non_null(conn);
	for (unsigned t = 0; t < VIRT_TYPE_COUNT; t++) {
		struct virt_manifest m;
		struct virt_spec s;
		struct virt_meta back;
		char *ud, *xml, *meta;
		virDomainPtr dom;

		load((enum virt_guest_type)t, &m, &s, &ud);
		snprintf(s.name, sizeof(s.name), "g-%s", virt_type_name(s.type));
		strcpy(s.owner, "o'<&>\"wner");
		xml = domain_xml(&s, false, "/tmp/c.log");
		dom = virDomainDefineXML(conn, xml);
		if (!dom)
			fail_msg("%s: %s", virt_type_name(s.type), virGetLastErrorMessage());
		meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, VIRT_NS_URI, 0);
		assert_non_null(meta);
		assert_int_equal(virt_xml_meta_parse(meta, &back), 0);
		assert_int_equal(back.type, s.type);
		assert_string_equal(back.owner, "o'<&>\"wner");
		assert_string_equal(back.instance_id, "i-0123456789abcdef");
		assert_int_equal(back.ndata, s.ndata);
		free(meta);
		free(xml);
		xml = virDomainGetXMLDesc(dom, 0);
		assert_has(xml, "<domain type='qemu'");
		assert_has(xml, "<cpu mode='maximum'");
		free(xml);
		virDomainFree(dom);
		free(ud);
	}
	virConnectClose(conn);
}

static void test_meta_round_trip_and_foreign(void **state)
{
	struct virt_meta m = { .type = VIRT_PRIVATEGIT, .ndata = 2 }, back;
	char *xml;

	strcpy(m.owner, "a&b");
	strcpy(m.instance_id, "i-1");
	strcpy(m.base, "ubuntu-24.04");
	memset(m.spec, 'a', 64);
	strcpy(m.data[0], "repos");
	strcpy(m.data[1], "lfs");
	assert_int_equal(virt_xml_meta(&m, &xml), 0);
	assert_int_equal(virt_xml_meta_parse(xml, &back), 0);
	assert_int_equal(back.type, VIRT_PRIVATEGIT);
	assert_string_equal(back.owner, "a&b");
	assert_int_equal(back.ndata, 2);
	assert_string_equal(back.data[1], "lfs");
	/* Made before volume names were recorded: none read back. */
	assert_string_equal(back.root, "");
	assert_string_equal(back.seed, "");
	assert_string_equal(back.datavol[0], "");
	free(xml);

	strcpy(m.root, "git-1.root.qcow2");
	strcpy(m.seed, "git-1.seed.iso");
	strcpy(m.datavol[0], "git-1.data.repos.qcow2");
	strcpy(m.datavol[1], "git-1-data-lfs.qcow2");
	assert_int_equal(virt_xml_meta(&m, &xml), 0);
	assert_has(xml, "<osi:root-volume>git-1.root.qcow2</osi:root-volume>");
	assert_int_equal(virt_xml_meta_parse(xml, &back), 0);
	assert_int_equal(back.ndata, 2);
	assert_string_equal(back.data[0], "repos");
	assert_string_equal(back.root, "git-1.root.qcow2");
	assert_string_equal(back.seed, "git-1.seed.iso");
	assert_string_equal(back.datavol[0], "git-1.data.repos.qcow2");
	assert_string_equal(back.datavol[1], "git-1-data-lfs.qcow2");
	free(xml);

	assert_int_equal(virt_xml_meta_parse("<other/>", &back), -ENOMSG);
	assert_int_equal(virt_xml_meta_parse("<guest><type>router</type></guest>", &back), -ENOMSG);
	assert_int_equal(virt_xml_meta_parse("<guest><type>totebox</type></guest>", &back), -ENOMSG);
	assert_int_equal(virt_xml_meta_parse("<osi:guest xmlns:osi=\"urn:other\"><osi:type>totebox</osi:type>"
					     "</osi:guest>", &back), -ENOMSG);
	assert_int_equal(virt_xml_meta_parse("<guest><type>totebox</type><owner>&bogus;</owner>"
					     "<instance-id>i</instance-id><base>b</base><spec>s</spec></guest>",
					     &back), -ENOMSG);
}

static void test_volume_and_pool_xml(void **state)
{
	char *xml;

	assert_int_equal(virt_xml_volume("g.qcow2", 21474836480ULL, "qcow2", "/p/base-u.img", "raw", &xml), 0);
	assert_has(xml, "<name>g.qcow2</name>");
	assert_has(xml, "<capacity unit='bytes'>21474836480</capacity>");
	assert_has(xml, "<format type='qcow2'/>");
	assert_has(xml, "<compat>1.1</compat>");
	assert_has(xml, "<backingStore>\n    <path>/p/base-u.img</path>\n    <format type='raw'/>");
	free(xml);
	assert_int_equal(virt_xml_volume("s.iso", 2048, "raw", NULL, NULL, &xml), 0);
	assert_null(strstr(xml, "backingStore"));
	assert_null(strstr(xml, "<compat>"));
	free(xml);
	assert_int_equal(virt_xml_pool("osi", "/var/lib/o&i", &xml), 0);
	assert_has(xml, "<pool type='dir'>");
	assert_has(xml, "<path>/var/lib/o&amp;i</path>");
	free(xml);
}

static void test_volume_names(void **state)
{
	char buf[80];

	assert_int_equal(virt_volume_name(buf, sizeof(buf), "g", "disk"), 0);
	assert_string_equal(buf, "g.root.qcow2");
	assert_int_equal(virt_volume_name(buf, sizeof(buf), "g", "seed"), 0);
	assert_string_equal(buf, "g.seed.iso");
	assert_int_equal(virt_volume_name(buf, sizeof(buf), "g", "data-archive"), 0);
	assert_string_equal(buf, "g.data.archive.qcow2");
	assert_int_equal(virt_volume_name(buf, sizeof(buf), "g", "data-"), -EINVAL);
	assert_int_equal(virt_volume_name(buf, 4, "guest", "disk"), -ENAMETOOLONG);
	/* Names that would break the scheme's injectivity are refused. */
	assert_int_equal(virt_volume_name(buf, sizeof(buf), "g.x", "disk"), -EINVAL);
	assert_int_equal(virt_volume_name(buf, sizeof(buf), "g", "data-a.b"), -EINVAL);
	assert_int_equal(virt_volume_name(buf, sizeof(buf), "g", "data-a-b"), -EINVAL);
	assert_int_equal(virt_volume_name(buf, sizeof(buf), "", "disk"), -EINVAL);
	/* The old names, still read for guests made under them. */
	assert_int_equal(virt_volume_name_legacy(buf, sizeof(buf), "g", "disk"), 0);
	assert_string_equal(buf, "g.qcow2");
	assert_int_equal(virt_volume_name_legacy(buf, sizeof(buf), "g", "seed"), 0);
	assert_string_equal(buf, "g-seed.iso");
	assert_int_equal(virt_volume_name_legacy(buf, sizeof(buf), "g", "data-archive"), 0);
	assert_string_equal(buf, "g-data-archive.qcow2");
}

/* The property behind destroy's safety: no two (guest, volume) pairs share a
 * volume name, whatever legal names the operator picks. Adversarial names
 * (one guest's name spelled like another's volume) and random ones built
 * from the words volume names use. */
#define NGUESTS 600
#define NDISKS 8
#define VOLS_PER (2 + NDISKS)

struct owned {
	char vol[160];
	unsigned guest, role;
};

static int by_vol(const void *a, const void *b)
{
	return strcmp(((const struct owned *)a)->vol, ((const struct owned *)b)->vol);
}

static void random_name(char *out, size_t len, unsigned *seed)
{
	static const char *const words[] = { "x", "y", "a", "b", "vault1", "web", "data", "seed",
					     "root", "archive", "qcow2", "iso", "1", "-", "--" };
	size_t n = 0;

	out[0] = '\0';
	for (unsigned k = 1 + rand_r(seed) % 6; k-- && n + 8 < len;)
		n += (size_t)snprintf(out + n, len - n, "%s", words[rand_r(seed) % 15]);
}

static unsigned legal_guests(char names[][VIRT_NAME_MAX], unsigned max)
{
	static const char *const fixed[] = {
		"x", "x-data", "x-data-y", "x-data-archive", "data", "data-x", "seed", "x-seed", "root",
		"x-root", "vault1", "vault1-data-archive", "web", "web-data-archive", "a-b", "a", "b",
		"a-data-b-data-c", "a-data-b", "qcow2", "x-qcow2", "iso", "x-seed-iso", "data-data",
		"archive", "vault1-data", "web-seed", "x-data-x-data-x",
		"abcdefghijklmnopqrstuvwxyz0123456789-abcdefghijklmnopqrstuvwxyz",
	};
	unsigned n = 0, seed = 20240607;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		strcpy(names[n++], fixed[i]);
	while (n < max) {
		char c[VIRT_NAME_MAX * 2];
		bool dup = false;

		random_name(c, sizeof(c), &seed);
		if (!name_label_valid(c, VIRT_NAME_MAX - 1))
			continue;
		for (unsigned k = 0; k < n && !dup; k++)
			dup = !strcmp(names[k], c);
		if (!dup)
			strcpy(names[n++], c);
	}
	return n;
}

static void test_volume_names_never_collide(void **state)
{
	static const char *const disks[NDISKS] = { "archive", "repos", "data", "seed", "root", "y",
						   "x0", "abcdefghijklmno" };
	static char guests[NGUESTS][VIRT_NAME_MAX];
	struct owned *all = calloc(NGUESTS * VOLS_PER, sizeof(*all));
	unsigned ng = legal_guests(guests, NGUESTS), n = 0;

	assert_non_null(all);
	for (unsigned g = 0; g < ng; g++) {
		for (unsigned r = 0; r < VOLS_PER; r++) {
			char role[8 + VIRT_DISK_NAME_MAX];

			snprintf(role, sizeof(role), "%s%s", r == 0 ? "disk" : r == 1 ? "seed" : "data-",
				 r >= 2 ? disks[r - 2] : "");
			assert_int_equal(virt_volume_name(all[n].vol, sizeof(all[n].vol), guests[g], role), 0);
			all[n].guest = g;
			all[n++].role = r;
		}
	}
	qsort(all, n, sizeof(*all), by_vol);
	for (unsigned i = 1; i < n; i++) {
		if (!strcmp(all[i - 1].vol, all[i].vol))
			fail_msg("%s is volume %u of guest %s and volume %u of guest %s", all[i].vol,
				 all[i - 1].role, guests[all[i - 1].guest], all[i].role, guests[all[i].guest]);
	}
	free(all);
}

static void test_spec_digest(void **state)
{
	struct virt_manifest m;
	struct virt_spec a, b;
	char da[65], db[65], *ud;

	load(VIRT_TOTEBOX, &m, &a, &ud);
	b = a;
	virt_spec_digest(&a, da);
	strcpy(b.instance_id, "i-other");
	b.start = !a.start;
	virt_spec_digest(&b, db);
	assert_string_equal(da, db);
	b.memory_bytes += 1024 * 1024;
	virt_spec_digest(&b, db);
	assert_string_not_equal(da, db);
	b = a;
	b.data[0].bytes *= 2;
	virt_spec_digest(&b, db);
	assert_string_not_equal(da, db);
	b = a;
	b.user_data = "#cloud-config\n";
	virt_spec_digest(&b, db);
	assert_string_not_equal(da, db);
	b = a;
	strcpy(b.owner, "someone-else");
	virt_spec_digest(&b, db);
	assert_string_not_equal(da, db);
	free(ud);
}

static void test_spec_check(void **state)
{
	struct virt_manifest m;
	struct virt_spec s, t;
	char err[256], *ud;

	load(VIRT_MEDIAKIT, &m, &s, &ud);
	t = s;
	strcpy(t.name, "Upper");
	assert_int_equal(virt_spec_check(&t, err, sizeof(err)), -EINVAL);
	t = s;
	strcpy(t.name, "-dash");
	assert_int_equal(virt_spec_check(&t, err, sizeof(err)), -EINVAL);
	t = s;
	strcpy(t.name, "a/b");
	assert_int_equal(virt_spec_check(&t, err, sizeof(err)), -EINVAL);
	t = s;
	strcpy(t.owner, "new\nline");
	assert_int_equal(virt_spec_check(&t, err, sizeof(err)), -EINVAL);
	t = s;
	t.memory_bytes = 1024;
	assert_int_equal(virt_spec_check(&t, err, sizeof(err)), -ERANGE);
	t = s;
	t.vcpus = 0;
	assert_int_equal(virt_spec_check(&t, err, sizeof(err)), -ERANGE);
	t = s;
	t.ndata = 2;
	strcpy(t.data[0].name, "x");
	t.data[0].bytes = 1 << 30;
	t.data[1] = t.data[0];
	assert_int_equal(virt_spec_check(&t, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "twice"));
	t = s;
	strcpy(t.instance_id, "has space");
	assert_int_equal(virt_spec_check(&t, err, sizeof(err)), -EINVAL);
	free(ud);
}

#define MANIFEST(extra) "{\"type\":\"mediakit\",\"summary\":\"s\",\"vcpus\":1,\"memory\":\"512M\"," \
	"\"disk\":\"2G\",\"base_image\":\"u\",\"placement\":\"advisory\",\"user_data\":\"m/u\"" extra "}"

static int parse(const char *text, char *err, size_t errlen)
{
	struct virt_manifest m;

	return virt_manifest_parse(text, strlen(text), &m, err, errlen);
}

static void test_manifest_parser_strict(void **state)
{
	char err[256];

	assert_int_equal(parse(MANIFEST(""), err, sizeof(err)), 0);
	assert_int_equal(parse(MANIFEST(",\"extra\":1"), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "extra"));
	assert_int_equal(parse(MANIFEST(",\"vcpus\":2"), err, sizeof(err)), -EINVAL);
	assert_int_equal(parse(MANIFEST(",\"data_disks\":[{\"name\":\"d\",\"size\":\"1G\",\"mount\":\"/d\",\"x\":1}]"),
			       err, sizeof(err)), -EINVAL);
	assert_int_equal(parse(MANIFEST(",\"data_disks\":[{\"name\":\"d\",\"size\":\"1G\",\"mount\":\"rel\"}]"),
			       err, sizeof(err)), -EINVAL);
	assert_int_equal(parse(MANIFEST(",\"data_disks\":[{\"name\":\"D\",\"size\":\"1G\",\"mount\":\"/d\"}]"),
			       err, sizeof(err)), -EINVAL);
	assert_int_equal(parse(MANIFEST(",\"data_disks\":[{\"name\":\"d\",\"size\":\"lots\",\"mount\":\"/d\"}]"),
			       err, sizeof(err)), -EINVAL);
	assert_int_equal(parse(MANIFEST(",\"data_disks\":[{\"name\":\"d\",\"size\":\"1G\",\"mount\":\"/d\"},"
					"{\"name\":\"d\",\"size\":\"1G\",\"mount\":\"/e\"}]"), err, sizeof(err)), -EINVAL);
	assert_int_equal(parse("[1]", err, sizeof(err)), -EINVAL);
	assert_int_equal(parse("{", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "line 1"));
	assert_int_equal(parse("{\"type\":\"totebox\",\"summary\":\"s\",\"vcpus\":1,\"memory\":\"512M\","
			       "\"disk\":\"2G\",\"base_image\":\"u\",\"placement\":\"advisory\",\"user_data\":\"t/u\"}",
			       err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "operator-named node"));
	assert_int_equal(parse("{\"type\":\"mediakit\",\"summary\":\"s\",\"vcpus\":1,\"memory\":\"512M\","
			       "\"disk\":\"2G\",\"base_image\":\"u\",\"placement\":\"advisory\",\"user_data\":\"../x\"}",
			       err, sizeof(err)), -EINVAL);
	assert_int_equal(parse("{\"type\":\"mediakit\",\"summary\":\"s\",\"vcpus\":1,\"memory\":\"1M\","
			       "\"disk\":\"2G\",\"base_image\":\"u\",\"placement\":\"advisory\",\"user_data\":\"m/u\"}",
			       err, sizeof(err)), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_manifests_in_images),
		cmocka_unit_test(test_totebox_manifest),
		cmocka_unit_test(test_domain_tcg),
		cmocka_unit_test(test_domain_kvm_and_networks),
		cmocka_unit_test(test_domain_parses_in_libvirt),
		cmocka_unit_test(test_meta_round_trip_and_foreign),
		cmocka_unit_test(test_volume_and_pool_xml),
		cmocka_unit_test(test_volume_names),
		cmocka_unit_test(test_volume_names_never_collide),
		cmocka_unit_test(test_spec_digest),
		cmocka_unit_test(test_spec_check),
		cmocka_unit_test(test_manifest_parser_strict),
		cmocka_unit_test(test_fabric_address),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
