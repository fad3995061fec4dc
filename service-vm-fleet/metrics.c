#include "service-vm-fleet/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service-vm-fleet/fleet.h"
#include "lib/wire-heartbeat.h"

static void header(FILE *o, const char *name, const char *type, const char *help)
{
	fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void node_states(FILE *o, const struct fleet *f, uint64_t now)
{
	unsigned live = 0, awaiting = 0, held = 0, evicted = 0, revoked = 0;

	for (size_t i = 0; i < f->reg.count; i++) {
		const struct node *n = &f->reg.nodes[i];

		if (n->revoked)
			revoked++;
		else if (n->state == NODE_EVICTED)
			evicted++;
		else if (f->reg.holding && registry_node_due(&f->reg, n, now))
			held++;
		else if (!n->heard)
			awaiting++;
		else
			live++;
	}
	header(o, "osi_fleet_nodes", "gauge", "Registered nodes by state.");
	fprintf(o, "osi_fleet_nodes{state=\"live\"} %u\n", live);
	fprintf(o, "osi_fleet_nodes{state=\"awaiting\"} %u\n", awaiting);
	fprintf(o, "osi_fleet_nodes{state=\"held\"} %u\n", held);
	fprintf(o, "osi_fleet_nodes{state=\"evicted\"} %u\n", evicted);
	fprintf(o, "osi_fleet_nodes{state=\"revoked\"} %u\n", revoked);
}

static void heartbeats(FILE *o, const struct fleet *f)
{
	header(o, "osi_fleet_heartbeats_accepted_total", "counter", "Authenticated, fresh heartbeats.");
	fprintf(o, "osi_fleet_heartbeats_accepted_total %llu\n",
		(unsigned long long)f->ingest.accepted);
	header(o, "osi_fleet_heartbeats_rejected_total", "counter", "Dropped datagrams by reason.");
	for (int r = 1; r < HB_REJECT__COUNT; r++)
		fprintf(o, "osi_fleet_heartbeats_rejected_total{reason=\"%s\"} %llu\n",
			hb_reject_name(r), (unsigned long long)f->ingest.rejected[r]);
}

static void eviction(FILE *o, const struct fleet *f)
{
	header(o, "osi_fleet_evictions_total", "counter", "Nodes evicted since the fleet started.");
	fprintf(o, "osi_fleet_evictions_total %llu\n", (unsigned long long)f->reg.evictions);
	header(o, "osi_fleet_eviction_hold", "gauge",
	       "1 while evictions are held because most nodes fell silent at once.");
	fprintf(o, "osi_fleet_eviction_hold %d\n", f->reg.holding ? 1 : 0);
	header(o, "osi_fleet_eviction_held_nodes", "gauge", "Nodes due for eviction but held.");
	fprintf(o, "osi_fleet_eviction_held_nodes %u\n", f->reg.holding ? f->reg.held_due : 0);
}

static void placement(FILE *o, const struct fleet *f)
{
	uint64_t cum = 0;

	header(o, "osi_fleet_placement_seconds", "histogram", "Time to rank nodes for a placement.");
	for (int b = 0; b < PLACE_BUCKETS; b++) {
		cum += f->place_count[b];
		fprintf(o, "osi_fleet_placement_seconds_bucket{le=\"%g\"} %llu\n",
			place_bucket_us[b] / 1e6, (unsigned long long)cum);
	}
	cum += f->place_count[PLACE_BUCKETS];
	fprintf(o, "osi_fleet_placement_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	fprintf(o, "osi_fleet_placement_seconds_sum %.9f\n", f->place_sum_us / 1e6);
	fprintf(o, "osi_fleet_placement_seconds_count %llu\n", (unsigned long long)cum);
}

static void misc(FILE *o, const struct fleet *f, uint64_t now)
{
	header(o, "osi_fleet_api_requests_total", "counter", "Operator API requests handled.");
	fprintf(o, "osi_fleet_api_requests_total %llu\n", (unsigned long long)f->api_requests);
	header(o, "osi_fleet_api_rejected_total", "counter",
	       "Operator API connections refused (credentials, signature, framing).");
	fprintf(o, "osi_fleet_api_rejected_total %llu\n", (unsigned long long)f->api_rejected);
	header(o, "osi_fleet_store_errors_total", "counter", "Failed writes to fleet.db.");
	fprintf(o, "osi_fleet_store_errors_total %llu\n", (unsigned long long)f->store_errors);
	header(o, "osi_fleet_uptime_seconds", "gauge", "Seconds since the fleet started.");
	fprintf(o, "osi_fleet_uptime_seconds %llu\n",
		(unsigned long long)((now - f->started_ns) / 1000000000ULL));
}

/* What each node's agent last reported of its nftables drop counters. */
static void fabric(FILE *o, const struct fleet *f)
{
	header(o, "osi_node_denied_packets_total", "counter",
	       "Packets the node's table dropped on the control-plane ports (counter denied).");
	for (size_t i = 0; i < f->npeers; i++)
		if (f->peers[i].denied >= 0)
			fprintf(o, "osi_node_denied_packets_total{node=\"%s\"} %lld\n",
				f->peers[i].node, (long long)f->peers[i].denied);
	header(o, "osi_node_guest_denied_packets_total", "counter",
	       "Packets from or to guests the guest policy dropped (counter guest_denied).");
	for (size_t i = 0; i < f->npeers; i++)
		if (f->peers[i].guest_denied >= 0)
			fprintf(o, "osi_node_guest_denied_packets_total{node=\"%s\"} %lld\n",
				f->peers[i].node, (long long)f->peers[i].guest_denied);
}

char *metrics_render(const struct fleet *f, uint64_t now)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&buf, &len);

	if (!o)
		return NULL;
	node_states(o, f, now);
	heartbeats(o, f);
	eviction(o, f);
	placement(o, f);
	misc(o, f, now);
	fabric(o, f);
	if (fclose(o) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* RFC 9112 section 3: request-line = method SP request-target SP HTTP-version.
 * Only the head's end and the request line matter here; headers are skipped. */
int http_parse_request(const char *buf, size_t len, char *method, size_t mlen,
		       char *path, size_t plen)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	const char *sp1, *sp2, *eol;

	if (!end)
		return len >= HTTP_REQUEST_MAX ? -EMSGSIZE : 0;
	eol = memchr(buf, '\r', (size_t)(end - buf) + 1);
	sp1 = memchr(buf, ' ', (size_t)(eol - buf));
	if (!sp1)
		return -EBADMSG;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (!sp2 || sp1 == buf || sp2 == sp1 + 1)
		return -EBADMSG;
	if ((size_t)(eol - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7))
		return -EBADMSG;
	if ((size_t)(sp1 - buf) >= mlen || (size_t)(sp2 - sp1 - 1) >= plen)
		return -EMSGSIZE;
	for (const char *p = buf; p < sp2; p++)
		if ((unsigned char)*p < 0x21 && p != sp1)
			return -EBADMSG;
	memcpy(method, buf, (size_t)(sp1 - buf));
	method[sp1 - buf] = '\0';
	memcpy(path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	path[sp2 - sp1 - 1] = '\0';
	return 1;
}
