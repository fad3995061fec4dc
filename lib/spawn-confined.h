/* A program that root runs on input it must not trust (qemu-img on a
 * backup file a peer sent), started reduced: no new privileges, a network
 * namespace of its own (nothing to reach), no capability in any set, and
 * no descriptor but 0-2 and the ones it is given. It stays uid 0: it opens
 * what it is given through /dev/fd/N by the files' owner bits. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Starts prog (looked up in PATH unless it holds a '/') with argv and the
 * environment, keep[0..nkeep) inherited (entries < 0 ignored), stderr on
 * /dev/null when quiet: 0 and its *pid, for the caller to reap. Else
 * -errno, the child (if any) reaped, and *step the confinement step that
 * failed ("network namespace", ...), or NULL (no such program, fork, exec). */
int spawn_confined(const char *prog, char *const argv[], const int *keep, size_t nkeep, bool quiet,
		   pid_t *pid, const char **step);
