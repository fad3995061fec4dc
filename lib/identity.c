#include "lib/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/wg.h"

_Static_assert(IDENTITY_WG_KEY_BYTES == WG_KEY_LEN, "WireGuard key size");

/* The file is about 300 bytes; anything much larger is not ours. */
#define IDENTITY_TEXT_MAX 2048

enum { FIELD_NAME = 1u << 0, FIELD_SIGN = 1u << 1, FIELD_KX = 1u << 2, FIELD_WG = 1u << 3 };
#define FIELDS_REQUIRED (FIELD_NAME | FIELD_SIGN | FIELD_KX)

static int identity_path(const char *state_dir, char path[PATH_MAX])
{
	if (snprintf(path, PATH_MAX, "%s/%s", state_dir, IDENTITY_FILE) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Exactly binlen bytes of hex, nothing else. */
static int hex_field(uint8_t *bin, size_t binlen, const char *hex, size_t hexlen)
{
	size_t got;
	const char *end;

	if (hexlen != binlen * 2)
		return -EBADMSG;
	if (sodium_hex2bin(bin, binlen, hex, hexlen, NULL, &got, &end) < 0 || got != binlen ||
	    end != hex + hexlen)
		return -EBADMSG;
	return 0;
}

static int parse_field(struct identity *id, const char *key, size_t keylen,
		       const char *val, size_t vallen, unsigned *seen)
{
	unsigned field;
	int ret;

	if (keylen == 4 && !memcmp(key, "name", 4)) {
		field = FIELD_NAME;
		if (vallen > NODE_NAME_MAX)
			return -EBADMSG;
		memcpy(id->name, val, vallen);
		id->name[vallen] = '\0';
		ret = node_name_valid(id->name) ? 0 : -EBADMSG;
	} else if (keylen == 11 && !memcmp(key, "sign_secret", 11)) {
		field = FIELD_SIGN;
		ret = hex_field(id->sign_sk, sizeof(id->sign_sk), val, vallen);
	} else if (keylen == 9 && !memcmp(key, "kx_secret", 9)) {
		field = FIELD_KX;
		ret = hex_field(id->kx_sk, sizeof(id->kx_sk), val, vallen);
	} else if (keylen == 9 && !memcmp(key, "wg_secret", 9)) {
		field = FIELD_WG;
		ret = hex_field(id->wg_sk, sizeof(id->wg_sk), val, vallen);
		id->has_wg = true;
	} else {
		return -EBADMSG;
	}
	if (*seen & field)
		return -EBADMSG;
	*seen |= field;
	return ret;
}

/* The stored secret key carries its public half; check it against the seed
 * so that a damaged file cannot pair one node's seed with another's key. */
static int derive_public(struct identity *id)
{
	uint8_t seed[crypto_sign_SEEDBYTES], sk[SIGN_SK_BYTES];
	int ret = -EBADMSG;

	crypto_sign_ed25519_sk_to_seed(seed, id->sign_sk);
	if (crypto_sign_seed_keypair(id->sign_pk, sk, seed) < 0)
		goto cleanup;
	if (sodium_memcmp(sk, id->sign_sk, sizeof(sk)) != 0)
		goto cleanup;
	if (crypto_scalarmult_base(id->kx_pk, id->kx_sk) < 0)
		goto cleanup;
	if (id->has_wg && wg_generate_public_key(id->wg_pk, id->wg_sk) < 0)
		goto cleanup;
	ret = 0;
cleanup:
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
	return ret;
}

int identity_parse(const char *text, struct identity *out)
{
	const char *line, *next, *eq, *key_end, *val, *val_end;
	unsigned seen = 0;
	int ret = 0;

	if (sodium_init() < 0)
		return -EIO;
	identity_wipe(out);
	for (line = text; *line && ret == 0; line = next) {
		next = strchr(line, '\n');
		next = next ? next + 1 : line + strlen(line);
		while (line < next && is_blank(*line))
			line++;
		val_end = next;
		while (val_end > line && (is_blank(val_end[-1]) || val_end[-1] == '\n'))
			val_end--;
		if (line == val_end || *line == '#')
			continue;
		eq = memchr(line, '=', (size_t)(val_end - line));
		if (!eq) {
			ret = -EBADMSG;
			break;
		}
		key_end = eq;
		while (key_end > line && is_blank(key_end[-1]))
			key_end--;
		for (val = eq + 1; val < val_end && is_blank(*val); val++)
			;
		ret = parse_field(out, line, (size_t)(key_end - line), val,
				  (size_t)(val_end - val), &seen);
	}
	if (ret == 0 && (seen & FIELDS_REQUIRED) != FIELDS_REQUIRED)
		ret = -EBADMSG;
	if (ret == 0)
		ret = derive_public(out);
	if (ret < 0)
		identity_wipe(out);
	return ret;
}

static int format_identity(const struct identity *id, char *text, size_t len)
{
	char sign_hex[SIGN_SK_BYTES * 2 + 1], kx_hex[KX_SK_BYTES * 2 + 1];
	char wg_hex[IDENTITY_WG_KEY_BYTES * 2 + 1] = "";
	int n;

	sodium_bin2hex(sign_hex, sizeof(sign_hex), id->sign_sk, sizeof(id->sign_sk));
	sodium_bin2hex(kx_hex, sizeof(kx_hex), id->kx_sk, sizeof(id->kx_sk));
	if (id->has_wg)
		sodium_bin2hex(wg_hex, sizeof(wg_hex), id->wg_sk, sizeof(id->wg_sk));
	n = snprintf(text, len,
		     "# os-infrastructure node identity. Secret: keep this file mode 0600.\n"
		     "name = %s\nsign_secret = %s\nkx_secret = %s\n%s%s%s",
		     id->name, sign_hex, kx_hex, id->has_wg ? "wg_secret = " : "", wg_hex,
		     id->has_wg ? "\n" : "");
	sodium_memzero(sign_hex, sizeof(sign_hex));
	sodium_memzero(kx_hex, sizeof(kx_hex));
	sodium_memzero(wg_hex, sizeof(wg_hex));
	return n < 0 || (size_t)n >= len ? -ENOBUFS : n;
}

static void new_wg_key(struct identity *id)
{
	wg_generate_private_key(id->wg_sk);
	wg_generate_public_key(id->wg_pk, id->wg_sk);
	id->has_wg = true;
}

int identity_create(const char *state_dir, const char *name, struct identity *out)
{
	char path[PATH_MAX], text[IDENTITY_TEXT_MAX];
	struct identity id;
	struct stat st;
	int ret, len;

	memset(&id, 0, sizeof(id));
	if (!node_name_valid(name))
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	ret = identity_path(state_dir, path);
	if (ret < 0)
		return ret;
	ret = mkdir_p(state_dir, 0700);
	if (ret < 0)
		return ret;
	if (lstat(path, &st) == 0)
		return -EEXIST;
	if (errno != ENOENT)
		return -errno;
	strcpy(id.name, name);
	crypto_sign_keypair(id.sign_pk, id.sign_sk);
	crypto_kx_keypair(id.kx_pk, id.kx_sk);
	new_wg_key(&id);
	len = format_identity(&id, text, sizeof(text));
	if (len < 0) {
		ret = len;
		goto cleanup;
	}
	ret = atomic_create_file(path, text, (size_t)len, 0600);
	if (ret < 0)
		goto cleanup;
	*out = id;
cleanup:
	sodium_memzero(text, sizeof(text));
	identity_wipe(&id);
	return ret;
}

static int read_fd(int fd, char *buf, size_t cap)
{
	size_t used = 0;

	for (;;) {
		ssize_t n = read(fd, buf + used, cap - used - 1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used == cap - 1)
			return -EBADMSG;
	}
	buf[used] = '\0';
	return strlen(buf) == used ? 0 : -EBADMSG;
}

int identity_load(const char *state_dir, struct identity *out)
{
	char path[PATH_MAX], text[IDENTITY_TEXT_MAX];
	struct stat st;
	int fd, ret;

	ret = identity_path(state_dir, path);
	if (ret < 0)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	/* Check the file we read, not the name: it may be replaced meanwhile. */
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EBADMSG;
		goto cleanup;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		ret = -EPERM;
		goto cleanup;
	}
	ret = read_fd(fd, text, sizeof(text));
	if (ret < 0)
		goto cleanup;
	ret = identity_parse(text, out);
cleanup:
	sodium_memzero(text, sizeof(text));
	close(fd);
	return ret;
}

static int lock_identity(const char *state_dir)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/" IDENTITY_LOCK_FILE, state_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	/* An existing lock opened without O_CREAT: in the sticky state directory
	 * fs.protected_regular=2 refuses O_CREAT on another user's file, root too. */
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

int identity_ensure_wg(const char *state_dir, struct identity *id)
{
	char path[PATH_MAX], text[IDENTITY_TEXT_MAX];
	struct identity cur;
	int lock, ret, len;

	if (id->has_wg)
		return 0;
	ret = identity_path(state_dir, path);
	if (ret < 0)
		return ret;
	lock = lock_identity(state_dir);
	if (lock < 0)
		return lock;
	memset(text, 0, sizeof(text));
	ret = identity_load(state_dir, &cur);
	if (ret < 0)
		goto cleanup;
	if (strcmp(cur.name, id->name) || sodium_memcmp(cur.sign_pk, id->sign_pk, sizeof(cur.sign_pk))) {
		ret = -ESTALE;
		goto cleanup;
	}
	if (!cur.has_wg) {
		new_wg_key(&cur);
		len = format_identity(&cur, text, sizeof(text));
		ret = len < 0 ? len : atomic_write_file(path, text, (size_t)len, 0600);
		if (ret < 0)
			goto cleanup;
	}
	memcpy(id->wg_sk, cur.wg_sk, sizeof(id->wg_sk));
	memcpy(id->wg_pk, cur.wg_pk, sizeof(id->wg_pk));
	id->has_wg = true;
cleanup:
	sodium_memzero(text, sizeof(text));
	identity_wipe(&cur);
	close(lock);
	return ret;
}

void identity_wipe(struct identity *id)
{
	sodium_memzero(id, sizeof(*id));
}
