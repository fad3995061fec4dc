/* The keys an encrypted backup's copy carries (lib/backup-keys.h): the
 * signed carried form round trip, a byte changed anywhere refused, the
 * strict parser, the match against the chain's manifests, and the reseal
 * to the receiving node's seal key (only by their recipient). */
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

#include "lib/backup-keys.h"

#define SUM_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SUM_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void member(struct identity *id, const char *name)
{
	memset(id, 0, sizeof(*id));
	strcpy(id->name, name);
	crypto_sign_keypair(id->sign_pk, id->sign_sk);
}

/* vault1's chain ending at I1 (full F1), its archive's key sealed to to. */
static void carried(struct backup_keys *k, const struct identity *from, const struct identity *to,
		    const uint8_t key[KEY_SEAL_KEY_BYTES])
{
	memset(k, 0, sizeof(*k));
	strcpy(k->backup, "20261202T000000Z");
	strcpy(k->guest, "vault1");
	strcpy(k->instance_id, "i-1");
	strcpy(k->node, from->name);
	strcpy(k->recipient, to->name);
	key_seal_id(to->sign_pk, k->key_id);
	k->nvol = 1;
	strcpy(k->vol[0].disk, "archive");
	strcpy(k->vol[0].sha256, SUM_A);
	assert_int_equal(key_seal_ed25519(to->sign_pk, key, k->vol[0].sealed), 0);
}

static void chain(struct backup_manifest *top, struct backup_manifest *full)
{
	memset(full, 0, sizeof(*full));
	strcpy(full->id, "20261201T000000Z");
	strcpy(full->guest, "vault1");
	strcpy(full->instance_id, "i-1");
	full->nvol = 1;
	strcpy(full->vol[0].disk, "archive");
	strcpy(full->vol[0].sha256, SUM_A);
	*top = *full;
	strcpy(top->id, "20261202T000000Z");
	strcpy(top->vol[0].sha256, SUM_B);
}

static void test_signed_round_trip(void **state)
{
	struct identity a, b;
	uint8_t key[KEY_SEAL_KEY_BYTES];
	struct backup_keys k, back;
	struct export_sig s;
	char err[256], hex[2 * KEY_SEAL_KEY_BYTES + 1], *text;
	size_t len;

	(void)state;
	member(&a, "laptop-a");
	member(&b, "cloud");
	randombytes_buf(key, sizeof(key));
	carried(&k, &a, &b, key);
	assert_int_equal(backup_keys_sign(&a, &k, &text, &len, err, sizeof(err)), 0);
	sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
	assert_null(strstr(text, hex)); /* never in clear */
	assert_int_equal(backup_keys_verify(text, len, &back, &s, err, sizeof(err)), 0);
	assert_string_equal(s.signer, "laptop-a");
	assert_memory_equal(s.key, a.sign_pk, sizeof(s.key));
	assert_false(back.local);
	assert_string_equal(back.recipient, "cloud");
	assert_memory_equal(back.vol[0].sealed, k.vol[0].sealed, KEY_SEAL_BYTES);
	/* any byte of it changed: refused */
	for (size_t i = 0; i < len; i++) {
		char *t = malloc(len);

		memcpy(t, text, len);
		t[i] ^= 0x01;
		assert_int_not_equal(backup_keys_verify(t, len, &back, &s, err, sizeof(err)), 0);
		free(t);
	}
	assert_int_not_equal(backup_keys_verify(text, len - 1, &back, &s, err, sizeof(err)), 0);
	free(text);
}

static void test_signer_is_node(void **state)
{
	struct identity a, b, c;
	uint8_t key[KEY_SEAL_KEY_BYTES] = { 1 };
	struct backup_keys k, back;
	struct export_sig s;
	char err[256], *text;
	size_t len;

	(void)state;
	member(&a, "laptop-a");
	member(&b, "cloud");
	member(&c, "other");
	carried(&k, &a, &b, key);
	assert_int_equal(backup_keys_sign(&c, &k, &text, &len, err, sizeof(err)), 0);
	assert_int_equal(backup_keys_verify(text, len, &back, &s, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "not their node"));
	free(text);
}

