/* The fleet's fabric table and published ports: what is pushed, what is
 * refused, and what the store keeps across a restart. */
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

#include "service-vm-fleet/fabric-table.h"
#include "service-vm-fleet/store.h"

static void add_guest(struct guests *g, const char *name, const char *type, const char *node,
		      const char *addr)
{
	struct guest gu = { .state = GS_RUNNING };

	snprintf(gu.name, sizeof(gu.name), "%s", name);
	snprintf(gu.type, sizeof(gu.type), "%s", type);
	snprintf(gu.node, sizeof(gu.node), "%s", node);
	assert_int_equal(guests_add(g, &gu), 0);
	guest_set_address(guests_find(g, name), addr);
}

static struct fleet_pub pub(const char *guest, enum guest_proto proto, uint16_t port,
			    uint16_t host_port)
{
	struct fleet_pub p = { .proto = proto, .port = port, .host_port = host_port };

	snprintf(p.guest, sizeof(p.guest), "%s", guest);
	return p;
}

static void fixture(struct guests *g)
{
	guests_init(g);
	add_guest(g, "orch", "orchestration", "a", "10.78.1.2");
	add_guest(g, "vault", "totebox", "b", "10.78.2.2");
	add_guest(g, "site", "mediakit", "b", "10.78.2.3");
	add_guest(g, "site2", "mediakit", "a", "10.78.1.3");
	add_guest(g, "new", "mediakit", "a", NULL); /* no address yet */
}

static void table(void **state)
{
	struct fleet_pubs p = { 0 };
	struct fleet_pub e = pub("site", GUEST_PROTO_TCP, 80, 8080);
	struct fleet_pub n = pub("new", GUEST_PROTO_TCP, 80, 80);
	const char *why;
	struct guests g;
	struct fabric t;

	(void)state;
	fixture(&g);
	assert_int_equal(pubs_add(&p, &g, &e, &why), 0);
	assert_int_equal(pubs_add(&p, &g, &n, &why), 0);
	assert_int_equal(fleet_fabric_build(&g, &p, "osi.internal", &t), 0);
	assert_string_equal(t.zone, "osi.internal");
	assert_int_equal(t.nguests, 4);          /* "new" has no address */
	assert_null(fabric_find(&t, "new"));
	assert_int_equal(fabric_find(&t, "vault")->addr, 0x0a4e0202);
	assert_string_equal(fabric_find(&t, "vault")->node, "b");
	assert_int_equal(t.npubs, 1);            /* new's port waits for its address */
	assert_int_equal(t.pubs[0].host_port, 8080);
	fabric_free(&t);
	assert_int_equal(fleet_fabric_build(&g, &p, "Bad..zone", &t), -EINVAL);
	pubs_free(&p);
	guests_free(&g);
}

static void publish_refusals(void **state)
{
	struct fleet_pubs p = { 0 };
	struct fleet_pub e = pub("site", GUEST_PROTO_TCP, 80, 8080), out;
	const char *why;
	struct guests g;

	(void)state;
	fixture(&g);
	assert_int_equal(pubs_add(&p, &g, &e, &why), 0);
	e = pub("site", GUEST_PROTO_TCP, 80, 8081);
	assert_int_equal(pubs_add(&p, &g, &e, &why), -EEXIST);
	e = pub("vault", GUEST_PROTO_TCP, 443, 8080);  /* node b's 8080 is taken */
	assert_int_equal(pubs_add(&p, &g, &e, &why), -EINVAL);
	e = pub("site2", GUEST_PROTO_TCP, 80, 8080);   /* node a's is not */
	assert_int_equal(pubs_add(&p, &g, &e, &why), 0);
	e = pub("vault", GUEST_PROTO_UDP, 443, 8080);  /* another protocol */
	assert_int_equal(pubs_add(&p, &g, &e, &why), 0);
	for (unsigned port = 7101; port <= 7105; port++) {
		e = pub("vault", GUEST_PROTO_TCP, 1, (uint16_t)port);
		assert_int_equal(pubs_add(&p, &g, &e, &why), -EINVAL);
	}
	e = pub("vault", GUEST_PROTO_TCP, 0, 9000);
	assert_int_equal(pubs_add(&p, &g, &e, &why), -EINVAL);
	assert_int_equal(p.count, 3);
	assert_int_equal(pubs_remove(&p, "site", GUEST_PROTO_UDP, 80, &out), -ENOENT);
	assert_int_equal(pubs_remove(&p, "site", GUEST_PROTO_TCP, 80, &out), 0);
	assert_int_equal(out.host_port, 8080);
	assert_int_equal(pubs_drop_guest(&p, "vault"), 1);
	assert_int_equal(p.count, 1);
	pubs_free(&p);
	guests_free(&g);
}

static int count_pub(void *ctx, const struct store_pub *p)
{
	(*(int *)ctx)++;
	assert_string_equal(p->guest, "site");
	assert_string_equal(p->proto, "tcp");
	assert_int_equal(p->host_port, 8080);
	return 0;
}

/* Recorded, kept across a reopen, dropped with the guest. */
static void store_records(void **state)
{
	char dir[] = "/tmp/test-fabric-table-XXXXXX", path[64];
	const struct store_pub sp = { "site", "tcp", 80, 8080 };
	const struct store_guest sg = { .name = "site", .type = "mediakit", .node = "b",
					.state = "running" };
	struct store *s;
	int n = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fleet.db", dir);
	assert_int_equal(store_open(path, &s), 0);
	assert_int_equal(store_guest(s, &sg, NULL, NULL, 1), 0);
	assert_int_equal(store_publish(s, &sp, true, "b", 1), 0);
	assert_true(store_publish(s, &sp, true, "b", 1) < 0); /* once */
	store_close(s);
	assert_int_equal(store_open(path, &s), 0);
	assert_int_equal(store_published_each(s, count_pub, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_guest_forget(s, "site", "b", "guest-destroyed", "x", 2), 0);
	n = 0;
	assert_int_equal(store_published_each(s, count_pub, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_publish(s, &sp, true, "b", 1), 0);
	assert_int_equal(store_publish(s, &sp, false, "b", 1), 0);
	assert_int_equal(store_published_each(s, count_pub, &n), 0);
	assert_int_equal(n, 0);
	store_close(s);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table),
		cmocka_unit_test(publish_refusals),
		cmocka_unit_test(store_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
