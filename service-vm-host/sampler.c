#include "service-vm-host/sampler.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fileio.h"

/* /proc/stat grows with the number of CPUs and interrupts. */
#define PROC_FILE_MAX (4u << 20)

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Strict decimal: one or more digits, no sign, no overflow. */
static int scan_u64(const char **pp, const char *end, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;

	if (p >= end || !is_digit(*p))
		return -EBADMSG;
	for (; p < end && is_digit(*p); p++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
			return -EBADMSG;
	}
	*pp = p;
	*out = v;
	return 0;
}

static const char *skip_spaces(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static bool has_prefix(const char *p, const char *end, const char *prefix)
{
	size_t n = strlen(prefix);

	return (size_t)(end - p) >= n && !memcmp(p, prefix, n);
}

static const char *line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? nl : end;
}

/* "cpu  user nice system idle iowait irq softirq steal guest guest_nice":
 * guest time is already inside user and nice, so it is not added again.
 * Kernels before 2.6 print only the first four; later ones may add more. */
static int parse_cpu_line(const char *p, const char *eol, struct cpu_times *out)
{
	uint64_t v[8] = { 0 }, busy = 0, total;
	unsigned n = 0;

	for (;;) {
		uint64_t x;

		p = skip_spaces(p, eol);
		if (p == eol)
			break;
		if (scan_u64(&p, eol, &x) < 0)
			return -EBADMSG;
		if (p < eol && *p != ' ' && *p != '\t')
			return -EBADMSG;
		if (n < 8)
			v[n] = x;
		n++;
	}
	if (n < 4)
		return -EBADMSG;
	for (unsigned i = 0; i < 8; i++) {
		if (i == 3 || i == 4)
			continue;
		if (__builtin_add_overflow(busy, v[i], &busy))
			return -EBADMSG;
	}
	if (__builtin_add_overflow(busy, v[3], &total) ||
	    __builtin_add_overflow(total, v[4], &total))
		return -EBADMSG;
	out->busy = busy;
	out->total = total;
	return 0;
}

/* "cpu<digits> ..." */
static bool is_cpun_line(const char *p, const char *eol)
{
	if (!has_prefix(p, eol, "cpu"))
		return false;
	p += 3;
	if (p == eol || !is_digit(*p))
		return false;
	while (p < eol && is_digit(*p))
		p++;
	return p < eol && *p == ' ';
}

int parse_proc_stat(const char *text, struct cpu_times *out, unsigned *ncpu)
{
	const char *p = text, *end = text + strlen(text);
	struct cpu_times t;
	bool have_total = false;
	unsigned n = 0;

	while (p < end) {
		const char *eol = line_end(p, end);

		if (has_prefix(p, eol, "cpu ")) {
			if (have_total || parse_cpu_line(p + 4, eol, &t) < 0)
				return -EBADMSG;
			have_total = true;
		} else if (is_cpun_line(p, eol)) {
			if (n == UINT_MAX)
				return -EBADMSG;
			n++;
		}
		p = eol < end ? eol + 1 : end;
	}
	if (!have_total || n == 0)
		return -EBADMSG;
	*out = t;
	*ncpu = n;
	return 0;
}

/* "<value> kB" after the key, then the end of the line. */
static int parse_kib(const char *p, const char *eol, uint64_t *out)
{
	p = skip_spaces(p, eol);
	if (scan_u64(&p, eol, out) < 0)
		return -EBADMSG;
	return (eol - p == 3 && !memcmp(p, " kB", 3)) ? 0 : -EBADMSG;
}

int parse_proc_meminfo(const char *text, uint64_t *total_kib, uint64_t *avail_kib)
{
	const char *p = text, *end = text + strlen(text);
	bool have_total = false, have_avail = false;
	uint64_t total = 0, avail = 0;

	while (p < end) {
		const char *eol = line_end(p, end);

		if (has_prefix(p, eol, "MemTotal:")) {
			if (have_total || parse_kib(p + 9, eol, &total) < 0)
				return -EBADMSG;
			have_total = true;
		} else if (has_prefix(p, eol, "MemAvailable:")) {
			if (have_avail || parse_kib(p + 13, eol, &avail) < 0)
				return -EBADMSG;
			have_avail = true;
		}
		p = eol < end ? eol + 1 : end;
	}
	if (!have_total || !have_avail)
		return -EBADMSG;
	*total_kib = total;
	*avail_kib = avail;
	return 0;
}

