/* The fleet keeps what a node's reply says its guests' agents reported:
 * only for that node's guests, each entry checked, a bad one dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "service-vm-fleet/guest-agent-report.h"

static void add(struct guests *g, const char *name, const char *node)
{
	struct guest gu;

	memset(&gu, 0, sizeof(gu));
	snprintf(gu.name, sizeof(gu.name), "%s", name);
	snprintf(gu.type, sizeof(gu.type), "mediakit");
	snprintf(gu.node, sizeof(gu.node), "%s", node);
	gu.state = GS_RUNNING;
	assert_int_equal(guests_add(g, &gu), 0);
}

static unsigned take(struct guests *g, const char *node, const char *text)
{
	json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
	unsigned refused;

	assert_true(!text || v);
	refused = guests_take_agent(g, node, v);
	json_decref(v);
	return refused;
}

static void per_node(void **state)
{
	struct guests g;

	(void)state;
	guests_init(&g);
	add(&g, "web1", "node-a");
	add(&g, "vault1", "node-b");
	assert_int_equal(take(&g, "node-a", "{\"web1\":{\"eth0\":[\"10.78.1.2\",\"fe80::1\"]},"
			      "\"vault1\":{\"eth0\":[\"10.78.2.2\"]}}"), 0);
	assert_int_equal(guests_find(&g, "web1")->agent.n, 2);
	assert_string_equal(guests_find(&g, "web1")->agent.a[1].addr, "fe80::1");
	/* node-a cannot speak for node-b's guest */
	assert_int_equal(guests_find(&g, "vault1")->agent.n, 0);
	assert_int_equal(take(&g, "node-b", "{\"vault1\":{\"eth0\":[\"10.78.2.2\"]}}"), 0);
	assert_int_equal(guests_find(&g, "vault1")->agent.n, 1);
	assert_int_equal(guests_find(&g, "web1")->agent.n, 2);
	/* a reply without "agent" clears the node's guests */
	assert_int_equal(take(&g, "node-a", NULL), 0);
	assert_int_equal(guests_find(&g, "web1")->agent.n, 0);
	assert_int_equal(guests_find(&g, "vault1")->agent.n, 1);
	guests_free(&g);
}

static void malformed(void **state)
{
	struct guests g;

	(void)state;
	guests_init(&g);
	add(&g, "web1", "node-a");
	add(&g, "web2", "node-a");
	assert_int_equal(take(&g, "node-a", "{\"web1\":{\"eth0\":[\"10.78.1.2\"]},"
			      "\"web2\":{\"eth0\":[\"10.78.1.3\"]}}"), 0);
	assert_int_equal(take(&g, "node-a", "{\"web1\":{\"eth0\":[\"10.78.1.02\"]},"
			      "\"web2\":{\"eth0\":[\"10.78.1.3\"]}}"), 1);
	assert_int_equal(guests_find(&g, "web1")->agent.n, 0);
	assert_int_equal(guests_find(&g, "web2")->agent.n, 1);
	assert_int_equal(take(&g, "node-a", "[\"web2\"]"), 1);
	assert_int_equal(guests_find(&g, "web2")->agent.n, 0);
	assert_int_equal(take(&g, "node-a", "{\"web1\":[\"10.78.1.2\"],\"web2\":{\"e 0\":[\"10.78.1.3\"]}}"), 2);
	guests_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(per_node),
		cmocka_unit_test(malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
