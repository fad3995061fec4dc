/* lib/sha256.h */
#include <sodium.h>
#include <stdlib.h>

#include "lib/sha256.h"

#ifdef OSI_HAVE_LIBCRYPTO
#include <openssl/evp.h>

struct sha256 {
	EVP_MD_CTX *ctx;
};

struct sha256 *sha256_new(void)
{
	struct sha256 *s = malloc(sizeof(*s));

	if (s && (!(s->ctx = EVP_MD_CTX_new()) || EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1)) {
		EVP_MD_CTX_free(s->ctx);
		free(s);
		s = NULL;
	}
	return s;
}

void sha256_update(struct sha256 *s, const void *buf, size_t len)
{
	EVP_DigestUpdate(s->ctx, buf, len);
}

static void final(struct sha256 *s, unsigned char d[32])
{
	unsigned int n = 32;

	EVP_DigestFinal_ex(s->ctx, d, &n);
}

void sha256_free(struct sha256 *s)
{
	if (s)
		EVP_MD_CTX_free(s->ctx);
	free(s);
}
#else
struct sha256 {
	crypto_hash_sha256_state st;
};

struct sha256 *sha256_new(void)
{
	struct sha256 *s = malloc(sizeof(*s));

	if (s)
		crypto_hash_sha256_init(&s->st);
	return s;
}

void sha256_update(struct sha256 *s, const void *buf, size_t len)
{
	crypto_hash_sha256_update(&s->st, buf, len);
}

static void final(struct sha256 *s, unsigned char d[32])
{
	crypto_hash_sha256_final(&s->st, d);
}

void sha256_free(struct sha256 *s)
{
	free(s);
}
#endif

void sha256_final(struct sha256 *s, unsigned char d[32])
{
	final(s, d);
	sha256_free(s);
}

void sha256_hex(struct sha256 *s, char out[65])
{
	unsigned char d[32];

	sha256_final(s, d);
	sodium_bin2hex(out, 65, d, sizeof(d));
}
