#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/fileio.h"
#include "service-vm-host/sampler.h"
#include "tests/unit/fixture.h"

static const char *fixture(const char *name)
{
	static char path[PATH_MAX];
	const char *root = getenv("OSI_FIXTURES");

	assert_non_null(root);
	snprintf(path, sizeof(path), "%s/%s", root, name);
	return path;
}

static char *load(const char *name)
{
	char *text;
	size_t len;

	assert_int_equal(read_file(fixture(name), 1 << 20, &text, &len), 0);
	return text;
}

static void real_stat(void **state)
{
	struct cpu_times t;
	unsigned ncpu;
	char *text = load("proc-a/stat");

	assert_int_equal(parse_proc_stat(text, &t, &ncpu), 0);
	/* cpu  11731 0 11978 93220 497 0 486 0 0 0 */
	assert_int_equal(ncpu, 2);
	assert_int_equal(t.busy, 11731 + 11978 + 486);
	assert_int_equal(t.total, 11731 + 11978 + 486 + 93220 + 497);
	free(text);
}

static void real_meminfo(void **state)
{
	uint64_t total, avail;
	char *text = load("proc-a/meminfo");

	assert_int_equal(parse_proc_meminfo(text, &total, &avail), 0);
	assert_int_equal(total, 24683620);
	assert_int_equal(avail, 24340276);
	free(text);
}

static void cpu_counts(void **state)
{
	struct cpu_times t;
	unsigned ncpu;
	char *one = load("proc-1cpu/stat"), *many = load("proc-64cpu/stat");

	assert_int_equal(parse_proc_stat(one, &t, &ncpu), 0);
	assert_int_equal(ncpu, 1);
	assert_int_equal(t.busy, 43445 + 485 + 10886 + 98);
	assert_int_equal(parse_proc_stat(many, &t, &ncpu), 0);
	assert_int_equal(ncpu, 64);
	free(one);
	free(many);
}

static void huge_values(void **state)
{
	struct sampler s;
	struct sample smp;

	sampler_init(&s, fixture("proc-huge"));
	assert_int_equal(sampler_read(&s, &smp), 0);
	assert_int_equal(smp.mem_total_kib, 17179869184ULL);
	assert_int_equal(smp.mem_available_kib, 17000000000ULL);
	assert_int_equal(s.prev.busy, 1125000000000000000ULL + 12345678901234ULL + 7);
	assert_int_equal(smp.ncpu, 1);
}

static void missing_memavailable(void **state)
{
	struct sampler s;
	struct sample smp;

	sampler_init(&s, fixture("proc-no-memavailable"));
	assert_int_equal(sampler_read(&s, &smp), -EBADMSG);
}

static void garbage(void **state)
{
	struct sampler s;
	struct sample smp;

	sampler_init(&s, fixture("proc-garbage"));
	assert_int_equal(sampler_read(&s, &smp), -EBADMSG);
	sampler_init(&s, fixture("no-such-dir"));
	assert_int_equal(sampler_read(&s, &smp), -ENOENT);
}

static void stat_edges(void **state)
{
	static const char *const bad[] = {
		"",
		"cpu0 1 2 3 4\n",                               /* no aggregate */
		"cpu  1 2 3 4\n",                               /* no cpuN */
		"cpu  1 2 3\ncpu0 1 2 3\n",                     /* too few fields */
		"cpu  1 2 3 4\ncpu  1 2 3 4\ncpu0 1 2 3 4\n",   /* twice */
		"cpu  1 2 3 4x\ncpu0 1 2 3 4\n",
		"cpu  1 -2 3 4\ncpu0 1 2 3 4\n",
		"cpu  18446744073709551616 0 0 0\ncpu0 0 0 0 0\n",
		"cpu  18446744073709551615 1 0 0\ncpu0 0 0 0 0\n", /* busy sum wraps */
		"cpu  0 0 0 18446744073709551615 1\ncpu0 0 0 0 0\n", /* total wraps */
	};
	struct cpu_times t;
	unsigned ncpu;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_proc_stat(bad[i], &t, &ncpu), -EBADMSG);

	/* Linux 2.4 printed four fields and no trailing newline. */
	assert_int_equal(parse_proc_stat("cpu  5 1 4 90\ncpu0 5 1 4 90", &t, &ncpu), 0);
	assert_int_equal(t.busy, 10);
	assert_int_equal(t.total, 100);
	/* Guest time is inside user; fields beyond the tenth are ignored. */
	assert_int_equal(parse_proc_stat("cpu  5 0 0 5 0 0 0 0 5 5 7\ncpu0 1\ncpu1 1\n",
					 &t, &ncpu), 0);
	assert_int_equal(t.busy, 5);
	assert_int_equal(t.total, 10);
	assert_int_equal(ncpu, 2);
	assert_int_equal(parse_proc_stat("cpu  18446744073709551615 0 0 0\ncpu0 1\n", &t, &ncpu), 0);
	assert_int_equal(t.total, UINT64_MAX);
}

