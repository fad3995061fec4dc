/* Where the agent finds its helpers (service-vm-host-guests, -virt): next to
 * the running executable when one is there (a build tree), else in the
 * installed libexec directory (OSI_LIBEXEC_DIR). */
#pragma once
#include <stddef.h>

/* Writes the helper's path into path; -ENAMETOOLONG, or uv_exepath's error. */
int host_helper_path(const char *name, char *path, size_t size);
/* The same choice given the running executable's directory (for tests). */
int host_helper_path_in(const char *exe_dir, const char *name, char *path, size_t size);
