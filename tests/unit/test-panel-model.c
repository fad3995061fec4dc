/* The admin panel's model and form: fleet replies in, rows, bars, banners
 * and requests out. Exact strings, so that what an operator sees changes
 * only on purpose. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "os-infrastructure/panel-form.h"
#include "os-infrastructure/panel-model.h"
#include "lib/units.h"

#define GIB 1073741824LL

/* The form's defaults are the type's, whatever the manifests say today. */
static const struct guest_type *mediakit(void)
{
	return guest_type_find("mediakit");
}

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *v = json_loads(text, 0, &err);

	if (!v)
		fail_msg("fixture: %s at %d", err.text, err.position);
	return v;
}

static const char status_json[] =
	"{\"ok\":true,\"fleet\":{\"name\":\"f1\",\"version\":\"0.1.0\",\"uptime_s\":3725,"
	"\"holding\":false,\"held_due\":0,\"hold_reason\":null,"
	"\"nodes_live\":1,\"nodes_evicted\":1,\"nodes_awaiting\":1},\"nodes\":["
	"{\"name\":\"n1\",\"state\":\"live\",\"last_seen_age_ms\":3200,\"cpu_percent\":12.5,"
	"\"ncpu\":4,\"mem_total_bytes\":8589934592,\"mem_available_bytes\":4294967296,"
	"\"mem_reported_available_bytes\":5368709120,\"pending_bytes\":1073741824,\"guests\":2},"
	"{\"name\":\"n2\",\"state\":\"evicted\",\"last_seen_age_ms\":120000,\"cpu_percent\":null,"
	"\"ncpu\":null,\"mem_total_bytes\":null,\"mem_available_bytes\":null,\"pending_bytes\":0,"
	"\"guests\":null},"
	"{\"name\":\"n3\",\"state\":\"awaiting\",\"last_seen_age_ms\":null,\"pending_bytes\":0}]}";

static const char vmlist_json[] =
	"{\"ok\":true,\"guests\":["
	"{\"name\":\"old\",\"type\":\"mediakit\",\"node\":\"gone\",\"memory_bytes\":1073741824,"
	"\"vcpus\":1,\"state\":\"stopped\",\"detail\":null},"
	"{\"name\":\"vault\",\"type\":\"totebox\",\"node\":\"n1\",\"memory_bytes\":2147483648,"
	"\"vcpus\":2,\"state\":\"running\",\"detail\":null,\"address\":\"10.77.1.5\"},"
	"{\"name\":\"web\",\"type\":\"mediakit\",\"node\":\"n1\",\"memory_bytes\":1073741824,"
	"\"vcpus\":1,\"state\":\"booting\",\"detail\":\"waiting for\\u001b[2J the guest\"},"
	"{\"name\":\"lost\",\"type\":\"privategit\",\"node\":\"n2\",\"memory_bytes\":2147483648,"
	"\"vcpus\":2,\"state\":\"node-lost\",\"detail\":null}]}";

static void load(struct panel_model *m, const char *status, const char *vmlist,
		 const char *vmlist_error)
{
	struct panel_snapshot s = { .reachable = true };

	snprintf(s.where, sizeof(s.where), "/run/osi/fleet.sock");
	s.status = status ? parse(status) : NULL;
	s.vmlist = vmlist ? parse(vmlist) : NULL;
	snprintf(s.vmlist_error, sizeof(s.vmlist_error), "%s", vmlist_error ? vmlist_error : "");
	s.events = parse("{\"ok\":true,\"events\":[]}");
	assert_int_equal(panel_model_take(m, &s, 1000), 0);
	assert_null(s.status);
	assert_null(s.vmlist);
	assert_null(s.events);
}