static void meminfo_edges(void **state)
{
	static const char *const bad[] = {
		"",
		"MemTotal: 10 kB\n",
		"MemAvailable: 10 kB\n",
		"MemTotal: 10\nMemAvailable: 5 kB\n",
		"MemTotal: 10 MB\nMemAvailable: 5 kB\n",
		"MemTotal: 10 kB\nMemAvailable: 5 kB\nMemTotal: 10 kB\n",
		"MemTotal: kB\nMemAvailable: 5 kB\n",
		"MemTotal: 99999999999999999999 kB\nMemAvailable: 5 kB\n",
		"MemTotal: 10 kB junk\nMemAvailable: 5 kB\n",
	};
	uint64_t total, avail;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_proc_meminfo(bad[i], &total, &avail), -EBADMSG);
	assert_int_equal(parse_proc_meminfo("MemAvailable:5 kB\nMemTotal:    10 kB", &total, &avail), 0);
	assert_int_equal(total, 10);
	assert_int_equal(avail, 5);
}

static void permille(void **state)
{
	struct cpu_times a = { 100, 1000 }, b;

	b = a;
	assert_int_equal(cpu_busy_permille(&a, &b), 0);
	b = (struct cpu_times){ 500, 2000 };
	assert_int_equal(cpu_busy_permille(&a, &b), 400);
	assert_int_equal(cpu_busy_permille(&b, &a), 0);
	b = (struct cpu_times){ 50, 2000 };
	assert_int_equal(cpu_busy_permille(&a, &b), 0);
	b = (struct cpu_times){ 5000, 2000 };
	assert_int_equal(cpu_busy_permille(&a, &b), 1000);
	b = (struct cpu_times){ 101, 3000 };
	assert_int_equal(cpu_busy_permille(&a, &b), 1); /* 0.5 rounds up */
	a = (struct cpu_times){ 0, 0 };
	b = (struct cpu_times){ UINT64_MAX / 2, UINT64_MAX };
	assert_int_equal(cpu_busy_permille(&a, &b), 500);
	b = (struct cpu_times){ UINT64_MAX - 1, UINT64_MAX };
	assert_int_equal(cpu_busy_permille(&a, &b), 1000);
}

static void two_samples(void **state)
{
	struct sampler s;
	struct sample smp;

	sampler_init(&s, fixture("proc-a"));
	assert_int_equal(sampler_read(&s, &smp), 0);
	assert_int_equal(smp.cpu_busy_permille, 0);
	assert_int_equal(smp.ncpu, 2);
	assert_int_equal(smp.mem_total_kib, 24683620);
	assert_false(smp.libvirt_ok);
	s.proc_root = fixture("proc-a-later");
	assert_int_equal(sampler_read(&s, &smp), 0);
	assert_int_equal(smp.cpu_busy_permille, 400);
	/* A failed read leaves the previous sample in place. */
	s.proc_root = fixture("proc-garbage");
	assert_int_equal(sampler_read(&s, &smp), -EBADMSG);
	s.proc_root = fixture("proc-a-later");
	assert_int_equal(sampler_read(&s, &smp), 0);
	assert_int_equal(smp.cpu_busy_permille, 0);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(atomic_write_file(path, text, strlen(text), 0644), 0);
}

