/* vm backup NAME --to NODE, after the backup is made here, and vm restore
 * NAME --from ID --to NODE: the fleet authorises the copy of the backup
 * (with its chain) from this node to NODE (vm-backup-copy; for a restore
 * NODE is the guest's, which then restores from it) and this follows it
 * (vm-backup-copy-show) until NODE has stored it or one side failed. The
 * chain travels node to node over the mesh, never through the fleet. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/units.h"
#include "os-infrastructure/cmd.h"
#include "os-infrastructure/format.h"
#include "os-infrastructure/client.h"
#include "os-infrastructure/cmd-vm-backup.h"

static void show(const json_t *c, char *last, size_t len)
{
	uint64_t bytes = (uint64_t)json_integer_value(json_object_get(c, "bytes"));
	uint64_t total = (uint64_t)json_integer_value(json_object_get(c, "total"));
	const char *detail = json_string_value(json_object_get(c, "detail"));
	char line[400], a[32], b[32];

	if (total) {
		format_size(bytes, a, sizeof(a));
		format_size(total, b, sizeof(b));
		snprintf(line, sizeof(line), "copy: %s of %s — %s", a, b, detail ? detail : "");
	} else {
		snprintf(line, sizeof(line), "copy: %s", detail ? detail : "");
	}
	format_sanitize(line); /* the nodes' words: no terminal control */
	if (strcmp(line, last)) {
		printf("%s\n", line);
		fflush(stdout);
		snprintf(last, len, "%s", line);
	}
}

/* The copy we asked for (its backup and start): another may follow it. */
static int follow(const struct cli *cli, const char *guest, const char *id, json_int_t started)
{
	char last[400] = "";

	for (;;) {
		json_t *req = json_pack("{s:s, s:s}", "op", "vm-backup-copy-show", "name", guest), *r = NULL;
		int ret = req ? fleet_request(cli, req, &r) : cmd_fail("out of memory");
		const json_t *c = json_object_get(r, "copy");
		const char *st = json_string_value(json_object_get(c, "state"));

		json_decref(req);
		if (ret)
			return ret;
		if (!st || strcmp(json_string_value(json_object_get(c, "backup")) ?: "", id) ||
		    json_integer_value(json_object_get(c, "started")) != started) {
			json_decref(r);
			return cmd_fail("the fleet no longer knows this copy (restarted?): nothing of it is "
					"kept on the target unless it was stored whole");
		}
		show(c, last, sizeof(last));
		if (strcmp(st, "sending")) {
			char why[300];

			snprintf(why, sizeof(why), "%s", json_string_value(json_object_get(c, "detail")) ?: "");
			format_sanitize(why);
			ret = !strcmp(st, "stored") ? cmd_output(0)
			      : cmd_fail("the copy to %s failed: %s", json_string_value(json_object_get(c, "target")),
					 why);
			json_decref(r);
			return ret;
		}
		json_decref(r);
		cmd_follow_tick(cli);
	}
}

int backup_copy_to(const struct cli *cli, const char *guest, const char *id, const char *from,
		   const char *to, bool restore, unsigned keep)
{
	json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:i}", "op", "vm-backup-copy", "name",
				guest, "backup", id, "from", from, "to", to, "restore", restore,
				"keep", (int)keep), *r = NULL;
	int ret = req ? fleet_request(cli, req, &r) : cmd_fail("out of memory");
	json_int_t started;

	json_decref(req);
	if (ret)
		return ret;
	started = json_integer_value(json_object_get(json_object_get(r, "copy"), "started"));
	json_decref(r);
	printf("Copying backup %s of %s to %s over the mesh (SHA-256 end to end; %s verifies every "
	       "signature and hash before it keeps anything%s).\n", id, guest, to, to,
	       restore ? ", then restores the guest's data volumes from it" : "");
	fflush(stdout);
	return follow(cli, guest, id, started);
}
