/* The membership ledger ("capability ledger"): an append-only chain of signed
 * entries from which every member derives the mesh's WireGuard peers, the
 * heartbeat keys and who may admit, revoke and dispatch. Every member holds a
 * copy and verifies it back to genesis; there is no other authority.
 *
 * Format (file, and the bytes members exchange). Integers are big-endian,
 * there is no padding, and every field has one encoding only, so that
 * ledger_encode(ledger_parse(b)) == b.
 *
 *   header   4  magic "OILG"
 *            1  version (1)
 *            3  reserved, zero
 *            4  entry count, 1..65536
 *   entries  exactly count entries back to back; nothing may follow them
 *
 *   entry    1  kind: 1 genesis, 2 admit, 3 revoke, 4 grant, 5 ungrant,
 *               6 takeover, 7 rekey, 8 reinstate
 *            4  index: the entry's position, 0 for genesis
 *           32  prev: hash of the previous entry (genesis: 32 zero bytes)
 *            8  timestamp, unix seconds (display; checked only between rival takeovers)
 *          1+n  signer: n (1..31), then the signer's member name
 *                 body, by kind:
 *                   genesis  32  mesh id (random)
 *                             4  mesh prefix address (IPv4, host bits zero)
 *                             1  mesh prefix length, 16..30
 *                                member record: the founder
 *                   admit        member record: the new member
 *                   revoke  1+n  name of the member revoked
 *                   grant   1+n  name of the member
 *                             1  roles added (same bits as a record's roles)
 *                   ungrant 1+n  name of the member
 *                             1  roles removed (same bits)
 *                   rekey   1+n  name of the member
 *                            32  its new Ed25519 key
 *                            32  its new X25519 key
 *                            32  its new WireGuard key
 *                           1+n  its new endpoint (n = 0: unchanged)
 *                            64  request: Ed25519 by the member's current
 *                                key over "osi-rekey-v1" (12 bytes), the
 *                                genesis entry's hash, then the five fields
 *                                above as encoded here
 *                   reinstate    the five fields of rekey, no request
 *                   takeover 1+n  from: the sequencer it replaces
 *                           1+n  to: the new sequencer
 *                             1  roles moved: 0, or the fleet role's bit
 *           64  signature
 *
 *   member  1+n  name: n (1..31), then [a-z0-9-], not starting or ending '-'
 *   record  32  Ed25519 public key (signs ledger entries and API requests)
 *           32  X25519 public key (heartbeat key agreement)
 *           32  WireGuard public key
 *            4  mesh address (IPv4 /32 inside the prefix, neither its network
 *               nor its broadcast address)
 *          1+n  endpoint: n (0..63), then "host:port" (n = 0: none). host is
 *               a DNS name or IPv4 address ([A-Za-z0-9.-]) or "[IPv6]";
 *               port 1..65535 without leading zeros
 *            1  roles: bit 0 node, 1 fleet, 2 admin, 3 relay; other bits
 *               zero; never zero
 *
 *   signature = Ed25519 by the signer over "osi-ledger-v1" (13 bytes, no NUL)
 *               followed by every byte of the entry before the signature
 *   hash      = BLAKE2b-256 (unkeyed) of every byte of the entry, signature
 *               included; the hash of the last entry is the head hash
 *
 * Rules, checked in order from genesis (ledger_verify):
 *   - entry 0 and only entry 0 is genesis; every index equals its position;
 *     every prev equals the hash of the entry before it.
 *   - genesis is signed by the founder it introduces (signer == its name,
 *     verified with its key); the founder holds the admin role.
 *     LEDGER_FOUNDER_ROLES (node, fleet, admin) is the usual choice.
 *   - every other entry is signed by a member admitted earlier, not revoked
 *     at that point, holding the admin role at that point.
 *   - names, the three public keys and mesh addresses are unique among all
 *     members ever admitted: a revoked member's name, keys and address are
 *     never given to anyone again.
 *   - revoke names a live member and may not remove the last live admin; an
 *     admin may revoke itself if another admin remains. A revoked member
 *     signs nothing after its revocation.
 *   - grant names a live member and adds at least one role it lacks.
 *   - rekey names a live member and carries a request its current key
 *     signed; reinstate names a live member (its old key is lost: the admin's
 *     signature alone vouches for it). Either replaces the member's three
 *     keys (and its endpoint, if one is given) and keeps its name, address
 *     and roles. The new keys obey the uniqueness rule, and a replaced key
 *     counts as given: it never comes back, so neither entry can be
 *     replayed. The member may sign the entry itself when it is an admin.
 *   - takeover names as from the current sequencer (ledger_sequencer) and
 *     as to another live member. From then on to is the sequencer, while it
 *     is live. With the fleet role moved, from loses it (it may be left
 *     with no role: inert until revoked) and to gains it; no live member
 *     admitted before to may hold fleet then, so that to is the fleet
 *     every member finds (the first live holder).
 *   - ungrant names a live member and removes roles it holds, every one of
 *     them; it may not leave the member without any role (that is a
 *     revocation) nor remove the admin role from the last live admin. An
 *     admin may remove its own admin role if another admin remains.
 *
 * Truncation: the header's count makes a cut byte stream fail to parse,
 * even at an entry boundary. A ledger re-encoded without its last entries is
 * a valid, older ledger; only comparison with a newer copy (ledger_extend)
 * tells that entries are missing.
 *
 * Concurrent admissions. Two admins appending at the same moment sign two
 * entries with the same index and prev: the chains fork and neither extends
 * the other, so ledger_extend refuses either into the other (-EEXIST). One
 * member serializes the ledger, the sequencer (ledger_sequencer: of the live
 * members holding fleet, the one admitted first, whenever it got the role;
 * if none holds fleet, the live admin admitted first). An entry is final
 * only once the sequencer's copy has accepted it through ledger_extend (the
 * sequencer's own appends are final at once). An admin therefore appends to
 * its own copy, sends it to the sequencer, and only on success stores it,
 * pushes it to other members and tells the joiner its address. On a refusal
 * it drops its entry (ledger_truncate), pulls the sequencer's ledger,
 * allocates the address again (ledger_next_address) and signs a new entry.
 * Every copy is then a prefix of the sequencer's, so no two live members
 * ever hold the same address.
 *
 * Concurrent takeovers. A takeover cannot wait for the dead sequencer, so
 * two admins may append two at the same index. Rule: where two copies fork
 * at an index holding a takeover in both, ledger_extend replaces the local
 * takeover with the remote chain (which must verify whole) only if all hold:
 * the local takeover is the last local entry (nothing else is ever dropped,
 * so no revocation can be undone); the two timestamps are at most
 * LEDGER_TAKEOVER_WINDOW seconds apart; the remote one's signer is a live
 * admin in the local copy and not the sequencer both replace; and the
 * remote one has the lower entry hash (bytewise). Otherwise it is a fork
 * (-EEXIST). Each test depends only on the two entries and the local copy,
 * so copies still at their takeover converge on the winner through ordinary
 * syncs; a copy that appended after a losing takeover keeps its fork for
 * the operator to settle.
 *
 * In memory, IPv4 addresses are uint32_t in host byte order. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/auth.h"
#include "lib/identity.h"
#include "lib/wire-heartbeat.h"

#define LEDGER_MAGIC "OILG"
#define LEDGER_VERSION 1
#define LEDGER_HEADER_SIZE 12
#define LEDGER_MAX_ENTRIES 65536u
#define LEDGER_FILE_MAX (32u << 20) /* well above 65536 of the largest entries */
#define LEDGER_ENDPOINT_MAX 63
#define LEDGER_HASH_BYTES 32
#define LEDGER_MESH_ID_BYTES 32
#define LEDGER_WG_KEY_BYTES 32
#define LEDGER_PREFIX_MIN 16
#define LEDGER_PREFIX_MAX 30
#define LEDGER_DOMAIN "osi-ledger-v1"
#define LEDGER_REKEY_DOMAIN "osi-rekey-v1"
/* Two takeovers compete only if signed this close (seconds, a bare literal). */
#define LEDGER_TAKEOVER_WINDOW 600

