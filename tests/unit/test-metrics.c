#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/clock.h"
#include "service-vm-fleet/fleet.h"
#include "service-vm-fleet/metrics.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(http_request_line),
		cmocka_unit_test(http_oversized_head),
		cmocka_unit_test(renders_states_and_reasons),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
