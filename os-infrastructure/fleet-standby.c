#include "os-infrastructure/fleet-standby.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "lib/clock.h"
#include "lib/fileio.h"
#include "os-infrastructure/client.h"

#define SQLITE_MAGIC "SQLite format 3" /* and its NUL: the file's first 16 bytes */

static int write_copy(const char *state_dir, const char *b64, size_t *len)
{
	size_t b64len = strlen(b64);
	unsigned char *bin = malloc(b64len + 1);
	char path[PATH_MAX];
	int ret = -ENOMEM;

	if (!bin)
		return ret;
	ret = -EBADMSG;
	if (sodium_base642bin(bin, b64len + 1, b64, b64len, NULL, len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) == 0 &&
	    *len >= 100 && !memcmp(bin, SQLITE_MAGIC, sizeof(SQLITE_MAGIC)))
		ret = 0;
	if (ret == 0 && snprintf(path, sizeof(path), "%s/" STANDBY_FILE, state_dir) >=
				(int)sizeof(path))
		ret = -ENAMETOOLONG;
	if (ret == 0)
		ret = atomic_write_file(path, bin, *len, 0600);
	free(bin);
	return ret;
}

static int pull_once(const struct cli *cli)
{
	json_t *req = json_pack("{s:s}", "op", "standby-copy"), *reply = NULL;
	const char *b64;
	size_t len = 0;
	int ret;

	ret = fleet_request(cli, req, &reply);
	json_decref(req);
	if (ret)
		return ret;
	b64 = json_string_value(json_object_get(reply, "db"));
	ret = b64 ? write_copy(cli->state_dir, b64, &len) : -EBADMSG;
	json_decref(reply);
	if (ret < 0)
		return cmd_fail("standby copy not written: %s", ret == -EBADMSG ?
				"the fleet's reply is not an SQLite database" : strerror(-ret));
	printf("standby copy: %zu bytes in %s/" STANDBY_FILE "\n", len, cli->state_dir);
	fflush(stdout);
	return EXIT_OK;
}

int fleet_standby_pull(const struct cli *cli, uint64_t every_ms)
{
	int ret;

	for (;;) {
		ret = pull_once(cli);
		if (ret || !every_ms)
			return ret;
		struct timespec ts = { (time_t)(every_ms / 1000), (long)(every_ms % 1000) * 1000000 };

		nanosleep(&ts, NULL);
	}
}

int fleet_standby_install(const char *state_dir)
{
	char from[PATH_MAX], to[PATH_MAX];

	if (snprintf(from, sizeof(from), "%s/" STANDBY_FILE, state_dir) >= (int)sizeof(from) ||
	    snprintf(to, sizeof(to), "%s/fleet.db", state_dir) >= (int)sizeof(to))
		return -ENAMETOOLONG;
	if (access(from, F_OK) < 0 || access(to, F_OK) == 0)
		return 0;
	if (link(from, to) < 0)
		return errno == EEXIST ? 0 : -errno;
	return 1;
}