enum ledger_kind {
	LEDGER_GENESIS = 1,
	LEDGER_ADMIT = 2,
	LEDGER_REVOKE = 3,
	LEDGER_GRANT = 4,
	LEDGER_UNGRANT = 5,
	LEDGER_TAKEOVER = 6,
	LEDGER_REKEY = 7,
	LEDGER_REINSTATE = 8,
};

/* Node, fleet and admin have the values of the interim trust file's roles. */
enum ledger_role {
	LEDGER_ROLE_NODE = 1u << 0,
	LEDGER_ROLE_FLEET = 1u << 1,
	LEDGER_ROLE_ADMIN = 1u << 2,
	LEDGER_ROLE_RELAY = 1u << 3,
};
#define LEDGER_ROLES_ALL 0x0fu
#define LEDGER_FOUNDER_ROLES (LEDGER_ROLE_NODE | LEDGER_ROLE_FLEET | LEDGER_ROLE_ADMIN)

/* A member record. In an entry only the record fields are meaningful (roles
 * are the initial roles; the rest is zero). In ledger_members() the roles are
 * the current ones and the last three fields say what happened to it. */
struct ledger_member {
	char name[NODE_NAME_MAX + 1];         /* NUL-padded */
	uint8_t sign_pk[SIGN_PK_BYTES];
	uint8_t kx_pk[KX_PK_BYTES];
	uint8_t wg_pk[LEDGER_WG_KEY_BYTES];
	uint32_t addr;
	char endpoint[LEDGER_ENDPOINT_MAX + 1]; /* "" when unknown, NUL-padded */
	unsigned roles;
	bool revoked;
	uint32_t admitted_at;                 /* index of its genesis or admit entry */
	uint32_t revoked_at;                  /* index of its revoke entry, if revoked */
};

