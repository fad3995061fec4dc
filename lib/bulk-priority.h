/* A process that moves a guest's data in bulk (a move's or a backup copy's
 * mover and helper) yields the CPU and the disk to everything else on the
 * node: the mesh (whose wireguard-go carries the transfer itself, and the
 * heartbeats whose silence gets a node evicted), the agent, the guests. */
#pragma once

#define BULK_NICE 10        /* setpriority(2): 0 is the default, 19 the lowest */
#define BULK_IOPRIO_LEVEL 7 /* ioprio_set(2): best-effort class, its lowest level */

/* This process (and what it starts) at BULK_NICE and the lowest
 * best-effort I/O priority, neither raised where already lower (a higher
 * nice, the idle I/O class): 0 or -errno. */
int bulk_priority(void);