static void test_rows(void **state)
{
	struct panel_model m;
	const struct panel_row *r;

	panel_model_init(&m);
	load(&m, status_json, vmlist_json, NULL);
	assert_int_equal(m.nrows, 8);
	r = &m.rows[0];
	assert_int_equal(r->kind, ROW_NODE);
	assert_string_equal(r->name, "n1");
	assert_string_equal(r->state, "live");
	assert_int_equal(r->tone, TONE_GOOD);
	assert_string_equal(r->cpu, "12.5% of 4");
	assert_string_equal(r->seen, "3s ago");
	assert_string_equal(r->info, "2");
	assert_true(r->has_bar);
	/* 5 GiB reported free of 8: 3 used; 1 more reserved; 4 of 8 taken. */
	assert_true(r->used == 3 * GIB && r->pending == GIB && r->total == 8 * GIB);
	assert_string_equal(r->mem, "4.0G/8.0G");
	/* Guests follow their node, in the fleet's (name) order. */
	assert_int_equal(m.rows[1].kind, ROW_GUEST);
	assert_string_equal(m.rows[1].name, "vault");
	assert_string_equal(m.rows[1].state, "running");
	assert_string_equal(m.rows[1].cpu, "2 vCPU");
	assert_string_equal(m.rows[1].mem, "2.0G");
	assert_string_equal(m.rows[1].seen, "totebox");
	assert_string_equal(m.rows[1].info, "10.77.1.5"); /* its address (issue 10 #7) */
	assert_string_equal(m.rows[2].name, "web");
	assert_int_equal(m.rows[2].tone, TONE_WARN);
	assert_string_equal(m.rows[2].info, "waiting for?[2J the guest"); /* no escapes on screen */
	r = &m.rows[3];
	assert_string_equal(r->name, "n2");
	assert_string_equal(r->state, "evicted");
	assert_int_equal(r->tone, TONE_BAD);
	assert_false(r->has_bar);
	assert_string_equal(r->mem, "-");
	assert_string_equal(r->cpu, "-");
	assert_string_equal(r->seen, "2m ago");
	assert_string_equal(m.rows[4].name, "lost");
	assert_string_equal(m.rows[4].state, "node-lost");
	assert_int_equal(m.rows[4].tone, TONE_BAD);
	assert_string_equal(m.rows[5].state, "awaiting");
	assert_string_equal(m.rows[5].seen, "never");
	assert_int_equal(m.rows[5].tone, TONE_WARN);
	assert_int_equal(m.rows[6].kind, ROW_NOTE);
	assert_string_equal(m.rows[6].info, "Guests on nodes the fleet no longer lists:");
	assert_string_equal(m.rows[7].name, "old");
	assert_int_equal(m.rows[7].tone, TONE_DIM);
	panel_model_free(&m);
}

static void test_no_vmlist(void **state)
{
	struct panel_model m;

	panel_model_init(&m);
	load(&m, status_json, NULL, "unknown op 'vm-list'");
	assert_int_equal(m.gsrc, GUESTS_UNSUPPORTED);
	assert_int_equal(m.nrows, 4);
	assert_int_equal(m.rows[3].kind, ROW_NOTE);
	assert_string_equal(m.rows[3].info, "guests: not available from this fleet");
	/* Any other failure is said as it is. */
	load(&m, status_json, NULL, "cannot read guests: disk I/O error");
	assert_int_equal(m.gsrc, GUESTS_FAILED);
	assert_string_equal(m.rows[3].info, "guests: cannot read guests: disk I/O error");
	assert_true(panel_unknown_op("unknown op 'vm-list'"));
	assert_false(panel_unknown_op("no guest named 'unknown op'"));
	assert_false(panel_unknown_op(NULL));
	panel_model_free(&m);
}

static void test_empty_fleet(void **state)
{
	struct panel_model m;

	panel_model_init(&m);
	load(&m, "{\"ok\":true,\"fleet\":{},\"nodes\":[]}", "{\"ok\":true,\"guests\":[]}", NULL);
	assert_int_equal(m.nrows, 1);
	assert_string_equal(m.rows[0].info, "No node has registered with the fleet yet.");
	assert_null(panel_model_selected(&m));
	panel_model_move(&m, 1);
	assert_null(panel_model_selected(&m));
	panel_model_free(&m);
}

static void test_selection(void **state)
{
	static const char reordered[] =
		"{\"ok\":true,\"fleet\":{},\"nodes\":[{\"name\":\"n0\",\"state\":\"live\"},"
		"{\"name\":\"n3\",\"state\":\"live\"}]}";
	struct panel_model m;

	panel_model_init(&m);
	load(&m, status_json, vmlist_json, NULL);
	assert_string_equal(panel_model_selected(&m)->name, "n1");
	panel_model_move(&m, 5);
	assert_string_equal(panel_model_selected(&m)->name, "n3");
	panel_model_move(&m, 1); /* past the note, onto the orphan */
	assert_string_equal(panel_model_selected(&m)->name, "old");
	panel_model_move(&m, 100);
	assert_string_equal(panel_model_selected(&m)->name, "old");
	panel_model_move(&m, -100);
	assert_string_equal(panel_model_selected(&m)->name, "n1");
	assert_true(panel_model_select(&m, ROW_NODE, "n3"));
	/* A refresh keeps the same node selected wherever it moved. */
	load(&m, reordered, "{\"ok\":true,\"guests\":[]}", NULL);
	assert_int_equal(m.sel, 1);
	assert_string_equal(panel_model_selected(&m)->name, "n3");
	/* Gone: the selection stays in range. */
	load(&m, "{\"ok\":true,\"fleet\":{},\"nodes\":[{\"name\":\"n0\"}]}", NULL, "x");
	assert_string_equal(panel_model_selected(&m)->name, "n0");
	panel_model_free(&m);
}

