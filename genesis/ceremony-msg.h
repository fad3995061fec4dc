/* Encoders and decoders of the ceremony's messages (ceremony.h draws them).
 * Pure functions on bytes, no I/O: the fuzz harness drives every decoder.
 *
 * A payload here is a frame's payload: the type byte and the body, without
 * the u32be length. Encoders write at most size bytes to out and return the
 * full length, like snprintf (so NULL, 0 asks for the length), or a negative
 * errno for a field they cannot encode. Decoders take the whole payload and
 * return 0 or -EBADMSG; cmsg_decode_hello returns -EPROTONOSUPPORT for a
 * well-formed prefix with another version. A decoded message re-encodes to
 * the same bytes. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "genesis/ceremony-types.h"
#include "genesis/cpace.h"

#define CMSG_NONCE_BYTES 16
#define CMSG_AD_BYTES (2 + CMSG_NONCE_BYTES)
#define CMSG_ABORT_TEXT_MAX 120
#define CMSG_SEAL_BYTES 16 /* crypto_aead_xchacha20poly1305_ietf_ABYTES */
#define CMSG_AD_JOINER 1
#define CMSG_AD_INVITER 2
#define CMSG_TO_INVITER_MAX 4096
#define CMSG_TO_JOINER_MAX (CEREMONY_LEDGER_MAX + 4096)

enum cmsg_type {
	CMSG_HELLO = 0x01,
	CMSG_START = 0x02,
	CMSG_SHARE_A = 0x03,
	CMSG_SHARE_B = 0x04,
	CMSG_CONFIRM = 0x05,
	CMSG_SEALED = 0x06,
	CMSG_ABORT = 0x07,
	/* inner, inside SEALED */
	CMSG_JOIN = 0x11,
	CMSG_CONFIRMED = 0x12,
	CMSG_ANSWER = 0x13,
	CMSG_ABORT_SEALED = 0x14,
};

struct cmsg_hello {
	uint8_t version;
	unsigned int slot;
	uint8_t nonce[CMSG_NONCE_BYTES];
};

struct cmsg_start {
	uint8_t version;
	uint8_t nonce[CMSG_NONCE_BYTES];
};

/* SHARE_A leaves tag unused. */
struct cmsg_share {
	uint8_t Y[CPACE_POINT_BYTES];
	uint8_t ad[CMSG_AD_BYTES];
	uint8_t tag[CPACE_TAG_BYTES];
};

struct cmsg_abort {
	uint8_t reason;
	char text[CMSG_ABORT_TEXT_MAX + 1];
};

/* Decoded ANSWER: strings copied, the ledger pointing into the payload. */
struct cmsg_answer {
	char mesh_prefix[CEREMONY_ADDR_MAX + 1];
	char address[CEREMONY_ADDR_MAX + 1];
	char fleet[CEREMONY_ENDPOINT_MAX + 1];
	const uint8_t *ledger;
	size_t ledger_len;
};

/* The type byte of a payload, or -EBADMSG if it is empty. */
int cmsg_type(const uint8_t *p, size_t len);

/* ADa or ADb for a role (CMSG_AD_JOINER, CMSG_AD_INVITER). */
void cmsg_ad(uint8_t ad[CMSG_AD_BYTES], uint8_t role, const uint8_t nonce[CMSG_NONCE_BYTES]);

ssize_t cmsg_encode_hello(const struct cmsg_hello *m, uint8_t *out, size_t size);
ssize_t cmsg_encode_start(const struct cmsg_start *m, uint8_t *out, size_t size);
/* type is CMSG_SHARE_A or CMSG_SHARE_B */
ssize_t cmsg_encode_share(uint8_t type, const struct cmsg_share *m, uint8_t *out, size_t size);
ssize_t cmsg_encode_confirm(const uint8_t tag[CPACE_TAG_BYTES], uint8_t *out, size_t size);
/* type is CMSG_ABORT or CMSG_ABORT_SEALED; text is cut to fit, and bytes
 * outside 0x20..0x7e become '?'. */
ssize_t cmsg_encode_abort(uint8_t type, uint8_t reason, const char *text, uint8_t *out,
			  size_t size);
ssize_t cmsg_encode_join(const struct ceremony_joiner *m, uint8_t *out, size_t size);
ssize_t cmsg_encode_confirmed(uint8_t *out, size_t size);
ssize_t cmsg_encode_answer(const struct ceremony_answer *m, uint8_t *out, size_t size);

int cmsg_decode_hello(const uint8_t *p, size_t len, struct cmsg_hello *m);
int cmsg_decode_start(const uint8_t *p, size_t len, struct cmsg_start *m);
int cmsg_decode_share(uint8_t type, const uint8_t *p, size_t len, struct cmsg_share *m);
int cmsg_decode_confirm(const uint8_t *p, size_t len, uint8_t tag[CPACE_TAG_BYTES]);
int cmsg_decode_abort(uint8_t type, const uint8_t *p, size_t len, struct cmsg_abort *m);
int cmsg_decode_join(const uint8_t *p, size_t len, struct ceremony_joiner *m);
int cmsg_decode_confirmed(const uint8_t *p, size_t len);
int cmsg_decode_answer(const uint8_t *p, size_t len, struct cmsg_answer *m);
/* A SEALED payload: the ciphertext, at least one byte and the tag. */
int cmsg_decode_sealed(const uint8_t *p, size_t len, const uint8_t **ct, size_t *ct_len);

/* "addr/len" (IPv4 or IPv6, host bits zero), and whether an address lies in it. */
bool cmsg_prefix_valid(const char *prefix);
bool cmsg_address_in(const char *address, const char *prefix);
