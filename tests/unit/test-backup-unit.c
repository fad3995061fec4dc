/* The service drop-in of a backup schedule (os-infrastructure/backup-unit.c):
 * its ExecStart=, read back as systemd reads it (words in double quotes,
 * \\ and \" escapes, %% a '%', $$ a '$'), is the one-off vm backup with the
 * options given, however awkward their paths; what a unit cannot carry is
 * refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "os-infrastructure/backup-unit.h"

#define AWKWARD "/srv/b k%i$HOME\"q'\\x;y"
#define MAXW 40

/* The words of the ExecStart= line that follows the reset (ExecStart=),
 * as systemd makes them; fails the test on anything else in the line. */
static int exec_words(const char *text, char words[MAXW][256])
{
	const char *p = strstr(text, "\nExecStart=\nExecStart=");
	int n = 0;

	assert_non_null(p);
	assert_null(strstr(p + 1, "\nExecStart=\nExecStart="));
	for (p += strlen("\nExecStart=\nExecStart="); *p != '\n'; n++) {
		size_t k = 0;

		assert_true(n < MAXW);
		if (n)
			assert_int_equal(*p++, ' ');
		assert_int_equal(*p++, '"');
		for (; *p != '"'; p++) {
			assert_true(*p && *p != '\n' && k < 255);
			if (*p == '\\')
				p++, assert_true(*p == '\\' || *p == '"');
			else if (*p == '%' || *p == '$')
				p++, assert_int_equal(*p, p[-1]);
			words[n][k++] = *p;
		}
		words[n][k] = '\0';
		p++;
	}
	assert_string_equal(p, "\n");
	return n;
}

static void check_words(const char *text, const char *const *want, int nwant)
{
	char words[MAXW][256];
	int n = exec_words(text, words);

	assert_int_equal(n, nwant);
	for (int i = 0; i < n; i++)
		assert_string_equal(words[i], want[i]);
}

static void every_option_is_carried(void **state)
{
	struct backup_unit u = {
		.bin = "/usr/bin/os-infrastructure", .guest = "vault1", .keep = 7, .full = true,
		.dir = AWKWARD "/d", .config = AWKWARD "/host.conf",
		.uri = "qemu+unix:///session?socket=" AWKWARD "/sock", .pool_dir = AWKWARD "/pool",
		.trust_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		.to = "node-b", .state_dir = AWKWARD "/state", .socket = AWKWARD "/fleet.sock",
		.fleet = "10.0.0.1:7101", .trust_file = AWKWARD "/trust", .rw_dir = "/srv/backups",
	};
	const char *want[] = {
		"/usr/bin/os-infrastructure", "--state-dir", AWKWARD "/state", "--socket",
		AWKWARD "/fleet.sock", "--fleet", "10.0.0.1:7101", "--trust-file", AWKWARD "/trust",
		"vm", "backup", "vault1", "--keep", "7", "--full", "--dir", AWKWARD "/d",
		"--config", AWKWARD "/host.conf", "--uri", "qemu+unix:///session?socket=" AWKWARD "/sock",
		"--pool-dir", AWKWARD "/pool", "--trust-key",
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", "--to", "node-b",
	};
	char text[8192], err[256] = "";

	(void)state;
	assert_int_equal(backup_unit_text(&u, text, sizeof(text), err, sizeof(err)), 0);
	check_words(text, want, (int)(sizeof(want) / sizeof(want[0])));
	assert_non_null(strstr(text, "\n[Service]\nReadWritePaths=/srv/backups\n"));
	assert_non_null(strstr(text, "\nPrivateNetwork=no\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n"));
	assert_null(strstr(text, "Environment="));
	/* no specifier, no variable: every '%' and '$' in the file is doubled */
	for (const char *c = strpbrk(text, "%$"); c; c = strpbrk(c + 2, "%$"))
		assert_int_equal(c[1], c[0]);
}

static void only_what_is_given(void **state)
{
	struct backup_unit u = { .bin = "/usr/local/bin/os-infrastructure", .guest = "web-1", .keep = 3,
				 .rw_dir = "/var/lib/os-infrastructure/backups" };
	const char *want[] = { "/usr/local/bin/os-infrastructure", "vm", "backup", "web-1", "--keep", "3" };
	char text[4096], err[256] = "";

	(void)state;
	assert_int_equal(backup_unit_text(&u, text, sizeof(text), err, sizeof(err)), 0);
	check_words(text, want, 6);
	assert_null(strstr(text, "PrivateNetwork"));
	assert_non_null(strstr(text, "\nReadWritePaths=/var/lib/os-infrastructure/backups\n"));
}

