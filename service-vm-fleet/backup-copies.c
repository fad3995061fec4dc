#include "service-vm-fleet/backup-copies.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[] = { "sending", "stored", "failed" };

const char *copy_state_name(enum copy_state st)
{
	return (unsigned)st < sizeof(state_names) / sizeof(state_names[0]) ? state_names[st] : "failed";
}

int copy_state_parse(const char *text, enum copy_state *out)
{
	for (unsigned i = 0; text && i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (!strcmp(text, state_names[i])) {
			*out = (enum copy_state)i;
			return 0;
		}
	return -EINVAL;
}

static void changed(const struct backup_copy *bc)
{
	if (bc->owner && bc->owner->changed)
		bc->owner->changed(bc->owner->ctx, bc);
}

void backup_copies_free(struct backup_copies *c)
{
	for (struct backup_copy *bc = c->head, *next; bc; bc = next) {
		next = bc->next;
		sodium_memzero(bc->token, sizeof(bc->token));
		free(bc);
	}
	c->head = NULL;
}

struct backup_copy *backup_copy_find(const struct backup_copies *c, const char *guest)
{
	for (struct backup_copy *bc = c->head; bc; bc = bc->next)
		if (!strcmp(bc->guest, guest))
			return bc;
	return NULL;
}

bool backup_copy_receiving(const struct backup_copies *c, const char *node)
{
	for (const struct backup_copy *bc = c->head; bc; bc = bc->next)
		if (bc->state == COPY_SENDING && !strcmp(bc->target, node))
			return true;
	return false;
}

int backup_copy_begin(struct backup_copies *c, const char *guest, const char *id,
		      const char *source, const char *target, bool restore, unsigned keep,
		      int64_t wall, struct backup_copy **out)
{
	struct backup_copy *bc = backup_copy_find(c, guest);
	uint8_t tok[32];

	if (bc && bc->state == COPY_SENDING)
		return -EBUSY;
	if (!bc) {
		if (!(bc = calloc(1, sizeof(*bc))))
			return -ENOMEM;
		bc->next = c->head;
		c->head = bc;
	}
	struct backup_copy *next = bc->next;

	memset(bc, 0, sizeof(*bc));
	bc->owner = c;
	bc->next = next;
	snprintf(bc->guest, sizeof(bc->guest), "%s", guest);
	snprintf(bc->id, sizeof(bc->id), "%s", id);
	snprintf(bc->source, sizeof(bc->source), "%s", source);
	snprintf(bc->target, sizeof(bc->target), "%s", target);
	if (restore)
		snprintf(bc->restore, sizeof(bc->restore), "%s", id);
	randombytes_buf(tok, sizeof(tok));
	sodium_bin2hex(bc->token, sizeof(bc->token), tok, sizeof(tok));
	sodium_memzero(tok, sizeof(tok));
	bc->keep = keep;
	bc->started = wall;
	snprintf(bc->detail, sizeof(bc->detail), "asked %s to send, %s to receive", source, target);
	*out = bc;
	changed(bc);
	return 0;
}

int backup_copies_restore(struct backup_copies *c, const struct backup_copy *stored)
{
	struct backup_copy *bc;

	if (backup_copy_find(c, stored->guest))
		return -EEXIST;
	if (!(bc = malloc(sizeof(*bc))))
		return -ENOMEM;
	*bc = *stored;
	memset(bc->token, 0, sizeof(bc->token));
	bc->sent = false;
	bc->owner = c;
	bc->next = c->head;
	c->head = bc;
	return 0;
}

static void end(struct backup_copy *bc, enum copy_state st, int64_t wall)
{
	bc->state = st;
	bc->ended = wall;
	changed(bc);
}

void backup_copies_interrupted(struct backup_copies *c, int64_t wall)
{
	for (struct backup_copy *bc = c->head; bc; bc = bc->next)
		if (bc->state == COPY_SENDING) {
			snprintf(bc->detail, sizeof(bc->detail), "the fleet restarted while it was "
				 "sending; %s keeps each backup whole or not at all: run the copy again",
				 bc->target);
			end(bc, COPY_FAILED, wall);
		}
}

void backup_copy_fail(struct backup_copy *bc, const char *node, const char *why, int64_t wall)
{
	if (bc->state != COPY_SENDING)
		return;
	snprintf(bc->detail, sizeof(bc->detail), "%s: %s", node, why);
	end(bc, COPY_FAILED, wall);
}

void backup_copy_line(struct backup_copy *bc, bool out, const json_t *line, int64_t wall)
{
	const char *st = json_string_value(json_object_get(line, "state"));
	const char *detail = json_string_value(json_object_get(line, "detail"));
	json_int_t bytes = json_integer_value(json_object_get(line, "bytes"));
	json_int_t total = json_integer_value(json_object_get(line, "total"));

	if (!st || bc->state != COPY_SENDING)
		return;
	if (!strcmp(st, "failed"))
		return backup_copy_fail(bc, out ? bc->source : bc->target, detail ? detail : "failed", wall);
	if (total > 0 && bytes >= 0 && bytes <= total) {
		bc->bytes = (uint64_t)bytes;
		bc->total = (uint64_t)total;
	}
	if (out && !strcmp(st, "sent"))
		bc->sent = true;
	if (detail)
		snprintf(bc->detail, sizeof(bc->detail), "%s: %s", out ? bc->source : bc->target, detail);
	if (!out && !strcmp(st, "stored"))
		end(bc, COPY_STORED, wall);
}

void backup_copies_node_lost(struct backup_copies *c, const char *node, const char *why,
			     int64_t wall)
{
	for (struct backup_copy *bc = c->head; bc; bc = bc->next)
		if (bc->state == COPY_SENDING && (!strcmp(bc->source, node) || !strcmp(bc->target, node))) {
			snprintf(bc->detail, sizeof(bc->detail), "%s was evicted: %s", node, why);
			end(bc, COPY_FAILED, wall);
		}
}

json_t *backup_copy_json(const struct backup_copy *bc)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:I, s:I, s:I, s:I, s:s}", "guest", bc->guest,
			 "backup", bc->id, "source", bc->source, "target", bc->target,
			 "restore", bc->restore[0] != '\0',
			 "state", copy_state_name(bc->state), "bytes", (json_int_t)bc->bytes,
			 "total", (json_int_t)bc->total, "started", (json_int_t)bc->started,
			 "ended", (json_int_t)bc->ended, "detail", bc->detail);
}
