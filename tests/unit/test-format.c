/* The CLI's output formats and views: exact strings, so that a change in
 * what an operator or a script sees is a deliberate one. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "os-infrastructure/format.h"
#include "os-infrastructure/render.h"

#define GIB 1073741824LL

struct capture {
	char *buf;
	size_t len;
	FILE *f;
};

static FILE *capture_open(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	assert_non_null(c->f);
	return c->f;
}

/* Closes the stream, compares, frees. */
static void capture_check(struct capture *c, const char *want)
{
	assert_int_equal(fclose(c->f), 0);
	assert_string_equal(c->buf, want);
	free(c->buf);
}

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, 0, &err);

	if (!v)
		fail_msg("fixture: %s at %d", err.text, err.position);
	return v;
}

typedef int (*render_fn)(FILE *, const json_t *, enum format);

static void check_render(render_fn fn, const char *json, enum format fmt, const char *want)
{
	struct capture c;
	json_t *v = parse(json);

	assert_int_equal(fn(capture_open(&c), v, fmt), 0);
	capture_check(&c, want);
	json_decref(v);
}

/* The guest's address, "-" in the table while unknown (issue 10 #7). */
static void test_guests_address(void **state)
{
	static const char reply[] =
		"{\"ok\":true,\"guests\":[{\"name\":\"web1\",\"type\":\"mediakit\",\"node\":\"a\","
		"\"state\":\"running\",\"address\":\"10.77.1.5\",\"memory_bytes\":1073741824,"
		"\"vcpus\":1,\"accel\":\"tcg\",\"detail\":null,\"created\":1,\"updated\":2},"
		"{\"name\":\"web2\",\"type\":\"mediakit\",\"node\":\"a\",\"state\":\"stopped\","
		"\"address\":null,\"memory_bytes\":1073741824,\"vcpus\":1,\"accel\":null,"
		"\"detail\":null,\"created\":1,\"updated\":2}]}";

	(void)state;
	check_render(render_guests, reply, FORMAT_TABLE,
		     "+------+----------+------+---------+-----------+--------+-------+-------+--------+\n"
		     "| NAME |   TYPE   | NODE |  STATE  |  ADDRESS  | MEMORY | VCPUS | ACCEL | DETAIL |\n"
		     "+------+----------+------+---------+-----------+--------+-------+-------+--------+\n"
		     "| web1 | mediakit | a    | running | 10.77.1.5 |   1.0G |     1 | tcg   | -      |\n"
		     "+------+----------+------+---------+-----------+--------+-------+-------+--------+\n"
		     "| web2 | mediakit | a    | stopped | -         |   1.0G |     1 | -     | -      |\n"
		     "+------+----------+------+---------+-----------+--------+-------+-------+--------+\n");
	check_render(render_guests, reply, FORMAT_CSV,
		     "name,type,node,state,address,memory_bytes,vcpus,accel,detail,created,updated\r\n"
		     "web1,mediakit,a,running,10.77.1.5,1073741824,1,tcg,,1,2\r\n"
		     "web2,mediakit,a,stopped,,1073741824,1,,,1,2\r\n");
}

/* A fleet with the fabric adds FQDN; vm show lists the published ports. */
static void test_guests_fqdn(void **state)
{
	static const char reply[] =
		"{\"ok\":true,\"guest\":{\"name\":\"web1\",\"type\":\"mediakit\",\"node\":\"a\","
		"\"state\":\"running\",\"address\":\"10.78.1.2\",\"fqdn\":\"web1.osi.internal\","
		"\"memory_bytes\":1073741824,\"vcpus\":1,\"accel\":\"tcg\",\"detail\":null,"
		"\"created\":1,\"updated\":2,\"published\":[{\"proto\":\"tcp\",\"port\":80,"
		"\"host_port\":8080}]}}";

	(void)state;
	check_render(render_guests, reply, FORMAT_TABLE,
		     "+------+----------+------+---------+-----------+-------------------+--------+-------+-------+--------+\n"
		     "| NAME |   TYPE   | NODE |  STATE  |  ADDRESS  |       FQDN        | MEMORY | VCPUS | ACCEL | DETAIL |\n"
		     "+------+----------+------+---------+-----------+-------------------+--------+-------+-------+--------+\n"
		     "| web1 | mediakit | a    | running | 10.78.1.2 | web1.osi.internal |   1.0G |     1 | tcg   | -      |\n"
		     "+------+----------+------+---------+-----------+-------------------+--------+-------+-------+--------+\n"
		     "Published: tcp/80 on a's host port 8080\n");
	check_render(render_guests, reply, FORMAT_CSV,
		     "name,type,node,state,address,fqdn,memory_bytes,vcpus,accel,detail,created,updated\r\n"
		     "web1,mediakit,a,running,10.78.1.2,web1.osi.internal,1073741824,1,tcg,,1,2\r\n");
}

