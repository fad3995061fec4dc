/* The appliance guest types: one table, the single source of truth for which
 * types exist, their default size, their placement rule and the manifest that
 * carries the rest (images/<manifest>: disks, base image, cloud-init). The
 * fleet, the CLI, the panel, the agent and virt/ all look types up here. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

struct guest_type {
	const char *name;          /* "totebox", ... as on the wire and in argv */
	const char *title;         /* "Totebox" */
	uint32_t vcpus;            /* default size */
	uint64_t memory_bytes;
	bool named_node_only;      /* placed only on a node the operator names */
	const char *manifest;      /* "totebox.json", relative to the images directory */
	const char *purpose;       /* one line for people */
};

/* Entries in the table; virt/'s enum virt_guest_type indexes it. */
#define GUEST_TYPE_COUNT 4

/* NULL if unknown. */
const struct guest_type *guest_type_find(const char *name);
const struct guest_type *guest_type_at(unsigned i);   /* NULL past the end */
/* The entry's position in the table: guest_type_at(guest_type_index(t)) == t. */
unsigned guest_type_index(const struct guest_type *t);
/* "totebox, mediakit, orchestration, privategit": every name, in table order. */
const char *guest_type_names(void);

/* Guest names become libvirt domain and volume names: 1..63 of [a-z0-9-],
 * not starting or ending with '-'. */
#define GUEST_NAME_MAX 63
bool guest_name_valid(const char *name);
