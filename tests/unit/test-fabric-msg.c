/* The fabric table the fleet pushes and the agent caches: strict both ways. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "lib/fabric-msg.h"
#include "lib/mesh.h"

#define GOOD "{\"zone\":\"osi.internal\",\"guests\":[" \
	"{\"name\":\"orch\",\"type\":\"orchestration\",\"node\":\"a\",\"addr\":\"10.78.1.2\"}," \
	"{\"name\":\"vault\",\"type\":\"totebox\",\"node\":\"b\",\"addr\":\"10.78.2.2\"}]," \
	"\"published\":[{\"guest\":\"vault\",\"proto\":\"tcp\",\"port\":80,\"host_port\":8080}]}"

static int parse(const char *text, struct fabric *f)
{
	char err[160];

	return fabric_parse(text, strlen(text), f, err, sizeof(err));
}

static void good(void **state)
{
	struct fabric f;

	(void)state;
	assert_int_equal(parse(GOOD, &f), 0);
	assert_string_equal(f.zone, "osi.internal");
	assert_int_equal(f.nguests, 2);
	assert_string_equal(f.guests[1].name, "vault");
	assert_string_equal(guest_type_at(f.guests[1].type)->name, "totebox");
	assert_string_equal(f.guests[1].node, "b");
	assert_int_equal(f.guests[1].addr, 0x0a4e0202);
	assert_int_equal(f.npubs, 1);
	assert_int_equal(f.pubs[0].port, 80);
	assert_int_equal(f.pubs[0].host_port, 8080);
	assert_int_equal(f.pubs[0].proto, GUEST_PROTO_TCP);
	assert_ptr_equal(fabric_find(&f, "orch"), &f.guests[0]);
	assert_null(fabric_find(&f, "nobody"));
	fabric_free(&f);
	assert_int_equal(parse("{\"zone\":\"z\",\"guests\":[],\"published\":[]}", &f), 0);
	assert_int_equal(f.nguests, 0);
	fabric_free(&f);
}

/* Built, dumped and parsed again: the same table. */
static void round_trip(void **state)
{
	struct fabric f, g;
	char *text;
	json_t *o;

	(void)state;
	assert_int_equal(parse(GOOD, &f), 0);
	o = fabric_to_json(&f);
	assert_non_null(o);
	text = json_dumps(o, JSON_COMPACT);
	assert_string_equal(text, GOOD);
	assert_int_equal(parse(text, &g), 0);
	assert_int_equal(g.nguests, f.nguests);
	assert_memory_equal(g.guests, f.guests, f.nguests * sizeof(*f.guests));
	assert_memory_equal(g.pubs, f.pubs, f.npubs * sizeof(*f.pubs));
	free(text);
	json_decref(o);
	fabric_free(&f);
	fabric_free(&g);
}

static void bad(void **state)
{
	static const char *const cases[] = {
		"", "[]", "{}",
		"{\"zone\":\"osi.internal\",\"guests\":[]}",
		"{\"zone\":\"osi.internal\",\"guests\":[],\"published\":[],\"x\":1}",
		"{\"zone\":\"Osi\",\"guests\":[],\"published\":[]}",
		"{\"zone\":\"a..b\",\"guests\":[],\"published\":[]}",
		"{\"zone\":\"z\",\"guests\":{},\"published\":[]}",
		"{\"zone\":\"z\",\"zone\":\"y\",\"guests\":[],\"published\":[]}",
		"{\"zone\":\"z\",\"op\":\"fabric\",\"guests\":[],\"published\":[]}",
		"{\"zone\":\"z\",\"guests\":[{\"name\":\"g\",\"type\":\"totebox\",\"node\":\"a\"}],"
		"\"published\":[]}",
		"{\"zone\":\"z\",\"guests\":[{\"name\":\"g\",\"type\":\"totebox\",\"node\":\"a\","
		"\"addr\":\"10.78.1.02\"}],\"published\":[]}",
		"{\"zone\":\"z\",\"guests\":[{\"name\":\"g\",\"type\":\"totebox\",\"node\":\"a\","
		"\"addr\":\"0.0.0.0\"}],\"published\":[]}",
		"{\"zone\":\"z\",\"guests\":[{\"name\":\"g\",\"type\":\"nope\",\"node\":\"a\","
		"\"addr\":\"10.78.1.2\"}],\"published\":[]}",
		"{\"zone\":\"z\",\"guests\":[{\"name\":\"G\",\"type\":\"totebox\",\"node\":\"a\","
		"\"addr\":\"10.78.1.2\"}],\"published\":[]}",
		"{\"zone\":\"z\",\"guests\":[{\"name\":\"g\",\"type\":\"totebox\",\"node\":\"a b\","
		"\"addr\":\"10.78.1.2\"}],\"published\":[]}",
		"{\"zone\":\"z\",\"guests\":[{\"name\":\"g\",\"type\":\"totebox\",\"node\":\"a\","
		"\"addr\":\"10.78.1.2\",\"extra\":1}],\"published\":[]}",
		/* a name twice, an address twice */
		"{\"zone\":\"z\",\"guests\":[{\"name\":\"g\",\"type\":\"totebox\",\"node\":\"a\","
		"\"addr\":\"10.78.1.2\"},{\"name\":\"g\",\"type\":\"totebox\",\"node\":\"a\","
		"\"addr\":\"10.78.1.3\"}],\"published\":[]}",
		"{\"zone\":\"z\",\"guests\":[{\"name\":\"g\",\"type\":\"totebox\",\"node\":\"a\","
		"\"addr\":\"10.78.1.2\"},{\"name\":\"h\",\"type\":\"totebox\",\"node\":\"a\","
		"\"addr\":\"10.78.1.2\"}],\"published\":[]}",
	};
	struct fabric f;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_not_equal(parse(cases[i], &f), 0);
		assert_null(f.guests);
		assert_int_equal(f.nguests, 0);
	}
}

