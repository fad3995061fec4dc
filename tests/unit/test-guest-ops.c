/* The guest operation table (lib/guest-ops.c): what is derived from it, and
 * the rules that hold across its rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/guest-ops.h"

static void lookups(void **state)
{
	const struct guest_op_def *op;
	unsigned n = 0;

	for (; (op = guest_op_at(n)); n++) {
		assert_ptr_equal(guest_op_find(op->verb), op);
		assert_int_equal(op->op, n);
	}
	assert_int_equal(n, GOP_BACKUP_IN + 1);
	assert_null(guest_op_find(NULL));
	assert_null(guest_op_find("reboot"));
	assert_null(guest_op_find("START"));
}

static void action_names_come_from_the_table(void **state)
{
	const struct guest_op_def *op;
	char want[96] = "";
	unsigned n = 0, k = 0;

	for (unsigned i = 0; (op = guest_op_at(i)); i++)
		n += op->action;
	for (unsigned i = 0; (op = guest_op_at(i)); i++) {
		if (!op->action)
			continue;
		strcat(want, !k ? "" : k == n - 1 ? " or " : ", ");
		strcat(want, op->verb);
		k++;
	}
	assert_string_equal(guest_op_action_names(), want);
	assert_string_equal(guest_op_action_names(), "start, stop or destroy");
}

/* An action travels to the node's helper with the guest's name alone and
 * reports a state when done; a refused operation never travels. */
static void rows_agree(void **state)
{
	const struct guest_op_def *op;

	for (unsigned i = 0; (op = guest_op_at(i)); i++) {
		if (op->action) {
			assert_true(op->dispatched);
			assert_int_equal(op->helper_args, 1);
			assert_non_null(op->done_state);
		}
		if (op->refusal) {
			assert_false(op->dispatched);
			assert_false(op->action);
		}
		assert_true(op->admin_only);
	}
	assert_non_null(strstr(guest_op_find("migrate")->refusal, "excluded by design"));
	assert_int_equal(guest_op_find("create")->helper_args, 4);
	assert_null(guest_op_find("create")->done_state);
	/* asked of the node's agent, answered without its helper (issue 10 #7) */
	assert_true(guest_op_find("addresses")->dispatched);
	assert_int_equal(guest_op_find("addresses")->helper_args, 0);
	assert_false(guest_op_find("addresses")->action);
	/* the fleet pushes "fabric" to the agent; "names" is between the agent
	 * and its helper only; both are about the node, not one guest */
	assert_true(guest_op_find("fabric")->dispatched);
	assert_false(guest_op_find("names")->dispatched);
	assert_int_equal(guest_op_find("fabric")->helper_args, 0);
	assert_int_equal(guest_op_find("names")->helper_args, 0);
	/* a cold move's steps: dispatched one guest at a time, never an action
	 * of vm-action (the move's own requests ask for them) */
	for (unsigned i = GOP_MOVE_OUT; i <= GOP_RELEASE_SOURCE; i++) {
		op = guest_op_at(i);
		assert_true(op->dispatched);
		assert_false(op->action);
		assert_int_equal(op->helper_args, 1);
		assert_non_null(op->done_state);
	}
	assert_string_equal(guest_op_find("move-in")->done_state, "defined");
	assert_string_equal(guest_op_find("release-source")->done_state, "released");
	/* the agent asks its helper for the guest agents' view: never the fleet */
	assert_false(guest_op_find("agent-addresses")->dispatched);
	assert_int_equal(guest_op_find("agent-addresses")->helper_args, 0);
	assert_string_equal(guest_op_find("agent-addresses")->done_state, "agent");
}

static void sizes(void **state)
{
	assert_true(guest_size_valid(GUEST_MEM_MIN, GUEST_VCPUS_MIN));
	assert_true(guest_size_valid(GUEST_MEM_MAX, GUEST_VCPUS_MAX));
	assert_false(guest_size_valid(GUEST_MEM_MIN - 1, 1));
	assert_false(guest_size_valid(GUEST_MEM_MAX + 1, 1));
	assert_false(guest_size_valid(1ULL << 30, 0));
	assert_false(guest_size_valid(1ULL << 30, GUEST_VCPUS_MAX + 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lookups),
		cmocka_unit_test(action_names_come_from_the_table),
		cmocka_unit_test(rows_agree),
		cmocka_unit_test(sizes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
