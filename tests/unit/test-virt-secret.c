/* Encrypted data volumes: the secret, volume and disk XML, the secret uuid
 * read back from a volume, and the domain XML with an encrypted disk parsed
 * by libvirt's test driver (which keeps no secrets: a volume made there
 * stays plain, and says so). */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <sodium.h>

#include "tests/unit/fixture.h"
#include "lib/identity.h"
#include "lib/seal-key.h"
#include "virt/virt-export.h"
#include "virt/virt-internal.h"

#define UUID "0b0c2a5e-3f1d-4d7a-9e2b-5c4f6a7b8c9d"

#define assert_has(hay, needle) do { \
	if (!strstr((hay), (needle))) \
		fail_msg("missing %s in:\n%s", (needle), (hay)); \
} while (0)

static void quiet(void *data, virErrorPtr err)
{
}

static void test_secret_xml(void **state)
{
	char *xml = NULL;

	uint8_t sealed[KEY_SEAL_BYTES];

	assert_int_equal(virt_xml_secret("/var/lib/osi/images/t.data.a&b.qcow2", NULL, &xml), 0);
	assert_has(xml, "<secret ephemeral='no' private='yes'>");
	assert_has(xml, "<usage type='volume'>");
	assert_has(xml, "<volume>/var/lib/osi/images/t.data.a&amp;b.qcow2</volume>");
	assert_int_equal(virt_xml_secret_sealed(xml, sealed), -ENOKEY);
	free(xml);
}

/* The key sealed to the node identity rides in the description, and only
 * that identity opens it. */
static void test_secret_sealed_copy(void **state)
{
	struct identity node, other;
	uint8_t key[KEY_SEAL_KEY_BYTES], back[KEY_SEAL_KEY_BYTES], sealed[KEY_SEAL_BYTES];
	char b64[KEY_SEAL_B64_MAX], *xml = NULL, *p;

	memset(&node, 0, sizeof(node));
	memset(&other, 0, sizeof(other));
	crypto_sign_keypair(node.sign_pk, node.sign_sk);
	crypto_sign_keypair(other.sign_pk, other.sign_sk);
	randombytes_buf(key, sizeof(key));
	assert_int_equal(key_seal_ed25519(node.sign_pk, key, sealed), 0);
	key_seal_b64(sealed, b64);
	memset(sealed, 0, sizeof(sealed));
	assert_int_equal(virt_xml_secret("/p/t.data.a.qcow2", b64, &xml), 0);
	assert_has(xml, "<description>osi-seal-v1 ");
	assert_int_equal(virt_xml_secret_sealed(xml, sealed), 0);
	assert_int_equal(key_unseal(&node, sealed, sizeof(sealed), back), 0);
	assert_memory_equal(back, key, sizeof(key));
	assert_int_equal(key_unseal(&other, sealed, sizeof(sealed), back), -EPERM);
	/* cut short: refused, not read as a shorter key */
	p = strstr(xml, b64);
	memmove(p + 10, p + 20, strlen(p + 20) + 1);
	assert_int_equal(virt_xml_secret_sealed(xml, sealed), -EBADMSG);
	free(xml);
}

/* The node's copy in a new secret's description is sealed to root's seal
 * key, made on first use: the node identity, which the unprivileged agent
 * holds, does not open it. */
static void test_description_sealed_to_seal_key(void **state)
{
	char dir[] = "/tmp/osi-test-secret-seal-XXXXXX", *xml = NULL;
	struct virt_host h = { 0 };
	struct identity node;
	struct seal_key sk;
	uint8_t key[KEY_SEAL_KEY_BYTES], back[KEY_SEAL_KEY_BYTES], sealed[KEY_SEAL_BYTES];

	assert_non_null(mkdtemp(dir));
	snprintf(h.seal_key, sizeof(h.seal_key), "%s/seal/seal.key", dir);
	memset(&node, 0, sizeof(node));
	crypto_sign_keypair(node.sign_pk, node.sign_sk);
	randombytes_buf(key, sizeof(key));
	assert_int_equal(virt_secret_xml_sealed(&h, "/p/t.data.a.qcow2", key, &xml), 0);
	assert_int_equal(virt_xml_secret_sealed(xml, sealed), 0);
	assert_int_equal(key_unseal(&node, sealed, sizeof(sealed), back), -EPERM);
	assert_int_equal(seal_key_load(h.seal_key, 0, &sk), 0);
	assert_int_equal(seal_key_open(&sk, sealed, sizeof(sealed), back), 0);
	assert_memory_equal(back, key, sizeof(key));
	seal_key_wipe(&sk);
	free(xml);
	/* a seal key others may read is refused, not used */
	assert_int_equal(chmod(h.seal_key, 0640), 0);
	assert_int_equal(virt_secret_xml_sealed(&h, "/p/t.data.a.qcow2", key, &xml), -EPERM);
	assert_int_equal(fixture_rmtree(dir), 0);
}

