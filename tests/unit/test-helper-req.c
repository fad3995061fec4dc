/* The agent-to-helper request: built by the agent, checked by the root
 * helper exactly as it arrives. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "service-vm-host/helper-req.h"

static const struct guest_op_def *op(const char *verb)
{
	return guest_op_find(verb);
}

static struct helper_req good_create(void)
{
	struct helper_req r;

	assert_int_equal(helper_req_build(&r, op("create"), "web-1", "mediakit", 256ULL << 20, 2), 0);
	return r;
}

/* A move-out's target record: exactly its size, a valid node, NUL-padded. */
static void test_move_to(void **state)
{
	char buf[HELPER_MOVE_TO_BYTES + 1] = "", to[HELPER_MOVE_TO_BYTES];

	strcpy(buf, "node-b");
	assert_null(helper_move_to_check(buf, HELPER_MOVE_TO_BYTES, to));
	assert_string_equal(to, "node-b");
	assert_non_null(helper_move_to_check(buf, HELPER_MOVE_TO_BYTES - 1, to));
	assert_non_null(helper_move_to_check(buf, HELPER_MOVE_TO_BYTES + 1, to));
	buf[20] = 'x'; /* after the NUL */
	assert_non_null(helper_move_to_check(buf, HELPER_MOVE_TO_BYTES, to));
	memset(buf, 0, sizeof(buf));
	assert_non_null(helper_move_to_check(buf, HELPER_MOVE_TO_BYTES, to)); /* empty */
	strcpy(buf, "../x");
	assert_non_null(helper_move_to_check(buf, HELPER_MOVE_TO_BYTES, to));
	memset(buf, 'a', HELPER_MOVE_TO_BYTES); /* no NUL at all */
	assert_non_null(helper_move_to_check(buf, HELPER_MOVE_TO_BYTES, to));
}

/* A backup-out's id record: the same size, a backup id, NUL-padded. */
static void test_backup_id(void **state)
{
	char buf[HELPER_MOVE_TO_BYTES + 1] = "", id[HELPER_MOVE_TO_BYTES];
	struct helper_req r, out;
	const struct guest_op_def *d;

	strcpy(buf, "20261204T172500Z");
	assert_null(helper_backup_id_check(buf, HELPER_MOVE_TO_BYTES, id));
	assert_string_equal(id, "20261204T172500Z");
	assert_non_null(helper_backup_id_check(buf, HELPER_MOVE_TO_BYTES - 1, id));
	buf[30] = 'x';
	assert_non_null(helper_backup_id_check(buf, HELPER_MOVE_TO_BYTES, id));
	memset(buf, 0, sizeof(buf));
	strcpy(buf, "node-b");
	assert_non_null(helper_backup_id_check(buf, HELPER_MOVE_TO_BYTES, id));
	strcpy(buf, "../20261204T1725");
	assert_non_null(helper_backup_id_check(buf, HELPER_MOVE_TO_BYTES, id));
	/* a backup-in's record: an id to restore from, or none at all */
	memset(buf, 0, sizeof(buf));
	assert_null(helper_restore_id_check(buf, HELPER_MOVE_TO_BYTES, id));
	assert_string_equal(id, "");
	strcpy(buf, "20261204T172500Z");
	assert_null(helper_restore_id_check(buf, HELPER_MOVE_TO_BYTES, id));
	assert_string_equal(id, "20261204T172500Z");
	strcpy(buf, "node-b");
	assert_non_null(helper_restore_id_check(buf, HELPER_MOVE_TO_BYTES, id));
	assert_non_null(helper_restore_id_check(buf, HELPER_MOVE_TO_BYTES + 1, id));
	/* both verbs name a guest and carry no type or size */
	assert_int_equal(helper_req_build(&r, op("backup-out"), "vault1", NULL, 0, 0), 0);
	assert_int_equal(helper_req_build(&r, op("backup-in"), "vault1", NULL, 0, 0), 0);
	assert_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_ptr_equal(d, op("backup-in"));
	assert_int_equal(helper_req_build(&r, op("backup-in"), "", NULL, 0, 0), 0);
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d)); /* a guest's verb */
	(void)state;
}

