/* SPDX-License-Identifier: MIT */
/*
 * On-demand certificates (issue 14): HAProxy's TLS pre-frontend sends message `on-demand`
 * (args `sni`, `src`) for a server name this edge holds no certificate for, and waits for the
 * ACK before it hands the connection to the terminating frontend.
 *
 * One Redis script (EVAL, on the primary: it writes) decides and enqueues atomically:
 *   - `served:<edge>` holds the name: "ready" (the certificate is loaded here);
 *   - the name is in `hosts` and not failed: "wait" (an order is running);
 *   - `ondemand:neg:<name>` exists, or no suffix of the name is in the set `ondemand:allow`
 *     (written by the issuer from --on-demand-allow): "refused", cached for neg_ttl;
 *   - a GCRA token bucket per source address, then one fleet-wide: "limited";
 *   - else the name joins `hosts` (state pending, origin on_demand, due now), as the API's
 *     POST would add it, and the answer is "wait".
 * On "wait" the request polls the same script every poll period (a libevent timer: the worker
 * never blocks) until "ready", a final answer, or its deadline. A Redis error or outage is a
 * final answer at once ("unavailable").
 */
#ifndef SPOA_AGENT_ONDEMAND_H
#define SPOA_AGENT_ONDEMAND_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct lookup;
struct ondemand;
struct ondemand_req;

enum ondemand_result {
	ONDEMAND_READY = 0,   /* the certificate is loaded on this edge */
	ONDEMAND_REFUSED,     /* not allowed (or the name is invalid, or its order failed) */
	ONDEMAND_LIMITED,     /* rate limited */
	ONDEMAND_TIMEOUT,     /* not loaded before the deadline */
	ONDEMAND_UNAVAILABLE, /* Redis down or erring */
	ONDEMAND_RESULT_COUNT,
};

struct ondemand_conf {
	const char *prefix;     /* validated key prefix */
	const char *edge;       /* this edge's name, as its loader reports it (served:<edge>) */
	uint64_t deadline_ms;   /* whole wait, below the SPOE `timeout processing` */
	uint64_t poll_ms;       /* between two checks while waiting */
	uint64_t src_period_ms; /* GCRA emission interval per source address */
	uint64_t src_burst;
	uint64_t fleet_period_ms; /* same, every edge together */
	uint64_t fleet_burst;
	uint64_t neg_ttl_ms; /* a refused name is refused from cache this long */
};

typedef void ondemand_done_fn(void *arg, enum ondemand_result result);

/* A context on <base> sending its scripts through <l> (borrowed; the primary). NULL on OOM. */
struct ondemand *ondemand_new(struct event_base *base, struct lookup *l,
                              const struct ondemand_conf *conf);
/* Frees the context; every request must have completed or been cancelled. Accepts NULL. */
void ondemand_free(struct ondemand *od);

/*
 * Start deciding for server name <sni>/<sni_len> (any bytes: validated here) from source
 * address <src>/<src_len> (printable, at most 64 bytes). Returns 0 with <*reqp> set and
 * <cb>(<arg>, result) to come exactly once (never from inside this call) unless cancelled,
 * or -1 with <*result> the immediate answer (no callback).
 */
int ondemand_start(struct ondemand *od, const uint8_t *sni, size_t sni_len, const uint8_t *src,
                   size_t src_len, ondemand_done_fn *cb, void *arg, struct ondemand_req **reqp,
                   enum ondemand_result *result);
/* The caller no longer wants the answer; the request is freed (now or when Redis answers). */
void ondemand_cancel(struct ondemand_req *req);

/* "ready", "refused", ... for logs and metrics labels. */
const char *ondemand_result_str(enum ondemand_result r);

#endif
