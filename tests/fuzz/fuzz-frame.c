/* The operator API stream: a byte stream cut into frames, each frame parsed
 * by type. Input: byte 0 picks the reader's limit, byte 1 the size of the
 * pieces the stream arrives in, the rest is the stream. Every payload that
 * parses must build back to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wire-frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void same_frame(const uint8_t *f, size_t flen, const uint8_t *p, size_t len)
{
	if (flen != FRAME_HEADER + len || memcmp(f + FRAME_HEADER, p, len) != 0)
		abort();
	if (f[0] != (uint8_t)(len >> 24) || f[1] != (uint8_t)(len >> 16) ||
	    f[2] != (uint8_t)(len >> 8) || f[3] != (uint8_t)len)
		abort();
}

static void check_signed(const uint8_t *p, size_t len)
{
	struct frame_signed fs;
	uint8_t *f;
	size_t flen;

	if (frame_parse_signed(p, len, &fs) != 0)
		return;
	if (!node_name_valid(fs.name) || fs.body_len == 0 || fs.sig != p + 10 + strlen(fs.name) ||
	    fs.body != fs.sig + SIG_BYTES || fs.body + fs.body_len != p + len)
		abort();
	if (frame_build_signed(fs.seq, fs.name, fs.sig, fs.body, fs.body_len, &f, &flen) != 0)
		abort();
	same_frame(f, flen, p, len);
	free(f);
}

static void check_payload(const uint8_t *p, size_t len, size_t max)
{
	uint8_t nonce[API_NONCE_BYTES], *f;
	size_t flen;

	if (len == 0 || len > max)
		abort();
	switch (p[0]) {
	case FRAME_HELLO:
		if (frame_parse_hello(p, len, nonce) != 0)
			return;
		if (frame_build_hello(nonce, &f, &flen) != 0)
			abort();
		same_frame(f, flen, p, len);
		free(f);
		break;
	case FRAME_SIGNED:
		check_signed(p, len);
		break;
	case FRAME_LOCAL:
	case FRAME_REPLY:
		if (len < 2)
			return;
		if (frame_build_plain(p[0], p + 1, len - 1, &f, &flen) != 0)
			abort();
		same_frame(f, flen, p, len);
		free(f);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct frame_reader r;
	const uint8_t *p;
	size_t max, piece, len;

	if (n < 2)
		return 0;
	max = 1 + (size_t)d[0] * 257; /* 1 .. 65536 = FRAME_REQUEST_MAX */
	piece = (size_t)d[1] % 32 + 1;
	frame_reader_init(&r, max);
	for (size_t pos = 2; pos < n; pos += piece) {
		size_t chunk = n - pos < piece ? n - pos : piece;

		if (frame_reader_feed(&r, d + pos, chunk) < 0)
			break;
		while (frame_reader_next(&r, &p, &len) == 1)
			check_payload(p, len, max);
	}
	frame_reader_free(&r);
	return 0;
}
