/* Keys and replies to what they asked: what the panel does about each. */
#include <curses.h>
#include <errno.h>
#include <string.h>

#include "os-infrastructure/panel.h"

#define PAGE_ROWS 10
#define RANK_EVERY_MS 2000
#define CTRL(c) ((c) & 0x1f)

static const struct { int code; enum panel_key key; } curses_keys[] = {
	{ KEY_UP, PK_UP }, { KEY_DOWN, PK_DOWN }, { KEY_LEFT, PK_LEFT }, { KEY_RIGHT, PK_RIGHT },
	{ KEY_HOME, PK_HOME }, { KEY_END, PK_END }, { KEY_PPAGE, PK_PGUP }, { KEY_NPAGE, PK_PGDN },
	{ KEY_BTAB, PK_BTAB }, { KEY_ENTER, PK_ENTER }, { KEY_BACKSPACE, PK_BACKSPACE },
	{ KEY_F(1), PK_F1 }, { KEY_F(2), PK_F2 }, { KEY_F(5), PK_F5 }, { KEY_F(9), PK_F9 },
	{ KEY_F(10), PK_F10 }, { KEY_RESIZE, PK_RESIZE },
};

static const struct { uint32_t ch; enum panel_key key; } control_keys[] = {
	{ '\t', PK_TAB }, { '\r', PK_ENTER }, { '\n', PK_ENTER }, { 27, PK_ESC },
	{ 127, PK_BACKSPACE }, { CTRL('h'), PK_BACKSPACE }, { CTRL('u'), PK_KILL },
	{ CTRL('l'), PK_F5 },
};

struct panel_input panel_input_from_curses(int ret, uint32_t wch)
{
	struct panel_input in = { .key = PK_NONE };

	if (ret == KEY_CODE_YES) {
		for (size_t i = 0; i < ARRAY_SIZE(curses_keys); i++)
			if ((uint32_t)curses_keys[i].code == wch)
				in.key = curses_keys[i].key;
		return in;
	}
	if (ret != OK)
		return in;
	for (size_t i = 0; i < ARRAY_SIZE(control_keys); i++)
		if (control_keys[i].ch == wch)
			in.key = control_keys[i].key;
	if (in.key == PK_NONE && wch >= ' ') {
		in.key = PK_CHAR;
		in.ch = wch;
	}
	return in;
}

static bool is_char(const struct panel_input *in, const char *set)
{
	return in->key == PK_CHAR && in->ch < 128 && in->ch && strchr(set, (int)in->ch);
}

void panel_open_form(struct panel *p)
{
	form_free(&p->form);
	form_init(&p->form);
	p->rank_asked = 0;
	p->mode = MODE_FORM;
	panel_message(p, TONE_NORMAL, "New VM: fill in the form; F9 confirms the plan, Esc cancels.");
}

static void close_form(struct panel *p, const char *why)
{
	form_free(&p->form);
	p->mode = MODE_MAIN;
	if (why)
		panel_message(p, TONE_NORMAL, "%s", why);
}

void panel_form_tick(struct panel *p, uint64_t now_ms)
{
	struct panel_form *f = &p->form;
	json_t *req;

	if (p->mode != MODE_FORM || f->busy || form_plan_shown(f))
		return; /* a plan on screen keeps the ranking it came with */
	if (p->rank_asked == f->rank_gen && now_ms - p->rank_asked_ms < RANK_EVERY_MS)
		return;
	p->rank_asked = f->rank_gen;
	p->rank_asked_ms = now_ms;
	req = form_place_request(f);
	if (req)
		panel_conn_submit(p->conn, JOB_RANK, req, f->rank_gen);
	else
		form_ranked(f, f->rank_gen, NULL, "the memory is not a size of at least 32M");
}

void panel_form_f9(struct panel *p)
{
	json_t *req = form_f9_request(&p->form);
	const char *op;

	if (!req) {
		panel_message(p, p->form.notice_tone, "%s", p->form.notice);
		return;
	}
	op = json_string_value(json_object_get(req, "op"));
	panel_conn_submit(p->conn, strcmp(op, "vm-confirm") ? JOB_PLAN : JOB_CONFIRM, req,
			  p->form.gen);
	panel_message(p, TONE_NORMAL, "%s", strcmp(op, "vm-confirm") ?
		      "Asking the fleet for the plan..." : "Confirming the plan...");
}

static void confirmed(struct panel *p, const json_t *reply)
{
	const json_t *g = json_object_get(reply, "guest");
	const char *name = json_string_value(json_object_get(g, "name"));
	const char *node = json_string_value(json_object_get(g, "node"));
	const char *state = json_string_value(json_object_get(g, "state"));

	if (p->mode == MODE_FORM)
		close_form(p, NULL);
	panel_message(p, TONE_GOOD, "%s confirmed on %s with F9: %s; progress follows here.",
		      name ? name : "?", node ? node : "?", state ? state : "?");
	if (!name)
		return;
	panel_model_watch(&p->model, name);
	snprintf(p->model.watch_state, sizeof(p->model.watch_state), "%s", state ? state : "");
	/* Selected as soon as a refresh lists it. */
	p->model.sel_kind = ROW_GUEST;
	snprintf(p->model.sel_name, sizeof(p->model.sel_name), "%s", name);
	panel_model_select(&p->model, ROW_GUEST, name);
}

