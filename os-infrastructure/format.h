/* Output formats for the operator CLI. Everything here is pure: it renders
 * values it is given to a FILE* and never talks to the fleet, so the tests
 * can compare exact strings. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

enum format { FORMAT_TABLE, FORMAT_JSON, FORMAT_YAML, FORMAT_CSV };

/* "table", "json", "yaml" or "csv"; -EINVAL otherwise. */
int format_parse(const char *text, enum format *out);

/* One column of a table: a title and how to draw a row's cell. With no cell
 * function the cell is the scalar under `key` ("-" when absent or null). */
struct column {
	const char *title;
	const char *key;
	void (*cell)(const json_t *row, const char *key, char *buf, size_t len);
	bool right;
};

/* Draws an array of objects as a bordered table in the style of
 * `incus cluster list`. Control characters in cells are shown as '?'. */
int format_table(FILE *f, const json_t *rows, const struct column *cols, size_t ncols);
/* Pretty JSON, keys in the order received, one trailing newline. */
int format_json(FILE *f, const json_t *value);
/* Block-style YAML; strings are quoted whenever a plain scalar could be
 * read back as something else. */
int format_yaml(FILE *f, const json_t *value);
/* RFC 4180: a header row of `keys` (unless !header, for rows appended later),
 * then one row per object, CRLF line ends. Nulls and absent keys are empty
 * fields; nested values are compact JSON. */
int format_csv(FILE *f, const json_t *rows, const char *const *keys, size_t nkeys, bool header);
/* Replaces control characters (C0, DEL, C1) with '?': text from the network
 * must not be able to move the cursor or retitle the terminal. */
void format_sanitize(char *s);
/* fputs of a sanitized copy. */
void fputs_clean(const char *s, FILE *f);

/* A scalar as plain text: strings verbatim, reals to 15 significant digits,
 * null as ""; compact JSON for arrays and objects. */
void format_scalar(const json_t *v, char *buf, size_t len);
/* True if s must be quoted to survive as a YAML plain scalar. */
bool yaml_needs_quotes(const char *s);
void yaml_string(FILE *f, const char *s);

/* "3s ago", "2m ago", "1h ago", "4d ago". */
void format_age(uint64_t ms, char *buf, size_t len);
/* The age of a JSON value holding milliseconds, or "never" for null/absent. */
void format_age_json(const json_t *ms, char *buf, size_t len);
/* "3.1G/7.8G" from two byte counts; "-" when either is missing. */
void format_mem_pair(const json_t *avail, const json_t *total, char *buf, size_t len);
/* A JSON byte count as "2.0G", or "-". */
void format_bytes_json(const json_t *bytes, char *buf, size_t len);
/* "12.5% of 4", "12.5%" without ncpu, "-" without a sample. */
void format_cpu(const json_t *percent, const json_t *ncpu, char *buf, size_t len);
/* Local wall-clock time of a unix timestamp, "2024-05-01 12:00:03". */
void format_time(const json_t *unix_s, char *buf, size_t len);
/* A guest's "move" (vm-show, vm-list) on one line, control characters
 * shown as '?': "transfer from a to b, 12.0M of 1.1G — 95.0 MiB/s, 11 s left";
 * no sizes while the total is unknown (0). False, and "", if mv is no object. */
bool format_move(const json_t *mv, char *buf, size_t len);
/* Its short form for a row: "→ b transfer 12.0M of 1.1G, 95.0 MiB/s, 11 s left". */
bool format_move_brief(const json_t *mv, char *buf, size_t len);
