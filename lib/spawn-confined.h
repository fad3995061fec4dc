/* A program that root runs on input it must not trust (qemu-img on a
 * backup file a peer sent), started reduced: no new privileges, a network
 * namespace of its own (nothing to reach), no capability in any set, and
 * no descriptor but 0-2 and the ones it is given. It opens those again
 * through /dev/fd/N, which checks their mode as open(2) does: so it runs as
 * their owner (uid 0 for root's files, which it opens by their owner bits),
 * unless they have several. */
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