void panel_on_result(struct panel *p, struct panel_result *r)
{
	json_t *reply = r->ret ? NULL : r->reply;

	if (r->ret)
		json_decref(r->reply);
	r->reply = NULL;
	if (r->job == JOB_CONFIRM) {
		if (reply)
			confirmed(p, reply);
		else if (p->mode == MODE_FORM)
			form_confirm_failed(&p->form, r->error);
		if (!reply)
			panel_message(p, TONE_BAD, "Not created: %s", r->error);
		json_decref(reply);
		return;
	}
	if (p->mode != MODE_FORM) {
		json_decref(reply); /* the form was closed: nothing is confirmed */
		return;
	}
	if (r->job == JOB_RANK) {
		form_ranked(&p->form, r->tag, reply, r->error);
		return;
	}
	if (form_planned(&p->form, r->tag, reply, r->error))
		panel_form_f9(p);
	else if (r->ret == -EREMOTEIO)
		panel_message(p, TONE_BAD, "The fleet refused the plan: %s", r->error);
	else if (p->form.notice[0])
		panel_message(p, p->form.notice_tone, "%s", p->form.notice);
}

static void help_key(struct panel *p, const struct panel_input *in)
{
	if (in->key == PK_ESC || in->key == PK_ENTER || in->key == PK_F1 || is_char(in, "q?h"))
		p->mode = p->help_back;
}

static void detail_key(struct panel *p, const struct panel_input *in)
{
	if (in->key == PK_UP || is_char(in, "k"))
		panel_model_move(&p->model, -1);
	else if (in->key == PK_DOWN || is_char(in, "j"))
		panel_model_move(&p->model, 1);
	else if (in->key == PK_ESC || in->key == PK_ENTER || is_char(in, "q"))
		p->mode = MODE_MAIN;
}

static void form_key_in(struct panel *p, const struct panel_input *in)
{
	switch (in->key) {
	case PK_ESC:
		close_form(p, p->form.busy ? "New VM cancelled; a plan asked for is left to expire: "
			   "nothing was created." : "New VM cancelled: nothing was created.");
		break;
	case PK_F9:
		panel_form_f9(p);
		break;
	case PK_F2:
		break;
	default:
		form_key(&p->form, in);
	}
}

static void show_help(struct panel *p)
{
	p->help_back = p->mode == MODE_FORM ? MODE_FORM : MODE_MAIN;
	p->mode = MODE_HELP;
}

static void main_key(struct panel *p, const struct panel_input *in)
{
	if (in->key == PK_UP || is_char(in, "k"))
		panel_model_move(&p->model, -1);
	else if (in->key == PK_DOWN || is_char(in, "j"))
		panel_model_move(&p->model, 1);
	else if (in->key == PK_PGUP)
		panel_model_move(&p->model, -PAGE_ROWS);
	else if (in->key == PK_PGDN)
		panel_model_move(&p->model, PAGE_ROWS);
	else if (in->key == PK_HOME || is_char(in, "g"))
		panel_model_move(&p->model, -(long)p->model.nrows);
	else if (in->key == PK_END || is_char(in, "G"))
		panel_model_move(&p->model, (long)p->model.nrows);
	else if (in->key == PK_ENTER && panel_model_selected(&p->model))
		p->mode = MODE_DETAIL;
	else if (in->key == PK_ENTER)
		panel_message(p, TONE_NORMAL, "Nothing to show: no node is selected.");
	else if (in->key == PK_F2)
		panel_open_form(p);
	else if (in->key == PK_F9)
		panel_message(p, TONE_WARN, "F9 confirms a new VM's plan: press F2 to make one first.");
	else if (is_char(in, "?"))
		show_help(p);
	else if (in->key == PK_ESC)
		p->message[0] = '\0';
	else if (is_char(in, "q"))
		p->quit = true;
}

void panel_on_key(struct panel *p, const struct panel_input *in)
{
	if (in->key == PK_F10) {
		p->quit = true;
		return;
	}
	if (in->key == PK_RESIZE)
		return; /* curses has resized; the next frame fits */
	if (in->key == PK_F5) {
		clearok(curscr, TRUE); /* Ctrl-L too: repaint a garbled screen */
		panel_conn_refresh(p->conn);
		panel_message(p, TONE_NORMAL, "Refreshing from the fleet.");
		return;
	}
	if (in->key == PK_F1 && p->mode != MODE_HELP) {
		show_help(p);
		return;
	}
	switch (p->mode) {
	case MODE_HELP: help_key(p, in); break;
	case MODE_DETAIL: detail_key(p, in); break;
	case MODE_FORM: form_key_in(p, in); break;
	default: main_key(p, in); break;
	}
}
