/* helper-call SOCKET VERB [NAME [TYPE MEMORY_MIB VCPUS]]: one request to
 * service-vm-host-virt, built as the agent builds it, then its reply lines
 * on stdout. Exit 0 when the last line's state is not "failed". As an agent
 * (or a compromised one) may, it can also pass the descriptor of the file
 * HELPER_CALL_FD with the request, then send HELPER_CALL_RECORD as the
 * fixed-size second record and HELPER_CALL_APPROVAL (hex) as a third. */
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/fd-pass.h"
#include "service-vm-host/helper-req.h"

static int connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(a.sun_path))
		return -1;
	strcpy(a.sun_path, path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The request with HELPER_CALL_FD's descriptor, if set. */
static int send_request(int fd, const struct helper_req *r)
{
	const char *path = getenv("HELPER_CALL_FD");
	int file = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;

	if (path && file < 0)
		return -1;
	return fd_pass_send(fd, r, sizeof(*r), file) == (ssize_t)sizeof(*r) ? 0 : -1;
}

/* HELPER_CALL_RECORD and HELPER_CALL_APPROVAL, if set. */
static int send_records(int fd)
{
	const char *rec = getenv("HELPER_CALL_RECORD"), *hex = getenv("HELPER_CALL_APPROVAL");
	char fixed[HELPER_MOVE_TO_BYTES] = "";
	uint8_t blob[4096];
	size_t n = 0;

	if (rec && (snprintf(fixed, sizeof(fixed), "%s", rec) < 0 ||
		    send(fd, fixed, sizeof(fixed), 0) != (ssize_t)sizeof(fixed)))
		return -1;
	if (hex && (sodium_hex2bin(blob, sizeof(blob), hex, strlen(hex), NULL, &n, NULL) < 0 || !n ||
		    send(fd, blob, n, 0) != (ssize_t)n))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	const struct guest_op_def *op = argc > 2 ? guest_op_find(argv[2]) : NULL;
	bool create = argc == 7;
	struct helper_req r;
	bool failed = true;
	char buf[4096];
	ssize_t n;
	int fd;

	if (argc != 3 && argc != 4 && argc != 7) {
		fprintf(stderr, "usage: helper-call SOCKET VERB [NAME [TYPE MEMORY_MIB VCPUS]]\n");
		return 2;
	}
	if (helper_req_build(&r, op, argc > 3 ? argv[3] : NULL, create ? argv[4] : NULL,
			     create ? strtoull(argv[5], NULL, 10) << 20 : 0,
			     create ? strtoull(argv[6], NULL, 10) : 0) < 0) {
		fprintf(stderr, "helper-call: not a request the helper takes\n");
		return 2;
	}
	fd = connect_to(argv[1]);
	if (fd < 0 || send_request(fd, &r) < 0 || send_records(fd) < 0) {
		perror("helper-call");
		return 2;
	}
	while ((n = recv(fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		fputs(buf, stdout);
		failed = strstr(buf, "\"state\":\"failed\"") != NULL;
	}
	close(fd);
	return failed ? 1 : 0;
}
