// SPDX-License-Identifier: MIT
/*
 * Asynchronous Redis lookups with our own deadlines (see lookup.h). The only file of the agent
 * that talks to Redis.
 *
 * Request lifetime: a request has exactly one owner at a time, and only its owner frees it.
 * Either hiredis holds it (sent, awaiting its reply callback, which hiredis calls exactly once,
 * with a reply or with NULL when the connection goes away), or the lookup's grace queue holds
 * it (waiting for the connection to come back). The caller may stop caring earlier (deadline,
 * or its HAProxy connection closed): the request is then marked answered (cb == NULL) and
 * stays allocated until its owner lets go of it. So a request is freed in exactly two places:
 * the hiredis reply callback (unless it hands the request over to the queue), and
 * lookup_end_grace() (unless it hands the request over to hiredis). A request that never
 * reached either owner is freed by lookup_get() before it returns.
 *
 * Connection states: DOWN (retry timer armed) -> CONNECTING (connect timer armed) ->
 * [AUTHENTICATING] -> UP. A connection that owes a reply for the stall time (5 s by default,
 * counted from the oldest request still waiting or the last reply, whichever is later; never
 * from an idle period) is dropped and reconnected, so a Redis host that vanished without a RST
 * does not keep every request waiting for its deadline forever.
 *
 * Grace: when Redis closes an established connection (Sentinel's CLIENT KILL TYPE normal on a
 * failover, a restart), the module reconnects at once if the connection had been up for
 * LOOKUP_MIN_UP_MS (else with the usual backoff), and until that reconnection succeeds or
 * fails, for at most the lookup deadline, it queues lookups instead of answering them
 * 'unavailable': new ones, and unanswered ones that were in flight on the lost connection. The
 * queue is sent once UP again and answered 'unavailable' otherwise. Each request keeps its own
 * deadline timer throughout. Outside a grace period, only UP accepts lookups.
 */
#include "spoa-agent/lookup.h"

#include <async.h>
#include <hiredis.h>
#include <adapters/libevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/buf.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/names.h"
#include "spoa-agent/metrics.h"

#define LOOKUP_BACKOFF_MIN_MS 100
#define LOOKUP_BACKOFF_MAX_MS 5000
#define LOOKUP_CONNECT_MS     1000
#define LOOKUP_STALL_MS       5000   /* by default */
#define LOOKUP_WATCH_MAX_MS   1000   /* stall check period, at most */
#define LOOKUP_MAX_PENDING    100000 /* sent plus queued */
#define LOOKUP_MIN_UP_MS      1000   /* up this long before a loss: reconnect at once */

enum lookup_state {
	LOOKUP_STATE_DOWN = 0,
	LOOKUP_STATE_CONNECTING,
	LOOKUP_STATE_AUTHENTICATING,
	LOOKUP_STATE_UP,
};

struct lookup {
	struct event_base *base;
	struct endpoint redis;
	char redis_name[160];
	char *prefix;
	char *user;
	char *password;
	const struct timeval *deadline; /* a libevent common timeout: O(1) timer insertion */
	redisAsyncContext *ac;
	enum lookup_state state;
	bool stopping;
	bool was_up;     /* log transitions once, not every retry */
	bool logged_err; /* the current outage was logged */
	bool grace;      /* an established connection was lost: queue lookups */
	bool no_role;    /* ROLE was refused (logged once) */
	uint64_t backoff_ms;
	struct event *retry_ev; /* DOWN: reconnect; CONNECTING/AUTHENTICATING: give up */
	struct event *watch_ev; /* every second while UP: stall detection */
	struct event *grace_ev; /* end of the grace period */
	unsigned pending;       /* requests hiredis holds */
	unsigned queued;        /* requests the grace queue holds (answered ones included) */
	struct lookup_req *queue_head;
	struct lookup_req **queue_tail;
	uint64_t timeout_ms;    /* per-request deadline, also bounds a grace period */
	uint64_t stall_ms;      /* see lookup_on_watch() */
	uint64_t watch_ms;      /* stall check period */
	uint64_t up_since_ms;   /* monotonic time of going UP */
	uint64_t owed_since_ms; /* while requests are pending: since when Redis owes a reply (the
	                           oldest pending request's send time, or the last reply if
	                           later; replies come in order) */
	struct buf key;         /* scratch: key name */
	struct metrics_shard *m;
};

