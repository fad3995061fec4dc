/* The node's sealing key (lib/seal-key.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/seal-key.h"

#define SEAL_KEY_TAG "osi-seal-key-v1 "
#define SEAL_KEY_TEXT (sizeof(SEAL_KEY_TAG) - 1 + 64 + 1)

/* Only its owner may read it or change what it is. */
static int private_stat(const struct stat *st, mode_t type, mode_t forbidden)
{
	if ((st->st_mode & S_IFMT) != type || st->st_uid != geteuid() || (st->st_mode & forbidden))
		return -EPERM;
	return 0;
}

static int check_dir(const char *path, int create)
{
	char dir[PATH_MAX], *slash;
	struct stat st;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return -EINVAL; /* an absolute path below / expected */
	*slash = '\0';
	if (lstat(dir, &st) < 0) {
		if (errno != ENOENT || !create)
			return -errno;
		int ret = mkdir_p(dir, 0700);

		if (ret < 0)
			return ret;
		if (lstat(dir, &st) < 0)
			return -errno;
	}
	return private_stat(&st, S_IFDIR, S_IWGRP | S_IWOTH);
}

static int parse(const char *text, size_t len, struct seal_key *k)
{
	size_t n = strlen(SEAL_KEY_TAG), got = 0;

	if (len != SEAL_KEY_TEXT || strncmp(text, SEAL_KEY_TAG, n) || text[len - 1] != '\n' ||
	    sodium_hex2bin(k->sk, sizeof(k->sk), text + n, 64, NULL, &got, NULL) || got != 32)
		return -EBADMSG;
	crypto_scalarmult_base(k->pk, k->sk);
	return 0;
}

static int read_key(const char *path, struct seal_key *k)
{
	char text[SEAL_KEY_TEXT + 1];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), ret;

	if (fd < 0)
		return errno == ELOOP ? -EPERM : -errno;
	if (fstat(fd, &st) < 0)
		ret = -errno;
	else if ((ret = private_stat(&st, S_IFREG, 077)) == 0)
		ret = (n = read(fd, text, sizeof(text))) < 0 ? -errno : parse(text, (size_t)n, k);
	close(fd);
	sodium_memzero(text, sizeof(text));
	return ret;
}

static int make_key(const char *path)
{
	uint8_t pk[32], sk[32];
	char text[SEAL_KEY_TEXT + 1];
	int ret;

	crypto_box_keypair(pk, sk);
	memcpy(text, SEAL_KEY_TAG, strlen(SEAL_KEY_TAG));
	sodium_bin2hex(text + strlen(SEAL_KEY_TAG), 65, sk, sizeof(sk));
	text[SEAL_KEY_TEXT - 1] = '\n';
	ret = atomic_create_file(path, text, SEAL_KEY_TEXT, 0600);
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(text, sizeof(text));
	return ret == -EEXIST ? 0 : ret; /* another made it meanwhile: read theirs */
}

int seal_key_load(const char *path, int create, struct seal_key *k)
{
	int ret;

	sodium_memzero(k, sizeof(*k));
	if ((ret = check_dir(path, create)) < 0)
		return ret;
	ret = read_key(path, k);
	if (ret == -ENOENT && create && (ret = make_key(path)) == 0)
		ret = read_key(path, k);
	if (ret < 0)
		seal_key_wipe(k);
	return ret;
}

int seal_key_open(const struct seal_key *k, const uint8_t *sealed, size_t n,
		  uint8_t key[KEY_SEAL_KEY_BYTES])
{
	sodium_memzero(key, KEY_SEAL_KEY_BYTES);
	if (n != KEY_SEAL_BYTES)
		return -EBADMSG;
	if (crypto_box_seal_open(key, sealed, n, k->pk, k->sk) != 0) {
		sodium_memzero(key, KEY_SEAL_KEY_BYTES);
		return -EPERM;
	}
	return 0;
}

void seal_key_wipe(struct seal_key *k)
{
	sodium_memzero(k, sizeof(*k));
}
