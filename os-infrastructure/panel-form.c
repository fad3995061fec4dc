#include "os-infrastructure/panel-form.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "os-infrastructure/format.h"
#include "lib/units.h"

static const char *str_or(const json_t *obj, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : def;
}

static unsigned type_count(void)
{
	unsigned n = 0;

	while (guest_type_at(n))
		n++;
	return n;
}

/* Generations are unique across forms, so that a late reply to a form
 * that was closed can never pass for one to the form open now. */
static uint64_t generation;

static uint64_t next_gen(void)
{
	return ++generation;
}

void form_init(struct panel_form *f)
{
	memset(f, 0, sizeof(*f));
	/* Not a Totebox: that one needs a node chosen, so it is never a default. */
	while (guest_type_at(f->type) && guest_type_at(f->type)->named_node_only)
		f->type++;
	if (!guest_type_at(f->type))
		f->type = 0;
	f->gen = f->rank_gen = next_gen();
}

static void drop_plan(struct panel_form *f)
{
	json_decref(f->plan);
	f->plan = NULL;
}

void form_free(struct panel_form *f)
{
	drop_plan(f);
	json_decref(f->ranking);
	memset(f, 0, sizeof(*f));
}

const struct guest_type *form_type(const struct panel_form *f)
{
	return guest_type_at(f->type);
}

const char *form_node(const struct panel_form *f)
{
	return f->node && f->node <= f->nnodes ? f->nodes[f->node - 1] : NULL;
}

int form_memory(const struct panel_form *f, uint64_t *bytes)
{
	if (!f->memory[0]) {
		*bytes = form_type(f)->memory_bytes;
		return 0;
	}
	if (parse_size(f->memory, bytes) < 0 || *bytes < FORM_MIN_MEMORY)
		return -EINVAL;
	return 0;
}

int form_check(const struct panel_form *f, char *why, size_t len)
{
	uint64_t bytes;

	if (!f->name[0])
		snprintf(why, len, "Name: the guest needs a name");
	else if (!guest_name_valid(f->name))
		snprintf(why, len, "Name: 1-%d of a-z, 0-9 and '-', not starting or ending with '-'",
			 GUEST_NAME_MAX);
	else if (form_memory(f, &bytes) < 0)
		snprintf(why, len, "Memory: '%s' is not a size of at least 32M (like 512M or 2G)",
			 f->memory);
	else
		return 0;
	return -EINVAL;
}

static void changed(struct panel_form *f, bool ranking)
{
	f->gen = next_gen();
	if (ranking)
		f->rank_gen = f->gen;
	drop_plan(f);
	f->notice[0] = '\0';
}

static bool edit_text(char *text, size_t max, const struct panel_input *in, const char *allowed)
{
	size_t n = strlen(text);
	uint32_t c = in->ch;

	if (in->key == PK_BACKSPACE && n) {
		text[n - 1] = '\0';
		return true;
	}
	if (in->key == PK_KILL && n) {
		text[0] = '\0';
		return true;
	}
	if (in->key != PK_CHAR || c > 127 || n >= max)
		return false;
	if (c >= 'A' && c <= 'Z' && !strchr(allowed, (int)c))
		c += 'a' - 'A';
	if (!c || !strchr(allowed, (int)c))
		return false;
	text[n] = (char)c;
	text[n + 1] = '\0';
	return true;
}

static bool cycle(size_t *value, size_t count, long step)
{
	if (count < 2)
		return false;
	*value = (*value + count + (size_t)(step < 0 ? count - 1 : 1)) % count;
	return true;
}

static long cycle_step(const struct panel_input *in)
{
	if (in->key == PK_LEFT)
		return -1;
	if (in->key == PK_RIGHT || (in->key == PK_CHAR && in->ch == ' '))
		return 1;
	return 0;
}

