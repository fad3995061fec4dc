/* service-vm-host: the agent on every node. Reads its configuration (file,
 * then --set overrides), then hands over to agent_run(). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service-vm-host/agent.h"
#include "lib/conf-path.h"
#include "lib/config.h"
#include "lib/log.h"
#include "osi-config.h"

#define PROG "service-vm-host"
#define CONFIG_FILE HOST_CONFIG_FILE
#define DEFAULT_CONFIG CONF_ETC_DIR "/" CONFIG_FILE

static void usage(FILE *f)
{
	fputs("Usage: " PROG " [--config FILE] [--set KEY=VALUE]... [--help-config]\n\n"
	      "Sends this node's CPU, memory and guest figures, signed, to service-vm-fleet\n"
	      "every heartbeat_interval. SIGHUP reloads the trust file; SIGTERM stops.\n\n"
	      "  --config FILE     configuration file (default " DEFAULT_CONFIG ", else\n"
	      "                    " OSI_STATE_DIR "/" CONFIG_FILE " as join wrote it,\n"
	      "                    which may be absent)\n"
	      "  --set KEY=VALUE   override one key after the file; may be repeated\n"
	      "  --help-config     list the keys with their defaults\n"
	      "  --version         print the version\n", f);
}

int main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 's' },
		{ "help-config", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	static struct host_config cfg;
	char found[PATH_MAX];
	const char *path = conf_default_path(CONF_ETC_DIR, OSI_STATE_DIR, CONFIG_FILE, found);
	int c, optional = 1, nsets = 0, ret;
	char **sets;

	log_init(PROG);
	sets = calloc((size_t)argc, sizeof(*sets));
	if (!sets)
		return 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; optional = 0; break;
		case 's': sets[nsets++] = optarg; break;
		case 'k':
			printf("Keys for %s (file lines \"key = value\", or --set key=value):\n",
			       PROG);
			host_config_print_help();
			free(sets);
			return 0;
		case 'h': usage(stdout); free(sets); return 0;
		case 'V': puts(PROG " " OSI_VERSION); free(sets); return 0;
		default: usage(stderr); free(sets); return 2;
		}
	}
	if (optind < argc) {
		log_err("unexpected argument '%s'", argv[optind]);
		free(sets);
		return 2;
	}
	ret = host_config_load(&cfg, path, optional, sets, nsets);
	free(sets);
	if (ret < 0)
		return 1;
	return agent_run(&cfg);
}
