#include "os-infrastructure/panel-model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "os-infrastructure/format.h"
#include "lib/units.h"

static const char *str_or(const json_t *obj, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : def;
}

static bool get_u64(const json_t *obj, const char *key, uint64_t *out)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

/* Text from the network goes on screen only without control characters. */
static void copy_clean(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
	format_sanitize(dst);
}

void panel_model_init(struct panel_model *m)
{
	memset(m, 0, sizeof(*m));
}

void panel_model_free(struct panel_model *m)
{
	json_decref(m->status);
	json_decref(m->guests);
	json_decref(m->events);
	free(m->rows);
	memset(m, 0, sizeof(*m));
}

bool panel_unknown_op(const char *error)
{
	return error && !strncmp(error, "unknown op", strlen("unknown op"));
}

static void replace(json_t **slot, json_t *value)
{
	json_decref(*slot);
	*slot = value;
}

static void take_guests(struct panel_model *m, struct panel_snapshot *s)
{
	if (s->vmlist) {
		replace(&m->guests, json_incref(json_object_get(s->vmlist, "guests")));
		m->gsrc = json_is_array(m->guests) ? GUESTS_OK : GUESTS_FAILED;
		if (m->gsrc == GUESTS_FAILED)
			snprintf(m->gerror, sizeof(m->gerror), "vm-list sent no guest list");
		return;
	}
	replace(&m->guests, NULL);
	m->gsrc = panel_unknown_op(s->vmlist_error) ? GUESTS_UNSUPPORTED : GUESTS_FAILED;
	copy_clean(m->gerror, sizeof(m->gerror), s->vmlist_error);
}

int panel_model_take(struct panel_model *m, struct panel_snapshot *s, uint64_t now_ms)
{
	m->reachable = s->reachable;
	m->attempts = s->attempts;
	copy_clean(m->where, sizeof(m->where), s->where);
	copy_clean(m->error, sizeof(m->error), s->reachable ? s->status_error : s->error);
	if (!s->reachable)
		return 0; /* keep what was last seen, shown as such */
	m->ever_reached = true;
	if (s->status) {
		replace(&m->status, s->status);
		m->updated_ms = now_ms;
		s->status = NULL;
	}
	take_guests(m, s);
	if (s->events)
		replace(&m->events, json_incref(json_object_get(s->events, "events")));
	json_decref(s->vmlist);
	json_decref(s->events);
	s->vmlist = s->events = NULL;
	return panel_model_rows(m);
}

