/* Configuration: a file of "key = value" lines ('#' comments), then
 * command-line overrides "--set key=value", then validation. Each program
 * declares its keys in a table with a default and one line of documentation;
 * docs/operator.md lists them all (`<program> --help-config` prints them). */
#pragma once
#include <stddef.h>
#include <stdint.h>

enum config_type { CFG_STRING, CFG_UINT, CFG_SIZE, CFG_DURATION_MS, CFG_PERCENT };

struct config_key {
	const char *name;
	enum config_type type;
	size_t offset;     /* offsetof() into the program's config struct */
	size_t size;       /* for CFG_STRING: the char array's size */
	const char *def;   /* default, in the same text form as the file */
	const char *doc;
};

/* Strings are char arrays; numbers are uint64_t (ms for durations, bytes for
 * sizes, 0..100 for percent). */
int config_defaults(const struct config_key *keys, size_t n, void *cfg, char *err, size_t errlen);
int config_set(const struct config_key *keys, size_t n, void *cfg, const char *key,
	       const char *value, char *err, size_t errlen);
/* Parses file text: unknown keys and malformed lines are errors ("line N: ..."). */
int config_parse(const struct config_key *keys, size_t n, void *cfg, const char *text,
		 char *err, size_t errlen);
/* Loads path if it exists; a missing file is not an error when optional. */
int config_load(const struct config_key *keys, size_t n, void *cfg, const char *path,
		int optional, char *err, size_t errlen);
/* Applies one "key=value" override. */
int config_override(const struct config_key *keys, size_t n, void *cfg, const char *kv,
		    char *err, size_t errlen);
void config_print_help(const struct config_key *keys, size_t n);
