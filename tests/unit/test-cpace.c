#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "genesis/cpace.h"

/* Copy of cpace-ristretto255-sha512-vectors.json (draft-irtf-cfrg-cpace,
 * "Test vector for CPace using group ristretto255 and hash SHA-512"). */
static const struct { const char *name, *hex; } V[] = {
	{ "PRS", "50617373776F7264" },
	{ "CI", "0B415F696E69746961746F720B425F726573706F6E646572" },
	{ "sid", "7E4B4791D6A8EF019B936C79FB7F2C57" },
	{ "g", "222B6B195FE84B1652BADB6F6A3AE3D24341E7306967F0B8115B40D5698C7E56" },
	{ "ya", "DA3D23700A9E5699258AEF94DC060DFDA5EBB61F02A5EA77FAD53F4FF0976D08" },
	{ "ADa", "414461" },
	{ "Ya", "D6BAC480F2C386C394EFC7C47ADB9925DCD2630B64F240C50F8D0EEC482B9157" },
	{ "yb", "D2316B454718C35362D83D69DF6320F38578ED5984651435E2949762D900B80D" },
	{ "ADb", "414462" },
	{ "Yb", "3EA7E0B19560D7C0B0F5734F63B955286DFA8232B5EBE63324E2D9E7433F7258" },
	{ "K", "80B69A8A76457AB6A4D7F887A4BF6B55A2F80AC19C333F917A05FC9887C8B40F" },
	{ "ISK_IR", "B69EFFBF61B51D56401C0F65601ABE428DE8206FEAAF0E32198896DCAE7B35CD"
		    "2B38950A39DFD5D4A79164614C2984F7DAA460B588C1E80C3FA2068AF7900447" },
	{ "ISK_SY", "544199D71F62F8D9A1FEE55727E24FE4A45844593C2B6013C4FA3969D0E5DEBB"
		    "2244675C0B43397CBB68D342B01FC0F98FC961469A25134DE9F0F813C1A57476" },
	{ "sid_output_ir", "BB1C449B35F0EA79A65C209F329A693D475E0CE2387BED9FE4B78F60B2A27C21"
			   "9813FB2CFE175EF40D2222D9261E66DA7D78F7C55A303B1B8611DCDFAB880C47" },
	{ "sid_output_oc", "10D5941D4933497FE31B9188D690B84465E2A2D158332A7267284A071A8D0876"
			   "FC5C8C329DC735D59A9F8EF6623EE23924704A2F929DD631CA981227EE82FFF2" },
	{ "s", "7CD0E075FA7955BA52C02759A6C90DBBFC10E6D40AEA8D283E407D88CF538A05" },
	{ "X", "2C3C6B8C4F3800E7AEF6864025B4ED79BD599117E427C41BD47D93D654B4A51C" },
	{ "G.scalar_mult(s,decode(X))", "7C13645FE790A468F62C39BEB7388E541D8405D1ADE69D1778C5FE3E7F6B600E" },
	{ "G.scalar_mult_vfy(s,X)", "7C13645FE790A468F62C39BEB7388E541D8405D1ADE69D1778C5FE3E7F6B600E" },
	{ "Invalid Y1", "2B3C6B8C4F3800E7AEF6864025B4ED79BD599117E427C41BD47D93D654B4A51C" },
	{ "Invalid Y2", "0000000000000000000000000000000000000000000000000000000000000000" },
};

struct bytes {
	uint8_t b[256];
	size_t len;
};

static struct bytes unhex(const char *hex)
{
	struct bytes r = { 0 };

	assert_int_equal(sodium_hex2bin(r.b, sizeof(r.b), hex, strlen(hex), " \n", &r.len, NULL), 0);
	return r;
}

static struct bytes vec(const char *name)
{
	for (size_t i = 0; i < sizeof(V) / sizeof(V[0]); ++i)
		if (!strcmp(V[i].name, name))
			return unhex(V[i].hex);
	fail_msg("no vector %s", name);
	return (struct bytes){ 0 };
}

#define assert_bytes(got, got_len, want) do {						\
	struct bytes w_ = (want);							\
	assert_int_equal((got_len), w_.len);						\
	assert_memory_equal((got), w_.b, w_.len);					\
} while (0)