static bool field_key(struct panel_form *f, const struct panel_input *in)
{
	long step = cycle_step(in);
	size_t v;

	switch (f->field) {
	case FORM_TYPE:
		v = f->type;
		if (!step || !cycle(&v, type_count(), step))
			return false;
		f->type = (unsigned)v;
		changed(f, true);
		return true;
	case FORM_NODE:
		if (!step || !cycle(&f->node, f->nnodes + 1, step))
			return false;
		changed(f, false);
		return true;
	case FORM_NAME:
		if (!edit_text(f->name, GUEST_NAME_MAX, in, "abcdefghijklmnopqrstuvwxyz0123456789-"))
			return false;
		changed(f, false);
		return true;
	case FORM_MEMORY:
		if (!edit_text(f->memory, FORM_MEMORY_MAX, in, "0123456789.KMGTkmgtiB"))
			return false;
		changed(f, true);
		return true;
	default:
		return false;
	}
}

bool form_key(struct panel_form *f, const struct panel_input *in)
{
	switch (in->key) {
	case PK_TAB:
	case PK_DOWN:
	case PK_ENTER:
		f->field = (f->field + 1) % FORM__FIELDS;
		return true;
	case PK_BTAB:
	case PK_UP:
		f->field = (f->field + FORM__FIELDS - 1) % FORM__FIELDS;
		return true;
	default:
		return field_key(f, in);
	}
}

json_t *form_place_request(const struct panel_form *f)
{
	uint64_t bytes;

	if (form_memory(f, &bytes) < 0)
		return NULL;
	return json_pack("{s:s, s:s, s:I, s:I}", "op", "place", "type", form_type(f)->name,
			 "memory_bytes", (json_int_t)bytes, "vcpus", (json_int_t)form_type(f)->vcpus);
}

static void add_choice(struct panel_form *f, const char *name)
{
	if (!name || f->nnodes >= FORM_NODES_MAX)
		return;
	for (size_t i = 0; i < f->nnodes; i++)
		if (!strcmp(f->nodes[i], name))
			return;
	snprintf(f->nodes[f->nnodes++], sizeof(f->nodes[0]), "%s", name);
}

/* The choices follow the ranking: candidates best first, then the excluded,
 * which the operator may still name (the fleet will say why not). */
static void rebuild_choices(struct panel_form *f)
{
	char chosen[NODE_NAME_MAX + 1] = "";
	const json_t *e;
	size_t i;

	if (form_node(f))
		snprintf(chosen, sizeof(chosen), "%s", form_node(f));
	f->nnodes = 0;
	f->node = 0;
	json_array_foreach(json_object_get(f->ranking, "candidates"), i, e)
		add_choice(f, json_string_value(json_object_get(e, "name")));
	json_array_foreach(json_object_get(f->ranking, "excluded"), i, e)
		add_choice(f, json_string_value(json_object_get(e, "name")));
	for (i = 0; chosen[0] && i < f->nnodes; i++)
		if (!strcmp(f->nodes[i], chosen))
			f->node = i + 1;
	if (chosen[0] && !f->node)
		f->gen = next_gen(); /* the chosen node is gone: F9 would ask otherwise */
}

void form_ranked(struct panel_form *f, uint64_t gen, json_t *reply, const char *error)
{
	if (gen != f->rank_gen) {
		json_decref(reply);
		return;
	}
	json_decref(f->ranking);
	f->ranking = reply;
	f->ranking_gen = gen;
	snprintf(f->ranking_error, sizeof(f->ranking_error), "%s", reply ? "" : error);
	format_sanitize(f->ranking_error);
	if (reply)
		rebuild_choices(f);
}

const char *form_advice(const struct panel_form *f)
{
	if (!f->ranking || f->ranking_gen != f->rank_gen)
		return NULL;
	return json_string_value(json_object_get(f->ranking, "suggestion"));
}

static void notice(struct panel_form *f, enum tone tone, const char *text)
{
	snprintf(f->notice, sizeof(f->notice), "%s", text);
	format_sanitize(f->notice);
	f->notice_tone = tone;
}

static json_t *plan_request(const struct panel_form *f)
{
	json_t *req = json_pack("{s:s, s:s, s:s}", "op", "vm-plan", "type", form_type(f)->name,
				"name", f->name);
	uint64_t bytes;

	if (req && f->memory[0] && !form_memory(f, &bytes))
		json_object_set_new(req, "memory_bytes", json_integer((json_int_t)bytes));
	if (req && form_node(f))
		json_object_set_new(req, "node", json_string(form_node(f)));
	return req;
}

