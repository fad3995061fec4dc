/* lib/mesh.c and lib/mesh-sync.c: the peers each member computes from the
 * ledger, trust from the ledger, mesh.conf, the sync codec, merging and
 * the authentication of sync requests. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "lib/conf-path.h"
#include "lib/fileio.h"
#include "lib/mesh-sync.h"
#include "lib/mesh.h"
#include "tests/unit/fixture.h"

#define NET 0x0a4d0000u /* 10.77.0.0 */
#define ADDR(n) (NET + (n))

/* laptop-a founds the mesh behind NAT; laptop-b is the relay; cloud the
 * fleet; laptop-c sits behind NAT too. */
enum { A, B, CLOUD, C, NIDS };
static const char *const names[NIDS] = { "laptop-a", "laptop-b", "cloud", "laptop-c" };

struct fixture {
	struct identity id[NIDS];
	struct ledger l;
	char dir[64];
	char err[256];
};

static void make_id(struct identity *id, const char *name)
{
	uint8_t seed[32];

	memset(id, 0, sizeof(*id));
	strcpy(id->name, name);
	crypto_generichash(seed, sizeof(seed), (const uint8_t *)name, strlen(name), NULL, 0);
	crypto_sign_seed_keypair(id->sign_pk, id->sign_sk, seed);
	seed[0] ^= 1;
	crypto_kx_seed_keypair(id->kx_pk, id->kx_sk, seed);
	seed[0] ^= 2;
	memcpy(id->wg_sk, seed, sizeof(id->wg_sk));
	crypto_scalarmult_base(id->wg_pk, id->wg_sk);
	id->has_wg = true;
}

static void admit(struct fixture *f, struct ledger *l, int who, unsigned roles, const char *ep)
{
	struct ledger_member m = { .roles = roles };

	strcpy(m.name, f->id[who].name);
	memcpy(m.sign_pk, f->id[who].sign_pk, sizeof(m.sign_pk));
	memcpy(m.kx_pk, f->id[who].kx_pk, sizeof(m.kx_pk));
	memcpy(m.wg_pk, f->id[who].wg_pk, sizeof(m.wg_pk));
	strcpy(m.endpoint, ep);
	assert_int_equal(ledger_next_address(l, &m.addr), 0);
	if (ledger_append_admit(l, &f->id[A], &m, f->err, sizeof(f->err)) < 0)
		fail_msg("admit %s: %s", m.name, f->err);
}

/* Genesis by laptop-a (no endpoint); b relay, cloud fleet, c behind NAT. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || sodium_init() < 0)
		return -1;
	for (int i = 0; i < NIDS; i++)
		make_id(&f->id[i], names[i]);
	ledger_init(&f->l);
	if (ledger_genesis(&f->l, &f->id[A], NULL, NET, 16, f->id[A].wg_pk, "",
			   LEDGER_ROLE_NODE | LEDGER_ROLE_ADMIN, f->err, sizeof(f->err)) < 0)
		return -1;
	admit(f, &f->l, B, LEDGER_ROLE_NODE | LEDGER_ROLE_RELAY, "198.51.100.2:51820");
	admit(f, &f->l, CLOUD, LEDGER_ROLE_NODE | LEDGER_ROLE_FLEET, "203.0.113.3:51820");
	admit(f, &f->l, C, LEDGER_ROLE_NODE, "");
	if (fixture_tmpdir(f->dir, sizeof(f->dir), "test-mesh"))
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
	for (int i = 0; i < NIDS; i++)
		identity_wipe(&f->id[i]);
	free(f);
	return 0;
}

static const struct mesh_peer *peer(const struct mesh_plan *p, const char *name)
{
	for (size_t i = 0; i < p->count; i++)
		if (!strcmp(p->peers[i].name, name))
			return &p->peers[i];
	return NULL;
}

/* The peer's allowed IPs are exactly the given host numbers, in order. */
static void allowed(const struct mesh_peer *p, size_t n, ...)
{
	va_list ap;

	assert_non_null(p);
	assert_int_equal(p->nallowed, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p->allowed[i], ADDR(va_arg(ap, unsigned)));
	va_end(ap);
}

