#include "os-infrastructure/format.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/units.h"

int format_parse(const char *text, enum format *out)
{
	static const char *const names[] = {
		[FORMAT_TABLE] = "table", [FORMAT_JSON] = "json",
		[FORMAT_YAML] = "yaml", [FORMAT_CSV] = "csv",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(text, names[i])) {
			*out = (enum format)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* %.15g round-trips every decimal of up to 15 digits, so 12.3 stays "12.3"
 * instead of jansson's default "12.300000000000001". */
static void real_text(double d, char *buf, size_t len)
{
	snprintf(buf, len, "%.15g", d);
	if (!strpbrk(buf, ".eEn"))
		strncat(buf, ".0", len - strlen(buf) - 1);
}

/* Returns a malloc'd text of any value, or NULL on allocation failure. */
static char *scalar_dup(const json_t *v)
{
	char buf[64];

	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_STRING:
		return strdup(json_string_value(v));
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return strdup(buf);
	case JSON_REAL:
		real_text(json_real_value(v), buf, sizeof(buf));
		return strdup(buf);
	case JSON_TRUE:
		return strdup("true");
	case JSON_FALSE:
		return strdup("false");
	case JSON_OBJECT:
	case JSON_ARRAY:
		return json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
	default:
		return strdup("");
	}
}

void format_scalar(const json_t *v, char *buf, size_t len)
{
	char *s = scalar_dup(v);

	snprintf(buf, len, "%s", s ? s : "");
	free(s);
}

void format_sanitize(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			p[0] = p[1] = '?';
	}
}

void fputs_clean(const char *s, FILE *f)
{
	char *copy = strdup(s);

	if (!copy)
		return;
	format_sanitize(copy);
	fputs(copy, f);
	free(copy);
}

/* Columns are measured in code points, not bytes. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void pad(FILE *f, size_t n, char c)
{
	while (n--)
		fputc(c, f);
}

static void table_rule(FILE *f, const size_t *widths, size_t ncols)
{
	fputc('+', f);
	for (size_t c = 0; c < ncols; c++) {
		pad(f, widths[c] + 2, '-');
		fputc('+', f);
	}
	fputc('\n', f);
}

static void table_header(FILE *f, const struct column *cols, const size_t *widths, size_t ncols)
{
	fputc('|', f);
	for (size_t c = 0; c < ncols; c++) {
		size_t room = widths[c] - text_width(cols[c].title);

		pad(f, 1 + room / 2, ' ');
		fputs(cols[c].title, f);
		pad(f, 1 + room - room / 2, ' ');
		fputc('|', f);
	}
	fputc('\n', f);
}

static void table_row(FILE *f, const struct column *cols, char *const *cells,
		      const size_t *widths, size_t ncols)
{
	fputc('|', f);
	for (size_t c = 0; c < ncols; c++) {
		size_t room = widths[c] - text_width(cells[c]);

		fputc(' ', f);
		if (cols[c].right)
			pad(f, room, ' ');
		fputs(cells[c], f);
		if (!cols[c].right)
			pad(f, room, ' ');
		fputs(" |", f);
	}
	fputc('\n', f);
}

static char *cell_text(const json_t *row, const struct column *col)
{
	char buf[512];
	const json_t *v;

	if (col->cell) {
		col->cell(row, col->key, buf, sizeof(buf));
		return strdup(buf);
	}
	v = col->key ? json_object_get(row, col->key) : NULL;
	if (!v || json_is_null(v))
		return strdup("-");
	return scalar_dup(v);
}

int format_table(FILE *f, const json_t *rows, const struct column *cols, size_t ncols)
{
	size_t nrows = json_array_size(rows), ncells = nrows * ncols;
	size_t *widths = calloc(ncols, sizeof(*widths));
	char **cells = calloc(ncells ? ncells : 1, sizeof(*cells));
	int ret = -ENOMEM;

	if (!widths || !cells)
		goto cleanup;
	for (size_t c = 0; c < ncols; c++)
		widths[c] = text_width(cols[c].title);
	for (size_t i = 0; i < ncells; i++) {
		size_t c = i % ncols;

		cells[i] = cell_text(json_array_get(rows, i / ncols), &cols[c]);
		if (!cells[i])
			goto cleanup;
		format_sanitize(cells[i]);
		if (text_width(cells[i]) > widths[c])
			widths[c] = text_width(cells[i]);
	}
	table_rule(f, widths, ncols);
	table_header(f, cols, widths, ncols);
	table_rule(f, widths, ncols);
	for (size_t r = 0; r < nrows; r++) {
		table_row(f, cols, cells + r * ncols, widths, ncols);
		table_rule(f, widths, ncols);
	}
	ret = ferror(f) ? -EIO : 0;
cleanup:
	for (size_t i = 0; cells && i < ncells; i++)
		free(cells[i]);
	free(cells);
	free(widths);
	return ret;
}

int format_json(FILE *f, const json_t *value)
{
	if (json_dumpf(value, f, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) < 0)
		return -EIO;
	fputc('\n', f);
	return ferror(f) ? -EIO : 0;
}

static bool yaml_reserved(const char *s)
{
	static const char *const words[] = {
		"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
		".inf", "-.inf", "+.inf", ".nan", "<<", "=",
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (!strcasecmp(s, words[i]))
			return true;
	}
	return false;
}

/* Decodes one UTF-8 sequence; malformed input (jansson never hands us any)
 * reads as U+FFFD one byte at a time. */