json_t *form_f9_request(struct panel_form *f)
{
	char why[256];
	json_t *req;

	if (f->busy) {
		notice(f, TONE_WARN, "Wait: the fleet has not answered yet.");
		return NULL;
	}
	if (form_check(f, why, sizeof(why)) < 0) {
		notice(f, TONE_BAD, why);
		return NULL;
	}
	if (form_plan_shown(f))
		req = json_pack("{s:s, s:s, s:s}", "op", "vm-confirm",
				"token", str_or(f->plan, "token", ""), "how", "panel-f9");
	else
		req = plan_request(f);
	if (!req) {
		notice(f, TONE_BAD, "out of memory");
		return NULL;
	}
	f->busy = true;
	return req;
}

static bool plan_matches(const struct panel_form *f, const json_t *plan)
{
	const char *want = form_node(f) ? form_node(f) : form_advice(f);
	uint64_t bytes = 0;

	form_memory(f, &bytes);
	return want && !strcmp(str_or(plan, "node", ""), want) &&
	       !strcmp(str_or(plan, "name", ""), f->name) &&
	       !strcmp(str_or(plan, "type", ""), form_type(f)->name) &&
	       json_integer_value(json_object_get(plan, "memory_bytes")) == (json_int_t)bytes;
}

bool form_planned(struct panel_form *f, uint64_t gen, json_t *reply, const char *error)
{
	const json_t *plan = json_object_get(reply, "plan"), *ranking;
	char text[256], want[NODE_NAME_MAX + 1];

	f->busy = false;
	if (gen != f->gen) {
		json_decref(reply);
		return false;
	}
	if (!json_is_object(plan)) {
		notice(f, TONE_BAD, reply ? "the fleet sent a plan without a \"plan\"" : error);
		json_decref(reply);
		return false;
	}
	drop_plan(f);
	f->plan = json_incref((json_t *)plan);
	f->plan_gen = gen;
	json_decref(reply);
	if (plan_matches(f, f->plan))
		return true;
	snprintf(want, sizeof(want), "%s", form_node(f) ? form_node(f) :
		 form_advice(f) ? form_advice(f) : "");
	/* The ranking moved since it was drawn: show the plan's own. */
	ranking = json_object_get(f->plan, "ranking");
	if (json_is_object(ranking) && json_is_true(json_object_get(f->plan, "advisory")))
		form_ranked(f, f->rank_gen, json_incref((json_t *)ranking), NULL);
	if (want[0])
		snprintf(text, sizeof(text), "F9 confirms this plan, Esc cancels: the fleet now "
			 "plans %s on %s, not on %s as shown.", str_or(f->plan, "name", "?"),
			 str_or(f->plan, "node", "?"), want);
	else
		snprintf(text, sizeof(text), "F9 confirms this plan, Esc cancels: the fleet "
			 "plans %s on %s.", str_or(f->plan, "name", "?"), str_or(f->plan, "node", "?"));
	notice(f, TONE_WARN, text);
	return false;
}

bool form_plan_shown(const struct panel_form *f)
{
	return f->plan && f->plan_gen == f->gen;
}

void form_confirm_failed(struct panel_form *f, const char *error)
{
	f->busy = false;
	drop_plan(f);
	notice(f, TONE_BAD, error);
}

static const json_t *ranked(const struct panel_form *f, const char *name, bool *candidate)
{
	const char *const lists[] = { "candidates", "excluded" };
	const json_t *e;
	size_t i;

	for (size_t l = 0; l < 2; l++) {
		json_array_foreach(json_object_get(f->ranking, lists[l]), i, e) {
			if (!strcmp(str_or(e, "name", ""), name)) {
				*candidate = l == 0;
				return e;
			}
		}
	}
	return NULL;
}

