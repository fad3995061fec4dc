/* The four appliance guest types and what the fleet needs to know of each:
 * default size and the placement rule. images/<type>.json carries the rest
 * (disks, cloud-init); a unit test keeps the sizes of both in agreement. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct guest_type {
	const char *name;          /* "totebox", ... */
	const char *title;         /* "Totebox" */
	uint32_t vcpus;
	uint64_t memory_bytes;
	bool named_node_only;      /* placed only on a node the operator names */
	const char *purpose;       /* one line for people */
};

/* NULL if unknown. */
const struct guest_type *guest_type_find(const char *name);
const struct guest_type *guest_type_at(unsigned i);   /* NULL past the end */
/* "totebox, mediakit, orchestration, privategit" */
const char *guest_type_names(void);

/* Guest names become libvirt domain and volume names: 1..63 of [a-z0-9-],
 * not starting or ending with '-'. */
#define GUEST_NAME_MAX 63
bool guest_name_valid(const char *name);