static void test_scroll(void **state)
{
	struct panel_model m;

	panel_model_init(&m);
	load(&m, status_json, vmlist_json, NULL);
	panel_model_scroll(&m, 3);
	assert_int_equal(m.top, 0);
	panel_model_move(&m, 5);  /* row 5 */
	panel_model_scroll(&m, 3);
	assert_int_equal(m.top, 3);
	panel_model_move(&m, -5);
	panel_model_scroll(&m, 3);
	assert_int_equal(m.top, 0);
	panel_model_scroll(&m, 20);
	assert_int_equal(m.top, 0);
	panel_model_free(&m);
}

static void test_bar(void **state)
{
	char buf[64];

	/* 18 cells: 2 of 8 used is 4.5 -> 5, 3 of 8 is 6.75 -> 7: 2 reserved. */
	panel_bar(buf, 20, 2 * GIB, GIB, 8 * GIB, "3.0G/8.0G");
	assert_string_equal(buf, "[|||||##  3.0G/8.0G]");
	panel_bar(buf, 12, 0, 0, 8 * GIB, "0B/8.0G");
	assert_string_equal(buf, "[   0B/8.0G]");
	panel_bar(buf, 12, 8 * GIB, 0, 8 * GIB, "8.0G/8.0G");
	assert_string_equal(buf, "[|8.0G/8.0G]");
	/* A label that does not fit is left out; nonsense is clamped. */
	panel_bar(buf, 8, 9 * GIB, 5 * GIB, 8 * GIB, "8.0G/8.0G");
	assert_string_equal(buf, "[||||||]");
	panel_bar(buf, 8, 0, 0, 0, NULL);
	assert_string_equal(buf, "[      ]");
	panel_bar(buf, 1, 1, 1, 2, "x");
	assert_string_equal(buf, "");
	/* Terabytes times columns would overflow 64 bits. */
	panel_bar(buf, 42, 3ULL << 50, 0, 6ULL << 50, NULL);
	assert_string_equal(buf, "[||||||||||||||||||||                    ]");
}

static void test_hold_banner(void **state)
{
	struct panel_model m;
	char buf[512];
	enum tone tone;
	json_t *st;

	st = parse("{\"fleet\":{\"holding\":true,\"held_due\":3,\"hold_reason\":"
		   "\"3 nodes went silent together; suspecting the fleet's own network\"}}");
	assert_true(panel_hold_text(st, buf, sizeof(buf)));
	assert_string_equal(buf, "Evictions are on hold: 3 nodes due for eviction but kept "
			    "(3 nodes went silent together; suspecting the fleet's own network)");
	json_decref(st);
	st = parse("{\"fleet\":{\"holding\":true,\"held_due\":1,\"hold_reason\":null}}");
	assert_true(panel_hold_text(st, buf, sizeof(buf)));
	assert_string_equal(buf, "Evictions are on hold: 1 node due for eviction but kept");
	json_decref(st);
	st = parse("{\"fleet\":{\"holding\":false}}");
	assert_false(panel_hold_text(st, buf, sizeof(buf)));
	json_decref(st);

	panel_model_init(&m);
	load(&m, status_json, vmlist_json, NULL);
	assert_false(panel_banner(&m, buf, sizeof(buf), &tone));
	json_object_set_new(json_object_get(m.status, "fleet"), "holding", json_true());
	assert_true(panel_banner(&m, buf, sizeof(buf), &tone));
	assert_int_equal(tone, TONE_WARN);
	assert_string_equal(buf, "Evictions are on hold: 0 nodes due for eviction but kept");
	panel_model_free(&m);
}

static void test_unreachable(void **state)
{
	struct panel_snapshot s = { .reachable = false, .attempts = 2 };
	struct panel_model m;
	char buf[512];
	enum tone tone;

	panel_model_init(&m);
	load(&m, status_json, vmlist_json, NULL);
	snprintf(s.where, sizeof(s.where), "/run/osi/fleet.sock");
	snprintf(s.error, sizeof(s.error),
		 "cannot reach the fleet at /run/osi/fleet.sock: Connection refused");
	assert_int_equal(panel_model_take(&m, &s, 2000), 0);
	assert_true(panel_banner(&m, buf, sizeof(buf), &tone));
	assert_int_equal(tone, TONE_BAD);
	assert_string_equal(buf, "cannot reach the fleet at /run/osi/fleet.sock: Connection refused; "
			    "retrying");
	/* What was last seen stays, for the view to show as such. */
	assert_int_equal(m.nrows, 8);
	assert_int_equal(m.updated_ms, 1000);
	snprintf(s.error, sizeof(s.error), "the fleet at /run/osi/fleet.sock closed the connection");
	assert_int_equal(panel_model_take(&m, &s, 3000), 0);
	assert_true(panel_banner(&m, buf, sizeof(buf), &tone));
	assert_string_equal(buf, "cannot reach the fleet at /run/osi/fleet.sock (the fleet at "
			    "/run/osi/fleet.sock closed the connection); retrying");
	load(&m, status_json, vmlist_json, NULL);
	assert_false(panel_banner(&m, buf, sizeof(buf), &tone));
	panel_model_free(&m);
}

