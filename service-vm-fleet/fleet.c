#include "service-vm-fleet/fleet.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/mesh.h"
#include "osi-config.h"
#include "service-vm-fleet/fleet-backup-copy.h"
#include "service-vm-fleet/fleet-move.h"
#include "service-vm-fleet/rebuild.h"

#define KEY(n, t, field, def, doc) \
	{ n, t, offsetof(struct fleet_config, field), sizeof(((struct fleet_config *)0)->field), def, doc }

const struct config_key fleet_config_keys[] = {
	KEY("state_dir", CFG_STRING, state_dir, OSI_STATE_DIR,
	    "identity, fleet.db and the trust file live here"),
	KEY("trust_file", CFG_STRING, trust_file, "",
	    "trusted members (default: <state_dir>/trust)"),
	KEY("heartbeat_listen", CFG_STRING, heartbeat_listen, "127.0.0.1:7101",
	    "UDP address for heartbeats; in production the fleet's mesh address"),
	KEY("api_listen", CFG_STRING, api_listen, "127.0.0.1:7102",
	    "TCP address of the signed operator API (mesh address in production; empty: off)"),
	KEY("api_socket", CFG_STRING, api_socket, OSI_RUN_DIR "/fleet.sock",
	    "Unix socket of the local operator API (root only)"),
	KEY("metrics_listen", CFG_STRING, metrics_listen, "127.0.0.1:9102",
	    "HTTP address serving /metrics (empty: off)"),
	KEY("log_level", CFG_STRING, log_level, "info", "error, warn, info or debug"),
	KEY("evict_after", CFG_DURATION_MS, evict_after_ms, "30s",
	    "a node silent for longer than this is evicted"),
	KEY("hold_min_live", CFG_UINT, hold_min_live, "3",
	    "mass-silence hold applies only with at least this many live nodes"),
	KEY("margin_min", CFG_SIZE, margin_min_bytes, "1G",
	    "placement keeps at least this much RAM free on a node"),
	KEY("margin_percent", CFG_PERCENT, margin_percent, "5",
	    "... or this share of the node's RAM, whichever is larger"),
	KEY("checkpoint_interval", CFG_DURATION_MS, checkpoint_interval_ms, "60s",
	    "how often sequence numbers are saved for replay protection across restarts"),
	KEY("plan_ttl", CFG_DURATION_MS, plan_ttl_ms, "120s",
	    "a guest plan not confirmed within this time expires and creates nothing"),
	KEY("dispatch_port", CFG_UINT, dispatch_port, "7103",
	    "TCP port of service-vm-host's dispatch listener on each node's mesh address"),
	KEY("guest_zone", CFG_STRING, guest_zone, "osi.internal",
	    "the zone of guests' and members' names in the fabric table (as host.conf's)"),
};
const size_t fleet_config_nkeys = sizeof(fleet_config_keys) / sizeof(fleet_config_keys[0]);

const double place_bucket_us[PLACE_BUCKETS] = { 10, 50, 100, 500, 1000, 5000, 50000 };

int fleet_config_defaults(struct fleet_config *cfg, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	return config_defaults(fleet_config_keys, fleet_config_nkeys, cfg, err, errlen);
}

int fleet_config_finish(struct fleet_config *cfg)
{
	int n;

	if (cfg->trust_file[0])
		return 0;
	n = snprintf(cfg->trust_file, sizeof(cfg->trust_file), "%s/trust", cfg->state_dir);
	return n < 0 || (size_t)n >= sizeof(cfg->trust_file) ? -ENAMETOOLONG : 0;
}

static void node_record(const struct node *n, struct store_node *out)
{
	memset(out, 0, sizeof(*out));
	out->name = n->name;
	out->state = n->state == NODE_LIVE ? "live" : "evicted";
	out->registered_wall = n->registered_wall;
	out->last_seen_wall = n->last_seen_wall;
	if (n->has_sample) {
		out->ncpu = n->last.ncpu;
		out->mem_total_kib = n->last.mem_total_kib;
		out->mem_available_kib = n->last.mem_available_kib;
		out->cpu_busy_permille = n->last.cpu_busy_permille;
		out->guests_running = n->last.guests_running;
		out->last_seq = n->last.seq;
	}
}

/* Every state change is logged once and stored with its event in one
 * transaction. A store failure is counted and logged, never fatal: the fleet
 * keeps serving from memory. */