static void test_plan_behind_nat(void **state)
{
	struct fixture *f = *state;
	struct mesh_plan p;

	/* laptop-a: direct to the two with endpoints, keepalive on both;
	 * laptop-c, also behind NAT, through the relay. */
	assert_int_equal(mesh_plan(&f->l, "laptop-a", &p), 0);
	assert_non_null(p.self);
	assert_int_equal(p.self->addr, ADDR(1));
	assert_false(p.relay);
	assert_string_equal(p.relay_name, "laptop-b");
	assert_int_equal(p.count, 2);
	allowed(peer(&p, "laptop-b"), 2, 2, 4);
	allowed(peer(&p, "cloud"), 1, 3);
	assert_string_equal(peer(&p, "laptop-b")->endpoint, "198.51.100.2:51820");
	assert_int_equal(peer(&p, "laptop-b")->keepalive, MESH_KEEPALIVE_S);
	assert_int_equal(peer(&p, "cloud")->keepalive, MESH_KEEPALIVE_S);
	assert_memory_equal(peer(&p, "cloud")->wg_pk, f->id[CLOUD].wg_pk, 32);
	assert_null(mesh_plan_find(&p, f->id[C].wg_pk));
	assert_int_equal(p.unreachable, 0);
	assert_int_equal(p.prefix_addr, NET);
	assert_int_equal(p.prefix_len, 16);
	mesh_plan_free(&p);

	/* laptop-c mirrors it: the path is symmetric through the same relay */
	assert_int_equal(mesh_plan(&f->l, "laptop-c", &p), 0);
	assert_int_equal(p.count, 2);
	allowed(peer(&p, "laptop-b"), 2, 2, 1);
	allowed(peer(&p, "cloud"), 1, 3);
	mesh_plan_free(&p);
}

static void test_plan_with_endpoint(void **state)
{
	struct fixture *f = *state;
	struct mesh_plan p;

	/* the relay: everyone direct, no keepalive (it is reachable), the NAT
	 * members without an endpoint (they roam in), and it forwards */
	assert_int_equal(mesh_plan(&f->l, "laptop-b", &p), 0);
	assert_true(p.relay);
	assert_int_equal(p.count, 3);
	allowed(peer(&p, "laptop-a"), 1, 1);
	allowed(peer(&p, "cloud"), 1, 3);
	allowed(peer(&p, "laptop-c"), 1, 4);
	assert_string_equal(peer(&p, "laptop-a")->endpoint, "");
	for (size_t i = 0; i < p.count; i++)
		assert_int_equal(p.peers[i].keepalive, 0);
	mesh_plan_free(&p);

	/* the cloud: direct to all; NAT members reach it first */
	assert_int_equal(mesh_plan(&f->l, "cloud", &p), 0);
	assert_false(p.relay);
	assert_int_equal(p.count, 3);
	allowed(peer(&p, "laptop-a"), 1, 1);
	allowed(peer(&p, "laptop-b"), 1, 2);
	allowed(peer(&p, "laptop-c"), 1, 4);
	assert_string_equal(peer(&p, "laptop-b")->endpoint, "198.51.100.2:51820");
	mesh_plan_free(&p);
}

static void test_plan_revoked_and_strangers(void **state)
{
	struct fixture *f = *state;
	struct mesh_plan p;

	if (ledger_append_revoke(&f->l, &f->id[A], "laptop-c", f->err, sizeof(f->err)) < 0)
		fail_msg("revoke: %s", f->err);
	/* nobody routes to it any more */
	for (int i = A; i <= CLOUD; i++) {
		assert_int_equal(mesh_plan(&f->l, names[i], &p), 0);
		assert_null(mesh_plan_find(&p, f->id[C].wg_pk));
		for (size_t k = 0; k < p.count; k++)
			for (size_t j = 0; j < p.peers[k].nallowed; j++)
				assert_int_not_equal(p.peers[k].allowed[j], ADDR(4));
		mesh_plan_free(&p);
	}
	/* and it has no peers itself */
	assert_int_equal(mesh_plan(&f->l, "laptop-c", &p), 0);
	assert_null(p.self);
	assert_int_equal(p.count, 0);
	mesh_plan_free(&p);
	assert_int_equal(mesh_plan(&f->l, "nobody", &p), 0);
	assert_null(p.self);
	mesh_plan_free(&p);
}

