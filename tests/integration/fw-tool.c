/* A small driver of lib/firewall.h for the integration tests.
 *
 *   fw-tool apply IF ADDR...      the table for mesh interface IF, members ADDR
 *   fw-tool ceremony PORT SECONDS open a ceremony port for SECONDS (0 closes all)
 *   fw-tool remove                delete the table */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/firewall.h"

static int usage(void)
{
	fprintf(stderr, "usage: fw-tool apply IF ADDR... | ceremony PORT SECONDS | remove\n");
	return 2;
}

static int done(int ret, const char *err)
{
	if (ret < 0) {
		fprintf(stderr, "fw-tool: %s\n", err[0] ? err : strerror(-ret));
		return 1;
	}
	return 0;
}

static int apply(int argc, char **argv)
{
	uint32_t addrs[64];
	struct fw_spec s = { .members = addrs };
	struct in_addr a;
	char err[512] = "";

	if (argc < 2 || argc - 2 > 64)
		return usage();
	snprintf(s.mesh_if, sizeof(s.mesh_if), "%s", argv[1]);
	for (int i = 2; i < argc; i++) {
		if (inet_pton(AF_INET, argv[i], &a) != 1)
			return usage();
		addrs[s.nmembers++] = ntohl(a.s_addr);
	}
	return done(fw_apply(&s, err, sizeof(err)), err);
}

int main(int argc, char **argv)
{
	char err[512] = "";

	if (argc >= 2 && !strcmp(argv[1], "apply"))
		return apply(argc - 1, argv + 1);
	if (argc == 4 && !strcmp(argv[1], "ceremony"))
		return done(fw_ceremony_open((uint16_t)strtoul(argv[2], NULL, 10),
					     (unsigned)strtoul(argv[3], NULL, 10), err, sizeof(err)), err);
	if (argc == 2 && !strcmp(argv[1], "remove"))
		return done(fw_remove(err, sizeof(err)), err);
	return usage();
}
