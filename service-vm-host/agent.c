#include "service-vm-host/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>
#include <systemd/sd-daemon.h>

#include "lib/auth.h"
#include "lib/clock.h"
#include "service-vm-host/dispatch.h"
#include "service-vm-host/fabric.h"
#include "service-vm-host/guest-probe.h"
#include "lib/identity.h"
#include "service-vm-host/ledger-sync.h"
#include "lib/log.h"
#include "lib/mesh.h"
#include "service-vm-host/sampler.h"
#include "service-vm-host/seqstore.h"
#include "lib/trust.h"
#include "lib/units.h"

/* The source address is chosen when the socket connects; connecting again
 * now and then picks up a route that changed (the mesh came up late). */
#define RECONNECT_NS (60 * NSEC_PER_SEC)
#define LOCK_FILE "service-vm-host.lock"

struct agent {
	const struct host_config *cfg;
	uv_loop_t loop;
	uv_timer_t tick;
	uv_udp_t udp;
	uv_signal_t sigs[3];
	struct dispatch *dispatch;
	struct fabric_node *fabric;
	struct sockaddr_storage fleet_addr;
	struct sampler sampler;
	struct seqstore seq;
	struct guests guests;
	bool guests_ready;
	struct identity id;
	uint8_t key[HB_KEY_BYTES];
	char fleet_name[NODE_NAME_MAX + 1];
	char fleet_address[128];  /* "" until the mesh has a fleet */
	bool mesh, have_key;      /* mesh: trust and fleet come from the ledger */
	struct ledger_sync *sync;
	char rx[HB_SIZE];
	int lock_fd;
	uint64_t due_ns, connected_ns;
	bool connected, stopping;
	/* Problems are logged when they start and when they end, never in between. */
	bool unreachable, error_seen, sent_last, build_failing;
};

static void fleet_error(struct agent *a, const char *reason)
{
	a->error_seen = true;
	if (a->unreachable)
		return;
	a->unreachable = true;
	log_warn("fleet %s at %s unreachable (%s); still sending every %" PRIu64 " ms",
		 a->fleet_name, a->fleet_address, reason, a->cfg->heartbeat_interval_ms);
}

/* UDP has no acknowledgement: reachable means a whole interval went by
 * after a send without an error coming back. */
static void note_reachability(struct agent *a)
{
	if (a->sent_last && a->unreachable && !a->error_seen) {
		a->unreachable = false;
		log_info("fleet %s at %s reachable again", a->fleet_name, a->fleet_address);
	}
	a->error_seen = false;
}

static void track_build(struct agent *a, int ret, const char *what)
{
	if (ret < 0 && !a->build_failing)
		log_err("%s: %s; no heartbeats until it works again", what, strerror(-ret));
	else if (ret == 0 && a->build_failing)
		log_info("heartbeats resume");
	a->build_failing = ret < 0;
}

static int build(struct agent *a, uint8_t dgram[HB_SIZE], uint64_t *seq)
{
	struct heartbeat hb = { 0 };
	struct sample s;
	const char *what;
	uint32_t bases;
	int ret;

	what = "reading /proc/stat and /proc/meminfo";
	ret = sampler_read(&a->sampler, &s);
	if (ret < 0)
		goto cleanup;
	strcpy(hb.name, a->id.name);
	hb.cpu_busy_permille = s.cpu_busy_permille;
	hb.ncpu = s.ncpu;
	hb.mem_total_kib = s.mem_total_kib;
	hb.mem_available_kib = s.mem_available_kib;
	hb.interval_ms = (uint32_t)a->cfg->heartbeat_interval_ms;
	if (guests_last(&a->guests, &hb.guests_running, &hb.guest_mem_kib))
		hb.flags |= HB_FLAG_LIBVIRT;
	hb.flags |= HB_FLAG_CAPS | (a->cfg->dispatch_listen[0] ? HB_FLAG_DISPATCH : 0);
	if (guests_bases(&a->guests, &bases))
		hb.flags |= HB_FLAG_IMAGES | bases << HB_FLAG_BASE_SHIFT;
	what = a->seq.path;
	ret = seqstore_next(&a->seq, &hb.seq);
	if (ret < 0)
		goto cleanup;
	what = "encoding the heartbeat";
	ret = hb_encode(&hb, dgram);
	if (ret < 0)
		goto cleanup;
	hb_auth_seal(dgram, a->key);
	*seq = hb.seq;
cleanup:
	track_build(a, ret, what);
	return ret;
}