static void test_volume_luks_and_plain(void **state)
{
	char *xml = NULL, uuid[VIRT_UUID_LEN];

	assert_int_equal(virt_xml_volume_luks("t.data.archive.qcow2", 1 << 30, UUID, &xml), 0);
	assert_has(xml, "<format type='qcow2'/>");
	assert_has(xml, "<encryption format='luks'>");
	assert_has(xml, "<secret type='passphrase' uuid='" UUID "'/>");
	/* Inside <target>, where libvirt reads it. */
	assert_true(strstr(xml, "<encryption") < strstr(xml, "</target>"));
	assert_int_equal(virt_xml_luks_uuid(xml, uuid), 0);
	assert_string_equal(uuid, UUID);
	free(xml);
	assert_int_equal(virt_xml_volume_luks("t.data.archive.qcow2", 1 << 30, NULL, &xml), 0);
	assert_null(strstr(xml, "encryption"));
	assert_int_equal(virt_xml_luks_uuid(xml, uuid), -ENOENT);
	free(xml);
	/* Malformed: refused, never half read. */
	assert_int_equal(virt_xml_luks_uuid("<encryption format='luks'><secret type='passphrase' "
					    "uuid='zz'/></encryption>", uuid), -EINVAL);
	assert_int_equal(virt_xml_luks_uuid("<encryption format='luks'></encryption>"
					    "<secret uuid='" UUID "'/>", uuid), -EINVAL);
	/* libvirt's own rendering uses double quotes too. */
	assert_int_equal(virt_xml_luks_uuid("<encryption format=\"luks\"><secret type=\"passphrase\" "
					    "uuid=\"" UUID "\"/></encryption>", uuid), 0);
	assert_string_equal(uuid, UUID);
}

static char *domain(struct virt_spec *s, struct virt_meta *m, const char *secret)
{
	struct virt_domain_desc d = { .spec = s, .meta = m, .pool = "osi",
				      .uuid = "6695eb01-f6a4-4304-89aa-97f2502e1110", .console_log = "" };
	char *xml = NULL;

	memset(s, 0, sizeof(*s));
	memset(m, 0, sizeof(*m));
	strcpy(s->name, "box");
	s->vcpus = 1;
	s->memory_bytes = 256ULL << 20;
	s->ndata = 2;
	strcpy(s->data[0].name, "archive");
	strcpy(s->data[1].name, "old");
	s->data[0].bytes = s->data[1].bytes = 1 << 30;
	strcpy(m->data[0], "archive");
	strcpy(m->data[1], "old");
	m->ndata = 2;
	strcpy(d.data_secret[0], secret);
	assert_int_equal(virt_xml_domain(&d, &xml), 0);
	return xml;
}

static void test_domain_disk_encryption(void **state)
{
	struct virt_spec s;
	struct virt_meta m;
	char *xml = domain(&s, &m, UUID), *vdb, *vdc, uuid[VIRT_UUID_LEN];

	vdb = strstr(xml, "volume='box.data.archive.qcow2'>");
	vdc = strstr(xml, "volume='box.data.old.qcow2'/>");
	assert_non_null(vdb);
	assert_non_null(vdc); /* the plain one stays plain */
	assert_int_equal(virt_xml_luks_uuid(vdb, uuid), 0);
	assert_string_equal(uuid, UUID);
	assert_true(strstr(vdb, "</source>") < strstr(vdb, "<target dev='vdb'"));
	assert_int_equal(virt_xml_luks_uuid(vdc, uuid), -ENOENT);
	/* The root overlay never is. */
	assert_true(strstr(xml, "<encryption") > strstr(xml, "target dev='vda'"));
	free(xml);
}