struct ledger_entry {
	enum ledger_kind kind;
	uint32_t index;
	uint8_t prev[LEDGER_HASH_BYTES];
	uint64_t timestamp;
	char signer[NODE_NAME_MAX + 1];
	/* genesis */
	uint8_t mesh_id[LEDGER_MESH_ID_BYTES];
	uint32_t prefix_addr;
	uint8_t prefix_len;
	/* genesis (the founder) and admit; rekey and reinstate: the new keys
	 * and endpoint (name = subject, no address, no roles) */
	struct ledger_member member;
	/* revoke, grant, ungrant, rekey and reinstate; takeover: to */
	char subject[NODE_NAME_MAX + 1];
	unsigned roles; /* grant: roles added; ungrant: removed; takeover: moved */
	char from[NODE_NAME_MAX + 1]; /* takeover: the sequencer replaced */
	uint8_t request[SIG_BYTES]; /* rekey: the member's own signature */
	uint8_t sig[SIG_BYTES];
};

struct ledger_state; /* derived by ledger_verify */

struct ledger {
	struct ledger_entry *entries;
	size_t count;
	size_t cap;
	struct ledger_state *state; /* NULL until verified; see ledger_verified() */
};

/* Every struct ledger starts with ledger_init (or zeroing). */
void ledger_init(struct ledger *l);
void ledger_free(struct ledger *l);
bool ledger_verified(const struct ledger *l);

/* Decodes bytes into l (which it frees first). Checks the syntax only: the
 * result is unverified. -EBADMSG with a reason in err ("entry 3: ..."). */
int ledger_parse(const uint8_t *buf, size_t len, struct ledger *l, char *err, size_t errlen);
/* Encodes any ledger, verified or not; *out is malloc'ed. */
int ledger_encode(const struct ledger *l, uint8_t **out, size_t *len);
/* Verifies the whole chain (rules above) and derives the membership. On
 * failure returns -EBADMSG, leaves l unverified, and err names the entry
 * index and the reason. */
int ledger_verify(struct ledger *l, char *err, size_t errlen);

/* Read, parse and verify; or write a verified ledger atomically, mode 0644. */
int ledger_load(const char *path, struct ledger *l, char *err, size_t errlen);
int ledger_save(const char *path, const struct ledger *l);

/* Starts a mesh in an empty ledger: the founder is id, at the first host
 * address of the prefix, with the given roles (which must include admin).
 * mesh_id may be NULL for a random one. */
int ledger_genesis(struct ledger *l, const struct identity *id, const uint8_t *mesh_id,
		   uint32_t prefix_addr, uint8_t prefix_len,
		   const uint8_t wg_pk[LEDGER_WG_KEY_BYTES], const char *endpoint,
		   unsigned roles, char *err, size_t errlen);