#define S(str) ((struct cpace_str){ (const uint8_t *)(str), sizeof(str) - 1 })

/* The embedded copy must be the official file, when the file is at hand. */
static void test_json_matches_embedded(void **state)
{
	const char *dir = getenv("OSI_REFERENCE");
	const char *groups[] = { "G_Ristretto255_SHA512", "G_Ristretto255_points" };
	char path[4096];
	json_t *root;
	size_t seen = 0;

	if (!dir)
		skip();
	snprintf(path, sizeof(path), "%s/cpace-ristretto255-sha512-vectors.json", dir);
	root = json_load_file(path, 0, NULL);
	if (!root)
		skip();
	for (size_t i = 0; i < sizeof(V) / sizeof(V[0]); ++i) {
		json_t *v = NULL;

		for (size_t j = 0; j < 2 && !v; ++j) {
			json_t *grp = json_object_get(root, groups[j]);

			v = json_object_get(grp, V[i].name);
			if (!v)
				v = json_object_get(json_object_get(grp, "Valid"), V[i].name);
		}
		assert_non_null(v);
		assert_string_equal(json_string_value(v), V[i].hex);
		++seen;
	}
	assert_int_equal(seen, 21);
	json_decref(root);
}

/* "prepend_len test vectors", plus multi-byte LEB128 lengths. */
static void test_prepend_len(void **state)
{
	static uint8_t data[20000], out[20010];
	struct { size_t len; const char *prefix; } t[] = {
		{ 0, "00" }, { 127, "7f" }, { 128, "8001" }, { 300, "ac02" },
		{ 16383, "ff7f" }, { 16384, "808001" },
	};

	for (size_t i = 0; i < sizeof(data); ++i)
		data[i] = (uint8_t)i;
	assert_bytes(out, cpace_prepend_len(out, sizeof(out), (const uint8_t *)"1234", 4),
		     unhex("0431323334"));
	assert_bytes(out, cpace_prepend_len(out, sizeof(out), data, 127),
		     unhex("7f000102030405060708090a0b0c0d0e0f101112131415161718191a1b"
			   "1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738"
			   "393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455"
			   "565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172"
			   "737475767778797a7b7c7d7e"));
	assert_int_equal(cpace_prepend_len(out, sizeof(out), data, 128), 130);
	assert_memory_equal(out, "\x80\x01", 2);
	assert_memory_equal(out + 2, data, 128);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); ++i) {
		struct bytes p = unhex(t[i].prefix);

		assert_int_equal(cpace_prepend_len(out, sizeof(out), data, t[i].len), p.len + t[i].len);
		assert_memory_equal(out, p.b, p.len);
		assert_memory_equal(out + p.len, data, t[i].len);
	}
	/* snprintf-like: truncated output, full length returned */
	memset(out, 0xee, 4);
	assert_int_equal(cpace_prepend_len(out, 3, (const uint8_t *)"1234", 4), 5);
	assert_memory_equal(out, "\x04" "12\xee", 4);
	assert_int_equal(cpace_prepend_len(NULL, 0, NULL, 0), 1);
}

/* "Testvector for lv_cat()" */
static void test_lv_cat(void **state)
{
	struct cpace_str v[] = { S("1234"), S("5"), S(""), S("678") };
	uint8_t out[32];

	assert_bytes(out, cpace_lv_cat(out, sizeof(out), v, 4), unhex("043132333401350003363738"));
	assert_int_equal(cpace_lv_cat(out, sizeof(out), NULL, 0), 0);
}

