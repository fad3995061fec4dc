/* vm export and vm import: run on the guest's node (cmd-vm-export.c). */
#pragma once
#include "os-infrastructure/cmd.h"

int vm_export(const struct cli *cli, int argc, char *argv[]);
int vm_import(const struct cli *cli, int argc, char *argv[]);
