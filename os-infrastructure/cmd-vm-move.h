/* vm move, vm move-show and vm release-source: asked of the fleet (cmd-vm-move.c). */
#pragma once
#include "os-infrastructure/cmd.h"

int vm_move(const struct cli *cli, int argc, char *argv[]);
int vm_release_source(const struct cli *cli, int argc, char *argv[]);
int vm_move_show(const struct cli *cli, int argc, char *argv[]);