static int push_row(struct panel_model *m, struct panel_row **out)
{
	struct panel_row *r;

	if (m->nrows == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 32;

		r = realloc(m->rows, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		m->rows = r;
		m->cap = cap;
	}
	*out = &m->rows[m->nrows++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

static enum tone node_tone(const char *state)
{
	if (!strcmp(state, "live"))
		return TONE_GOOD;
	if (!strcmp(state, "evicted") || !strcmp(state, "revoked"))
		return TONE_BAD;
	return TONE_WARN;
}

enum tone panel_guest_tone(const char *state)
{
	static const char *const bad[] = { "failed", "node-lost" };
	static const char *const dim[] = { "stopped", "destroyed" };

	if (!strcmp(state, "running"))
		return TONE_GOOD;
	for (size_t i = 0; i < 2; i++) {
		if (!strcmp(state, bad[i]))
			return TONE_BAD;
		if (!strcmp(state, dim[i]))
			return TONE_DIM;
	}
	return TONE_WARN; /* on its way: planned, dispatched, defining, booting */
}

static void node_row(struct panel_row *r, const json_t *node)
{
	uint64_t total, avail, reported, pending = 0;
	char a[32], b[32];

	r->kind = ROW_NODE;
	r->obj = node;
	copy_clean(r->name, sizeof(r->name), str_or(node, "name", "?"));
	copy_clean(r->state, sizeof(r->state), str_or(node, "state", "?"));
	r->tone = node_tone(r->state);
	format_cpu(json_object_get(node, "cpu_percent"), json_object_get(node, "ncpu"),
		   r->cpu, sizeof(r->cpu));
	format_age_json(json_object_get(node, "last_seen_age_ms"), r->seen, sizeof(r->seen));
	format_scalar(json_object_get(node, "guests"), r->info, sizeof(r->info));
	if (!r->info[0])
		snprintf(r->info, sizeof(r->info), "-");
	snprintf(r->mem, sizeof(r->mem), "-");
	get_u64(node, "pending_bytes", &pending);
	if (!get_u64(node, "mem_total_bytes", &total) || !total ||
	    !get_u64(node, "mem_available_bytes", &avail))
		return;
	if (!get_u64(node, "mem_reported_available_bytes", &reported))
		reported = avail + pending;
	reported = reported < total ? reported : total;
	r->has_bar = true;
	r->total = total;
	r->used = total - reported;
	r->pending = pending < reported ? pending : reported;
	format_size(total - (avail < total ? avail : total), a, sizeof(a));
	format_size(total, b, sizeof(b));
	snprintf(r->mem, sizeof(r->mem), "%s/%s", a, b);
}

/* A move under way; a kept copy on the old node is over, not busy. */
static bool move_busy(const json_t *mv)
{
	return json_is_object(mv) && strcmp(str_or(mv, "phase", ""), "kept");
}

/* The move instead of the detail while under way, after it once kept. */
static void guest_move_info(struct panel_row *r, const json_t *mv)
{
	size_t n = strlen(r->info);

	if (!json_is_object(mv))
		return;
	if (move_busy(mv)) {
		r->tone = TONE_WARN;
		n = 0;
	} else if (n && n + 2 < sizeof(r->info)) {
		memcpy(r->info + n, "  ", 3);
		n += 2;
	}
	format_move_brief(mv, r->info + n, sizeof(r->info) - n);
}

static void guest_row(struct panel_row *r, const json_t *guest)
{
	uint64_t vcpus;

	r->kind = ROW_GUEST;
	r->obj = guest;
	copy_clean(r->name, sizeof(r->name), str_or(guest, "name", "?"));
	copy_clean(r->state, sizeof(r->state), str_or(guest, "state", "?"));
	r->tone = panel_guest_tone(r->state);
	copy_clean(r->seen, sizeof(r->seen), str_or(guest, "type", "?"));
	format_bytes_json(json_object_get(guest, "memory_bytes"), r->mem, sizeof(r->mem));
	if (get_u64(guest, "vcpus", &vcpus))
		snprintf(r->cpu, sizeof(r->cpu), "%llu vCPU", (unsigned long long)vcpus);
	if (json_is_string(json_object_get(guest, "address"))) {
		const char *detail = str_or(guest, "detail", "");
		char info[sizeof(r->info)];

		const char *fqdn = str_or(guest, "fqdn", "");

		snprintf(info, sizeof(info), "%s%s%s%s%s", str_or(guest, "address", ""),
			 fqdn[0] ? "  " : "", fqdn, detail[0] ? "  " : "", detail);
		copy_clean(r->info, sizeof(r->info), info);
	} else {
		copy_clean(r->info, sizeof(r->info), str_or(guest, "detail", ""));
	}
	guest_move_info(r, json_object_get(guest, "move"));
}

static int note_row(struct panel_model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int note_row(struct panel_model *m, const char *fmt, ...)
{
	struct panel_row *r;
	va_list ap;

	if (push_row(m, &r) < 0)
		return -ENOMEM;
	r->kind = ROW_NOTE;
	r->tone = TONE_DIM;
	va_start(ap, fmt);
	vsnprintf(r->info, sizeof(r->info), fmt, ap);
	va_end(ap);
	format_sanitize(r->info);
	return 0;
}

static bool node_listed(const json_t *nodes, const char *name)
{
	const json_t *n;
	size_t i;

	json_array_foreach(nodes, i, n) {
		if (!strcmp(str_or(n, "name", ""), name))
			return true;
	}
	return false;
}

/* A node's guests under it; node NULL: guests on nodes the status lacks. */
static int guest_rows(struct panel_model *m, const json_t *nodes, const char *node)
{
	struct panel_row *r;
	const json_t *g;
	size_t i;

	json_array_foreach(m->guests, i, g) {
		const char *on = str_or(g, "node", "");

		if (node ? strcmp(on, node) : node_listed(nodes, on))
			continue;
		if (push_row(m, &r) < 0)
			return -ENOMEM;
		guest_row(r, g);
	}
	return 0;
}

static bool orphans(const struct panel_model *m, const json_t *nodes)
{
	const json_t *g;
	size_t i;

	json_array_foreach(m->guests, i, g) {
		if (!node_listed(nodes, str_or(g, "node", "")))
			return true;
	}
	return false;
}

static void restore_selection(struct panel_model *m)
{
	if (m->sel_name[0] && panel_model_select(m, m->sel_kind, m->sel_name))
		return;
	if (m->sel >= m->nrows)
		m->sel = m->nrows ? m->nrows - 1 : 0;
	panel_model_move(m, 0);
}

int panel_model_rows(struct panel_model *m)
{
	const json_t *nodes = json_object_get(m->status, "nodes"), *n;
	struct panel_row *r;
	size_t i;
	int ret = 0;

	m->nrows = 0;
	json_array_foreach(nodes, i, n) {
		ret = push_row(m, &r);
		if (ret)
			return ret;
		node_row(r, n);
		ret = guest_rows(m, nodes, r->name);
		if (ret)
			return ret;
	}
	if (m->status && !json_array_size(nodes))
		ret = note_row(m, "No node has registered with the fleet yet.");
	if (!ret && m->gsrc == GUESTS_UNSUPPORTED)
		ret = note_row(m, "guests: not available from this fleet");
	else if (!ret && m->gsrc == GUESTS_FAILED)
		ret = note_row(m, "guests: %s", m->gerror);
	if (!ret && orphans(m, nodes)) {
		ret = note_row(m, "Guests on nodes the fleet no longer lists:");
		if (!ret)
			ret = guest_rows(m, nodes, NULL);
	}
	restore_selection(m);
	return ret;
}

static void remember_selection(struct panel_model *m)
{
	const struct panel_row *r = panel_model_selected(m);

	if (!r)
		return;
	m->sel_kind = r->kind;
	snprintf(m->sel_name, sizeof(m->sel_name), "%s", r->name);
}

void panel_model_move(struct panel_model *m, long delta)
{
	long step = delta < 0 ? -1 : 1;
	long i = (long)m->sel, target = (long)m->sel + delta, best = -1;

	if (!m->nrows)
		return;
	if (target < 0)
		target = 0;
	if (target >= (long)m->nrows)
		target = (long)m->nrows - 1;
	/* The nearest selectable row at or past the target, else before it. */
	for (i = target; i >= 0 && i < (long)m->nrows; i += step) {
		if (m->rows[i].kind != ROW_NOTE) {
			best = i;
			break;
		}
	}
	for (i = target; best < 0 && i >= 0 && i < (long)m->nrows; i -= step) {
		if (m->rows[i].kind != ROW_NOTE)
			best = i;
	}
	if (best >= 0) {
		m->sel = (size_t)best;
		remember_selection(m);
	}
}

void panel_model_scroll(struct panel_model *m, size_t visible)
{
	if (!visible)
		return;
	if (m->sel < m->top)
		m->top = m->sel;
	else if (m->sel >= m->top + visible)
		m->top = m->sel - visible + 1;
	if (m->nrows <= visible)
		m->top = 0;
	else if (m->top > m->nrows - visible)
		m->top = m->nrows - visible;
}

const struct panel_row *panel_model_selected(const struct panel_model *m)
{
	if (m->sel >= m->nrows || m->rows[m->sel].kind == ROW_NOTE)
		return NULL;
	return &m->rows[m->sel];
}

bool panel_model_select(struct panel_model *m, enum row_kind kind, const char *name)
{
	for (size_t i = 0; i < m->nrows; i++) {
		if (m->rows[i].kind == kind && !strcmp(m->rows[i].name, name)) {
			m->sel = i;
			remember_selection(m);
			return true;
		}
	}
	return false;
}

void panel_model_watch(struct panel_model *m, const char *guest)
{
	snprintf(m->watch, sizeof(m->watch), "%s", guest ? guest : "");
	m->watch_state[0] = '\0';
}

static const json_t *find_guest(const struct panel_model *m, const char *name)
{
	const json_t *g;
	size_t i;

	json_array_foreach(m->guests, i, g) {
		if (!strcmp(str_or(g, "name", ""), name))
			return g;
	}
	return NULL;
}

bool panel_model_progress(struct panel_model *m, char *buf, size_t len, enum tone *tone)
{
	const json_t *g = m->watch[0] ? find_guest(m, m->watch) : NULL;
	const char *state, *detail;

	if (!g)
		return false;
	state = str_or(g, "state", "?");
	if (!strcmp(state, m->watch_state))
		return false;
	snprintf(m->watch_state, sizeof(m->watch_state), "%s", state);
	detail = str_or(g, "detail", "");
	snprintf(buf, len, "%s on %s: %s%s%s", m->watch, str_or(g, "node", "?"), state,
		 detail[0] ? " - " : "", detail);
	format_sanitize(buf);
	*tone = panel_guest_tone(state);
	if (*tone != TONE_WARN)
		m->watch[0] = '\0'; /* an end state: nothing more to follow */
	return true;
}

bool panel_hold_text(const json_t *status, char *buf, size_t len)
{
	const json_t *fleet = json_object_get(status, "fleet");
	const char *why = json_string_value(json_object_get(fleet, "hold_reason"));
	uint64_t due = 0;

	if (!json_is_true(json_object_get(fleet, "holding")))
		return false;
	get_u64(fleet, "held_due", &due);
	snprintf(buf, len, "Evictions are on hold: %llu node%s due for eviction but kept%s%s%s",
		 (unsigned long long)due, due == 1 ? "" : "s", why ? " (" : "", why ? why : "",
		 why ? ")" : "");
	format_sanitize(buf);
	return true;
}

bool panel_banner(const struct panel_model *m, char *buf, size_t len, enum tone *tone)
{
	if (!m->reachable && (m->attempts || m->error[0])) {
		*tone = TONE_BAD;
		if (!strncmp(m->error, "cannot reach", strlen("cannot reach")))
			snprintf(buf, len, "%s; retrying", m->error);
		else
			snprintf(buf, len, "cannot reach the fleet at %s (%s); retrying", m->where,
				 m->error);
		return true;
	}
	*tone = TONE_WARN;
	return m->reachable && panel_hold_text(m->status, buf, len);
}

static void uptime_text(uint64_t s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%llud%lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lluh%llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else
		snprintf(buf, len, "%llum%llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
}

void panel_summary(const struct panel_model *m, char *buf, size_t len)
{
	const json_t *fleet = json_object_get(m->status, "fleet");
	uint64_t up = 0, live = 0, evicted = 0, awaiting = 0, revoked = 0;
	char upt[32], rev[32] = "";

	if (!fleet) {
		snprintf(buf, len, "fleet at %s", m->where);
		return;
	}
	get_u64(fleet, "uptime_s", &up);
	get_u64(fleet, "nodes_live", &live);
	get_u64(fleet, "nodes_evicted", &evicted);
	get_u64(fleet, "nodes_awaiting", &awaiting);
	get_u64(fleet, "nodes_revoked", &revoked);
	uptime_text(up, upt, sizeof(upt));
	if (revoked)
		snprintf(rev, sizeof(rev), " %llu revoked", (unsigned long long)revoked);
	snprintf(buf, len, "fleet %s v%s up %s | %llu live %llu evicted %llu awaiting%s",
		 str_or(fleet, "name", "?"), str_or(fleet, "version", "?"), upt,
		 (unsigned long long)live, (unsigned long long)evicted, (unsigned long long)awaiting,
		 rev);
	format_sanitize(buf);
}

static size_t cells(uint64_t part, uint64_t total, size_t inner)
{
	/* Rounded, in 128-bit arithmetic: terabytes times columns overflow 64. */
	return total ? (size_t)(((unsigned __int128)part * inner + total / 2) / total) : 0;
}

void panel_bar(char *buf, size_t width, uint64_t used, uint64_t pending, uint64_t total,
	       const char *label)
{
	size_t inner, nused, npend, llen = label ? strlen(label) : 0;

	buf[0] = '\0';
	if (width < 2)
		return;
	inner = width - 2;
	used = used < total ? used : total;
	pending = pending < total - used ? pending : total - used;
	nused = cells(used, total, inner);
	npend = cells(used + pending, total, inner) - nused;
	buf[0] = '[';
	memset(buf + 1, '|', nused);
	memset(buf + 1 + nused, '#', npend);
	memset(buf + 1 + nused + npend, ' ', inner - nused - npend);
	if (llen && llen < inner)
		memcpy(buf + 1 + inner - llen, label, llen);
	buf[width - 1] = ']';
	buf[width] = '\0';
}

void panel_event_line(const json_t *event, char *buf, size_t len)
{
	const json_t *t = json_object_get(event, "time");
	char when[16] = "--:--:--";
	struct tm tm;
	time_t secs;

	if (json_is_integer(t)) {
		secs = (time_t)json_integer_value(t);
		if (localtime_r(&secs, &tm))
			strftime(when, sizeof(when), "%H:%M:%S", &tm);
	}
	snprintf(buf, len, "%s %-13s %-10s %s", when, str_or(event, "kind", "?"),
		 str_or(event, "node", "-"), str_or(event, "detail", ""));
	format_sanitize(buf);
}

enum tone panel_event_tone(const json_t *event)
{
	static const struct { const char *kind; enum tone tone; } kinds[] = {
		{ "evicted", TONE_BAD }, { "guest-failed", TONE_BAD }, { "hold", TONE_WARN },
		{ "held", TONE_WARN }, { "hold-override", TONE_WARN }, { "readmitted", TONE_GOOD },
		{ "registered", TONE_GOOD }, { "confirmed", TONE_GOOD }, { "revoked", TONE_BAD },
		{ "reinstated", TONE_WARN },
	};
	const char *kind = str_or(event, "kind", "");

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kind, kinds[i].kind))
			return kinds[i].tone;
	return TONE_NORMAL;
}

void panel_text_clear(struct panel_text *t)
{
	t->title[0] = '\0';
	t->n = 0;
}

void panel_text_add(struct panel_text *t, enum tone tone, const char *fmt, ...)
{
	va_list ap;

	if (t->n >= PANEL_TEXT_LINES)
		return;
	va_start(ap, fmt);
	vsnprintf(t->line[t->n], PANEL_TEXT_COLS, fmt, ap);
	va_end(ap);
	format_sanitize(t->line[t->n]);
	t->tone[t->n++] = tone;
}

static const char *state_meaning(const char *state)
{
	if (!strcmp(state, "evicted"))
		return "evicted: silent past the eviction window; its guests are node-lost and never moved";
	if (!strcmp(state, "held"))
		return "held: due for eviction, but the fleet is holding evictions (see the banner)";
	if (!strcmp(state, "revoked"))
		return "revoked: no longer trusted; its heartbeats are refused and it takes no guests";
	if (!strcmp(state, "awaiting"))
		return "awaiting: known from before the fleet restarted, not heard from since";
	return NULL;
}

static void node_detail(const struct panel_model *m, const json_t *node, struct panel_text *t)
{
	const char *state = str_or(node, "state", "?"), *meaning = state_meaning(state);
	const json_t *g;
	char a[64], b[64], c[64];
	size_t i, n = 0;

	snprintf(t->title, sizeof(t->title), "Node %s", str_or(node, "name", "?"));
	format_sanitize(t->title);
	panel_text_add(t, node_tone(state), "State          %s", state);
	if (meaning)
		panel_text_add(t, node_tone(state), "               %s", meaning);
	format_age_json(json_object_get(node, "last_seen_age_ms"), a, sizeof(a));
	format_time(json_object_get(node, "last_seen"), b, sizeof(b));
	panel_text_add(t, TONE_NORMAL, "Last heartbeat %s (%s)", a, b);
	format_cpu(json_object_get(node, "cpu_percent"), json_object_get(node, "ncpu"), a, sizeof(a));
	panel_text_add(t, TONE_NORMAL, "CPU            %s", a);
	format_bytes_json(json_object_get(node, "mem_available_bytes"), a, sizeof(a));
	format_bytes_json(json_object_get(node, "mem_total_bytes"), b, sizeof(b));
	format_bytes_json(json_object_get(node, "pending_bytes"), c, sizeof(c));
	panel_text_add(t, TONE_NORMAL, "Memory         %s available of %s (%s reserved for pending guests)",
		       a, b, c);
	format_bytes_json(json_object_get(node, "mem_reported_available_bytes"), a, sizeof(a));
	panel_text_add(t, TONE_NORMAL, "Reported       %s available in the last heartbeat", a);
	format_scalar(json_object_get(node, "guests"), a, sizeof(a));
	format_bytes_json(json_object_get(node, "guest_mem_bytes"), b, sizeof(b));
	panel_text_add(t, TONE_NORMAL, "Guests         %s running, %s committed", a[0] ? a : "-", b);
	g = json_object_get(node, "libvirt");
	panel_text_add(t, TONE_NORMAL, "Libvirt        %s",
		       json_is_true(g) ? "answering" : json_is_false(g) ? "not answering" : "unknown");
	format_time(json_object_get(node, "registered"), a, sizeof(a));
	panel_text_add(t, TONE_NORMAL, "Registered     %s", a);
	if (m->gsrc != GUESTS_OK)
		return;
	panel_text_add(t, TONE_NORMAL, "%s", "");
	json_array_foreach(m->guests, i, g) {
		if (strcmp(str_or(g, "node", ""), str_or(node, "name", "")))
			continue;
		format_bytes_json(json_object_get(g, "memory_bytes"), a, sizeof(a));
		panel_text_add(t, panel_guest_tone(str_or(g, "state", "")), "  %-20s %-13s %-10s %-8s %s",
			       str_or(g, "name", "?"), str_or(g, "type", "?"), str_or(g, "state", "?"), a,
			       str_or(g, "address", "-"));
		n++;
	}
	panel_text_add(t, TONE_DIM, n ? "%zu guest%s listed by the fleet" : "No guest on this node.",
		       n, n == 1 ? "" : "s");
}

static void guest_detail(const json_t *g, struct panel_text *t)
{
	char a[64], b[64], line[PANEL_TEXT_COLS];
	uint64_t vcpus = 0;
	const json_t *p;
	size_t i;

	snprintf(t->title, sizeof(t->title), "Guest %s", str_or(g, "name", "?"));
	format_sanitize(t->title);
	panel_text_add(t, panel_guest_tone(str_or(g, "state", "")), "State    %s",
		       str_or(g, "state", "?"));
	if (json_is_string(json_object_get(g, "detail")))
		panel_text_add(t, TONE_NORMAL, "Detail   %s", str_or(g, "detail", ""));
	if (format_move(json_object_get(g, "move"), line, sizeof(line)))
		panel_text_add(t, move_busy(json_object_get(g, "move")) ? TONE_WARN : TONE_NORMAL,
			       "Move     %s", line);
	panel_text_add(t, TONE_NORMAL, "Type     %s", str_or(g, "type", "?"));
	panel_text_add(t, TONE_NORMAL, "Node     %s", str_or(g, "node", "?"));
	format_bytes_json(json_object_get(g, "memory_bytes"), a, sizeof(a));
	get_u64(g, "vcpus", &vcpus);
	panel_text_add(t, TONE_NORMAL, "Size     %s, %llu vCPU", a, (unsigned long long)vcpus);
	panel_text_add(t, TONE_NORMAL, "Accel    %s", str_or(g, "accel", "-"));
	panel_text_add(t, TONE_NORMAL, "Address  %s", str_or(g, "address", "-"));
	format_time(json_object_get(g, "created"), a, sizeof(a));
	format_time(json_object_get(g, "updated"), b, sizeof(b));
	panel_text_add(t, TONE_NORMAL, "Created  %s", a);
	panel_text_add(t, TONE_NORMAL, "Updated  %s", b);
	if (json_is_string(json_object_get(g, "fqdn")))
		panel_text_add(t, TONE_NORMAL, "FQDN     %s", str_or(g, "fqdn", ""));
	json_array_foreach(json_object_get(g, "published"), i, p)
		panel_text_add(t, TONE_NORMAL, "%s %s/%lld on host port %lld", i ? "        " : "Published",
			       str_or(p, "proto", "tcp"),
			       (long long)json_integer_value(json_object_get(p, "port")),
			       (long long)json_integer_value(json_object_get(p, "host_port")));
}

void panel_detail(const struct panel_model *m, struct panel_text *t)
{
	const struct panel_row *r = panel_model_selected(m);

	panel_text_clear(t);
	if (!r) {
		snprintf(t->title, sizeof(t->title), "Nothing selected");
		return;
	}
	if (r->kind == ROW_NODE)
		node_detail(m, r->obj, t);
	else
		guest_detail(r->obj, t);
}

void panel_layout(int lines, int cols, int banner_rows, struct panel_layout *l)
{
	int body, events;

	memset(l, 0, sizeof(*l));
	l->too_small = lines < PANEL_MIN_LINES || cols < PANEL_MIN_COLS;
	l->keys = lines - 1;
	l->message = lines - 2;
	l->banner_rows = banner_rows < 0 ? 0 : banner_rows > 2 ? 2 : banner_rows;
	l->banner = l->banner_rows ? 1 : -1;
	l->nodes_top = 1 + l->banner_rows;
	/* Between the nodes header and the message line: nodes, then events
	 * with their own header, a third of the room but 3 to 8 lines. */
	body = l->message - l->nodes_top - 1;
	events = body / 3;
	events = events < 3 ? 3 : events > 8 ? 8 : events;
	l->events_rows = events;
	l->events_top = l->message - events - 1;
	l->nodes_rows = l->events_top - l->nodes_top - 1;
	l->bar_width = cols - 54;
	l->bar_width = l->bar_width < 12 ? 12 : l->bar_width > 48 ? 48 : l->bar_width;
	if (l->nodes_rows < 1)
		l->too_small = true;
}