/* "Test vectors transcript_ir function", "Test vectors for transcript_oc function" */
static void test_transcripts(void **state)
{
	uint8_t out[64], rev[64];
	size_t n;

	assert_bytes(out, cpace_transcript(out, sizeof(out), false, S("123"), S("PartyA"), S("234"), S("PartyB")),
		     unhex("03313233065061727479410332333406506172747942"));
	assert_bytes(out, cpace_transcript(out, sizeof(out), false, S("3456"), S("PartyA"), S("2345"), S("PartyB")),
		     unhex("043334353606506172747941043233343506506172747942"));
	assert_bytes(out, cpace_transcript(out, sizeof(out), true, S("123"), S("PartyA"), S("234"), S("PartyB")),
		     unhex("6f6303323334065061727479420331323306506172747941"));
	assert_bytes(out, cpace_transcript(out, sizeof(out), true, S("3456"), S("PartyA"), S("2345"), S("PartyB")),
		     unhex("6f63043334353606506172747941043233343506506172747942"));

	/* o_cat does not care which side is which; ties are broken past Y */
	n = cpace_transcript(out, sizeof(out), true, S("123"), S("PartyA"), S("123"), S("PartyB"));
	assert_int_equal(cpace_transcript(rev, sizeof(rev), true, S("123"), S("PartyB"), S("123"), S("PartyA")), n);
	assert_memory_equal(out, rev, n);
	assert_memory_equal(out, "oc\x03" "123\x06" "PartyB", 12);
	/* a longer AD is larger when it starts the same (its length byte differs) */
	n = cpace_transcript(out, sizeof(out), true, S("1"), S("AB"), S("1"), S("A"));
	assert_bytes(out, n, unhex("6f63 0131 024142 0131 0141"));
	n = cpace_transcript(out, sizeof(out), true, S("1"), S("A"), S("1"), S("AB"));
	assert_bytes(out, n, unhex("6f63 0131 024142 0131 0141"));
}

/* "Test vectors for calculate_generator with group ristretto255" */
static void test_generator(void **state)
{
	struct bytes prs = vec("PRS"), ci = vec("CI"), sid = vec("sid");
	uint8_t gs[256], h[64], g[32];
	size_t n;

	n = cpace_generator_string(gs, sizeof(gs), prs.b, prs.len, ci.b, ci.len, sid.b, sid.len);
	assert_bytes(gs, n, unhex("11435061636552697374726574746f3235350850617373776f726464"
				  "00000000000000000000000000000000000000000000000000000000"
				  "00000000000000000000000000000000000000000000000000000000"
				  "00000000000000000000000000000000000000000000000000000000"
				  "00000000000000000000000000000000180b415f696e69746961746f"
				  "720b425f726573706f6e646572107e4b4791d6a8ef019b936c79fb7f"
				  "2c57"));
	crypto_hash_sha512(h, gs, n);
	assert_bytes(h, sizeof(h), unhex("da6d3ddc8802fca9058755ffd3ebde08a9c2c74945901a258482a288"
					 "b6663af06bf645c93cd1c51512307199c80e84908916d983b34af772"
					 "05f90851a657ee27"));
	assert_int_equal(cpace_calculate_generator(g, prs.b, prs.len, ci.b, ci.len, sid.b, sid.len), 0);
	assert_bytes(g, sizeof(g), vec("g"));

	/* len_zpad = max(0, 128 - 1 - len(prepend_len(PRS)) - len(prepend_len(DSI))) */
	memset(gs, 'p', 200);
	for (size_t len = 100; len <= 200; ++len) {
		uint8_t out[300];
		size_t zpad = len < 108 ? 108 - len : 0, lv_prs = len + (len < 128 ? 1 : 2);

		n = cpace_generator_string(out, sizeof(out), gs, len, NULL, 0, NULL, 0);
		assert_int_equal(n, 18 + lv_prs + 1 + zpad + 2);
		assert_int_equal(out[18 + lv_prs], zpad);
		if (zpad)
			assert_int_equal(18 + lv_prs + 1 + zpad, 128);
	}
}

struct pair {
	struct cpace_ctx a, b;
	uint8_t isk_a[CPACE_ISK_BYTES], isk_b[CPACE_ISK_BYTES];
};

