/* A fleet that starts with an empty fleet.db after a takeover named it (the
 * cloud is gone, its history with it) rebuilds what it needs: every live
 * ledger member holding the node role is known at once, unheard, with a full
 * eviction window (so a dead one shows evicted, not absent), and the events
 * open a new chapter that says where it begins. Guests come back with the
 * agents' reports. */
#pragma once

struct fleet;

/* 0 when nothing was to be done or it is done; -errno otherwise. */
int fleet_rebuild(struct fleet *f);