static void test_plan_without_relay(void **state)
{
	struct fixture *f = *state;
	struct ledger l;
	struct mesh_plan p;

	/* a and c behind NAT, the cloud reachable, no relay: a and c cannot
	 * reach each other, and say so */
	ledger_init(&l);
	assert_int_equal(ledger_genesis(&l, &f->id[A], NULL, NET, 24, f->id[A].wg_pk, "",
					LEDGER_ROLE_NODE | LEDGER_ROLE_ADMIN, f->err,
					sizeof(f->err)), 0);
	admit(f, &l, CLOUD, LEDGER_ROLE_NODE | LEDGER_ROLE_FLEET, "203.0.113.3:51820");
	/* a relay without an endpoint relays nothing */
	admit(f, &l, B, LEDGER_ROLE_NODE | LEDGER_ROLE_RELAY, "");
	admit(f, &l, C, LEDGER_ROLE_NODE, "");
	assert_int_equal(mesh_plan(&l, "laptop-a", &p), 0);
	assert_string_equal(p.relay_name, "");
	assert_int_equal(p.count, 1);
	allowed(peer(&p, "cloud"), 1, 2);
	assert_int_equal(p.unreachable, 2);
	mesh_plan_free(&p);
	ledger_free(&l);
}

#define GUEST(n) (0x0a4e0000u + ((n) << 8)) /* 10.78.n.0, the member at .n's /24 */

/* The peer's guest subnets are exactly those of the given host numbers. */
static void guests(const struct mesh_peer *p, size_t n, ...)
{
	va_list ap;

	assert_non_null(p);
	assert_int_equal(p->nguests, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p->guests[i], GUEST(va_arg(ap, unsigned)));
	va_end(ap);
}

static void test_plan_guest_subnets(void **state)
{
	struct fixture *f = *state;
	struct mesh_plan p;

	/* laptop-a: each peer's subnet beside its /32; the relay carries the
	 * subnet of laptop-c, which it relays for */
	assert_int_equal(mesh_plan(&f->l, "laptop-a", &p), 0);
	assert_true(p.has_guest);
	assert_int_equal(p.guest.addr, 0x0a4e0000u);
	assert_int_equal(p.guest.len, 16);
	assert_int_equal(p.guest.subnet_len, 24);
	assert_int_equal(p.guest_subnet, GUEST(1));
	assert_int_equal(p.no_guest_subnet, 0);
	guests(peer(&p, "laptop-b"), 2, 2, 4);
	guests(peer(&p, "cloud"), 1, 3);
	mesh_plan_free(&p);

	/* the relay and the cloud: every member direct, each with its own */
	assert_int_equal(mesh_plan(&f->l, "laptop-b", &p), 0);
	assert_int_equal(p.guest_subnet, GUEST(2));
	guests(peer(&p, "laptop-a"), 1, 1);
	guests(peer(&p, "cloud"), 1, 3);
	guests(peer(&p, "laptop-c"), 1, 4);
	mesh_plan_free(&p);
	assert_int_equal(mesh_plan(&f->l, "cloud", &p), 0);
	assert_int_equal(p.guest_subnet, GUEST(3));
	guests(peer(&p, "laptop-a"), 1, 1);
	guests(peer(&p, "laptop-b"), 1, 2);
	guests(peer(&p, "laptop-c"), 1, 4);
	mesh_plan_free(&p);
}

static void test_plan_guest_revoked(void **state)
{
	struct fixture *f = *state;
	struct mesh_plan p;

	if (ledger_append_revoke(&f->l, &f->id[A], "laptop-c", f->err, sizeof(f->err)) < 0)
		fail_msg("revoke: %s", f->err);
	for (int i = A; i <= CLOUD; i++) {
		assert_int_equal(mesh_plan(&f->l, names[i], &p), 0);
		for (size_t k = 0; k < p.count; k++)
			for (size_t j = 0; j < p.peers[k].nguests; j++)
				assert_int_not_equal(p.peers[k].guests[j], GUEST(4));
		mesh_plan_free(&p);
	}
	/* the relay no longer carries it for laptop-a */
	assert_int_equal(mesh_plan(&f->l, "laptop-a", &p), 0);
	guests(peer(&p, "laptop-b"), 1, 2);
	mesh_plan_free(&p);
}

/* Past the layout's 255 subnets a member keeps its /32 and gets no subnet:
 * never another member's. */