static void test_strict(void **state)
{
	struct backup_keys k;
	char err[256];
	const char *bad[] = {
		"{}",
		"{\"format\":\"osi-backup-keys-v9\",\"backup\":\"20261202T000000Z\",\"guest\":\"vault1\","
		"\"instance_id\":\"i-1\",\"volumes\":[]}",
		/* the kept form with a field only the carried one has */
		"{\"format\":\"osi-backup-keys-local-v1\",\"backup\":\"20261202T000000Z\",\"guest\":\"vault1\","
		"\"instance_id\":\"i-1\",\"node\":\"a\",\"volumes\":[]}",
		/* no volume */
		"{\"format\":\"osi-backup-keys-local-v1\",\"backup\":\"20261202T000000Z\",\"guest\":\"vault1\","
		"\"instance_id\":\"i-1\",\"volumes\":[]}",
		/* a sealed blob of the wrong length */
		"{\"format\":\"osi-backup-keys-local-v1\",\"backup\":\"20261202T000000Z\",\"guest\":\"vault1\","
		"\"instance_id\":\"i-1\",\"volumes\":[{\"disk\":\"archive\",\"sha256\":\"" SUM_A "\","
		"\"sealed\":\"AAAA\"}]}",
		/* a duplicate key */
		"{\"format\":\"osi-backup-keys-local-v1\",\"format\":\"osi-backup-keys-local-v1\"}",
		"not json",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(backup_keys_parse(bad[i], strlen(bad[i]), &k, err, sizeof(err)), -EINVAL);
}

static void test_match(void **state)
{
	struct identity a, b;
	uint8_t key[KEY_SEAL_KEY_BYTES] = { 2 };
	struct backup_manifest top, full;
	struct backup_keys k;
	char err[256];

	(void)state;
	member(&a, "laptop-a");
	member(&b, "cloud");
	chain(&top, &full);
	carried(&k, &a, &b, key);
	assert_int_equal(backup_keys_match(&k, &top, &full, err, sizeof(err)), 0);
	strcpy(k.vol[0].sha256, SUM_B); /* the key of another file */
	assert_int_equal(backup_keys_match(&k, &top, &full, err, sizeof(err)), -EBADMSG);
	carried(&k, &a, &b, key);
	strcpy(k.backup, "20261203T000000Z"); /* for another chain */
	assert_int_equal(backup_keys_match(&k, &top, &full, err, sizeof(err)), -EBADMSG);
	carried(&k, &a, &b, key);
	strcpy(k.instance_id, "i-2");
	assert_int_equal(backup_keys_match(&k, &top, &full, err, sizeof(err)), -EBADMSG);
	carried(&k, &a, &b, key);
	strcpy(k.vol[0].disk, "repos");
	assert_int_equal(backup_keys_match(&k, &top, &full, err, sizeof(err)), -EBADMSG);
	/* the kept form names the full */
	carried(&k, &a, &b, key);
	k.local = true;
	assert_int_equal(backup_keys_match(&k, &top, &full, err, sizeof(err)), -EBADMSG);
	strcpy(k.backup, full.id);
	assert_int_equal(backup_keys_match(&k, &top, &full, err, sizeof(err)), 0);
}

static void test_reseal(void **state)
{
	struct identity a, b, c;
	uint8_t key[KEY_SEAL_KEY_BYTES], back[KEY_SEAL_KEY_BYTES], pk[32], sk[32];
	struct backup_keys k, kept, again;
	char err[256], *text;
	size_t len;

	(void)state;
	member(&a, "laptop-a");
	member(&b, "cloud");
	member(&c, "other");
	crypto_box_keypair(pk, sk);
	randombytes_buf(key, sizeof(key));
	carried(&k, &a, &b, key);
	assert_int_equal(backup_keys_reseal(&k, "20261201T000000Z", &c, pk, &kept, err, sizeof(err)), -EPERM);
	strcpy(c.name, "cloud"); /* the name, not the key */
	assert_int_equal(backup_keys_reseal(&k, "20261201T000000Z", &c, pk, &kept, err, sizeof(err)), -EPERM);
	assert_int_equal(backup_keys_reseal(&k, "20261201T000000Z", &b, pk, &kept, err, sizeof(err)), 0);
	assert_true(kept.local);
	assert_string_equal(kept.backup, "20261201T000000Z");
	assert_int_equal(crypto_box_seal_open(back, kept.vol[0].sealed, KEY_SEAL_BYTES, pk, sk), 0);
	assert_memory_equal(back, key, sizeof(key));
	assert_int_equal(backup_keys_encode(&kept, &text, &len, err, sizeof(err)), 0);
	assert_non_null(strstr(text, BACKUP_KEYS_LOCAL_FORMAT));
	assert_null(strstr(text, "cloud"));
	assert_int_equal(backup_keys_parse(text, len, &again, err, sizeof(err)), 0);
	assert_true(again.local);
	assert_memory_equal(again.vol[0].sealed, kept.vol[0].sealed, KEY_SEAL_BYTES);
	assert_int_equal(backup_keys_find(&again, "archive"), 0);
	assert_int_equal(backup_keys_find(&again, "repos"), -1);
	free(text);
	/* a kept key opens with the seal key only, for its volume only */
	assert_int_equal(backup_keys_kept_open(&again, "archive", pk, sk, back), 0);
	assert_memory_equal(back, key, sizeof(key));
	assert_int_equal(backup_keys_kept_open(&again, "repos", pk, sk, back), -ENOENT);
	assert_int_equal(backup_keys_kept_open(&k, "archive", pk, sk, back), -EINVAL);
	crypto_box_keypair(pk, sk);
	assert_int_equal(backup_keys_kept_open(&again, "archive", pk, sk, back), -EPERM);
	/* the kept form is neither signed nor taken as carried */
	assert_int_equal(backup_keys_sign(&b, &kept, &text, &len, err, sizeof(err)) < 0, 1);
	free(text);
}

/* A key is added for a disk with none kept; one kept is never replaced. */
static void test_add(void **state)
{
	struct backup_keys k;
	struct backup_key v;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	strcpy(v.disk, "archive");
	v.sealed[0] = 1;
	assert_int_equal(backup_keys_add(&k, &v), 0);
	v.sealed[0] = 2;
	assert_int_equal(backup_keys_add(&k, &v), -EEXIST);
	assert_int_equal(k.nvol, 1);
	assert_int_equal(k.vol[0].sealed[0], 1);
	for (unsigned i = 1; i < EXPORT_VOLUMES_MAX; i++) {
		snprintf(v.disk, sizeof(v.disk), "d%u", i);
		assert_int_equal(backup_keys_add(&k, &v), 0);
	}
	strcpy(v.disk, "more");
	assert_int_equal(backup_keys_add(&k, &v), -ENOSPC);
	assert_int_equal(k.nvol, EXPORT_VOLUMES_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signed_round_trip),
		cmocka_unit_test(test_signer_is_node),
		cmocka_unit_test(test_strict),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_reseal),
		cmocka_unit_test(test_add),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
