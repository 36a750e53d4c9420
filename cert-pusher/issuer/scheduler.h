/* SPDX-License-Identifier: MIT */
/*
 * The issuer role of `cert-pusher run`: a dispatcher thread watches the due zset, takes a
 * per-host lock (owner id random per process, TTL extended while the order runs), and hands the
 * host to one of a bounded pool of worker threads that run the blocking ACME order through the
 * issuer module; the outcome is written back (state, serials, not_after, renew_at or the next
 * attempt) before the lock is released, so another issuer sharing the Redis never orders the
 * same host twice. Renewal happens at a fraction of the lifetime with jitter, or inside the
 * CA's ARI window (ari.c) when it offers one; failures back off exponentially with jitter,
 * honouring Retry-After. An order in progress leaves a marker in host:<name>; an issuer that
 * dies mid-order leaves the host due and the lock expiring, and the next issuer starts the
 * order over. A removal with revoke=true (hosts_remove_revoke) is taken like an order: a
 * worker revokes the host's certificates at the CA under the lock, then purges it; a failure
 * backs off like a failed order and deletes nothing.
 *
 * A lock can still be lost (Redis slow or failing over for longer than the TTL): every write a
 * worker makes is fenced on its lock (store_fence(), one EVAL each), so a late worker changes
 * nothing, and a worker whose lock could not be extended is told to stop (<stop> of the issue
 * callback) and writes no outcome.
 *
 * The scheduler does not speak ACME itself: struct scheduler_ops binds it to the issuer (the
 * daemon) or to a fake (tests).
 */
#ifndef CERT_PUSHER_SCHEDULER_H
#define CERT_PUSHER_SCHEDULER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cert-pusher/issuer/ari.h"
#include "cert-pusher/conf.h"
#include "cert-pusher/issuer/jws.h"
#include "cert-pusher/pusher.h"
#include "cert-pusher/store/store.h"

struct event_base;

#define SCHEDULER_OWNER_LEN 32 /* hex characters of the random owner id */

/* What one order for a host (every key type) gave. */
struct scheduler_result {
	int ok;                          /* 1: certificates stored and announced */
	long long not_before, not_after; /* of the new certificates (earliest not_after) */
	char serial_ecdsa[80];           /* hex; "" when that key type is not issued */
	char serial_rsa[80];
	char cert_id[JWS_ALG_COUNT][256]; /* RFC 9773 CertID of each new leaf, by key type */
	char problem_type[64]; /* failure: ACME error type without its URN prefix, or "" */
	char error[1100];      /* failure: "type: detail" or our own reason */
	long long retry_after; /* failure: the CA's Retry-After in seconds, or -1 */
};

/* A per-worker context (its own ACME client, Redis connection...): NULL with <err> on failure. */
typedef void *scheduler_ctx_new_fn(void *arg, char *err, size_t errsz);
typedef void scheduler_ctx_free_fn(void *ctx);
/* Run the order(s) for <name>; <replaces>[type] is the CertID of that key type's certificate
 * being renewed (RFC 9773 §5) or NULL. Blocking; fills <res>. <stop> becomes nonzero at
 * SIGTERM and when the host's lock is lost: an implementation should give up at the next safe
 * point (res->ok = 0). */
typedef void scheduler_issue_fn(void *ctx, const char *name,
                                const char *const replaces[JWS_ALG_COUNT], const atomic_int *stop,
                                struct scheduler_result *res);
/* Ask the CA's renewalInfo for <cert_id>: 1 with <w> and <*retry_after> (-1 absent), 0 when the
 * CA offers no ARI, -1 on failure. May be NULL (no ARI). */
typedef int scheduler_ari_fn(void *ctx, const char *cert_id, struct ari_window *w,
                             long long *retry_after);

/* Revoke the certificates stored for <name> (a removal with revoke=true): 0 when none is left
 * unrevoked, -1 with <err> and <*retry_after> (seconds, or -1): retried with the backoff. */
typedef int scheduler_revoke_fn(void *ctx, const char *name, long long *retry_after, char *err,
                                size_t errsz);

/* Fence every Redis write of <ctx> on lock:<name> holding <owner> (store_fence()), or lift the
 * fence (<name> NULL). 0, or -1 with <err>. */
typedef int scheduler_fence_fn(void *ctx, const char *name, const char *owner, char *err,
                               size_t errsz);