static void test_plan_guest_capacity(void **state)
{
	struct fixture *f = *state;
	struct identity id;
	struct ledger_member m = { .roles = LEDGER_ROLE_NODE };
	const struct mesh_peer *last;
	struct mesh_plan p;
	char name[16];

	for (unsigned i = 5; i <= 256; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		make_id(&id, name);
		memset(&m, 0, sizeof(m));
		m.roles = LEDGER_ROLE_NODE;
		strcpy(m.name, name);
		memcpy(m.sign_pk, id.sign_pk, sizeof(m.sign_pk));
		memcpy(m.kx_pk, id.kx_pk, sizeof(m.kx_pk));
		memcpy(m.wg_pk, id.wg_pk, sizeof(m.wg_pk));
		snprintf(m.endpoint, sizeof(m.endpoint), "192.0.2.%u:51820", i % 250 + 1);
		assert_int_equal(ledger_next_address(&f->l, &m.addr), 0);
		if (ledger_append_admit(&f->l, &f->id[A], &m, f->err, sizeof(f->err)) < 0)
			fail_msg("admit %s: %s", name, f->err);
		identity_wipe(&id);
	}
	assert_int_equal(mesh_plan(&f->l, "cloud", &p), 0);
	assert_int_equal(p.count, 255);
	assert_int_equal(p.no_guest_subnet, 1);
	guests(peer(&p, "n255"), 1, 255);
	last = peer(&p, "n256");
	allowed(last, 1, 256);
	guests(last, 0);
	mesh_plan_free(&p);
	/* and it has none of its own */
	assert_int_equal(mesh_plan(&f->l, "n256", &p), 0);
	assert_int_equal(p.guest_subnet, 0);
	mesh_plan_free(&p);
}

static void test_trust_from_ledger(void **state)
{
	struct fixture *f = *state;
	const struct trust_entry *e;
	struct trust_set t;
	char addr[32];

	if (ledger_append_revoke(&f->l, &f->id[A], "laptop-c", f->err, sizeof(f->err)) < 0)
		fail_msg("revoke: %s", f->err);
	assert_int_equal(mesh_trust_from_ledger(&f->l, &t), 0);
	assert_int_equal(t.count, 3);
	e = trust_find(&t, "laptop-a");
	assert_non_null(e);
	assert_int_equal(e->roles, TRUST_ROLE_NODE | TRUST_ROLE_ADMIN);
	assert_memory_equal(e->sign_pk, f->id[A].sign_pk, SIGN_PK_BYTES);
	assert_memory_equal(e->kx_pk, f->id[A].kx_pk, KX_PK_BYTES);
	/* relay has no trust meaning */
	assert_int_equal(trust_find(&t, "laptop-b")->roles, TRUST_ROLE_NODE);
	assert_string_equal(trust_find_role(&t, TRUST_ROLE_FLEET)->name, "cloud");
	assert_null(trust_find(&t, "laptop-c"));
	trust_free(&t);
	assert_int_equal(mesh_fleet_address(&f->l, addr, sizeof(addr)), 0);
	assert_string_equal(addr, "10.77.0.3:7101");
}

static void test_trust_load_prefers_ledger(void **state)
{
	struct fixture *f = *state;
	char trust[128], source[PATH_MAX + 8], path[PATH_MAX];
	struct trust_set t;
	const char *line = "other fleet,node "
		"0000000000000000000000000000000000000000000000000000000000000000 "
		"0900000000000000000000000000000000000000000000000000000000000000\n";

	snprintf(trust, sizeof(trust), "%s/trust", f->dir);
	assert_int_equal(mesh_trust_load(f->dir, trust, &t, source, sizeof(source), f->err,
					 sizeof(f->err)), -ENOENT);
	assert_int_equal(atomic_write_file(trust, line, strlen(line), 0644), 0);
	assert_int_equal(mesh_trust_load(f->dir, trust, &t, source, sizeof(source), f->err,
					 sizeof(f->err)), 0);
	assert_string_equal(source, trust);
	assert_non_null(trust_find(&t, "other"));
	trust_free(&t);
	/* once there is a ledger, the trust file no longer counts */
	assert_int_equal(mesh_ledger_save(f->dir, &f->l), 0);
	assert_true(mesh_has_ledger(f->dir));
	assert_int_equal(mesh_trust_load(f->dir, trust, &t, source, sizeof(source), f->err,
					 sizeof(f->err)), 0);
	assert_non_null(strstr(source, "ledger"));
	assert_null(trust_find(&t, "other"));
	assert_int_equal(t.count, 4);
	trust_free(&t);
	/* and a broken ledger is an error, not a reason to fall back */
	snprintf(path, sizeof(path), "%s/" MESH_LEDGER_FILE, f->dir);
	assert_int_equal(atomic_write_file(path, "OILG junk", 9, 0644), 0);
	assert_int_equal(mesh_trust_load(f->dir, trust, &t, source, sizeof(source), f->err,
					 sizeof(f->err)), -EBADMSG);
}

