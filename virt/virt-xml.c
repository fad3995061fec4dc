/* Domain, pool and volume XML, and the <metadata> element we own. Pure:
 * structs in, text out; nothing here talks to libvirt. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virt/virt-internal.h"
#include "lib/names.h"

void vbuf_printf(struct vbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = -EINVAL;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = (b->cap ? b->cap : 256) * 2;
		while (ncap < b->len + (size_t)n + 1)
			ncap *= 2;
		char *np = realloc(b->p, ncap);
		if (!np) {
			b->err = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

void vbuf_xml(struct vbuf *b, const char *text)
{
	for (const char *s = text; *s; s++) {
		switch (*s) {
		case '&': vbuf_printf(b, "&amp;"); break;
		case '<': vbuf_printf(b, "&lt;"); break;
		case '>': vbuf_printf(b, "&gt;"); break;
		case '\'': vbuf_printf(b, "&apos;"); break;
		case '"': vbuf_printf(b, "&quot;"); break;
		default: vbuf_printf(b, "%c", *s);
		}
	}
}

int vbuf_take(struct vbuf *b, char **out)
{
	int ret = b->err;

	if (!ret && !b->p)
		vbuf_printf(b, "%s", "");
	ret = b->err;
	if (ret) {
		vbuf_free(b);
		return ret;
	}
	*out = b->p;
	b->p = NULL;
	b->len = b->cap = 0;
	return 0;
}

void vbuf_free(struct vbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* Volume names: "G.root.qcow2", "G.seed.iso", "G.data.D.qcow2". A guest
 * name is [a-z0-9-] and a data disk name [a-z0-9], neither with a '.', so
 * the text before the first '.' is the guest, the next field the role and,
 * for data, the one after it the disk: a name reads back as exactly one
 * (guest, role, disk), and no two legal pairs share a volume. Names that
 * fail those rules are refused, which is what keeps this true. The names
 * before this scheme ("G.qcow2", "G-seed.iso", "G-data-D.qcow2") joined
 * with '-', which a guest name may hold: guest "x-data-y" owned guest x's
 * data volume y. They carry one '.', these at least two, so a new name
 * never meets an old one. */
static bool disk_name_ok(const char *d)
{
	size_t n = strspn(d, "abcdefghijklmnopqrstuvwxyz0123456789");

	return n > 0 && n < VIRT_DISK_NAME_MAX && !d[n];
}