struct scheduler_ops {
	scheduler_ctx_new_fn *ctx_new;
	scheduler_ctx_free_fn *ctx_free;
	scheduler_issue_fn *issue;
	scheduler_ari_fn *renewal_info; /* optional */
	scheduler_revoke_fn *revoke;    /* optional: without it, revoke=true removals wait */
	scheduler_fence_fn *fence;      /* optional: <ctx> writes nothing to Redis without it */
	void *arg;                      /* for ctx_new */
};

struct scheduler_opts {
	double renew_fraction;   /* of the lifetime, (0, 1); default 2/3 */
	unsigned max_orders;     /* concurrent orders (worker threads); default 4 */
	long long lock_ttl_ms;   /* default 60 s; extended every third of it */
	long long backoff_min_s; /* first retry delay; default 60 */
	long long backoff_max_s; /* cap; default 6 h */
	long long poll_ms;       /* due zset poll period; default 1000 */
};

/* Defaults, then the options of <conf>: "renew-fraction" (0 < f < 1, e.g. 0.66 or 2/3),
 * "max-concurrent-orders" (1..64), "lock-ttl", "backoff-min", "backoff-max", "due-poll"
 * (durations). -1 with <err> naming the option. */
int scheduler_opts_from_conf(struct scheduler_opts *o, const struct conf *conf, char *err,
                             size_t errsz);

struct scheduler;

/* A scheduler on Redis of <conf> (each thread opens its own connection) with key prefix
 * <prefix>. <ops> is copied. NULL with <err>. */
struct scheduler *scheduler_new(const struct conf *conf, const char *prefix,
                                const struct scheduler_opts *opts, const struct scheduler_ops *ops,
                                char *err, size_t errsz);
/* Start the dispatcher and the workers. 0 or -1 with <err>. */
int scheduler_start(struct scheduler *sc, char *err, size_t errsz);
/* Stop taking new work; running orders go on to their end (or their safe point). Async-signal
 * unsafe: call from the event loop, not a signal handler. */
void scheduler_stop(struct scheduler *sc);
/* Wait for the threads after scheduler_stop() and free everything. Accepts NULL. */
void scheduler_free(struct scheduler *sc);
/* This process's owner id (hex). */
const char *scheduler_owner(const struct scheduler *sc);
/* Orders running right now. */
unsigned scheduler_running(struct scheduler *sc);

/*
 * The issuer role of `run` (run.c's role table): the scheduler bound to issuer.c with the
 * options of <p> (issuer options, plus renew-fraction, max-concurrent-orders, lock-ttl,
 * backoff-min, backoff-max, due-poll). <base> is unused: orders run on the scheduler's threads.
 * Call before other threads start (libcurl and jansson global initialisation).
 * Returns the role's state, or NULL with <err> naming the option. With p->check_only the
 * configuration is validated and nothing starts.
 */
void *scheduler_run_start(struct event_base *base, struct pusher *p, char *err, size_t errsz);
/* SIGTERM: stop taking work, let running orders end, join, free. */
void scheduler_run_stop(void *state);

/* ---- arithmetic (pure; exposed for the tests) ---- */

/* Renewal time: not_before + <fraction> of the lifetime, jittered uniformly by up to +-5% of
 * the lifetime with <rnd>, kept within [not_before, not_after - lifetime/20] (a fraction near 1
 * still renews before expiry). A lifetime <= 0 gives <not_after>. */
long long scheduler_renew_at(long long not_before, long long not_after, double fraction,
                             uint64_t rnd);

/* Delay in seconds before attempt <attempts>+1 after <attempts> (>= 1) consecutive failures:
 * d = min(max_s, min_s * 2^(attempts-1)), jittered uniformly into [d/2, d] with <rnd>, never
 * below min_s; a Retry-After (>= 0, capped at 7 days) longer than that wins. */
long long scheduler_backoff(unsigned attempts, long long retry_after, long long min_s,
                            long long max_s, uint64_t rnd);

/* Renewal time inside ARI window <w>: <prev> (the time chosen before) when it still falls in
 * the window, else a new uniform choice (ari_choose); never before <now>. */
long long scheduler_ari_pick(const struct ari_window *w, long long prev, long long now,
                             uint64_t rnd);

/* Parse "2/3", "0.66", ".5" into (0, 1): 0 or -1. */
int scheduler_parse_fraction(const char *s, double *out);

#endif
