/* lib/guest-net.c: each member's guest subnet, derived from the ledger. */
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

#include "lib/guest-net.h"

#define IP(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))
#define MESH IP(10, 77, 0, 0)

static void test_default_layout(void **state)
{
	struct guest_net g;
	struct guest_net_range r;
	uint32_t s;

	(void)state;
	assert_int_equal(guest_net_default(&g, MESH, 16, NULL, 0), 0);
	assert_int_equal(g.addr, IP(10, 78, 0, 0));
	assert_int_equal(g.len, 16);
	assert_int_equal(g.subnet_len, 24);
	assert_int_equal(guest_net_capacity(&g), 255);
	assert_int_equal(guest_net_subnet(&g, IP(10, 77, 0, 5), &s, NULL, 0), 0);
	assert_int_equal(s, IP(10, 78, 5, 0));
	assert_int_equal(guest_net_range(&g, s, &r), 0);
	assert_int_equal(r.gateway, IP(10, 78, 5, 1));
	assert_int_equal(r.dhcp_first, IP(10, 78, 5, 2));
	assert_int_equal(r.dhcp_last, IP(10, 78, 5, 254));
	/* A mesh on the default guest prefix moves the guests aside. */
	assert_int_equal(guest_net_default(&g, IP(10, 78, 0, 0), 16, NULL, 0), 0);
	assert_int_equal(g.addr, IP(10, 79, 0, 0));
	assert_int_equal(guest_net_default(&g, IP(10, 78, 200, 0), 24, NULL, 0), 0);
	assert_int_equal(g.addr, IP(10, 79, 0, 0));
	assert_int_equal(guest_net_default(&g, IP(192, 168, 50, 0), 24, NULL, 0), 0);
	assert_int_equal(g.addr, IP(10, 78, 0, 0));
	assert_int_equal(guest_net_capacity(&g), 254); /* the mesh's hosts bound it */
}

/* Every host address of a full mesh gets its own subnet, inside the guest
 * prefix, clear of the mesh and of libvirt's default network, and maps back
 * to itself; the limit is stated, never wrapped around. */
static void check_full_mesh(uint32_t mesh, uint8_t mesh_len)
{
	uint32_t hosts = (1u << (32 - mesh_len)) - 2, s, owner, seen_max = 0;
	uint8_t *seen = calloc(1u << 16, 1);
	struct guest_net g;
	char err[128];

	assert_non_null(seen);
	assert_int_equal(guest_net_default(&g, mesh, mesh_len, NULL, 0), 0);
	for (uint32_t n = 1; n <= hosts; n++) {
		int ret = guest_net_subnet(&g, mesh + n, &s, err, sizeof(err));

		if (n > 255) {
			assert_int_equal(ret, -ERANGE);
			assert_non_null(strstr(err, "no guest subnet"));
			continue;
		}
		assert_int_equal(ret, 0);
		assert_int_equal(s & 0xffff0000u, g.addr);
		assert_int_equal(s & 0xffu, 0);
		assert_int_equal(seen[(s >> 8) & 0xffff], 0);
		seen[(s >> 8) & 0xffff] = 1;
		assert_int_equal(guest_net_owner_addr(&g, s + 1, &owner), 0);
		assert_int_equal(owner, mesh + n);
		assert_int_equal(guest_net_owner_addr(&g, s + 255, &owner), 0);
		assert_int_equal(owner, mesh + n);
		seen_max = n;
	}
	assert_int_equal(seen_max, hosts < 255 ? hosts : 255);
	assert_int_equal(guest_net_capacity(&g), seen_max);
	free(seen);
}

static void test_full_mesh_no_collision(void **state)
{
	(void)state;
	check_full_mesh(IP(10, 77, 0, 0), 24);
	check_full_mesh(IP(10, 77, 0, 0), 16);
	check_full_mesh(IP(172, 20, 4, 0), 23);
	check_full_mesh(IP(10, 77, 9, 252), 30);
}

static void test_boundaries(void **state)
{
	struct guest_net g;
	struct guest_net_range r;
	uint32_t s, owner;
	char err[128];

	(void)state;
	assert_int_equal(guest_net_default(&g, MESH, 16, NULL, 0), 0);
	/* network and broadcast of the mesh, and outside it: no member */
	assert_int_equal(guest_net_subnet(&g, MESH, &s, err, sizeof(err)), -EDOM);
	assert_int_equal(guest_net_subnet(&g, IP(10, 77, 255, 255), &s, NULL, 0), -EDOM);
	assert_int_equal(guest_net_subnet(&g, IP(10, 76, 0, 1), &s, NULL, 0), -EDOM);
	assert_int_equal(guest_net_subnet(&g, IP(10, 77, 0, 255), &s, NULL, 0), 0);
	assert_int_equal(s, IP(10, 78, 255, 0));
	assert_int_equal(guest_net_subnet(&g, IP(10, 77, 1, 0), &s, err, sizeof(err)), -ERANGE);
	/* owners: subnet 0 and outside the prefix belong to nobody */
	assert_int_equal(guest_net_owner_addr(&g, IP(10, 78, 0, 7), &owner), -ENOENT);
	assert_int_equal(guest_net_owner_addr(&g, IP(10, 79, 1, 7), &owner), -ENOENT);
	assert_int_equal(guest_net_owner_addr(&g, IP(10, 77, 1, 7), &owner), -ENOENT);
	assert_int_equal(guest_net_owner_addr(&g, IP(10, 78, 255, 255), &owner), 0);
	assert_int_equal(owner, IP(10, 77, 0, 255));
	/* ranges: only subnets of the layout */
	assert_int_equal(guest_net_range(&g, IP(10, 78, 0, 0), &r), -EINVAL);
	assert_int_equal(guest_net_range(&g, IP(10, 78, 3, 4), &r), -EINVAL);
	assert_int_equal(guest_net_range(&g, IP(10, 80, 3, 0), &r), -EINVAL);
	/* a small mesh's owner lookup stops at its last host */
	assert_int_equal(guest_net_default(&g, IP(10, 77, 9, 252), 30, NULL, 0), 0);
	assert_int_equal(guest_net_owner_addr(&g, IP(10, 78, 3, 1), &owner), -ENOENT);
}