struct lookup_req {
	struct lookup *l;
	lookup_done_fn *cb; /* NULL once answered or cancelled */
	void *arg;
	struct event timer;
	struct lookup_req *next; /* in the grace queue */
	size_t token_len;
	uint8_t token[NAMES_TOKEN_MAX]; /* to send the request again after a reconnect */
	char *cmd;                      /* lookup_cmd(): its command, formatted by hiredis, owned */
	size_t cmd_len;
};

static void lookup_req_free(struct lookup_req *req)
{
	if (req->cmd)
		redisFreeCommand(req->cmd);
	free(req);
}

static const char *const lookup_status_names[LOOKUP_STATUS_COUNT] = {
	[LOOKUP_HIT] = "hit",
	[LOOKUP_MISS] = "miss",
	[LOOKUP_UNAVAILABLE] = "unavailable",
	[LOOKUP_TIMEOUT] = "timeout",
	[LOOKUP_ERROR] = "error",
	[LOOKUP_PENDING] = "pending",
};

static void lookup_connect(struct lookup *l);
static void lookup_end_grace(struct lookup *l, bool up);

const char *lookup_status_str(enum lookup_status status)
{
	return (unsigned)status < LOOKUP_STATUS_COUNT ? lookup_status_names[status] : "?";
}

static void lookup_set_up(struct lookup *l, bool up)
{
	if (l->m)
		atomic_store_explicit(&l->m->redis_connected, up ? 1 : 0, memory_order_relaxed);
}

static void lookup_arm(struct event *ev, uint64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
		              .tv_usec = (suseconds_t)((ms % 1000) * 1000) };

	event_add(ev, &tv);
}

/* Arm the next connection attempt after the backoff, and double the backoff. */
static void lookup_arm_backoff(struct lookup *l)
{
	lookup_arm(l->retry_ev, l->backoff_ms);
	l->backoff_ms *= 2;
	if (l->backoff_ms < LOOKUP_BACKOFF_MIN_MS)
		l->backoff_ms = LOOKUP_BACKOFF_MIN_MS;
	if (l->backoff_ms > LOOKUP_BACKOFF_MAX_MS)
		l->backoff_ms = LOOKUP_BACKOFF_MAX_MS;
}

/* A connection attempt failed (or a connection was dropped on purpose): end any grace
 * period (answering its queue 'unavailable'), and schedule the next attempt. */
static void lookup_schedule_retry(struct lookup *l)
{
	l->state = LOOKUP_STATE_DOWN;
	lookup_set_up(l, false);
	if (l->grace)
		lookup_end_grace(l, false);
	if (l->stopping)
		return;
	lookup_arm_backoff(l);
}

/* An established connection is going away without us asking for it: start queuing lookups
 * for at most the lookup deadline. Idempotent. */
static void lookup_start_grace(struct lookup *l)
{
	if (l->grace || l->stopping)
		return;
	l->grace = true;
	lookup_arm(l->grace_ev, l->timeout_ms);
}

/* Log a connection problem once per outage (warning), the rest at debug level. */
static void lookup_log_down(struct lookup *l, const char *what, const char *why)
{
	if (!l->logged_err)
		log_warn("redis=%s %s: %s; answering 'unavailable' and retrying", l->redis_name,
		         what, why);
	else
		log_debug("redis=%s %s: %s", l->redis_name, what, why);
	l->logged_err = true;
	l->was_up = false;
}

/* Drop the current context on purpose (connect timeout, stall, AUTH failure): pending
 * callbacks run with NULL first (answering UNAVAILABLE), then a retry is scheduled. */
static void lookup_drop(struct lookup *l)
{
	redisAsyncContext *ac = l->ac;

	l->ac = NULL;
	event_del(l->retry_ev);
	if (ac)
		redisAsyncFree(ac);
	lookup_schedule_retry(l);
}

static void lookup_now_up(struct lookup *l)
{
	l->state = LOOKUP_STATE_UP;
	l->backoff_ms = LOOKUP_BACKOFF_MIN_MS;
	l->up_since_ms = clock_mono_ms();
	event_del(l->retry_ev);
	lookup_arm(l->watch_ev, l->watch_ms);
	lookup_set_up(l, true);
	if (l->m)
		metrics_add(&l->m->redis_connects, 1);
	if (!l->was_up)
		log_info("redis=%s connected", l->redis_name);
	l->was_up = true;
	l->logged_err = false;
	if (l->grace)
		lookup_end_grace(l, true);
}

