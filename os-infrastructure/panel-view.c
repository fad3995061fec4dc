/* Drawing. Everything is drawn afresh from the model on each frame; curses
 * sends only what changed. Without colours (NO_COLOR, or a terminal that
 * has none) the same screen is drawn with bold, dim and reverse video. */
#include <curses.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "lib/clock.h"
#include "os-infrastructure/panel.h"
#include "lib/units.h"

#define STALE_MS 3000

enum pair {
	PAIR_TITLE = 1, PAIR_HEADER, PAIR_KEY_LABEL, PAIR_SELECTED, PAIR_GOOD, PAIR_WARN, PAIR_BAD,
	PAIR_DIM, PAIR_BANNER_WARN, PAIR_BANNER_BAD, PAIR_BAR_USED, PAIR_BAR_PENDING,
};

static const struct { short pair, fg, bg; } pairs[] = {
	{ PAIR_TITLE, COLOR_BLACK, COLOR_CYAN }, { PAIR_HEADER, COLOR_BLACK, COLOR_GREEN },
	{ PAIR_KEY_LABEL, COLOR_BLACK, COLOR_CYAN }, { PAIR_SELECTED, COLOR_BLACK, COLOR_CYAN },
	{ PAIR_GOOD, COLOR_GREEN, -1 }, { PAIR_WARN, COLOR_YELLOW, -1 }, { PAIR_BAD, COLOR_RED, -1 },
	{ PAIR_BANNER_WARN, COLOR_BLACK, COLOR_YELLOW },
	{ PAIR_BANNER_BAD, COLOR_WHITE, COLOR_RED }, { PAIR_BAR_USED, COLOR_GREEN, -1 },
	{ PAIR_BAR_PENDING, COLOR_YELLOW, -1 },
};

static bool colors;
static SCREEN *screen;

/* The attribute for a role: a colour pair, or what stands in for it. */
static attr_t look(enum pair p)
{
	static const attr_t mono[] = {
		[PAIR_TITLE] = A_REVERSE, [PAIR_HEADER] = A_REVERSE | A_BOLD,
		[PAIR_KEY_LABEL] = A_REVERSE, [PAIR_SELECTED] = A_REVERSE, [PAIR_GOOD] = A_NORMAL,
		[PAIR_WARN] = A_BOLD, [PAIR_BAD] = A_BOLD, [PAIR_DIM] = A_DIM,
		[PAIR_BANNER_WARN] = A_REVERSE | A_BOLD, [PAIR_BANNER_BAD] = A_REVERSE | A_BOLD,
		[PAIR_BAR_USED] = A_NORMAL, [PAIR_BAR_PENDING] = A_NORMAL,
	};

	if (!colors || p == PAIR_DIM) /* dim reads better than blue on black */
		return mono[p];
	return COLOR_PAIR(p) | (p == PAIR_BAD || p == PAIR_BANNER_BAD ? A_BOLD : 0);
}

static attr_t tone_look(enum tone t)
{
	static const enum pair map[] = {
		[TONE_GOOD] = PAIR_GOOD, [TONE_WARN] = PAIR_WARN, [TONE_BAD] = PAIR_BAD,
		[TONE_DIM] = PAIR_DIM,
	};

	return t == TONE_NORMAL ? A_NORMAL : look(map[t]);
}

/* Draws s in at most width columns; returns the columns used. Text that is
 * not valid in the locale is drawn byte by byte as '?'. */
static int put(WINDOW *w, int y, int x, int width, const char *s, attr_t attr)
{
	wchar_t buf[512];
	mbstate_t st = { 0 };
	const char *src = s;
	size_t n = mbsrtowcs(buf, &src, ARRAY_SIZE(buf) - 1, &st), i;
	int used = 0, cw;

	if (width <= 0)
		return 0;
	if (n == (size_t)-1) {
		for (n = 0; s[n] && n < ARRAY_SIZE(buf) - 1; n++)
			buf[n] = (unsigned char)s[n] < 128 ? (wchar_t)s[n] : L'?';
	}
	buf[n] = L'\0';
	for (i = 0; i < n; i++) {
		cw = wcwidth(buf[i]);
		if (cw < 0) {
			buf[i] = L'?';
			cw = 1;
		}
		if (used + cw > width)
			break;
		used += cw;
	}
	wattron(w, attr);
	mvwaddnwstr(w, y, x, buf, (int)i);
	wattroff(w, attr);
	return used;
}