static void connect_fleet(struct agent *a, uint64_t now)
{
	int ret;

	if (a->connected) {
		uv_udp_connect(&a->udp, NULL);
		a->connected = false;
	}
	ret = uv_udp_connect(&a->udp, (const struct sockaddr *)&a->fleet_addr);
	if (ret < 0) {
		fleet_error(a, uv_strerror(ret));
		return;
	}
	a->connected = true;
	a->connected_ns = now;
}

static int send_heartbeat(struct agent *a)
{
	uint8_t dgram[HB_SIZE];
	uint64_t seq;
	uv_buf_t buf;
	int ret;

	ret = build(a, dgram, &seq);
	if (ret < 0 || !a->connected)
		return ret < 0 ? ret : -ENOTCONN;
	buf = uv_buf_init((char *)dgram, sizeof(dgram));
	ret = uv_udp_try_send(&a->udp, &buf, 1, NULL);
	if (ret < 0) {
		fleet_error(a, uv_strerror(ret));
		log_debug("heartbeat %" PRIu64 " not sent: %s", seq, uv_strerror(ret));
		return ret;
	}
	log_debug("heartbeat %" PRIu64 " sent", seq);
	return 0;
}

static void on_tick(uv_timer_t *t);

/* Keeps the cadence; after a stall, the heartbeat just sent stands for all
 * the missed ones and the next one is a whole interval away. */
static void schedule(struct agent *a, uint64_t now)
{
	uint64_t interval = a->cfg->heartbeat_interval_ms * NSEC_PER_MSEC, wait;

	if (now >= a->due_ns + interval) {
		log_warn("heartbeat %" PRIu64 " ms late (stall or suspend); missed ones are not sent",
			 (uint64_t)((now - a->due_ns) / NSEC_PER_MSEC));
		a->due_ns = now;
	}
	a->due_ns += interval;
	uv_update_time(&a->loop);
	now = clock_mono_ns();
	wait = a->due_ns > now ? a->due_ns - now : 0;
	uv_timer_start(&a->tick, on_tick, (wait + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC, 0);
}

static void on_tick(uv_timer_t *t)
{
	struct agent *a = t->data;
	uint64_t now = clock_mono_ns();

	if (a->have_key && a->fleet_address[0]) {
		note_reachability(a);
		if (!a->connected || now - a->connected_ns >= RECONNECT_NS)
			connect_fleet(a, now);
		a->sent_last = send_heartbeat(a) == 0;
	}
	guests_probe(&a->guests);
	schedule(a, now);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct agent *a = h->data;

	*buf = uv_buf_init(a->rx, sizeof(a->rx));
}

/* Nothing is expected back; this is where ICMP errors surface. */
static void on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
		    const struct sockaddr *addr, unsigned flags)
{
	struct agent *a = h->data;

	if (n < 0)
		fleet_error(a, uv_strerror((int)n));
	else if (n > 0)
		log_debug("ignored %zd bytes from the fleet address", n);
}

