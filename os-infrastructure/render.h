/* What each command shows, drawn from an API reply (service-vm-fleet/api.h).
 * Pure like format.h: no I/O except the FILE* given, so tests pin the text.
 * JSON and YAML show the reply without its "ok" key. */
#pragma once
#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "os-infrastructure/format.h"

int render_status(FILE *f, const json_t *reply, enum format fmt);
int render_node(FILE *f, const json_t *reply, enum format fmt);
int render_place(FILE *f, const json_t *reply, enum format fmt);
int render_events(FILE *f, const json_t *reply, enum format fmt);
/* A vm-list reply ("guests") or a vm-show / vm-confirm reply ("guest"). */
int render_guests(FILE *f, const json_t *reply, enum format fmt);
/* A vm-plan reply, for a person about to confirm it. */
int render_plan(FILE *f, const json_t *reply);
/* One event as it arrives under --follow: a line of text, a line of compact
 * JSON, a YAML list item, or a CSV record (the header before the first). */
void render_event_stream(FILE *f, const json_t *event, enum format fmt, bool first);
