/* The fleet's one request on a conversation with a node's agent: the text
 * signed with the fleet's key for the nonce the agent greeted with
 * (docs/protocol.md, "Dispatch"). */
#include <string.h>

#include "lib/auth.h"
#include "lib/conn.h"
#include "lib/wire-frame.h"
#include "service-vm-fleet/fleet.h"
#include "service-vm-fleet/servers.h"

int server_send_signed(const struct fleet *f, struct conn *c, const uint8_t nonce[API_NONCE_BYTES],
		       const char *text)
{
	size_t tlen = strlen(text), len;
	uint8_t sig[SIG_BYTES], *frame;
	int ret = api_sign(sig, f->id.sign_sk, nonce, 1, f->id.name, (const uint8_t *)text, tlen);

	if (ret == 0)
		ret = frame_build_signed(1, f->id.name, sig, text, tlen, &frame, &len);
	if (ret == 0)
		ret = conn_send(c, frame, len, false);
	return ret;
}