static void fill(WINDOW *w, int y, int x, int width, attr_t attr)
{
	if (width > 0)
		mvwhline(w, y, x, ' ' | attr, width);
}

static void line(WINDOW *w, int y, int width, const char *s, attr_t attr)
{
	fill(w, y, 0, width, attr);
	put(w, y, 0, width, s, attr);
}

static void draw_title(struct panel *p, int cols)
{
	char text[512], summary[256], clock_text[16];
	uint64_t age = clock_mono_ns() / NSEC_PER_MSEC - p->model.updated_ms;
	time_t now = time(NULL);
	struct tm tm;

	panel_summary(&p->model, summary, sizeof(summary));
	snprintf(text, sizeof(text), " os-infrastructure | %s", summary);
	if (p->model.reachable && p->model.updated_ms && age > STALE_MS)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "  (no answer for %llus)",
			 (unsigned long long)(age / 1000));
	line(stdscr, 0, cols, text, look(PAIR_TITLE));
	if (localtime_r(&now, &tm) && strftime(clock_text, sizeof(clock_text), "%H:%M:%S ", &tm) &&
	    (int)strlen(text) + 10 < cols)
		put(stdscr, 0, cols - 9, 9, clock_text, look(PAIR_TITLE));
}

static void draw_bar(int y, int x, int width, const struct panel_row *r, attr_t base)
{
	char bar[64];

	if (!r->has_bar) {
		put(stdscr, y, x, width, "-", base);
		return;
	}
	panel_bar(bar, (size_t)width < sizeof(bar) ? (size_t)width : sizeof(bar) - 1, r->used,
		  r->pending, r->total, r->mem);
	for (int i = 0; bar[i]; i++) {
		attr_t a = base;

		if (base == A_NORMAL && bar[i] == '|')
			a = look(PAIR_BAR_USED);
		else if (base == A_NORMAL && bar[i] == '#')
			a = look(PAIR_BAR_PENDING);
		else if (base == A_NORMAL && (bar[i] == '[' || bar[i] == ']'))
			a = A_BOLD;
		mvaddch(y, x + i, (chtype)(unsigned char)bar[i] | a);
	}
}

static void node_columns(int y, const struct panel_row *r, const struct panel_layout *l,
			 attr_t base, attr_t state)
{
	int bx = 37, sx = bx + l->bar_width + 1;

	put(stdscr, y, 1, 13, r->name, base | A_BOLD);
	put(stdscr, y, 15, 8, r->state, base ? base : state);
	put(stdscr, y, 24, 12, r->cpu, base);
	draw_bar(y, bx, l->bar_width, r, base);
	put(stdscr, y, sx, 9, r->seen, base);
	put(stdscr, y, sx + 10, 6, r->info, base);
}

static bool last_guest(const struct panel_model *m, size_t i)
{
	return i + 1 >= m->nrows || m->rows[i + 1].kind != ROW_GUEST;
}

static void guest_columns(int y, int cols, const struct panel_model *m, size_t i, attr_t base,
			  attr_t state)
{
	const struct panel_row *r = &m->rows[i];

	attron(base);
	mvadd_wch(y, 2, last_guest(m, i) ? WACS_LLCORNER : WACS_LTEE);
	mvadd_wch(y, 3, WACS_HLINE);
	attroff(base);
	put(stdscr, y, 5, 18, r->name, base);
	put(stdscr, y, 24, 10, r->state, base ? base : state);
	put(stdscr, y, 35, 13, r->seen, base);
	put(stdscr, y, 49, 6, r->mem, base);
	put(stdscr, y, 56, 7, r->cpu, base);
	put(stdscr, y, 64, cols - 64, r->info, base);
}

static void draw_row(struct panel *p, size_t i, int y, int cols, const struct panel_layout *l)
{
	const struct panel_row *r = &p->model.rows[i];
	bool selected = i == p->model.sel && r->kind != ROW_NOTE && p->mode == MODE_MAIN;
	attr_t base = selected ? look(PAIR_SELECTED) : p->model.reachable ? A_NORMAL : A_DIM;
	attr_t state = p->model.reachable ? tone_look(r->tone) : A_DIM;

	if (selected)
		fill(stdscr, y, 0, cols, base);
	if (r->kind == ROW_NODE)
		node_columns(y, r, l, base, state);
	else if (r->kind == ROW_GUEST)
		guest_columns(y, cols, &p->model, i, base, state);
	else
		put(stdscr, y, 2, cols - 3, r->info, tone_look(r->tone));
}