static void lookup_on_auth(redisAsyncContext *ac, void *r, void *privdata)
{
	struct lookup *l = ac->data;
	redisReply *reply = r;

	(void)privdata;
	if (!reply || ac != l->ac || l->state != LOOKUP_STATE_AUTHENTICATING)
		return; /* the connection is going away; on_disconnect handles it */
	if (reply->type == REDIS_REPLY_ERROR) {
		log_err("redis=%s AUTH failed: %.*s", l->redis_name, (int)reply->len, reply->str);
		l->logged_err = true;
		/* Disconnecting from inside a callback is deferred by hiredis until it returns. */
		redisAsyncDisconnect(ac);
		return;
	}
	lookup_now_up(l);
}

static void lookup_on_connect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct lookup *l = ac->data;
	int rc;

	if (ac != l->ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context right after this callback. */
		lookup_log_down(l, "connect failed", ac->errstr);
		l->ac = NULL;
		event_del(l->retry_ev);
		lookup_schedule_retry(l);
		return;
	}
	redisEnableKeepAlive(&ac->c);
	if (!l->password) {
		lookup_now_up(l);
		return;
	}
	l->state = LOOKUP_STATE_AUTHENTICATING;
	if (l->user)
		rc = redisAsyncCommand(ac, lookup_on_auth, NULL, "AUTH %s %s", l->user,
		                       l->password);
	else
		rc = redisAsyncCommand(ac, lookup_on_auth, NULL, "AUTH %s", l->password);
	if (rc != REDIS_OK)
		redisAsyncDisconnect(ac);
}

/* hiredis runs the reply callbacks of a context (with NULL) before this one. */
static void lookup_on_disconnect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct lookup *l = ac->data;

	if (ac != l->ac)
		return; /* dropped on purpose: lookup_drop() already rescheduled */
	l->ac = NULL;
	event_del(l->watch_ev);
	event_del(l->retry_ev);
	if (l->stopping) {
		l->state = LOOKUP_STATE_DOWN;
		lookup_set_up(l, false);
		return;
	}
	lookup_log_down(l, "connection lost",
	                status == REDIS_OK ? "closed" : (ac->errstr[0] ? ac->errstr : "error"));
	if (l->state != LOOKUP_STATE_UP) {
		lookup_schedule_retry(l); /* AUTH failed or the like: not a lost connection */
		return;
	}
	/* An established connection lost: ride through it (see the top of the file). */
	lookup_start_grace(l);
	l->state = LOOKUP_STATE_DOWN;
	lookup_set_up(l, false);
	if (clock_mono_ms() - l->up_since_ms >= LOOKUP_MIN_UP_MS)
		lookup_arm(l->retry_ev, 0); /* backoff left as is, for if this attempt fails */
	else
		lookup_arm_backoff(l); /* a Redis that accepts then closes: no tight loop */
}

/* retry_ev: in DOWN, try again; otherwise the connection attempt took too long. */
static void lookup_on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct lookup *l = arg;

	(void)fd;
	(void)what;
	if (l->state == LOOKUP_STATE_DOWN) {
		lookup_connect(l);
		return;
	}
	if (l->state != LOOKUP_STATE_UP) {
		lookup_log_down(l, "connect", "no answer within 1s");
		lookup_drop(l);
	}
}

/* grace_ev: the reconnection is taking longer than a lookup deadline; answer the queue
 * 'unavailable' and stop queuing. */
static void lookup_on_grace(evutil_socket_t fd, short what, void *arg)
{
	struct lookup *l = arg;

	(void)fd;
	(void)what;
	if (l->grace)
		lookup_end_grace(l, false);
}

/* watch_ev: a connection that holds requests but has been silent for the stall time is
 * presumed dead (host gone without a RST); reconnecting beats waiting for TCP to notice. */
static void lookup_on_watch(evutil_socket_t fd, short what, void *arg)
{
	struct lookup *l = arg;

	(void)fd;
	(void)what;
	if (l->state != LOOKUP_STATE_UP)
		return;
	if (l->pending && clock_mono_ms() - l->owed_since_ms > l->stall_ms) {
		lookup_log_down(l, "stalled",
		                "no reply within the stall time with requests outstanding");
		event_del(l->watch_ev);
		lookup_drop(l);
		return;
	}
	lookup_arm(l->watch_ev, l->watch_ms);
}

