/* What a node keeps free on the filesystem that takes in a transfer (a
 * move's archive, a backup's copy): its state directory also holds the
 * ledger, fleet.db and the logs, which must still be writable after it. */
#pragma once

#define TRANSFER_ROOM_MARGIN (512ull << 20)

/* What a guest's import keeps free in the storage pool beside its data
 * volumes: the root overlay and the seed it makes there
 * (virt/virt-import.c, import_room; the fleet's move plan counts the same). */
#define IMPORT_ROOM_SLACK (16ull << 20)
