/* What a guest's agent reports, as the node and the fleet check it: names,
 * canonical addresses, the bound, and the fleet's strict JSON. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "lib/guest-agent.h"

static void names_and_addresses(void **state)
{
	(void)state;
	assert_true(guest_agent_ifname_valid("eth0"));
	assert_true(guest_agent_ifname_valid("enp1s0.100"));
	assert_true(guest_agent_ifname_valid("br-0123456789ab")); /* 15 */
	assert_false(guest_agent_ifname_valid(""));
	assert_false(guest_agent_ifname_valid("0123456789abcdef")); /* 16 */
	assert_false(guest_agent_ifname_valid("eth 0"));
	assert_false(guest_agent_ifname_valid("eth:0"));
	assert_false(guest_agent_ifname_valid("eth0\n"));
	assert_false(guest_agent_ifname_valid("\xc3\xa9th0"));

	assert_true(guest_agent_addr_valid("10.78.1.2"));
	assert_true(guest_agent_addr_valid("fe80::5054:ff:fe12:3456"));
	assert_true(guest_agent_addr_valid("2001:db8::1"));
	assert_false(guest_agent_addr_valid(""));
	assert_false(guest_agent_addr_valid("10.78.1.02"));
	assert_false(guest_agent_addr_valid("10.78.1"));
	assert_false(guest_agent_addr_valid("10.78.1.2/24"));
	assert_false(guest_agent_addr_valid("2001:DB8::1"));      /* inet_ntop writes lower case */
	assert_false(guest_agent_addr_valid("2001:db8:0:0::1"));  /* not the short form */
	assert_false(guest_agent_addr_valid("fe80::1%eth0"));
	assert_false(guest_agent_addr_valid(" 10.78.1.2"));
}

static void bounded(void **state)
{
	struct guest_agent g = { 0 };
	char addr[32];

	(void)state;
	assert_int_equal(guest_agent_add(&g, "eth0", "10.78.1.2"), 0);
	assert_int_equal(guest_agent_add(&g, "eth0", "10.78.1.2"), -EEXIST);
	assert_int_equal(guest_agent_add(&g, "eth1", "10.78.1.2"), 0);
	assert_int_equal(guest_agent_add(&g, "eth0", "10.78.1.999"), -EINVAL);
	assert_int_equal(guest_agent_add(&g, "eth/0", "10.78.1.3"), -EINVAL);
	for (unsigned i = 2; i < GUEST_AGENT_ADDRS_MAX; i++) {
		snprintf(addr, sizeof(addr), "192.0.2.%u", i);
		assert_int_equal(guest_agent_add(&g, "eth0", addr), 0);
	}
	assert_int_equal(guest_agent_add(&g, "eth0", "192.0.2.200"), -ENOSPC);
	assert_int_equal(g.n, GUEST_AGENT_ADDRS_MAX);
}

static int from_text(const char *text, struct guest_agent *g)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	int ret;

	assert_non_null(v);
	ret = guest_agent_from_json(v, g);
	json_decref(v);
	return ret;
}

static void json_strict(void **state)
{
	static const char *const bad[] = {
		"[]", "\"eth0\"", "{\"eth0\":\"10.0.0.1\"}", "{\"eth0\":[]}", "{\"eth0\":[1]}",
		"{\"eth0\":[\"10.0.0.1\",\"10.0.0.1\"]}", "{\"eth 0\":[\"10.0.0.1\"]}",
		"{\"eth0\":[\"10.0.0.01\"]}", "{\"eth0\":[\"10.0.0.1\\u0000x\"]}",
		"{\"\":[\"10.0.0.1\"]}", "{\"eth0\":[null]}",
		("{\"a\":[\"10.0.0.1\",\"10.0.0.2\",\"10.0.0.3\",\"10.0.0.4\",\"10.0.0.5\"],"
		 " \"b\":[\"10.0.0.1\",\"10.0.0.2\",\"10.0.0.3\",\"10.0.0.4\"]}"), /* 9 > 8 */
	};
	struct guest_agent g;
	json_t *back;
	char *text;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(from_text(bad[i], &g), -EBADMSG);
		assert_int_equal(g.n, 0);
	}
	assert_int_equal(from_text("{}", &g), 0);
	assert_int_equal(g.n, 0);
	assert_int_equal(from_text("{\"eth0\":[\"10.78.1.2\",\"fe80::1\"],\"eth1\":[\"10.78.1.2\"]}",
				   &g), 0);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.a[1].ifname, "eth0");
	assert_string_equal(g.a[1].addr, "fe80::1");
	back = guest_agent_to_json(&g);
	assert_non_null(back);
	text = json_dumps(back, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, "{\"eth0\":[\"10.78.1.2\",\"fe80::1\"],\"eth1\":[\"10.78.1.2\"]}");
	free(text);
	json_decref(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_and_addresses),
		cmocka_unit_test(bounded),
		cmocka_unit_test(json_strict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
