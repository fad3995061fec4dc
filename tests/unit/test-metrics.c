#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/api-limits.h"
#include "lib/clock.h"
#include "service-vm-fleet/api.h"
#include "service-vm-fleet/fleet.h"
#include "service-vm-fleet/metrics.h"
#include "tests/unit/fixture.h"

static int parse(const char *req, char *m, char *p)
{
	return http_parse_request(req, strlen(req), m, 16, p, 64);
}

static void http_request_line(void **state)
{
	char m[16], p[64];

	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", m, p), 1);
	assert_string_equal(m, "GET");
	assert_string_equal(p, "/metrics");
	assert_int_equal(parse("GET /metrics HTTP/1.0\r\n\r\n", m, p), 1);
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", m, p), 0);
	assert_int_equal(parse("", m, p), 0);
	assert_int_equal(parse("GET /metrics\r\n\r\n", m, p), -EBADMSG);
	assert_int_equal(parse("GET  HTTP/1.1\r\n\r\n", m, p), -EBADMSG);
	assert_int_equal(parse(" /m HTTP/1.1\r\n\r\n", m, p), -EBADMSG);
	assert_int_equal(parse("GET /m HTTP/2.0\r\n\r\n", m, p), -EBADMSG);
	assert_int_equal(parse("GET /m\tx HTTP/1.1\r\n\r\n", m, p), -EBADMSG);
	assert_int_equal(parse("VERYLONGMETHODNAME /m HTTP/1.1\r\n\r\n", m, p), -EMSGSIZE);
}

static void http_oversized_head(void **state)
{
	char *big = malloc(HTTP_REQUEST_MAX);
	char m[16], p[64];

	memset(big, 'a', HTTP_REQUEST_MAX);
	assert_int_equal(http_parse_request(big, HTTP_REQUEST_MAX, m, 16, p, 64), -EMSGSIZE);
	free(big);
}

static void renders_states_and_reasons(void **state)
{
	struct fleet f;
	struct registry_config rc = { .evict_after_ns = 30 * NSEC_PER_SEC, .hold_min_live = 3 };
	struct heartbeat hb = { .name = "n1", .seq = 1, .ncpu = 2, .mem_total_kib = 100,
				.mem_available_kib = 50 };
	char *text;

	memset(&f, 0, sizeof(f));
	assert_int_equal(registry_init(&f.reg, &rc, 0, NULL, NULL), 0);
	f.started_ns = 0;
	assert_int_equal(registry_heartbeat(&f.reg, &hb, NSEC_PER_SEC, 1), 0);
	strcpy(hb.name, "n2");
	assert_int_equal(registry_heartbeat(&f.reg, &hb, NSEC_PER_SEC, 1), 0);
	registry_sweep(&f.reg, 40 * NSEC_PER_SEC); /* 2 live, both silent: below the hold minimum */
	f.ingest.accepted = 42;
	f.ingest.rejected[HB_REJECT_BAD_MAC] = 7;
	fleet_record_placement_latency(&f, 20);
	fleet_record_placement_latency(&f, 2000);
	text = metrics_render(&f, 41 * NSEC_PER_SEC);
	assert_non_null(text);
	assert_non_null(strstr(text, "# TYPE osi_fleet_nodes gauge\n"));
	assert_non_null(strstr(text, "osi_fleet_nodes{state=\"evicted\"} 2\n"));
	assert_non_null(strstr(text, "osi_fleet_nodes{state=\"live\"} 0\n"));
	assert_non_null(strstr(text, "osi_fleet_heartbeats_accepted_total 42\n"));
	assert_non_null(strstr(text, "osi_fleet_heartbeats_rejected_total{reason=\"bad-mac\"} 7\n"));
	assert_non_null(strstr(text, "osi_fleet_heartbeats_rejected_total{reason=\"replayed\"} 0\n"));
	assert_non_null(strstr(text, "osi_fleet_evictions_total 2\n"));
	assert_non_null(strstr(text, "osi_fleet_eviction_hold 0\n"));
	assert_non_null(strstr(text, "osi_fleet_placement_seconds_bucket{le=\"1e-05\"} 0\n"));
	assert_non_null(strstr(text, "osi_fleet_placement_seconds_bucket{le=\"5e-05\"} 1\n"));
	assert_non_null(strstr(text, "osi_fleet_placement_seconds_bucket{le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(text, "osi_fleet_placement_seconds_count 2\n"));
	assert_non_null(strstr(text, "osi_fleet_uptime_seconds 41\n"));
	free(text);
	registry_free(&f.reg);
}

static bool trust_none_but_n1(void *ctx, const char *name)
{
	return !strcmp(name, "n1");
}

static json_t *call(struct fleet *f, const char *text)
{
	char err[200];
	json_t *req = api_parse_request(text, strlen(text), err, sizeof(err));
	json_t *reply;

	assert_non_null(req);
	reply = api_handle(f, req, "test");
	json_decref(req);
	assert_non_null(reply);
	return reply;
}

static const char *state_in(const json_t *reply, const char *name)
{
	size_t i;
	json_t *n;

	json_array_foreach(json_object_get(reply, "nodes"), i, n)
		if (!strcmp(json_string_value(json_object_get(n, "name")), name))
			return json_string_value(json_object_get(n, "state"));
	return NULL;
}

static void fleet_with(struct fleet *f, size_t n, uint64_t step)
{
	struct registry_config rc = { .evict_after_ns = 30 * NSEC_PER_SEC, .hold_min_live = 3 };
	struct heartbeat hb = { .seq = 1, .ncpu = 2, .mem_total_kib = 100, .mem_available_kib = 50 };

	memset(f, 0, sizeof(*f));
	guests_init(&f->guests);
	strcpy(f->id.name, "fleet");
	assert_int_equal(registry_init(&f->reg, &rc, 0, NULL, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		snprintf(hb.name, sizeof(hb.name), "n%zu", i + 1);
		assert_int_equal(registry_heartbeat(&f->reg, &hb, NSEC_PER_SEC + i * step, 1), 0);
	}
}

/* status, its JSON and /metrics show a revoked member as revoked at once. */
static void revoked_shown_at_once(void **state)
{
	struct fleet f;
	json_t *reply;
	char *text;

	fleet_with(&f, 2, 0);
	registry_apply_trust(&f.reg, trust_none_but_n1, NULL, true);
	reply = call(&f, "{\"op\":\"status\"}");
	assert_string_equal(state_in(reply, "n1"), "live");
	assert_string_equal(state_in(reply, "n2"), "revoked");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(reply, "fleet"),
							    "nodes_revoked")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(reply, "fleet"),
							    "nodes_evicted")), 0);
	json_decref(reply);
	reply = call(&f, "{\"op\":\"node\",\"name\":\"n2\"}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "node"),
							      "state")), "revoked");
	json_decref(reply);
	text = metrics_render(&f, 2 * NSEC_PER_SEC);
	assert_non_null(strstr(text, "osi_fleet_nodes{state=\"revoked\"} 1\n"));
	assert_non_null(strstr(text, "osi_fleet_nodes{state=\"evicted\"} 0\n"));
	free(text);
	registry_free(&f.reg);
	guests_free(&f.guests);
}