static void test_conf(void **state)
{
	struct fixture *f = *state;
	struct mesh_conf c = { .interface = "osw-test", .listen_port = 51999 }, d;
	char path[PATH_MAX];

	assert_int_equal(mesh_conf_load(f->dir, &d, f->err, sizeof(f->err)), 0);
	assert_string_equal(d.interface, MESH_DEFAULT_IFNAME);
	assert_int_equal(d.listen_port, MESH_WG_PORT);
	assert_int_equal(mesh_conf_save(f->dir, &c), 0);
	assert_int_equal(mesh_conf_load(f->dir, &d, f->err, sizeof(f->err)), 0);
	assert_string_equal(d.interface, "osw-test");
	assert_int_equal(d.listen_port, 51999);
	snprintf(path, sizeof(path), "%s/" MESH_CONF_FILE, f->dir);
	assert_int_equal(atomic_write_file(path, "listen_port = 70000\n", 20, 0644), 0);
	assert_int_equal(mesh_conf_load(f->dir, &d, f->err, sizeof(f->err)), -EINVAL);
}

static void test_sync_codec(void **state)
{
	struct fixture *f = *state;
	struct mesh_sync_request req;
	struct mesh_sync_reply r;
	uint8_t *frame, ledger[3] = { 'O', 'I', 'L' }, nonce[SYNC_NONCE_BYTES], got[SYNC_NONCE_BYTES];
	size_t len;

	randombytes_buf(nonce, sizeof(nonce));
	assert_int_equal(mesh_sync_build_challenge(nonce, &frame, &len), 0);
	assert_int_equal(len, 4 + 2 + SYNC_NONCE_BYTES);
	assert_int_equal(mesh_sync_parse_challenge(frame + 4, len - 4, got), 0);
	assert_memory_equal(got, nonce, sizeof(nonce));
	frame[5] = 1; /* version 1 */
	assert_int_equal(mesh_sync_parse_challenge(frame + 4, len - 4, got), -EPROTO);
	free(frame);

	assert_int_equal(mesh_sync_build_request(&f->id[B], nonce, NULL, 0, &frame, &len), 0);
	assert_int_equal(len, 4 + 3 + strlen("laptop-b") + SIG_BYTES);
	assert_int_equal(frame[4], MESH_SYNC_GET);
	assert_int_equal(frame[5], MESH_SYNC_VERSION);
	assert_int_equal(mesh_sync_parse_request(frame + 4, len - 4, &req), 0);
	assert_int_equal(req.type, MESH_SYNC_GET);
	assert_string_equal(req.name, "laptop-b");
	assert_null(req.ledger);
	free(frame);
	assert_int_equal(mesh_sync_build_request(&f->id[B], nonce, ledger, 3, &frame, &len), 0);
	assert_int_equal(mesh_sync_parse_request(frame + 4, len - 4, &req), 0);
	assert_int_equal(req.type, MESH_SYNC_PUSH);
	assert_int_equal(req.len, 3);
	assert_memory_equal(req.ledger, ledger, 3);
	assert_true(sync_verify(req.sig, f->id[B].sign_pk, nonce, req.type, req.name, req.ledger,
				req.len));
	free(frame);
	/* version 1's GET and PUSH (unsigned), an unknown type, a GET with a
	 * body, an empty push, a name with a NUL */
	assert_int_equal(mesh_sync_parse_request((const uint8_t *)"\x01", 1, &req), -EBADMSG);
	assert_int_equal(mesh_sync_parse_request((const uint8_t *)"\x02OILG", 5, &req), -EPROTO);
	{
		uint8_t p[3 + 1 + SIG_BYTES + 1] = { MESH_SYNC_GET, MESH_SYNC_VERSION, 1, 'x' };

		assert_int_equal(mesh_sync_parse_request(p, sizeof(p) - 1, &req), 0);
		assert_int_equal(mesh_sync_parse_request(p, sizeof(p), &req), -EBADMSG);
		p[0] = MESH_SYNC_PUSH;
		assert_int_equal(mesh_sync_parse_request(p, sizeof(p) - 1, &req), -EBADMSG);
		assert_int_equal(mesh_sync_parse_request(p, sizeof(p), &req), 0);
		p[0] = 0x03;
		assert_int_equal(mesh_sync_parse_request(p, sizeof(p), &req), -EBADMSG);
		p[0] = MESH_SYNC_PUSH;
		p[1] = 1;
		assert_int_equal(mesh_sync_parse_request(p, sizeof(p), &req), -EPROTO);
		p[1] = MESH_SYNC_VERSION;
		p[3] = '\0';
		assert_int_equal(mesh_sync_parse_request(p, sizeof(p), &req), -EBADMSG);
	}

	assert_int_equal(mesh_sync_build_reply(MESH_SYNC_FORK, 7, ledger, 3, &frame, &len), 0);
	assert_int_equal(len, 4 + 6 + 3);
	assert_int_equal(mesh_sync_parse_reply(frame + 4, len - 4, &r), 0);
	assert_int_equal(r.status, MESH_SYNC_FORK);
	assert_int_equal(r.added, 7);
	assert_int_equal(r.len, 3);
	assert_memory_equal(r.ledger, ledger, 3);
	mesh_sync_reply_free(&r);
	frame[5] = MESH_SYNC_DENIED; /* a refusal never carries a ledger */
	assert_int_equal(mesh_sync_parse_reply(frame + 4, len - 4, &r), -EBADMSG);
	frame[5] = 9; /* unknown status */
	assert_int_equal(mesh_sync_parse_reply(frame + 4, len - 4, &r), -EBADMSG);
	assert_int_equal(mesh_sync_parse_reply(frame + 4, 5, &r), -EBADMSG);
	free(frame);
	assert_int_equal(mesh_sync_build_reply(MESH_SYNC_DENIED, 0, ledger, 3, &frame, &len),
			 -EINVAL);
	assert_int_equal(mesh_sync_build_reply(7, 0, NULL, 0, &frame, &len), -EINVAL);
	assert_string_equal(mesh_sync_status_text(MESH_SYNC_STALE), "stale copy");
	assert_int_equal(mesh_sync_status_of(-EEXIST), MESH_SYNC_FORK);
	assert_int_equal(mesh_sync_status_of(2), MESH_SYNC_OK);
}

