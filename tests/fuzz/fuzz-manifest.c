/* virt_manifest_parse on arbitrary bytes. What it accepts must be a spec
 * that passes virt_spec_check, and the domain XML and metadata built from
 * it must read back to the same metadata. The metadata reader gets the raw
 * input too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virt/virt-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_manifest(const struct virt_manifest *m)
{
	if ((unsigned)m->type >= VIRT_TYPE_COUNT || m->vcpus < 1 || m->vcpus > 64 ||
	    m->ndata > VIRT_MAX_DATA_DISKS)
		abort();
	if (!memchr(m->summary, '\0', sizeof(m->summary)) || !memchr(m->base, '\0', sizeof(m->base)) ||
	    !memchr(m->user_data, '\0', sizeof(m->user_data)))
		abort();
	if (m->type == VIRT_TOTEBOX && m->placement != VIRT_PLACE_OPERATOR_NODE)
		abort();
	if (m->user_data[0] == '/' || strstr(m->user_data, ".."))
		abort();
}

static void round_trip(const struct virt_manifest *m)
{
	struct virt_spec s;
	struct virt_meta meta, back;
	struct virt_domain_desc d = { .spec = &s, .meta = &meta, .pool = "osi",
				      .uuid = "00000000-0000-4000-8000-000000000000", .console_log = "" };
	char *xml = NULL;

	/* memset, not = { 0 }: the comparison below covers padding too. */
	memset(&meta, 0, sizeof(meta));
	virt_spec_from_manifest(&s, m, "fuzz", "fuzz <&'\"> owner");
	if (virt_spec_check(&s, NULL, 0) < 0)
		abort();
	virt_spec_digest(&s, meta.spec);
	meta.type = s.type;
	strcpy(meta.owner, s.owner);
	strcpy(meta.instance_id, "i-0");
	strcpy(meta.base, s.base);
	for (unsigned i = 0; i < s.ndata; i++)
		strcpy(meta.data[i], s.data[i].name);
	meta.ndata = s.ndata;
	if (virt_xml_domain(&d, &xml) < 0)
		abort();
	free(xml);
	if (virt_xml_meta(&meta, &xml) < 0 || virt_xml_meta_parse(xml, &back) < 0)
		abort();
	if (memcmp(&meta, &back, sizeof(meta)))
		abort();
	free(xml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virt_manifest m;
	struct virt_meta meta;
	char err[256], *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (virt_manifest_parse(text, size, &m, err, sizeof(err)) == 0) {
		check_manifest(&m);
		round_trip(&m);
	} else if (!err[0]) {
		abort();
	}
	virt_xml_meta_parse(text, &meta);
	free(text);
	return 0;
}