/* vm show: "agent:" lines for what the guest's agent reports, none without. */
static void test_guests_agent(void **state)
{
	static const char reply[] =
		"{\"ok\":true,\"guest\":{\"name\":\"web1\",\"type\":\"mediakit\",\"node\":\"a\","
		"\"state\":\"running\",\"address\":\"10.78.1.2\",\"memory_bytes\":1073741824,"
		"\"vcpus\":1,\"accel\":\"tcg\",\"detail\":null,\"created\":1,\"updated\":2,"
		"\"agent\":{\"eth0\":[\"10.78.1.2\",\"fe80::1\"]}}}";

	(void)state;
	check_render(render_guests, reply, FORMAT_TABLE,
		     "+------+----------+------+---------+-----------+--------+-------+-------+--------+\n"
		     "| NAME |   TYPE   | NODE |  STATE  |  ADDRESS  | MEMORY | VCPUS | ACCEL | DETAIL |\n"
		     "+------+----------+------+---------+-----------+--------+-------+-------+--------+\n"
		     "| web1 | mediakit | a    | running | 10.78.1.2 |   1.0G |     1 | tcg   | -      |\n"
		     "+------+----------+------+---------+-----------+--------+-------+-------+--------+\n"
		     "agent: eth0 10.78.1.2\n"
		     "agent: eth0 fe80::1\n");
	check_render(render_guests, reply, FORMAT_CSV,
		     "name,type,node,state,address,memory_bytes,vcpus,accel,detail,created,updated\r\n"
		     "web1,mediakit,a,running,10.78.1.2,1073741824,1,tcg,,1,2\r\n");
}

/* vm show: a "move:" line while the guest has a move recorded. */
static void test_guests_move(void **state)
{
	static const char reply[] =
		"{\"ok\":true,\"guest\":{\"name\":\"v\",\"type\":\"totebox\",\"node\":\"a\","
		"\"state\":\"stopped\",\"address\":null,\"memory_bytes\":1073741824,"
		"\"vcpus\":1,\"accel\":\"tcg\",\"detail\":null,\"created\":1,\"updated\":2,"
		"\"move\":{\"guest\":\"v\",\"source\":\"a\",\"target\":\"b\",\"phase\":\"transfer\","
		"\"bytes\":10,\"total\":20,\"started\":1,\"detail\":\"1.0 MiB/s, 10 s left\"}}}";

	(void)state;
	check_render(render_guests, reply, FORMAT_TABLE,
		     "+------+---------+------+---------+---------+--------+-------+-------+--------+\n"
		     "| NAME |  TYPE   | NODE |  STATE  | ADDRESS | MEMORY | VCPUS | ACCEL | DETAIL |\n"
		     "+------+---------+------+---------+---------+--------+-------+-------+--------+\n"
		     "| v    | totebox | a    | stopped | -       |   1.0G |     1 | tcg   | -      |\n"
		     "+------+---------+------+---------+---------+--------+-------+-------+--------+\n"
		     "move: transfer from a to b, 10B of 20B — 1.0 MiB/s, 10 s left\n");
}

/* vm show: the fleet's text in the move line cannot drive the terminal (it
 * was printed raw). */
static void test_guests_move_clean(void **state)
{
	static const char reply[] =
		"{\"ok\":true,\"guest\":{\"name\":\"v\",\"type\":\"totebox\",\"node\":\"b\","
		"\"state\":\"running\",\"memory_bytes\":1073741824,\"vcpus\":1,"
		"\"move\":{\"source\":\"a\\u001b]2;t\\u0007\",\"target\":\"b\",\"phase\":\"kept\","
		"\"bytes\":3221225472,\"total\":3221225472,\"detail\":\"gone\\r\\u001b[2K\"}}}";

	(void)state;
	check_render(render_guests, reply, FORMAT_TABLE,
		     "+------+---------+------+---------+---------+--------+-------+-------+--------+\n"
		     "| NAME |  TYPE   | NODE |  STATE  | ADDRESS | MEMORY | VCPUS | ACCEL | DETAIL |\n"
		     "+------+---------+------+---------+---------+--------+-------+-------+--------+\n"
		     "| v    | totebox | b    | running | -       |   1.0G |     1 | -     | -      |\n"
		     "+------+---------+------+---------+---------+--------+-------+-------+--------+\n"
		     "move: kept from a?]2;t? to b, 3.0G of 3.0G — gone??[2K\n");
}

static void check_move(const char *json, const char *line, const char *brief)
{
	json_error_t err;
	json_t *mv = json_loads(json, JSON_DECODE_ANY, &err);
	char buf[256];

	assert_non_null(mv);
	assert_true(format_move(mv, buf, sizeof(buf)));
	assert_string_equal(buf, line);
	assert_true(format_move_brief(mv, buf, sizeof(buf)));
	assert_string_equal(buf, brief);
	json_decref(mv);
}

