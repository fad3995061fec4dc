/* lib/sha256-tree: the list hash of 4 MiB pieces, however the bytes are fed,
 * against the definition built here piece by piece and against coreutils'
 * split with openssl's digest (the documented way to check it by hand). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/sha256.h"
#include "lib/sha256-tree.h"

#define P SHA256_TREE_PIECE

static uint8_t *pattern(size_t n)
{
	uint8_t *b = malloc(n ? n : 1);

	assert_non_null(b);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)((i * 2654435761u) >> 13);
	return b;
}

/* The definition, one piece after another. */
static void expected(const uint8_t *b, size_t n, char out[65])
{
	struct sha256 *outer = sha256_new();

	for (size_t off = 0; off < n; off += P) {
		struct sha256 *s = sha256_new();
		uint8_t d[32];

		sha256_update(s, b + off, n - off < P ? n - off : P);
		sha256_final(s, d);
		sha256_update(outer, d, sizeof(d));
	}
	sha256_hex(outer, out);
}

static void fed_in_steps(const uint8_t *b, size_t n, size_t step, char out[65])
{
	struct sha256_tree *t = sha256_tree_new(SHA256_TREE_PIECES);

	assert_non_null(t);
	for (size_t off = 0; off < n; off += step)
		sha256_tree_update(t, b + off, n - off < step ? n - off : step);
	assert_int_equal(sha256_tree_hex(t, out), 0);
}

static void committed_in_steps(const uint8_t *b, size_t n, size_t step, char out[65])
{
	struct sha256_tree *t = sha256_tree_new(SHA256_TREE_PIECES);
	size_t off = 0, room;

	assert_non_null(t);
	while (off < n) {
		uint8_t *dst = sha256_tree_next(t, &room);
		size_t k = n - off < room ? n - off : room;

		assert_true(room >= 1 && room <= P);
		k = k < step ? k : step;
		memcpy(dst, b + off, k);
		sha256_tree_commit(t, k);
		off += k;
	}
	assert_int_equal(sha256_tree_hex(t, out), 0);
}

static void sizes_and_feeds(void **state)
{
	static const size_t sizes[] = { 0, 1, P - 1, P, P + 1, 2 * P, 3 * P, 4 * P + 12345, 7 * P };
	static const size_t steps[] = { 1 << 20, 4093, P, P + 7, 3 * P };
	char want[65], got[65];

	(void)state;
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *b = pattern(sizes[i]);

		expected(b, sizes[i], want);
		for (unsigned j = 0; j < sizeof(steps) / sizeof(steps[0]); j++) {
			if (sizes[i] > 2 * P && steps[j] == 4093)
				continue; /* slow, and the small sizes cover it */
			fed_in_steps(b, sizes[i], steps[j], got);
			assert_string_equal(got, want);
			committed_in_steps(b, sizes[i], steps[j], got);
			assert_string_equal(got, want);
		}
		free(b);
	}
}

/* Pieces hashed where they are, alone or after and before copied bytes. */
static void lent_pieces(void **state)
{
	size_t n = 5 * P + 777;
	uint8_t *b = pattern(n);
	char want[65], got[65];
	struct sha256_tree *t;

	(void)state;
	expected(b, n, want);
	t = sha256_tree_new(SHA256_TREE_PIECES);
	for (size_t off = 0; off < n; off += P)
		sha256_tree_piece(t, b + off, n - off < P ? n - off : P);
	assert_int_equal(sha256_tree_hex(t, got), 0);
	assert_string_equal(got, want);
	/* 100 bytes copied first: a lent piece no longer starts a piece */
	t = sha256_tree_new(SHA256_TREE_PIECES);
	sha256_tree_update(t, b, 100);
	sha256_tree_piece(t, b + 100, P);
	sha256_tree_update(t, b + 100 + P, n - 100 - P);
	assert_int_equal(sha256_tree_hex(t, got), 0);
	assert_string_equal(got, want);
	/* a short lent piece, then more bytes: they join it */
	t = sha256_tree_new(SHA256_TREE_PIECES);
	sha256_tree_piece(t, b, 1000);
	sha256_tree_update(t, b + 1000, n - 1000);
	assert_int_equal(sha256_tree_hex(t, got), 0);
	assert_string_equal(got, want);
	/* the plain kind takes a piece as bytes */
	t = sha256_tree_new(SHA256_TREE_PLAIN);
	sha256_tree_piece(t, b, P);
	sha256_tree_piece(t, b + P, 5);
	assert_int_equal(sha256_tree_hex(t, got), 0);
	{
		struct sha256 *s = sha256_new();

		sha256_update(s, b, P + 5);
		sha256_hex(s, want);
	}
	assert_string_equal(got, want);
	free(b);
}

