/* "standby-copy": a consistent copy of fleet.db (the SQLite online backup)
 * for a standby member, so that the history survives the cloud. Admin only
 * over TCP (the table marks it a change): the copy holds every event. The
 * reply carries it base64-encoded, so fleet.db must stay under
 * API_STANDBY_DB_MAX to fit one reply frame. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/clock.h"
#include "lib/fileio.h"
#include "lib/wire-frame.h"
#include "service-vm-fleet/api-internal.h"
#include "service-vm-fleet/fleet.h"

#define API_STANDBY_DB_MAX (FRAME_REPLY_MAX / 4 * 3 - 64 * 1024)

static json_t *copy_reply(const char *db, size_t len)
{
	size_t b64len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = malloc(b64len);
	json_t *r;

	if (!b64)
		return api_fail("out of memory");
	sodium_bin2base64(b64, b64len, (const unsigned char *)db, len,
			  sodium_base64_VARIANT_ORIGINAL);
	r = json_pack("{s:b, s:s, s:I, s:I}", "ok", 1, "db", b64, "bytes", (json_int_t)len,
		      "time", (json_int_t)clock_wall_s());
	free(b64);
	return r ? r : api_fail("out of memory");
}

json_t *op_standby_copy(struct fleet *f, json_t *req, const char *caller, uint64_t now)
{
	char path[4200], *db = NULL;
	size_t len = 0;
	json_t *r;
	int fd, ret;

	(void)req, (void)caller, (void)now;
	snprintf(path, sizeof(path), "%s/fleet.db.standby-copy.XXXXXX", f->cfg.state_dir);
	fd = mkstemp(path);
	if (fd < 0)
		return api_fail("cannot make a copy: %s", strerror(errno));
	close(fd);
	ret = store_backup(f->store, path);
	if (ret == 0)
		ret = read_file(path, API_STANDBY_DB_MAX, &db, &len);
	unlink(path);
	if (ret < 0)
		return api_fail("cannot make a copy: %s", ret == -EIO ? store_errmsg(f->store) :
				ret == -EFBIG ? "fleet.db is too large for one reply" : strerror(-ret));
	r = copy_reply(db, len);
	free(db);
	return r;
}