/* The move line shared by vm show and the admin panel (issue 12). */
static void test_format_move(void **state)
{
	char buf[32];
	json_t *mv;

	(void)state;
	check_move("{\"guest\":\"v\",\"source\":\"node-a\",\"target\":\"node-b\",\"phase\":\"transfer\","
		   "\"bytes\":12582912,\"total\":1181116006,\"started\":1,"
		   "\"detail\":\"95.0 MiB/s, 11 s left\"}",
		   "transfer from node-a to node-b, 12.0M of 1.1G — 95.0 MiB/s, 11 s left",
		   "→ node-b transfer 12.0M of 1.1G, 95.0 MiB/s, 11 s left");
	/* No total yet: no sizes; no detail: no dash. */
	check_move("{\"source\":\"a\",\"target\":\"b\",\"phase\":\"transfer\",\"bytes\":0,"
		   "\"total\":0,\"detail\":\"\"}",
		   "transfer from a to b", "→ b transfer");
	check_move("{\"source\":\"a\",\"target\":\"b\",\"phase\":\"aborting\",\"bytes\":5,"
		   "\"total\":0,\"detail\":\"move-in failed: disk full\"}",
		   "aborting from a to b — move-in failed: disk full",
		   "→ b aborting, move-in failed: disk full");
	/* Missing or mistyped keys. */
	check_move("{}", "? from ? to ?", "→ ? ?");
	check_move("{\"phase\":7,\"total\":-1,\"bytes\":\"x\",\"detail\":null}", "? from ? to ?",
		   "→ ? ?");
	check_move("{\"phase\":\"kept\",\"source\":\"a\",\"target\":\"b\",\"total\":2048}",
		   "kept from a to b, 0B of 2.0K", "→ b kept 0B of 2.0K");
	/* What the fleet relays cannot drive the terminal. */
	check_move("{\"phase\":\"transfer\\u001b[2J\",\"source\":\"a\\r\",\"target\":\"b\\u0007\","
		   "\"detail\":\"x\\u009b31my\\nz\\u007f\"}",
		   "transfer?[2J from a? to b? — x??31my?z?", "→ b? transfer?[2J, x??31my?z?");
	/* Not a move; a short buffer is cut, still terminated. */
	assert_false(format_move(NULL, buf, sizeof(buf)));
	assert_string_equal(buf, "");
	assert_false(format_move_brief(json_null(), buf, sizeof(buf)));
	assert_string_equal(buf, "");
	mv = json_pack("{s:s, s:s, s:s}", "phase", "transfer", "source", "node-a", "target", "node-b");
	assert_true(format_move(mv, buf, 12));
	assert_string_equal(buf, "transfer fr");
	json_decref(mv);
}

static void test_format_parse(void **state)
{
	enum format f;

	assert_int_equal(format_parse("table", &f), 0);
	assert_int_equal(f, FORMAT_TABLE);
	assert_int_equal(format_parse("json", &f), 0);
	assert_int_equal(f, FORMAT_JSON);
	assert_int_equal(format_parse("yaml", &f), 0);
	assert_int_equal(f, FORMAT_YAML);
	assert_int_equal(format_parse("csv", &f), 0);
	assert_int_equal(f, FORMAT_CSV);
	assert_int_equal(format_parse("xml", &f), -EINVAL);
	assert_int_equal(format_parse("", &f), -EINVAL);
	assert_int_equal(format_parse("JSON", &f), -EINVAL);
}

static void test_age(void **state)
{
	static const struct { uint64_t ms; const char *want; } cases[] = {
		{ 0, "0s ago" }, { 999, "0s ago" }, { 3000, "3s ago" }, { 3999, "3s ago" },
		{ 59999, "59s ago" }, { 60000, "1m ago" }, { 150000, "2m ago" },
		{ 3599999, "59m ago" }, { 3600000, "1h ago" }, { 86399999, "23h ago" },
		{ 86400000, "1d ago" }, { 400 * 86400000ULL, "400d ago" },
	};
	char buf[32];
	json_t *v;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		format_age(cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
	}
	format_age_json(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "never");
	format_age_json(json_null(), buf, sizeof(buf));
	assert_string_equal(buf, "never");
	v = json_integer(-5);
	format_age_json(v, buf, sizeof(buf));
	assert_string_equal(buf, "0s ago");
	json_decref(v);
	v = json_integer(7200000);
	format_age_json(v, buf, sizeof(buf));
	assert_string_equal(buf, "2h ago");
	json_decref(v);
	/* Truncation still terminates. */
	format_age(3000, buf, 4);
	assert_string_equal(buf, "3s ");
}