static size_t utf8_next(const unsigned char *p, uint32_t *cp)
{
	size_t n = *p < 0x80 ? 1 : *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc0 ? 2 : 0;

	if (!n) {
		*cp = 0xfffd;
		return 1;
	}
	*cp = n == 1 ? *p : *p & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80) {
			*cp = 0xfffd;
			return 1;
		}
		*cp = *cp << 6 | (p[i] & 0x3f);
	}
	return n;
}

/* What YAML will not carry in a plain scalar: controls, and the code
 * points it treats as line breaks or byte-order marks. */
static bool yaml_unprintable(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0xfeff || cp == 0xfffe || cp == 0xffff || (cp >= 0xd800 && cp <= 0xdfff);
}

bool yaml_needs_quotes(const char *s)
{
	size_t n = strlen(s);
	uint32_t cp;

	if (!n || yaml_reserved(s))
		return true;
	/* Indicators, and anything that might read as a number, date or time. */
	if (strchr("-?:,[]{}#&*!|>'\"%@`", s[0]) || (s[0] >= '0' && s[0] <= '9'))
		return true;
	if ((s[0] == '+' || s[0] == '.') && s[1] >= '0' && s[1] <= '9')
		return true;
	if (s[0] == ' ' || s[n - 1] == ' ' || s[n - 1] == ':')
		return true;
	if (strstr(s, ": ") || strstr(s, " #"))
		return true;
	for (const unsigned char *p = (const unsigned char *)s; *p; ) {
		p += utf8_next(p, &cp);
		if (yaml_unprintable(cp))
			return true;
	}
	return false;
}

static void yaml_escape(FILE *f, uint32_t cp)
{
	switch (cp) {
	case '"': fputs("\\\"", f); break;
	case '\\': fputs("\\\\", f); break;
	case '\n': fputs("\\n", f); break;
	case '\t': fputs("\\t", f); break;
	case '\r': fputs("\\r", f); break;
	default:
		fprintf(f, cp < 0x100 ? "\\x%02x" : "\\u%04x", (unsigned)cp);
	}
}

void yaml_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t n;

	if (!yaml_needs_quotes(s)) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *p; p += n) {
		n = utf8_next(p, &cp);
		if (cp == '"' || cp == '\\' || yaml_unprintable(cp))
			yaml_escape(f, cp);
		else if (cp == 0xfffd && n == 1)
			fputs("\\ufffd", f);
		else
			fwrite(p, 1, n, f);
	}
	fputc('"', f);
}