static void available_clamped(void **state)
{
	char dir[64];
	struct sampler s;
	struct sample smp;

	assert_int_equal(fixture_tmpdir(dir, sizeof(dir), "test-sampler"), 0);
	write_text(dir, "stat", "cpu  1 0 1 8\ncpu0 1 0 1 8\n");
	write_text(dir, "meminfo", "MemTotal: 1000 kB\nMemAvailable: 1200 kB\n");
	sampler_init(&s, dir);
	assert_int_equal(sampler_read(&s, &smp), 0);
	assert_int_equal(smp.mem_available_kib, 1000);
	assert_int_equal(fixture_rmtree(dir), 0);
}

static void probe_line(void **state)
{
	static const char *const bad[] = {
		"", "\n", "ok", "ok \n", "ok running=1", "ok running=1 memory_kib=",
		"ok running=1 memory_kib=2 ", "ok running=1 memory_kib=2\n\n",
		"ok running=1  memory_kib=2", "ok running=-1 memory_kib=2",
		"ok running=4294967296 memory_kib=2", "ok memory_kib=2 running=1",
		"ok running=1 memory_kib=18446744073709551616", "OK running=1 memory_kib=2",
		"ok running=1 memory_kib=2\r\n", "error", "error ", "error \n",
		"error bad\tbyte", "error \x7f", "error \xc3\xa9", "errors oops", " error x",
	};
	struct probe_result r;
	char big[PROBE_LINE_MAX + 8];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_probe_line(bad[i], strlen(bad[i]), &r), -EBADMSG);
		assert_false(r.ok);
	}
	assert_int_equal(parse_probe_line("ok running=3 memory_kib=6291456\n", 32, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.running, 3);
	assert_int_equal(r.memory_kib, 6291456);
	assert_int_equal(parse_probe_line("ok running=4294967295 memory_kib=0", 34, &r), 0);
	assert_int_equal(r.running, UINT32_MAX);
	assert_int_equal(parse_probe_line("error no connection to libvirt\n", 31, &r), 0);
	assert_false(r.ok);
	assert_string_equal(r.reason, "no connection to libvirt");
	/* Only len bytes count: a prefix of a good line is a bad line. */
	assert_int_equal(parse_probe_line("ok running=3 memory_kib=6", 14, &r), -EBADMSG);
	assert_int_equal(parse_probe_line("ok running=3 memory_kib=6XYZ", 25, &r), 0);
	assert_int_equal(parse_probe_line("error x\0y", 9, &r), -EBADMSG);

	memset(big, 'a', sizeof(big));
	memcpy(big, "error ", 6);
	assert_int_equal(parse_probe_line(big, 6 + PROBE_REASON_MAX, &r), 0);
	assert_int_equal(strlen(r.reason), PROBE_REASON_MAX);
	assert_int_equal(parse_probe_line(big, 6 + PROBE_REASON_MAX + 1, &r), -EBADMSG);
	assert_int_equal(parse_probe_line(big, sizeof(big), &r), -EBADMSG);
}

/* The optional bases mask (one bit per guest type, at most 8 of them). */
static void probe_line_bases(void **state)
{
	static const char *const bad[] = {
		"ok running=1 memory_kib=2 bases=", "ok running=1 memory_kib=2 bases=256",
		"ok running=1 memory_kib=2 bases=1 ", "ok running=1 memory_kib=2  bases=1",
		"ok running=1 memory_kib=2 base=1", "ok running=1 memory_kib=2 bases=-1",
		"error x bases=1x\x01",
	};
	struct probe_result r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_probe_line(bad[i], strlen(bad[i]), &r), -EBADMSG);
	assert_int_equal(parse_probe_line("ok running=1 memory_kib=2 bases=13\n", 35, &r), 0);
	assert_true(r.ok && r.has_bases);
	assert_int_equal(r.bases, 13);
	assert_int_equal(r.running, 1);
	assert_int_equal(r.memory_kib, 2);
	assert_int_equal(parse_probe_line("ok running=1 memory_kib=2 bases=0", 33, &r), 0);
	assert_true(r.has_bases);
	assert_int_equal(r.bases, 0);
	assert_int_equal(parse_probe_line("ok running=1 memory_kib=2", 25, &r), 0);
	assert_false(r.has_bases);
}

