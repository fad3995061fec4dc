#include "lib/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/sanitize.h"

static const char *prog = "os-infrastructure";
static enum log_level threshold = LOG_LVL_INFO;
static const char *const names[] = { "error", "warn", "info", "debug" };

void log_init(const char *progname)
{
	if (progname)
		prog = progname;
}

void log_set_level(enum log_level level)
{
	threshold = level;
}

enum log_level log_get_level(void)
{
	return threshold;
}

int log_level_parse(const char *text, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(text, names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* fmt's text with its control characters escaped (lib/sanitize.h), so that
 * a message carrying a peer's newline or escape sequence stays one line:
 * in buf if it fits, else malloc'ed; NULL only if out of memory. */
__attribute__((format(printf, 3, 0)))
static char *format_clean(char *buf, size_t cap, const char *fmt, va_list ap)
{
	char raw[1024], *text = raw, *out = buf;
	va_list again;
	size_t need;
	int n;

	va_copy(again, ap);
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	if (n >= (int)sizeof(raw)) {
		text = malloc((size_t)n + 1);
		if (text)
			vsnprintf(text, (size_t)n + 1, fmt, again);
		else
			text = raw; /* truncated rather than lost */
	}
	va_end(again);
	if (n < 0)
		raw[0] = '\0';
	need = sanitize_text(buf, cap, text) + 1;
	if (need > cap) {
		out = malloc(need);
		if (out)
			sanitize_text(out, need, text);
		else
			out = buf;
	}
	if (text != raw)
		free(text);
	return out;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char stamp[32], buf[2048], *msg;
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (level > threshold)
		return;
	/* Wall-clock time is for the reader only; nothing is decided on it. */
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	msg = format_clean(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	flockfile(stderr);
	fprintf(stderr, "%s.%03ldZ %s[%s] %s\n", stamp, ts.tv_nsec / 1000000, prog, names[level], msg);
	funlockfile(stderr);
	if (msg != buf)
		free(msg);
}
