/* Shared by the operator API's handler files. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "service-vm-fleet/guests.h"

struct fleet;

/* {"ok":false,"error":<formatted>} */
json_t *api_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
json_t *guest_json(const struct fleet *f, const struct guest *g);

json_t *op_vm_plan(struct fleet *f, json_t *req, const char *caller, uint64_t now);
json_t *op_vm_confirm(struct fleet *f, json_t *req, const char *caller, uint64_t now);
json_t *op_vm_cancel(struct fleet *f, json_t *req, const char *caller, uint64_t now);
json_t *op_vm_list(struct fleet *f);
json_t *op_vm_show(struct fleet *f, json_t *req);
json_t *op_vm_action(struct fleet *f, json_t *req, const char *caller);
json_t *op_vm_publish(struct fleet *f, json_t *req, const char *caller, uint64_t now);
json_t *op_vm_unpublish(struct fleet *f, json_t *req, const char *caller, uint64_t now);
json_t *op_vm_move(struct fleet *f, json_t *req, const char *caller, uint64_t now);
json_t *op_vm_move_confirm(struct fleet *f, json_t *req, const char *caller, uint64_t now);
json_t *op_vm_move_cancel(struct fleet *f, json_t *req, const char *caller, uint64_t now);
json_t *op_vm_move_show(struct fleet *f, json_t *req, const char *caller, uint64_t now);
json_t *op_vm_release_source(struct fleet *f, json_t *req, const char *caller, uint64_t now);
json_t *op_vm_backup_copy(struct fleet *f, json_t *req, const char *caller, uint64_t now);
json_t *op_vm_backup_copy_show(struct fleet *f, json_t *req, const char *caller, uint64_t now);
/* Whether node's transfer port (7106) is taken: it receives a move's
 * transfer or a backup's copy. */
bool api_transfer_port_busy(const struct fleet *f, const char *node);
/* Whether the registry holds name as live. */
bool api_node_live(const struct fleet *f, const char *name);
json_t *op_standby_copy(struct fleet *f, json_t *req, const char *caller, uint64_t now);
/* [{"proto","port","host_port"},...] of the guest */
json_t *published_json(const struct fleet *f, const char *guest);