/* Each running guest's IPv4 address when libvirt knew it (issue 10 #7). */
static void probe_line_addresses(void **state)
{
	static const char *const bad[] = {
		"ok running=1 memory_kib=2 ip=", "ok running=1 memory_kib=2 ip=web1",
		"ok running=1 memory_kib=2 ip=web1:", "ok running=1 memory_kib=2 ip=:10.0.0.1",
		"ok running=1 memory_kib=2 ip=Web1:10.0.0.1", "ok running=1 memory_kib=2 ip=w/1:10.0.0.1",
		"ok running=1 memory_kib=2 ip=web1:10.0.0.256", "ok running=1 memory_kib=2 ip=web1:10.0.0",
		"ok running=1 memory_kib=2 ip=web1:010.0.0.1", "ok running=1 memory_kib=2 ip=web1:fe80::1",
		"ok running=1 memory_kib=2 ip=web1:10.0.0.1 ", "ok running=1 memory_kib=2 ip=web1:10.0.0.1:2",
		"ok running=1 memory_kib=2 ip=web1:10.0.0.1 ip=web1:10.0.0.2",
		"ok running=1 memory_kib=2 ip=web1:10.0.0.1 bases=1",
		"ok running=1 memory_kib=2  ip=web1:10.0.0.1",
	};
	char line[PROBE_LINE_MAX + 64];
	struct probe_result r;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_probe_line(bad[i], strlen(bad[i]), &r), -EBADMSG);
	n = (size_t)snprintf(line, sizeof(line), "ok running=2 memory_kib=2 bases=3 ip=web1:10.77.1.5 "
			     "ip=vault-1:192.168.122.40\n");
	assert_int_equal(parse_probe_line(line, n, &r), 0);
	assert_true(r.ok && r.has_bases);
	assert_int_equal(r.naddrs, 2);
	assert_string_equal(r.addrs[0].name, "web1");
	assert_string_equal(r.addrs[0].ipv4, "10.77.1.5");
	assert_string_equal(r.addrs[1].name, "vault-1");
	assert_string_equal(r.addrs[1].ipv4, "192.168.122.40");
	assert_int_equal(parse_probe_line("ok running=1 memory_kib=2 ip=a:1.2.3.4", 38, &r), 0);
	assert_false(r.has_bases);
	assert_int_equal(r.naddrs, 1);
	/* The longest line: PROBE_ADDRS_MAX guests with the longest names and addresses. */
	n = (size_t)snprintf(line, sizeof(line), "ok running=%u memory_kib=18446744073709551615 bases=255",
			     PROBE_ADDRS_MAX);
	for (unsigned i = 0; i < PROBE_ADDRS_MAX; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " ip=%060u:255.255.255.%03u", i, 100 + i);
	assert_int_equal(parse_probe_line(line, n, &r), 0);
	assert_int_equal(r.naddrs, PROBE_ADDRS_MAX);
	n += (size_t)snprintf(line + n, sizeof(line) - n, " ip=x:1.1.1.1");
	assert_int_equal(parse_probe_line(line, n, &r), -EBADMSG);
	assert_int_equal(r.naddrs, 0);
}

