/* The admin panel (os-infrastructure panel, also app-network-admin): a full
 * screen view of the fleet from its operator API, and the one place where
 * the operator confirms a new VM with F9.
 *
 *   cmd-panel.c    the command and its event loop (keys, replies, signals)
 *   panel-conn.c   a thread that talks to the fleet: refresh every second,
 *                  reconnect when it goes away, carry the form's requests
 *   panel-model.c  replies -> rows, bars, banners (pure)
 *   panel-form.c   the new-VM form (pure)
 *   panel-input.c  keys -> actions
 *   panel-view.c   drawing (ncursesw) */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "os-infrastructure/cmd.h"
#include "os-infrastructure/panel-form.h"
#include "os-infrastructure/panel-model.h"

#define PANEL_ALIAS "app-network-admin"
#define PANEL_REFRESH_MS 1000

extern const struct cmd cmd_panel;

/* The connection thread. */
enum panel_job { JOB_RANK, JOB_PLAN, JOB_CONFIRM, JOB__COUNT };

struct panel_result {
	enum panel_job job;
	uint64_t tag;             /* what the submitter passed */
	int ret;                  /* 0, -EREMOTEIO (the fleet said no), or another -errno */
	json_t *reply;            /* owned by the taker */
	char error[512];
};

struct panel_conn;

int panel_conn_start(struct panel_conn **out, const struct cli *cli, unsigned interval_ms);
void panel_conn_stop(struct panel_conn *c);
/* Readable when a snapshot or a result waits; drain it before taking. */
int panel_conn_fd(const struct panel_conn *c);
void panel_conn_drain(struct panel_conn *c);
void panel_conn_refresh(struct panel_conn *c);
/* Takes the request; a pending job of the same kind is replaced. */
void panel_conn_submit(struct panel_conn *c, enum panel_job job, json_t *request, uint64_t tag);
bool panel_conn_snapshot(struct panel_conn *c, struct panel_snapshot *out);
bool panel_conn_result(struct panel_conn *c, struct panel_result *out);
void panel_snapshot_free(struct panel_snapshot *s);

enum panel_mode { MODE_MAIN, MODE_DETAIL, MODE_HELP, MODE_FORM };

struct panel {
	struct panel_model model;
	struct panel_form form;
	struct panel_text text;   /* the detail or help view, or the form's lower half */
	enum panel_mode mode;
	enum panel_mode help_back;  /* where Esc leaves the help view */
	struct panel_conn *conn;
	bool color, quit;
	char message[512];
	enum tone message_tone;
	uint64_t rank_asked;      /* the form's rank generation last asked for */
	uint64_t rank_asked_ms;
};

void panel_message(struct panel *p, enum tone tone, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* panel-input.c */
struct panel_input panel_input_from_curses(int ret, uint32_t wch);
void panel_on_key(struct panel *p, const struct panel_input *in);
/* Opens the form and asks for its ranking. */
void panel_open_form(struct panel *p);
/* Sends what F9 means in the form now. */
void panel_form_f9(struct panel *p);
/* Keeps the form's ranking fresh; call on every turn of the loop. */
void panel_form_tick(struct panel *p, uint64_t now_ms);
/* A reply to one of the form's requests. */
void panel_on_result(struct panel *p, struct panel_result *r);

/* panel-view.c */
int panel_view_open(struct panel *p);
void panel_view_close(void);
void panel_view_resize(void);
void panel_view_draw(struct panel *p);
