/* The new-VM form: type, name, memory and node, the fleet's ranking of the
 * nodes for it, and the plan that F9 confirms. Pure like panel-model.h: it
 * builds requests and reads replies, and the panel carries them.
 *
 * While the operator edits, the ranking comes from a dry-run "place" (it
 * changes nothing and holds no name). F9 asks for the plan ("vm-plan") of
 * exactly what is on screen; when the plan's node is the one shown, the
 * panel confirms it ("vm-confirm", how "panel-f9") at once, otherwise it
 * shows the plan and waits for another F9. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/guest-types.h"
#include "os-infrastructure/panel-model.h"
#include "lib/wire-heartbeat.h"

/* Keys, as the panel understands them (panel-input.c maps the terminal's). */
enum panel_key {
	PK_NONE, PK_CHAR, PK_UP, PK_DOWN, PK_LEFT, PK_RIGHT, PK_HOME, PK_END, PK_PGUP, PK_PGDN,
	PK_TAB, PK_BTAB, PK_ENTER, PK_ESC, PK_BACKSPACE, PK_KILL,
	PK_F1, PK_F2, PK_F5, PK_F9, PK_F10, PK_RESIZE,
};

struct panel_input {
	enum panel_key key;
	uint32_t ch;              /* PK_CHAR: the character */
};

enum form_field { FORM_TYPE, FORM_NAME, FORM_MEMORY, FORM_NODE, FORM__FIELDS };

#define FORM_NODES_MAX 128
#define FORM_MEMORY_MAX 15
#define FORM_MIN_MEMORY (32ULL << 20)  /* what the fleet accepts */

struct panel_form {
	enum form_field field;
	unsigned type;                          /* guest_type_at() index */
	char name[GUEST_NAME_MAX + 1];
	char memory[FORM_MEMORY_MAX + 1];       /* empty: the type's default */
	char nodes[FORM_NODES_MAX][NODE_NAME_MAX + 1];
	size_t nnodes;
	size_t node;                            /* 0: the fleet's advice; i: nodes[i - 1] */

	uint64_t gen;                           /* bumped when the plan would differ */
	uint64_t rank_gen;                      /* bumped when the ranking would differ */

	json_t *ranking;                        /* the last "place" reply (owned) */
	uint64_t ranking_gen;
	char ranking_error[256];

	json_t *plan;                           /* the plan shown, awaiting F9 (owned) */
	uint64_t plan_gen;
	char notice[256];                       /* a refusal, or why F9 cannot go yet */
	enum tone notice_tone;
	bool busy;                              /* a plan or confirmation is under way */
};

void form_init(struct panel_form *f);
void form_free(struct panel_form *f);
/* Applies one key; true if anything changed. */
bool form_key(struct panel_form *f, const struct panel_input *in);
/* 0, or -EINVAL with the first problem in `why`. */
int form_check(const struct panel_form *f, char *why, size_t len);
/* The memory asked for: the field, or the type's default. -EINVAL if bad. */
int form_memory(const struct panel_form *f, uint64_t *bytes);
const struct guest_type *form_type(const struct panel_form *f);
/* The node the operator chose, or NULL for the fleet's advice. */
const char *form_node(const struct panel_form *f);

/* The dry-run ranking for the current type and memory; NULL if the memory
 * field is not a size. */
json_t *form_place_request(const struct panel_form *f);
/* Takes a "place" reply (or its error) asked for at rank generation gen. */
void form_ranked(struct panel_form *f, uint64_t gen, json_t *reply, const char *error);
/* The fleet's advice in the ranking on screen, or NULL. */
const char *form_advice(const struct panel_form *f);

/* What F9 does: a "vm-plan" to ask for, a "vm-confirm" of the plan on
 * screen, or NULL with the reason in f->notice. */
json_t *form_f9_request(struct panel_form *f);
/* Takes a vm-plan reply asked for at generation gen. True when the plan is
 * exactly what was on screen, so that it may be confirmed now. */
bool form_planned(struct panel_form *f, uint64_t gen, json_t *reply, const char *error);
/* A plan for exactly what the form holds is on screen. */
bool form_plan_shown(const struct panel_form *f);
/* A vm-confirm failed: says why and drops the plan. */
void form_confirm_failed(struct panel_form *f, const char *error);

/* "n2 (the fleet's advice)", "n1 (your choice, rank 2)", ... */
void form_node_label(const struct panel_form *f, char *buf, size_t len);
/* The lower half of the form: the ranking, the plan, the notice. */
void form_lines(const struct panel_form *f, struct panel_text *t);