/* No bytes, no pieces: the SHA-256 of nothing. One piece differs from the
 * plain SHA-256 of the same bytes (it is the hash of their hash). */
static void known_values(void **state)
{
	struct sha256_tree *t = sha256_tree_new(SHA256_TREE_PIECES);
	char got[65], plain[65];
	struct sha256 *s;

	(void)state;
	assert_int_equal(sha256_tree_hex(t, got), 0);
	assert_string_equal(got, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	t = sha256_tree_new(SHA256_TREE_PIECES);
	sha256_tree_update(t, "abc", 3);
	assert_int_equal(sha256_tree_hex(t, got), 0);
	/* SHA-256 of the 32 bytes of SHA-256("abc") */
	assert_string_equal(got, "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358");
	t = sha256_tree_new(SHA256_TREE_PLAIN);
	sha256_tree_update(t, "abc", 3);
	assert_int_equal(sha256_tree_hex(t, plain), 0);
	s = sha256_new();
	sha256_update(s, "abc", 3);
	sha256_hex(s, got);
	assert_string_equal(plain, got);
}

/* The plain kind through next/commit is the SHA-256 of the bytes. */
static void plain_by_commit(void **state)
{
	size_t n = 2 * P + 99, off = 0, room;
	uint8_t *b = pattern(n);
	struct sha256_tree *t = sha256_tree_new(SHA256_TREE_PLAIN);
	struct sha256 *s = sha256_new();
	char want[65], got[65];

	(void)state;
	while (off < n) {
		uint8_t *dst = sha256_tree_next(t, &room);
		size_t k = n - off < room ? n - off : room;

		memcpy(dst, b + off, k);
		sha256_tree_commit(t, k);
		off += k;
	}
	assert_int_equal(sha256_tree_hex(t, got), 0);
	sha256_update(s, b, n);
	sha256_hex(s, want);
	assert_string_equal(got, want);
	free(b);
}

/* The command docs/protocol.md gives to check a volume by hand. */
static void same_as_split_and_openssl(void **state)
{
	char path[] = "/tmp/test-sha256-tree.XXXXXX", cmd[256], line[128] = "", got[65];
	size_t n = 2 * P + 4321;
	uint8_t *b = pattern(n);
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, n), (ssize_t)n);
	close(fd);
	fed_in_steps(b, n, 1 << 20, got);
	free(b);
	if (system("command -v openssl > /dev/null && command -v split > /dev/null")) {
		unlink(path);
		skip();
	}
	snprintf(cmd, sizeof(cmd), "split -b 4194304 --filter='openssl dgst -sha256 -binary' %s | "
		 "sha256sum", path);
	assert_non_null(f = popen(cmd, "r"));
	assert_non_null(fgets(line, sizeof(line), f));
	pclose(f);
	unlink(path);
	line[64] = '\0';
	assert_string_equal(got, line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes_and_feeds),
		cmocka_unit_test(known_values),
		cmocka_unit_test(lent_pieces),
		cmocka_unit_test(plain_by_commit),
		cmocka_unit_test(same_as_split_and_openssl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
