/* Unit-test LUKS qcow2 images, 1 MiB, made by qemu-img: one per key, made
 * once in a directory of the test's and copied where each is wanted.
 * qemu-img times a new header's key derivation in CPU time, which a busy
 * host (make check runs unit tests two at a time) may show as none
 * ("Unable to get accurate CPU usage"): the making is tried again. */
#pragma once
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <sodium.h>

/* A LUKS qcow2 under key (32 bytes, as hex text) at path, made in dir
 * first if that key has none there yet. 0, or -1. */
static inline int luks_image_at(const char *dir, const uint8_t key[32], const char *path)
{
	char hex[65], cmd[2 * PATH_MAX + 512];

	sodium_bin2hex(hex, sizeof(hex), key, 32);
	snprintf(cmd, sizeof(cmd), "test -e %s/key-%.16s.qcow2 || qemu-img create -q -f qcow2 --object "
		 "secret,id=k0,data=%s -o encrypt.format=luks,encrypt.key-secret=k0,encrypt.iter-time=10 "
		 "%s/key-%.16s.qcow2 1M", dir, hex, hex, dir, hex);
	for (unsigned t = 0; system(cmd) != 0; t++) {
		if (t == 20)
			return -1;
		usleep(100000 * (t + 1));
	}
	snprintf(cmd, sizeof(cmd), "cp %s/key-%.16s.qcow2 %s", dir, hex, path);
	return system(cmd) == 0 ? 0 : -1;
}

/* A backup's volume file at path: a LUKS image under key when key is set
 * (made in dir), else the len bytes of buf; its SHA-256 in sum and its size
 * in *size. 0, or -1. */
static inline int luks_or_plain_at(const char *dir, const uint8_t *key, const char *path,
				   const uint8_t *buf, size_t len, uint8_t sum[32], size_t *size)
{
	uint8_t *text = NULL;
	int fd, ret = 0;
	ssize_t n;

	if (key && luks_image_at(dir, key, path) < 0)
		return -1;
	if (!key && ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
		     write(fd, buf, len) != (ssize_t)len || close(fd) < 0))
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || !(text = malloc(8 << 20)))
		ret = -1;
	if (!ret && (n = read(fd, text, 8 << 20)) >= 0)
		crypto_hash_sha256(sum, text, (unsigned long long)n), *size = (size_t)n;
	else
		ret = -1;
	if (fd >= 0)
		close(fd);
	free(text);
	return ret;
}