/* Serves one request payload for nonce; returns the reply's status and
 * frees the rest. *denied and *with_ledger say what the server did. */
static int serve(struct fixture *f, const uint8_t *nonce, const uint8_t *p, size_t len,
		 int *denied, bool *with_ledger)
{
	struct mesh_sync_served o;
	struct mesh_sync_reply r;
	char err[256] = "";

	assert_int_equal(mesh_sync_serve(f->dir, nonce, p, len, &o, err, sizeof(err)), 0);
	assert_int_equal(mesh_sync_parse_reply(o.frame + 4, o.frame_len - 4, &r), 0);
	assert_int_equal(r.status, o.status);
	*denied = o.denied;
	*with_ledger = r.ledger != NULL;
	if (o.denied)
		assert_true(err[0]);
	free(o.frame);
	mesh_sync_reply_free(&r);
	return o.status;
}

/* A request from id for nonce, served with served_nonce (a replay when
 * they differ). */
static int serve_signed(struct fixture *f, const struct identity *id, const uint8_t *nonce,
			const uint8_t *served_nonce, const struct ledger *push, int *denied,
			bool *with_ledger)
{
	uint8_t *frame, *bytes = NULL;
	size_t len, blen = 0;
	int status;

	if (push)
		assert_int_equal(ledger_encode(push, &bytes, &blen), 0);
	assert_int_equal(mesh_sync_build_request(id, nonce, bytes, blen, &frame, &len), 0);
	status = serve(f, served_nonce, frame + 4, len - 4, denied, with_ledger);
	free(frame);
	free(bytes);
	return status;
}

