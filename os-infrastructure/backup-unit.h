/* The text of osi-backup@GUEST.service's drop-in that `vm backup GUEST
 * --every D` writes (backup-unit.c): the whole command line of the
 * scheduled run, every option given with --every carried as one quoted,
 * escaped word, so the run is the one-off `vm backup` with those options. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

struct backup_unit {
	const char *bin;       /* the program the service runs */
	const char *guest;     /* a valid guest name */
	unsigned keep;
	bool full;
	/* vm backup's options, NULL where not given */
	const char *dir, *config, *uri, *pool_dir, *trust_key, *to;
	/* global options, NULL where left at their default */
	const char *state_dir, *socket, *fleet, *trust_file;
	const char *rw_dir;    /* the backup directory the service may write */
	/* host.conf's virt_uri, which each run reads again when uri is NULL */
	const char *conf_uri;
};

/* The drop-in's text in out[len]; -EINVAL (why in err) for a value the unit
 * cannot carry: a path not absolute, or with a control character or a byte
 * outside ASCII; rw_dir also with a blank, a quote, '\', '%', ';' or a '..';
 * a libvirt URI that is not local (DRIVER:///...), uri or, without it,
 * conf_uri; -EMSGSIZE if too long. */
int backup_unit_text(const struct backup_unit *u, char *out, size_t len, char *err, size_t errlen);
/* 0 if uri (NULL: libvirt's default) is local, DRIVER:///PATH; else -EINVAL
 * and why in err, naming where it came from (what: "--uri", a host.conf). */
int backup_uri_local(const char *uri, const char *what, char *err, size_t errlen);
