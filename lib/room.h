/* What a node keeps free on the filesystem that takes in a transfer (a
 * move's archive, a backup's copy): its state directory also holds the
 * ledger, fleet.db and the logs, which must still be writable after it. */
#pragma once

#define TRANSFER_ROOM_MARGIN (512ull << 20)