static void vector_pair(struct pair *p, enum cpace_role ra, enum cpace_role rb)
{
	struct bytes prs = vec("PRS"), ci = vec("CI"), sid = vec("sid");
	struct bytes ya = vec("ya"), yb = vec("yb"), ada = vec("ADa"), adb = vec("ADb");

	assert_int_equal(cpace_init_with_scalar(&p->a, ra, ya.b, prs.b, prs.len, ci.b, ci.len,
						sid.b, sid.len, ada.b, ada.len), 0);
	assert_int_equal(cpace_init_with_scalar(&p->b, rb, yb.b, prs.b, prs.len, ci.b, ci.len,
						sid.b, sid.len, adb.b, adb.len), 0);
	assert_bytes(cpace_share(&p->a), 32, vec("Ya"));
	assert_bytes(cpace_share(&p->b), 32, vec("Yb"));
}

static void finish_pair(struct pair *p, const uint8_t *ad_a, size_t ad_a_len,
			const uint8_t *ad_b, size_t ad_b_len)
{
	uint8_t Ya[32], Yb[32];

	memcpy(Ya, cpace_share(&p->a), 32);
	memcpy(Yb, cpace_share(&p->b), 32);
	assert_int_equal(cpace_finish(&p->a, Yb, ad_b, ad_b_len, p->isk_a), 0);
	assert_int_equal(cpace_finish(&p->b, Ya, ad_a, ad_a_len, p->isk_b), 0);
}

static void wipe_pair(struct pair *p)
{
	cpace_wipe(&p->a);
	cpace_wipe(&p->b);
}

/* Test vector for secret points K: both directions of scalar_mult_vfy. */
static void test_vector_K(void **state)
{
	struct bytes ya = vec("ya"), yb = vec("yb"), Ya = vec("Ya"), Yb = vec("Yb");
	uint8_t K[32];

	assert_int_equal(cpace_scalar_mult_vfy(K, ya.b, Yb.b), 0);
	assert_bytes(K, 32, vec("K"));
	assert_int_equal(cpace_scalar_mult_vfy(K, yb.b, Ya.b), 0);
	assert_bytes(K, 32, vec("K"));
}

/* The draft's mac_key and tag, derived here independently from ISK. */
static void expected_tag(uint8_t tag[64], const uint8_t isk[64], const uint8_t Y[32],
			 const struct bytes *ad)
{
	crypto_hash_sha512_state h;
	crypto_auth_hmacsha512_state m;
	struct bytes sid = vec("sid");
	uint8_t key[64], len = (uint8_t)ad->len;

	crypto_hash_sha512_init(&h);
	crypto_hash_sha512_update(&h, (const uint8_t *)"CPaceMac", 8);
	crypto_hash_sha512_update(&h, sid.b, sid.len);
	crypto_hash_sha512_update(&h, isk, 64);
	crypto_hash_sha512_final(&h, key);
	crypto_auth_hmacsha512_init(&m, key, sizeof(key));
	crypto_auth_hmacsha512_update(&m, (const uint8_t *)"\x20", 1);
	crypto_auth_hmacsha512_update(&m, Y, 32);
	crypto_auth_hmacsha512_update(&m, &len, 1);
	crypto_auth_hmacsha512_update(&m, ad->b, ad->len);
	crypto_auth_hmacsha512_final(&m, tag);
}

/* ISK calculation initiator/responder, sid_output_ir, key confirmation. */
static void test_vector_ir(void **state)
{
	struct bytes ada = vec("ADa"), adb = vec("ADb");
	struct pair p;
	uint8_t t[64];

	vector_pair(&p, CPACE_INITIATOR, CPACE_RESPONDER);
	finish_pair(&p, ada.b, ada.len, adb.b, adb.len);
	assert_bytes(p.isk_a, 64, vec("ISK_IR"));
	assert_bytes(p.isk_b, 64, vec("ISK_IR"));
	assert_bytes(cpace_sid_output(&p.a), 64, vec("sid_output_ir"));
	assert_bytes(cpace_sid_output(&p.b), 64, vec("sid_output_ir"));

	expected_tag(t, p.isk_a, vec("Ya").b, &ada);
	assert_memory_equal(cpace_confirm_tag(&p.a), t, 64);
	expected_tag(t, p.isk_a, vec("Yb").b, &adb);
	assert_memory_equal(cpace_confirm_tag(&p.b), t, 64);
	assert_int_equal(cpace_confirm_verify(&p.a, cpace_confirm_tag(&p.b)), 0);
	assert_int_equal(cpace_confirm_verify(&p.b, cpace_confirm_tag(&p.a)), 0);
	/* a tag reflected back to its sender does not verify */
	assert_int_equal(cpace_confirm_verify(&p.a, cpace_confirm_tag(&p.a)), -EBADMSG);
	wipe_pair(&p);
	assert_null(cpace_sid_output(&p.a));
	assert_null(cpace_confirm_tag(&p.a));
}