static void lookup_connect(struct lookup *l)
{
	redisAsyncContext *ac;

	ac = l->redis.is_unix ? redisAsyncConnectUnix(l->redis.path)
	                      : redisAsyncConnect(l->redis.host, l->redis.port);
	if (!ac || ac->err) {
		lookup_log_down(l, "connect failed", ac ? ac->errstr : "out of memory");
		if (ac)
			redisAsyncFree(ac);
		lookup_schedule_retry(l);
		return;
	}
	ac->data = l;
	if (redisLibeventAttach(ac, l->base) != REDIS_OK) {
		redisAsyncFree(ac);
		lookup_schedule_retry(l);
		return;
	}
	l->ac = ac;
	l->state = LOOKUP_STATE_CONNECTING;
	redisAsyncSetConnectCallback(ac, lookup_on_connect);
	redisAsyncSetDisconnectCallback(ac, lookup_on_disconnect);
	lookup_arm(l->retry_ev, LOOKUP_CONNECT_MS);
}

struct lookup *lookup_new(struct event_base *base, const struct lookup_conf *conf,
                          struct metrics_shard *m)
{
	struct timeval tv = { .tv_sec = (time_t)(conf->timeout_ms / 1000),
		              .tv_usec = (suseconds_t)((conf->timeout_ms % 1000) * 1000) };
	struct lookup *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->base = base;
	l->redis = conf->redis;
	l->m = m;
	parse_endpoint_format(&conf->redis, l->redis_name, sizeof(l->redis_name));
	buf_init(&l->key);
	l->backoff_ms = LOOKUP_BACKOFF_MIN_MS;
	l->timeout_ms = conf->timeout_ms;
	l->stall_ms = conf->stall_ms ? conf->stall_ms : LOOKUP_STALL_MS;
	l->watch_ms = l->stall_ms / 4 < LOOKUP_WATCH_MAX_MS ? l->stall_ms / 4 : LOOKUP_WATCH_MAX_MS;
	if (!l->watch_ms)
		l->watch_ms = 1;
	l->queue_tail = &l->queue_head;
	l->prefix = strdup(conf->prefix ? conf->prefix : KEYS_DEFAULT_PREFIX);
	l->user = conf->user ? strdup(conf->user) : NULL;
	l->password = conf->password ? strdup(conf->password) : NULL;
	l->retry_ev = evtimer_new(base, lookup_on_retry, l);
	l->watch_ev = evtimer_new(base, lookup_on_watch, l);
	l->grace_ev = evtimer_new(base, lookup_on_grace, l);
	l->deadline = event_base_init_common_timeout(base, &tv);
	if (!l->prefix || (conf->user && !l->user) || (conf->password && !l->password) ||
	    !l->retry_ev || !l->watch_ev || !l->grace_ev || !l->deadline) {
		lookup_free(l);
		return NULL;
	}
	lookup_connect(l);
	return l;
}

void lookup_free(struct lookup *l)
{
	redisAsyncContext *ac;

	if (!l)
		return;
	l->stopping = true;
	ac = l->ac;
	l->ac = NULL;
	if (ac)
		redisAsyncFree(ac); /* runs every pending callback with NULL */
	lookup_end_grace(l, false); /* answers and frees what the queue holds */
	if (l->retry_ev)
		event_free(l->retry_ev);
	if (l->watch_ev)
		event_free(l->watch_ev);
	if (l->grace_ev)
		event_free(l->grace_ev);
	buf_deinit(&l->key);
	free(l->prefix);
	free(l->user);
	if (l->password) {
		OPENSSL_cleanse(l->password, strlen(l->password));
		free(l->password);
	}
	free(l);
}

int lookup_connected(const struct lookup *l)
{
	return l->state == LOOKUP_STATE_UP;
}

/* Deliver <status> to the requester once. */
static void lookup_answer(struct lookup_req *req, enum lookup_status status, const uint8_t *value,
                          size_t len)
{
	lookup_done_fn *cb = req->cb;

	if (!cb)
		return;
	req->cb = NULL;
	event_del(&req->timer);
	cb(req->arg, status, value, len);
}

static void lookup_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct lookup_req *req = arg;

	(void)fd;
	(void)what;
	lookup_answer(req, LOOKUP_TIMEOUT, NULL, 0);
}

static void lookup_on_reply(redisAsyncContext *ac, void *r, void *privdata);

/* Append <req> to the grace queue, which owns it from now on. */
static void lookup_enqueue(struct lookup *l, struct lookup_req *req)
{
	req->next = NULL;
	*l->queue_tail = req;
	l->queue_tail = &req->next;
	l->queued++;
}

