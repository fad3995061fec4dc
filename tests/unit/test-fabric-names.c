/* The agent's names file from a fabric table and its ledger: what the
 * helper's strict parser (lib/names-file.h) accepts whole. */
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
#include "lib/identity.h"
#include "lib/ledger.h"
#include "lib/names-file.h"
#include "service-vm-host/fabric.h"

#define MESH 0x0a4d0000u

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

static const char table[] =
	"{\"zone\":\"osi.internal\",\"guests\":["
	"{\"name\":\"orch\",\"type\":\"orchestration\",\"node\":\"laptop-a\",\"addr\":\"10.78.1.2\"},"
	"{\"name\":\"laptop-a\",\"type\":\"mediakit\",\"node\":\"laptop-a\",\"addr\":\"10.78.1.3\"},"
	"{\"name\":\"stray\",\"type\":\"totebox\",\"node\":\"x\",\"addr\":\"192.168.122.5\"}],"
	"\"published\":[]}";

static void names_text(void **state)
{
	const struct names_scope scope = { "osi.internal", 0x0a4e0000, 16, MESH, 16 };
	struct names_entry *e;
	struct identity a;
	struct guest_net net;
	struct fabric f;
	struct ledger l;
	char err[256], *text;
	size_t len, n;

	(void)state;
	assert_true(sodium_init() >= 0);
	make_id(&a, "laptop-a");
	ledger_init(&l);
	assert_int_equal(ledger_genesis(&l, &a, NULL, MESH, 16, a.wg_pk, "", LEDGER_FOUNDER_ROLES,
					err, sizeof(err)), 0);
	assert_int_equal(guest_net_from_ledger(&net, &l, err, sizeof(err)), 0);
	assert_int_equal(fabric_parse(table, strlen(table), &f, err, sizeof(err)), 0);
	assert_int_equal(fabric_names_text(&f, &net, &l, &text, &len), 0);
	/* outside the guest prefix: left out; a guest named like a member keeps the name */
	assert_string_equal(text, "10.78.1.2 orch.osi.internal\n10.78.1.3 laptop-a.osi.internal\n");
	assert_int_equal(names_file_parse(text, len, &scope, &e, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	free(e);
	free(text);
	fabric_free(&f);
	/* the member's own line, once no guest has its name */
	{
		static const char empty[] = "{\"zone\":\"osi.internal\",\"guests\":[],\"published\":[]}";

		assert_int_equal(fabric_parse(empty, strlen(empty), &f, err, sizeof(err)), 0);
	}
	assert_int_equal(fabric_names_text(&f, &net, &l, &text, &len), 0);
	assert_string_equal(text, "10.77.0.1 laptop-a.osi.internal\n");
	free(text);
	fabric_free(&f);
	ledger_free(&l);
}

/* A guest's address counts only inside its own node's subnet: a member that
 * reports another node's address (or a subnet nobody owns) names nothing. */
static void names_own_subnet(void **state)
{
	static const char spoof[] =
		"{\"zone\":\"osi.internal\",\"guests\":["
		"{\"name\":\"mk\",\"type\":\"mediakit\",\"node\":\"laptop-b\",\"addr\":\"10.78.1.2\"},"
		"{\"name\":\"far\",\"type\":\"mediakit\",\"node\":\"laptop-a\",\"addr\":\"10.78.9.2\"},"
		"{\"name\":\"tb\",\"type\":\"totebox\",\"node\":\"laptop-a\",\"addr\":\"10.78.1.3\"}],"
		"\"published\":[]}";
	struct identity a;
	struct guest_net net;
	struct fabric f;
	struct ledger l;
	char err[256], *text;
	size_t len;

	(void)state;
	assert_true(sodium_init() >= 0);
	make_id(&a, "laptop-a");
	ledger_init(&l);
	assert_int_equal(ledger_genesis(&l, &a, NULL, MESH, 16, a.wg_pk, "", LEDGER_FOUNDER_ROLES,
					err, sizeof(err)), 0);
	assert_int_equal(guest_net_from_ledger(&net, &l, err, sizeof(err)), 0);
	assert_int_equal(fabric_parse(spoof, strlen(spoof), &f, err, sizeof(err)), 0);
	assert_false(fabric_guest_placed(&f.guests[0], &net, &l));
	assert_false(fabric_guest_placed(&f.guests[1], &net, &l));
	assert_true(fabric_guest_placed(&f.guests[2], &net, &l));
	assert_false(fabric_guest_placed(&f.guests[2], &net, NULL));
	assert_int_equal(fabric_names_text(&f, &net, &l, &text, &len), 0);
	assert_string_equal(text, "10.78.1.3 tb.osi.internal\n10.77.0.1 laptop-a.osi.internal\n");
	free(text);
	fabric_free(&f);
	ledger_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_text),
		cmocka_unit_test(names_own_subnet),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