static void yaml_scalar(FILE *f, const json_t *v)
{
	char buf[64];

	switch (json_typeof(v)) {
	case JSON_STRING:
		yaml_string(f, json_string_value(v));
		break;
	case JSON_NULL:
		fputs("null", f);
		break;
	default:
		format_scalar(v, buf, sizeof(buf));
		fputs(buf, f);
	}
}

static bool yaml_is_block(const json_t *v)
{
	return (json_is_object(v) && json_object_size(v)) || (json_is_array(v) && json_array_size(v));
}

static void yaml_node(FILE *f, const json_t *v, int indent, bool inline_first);

/* After "key:" or "-": a scalar or empty collection stays on the line. */
static void yaml_value(FILE *f, const json_t *v, int indent)
{
	if (yaml_is_block(v)) {
		fputc('\n', f);
		yaml_node(f, v, indent, false);
	} else if (json_is_object(v)) {
		fputs(" {}\n", f);
	} else if (json_is_array(v)) {
		fputs(" []\n", f);
	} else {
		fputc(' ', f);
		yaml_scalar(f, v);
		fputc('\n', f);
	}
}

static void yaml_node(FILE *f, const json_t *v, int indent, bool inline_first)
{
	const char *key;
	json_t *item;
	size_t i;
	bool first = true;

	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, item) {
			if (!(first && inline_first))
				pad(f, (size_t)indent, ' ');
			first = false;
			yaml_string(f, key);
			fputc(':', f);
			yaml_value(f, item, indent + 2);
		}
		return;
	}
	json_array_foreach(v, i, item) {
		if (!(first && inline_first))
			pad(f, (size_t)indent, ' ');
		first = false;
		fputc('-', f);
		if (json_is_object(item) && json_object_size(item)) {
			fputc(' ', f);
			yaml_node(f, item, indent + 2, true);
		} else {
			yaml_value(f, item, indent + 2);
		}
	}
}

int format_yaml(FILE *f, const json_t *value)
{
	if (yaml_is_block(value)) {
		yaml_node(f, value, 0, false);
	} else if (json_is_object(value)) {
		fputs("{}\n", f);
	} else if (json_is_array(value)) {
		fputs("[]\n", f);
	} else {
		yaml_scalar(f, value);
		fputc('\n', f);
	}
	return ferror(f) ? -EIO : 0;
}

static void csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_record(FILE *f, const char *const *fields, size_t n)
{
	/* A lone empty field would be a blank line, which readers skip. */
	if (n == 1 && !fields[0][0]) {
		fputs("\"\"\r\n", f);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		csv_field(f, fields[i]);
	}
	fputs("\r\n", f);
}

int format_csv(FILE *f, const json_t *rows, const char *const *keys, size_t nkeys, bool header)
{
	char **fields = calloc(nkeys ? nkeys : 1, sizeof(*fields));
	json_t *row;
	size_t r;
	int ret = -ENOMEM;

	if (!fields)
		return -ENOMEM;
	if (header)
		csv_record(f, keys, nkeys);
	json_array_foreach(rows, r, row) {
		for (size_t k = 0; k < nkeys; k++) {
			fields[k] = scalar_dup(json_object_get(row, keys[k]));
			if (!fields[k])
				goto cleanup;
		}
		csv_record(f, (const char *const *)fields, nkeys);
		for (size_t k = 0; k < nkeys; k++) {
			free(fields[k]);
			fields[k] = NULL;
		}
	}
	ret = ferror(f) ? -EIO : 0;
cleanup:
	for (size_t k = 0; k < nkeys; k++)
		free(fields[k]);
	free(fields);
	return ret;
}

