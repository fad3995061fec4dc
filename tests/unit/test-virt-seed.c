/* The NoCloud seed read back with libarchive: the three files with their
 * exact contents and lowercase names, the volume label in the primary and
 * the Joliet descriptors. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "virt/virt-internal.h"

#define SECTOR 2048

struct found {
	char name[32];
	char *data;
	size_t len;
};

static size_t read_back(const void *iso, size_t len, struct found *out, size_t max)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	size_t n = 0;

	assert_non_null(a);
	assert_int_equal(archive_read_support_format_iso9660(a), ARCHIVE_OK);
	assert_int_equal(archive_read_open_memory(a, iso, len), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		la_int64_t size = archive_entry_size(e);

		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		assert_true(n < max);
		snprintf(out[n].name, sizeof(out[n].name), "%s", archive_entry_pathname(e));
		out[n].data = calloc(1, (size_t)size + 1);
		assert_non_null(out[n].data);
		assert_int_equal(archive_read_data(a, out[n].data, (size_t)size), size);
		out[n].len = (size_t)size;
		n++;
	}
	archive_read_free(a);
	return n;
}

static const struct found *find(const struct found *f, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(f[i].name, name))
			return &f[i];
	}
	fail_msg("%s not in the seed", name);
	return NULL;
}

/* The volume identifier of the descriptor of the given type (1 primary,
 * 2 supplementary, i.e. Joliet), as ASCII. */
static void label_of(const unsigned char *iso, size_t len, int type, char *out, size_t outlen)
{
	for (size_t s = 16; (s + 1) * SECTOR <= len; s++) {
		const unsigned char *d = iso + s * SECTOR;
		size_t o = 0;

		if (d[0] == 255)
			break;
		if (d[0] != type || memcmp(d + 1, "CD001", 5))
			continue;
		for (size_t i = 0; i < 32 && o + 1 < outlen; i++) {
			unsigned char c = type == 2 ? d[40 + i * 2 + 1] : d[40 + i];

			if (type == 2 && i >= 16)
				break;
			if (c != ' ' && c != 0)
				out[o++] = (char)c;
		}
		out[o] = '\0';
		return;
	}
	out[0] = '\0';
}

static void test_seed_contents(void **state)
{
	const char *ud = "#cloud-config\nruncmd:\n  - [echo, hello]\n";
	struct found f[8];
	char err[256], label[64];
	void *iso;
	size_t len, n;

	assert_int_equal(virt_seed_build("i-00112233", "vault-1", ud, VIRT_NET_NETWORK, &iso, &len,
					 err, sizeof(err)), 0);
	assert_true(len > 16 * SECTOR);
	assert_int_equal(len % SECTOR, 0);
	n = read_back(iso, len, f, 8);
	assert_int_equal(n, 3);
	assert_string_equal(find(f, n, "meta-data")->data, "instance-id: i-00112233\nlocal-hostname: vault-1\n");
	assert_string_equal(find(f, n, "user-data")->data, ud);
	assert_non_null(strstr(find(f, n, "network-config")->data, "dhcp4: true"));
	label_of(iso, len, 1, label, sizeof(label));
	assert_string_equal(label, "CIDATA");
	label_of(iso, len, 2, label, sizeof(label));
	assert_string_equal(label, "cidata");
	for (size_t i = 0; i < n; i++)
		free(f[i].data);
	free(iso);
}

static void test_seed_no_network(void **state)
{
	struct found f[8];
	char err[256];
	void *iso;
	size_t len, n;

	assert_int_equal(virt_seed_build("i-1", "g", NULL, VIRT_NET_NONE, &iso, &len, err, sizeof(err)), 0);
	n = read_back(iso, len, f, 8);
	assert_int_equal(n, 3);
	assert_string_equal(find(f, n, "network-config")->data, "network:\n  config: disabled\n");
	assert_string_equal(find(f, n, "user-data")->data, "#cloud-config\n");
	for (size_t i = 0; i < n; i++)
		free(f[i].data);
	free(iso);
}

static void test_seed_refuses_bad_names(void **state)
{
	char err[256], *out;
	void *iso = NULL;
	size_t len;

	assert_int_equal(virt_seed_build("i-1", "Bad_Host", NULL, VIRT_NET_NONE, &iso, &len, err, sizeof(err)), -EINVAL);
	assert_null(iso);
	assert_int_equal(virt_seed_meta_data("i: 1", "g", &out), -EINVAL);
	assert_int_equal(virt_seed_meta_data("i\n1", "g", &out), -EINVAL);
	assert_int_equal(virt_seed_meta_data("", "g", &out), -EINVAL);
}

static void test_seed_many_files(void **state)
{
	static char big[100000];
	struct virt_seed_file files[] = {
		{ "a-long-lowercase-name.yaml", "x", 1 },
		{ "big", big, sizeof(big) },
		{ "empty", "", 0 },
	};
	struct found f[8];
	char err[256];
	void *iso;
	size_t len, n;

	memset(big, 'b', sizeof(big));
	assert_int_equal(virt_seed_iso(files, 3, "cidata", &iso, &len, err, sizeof(err)), 0);
	n = read_back(iso, len, f, 8);
	assert_int_equal(n, 3);
	assert_int_equal(find(f, n, "big")->len, sizeof(big));
	assert_memory_equal(find(f, n, "big")->data, big, sizeof(big));
	assert_int_equal(find(f, n, "a-long-lowercase-name.yaml")->len, 1);
	assert_int_equal(find(f, n, "empty")->len, 0);
	for (size_t i = 0; i < n; i++)
		free(f[i].data);
	free(iso);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_contents),
		cmocka_unit_test(test_seed_no_network),
		cmocka_unit_test(test_seed_refuses_bad_names),
		cmocka_unit_test(test_seed_many_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
