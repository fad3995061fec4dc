/* The operator API: one JSON object per request frame, one per reply
 * (lib/wire-frame.h gives the framing). Keys below are stable.
 *
 * Every reply has "ok": true, or "ok": false with "error": "<one line>".
 *
 * {"op":"status"} ->
 *   {"ok":true,
 *    "fleet":{"version","started":<unix s>,"uptime_s","evict_after_ms",
 *             "holding":bool,"held_due":n,"hold_reason":str|null,
 *             "nodes_live","nodes_evicted","nodes_awaiting"},
 *    "nodes":[NODE...],              sorted by name
 *    "guests":[GUEST...]}            as vm-list (below)
 *
 * NODE = {"name","state":"live"|"awaiting"|"held"|"evicted",
 *         "last_seen":<unix s>|null, "last_seen_age_ms":n|null,
 *         "cpu_percent":float|null, "ncpu":n|null,
 *         "mem_total_bytes":n|null, "mem_available_bytes":n|null (after pending),
 *         "mem_reported_available_bytes":n|null, "pending_bytes":n,
 *         "guests":n|null, "guest_mem_bytes":n|null, "libvirt":bool|null,
 *         "registered":<unix s>}
 *   state "awaiting": restored after a fleet restart, not heard since;
 *   state "held": due for eviction but the fleet is holding evictions.
 *
 * {"op":"node","name":S} -> {"ok":true,"node":NODE}
 *
 * {"op":"place","memory_bytes":N,"vcpus":N,"type":S?,"node":S?,"limit":N?,
 *  "commit":bool?,"guest_name":S?} ->
 *   {"ok":true,"request":{"memory_bytes","vcpus","type","node"},
 *    "suggestion":S|null, "fits":bool,
 *    "candidates":[{"rank","name","available_bytes","margin_bytes",
 *                   "after_bytes","guests"}...],
 *    "excluded":[{"name","reason","why"}...],
 *    "counts":{"candidates","excluded",
 *              "excluded_by_reason":{"evicted","no-sample","memory","vcpus","not-named"}},
 *    "placement_id":N (only when commit and a node fits), "decision_us":float}
 *   reason names come from place_exclusion_name(). Without "commit" the call
 *   is a dry run and changes nothing. With "commit":true the suggestion (or
 *   the named node) is reserved and a "placed" event is logged.
 *
 * {"op":"events","since":N?,"limit":N?} -> {"ok":true,"events":[EVENT...]}
 *   EVENT = {"id","time":<unix s>,"kind","node":S|null,"detail"}
 *   without "since": the latest `limit` (default 50) events.
 *
 * {"op":"hold-override"} -> {"ok":true,"evicting":n}  (error if not holding)
 *
 * Guests. Creating one is an operator action in two steps: a plan (the
 * fleet's advisory node and why), then an explicit confirmation of that plan.
 *
 * {"op":"vm-plan","type":T,"name":S,"node":S?,"memory_bytes":N?,"vcpus":N?} ->
 *   {"ok":true,"plan":{"token":hex32,"expires_in_s":N,"type","name","node",
 *                      "memory_bytes","vcpus","advisory":bool,
 *                      "ranking":<the "place" reply without "ok">}}
 *   T is totebox|mediakit|orchestration|privategit; memory and vCPUs default
 *   to the type's manifest. A totebox without "node" is refused (its WORM
 *   archive never moves over the network). "advisory" is false when the
 *   operator named the node. A plan reserves nothing and expires
 *   (default 120 s); an unconfirmed plan creates nothing. A newer plan for
 *   the same name replaces the older one: only the latest token confirms.
 *
 * {"op":"vm-confirm","token":hex32,"how":"cli-yes"|"cli-interactive"|"cli-token"|"panel-f9"} ->
 *   {"ok":true,"guest":GUEST}
 *   Commits the plan (reservation + "placed" event + "confirmed" event naming
 *   who confirmed and how) and dispatches it to the node's service-vm-host.
 *   Errors: unknown or expired token, name taken, node gone.
 *
 * {"op":"vm-cancel","token":hex32} -> {"ok":true}: drops a plan at once (the
 *   operator declined); its name is free again. Unknown tokens are an error.
 *
 * {"op":"vm-list"} -> {"ok":true,"guests":[GUEST...]}   sorted by name
 * {"op":"vm-show","name":S} -> {"ok":true,"guest":GUEST}
 * {"op":"vm-action","name":S,"action":"start"|"stop"|"destroy"} -> {"ok":true,"guest":GUEST}
 * {"op":"vm-migrate",...} -> always an error: live migration is excluded by design.
 *
 * GUEST = {"name","type","node","memory_bytes","vcpus",
 *          "state":"planned"|"dispatched"|"defining"|"booting"|"running"|
 *                  "stopped"|"failed"|"destroyed"|"node-lost",
 *          "detail":S|null (the failure's reason, or progress text),
 *          "accel":"kvm"|"tcg"|null, "created":<unix s>, "updated":<unix s>}
 *   "node-lost": the node is evicted; its guests are shown so and never moved.
 */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct fleet;

/* Handles one decoded request; `caller` names who asked, for the event log.
 * Always returns a reply object (never NULL). */
json_t *api_handle(struct fleet *f, json_t *request, const char *caller);

/* The operations, one table (api.c): api_handle dispatches through it and
 * api_op_changes reads who may ask from it. */
typedef json_t *api_handler(struct fleet *f, json_t *request, const char *caller, uint64_t now);
enum api_change {
	API_READS,               /* anyone who may reach the API */
	API_CHANGES,             /* over TCP, the admin role */
	API_CHANGES_IF_COMMIT,   /* a change only with "commit":true (place) */
};
struct api_op {
	const char *name;        /* the request's "op" */
	api_handler *handler;
	enum api_change changes;
};
const struct api_op *api_op_find(const char *name);   /* NULL if unknown */
const struct api_op *api_op_at(unsigned i);           /* NULL past the end */
/* Whether a request changes anything; unknown ops count as changes. */
bool api_op_changes(const json_t *request);
/* Why a caller may not make this request, or NULL: over TCP (!local) a
 * change needs the admin role. */
const char *api_refusal(const json_t *request, bool local, bool admin);
/* Parses a request body; on failure returns NULL and writes the reason. */
json_t *api_parse_request(const char *body, size_t len, char *err, size_t errlen);
