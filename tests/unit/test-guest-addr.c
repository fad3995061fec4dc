/* The fleet believes a node's reported guest address only inside that
 * node's guest subnet (or outside the guest prefix), and never for a second
 * guest while another holds it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "lib/guest-net.h"
#include "lib/identity.h"
#include "lib/ledger.h"
#include "lib/mesh.h"
#include "service-vm-fleet/fleet.h"
#include "service-vm-fleet/guest-addr.h"
#include "service-vm-fleet/store.h"
#include "tests/unit/fixture.h"

#define MESH 0x0a4d0000u

static void genesis(struct ledger *l)
{
	struct identity a;
	uint8_t seed[32] = { 7 };
	char err[256];

	memset(&a, 0, sizeof(a));
	strcpy(a.name, "laptop-a");
	crypto_sign_seed_keypair(a.sign_pk, a.sign_sk, seed);
	seed[0] ^= 1;
	crypto_kx_seed_keypair(a.kx_pk, a.kx_sk, seed);
	seed[0] ^= 2;
	memcpy(a.wg_sk, seed, sizeof(a.wg_sk));
	crypto_scalarmult_base(a.wg_pk, a.wg_sk);
	a.has_wg = true;
	ledger_init(l);
	assert_int_equal(ledger_genesis(l, &a, NULL, MESH, 16, a.wg_pk, "", LEDGER_FOUNDER_ROLES,
					err, sizeof(err)), 0);
}

static void add(struct guests *g, const char *name, const char *node, const char *addr)
{
	struct guest gu = { .state = GS_RUNNING };

	snprintf(gu.name, sizeof(gu.name), "%s", name);
	snprintf(gu.type, sizeof(gu.type), "totebox");
	snprintf(gu.node, sizeof(gu.node), "%s", node);
	assert_int_equal(guests_add(g, &gu), 0);
	guest_set_address(guests_find(g, name), addr);
}

static enum guest_addr_verdict check(const struct guests *g, const char *name, const char *addr,
				     const struct guest_net *net, const struct ledger *l)
{
	const struct guest *holder;

	return guest_addr_check(g, guests_find(g, name), addr, net, l, &holder);
}

static void verdicts(void **state)
{
	const struct guest *holder;
	struct guest_net net;
	struct guests g;
	struct ledger l;
	char err[256];

	(void)state;
	assert_true(sodium_init() >= 0);
	genesis(&l);
	assert_int_equal(guest_net_from_ledger(&net, &l, err, sizeof(err)), 0);
	guests_init(&g);
	add(&g, "tb", "laptop-a", NULL);
	add(&g, "orch", "laptop-a", NULL);
	add(&g, "mk", "laptop-b", NULL);
	assert_int_equal(check(&g, "tb", "10.78.1.2", &net, &l), GUEST_ADDR_OK);
	/* laptop-a's subnet claimed by laptop-b; a subnet nobody owns */
	assert_int_equal(check(&g, "mk", "10.78.1.2", &net, &l), GUEST_ADDR_FOREIGN);
	assert_int_equal(check(&g, "tb", "10.78.9.2", &net, &l), GUEST_ADDR_FOREIGN);
	assert_int_equal(check(&g, "tb", "10.78.0.2", &net, &l), GUEST_ADDR_FOREIGN);
	assert_int_equal(check(&g, "mk", "10.78.1.2", &net, NULL), GUEST_ADDR_FOREIGN);
	/* outside the guest prefix (user or bridge networks), none, no mesh */
	assert_int_equal(check(&g, "mk", "192.168.122.5", &net, &l), GUEST_ADDR_OK);
	assert_int_equal(check(&g, "mk", NULL, &net, &l), GUEST_ADDR_OK);
	assert_int_equal(check(&g, "mk", "10.78.1.2", NULL, NULL), GUEST_ADDR_OK);
	/* held by another guest; its holder may report it again */
	guest_set_address(guests_find(&g, "tb"), "10.78.1.2");
	assert_int_equal(guest_addr_check(&g, guests_find(&g, "orch"), "10.78.1.2", &net, &l,
					  &holder), GUEST_ADDR_HELD);
	assert_ptr_equal(holder, guests_find(&g, "tb"));
	assert_int_equal(check(&g, "tb", "10.78.1.2", &net, &l), GUEST_ADDR_OK);
	guests_free(&g);
	ledger_free(&l);
}

static json_t *reply(const char *a, const char *b, const char *c, const char *d)
{
	json_t *j = json_object();

	json_object_set_new(j, a, json_string(b));
	if (c)
		json_object_set_new(j, c, json_string(d));
	return j;
}

static size_t conflicts(struct store *s)
{
	json_t *ev, *e;
	size_t i, n = 0;

	assert_int_equal(store_events_json(s, 0, 0, &ev), 0);
	json_array_foreach(ev, i, e)
		n += !strcmp(json_string_value(json_object_get(e, "kind")), "conflict");
	json_decref(ev);
	return n;
}

static void replies(void **state)
{
	static struct fleet f;
	char dir[64], db[96];
	struct ledger l;
	json_t *r;

	(void)state;
	assert_true(sodium_init() >= 0);
	memset(&f, 0, sizeof(f));
	assert_int_equal(fixture_tmpdir(dir, sizeof(dir), "osi-test-guest-addr"), 0);
	snprintf(f.cfg.state_dir, sizeof(f.cfg.state_dir), "%s", dir);
	snprintf(db, sizeof(db), "%s/fleet.db", dir);
	assert_int_equal(store_open(db, &f.store), 0);
	genesis(&l);
	assert_int_equal(mesh_ledger_save(dir, &l), 0);
	ledger_free(&l);
	guests_init(&f.guests);
	add(&f.guests, "tb", "laptop-a", NULL);
	add(&f.guests, "orch", "laptop-a", NULL);
	add(&f.guests, "mk", "laptop-b", "192.168.122.5");

	r = reply("tb", "10.78.1.2", "orch", "10.78.1.3");
	fleet_guest_addresses(&f, "laptop-a", r, 1);
	json_decref(r);
	assert_string_equal(guests_find(&f.guests, "tb")->address, "10.78.1.2");
	assert_string_equal(guests_find(&f.guests, "orch")->address, "10.78.1.3");
	/* another node claims the Totebox's address: refused, the Totebox keeps it */
	r = reply("mk", "10.78.1.2", NULL, NULL);
	fleet_guest_addresses(&f, "laptop-b", r, 2);
	fleet_guest_addresses(&f, "laptop-b", r, 3);
	json_decref(r);
	assert_string_equal(guests_find(&f.guests, "mk")->address, "");
	assert_string_equal(guests_find(&f.guests, "tb")->address, "10.78.1.2");
	assert_int_equal(conflicts(f.store), 1);
	/* a second guest of the same node on a held address: the first keeps it */
	r = reply("tb", "10.78.1.2", "orch", "10.78.1.2");
	fleet_guest_addresses(&f, "laptop-a", r, 4);
	json_decref(r);
	assert_string_equal(guests_find(&f.guests, "tb")->address, "10.78.1.2");
	assert_string_equal(guests_find(&f.guests, "orch")->address, "");
	assert_int_equal(conflicts(f.store), 2);
	/* outside the guest prefix: as reported */
	r = reply("mk", "192.168.122.6", NULL, NULL);
	fleet_guest_addresses(&f, "laptop-b", r, 5);
	json_decref(r);
	assert_string_equal(guests_find(&f.guests, "mk")->address, "192.168.122.6");
	guests_free(&f.guests);
	store_close(f.store);
	assert_int_equal(fixture_rmtree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(verdicts),
		cmocka_unit_test(replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
