// SPDX-License-Identifier: MIT
/*
 * On-demand certificates: the decision script and the wait (see ondemand.h).
 */
#include "spoa-agent/ondemand.h"

#include <ctype.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/names.h"
#include "spoa-agent/lookup.h"

#define ONDEMAND_SRC_MAX 64

/*
 * ARGV: prefix, name, edge, src, now (ms), src period (ms), src burst, fleet period (ms),
 * fleet burst, negative cache TTL (ms), "1" on a request's first check ("0" when polling).
 * The per-source bucket counts every first check of a name this edge does not serve (so a
 * flood of random names is cut short before it costs Redis more), the fleet bucket only the
 * names it enqueues. The keys are built inside (one Redis, no cluster).
 * GCRA: the bucket key holds the theoretical arrival time (TAT); a request is allowed when
 * TAT + period - now <= period * burst, and moves TAT by one period.
 */
static const char ondemand_script[] =
        "local p, name, edge, src = ARGV[1], ARGV[2], ARGV[3], ARGV[4] "
        "local now = tonumber(ARGV[5]) "
        "local served = p .. 'served:' .. edge "
        "if redis.call('HEXISTS', served, name .. ':ecdsa') == 1 or "
        "   redis.call('HEXISTS', served, name .. ':rsa') == 1 then return 'ready' end "
        "local function gcra(key, period, burst) "
        "  local tat = tonumber(redis.call('GET', key) or now) "
        "  if tat < now then tat = now end "
        "  if tat + period - now > period * burst then return false end "
        "  redis.call('SET', key, tat + period, 'PX', tat + period - now + 1) "
        "  return true "
        "end "
        "if ARGV[11] == '1' and "
        "   not gcra(p .. 'ondemand:rl:src:' .. src, tonumber(ARGV[6]), tonumber(ARGV[7])) "
        "  then return 'limited' end "
        "if redis.call('SISMEMBER', p .. 'hosts', name) == 1 then "
        "  if redis.call('HGET', p .. 'host:' .. name, 'state') == 'failed' then "
        "    return 'refused' end "
        "  return 'wait' end "
        "local neg = p .. 'ondemand:neg:' .. name "
        "if redis.call('EXISTS', neg) == 1 then return 'refused' end "
        "local ok, d = false, name "
        "while true do "
        "  local i = string.find(d, '.', 1, true) "
        "  if not i then break end "
        "  d = string.sub(d, i) "
        "  if redis.call('SISMEMBER', p .. 'ondemand:allow', d) == 1 then ok = true break end "
        "  d = string.sub(d, 2) "
        "end "
        "if not ok then redis.call('SET', neg, '1', 'PX', ARGV[10]) return 'refused' end "
        "if not gcra(p .. 'ondemand:rl:fleet', tonumber(ARGV[8]), tonumber(ARGV[9])) "
        "  then return 'limited' end "
        "local t = tostring(math.floor(now / 1000)) "
        "redis.call('SADD', p .. 'hosts', name) "
        "redis.call('HSET', p .. 'host:' .. name, 'state', 'pending', 'created', t, "
        "  'attempts', '0', 'origin', 'on_demand') "
        "redis.call('ZADD', p .. 'due', t, name) "
        "return 'wait'";

struct ondemand {
	struct event_base *base;
	struct lookup *l;
	struct ondemand_conf conf;
	char *prefix;
	char *edge;
};

struct ondemand_req {
	struct ondemand *od;
	ondemand_done_fn *cb; /* NULL once cancelled */
	void *arg;
	struct lookup_req *lr; /* the script in flight, or NULL while the poll timer runs */
	struct event *timer;
	uint64_t deadline_ms;
	bool polled; /* the first check was sent */
	char name[NAMES_HOSTNAME_MAX + 1];
	char src[ONDEMAND_SRC_MAX + 1];
};

static const char *const ondemand_result_names[ONDEMAND_RESULT_COUNT] = {
	"ready", "refused", "limited", "timeout", "unavailable",
};

const char *ondemand_result_str(enum ondemand_result r)
{
	return r < ONDEMAND_RESULT_COUNT ? ondemand_result_names[r] : "?";
}

static uint64_t ondemand_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t ondemand_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct ondemand *ondemand_new(struct event_base *base, struct lookup *l,
                              const struct ondemand_conf *conf)
{
	struct ondemand *od = calloc(1, sizeof(*od));

	if (!od)
		return NULL;
	od->base = base;
	od->l = l;
	od->conf = *conf;
	od->prefix = strdup(conf->prefix);
	od->edge = strdup(conf->edge);
	if (!od->prefix || !od->edge) {
		ondemand_free(od);
		return NULL;
	}
	return od;
}

void ondemand_free(struct ondemand *od)
{
	if (!od)
		return;
	free(od->prefix);
	free(od->edge);
	free(od);
}

static void ondemand_req_free(struct ondemand_req *r)
{
	if (r->timer)
		event_free(r->timer);
	free(r);
}

static void ondemand_on_reply(void *arg, enum lookup_status status, const uint8_t *value,
                              size_t len);