static void probe_line_inventory(void **state)
{
	static const char *const bad[] = {
		"ok running=0 memory_kib=0 vm=", "ok running=0 memory_kib=0 vm=web1",
		"ok running=0 memory_kib=0 vm=web1:totebox:running:1:1024:ops",
		"ok running=0 memory_kib=0 vm=web1:totebox:running:1:1024:ops:",
		"ok running=0 memory_kib=0 vm=web1:toaster:running:1:1024:ops:iid",
		"ok running=0 memory_kib=0 vm=web1:totebox:paused:1:1024:ops:iid",
		"ok running=0 memory_kib=0 vm=Web1:totebox:running:1:1024:ops:iid",
		"ok running=0 memory_kib=0 vm=web1:totebox:running:-1:1024:ops:iid",
		"ok running=0 memory_kib=0 vm=web1:totebox:running:4294967296:1024:ops:iid",
		"ok running=0 memory_kib=0 vm=web1:totebox:running:1:1024:ops:iid:x",
		"ok running=0 memory_kib=0 vm=web1:totebox:running:1:1024:ops:iid ",
		"ok running=0 memory_kib=0 vm=web1:totebox:running:1:1024:o\tps:iid",
		/* a name twice (parenthesised: one literal in two lines, not two) */
		("ok running=0 memory_kib=0 vm=web1:totebox:running:1:1024:ops:iid "
		 "vm=web1:totebox:stopped:1:1024:ops:iid"),
	};
	char line[PROBE_LINE_MAX + 64];
	struct probe_result r;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_probe_line(bad[i], strlen(bad[i]), &r), -EBADMSG);
	n = (size_t)snprintf(line, sizeof(line), "ok running=1 memory_kib=2 ip=web1:10.77.1.5 "
			     "vm=web1:totebox:running:2:1048576:ops:iid-9 vm=db1:privategit:stopped:1:"
			     "524288:-:-\n");
	assert_int_equal(parse_probe_line(line, n, &r), 0);
	assert_int_equal(r.naddrs, 1);
	assert_int_equal(r.nvms, 2);
	assert_string_equal(r.vms[0].name, "web1");
	assert_string_equal(r.vms[0].type, "totebox");
	assert_string_equal(r.vms[0].state, "running");
	assert_int_equal(r.vms[0].vcpus, 2);
	assert_int_equal(r.vms[0].memory_kib, 1048576);
	assert_string_equal(r.vms[0].owner, "ops");
	assert_string_equal(r.vms[0].instance_id, "iid-9");
	assert_string_equal(r.vms[1].state, "stopped");
	assert_string_equal(r.vms[1].owner, "-");
	/* The longest line: every address and every domain at its longest. */
	n = (size_t)snprintf(line, sizeof(line), "ok running=%u memory_kib=18446744073709551615 bases=255"
			     " pool_free=18446744073709551615", PROBE_ADDRS_MAX);
	for (unsigned i = 0; i < PROBE_ADDRS_MAX; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " ip=%063u:255.255.255.%03u", i, 100 + i);
	for (unsigned i = 0; i < PROBE_VMS_MAX; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n,
				      " vm=%063u:orchestration:running:4294967295:18446744073709551615:"
				      "%063u:%063u vd=%063u:%u:18446744073709551615", i, i, i, i,
				      PROBE_DATA_VOLUMES_MAX);
	assert_true(n <= PROBE_LINE_MAX);
	assert_int_equal(parse_probe_line(line, n, &r), 0);
	assert_int_equal(r.nvms, PROBE_VMS_MAX);
	n += (size_t)snprintf(line + n, sizeof(line) - n, " vm=x:totebox:running:1:1:o:i");
	assert_int_equal(parse_probe_line(line, n, &r), -EBADMSG);
}

/* pool_free= and vd=: the room a move needs and the room a node has. */
static void probe_line_room(void **state)
{
	static const char *const bad[] = {
		"ok running=0 memory_kib=0 pool_free=",
		"ok running=0 memory_kib=0 pool_free=-1",
		"ok running=0 memory_kib=0 pool_free=18446744073709551616",
		"ok running=0 memory_kib=0 pool_free=1x",
		"ok running=0 memory_kib=0 pool_free=1 pool_free=2",
		/* vd= only right after its guest's vm=, once */
		"ok running=0 memory_kib=0 vd=web1:1:5",
		"ok running=0 memory_kib=0 vm=web1:totebox:running:1:1024:ops:iid vd=db1:1:5",
		("ok running=0 memory_kib=0 vm=web1:totebox:running:1:1024:ops:iid vd=web1:1:5 "
		 "vd=web1:1:5"),
		"ok running=0 memory_kib=0 vm=web1:totebox:running:1:1024:ops:iid vd=web1:17:5",
		"ok running=0 memory_kib=0 vm=web1:totebox:running:1:1024:ops:iid vd=web1:1",
		"ok running=0 memory_kib=0 vm=web1:totebox:running:1:1024:ops:iid vd=web1:1:",
		"ok running=0 memory_kib=0 vm=web1:totebox:running:1:1024:ops:iid vd=web1:1:5x",
		"ok running=0 memory_kib=0 vm=web1:totebox:running:1:1024:ops:iid vd=web1:1:-5",
	};
	const char *good = "ok running=1 memory_kib=2 channels=0 pool_free=107374182400 "
			   "ip=web1:10.77.1.5 vm=web1:totebox:running:2:1048576:ops:iid-9 "
			   "vd=web1:2:1073872896 vm=db1:privategit:stopped:1:524288:-:-";
	struct probe_result r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_probe_line(bad[i], strlen(bad[i]), &r), -EBADMSG);
	assert_int_equal(parse_probe_line(good, strlen(good), &r), 0);
	assert_true(r.has_pool);
	assert_int_equal(r.pool_free, 107374182400ull);
	assert_int_equal(r.nvms, 2);
	assert_true(r.vms[0].has_data);
	assert_int_equal(r.vms[0].data_volumes, 2);
	assert_int_equal(r.vms[0].data_bytes, 1073872896ull);
	assert_false(r.vms[1].has_data); /* a volume not found: no vd= */
	/* an older probe's line: nothing known */
	good = "ok running=0 memory_kib=0 vm=db1:privategit:stopped:1:524288:-:-";
	assert_int_equal(parse_probe_line(good, strlen(good), &r), 0);
	assert_false(r.has_pool);
	assert_false(r.vms[0].has_data);
}

