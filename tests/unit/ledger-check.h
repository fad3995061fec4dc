/* Checks shared by the ledger's unit tests: a fixture is any struct with a
 * char err[] that the ledger calls fill. Include after <cmocka.h>. */
#pragma once
#include <string.h>

/* call must return 0; otherwise the test fails with the fixture's err. */
#define OK(f, call)                                                              \
	do {                                                                     \
		int r_ = (call);                                                 \
		if (r_ != 0)                                                     \
			fail_msg("%s = %d: %s", #call, r_, (f)->err);            \
	} while (0)

/* ret must be want, and the fixture's err must say what. */
#define refused(f, ret, want, what) ledger_check_refused((f)->err, (ret), (want), (what))

static inline void ledger_check_refused(const char *err, int ret, int want, const char *what)
{
	if (ret != want)
		fail_msg("got %d, want %d (%s)", ret, want, err);
	if (!strstr(err, what))
		fail_msg("message \"%s\" lacks \"%s\"", err, what);
}
