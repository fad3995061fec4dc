/* The export manifest: round trip, strict refusals, and its signature. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "lib/export-manifest.h"

static void sample(struct export_manifest *m)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->type, "totebox");
	strcpy(m->name, "vault-1");
	strcpy(m->owner, "ops");
	strcpy(m->instance_id, "i-0123456789abcdef");
	strcpy(m->mac, "52:54:00:0a:0b:0c");
	strcpy(m->base, "ubuntu-24.04");
	memset(m->base_sha256, 'a', 64);
	m->vcpus = 2;
	m->memory_bytes = 2ull << 30;
	m->disk_bytes = 10ull << 30;
	strcpy(m->net, "fabric");
	strcpy(m->net_source, "osi-fabric");
	strcpy(m->node, "node-a");
	m->created = 1700000000;
	m->user_data = strdup("#cloud-config\n");
	m->nvol = 1;
	strcpy(m->vol[0].disk, "archive");
	strcpy(m->vol[0].mount, "/srv/archive");
	m->vol[0].capacity = 8ull << 30;
	m->vol[0].bytes = 196616;
	memset(m->vol[0].sha256, '0', 64);
}

static void round_trip(void **state)
{
	struct export_manifest m, back;
	char *text, err[256];
	size_t len;

	(void)state;
	sample(&m);
	assert_int_equal(export_manifest_encode(&m, &text, &len, err, sizeof(err)), 0);
	assert_int_equal(export_manifest_parse(text, len, &back, err, sizeof(err)), 0);
	assert_string_equal(back.name, "vault-1");
	assert_string_equal(back.mac, m.mac);
	assert_string_equal(back.user_data, "#cloud-config\n");
	assert_int_equal(back.nvol, 1);
	assert_string_equal(back.vol[0].disk, "archive");
	assert_true(back.vol[0].capacity == 8ull << 30);
	assert_int_equal(back.vol[0].bytes, 196616);
	assert_int_equal(back.created, 1700000000);
	assert_int_equal(back.version, 2);
	assert_int_equal(export_manifest_hash(&back), SHA256_TREE_PIECES);
	assert_non_null(strstr(text, "\"format\":\"osi-export-v2\""));
	assert_non_null(strstr(text, "\"sha256_tree\":\"000"));
	free(text);
	export_manifest_free(&back);
	export_manifest_free(&m);
}

/* Archives of format 1 (a volume's plain SHA-256) are still read. */
static void format_1(void **state)
{
	struct export_manifest m, back;
	char *text, err[256];
	size_t len;

	(void)state;
	sample(&m);
	m.version = 1;
	assert_int_equal(export_manifest_encode(&m, &text, &len, err, sizeof(err)), 0);
	assert_non_null(strstr(text, "\"format\":\"osi-export-v1\""));
	assert_non_null(strstr(text, "\"sha256\":\"000"));
	assert_null(strstr(text, "sha256_tree"));
	assert_int_equal(export_manifest_parse(text, len, &back, err, sizeof(err)), 0);
	assert_int_equal(back.version, 1);
	assert_int_equal(export_manifest_hash(&back), SHA256_TREE_PLAIN);
	assert_string_equal(back.vol[0].sha256, m.vol[0].sha256);
	free(text);
	export_manifest_free(&back);
	export_manifest_free(&m);
}

/* An encrypted archive volume whose key is sealed to two members. */
static void sample_encrypted(struct export_manifest *m)
{
	uint8_t key[KEY_SEAL_KEY_BYTES] = { 7 }, pk[32];
	const char *const who[] = { "admin-a", "admin-b" };

	sample(m);
	m->vol[0].encrypted = true;
	m->vol[0].nkeys = 2;
	for (unsigned k = 0; k < 2; k++) {
		unsigned char sk[64];

		crypto_sign_keypair(pk, sk);
		strcpy(m->vol[0].keys[k].recipient, who[k]);
		key_seal_id(pk, m->vol[0].keys[k].key_id);
		assert_int_equal(key_seal_ed25519(pk, key, m->vol[0].keys[k].sealed), 0);
	}
}