static void test_round_trip(void **state)
{
	struct helper_req r = good_create(), out;
	const struct guest_op_def *d;

	(void)state;
	assert_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_ptr_equal(d, op("create"));
	assert_string_equal(out.name, "web-1");
	assert_string_equal(out.type, "mediakit");
	assert_int_equal(out.memory_bytes, 256ULL << 20);
	assert_int_equal(out.vcpus, 2);
	assert_int_equal(helper_req_build(&r, op("destroy"), "web-1", NULL, 0, 0), 0);
	assert_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_ptr_equal(d, op("destroy"));
}

static void test_size_exact(void **state)
{
	struct helper_req r = good_create(), out;
	uint8_t big[sizeof(r) + 1] = { 0 };
	const struct guest_op_def *d;

	(void)state;
	memcpy(big, &r, sizeof(r));
	assert_non_null(helper_req_check(&r, sizeof(r) - 1, &out, &d));
	assert_non_null(helper_req_check(big, sizeof(big), &out, &d));
	assert_null(d);
	assert_non_null(helper_req_check(&r, 0, &out, &d));
}

static void test_verbs(void **state)
{
	struct helper_req r = good_create(), out;
	const struct guest_op_def *d;

	(void)state;
	/* Not dispatched, refused, or not in the table at all. */
	assert_int_equal(helper_req_build(&r, op("migrate"), "a", NULL, 0, 0), -EINVAL);
	assert_int_equal(helper_req_build(&r, op("data-delete"), "a", NULL, 0, 0), -EINVAL);
	/* dispatched, but the agent answers it: never the root helper's */
	assert_int_equal(helper_req_build(&r, op("addresses"), "a", NULL, 0, 0), -EINVAL);
	r = good_create();
	r.op = GOP_ADDRESSES;
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	r = good_create();
	r.op = GOP_MIGRATE;
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	r.op = GOP_DATA_DELETE;
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	r.op = 999;
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	r = good_create();
	r.magic ^= 1;
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
}

static void test_names(void **state)
{
	struct helper_req r = good_create(), out;
	const struct guest_op_def *d;

	(void)state;
	memset(r.name, 'a', sizeof(r.name)); /* no NUL */
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	r = good_create();
	r.name[10] = 'x'; /* bytes after the NUL */
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	r = good_create();
	memcpy(r.name, "../x", 5);
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	r = good_create();
	memset(r.name, 0, sizeof(r.name));
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_int_equal(helper_req_build(&r, op("start"), "", NULL, 0, 0), 0);
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_null(d);
}

/* The node's verbs travel with no name, type or size, and only so. */
static void test_node_verbs(void **state)
{
	static const char *const verbs[] = { "fabric", "names", "agent-addresses" };
	struct helper_req r, out;
	const struct guest_op_def *d;

	(void)state;
	for (unsigned i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		assert_int_equal(helper_req_build(&r, op(verbs[i]), NULL, NULL, 0, 0), 0);
		assert_null(helper_req_check(&r, sizeof(r), &out, &d));
		assert_ptr_equal(d, op(verbs[i]));
		assert_int_equal(helper_req_build(&r, op(verbs[i]), "", NULL, 0, 0), 0);
		assert_null(helper_req_check(&r, sizeof(r), &out, &d));
		assert_int_equal(helper_req_build(&r, op(verbs[i]), "web-1", NULL, 0, 0), -EINVAL);
		r.name[0] = 'a';
		assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
		assert_null(d);
		r.name[0] = '\0';
		r.vcpus = 1;
		assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
		r.vcpus = 0;
		r.type[0] = 'x';
		assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	}
}

/* The guest agents' view: one fixed record, op 15 on the wire, no name, and
 * checked like the other node verbs (a guest's name, a type, a size, a byte
 * more or less: refused). */
