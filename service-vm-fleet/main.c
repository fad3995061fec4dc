/* service-vm-fleet: receives heartbeats, evicts silent nodes, answers
 * placement and status requests. See docs/architecture.md. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "lib/clock.h"
#include "lib/conf-path.h"
#include "lib/fileio.h"
#include "service-vm-fleet/fleet.h"
#include "lib/log.h"
#include "osi-config.h"
#include "service-vm-fleet/servers.h"

static struct fleet fleet;
static uv_timer_t sweep_timer, checkpoint_timer;
static uv_signal_t sig_term, sig_int, sig_hup;

static void usage(FILE *o)
{
	fprintf(o, "Usage: service-vm-fleet [--config FILE] [--set KEY=VALUE]... [--help-config]\n"
		   "The fleet controller: heartbeats, eviction, advisory placement, operator API.\n"
		   "Without --config: " CONF_ETC_DIR "/fleet.conf, else " OSI_STATE_DIR
		   "/fleet.conf\n(as genesis or join wrote it); the log names the file read.\n");
}

static int parse_args(int argc, char **argv, struct fleet_config *cfg)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "set", required_argument, NULL, 's' },
		{ "help-config", no_argument, NULL, 'H' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { 0 },
	};
	char found[PATH_MAX], err[256];
	const char *file = conf_default_path(CONF_ETC_DIR, OSI_STATE_DIR, "fleet.conf", found);
	int c, explicit_file = 0;

	if (fleet_config_defaults(cfg, err, sizeof(err)) < 0)
		goto bad;
	/* Pass 1 finds the file; pass 2 applies overrides on top of it. */
	while ((c = getopt_long(argc, argv, "c:s:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; explicit_file = 1; break;
		case 's': break;
		case 'H': config_print_help(fleet_config_keys, fleet_config_nkeys); exit(0);
		case 'h': usage(stdout); exit(0);
		case 'V': printf("service-vm-fleet %s\n", OSI_VERSION); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc) {
		usage(stderr);
		exit(2);
	}
	if (file && config_load(fleet_config_keys, fleet_config_nkeys, cfg, file, !explicit_file,
				err, sizeof(err)) < 0)
		goto bad;
	if (file)
		log_info("configuration: %s", file);
	else
		log_info("configuration: no " CONF_ETC_DIR "/fleet.conf nor " OSI_STATE_DIR
			 "/fleet.conf: defaults and --set only");
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:s:hV", opts, NULL)) != -1)
		if (c == 's' && config_override(fleet_config_keys, fleet_config_nkeys, cfg, optarg,
						err, sizeof(err)) < 0)
			goto bad;
	if (fleet_config_finish(cfg) < 0) {
		snprintf(err, sizeof(err), "state_dir is too long");
		goto bad;
	}
	return 0;
bad:
	fprintf(stderr, "service-vm-fleet: configuration: %s\n", err);
	exit(2);
}

/* Two fleets on one state directory would fight over fleet.db and the socket. */
static int take_lock(const char *state_dir)
{
	char path[PATH_MAX + 16];
	int fd;

	snprintf(path, sizeof(path), "%s/fleet.lock", state_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return -EBUSY;
	}
	return fd; /* held until exit */
}

/* One-shot, re-armed for the next eviction deadline (at most a period). */
static void on_sweep(uv_timer_t *t)
{
	uv_timer_start(t, on_sweep, fleet_tick(&fleet, clock_mono_ns()), 0);
}

static void on_checkpoint(uv_timer_t *t)
{
	fleet_checkpoint(&fleet);
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
	if (signum == SIGHUP) {
		log_info("SIGHUP: reloading the trust (ledger or %s)", fleet.cfg.trust_file);
		fleet_reload_trust(&fleet);
		return;
	}
	log_info("%s: stopping", strsignal(signum));
	fleet_checkpoint(&fleet);
	uv_walk(s->loop, on_walk_close, NULL);
}

static int start(uv_loop_t *loop)
{
	int ret = server_udp_start(loop, &fleet);

	if (ret == 0)
		ret = server_api_start(loop, &fleet);
	if (ret == 0)
		ret = server_metrics_start(loop, &fleet);
	if (ret < 0)
		return ret;
	server_dispatch_init(loop, &fleet);
	server_move_init(loop, &fleet);
	server_backup_copy_init(loop, &fleet);
	server_fabric_init(loop, &fleet);
	uv_timer_init(loop, &sweep_timer);
	uv_timer_start(&sweep_timer, on_sweep, fleet_sweep_period_ms(&fleet.cfg), 0);
	uv_timer_init(loop, &checkpoint_timer);
	uv_timer_start(&checkpoint_timer, on_checkpoint, fleet.cfg.checkpoint_interval_ms,
		       fleet.cfg.checkpoint_interval_ms);
	uv_signal_init(loop, &sig_term);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_init(loop, &sig_int);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	uv_signal_init(loop, &sig_hup);
	uv_signal_start(&sig_hup, on_signal, SIGHUP);
	return 0;
}

int main(int argc, char **argv)
{
	struct fleet_config cfg;
	enum log_level lvl;
	uv_loop_t *loop = uv_default_loop();
	int ret, lock;

	log_init("service-vm-fleet");
	parse_args(argc, argv, &cfg);
	if (log_level_parse(cfg.log_level, &lvl) < 0) {
		fprintf(stderr, "service-vm-fleet: log_level '%s' is not error|warn|info|debug\n",
			cfg.log_level);
		return 2;
	}
	log_set_level(lvl);
	if (auth_init() < 0 || (ret = mkdir_p(cfg.state_dir, 0700)) < 0) {
		log_err("cannot prepare %s", cfg.state_dir);
		return 1;
	}
	lock = take_lock(cfg.state_dir);
	if (lock < 0) {
		log_err("%s is in use by another service-vm-fleet: %s", cfg.state_dir, strerror(-lock));
		return 1;
	}
	if (fleet_open(&fleet, &cfg, clock_mono_ns()) < 0)
		return 1;
	ret = start(loop);
	if (ret == 0) {
		registry_begin_window(&fleet.reg, clock_mono_ns());
		sd_notify(0, "READY=1"); /* sockets bound (Type=notify); a no-op outside systemd */
		log_info("listening: %zu stored nodes each get a full %llu ms window from now",
			 fleet.reg.count, (unsigned long long)fleet.cfg.evict_after_ms);
		ret = uv_run(loop, UV_RUN_DEFAULT);
	}
	else
		uv_walk(loop, on_walk_close, NULL);
	uv_run(loop, UV_RUN_DEFAULT); /* let close callbacks run */
	uv_loop_close(loop);
	fleet_close(&fleet);
	close(lock);
	return ret < 0 ? 1 : 0;
}