/* Each edit of a good manifest's text must be refused with a reason. */
static void refuse_edit_of(void (*make)(struct export_manifest *), const char *from, const char *to,
			   const char *why)
{
	struct export_manifest m, back;
	char *text, *p, edited[4096], err[256] = "";
	size_t len;

	make(&m);
	assert_int_equal(export_manifest_encode(&m, &text, &len, err, sizeof(err)), 0);
	p = strstr(text, from);
	assert_non_null(p);
	snprintf(edited, sizeof(edited), "%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
	assert_int_equal(export_manifest_parse(edited, strlen(edited), &back, err, sizeof(err)), -EINVAL);
	if (!strstr(err, why))
		fail_msg("%s -> %s: '%s' lacks '%s'", from, to, err, why);
	assert_null(back.user_data);
	free(text);
	export_manifest_free(&m);
}

static void refuse_edit(const char *from, const char *to, const char *why)
{
	refuse_edit_of(sample, from, to, why);
}

static void encrypted(void **state)
{
	struct export_manifest m, back;
	char *text, *p, edited[4096], err[256];
	size_t len;

	(void)state;
	sample_encrypted(&m);
	if (export_manifest_encode(&m, &text, &len, err, sizeof(err)))
		fail_msg("%s", err);
	assert_non_null(strstr(text, "\"encrypted\":true,\"keys\":[{\"key_id\":\""));
	assert_int_equal(export_manifest_parse(text, len, &back, err, sizeof(err)), 0);
	assert_true(back.vol[0].encrypted);
	assert_int_equal(back.vol[0].nkeys, 2);
	for (unsigned k = 0; k < 2; k++) {
		assert_string_equal(back.vol[0].keys[k].recipient, m.vol[0].keys[k].recipient);
		assert_string_equal(back.vol[0].keys[k].key_id, m.vol[0].keys[k].key_id);
		assert_memory_equal(back.vol[0].keys[k].sealed, m.vol[0].keys[k].sealed, KEY_SEAL_BYTES);
	}
	free(text);
	export_manifest_free(&back);
	export_manifest_free(&m);
	/* An archive from before encryption names neither field: a plain volume. */
	sample(&m);
	assert_int_equal(export_manifest_encode(&m, &text, &len, err, sizeof(err)), 0);
	p = strstr(text, "\"encrypted\":false,\"keys\":[],");
	assert_non_null(p);
	snprintf(edited, sizeof(edited), "%.*s%s", (int)(p - text), text, p + 28);
	assert_null(strstr(edited, "encrypted"));
	if (export_manifest_parse(edited, strlen(edited), &back, err, sizeof(err)))
		fail_msg("%s", err);
	assert_false(back.vol[0].encrypted);
	assert_int_equal(back.vol[0].nkeys, 0);
	free(text);
	export_manifest_free(&back);
	export_manifest_free(&m);
	/* Encrypting a plain volume the encoder refuses too. */
	sample(&m);
	m.vol[0].encrypted = true;
	assert_int_equal(export_manifest_encode(&m, &text, &len, err, sizeof(err)), -EINVAL);
	export_manifest_free(&m);
}

static void encrypted_strict(void **state)
{
	(void)state;
	refuse_edit("\"encrypted\":false", "\"encrypted\":true", "needs at least one sealed key");
	refuse_edit("\"encrypted\":false", "\"encrypted\":1", "not true or false");
	refuse_edit("\"keys\":[]", "\"keys\":{}", "keys: not an array");
	refuse_edit_of(sample_encrypted, "\"encrypted\":true", "\"encrypted\":false", "carries no keys");
	refuse_edit_of(sample_encrypted, "\"recipient\":\"admin-b\"", "\"recipient\":\"admin-a\"", "twice");
	refuse_edit_of(sample_encrypted, "\"recipient\":\"admin-b\"", "\"recipient\":\"Admin/b\"",
		       "recipient");
	refuse_edit_of(sample_encrypted, "\"key_id\":\"", "\"key_id\":\"Z", "key_id");
	refuse_edit_of(sample_encrypted, "\"sealed\":\"", "\"sealed\":\"AAAA", "sealed");
	refuse_edit_of(sample_encrypted, "\"sealed\":\"", "\"sealed\":\"!", "sealed");
	refuse_edit_of(sample_encrypted, "\"sealed\":\"", "\"extra\":1,\"sealed\":\"",
		       "extra: unknown key");
	refuse_edit_of(sample_encrypted, "\"keys\":[", "\"keys\":[1,", "not an object");
}

static void strict(void **state)
{
	(void)state;
	refuse_edit("\"type\":\"totebox\"", "\"type\":\"toaster\"", "type");
	refuse_edit("\"name\":\"vault-1\"", "\"name\":\"Vault/1\"", "name");
	refuse_edit("\"name\":\"vault-1\"", "\"name\":\"vault-1\",\"name\":\"x\"", "JSON");
	refuse_edit("\"format\":\"osi-export-v2\"", "\"format\":\"osi-export-v3\"", "format");
	/* a format 1 manifest names its volumes' plain sha256, a format 2 one their sha256_tree */
	refuse_edit("\"format\":\"osi-export-v2\"", "\"format\":\"osi-export-v1\"", "sha256_tree: unknown key");
	refuse_edit("\"disk\":\"archive\"", "\"disk\":\"../etc\"", "disk");
	refuse_edit("\"vcpus\":2", "\"vcpus\":0", "vcpus");
	refuse_edit("\"vcpus\":2", "\"vcpus\":-2", "vcpus");
	refuse_edit("\"net\":\"fabric\"", "\"net\":\"wifi\"", "net");
	refuse_edit("\"node\":\"node-a\"", "\"node\":\"\"", "node");
	refuse_edit("\"owner\":\"ops\"", "\"owner\":\"ops\",\"extra\":1", "extra: unknown key");
	refuse_edit("\"sha256_tree\":\"000", "\"sha256_tree\":\"X00", "sha256_tree");
	refuse_edit("\"mac\":\"52:54", "\"mac\":\"52-54", "mac");
	refuse_edit("\"bytes\":196616", "\"bytes\":\"196616\"", "bytes");
	refuse_edit("\"volumes\":[", "\"volumes\":[{\"disk\":\"archive\",\"mount\":\"\",\"capacity\":1,"
		    "\"bytes\":1,\"sha256_tree\":\"" "0000000000000000000000000000000000000000000000000000000000000000\"},",
		    "twice");
	refuse_edit("\"owner\":\"ops\"", "\"owner\":\"o\\u0000ps\"", "not allowed");
	refuse_edit("\"owner\":\"ops\"", "\"owner\":\"o\\u0007ps\"", "owner");
}

static void not_json(void **state)
{
	struct export_manifest m;
	char err[128];

	(void)state;
	assert_int_equal(export_manifest_parse("[]", 2, &m, err, sizeof(err)), -EINVAL);
	assert_int_equal(export_manifest_parse("{", 1, &m, err, sizeof(err)), -EINVAL);
	assert_int_equal(export_manifest_parse("", 0, &m, err, sizeof(err)), -EINVAL);
	assert_int_equal(export_manifest_parse("{}", EXPORT_MANIFEST_MAX + 1, &m, err, sizeof(err)),
			 -EINVAL);
}

static void key(struct identity *id, const char *name)
{
	memset(id, 0, sizeof(*id));
	strcpy(id->name, name);
	crypto_sign_keypair(id->sign_pk, id->sign_sk);
}

static void signature(void **state)
{
	struct identity id, other;
	struct export_sig s;
	char *sig, err[128], text[] = "{\"a\":1}";
	size_t len;

	(void)state;
	key(&id, "node-a");
	key(&other, "node-b");
	assert_int_equal(export_sign(&id, text, strlen(text), &sig, &len), 0);
	assert_int_equal(export_sig_parse(sig, len, &s, err, sizeof(err)), 0);
	assert_string_equal(s.signer, "node-a");
	assert_memory_equal(s.key, id.sign_pk, SIGN_PK_BYTES);
	assert_true(export_sig_valid(&s, text, strlen(text)));
	text[5] = '2';
	assert_false(export_sig_valid(&s, text, strlen(text)));
	text[5] = '1';
	assert_false(export_sig_valid(&s, text, strlen(text) - 1));
	memcpy(s.key, other.sign_pk, SIGN_PK_BYTES);
	assert_false(export_sig_valid(&s, text, strlen(text)));
	free(sig);
	assert_int_equal(export_sig_parse("{\"format\":\"osi-export-sig-v1\",\"signer\":\"a\","
					  "\"key\":\"00\",\"sig\":\"00\"}", 62, &s, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(export_sig_parse("nope", 4, &s, err, sizeof(err)), -EINVAL);
}

static void qcow2_header(uint8_t *b, uint32_t version, uint64_t backing, uint64_t incompat)
{
	memset(b, 0, EXPORT_QCOW2_HEAD);
	memcpy(b, "QFI\xfb", 4);
	for (int i = 0; i < 4; i++)
		b[4 + i] = (uint8_t)(version >> (24 - 8 * i));
	for (int i = 0; i < 8; i++) {
		b[8 + i] = (uint8_t)(backing >> (56 - 8 * i));
		b[72 + i] = (uint8_t)(incompat >> (56 - 8 * i));
	}
}

/* A signed archive must not hand the guest a host file through qcow2. */
static void volume_header(void **state)
{
	uint8_t b[EXPORT_QCOW2_HEAD];

	(void)state;
	qcow2_header(b, 3, 0, 0);
	assert_null(export_volume_header_check(b, sizeof(b)));
	qcow2_header(b, 2, 0, 0);
	assert_null(export_volume_header_check(b, 72));
	qcow2_header(b, 3, 0x100, 0);
	assert_non_null(strstr(export_volume_header_check(b, sizeof(b)), "backing file"));
	qcow2_header(b, 2, 0x100, 0);
	assert_non_null(export_volume_header_check(b, sizeof(b)));
	qcow2_header(b, 3, 0, 1u << 2);
	assert_non_null(strstr(export_volume_header_check(b, sizeof(b)), "external data file"));
	qcow2_header(b, 3, 0, 0);
	assert_non_null(export_volume_header_check(b, 75));
	qcow2_header(b, 4, 0, 0);
	assert_non_null(export_volume_header_check(b, sizeof(b)));
	b[0] = 'X';
	assert_non_null(export_volume_header_check(b, sizeof(b)));
	assert_non_null(export_volume_header_check(b, 0));
}

/* A stream's entry names back to their disk; anything else refused. */
static void entry_names(void **state)
{
	struct export_volume v = { .disk = "repos" };
	char name[EXPORT_VOLUME_ENTRY_MAX], disk[EXPORT_DISK_MAX + 1];

	(void)state;
	assert_int_equal(export_volume_entry(&v, name, sizeof(name)), 0);
	assert_int_equal(export_volume_entry_disk(name, disk, sizeof(disk)), 0);
	assert_string_equal(disk, "repos");
	assert_int_equal(export_volume_entry_disk("volumes/data-.qcow2", disk, sizeof(disk)), -EINVAL);
	assert_int_equal(export_volume_entry_disk("volumes/data-../x.qcow2", disk, sizeof(disk)), -EINVAL);
	assert_int_equal(export_volume_entry_disk("volumes/data-Repos.qcow2", disk, sizeof(disk)), -EINVAL);
	assert_int_equal(export_volume_entry_disk("volumes/disk-repos.qcow2", disk, sizeof(disk)), -EINVAL);
	assert_int_equal(export_volume_entry_disk("volumes/data-repos.qcow", disk, sizeof(disk)), -EINVAL);
	assert_int_equal(export_volume_entry_disk("volumes/data-abcdefghijklmnopq.qcow2", disk,
						  sizeof(disk)), -ENAMETOOLONG);
}

/* The bound covers the volumes and, beside them, the manifest and signature
 * at their largest. */
static void bound(void **state)
{
	struct export_manifest m;

	(void)state;
	sample(&m);
	assert_true(export_archive_bound(&m) > m.vol[0].bytes + EXPORT_MANIFEST_MAX + EXPORT_SIG_MAX);
	assert_true(export_archive_bound(&m) < m.vol[0].bytes + EXPORT_MANIFEST_MAX + EXPORT_SIG_MAX +
						   (64u << 10));
	/* the fleet's estimate from a count and a total is the same bound */
	assert_int_equal(export_archive_bound_of(m.nvol, m.vol[0].bytes), export_archive_bound(&m));
	assert_int_equal(export_archive_bound_of(1, UINT64_MAX - 100), UINT64_MAX);
	export_manifest_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(format_1),
		cmocka_unit_test(strict),
		cmocka_unit_test(encrypted),
		cmocka_unit_test(encrypted_strict),
		cmocka_unit_test(not_json),
		cmocka_unit_test(signature),
		cmocka_unit_test(volume_header),
		cmocka_unit_test(entry_names),
		cmocka_unit_test(bound),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
