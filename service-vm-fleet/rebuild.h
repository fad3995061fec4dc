/* A fleet started for the first time after a takeover named it (the cloud is
 * gone; fleet.db is empty, or a standby copy) rebuilds what it needs: every
 * live ledger member holding the node role that fleet.db lacks is known at
 * once, unheard, with a full eviction window (so a dead one shows evicted,
 * not absent), and the events open a new chapter that says where it begins
 * (once: <state_dir>/fleet.chapter remembers the takeover's index). */
#pragma once

struct fleet;

/* 0 when nothing was to be done or it is done; -errno otherwise. */
int fleet_rebuild(struct fleet *f);
