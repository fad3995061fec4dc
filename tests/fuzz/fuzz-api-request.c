/* Operator API request bodies: parsed, then handled by a fleet with three
 * registered nodes and a real store. Commits are stripped so the run does
 * not spend its time in fsync. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "service-vm-fleet/api.h"
#include "lib/clock.h"
#include "service-vm-fleet/fleet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fleet fleet;

static void no_dispatch(struct fleet *f, const struct guest *g, const char *action)
{
}

static void init(void)
{
	static const char *names[] = { "alpha", "beta", "gamma" };
	struct registry_config rc = { .evict_after_ns = 30 * NSEC_PER_SEC, .hold_min_live = 3 };
	char dir[] = "/tmp/osi-fuzz-api.XXXXXX", path[64];

	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/fleet.db", dir);
	if (store_open(path, &fleet.store) < 0 || registry_init(&fleet.reg, &rc, 0, NULL, NULL) < 0)
		abort();
	fleet.dispatch = no_dispatch;
	fleet.cfg.plan_ttl_ms = 60000;
	guests_init(&fleet.guests);
	fleet.place.margin_min_bytes = 1ULL << 30;
	fleet.place.margin_percent = 5;
	for (uint64_t i = 0; i < 3; i++) {
		struct heartbeat hb = { .seq = 1, .ncpu = 4, .mem_total_kib = 16ULL << 20,
					.mem_available_kib = (4ULL << 20) * (i + 1) };
		strcpy(hb.name, names[i]);
		registry_heartbeat(&fleet.reg, &hb, NSEC_PER_SEC, 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	char err[256];
	json_t *req, *reply;

	if (!ready++)
		init();
	req = api_parse_request((const char *)data, size, err, sizeof(err));
	if (!req)
		return 0;
	json_object_del(req, "commit");
	reply = api_handle(&fleet, req, "fuzz");
	if (!reply)
		abort();
	json_decref(reply);
	json_decref(req);
	return 0;
}