static int volume_name(char *buf, size_t len, const char *guest, const char *role, bool legacy)
{
	int n;

	if (!name_label_valid(guest, VIRT_NAME_MAX - 1))
		return -EINVAL;
	if (!strcmp(role, "disk"))
		n = snprintf(buf, len, legacy ? "%s.qcow2" : "%s.root.qcow2", guest);
	else if (!strcmp(role, "seed"))
		n = snprintf(buf, len, legacy ? "%s-seed.iso" : "%s.seed.iso", guest);
	else if (!strncmp(role, "data-", 5) && disk_name_ok(role + 5))
		n = snprintf(buf, len, legacy ? "%s-data-%s.qcow2" : "%s.data.%s.qcow2", guest, role + 5);
	else
		return -EINVAL;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int virt_volume_name(char *buf, size_t len, const char *guest, const char *role)
{
	return volume_name(buf, len, guest, role, false);
}

int virt_volume_name_legacy(char *buf, size_t len, const char *guest, const char *role)
{
	return volume_name(buf, len, guest, role, true);
}

static void element(struct vbuf *b, const char *name, const char *text)
{
	vbuf_printf(b, "  <" VIRT_NS_PREFIX ":%s>", name);
	vbuf_xml(b, text);
	vbuf_printf(b, "</" VIRT_NS_PREFIX ":%s>\n", name);
}

static void meta_body(struct vbuf *b, const struct virt_meta *m)
{
	vbuf_printf(b, "<" VIRT_NS_PREFIX ":guest xmlns:" VIRT_NS_PREFIX "=\"" VIRT_NS_URI "\">\n");
	element(b, "type", virt_type_name(m->type));
	element(b, "owner", m->owner);
	element(b, "instance-id", m->instance_id);
	element(b, "base", m->base);
	element(b, "spec", m->spec);
	for (unsigned i = 0; i < m->ndata; i++)
		element(b, "data", m->data[i]);
	if (m->root[0])
		element(b, "root-volume", m->root);
	if (m->seed[0])
		element(b, "seed-volume", m->seed);
	for (unsigned i = 0; i < m->ndata && m->datavol[i][0]; i++)
		element(b, "data-volume", m->datavol[i]);
	if (m->address[0])
		element(b, "address", m->address);
	vbuf_printf(b, "</" VIRT_NS_PREFIX ":guest>\n");
}

int virt_xml_meta(const struct virt_meta *m, char **out)
{
	struct vbuf b = { 0 };

	meta_body(&b, m);
	return vbuf_take(&b, out);
}

/* The same element in a volume's <target> and a disk's <source>: QEMU opens
 * the LUKS layer with the secret libvirt hands it. */
static void encryption(struct vbuf *b, const char *indent, const char *uuid)
{
	vbuf_printf(b, "%s<encryption format='luks'>\n%s  <secret type='passphrase' uuid='", indent, indent);
	vbuf_xml(b, uuid);
	vbuf_printf(b, "'/>\n%s</encryption>\n", indent);
}

static void disk_volume(struct vbuf *b, const char *pool, const char *vol, const char *format,
			const char *target, const char *serial, const char *luks_uuid)
{
	vbuf_printf(b, "    <disk type='volume' device='disk'>\n"
		    "      <driver name='qemu' type='%s' discard='unmap'/>\n"
		    "      <source pool='", format);
	vbuf_xml(b, pool);
	vbuf_printf(b, "' volume='");
	vbuf_xml(b, vol);
	if (luks_uuid && luks_uuid[0]) {
		vbuf_printf(b, "'>\n");
		encryption(b, "        ", luks_uuid);
		vbuf_printf(b, "      </source>\n");
	} else {
		vbuf_printf(b, "'/>\n");
	}
	vbuf_printf(b, "      <target dev='%s' bus='virtio'/>\n", target);
	if (serial)
		vbuf_printf(b, "      <serial>%s</serial>\n", serial);
	vbuf_printf(b, "    </disk>\n");
}

/* The names recorded in the metadata; by convention when none are. */
static int disk_vol(const struct virt_domain_desc *d, const char *role, unsigned i, char *vol,
		    size_t len)
{
	const struct virt_meta *m = d->meta;
	const char *rec = !strcmp(role, "disk") ? m->root : !strcmp(role, "seed") ? m->seed : m->datavol[i];
	int n;

	if (!rec[0])
		return virt_volume_name(vol, len, d->spec->name, role);
	n = snprintf(vol, len, "%s", rec);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void disks(struct vbuf *b, const struct virt_domain_desc *d)
{
	const struct virt_spec *s = d->spec;
	char vol[VIRT_VOL_NAME_MAX], role[8 + VIRT_DISK_NAME_MAX], serial[32];

	if (disk_vol(d, "disk", 0, vol, sizeof(vol)) < 0) {
		b->err = -ENAMETOOLONG;
		return;
	}
	disk_volume(b, d->pool, vol, "qcow2", "vda", NULL, NULL);
	for (unsigned i = 0; i < s->ndata; i++) {
		char target[8] = "vd?";

		target[2] = (char)('b' + i);
		snprintf(role, sizeof(role), "data-%s", s->data[i].name);
		snprintf(serial, sizeof(serial), "osi-%s", s->data[i].name);
		if (disk_vol(d, role, i, vol, sizeof(vol)) < 0) {
			b->err = -ENAMETOOLONG;
			return;
		}
		disk_volume(b, d->pool, vol, "qcow2", target, serial, d->data_secret[i]);
	}
	if (disk_vol(d, "seed", 0, vol, sizeof(vol)) < 0) {
		b->err = -ENAMETOOLONG;
		return;
	}
	/* A CD on virtio-scsi: cloud kernels carry virtio, not always AHCI. */
	vbuf_printf(b, "    <controller type='scsi' index='0' model='virtio-scsi'/>\n"
		    "    <disk type='volume' device='cdrom'>\n"
		    "      <driver name='qemu' type='raw'/>\n"
		    "      <source pool='");
	vbuf_xml(b, d->pool);
	vbuf_printf(b, "' volume='");
	vbuf_xml(b, vol);
	vbuf_printf(b, "'/>\n      <target dev='sda' bus='scsi'/>\n"
		    "      <readonly/>\n"
		    "    </disk>\n");
}

static void interface(struct vbuf *b, const struct virt_spec *s)
{
	switch (s->net) {
	case VIRT_NET_NONE:
		return;
	case VIRT_NET_NETWORK:
		vbuf_printf(b, "    <interface type='network'>\n      <source network='");
		vbuf_xml(b, s->net_source);
		vbuf_printf(b, "'/>\n");
		break;
	case VIRT_NET_BRIDGE:
		vbuf_printf(b, "    <interface type='bridge'>\n      <source bridge='");
		vbuf_xml(b, s->net_source);
		vbuf_printf(b, "'/>\n");
		break;
	case VIRT_NET_USER:
		vbuf_printf(b, "    <interface type='user'>\n");
		break;
	case VIRT_NET_FABRIC:
		/* the MAC of its static lease: the same address at every boot */
		vbuf_printf(b, "    <interface type='network'>\n      <mac address='");
		vbuf_xml(b, s->mac);
		vbuf_printf(b, "'/>\n      <source network='" VIRT_FABRIC_NETWORK "'/>\n");
		/* no other source IP, MAC or ARP claim: a guest cannot pass for a neighbour */
		vbuf_printf(b, "      <filterref filter='clean-traffic'>\n"
			    "        <parameter name='IP' value='");
		vbuf_xml(b, s->address);
		vbuf_printf(b, "'/>\n        <parameter name='MAC' value='");
		vbuf_xml(b, s->mac);
		vbuf_printf(b, "'/>\n      </filterref>\n");
		break;
	}
	vbuf_printf(b, "      <model type='virtio'/>\n    </interface>\n");
}

static void console(struct vbuf *b, const char *log)
{
	vbuf_printf(b, "    <serial type='pty'>\n");
	if (log && log[0]) {
		vbuf_printf(b, "      <log file='");
		vbuf_xml(b, log);
		vbuf_printf(b, "' append='off'/>\n");
	}
	vbuf_printf(b, "      <target port='0'/>\n"
		    "    </serial>\n"
		    "    <console type='pty'>\n"
		    "      <target type='serial' port='0'/>\n"
		    "    </console>\n");
}

int virt_xml_domain(const struct virt_domain_desc *d, char **out)
{
	const struct virt_spec *s = d->spec;
	struct vbuf b = { 0 };

	/* Without KVM, TCG emulates the richest CPU it can; with KVM, the host's. */
	vbuf_printf(&b, "<domain type='%s'>\n  <name>", d->kvm ? "kvm" : "qemu");
	vbuf_xml(&b, s->name);
	vbuf_printf(&b, "</name>\n  <uuid>%s</uuid>\n  <metadata>\n", d->uuid);
	meta_body(&b, d->meta);
	vbuf_printf(&b, "  </metadata>\n"
		    "  <memory unit='KiB'>%" PRIu64 "</memory>\n"
		    "  <vcpu>%u</vcpu>\n"
		    "  <os>\n    <type arch='x86_64' machine='q35'>hvm</type>\n"
		    "    <boot dev='hd'/>\n  </os>\n"
		    "  <features>\n    <acpi/>\n    <apic/>\n  </features>\n"
		    "  <cpu mode='%s' check='none'/>\n"
		    "  <clock offset='utc'/>\n"
		    "  <on_poweroff>destroy</on_poweroff>\n"
		    "  <on_reboot>restart</on_reboot>\n"
		    "  <on_crash>destroy</on_crash>\n"
		    "  <devices>\n",
		    s->memory_bytes / 1024, s->vcpus, d->kvm ? "host-passthrough" : "maximum");
	disks(&b, d);
	interface(&b, s);
	console(&b, d->console_log);
	vbuf_printf(&b, "    <channel type='unix'>\n"
		    "      <target type='virtio' name='org.qemu.guest_agent.0'/>\n"
		    "    </channel>\n"
		    "    <rng model='virtio'>\n"
		    "      <backend model='random'>/dev/urandom</backend>\n"
		    "    </rng>\n"
		    "    <memballoon model='virtio'/>\n"
		    "  </devices>\n"
		    "</domain>\n");
	return vbuf_take(&b, out);
}

int virt_xml_pool(const char *name, const char *dir, char **out)
{
	struct vbuf b = { 0 };

	vbuf_printf(&b, "<pool type='dir'>\n  <name>");
	vbuf_xml(&b, name);
	vbuf_printf(&b, "</name>\n  <target>\n    <path>");
	vbuf_xml(&b, dir);
	vbuf_printf(&b, "</path>\n    <permissions>\n      <mode>0711</mode>\n"
		    "    </permissions>\n  </target>\n</pool>\n");
	return vbuf_take(&b, out);
}

static int volume(const char *name, uint64_t capacity, const char *format, const char *backing,
		  const char *backing_format, const char *luks_uuid, char **out)
{
	struct vbuf b = { 0 };

	vbuf_printf(&b, "<volume>\n  <name>");
	vbuf_xml(&b, name);
	vbuf_printf(&b, "</name>\n  <capacity unit='bytes'>%" PRIu64 "</capacity>\n"
		    "  <allocation unit='bytes'>0</allocation>\n"
		    "  <target>\n    <format type='%s'/>\n    <permissions>\n"
		    "      <mode>0600</mode>\n    </permissions>\n",
		    capacity, format);
	if (!strcmp(format, "qcow2")) /* v3: it can carry a backup checkpoint's bitmap */
		vbuf_printf(&b, "    <compat>1.1</compat>\n");
	if (luks_uuid)
		encryption(&b, "    ", luks_uuid);
	vbuf_printf(&b, "  </target>\n");
	if (backing) {
		vbuf_printf(&b, "  <backingStore>\n    <path>");
		vbuf_xml(&b, backing);
		vbuf_printf(&b, "</path>\n    <format type='%s'/>\n  </backingStore>\n",
			    backing_format);
	}
	vbuf_printf(&b, "</volume>\n");
	return vbuf_take(&b, out);
}

int virt_xml_volume(const char *name, uint64_t capacity, const char *format,
		    const char *backing, const char *backing_format, char **out)
{
	return volume(name, capacity, format, backing, backing_format, NULL, out);
}

int virt_xml_volume_luks(const char *name, uint64_t capacity, const char *uuid, char **out)
{
	return volume(name, capacity, "qcow2", NULL, NULL, uuid, out);
}

/* Our own output read back: elements in our prefix, text with the five
 * predefined entities. Anything else is "not ours". */
static int unescape(const char *s, size_t n, char *out, size_t outlen)
{
	static const struct { const char *ent; char c; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&apos;", '\'' }, { "&quot;", '"' },
	};
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		char c = s[i];
		size_t adv = 1;

		if (c == '&') {
			size_t k;

			for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
				size_t el = strlen(ents[k].ent);

				if (n - i >= el && !memcmp(s + i, ents[k].ent, el))
					break;
			}
			if (k == sizeof(ents) / sizeof(ents[0]))
				return -EINVAL;
			c = ents[k].c;
			adv = strlen(ents[k].ent);
		} else if (c == '<') {
			return -EINVAL;
		}
		if (o + 1 >= outlen)
			return -ENAMETOOLONG;
		out[o++] = c;
		i += adv;
	}
	out[o] = '\0';
	return 0;
}