void format_age(uint64_t ms, char *buf, size_t len)
{
	static const struct { uint64_t ms; char unit; } units[] = {
		{ 86400000, 'd' }, { 3600000, 'h' }, { 60000, 'm' },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms >= units[i].ms) {
			snprintf(buf, len, "%llu%c ago", (unsigned long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	}
	snprintf(buf, len, "%llus ago", (unsigned long long)(ms / 1000));
}

/* A count or size from the API: a non-negative integer, or nothing. */
static bool json_count(const json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

void format_age_json(const json_t *ms, char *buf, size_t len)
{
	uint64_t n;

	if (json_count(ms, &n))
		format_age(n, buf, len);
	else if (json_is_integer(ms))
		format_age(0, buf, len); /* a clock stepped back: it was just now */
	else
		snprintf(buf, len, "never");
}

void format_bytes_json(const json_t *bytes, char *buf, size_t len)
{
	uint64_t n;

	if (json_count(bytes, &n))
		format_size(n, buf, len);
	else
		snprintf(buf, len, "-");
}

void format_mem_pair(const json_t *avail, const json_t *total, char *buf, size_t len)
{
	char a[32], t[32];
	uint64_t x, y;

	if (!json_count(avail, &x) || !json_count(total, &y)) {
		snprintf(buf, len, "-");
		return;
	}
	format_size(x, a, sizeof(a));
	format_size(y, t, sizeof(t));
	snprintf(buf, len, "%s/%s", a, t);
}

void format_cpu(const json_t *percent, const json_t *ncpu, char *buf, size_t len)
{
	uint64_t n;

	if (!json_is_number(percent))
		snprintf(buf, len, "-");
	else if (json_count(ncpu, &n))
		snprintf(buf, len, "%.1f%% of %llu", json_number_value(percent), (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f%%", json_number_value(percent));
}

void format_time(const json_t *unix_s, char *buf, size_t len)
{
	time_t t;
	struct tm tm;

	if (!json_is_integer(unix_s)) {
		snprintf(buf, len, "-");
		return;
	}
	t = (time_t)json_integer_value(unix_s);
	if (!localtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "-");
}

/* "12.0M of 1.1G", or "" while the total is unknown. */
static void move_sizes(const json_t *mv, char *buf, size_t len)
{
	uint64_t bytes = 0, total = 0;
	char a[32], b[32];

	buf[0] = '\0';
	if (!json_count(json_object_get(mv, "total"), &total) || !total)
		return;
	json_count(json_object_get(mv, "bytes"), &bytes);
	format_size(bytes, a, sizeof(a));
	format_size(total, b, sizeof(b));
	snprintf(buf, len, "%s of %s", a, b);
}

static const char *move_str(const json_t *mv, const char *key)
{
	const char *s = json_string_value(json_object_get(mv, key));

	return s ? s : "?";
}

bool format_move(const json_t *mv, char *buf, size_t len)
{
	const char *detail = json_string_value(json_object_get(mv, "detail"));
	char sizes[72];

	buf[0] = '\0';
	if (!json_is_object(mv))
		return false;
	detail = detail ? detail : "";
	move_sizes(mv, sizes, sizeof(sizes));
	snprintf(buf, len, "%s from %s to %s%s%s%s%s", move_str(mv, "phase"), move_str(mv, "source"),
		 move_str(mv, "target"), sizes[0] ? ", " : "", sizes, detail[0] ? " — " : "", detail);
	format_sanitize(buf);
	return true;
}

bool format_move_brief(const json_t *mv, char *buf, size_t len)
{
	const char *detail = json_string_value(json_object_get(mv, "detail"));
	char sizes[72];

	buf[0] = '\0';
	if (!json_is_object(mv))
		return false;
	detail = detail ? detail : "";
	move_sizes(mv, sizes, sizeof(sizes));
	snprintf(buf, len, "→ %s %s%s%s%s%s", move_str(mv, "target"), move_str(mv, "phase"),
		 sizes[0] ? " " : "", sizes, detail[0] ? ", " : "", detail);
	format_sanitize(buf);
	return true;
}
