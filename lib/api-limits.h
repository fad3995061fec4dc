/* Limits of the operator API that the fleet enforces and the CLI checks
 * before asking, so both refuse the same requests with the same numbers. */
#pragma once

/* "events": how many events one request may return (its "limit"). */
#define API_EVENTS_LIMIT_MAX 10000
#define API_EVENTS_LIMIT_DEFAULT 50
