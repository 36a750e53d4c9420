/* SPDX-License-Identifier: MIT */
/*
 * Challenge lookups: `GET <prefix>chal:<token>` over one asynchronous hiredis connection per
 * worker (libevent adapter), pipelined for every HAProxy connection of that worker.
 *
 * hiredis 0.14 has no asynchronous timeouts, so each request carries its own libevent timer:
 * the caller is answered LOOKUP_TIMEOUT when it fires, and the late Redis reply is dropped.
 * While Redis is not connected, lookup_get() answers LOOKUP_UNAVAILABLE at once; the module
 * reconnects with a doubling backoff (100 ms to 5 s) and authenticates when configured. The
 * exception is a grace period after Redis closed an established connection (e.g. Sentinel's
 * CLIENT KILL on a failover): the module reconnects at once, and lookups made meanwhile or in
 * flight on the lost connection wait for the new one (within their deadline) instead.
 *
 * agent.c sees this module only through struct lookup_ops, so the unit tests can replace it
 * with a scripted fake that completes requests in any order. Token validation is the caller's
 * (names_token_valid()); this module only builds the key and talks to Redis.
 */
#ifndef SPOA_AGENT_LOOKUP_H
#define SPOA_AGENT_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

#include "common/parse.h"

struct event_base;
struct metrics_shard;

enum lookup_status {
	LOOKUP_HIT = 0,     /* the value is the key authorization */
	LOOKUP_MISS,        /* no such key */
	LOOKUP_UNAVAILABLE, /* Redis not connected (or dropped the request): immediate answer */
	LOOKUP_TIMEOUT,     /* no reply within the deadline */
	LOOKUP_ERROR,       /* Redis error reply, unexpected reply type, or local failure */
	LOOKUP_PENDING,     /* lookup_get(): the callback will deliver the result later */
	LOOKUP_STATUS_COUNT,
};

/*
 * Completion of a pending lookup, called exactly once unless the request was cancelled, and
 * never from inside the lookup_get() call that started it. <value>/<len> is the Redis string
 * on LOOKUP_HIT (NULL/0 otherwise), borrowed for the duration of the call only.
 */
typedef void lookup_done_fn(void *arg, enum lookup_status status, const uint8_t *value, size_t len);

/* An in-flight request; opaque to the caller, who only passes it back to cancel(). */
struct lookup_req;

/*
 * What agent.c calls. get(): start a lookup of <token>/<len> (already validated); returns
 * LOOKUP_PENDING with <*reqp> set and <cb>(<arg>, ...) to come, or a final status (no
 * callback, <*reqp> untouched). cancel(): the caller no longer wants the answer (connection
 * closed); the callback will not be called, and the module frees the request when Redis (or
 * a disconnect) lets go of it.
 */
struct lookup_ops {
	enum lookup_status (*get)(void *ctx, const uint8_t *token, size_t len, lookup_done_fn *cb,
	                          void *arg, struct lookup_req **reqp);
	void (*cancel)(void *ctx, struct lookup_req *req);
};

struct lookup_conf {
	struct endpoint redis;
	const char *prefix;   /* validated with keys_prefix_valid() */
	const char *user;     /* ACL user for AUTH, or NULL */
	const char *password; /* AUTH password, or NULL; copied, wiped on free */
	uint64_t timeout_ms;  /* per-request deadline, > 0 */
	uint64_t stall_ms;    /* no reply for this long with requests outstanding: reconnect;
	                         0 = LOOKUP_STALL_MS (5 s) */
};

/* The Redis implementation; ctx is a struct lookup *. */
extern const struct lookup_ops lookup_redis_ops;

/* A lookup client on <base> that starts connecting at once. <m> (borrowed, may be NULL) gets
 * the Redis connected gauge. NULL on OOM. lookup_free() closes Redis after every request was
 * answered with LOOKUP_UNAVAILABLE or cancelled; call it before freeing <base>. */
struct lookup *lookup_new(struct event_base *base, const struct lookup_conf *conf,
                          struct metrics_shard *m);
void lookup_free(struct lookup *l);

/* Same as lookup_redis_ops.get/cancel with a typed context. */
enum lookup_status lookup_get(struct lookup *l, const uint8_t *token, size_t len,
                              lookup_done_fn *cb, void *arg, struct lookup_req **reqp);
void lookup_cancel(struct lookup_req *req);

/* Like lookup_get() for any command, given as <argc> binary-safe arguments (copied). A bulk
 * string reply is LOOKUP_HIT with its bytes, nil LOOKUP_MISS, anything else LOOKUP_ERROR. */
enum lookup_status lookup_cmd(struct lookup *l, int argc, const char **argv, const size_t *argvlen,
                              lookup_done_fn *cb, void *arg, struct lookup_req **reqp);

/* Whether the Redis connection is up (and authenticated). */
int lookup_connected(const struct lookup *l);

/* Name of a status for logs: "hit", "miss", "unavailable", ... */
const char *lookup_status_str(enum lookup_status status);

#endif