static void test_explicit_prefix_checked(void **state)
{
	struct guest_net g;
	char err[128];

	(void)state;
	assert_int_equal(guest_net_init(&g, MESH, 16, IP(10, 77, 0, 0), 16, 24, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "mesh prefix"));
	assert_int_equal(guest_net_init(&g, MESH, 16, IP(10, 0, 0, 0), 8, 24, err, sizeof(err)),
			 -EINVAL); /* holds the mesh */
	assert_int_equal(guest_net_init(&g, MESH, 16, IP(192, 168, 0, 0), 16, 24, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "libvirt"));
	assert_int_equal(guest_net_init(&g, MESH, 16, IP(10, 78, 0, 1), 16, 24, NULL, 0), -EINVAL);
	assert_int_equal(guest_net_init(&g, MESH, 16, IP(10, 78, 0, 0), 16, 31, NULL, 0), -EINVAL);
	assert_int_equal(guest_net_init(&g, MESH, 16, IP(10, 78, 0, 0), 25, 24, NULL, 0), -EINVAL);
	assert_int_equal(guest_net_init(&g, MESH, 15, IP(10, 78, 0, 0), 16, 24, NULL, 0), -EINVAL);
	/* a denser layout: /26 per member out of a /16 */
	assert_int_equal(guest_net_init(&g, MESH, 16, IP(172, 16, 0, 0), 16, 26, NULL, 0), 0);
	assert_int_equal(guest_net_capacity(&g), 1023);
}

/* ---- from a ledger ---- */

static void make_id(struct identity *id, const char *name)
{
	uint8_t seed[32];

	memset(id, 0, sizeof(*id));
	snprintf(id->name, sizeof(id->name), "%s", name);
	crypto_generichash(seed, sizeof(seed), (const uint8_t *)name, strlen(name), NULL, 0);
	crypto_sign_seed_keypair(id->sign_pk, id->sign_sk, seed);
	seed[0] ^= 1;
	crypto_kx_seed_keypair(id->kx_pk, id->kx_sk, seed);
	seed[0] ^= 2;
	memcpy(id->wg_sk, seed, sizeof(id->wg_sk));
	crypto_scalarmult_base(id->wg_pk, id->wg_sk);
	id->has_wg = true;
}

static void admit(struct ledger *l, const struct identity *admin, const char *name)
{
	struct identity id;
	struct ledger_member m = { .roles = LEDGER_ROLE_NODE };
	char err[256];

	make_id(&id, name);
	snprintf(m.name, sizeof(m.name), "%s", name);
	memcpy(m.sign_pk, id.sign_pk, sizeof(m.sign_pk));
	memcpy(m.kx_pk, id.kx_pk, sizeof(m.kx_pk));
	memcpy(m.wg_pk, id.wg_pk, sizeof(m.wg_pk));
	assert_int_equal(ledger_next_address(l, &m.addr), 0);
	if (ledger_append_admit(l, admin, &m, err, sizeof(err)) < 0)
		fail_msg("admit %s: %s", name, err);
}

/* A ledger in the unchanged v1 format (nothing in it about guests): every
 * member has a subnet, revoked ones are owners no more and their subnet is
 * never handed to anyone else. */
static void test_from_legacy_ledger(void **state)
{
	struct identity a;
	struct ledger l, back;
	struct guest_net g;
	const struct ledger_member *m;
	uint8_t *bytes;
	size_t len, n;
	uint32_t s;
	char err[256];

	(void)state;
	assert_true(sodium_init() >= 0);
	make_id(&a, "laptop-a");
	ledger_init(&l);
	assert_int_equal(ledger_genesis(&l, &a, NULL, MESH, 16, a.wg_pk, "", LEDGER_FOUNDER_ROLES,
					err, sizeof(err)), 0);
	admit(&l, &a, "laptop-b");
	admit(&l, &a, "cloud");
	assert_int_equal(ledger_append_revoke(&l, &a, "cloud", err, sizeof(err)), 0);
	admit(&l, &a, "laptop-c");
	/* what every member computes after a round trip through the file format */
	assert_int_equal(ledger_encode(&l, &bytes, &len), 0);
	ledger_init(&back);
	assert_int_equal(ledger_parse(bytes, len, &back, err, sizeof(err)), 0);
	assert_int_equal(ledger_verify(&back, err, sizeof(err)), 0);
	free(bytes);
	assert_int_equal(guest_net_from_ledger(&g, &back, NULL, 0), 0);
	assert_int_equal(ledger_members(&back, &m, &n), 0);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(guest_net_subnet(&g, m[i].addr, &s, NULL, 0), 0);
		assert_int_equal(s, IP(10, 78, i + 1, 0)); /* laptop-c is .4: cloud's .3 stays its */
		if (m[i].revoked)
			assert_null(guest_net_owner(&g, &back, s + 9));
		else
			assert_string_equal(guest_net_owner(&g, &back, s + 9)->name, m[i].name);
	}
	assert_null(guest_net_owner(&g, &back, IP(10, 78, 5, 9)));
	ledger_free(&back);
	ledger_free(&l);
	identity_wipe(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_layout),
		cmocka_unit_test(test_full_mesh_no_collision),
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_explicit_prefix_checked),
		cmocka_unit_test(test_from_legacy_ledger),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
