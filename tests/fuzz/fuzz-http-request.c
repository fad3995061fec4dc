/* The /metrics server's request-head parser on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "service-vm-fleet/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char method[16], path[256];

	http_parse_request((const char *)data, size, method, sizeof(method), path, sizeof(path));
	return 0;
}