#define ONE_GUEST "{\"zone\":\"z\",\"guests\":[{\"name\":\"g\",\"type\":\"mediakit\"," \
	"\"node\":\"a\",\"addr\":\"10.78.1.2\"}],\"published\":["

static void bad_published(void **state)
{
	static const char *const cases[] = {
		ONE_GUEST "{\"guest\":\"h\",\"proto\":\"tcp\",\"port\":80,\"host_port\":80}]}",
		ONE_GUEST "{\"guest\":\"g\",\"proto\":\"sctp\",\"port\":80,\"host_port\":80}]}",
		ONE_GUEST "{\"guest\":\"g\",\"proto\":\"tcp\",\"port\":0,\"host_port\":80}]}",
		ONE_GUEST "{\"guest\":\"g\",\"proto\":\"tcp\",\"port\":80,\"host_port\":65536}]}",
		ONE_GUEST "{\"guest\":\"g\",\"proto\":\"tcp\",\"port\":80,\"host_port\":7101}]}",
		ONE_GUEST "{\"guest\":\"g\",\"proto\":\"udp\",\"port\":80,\"host_port\":7105}]}",
		ONE_GUEST "{\"guest\":\"g\",\"proto\":\"tcp\",\"port\":80}]}",
		ONE_GUEST "{\"guest\":\"g\",\"proto\":\"tcp\",\"port\":80,\"host_port\":80},"
			  "{\"guest\":\"g\",\"proto\":\"tcp\",\"port\":81,\"host_port\":80}]}",
	};
	struct fabric f;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_not_equal(parse(cases[i], &f), 0);
	/* the same host port once per protocol */
	assert_int_equal(parse(ONE_GUEST "{\"guest\":\"g\",\"proto\":\"tcp\",\"port\":80,"
			       "\"host_port\":80},{\"guest\":\"g\",\"proto\":\"udp\",\"port\":80,"
			       "\"host_port\":80}]}", &f), 0);
	fabric_free(&f);
	/* and once per node: another node's guest may take it */
	assert_int_equal(parse("{\"zone\":\"z\",\"guests\":[{\"name\":\"g\",\"type\":\"mediakit\","
			       "\"node\":\"a\",\"addr\":\"10.78.1.2\"},{\"name\":\"h\",\"type\":"
			       "\"mediakit\",\"node\":\"b\",\"addr\":\"10.78.2.2\"}],\"published\":["
			       "{\"guest\":\"g\",\"proto\":\"tcp\",\"port\":80,\"host_port\":80},"
			       "{\"guest\":\"h\",\"proto\":\"tcp\",\"port\":80,\"host_port\":80}]}",
			       &f), 0);
	fabric_free(&f);
	assert_non_null(fabric_host_port_reserved(GUEST_PROTO_TCP, 7103));
	assert_non_null(fabric_host_port_reserved(GUEST_PROTO_UDP, 7101));
	assert_null(fabric_host_port_reserved(GUEST_PROTO_TCP, 7106));
	assert_non_null(fabric_host_port_reserved(GUEST_PROTO_TCP, 22));
	assert_null(fabric_host_port_reserved(GUEST_PROTO_UDP, 22));
	assert_non_null(fabric_host_port_reserved(GUEST_PROTO_UDP, MESH_WG_PORT));
	assert_null(fabric_host_port_reserved(GUEST_PROTO_TCP, MESH_WG_PORT));
}

/* The request's envelope keys are accepted only where asked for. */
static void envelope(void **state)
{
	json_t *o = json_loads("{\"op\":\"fabric\",\"node\":\"a\",\"zone\":\"z\",\"guests\":[],"
			       "\"published\":[]}", 0, NULL);
	struct fabric f;
	char err[160];

	(void)state;
	assert_int_equal(fabric_from_json(o, true, &f, err, sizeof(err)), 0);
	fabric_free(&f);
	assert_int_equal(fabric_from_json(o, false, &f, err, sizeof(err)), -EINVAL);
	json_decref(o);
}

static void too_many(void **state)
{
	json_t *o = json_pack("{s:s, s:[], s:[]}", "zone", "z", "guests", "published");
	json_t *g = json_object_get(o, "guests");
	struct fabric f;
	char err[160];

	(void)state;
	for (int i = 0; i <= FABRIC_GUESTS_MAX; i++)
		json_array_append_new(g, json_object());
	assert_int_equal(fabric_from_json(o, false, &f, err, sizeof(err)), -E2BIG);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good),
		cmocka_unit_test(round_trip),
		cmocka_unit_test(bad),
		cmocka_unit_test(bad_published),
		cmocka_unit_test(envelope),
		cmocka_unit_test(too_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