static void test_summary_and_events(void **state)
{
	struct panel_model m;
	char buf[256];
	json_t *e;

	panel_model_init(&m);
	panel_summary(&m, buf, sizeof(buf));
	assert_string_equal(buf, "fleet at ");
	load(&m, status_json, vmlist_json, NULL);
	panel_summary(&m, buf, sizeof(buf));
	assert_string_equal(buf, "fleet f1 v0.1.0 up 1h2m | 1 live 1 evicted 1 awaiting");
	panel_model_free(&m);

	e = parse("{\"id\":7,\"time\":1700000000,\"kind\":\"evicted\",\"node\":\"n2\","
		  "\"detail\":\"silent for 31 s\"}");
	panel_event_line(e, buf, sizeof(buf));
	assert_string_equal(buf, "22:13:20 evicted       n2         silent for 31 s");
	assert_int_equal(panel_event_tone(e), TONE_BAD);
	json_decref(e);
	e = parse("{\"id\":8,\"time\":null,\"kind\":\"hold-override\",\"node\":null,"
		  "\"detail\":\"by\\nadmin\"}");
	panel_event_line(e, buf, sizeof(buf));
	assert_string_equal(buf, "--:--:-- hold-override -          by?admin");
	assert_int_equal(panel_event_tone(e), TONE_WARN);
	json_decref(e);
}

/* A fleet with the fabric: the FQDN beside the address, and in the guest's
 * detail with its published ports. */
static void test_fabric_names(void **state)
{
	static const char vmlist[] =
		"{\"ok\":true,\"guests\":[{\"name\":\"vault\",\"type\":\"totebox\",\"node\":\"n1\","
		"\"memory_bytes\":2147483648,\"vcpus\":2,\"state\":\"running\",\"detail\":null,"
		"\"address\":\"10.78.1.2\",\"fqdn\":\"vault.osi.internal\",\"published\":"
		"[{\"proto\":\"tcp\",\"port\":9190,\"host_port\":9190}]}]}";
	struct panel_model m;
	struct panel_text t;

	(void)state;
	panel_model_init(&m);
	load(&m, status_json, vmlist, NULL);
	assert_string_equal(m.rows[1].name, "vault");
	assert_string_equal(m.rows[1].info, "10.78.1.2  vault.osi.internal");
	panel_model_move(&m, 1);
	panel_detail(&m, &t);
	assert_string_equal(t.title, "Guest vault");
	assert_string_equal(t.line[t.n - 2], "FQDN     vault.osi.internal");
	assert_string_equal(t.line[t.n - 1], "Published tcp/9190 on host port 9190");
	panel_model_free(&m);
}

static void test_detail(void **state)
{
	struct panel_model m;
	struct panel_text t;

	panel_model_init(&m);
	load(&m, status_json, vmlist_json, NULL);
	panel_detail(&m, &t);
	assert_string_equal(t.title, "Node n1");
	assert_string_equal(t.line[0], "State          live");
	assert_string_equal(t.line[3], "Memory         4.0G available of 8.0G "
			    "(1.0G reserved for pending guests)");
	assert_string_equal(t.line[t.n - 3], "  vault                totebox       running    2.0G     10.77.1.5");
	assert_string_equal(t.line[t.n - 2], "  web                  mediakit      booting    1.0G     -");
	assert_string_equal(t.line[t.n - 1], "2 guests listed by the fleet");
	panel_model_move(&m, 3);
	panel_detail(&m, &t);
	assert_string_equal(t.title, "Node n2");
	assert_string_equal(t.line[1], "               evicted: silent past the eviction window; "
			    "its guests are node-lost and never moved");
	panel_model_move(&m, -1);
	panel_detail(&m, &t);
	assert_string_equal(t.title, "Guest web");
	assert_string_equal(t.line[0], "State    booting");
	assert_string_equal(t.line[1], "Detail   waiting for?[2J the guest");
	assert_string_equal(t.line[6], "Address  -");
	panel_model_move(&m, -1);
	panel_detail(&m, &t);
	assert_string_equal(t.title, "Guest vault");
	assert_string_equal(t.line[5], "Address  10.77.1.5");
	panel_model_free(&m);
}