static char held_detail[256];

static void keep_hold(void *ctx, enum reg_event ev, const struct node *n, const char *detail)
{
	if (ev == REG_EV_HOLD_START)
		snprintf(held_detail, sizeof(held_detail), "%s", detail);
}

/* Three agents stopped a second apart: status says what the log said. */
static void hold_reason_matches_log(void **state)
{
	struct fleet f;
	json_t *reply;

	fleet_with(&f, 3, NSEC_PER_SEC);
	f.reg.on_event = keep_hold;
	registry_sweep(&f.reg, 31500 * NSEC_PER_MSEC);
	assert_true(f.reg.holding);
	assert_int_equal(f.reg.held_due, 1);
	reply = call(&f, "{\"op\":\"status\"}");
	assert_string_equal(json_string_value(json_object_get(json_object_get(reply, "fleet"),
							      "hold_reason")), held_detail);
	assert_non_null(strstr(held_detail, "3 of 3 live nodes went silent together"));
	json_decref(reply);
	registry_free(&f.reg);
	guests_free(&f.guests);
}

/* The fleet and the CLI share one events limit (lib/api-limits.h). */
static void events_limit_is_the_shared_one(void **state)
{
	char dir[64], path[96], req[64];
	struct fleet f;
	json_t *reply;

	assert_int_equal(API_EVENTS_LIMIT_MAX, 10000);
	fleet_with(&f, 0, 0);
	assert_int_equal(fixture_tmpdir(dir, sizeof(dir), "osi-test-metrics"), 0);
	snprintf(path, sizeof(path), "%s/fleet.db", dir);
	assert_int_equal(store_open(path, &f.store), 0);
	snprintf(req, sizeof(req), "{\"op\":\"events\",\"limit\":%d}", API_EVENTS_LIMIT_MAX);
	reply = call(&f, req);
	assert_true(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	snprintf(req, sizeof(req), "{\"op\":\"events\",\"limit\":%d}", API_EVENTS_LIMIT_MAX + 1);
	reply = call(&f, req);
	assert_false(json_is_true(json_object_get(reply, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(reply, "error")), "between 1 and 10000"));
	json_decref(reply);
	store_close(f.store);
	registry_free(&f.reg);
	guests_free(&f.guests);
	assert_int_equal(fixture_rmtree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(http_request_line),
		cmocka_unit_test(http_oversized_head),
		cmocka_unit_test(renders_states_and_reasons),
		cmocka_unit_test(revoked_shown_at_once),
		cmocka_unit_test(hold_reason_matches_log),
		cmocka_unit_test(events_limit_is_the_shared_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