static int refused(struct backup_unit u, const char *why)
{
	char text[4096], err[256] = "";
	int ret = backup_unit_text(&u, text, sizeof(text), err, sizeof(err));

	if (ret == -EINVAL && !strstr(err, why))
		fail_msg("refused, but: %s", err);
	return ret;
}

static void what_a_unit_cannot_carry_is_refused(void **state)
{
	const struct backup_unit ok = { .bin = "/usr/bin/os-infrastructure", .guest = "vault1", .keep = 7,
					.rw_dir = "/srv/backups" };
	struct backup_unit u;

	(void)state;
	u = ok, u.dir = "backups";
	assert_int_equal(refused(u, "--dir backups: with --every, an absolute path"), -EINVAL);
	u = ok, u.config = "/etc/os-infrastructure/host\n[Service]\nExecStartPre=/bin/sh";
	assert_int_equal(refused(u, "--config: a control character"), -EINVAL);
	u = ok, u.pool_dir = "/srv/p\xc3\xa9";
	assert_int_equal(refused(u, "--pool-dir: a control character or a byte outside ASCII"), -EINVAL);
	u = ok, u.state_dir = "state";
	assert_int_equal(refused(u, "--state-dir state"), -EINVAL);
	u = ok, u.uri = "qemu+ssh://root@host/system";
	assert_int_equal(refused(u, "only a local libvirt URI"), -EINVAL);
	u = ok, u.uri = "qemu:system";
	assert_int_equal(refused(u, "only a local libvirt URI"), -EINVAL);
	u = ok, u.uri = "qemu:///system";
	assert_int_equal(refused(u, ""), 0);
	/* a transport runs a program, as root: not a local URI, even without a host */
	u = ok, u.uri = "qemu+ext:///system?command=/home/u/x";
	assert_int_equal(refused(u, "--uri qemu+ext:///system?command=/home/u/x: with --every, only a local"), -EINVAL);
	u = ok, u.uri = "qemu+ssh:///system";
	assert_int_equal(refused(u, "only a local libvirt URI"), -EINVAL);
	u = ok, u.uri = "qemu+unixx:///system";
	assert_int_equal(refused(u, "only a local libvirt URI"), -EINVAL);
	u = ok, u.uri = "qemu+unix:///system?socket=/run/libvirt/libvirt-sock";
	assert_int_equal(refused(u, ""), 0);
	/* host.conf's virt_uri, which each run reads again unless --uri is given */
	u = ok, u.conf_uri = "qemu+ext:///system?command=/home/u/x";
	assert_int_equal(refused(u, "host.conf's virt_uri qemu+ext:///system?command=/home/u/x: "), -EINVAL);
	u = ok, u.conf_uri = "qemu+tcp://h/system";
	assert_int_equal(refused(u, "only a local libvirt URI"), -EINVAL);
	u = ok, u.conf_uri = "qemu+ext:///system?command=/home/u/x", u.uri = "qemu:///system";
	assert_int_equal(refused(u, ""), 0);
	u = ok, u.conf_uri = "qemu:///system";
	assert_int_equal(refused(u, ""), 0);
	const char *bad_rw[] = { "/srv/a b", "/srv/a%i", "/srv/a\"b", "/srv/a'b", "/srv/a\\b", "/srv/a;b",
				 "/srv/../etc", "/srv/./b", "/srv/..", "srv", "/srv/\tb" };
	for (size_t i = 0; i < sizeof(bad_rw) / sizeof(bad_rw[0]); i++) {
		u = ok, u.rw_dir = bad_rw[i];
		assert_int_equal(refused(u, "the backup directory must be"), -EINVAL);
	}
	u = ok, u.rw_dir = "/srv/..b/c.d/.e";
	assert_int_equal(refused(u, ""), 0);
}

static void too_long_is_refused(void **state)
{
	struct backup_unit u = { .bin = "/usr/bin/os-infrastructure", .guest = "vault1", .keep = 7,
				 .rw_dir = "/srv/backups", .dir = "/srv/backups" };
	char text[160], err[256] = "";

	(void)state;
	assert_int_equal(backup_unit_text(&u, text, sizeof(text), err, sizeof(err)), -EMSGSIZE);
	assert_non_null(strstr(err, "too long"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_option_is_carried),
		cmocka_unit_test(only_what_is_given),
		cmocka_unit_test(what_a_unit_cannot_carry_is_refused),
		cmocka_unit_test(too_long_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