static void draw_nodes(struct panel *p, int cols, const struct panel_layout *l)
{
	char head[256];
	int y = l->nodes_top + 1;

	snprintf(head, sizeof(head), " %-13s %-8s %-12s %-*s %-9s %s", "NODE", "STATE", "CPU",
		 l->bar_width, "RAM taken/total", "LAST SEEN", "GUESTS");
	line(stdscr, l->nodes_top, cols, head, look(PAIR_HEADER));
	if (!p->model.status) {
		snprintf(head, sizeof(head), p->model.attempts ? "No answer from the fleet at %s yet." :
			 "Asking the fleet at %s...", p->model.where);
		put(stdscr, y + 1, 2, cols - 3, p->model.where[0] ? head : "Asking the fleet...", A_DIM);
		return;
	}
	panel_model_scroll(&p->model, (size_t)l->nodes_rows);
	for (size_t i = p->model.top; i < p->model.nrows && y < l->events_top; i++, y++)
		draw_row(p, i, y, cols, l);
}

static void draw_events(struct panel *p, int cols, const struct panel_layout *l)
{
	const json_t *events = p->model.events;
	size_t n = json_array_size(events);
	char text[512];
	int y = l->events_top + 1;

	line(stdscr, l->events_top, cols, p->model.reachable ? " Recent events (newest first)" :
	     " Recent events (last known)", look(PAIR_HEADER));
	for (size_t i = n; i > 0 && y < l->events_top + 1 + l->events_rows; i--, y++) {
		const json_t *e = json_array_get(events, i - 1);

		panel_event_line(e, text, sizeof(text));
		put(stdscr, y, 1, cols - 1, text,
		    p->model.reachable ? tone_look(panel_event_tone(e)) : A_DIM);
	}
}

struct fkey {
	const char *key, *label;
};

static void draw_keys(struct panel *p, int y, int cols)
{
	static const struct fkey main_keys[] = {
		{ "F1", "Help" }, { "F2", "New VM" }, { "F5", "Refresh" }, { "F9", "Confirm" },
		{ "F10", "Quit" },
	};
	static const struct fkey form_keys[] = {
		{ "F1", "Help" }, { "F5", "Refresh" }, { "F9", "Confirm" }, { "Esc", "Cancel" },
		{ "Tab", "Field" }, { "F10", "Quit" },
	};
	static const struct fkey view_keys[] = {
		{ "F1", "Help" }, { "Esc", "Close" }, { "F5", "Refresh" }, { "F10", "Quit" },
	};
	const struct fkey *k = main_keys;
	size_t n = ARRAY_SIZE(main_keys);
	char label[16];
	int x = 0;

	if (p->mode == MODE_FORM) {
		k = form_keys;
		n = ARRAY_SIZE(form_keys);
	} else if (p->mode != MODE_MAIN) {
		k = view_keys;
		n = ARRAY_SIZE(view_keys);
	}
	fill(stdscr, y, 0, cols, look(PAIR_KEY_LABEL));
	for (size_t i = 0; i < n && x < cols; i++) {
		snprintf(label, sizeof(label), "%-6s ", k[i].label);
		x += put(stdscr, y, x, cols - x, k[i].key, A_NORMAL);
		x += put(stdscr, y, x, cols - x, label, look(PAIR_KEY_LABEL));
	}
}

/* A framed window in the middle of the screen; the caller deletes it. */
static WINDOW *frame(int want_h, int want_w, const char *title)
{
	int h = want_h < LINES - 2 ? want_h : LINES - 2, w = want_w < COLS ? want_w : COLS;
	WINDOW *win = newwin(h, w, 1 + (LINES - 2 - h) / 2, (COLS - w) / 2);
	char t[PANEL_TEXT_COLS + 4];

	if (!win)
		return NULL;
	werase(win);
	box_set(win, WACS_VLINE, WACS_HLINE);
	snprintf(t, sizeof(t), " %s ", title);
	put(win, 0, 2, w - 4, t, A_BOLD);
	return win;
}

/* Continuation lines hang under the value, past the label and its run of
 * spaces ("Detail   cannot reach..."). */
static int hang(const char *s)
{
	const char *p = strstr(s + strspn(s, " "), "  ");

	if (!p)
		return 2;
	p += strspn(p, " ");
	return *p && p - s < 24 ? (int)(p - s) : 2;
}

