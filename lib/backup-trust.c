#include "lib/backup-trust.h"

#include <errno.h>
#include <sodium.h>

#include "lib/errbuf.h"

int backup_trust_ledger(const struct ledger *l, const struct export_sig *s, char *err,
			size_t errlen)
{
	const struct ledger_member *mb = ledger_find(l, s->signer);

	if (!mb || mb->revoked || sodium_memcmp(mb->sign_pk, s->key, SIGN_PK_BYTES))
		return errbuf_fail(-EPERM, err, errlen, "signed by %s, who is not a live member of the "
				   "ledger with that key", s->signer);
	return 0;
}