/* Send the script for <r>. 0, or -1 with <*result> the final answer. */
static int ondemand_send(struct ondemand_req *r, enum ondemand_result *result)
{
	struct ondemand *od = r->od;
	char num[6][24];
	const uint64_t nums[6] = { ondemand_wall_ms(),   od->conf.src_period_ms,
		                   od->conf.src_burst,   od->conf.fleet_period_ms,
		                   od->conf.fleet_burst, od->conf.neg_ttl_ms };
	const char *argv[14] = {
		"EVAL", ondemand_script, "0", od->prefix, r->name, od->edge, r->src
	};
	size_t argvlen[14];
	enum lookup_status st;

	*result = ONDEMAND_UNAVAILABLE;
	for (size_t i = 0; i < 6; i++) {
		snprintf(num[i], sizeof(num[i]), "%llu", (unsigned long long)nums[i]);
		argv[7 + i] = num[i];
	}
	argv[13] = r->polled ? "0" : "1";
	for (size_t i = 0; i < 14; i++)
		argvlen[i] = strlen(argv[i]);
	st = lookup_cmd(od->l, 14, argv, argvlen, ondemand_on_reply, r, &r->lr);
	if (st != LOOKUP_PENDING)
		return -1;
	r->polled = true;
	return 0;
}

static void ondemand_finish(struct ondemand_req *r, enum ondemand_result result)
{
	ondemand_done_fn *cb = r->cb;
	void *arg = r->arg;

	ondemand_req_free(r);
	if (cb)
		cb(arg, result);
}

static void ondemand_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ondemand_req *r = arg;
	enum ondemand_result result;

	(void)fd;
	(void)what;
	if (!r->cb) {
		ondemand_req_free(r);
		return;
	}
	if (ondemand_now_ms() >= r->deadline_ms) {
		ondemand_finish(r, ONDEMAND_TIMEOUT);
		return;
	}
	if (ondemand_send(r, &result) < 0)
		ondemand_finish(r, result);
}

static void ondemand_on_reply(void *arg, enum lookup_status status, const uint8_t *value,
                              size_t len)
{
	struct ondemand_req *r = arg;
	uint64_t now, wait;

	r->lr = NULL;
	if (status != LOOKUP_HIT) {
		ondemand_finish(r, ONDEMAND_UNAVAILABLE);
		return;
	}
	if (len == 5 && !memcmp(value, "ready", 5)) {
		ondemand_finish(r, ONDEMAND_READY);
		return;
	}
	if (len == 7 && !memcmp(value, "refused", 7)) {
		ondemand_finish(r, ONDEMAND_REFUSED);
		return;
	}
	if (len == 7 && !memcmp(value, "limited", 7)) {
		ondemand_finish(r, ONDEMAND_LIMITED);
		return;
	}
	if (!(len == 4 && !memcmp(value, "wait", 4))) {
		ondemand_finish(r, ONDEMAND_UNAVAILABLE);
		return;
	}
	now = ondemand_now_ms();
	if (now >= r->deadline_ms) {
		ondemand_finish(r, ONDEMAND_TIMEOUT);
		return;
	}
	wait = r->deadline_ms - now;
	if (wait > r->od->conf.poll_ms)
		wait = r->od->conf.poll_ms;
	{
		struct timeval tv = { .tv_sec = (time_t)(wait / 1000),
			              .tv_usec = (suseconds_t)(wait % 1000) * 1000 };
		evtimer_add(r->timer, &tv);
	}
}

int ondemand_start(struct ondemand *od, const uint8_t *sni, size_t sni_len, const uint8_t *src,
                   size_t src_len, ondemand_done_fn *cb, void *arg, struct ondemand_req **reqp,
                   enum ondemand_result *result)
{
	struct ondemand_req *r;
	const char *why;
	size_t i;

	*result = ONDEMAND_REFUSED;
	if (!sni || !sni_len || sni_len > NAMES_HOSTNAME_MAX || !src || !src_len ||
	    src_len > ONDEMAND_SRC_MAX)
		return -1;
	r = calloc(1, sizeof(*r));
	if (!r) {
		*result = ONDEMAND_UNAVAILABLE;
		return -1;
	}
	for (i = 0; i < sni_len; i++)
		r->name[i] = (char)tolower(sni[i]);
	r->name[sni_len] = 0;
	for (i = 0; i < src_len; i++) {
		/* an address: digits, hex, '.', ':' only (it becomes part of a key name) */
		if (!isxdigit(src[i]) && src[i] != '.' && src[i] != ':') {
			free(r);
			return -1;
		}
		r->src[i] = (char)src[i];
	}
	r->src[src_len] = 0;
	if (strlen(r->name) != sni_len || !names_hostname_valid(r->name, &why)) {
		free(r);
		return -1;
	}
	r->od = od;
	r->cb = cb;
	r->arg = arg;
	r->deadline_ms = ondemand_now_ms() + od->conf.deadline_ms;
	r->timer = evtimer_new(od->base, ondemand_on_timer, r);
	if (!r->timer) {
		free(r);
		*result = ONDEMAND_UNAVAILABLE;
		return -1;
	}
	if (ondemand_send(r, result) < 0) {
		ondemand_req_free(r);
		return -1;
	}
	*reqp = r;
	return 0;
}

void ondemand_cancel(struct ondemand_req *r)
{
	if (!r)
		return;
	r->cb = NULL;
	if (r->lr) {
		/* Redis holds it: lookup_cancel() means its callback never comes, so free now. */
		lookup_cancel(r->lr);
		r->lr = NULL;
	}
	ondemand_req_free(r);
}
