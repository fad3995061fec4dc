/* The root helper's move-in (service-vm-host/helper-move.c) against
 * libvirt's test driver: a guest of that name already here is refused
 * before anything is touched, its move marker (a copy a move brought in,
 * which move-abort removes) kept; a passed FIFO is refused. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "lib/export-manifest.h"
#include "service-vm-host/helper-move.h"
#include "virt/virt-move.h"
#include "tests/unit/fixture.h"

static void quiet(void *data, virErrorPtr err)
{
}

static int no_verdict(char *err, size_t errlen)
{
	snprintf(err, errlen, "no verdict here");
	return -EBADMSG;
}

/* A move-in takes the read end of a pipe, nothing else; a guest of that
 * name here is refused before its marker is touched. */
static void existing_guest_keeps_its_marker(void **state)
{
	struct virt_config cfg = { .uri = "test:///default" };
	static struct host_config c;
	struct virt_host h;
	char dir[PATH_MAX], marker[PATH_MAX + 32], archive[PATH_MAX + 32];
	const struct move_spec spec = { "totebox", 192ULL << 20, 1 };
	int fd, mfd, p[2];

	(void)state;
	virSetErrorFunc(NULL, quiet);
	assert_int_equal(fixture_tmpdir(dir, sizeof(dir), "helper-move"), 0);
	snprintf(c.state_dir, sizeof(c.state_dir), "%s", dir);
	assert_int_equal(virt_host_open(&h, &cfg), 0);
	snprintf(marker, sizeof(marker), "%s/moves", dir);
	assert_int_equal(mkdir(marker, 0700), 0);
	snprintf(marker, sizeof(marker), "%s/moves/in.test", dir);
	mfd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(mfd >= 0);
	close(mfd);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	/* "test" is the driver's own domain */
	assert_int_equal(helper_move_in(&h, &c, "test", &spec, p[0], 1 << 20, no_verdict), -EEXIST);
	assert_int_equal(access(marker, F_OK), 0);
	assert_int_equal(helper_move_in(&h, &c, "newcomer", &spec, p[1], 1 << 20, no_verdict), -EBADF);
	close(p[0]);
	close(p[1]);
	snprintf(archive, sizeof(archive), "%s/archive", dir);
	fd = open(archive, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(helper_move_in(&h, &c, "newcomer", &spec, fd, 1 << 20, no_verdict), -EBADF);
	assert_non_null(strstr(h.err, "not a pipe"));
	close(fd);
	virt_host_close(&h);
	fixture_rmtree(dir);
}

/* test:///default, its pool in a new directory dir (PATH_MAX) named after tag. */
static void host_in_tmp(struct virt_host *h, char *dir, const char *tag)
{
	struct virt_config cfg = { .uri = "test:///default" };
	char pool_dir[PATH_MAX + 8];

	virSetErrorFunc(NULL, quiet);
	assert_int_equal(fixture_tmpdir(dir, PATH_MAX, tag), 0);
	snprintf(pool_dir, sizeof(pool_dir), "%s/pool", dir);
	cfg.pool_dir = pool_dir;
	assert_int_equal(virt_host_open(h, &cfg), 0);
}

/* h's pool, made where missing, with a new 1 MiB volume named name (*vol). */
static virStoragePoolPtr pool_with_volume(struct virt_host *h, const char *name, virStorageVolPtr *vol)
{
	virStoragePoolPtr pool;
	char xml[256];

	assert_int_equal(virt_pool_ensure(h), 0);
	pool = virStoragePoolLookupByName(h->conn, h->pool);
	assert_non_null(pool);
	snprintf(xml, sizeof(xml), "<volume><name>%s</name><capacity>1048576</capacity></volume>", name);
	*vol = virStorageVolCreateXML(pool, xml, 0);
	assert_non_null(*vol);
	return pool;
}

/* Before its marker: a bound past what the approved type's volumes can
 * hold (an overflow of the room check once) and a volume kept here from an
 * earlier guest of the name (which a move's abort would remove) are
 * refused; a marker another move-in holds is not taken over. */
static void refused_before_the_marker(void **state)
{
	static struct host_config c;
	struct virt_host h;
	char dir[PATH_MAX], marker[PATH_MAX + 32];
	const struct move_spec spec = { "totebox", 192ULL << 20, 1 };
	virStoragePoolPtr pool;
	virStorageVolPtr vol;
	int p[2], held;

	(void)state;
	host_in_tmp(&h, dir, "helper-move-cap");
	snprintf(c.state_dir, sizeof(c.state_dir), "%s", dir);
	snprintf(c.images_dir, sizeof(c.images_dir), "%s/images", getenv("OSI_SOURCE"));
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(helper_move_in(&h, &c, "newcomer", &spec, p[0], UINT64_MAX, no_verdict), -EFBIG);
	assert_non_null(strstr(h.err, "more than a totebox's volumes can hold"));

	pool = pool_with_volume(&h, "kept.data.archive.qcow2", &vol);
	assert_int_equal(helper_move_in(&h, &c, "kept", &spec, p[0], 1 << 20, no_verdict), -EEXIST);
	assert_non_null(strstr(h.err, "kept.data.archive.qcow2 of an earlier kept is kept here"));
	virStorageVolFree(vol);
	virStoragePoolFree(pool);

	snprintf(marker, sizeof(marker), "%s/moves", dir);
	assert_int_equal(mkdir(marker, 0700), 0);
	snprintf(marker, sizeof(marker), "%s/moves/in.busy", dir);
	held = open(marker, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(held >= 0);
	assert_int_equal(flock(held, LOCK_EX), 0);
	assert_int_equal(helper_move_in(&h, &c, "busy", &spec, p[0], 1 << 20, no_verdict), -EBUSY);
	assert_int_equal(access(marker, F_OK), 0); /* not unlinked under its holder */
	close(held);
	close(p[0]);
	close(p[1]);
	virt_host_close(&h);
	fixture_rmtree(dir);
}

/* A move's abort on a pool libvirt stopped (as it stops one whose refresh
 * failed, when a rolled-back import's file went away mid-refresh) starts
 * it again and removes the guest's volumes, where it failed "not active". */
static void abort_restarts_a_stopped_pool(void **state)
{
	struct virt_host h;
	char dir[PATH_MAX];
	virStoragePoolPtr pool;
	virStorageVolPtr vol;
	unsigned removed = 0;

	(void)state;
	host_in_tmp(&h, dir, "helper-move-pool");
	pool = pool_with_volume(&h, "gone.data.archive.qcow2", &vol);
	virStorageVolFree(vol);
	assert_int_equal(virStoragePoolDestroy(pool), 0);
	assert_int_equal(virStoragePoolIsActive(pool), 0);
	assert_int_equal(virt_move_remove_volumes(&h, "gone", &removed), 0);
	assert_int_equal(virStoragePoolIsActive(pool), 1);
	assert_null(virStorageVolLookupByName(pool, "gone.data.archive.qcow2"));
	virStoragePoolFree(pool);
	virt_host_close(&h);
	fixture_rmtree(dir);
}

static void archive_of(struct export_manifest *m)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->type, "totebox");
	strcpy(m->name, "vault1");
	m->disk_bytes = 20ull << 30;
	strcpy(m->net, "bridge");
	strcpy(m->net_source, "br-underlay");
	m->nvol = 1;
	strcpy(m->vol[0].disk, "archive");
	m->vol[0].capacity = 64ull << 20;
}