uint16_t cpu_busy_permille(const struct cpu_times *prev, const struct cpu_times *now)
{
	uint64_t busy, total;

	if (now->total <= prev->total || now->busy < prev->busy)
		return 0;
	busy = now->busy - prev->busy;
	total = now->total - prev->total;
	if (busy >= total)
		return 1000;
	/* Keep busy * 1000 inside 64 bits; precision lost here is invisible. */
	while (total > UINT64_MAX / 1000 / 2) {
		busy >>= 1;
		total >>= 1;
	}
	return (uint16_t)((busy * 1000 + total / 2) / total);
}

void sampler_init(struct sampler *s, const char *proc_root)
{
	memset(s, 0, sizeof(*s));
	s->proc_root = proc_root;
}

static int read_proc(const char *root, const char *name, char **text)
{
	char path[PATH_MAX];
	size_t len;

	if (snprintf(path, sizeof(path), "%s/%s", root, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return read_file(path, PROC_FILE_MAX, text, &len);
}

int sampler_read(struct sampler *s, struct sample *out)
{
	char *stat = NULL, *meminfo = NULL;
	struct cpu_times now;
	unsigned ncpu;
	int ret;

	ret = read_proc(s->proc_root, "stat", &stat);
	if (ret < 0)
		goto cleanup;
	ret = read_proc(s->proc_root, "meminfo", &meminfo);
	if (ret < 0)
		goto cleanup;
	memset(out, 0, sizeof(*out));
	ret = parse_proc_stat(stat, &now, &ncpu);
	if (ret < 0)
		goto cleanup;
	ret = parse_proc_meminfo(meminfo, &out->mem_total_kib, &out->mem_available_kib);
	if (ret < 0)
		goto cleanup;
	/* Containers and odd kernels can report more available than total. */
	if (out->mem_available_kib > out->mem_total_kib)
		out->mem_available_kib = out->mem_total_kib;
	out->ncpu = ncpu > UINT16_MAX ? UINT16_MAX : (uint16_t)ncpu;
	out->cpu_busy_permille = s->have_prev ? cpu_busy_permille(&s->prev, &now) : 0;
	s->prev = now;
	s->have_prev = true;
cleanup:
	free(stat);
	free(meminfo);
	return ret;
}

/* Up to a stop byte (or end): [p, *q) holds at least 1 and at most max bytes. */
static int scan_field(const char *p, const char *end, char stop, size_t max, char *out)
{
	const char *q = p;

	while (q < end && *q != stop && *q != ' ')
		q++;
	if (q == p || (size_t)(q - p) > max)
		return -EBADMSG;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	return (int)(q - p);
}

/* " ip=<guest>:<IPv4>": a guest name, once, and a dotted quad as
 * inet_ntop writes it. Returns the bytes taken. */
static int parse_probe_addr(const char *p, const char *end, struct probe_result *out)
{
	struct probe_addr *a = &out->addrs[out->naddrs];
	const char *start = p;
	struct in_addr in;
	char back[INET_ADDRSTRLEN];
	int n;

	if (out->naddrs >= PROBE_ADDRS_MAX || !has_prefix(p, end, " ip="))
		return -EBADMSG;
	p += 4;
	n = scan_field(p, end, ':', GUEST_NAME_MAX, a->name);
	if (n < 0 || p + n == end || p[n] != ':' || !guest_name_valid(a->name))
		return -EBADMSG;
	p += n + 1;
	n = scan_field(p, end, ' ', PROBE_IPV4_MAX, a->ipv4);
	if (n < 0 || inet_pton(AF_INET, a->ipv4, &in) != 1 ||
	    !inet_ntop(AF_INET, &in, back, sizeof(back)) || strcmp(back, a->ipv4))
		return -EBADMSG;
	for (unsigned i = 0; i < out->naddrs; i++)
		if (!strcmp(out->addrs[i].name, a->name))
			return -EBADMSG;
	out->naddrs++;
	return (int)(p + n - start);
}

/* " ga=<guest>:<ifname>:<address>": the address runs to the next ' ' (an
 * IPv6 address holds ':'). Returns the bytes taken. */
static int parse_probe_agent(const char *p, const char *end, struct probe_result *out)
{
	struct probe_agent *g = &out->agent[out->nagent];
	const char *start = p;
	unsigned same = 0;
	int n;

	if (out->nagent >= PROBE_AGENT_MAX || !has_prefix(p, end, " ga="))
		return -EBADMSG;
	p += 4;
	n = scan_field(p, end, ':', GUEST_NAME_MAX, g->name);
	if (n < 0 || p + n == end || p[n] != ':' || !guest_name_valid(g->name))
		return -EBADMSG;
	p += n + 1;
	n = scan_field(p, end, ':', GUEST_AGENT_IFNAME_MAX, g->a.ifname);
	if (n < 0 || p + n == end || p[n] != ':' || !guest_agent_ifname_valid(g->a.ifname))
		return -EBADMSG;
	p += n + 1;
	n = scan_field(p, end, ' ', GUEST_AGENT_ADDR_MAX, g->a.addr);
	if (n < 0 || !guest_agent_addr_valid(g->a.addr))
		return -EBADMSG;
	for (unsigned i = 0; i < out->nagent; i++) {
		const struct probe_agent *o = &out->agent[i];

		if (strcmp(o->name, g->name))
			continue;
		if (++same >= GUEST_AGENT_ADDRS_MAX ||
		    (!strcmp(o->a.ifname, g->a.ifname) && !strcmp(o->a.addr, g->a.addr)))
			return -EBADMSG;
	}
	out->nagent++;
	return (int)(p + n - start);
}

/* Bytes 0x21-0x7e but ':' up to the next ':' (or ' ' / end when last). */
static int scan_word(const char **pp, const char *end, bool last, size_t max, char *out)
{
	const char *p = *pp, *q = p;

	while (q < end && *q > 0x20 && *q < 0x7f && *q != ':')
		q++;
	if (q == p || (size_t)(q - p) > max || (last ? q != end && *q != ' ' : q == end || *q != ':'))
		return -EBADMSG;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	*pp = last ? q : q + 1;
	return 0;
}

static int scan_u64_colon(const char **pp, const char *end, uint64_t max, uint64_t *out)
{
	if (scan_u64(pp, end, out) < 0 || *out > max || *pp == end || **pp != ':')
		return -EBADMSG;
	(*pp)++;
	return 0;
}

/* " vm=<guest>:<type>:<state>:<vcpus>:<memory_kib>:<owner>:<instance-id>".
 * Returns the bytes taken. */
static int parse_probe_vm(const char *p, const char *end, struct probe_result *out)
{
	struct probe_vm *v = &out->vms[out->nvms];
	const char *start = p;
	uint64_t vcpus;

	if (out->nvms >= PROBE_VMS_MAX || !has_prefix(p, end, " vm="))
		return -EBADMSG;
	p += 4;
	if (scan_word(&p, end, false, GUEST_NAME_MAX, v->name) < 0 || !guest_name_valid(v->name) ||
	    scan_word(&p, end, false, sizeof(v->type) - 1, v->type) < 0 ||
	    !guest_type_find(v->type) ||
	    scan_word(&p, end, false, sizeof(v->state) - 1, v->state) < 0 ||
	    (strcmp(v->state, "running") && strcmp(v->state, "stopped")) ||
	    scan_u64_colon(&p, end, UINT32_MAX, &vcpus) < 0 ||
	    scan_u64_colon(&p, end, UINT64_MAX, &v->memory_kib) < 0 ||
	    scan_word(&p, end, false, PROBE_FIELD_MAX, v->owner) < 0 ||
	    scan_word(&p, end, true, PROBE_FIELD_MAX, v->instance_id) < 0)
		return -EBADMSG;
	v->vcpus = (uint32_t)vcpus;
	for (unsigned i = 0; i < out->nvms; i++)
		if (!strcmp(out->vms[i].name, v->name))
			return -EBADMSG;
	out->nvms++;
	return (int)(p - start);
}

/* " vd=<guest>:<volumes>:<bytes>", right after that guest's vm=. Returns the
 * bytes taken. */
static int parse_probe_vd(const char *p, const char *end, struct probe_result *out)
{
	struct probe_vm *v = out->nvms ? &out->vms[out->nvms - 1] : NULL;
	const char *start = p;
	char name[GUEST_NAME_MAX + 1];
	uint64_t nvol;

	if (!v || v->has_data || !has_prefix(p, end, " vd="))
		return -EBADMSG;
	p += 4;
	if (scan_word(&p, end, false, GUEST_NAME_MAX, name) < 0 || strcmp(name, v->name) ||
	    scan_u64_colon(&p, end, PROBE_DATA_VOLUMES_MAX, &nvol) < 0 ||
	    scan_u64(&p, end, &v->data_bytes) < 0 || (p != end && *p != ' '))
		return -EBADMSG;
	v->data_volumes = (uint32_t)nvol;
	v->has_data = true;
	return (int)(p - start);
}

static int parse_probe_ok(const char *p, const char *end, struct probe_result *out)
{
	uint64_t running, mem;

	if (!has_prefix(p, end, "running="))
		return -EBADMSG;
	p += 8;
	if (scan_u64(&p, end, &running) < 0 || running > UINT32_MAX)
		return -EBADMSG;
	if (!has_prefix(p, end, " memory_kib="))
		return -EBADMSG;
	p += 12;
	if (scan_u64(&p, end, &mem) < 0)
		return -EBADMSG;
	if (has_prefix(p, end, " bases=")) {
		uint64_t bases;

		p += 7;
		if (scan_u64(&p, end, &bases) < 0 || bases >> PROBE_BASES_MAX)
			return -EBADMSG;
		out->has_bases = true;
		out->bases = (uint32_t)bases;
	}
	if (has_prefix(p, end, " channels=")) {
		uint64_t ch;

		p += 10;
		if (scan_u64(&p, end, &ch) < 0 || ch > running)
			return -EBADMSG;
		out->agent_channels = (uint32_t)ch;
	}
	if (has_prefix(p, end, " pool_free=")) {
		p += 11;
		if (scan_u64(&p, end, &out->pool_free) < 0)
			return -EBADMSG;
		out->has_pool = true;
	}
	while (p != end) {
		int n = has_prefix(p, end, " vm=") ? parse_probe_vm(p, end, out) :
			has_prefix(p, end, " vd=") ? parse_probe_vd(p, end, out) :
			has_prefix(p, end, " ga=") ? parse_probe_agent(p, end, out) :
			parse_probe_addr(p, end, out);

		if (n < 0)
			return -EBADMSG;
		p += n;
	}
	out->ok = true;
	out->running = (uint32_t)running;
	out->memory_kib = mem;
	return 0;
}

static int parse_probe_error(const char *p, const char *end, struct probe_result *out)
{
	size_t n = (size_t)(end - p);

	if (n == 0 || n > PROBE_REASON_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] > 0x7e)
			return -EBADMSG;
	}
	memcpy(out->reason, p, n);
	out->reason[n] = '\0';
	return 0;
}

int parse_agent_tokens(const char *text, size_t len, struct probe_result *out)
{
	const char *p = text, *end = text + len;

	out->nagent = 0;
	while (p != end) {
		int n = parse_probe_agent(p, end, out);

		if (n < 0) {
			out->nagent = 0;
			return -EBADMSG;
		}
		p += n;
	}
	return 0;
}

int parse_probe_line(const char *line, size_t len, struct probe_result *out)
{
	const char *end;
	int ret;

	memset(out, 0, sizeof(*out));
	if (len && line[len - 1] == '\n')
		len--;
	if (len > PROBE_LINE_MAX)
		return -EBADMSG;
	end = line + len;
	if (has_prefix(line, end, "ok "))
		ret = parse_probe_ok(line + 3, end, out);
	else if (has_prefix(line, end, "error "))
		ret = parse_probe_error(line + 6, end, out);
	else
		ret = -EBADMSG;
	if (ret < 0)
		memset(out, 0, sizeof(*out));
	return ret;
}
