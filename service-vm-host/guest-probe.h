/* Guests on this node, asked of libvirt by the helper service-vm-host-guests
 * (which links libvirt so that the agent does not). A probe runs beside the
 * heartbeat loop: guests_probe() starts one and returns at once, and each
 * heartbeat carries the last answer, so a hung libvirtd never delays one.
 * A probe that has not answered within GUESTS_TIMEOUT_MS is killed. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "service-vm-host/agent-ask.h"
#include "service-vm-host/sampler.h"

#define GUESTS_TIMEOUT_MS 5000
/* A probe costs tens of ms of CPU (libvirt's start-up): at most one per
 * this period, however short the heartbeat interval. */
#define GUESTS_PERIOD_MS 10000
#define GUESTS_HELPER "service-vm-host-guests"

struct guests {
	uv_loop_t *loop;
	char helper[4096];
	char uri[256];
	/* Each guest type's base image name ("-": unknown), asked of the probe. */
	char bases[PROBE_BASES_MAX][64];
	unsigned nbases;
	uv_timer_t timer;
	/* The probe under way. */
	uv_process_t proc;
	uv_pipe_t pipe;
	unsigned open_handles;
	uint64_t started_ms; /* uv_now() when the last probe began */
	bool started_once, running, exited, eof, timed_out;
	int64_t exit_status;
	int term_signal;
	char buf[PROBE_LINE_MAX + 2];
	size_t used;
	/* The last answer; reason is kept so that a repeated failure logs once. */
	struct probe_result last;
	bool have_last;
	/* The guest agents' addresses asked of the root helper when this
	 * process is not root (after a probe; agent_ask_set_socket() first). */
	struct agent_ask ask;
};

/* helper: path of service-vm-host-guests, or NULL for host_helper_path()'s
 * choice (next to this executable, else the libexec directory). An empty uri
 * turns probing off. */
int guests_init(struct guests *g, uv_loop_t *loop, const char *helper, const char *uri);
/* Starts a probe unless one is under way, one began less than
 * GUESTS_PERIOD_MS ago, or probing is off. Never blocks. */
void guests_probe(struct guests *g);
/* The last probe's answer; false when libvirt has not answered. */
bool guests_last(const struct guests *g, uint32_t *running, uint64_t *memory_kib);
/* Which guest types' base images the pool holds (bit i: type i), from the
 * last answer; false when not known. */
bool guests_bases(const struct guests *g, uint32_t *mask);
/* The base image of each guest type, for the probe to look for: override if
 * set, else "base_image" of images_dir/<the type's manifest>; a manifest that
 * cannot be read names none ("-"). Logs what it could not read. */
void guests_set_bases(struct guests *g, const char *images_dir, const char *override);
/* Kills a probe under way and closes every handle; run the loop to finish. */
void guests_close(struct guests *g);
/* Whether the local libvirt daemon's read-only socket is there, for URIs
 * that need it ("...:///system"); other URIs always pass. */
bool guests_socket_present(const char *uri);
