#include "os-infrastructure/backup-unit.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/textbuf.h"

static int refuse(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

/* No "." or ".." component: systemd ignores such a path in ReadWritePaths=. */
static bool normalized(const char *p)
{
	for (const char *c = p; c; c = strchr(c + 1, '/')) {
		size_t n = strcspn(c + 1, "/");

		if ((n == 1 && c[1] == '.') || (n == 2 && c[1] == '.' && c[2] == '.'))
			return false;
	}
	return true;
}

/* One word of ExecStart=, in double quotes, where systemd reads \\ and \" as
 * C escapes, "%%" as '%' (not a specifier) and "$$" as '$' (not a
 * variable); first: no blank before it. */
static void word(struct textbuf *tb, const char *w, bool first)
{
	textbuf_add(tb, "%s\"", first ? "" : " ");
	for (; *w; w++) {
		if (*w == '\\' || *w == '"')
			textbuf_add(tb, "\\%c", *w);
		else if (*w == '%' || *w == '$')
			textbuf_add(tb, "%c%c", *w, *w);
		else
			textbuf_add(tb, "%c", *w);
	}
	textbuf_add(tb, "\"");
}

/* --name VALUE when given; a path must be absolute (the service runs in /). */
static int option(struct textbuf *tb, const char *name, const char *value, bool path, char *err,
		  size_t errlen)
{
	if (!value)
		return 0;
	if (!printable(value))
		return refuse(err, errlen, "%s: a control character or a byte outside ASCII cannot be "
			      "carried into the schedule's unit", name);
	if (path && value[0] != '/')
		return refuse(err, errlen, "%s %s: with --every, an absolute path (the scheduled run "
			      "starts in /)", name, value);
	word(tb, name, false);
	word(tb, value, false);
	return 0;
}

/* A libvirt URI without a host and with no transport but unix: the service
 * has no network to reach another host, and a transport such as ext
 * (qemu+ext:///system?command=PROGRAM) or ssh runs a program, as root. */
int backup_uri_local(const char *uri, const char *what, char *err, size_t errlen)
{
	const char *c = uri ? strchr(uri, ':') : NULL;
	const char *plus = c ? memchr(uri, '+', (size_t)(c - uri)) : NULL;

	if (uri && (!c || strncmp(c, ":///", 4) || (plus && (c - plus != 5 || strncmp(plus, "+unix", 5)))))
		return refuse(err, errlen, "%s %s: with --every, only a local libvirt URI "
			      "(DRIVER[+unix]:///PATH, e.g. qemu:///system): the scheduled run has no network "
			      "to reach another host's, and runs no transport's program as root", what,
			      printable(uri) ? uri : "(unprintable)");
	return 0;
}

static int rw_dir(const char *dir, char *err, size_t errlen)
{
	if (dir[0] != '/' || !printable(dir) || strpbrk(dir, " \"'\\%;") || !normalized(dir))
		return refuse(err, errlen, "%s: the backup directory must be an absolute path of "
			      "printable ASCII without blanks, quotes, '\\', '%%', ';', '.' or '..' "
			      "components to be named in a unit", printable(dir) ? dir : "(unprintable)");
	return 0;
}

static int globals(struct textbuf *tb, const struct backup_unit *u, char *err, size_t errlen)
{
	int ret;

	if ((ret = option(tb, "--state-dir", u->state_dir, true, err, errlen)) ||
	    (ret = option(tb, "--socket", u->socket, true, err, errlen)) ||
	    (ret = option(tb, "--fleet", u->fleet, false, err, errlen)))
		return ret;
	return option(tb, "--trust-file", u->trust_file, true, err, errlen);
}

static int backup_options(struct textbuf *tb, const struct backup_unit *u, char *err, size_t errlen)
{
	char keep[16];
	int ret;

	snprintf(keep, sizeof(keep), "%u", u->keep);
	word(tb, "vm", false);
	word(tb, "backup", false);
	word(tb, u->guest, false);
	word(tb, "--keep", false);
	word(tb, keep, false);
	if (u->full)
		word(tb, "--full", false);
	if ((ret = option(tb, "--dir", u->dir, true, err, errlen)) ||
	    (ret = option(tb, "--config", u->config, true, err, errlen)) ||
	    (ret = option(tb, "--uri", u->uri, false, err, errlen)) ||
	    (ret = option(tb, "--pool-dir", u->pool_dir, true, err, errlen)) ||
	    (ret = option(tb, "--trust-key", u->trust_key, false, err, errlen)))
		return ret;
	return option(tb, "--to", u->to, false, err, errlen);
}

int backup_unit_text(const struct backup_unit *u, char *out, size_t len, char *err, size_t errlen)
{
	struct textbuf tb = { .p = out, .cap = len };
	int ret;

	if ((ret = rw_dir(u->rw_dir, err, errlen)) || (ret = backup_uri_local(u->uri, "--uri", err, errlen)) ||
	    (!u->uri && (ret = backup_uri_local(u->conf_uri, "host.conf's virt_uri", err, errlen))))
		return ret;
	textbuf_add(&tb, "# os-infrastructure vm backup %s --every: the scheduled run's command "
		    "line, with the options given then\n[Service]\nReadWritePaths=%s\n", u->guest,
		    u->rw_dir);
	if (u->to)
		textbuf_add(&tb, "PrivateNetwork=no\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n");
	textbuf_add(&tb, "ExecStart=\nExecStart=");
	word(&tb, u->bin, true);
	if ((ret = globals(&tb, u, err, errlen)) || (ret = backup_options(&tb, u, err, errlen)))
		return ret;
	textbuf_add(&tb, "\n");
	if (tb.err)
		snprintf(err, errlen, "the schedule's command line is too long for a unit");
	return tb.err;
}
