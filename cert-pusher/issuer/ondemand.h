/* SPDX-License-Identifier: MIT */
/*
 * On-demand certificates, the issuer's side (issue 14): the allow rules live in Redis, in the
 * set <prefix>ondemand:allow of suffixes (".customers.example" allows every name below it),
 * so that every edge's spoa-agent sees the same rules. An issuer started with
 * --on-demand-allow SUFFIX[,SUFFIX...] replaces the set with its list at start; --on-demand-ask
 * URL then gives an operator's endpoint the last word on each new name (below).
 */
#ifndef CERT_PUSHER_ONDEMAND_H
#define CERT_PUSHER_ONDEMAND_H

#include <stddef.h>

#include "cert-pusher/pusher.h"

/* Validate --on-demand-allow and, unless <p>->check_only, write it to Redis. 0 when the
 * option is unset or written, -1 with <err>. */
int ondemand_allow_publish(struct pusher *p, char *err, size_t errsz);

/*
 * --on-demand-ask URL (Caddy's `ask`): before the first order of a name a TLS handshake added
 * (origin on_demand, no certificate yet), the dispatcher asks GET URL?domain=NAME (&domain=
 * when URL has a query): 200 allows, any other status, a transport error or a timeout
 * (ONDEMAND_ASK_TIMEOUT_MS) refuses. The answer is cached fleet-wide in
 * <prefix>ondemand:ask:<name> ("1"/"0", ONDEMAND_ASK_ALLOW_TTL_S / ONDEMAND_ASK_DENY_TTL_S).
 * A refused name gets <prefix>ondemand:neg:<name> (the agent's negative cache: its waiting
 * handshakes fall back at their next poll, and it is not enqueued again meanwhile) and the
 * caller removes it from `hosts`. Names with a certificate, and names the API added, are never
 * asked about: an outage of the endpoint must not cost a known name.
 */
#define ONDEMAND_ASK_TIMEOUT_MS  2000
#define ONDEMAND_ASK_ALLOW_TTL_S 3600
#define ONDEMAND_ASK_DENY_TTL_S  60

struct ondemand_ask;
struct store;

/* Validate --on-demand-ask of <conf> (unset is fine). 0 or -1 with <err>. */
int ondemand_ask_check(const struct conf *conf, char *err, size_t errsz);
/* The asker for --on-demand-ask, or NULL in <*out> when unset (after http_global_init()). Used
 * from one thread. 0 or -1 with <err>. */
int ondemand_ask_new(const struct conf *conf, const char *prefix, struct ondemand_ask **out,
                     char *err, size_t errsz);
void ondemand_ask_free(struct ondemand_ask *a);
/* Whether <name> (a valid hostname) may be ordered: the cache on <st>, else the endpoint. A
 * refusal writes the agent's negative cache. Logs its decisions. 1 allowed, 0 refused. */
int ondemand_ask_allows(struct ondemand_ask *a, struct store *st, const char *name);

#endif
