/* One message on a Unix socket with, at most, one descriptor beside it
 * (SCM_RIGHTS, unix(7)): how the agent's mover, the root helper and the
 * tests hand each other the file of a transfer. */
#pragma once
#include <stddef.h>
#include <sys/types.h>

/* sendmsg of len bytes of buf on sock with fd (none when fd < 0), without
 * SIGPIPE: what sendmsg returns. */
ssize_t fd_pass_send(int sock, const void *buf, size_t len, int fd);