/* A guest being moved shows its move in its row and in its detail, from
 * vm-list alone (issue 12); a kept copy follows the usual text. */
static void test_move(void **state)
{
	static const char vmlist[] =
		"{\"ok\":true,\"guests\":[{\"name\":\"vault\",\"type\":\"totebox\",\"node\":\"n1\","
		"\"memory_bytes\":2147483648,\"vcpus\":2,\"state\":\"running\",\"detail\":null,"
		"\"address\":\"10.77.1.5\",\"move\":{\"guest\":\"vault\",\"source\":\"n1\","
		"\"target\":\"n2\",\"phase\":\"transfer\",\"bytes\":12582912,\"total\":1181116006,"
		"\"started\":1,\"detail\":\"95.0 MiB/s,\\u001b]0;x 11 s left\"}},"
		"{\"name\":\"web\",\"type\":\"mediakit\",\"node\":\"n1\",\"memory_bytes\":1073741824,"
		"\"vcpus\":1,\"state\":\"running\",\"detail\":\"moved from n3\",\"address\":\"10.77.1.6\","
		"\"move\":{\"guest\":\"web\",\"source\":\"n3\",\"target\":\"n1\",\"phase\":\"kept\","
		"\"bytes\":2048,\"total\":2048,\"started\":1,\"detail\":\"kept until release\"}}]}";
	struct panel_model m;
	struct panel_text t;

	(void)state;
	panel_model_init(&m);
	load(&m, status_json, vmlist, NULL);
	assert_string_equal(m.rows[1].name, "vault");
	assert_string_equal(m.rows[1].state, "running");
	assert_int_equal(m.rows[1].tone, TONE_WARN); /* under way: the pending tone */
	assert_string_equal(m.rows[1].info, "→ n2 transfer 12.0M of 1.1G, 95.0 MiB/s,?]0;x 11 s left");
	assert_string_equal(m.rows[2].name, "web");
	assert_int_equal(m.rows[2].tone, TONE_GOOD);
	assert_string_equal(m.rows[2].info,
			    "10.77.1.6  moved from n3  → n1 kept 2.0K of 2.0K, kept until release");
	panel_model_move(&m, 1);
	panel_detail(&m, &t);
	assert_string_equal(t.title, "Guest vault");
	assert_string_equal(t.line[1], "Move     transfer from n1 to n2, 12.0M of 1.1G — "
			    "95.0 MiB/s,?]0;x 11 s left");
	assert_int_equal(t.tone[1], TONE_WARN);
	assert_string_equal(t.line[2], "Type     totebox");
	panel_model_move(&m, 1);
	panel_detail(&m, &t);
	assert_string_equal(t.title, "Guest web");
	assert_string_equal(t.line[1], "Detail   moved from n3");
	assert_string_equal(t.line[2], "Move     kept from n3 to n1, 2.0K of 2.0K — kept until release");
	assert_int_equal(t.tone[2], TONE_NORMAL);
	panel_model_free(&m);
}

static void test_progress(void **state)
{
	static const char booting[] =
		"{\"ok\":true,\"guests\":[{\"name\":\"web\",\"node\":\"n1\",\"state\":\"booting\","
		"\"detail\":\"firmware\"}]}";
	static const char running[] =
		"{\"ok\":true,\"guests\":[{\"name\":\"web\",\"node\":\"n1\",\"state\":\"running\"}]}";
	struct panel_model m;
	char buf[256];
	enum tone tone;

	panel_model_init(&m);
	panel_model_watch(&m, "web");
	load(&m, status_json, "{\"ok\":true,\"guests\":[]}", NULL);
	assert_false(panel_model_progress(&m, buf, sizeof(buf), &tone));
	load(&m, status_json, booting, NULL);
	assert_true(panel_model_progress(&m, buf, sizeof(buf), &tone));
	assert_string_equal(buf, "web on n1: booting - firmware");
	assert_int_equal(tone, TONE_WARN);
	assert_false(panel_model_progress(&m, buf, sizeof(buf), &tone));
	load(&m, status_json, running, NULL);
	assert_true(panel_model_progress(&m, buf, sizeof(buf), &tone));
	assert_string_equal(buf, "web on n1: running");
	assert_int_equal(tone, TONE_GOOD);
	assert_string_equal(m.watch, ""); /* an end state: done following */
	panel_model_free(&m);
}

