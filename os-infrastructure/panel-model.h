/* What the admin panel shows, computed from the fleet's replies
 * (service-vm-fleet/api.h). Pure: no curses and no I/O, so that the unit
 * tests can pin every row, bar and banner. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PANEL_TEXT_LINES 48
#define PANEL_TEXT_COLS 160
#define PANEL_EVENTS 50

/* How a piece of text should stand out; the view maps it to a colour or,
 * under NO_COLOR, to an attribute. */
enum tone { TONE_NORMAL, TONE_GOOD, TONE_WARN, TONE_BAD, TONE_DIM };

enum row_kind { ROW_NODE, ROW_GUEST, ROW_NOTE };

struct panel_row {
	enum row_kind kind;
	const json_t *obj;        /* the NODE or GUEST, owned by the model */
	enum tone tone;           /* of the state */
	char name[64];
	char state[16];
	char cpu[24];             /* node: "12.5% of 4"; guest: "2 vCPU" */
	char mem[72];             /* node: "4.8G/7.8G" taken of total; guest: "2.0G" */
	bool has_bar;             /* node: used, pending and total are known */
	uint64_t used, pending, total;
	char seen[24];            /* node: "3s ago"; guest: its type */
	char info[160];           /* node: guests running; guest: detail; note: the text */
};

/* One round of replies, as the connection thread hands it over. */
struct panel_snapshot {
	bool reachable;
	unsigned attempts;        /* failed connection attempts in a row */
	char where[256];          /* the socket path or HOST:PORT */
	char error[512];          /* why the fleet cannot be reached */
	json_t *status;           /* replies, or NULL when that call failed */
	json_t *vmlist;
	json_t *events;
	char vmlist_error[256];
	char status_error[512];
};

enum guests_source { GUESTS_NONE, GUESTS_OK, GUESTS_UNSUPPORTED, GUESTS_FAILED };

struct panel_model {
	json_t *status, *guests, *events;  /* the last good replies (owned) */
	enum guests_source gsrc;
	char gerror[256];
	bool reachable, ever_reached;
	unsigned attempts;
	char where[256], error[512];
	uint64_t updated_ms;               /* when status last arrived (caller's clock) */

	struct panel_row *rows;
	size_t nrows, cap;
	size_t sel, top;                   /* selected row, first row on screen */
	enum row_kind sel_kind;
	char sel_name[64];

	char watch[64];                    /* a guest whose progress is reported */
	char watch_state[16];
};

struct panel_text {
	char title[PANEL_TEXT_COLS];
	char line[PANEL_TEXT_LINES][PANEL_TEXT_COLS];
	enum tone tone[PANEL_TEXT_LINES];
	size_t n;
};

void panel_model_init(struct panel_model *m);
void panel_model_free(struct panel_model *m);
/* Takes the snapshot's replies (leaving NULLs behind) and rebuilds the rows,
 * keeping the selection on the same node or guest. -ENOMEM. */
int panel_model_take(struct panel_model *m, struct panel_snapshot *s, uint64_t now_ms);
/* Rebuilds the rows from the replies held. */
int panel_model_rows(struct panel_model *m);
/* True if a failed vm-list means the fleet does not have the operation. */
bool panel_unknown_op(const char *error);

/* Moves the selection by delta rows (notes are skipped), clamped. */
void panel_model_move(struct panel_model *m, long delta);
/* Adjusts m->top so that the selection is within `visible` rows. */
void panel_model_scroll(struct panel_model *m, size_t visible);
/* The selected row, or NULL when there is none. */
const struct panel_row *panel_model_selected(const struct panel_model *m);
bool panel_model_select(struct panel_model *m, enum row_kind kind, const char *name);

/* Reports, once per change, the state of the guest being watched. */
void panel_model_watch(struct panel_model *m, const char *guest);
bool panel_model_progress(struct panel_model *m, char *buf, size_t len, enum tone *tone);

/* The line across the top when something is wrong: the fleet unreachable,
 * or evictions on hold. False when there is nothing to say. */
bool panel_banner(const struct panel_model *m, char *buf, size_t len, enum tone *tone);
/* "Evictions are on hold: ..." from a status reply; false if not holding. */
bool panel_hold_text(const json_t *status, char *buf, size_t len);
/* The title line's fleet summary: "fleet f1 v0.1.0 up 2h  3 live 1 evicted". */
void panel_summary(const struct panel_model *m, char *buf, size_t len);

/* An htop-style bar exactly `width` columns wide, "[|||##    4.8G/7.8G]":
 * '|' used, '#' reserved for pending guests, the label right-aligned inside
 * when it fits. buf holds width + 1 bytes. */
void panel_bar(char *buf, size_t width, uint64_t used, uint64_t pending, uint64_t total,
	       const char *label);
/* "10:05:01 evicted      n2       silent for 3.0 s" */
void panel_event_line(const json_t *event, char *buf, size_t len);
enum tone panel_event_tone(const json_t *event);
enum tone panel_guest_tone(const char *state);

/* Everything about the selected row, for the detail view. */
void panel_detail(const struct panel_model *m, struct panel_text *t);
void panel_text_clear(struct panel_text *t);
void panel_text_add(struct panel_text *t, enum tone tone, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Where things go on a lines x cols screen. */
struct panel_layout {
	bool too_small;
	int banner, banner_rows;  /* the banner's first row (or -1) and its rows */
	int nodes_top, nodes_rows;  /* the header row, then nodes_rows rows */
	int events_top, events_rows;
	int message, keys;
	int bar_width;            /* the RAM bar's columns */
};

#define PANEL_MIN_COLS 60
#define PANEL_MIN_LINES 14
/* banner_rows: 0 without a banner, else how many rows it wraps to (1-2). */
void panel_layout(int lines, int cols, int banner_rows, struct panel_layout *l);
