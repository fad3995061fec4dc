/* A client of the fleet's operator API (service-vm-fleet/api.h): connect,
 * read the server's HELLO, then one REPLY per request. Over the Unix socket
 * requests go as FRAME_LOCAL; over TCP each is signed with the identity in
 * the state directory (seq 1, 2, ... on each connection). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "os-infrastructure/cmd.h"
#include "lib/identity.h"
#include "lib/wire-frame.h"

#define CLIENT_CONNECT_TIMEOUT_MS 3000
#define CLIENT_READ_TIMEOUT_MS 10000

struct client {
	int fd;
	bool sign;
	struct identity id;
	uint8_t nonce[API_NONCE_BYTES];
	uint64_t seq;
	struct frame_reader reader;
	char where[256];  /* the socket path or HOST:PORT, for messages */
};

/* Returns 0 or -errno with a one-line reason in err. */
int client_open(struct client *c, const struct cli *cli, char *err, size_t errlen);
/* Sends one request and waits for its reply. When the server answers
 * "ok":false, returns -EREMOTEIO with its "error" in err. */
int client_call(struct client *c, const json_t *request, json_t **reply, char *err, size_t errlen);
void client_close(struct client *c);

/* open, call, close; prints the reason on failure. Returns an exit status. */
int fleet_request(const struct cli *cli, const json_t *request, json_t **reply);
