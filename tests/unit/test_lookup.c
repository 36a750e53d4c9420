// SPDX-License-Identifier: MIT
/*
 * Unit tests for spoa-agent/lookup.c against a real redis-server: a reply slowed down after an
 * idle period (the normal state between validations) is waited for, not taken for a stall; a
 * connection that really stalls is dropped well before the lookup deadline and the lookup
 * answered 'unavailable', then the module reconnects; a connection Redis closes with a request
 * in flight (Sentinel's CLIENT KILL on a failover) is ridden through: the request is sent again
 * on the new connection and answered. Redis is slowed with CLIENT PAUSE, which takes effect
 * before its reply, so nothing here depends on a sleep winning a race.
 */
#include <event2/event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <hiredis.h>

#include "spoa-agent/lookup.h"
#include "spoa-agent/metrics.h"
#include "tests/unit/support/tredis.h"

static struct tredis redis;
static redisContext *ctl; /* the test's own connection */

struct answer {
	int done;
	enum lookup_status status;
	char value[64];
	uint64_t at_ms;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_done(void *arg, enum lookup_status status, const uint8_t *value, size_t len)
{
	struct answer *a = arg;

	a->done++;
	a->status = status;
	a->at_ms = now_ms();
	snprintf(a->value, sizeof(a->value), "%.*s", value ? (int)len : 0,
	         value ? (const char *)value : "");
}

static void ctl_cmd(const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(ctl, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	if (r->type == REDIS_REPLY_ERROR)
		fail_msg("redis: %s", r->str);
	freeReplyObject(r);
}

typedef int cond_fn(void *arg);

/* Run <base> until <c> holds; fail after <guard_ms> (a deadlock guard, not a timing check). */
static void run_until(struct event_base *base, cond_fn *c, void *arg, uint64_t guard_ms,
                      const char *what)
{
	struct timeval tick = { 0, 10 * 1000 };
	uint64_t end = now_ms() + guard_ms;

	while (!c(arg)) {
		if (now_ms() > end)
			fail_msg("timed out waiting for %s", what);
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
}

/* Run <base> for <ms>: the idle period under test (the module's timers run meanwhile). */
static void run_for(struct event_base *base, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static int is_connected(void *arg)
{
	return lookup_connected(arg);
}

static int is_answered(void *arg)
{
	return ((struct answer *)arg)->done > 0;
}

static struct lookup *start_lookup(struct event_base *base, struct metrics_shard *m,
                                   uint64_t timeout_ms, uint64_t stall_ms)
{
	struct lookup_conf c = { .prefix = "t:", .timeout_ms = timeout_ms, .stall_ms = stall_ms };
	const char *why;
	struct lookup *l;

	assert_int_equal(parse_endpoint(redis.addr, &c.redis, &why), 0);
	l = lookup_new(base, &c, m);
	assert_non_null(l);
	run_until(base, is_connected, l, 5000, "the first connection");
	return l;
}

static enum lookup_status get(struct lookup *l, const char *token, struct answer *a)
{
	struct lookup_req *req = NULL;

	memset(a, 0, sizeof(*a));
	return lookup_get(l, (const uint8_t *)token, strlen(token), on_done, a, &req);
}

/* Idle for longer than the stall time, then one reply slower than usual but within both the
 * stall time and the deadline: it is a hit, and the connection stays. The stall used to be
 * measured from the last reply, so the first check after an idle period dropped it. */
static void test_idle_then_slow_reply(void **state)
{
	struct metrics_shard m = { 0 };
	struct event_base *base = event_base_new();
	struct answer a;
	struct lookup *l;
	uint64_t t0;

	(void)state;
	ctl_cmd("SET t:chal:tok1 tok1.thumb");
	l = start_lookup(base, &m, 5000, 1000);
	run_for(base, 1500);
	ctl_cmd("CLIENT PAUSE 500 ALL"); /* in effect once answered */
	t0 = now_ms();
	assert_int_equal(get(l, "tok1", &a), LOOKUP_PENDING);
	run_until(base, is_answered, &a, 10000, "the answer");
	assert_int_equal(a.status, LOOKUP_HIT);
	assert_string_equal(a.value, "tok1.thumb");
	assert_true(a.at_ms - t0 >= 400); /* the pause did slow it down */
	assert_true(lookup_connected(l));
	assert_int_equal(atomic_load(&m.redis_connects), 1);
	lookup_free(l);
	event_base_free(base);
}

/* A connection that stays silent with a request outstanding is dropped after the stall time,
 * long before the deadline; the lookup is answered 'unavailable' and the module reconnects. */
static void test_stall_drops(void **state)
{
	struct metrics_shard m = { 0 };
	struct event_base *base = event_base_new();
	struct answer a;
	struct lookup *l;
	uint64_t t0;

	(void)state;
	ctl_cmd("SET t:chal:tok2 tok2.thumb");
	l = start_lookup(base, &m, 8000, 600);
	ctl_cmd("CLIENT PAUSE 3000 ALL");
	t0 = now_ms();
	assert_int_equal(get(l, "tok2", &a), LOOKUP_PENDING);
	run_until(base, is_answered, &a, 10000, "the answer");
	assert_int_equal(a.status, LOOKUP_UNAVAILABLE);
	assert_true(a.at_ms - t0 >= 600);
	assert_true(a.at_ms - t0 < 2500); /* the stall time plus a check period, not 8 s */
	ctl_cmd("PING");                  /* answered once the pause is over */
	run_until(base, is_connected, l, 10000, "the reconnection");
	assert_int_equal(get(l, "tok2", &a), LOOKUP_PENDING);
	run_until(base, is_answered, &a, 10000, "the answer after the reconnection");
	assert_int_equal(a.status, LOOKUP_HIT);
	assert_int_equal(atomic_load(&m.redis_connects), 2);
	lookup_free(l);
	event_base_free(base);
}

/* Redis closes the connection (CLIENT KILL, as Sentinel does on a failover) while a request is
 * in flight on it: the request rides through the grace period and is answered from the new
 * connection. The GET is queued in hiredis before the kill and written after it, so it is in
 * flight on the killed connection whatever the scheduling. */
static void test_kill_grace(void **state)
{
	struct metrics_shard m = { 0 };
	struct event_base *base = event_base_new();
	struct answer a;
	struct lookup *l;

	(void)state;
	ctl_cmd("SET t:chal:tok3 tok3.thumb");
	l = start_lookup(base, &m, 3000, 0);
	assert_int_equal(get(l, "tok3", &a), LOOKUP_PENDING);
	ctl_cmd("CLIENT KILL TYPE normal SKIPME yes");
	run_until(base, is_answered, &a, 10000, "the answer");
	assert_int_equal(a.status, LOOKUP_HIT);
	assert_string_equal(a.value, "tok3.thumb");
	assert_int_equal(atomic_load(&m.redis_connects), 2);
	/* A lookup made while the lost connection is being replaced waits for the new one
	 * instead of being answered 'unavailable'. */
	ctl_cmd("CLIENT KILL TYPE normal SKIPME yes");
	while (lookup_connected(l))
		event_base_loop(base, EVLOOP_ONCE); /* one iteration: stop right at the loss */
	assert_int_equal(get(l, "tok3", &a), LOOKUP_PENDING);
	run_until(base, is_answered, &a, 10000, "the answer after the reconnection");
	assert_int_equal(a.status, LOOKUP_HIT);
	assert_int_equal(atomic_load(&m.redis_connects), 3);
	lookup_free(l);
	event_base_free(base);
}

/* A replica that is not linked to its primary (restarted empty and not yet synced, or cut off)
 * may not hold a token the primary has: a miss there is 'unavailable', not 'not found' (a 404
 * would tell the CA the token does not exist). A hit is still a hit: what a replica holds was
 * written by the primary. Linked again (here: a primary again), a miss is a miss. */
static void test_miss_not_current(void **state)
{
	struct metrics_shard m = { 0 };
	struct event_base *base = event_base_new();
	struct answer a;
	struct lookup *l;
	int dead = tredis_free_port();

	(void)state;
	ctl_cmd("SET t:chal:tok4 tok4.thumb");
	l = start_lookup(base, &m, 3000, 0);
	ctl_cmd("REPLICAOF 127.0.0.1 %d", dead); /* link state 'connect': nothing listens there */
	assert_int_equal(get(l, "nosuch", &a), LOOKUP_PENDING);
	run_until(base, is_answered, &a, 10000, "the answer");
	assert_int_equal(a.status, LOOKUP_UNAVAILABLE);
	assert_int_equal(get(l, "tok4", &a), LOOKUP_PENDING);
	run_until(base, is_answered, &a, 10000, "the answer");
	assert_int_equal(a.status, LOOKUP_HIT);
	ctl_cmd("REPLICAOF NO ONE");
	assert_int_equal(get(l, "nosuch", &a), LOOKUP_PENDING);
	run_until(base, is_answered, &a, 10000, "the answer");
	assert_int_equal(a.status, LOOKUP_MISS);
	lookup_free(l);
	event_base_free(base);
}

static int setup(void **state)
{
	(void)state;
	if (tredis_start(&redis) < 0)
		return -1;
	ctl = redisConnect("127.0.0.1", redis.port);
	return ctl && !ctl->err ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	redisFree(ctl);
	tredis_stop(&redis);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_then_slow_reply),
		cmocka_unit_test(test_stall_drops),
		cmocka_unit_test(test_kill_grace),
		cmocka_unit_test(test_miss_not_current),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
