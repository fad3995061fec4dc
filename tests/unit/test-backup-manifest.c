/* The backup manifest: round trip, strict refusals, its signature (and that
 * it never passes for an export's). */
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

#include "lib/backup-manifest.h"

static void sample(struct backup_manifest *m)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->id, "20261204T120000Z");
	strcpy(m->guest, "vault1");
	strcpy(m->instance_id, "i-0123456789abcdef");
	strcpy(m->node, "node-a");
	m->incremental = true;
	strcpy(m->parent, "20261203T120000Z");
	strcpy(m->checkpoint, "osi-backup-20261204T120000Z");
	m->created = 1796385600;
	m->nvol = 1;
	strcpy(m->vol[0].disk, "archive");
	m->vol[0].capacity = 200ull << 30;
	m->vol[0].bytes = 393216;
	memset(m->vol[0].sha256, 'e', 64);
}

static void round_trip(void **state)
{
	struct backup_manifest m, back;
	char *text, err[256];
	size_t len;

	(void)state;
	sample(&m);
	assert_int_equal(backup_manifest_encode(&m, &text, &len, err, sizeof(err)), 0);
	assert_non_null(strstr(text, "\"kind\":\"incremental\""));
	assert_int_equal(backup_manifest_parse(text, len, &back, err, sizeof(err)), 0);
	assert_string_equal(back.id, m.id);
	assert_string_equal(back.parent, "20261203T120000Z");
	assert_string_equal(back.checkpoint, m.checkpoint);
	assert_true(back.incremental);
	assert_int_equal(back.nvol, 1);
	assert_true(back.vol[0].capacity == 200ull << 30);
	assert_int_equal(back.vol[0].bytes, 393216);
	assert_int_equal(back.created, 1796385600);
	free(text);
}

static void refuse(const char *text, const char *want)
{
	struct backup_manifest m;
	char err[256] = "";

	assert_int_equal(backup_manifest_parse(text, strlen(text), &m, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("'%s' refused with '%s', wanted '%s'", text, err, want);
}

/* Replaces the first "from" in the sample's JSON by "to". */
static void refuse_edit(const char *from, const char *to, const char *want)
{
	struct backup_manifest m;
	char *text, err[256], out[2048], *at;
	size_t len;

	sample(&m);
	assert_int_equal(backup_manifest_encode(&m, &text, &len, err, sizeof(err)), 0);
	at = strstr(text, from);
	assert_non_null(at);
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	free(text);
	refuse(out, want);
}

static void strict(void **state)
{
	(void)state;
	refuse("[]", "not a JSON object");
	refuse("{", "not JSON");
	refuse_edit("\"format\":\"osi-backup-v1\"", "\"format\":\"osi-export-v1\"", "this version reads");
	refuse_edit("\"kind\":\"incremental\"", "\"kind\":\"diff\"", "kind");
	refuse_edit("\"created\"", "\"extra\":1,\"created\"", "extra: unknown key");
	refuse_edit("\"node\":\"node-a\",", "", "node: missing");
	refuse_edit("\"parent\":\"20261203T120000Z\"", "\"parent\":\"\"", "parent");
	refuse_edit("\"parent\":\"20261203T120000Z\"", "\"parent\":\"20261205T120000Z\"", "parent");
	refuse_edit("\"kind\":\"incremental\"", "\"kind\":\"full\"", "parent");
	refuse_edit("\"id\":\"20261204T120000Z\"", "\"id\":\"2026-12-04\"", "id");
	refuse_edit("\"guest\":\"vault1\"", "\"guest\":\"../x\"", "guest");
	refuse_edit("osi-backup-20261204T120000Z", "osi-backup-other", "checkpoint");
	refuse_edit("\"disk\":\"archive\"", "\"disk\":\"Arch/1\"", "disk");
	refuse_edit("\"bytes\":393216", "\"bytes\":0", "above 0");
	refuse_edit("eeeeeeee", "EEEEEEEE", "sha256");
	refuse_edit("\"sha256\"", "\"mount\":\"/x\",\"sha256\"", "mount: unknown key");
	refuse_edit("\"volumes\":[{", "\"volumes\":[],\"x\":[{", "unknown key");
	refuse_edit("\"guest\":\"vault1\",", "\"guest\":\"vault1\",\"guest\":\"vault2\",", "not JSON");
}

static void ids(void **state)
{
	char id[BACKUP_ID_LEN + 1];

	(void)state;
	backup_id_format(1796385600, id);
	assert_string_equal(id, "20261204T120000Z");
	assert_true(backup_id_valid(id));
	assert_false(backup_id_valid("20261204T120000"));
	assert_false(backup_id_valid("2026120xT120000Z"));
	assert_false(backup_id_valid("20261204 120000Z"));
	assert_false(backup_id_valid("../../etc/passwdZ"));
}

static void signature(void **state)
{
	struct backup_manifest m;
	struct export_sig s;
	struct identity id;
	char *text, *sig, err[256];
	size_t len, slen;

	(void)state;
	memset(&id, 0, sizeof(id));
	strcpy(id.name, "node-a");
	crypto_sign_keypair(id.sign_pk, id.sign_sk);
	sample(&m);
	assert_int_equal(backup_manifest_encode(&m, &text, &len, err, sizeof(err)), 0);
	assert_int_equal(backup_sign(&id, text, len, &sig, &slen), 0);
	assert_int_equal(backup_sig_parse(sig, slen, &s, err, sizeof(err)), 0);
	assert_string_equal(s.signer, "node-a");
	assert_true(backup_sig_valid(&s, text, len));
	text[len / 2] ^= 1;
	assert_false(backup_sig_valid(&s, text, len));
	text[len / 2] ^= 1;
	/* neither an export's signature reader nor its check takes it */
	assert_int_not_equal(export_sig_parse(sig, slen, &s, err, sizeof(err)), 0);
	assert_int_equal(backup_sig_parse(sig, slen, &s, err, sizeof(err)), 0);
	assert_false(export_sig_valid(&s, text, len));
	free(sig);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(strict),
		cmocka_unit_test(ids),
		cmocka_unit_test(signature),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