/* ga= tokens: what the guests' agents reported, checked like the fleet does. */
static void probe_line_agent(void **state)
{
	static const char *const bad[] = {
		"ok running=1 memory_kib=0 ga=", "ok running=1 memory_kib=0 ga=web1",
		"ok running=1 memory_kib=0 ga=web1:eth0", "ok running=1 memory_kib=0 ga=web1:eth0:",
		"ok running=1 memory_kib=0 ga=Web1:eth0:10.78.1.2",
		"ok running=1 memory_kib=0 ga=web1::10.78.1.2",
		"ok running=1 memory_kib=0 ga=web1:eth/0:10.78.1.2",
		"ok running=1 memory_kib=0 ga=web1:0123456789abcdef:10.78.1.2",
		"ok running=1 memory_kib=0 ga=web1:eth0:10.78.1.02",
		"ok running=1 memory_kib=0 ga=web1:eth0:10.78.1.2/24",
		"ok running=1 memory_kib=0 ga=web1:eth0:FE80::1",
		"ok running=1 memory_kib=0 ga=web1:eth0:fe80:0::1",
		"ok running=1 memory_kib=0 ga=web1:eth0:10.78.1.2 ",
		"ok running=1 memory_kib=0 ga=web1:eth0:10.78.1.2 ga=web1:eth0:10.78.1.2",
		"ok running=1 memory_kib=0 ga=web1:eth\x00:10.78.1.2",
	};
	char line[PROBE_LINE_MAX + 64];
	struct probe_result r;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_probe_line(bad[i], strlen(bad[i]), &r), -EBADMSG);
		assert_int_equal(r.nagent, 0);
	}
	n = (size_t)snprintf(line, sizeof(line), "ok running=2 memory_kib=2 ip=web1:10.78.1.2 "
			     "ga=web1:eth0:10.78.1.2 ga=web1:eth0:fe80::5054:ff:fe12:3456 "
			     "ga=db1:enp1s0:2001:db8::7 ga=web1:eth1:10.78.1.2 "
			     "vm=web1:mediakit:running:1:196608:-:-\n");
	assert_int_equal(parse_probe_line(line, n, &r), 0);
	assert_int_equal(r.nagent, 4);
	assert_int_equal(r.nvms, 1);
	assert_string_equal(r.agent[1].name, "web1");
	assert_string_equal(r.agent[1].a.ifname, "eth0");
	assert_string_equal(r.agent[1].a.addr, "fe80::5054:ff:fe12:3456");
	assert_string_equal(r.agent[2].name, "db1");
	assert_string_equal(r.agent[2].a.addr, "2001:db8::7");
	/* At most GUEST_AGENT_ADDRS_MAX for one guest, PROBE_AGENT_MAX in all. */
	n = (size_t)snprintf(line, sizeof(line), "ok running=1 memory_kib=0");
	for (unsigned i = 0; i < GUEST_AGENT_ADDRS_MAX; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " ga=web1:eth0:10.0.0.%u", i + 1);
	assert_int_equal(parse_probe_line(line, n, &r), 0);
	n += (size_t)snprintf(line + n, sizeof(line) - n, " ga=web1:eth1:10.0.1.1");
	assert_int_equal(parse_probe_line(line, n, &r), -EBADMSG);
	n = (size_t)snprintf(line, sizeof(line), "ok running=%u memory_kib=0", PROBE_AGENT_MAX);
	for (unsigned i = 0; i < PROBE_AGENT_MAX; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n,
				      " ga=%063u:abcdefghijklmno:ffff:ffff:ffff:ffff:ffff:ffff:ffff:%x",
				      i, 0x1000 + i);
	assert_true(n <= PROBE_LINE_MAX);
	assert_int_equal(parse_probe_line(line, n, &r), 0);
	assert_int_equal(r.nagent, PROBE_AGENT_MAX);
	n += (size_t)snprintf(line + n, sizeof(line) - n, " ga=x:eth0:10.0.0.1");
	assert_int_equal(parse_probe_line(line, n, &r), -EBADMSG);
}