/* ISK calculation parallel execution (transcript_oc) and sid_output_oc. */
static void test_vector_symmetric(void **state)
{
	struct bytes ada = vec("ADa"), adb = vec("ADb");
	struct pair p;

	vector_pair(&p, CPACE_SYMMETRIC, CPACE_SYMMETRIC);
	finish_pair(&p, ada.b, ada.len, adb.b, adb.len);
	assert_bytes(p.isk_a, 64, vec("ISK_SY"));
	assert_bytes(p.isk_b, 64, vec("ISK_SY"));
	assert_bytes(cpace_sid_output(&p.a), 64, vec("sid_output_oc"));
	assert_bytes(cpace_sid_output(&p.b), 64, vec("sid_output_oc"));
	assert_int_equal(cpace_confirm_verify(&p.a, cpace_confirm_tag(&p.b)), 0);
	assert_int_equal(cpace_confirm_verify(&p.b, cpace_confirm_tag(&p.a)), 0);
	wipe_pair(&p);
}

/* "Test case for scalar_mult with valid inputs", "Invalid inputs for scalar_mult_vfy" */
static void test_points(void **state)
{
	struct bytes s = vec("s"), X = vec("X"), y1 = vec("Invalid Y1"), y2 = vec("Invalid Y2");
	uint8_t out[32], zero[32] = { 0 };

	assert_int_equal(crypto_scalarmult_ristretto255(out, s.b, X.b), 0);
	assert_bytes(out, 32, vec("G.scalar_mult(s,decode(X))"));
	assert_int_equal(cpace_scalar_mult_vfy(out, s.b, X.b), 0);
	assert_bytes(out, 32, vec("G.scalar_mult_vfy(s,X)"));

	memset(out, 0xaa, sizeof(out));
	assert_int_equal(cpace_scalar_mult_vfy(out, s.b, y1.b), -EINVAL);
	assert_memory_equal(out, zero, 32);
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(cpace_scalar_mult_vfy(out, s.b, y2.b), -EINVAL);
	assert_memory_equal(out, zero, 32);
}

/* "Implementation verification": invalid points in a protocol run abort it. */
static void test_invalid_peer_share(void **state)
{
	const char *bad[] = { "Invalid Y1", "Invalid Y2" };
	struct bytes adb = vec("ADb");
	uint8_t isk[64], zero[64] = { 0 };

	for (size_t i = 0; i < 2; ++i) {
		struct pair p;

		vector_pair(&p, CPACE_INITIATOR, CPACE_RESPONDER);
		memset(isk, 0xaa, sizeof(isk));
		assert_int_equal(cpace_finish(&p.a, vec(bad[i]).b, adb.b, adb.len, isk), -EINVAL);
		assert_memory_equal(isk, zero, 64);
		assert_null(cpace_share(&p.a));
		assert_null(cpace_confirm_tag(&p.a));
		assert_int_equal(cpace_confirm_verify(&p.a, zero), -EINVAL);
		wipe_pair(&p);
	}
}

static void random_pair(struct pair *p, enum cpace_role ra, enum cpace_role rb,
			const char *pw_a, const char *pw_b)
{
	assert_int_equal(cpace_init(&p->a, ra, (const uint8_t *)pw_a, strlen(pw_a),
				    (const uint8_t *)"ci", 2, (const uint8_t *)"sid", 3,
				    (const uint8_t *)"node", 4), 0);
	assert_int_equal(cpace_init(&p->b, rb, (const uint8_t *)pw_b, strlen(pw_b),
				    (const uint8_t *)"ci", 2, (const uint8_t *)"sid", 3,
				    (const uint8_t *)"fleet", 5), 0);
}

