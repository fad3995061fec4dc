/* The fleet's replies are jansson's compact text. Parsing 10,000 nodes into
 * a json_t tree only to print them indented costs more than everything else
 * in `status --format json`, so this rewrites the text directly into what
 * format_json() would print for the tree, byte for byte. It knows only the
 * subset it can prove equal (no escapes, no whitespace, plain integers; reals
 * go through jansson) and declines anything else, leaving the caller to take
 * the tree path. */
#pragma once
#include <stddef.h>
#include <stdio.h>

/* text: a JSON object whose member `drop` is true, e.g. {"ok":true,...}.
 * Prints it indented, without that member, followed by a newline. Returns 0
 * when printed, 1 when declined (nothing printed), -errno on failure. */
int json_reindent(FILE *f, const char *text, size_t len, const char *drop);