static void on_registry_event(void *ctx, enum reg_event ev, const struct node *n,
			      const char *detail)
{
	struct fleet *f = ctx;
	struct store_node rec;
	int ret;

	if (n) {
		log_info("node %s %s: %s", n->name, reg_event_name(ev), detail);
		node_record(n, &rec);
		ret = store_transition(f->store, &rec, reg_event_name(ev), detail, clock_wall_s(), NULL);
		if (ev == REG_EV_EVICTED) {
			fleet_moves_node_lost(f, n->name, detail);
			backup_copies_node_lost(&f->copies, n->name, detail, clock_wall_s());
		}
	} else {
		log_msg(ev == REG_EV_HOLD_START ? LOG_LVL_WARN : LOG_LVL_INFO, "%s: %s",
			reg_event_name(ev), detail);
		ret = store_event(f->store, reg_event_name(ev), NULL, detail, clock_wall_s(), NULL);
	}
	if (ret < 0) {
		f->store_errors++;
		log_err("store: cannot record %s: %s", reg_event_name(ev), store_errmsg(f->store));
	}
}

static int restore_node(void *ctx, const struct store_node *n)
{
	struct fleet *f = ctx;
	enum node_state st = strcmp(n->state, "evicted") ? NODE_LIVE : NODE_EVICTED;
	int ret = registry_restore(&f->reg, n->name, st, n->registered_wall, n->last_seen_wall);

	if (ret < 0)
		return ret;
	ingest_set_floor(&f->ingest, n->name, n->last_seq);
	return 0;
}

static int restore_guest(void *ctx, const struct store_guest *row)
{
	struct fleet *f = ctx;
	struct guest g = { .memory_bytes = row->memory_bytes, .vcpus = row->vcpus,
			   .created = row->created, .updated = row->updated };

	snprintf(g.name, sizeof(g.name), "%s", row->name);
	snprintf(g.type, sizeof(g.type), "%s", row->type);
	snprintf(g.node, sizeof(g.node), "%s", row->node);
	snprintf(g.detail, sizeof(g.detail), "%s", row->detail ? row->detail : "");
	snprintf(g.accel, sizeof(g.accel), "%s", row->accel ? row->accel : "");
	if (guest_state_parse(row->state, &g.state) < 0)
		g.state = GS_FAILED;
	/* A creation the fleet was following when it stopped has no follower now. */
	if (guest_state_pending(g.state)) {
		g.state = GS_FAILED;
		snprintf(g.detail, sizeof(g.detail), "the fleet restarted during creation; "
			 "check the node and destroy or recreate");
	}
	return guests_add(&f->guests, &g);
}

/* A row an older or foreign hand wrote badly is logged and skipped. */
static int restore_pub(void *ctx, const struct store_pub *row)
{
	struct fleet *f = ctx;
	struct fleet_pub p = { .port = (uint16_t)row->port, .host_port = (uint16_t)row->host_port };
	const char *why = "bad row";

	snprintf(p.guest, sizeof(p.guest), "%s", row->guest ? row->guest : "");
	if (row->port > 65535 || row->host_port > 65535 || pub_proto_parse(row->proto, &p.proto) < 0 ||
	    pubs_add(&f->pubs, &f->guests, &p, &why) < 0)
		log_warn("published port of %s skipped: %s", p.guest, why);
	return 0;
}

static void no_dispatch(struct fleet *f, const struct guest *g, const char *action)
{
	fleet_guest_progress(f, g->name, GS_FAILED, "this fleet cannot dispatch", NULL);
}

/* The ledger in state_dir when there is one (the mesh), else the trust file.
 * Members gone from the set stay known to ingest as revoked. */
/* What identifies a file's version: inode, size and change time. The rename
 * of an atomic write gives a new inode, so even a same-second rewrite shows. */
