/* The host agent's text parsers: /proc/stat, /proc/meminfo, the guests
 * probe's line and the sequence file. One input feeds all of them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "service-vm-host/sampler.h"
#include "service-vm-host/seqstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct probe_result r;
	struct cpu_times t;
	uint64_t a, b;
	unsigned ncpu;
	char *exact, *text;

	/* The probe's line is not NUL-terminated: give it the exact bytes. */
	exact = malloc(size ? size : 1);
	if (!exact)
		return 0;
	memcpy(exact, data, size);
	if (parse_probe_line(exact, size, &r) == 0 && !r.ok && strlen(r.reason) == 0)
		abort();
	free(exact);

	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (parse_proc_stat(text, &t, &ncpu) == 0 && (ncpu == 0 || t.busy > t.total))
		abort();
	parse_proc_meminfo(text, &a, &b);
	seqstore_parse(text, &a);
	free(text);
	return 0;
}
