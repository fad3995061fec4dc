#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "service-vm-fleet/ingest.h"

struct world {
	struct identity fleet;
	struct identity node;
	struct trust_set trust;
	struct trust_entry entry;
	uint8_t key[HB_KEY_BYTES];
	struct ingest in;
};

static void make_identity(struct identity *id, const char *name)
{
	memset(id, 0, sizeof(*id));
	snprintf(id->name, sizeof(id->name), "%s", name);
	crypto_sign_keypair(id->sign_pk, id->sign_sk);
	crypto_kx_keypair(id->kx_pk, id->kx_sk);
}

static int setup(void **state)
{
	static struct world w;

	memset(&w, 0, sizeof(w));
	assert_int_equal(auth_init(), 0);
	make_identity(&w.fleet, "fleet");
	make_identity(&w.node, "n1");
	snprintf(w.entry.name, sizeof(w.entry.name), "n1");
	w.entry.roles = TRUST_ROLE_NODE;
	memcpy(w.entry.sign_pk, w.node.sign_pk, SIGN_PK_BYTES);
	memcpy(w.entry.kx_pk, w.node.kx_pk, KX_PK_BYTES);
	w.trust.entries = &w.entry;
	w.trust.count = 1;
	assert_int_equal(hb_key_node(w.key, w.node.kx_pk, w.node.kx_sk, w.fleet.kx_pk), 0);
	ingest_init(&w.in);
	assert_int_equal(ingest_set_trust(&w.in, &w.trust, &w.fleet), 0);
	*state = &w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	ingest_free(&w->in);
	return 0;
}

static void datagram(const struct world *w, const char *name, uint64_t seq, uint8_t out[HB_SIZE])
{
	struct heartbeat hb = { .seq = seq, .ncpu = 4, .mem_total_kib = 1 << 20,
				.mem_available_kib = 1 << 19, .interval_ms = 10000 };

	snprintf(hb.name, sizeof(hb.name), "%s", name);
	assert_int_equal(hb_encode(&hb, out), 0);
	hb_auth_seal(out, w->key);
}

static void accepts_genuine_in_order(void **state)
{
	struct world *w = *state;
	uint8_t d[HB_SIZE];
	struct heartbeat hb;

	for (uint64_t s = 1; s <= 5; s++) {
		datagram(w, "n1", s, d);
		assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_OK);
		assert_int_equal(hb.seq, s);
		assert_string_equal(hb.name, "n1");
	}
	assert_int_equal(w->in.accepted, 5);
}

static void counts_each_reason(void **state)
{
	struct world *w = *state;
	uint8_t d[HB_SIZE], big[HB_SIZE + 1] = { 0 };
	struct heartbeat hb;

	datagram(w, "n1", 100, d);
	assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_OK);
	assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_REJECT_REPLAYED);
	assert_int_equal(ingest_datagram(&w->in, d, HB_SIZE - 1, &hb), HB_REJECT_TRUNCATED);
	memcpy(big, d, HB_SIZE);
	assert_int_equal(ingest_datagram(&w->in, big, sizeof(big), &hb), HB_REJECT_OVERSIZED);
	datagram(w, "n1", 101, d);
	d[HB_MAC_OFFSET + 3] ^= 1;
	assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_REJECT_BAD_MAC);
	datagram(w, "n1", 102, d);
	d[60] ^= 0x10; /* a flipped payload bit breaks the MAC too */
	assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_REJECT_BAD_MAC);
	datagram(w, "ghost", 1, d);
	assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_REJECT_UNKNOWN);
	datagram(w, "n1", 100 + REPLAY_WINDOW + 5, d);
	assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_OK);
	datagram(w, "n1", 101, d);
	assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_REJECT_STALE);
	memset(d, 0, sizeof(d));
	assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_REJECT_MALFORMED);
	assert_int_equal(w->in.accepted, 2);
	for (int r = HB_REJECT_MALFORMED; r <= HB_REJECT_STALE; r++)
		assert_int_equal(w->in.rejected[r], r == HB_REJECT_BAD_MAC ? 2 : 1);
}

static void replay_window_survives_reload(void **state)
{
	struct world *w = *state;
	uint8_t d[HB_SIZE];
	struct heartbeat hb;

	datagram(w, "n1", 7, d);
	assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_OK);
	assert_int_equal(ingest_set_trust(&w->in, &w->trust, &w->fleet), 0);
	assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_REJECT_REPLAYED);
}

static void removed_member_is_revoked(void **state)
{
	struct world *w = *state;
	struct trust_set none = { 0 };
	uint8_t d[HB_SIZE];
	struct heartbeat hb;

	assert_int_equal(ingest_set_trust(&w->in, &none, &w->fleet), 0);
	datagram(w, "n1", 1, d);
	assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_REJECT_REVOKED);
	assert_int_equal(ingest_set_trust(&w->in, &w->trust, &w->fleet), 0);
	assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_OK);
}

static void floor_rejects_older(void **state)
{
	struct world *w = *state;
	uint8_t d[HB_SIZE];
	struct heartbeat hb;

	ingest_set_floor(&w->in, "n1", 5000);
	datagram(w, "n1", 5000, d);
	assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_REJECT_REPLAYED);
	datagram(w, "n1", 5001, d);
	assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_OK);
}

static void node_key_must_match_fleet_side(void **state)
{
	struct world *w = *state;
	struct identity other;
	uint8_t d[HB_SIZE];
	struct heartbeat hb;

	/* Keyed to another fleet: this fleet cannot authenticate it. */
	make_identity(&other, "fleet2");
	assert_int_equal(hb_key_node(w->key, w->node.kx_pk, w->node.kx_sk, other.kx_pk), 0);
	datagram(w, "n1", 1, d);
	assert_int_equal(ingest_datagram(&w->in, d, sizeof(d), &hb), HB_REJECT_BAD_MAC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(accepts_genuine_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(counts_each_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(replay_window_survives_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(removed_member_is_revoked, setup, teardown),
		cmocka_unit_test_setup_teardown(floor_rejects_older, setup, teardown),
		cmocka_unit_test_setup_teardown(node_key_must_match_fleet_side, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