static void test_random_run(void **state)
{
	enum cpace_role roles[][2] = {
		{ CPACE_INITIATOR, CPACE_RESPONDER }, { CPACE_SYMMETRIC, CPACE_SYMMETRIC },
	};

	for (size_t i = 0; i < 2; ++i) {
		struct pair p;

		random_pair(&p, roles[i][0], roles[i][1], "correct horse", "correct horse");
		finish_pair(&p, (const uint8_t *)"node", 4, (const uint8_t *)"fleet", 5);
		assert_memory_equal(p.isk_a, p.isk_b, 64);
		assert_memory_equal(cpace_sid_output(&p.a), cpace_sid_output(&p.b), 64);
		assert_int_equal(cpace_confirm_verify(&p.a, cpace_confirm_tag(&p.b)), 0);
		assert_int_equal(cpace_confirm_verify(&p.b, cpace_confirm_tag(&p.a)), 0);
		wipe_pair(&p);
	}
}

static void test_wrong_password(void **state)
{
	struct pair p;

	random_pair(&p, CPACE_INITIATOR, CPACE_RESPONDER, "correct horse", "correct hors3");
	finish_pair(&p, (const uint8_t *)"node", 4, (const uint8_t *)"fleet", 5);
	assert_memory_not_equal(p.isk_a, p.isk_b, 64);
	/* sid_output is public and password-independent */
	assert_memory_equal(cpace_sid_output(&p.a), cpace_sid_output(&p.b), 64);
	assert_int_equal(cpace_confirm_verify(&p.a, cpace_confirm_tag(&p.b)), -EBADMSG);
	assert_int_equal(cpace_confirm_verify(&p.b, cpace_confirm_tag(&p.a)), -EBADMSG);
	wipe_pair(&p);
}

/* Two initiators (or any role mismatch) hash different transcripts. */
static void test_role_mismatch(void **state)
{
	struct pair p;

	random_pair(&p, CPACE_INITIATOR, CPACE_INITIATOR, "pw", "pw");
	finish_pair(&p, (const uint8_t *)"node", 4, (const uint8_t *)"fleet", 5);
	assert_memory_not_equal(p.isk_a, p.isk_b, 64);
	assert_int_equal(cpace_confirm_verify(&p.a, cpace_confirm_tag(&p.b)), -EBADMSG);
	wipe_pair(&p);
}

/* Every single-bit change to B's share either fails to decode or breaks
 * confirmation; so does a changed AD. */
static void test_tampered_share(void **state)
{
	struct bytes ada = vec("ADa"), adb = vec("ADb");
	unsigned rejected = 0, unconfirmed = 0;

	for (unsigned bit = 0; bit < 256; ++bit) {
		struct pair p;
		uint8_t Yb[32];
		int ret;

		vector_pair(&p, CPACE_INITIATOR, CPACE_RESPONDER);
		memcpy(Yb, cpace_share(&p.b), 32);
		Yb[bit / 8] ^= 1u << (bit % 8);
		ret = cpace_finish(&p.a, Yb, adb.b, adb.len, p.isk_a);
		if (ret == -EINVAL) {
			++rejected;
		} else {
			assert_int_equal(ret, 0);
			assert_int_equal(cpace_finish(&p.b, vec("Ya").b, ada.b, ada.len, p.isk_b), 0);
			assert_memory_not_equal(p.isk_a, p.isk_b, 64);
			assert_int_equal(cpace_confirm_verify(&p.a, cpace_confirm_tag(&p.b)), -EBADMSG);
			assert_int_equal(cpace_confirm_verify(&p.b, cpace_confirm_tag(&p.a)), -EBADMSG);
			++unconfirmed;
		}
		wipe_pair(&p);
	}
	assert_int_equal(rejected + unconfirmed, 256);
	assert_true(rejected > 0);

	struct pair p;

	vector_pair(&p, CPACE_INITIATOR, CPACE_RESPONDER);
	finish_pair(&p, ada.b, ada.len, (const uint8_t *)"ADc", 3);
	assert_memory_not_equal(p.isk_a, p.isk_b, 64);
	assert_int_equal(cpace_confirm_verify(&p.b, cpace_confirm_tag(&p.a)), -EBADMSG);
	wipe_pair(&p);
}