static void test_layout(void **state)
{
	struct panel_layout l;

	panel_layout(24, 80, 0, &l);
	assert_false(l.too_small);
	assert_int_equal(l.banner, -1);
	assert_int_equal(l.nodes_top, 1);
	assert_int_equal(l.nodes_rows, 13);
	assert_int_equal(l.events_top, 15);
	assert_int_equal(l.events_rows, 6);
	assert_int_equal(l.message, 22);
	assert_int_equal(l.keys, 23);
	assert_int_equal(l.bar_width, 26);
	panel_layout(24, 80, 1, &l);
	assert_int_equal(l.banner, 1);
	assert_int_equal(l.nodes_top, 2);
	assert_int_equal(l.nodes_rows, 12);
	panel_layout(24, 80, 5, &l);  /* a long banner wraps to two rows, no more */
	assert_int_equal(l.banner_rows, 2);
	assert_int_equal(l.nodes_top, 3);
	assert_int_equal(l.nodes_rows, 11);
	panel_layout(30, 100, 0, &l);
	assert_int_equal(l.bar_width, 46);
	assert_int_equal(l.events_rows, 8);
	assert_int_equal(l.nodes_rows, 17);
	panel_layout(24, 59, 0, &l);
	assert_true(l.too_small);
	panel_layout(13, 80, 0, &l);
	assert_true(l.too_small);
}

static void keys(struct panel_form *f, const char *text)
{
	for (; *text; text++) {
		struct panel_input in = { .key = PK_CHAR, .ch = (unsigned char)*text };

		switch (*text) {
		case '\t': in.key = PK_TAB; break;
		case '<': in.key = PK_LEFT; break;
		case '>': in.key = PK_RIGHT; break;
		case '\b': in.key = PK_BACKSPACE; break;
		}
		form_key(f, &in);
	}
}

