/* The status reply's text, written without a json_t per node (api.c). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "service-vm-fleet/registry.h"

/* head: {"ok":true,"fleet":{...}}; guests: the array or NULL (then no
 * "guests" member); nodes sorted as they are to be listed. Returns what
 * json_dumps(JSON_COMPACT) gives for head with "nodes" (node_json of each)
 * and "guests" appended, or NULL without memory. */
char *status_text_join(const json_t *head, const json_t *guests, const struct registry *r,
		       const struct node *const *nodes, uint64_t now, size_t *len);
