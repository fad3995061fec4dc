#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "lib/ledger.h"
#include "tests/unit/ledger-check.h"
#include "tests/unit/fixture.h"

#define NET 0x0a4d0000u /* 10.77.0.0 */
#define ADDR(n) (NET + (n))

struct fixture {
	struct identity alpha;   /* founder: node, fleet, admin */
	struct identity bravo;   /* node */
	struct identity charlie; /* node, relay */
	struct identity delta;   /* not a member until a test admits it */
	struct ledger l;         /* genesis, admit bravo, admit charlie */
	char dir[64];
	char err[256];
};

/* ret must equal want, and the message must mention what. */
static void make_id(struct identity *id, const char *name)
{
	uint8_t seed[32];

	memset(id, 0, sizeof(*id));
	strcpy(id->name, name);
	crypto_generichash(seed, sizeof(seed), (const uint8_t *)name, strlen(name), NULL, 0);
	crypto_sign_seed_keypair(id->sign_pk, id->sign_sk, seed);
	seed[0] ^= 1;
	crypto_kx_seed_keypair(id->kx_pk, id->kx_sk, seed);
}

static void wg_key(uint8_t out[LEDGER_WG_KEY_BYTES], const char *name)
{
	crypto_generichash(out, LEDGER_WG_KEY_BYTES, (const uint8_t *)name, strlen(name),
			   (const uint8_t *)"wg-test-key-0000", 16);
}

static struct ledger_member record(const struct identity *id, uint32_t addr, unsigned roles,
				   const char *endpoint)
{
	struct ledger_member m;

	memset(&m, 0, sizeof(m));
	strcpy(m.name, id->name);
	memcpy(m.sign_pk, id->sign_pk, sizeof(m.sign_pk));
	memcpy(m.kx_pk, id->kx_pk, sizeof(m.kx_pk));
	wg_key(m.wg_pk, id->name);
	m.addr = addr;
	strcpy(m.endpoint, endpoint);
	m.roles = roles;
	return m;
}

static int admit(struct fixture *f, struct ledger *l, const struct identity *by,
		 const struct identity *who, unsigned roles)
{
	struct ledger_member m;
	uint32_t addr;
	int ret = ledger_next_address(l, &addr);

	if (ret < 0)
		return ret;
	m = record(who, addr, roles, "");
	return ledger_append_admit(l, by, &m, f->err, sizeof(f->err));
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t wg[LEDGER_WG_KEY_BYTES];
	struct ledger_member m;

	if (!f || sodium_init() < 0)
		return -1;
	make_id(&f->alpha, "alpha");
	make_id(&f->bravo, "bravo");
	make_id(&f->charlie, "charlie");
	make_id(&f->delta, "delta");
	ledger_init(&f->l);
	wg_key(wg, "alpha");
	if (ledger_genesis(&f->l, &f->alpha, NULL, NET, 16, wg, "alpha.example.org:51820",
			   LEDGER_FOUNDER_ROLES, f->err, sizeof(f->err)) < 0)
		return -1;
	if (admit(f, &f->l, &f->alpha, &f->bravo, LEDGER_ROLE_NODE) < 0)
		return -1;
	m = record(&f->charlie, ADDR(3), LEDGER_ROLE_NODE | LEDGER_ROLE_RELAY,
		   "[2001:db8::7]:51820");
	if (ledger_append_admit(&f->l, &f->alpha, &m, f->err, sizeof(f->err)) < 0)
		return -1;
	if (fixture_tmpdir(f->dir, sizeof(f->dir), "test-ledger"))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (fixture_rmtree(f->dir) != 0)
		return -1;
	ledger_free(&f->l);
	identity_wipe(&f->alpha);
	identity_wipe(&f->bravo);
	identity_wipe(&f->charlie);
	identity_wipe(&f->delta);
	free(f);
	return 0;
}

static void encode(const struct ledger *l, uint8_t **buf, size_t *len)
{
	assert_int_equal(ledger_encode(l, buf, len), 0);
}

/* A verified copy, through the byte encoding as a peer would send it. */
static void copy(struct fixture *f, const struct ledger *from, struct ledger *to)
{
	uint8_t *buf;
	size_t len;

	encode(from, &buf, &len);
	ledger_init(to);
	OK(f, ledger_parse(buf, len, to, f->err, sizeof(f->err)));
	OK(f, ledger_verify(to, f->err, sizeof(f->err)));
	free(buf);
}

/* An entry at the head of l, to be finished and signed by hand. */
static struct ledger_entry raw_entry(const struct ledger *l, enum ledger_kind kind,
				     const char *signer)
{
	struct ledger_entry e;

	memset(&e, 0, sizeof(e));
	e.kind = kind;
	e.index = (uint32_t)l->count;
	assert_int_equal(ledger_head_hash(l, e.prev), 0);
	e.timestamp = 1700000000;
	strcpy(e.signer, signer);
	return e;
}

/* Appends without any check, as a forger would. */
static void push_raw(struct ledger *l, const struct ledger_entry *e)
{
	if (l->count == l->cap) {
		l->cap = l->cap * 2 + 1;
		l->entries = realloc(l->entries, l->cap * sizeof(*l->entries));
		assert_non_null(l->entries);
	}
	l->entries[l->count++] = *e;
}

/* Re-parses the forged ledger and expects verification to fail. */
static void verify_fails(struct fixture *f, struct ledger *l, const char *what)
{
	struct ledger again;
	uint8_t *buf;
	size_t len;

	encode(l, &buf, &len);
	ledger_init(&again);
	OK(f, ledger_parse(buf, len, &again, f->err, sizeof(f->err)));
	refused(f, ledger_verify(&again, f->err, sizeof(f->err)), -EBADMSG, what);
	assert_false(ledger_verified(&again));
	refused(f, ledger_verify(l, f->err, sizeof(f->err)), -EBADMSG, what);
	ledger_free(&again);
	free(buf);
}