void form_node_label(const struct panel_form *f, char *buf, size_t len)
{
	const char *node = form_node(f), *advice = form_advice(f);
	const json_t *e;
	bool cand = false;

	if (!node) {
		if (advice)
			snprintf(buf, len, "%s (the fleet's advice)", advice);
		else if (f->ranking && f->ranking_gen == f->rank_gen)
			snprintf(buf, len, "the fleet's advice: no node fits");
		else
			snprintf(buf, len, "the fleet's advice");
	} else if ((e = ranked(f, node, &cand)) && cand) {
		snprintf(buf, len, "%s (your choice, rank %lld)", node,
			 (long long)json_integer_value(json_object_get(e, "rank")));
	} else {
		snprintf(buf, len, "%s (your choice, excluded: %s)", node,
			 e ? str_or(e, "reason", "?") : "not ranked");
	}
	format_sanitize(buf);
}

static void candidate_line(const struct panel_form *f, const json_t *e, struct panel_text *t)
{
	const char *name = str_or(e, "name", "?");
	const char *target = form_plan_shown(f) ? str_or(f->plan, "node", "") :
			     form_node(f) ? form_node(f) : form_advice(f);
	char avail[32], after[32], margin[32];

	format_bytes_json(json_object_get(e, "available_bytes"), avail, sizeof(avail));
	format_bytes_json(json_object_get(e, "after_bytes"), after, sizeof(after));
	format_bytes_json(json_object_get(e, "margin_bytes"), margin, sizeof(margin));
	panel_text_add(t, TONE_NORMAL, "%s%-3lld %-14s %-9s %-9s %-8s %lld",
		       target && !strcmp(target, name) ? ">" : " ",
		       (long long)json_integer_value(json_object_get(e, "rank")), name, avail, after,
		       margin, (long long)json_integer_value(json_object_get(e, "guests")));
}

static void ranking_lines(const struct panel_form *f, struct panel_text *t)
{
	const json_t *e;
	size_t i;
	uint64_t bytes = 0;
	char size[32];

	if (f->ranking_error[0] && f->ranking_gen == f->rank_gen) {
		panel_text_add(t, TONE_BAD, "Ranking: %s", f->ranking_error);
		return;
	}
	if (!f->ranking || f->ranking_gen != f->rank_gen) {
		panel_text_add(t, TONE_DIM, "Asking the fleet where this guest fits...");
		return;
	}
	form_memory(f, &bytes);
	format_size(bytes, size, sizeof(size));
	panel_text_add(t, TONE_DIM, "The fleet's ranking for %s and %u vCPU (advisory):", size,
		       form_type(f)->vcpus);
	panel_text_add(t, TONE_DIM, " %-3s %-14s %-9s %-9s %-8s %s", "#", "NODE", "AVAIL", "AFTER",
		       "MARGIN", "GUESTS");
	json_array_foreach(json_object_get(f->ranking, "candidates"), i, e)
		candidate_line(f, e, t);
	json_array_foreach(json_object_get(f->ranking, "excluded"), i, e)
		panel_text_add(t, TONE_DIM, "%s-   %-14s excluded (%s): %s",
			       form_node(f) && !strcmp(form_node(f), str_or(e, "name", "")) ? ">" : " ",
			       str_or(e, "name", "?"), str_or(e, "reason", "?"), str_or(e, "why", ""));
}

void form_lines(const struct panel_form *f, struct panel_text *t)
{
	char size[32];

	panel_text_clear(t);
	ranking_lines(f, t);
	if (form_type(f)->named_node_only && !form_node(f))
		panel_text_add(t, TONE_WARN, "A %s goes only on a node you choose (Node: <- ->).",
			       form_type(f)->title);
	if (form_plan_shown(f)) {
		format_bytes_json(json_object_get(f->plan, "memory_bytes"), size, sizeof(size));
		panel_text_add(t, TONE_GOOD, "Plan: %s %s on %s, %s, %lld vCPU%s - F9 confirms",
			       str_or(f->plan, "type", "?"), str_or(f->plan, "name", "?"),
			       str_or(f->plan, "node", "?"), size,
			       (long long)json_integer_value(json_object_get(f->plan, "vcpus")),
			       json_is_true(json_object_get(f->plan, "advisory")) ?
			       " (the fleet's advice)" : " (your choice)");
	}
	if (f->busy)
		panel_text_add(t, TONE_DIM, "Asking the fleet...");
	if (f->notice[0])
		panel_text_add(t, f->notice_tone, "%s", f->notice);
}
