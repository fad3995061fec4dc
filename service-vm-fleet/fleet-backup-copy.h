/* The fleet's side of backups' copies (backup-copies.h holds the
 * bookkeeping): each copy's beginning and end are recorded in fleet.db
 * (store-backup-copy.h), and read back when the fleet starts. */
#pragma once

#include "service-vm-fleet/fleet.h"

/* Makes the table where missing, reads the recorded copies back (a copy
 * still sending is marked failed and written back: its parts ended with
 * the fleet) and records every later beginning and end. A failed write is
 * logged and counted (store_errors), never fatal to the copy. */
int fleet_copies_load(struct fleet *f);
