#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nftables/libnftables.h>

#include "lib/firewall.h"
#include "lib/guest-policy.h"

static const uint32_t members[] = { 0x0a4d0001, 0x0a4d0002, 0x0a4d0105 };

static struct fw_spec spec(const char *ifname, size_t n)
{
	struct fw_spec s = { .members = members, .nmembers = n };

	/* the hostile name below is cut like any over-long input would be */
	memcpy(s.mesh_if, ifname, strnlen(ifname, sizeof(s.mesh_if) - 1));
	return s;
}

static void test_render_rules(void **state)
{
	struct fw_spec s = spec("osi0", 3);
	char buf[4096];

	assert_int_equal(fw_render(&s, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "add element inet osi members { 10.77.0.1, 10.77.0.2, 10.77.1.5 }"));
	assert_non_null(strstr(buf, "iifname \"osi0\" ip saddr @members tcp dport 7101-7105 accept"));
	assert_non_null(strstr(buf, "iifname \"osi0\" ip saddr @members udp dport 7101 accept"));
	/* nothing forwarded into the mesh from a guest bridge reaches those ports */
	assert_non_null(strstr(buf, "add rule inet osi control_forward iifname != \"osi0\" "
				    "oifname \"osi0\" meta l4proto { tcp, udp } th dport 7101-7105 "
				    "counter name \"denied\" drop\n"));
	/* a move's transfer port: members over the mesh, nobody else, nothing forwarded */
	assert_non_null(strstr(buf, "iifname \"osi0\" ip saddr @members tcp dport 7106 accept\n"
				    "add rule inet osi input tcp dport 7106 counter name \"denied\" drop\n"));
	assert_non_null(strstr(buf, "control_forward iifname != \"osi0\" oifname \"osi0\" tcp dport "
				    "7106 counter name \"denied\" drop\n"));
	/* the drop comes last: nothing below it may accept a control-plane port */
	assert_non_null(strstr(buf, "th dport 7101-7105 counter name \"denied\" drop\n"));
	{
		const char *last = "add rule inet osi input meta l4proto { tcp, udp } th dport 7101-7105 "
				   "counter name \"denied\" drop\n";

		assert_true(strlen(buf) > strlen(last));
		assert_string_equal(buf + strlen(buf) - strlen(last), last);
	}
	/* the table is never deleted, so the ceremony set keeps its elements */
	assert_null(strstr(buf, "delete table"));
}

static void test_render_refuses(void **state)
{
	struct fw_spec s = spec("osi0\"; flush ruleset; \"", 0);
	struct fw_spec empty = spec("", 0);
	struct fw_spec ok = spec("wg-a.1", 0);
	char buf[4096], small[40];

	assert_int_equal(fw_render(&s, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(fw_render(&empty, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(fw_render(&ok, small, sizeof(small)), -ENOSPC);
	assert_int_equal(fw_render(&ok, buf, sizeof(buf)), 0);
	assert_null(strstr(buf, "add element inet osi members"));
}

static char *ruleset(void)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	char *out;

	assert_non_null(nft);
	nft_ctx_buffer_output(nft);
	assert_int_equal(nft_run_cmd_from_buffer(nft, "list ruleset"), 0);
	out = strdup(nft_ctx_get_output_buffer(nft));
	nft_ctx_free(nft);
	return out;
}

/* The real kernel, in a network namespace of this test's own. */
static void test_apply_in_netns(void **state)
{
	struct fw_spec s = spec("osi0", 2), s3 = spec("osi0", 3);
	char err[256], *before, *now;

	if (unshare(CLONE_NEWNET) < 0)
		skip();
	before = ruleset();
	assert_int_equal(fw_ceremony_open(7104, 60, err, sizeof(err)), -ENOENT);
	assert_int_equal(fw_apply(&s, err, sizeof(err)), 0);
	assert_int_equal(fw_ceremony_open(7104, 600, err, sizeof(err)), 0);
	assert_int_equal(fw_apply(&s3, err, sizeof(err)), 0); /* a ledger change */
	now = ruleset();
	assert_non_null(strstr(now, "10.77.1.5"));
	assert_non_null(strstr(now, "7104 timeout 10m")); /* kept across the change */
	free(now);
	assert_int_equal(fw_ceremony_open(0, 0, err, sizeof(err)), 0);
	now = ruleset();
	assert_null(strstr(now, "7104 timeout"));
	free(now);
	assert_int_equal(fw_remove(err, sizeof(err)), 0);
	assert_int_equal(fw_remove(err, sizeof(err)), 0);
	now = ruleset();
	assert_string_equal(now, before);
	free(now);
	free(before);
}

/* The guest fabric's chains: DNAT of a published port and its forward
 * accept ahead of the policy's drops; the input chain and ceremony set stay. */
static int fabric_policy(char *buf, size_t len)
{
	static const struct guest_policy_guest g[] = { { "web", 1, 0x0a4e0102 } };
	struct guest_net net;
	struct guest_policy_spec ps = { .net = &net, .bridge = "osibr0", .own_subnet = 0x0a4e0100,
					.guests = g, .nguests = 1 };
	char err[128];

	assert_int_equal(guest_net_default(&net, 0x0a4d0000, 16, err, sizeof(err)), 0);
	return guest_policy_render(&ps, buf, len, err, sizeof(err));
}

static void test_fabric(void **state)
{
	const struct fw_published p = { 0x0a4e0102, 80, 8080, 0 };
	struct fw_spec s = spec("osi0", 2);
	char policy[8192], buf[16384], err[256], *now;

	assert_int_equal(fabric_policy(policy, sizeof(policy)), 0);
	assert_int_equal(fw_fabric_render(policy, "osibr0", &p, 1, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "add rule inet osi published iifname != \"osibr0\" fib daddr "
				    "type local tcp dport 8080 dnat ip to 10.78.1.2:80\n"));
	assert_non_null(strstr(buf, "insert rule inet osi forward iifname != \"osibr0\" ct status "
				    "dnat ip daddr 10.78.1.2 tcp dport 80 accept\n"));
	assert_null(strstr(buf, "flush chain inet osi input"));
	assert_int_equal(fw_fabric_render(policy, "osibr0\"", &p, 1, buf, sizeof(buf)), -EINVAL);
	if (unshare(CLONE_NEWNET) < 0)
		skip();
	assert_int_equal(fw_apply(&s, err, sizeof(err)), 0);
	assert_int_equal(fw_ceremony_open(7104, 600, err, sizeof(err)), 0);
	assert_int_equal(fw_apply_fabric(policy, "osibr0", &p, 1, err, sizeof(err)), 0);
	assert_int_equal(fw_apply_fabric(policy, "osibr0", &p, 1, err, sizeof(err)), 0);
	now = ruleset();
	assert_non_null(strstr(now, "7104 timeout"));
	assert_non_null(strstr(now, "dnat ip to 10.78.1.2:80"));
	assert_non_null(strstr(now, "ip saddr @members tcp dport 7101-7105 accept"));
	free(now);
	assert_int_equal(fw_apply_fabric(policy, "osibr0", NULL, 0, err, sizeof(err)), 0);
	now = ruleset();
	assert_null(strstr(now, "dnat ip to"));
	free(now);
	assert_int_equal(fw_remove(err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_rules),
		cmocka_unit_test(test_render_refuses),
		cmocka_unit_test(test_apply_in_netns),
		cmocka_unit_test(test_fabric),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