static void test_agent_addresses(void **state)
{
	struct helper_req r, out;
	const struct guest_op_def *d;
	uint8_t big[sizeof(r) + 1] = { 0 };

	(void)state;
	assert_int_equal(GOP_AGENT_ADDRESSES, 15);
	assert_int_equal(helper_req_build(&r, op("agent-addresses"), NULL, NULL, 0, 0), 0);
	assert_int_equal(r.op, 15);
	assert_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_ptr_equal(d, op("agent-addresses"));
	assert_int_equal(helper_req_build(&r, op("agent-addresses"), "web1", NULL, 0, 0), -EINVAL);
	assert_int_equal(helper_req_build(&r, op("agent-addresses"), NULL, NULL, 0, 0), 0);
	memcpy(big, &r, sizeof(r));
	assert_non_null(helper_req_check(big, sizeof(big), &out, &d));
	assert_null(d);
	assert_non_null(helper_req_check(&r, sizeof(r) - 1, &out, &d));
	memcpy(r.name, "web1", 5);
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	memset(r.name, 0, sizeof(r.name));
	r.name[sizeof(r.name) - 1] = 'x'; /* a byte after the (empty) name */
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	r.name[sizeof(r.name) - 1] = '\0';
	r.memory_bytes = GUEST_MEM_MIN;
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_null(d);
}

static void test_types_and_sizes(void **state)
{
	struct helper_req r = good_create(), out;
	const struct guest_op_def *d;

	(void)state;
	memcpy(r.type, "nosuch\0\0", 8);
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	r = good_create();
	r.memory_bytes = GUEST_MEM_MIN - 1;
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	r = good_create();
	r.vcpus = GUEST_VCPUS_MAX + 1;
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_int_equal(helper_req_build(&r, op("create"), "a", "orchestration-too-long", 1, 1), -EINVAL);
	/* Other verbs carry no type and no size. */
	assert_int_equal(helper_req_build(&r, op("stop"), "a", NULL, 0, 0), 0);
	r.vcpus = 1;
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_int_equal(helper_req_build(&r, op("stop"), "a", NULL, 0, 0), 0);
	r.type[3] = 'x';
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
}

/* A move-in carries the type and size the fleet approved, exactly as a
 * create does: required, checked, and read back as sent. */
static void test_move_in_spec(void **state)
{
	struct helper_req r, out;
	const struct guest_op_def *d;

	(void)state;
	assert_int_equal(helper_req_build(&r, op("move-in"), "web-1", "totebox", 192ULL << 20, 1), 0);
	assert_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_ptr_equal(d, op("move-in"));
	assert_string_equal(out.type, "totebox");
	assert_int_equal(out.memory_bytes, 192ULL << 20);
	assert_int_equal(out.vcpus, 1);
	/* without its spec, or with a part of it missing or out of range */
	assert_int_equal(helper_req_build(&r, op("move-in"), "web-1", NULL, 0, 0), 0);
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_null(d);
	assert_int_equal(helper_req_build(&r, op("move-in"), "web-1", "totebox", 0, 1), 0);
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_int_equal(helper_req_build(&r, op("move-in"), "web-1", "totebox", 192ULL << 20, 0), 0);
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_int_equal(helper_req_build(&r, op("move-in"), "web-1", "nosuch", 192ULL << 20, 1), 0);
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_int_equal(helper_req_build(&r, op("move-in"), "web-1", "totebox", 192ULL << 20,
					  GUEST_VCPUS_MAX + 1), 0);
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	/* the other move verbs still carry none: given one, it is left out */
	assert_int_equal(helper_req_build(&r, op("move-out"), "web-1", "totebox", 192ULL << 20, 1), 0);
	assert_int_equal(r.vcpus, 0);
	assert_int_equal(r.type[0], '\0');
	assert_null(helper_req_check(&r, sizeof(r), &out, &d));
	r.vcpus = 1;
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_int_equal(helper_req_build(&r, op("move-abort"), "web-1", NULL, 0, 0), 0);
	memcpy(r.type, "totebox", 8);
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
	/* a create is as it was */
	r = good_create();
	assert_null(helper_req_check(&r, sizeof(r), &out, &d));
	assert_ptr_equal(d, op("create"));
	assert_int_equal(helper_req_build(&r, op("create"), "web-1", NULL, 0, 0), 0);
	assert_non_null(helper_req_check(&r, sizeof(r), &out, &d));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_move_to),
		cmocka_unit_test(test_backup_id),
		cmocka_unit_test(test_move_in_spec),
		cmocka_unit_test(test_size_exact),
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_types_and_sizes),
		cmocka_unit_test(test_node_verbs),
		cmocka_unit_test(test_agent_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