static int load_identity(struct agent *a)
{
	const char *dir = a->cfg->state_dir;
	int ret = identity_load(dir, &a->id);

	if (ret == -ENOENT)
		log_err("no identity in %s: create one with `os-infrastructure keygen --name %s "
			"--state-dir %s` and add its trust line where the fleet runs",
			dir, a->cfg->name, dir);
	else if (ret == -EPERM)
		log_err("%s/" IDENTITY_FILE " is readable by group or others; chmod 600 it", dir);
	else if (ret < 0)
		log_err("cannot load %s/" IDENTITY_FILE ": %s", dir,
			ret == -EBADMSG ? "not an identity file" : strerror(-ret));
	if (ret < 0)
		return ret;
	if (strcmp(a->cfg->name, a->id.name)) {
		log_err("the identity in %s is node '%s' but name is '%s': set name = %s, or "
			"point state_dir at this node's identity", dir, a->id.name, a->cfg->name,
			a->id.name);
		return -EINVAL;
	}
	return 0;
}

/* The fleet's kx key in the ledger (or, without one, the trust file) gives
 * the heartbeat key. On failure the key in use, if any, is kept. */
static int load_fleet_key(struct agent *a)
{
	const struct trust_entry *fleet;
	struct trust_set set = { 0 };
	uint8_t key[HB_KEY_BYTES];
	char err[256], source[PATH_MAX + 8];
	int ret;

	ret = mesh_trust_load(a->cfg->state_dir, a->cfg->trust_file, &set, source, sizeof(source),
			      err, sizeof(err));
	if (ret < 0) {
		if (ret == -EBADMSG)
			log_err("%s", err); /* names the file already */
		else
			log_err("%s: %s", source, strerror(-ret));
		goto cleanup;
	}
	fleet = trust_find_role(&set, TRUST_ROLE_FLEET);
	if (!fleet && a->mesh) {
		log_info("the mesh has no fleet yet; heartbeats start when one joins");
		ret = -ENOENT;
		goto cleanup;
	}
	if (!fleet) {
		log_err("%s: no member has the fleet role; add the fleet's trust line with "
			"`os-infrastructure trust add --line ...`", source);
		ret = -ENOENT;
		goto cleanup;
	}
	ret = hb_key_node(key, a->id.kx_pk, a->id.kx_sk, fleet->kx_pk);
	if (ret < 0) {
		log_err("%s: the key of fleet '%s' is unusable", source, fleet->name);
		goto cleanup;
	}
	memcpy(a->key, key, sizeof(key));
	strcpy(a->fleet_name, fleet->name);
	a->have_key = true;
cleanup:
	sodium_memzero(key, sizeof(key));
	trust_free(&set);
	return ret;
}