/* Our own share sent back to us is refused. */
static void test_reflection(void **state)
{
	enum cpace_role roles[] = { CPACE_INITIATOR, CPACE_RESPONDER, CPACE_SYMMETRIC };
	struct bytes ada = vec("ADa");

	for (size_t i = 0; i < 3; ++i) {
		struct pair p;
		uint8_t Ya[32];

		vector_pair(&p, roles[i], CPACE_RESPONDER);
		memcpy(Ya, cpace_share(&p.a), 32);
		assert_int_equal(cpace_finish(&p.a, Ya, ada.b, ada.len, p.isk_a), -EINVAL);
		wipe_pair(&p);
	}
}

static void test_misuse(void **state)
{
	struct bytes ya = vec("ya"), prs = vec("PRS"), Yb = vec("Yb");
	uint8_t y[32], big[CPACE_AD_MAX + 1] = { 0 }, isk[64];
	struct cpace_ctx c;

	assert_int_equal(cpace_init(&c, 0, prs.b, prs.len, NULL, 0, NULL, 0, NULL, 0), -EINVAL);
	assert_int_equal(cpace_init(&c, 4, prs.b, prs.len, NULL, 0, NULL, 0, NULL, 0), -EINVAL);
	assert_int_equal(cpace_init(&c, CPACE_INITIATOR, NULL, 3, NULL, 0, NULL, 0, NULL, 0), -EINVAL);
	assert_int_equal(cpace_init(&c, CPACE_INITIATOR, prs.b, prs.len, NULL, 0,
				    big, CPACE_SID_MAX + 1, NULL, 0), -EMSGSIZE);
	assert_int_equal(cpace_init(&c, CPACE_INITIATOR, prs.b, prs.len, NULL, 0,
				    NULL, 0, big, CPACE_AD_MAX + 1), -EMSGSIZE);
	assert_null(cpace_share(&c));

	/* zero, the group order, and 2^255-1 are not acceptable scalars */
	memset(y, 0, 32);
	assert_int_equal(cpace_init_with_scalar(&c, CPACE_INITIATOR, y, prs.b, prs.len,
						NULL, 0, NULL, 0, NULL, 0), -EINVAL);
	memcpy(y, unhex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010").b, 32);
	assert_int_equal(cpace_init_with_scalar(&c, CPACE_INITIATOR, y, prs.b, prs.len,
						NULL, 0, NULL, 0, NULL, 0), -EINVAL);
	memset(y, 0xff, 32);
	y[31] = 0x7f;
	assert_int_equal(cpace_init_with_scalar(&c, CPACE_INITIATOR, y, prs.b, prs.len,
						NULL, 0, NULL, 0, NULL, 0), -EINVAL);
	assert_null(cpace_share(&c));

	/* empty inputs everywhere are allowed; a second finish is not */
	assert_int_equal(cpace_init_with_scalar(&c, CPACE_INITIATOR, ya.b, NULL, 0,
						NULL, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(cpace_confirm_verify(&c, isk), -EINVAL);
	assert_null(cpace_sid_output(&c));
	assert_int_equal(cpace_finish(&c, Yb.b, NULL, 0, isk), 0);
	assert_int_equal(cpace_finish(&c, Yb.b, NULL, 0, isk), -EINVAL);
	assert_null(cpace_share(&c));
	cpace_wipe(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_matches_embedded),
		cmocka_unit_test(test_prepend_len),
		cmocka_unit_test(test_lv_cat),
		cmocka_unit_test(test_transcripts),
		cmocka_unit_test(test_generator),
		cmocka_unit_test(test_vector_K),
		cmocka_unit_test(test_vector_ir),
		cmocka_unit_test(test_vector_symmetric),
		cmocka_unit_test(test_points),
		cmocka_unit_test(test_invalid_peer_share),
		cmocka_unit_test(test_random_run),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_role_mismatch),
		cmocka_unit_test(test_tampered_share),
		cmocka_unit_test(test_reflection),
		cmocka_unit_test(test_misuse),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
