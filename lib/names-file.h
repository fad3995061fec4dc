/* The names file: what the agent asks the privileged helper to serve as
 * DNS host entries on the guest network. The agent writes it; the helper
 * runs as root and treats it as untrusted input, so everything is checked
 * and one bad line refuses the whole file. Format, one entry a line:
 *   A.B.C.D FQDN\n
 * an IPv4 dotted quad (no leading zeros) inside the guest prefix or the mesh
 * prefix, one space, and a name of lowercase hostname labels ending in
 * ".<zone>" (at least one label before it, NAMES_FQDN_MAX characters at
 * most), each name once; at most NAMES_FILE_LINES lines and
 * NAMES_FILE_BYTES bytes, every line ending in a newline. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NAMES_FQDN_MAX 253
#define NAMES_FILE_LINES 8192
#define NAMES_FILE_BYTES (1u << 20)

struct names_entry {
	uint32_t addr;                    /* host byte order */
	char name[NAMES_FQDN_MAX + 1];
};

struct names_scope {
	const char *zone;
	uint32_t guest_addr;              /* the guest prefix */
	uint8_t guest_len;
	uint32_t mesh_addr;               /* the mesh prefix */
	uint8_t mesh_len;
};

/* A zone: one or more hostname labels joined by '.', at most 200 characters
 * (room for a guest's or a node's label in front). */
#define NAMES_ZONE_MAX 200
bool names_zone_valid(const char *zone);

/* Pure. *out is malloc'd (NULL when *n is 0); err names the line on failure. */
int names_file_parse(const char *buf, size_t len, const struct names_scope *s,
		     struct names_entry **out, size_t *n, char *err, size_t errlen);
/* Opens path O_NOFOLLOW (a regular file, NAMES_FILE_BYTES at most) and parses it. */
int names_file_load(const char *path, const struct names_scope *s, struct names_entry **out,
		    size_t *n, char *err, size_t errlen);
