/* Logging to stderr: one line per event, with a level and the program's name.
 * Control characters in a message are escaped (lib/sanitize.h), so a
 * relayed string cannot start a line of its own. Never pass secrets. */
#pragma once
#include <stdarg.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *progname);
void log_set_level(enum log_level level);
/* Parses "error", "warn", "info" or "debug"; returns -EINVAL otherwise. */
int log_level_parse(const char *text, enum log_level *out);
enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
