#include "service-vm-fleet/ingest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *peer_name(const void *ctx, size_t i)
{
	return ((const struct ingest_peer *)ctx)[i].name;
}

void ingest_init(struct ingest *in)
{
	memset(in, 0, sizeof(*in));
	nametable_init(&in->index, peer_name, NULL);
}

void ingest_free(struct ingest *in)
{
	if (in->peers)
		sodium_memzero(in->peers, in->count * sizeof(*in->peers));
	free(in->peers);
	nametable_free(&in->index);
	memset(in, 0, sizeof(*in));
}

static struct ingest_peer *find_peer(const struct ingest *in, const char *name)
{
	long i = nametable_find(&in->index, name);

	return i < 0 ? NULL : &in->peers[i];
}

/* Peers are only ever added (revoked ones keep their slot), so indices stay
 * valid and the replay windows of known names survive every reload. */
static struct ingest_peer *add_peer(struct ingest *in, const char *name)
{
	struct ingest_peer *peers = realloc(in->peers, (in->count + 1) * sizeof(*peers));

	if (!peers)
		return NULL;
	in->peers = peers;
	memset(&peers[in->count], 0, sizeof(*peers));
	snprintf(peers[in->count].name, sizeof(peers->name), "%s", name);
	replay_init(&peers[in->count].replay);
	if (nametable_rebuild(&in->index, in->peers, in->count + 1) < 0)
		return NULL;
	return &in->peers[in->count++];
}

int ingest_set_trust(struct ingest *in, const struct trust_set *trust, const struct identity *fleet)
{
	for (size_t i = 0; i < in->count; i++)
		in->peers[i].revoked = true;
	for (size_t i = 0; i < trust->count; i++) {
		const struct trust_entry *e = &trust->entries[i];
		struct ingest_peer *p;

		if (!(e->roles & TRUST_ROLE_NODE))
			continue;
		p = find_peer(in, e->name);
		if (!p)
			p = add_peer(in, e->name);
		if (!p)
			return -ENOMEM;
		if (hb_key_fleet(p->key, fleet->kx_pk, fleet->kx_sk, e->kx_pk) < 0) {
			sodium_memzero(p->key, sizeof(p->key));
			continue; /* stays revoked: an unusable key authenticates nothing */
		}
		p->revoked = false;
	}
	for (size_t i = 0; i < in->count; i++)
		if (in->peers[i].revoked)
			sodium_memzero(in->peers[i].key, sizeof(in->peers[i].key));
	return 0;
}

void ingest_set_floor(struct ingest *in, const char *name, uint64_t seq)
{
	struct ingest_peer *p = find_peer(in, name);

	if (p && replay_check(&p->replay, seq) == REPLAY_FRESH)
		replay_accept(&p->replay, seq);
}

static enum hb_reject verdict(struct ingest *in, enum hb_reject r)
{
	if (r == HB_OK)
		in->accepted++;
	else
		in->rejected[r]++;
	return r;
}

enum hb_reject ingest_datagram(struct ingest *in, const uint8_t *buf, size_t len,
			       struct heartbeat *out)
{
	struct ingest_peer *p;
	int ret = hb_decode(buf, len, out);

	if (ret < 0)
		return verdict(in, (enum hb_reject)-ret);
	p = find_peer(in, out->name);
	if (!p)
		return verdict(in, HB_REJECT_UNKNOWN);
	if (p->revoked)
		return verdict(in, HB_REJECT_REVOKED);
	if (!hb_auth_verify(buf, p->key))
		return verdict(in, HB_REJECT_BAD_MAC);
	switch (replay_check(&p->replay, out->seq)) {
	case REPLAY_DUPLICATE:
		return verdict(in, HB_REJECT_REPLAYED);
	case REPLAY_TOO_OLD:
		return verdict(in, HB_REJECT_STALE);
	case REPLAY_FRESH:
		break;
	}
	replay_accept(&p->replay, out->seq);
	return verdict(in, HB_OK);
}