/* channels=: how many running guests have a connected agent channel (the
 * unprivileged agent asks its helper only then); never more than running. */
static void probe_line_channels(void **state)
{
	static const char *const bad[] = {
		"ok running=1 memory_kib=0 channels=2", "ok running=1 memory_kib=0 channels=",
		"ok running=1 memory_kib=0 channels=-1", "ok running=1 memory_kib=0 channels=1x",
		"ok running=1 memory_kib=0 ip=web1:10.0.0.1 channels=1",
	};
	const char *good = "ok running=2 memory_kib=5 bases=1 channels=2 ip=web1:10.0.0.1";
	struct probe_result r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse_probe_line(bad[i], strlen(bad[i]), &r), -EBADMSG);
	assert_int_equal(parse_probe_line(good, strlen(good), &r), 0);
	assert_int_equal(r.agent_channels, 2);
	assert_int_equal(r.naddrs, 1);
	good = "ok running=2 memory_kib=5";
	assert_int_equal(parse_probe_line(good, strlen(good), &r), 0);
	assert_int_equal(r.agent_channels, 0);
}

/* The helper's agent-addresses answer: ga= tokens only, checked as in the
 * probe line; one bad token and none is taken. */
static void agent_tokens_only(void **state)
{
	static const char *const bad[] = {
		"ga=web1:eth0:10.0.0.1", " ga=web1:eth0:10.0.0.1 ", " ip=web1:10.0.0.1",
		" ga=web1:eth0:10.0.0.1 ga=web1:eth0:10.0.0.1", " ga=web1:eth0:10.0.0.01",
		" ga=web1:eth0:10.0.0.1 vm=web1:mediakit:running:1:1:-:-",
	};
	const char *good = " ga=web1:eth0:10.0.0.1 ga=db-2:ens3:fe80::1";
	struct probe_result r = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_agent_tokens(bad[i], strlen(bad[i]), &r), -EBADMSG);
		assert_int_equal(r.nagent, 0);
	}
	assert_int_equal(parse_agent_tokens("", 0, &r), 0);
	assert_int_equal(r.nagent, 0);
	assert_int_equal(parse_agent_tokens(good, strlen(good), &r), 0);
	assert_int_equal(r.nagent, 2);
	assert_string_equal(r.agent[1].name, "db-2");
	assert_string_equal(r.agent[1].a.ifname, "ens3");
	assert_string_equal(r.agent[1].a.addr, "fe80::1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(probe_line_inventory),
		cmocka_unit_test(probe_line_room),
		cmocka_unit_test(probe_line_agent),
		cmocka_unit_test(probe_line_channels),
		cmocka_unit_test(agent_tokens_only),
		cmocka_unit_test(real_stat),
		cmocka_unit_test(real_meminfo),
		cmocka_unit_test(cpu_counts),
		cmocka_unit_test(huge_values),
		cmocka_unit_test(missing_memavailable),
		cmocka_unit_test(garbage),
		cmocka_unit_test(stat_edges),
		cmocka_unit_test(meminfo_edges),
		cmocka_unit_test(permille),
		cmocka_unit_test(two_samples),
		cmocka_unit_test(available_clamped),
		cmocka_unit_test(probe_line),
		cmocka_unit_test(probe_line_bases),
		cmocka_unit_test(probe_line_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
