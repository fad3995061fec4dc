#include "lib/names.h"

#include <string.h>

bool name_label_valid(const char *name, size_t max)
{
	size_t n;

	if (!name)
		return false;
	n = strnlen(name, max + 1);
	if (n == 0 || n > max || name[0] == '-' || name[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}