/* Draws s over as many rows as it needs, at most `rows`, breaking at
 * spaces; with no window, only counts. */
static int wrap(WINDOW *w, int y, int x, int width, int rows, const char *s, attr_t attr)
{
	char piece[PANEL_TEXT_COLS];
	size_t len = strlen(s), room, cut;
	int indent = 0, n = 0, h = hang(s);

	while (n < rows && width - indent > 0) {
		room = (size_t)(width - indent);
		cut = len;
		if (len > room) {
			for (cut = room; cut && s[cut] != ' '; cut--)
				;
			if (!cut)
				cut = room;
		}
		if (w) {
			memcpy(piece, s, cut);
			piece[cut] = '\0';
			put(w, y + n, x + indent, (int)room, piece, attr);
		}
		n++;
		s += cut;
		len -= cut;
		for (; *s == ' '; s++)
			len--;
		if (!len)
			break;
		indent = h;
	}
	return n;
}

static int text_rows(const struct panel_text *t, int width)
{
	int n = 0;

	for (size_t i = 0; i < t->n; i++)
		n += wrap(NULL, 0, 0, width, PANEL_TEXT_LINES, t->line[i], 0);
	return n;
}

static void text_lines(WINDOW *win, int top, const struct panel_text *t)
{
	int h = getmaxy(win), w = getmaxx(win), y = top;

	for (size_t i = 0; i < t->n && y < h - 1; i++)
		y += wrap(win, y, 2, w - 4, h - 1 - y, t->line[i], tone_look(t->tone[i]));
}

static int text_width(void)
{
	return (COLS < 96 ? COLS : 96) - 4;
}

static void draw_text_view(struct panel *p)
{
	WINDOW *win;

	if (p->mode == MODE_DETAIL)
		panel_detail(&p->model, &p->text);
	win = frame(text_rows(&p->text, text_width()) + 3, 96, p->text.title);
	if (!win)
		return;
	text_lines(win, 1, &p->text);
	put(win, getmaxy(win) - 1, 2, getmaxx(win) - 4, " Esc closes ", A_DIM);
	wnoutrefresh(win);
	delwin(win);
}

static const char *const help[] = {
	"Up/Down, k/j      move between nodes and guests",
	"PgUp/PgDn, g/G    a page up or down, the first or last row",
	"Enter             details of the selected node or guest",
	"F1, ?             this help",
	"F2                new VM: type, name, memory and node, ranked by the fleet",
	"F5, Ctrl-L        refresh from the fleet now (it refreshes every second)",
	"F9                in the form: confirm the plan on screen; the only way the panel creates a VM",
	"Esc               cancel the form (nothing is created), close a view",
	"F10, q            quit (in the form q is a letter: use F10)",
	"",
	"In the form",
	"Tab, Down, Enter  next field (Shift-Tab, Up: the previous one)",
	"Left/Right/Space  change the type, or the node: the fleet's advice first, then each node as the fleet ranks it",
	"Backspace/Ctrl-U  delete a character, clear the field",
	"Memory            empty for the type's default, or a size: 512M, 2G",
	"A Totebox goes only on a node you choose; the fleet refuses it otherwise.",
};

static void help_text(struct panel_text *t)
{
	panel_text_clear(t);
	snprintf(t->title, sizeof(t->title), "Keys");
	for (size_t i = 0; i < ARRAY_SIZE(help); i++)
		panel_text_add(t, strcmp(help[i], "In the form") ? TONE_NORMAL : TONE_WARN, "%s", help[i]);
}

/* A field: its label, then its value; returns the column after the value. */
static int field(WINDOW *win, int y, const char *label, const char *value, bool focus, int w)
{
	int x;

	put(win, y, 2, 9, label, focus ? A_REVERSE | A_BOLD : A_BOLD);
	x = 12 + put(win, y, 12, w - 14, value, focus ? A_UNDERLINE | A_BOLD : A_NORMAL);
	return x;
}