/* Hand <req> over to hiredis on the UP connection. 0, or -1 if it could not (the caller
 * still owns <req>). The argv form: binary-safe, no printf format parsed per request. */
static int lookup_send(struct lookup *l, struct lookup_req *req)
{
	if (req->cmd) {
		if (redisAsyncFormattedCommand(l->ac, lookup_on_reply, req, req->cmd,
		                               req->cmd_len) != REDIS_OK)
			return -1;
	} else {
		const char *argv[2] = { "GET", NULL };
		size_t argvlen[2] = { 3, 0 };

		buf_reset(&l->key);
		if (keys_chal(&l->key, l->prefix, (const char *)req->token, req->token_len) < 0)
			return -1;
		argv[1] = (const char *)l->key.data;
		argvlen[1] = l->key.len;
		if (redisAsyncCommandArgv(l->ac, lookup_on_reply, req, 2, argv, argvlen) !=
		    REDIS_OK)
			return -1;
	}
	if (!l->pending++)
		l->owed_since_ms = clock_mono_ms(); /* not from an old reply: idle is not a stall */
	return 0;
}

/* End the grace period: once UP (<up>), send every queued request still wanted; otherwise
 * answer them 'unavailable'. Frees the queued requests that hiredis does not take. The queue
 * is detached first: callbacks may start or cancel lookups while it is being drained. */
static void lookup_end_grace(struct lookup *l, bool up)
{
	struct lookup_req *req = l->queue_head, *next;
	unsigned sent = 0, failed = 0;

	l->grace = false;
	if (l->grace_ev)
		event_del(l->grace_ev);
	l->queue_head = NULL;
	l->queue_tail = &l->queue_head;
	l->queued = 0;
	for (; req; req = next) {
		next = req->next;
		if (req->cb && up && l->state == LOOKUP_STATE_UP && l->ac && !lookup_send(l, req)) {
			sent++;
			continue; /* hiredis owns it now */
		}
		failed += !!req->cb;
		lookup_answer(req, LOOKUP_UNAVAILABLE, NULL, 0);
		event_del(&req->timer);
		lookup_req_free(req);
	}
	if (sent || failed)
		log_debug("redis=%s grace period over: %u queued lookups sent, %u answered "
		          "'unavailable'",
		          l->redis_name, sent, failed);
}

/* hiredis callback of the ROLE sent after a miss: a miss is an answer only from a primary or
 * from a replica linked to its primary. A replica restarted empty serves its empty data set
 * until its first sync ('replica-serve-stale-data', on by default, which the loader needs):
 * its misses would tell the CA "no such challenge" for a token the primary has. ROLE goes on
 * the same connection right after the GET's reply: it describes the data that answered. A
 * refused ROLE (an ACL without +role) trusts the miss, as before. Frees the request. */
static void lookup_on_miss_role(redisAsyncContext *ac, void *r, void *privdata)
{
	struct lookup_req *req = privdata;
	struct lookup *l = req->l;
	redisReply *reply = r, *e;
	bool current = true;

	(void)ac;
	l->pending--;
	if (!reply) {
		current = false;
	} else if (reply->type == REDIS_REPLY_ERROR) {
		if (!l->no_role)
			log_warn("redis=%s ROLE refused (%.*s): misses trusted (grant +role)",
			         l->redis_name, (int)(reply->len > 80 ? 80 : reply->len),
			         reply->str);
		l->no_role = true;
	} else {
		l->owed_since_ms = clock_mono_ms();
		e = reply->type == REDIS_REPLY_ARRAY && reply->elements >= 4 ? reply->element[3]
		                                                             : NULL;
		current = reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1 &&
		          reply->element[0]->type == REDIS_REPLY_STRING &&
		          (!strcmp(reply->element[0]->str, "master") ||
		           (!strcmp(reply->element[0]->str, "slave") && e &&
		            e->type == REDIS_REPLY_STRING && !strcmp(e->str, "connected")));
	}
	lookup_answer(req, current ? LOOKUP_MISS : LOOKUP_UNAVAILABLE, NULL, 0);
	event_del(&req->timer);
	lookup_req_free(req);
}

/* hiredis callback of a GET. Frees the request, unless the connection was lost under it
 * while still wanted during a grace period: then the queue takes it, to send it again. */