/* Two agents on one state_dir would send the same sequence numbers. */
static int lock_state_dir(struct agent *a)
{
	char path[PATH_MAX];
	int ret;

	if (snprintf(path, sizeof(path), "%s/" LOCK_FILE, a->cfg->state_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	a->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (a->lock_fd < 0) {
		ret = -errno;
		log_err("cannot open %s: %s", path, strerror(-ret));
		return ret;
	}
	if (flock(a->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		log_err("another service-vm-host holds %s; one agent per state_dir", path);
		return -EBUSY;
	}
	return 0;
}

static int open_seq(struct agent *a)
{
	int ret = lock_state_dir(a);

	if (ret < 0)
		return ret;
	ret = seqstore_open(&a->seq, a->cfg->state_dir);

	if (ret == -EBADMSG)
		log_err("%s is corrupt. Refusing to start: counting again from 1 could reuse "
			"sequence numbers the fleet has seen. Write a number larger than any this "
			"node has sent into it, or give the node a new identity", a->seq.path);
	else if (ret < 0)
		log_err("cannot reserve heartbeat sequence numbers in %s: %s", a->seq.path,
			strerror(-ret));
	else if (a->seq.next == 1)
		log_info("%s: first start, counting from 1", a->seq.path);
	return ret;
}

/* fleet_address as configured, else the fleet member's mesh address from
 * the ledger (none yet: "" and -ENOENT), else the local default. */
static int choose_fleet_address(struct agent *a)
{
	struct ledger l;
	char err[256];
	int ret = 0;

	if (a->cfg->fleet_address[0] || !a->mesh) {
		snprintf(a->fleet_address, sizeof(a->fleet_address), "%s",
			 a->cfg->fleet_address[0] ? a->cfg->fleet_address : "127.0.0.1:7101");
		return 0;
	}
	ledger_init(&l);
	ret = mesh_ledger_load(a->cfg->state_dir, &l, err, sizeof(err));
	if (ret == 0)
		ret = mesh_fleet_address(&l, a->fleet_address, sizeof(a->fleet_address));
	else
		log_err("%s", err);
	if (ret < 0)
		a->fleet_address[0] = '\0';
	ledger_free(&l);
	return ret;
}

static int parse_fleet_address(struct agent *a)
{
	char host[64];
	uint16_t port;
	int ret;

	ret = choose_fleet_address(a);
	if (ret < 0)
		return ret;
	ret = parse_hostport(a->fleet_address, host, sizeof(host), &port);
	if (ret == 0 && port == 0)
		ret = -EINVAL;
	if (ret == 0 && uv_ip4_addr(host, port, (struct sockaddr_in *)&a->fleet_addr) < 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&a->fleet_addr) < 0)
		ret = -EINVAL;
	if (ret < 0)
		log_err("fleet_address '%s' is not a numeric address and port "
			"(10.42.0.1:7101 or [fd42::1]:7101)", a->fleet_address);
	return ret;
}

/* After the ledger changed (or SIGHUP): the fleet may have joined, moved or
 * been revoked. */
static void reload_fleet(void *ctx)
{
	struct agent *a = ctx;
	char before[sizeof(a->fleet_address)];

	memcpy(before, a->fleet_address, sizeof(before));
	if (load_fleet_key(a) < 0 && a->have_key)
		log_warn("keeping the fleet key loaded before");
	if (parse_fleet_address(a) < 0 || strcmp(before, a->fleet_address)) {
		if (a->connected)
			uv_udp_connect(&a->udp, NULL);
		a->connected = false;
		if (a->fleet_address[0])
			log_info("heartbeats go to fleet %s at %s", a->fleet_name, a->fleet_address);
	}
}

static void close_handle(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Closing every handle (a probe under way is killed) lets uv_run return. */
static void stop(struct agent *a)
{
	if (a->stopping)
		return;
	a->stopping = true;
	dispatch_stop(a->dispatch);
	fabric_node_stop(a->fabric);
	a->fabric = NULL;
	ledger_sync_stop(a->sync);
	if (a->guests_ready)
		guests_close(&a->guests);
	uv_walk(&a->loop, close_handle, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;

	if (signum == SIGHUP) {
		log_info("SIGHUP: reloading %s", a->mesh ? "the ledger" : a->cfg->trust_file);
		ledger_sync_check(a->sync);
		reload_fleet(a);
		return;
	}
	log_info("%s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	stop(a);
}

/* With dispatch on, heartbeats leave from the dispatch address: the fleet
 * dispatches to wherever a node's heartbeats come from. */
static int bind_source(struct agent *a)
{
	struct sockaddr_storage ss;
	char host[64];
	uint16_t port;
	int ret;

	if (!a->cfg->dispatch_listen[0])
		return 0;
	if (parse_hostport(a->cfg->dispatch_listen, host, sizeof(host), &port) < 0 ||
	    (uv_ip4_addr(host, 0, (struct sockaddr_in *)&ss) &&
	     uv_ip6_addr(host, 0, (struct sockaddr_in6 *)&ss))) {
		log_err("dispatch_listen '%s' is not a numeric host:port", a->cfg->dispatch_listen);
		return -EINVAL;
	}
	ret = uv_udp_bind(&a->udp, (struct sockaddr *)&ss, 0);
	if (ret < 0)
		log_err("cannot send heartbeats from %s: %s", host, uv_strerror(ret));
	return ret;
}

static int start(struct agent *a)
{
	static const int signums[3] = { SIGTERM, SIGINT, SIGHUP };
	int ret;

	/* The mesh first: the addresses below may be mesh addresses. */
	if (a->mesh) {
		ret = ledger_sync_start(&a->loop, a->cfg, &a->id, reload_fleet, a, &a->sync);
		if (ret < 0)
			return ret;
	}
	ret = uv_udp_init_ex(&a->loop, &a->udp, a->fleet_addr.ss_family);
	if (ret < 0)
		return ret;
	a->udp.data = a;
	ret = bind_source(a);
	if (ret < 0)
		return ret;
	/* the cached fabric table first: names and policy while the fleet is down */
	if (a->mesh) {
		ret = fabric_node_start(&a->loop, a->cfg, &a->fabric);
		if (ret < 0)
			return ret;
	}
	ret = dispatch_start(&a->loop, a->cfg, &a->guests, a->fabric, &a->dispatch);
	if (ret < 0)
		return ret;
	ret = uv_timer_init(&a->loop, &a->tick);
	if (ret < 0)
		return ret;
	a->tick.data = a;
	for (int i = 0; i < 3; i++) {
		uv_signal_init(&a->loop, &a->sigs[i]);
		a->sigs[i].data = a;
		ret = uv_signal_start(&a->sigs[i], on_signal, signums[i]);
		if (ret < 0)
			return ret;
	}
	ret = guests_init(&a->guests, &a->loop, NULL, a->cfg->guests_uri);
	if (ret < 0)
		return ret;
	guests_set_bases(&a->guests, a->cfg->images_dir, a->cfg->base_image);
	agent_ask_set_socket(&a->guests.ask, a->cfg->virt_socket);
	a->guests_ready = true;
	if (a->fleet_address[0])
		connect_fleet(a, clock_mono_ns());
	ret = uv_udp_recv_start(&a->udp, on_alloc, on_recv);
	if (ret < 0)
		return ret;
	a->due_ns = clock_mono_ns();
	return uv_timer_start(&a->tick, on_tick, 0, 0);
}

static int prepare(struct agent *a)
{
	int ret;

	ret = auth_init();
	if (ret < 0) {
		log_err("libsodium failed to initialise");
		return ret;
	}
	/* A member waits for a fleet to join the mesh rather than exit. */
	a->mesh = mesh_has_ledger(a->cfg->state_dir);
	ret = parse_fleet_address(a);
	if (ret == -ENOENT && a->mesh)
		ret = 0;
	if (ret == 0)
		ret = load_identity(a);
	if (ret == 0)
		ret = load_fleet_key(a);
	if (ret == -ENOENT && a->mesh)
		ret = 0;
	if (ret == 0)
		ret = open_seq(a);
	sampler_init(&a->sampler, "/proc");
	return ret;
}

int agent_run(const struct host_config *cfg)
{
	static struct agent agent;
	struct agent *a = &agent;
	int ret;

	memset(a, 0, sizeof(*a));
	a->cfg = cfg;
	a->lock_fd = -1;
	ret = prepare(a);
	if (ret < 0)
		goto cleanup;
	ret = uv_loop_init(&a->loop);
	if (ret < 0) {
		log_err("cannot start the event loop: %s", uv_strerror(ret));
		goto cleanup;
	}
	ret = start(a);
	if (ret < 0)
		log_err("cannot start: %s", uv_strerror(ret));
	else
		log_info("node %s: heartbeats every %" PRIu64 " ms to fleet %s at %s; guests: %s",
			 a->id.name, cfg->heartbeat_interval_ms,
			 a->fleet_name[0] ? a->fleet_name : "(none yet)",
			 a->fleet_address[0] ? a->fleet_address : "-",
			 cfg->guests_uri[0] ? cfg->guests_uri : "not counted");
	if (ret == 0) {
		sd_notify(0, "READY=1"); /* sockets bound (Type=notify); a no-op outside systemd */
		uv_run(&a->loop, UV_RUN_DEFAULT);
	}
	stop(a);
	uv_run(&a->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&a->loop) < 0)
		log_warn("event loop closed with handles still open");
cleanup:
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	identity_wipe(&a->id);
	sodium_memzero(a->key, sizeof(a->key));
	return ret < 0 ? 1 : 0;
}