static size_t stored_count(struct fixture *f)
{
	struct ledger l;
	size_t n;

	ledger_init(&l);
	assert_int_equal(mesh_ledger_load(f->dir, &l, f->err, sizeof(f->err)), 0);
	n = l.count;
	ledger_free(&l);
	return n;
}

/* Issue 9: ledger sync answered anyone with the whole ledger and parsed
 * anyone's push. Now only a live member's request, signed for this
 * connection's nonce, is served. */
static void test_sync_auth(void **state)
{
	struct fixture *f = *state;
	struct identity stranger;
	uint8_t n1[SYNC_NONCE_BYTES], n2[SYNC_NONCE_BYTES];
	bool with_ledger;
	int denied;

	randombytes_buf(n1, sizeof(n1));
	randombytes_buf(n2, sizeof(n2));
	make_id(&stranger, "stranger");
	assert_int_equal(mesh_ledger_save(f->dir, &f->l), 0);

	/* a good get is served the ledger */
	assert_int_equal(serve_signed(f, &f->id[B], n1, n1, NULL, &denied, &with_ledger),
			 MESH_SYNC_OK);
	assert_int_equal(denied, 0);
	assert_true(with_ledger);
	/* unsigned: version 1's get, and version 2's with a zero signature */
	assert_int_equal(serve(f, n1, (const uint8_t *)"\x01", 1, &denied, &with_ledger),
			 MESH_SYNC_DENIED);
	assert_false(with_ledger);
	{
		uint8_t p[3 + 8 + SIG_BYTES] = { MESH_SYNC_GET, MESH_SYNC_VERSION, 8 };

		memcpy(p + 3, "laptop-b", 8);
		assert_int_equal(serve(f, n1, p, sizeof(p), &denied, &with_ledger),
				 MESH_SYNC_DENIED);
		assert_int_equal(denied, -EACCES);
		assert_false(with_ledger);
	}
	/* a non-member, and a non-member using a member's name */
	assert_int_equal(serve_signed(f, &stranger, n1, n1, NULL, &denied, &with_ledger),
			 MESH_SYNC_DENIED);
	assert_int_equal(denied, -ENOENT);
	assert_false(with_ledger);
	strcpy(stranger.name, "laptop-c");
	assert_int_equal(serve_signed(f, &stranger, n1, n1, NULL, &denied, &with_ledger),
			 MESH_SYNC_DENIED);
	assert_int_equal(denied, -EACCES);
	/* a request recorded on one connection, replayed on another */
	assert_int_equal(serve_signed(f, &f->id[B], n1, n2, NULL, &denied, &with_ledger),
			 MESH_SYNC_DENIED);
	assert_int_equal(denied, -EACCES);
	assert_false(with_ledger);

	/* a stranger's push of a valid newer ledger is not taken */
	assert_int_equal(ledger_append_revoke(&f->l, &f->id[A], "laptop-c", f->err,
					      sizeof(f->err)), 0);
	strcpy(stranger.name, "stranger");
	assert_int_equal(serve_signed(f, &stranger, n1, n1, &f->l, &denied, &with_ledger),
			 MESH_SYNC_DENIED);
	assert_int_equal(stored_count(f), 4);
	/* a member's is */
	assert_int_equal(serve_signed(f, &f->id[A], n2, n2, &f->l, &denied, &with_ledger),
			 MESH_SYNC_OK);
	assert_true(with_ledger);
	assert_int_equal(stored_count(f), 5);
	/* laptop-c is revoked now: refused, get or push */
	assert_int_equal(serve_signed(f, &f->id[C], n1, n1, NULL, &denied, &with_ledger),
			 MESH_SYNC_DENIED);
	assert_int_equal(denied, -EKEYREVOKED);
	assert_false(with_ledger);
	assert_int_equal(serve_signed(f, &f->id[C], n1, n1, &f->l, &denied, &with_ledger),
			 MESH_SYNC_DENIED);
	assert_int_equal(denied, -EKEYREVOKED);
	identity_wipe(&stranger);
}