/* Build, sign with id and append one entry to a verified ledger, after
 * checking it against every rule. The ledger is unchanged on failure:
 * -EPERM (id may not sign it), -EEXIST (name, key or address taken),
 * -ENOENT (no such live member), -EINVAL (bad field, or a ledger that is not
 * verified), -ENOSPC (ledger full), -EBADMSG (id's key is not the ledger's). */
int ledger_append_admit(struct ledger *l, const struct identity *id,
			const struct ledger_member *m, char *err, size_t errlen);
int ledger_append_revoke(struct ledger *l, const struct identity *id, const char *name,
			 char *err, size_t errlen);
int ledger_append_grant(struct ledger *l, const struct identity *id, const char *name,
			unsigned roles, char *err, size_t errlen);
int ledger_append_ungrant(struct ledger *l, const struct identity *id, const char *name,
			  unsigned roles, char *err, size_t errlen);

/* Re-keying. m names the member and carries its new keys and endpoint (""
 * to keep the current one). The member signs the request with its current
 * identity (old); an admin (the member itself if it is one) appends the
 * entry. Reinstate is for a member whose old key is lost. */
int ledger_rekey_request(const struct ledger *l, const struct identity *old,
			 const struct ledger_member *m, uint8_t request[SIG_BYTES]);
int ledger_append_rekey(struct ledger *l, const struct identity *id,
			const struct ledger_member *m, const uint8_t request[SIG_BYTES],
			char *err, size_t errlen);
int ledger_append_reinstate(struct ledger *l, const struct identity *id,
			    const struct ledger_member *m, char *err, size_t errlen);

/* Moves the sequencer from the current one (named in from, so that an
 * entry signed against a stale view fails) to the live member to; with
 * with_fleet, the fleet role moves too (see the rules above). */
int ledger_append_takeover(struct ledger *l, const struct identity *id, const char *from,
			   const char *to, bool with_fleet, char *err, size_t errlen);

/* Keeps the first count entries (count >= 1) of a verified ledger. */
int ledger_truncate(struct ledger *l, size_t count);

/* Merges a copy received from a peer into a verified local ledger. remote
 * may be unverified; when entries are added, remote's entries move into
 * local and remote is left empty. Returns the number of entries added (0:
 * the same ledger, nothing moves), or
 * -ESTALE (remote is an older prefix of local), -EEXIST (fork: a different
 * entry at the same index, unless remote wins a takeover fork as described
 * in "Concurrent takeovers": then local takes remote's chain and the result
 * counts remote's entries from the fork), -EXDEV (another mesh: genesis
 * differs), -EBADMSG
 * (remote's new entries do not verify), -EINVAL (local not verified). local
 * is unchanged on any error; err says why. Entries local already holds are
 * not verified twice. */
int ledger_extend(struct ledger *local, struct ledger *remote, char *err, size_t errlen);

/* Queries on a verified ledger (-EINVAL otherwise). */
/* Every member ever admitted, in admission order, with current roles and the
 * revoked flag. Valid until the ledger next changes. */
int ledger_members(const struct ledger *l, const struct ledger_member **members, size_t *count);
/* A member by name (revoked ones too), or NULL. */
const struct ledger_member *ledger_find(const struct ledger *l, const char *name);
/* The member that serializes appends (see "Concurrent admissions"): the
 * member the last takeover named, while it is live; else the rule above. */
const struct ledger_member *ledger_sequencer(const struct ledger *l);
/* The lowest host address of the prefix never given to any member (revoked
 * ones included); -ENOSPC when none is left. O(1). */
int ledger_next_address(const struct ledger *l, uint32_t *addr);
int ledger_head_hash(const struct ledger *l, uint8_t hash[LEDGER_HASH_BYTES]);

/* Signs an entry built by hand with the key of id (tools and tests). */
int ledger_entry_sign(struct ledger_entry *e, const struct identity *id);

/* Helpers for commands and messages. */
bool ledger_endpoint_valid(const char *endpoint);
/* "10.77.0.0/16"; -EINVAL if malformed, host bits set or out of range. */
int ledger_prefix_parse(const char *text, uint32_t *addr, uint8_t *len);
void ledger_addr_format(uint32_t addr, char buf[16]);
/* "node,relay"; -EINVAL on an unknown role. */
int ledger_roles_parse(const char *text, unsigned *roles);
void ledger_roles_format(unsigned roles, char *buf, size_t len);
const char *ledger_kind_name(enum ledger_kind kind);