/* A move-in defines what this node decides: its own guest network, whatever
 * the archive says, and no disk beyond its type's manifest here. Seen: the
 * archive's bridge (the host's underlay) and disk sizes were taken as they
 * were. */
static void move_in_fitted_to_the_node(void **state)
{
	static struct host_config c;
	struct export_manifest m;
	char err[256];

	(void)state;
	snprintf(c.images_dir, sizeof(c.images_dir), "%s/images", getenv("OSI_SOURCE"));
	strcpy(c.guest_network, "fabric");
	archive_of(&m);
	assert_int_equal(helper_move_fit(&m, &c, err, sizeof(err)), 0);
	assert_string_equal(m.net, "fabric");
	assert_string_equal(m.net_source, "osi-fabric");
	strcpy(c.guest_network, "user");
	archive_of(&m);
	assert_int_equal(helper_move_fit(&m, &c, err, sizeof(err)), 0);
	assert_string_equal(m.net, "user");
	assert_string_equal(m.net_source, "");

	archive_of(&m);
	m.disk_bytes++;
	assert_int_equal(helper_move_fit(&m, &c, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "root disk"));
	archive_of(&m);
	m.vol[0].capacity = (200ull << 30) + 1;
	assert_int_equal(helper_move_fit(&m, &c, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "data volume archive"));
	archive_of(&m);
	strcpy(m.vol[0].disk, "extra");
	assert_int_equal(helper_move_fit(&m, &c, err, sizeof(err)), -EBADMSG);
	archive_of(&m);
	strcpy(m.type, "mediakit"); /* its manifest has no archive volume */
	assert_int_equal(helper_move_fit(&m, &c, err, sizeof(err)), -EBADMSG);
	archive_of(&m);
	strcpy(c.guest_network, "carrier-pigeon");
	assert_int_equal(helper_move_fit(&m, &c, err, sizeof(err)), -EINVAL);
}

/* An abort that arrives while a move-in still imports (the fleet lost the
 * target, then heard it again) waits for it: -EBUSY, the copy and its
 * marker untouched, and it goes on once the lock is free. Seen: the
 * abort removed volumes under the running import, whose guest then had no
 * marker and was later taken for the source. */
static void abort_waits_for_the_import(void **state)
{
	struct virt_config cfg = { .uri = "test:///default" };
	static struct host_config c;
	struct virt_host h;
	char dir[PATH_MAX], marker[PATH_MAX + 32], detail[256];
	int fd;

	(void)state;
	virSetErrorFunc(NULL, quiet);
	assert_int_equal(fixture_tmpdir(dir, sizeof(dir), "helper-move-lock"), 0);
	snprintf(c.state_dir, sizeof(c.state_dir), "%s", dir);
	assert_int_equal(virt_host_open(&h, &cfg), 0);
	snprintf(marker, sizeof(marker), "%s/moves", dir);
	assert_int_equal(mkdir(marker, 0700), 0);
	snprintf(marker, sizeof(marker), "%s/moves/in.busy", dir);
	fd = open(marker, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0); /* the import's hold */
	assert_int_equal(helper_move_act(&h, &c, guest_op_find("move-abort"), "busy", detail,
					 sizeof(detail)), -EBUSY);
	assert_non_null(strstr(h.err, "still importing"));
	assert_int_equal(access(marker, F_OK), 0);
	close(fd); /* the import ended: the abort goes on (the test driver has no pool to empty) */
	assert_int_not_equal(helper_move_act(&h, &c, guest_op_find("move-abort"), "busy", detail,
					     sizeof(detail)), -EBUSY);
	virt_host_close(&h);
	fixture_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(existing_guest_keeps_its_marker),
		cmocka_unit_test(refused_before_the_marker),
		cmocka_unit_test(abort_restarts_a_stopped_pool),
		cmocka_unit_test(move_in_fitted_to_the_node),
		cmocka_unit_test(abort_waits_for_the_import),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
