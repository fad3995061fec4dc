/* The UAPI backend: the text protocol of https://www.wireguard.com/xplatform/
 * on /var/run/wireguard/<ifname>.sock. Internal to wg.c; the formatting,
 * parsing and transport steps are exposed for the unit tests and the fuzzer. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "lib/wg-types.h"

#define WG_UAPI_DIR "/var/run/wireguard"

bool wg_uapi_has_interface(const char *ifname);
int wg_uapi_set_device(const struct wg_device *dev);
int wg_uapi_get_device(const char *ifname, struct wg_device **out);

/* The whole "set=1\n...\n\n" request. Free with wg_uapi_text_free, which
 * wipes it: it may hold the private key. */
int wg_uapi_format_set(const struct wg_device *dev, char **text, size_t *len);
void wg_uapi_text_free(char *text, size_t len);
/* A get reply, up to and including its empty line (or the end of text):
 * 0, the -errno the reply carries (errno=-2 and errno=2 both give -ENOENT),
 * -EBADMSG for a malformed line, a peer key before any public_key, data after
 * errno, or no errno line at all. dev is cleared first and again on error. */
int wg_uapi_parse_get(const char *text, size_t len, struct wg_device *dev);
/* A set reply: "errno=N\n\n". */
int wg_uapi_parse_set_reply(const char *text, size_t len);
/* Writes req on fd and reads one reply (through its empty line) into *reply,
 * at most max bytes. The reply is wiped and freed with wg_uapi_text_free. */
int wg_uapi_transact(int fd, const char *req, size_t req_len, size_t max,
		     char **reply, size_t *reply_len);