static void test_sizes_and_cpu(void **state)
{
	json_t *avail = json_integer(3328599654LL), *total = json_integer(8375186227LL);
	json_t *pct = json_real(12.5), *ncpu = json_integer(4), *neg = json_integer(-1);
	char buf[64];

	format_mem_pair(avail, total, buf, sizeof(buf));
	assert_string_equal(buf, "3.1G/7.8G");
	format_mem_pair(avail, json_null(), buf, sizeof(buf));
	assert_string_equal(buf, "-");
	format_mem_pair(NULL, total, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	format_mem_pair(neg, total, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	format_bytes_json(total, buf, sizeof(buf));
	assert_string_equal(buf, "7.8G");
	format_bytes_json(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "-");

	format_cpu(pct, ncpu, buf, sizeof(buf));
	assert_string_equal(buf, "12.5% of 4");
	format_cpu(pct, json_null(), buf, sizeof(buf));
	assert_string_equal(buf, "12.5%");
	format_cpu(json_null(), ncpu, buf, sizeof(buf));
	assert_string_equal(buf, "-");
	format_cpu(ncpu, ncpu, buf, sizeof(buf)); /* an integer percentage */
	assert_string_equal(buf, "4.0% of 4");

	json_decref(avail);
	json_decref(total);
	json_decref(pct);
	json_decref(ncpu);
	json_decref(neg);
}

static void test_scalar(void **state)
{
	json_t *v = parse("[\"s\", 42, 12.3, 2.0, true, false, null, {\"a\":[1]}, 1e300]");
	static const char *const want[] = { "s", "42", "12.3", "2.0", "true", "false", "",
					    "{\"a\":[1]}", "1e+300" };
	char buf[64];

	for (size_t i = 0; i < json_array_size(v); i++) {
		format_scalar(json_array_get(v, i), buf, sizeof(buf));
		assert_string_equal(buf, want[i]);
	}
	format_scalar(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "");
	json_decref(v);
}

static void fixed_cell(const json_t *row, const char *key, char *buf, size_t len)
{
	snprintf(buf, len, "<%s>", json_string_value(json_object_get(row, key)));
}

static void test_table(void **state)
{
	static const struct column cols[] = {
		{ .title = "NAME", .key = "name" },
		{ .title = "N", .key = "n", .right = true },
		{ .title = "WIDE TITLE", .key = "name", .cell = fixed_cell },
		{ .title = "NOTE", .key = "note" },
	};
	struct capture c;
	json_t *rows = parse("[{\"name\":\"alpha\",\"n\":7,\"note\":\"caf\\u00e9\"},"
			     "{\"name\":\"b\",\"n\":1234,\"note\":null},"
			     "{\"name\":\"esc\\u001b[2J\",\"note\":\"a\\tb\\u009bc\"}]");

	assert_int_equal(format_table(capture_open(&c), rows, cols, 4), 0);
	capture_check(&c,
		"+---------+------+------------+--------+\n"
		"|  NAME   |  N   | WIDE TITLE |  NOTE  |\n"
		"+---------+------+------------+--------+\n"
		"| alpha   |    7 | <alpha>    | caf\xc3\xa9   |\n"
		"+---------+------+------------+--------+\n"
		"| b       | 1234 | <b>        | -      |\n"
		"+---------+------+------------+--------+\n"
		"| esc?[2J |    - | <esc?[2J>  | a?b??c |\n"
		"+---------+------+------------+--------+\n");
	json_decref(rows);
}

static void test_table_empty(void **state)
{
	static const struct column cols[] = { { .title = "NAME", .key = "name" } };
	struct capture c;
	json_t *rows = json_array();

	assert_int_equal(format_table(capture_open(&c), rows, cols, 1), 0);
	capture_check(&c, "+------+\n| NAME |\n+------+\n");
	json_decref(rows);
}

static void test_csv_quoting(void **state)
{
	static const char *const keys[] = { "name", "text", "n", "flag", "missing" };
	struct capture c;
	json_t *rows = parse("[{\"name\":\"plain\",\"text\":\"a,b\",\"n\":1.5,\"flag\":true},"
			     "{\"name\":\"q\\\"uote\",\"text\":\"line1\\nline2\",\"n\":null,\"flag\":false},"
			     "{\"name\":\" spaced \",\"text\":\"cr\\rhere\",\"n\":-3,\"flag\":[1,\"x\"]},"
			     "{\"name\":\"\\\"\\\"\",\"text\":\"\"}]");

	assert_int_equal(format_csv(capture_open(&c), rows, keys, 5, true), 0);
	capture_check(&c,
		"name,text,n,flag,missing\r\n"
		"plain,\"a,b\",1.5,true,\r\n"
		"\"q\"\"uote\",\"line1\nline2\",,false,\r\n"
		" spaced ,\"cr\rhere\",-3,\"[1,\"\"x\"\"]\",\r\n"
		"\"\"\"\"\"\",,,,\r\n");
	assert_int_equal(format_csv(capture_open(&c), rows, keys, 1, false), 0);
	capture_check(&c, "plain\r\n\"q\"\"uote\"\r\n spaced \r\n\"\"\"\"\"\"\r\n");
	json_decref(rows);

	/* One empty column must not become a blank line. */
	rows = parse("[{\"text\":\"\"},{\"text\":\"x\"}]");
	assert_int_equal(format_csv(capture_open(&c), rows, keys + 1, 1, true), 0);
	capture_check(&c, "text\r\n\"\"\r\nx\r\n");
	json_decref(rows);
}

static void test_yaml_quoting(void **state)
{
	static const char *const quoted[] = {
		"", "true", "False", "yes", "NO", "on", "off", "y", "n", "null", "~", "123",
		"0.1.0", "1e3", "-1", "+1", ".5", ".inf", "- item", "-", "a: b", "ends:",
		"x #y", "#c", "[x", "{x", "*ref", "&anchor", "!tag", "|", ">", "'s", "\"d",
		"%p", "@a", "`b", " lead", "trail ", "a\nb", "tab\t", "<<", "=", "?q", ",c", "10.0.0.1:7000",
	};
	static const char *const plain[] = {
		"node-a", "live", "hello world", "a:b", "x#y", "caf\xc3\xa9", "state_dir",
		"host:7000", "nodes-are-fine",
	};

	for (size_t i = 0; i < sizeof(quoted) / sizeof(quoted[0]); i++) {
		if (!yaml_needs_quotes(quoted[i]))
			fail_msg("'%s' should be quoted", quoted[i]);
	}
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		if (yaml_needs_quotes(plain[i]))
			fail_msg("'%s' should stay plain", plain[i]);
	}
}

static void test_yaml_escapes(void **state)
{
	struct capture c;
	FILE *f = capture_open(&c);

	yaml_string(f, "plain");
	fputc('|', f);
	yaml_string(f, "say \"hi\"\\now\n\t\r\x01\x7f");
	fputc('|', f);
	yaml_string(f, "");
	fputc('|', f);
	/* Line breaks to YAML (NEL, U+2028/9), C1 controls and the BOM are
	 * escaped; other non-ASCII text passes through. */
	yaml_string(f, "a\xc2\x85" "b\xe2\x80\xa8" "c\xe2\x80\xa9\xc2\x9b\xef\xbb\xbf\xc3\xa9\xf0\x9f\x98\x80");
	fputc('|', f);
	yaml_string(f, "caf\xc3\xa9 \xf0\x9f\x98\x80");
	capture_check(&c, "plain|\"say \\\"hi\\\"\\\\now\\n\\t\\r\\x01\\x7f\"|\"\"|"
		"\"a\\x85b\\u2028c\\u2029\\x9b\\ufeff\xc3\xa9\xf0\x9f\x98\x80\"|"
		"caf\xc3\xa9 \xf0\x9f\x98\x80");
}

static void test_yaml_document(void **state)
{
	struct capture c;
	json_t *v = parse("{\"fleet\":{\"version\":\"0.1.0\",\"holding\":false,\"reason\":null,"
			  "\"cpu\":12.300000000000001},"
			  "\"nodes\":[{\"name\":\"a\",\"guests\":2,\"tags\":[\"x\",\"yes\"],"
			  "\"sub\":{\"k\":1}},{\"name\":\"b: c\",\"empty\":{},\"none\":[]}],"
			  "\"matrix\":[[1,2],[],{}],\"top\":[]}");

	assert_int_equal(format_yaml(capture_open(&c), v), 0);
	capture_check(&c,
		"fleet:\n"
		"  version: \"0.1.0\"\n"
		"  holding: false\n"
		"  reason: null\n"
		"  cpu: 12.3\n"
		"nodes:\n"
		"  - name: a\n"
		"    guests: 2\n"
		"    tags:\n"
		"      - x\n"
		"      - \"yes\"\n"
		"    sub:\n"
		"      k: 1\n"
		"  - name: \"b: c\"\n"
		"    empty: {}\n"
		"    none: []\n"
		"matrix:\n"
		"  -\n"
		"    - 1\n"
		"    - 2\n"
		"  - []\n"
		"  - {}\n"
		"top: []\n");
	json_decref(v);

	v = json_array();
	assert_int_equal(format_yaml(capture_open(&c), v), 0);
	capture_check(&c, "[]\n");
	json_decref(v);
	v = json_string("true");
	assert_int_equal(format_yaml(capture_open(&c), v), 0);
	capture_check(&c, "\"true\"\n");
	json_decref(v);
}

static void test_json(void **state)
{
	struct capture c;
	json_t *v = parse("{\"z\":1,\"a\":[12.300000000000001,2.0],\"s\":\"\\u001b\"}");

	assert_int_equal(format_json(capture_open(&c), v), 0);
	/* Keys keep the order received; reals lose the binary noise. */
	capture_check(&c,
		"{\n"
		"  \"z\": 1,\n"
		"  \"a\": [\n"
		"    12.3,\n"
		"    2.0\n"
		"  ],\n"
		"  \"s\": \"\\u001B\"\n"
		"}\n");
	json_decref(v);
}

static const char status_reply[] =
	"{\"ok\":true,"
	"\"fleet\":{\"version\":\"0.1.0\",\"started\":1700000000,\"uptime_s\":60,"
	"\"evict_after_ms\":30000,\"holding\":true,\"held_due\":2,"
	"\"hold_reason\":\"heard from no node for 45s\",\"nodes_live\":1,"
	"\"nodes_evicted\":0,\"nodes_awaiting\":1},"
	"\"nodes\":["
	"{\"name\":\"alpha\",\"state\":\"live\",\"last_seen\":1700000057,\"last_seen_age_ms\":3200,"
	"\"cpu_percent\":12.5,\"ncpu\":4,\"mem_total_bytes\":8375186227,"
	"\"mem_available_bytes\":3328599654,\"mem_reported_available_bytes\":3328599654,"
	"\"pending_bytes\":0,\"guests\":2,\"guest_mem_bytes\":2147483648,\"libvirt\":true,"
	"\"registered\":1699990000},"
	"{\"name\":\"beta\",\"state\":\"held\",\"last_seen\":1699999900,\"last_seen_age_ms\":160000,"
	"\"cpu_percent\":100.0,\"ncpu\":16,\"mem_total_bytes\":68719476736,"
	"\"mem_available_bytes\":1073741824,\"mem_reported_available_bytes\":3221225472,"
	"\"pending_bytes\":2147483648,\"guests\":11,\"guest_mem_bytes\":60129542144,"
	"\"libvirt\":false,\"registered\":1699990000},"
	"{\"name\":\"gamma\",\"state\":\"awaiting\",\"last_seen\":null,\"last_seen_age_ms\":null,"
	"\"cpu_percent\":null,\"ncpu\":null,\"mem_total_bytes\":null,\"mem_available_bytes\":null,"
	"\"mem_reported_available_bytes\":null,\"pending_bytes\":0,\"guests\":null,"
	"\"guest_mem_bytes\":null,\"libvirt\":null,\"registered\":1699990000}]}";

static void test_status_table(void **state)
{
	check_render(render_status, status_reply, FORMAT_TABLE,
		"Evictions are on hold (heard from no node for 45s): 2 nodes are due for eviction but kept.\n"
		"Run 'os-infrastructure node hold-override' to evict them.\n"
		"+-------+----------+-----------+--------------+------------+--------+\n"
		"| NAME  |  STATE   | LAST SEEN |     CPU      |    RAM     | GUESTS |\n"
		"+-------+----------+-----------+--------------+------------+--------+\n"
		"| alpha | live     | 3s ago    | 12.5% of 4   | 3.1G/7.8G  |      2 |\n"
		"+-------+----------+-----------+--------------+------------+--------+\n"
		"| beta  | held     | 2m ago    | 100.0% of 16 | 1.0G/64.0G |     11 |\n"
		"+-------+----------+-----------+--------------+------------+--------+\n"
		"| gamma | awaiting | never     | -            | -          |      - |\n"
		"+-------+----------+-----------+--------------+------------+--------+\n"
		"3 nodes: 1 live, 1 awaiting, 1 held.\n");
}

static void test_status_not_holding(void **state)
{
	check_render(render_status,
		"{\"ok\":true,\"fleet\":{\"holding\":false,\"held_due\":0,\"hold_reason\":null},"
		"\"nodes\":[{\"name\":\"solo\",\"state\":\"live\",\"last_seen_age_ms\":61000,"
		"\"cpu_percent\":0.0,\"ncpu\":1,\"mem_total_bytes\":1073741824,"
		"\"mem_available_bytes\":536870912,\"guests\":0}]}",
		FORMAT_TABLE,
		"+------+-------+-----------+-----------+-------------+--------+\n"
		"| NAME | STATE | LAST SEEN |    CPU    |     RAM     | GUESTS |\n"
		"+------+-------+-----------+-----------+-------------+--------+\n"
		"| solo | live  | 1m ago    | 0.0% of 1 | 512.0M/1.0G |      0 |\n"
		"+------+-------+-----------+-----------+-------------+--------+\n"
		"1 node: 1 live.\n");
	check_render(render_status,
		"{\"ok\":true,\"fleet\":{\"holding\":true,\"held_due\":1,\"hold_reason\":null},"
		"\"nodes\":[]}",
		FORMAT_TABLE,
		"Evictions are on hold: 1 node is due for eviction but kept.\n"
		"Run 'os-infrastructure node hold-override' to evict them.\n"
		"No node has registered with the fleet yet.\n");
}

static void test_status_machine(void **state)
{
	check_render(render_status, status_reply, FORMAT_CSV,
		"name,state,last_seen,last_seen_age_ms,cpu_percent,ncpu,mem_total_bytes,"
		"mem_available_bytes,mem_reported_available_bytes,pending_bytes,guests,"
		"guest_mem_bytes,libvirt,registered\r\n"
		"alpha,live,1700000057,3200,12.5,4,8375186227,3328599654,3328599654,0,2,"
		"2147483648,true,1699990000\r\n"
		"beta,held,1699999900,160000,100.0,16,68719476736,1073741824,3221225472,"
		"2147483648,11,60129542144,false,1699990000\r\n"
		"gamma,awaiting,,,,,,,,0,,,,1699990000\r\n");
	check_render(render_status,
		"{\"ok\":true,\"fleet\":{\"holding\":false},\"nodes\":[{\"name\":\"a\",\"guests\":1}]}",
		FORMAT_JSON,
		"{\n"
		"  \"fleet\": {\n"
		"    \"holding\": false\n"
		"  },\n"
		"  \"nodes\": [\n"
		"    {\n"
		"      \"name\": \"a\",\n"
		"      \"guests\": 1\n"
		"    }\n"
		"  ]\n"
		"}\n");
	check_render(render_status,
		"{\"ok\":true,\"fleet\":{\"holding\":false,\"hold_reason\":null},"
		"\"nodes\":[{\"name\":\"a\",\"cpu_percent\":1.5}]}",
		FORMAT_YAML,
		"fleet:\n"
		"  holding: false\n"
		"  hold_reason: null\n"
		"nodes:\n"
		"  - name: a\n"
		"    cpu_percent: 1.5\n");
}

static const char place_reply[] =
	"{\"ok\":true,\"request\":{\"memory_bytes\":2147483648,\"vcpus\":2,\"type\":\"mediakit\","
	"\"node\":null},\"suggestion\":\"alpha\",\"fits\":true,"
	"\"candidates\":["
	"{\"rank\":1,\"name\":\"alpha\",\"available_bytes\":8589934592,"
	"\"margin_bytes\":1073741824,\"after_bytes\":6442450944,\"guests\":1},"
	"{\"rank\":2,\"name\":\"beta\",\"available_bytes\":4294967296,"
	"\"margin_bytes\":1073741824,\"after_bytes\":2147483648,\"guests\":3}],"
	"\"excluded\":[{\"name\":\"gamma\",\"reason\":\"memory\","
	"\"why\":\"gamma has 2.5G available; 2.0G would leave 0.5G, under its 1.0G margin.\"},"
	"{\"name\":\"delta\",\"reason\":\"evicted\",\"why\":\"delta is evicted.\"}],"
	"\"counts\":{\"candidates\":2,\"excluded\":2,\"excluded_by_reason\":{\"evicted\":1,"
	"\"no-sample\":0,\"memory\":1,\"vcpus\":0,\"not-named\":0}},\"decision_us\":12.5}";

static void test_place_table(void **state)
{
	check_render(render_place, place_reply, FORMAT_TABLE,
		"Request: 2.0G memory, 2 vCPUs, type mediakit.\n"
		"Suggestion: alpha (advisory: nothing is reserved)\n"
		"+------+-------+-----------+--------+------------+--------+\n"
		"| RANK | NAME  | AVAILABLE | MARGIN | LEFT-AFTER | GUESTS |\n"
		"+------+-------+-----------+--------+------------+--------+\n"
		"|    1 | alpha |      8.0G |   1.0G |       6.0G |      1 |\n"
		"+------+-------+-----------+--------+------------+--------+\n"
		"|    2 | beta  |      4.0G |   1.0G |       2.0G |      3 |\n"
		"+------+-------+-----------+--------+------------+--------+\n"
		"Excluded (2):\n"
		"  gamma [memory]: gamma has 2.5G available; 2.0G would leave 0.5G, under its 1.0G margin.\n"
		"  delta [evicted]: delta is evicted.\n");
	check_render(render_place, place_reply, FORMAT_CSV,
		"rank,name,available_bytes,margin_bytes,after_bytes,guests,reason,why\r\n"
		"1,alpha,8589934592,1073741824,6442450944,1,,\r\n"
		"2,beta,4294967296,1073741824,2147483648,3,,\r\n"
		",gamma,,,,,memory,\"gamma has 2.5G available; 2.0G would leave 0.5G, under its 1.0G margin.\"\r\n"
		",delta,,,,,evicted,delta is evicted.\r\n");
}

static void test_place_no_fit(void **state)
{
	check_render(render_place,
		"{\"ok\":true,\"request\":{\"memory_bytes\":68719476736,\"vcpus\":1,\"type\":null,"
		"\"node\":\"alpha\"},\"suggestion\":null,\"fits\":false,\"candidates\":[],"
		"\"excluded\":[{\"name\":\"alpha\",\"reason\":\"memory\",\"why\":\"too small\"}]}",
		FORMAT_TABLE,
		"Request: 64.0G memory, 1 vCPU, on node alpha.\n"
		"No node fits this request.\n"
		"Excluded (1):\n"
		"  alpha [memory]: too small\n");
	check_render(render_place,
		"{\"ok\":true,\"request\":{\"memory_bytes\":1073741824,\"vcpus\":4,\"type\":\"totebox\","
		"\"node\":\"beta\"},\"suggestion\":\"beta\",\"fits\":true,\"placement_id\":17,"
		"\"candidates\":[{\"rank\":1,\"name\":\"beta\",\"available_bytes\":3221225472,"
		"\"margin_bytes\":1073741824,\"after_bytes\":2147483648,\"guests\":0}],\"excluded\":[]}",
		FORMAT_TABLE,
		"Request: 1.0G memory, 4 vCPUs, type totebox, on node beta.\n"
		"Reserved: beta (placement 17)\n"
		"+------+------+-----------+--------+------------+--------+\n"
		"| RANK | NAME | AVAILABLE | MARGIN | LEFT-AFTER | GUESTS |\n"
		"+------+------+-----------+--------+------------+--------+\n"
		"|    1 | beta |      3.0G |   1.0G |       2.0G |      0 |\n"
		"+------+------+-----------+--------+------------+--------+\n");
}

static const char events_reply[] =
	"{\"ok\":true,\"events\":["
	"{\"id\":7,\"time\":1700000000,\"kind\":\"registered\",\"node\":\"alpha\",\"detail\":\"first heartbeat\"},"
	"{\"id\":8,\"time\":1700000061,\"kind\":\"placed\",\"node\":null,\"detail\":\"web1, 2.0G\"}]}";

static void test_events(void **state)
{
	struct capture c;
	json_t *v = parse(events_reply), *events = json_object_get(v, "events");

	check_render(render_events, events_reply, FORMAT_TABLE,
		"+----+---------------------+------------+-------+-----------------+\n"
		"| ID |        TIME         |    KIND    | NODE  |     DETAIL      |\n"
		"+----+---------------------+------------+-------+-----------------+\n"
		"|  7 | 2023-11-14 22:13:20 | registered | alpha | first heartbeat |\n"
		"+----+---------------------+------------+-------+-----------------+\n"
		"|  8 | 2023-11-14 22:14:21 | placed     | -     | web1, 2.0G      |\n"
		"+----+---------------------+------------+-------+-----------------+\n");
	check_render(render_events, "{\"ok\":true,\"events\":[]}", FORMAT_TABLE, "No events.\n");
	check_render(render_events, events_reply, FORMAT_CSV,
		"id,time,kind,node,detail\r\n"
		"7,1700000000,registered,alpha,first heartbeat\r\n"
		"8,1700000061,placed,,\"web1, 2.0G\"\r\n");

	for (enum format f = FORMAT_TABLE; f <= FORMAT_CSV; f++) {
		capture_open(&c);
		render_event_stream(c.f, json_array_get(events, 0), f, true);
		render_event_stream(c.f, json_array_get(events, 1), f, false);
		capture_check(&c, (const char *[]){
			"2023-11-14 22:13:20 #7 registered alpha: first heartbeat\n"
			"2023-11-14 22:14:21 #8 placed -: web1, 2.0G\n",
			"{\"id\":7,\"time\":1700000000,\"kind\":\"registered\",\"node\":\"alpha\","
			"\"detail\":\"first heartbeat\"}\n"
			"{\"id\":8,\"time\":1700000061,\"kind\":\"placed\",\"node\":null,"
			"\"detail\":\"web1, 2.0G\"}\n",
			"- id: 7\n  time: 1700000000\n  kind: registered\n  node: alpha\n"
			"  detail: first heartbeat\n"
			"- id: 8\n  time: 1700000061\n  kind: placed\n  node: null\n"
			"  detail: web1, 2.0G\n",
			"id,time,kind,node,detail\r\n"
			"7,1700000000,registered,alpha,first heartbeat\r\n"
			"8,1700000061,placed,,\"web1, 2.0G\"\r\n",
		}[f]);
	}
	json_decref(v);
}

static void test_node(void **state)
{
	check_render(render_node,
		"{\"ok\":true,\"node\":{\"name\":\"alpha\",\"state\":\"live\",\"last_seen\":1700000057,"
		"\"last_seen_age_ms\":3200,\"cpu_percent\":12.5,\"ncpu\":4,"
		"\"mem_total_bytes\":8375186227,\"mem_available_bytes\":3328599654,"
		"\"mem_reported_available_bytes\":4402341478,\"pending_bytes\":1073741824,"
		"\"guests\":2,\"guest_mem_bytes\":2147483648,\"libvirt\":true,"
		"\"registered\":1699990000}}",
		FORMAT_TABLE,
		"Name:        alpha\n"
		"State:       live\n"
		"Last seen:   3s ago (2023-11-14 22:14:17)\n"
		"CPU:         12.5% of 4\n"
		"Memory:      3.1G available of 7.8G (1.0G reserved for pending guests)\n"
		"Reported:    4.1G available in the last heartbeat\n"
		"Guests:      2 running, 2.0G committed\n"
		"Libvirt:     answering\n"
		"Registered:  2023-11-14 19:26:40\n");
	check_render(render_node,
		"{\"ok\":true,\"node\":{\"name\":\"gamma\",\"state\":\"awaiting\",\"last_seen\":null,"
		"\"last_seen_age_ms\":null,\"guests\":null,\"libvirt\":null,\"pending_bytes\":0}}",
		FORMAT_TABLE,
		"Name:        gamma\n"
		"State:       awaiting\n"
		"Last seen:   never\n"
		"CPU:         -\n"
		"Memory:      - available of - (0B reserved for pending guests)\n"
		"Reported:    -\n"
		"Guests:      - running, - committed\n"
		"Libvirt:     unknown\n"
		"Registered:  -\n");
	check_render(render_node, "{\"ok\":true,\"node\":{\"name\":\"a\",\"state\":\"live\"}}",
		FORMAT_CSV,
		"name,state,last_seen,last_seen_age_ms,cpu_percent,ncpu,mem_total_bytes,"
		"mem_available_bytes,mem_reported_available_bytes,pending_bytes,guests,"
		"guest_mem_bytes,libvirt,registered\r\n"
		"a,live,,,,,,,,,,,,\r\n");
	check_render(render_node, "{\"ok\":true,\"node\":{\"name\":\"a\",\"state\":\"live\"}}",
		FORMAT_YAML, "node:\n  name: a\n  state: live\n");
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_parse),
		cmocka_unit_test(test_age),
		cmocka_unit_test(test_sizes_and_cpu),
		cmocka_unit_test(test_scalar),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_empty),
		cmocka_unit_test(test_csv_quoting),
		cmocka_unit_test(test_yaml_quoting),
		cmocka_unit_test(test_yaml_escapes),
		cmocka_unit_test(test_yaml_document),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_status_table),
		cmocka_unit_test(test_status_not_holding),
		cmocka_unit_test(test_status_machine),
		cmocka_unit_test(test_place_table),
		cmocka_unit_test(test_place_no_fit),
		cmocka_unit_test(test_guests_address),
		cmocka_unit_test(test_guests_fqdn),
		cmocka_unit_test(test_guests_agent),
		cmocka_unit_test(test_guests_move),
		cmocka_unit_test(test_guests_move_clean),
		cmocka_unit_test(test_format_move),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_node),
	};

	/* Times are shown in local time; pin it. */
	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