static void merge(struct fixture *f, const struct ledger *l, int want_status, uint32_t want_added)
{
	uint8_t *bytes, *cur = NULL;
	size_t len, curlen;
	uint32_t added;
	int status;

	assert_int_equal(ledger_encode(l, &bytes, &len), 0);
	if (mesh_sync_merge(f->dir, bytes, len, &status, &added, &cur, &curlen, f->err,
			    sizeof(f->err)) < 0)
		fail_msg("merge: %s", f->err);
	assert_int_equal(status, want_status);
	assert_int_equal(added, want_added);
	assert_non_null(cur);
	free(cur);
	free(bytes);
}

static void test_sync_merge(void **state)
{
	struct fixture *f = *state;
	struct ledger older, fork, stored;
	uint8_t *bytes;
	size_t len;

	/* the state holds the first two entries */
	ledger_init(&older);
	assert_int_equal(ledger_encode(&f->l, &bytes, &len), 0);
	assert_int_equal(ledger_parse(bytes, len, &older, f->err, sizeof(f->err)), 0);
	assert_int_equal(ledger_verify(&older, f->err, sizeof(f->err)), 0);
	free(bytes);
	assert_int_equal(ledger_truncate(&older, 2), 0);
	assert_int_equal(mesh_ledger_save(f->dir, &older), 0);

	merge(f, &f->l, MESH_SYNC_OK, 2);     /* newer: taken and saved */
	merge(f, &f->l, MESH_SYNC_OK, 0);     /* the same: nothing to do */
	merge(f, &older, MESH_SYNC_STALE, 0); /* older: refused, nothing lost */
	ledger_init(&stored);
	assert_int_equal(mesh_ledger_load(f->dir, &stored, f->err, sizeof(f->err)), 0);
	assert_int_equal(stored.count, 4);

	/* another admin's entry at the same index: a fork */
	ledger_init(&fork);
	assert_int_equal(ledger_encode(&f->l, &bytes, &len), 0);
	assert_int_equal(ledger_parse(bytes, len, &fork, f->err, sizeof(f->err)), 0);
	assert_int_equal(ledger_verify(&fork, f->err, sizeof(f->err)), 0);
	free(bytes);
	assert_int_equal(ledger_append_revoke(&f->l, &f->id[A], "laptop-c", f->err,
					      sizeof(f->err)), 0);
	assert_int_equal(ledger_append_revoke(&fork, &f->id[A], "laptop-b", f->err,
					      sizeof(f->err)), 0);
	merge(f, &f->l, MESH_SYNC_OK, 1);
	merge(f, &fork, MESH_SYNC_FORK, 0);
	/* garbage is invalid, not an error of ours */
	{
		uint32_t added;
		int status;

		assert_int_equal(mesh_sync_merge(f->dir, (const uint8_t *)"junk", 4, &status, &added,
						 NULL, NULL, f->err, sizeof(f->err)), 0);
		assert_int_equal(status, MESH_SYNC_INVALID);
	}
	ledger_free(&older);
	ledger_free(&fork);
	ledger_free(&stored);
}

/* The services without --config read /etc's file if there is one, else the
 * one join wrote into the state directory (issue 10 #11: it was ignored). */
static void test_conf_default_path(void **state)
{
	struct fixture *f = *state;
	char etc[PATH_MAX / 2], st[PATH_MAX / 2], file[PATH_MAX], path[PATH_MAX];

	snprintf(etc, sizeof(etc), "%s/etc", f->dir);
	snprintf(st, sizeof(st), "%s/state", f->dir);
	assert_int_equal(mkdir_p(etc, 0700), 0);
	assert_int_equal(mkdir_p(st, 0700), 0);
	assert_null(conf_default_path(etc, st, "host.conf", path));
	snprintf(file, sizeof(file), "%s/host.conf", st);
	assert_int_equal(atomic_create_file(file, "name = x\n", 9, 0644), 0);
	assert_string_equal(conf_default_path(etc, st, "host.conf", path), file);
	snprintf(file, sizeof(file), "%s/host.conf", etc);
	assert_int_equal(atomic_create_file(file, "name = y\n", 9, 0644), 0);
	assert_string_equal(conf_default_path(etc, st, "host.conf", path), file);
	assert_null(conf_default_path(etc, st, "fleet.conf", path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plan_behind_nat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_with_endpoint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_revoked_and_strangers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_without_relay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_guest_subnets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_guest_revoked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plan_guest_capacity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trust_from_ledger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trust_load_prefers_ledger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conf_default_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_codec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_auth, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
