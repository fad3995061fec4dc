/* Heartbeat ingest: decode, find the sender's key, check the MAC, check the
 * replay window, and count every drop by reason. No I/O. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/auth.h"
#include "lib/identity.h"
#include "lib/nametable.h"
#include "lib/replay.h"
#include "lib/trust.h"
#include "lib/wire-heartbeat.h"

struct ingest_peer {
	char name[NODE_NAME_MAX + 1];
	uint8_t key[HB_KEY_BYTES];
	struct replay_window replay;
	bool revoked;              /* was trusted, no longer is */
};

struct ingest {
	struct ingest_peer *peers;
	size_t count;
	struct nametable index;
	uint64_t accepted;
	uint64_t rejected[HB_REJECT__COUNT];
};

void ingest_init(struct ingest *in);
void ingest_free(struct ingest *in);
/* (Re)derives keys from the trusted set; replay windows survive a reload,
 * and names that left the set stay known as revoked. */
int ingest_set_trust(struct ingest *in, const struct trust_set *trust, const struct identity *fleet);
/* Raises a peer's replay floor, e.g. to the last sequence number stored before
 * a restart. */
void ingest_set_floor(struct ingest *in, const char *name, uint64_t seq);
/* HB_OK and *out filled, or the reason it was dropped (already counted). */
enum hb_reject ingest_datagram(struct ingest *in, const uint8_t *buf, size_t len,
			       struct heartbeat *out);