static void test_domain_parses_in_libvirt(void **state)
{
	struct virt_spec s;
	struct virt_meta m;
	virConnectPtr conn = virConnectOpen("test:///default");
	char *xml = domain(&s, &m, UUID), *back;
	virDomainPtr dom;

	assert_non_null(conn);
	dom = virDomainDefineXML(conn, xml);
	if (!dom)
		fail_msg("%s", virGetLastErrorMessage());
	back = virDomainGetXMLDesc(dom, 0);
	assert_has(back, "<encryption format='luks'>");
	assert_has(back, UUID);
	free(back);
	virDomainFree(dom);
	free(xml);
	virConnectClose(conn);
}

/* No secret store here: the make says so rather than pretend. */
static void test_secret_make_without_a_store(void **state)
{
	struct virt_host h = { 0 };
	char uuid[VIRT_UUID_LEN] = "";
	int ret;

	h.conn = virConnectOpen("test:///default");
	assert_non_null(h.conn);
	ret = virt_secret_make(&h, "/tmp/x.data.a.qcow2", NULL, uuid);
	assert_true(ret == -EOPNOTSUPP || ret == 0);
	if (ret == 0) {
		assert_int_equal(strlen(uuid), VIRT_UUID_LEN - 1);
		virt_secret_drop(&h, uuid);
	}
	virConnectClose(h.conn);
}

static void member(struct identity *id, const char *name)
{
	memset(id, 0, sizeof(*id));
	strcpy(id->name, name);
	crypto_sign_keypair(id->sign_pk, id->sign_sk);
}

/* Import opens the key sealed to its own identity only: by name and key id,
 * never a blob of another recipient, nothing without an identity. */
static void test_import_key_recipients(void **state)
{
	struct virt_host h;
	struct identity a, b, a2;
	struct export_volume v;
	uint8_t key[KEY_SEAL_KEY_BYTES], back[KEY_SEAL_KEY_BYTES];

	memset(&h, 0, sizeof(h));
	memset(&v, 0, sizeof(v));
	member(&a, "admin-a");
	member(&b, "admin-b");
	member(&a2, "admin-a"); /* the same name, another key */
	randombytes_buf(key, sizeof(key));
	strcpy(v.disk, "archive");
	v.encrypted = true;
	v.nkeys = 2;
	strcpy(v.keys[0].recipient, "admin-a");
	key_seal_id(a.sign_pk, v.keys[0].key_id);
	assert_int_equal(key_seal_ed25519(a.sign_pk, key, v.keys[0].sealed), 0);
	strcpy(v.keys[1].recipient, "admin-b");
	key_seal_id(b.sign_pk, v.keys[1].key_id);
	assert_int_equal(key_seal_ed25519(b.sign_pk, key, v.keys[1].sealed), 0);

	assert_int_equal(export_keys_open(&h, &a, "vault", &v, back), 0);
	assert_memory_equal(back, key, sizeof(key));
	assert_int_equal(export_keys_open(&h, &b, "vault", &v, back), 0);
	assert_memory_equal(back, key, sizeof(key));
	assert_int_equal(export_keys_open(&h, &a2, "vault", &v, back), -EPERM);
	assert_has(h.err, "is not a recipient");
	assert_has(h.err, "admin-a (key id ");
	assert_int_equal(export_keys_open(&h, NULL, "vault", &v, back), -EPERM);
	/* b's blob under a's name and key id: does not open for a */
	memcpy(v.keys[0].sealed, v.keys[1].sealed, KEY_SEAL_BYTES);
	assert_int_equal(export_keys_open(&h, &a, "vault", &v, back), -EPERM);
	assert_has(h.err, "does not open");
	for (size_t i = 0; i < sizeof(back); i++)
		assert_int_equal(back[i], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_xml),
		cmocka_unit_test(test_secret_sealed_copy),
		cmocka_unit_test(test_description_sealed_to_seal_key),
		cmocka_unit_test(test_import_key_recipients),
		cmocka_unit_test(test_volume_luks_and_plain),
		cmocka_unit_test(test_domain_disk_encryption),
		cmocka_unit_test(test_domain_parses_in_libvirt),
		cmocka_unit_test(test_secret_make_without_a_store),
	};

	if (sodium_init() < 0)
		return 1;
	virSetErrorFunc(NULL, quiet);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
