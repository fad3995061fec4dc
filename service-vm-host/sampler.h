/* What the host agent reports: CPU busy since the last sample (/proc/stat),
 * MemTotal and MemAvailable (/proc/meminfo), the CPU count, and guests when
 * libvirt answers. Parsers work on text so tests feed fixture files. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/guest-agent.h"
#include "lib/guest-types.h"

struct cpu_times {
	uint64_t busy;   /* user+nice+system+irq+softirq+steal */
	uint64_t total;  /* busy + idle + iowait */
};

/* Parses the aggregate "cpu " line and counts "cpuN" lines. -EBADMSG if absent
 * or malformed. */
int parse_proc_stat(const char *text, struct cpu_times *out, unsigned *ncpu);
/* MemTotal and MemAvailable in KiB; -EBADMSG if either is missing. */
int parse_proc_meminfo(const char *text, uint64_t *total_kib, uint64_t *avail_kib);
/* Busy per-mille between two samples (0 when no time passed or counters went
 * backwards). */
uint16_t cpu_busy_permille(const struct cpu_times *prev, const struct cpu_times *now);

struct sample {
	uint16_t cpu_busy_permille;
	uint16_t ncpu;
	uint64_t mem_total_kib;
	uint64_t mem_available_kib;
	bool libvirt_ok;
	uint32_t guests_running;
	uint64_t guest_mem_kib;
};

struct sampler {
	const char *proc_root;   /* "/proc" or a fixture directory */
	struct cpu_times prev;
	bool have_prev;
};

void sampler_init(struct sampler *s, const char *proc_root);
/* Reads /proc; the first call reports 0 busy (no interval yet). Leaves the
 * libvirt fields zero: they come from the guests probe. */
int sampler_read(struct sampler *s, struct sample *out);

/* The one line service-vm-host-guests prints on stdout:
 *   "ok running=<u32> memory_kib=<u64>[ bases=<u32>][ channels=<u32>]
 *       [ pool_free=<u64>]
 *       [ ip=<guest>:<IPv4>]...
 *       [ ga=<guest>:<ifname>:<address>]...
 *       [ vm=<guest>:<type>:<state>:<vcpus>:<memory_kib>:<owner>:<instance-id>
 *         [ vd=<guest>:<volumes>:<bytes>]]..."
 *   or  "error <printable ASCII>"
 * with an optional trailing newline and nothing else. Each ip= names a
 * running guest (a guest name) and its IPv4 address in dotted-quad form; at
 * most PROBE_ADDRS_MAX of them, one per guest. Each vm= is a domain carrying
 * the project's metadata, running or not: a guest type's name, "running" or
 * "stopped", and owner and instance-id as bytes 0x21-0x7e but ':' ("-" when
 * empty); at most PROBE_VMS_MAX, one per guest. Each ga= is one address a
 * running guest's QEMU guest agent reported (lib/guest-agent.h: the
 * interface's name, an IPv4 or IPv6 address in inet_ntop's form); at most
 * GUEST_AGENT_ADDRS_MAX per guest and PROBE_AGENT_MAX in all, no pair twice.
 * channels= counts the running guests whose guest agent channel the live
 * XML shows connected (read-only suffices; at most running). pool_free= is
 * the bytes libvirt counts available in the project's pool. A vd= follows
 * the vm= of the same guest when each of its data volumes was found: how
 * many (at most PROBE_DATA_VOLUMES_MAX) and their files' sizes in all, what
 * a move's export would carry. */
#define PROBE_REASON_MAX 200
#define PROBE_BASES_MAX 8 /* bits of bases: guest types, in table order */
#define PROBE_ADDRS_MAX 64
#define PROBE_IPV4_MAX 15 /* "255.255.255.255" */
#define PROBE_VMS_MAX 64
#define PROBE_AGENT_MAX 128
/* " ga=", name, ':', interface, ':', address */
#define PROBE_GA_MAX (4 + GUEST_NAME_MAX + 1 + GUEST_AGENT_IFNAME_MAX + 1 + GUEST_AGENT_ADDR_MAX)
#define PROBE_FIELD_MAX 63 /* owner, instance-id */
/* " vm=", then name, type, state, vcpus (u32), memory (u64), owner, instance-id
 * with a ':' after each but the last */
#define PROBE_VM_MAX (4 + GUEST_NAME_MAX + 1 + 15 + 1 + 7 + 1 + 10 + 1 + 20 + 1 + \
		      PROBE_FIELD_MAX + 1 + PROBE_FIELD_MAX)
#define PROBE_DATA_VOLUMES_MAX 16
/* " vd=", name, ':', volumes (u32), ':', bytes (u64) */
#define PROBE_VD_MAX (4 + GUEST_NAME_MAX + 1 + 10 + 1 + 20)
/* " pool_free=" and a u64 */
#define PROBE_POOL_MAX (11 + 20)
#define PROBE_LINE_MAX (64 + PROBE_POOL_MAX + \
			PROBE_ADDRS_MAX * (4 + GUEST_NAME_MAX + 1 + PROBE_IPV4_MAX) + \
			PROBE_VMS_MAX * (PROBE_VM_MAX + PROBE_VD_MAX) + PROBE_AGENT_MAX * PROBE_GA_MAX)

struct probe_addr {
	char name[GUEST_NAME_MAX + 1];
	char ipv4[PROBE_IPV4_MAX + 1];
};

/* One address a guest's agent reported. */
struct probe_agent {
	char name[GUEST_NAME_MAX + 1];
	struct guest_agent_addr a;
};

/* A domain the project made, from its metadata. */
struct probe_vm {
	char name[GUEST_NAME_MAX + 1];
	char type[16];
	char state[8];     /* "running" | "stopped" */
	uint32_t vcpus;
	uint64_t memory_kib;
	char owner[PROBE_FIELD_MAX + 1];
	char instance_id[PROBE_FIELD_MAX + 1];
	bool has_data;          /* a vd= followed: every data volume was found */
	uint32_t data_volumes;
	uint64_t data_bytes;    /* the volumes' files, what an export carries */
};

struct probe_result {
	bool ok;
	uint32_t running;
	uint64_t memory_kib;
	bool has_bases;    /* the probe was asked about base images */
	uint32_t bases;    /* bit i: guest type i's base image is in the pool */
	char reason[PROBE_REASON_MAX + 1]; /* when !ok */
	unsigned naddrs;   /* running guests whose IPv4 address libvirt knew */
	struct probe_addr addrs[PROBE_ADDRS_MAX];
	uint32_t agent_channels; /* running guests with a connected agent channel */
	bool has_pool;     /* pool_free= was there */
	uint64_t pool_free; /* bytes available in the project's pool */
	unsigned nagent;   /* addresses the guests' agents reported */
	struct probe_agent agent[PROBE_AGENT_MAX];
	unsigned nvms;     /* the project's domains, running or not */
	struct probe_vm vms[PROBE_VMS_MAX];
};

/* Parses len bytes (need not be NUL-terminated); -EBADMSG unless the line is
 * exactly one of the two forms. */
int parse_probe_line(const char *line, size_t len, struct probe_result *out);
/* Only the ga= tokens, as the probe line carries them (" ga=G:IF:A"..., the
 * same checks and bounds), into out->agent; the privileged helper's
 * "agent-addresses" answer. -EBADMSG (and none taken) if one is malformed. */
int parse_agent_tokens(const char *text, size_t len, struct probe_result *out);