static void lookup_on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct lookup_req *req = privdata;
	struct lookup *l = req->l;
	redisReply *reply = r;

	l->pending--;
	if (!reply) {
		/* ac == l->ac and UP: Redis closed the connection, not us (lookup_drop() and
		 * lookup_free() clear l->ac first), so a grace period starts. */
		if (req->cb && ac == l->ac && l->state == LOOKUP_STATE_UP && !l->stopping) {
			lookup_start_grace(l);
			lookup_enqueue(l, req);
			return;
		}
		lookup_answer(req, LOOKUP_UNAVAILABLE, NULL, 0);
	} else {
		l->owed_since_ms = clock_mono_ms(); /* progress: the next one is owed from now */
		if (reply->type == REDIS_REPLY_STRING)
			lookup_answer(req, LOOKUP_HIT, (const uint8_t *)reply->str, reply->len);
		else if (reply->type == REDIS_REPLY_NIL && req->cb &&
		         redisAsyncCommand(ac, lookup_on_miss_role, req, "ROLE") == REDIS_OK) {
			l->pending++; /* hiredis holds the request again */
			return;
		} else if (reply->type == REDIS_REPLY_NIL)
			lookup_answer(req, LOOKUP_MISS, NULL, 0);
		else
			lookup_answer(req, LOOKUP_ERROR, NULL, 0);
	}
	event_del(&req->timer);
	lookup_req_free(req);
}

enum lookup_status lookup_get(struct lookup *l, const uint8_t *token, size_t len,
                              lookup_done_fn *cb, void *arg, struct lookup_req **reqp)
{
	struct lookup_req *req = NULL;
	enum lookup_status ret = LOOKUP_ERROR;
	bool up = l->state == LOOKUP_STATE_UP && l->ac;

	if (!up && !l->grace) {
		ret = LOOKUP_UNAVAILABLE;
		goto out;
	}
	if (l->pending + l->queued >= LOOKUP_MAX_PENDING || len > sizeof(req->token))
		goto out;
	req = malloc(sizeof(*req));
	if (!req)
		goto out;
	req->l = l;
	req->cb = cb;
	req->arg = arg;
	req->next = NULL;
	req->cmd = NULL;
	req->cmd_len = 0;
	req->token_len = len;
	memcpy(req->token, token, len);
	evtimer_assign(&req->timer, l->base, lookup_on_timeout, req);
	if (!up) {
		lookup_enqueue(l, req);
	} else if (lookup_send(l, req) < 0) {
		free(req);
		ret = LOOKUP_UNAVAILABLE;
		goto out;
	}
	event_add(&req->timer, l->deadline);
	*reqp = req;
	ret = LOOKUP_PENDING;
out:
	return ret;
}

enum lookup_status lookup_cmd(struct lookup *l, int argc, const char **argv, const size_t *argvlen,
                              lookup_done_fn *cb, void *arg, struct lookup_req **reqp)
{
	struct lookup_req *req;
	bool up = l->state == LOOKUP_STATE_UP && l->ac;

	if (!up && !l->grace)
		return LOOKUP_UNAVAILABLE;
	int len;

	if (l->pending + l->queued >= LOOKUP_MAX_PENDING || argc < 1)
		return LOOKUP_ERROR;
	req = calloc(1, sizeof(*req));
	if (!req)
		return LOOKUP_ERROR;
	/* formatted once: a grace period may send it again after a reconnect */
	len = redisFormatCommandArgv(&req->cmd, argc, argv, argvlen);
	if (len <= 0) {
		free(req);
		return LOOKUP_ERROR;
	}
	req->cmd_len = (size_t)len;
	req->l = l;
	req->cb = cb;
	req->arg = arg;
	evtimer_assign(&req->timer, l->base, lookup_on_timeout, req);
	if (!up) {
		lookup_enqueue(l, req);
	} else if (lookup_send(l, req) < 0) {
		lookup_req_free(req);
		return LOOKUP_UNAVAILABLE;
	}
	event_add(&req->timer, l->deadline);
	*reqp = req;
	return LOOKUP_PENDING;
}

void lookup_cancel(struct lookup_req *req)
{
	if (!req)
		return;
	req->cb = NULL;
	event_del(&req->timer);
}

static enum lookup_status lookup_ops_get(void *ctx, const uint8_t *token, size_t len,
                                         lookup_done_fn *cb, void *arg, struct lookup_req **reqp)
{
	return lookup_get(ctx, token, len, cb, arg, reqp);
}

static void lookup_ops_cancel(void *ctx, struct lookup_req *req)
{
	(void)ctx;
	lookup_cancel(req);
}

const struct lookup_ops lookup_redis_ops = {
	.get = lookup_ops_get,
	.cancel = lookup_ops_cancel,
};
