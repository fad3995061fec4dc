/* What the ceremony (ceremony.h) and its message codecs (ceremony-msg.h)
 * both speak of: the protocol version, field sizes, roles, and the JOIN and
 * ANSWER contents. Each of the two includes this, neither the other. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/auth.h"
#include "lib/ledger.h"
#include "lib/wire-heartbeat.h"

#define CEREMONY_VERSION 1
#define CEREMONY_WG_KEY_BYTES 32
#define CEREMONY_ENDPOINT_MAX 63
#define CEREMONY_ADDR_MAX 63
#define CEREMONY_LEDGER_MAX LEDGER_FILE_MAX /* one cap: any ledger a member holds */

/* The same bits as the ledger's roles. */
enum ceremony_role {
	CEREMONY_ROLE_NODE = 1u << 0,
	CEREMONY_ROLE_FLEET = 1u << 1,
	CEREMONY_ROLE_ADMIN = 1u << 2,
	CEREMONY_ROLE_RELAY = 1u << 3,
};
#define CEREMONY_ROLES_ALL 0x0fu

/* What J asks for (JOIN); only public keys. */
struct ceremony_joiner {
	char name[NODE_NAME_MAX + 1];
	uint8_t sign_pk[SIGN_PK_BYTES];
	uint8_t kx_pk[KX_PK_BYTES];
	uint8_t wg_pk[CEREMONY_WG_KEY_BYTES];
	char endpoint[CEREMONY_ENDPOINT_MAX + 1]; /* "" for none */
	unsigned int roles;
};

/* What I gives (ANSWER). ledger is malloc'd; ceremony_answer_free() frees it. */
struct ceremony_answer {
	char mesh_prefix[CEREMONY_ADDR_MAX + 1];
	char address[CEREMONY_ADDR_MAX + 1];
	char fleet[CEREMONY_ENDPOINT_MAX + 1]; /* "" for none yet */
	uint8_t *ledger;
	size_t ledger_len;
};

void ceremony_answer_free(struct ceremony_answer *a);

/* "host:port" as JOIN and ANSWER carry it (ceremony.h says which). */
bool ceremony_endpoint_valid(const char *s);
