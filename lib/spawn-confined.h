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
#include <stdint.h>
#include <sys/types.h>

/* Its descriptors: at most this many (0-2, what it is given, what it opens). */
#define SPAWN_CONFINED_NOFILE 64

struct spawn_confined_opts {
	bool quiet;              /* stderr on /dev/null too (stdin and stdout always are) */
	uint64_t max_file_bytes; /* RLIMIT_FSIZE: 0 writes no file; RLIM_INFINITY none */
};

/* Starts prog (looked up in PATH unless it holds a '/') with argv and the
 * environment, keep[0..nkeep) inherited (entries < 0 ignored), in a
 * session of its own, stdin and stdout on /dev/null (stderr too when
 * o->quiet), under o's limits and a system call filter (no sockets, no
 * namespaces, no signal to another process, no TIOCSTI: lib/spawn-confined.c):
 * 0 and its *pid, for the caller to reap. Else -errno, the child (if any)
 * reaped, and *step the confinement step that failed ("network
 * namespace", ...), or NULL (no such program, fork, exec). */
int spawn_confined(const char *prog, char *const argv[], const int *keep, size_t nkeep,
		   const struct spawn_confined_opts *o, pid_t *pid, const char **step);