static void draw_form(struct panel *p)
{
	const struct panel_form *f = &p->form;
	const struct guest_type *t = form_type(f);
	char text[PANEL_TEXT_COLS], label[128], size[32];
	int w, cursor_x = -1, cursor_y = 0, x, rows;
	WINDOW *win;

	form_lines(f, &p->text);
	rows = text_rows(&p->text, (COLS < 92 ? COLS : 92) - 4);
	win = frame(9 + (rows > 6 ? rows : 6), 92, "New VM");
	if (!win)
		return;
	w = getmaxx(win);
	snprintf(text, sizeof(text), "< %s >  %s", t->name, t->purpose);
	field(win, 2, "Type", text, f->field == FORM_TYPE, w);
	x = field(win, 3, "Name", f->name[0] ? f->name : "", f->field == FORM_NAME, w);
	if (f->field == FORM_NAME)
		cursor_x = x, cursor_y = 3;
	format_size(t->memory_bytes, size, sizeof(size));
	x = field(win, 4, "Memory", f->memory, f->field == FORM_MEMORY, w);
	if (f->field == FORM_MEMORY)
		cursor_x = x, cursor_y = 4;
	snprintf(text, sizeof(text), "%s(empty: %s, the %s default; %u vCPU)",
		 f->memory[0] ? "  " : "", size, t->title, t->vcpus);
	put(win, 4, x + 1, w - x - 3, text, A_DIM);
	form_node_label(f, label, sizeof(label));
	snprintf(text, sizeof(text), "< %s >", label);
	field(win, 5, "Node", text, f->field == FORM_NODE, w);
	text_lines(win, 7, &p->text);
	put(win, getmaxy(win) - 1, 2, w - 4,
	    " Tab next field  <- -> change  F9 confirm  Esc cancel ", A_DIM);
	if (cursor_x >= 0 && cursor_x < w - 1) {
		wmove(win, cursor_y, cursor_x);
		curs_set(1);
	}
	wnoutrefresh(win);
	delwin(win);
}

static void draw_main(struct panel *p, int lines, int cols)
{
	struct panel_layout l;
	char banner[512];
	enum tone tone;
	bool has_banner = panel_banner(&p->model, banner, sizeof(banner), &tone);
	attr_t battr = look(tone == TONE_BAD ? PAIR_BANNER_BAD : PAIR_BANNER_WARN);

	panel_layout(lines, cols, has_banner ? wrap(NULL, 0, 1, cols - 1, 2, banner, 0) : 0, &l);
	if (l.too_small) {
		snprintf(banner, sizeof(banner), "The panel needs %dx%d at least (now %dx%d).",
			 PANEL_MIN_COLS, PANEL_MIN_LINES, cols, lines);
		put(stdscr, 0, 0, cols, banner, A_BOLD);
		put(stdscr, 1, 0, cols, "F10 or q quits.", A_NORMAL);
		return;
	}
	draw_title(p, cols);
	for (int i = 0; i < l.banner_rows; i++)
		fill(stdscr, l.banner + i, 0, cols, battr);
	if (l.banner_rows)
		wrap(stdscr, l.banner, 1, cols - 1, l.banner_rows, banner, battr);
	draw_nodes(p, cols, &l);
	draw_events(p, cols, &l);
	put(stdscr, l.message, 1, cols - 1, p->message, tone_look(p->message_tone));
	draw_keys(p, l.keys, cols);
}

void panel_view_draw(struct panel *p)
{
	erase();
	curs_set(0);
	draw_main(p, LINES, COLS);
	wnoutrefresh(stdscr);
	if (LINES >= PANEL_MIN_LINES && COLS >= PANEL_MIN_COLS) {
		if (p->mode == MODE_HELP)
			help_text(&p->text);
		if (p->mode == MODE_HELP || p->mode == MODE_DETAIL)
			draw_text_view(p);
		else if (p->mode == MODE_FORM)
			draw_form(p);
	}
	doupdate();
}

void panel_view_resize(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
		resizeterm(ws.ws_row, ws.ws_col);
	clearok(curscr, TRUE);
}

static void setup_colors(void)
{
	const char *no_color = getenv("NO_COLOR");

	colors = !(no_color && no_color[0]) && has_colors() && start_color() == OK;
	if (!colors)
		return;
	use_default_colors();
	for (size_t i = 0; i < ARRAY_SIZE(pairs); i++)
		init_pair(pairs[i].pair, pairs[i].fg, pairs[i].bg);
}

int panel_view_open(struct panel *p)
{
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return -ENOTTY;
	screen = newterm(NULL, stdout, stdin);
	if (!screen)
		return -ENOENT;
	set_term(screen);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	setup_colors();
	p->color = colors;
	return 0;
}

void panel_view_close(void)
{
	if (!screen)
		return;
	endwin();
	delscreen(screen);
	screen = NULL;
}