static void file_version(const char *path, char *out, size_t len)
{
	struct stat st;

	if (stat(path, &st) < 0)
		snprintf(out, len, "absent");
	else
		snprintf(out, len, "%llu:%lld:%lld.%09ld", (unsigned long long)st.st_ino,
			 (long long)st.st_size, (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
}

static void trust_versions(const struct fleet *f, char v[2][96])
{
	char ledger[PATH_MAX + 16];

	memset(v, 0, 2 * sizeof(v[0])); /* compared whole, padding included */
	snprintf(ledger, sizeof(ledger), "%s/%s", f->cfg.state_dir, MESH_LEDGER_FILE);
	file_version(ledger, v[0], sizeof(v[0]));
	file_version(f->cfg.trust_file, v[1], sizeof(v[1]));
}

/* Whose heartbeats ingest accepts: trusted members with the node role. */
static bool node_trusted(void *ctx, const char *name)
{
	const struct fleet *f = ctx;
	const struct trust_entry *e = trust_find(&f->trust, name);

	return e && (e->roles & TRUST_ROLE_NODE);
}

void fleet_watch_trust(struct fleet *f)
{
	char now[2][96];

	trust_versions(f, now);
	if (!memcmp(now, f->trust_seen, sizeof(now)))
		return;
	log_info("trust changed on disk: reloading");
	fleet_reload_trust(f);
}

int fleet_reload_trust(struct fleet *f)
{
	struct trust_set fresh = { 0 };
	char err[256], source[PATH_MAX + 8];
	int ret;

	/* Noted before reading: a change during the read is seen next time. */
	trust_versions(f, f->trust_seen);
	ret = mesh_trust_load(f->cfg.state_dir, f->cfg.trust_file, &fresh, source,
				  sizeof(source), err, sizeof(err));

	if (ret == -ENOENT) {
		log_warn("no ledger in %s and no trust file at %s: no node is trusted yet",
			 f->cfg.state_dir, f->cfg.trust_file);
	} else if (ret < 0) {
		log_err("trust from %s: %s; keeping the previous set", source,
			ret == -EBADMSG ? err : strerror(-ret));
		return ret;
	}
	ret = ingest_set_trust(&f->ingest, &fresh, &f->id);
	if (ret < 0) {
		trust_free(&fresh);
		return ret;
	}
	trust_free(&f->trust);
	f->trust = fresh;
	log_info("trust: %zu members from %s", f->trust.count, source);
	registry_apply_trust(&f->reg, node_trusted, f, true);
	return 0;
}

int fleet_open(struct fleet *f, const struct fleet_config *cfg, uint64_t now)
{
	struct registry_config rc = {
		.evict_after_ns = cfg->evict_after_ms * NSEC_PER_MSEC,
		.hold_min_live = (unsigned)cfg->hold_min_live,
	};
	char path[PATH_MAX + 16];
	int ret;

	memset(f, 0, sizeof(*f));
	f->cfg = *cfg;
	f->started_ns = now;
	f->started_wall = clock_wall_s();
	f->place.margin_min_bytes = cfg->margin_min_bytes;
	f->place.margin_percent = (unsigned)cfg->margin_percent;
	ingest_init(&f->ingest);
	guests_init(&f->guests);
	moves_init(&f->moves);
	f->dispatch = no_dispatch;
	ret = identity_load(cfg->state_dir, &f->id);
	if (ret < 0) {
		log_err("cannot load the fleet's identity from %s/%s: %s%s", cfg->state_dir,
			IDENTITY_FILE, strerror(-ret),
			ret == -ENOENT ? " (create it with: os-infrastructure keygen --role node,fleet)" : "");
		goto cleanup;
	}
	ret = registry_init(&f->reg, &rc, now, on_registry_event, f);
	if (ret < 0)
		goto cleanup;
	ret = fleet_reload_trust(f);
	if (ret < 0 && ret != -ENOENT)
		goto cleanup;
	snprintf(path, sizeof(path), "%s/fleet.db", cfg->state_dir);
	ret = store_open(path, &f->store);
	if (ret < 0) {
		log_err("cannot open %s: %s", path, strerror(-ret));
		goto cleanup;
	}
	ret = store_nodes_each(f->store, restore_node, f);
	if (ret >= 0)
		ret = store_guests_each(f->store, restore_guest, f);
	if (ret >= 0)
		ret = store_published_each(f->store, restore_pub, f);
	if (ret >= 0)
		ret = fleet_moves_load(f);
	if (ret >= 0)
		ret = fleet_copies_load(f);
	if (ret < 0) {
		log_err("cannot read nodes from %s: %s", path, store_errmsg(f->store));
		goto cleanup;
	}
	ret = fleet_rebuild(f);
	if (ret < 0) {
		log_err("cannot rebuild the nodes from the ledger: %s", strerror(-ret));
		goto cleanup;
	}
	registry_apply_trust(&f->reg, node_trusted, f, false);
	log_info("fleet %s started: %zu stored nodes", f->id.name, f->reg.count);
	return 0;
cleanup:
	fleet_close(f);
	return ret;
}

void fleet_close(struct fleet *f)
{
	if (f->store)
		store_close(f->store);
	f->store = NULL;
	registry_free(&f->reg);
	ingest_free(&f->ingest);
	guests_free(&f->guests);
	moves_free(&f->moves);
	backup_copies_free(&f->copies);
	pubs_free(&f->pubs);
	free(f->peers);
	f->peers = NULL;
	f->npeers = 0;
	free(f->addrs);
	f->addrs = NULL;
	trust_free(&f->trust);
	identity_wipe(&f->id);
}

static void remember_addr(struct fleet *f, const char *name, const struct sockaddr *src)
{
	const struct node *n = registry_find(&f->reg, name);
	size_t i = n ? (size_t)(n - f->reg.nodes) : 0;
	socklen_t len = src->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						   : sizeof(struct sockaddr_in);

	if (!n)
		return;
	if (i >= f->naddrs) {
		size_t cap = f->reg.cap > i ? f->reg.cap : i + 1;
		struct sockaddr_storage *a = realloc(f->addrs, cap * sizeof(*a));

		if (!a)
			return;
		memset(a + f->naddrs, 0, (cap - f->naddrs) * sizeof(*a));
		f->addrs = a;
		f->naddrs = cap;
	}
	memcpy(&f->addrs[i], src, len);
}

uint64_t fleet_sweep_period_ms(const struct fleet_config *cfg)
{
	uint64_t p = cfg->evict_after_ms / 30;

	return p < 50 ? 50 : p > 1000 ? 1000 : p;
}

uint64_t fleet_tick(struct fleet *f, uint64_t now)
{
	uint64_t period = fleet_sweep_period_ms(&f->cfg) * NSEC_PER_MSEC, delay;
	size_t expired = guests_expire_plans(&f->guests, now);

	if (expired)
		log_info("%zu guest plan%s expired unconfirmed; nothing was created", expired,
			 expired == 1 ? "" : "s");
	registry_sweep(&f->reg, now);
	fleet_watch_trust(f);
	delay = registry_sweep_delay(&f->reg, now, period);
	/* Rounded up, plus a millisecond: libuv's clock is in whole ms and may
	 * lag ours, and a timer that fires before the deadline only costs a
	 * wasted run. */
	return delay / NSEC_PER_MSEC + (delay % NSEC_PER_MSEC != 0) + 1;
}

void fleet_datagram(struct fleet *f, const uint8_t *buf, size_t len, const struct sockaddr *src,
		    uint64_t now, int64_t wall)
{
	struct heartbeat hb;
	enum hb_reject r = ingest_datagram(&f->ingest, buf, len, &hb);

	if (r != HB_OK) {
		log_debug("heartbeat dropped: %s", hb_reject_name(r));
		return;
	}
	if (registry_heartbeat(&f->reg, &hb, now, wall) == 0 && src)
		remember_addr(f, hb.name, src);
}

const struct sockaddr_storage *fleet_node_addr(const struct fleet *f, const char *node)
{
	const struct node *n = registry_find(&f->reg, node);
	size_t i = n ? (size_t)(n - f->reg.nodes) : 0;

	if (!n || i >= f->naddrs || !f->addrs[i].ss_family)
		return NULL;
	return &f->addrs[i];
}

void fleet_checkpoint(struct fleet *f)
{
	struct store_seq *seqs;
	size_t n = 0;
	int ret;

	if (!f->reg.count)
		return;
	seqs = calloc(f->reg.count, sizeof(*seqs));
	if (!seqs)
		return;
	for (size_t i = 0; i < f->reg.count; i++) {
		const struct node *nd = &f->reg.nodes[i];

		if (nd->has_sample)
			seqs[n++] = (struct store_seq){ .name = nd->name, .seq = nd->last.seq };
	}
	ret = store_checkpoint_seqs(f->store, seqs, n);
	if (ret < 0) {
		f->store_errors++;
		log_err("store: checkpoint failed: %s", store_errmsg(f->store));
	}
	free(seqs);
}

void fleet_record_placement_latency(struct fleet *f, double us)
{
	size_t b = 0;

	while (b < PLACE_BUCKETS && us > place_bucket_us[b])
		b++;
	f->place_count[b]++;
	f->place_sum_us += us;
}

const struct trust_entry *fleet_api_member(const struct fleet *f, const char *name)
{
	return trust_find(&f->trust, name);
}
