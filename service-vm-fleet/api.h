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
 *    "nodes":[NODE...]}              sorted by name
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
 */
#pragma once
#include <jansson.h>

struct fleet;

/* Handles one decoded request; `caller` names who asked, for the event log.
 * Always returns a reply object (never NULL). */
json_t *api_handle(struct fleet *f, json_t *request, const char *caller);
/* Parses a request body; on failure returns NULL and writes the reason. */
json_t *api_parse_request(const char *body, size_t len, char *err, size_t errlen);