/* The first <PREFIXNAME>text</PREFIXNAME> in xml; returns where it ended. */
static const char *field(const char *xml, const char *prefix, const char *name, char *out,
			 size_t outlen, int *ret)
{
	char open[48], close[48];
	const char *a, *z;

	snprintf(open, sizeof(open), "<%s%s>", prefix, name);
	snprintf(close, sizeof(close), "</%s%s>", prefix, name);
	a = strstr(xml, open);
	if (!a) {
		*ret = -ENOENT;
		return NULL;
	}
	a += strlen(open);
	z = strstr(a, close);
	if (!z) {
		*ret = -EINVAL;
		return NULL;
	}
	*ret = unescape(a, (size_t)(z - a), out, outlen);
	return *ret ? NULL : z + strlen(close);
}

/* virDomainGetMetadata answers with the element unprefixed (<guest>...), the
 * domain XML with our prefix; both are read. */
int virt_xml_meta_parse(const char *xml, struct virt_meta *m)
{
	const char *prefix, *p;
	char type[32];
	int ret;

	memset(m, 0, sizeof(*m));
	xml += strspn(xml, " \t\r\n");
	if (!strncmp(xml, "<guest", 6) && strchr(" >", xml[6]))
		prefix = "";
	else if (!strncmp(xml, "<" VIRT_NS_PREFIX ":guest ", 11) && strstr(xml, VIRT_NS_URI))
		prefix = VIRT_NS_PREFIX ":";
	else
		return -ENOMSG;
	if (!field(xml, prefix, "type", type, sizeof(type), &ret) || virt_type_parse(type, &m->type) < 0 ||
	    !field(xml, prefix, "owner", m->owner, sizeof(m->owner), &ret) ||
	    !field(xml, prefix, "instance-id", m->instance_id, sizeof(m->instance_id), &ret) ||
	    !field(xml, prefix, "base", m->base, sizeof(m->base), &ret) ||
	    !field(xml, prefix, "spec", m->spec, sizeof(m->spec), &ret))
		return -ENOMSG;
	for (p = xml; m->ndata < VIRT_MAX_DATA_DISKS;) {
		p = field(p, prefix, "data", m->data[m->ndata], sizeof(m->data[0]), &ret);
		if (!p)
			break;
		m->ndata++;
	}
	/* Absent in domains made before volume names were recorded. */
	if (!field(xml, prefix, "root-volume", m->root, sizeof(m->root), &ret) ||
	    !field(xml, prefix, "seed-volume", m->seed, sizeof(m->seed), &ret))
		m->root[0] = m->seed[0] = '\0';
	p = xml;
	for (unsigned i = 0; i < m->ndata && p; i++)
		p = field(p, prefix, "data-volume", m->datavol[i], sizeof(m->datavol[0]), &ret);
	if (!p)
		memset(m->datavol, 0, sizeof(m->datavol));
	/* Only guests on the fabric have one. */
	if (!field(xml, prefix, "address", m->address, sizeof(m->address), &ret))
		m->address[0] = '\0';
	return 0;
}