static void test_genesis_and_admits(void **state)
{
	struct fixture *f = *state;
	const struct ledger_member *m, *c;
	uint8_t head[LEDGER_HASH_BYTES];
	size_t n;

	assert_true(ledger_verified(&f->l));
	OK(f, ledger_verify(&f->l, f->err, sizeof(f->err)));
	assert_int_equal(f->l.count, 3);
	assert_int_equal(f->l.entries[0].kind, LEDGER_GENESIS);
	assert_int_equal(f->l.entries[0].prefix_addr, NET);
	assert_int_equal(f->l.entries[0].prefix_len, 16);
	assert_memory_equal(f->l.entries[0].prev, (uint8_t[LEDGER_HASH_BYTES]){ 0 },
			    LEDGER_HASH_BYTES);
	assert_int_equal(ledger_members(&f->l, &m, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(m[0].name, "alpha");
	assert_int_equal(m[0].addr, ADDR(1));
	assert_int_equal(m[0].roles, LEDGER_FOUNDER_ROLES);
	assert_string_equal(m[0].endpoint, "alpha.example.org:51820");
	assert_int_equal(m[1].addr, ADDR(2));
	assert_int_equal(m[1].roles, LEDGER_ROLE_NODE);
	assert_int_equal(m[1].admitted_at, 1);
	assert_memory_equal(m[1].sign_pk, f->bravo.sign_pk, SIGN_PK_BYTES);
	assert_memory_equal(m[1].kx_pk, f->bravo.kx_pk, KX_PK_BYTES);
	c = ledger_find(&f->l, "charlie");
	assert_non_null(c);
	assert_string_equal(c->endpoint, "[2001:db8::7]:51820");
	assert_false(c->revoked);
	assert_null(ledger_find(&f->l, "delta"));
	assert_null(ledger_find(&f->l, "Not-A-Name"));
	assert_ptr_equal(ledger_sequencer(&f->l), &m[0]);
	/* The head hash is what the next entry must point at. */
	OK(f, admit(f, &f->l, &f->alpha, &f->delta, LEDGER_ROLE_NODE));
	assert_int_equal(ledger_truncate(&f->l, 3), 0);
	assert_int_equal(ledger_head_hash(&f->l, head), 0);
	OK(f, admit(f, &f->l, &f->alpha, &f->delta, LEDGER_ROLE_NODE));
	assert_memory_equal(f->l.entries[3].prev, head, LEDGER_HASH_BYTES);
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	uint8_t *a, *b, ha[LEDGER_HASH_BYTES], hb[LEDGER_HASH_BYTES];
	size_t alen, blen;
	struct ledger back;
	char path[128];
	struct stat st;

	OK(f, ledger_append_grant(&f->l, &f->alpha, "bravo", LEDGER_ROLE_RELAY, f->err,
				  sizeof(f->err)));
	OK(f, ledger_append_revoke(&f->l, &f->alpha, "charlie", f->err, sizeof(f->err)));
	encode(&f->l, &a, &alen);
	assert_memory_equal(a, "OILG\x01\0\0\0\0\0\0\x05", LEDGER_HEADER_SIZE);
	ledger_init(&back);
	OK(f, ledger_parse(a, alen, &back, f->err, sizeof(f->err)));
	assert_false(ledger_verified(&back));
	assert_int_equal(ledger_next_address(&back, &(uint32_t){ 0 }), -EINVAL);
	OK(f, ledger_verify(&back, f->err, sizeof(f->err)));
	encode(&back, &b, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	assert_int_equal(ledger_head_hash(&f->l, ha), 0);
	assert_int_equal(ledger_head_hash(&back, hb), 0);
	assert_memory_equal(ha, hb, sizeof(ha));
	assert_int_equal(back.count, 5);
	assert_memory_equal(back.entries, f->l.entries, 5 * sizeof(back.entries[0]));
	ledger_free(&back);
	free(b);

	snprintf(path, sizeof(path), "%s/ledger", f->dir);
	assert_int_equal(ledger_save(path, &f->l), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	ledger_init(&back);
	OK(f, ledger_load(path, &back, f->err, sizeof(f->err)));
	assert_true(ledger_verified(&back));
	encode(&back, &b, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	/* Saving refuses an unverified ledger. */
	back.entries[1].timestamp++;
	OK(f, ledger_verify(&back, f->err, sizeof(f->err)) == -EBADMSG ? 0 : -1);
	assert_int_equal(ledger_save(path, &back), -EINVAL);
	ledger_free(&back);
	/* A damaged file fails to load. */
	a[alen - 1] ^= 0x01;
	{
		FILE *fp = fopen(path, "w");

		assert_non_null(fp);
		assert_int_equal(fwrite(a, 1, alen, fp), alen);
		fclose(fp);
	}
	refused(f, ledger_load(path, &back, f->err, sizeof(f->err)), -EBADMSG,
		"entry 4 (revoke): bad signature by 'alpha'");
	assert_int_equal(ledger_load("/nonexistent/ledger", &back, f->err, sizeof(f->err)), -ENOENT);
	ledger_free(&back);
	free(a);
	free(b);
}

/* Every bit of a ledger holding all four kinds is covered by the structure
 * or a signature: flipping any one fails parsing or verification. */
static void test_bit_flips(void **state)
{
	struct fixture *f = *state;
	struct ledger l;
	size_t len, parsed = 0;
	uint8_t *buf;

	OK(f, ledger_append_grant(&f->l, &f->alpha, "bravo", LEDGER_ROLE_ADMIN, f->err,
				  sizeof(f->err)));
	OK(f, ledger_append_revoke(&f->l, &f->bravo, "charlie", f->err, sizeof(f->err)));
	encode(&f->l, &buf, &len);
	ledger_init(&l);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			if (ledger_parse(buf, len, &l, f->err, sizeof(f->err)) == 0) {
				parsed++;
				if (ledger_verify(&l, f->err, sizeof(f->err)) != -EBADMSG)
					fail_msg("byte %zu bit %d: flipped ledger verifies", i, bit);
			}
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* Most flips parse (keys, hashes, signatures): verification did the work. */
	assert_true(parsed > len * 4);
	OK(f, ledger_parse(buf, len, &l, f->err, sizeof(f->err)));
	OK(f, ledger_verify(&l, f->err, sizeof(f->err)));
	ledger_free(&l);
	free(buf);
}

/* Where the first n entries of l end in its encoding. */
static size_t entry_end(const struct ledger *l, size_t n)
{
	struct ledger prefix = *l;
	uint8_t *buf;
	size_t len;

	prefix.count = n;
	assert_int_equal(ledger_encode(&prefix, &buf, &len), 0);
	free(buf);
	return len;
}

static void test_reordered(void **state)
{
	struct fixture *f = *state;
	struct ledger_entry tmp;
	struct ledger l;
	uint8_t *buf, *swapped;
	size_t len, g, e1, e2;

	/* Swapped in memory. */
	copy(f, &f->l, &l);
	tmp = l.entries[1];
	l.entries[1] = l.entries[2];
	l.entries[2] = tmp;
	verify_fails(f, &l, "entry 1 (admit): index 2 at position 1");
	/* Swapped with indexes fixed up: the signatures no longer hold. */
	l.entries[1].index = 1;
	l.entries[2].index = 2;
	verify_fails(f, &l, "entry 1 (admit): previous hash does not match entry 0");
	/* Genesis moved away from the front. */
	tmp = l.entries[0];
	l.entries[0] = l.entries[2];
	l.entries[2] = tmp;
	verify_fails(f, &l, "entry 0 (admit): index 2 at position 0");
	l.entries[0].index = 0;
	verify_fails(f, &l, "entry 0 (admit): the first entry is not genesis");
	ledger_free(&l);

	/* Swapped in the byte stream. */
	encode(&f->l, &buf, &len);
	swapped = malloc(len);
	assert_non_null(swapped);
	g = entry_end(&f->l, 1) - LEDGER_HEADER_SIZE;
	e1 = entry_end(&f->l, 2) - entry_end(&f->l, 1);
	e2 = len - entry_end(&f->l, 2);
	assert_int_not_equal(e1, e2);
	memcpy(swapped, buf, LEDGER_HEADER_SIZE + g);
	memcpy(swapped + LEDGER_HEADER_SIZE + g, buf + LEDGER_HEADER_SIZE + g + e1, e2);
	memcpy(swapped + LEDGER_HEADER_SIZE + g + e2, buf + LEDGER_HEADER_SIZE + g, e1);
	ledger_init(&l);
	OK(f, ledger_parse(swapped, len, &l, f->err, sizeof(f->err)));
	refused(f, ledger_verify(&l, f->err, sizeof(f->err)), -EBADMSG,
		"entry 1 (admit): index 2 at position 1");
	ledger_free(&l);
	free(swapped);
	free(buf);
}

static void test_truncated(void **state)
{
	struct fixture *f = *state;
	struct ledger l, full;
	uint8_t *buf, *cut;
	size_t len;

	/* Dropping whole entries leaves an older, valid ledger. */
	copy(f, &f->l, &l);
	assert_int_equal(ledger_truncate(&l, 2), 0);
	assert_int_equal(l.count, 2);
	assert_true(ledger_verified(&l));
	assert_null(ledger_find(&l, "charlie"));
	OK(f, ledger_verify(&l, f->err, sizeof(f->err)));
	assert_int_equal(ledger_truncate(&l, 0), -EINVAL);
	assert_int_equal(ledger_truncate(&l, 3), -EINVAL);
	/* Only a newer copy reveals the loss. */
	copy(f, &f->l, &full);
	assert_int_equal(ledger_extend(&l, &full, f->err, sizeof(f->err)), 1);
	assert_int_equal(l.count, 3);
	ledger_free(&full);
	ledger_free(&l);

	/* A cut byte stream never parses, not even at an entry boundary. */
	encode(&f->l, &buf, &len);
	ledger_init(&l);
	for (size_t n = 0; n < len; n++) {
		cut = malloc(n ? n : 1);
		assert_non_null(cut);
		memcpy(cut, buf, n);
		if (ledger_parse(cut, n, &l, f->err, sizeof(f->err)) != -EBADMSG)
			fail_msg("a ledger cut to %zu of %zu bytes parses", n, len);
		free(cut);
	}
	assert_int_equal(l.count, 0);
	/* Trailing bytes are refused too. */
	cut = malloc(len + 1);
	assert_non_null(cut);
	memcpy(cut, buf, len);
	cut[len] = 0;
	refused(f, ledger_parse(cut, len + 1, &l, f->err, sizeof(f->err)), -EBADMSG,
		"1 trailing bytes after entry 2");
	free(cut);
	free(buf);
}

static void test_non_admin_forgery(void **state)
{
	struct fixture *f = *state;
	struct ledger_member m = record(&f->delta, ADDR(9), LEDGER_ROLE_NODE, "");
	struct ledger_entry e;
	struct ledger l;

	refused(f, ledger_append_admit(&f->l, &f->bravo, &m, f->err, sizeof(f->err)), -EPERM,
		"signer 'bravo' is not an admin");
	refused(f, ledger_append_admit(&f->l, &f->delta, &m, f->err, sizeof(f->err)), -EPERM,
		"signer 'delta' is not a member");
	assert_int_equal(f->l.count, 3);
	OK(f, ledger_verify(&f->l, f->err, sizeof(f->err)));

	/* Signed properly by a member that lacks the authority. */
	copy(f, &f->l, &l);
	e = raw_entry(&l, LEDGER_ADMIT, "bravo");
	e.member = m;
	assert_int_equal(ledger_entry_sign(&e, &f->bravo), 0);
	push_raw(&l, &e);
	verify_fails(f, &l, "entry 3 (admit): signer 'bravo' is not an admin");
	ledger_free(&l);

	/* Claiming the admin's name without the admin's key. */
	copy(f, &f->l, &l);
	e = raw_entry(&l, LEDGER_GRANT, "alpha");
	strcpy(e.subject, "bravo");
	e.roles = LEDGER_ROLE_ADMIN;
	assert_int_equal(ledger_entry_sign(&e, &f->bravo), 0);
	push_raw(&l, &e);
	verify_fails(f, &l, "entry 3 (grant): bad signature by 'alpha'");
	ledger_free(&l);

	/* An identity whose key is not the ledger's for its name. */
	{
		struct identity fake;

		make_id(&fake, "mallory");
		strcpy(fake.name, "alpha");
		refused(f, ledger_append_admit(&f->l, &fake, &m, f->err, sizeof(f->err)), -EBADMSG,
			"not the one the ledger holds for 'alpha'");
		identity_wipe(&fake);
	}
}

static void test_revoked_signer(void **state)
{
	struct fixture *f = *state;
	struct ledger_member m;
	struct ledger_entry e;
	struct ledger l;

	OK(f, admit(f, &f->l, &f->alpha, &f->delta, LEDGER_ROLE_NODE | LEDGER_ROLE_ADMIN));
	OK(f, ledger_append_revoke(&f->l, &f->alpha, "delta", f->err, sizeof(f->err)));
	assert_true(ledger_find(&f->l, "delta")->revoked);
	assert_int_equal(ledger_find(&f->l, "delta")->revoked_at, 4);
	m = record(&f->bravo, ADDR(20), LEDGER_ROLE_NODE, "");
	strcpy(m.name, "echo");
	m.sign_pk[0] ^= 1;
	m.kx_pk[0] ^= 1;
	m.wg_pk[0] ^= 1;
	refused(f, ledger_append_admit(&f->l, &f->delta, &m, f->err, sizeof(f->err)), -EPERM,
		"signer 'delta' was revoked at entry 4");
	refused(f, ledger_append_revoke(&f->l, &f->alpha, "delta", f->err, sizeof(f->err)),
		-ENOENT, "'delta' was revoked at entry 4");
	refused(f, ledger_append_grant(&f->l, &f->alpha, "delta", LEDGER_ROLE_RELAY, f->err,
				       sizeof(f->err)), -ENOENT, "'delta' was revoked");

	copy(f, &f->l, &l);
	e = raw_entry(&l, LEDGER_ADMIT, "delta");
	e.member = m;
	assert_int_equal(ledger_entry_sign(&e, &f->delta), 0);
	push_raw(&l, &e);
	verify_fails(f, &l, "entry 5 (admit): signer 'delta' was revoked at entry 4");
	ledger_free(&l);
	/* Before its revocation the same signer was fine. */
	copy(f, &f->l, &l);
	assert_int_equal(ledger_truncate(&l, 4), 0);
	e = raw_entry(&l, LEDGER_ADMIT, "delta");
	e.member = m;
	assert_int_equal(ledger_entry_sign(&e, &f->delta), 0);
	push_raw(&l, &e);
	OK(f, ledger_verify(&l, f->err, sizeof(f->err)));
	ledger_free(&l);
}

static void test_duplicates(void **state)
{
	struct fixture *f = *state;
	struct ledger_member m = record(&f->delta, ADDR(2), LEDGER_ROLE_NODE, "");
	struct ledger_entry e;
	struct ledger l;

	refused(f, ledger_append_admit(&f->l, &f->alpha, &m, f->err, sizeof(f->err)), -EEXIST,
		"address 10.77.0.2 already belongs to 'bravo'");
	copy(f, &f->l, &l);
	e = raw_entry(&l, LEDGER_ADMIT, "alpha");
	e.member = m;
	assert_int_equal(ledger_entry_sign(&e, &f->alpha), 0);
	push_raw(&l, &e);
	verify_fails(f, &l, "entry 3 (admit): address 10.77.0.2 already belongs to 'bravo'");
	ledger_free(&l);
	/* In memory, bytes after a name's NUL do not make it another name. */
	copy(f, &f->l, &l);
	e = raw_entry(&l, LEDGER_ADMIT, "alpha");
	e.member = record(&f->delta, ADDR(9), LEDGER_ROLE_NODE, "");
	strcpy(e.member.name, "bravo");
	e.member.name[NODE_NAME_MAX] = 'x';
	assert_int_equal(ledger_entry_sign(&e, &f->alpha), 0);
	push_raw(&l, &e);
	refused(f, ledger_verify(&l, f->err, sizeof(f->err)), -EBADMSG,
		"entry 3 (admit): name 'bravo' was already admitted at entry 1");
	ledger_free(&l);

	/* A revoked member's address is never given again. */
	OK(f, ledger_append_revoke(&f->l, &f->alpha, "bravo", f->err, sizeof(f->err)));
	refused(f, ledger_append_admit(&f->l, &f->alpha, &m, f->err, sizeof(f->err)), -EEXIST,
		"address 10.77.0.2 already belongs to 'bravo'");
	/* Nor its name or keys. */
	m = record(&f->bravo, ADDR(9), LEDGER_ROLE_NODE, "");
	refused(f, ledger_append_admit(&f->l, &f->alpha, &m, f->err, sizeof(f->err)), -EEXIST,
		"name 'bravo' was already admitted at entry 1");
	strcpy(m.name, "bravo2");
	refused(f, ledger_append_admit(&f->l, &f->alpha, &m, f->err, sizeof(f->err)), -EEXIST,
		"Ed25519 key of 'bravo2' already belongs to 'bravo'");
	m = record(&f->delta, ADDR(9), LEDGER_ROLE_NODE, "");
	wg_key(m.wg_pk, "charlie");
	refused(f, ledger_append_admit(&f->l, &f->alpha, &m, f->err, sizeof(f->err)), -EEXIST,
		"WireGuard key of 'delta' already belongs to 'charlie'");
	memcpy(m.kx_pk, f->alpha.kx_pk, KX_PK_BYTES);
	wg_key(m.wg_pk, "delta");
	refused(f, ledger_append_admit(&f->l, &f->alpha, &m, f->err, sizeof(f->err)), -EEXIST,
		"X25519 key of 'delta' already belongs to 'alpha'");
	/* Outside the prefix, or its network or broadcast address. */
	m = record(&f->delta, 0x0a4e0001u, LEDGER_ROLE_NODE, "");
	refused(f, ledger_append_admit(&f->l, &f->alpha, &m, f->err, sizeof(f->err)), -EINVAL,
		"address 10.78.0.1 is not a host address");
	m.addr = NET;
	refused(f, ledger_append_admit(&f->l, &f->alpha, &m, f->err, sizeof(f->err)), -EINVAL,
		"10.77.0.0 is not");
	m.addr = NET | 0xffff;
	refused(f, ledger_append_admit(&f->l, &f->alpha, &m, f->err, sizeof(f->err)), -EINVAL,
		"10.77.255.255 is not");
	m.addr = NET | 0xfffe;
	OK(f, ledger_append_admit(&f->l, &f->alpha, &m, f->err, sizeof(f->err)));
	OK(f, ledger_verify(&f->l, f->err, sizeof(f->err)));
}

static void test_last_admin(void **state)
{
	struct fixture *f = *state;
	struct ledger_member m = record(&f->delta, ADDR(9), LEDGER_ROLE_NODE, "");

	refused(f, ledger_append_revoke(&f->l, &f->alpha, "alpha", f->err, sizeof(f->err)), -EPERM,
		"'alpha' is the last admin");
	refused(f, ledger_append_grant(&f->l, &f->alpha, "bravo", LEDGER_ROLE_NODE, f->err,
				       sizeof(f->err)), -EINVAL, "'bravo' already holds those roles");
	refused(f, ledger_append_grant(&f->l, &f->alpha, "bravo", 0x10, f->err, sizeof(f->err)),
		-EINVAL, "invalid roles");
	refused(f, ledger_append_grant(&f->l, &f->alpha, "zulu", LEDGER_ROLE_ADMIN, f->err,
				       sizeof(f->err)), -ENOENT, "no member named 'zulu'");
	OK(f, ledger_append_grant(&f->l, &f->alpha, "bravo", LEDGER_ROLE_ADMIN | LEDGER_ROLE_NODE,
				  f->err, sizeof(f->err)));
	assert_int_equal(ledger_find(&f->l, "bravo")->roles, LEDGER_ROLE_ADMIN | LEDGER_ROLE_NODE);
	/* The founder steps down by itself; then bravo is the last admin. */
	OK(f, ledger_append_revoke(&f->l, &f->alpha, "alpha", f->err, sizeof(f->err)));
	refused(f, ledger_append_revoke(&f->l, &f->bravo, "bravo", f->err, sizeof(f->err)), -EPERM,
		"'bravo' is the last admin");
	refused(f, ledger_append_admit(&f->l, &f->alpha, &m, f->err, sizeof(f->err)), -EPERM,
		"signer 'alpha' was revoked at entry 4");
	OK(f, ledger_append_admit(&f->l, &f->bravo, &m, f->err, sizeof(f->err)));
	/* No fleet member is live: the first live admin serializes. */
	assert_string_equal(ledger_sequencer(&f->l)->name, "bravo");
	OK(f, ledger_verify(&f->l, f->err, sizeof(f->err)));
}

/* Roles are taken away one entry at a time; the rules follow revoke's. */
static void test_ungrant(void **state)
{
	struct fixture *f = *state;
	struct ledger_entry e;
	struct ledger l;

	refused(f, ledger_append_ungrant(&f->l, &f->alpha, "bravo", LEDGER_ROLE_RELAY, f->err,
					 sizeof(f->err)), -EINVAL, "'bravo' does not hold relay");
	refused(f, ledger_append_ungrant(&f->l, &f->alpha, "bravo", LEDGER_ROLE_NODE, f->err,
					 sizeof(f->err)), -EINVAL, "'bravo' would hold no role");
	refused(f, ledger_append_ungrant(&f->l, &f->alpha, "alpha", LEDGER_ROLE_ADMIN, f->err,
					 sizeof(f->err)), -EPERM, "'alpha' is the last admin");
	refused(f, ledger_append_ungrant(&f->l, &f->alpha, "zulu", LEDGER_ROLE_NODE, f->err,
					 sizeof(f->err)), -ENOENT, "no member named 'zulu'");
	refused(f, ledger_append_ungrant(&f->l, &f->alpha, "charlie", 0, f->err,
					 sizeof(f->err)), -EINVAL, "invalid roles");
	refused(f, ledger_append_ungrant(&f->l, &f->alpha, "charlie", 0x10, f->err,
					 sizeof(f->err)), -EINVAL, "invalid roles");
	refused(f, ledger_append_ungrant(&f->l, &f->bravo, "charlie", LEDGER_ROLE_RELAY, f->err,
					 sizeof(f->err)), -EPERM, "signer 'bravo' is not an admin");
	assert_int_equal(f->l.count, 3);

	OK(f, ledger_append_ungrant(&f->l, &f->alpha, "charlie", LEDGER_ROLE_RELAY, f->err,
				    sizeof(f->err)));
	assert_int_equal(ledger_find(&f->l, "charlie")->roles, LEDGER_ROLE_NODE);
	/* Granted again, and taken again: every change is an entry. */
	OK(f, ledger_append_grant(&f->l, &f->alpha, "charlie", LEDGER_ROLE_RELAY, f->err,
				  sizeof(f->err)));
	OK(f, ledger_append_grant(&f->l, &f->alpha, "bravo", LEDGER_ROLE_ADMIN, f->err,
				  sizeof(f->err)));
	/* The new admin moves the fleet off the founder and demotes it. */
	OK(f, ledger_append_ungrant(&f->l, &f->bravo, "alpha", LEDGER_ROLE_FLEET, f->err,
				    sizeof(f->err)));
	assert_string_equal(ledger_sequencer(&f->l)->name, "alpha");
	OK(f, ledger_append_ungrant(&f->l, &f->bravo, "alpha", LEDGER_ROLE_ADMIN, f->err,
				    sizeof(f->err)));
	assert_int_equal(ledger_find(&f->l, "alpha")->roles, LEDGER_ROLE_NODE);
	assert_string_equal(ledger_sequencer(&f->l)->name, "bravo");
	refused(f, ledger_append_grant(&f->l, &f->alpha, "alpha", LEDGER_ROLE_ADMIN, f->err,
				       sizeof(f->err)), -EPERM, "signer 'alpha' is not an admin");
	refused(f, ledger_append_ungrant(&f->l, &f->bravo, "bravo", LEDGER_ROLE_ADMIN, f->err,
					 sizeof(f->err)), -EPERM, "'bravo' is the last admin");
	refused(f, ledger_append_revoke(&f->l, &f->bravo, "bravo", f->err, sizeof(f->err)), -EPERM,
		"'bravo' is the last admin");
	OK(f, ledger_append_revoke(&f->l, &f->bravo, "charlie", f->err, sizeof(f->err)));
	refused(f, ledger_append_ungrant(&f->l, &f->bravo, "charlie", LEDGER_ROLE_RELAY, f->err,
					 sizeof(f->err)), -ENOENT, "'charlie' was revoked");
	refused(f, ledger_append_grant(&f->l, &f->bravo, "charlie", LEDGER_ROLE_ADMIN, f->err,
				       sizeof(f->err)), -ENOENT, "'charlie' was revoked");
	assert_int_equal(f->l.entries[6].kind, LEDGER_UNGRANT);
	assert_int_equal(f->l.entries[6].roles, LEDGER_ROLE_FLEET);

	/* A peer's copy derives the same roles from the bytes. */
	copy(f, &f->l, &l);
	assert_int_equal(ledger_find(&l, "alpha")->roles, LEDGER_ROLE_NODE);
	assert_int_equal(ledger_find(&l, "bravo")->roles, LEDGER_ROLE_NODE | LEDGER_ROLE_ADMIN);
	assert_int_equal(ledger_find(&l, "charlie")->roles, LEDGER_ROLE_NODE | LEDGER_ROLE_RELAY);
	/* Forged: the demoted founder takes the admin role back... */
	e = raw_entry(&l, LEDGER_GRANT, "alpha");
	strcpy(e.subject, "alpha");
	e.roles = LEDGER_ROLE_ADMIN;
	assert_int_equal(ledger_entry_sign(&e, &f->alpha), 0);
	push_raw(&l, &e);
	verify_fails(f, &l, "entry 9 (grant): signer 'alpha' is not an admin");
	ledger_free(&l);
	/* ...or the last admin's role is removed by a signature made by hand. */
	copy(f, &f->l, &l);
	e = raw_entry(&l, LEDGER_UNGRANT, "bravo");
	strcpy(e.subject, "bravo");
	e.roles = LEDGER_ROLE_ADMIN;
	assert_int_equal(ledger_entry_sign(&e, &f->bravo), 0);
	push_raw(&l, &e);
	verify_fails(f, &l, "entry 9 (ungrant): 'bravo' is the last admin");
	ledger_free(&l);
	/* A changed role byte breaks the signature. */
	copy(f, &f->l, &l);
	l.entries[6].roles = LEDGER_ROLE_NODE;
	verify_fails(f, &l, "entry 6 (ungrant): bad signature by 'bravo'");
	ledger_free(&l);
}

static void test_extend(void **state)
{
	struct fixture *f = *state;
	struct ledger old, other, mine, remote;
	uint8_t wg[LEDGER_WG_KEY_BYTES];
	size_t before;

	/* A strict extension is taken, only its new entries need checking. */
	copy(f, &f->l, &old);
	OK(f, ledger_truncate(&old, 1));
	copy(f, &f->l, &remote);
	assert_int_equal(ledger_extend(&old, &remote, f->err, sizeof(f->err)), 2);
	assert_int_equal(old.count, 3);
	assert_int_equal(remote.count, 0);
	assert_true(ledger_verified(&old));
	assert_non_null(ledger_find(&old, "charlie"));
	/* The same ledger: nothing to do. */
	copy(f, &f->l, &remote);
	assert_int_equal(ledger_extend(&old, &remote, f->err, sizeof(f->err)), 0);
	/* An older one. */
	assert_int_equal(ledger_truncate(&remote, 2), 0);
	refused(f, ledger_extend(&old, &remote, f->err, sizeof(f->err)), -ESTALE,
		"older: 2 entries, ours has 3");
	ledger_free(&remote);

	/* A fork: another admission at the same index. */
	copy(f, &f->l, &remote);
	OK(f, admit(f, &old, &f->alpha, &f->delta, LEDGER_ROLE_NODE));
	OK(f, ledger_append_grant(&remote, &f->alpha, "bravo", LEDGER_ROLE_RELAY, f->err,
				  sizeof(f->err)));
	before = old.count;
	refused(f, ledger_extend(&old, &remote, f->err, sizeof(f->err)), -EEXIST,
		"fork at entry 3: ours is admit by 'alpha', theirs is grant by 'alpha'");
	assert_int_equal(old.count, before);
	assert_true(ledger_verified(&old));
	/* A longer fork is still a fork. */
	OK(f, ledger_append_revoke(&remote, &f->alpha, "charlie", f->err, sizeof(f->err)));
	refused(f, ledger_extend(&old, &remote, f->err, sizeof(f->err)), -EEXIST, "fork at entry 3");
	ledger_free(&remote);

	/* Another mesh. */
	ledger_init(&other);
	wg_key(wg, "alpha");
	OK(f, ledger_genesis(&other, &f->alpha, NULL, NET, 16, wg, "", LEDGER_FOUNDER_ROLES,
			     f->err, sizeof(f->err)));
	refused(f, ledger_extend(&old, &other, f->err, sizeof(f->err)), -EXDEV, "another mesh");
	ledger_free(&other);

	/* A tampered extension is refused and leaves ours alone. */
	copy(f, &old, &remote);
	OK(f, ledger_append_grant(&remote, &f->alpha, "bravo", LEDGER_ROLE_RELAY, f->err,
				  sizeof(f->err)));
	remote.entries[4].roles = LEDGER_ROLE_ADMIN;
	refused(f, ledger_extend(&old, &remote, f->err, sizeof(f->err)), -EBADMSG,
		"entry 4 (grant): bad signature by 'alpha'");
	assert_int_equal(old.count, before);
	OK(f, ledger_verify(&old, f->err, sizeof(f->err)));
	ledger_free(&remote);
	ledger_free(&old);

	/* Unverified locals are refused. */
	copy(f, &f->l, &mine);
	copy(f, &f->l, &remote);
	mine.entries[0].timestamp++;
	assert_int_equal(ledger_verify(&mine, f->err, sizeof(f->err)), -EBADMSG);
	assert_int_equal(ledger_extend(&mine, &remote, f->err, sizeof(f->err)), -EINVAL);
	ledger_free(&mine);
	ledger_free(&remote);
}

/* Two admins admit at the same moment and pick the same address; the
 * sequencer accepts the first and refuses the second, which pulls, allocates
 * again and retries. */
static void test_concurrent_admissions(void **state)
{
	struct fixture *f = *state;
	struct ledger seq, a, b, push;
	struct identity echo;
	const struct ledger_member *m;
	size_t n;

	make_id(&echo, "echo");
	OK(f, ledger_append_grant(&f->l, &f->alpha, "bravo", LEDGER_ROLE_ADMIN, f->err,
				  sizeof(f->err)));
	assert_string_equal(ledger_sequencer(&f->l)->name, "alpha");
	copy(f, &f->l, &seq);
	copy(f, &f->l, &a);
	copy(f, &f->l, &b);
	OK(f, admit(f, &a, &f->alpha, &f->delta, LEDGER_ROLE_NODE));
	OK(f, admit(f, &b, &f->bravo, &echo, LEDGER_ROLE_NODE));
	assert_int_equal(a.entries[4].member.addr, b.entries[4].member.addr);

	copy(f, &a, &push);
	assert_int_equal(ledger_extend(&seq, &push, f->err, sizeof(f->err)), 1);
	ledger_free(&push);
	copy(f, &b, &push);
	refused(f, ledger_extend(&seq, &push, f->err, sizeof(f->err)), -EEXIST, "fork at entry 4");
	ledger_free(&push);

	/* b drops its entry, pulls and retries. */
	OK(f, ledger_truncate(&b, 4));
	copy(f, &seq, &push);
	assert_int_equal(ledger_extend(&b, &push, f->err, sizeof(f->err)), 1);
	OK(f, admit(f, &b, &f->bravo, &echo, LEDGER_ROLE_NODE));
	copy(f, &b, &push);
	assert_int_equal(ledger_extend(&seq, &push, f->err, sizeof(f->err)), 1);
	assert_int_equal(ledger_members(&seq, &m, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(m[3].addr, ADDR(4));
	assert_int_equal(m[4].addr, ADDR(5));
	ledger_free(&push);
	ledger_free(&seq);
	ledger_free(&a);
	ledger_free(&b);
	identity_wipe(&echo);
}

static void test_next_address(void **state)
{
	struct fixture *f = *state;
	struct ledger small;
	uint8_t wg[LEDGER_WG_KEY_BYTES];
	uint32_t addr;

	assert_int_equal(ledger_next_address(&f->l, &addr), 0);
	assert_int_equal(addr, ADDR(4));
	/* Revoked members keep their addresses forever. */
	OK(f, ledger_append_revoke(&f->l, &f->alpha, "bravo", f->err, sizeof(f->err)));
	OK(f, ledger_append_revoke(&f->l, &f->alpha, "charlie", f->err, sizeof(f->err)));
	assert_int_equal(ledger_next_address(&f->l, &addr), 0);
	assert_int_equal(addr, ADDR(4));
	/* Gaps are filled from the bottom. */
	{
		struct ledger_member m = record(&f->delta, ADDR(5), LEDGER_ROLE_NODE, "");

		OK(f, ledger_append_admit(&f->l, &f->alpha, &m, f->err, sizeof(f->err)));
	}
	assert_int_equal(ledger_next_address(&f->l, &addr), 0);
	assert_int_equal(addr, ADDR(4));

	/* A /30 holds two hosts: the founder and one more. */
	ledger_init(&small);
	wg_key(wg, "alpha");
	OK(f, ledger_genesis(&small, &f->alpha, NULL, 0xc0a80104u, 30, wg, NULL,
			     LEDGER_FOUNDER_ROLES, f->err, sizeof(f->err)));
	assert_int_equal(small.entries[0].member.addr, 0xc0a80105u);
	assert_int_equal(ledger_next_address(&small, &addr), 0);
	assert_int_equal(addr, 0xc0a80106u);
	OK(f, admit(f, &small, &f->alpha, &f->bravo, LEDGER_ROLE_NODE));
	OK(f, ledger_append_revoke(&small, &f->alpha, "bravo", f->err, sizeof(f->err)));
	assert_int_equal(ledger_next_address(&small, &addr), -ENOSPC);
	assert_int_equal(admit(f, &small, &f->alpha, &f->charlie, LEDGER_ROLE_NODE), -ENOSPC);
	ledger_free(&small);
}

static void test_genesis_rules(void **state)
{
	struct fixture *f = *state;
	uint8_t wg[LEDGER_WG_KEY_BYTES], id[LEDGER_MESH_ID_BYTES];
	struct ledger l;
	uint32_t net;
	uint8_t len;

	wg_key(wg, "alpha");
	memset(id, 0x42, sizeof(id));
	ledger_init(&l);
	refused(f, ledger_genesis(&l, &f->alpha, id, NET, 16, wg, "", LEDGER_ROLE_NODE, f->err,
				  sizeof(f->err)), -EINVAL, "the founder does not hold the admin role");
	assert_false(ledger_verified(&l));
	refused(f, ledger_genesis(&l, &f->alpha, id, NET, 31, wg, "", LEDGER_FOUNDER_ROLES, f->err,
				  sizeof(f->err)), -EINVAL, "prefix length out of range");
	refused(f, ledger_genesis(&l, &f->alpha, id, NET, 8, wg, "", LEDGER_FOUNDER_ROLES, f->err,
				  sizeof(f->err)), -EINVAL, "prefix length out of range");
	refused(f, ledger_genesis(&l, &f->alpha, id, NET | 1, 16, wg, "", LEDGER_FOUNDER_ROLES,
				  f->err, sizeof(f->err)), -EINVAL, "host bits set");
	refused(f, ledger_genesis(&l, &f->alpha, id, NET, 16, wg, "nohost", LEDGER_FOUNDER_ROLES,
				  f->err, sizeof(f->err)), -EINVAL, "invalid endpoint");
	assert_int_equal(l.count, 0);
	OK(f, ledger_genesis(&l, &f->alpha, id, NET, 16, wg, "", LEDGER_ROLE_ADMIN, f->err,
			     sizeof(f->err)));
	assert_memory_equal(l.entries[0].mesh_id, id, sizeof(id));
	refused(f, ledger_genesis(&l, &f->alpha, id, NET, 16, wg, "", LEDGER_ROLE_ADMIN, f->err,
				  sizeof(f->err)), -EEXIST, "already has a genesis");
	/* Without a fleet member the founder serializes. */
	assert_string_equal(ledger_sequencer(&l)->name, "alpha");
	ledger_free(&l);

	/* A genesis signed by someone else, or pointing somewhere, fails. */
	copy(f, &f->l, &l);
	l.count = 1;
	strcpy(l.entries[0].signer, "bravo");
	assert_int_equal(ledger_entry_sign(&l.entries[0], &f->bravo), 0);
	verify_fails(f, &l, "entry 0 (genesis): signed by 'bravo', not by its founder 'alpha'");
	strcpy(l.entries[0].signer, "alpha");
	l.entries[0].prev[5] = 1;
	assert_int_equal(ledger_entry_sign(&l.entries[0], &f->alpha), 0);
	verify_fails(f, &l, "entry 0 (genesis): genesis has a previous hash");
	l.count = 3;
	l.entries[0] = f->l.entries[0];
	l.entries[2] = f->l.entries[0];
	l.entries[2].index = 2;
	assert_int_equal(ledger_head_hash(&f->l, l.entries[2].prev), 0);
	assert_int_equal(ledger_truncate(&f->l, 2), 0);
	assert_int_equal(ledger_head_hash(&f->l, l.entries[2].prev), 0);
	assert_int_equal(ledger_entry_sign(&l.entries[2], &f->alpha), 0);
	verify_fails(f, &l, "entry 2 (genesis): genesis after the first entry");
	ledger_free(&l);

	assert_int_equal(ledger_prefix_parse("10.77.0.0/16", &net, &len), 0);
	assert_int_equal(net, NET);
	assert_int_equal(len, 16);
	assert_int_equal(ledger_prefix_parse("192.168.7.8/30", &net, &len), 0);
	assert_int_equal(len, 30);
	static const char *const bad[] = {
		"10.77.0.0", "10.77.0.0/", "10.77.0.0/8", "10.77.0.0/31", "10.77.0.1/16",
		"10.77.0.0/016", "10.77.0.0/16x", "10.77.0/16", "/16", "10.77.0.0/+16",
		"10.77.0.0.0/16", "fd00::/16",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ledger_prefix_parse(bad[i], &net, &len) != -EINVAL)
			fail_msg("prefix \"%s\" accepted", bad[i]);
	}
}

static void test_fields(void **state)
{
	static const char *const good[] = {
		"a:1", "host.example.org:51820", "203.0.113.7:65535", "[2001:db8::1]:51820",
		"[::1]:1", "my-host:443",
	};
	static const char *const bad[] = {
		"", "host", "host:", ":51820", "host:0", "host:65536", "host:051820", "host:12a",
		"[::1]", "[]:1", "::1:51820", "ho st:1", "host_name:1", "[::1:1", "[g::1]:1",
		"host:1:2", "host:+1",
		"a-very-long-hostname-that-goes-on-and-on-and-on.example.org:51820",
	};
	char buf[64];
	unsigned roles;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!ledger_endpoint_valid(good[i]))
			fail_msg("endpoint \"%s\" refused", good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ledger_endpoint_valid(bad[i]))
			fail_msg("endpoint \"%s\" accepted", bad[i]);
	}
	assert_int_equal(ledger_roles_parse("node,relay", &roles), 0);
	assert_int_equal(roles, LEDGER_ROLE_NODE | LEDGER_ROLE_RELAY);
	assert_int_equal(ledger_roles_parse("node,", &roles), -EINVAL);
	assert_int_equal(ledger_roles_parse("root", &roles), -EINVAL);
	ledger_roles_format(LEDGER_ROLES_ALL, buf, sizeof(buf));
	assert_string_equal(buf, "node,fleet,admin,relay");
	ledger_roles_format(LEDGER_ROLES_ALL, buf, 11);
	assert_string_equal(buf, "node,fleet");
	ledger_addr_format(0xc0a80001u, buf);
	assert_string_equal(buf, "192.168.0.1");
	assert_string_equal(ledger_kind_name(LEDGER_REVOKE), "revoke");
	assert_string_equal(ledger_kind_name(LEDGER_UNGRANT), "ungrant");
	assert_string_equal(ledger_kind_name((enum ledger_kind)9), "unknown");
}

/* Hand-made byte streams for the parser's refusals. */
static void test_parse_refusals(void **state)
{
	struct fixture *f = *state;
	struct ledger l;
	uint8_t *buf, *bad;
	size_t len, g;

	encode(&f->l, &buf, &len);
	bad = malloc(len + 64);
	assert_non_null(bad);
	ledger_init(&l);
#define TRY(edit, what)                                                                  \
	do {                                                                             \
		memcpy(bad, buf, len);                                                   \
		edit;                                                                    \
		refused(f, ledger_parse(bad, len, &l, f->err, sizeof(f->err)), -EBADMSG, what); \
		assert_int_equal(l.count, 0);                                            \
	} while (0)
	TRY(bad[0] = 'X', "bad magic");
	TRY(bad[4] = 2, "version 2 not supported");
	TRY(bad[6] = 1, "reserved bytes not zero");
	TRY(bad[11] = 0, "entry count 0 out of range");
	TRY(memcpy(bad + 8, "\0\1\0\1", 4), "entry count 65537 out of range");
	TRY(memcpy(bad + 8, "\0\1\0\0", 4), "65536 entries cannot fit");
	TRY(bad[11] = 2, "trailing bytes after entry 1");
	TRY(bad[11] = 4, "entry 3: truncated");
	/* Inside genesis: kind, signer length, prefix, founder fields. */
	g = LEDGER_HEADER_SIZE;
	TRY(bad[g] = 200, "entry 0: unknown kind");
	TRY(bad[g] = 0, "entry 0: unknown kind");
	TRY(bad[g + 45] = 32, "entry 0: string too long");
	TRY(bad[g + 45] = 0, "entry 0: invalid signer name");
	TRY(bad[g + 46] = 'A', "entry 0: invalid signer name");
	TRY(bad[g + 47] = 0, "entry 0: NUL inside a string");
	/* mesh id at 51, prefix at 83, its length at 87, founder name at 88. */
	TRY(bad[g + 87] = 15, "entry 0: mesh prefix length out of range");
	TRY(bad[g + 85] = 1, "entry 0: mesh prefix has host bits set");
	TRY(bad[g + 88] = 0, "entry 0: invalid member name");
	/* Founder: name 88..93, keys 94..189, addr 190, endpoint 194. */
	TRY(bad[g + 194] = 64, "entry 0: string too long");
	TRY(bad[g + 195] = ' ', "entry 0: invalid endpoint");
	TRY(bad[g + 194 + 1 + 23] = 0, "entry 0: invalid roles");
	TRY(bad[g + 194 + 1 + 23] = 0x10, "entry 0: invalid roles");
#undef TRY
	free(bad);
	free(buf);
	ledger_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_genesis_and_admits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bit_flips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reordered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_admin_forgery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoked_signer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ungrant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_admissions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_genesis_rules, setup, teardown),
		cmocka_unit_test(test_fields),
		cmocka_unit_test_setup_teardown(test_parse_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