static void test_form_check(void **state)
{
	struct panel_form f;
	char why[256];
	uint64_t bytes;

	form_init(&f);
	assert_string_equal(form_type(&f)->name, "mediakit"); /* never a Totebox by default */
	assert_int_equal(f.field, FORM_TYPE);
	assert_int_equal(form_check(&f, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "Name: the guest needs a name");
	keys(&f, "\tWeb_1 x");  /* upper case folds; '_' and ' ' are refused */
	assert_string_equal(f.name, "web1x");
	assert_int_equal(form_check(&f, why, sizeof(why)), 0);
	assert_int_equal(form_memory(&f, &bytes), 0);
	assert_true(bytes == mediakit()->memory_bytes);
	keys(&f, "\b\b-");
	assert_string_equal(f.name, "web-");
	assert_int_equal(form_check(&f, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "Name: 1-63 of a-z, 0-9 and '-', not starting or ending with '-'");
	keys(&f, "\b\t12X");
	assert_int_equal(f.field, FORM_MEMORY);
	assert_string_equal(f.memory, "12");  /* X is no unit */
	keys(&f, "M");
	assert_int_equal(form_check(&f, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "Memory: '12M' is not a size of at least 32M (like 512M or 2G)");
	keys(&f, "\b\b\b2G");
	assert_int_equal(form_check(&f, why, sizeof(why)), 0);
	assert_int_equal(form_memory(&f, &bytes), 0);
	assert_true(bytes == 2 * GIB);
	keys(&f, "\t\t<");  /* Node, then Type: one to the left is the Totebox */
	assert_int_equal(f.field, FORM_TYPE);
	assert_string_equal(form_type(&f)->name, "totebox");
	keys(&f, "<");
	assert_string_equal(form_type(&f)->name, "privategit");
	form_free(&f);
}

static const char ranking_json[] =
	"{\"ok\":true,\"suggestion\":\"n2\",\"fits\":true,\"candidates\":["
	"{\"rank\":1,\"name\":\"n2\",\"available_bytes\":6442450944,\"margin_bytes\":1073741824,"
	"\"after_bytes\":5368709120,\"guests\":0},"
	"{\"rank\":2,\"name\":\"n1\",\"available_bytes\":4294967296,\"margin_bytes\":1073741824,"
	"\"after_bytes\":3221225472,\"guests\":1}],"
	"\"excluded\":[{\"name\":\"n3\",\"reason\":\"evicted\",\"why\":\"evicted 2m ago\"}]}";

static void ranked(struct panel_form *f)
{
	json_t *req = form_place_request(f);

	assert_non_null(req);
	json_decref(req);
	form_ranked(f, f->rank_gen, parse(ranking_json), NULL);
}

static void check_request(json_t *req, const char *want)
{
	char *text = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);

	assert_non_null(text);
	assert_string_equal(text, want);
	free(text);
	json_decref(req);
}

static json_t *plan_reply(const char *node, bool advisory)
{
	json_t *r = json_pack("{s:b, s:{s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:b}}", "ok", 1, "plan",
			      "token", "0123456789abcdef0123456789abcdef", "expires_in_s", 120,
			      "type", "mediakit", "name", "web1", "node", node,
			      "memory_bytes", (json_int_t)mediakit()->memory_bytes,
			      "vcpus", (json_int_t)mediakit()->vcpus, "advisory", advisory);

	assert_non_null(r);
	return r;
}

static void test_form_plan(void **state)
{
	struct panel_form f;
	char label[128], want[256];
	uint64_t gen;

	form_init(&f);
	snprintf(want, sizeof(want), "{\"memory_bytes\":%llu,\"op\":\"place\",\"type\":\"mediakit\","
		 "\"vcpus\":%u}", (unsigned long long)mediakit()->memory_bytes, mediakit()->vcpus);
	check_request(form_place_request(&f), want);
	form_node_label(&f, label, sizeof(label));
	assert_string_equal(label, "the fleet's advice");
	ranked(&f);
	assert_string_equal(form_advice(&f), "n2");
	assert_int_equal(f.nnodes, 3);
	assert_string_equal(f.nodes[2], "n3");
	form_node_label(&f, label, sizeof(label));
	assert_string_equal(label, "n2 (the fleet's advice)");
	/* F9 with no name: nothing is asked. */
	assert_null(form_f9_request(&f));
	assert_string_equal(f.notice, "Name: the guest needs a name");
	keys(&f, "\tweb1");
	check_request(form_f9_request(&f),
		      "{\"name\":\"web1\",\"op\":\"vm-plan\",\"type\":\"mediakit\"}");
	assert_true(f.busy);
	assert_null(form_f9_request(&f));  /* one at a time */
	gen = f.gen;
	/* The plan is the node on screen: confirm it at once. */
	assert_true(form_planned(&f, gen, plan_reply("n2", true), NULL));
	assert_true(form_plan_shown(&f));
	check_request(form_f9_request(&f),
		      "{\"how\":\"panel-f9\",\"op\":\"vm-confirm\","
		      "\"token\":\"0123456789abcdef0123456789abcdef\"}");
	form_confirm_failed(&f, "no such plan (it may have expired, or been confirmed already)");
	assert_false(form_plan_shown(&f));
	assert_false(f.busy);
	assert_string_equal(f.notice, "no such plan (it may have expired, or been confirmed already)");
	form_free(&f);
}

static void test_form_plan_moved(void **state)
{
	struct panel_form f;
	struct panel_text t;
	char want[256], size[32];
	uint64_t gen;
	json_t *req;

	form_init(&f);
	ranked(&f);
	keys(&f, "\tweb1");
	req = form_f9_request(&f);
	json_decref(req);
	/* The fleet's advice moved to n1 meanwhile: show it, wait for F9. */
	assert_false(form_planned(&f, f.gen, plan_reply("n1", true), NULL));
	assert_true(form_plan_shown(&f));
	assert_string_equal(f.notice, "F9 confirms this plan, Esc cancels: the fleet now plans "
			    "web1 on n1, not on n2 as shown.");
	form_lines(&f, &t);
	/* The marker follows the plan's node. */
	assert_string_equal(t.line[2], " 1   n2             6.0G      5.0G      1.0G     0");
	assert_string_equal(t.line[3], ">2   n1             4.0G      3.0G      1.0G     1");
	format_size(mediakit()->memory_bytes, size, sizeof(size));
	snprintf(want, sizeof(want), "Plan: mediakit web1 on n1, %s, %u vCPU (the fleet's advice) "
		 "- F9 confirms", size, mediakit()->vcpus);
	assert_string_equal(t.line[5], want);
	req = form_f9_request(&f);
	assert_string_equal(json_string_value(json_object_get(req, "op")), "vm-confirm");
	json_decref(req);
	/* Any edit drops the plan: F9 then asks again. */
	f.busy = false;
	keys(&f, "x");
	assert_false(form_plan_shown(&f));
	/* A reply to an older question is dropped... */
	assert_false(form_planned(&f, f.gen - 1, plan_reply("n2", true), NULL));
	assert_false(form_plan_shown(&f));
	/* ...even one to a form closed since, whatever the new form holds. */
	gen = f.gen;
	form_free(&f);
	form_init(&f);
	keys(&f, "\tweb1x");
	assert_false(form_planned(&f, gen, plan_reply("n2", true), NULL));
	assert_false(form_plan_shown(&f));
	form_free(&f);
}

static void test_form_plan_unseen(void **state)
{
	struct panel_form f;
	json_t *reply = plan_reply("n2", true);

	/* F9 before any ranking was drawn: the plan is shown, not confirmed. */
	form_init(&f);
	keys(&f, "\tweb1");
	json_decref(form_f9_request(&f));
	json_object_set_new(json_object_get(reply, "plan"), "ranking", parse(ranking_json));
	assert_false(form_planned(&f, f.gen, reply, NULL));
	assert_string_equal(f.notice, "F9 confirms this plan, Esc cancels: the fleet plans web1 on n2.");
	/* The plan's own ranking is now the one on screen. */
	assert_string_equal(form_advice(&f), "n2");
	assert_int_equal(f.nnodes, 3);
	assert_true(form_plan_shown(&f));
	form_free(&f);
}

static void test_form_totebox(void **state)
{
	struct panel_form f;
	struct panel_text t;
	char label[128];
	json_t *req;

	form_init(&f);
	keys(&f, "<");
	assert_string_equal(form_type(&f)->name, "totebox");
	ranked(&f);
	keys(&f, "\tvault1");
	form_lines(&f, &t);
	assert_string_equal(t.line[t.n - 1], "A Totebox goes only on a node you choose (Node: <- ->).");
	/* Without a node the fleet is asked anyway: its refusal is shown. */
	check_request(form_f9_request(&f),
		      "{\"name\":\"vault1\",\"op\":\"vm-plan\",\"type\":\"totebox\"}");
	assert_false(form_planned(&f, f.gen, NULL, "a Totebox is placed only on a node you name"));
	assert_false(f.busy);
	assert_string_equal(f.notice, "a Totebox is placed only on a node you name");
	assert_int_equal(f.notice_tone, TONE_BAD);
	keys(&f, "\t\t>>");  /* Node: n2, then n1 */
	form_node_label(&f, label, sizeof(label));
	assert_string_equal(label, "n1 (your choice, rank 2)");
	assert_string_equal(f.notice, "");
	keys(&f, ">");
	form_node_label(&f, label, sizeof(label));
	assert_string_equal(label, "n3 (your choice, excluded: evicted)");
	keys(&f, "<\t\t\t2G");
	req = form_f9_request(&f);
	check_request(req, "{\"memory_bytes\":2147483648,\"name\":\"vault1\",\"node\":\"n1\","
		      "\"op\":\"vm-plan\",\"type\":\"totebox\"}");
	form_free(&f);
}

static void test_form_choices_follow_ranking(void **state)
{
	struct panel_form f;
	uint64_t gen;

	form_init(&f);
	ranked(&f);
	keys(&f, "\t\t\t>>");
	assert_string_equal(form_node(&f), "n1");
	/* A new ranking keeps the choice by name... */
	form_ranked(&f, f.rank_gen, parse("{\"suggestion\":\"n1\",\"candidates\":[{\"name\":\"n1\"},"
					  "{\"name\":\"n2\"}],\"excluded\":[]}"), NULL);
	assert_string_equal(form_node(&f), "n1");
	assert_int_equal(f.node, 1);
	/* ...and falls back to the advice when the node is gone. */
	gen = f.gen;
	form_ranked(&f, f.rank_gen, parse("{\"suggestion\":\"n2\",\"candidates\":[{\"name\":\"n2\"}],"
					  "\"excluded\":[]}"), NULL);
	assert_null(form_node(&f));
	assert_true(f.gen > gen);
	/* A ranking for an older type or memory is dropped. */
	keys(&f, "\t\t\t");
	assert_int_equal(f.field, FORM_MEMORY);
	keys(&f, "4G");
	form_ranked(&f, f.rank_gen - 1, parse(ranking_json), NULL);
	assert_null(form_advice(&f));
	form_ranked(&f, f.rank_gen, NULL, "unknown op 'place'");
	assert_string_equal(f.ranking_error, "unknown op 'place'");
	form_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_no_vmlist),
		cmocka_unit_test(test_empty_fleet),
		cmocka_unit_test(test_selection),
		cmocka_unit_test(test_scroll),
		cmocka_unit_test(test_bar),
		cmocka_unit_test(test_hold_banner),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_summary_and_events),
		cmocka_unit_test(test_detail),
		cmocka_unit_test(test_fabric_names),
		cmocka_unit_test(test_progress),
		cmocka_unit_test(test_move),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_form_check),
		cmocka_unit_test(test_form_plan),
		cmocka_unit_test(test_form_plan_moved),
		cmocka_unit_test(test_form_plan_unseen),
		cmocka_unit_test(test_form_totebox),
		cmocka_unit_test(test_form_choices_follow_ranking),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
