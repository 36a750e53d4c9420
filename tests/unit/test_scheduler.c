// SPDX-License-Identifier: MIT
/*
 * Unit tests for scheduler.c: the renewal, backoff and ARI arithmetic (pure), then the
 * scheduler itself against a real redis-server with a fake ACME binding: two schedulers sharing
 * one Redis order each of 20 hosts exactly once; failures back off honouring Retry-After and
 * land in the metrics; ARI windows set the renewal time, re-polls keep it and a moved window
 * renews with "replaces"; a removal asked mid-order is finished by the issuer; SIGTERM
 * mid-order puts the host back untouched; a dead issuer's lock expires and the host is ordered.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis.h>

#include "cert-pusher/hosts.h"
#include "cert-pusher/pmetrics.h"
#include "cert-pusher/issuer/scheduler.h"
#include "tests/unit/support/tredis.h"

#define DAY 86400LL

/* ---- arithmetic ---- */

static void test_renew_at(void **state)
{
	long long nb = 1000000000, na = nb + 90 * DAY, t, lo = na, hi = 0;
	uint64_t r;

	(void)state;
	for (r = 0; r < 20000; r++) {
		t = scheduler_renew_at(nb, na, 2.0 / 3.0, r * 0x9E3779B97F4A7C15ULL);
		if (t < lo)
			lo = t;
		if (t > hi)
			hi = t;
	}
	/* 60 days +- 4.5 days, and both ends reached */
	assert_true(lo >= nb + 60 * DAY - 90 * DAY / 20 && lo < nb + 56 * DAY);
	assert_true(hi <= nb + 60 * DAY + 90 * DAY / 20 && hi > nb + 64 * DAY);
	/* rnd == jitter span / 2: no jitter */
	assert_int_equal(scheduler_renew_at(nb, na, 2.0 / 3.0, 90 * DAY / 20), nb + 60 * DAY);
	/* a fraction near 1 still renews before expiry */
	for (r = 0; r < 1000; r++)
		assert_true(scheduler_renew_at(nb, na, 0.999, r * 7919) <= na - 90 * DAY / 20);
	/* a short (test) lifetime: 60 s -> 40 s +- 3 s */
	for (r = 0; r < 100; r++) {
		t = scheduler_renew_at(nb, nb + 60, 2.0 / 3.0, r);
		assert_true(t >= nb + 37 && t <= nb + 43);
	}
	assert_int_equal(scheduler_renew_at(nb, nb, 0.5, 1), nb);
	assert_int_equal(scheduler_renew_at(nb, nb - 10, 0.5, 1), nb - 10);
}

static void test_backoff(void **state)
{
	uint64_t r;
	long long d;

	(void)state;
	for (r = 0; r < 1000; r++) {
		d = scheduler_backoff(1, -1, 60, 21600, r * 2654435761ULL);
		assert_int_equal(d, 60); /* [30, 60] floored at the minimum */
		d = scheduler_backoff(2, -1, 60, 21600, r * 2654435761ULL);
		assert_true(d >= 60 && d <= 120);
		d = scheduler_backoff(4, -1, 60, 21600, r * 2654435761ULL);
		assert_true(d >= 240 && d <= 480);
		d = scheduler_backoff(40, -1, 60, 21600, r * 2654435761ULL);
		assert_true(d >= 10800 && d <= 21600); /* capped, still jittered */
		d = scheduler_backoff(4000000000u, -1, 60, 21600, r);
		assert_true(d >= 10800 && d <= 21600); /* no overflow */
	}
	/* both ends of the jitter are reachable */
	assert_int_equal(scheduler_backoff(3, -1, 60, 21600, 0), 120);
	assert_int_equal(scheduler_backoff(3, -1, 60, 21600, 120), 240);
	/* Retry-After wins when longer, is capped at 7 days, and a short one changes nothing */
	assert_int_equal(scheduler_backoff(1, 3600, 60, 21600, 0), 3600);
	assert_int_equal(scheduler_backoff(1, 30 * DAY, 60, 21600, 0), 7 * DAY);
	assert_int_equal(scheduler_backoff(3, 10, 60, 21600, 0), 120);
}

static void test_ari_pick(void **state)
{
	struct ari_window w = { .start = 5000, .end = 6000 };
	long long t;
	uint64_t r;

	(void)state;
	assert_int_equal(scheduler_ari_pick(&w, 5500, 1000, 99), 5500); /* kept */
	assert_int_equal(scheduler_ari_pick(&w, 5500, 5800, 99),
	                 5800); /* kept, but not before now */
	for (r = 0; r < 500; r++) {
		t = scheduler_ari_pick(&w, 9000, 1000, r * 7919); /* moved window: new choice */
		assert_true(t >= 5000 && t <= 6000);
	}
	assert_int_equal(scheduler_ari_pick(&w, 0, 7000, 3), 7000); /* past window: now */
}

static void test_fraction_and_opts(void **state)
{
	struct scheduler_opts o;
	struct conf *c = conf_new();
	char err[256];
	double f;

	(void)state;
	assert_int_equal(scheduler_parse_fraction("2/3", &f), 0);
	assert_true(f > 0.666 && f < 0.667);
	assert_int_equal(scheduler_parse_fraction("0.5", &f), 0);
	assert_int_equal(scheduler_parse_fraction(".25", &f), 0);
	assert_true(f == 0.25);
	static const char *const bad[] = { "",     "0",    "1",    "1/1", "3/2", "0/3", "abc",
		                           "0.5x", "-0.5", "1e-1", "2/",  "/3",  "0.5 " };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(scheduler_parse_fraction(bad[i], &f), -1);

	assert_int_equal(scheduler_opts_from_conf(&o, c, err, sizeof(err)), 0);
	assert_int_equal(o.max_orders, 4);
	assert_int_equal(o.lock_ttl_ms, 60000);
	assert_int_equal(o.backoff_min_s, 60);
	assert_int_equal(o.backoff_max_s, 21600);
	conf_set(c, "renew-fraction", "1.5", 1);
	assert_int_equal(scheduler_opts_from_conf(&o, c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--renew-fraction: '1.5'"));
	conf_set(c, "renew-fraction", "3/4", 1);
	conf_set(c, "max-concurrent-orders", "0", 1);
	assert_int_equal(scheduler_opts_from_conf(&o, c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--max-concurrent-orders"));
	conf_set(c, "max-concurrent-orders", "8", 1);
	conf_set(c, "backoff-min", "10m", 1);
	conf_set(c, "backoff-max", "5m", 1);
	assert_int_equal(scheduler_opts_from_conf(&o, c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--backoff-max"));
	conf_set(c, "backoff-max", "2h", 1);
	conf_set(c, "lock-ttl", "1s", 1);
	assert_int_equal(scheduler_opts_from_conf(&o, c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--lock-ttl"));
	conf_set(c, "lock-ttl", "30s", 1);
	assert_int_equal(scheduler_opts_from_conf(&o, c, err, sizeof(err)), 0);
	assert_true(o.renew_fraction == 0.75);
	assert_int_equal(o.max_orders, 8);
	assert_int_equal(o.backoff_min_s, 600);
	assert_int_equal(o.backoff_max_s, 7200);
	assert_int_equal(o.lock_ttl_ms, 30000);
	conf_free(c);
}

/* ---- the scheduler against Redis, with a fake ACME binding ---- */

enum fake_mode {
	FAKE_OK = 0,
	FAKE_FAIL,  /* rateLimited, Retry-After 600 */
	FAKE_BLOCK, /* wait for fake.release, then succeed */
	FAKE_STOP,  /* wait (10 s at most) for the scheduler's stop flag, then give up */
};

static struct fake {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum fake_mode mode;
	char names[64][64];
	int counts[64];
	size_t n;
	int entered, release;
	int returned, saw_stop; /* FAKE_STOP: orders that returned; of them, told to stop */
	char last_replaces[JWS_ALG_COUNT][256];
	int ari;
	struct ari_window w;     /* for the ECDSA CertIDs ("aki.*") */
	struct ari_window w_rsa; /* for the RSA ones ("rsa.*"); start 0: the same as <w> */
	int ari_calls;
	int revoke_rc; /* what fake_revoke answers */
	int revoke_calls;
	char revoked[64];
} fake = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static struct tredis redis;
static struct conf *conf;
static struct store *st;

static void *fake_ctx_new(void *arg, char *err, size_t errsz)
{
	(void)err;
	(void)errsz;
	return arg;
}

static void fake_ctx_free(void *ctx)
{
	(void)ctx;
}

static int fake_count(const char *name)
{
	size_t i;
	int c = 0;

	pthread_mutex_lock(&fake.mu);
	for (i = 0; i < fake.n; i++)
		if (!strcmp(fake.names[i], name))
			c = fake.counts[i];
	pthread_mutex_unlock(&fake.mu);
	return c;
}

static void fake_issue(void *ctx, const char *name, const char *const replaces[JWS_ALG_COUNT],
                       const atomic_int *stop, struct scheduler_result *res)
{
	struct timespec ts = { 0, 10 * 1000000 };
	long long now = (long long)time(NULL);
	size_t i;

	(void)ctx;
	pthread_mutex_lock(&fake.mu);
	for (i = 0; i < fake.n && strcmp(fake.names[i], name); i++)
		;
	if (i == fake.n && fake.n < 64)
		snprintf(fake.names[fake.n++], sizeof(fake.names[0]), "%s", name);
	if (i < 64)
		fake.counts[i]++;
	for (int a = 0; a < JWS_ALG_COUNT; a++)
		snprintf(fake.last_replaces[a], sizeof(fake.last_replaces[a]), "%s",
		         replaces && replaces[a] ? replaces[a] : "");
	fake.entered++;
	pthread_cond_broadcast(&fake.cv);
	if (fake.mode == FAKE_BLOCK)
		while (!fake.release)
			pthread_cond_wait(&fake.cv, &fake.mu);
	pthread_mutex_unlock(&fake.mu);
	if (fake.mode == FAKE_STOP) {
		for (i = 0; i < 1000 && !atomic_load(stop); i++)
			nanosleep(&ts, NULL);
		pthread_mutex_lock(&fake.mu);
		fake.saw_stop += atomic_load(stop) != 0;
		fake.returned++;
		pthread_mutex_unlock(&fake.mu);
		snprintf(res->error, sizeof(res->error), "stopped");
		return;
	}
	nanosleep(&ts, NULL);
	if (fake.mode == FAKE_FAIL) {
		snprintf(res->problem_type, sizeof(res->problem_type), "rateLimited");
		snprintf(res->error, sizeof(res->error),
		         "urn:ietf:params:acme:error:rateLimited: too many certificates");
		res->retry_after = 600;
		return;
	}
	res->ok = 1;
	res->not_before = now;
	res->not_after = now + 90 * DAY;
	snprintf(res->serial_ecdsa, sizeof(res->serial_ecdsa), "0A%02zX", i);
	snprintf(res->serial_rsa, sizeof(res->serial_rsa), "0B%02zX", i);
	snprintf(res->cert_id[JWS_ALG_ES256], sizeof(res->cert_id[0]), "aki.serial%zu.%d", i,
	         fake_count(name));
	snprintf(res->cert_id[JWS_ALG_RS256], sizeof(res->cert_id[0]), "rsa.serial%zu.%d", i,
	         fake_count(name));
}

static int fake_revoke(void *ctx, const char *name, long long *retry_after, char *err, size_t errsz)
{
	int rc;

	(void)ctx;
	pthread_mutex_lock(&fake.mu);
	fake.revoke_calls++;
	snprintf(fake.revoked, sizeof(fake.revoked), "%s", name);
	rc = fake.revoke_rc;
	pthread_cond_broadcast(&fake.cv);
	pthread_mutex_unlock(&fake.mu);
	*retry_after = rc < 0 ? 900 : -1;
	if (rc < 0)
		snprintf(err, errsz, "rsa: urn:ietf:params:acme:error:serverInternal: try later");
	return rc;
}

static int fake_ari(void *ctx, const char *cert_id, struct ari_window *w, long long *retry_after)
{
	(void)ctx;
	pthread_mutex_lock(&fake.mu);
	fake.ari_calls++;
	*w = !strncmp(cert_id, "rsa.", 4) && fake.w_rsa.start ? fake.w_rsa : fake.w;
	pthread_mutex_unlock(&fake.mu);
	*retry_after = -1;
	return fake.ari;
}

static void fake_reset(enum fake_mode mode)
{
	pthread_mutex_lock(&fake.mu);
	fake.mode = mode;
	fake.n = 0;
	memset(fake.counts, 0, sizeof(fake.counts));
	fake.entered = fake.release = 0;
	fake.returned = fake.saw_stop = 0;
	memset(fake.last_replaces, 0, sizeof(fake.last_replaces));
	fake.ari = 0;
	fake.ari_calls = 0;
	memset(&fake.w_rsa, 0, sizeof(fake.w_rsa));
	fake.revoke_rc = 0;
	fake.revoke_calls = 0;
	fake.revoked[0] = 0;
	pthread_mutex_unlock(&fake.mu);
}

static struct scheduler *start_scheduler(int with_ari)
{
	struct scheduler_opts o = {
		.renew_fraction = 2.0 / 3.0,
		.max_orders = 4,
		.lock_ttl_ms = 3000,
		.backoff_min_s = 60,
		.backoff_max_s = 3600,
		.poll_ms = 20,
	};
	struct scheduler_ops ops = {
		.ctx_new = fake_ctx_new,
		.ctx_free = fake_ctx_free,
		.issue = fake_issue,
		.renewal_info = with_ari ? fake_ari : NULL,
		.revoke = fake_revoke,
		.arg = &fake,
	};
	struct scheduler *sc;
	char err[256];

	sc = scheduler_new(conf, "t:", &o, &ops, err, sizeof(err));
	assert_non_null(sc);
	assert_int_equal(scheduler_start(sc, err, sizeof(err)), 0);
	return sc;
}

static long long rint_(const char *fmt, ...)
{
	redisReply *r;
	va_list ap;
	long long v;

	va_start(ap, fmt);
	r = redisvCommand(st->rc, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	v = r->type == REDIS_REPLY_INTEGER  ? r->integer
	    : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10)
	                                    : -999;
	freeReplyObject(r);
	return v;
}

/* A string reply (HGET...) into <out>; "" for nil. */
static void rstr_(char *out, size_t outsz, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(st->rc, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	snprintf(out, outsz, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
	freeReplyObject(r);
}

typedef int cond_fn(const void *arg);

/* Poll <c> every 20 ms for up to 20 s (a deadlock guard, not a timing assertion). */
static void wait_for(cond_fn *c, const void *arg, const char *what)
{
	struct timespec ts = { 0, 20 * 1000000 };
	int i;

	for (i = 0; i < 1000; i++) {
		if (c(arg))
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("timed out waiting for %s", what);
}

static int host_in_state(const void *arg)
{
	const char *const *a = arg; /* name, state */
	struct hosts_info h;
	char err[256];

	return hosts_get(st, a[0], &h, err, sizeof(err)) == HOSTS_OK &&
	       !strcmp(hosts_state_name(h.state), a[1]) && !h.order_running;
}

static int all_valid(const void *arg)
{
	struct hosts_info *arr = NULL;
	size_t n = 0, i, ok = 0;
	char err[256];

	if (hosts_list(st, &arr, &n, err, sizeof(err)) != HOSTS_OK)
		return 0;
	for (i = 0; i < n; i++)
		ok += arr[i].state == HOSTS_STATE_VALID && !arr[i].order_running;
	free(arr);
	return ok == (size_t) * (const int *)arg;
}

static int fake_entered(const void *arg)
{
	int v;

	pthread_mutex_lock(&fake.mu);
	v = fake.entered >= *(const int *)arg;
	pthread_mutex_unlock(&fake.mu);
	return v;
}

static int fake_returned(const void *arg)
{
	int v;

	pthread_mutex_lock(&fake.mu);
	v = fake.returned >= *(const int *)arg;
	pthread_mutex_unlock(&fake.mu);
	return v;
}

static int scheduler_idle(const void *arg)
{
	return scheduler_running((struct scheduler *)(uintptr_t)arg) == 0;
}

static int host_gone(const void *arg)
{
	return rint_("SISMEMBER t:hosts %s", (const char *)arg) == 0;
}

static int due_is(const void *arg)
{
	const long long *a = arg; /* [0] expected score; name in the global below */
	extern const char *due_name;

	return rint_("ZSCORE t:due %s", due_name) == a[0];
}
const char *due_name;

static int due_is_later(const void *arg)
{
	return rint_("ZSCORE t:due %s", "r.example.com") > *(const long long *)arg + 60;
}

static int setup(void **state)
{
	char err[256];

	(void)state;
	if (tredis_start(&redis) < 0)
		return -1;
	conf = conf_new();
	conf_set(conf, "redis", redis.addr, 1);
	st = store_open(conf, "t:", err, sizeof(err));
	return st ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	store_close(st);
	conf_free(conf);
	tredis_stop(&redis);
	return 0;
}

static void add_host(const char *name)
{
	struct hosts_info info;
	char err[256];

	assert_int_equal(hosts_add(st, name, NULL, &info, err, sizeof(err)), HOSTS_OK);
}

static void test_two_issuers_order_each_host_once(void **state)
{
	struct scheduler *a, *b;
	struct hosts_info *arr = NULL;
	char name[64], err[256];
	size_t n = 0, i;
	int want = 20;
	long long now = (long long)time(NULL);

	(void)state;
	rint_("FLUSHALL");
	fake_reset(FAKE_OK);
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "h%02zu.example.com", i);
		add_host(name);
	}
	a = start_scheduler(0);
	b = start_scheduler(0);
	assert_string_not_equal(scheduler_owner(a), scheduler_owner(b));
	wait_for(all_valid, &want, "20 valid hosts");
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "h%02zu.example.com", i);
		assert_int_equal(fake_count(name), 1);
	}
	assert_int_equal(hosts_list(st, &arr, &n, err, sizeof(err)), HOSTS_OK);
	assert_int_equal(n, 20);
	for (i = 0; i < n; i++) {
		assert_true(arr[i].renew_at >= now + 60 * DAY - 5 * DAY);
		assert_true(arr[i].renew_at <= now + 60 * DAY + 5 * DAY);
		assert_true(arr[i].not_after >= now + 90 * DAY);
		assert_int_equal(arr[i].attempts, 0);
		assert_string_equal(arr[i].last_error, "");
		assert_int_equal(strlen(arr[i].serial_ecdsa), 4);
		assert_int_equal(rint_("ZSCORE t:due %s", arr[i].name), arr[i].renew_at);
	}

	/* Woken before renew_at without ARI: back to sleep until the plan, no order. */
	due_name = arr[3].name;
	rint_("ZADD t:due %lld %s", now, arr[3].name);
	{
		long long want_due = arr[3].renew_at;

		wait_for(due_is, &want_due, "the early wake-up to be rescheduled");
	}
	assert_int_equal(fake_count(arr[3].name), 1);
	free(arr);
	scheduler_free(a);
	scheduler_free(b);
	{
		redisReply *r = redisCommand(st->rc, "KEYS t:lock:*");

		assert_non_null(r);
		assert_int_equal(r->elements, 0); /* every lock released */
		freeReplyObject(r);
	}
}

static void test_failure_backs_off(void **state)
{
	const char *want[] = { "f.example.com", "failed" };
	struct scheduler *sc;
	struct hosts_info h;
	struct buf m;
	char err[256];
	long long now = (long long)time(NULL), due;
	int two = 2;

	(void)state;
	rint_("FLUSHALL");
	pmetrics_reset();
	fake_reset(FAKE_FAIL);
	add_host("f.example.com");
	sc = start_scheduler(0);
	wait_for(host_in_state, want, "the host to fail");
	assert_int_equal(hosts_get(st, "f.example.com", &h, err, sizeof(err)), HOSTS_OK);
	assert_int_equal(h.attempts, 1);
	assert_non_null(strstr(h.last_error, "rateLimited"));
	due = rint_("ZSCORE t:due f.example.com");
	assert_true(due >= now + 600 && due <= (long long)time(NULL) + 600);
	assert_int_equal(h.next_attempt, due);
	/* renew = retry now; the second failure counts 2 and Retry-After still wins */
	assert_int_equal(hosts_renew(st, "f.example.com", err, sizeof(err)), HOSTS_OK);
	wait_for(fake_entered, &two, "the second attempt");
	wait_for(host_in_state, want, "the host to fail again");
	assert_int_equal(hosts_get(st, "f.example.com", &h, err, sizeof(err)), HOSTS_OK);
	assert_int_equal(h.attempts, 2);
	assert_true(rint_("ZSCORE t:due f.example.com") >= now + 600);
	scheduler_free(sc);
	buf_init(&m);
	assert_int_equal(pmetrics_render(&m), 0);
	assert_non_null(strstr(buf_str(&m), "spoacme_orders_total{outcome=\"failure\"} 2\n"));
	assert_non_null(
	        strstr(buf_str(&m), "spoacme_order_failures_total{problem=\"rateLimited\"} 2\n"));
	assert_non_null(strstr(buf_str(&m), "spoacme_order_duration_seconds_count 2\n"));
	buf_deinit(&m);
}

static void test_ari_window(void **state)
{
	const char *want[] = { "a.example.com", "valid" };
	struct scheduler *sc;
	struct hosts_info h;
	char err[256], v[256];
	long long now = (long long)time(NULL), renew;
	int two = 2;

	(void)state;
	rint_("FLUSHALL");
	fake_reset(FAKE_OK);
	fake.ari = 1;
	fake.w.start = now + 5000;
	fake.w.end = now + 6000;
	snprintf(fake.w.explanation_url, sizeof(fake.w.explanation_url), "https://ca.test/why");
	add_host("a.example.com");
	sc = start_scheduler(1);
	wait_for(host_in_state, want, "the host to be valid");
	assert_int_equal(hosts_get(st, "a.example.com", &h, err, sizeof(err)), HOSTS_OK);
	renew = h.renew_at;
	assert_true(renew >= now + 5000 && renew <= now + 6000);
	assert_int_equal(rint_("ZSCORE t:due a.example.com"), renew);
	/* first order replaces nothing */
	assert_string_equal(fake.last_replaces[JWS_ALG_ES256], "");
	assert_string_equal(fake.last_replaces[JWS_ALG_RS256], "");
	/* each key type's CertID is kept */
	rstr_(v, sizeof(v), "HGET t:host:a.example.com cert_id_ecdsa");
	assert_string_equal(v, "aki.serial0.1");
	rstr_(v, sizeof(v), "HGET t:host:a.example.com cert_id_rsa");
	assert_string_equal(v, "rsa.serial0.1");
	assert_true(fake.ari_calls >= 2); /* one renewalInfo per key type */

	/* An ARI poll (woken before renew_at) with the same window keeps the choice. */
	due_name = "a.example.com";
	rint_("ZADD t:due %lld a.example.com", now);
	wait_for(due_is, &renew, "the ARI poll to reschedule");
	assert_int_equal(fake_count("a.example.com"), 1);
	assert_true(fake.ari_calls >= 2);

	/* The CA moves the window into the past (e.g. a revocation): renew now, replacing. */
	pthread_mutex_lock(&fake.mu);
	fake.w.start = now - 100;
	fake.w.end = now - 50;
	pthread_mutex_unlock(&fake.mu);
	rint_("ZADD t:due %lld a.example.com", now);
	wait_for(fake_entered, &two, "the renewal");
	wait_for(host_in_state, want, "the renewal to finish");
	/* each order replaces its own key type's certificate */
	assert_string_equal(fake.last_replaces[JWS_ALG_ES256], "aki.serial0.1");
	assert_string_equal(fake.last_replaces[JWS_ALG_RS256], "rsa.serial0.1");
	/* The same past window for the new certificate must not loop: the fraction decides. */
	assert_int_equal(hosts_get(st, "a.example.com", &h, err, sizeof(err)), HOSTS_OK);
	assert_true(h.renew_at > now + 50 * DAY);
	scheduler_free(sc);
	assert_int_equal(fake_count("a.example.com"), 2);
}

/* One renewal renews both key types: the earliest window of the two decides. */
static void test_ari_merged_windows(void **state)
{
	const char *want[] = { "m.example.com", "valid" };
	struct scheduler *sc;
	struct hosts_info h;
	char err[256];
	long long now = (long long)time(NULL);

	(void)state;
	rint_("FLUSHALL");
	fake_reset(FAKE_OK);
	fake.ari = 1;
	fake.w.start = now + 50000;
	fake.w.end = now + 60000;
	fake.w_rsa.start = now + 30000;
	fake.w_rsa.end = now + 40000;
	add_host("m.example.com");
	sc = start_scheduler(1);
	wait_for(host_in_state, want, "the host to be valid");
	scheduler_free(sc);
	assert_int_equal(hosts_get(st, "m.example.com", &h, err, sizeof(err)), HOSTS_OK);
	assert_true(h.renew_at >= now + 30000 && h.renew_at <= now + 40000);
	/* and the other way round */
	rint_("FLUSHALL");
	fake_reset(FAKE_OK);
	fake.ari = 1;
	fake.w.start = now + 20000;
	fake.w.end = now + 25000;
	fake.w_rsa.start = now + 30000;
	fake.w_rsa.end = now + 40000;
	add_host("m.example.com");
	sc = start_scheduler(1);
	wait_for(host_in_state, want, "the host to be valid");
	scheduler_free(sc);
	assert_int_equal(hosts_get(st, "m.example.com", &h, err, sizeof(err)), HOSTS_OK);
	assert_true(h.renew_at >= now + 20000 && h.renew_at <= now + 25000);
}

/* A host recorded before CertIDs were kept per key type: its one (ECDSA) CertID goes with the
 * ECDSA order only, and the per-type fields replace it. */
static void test_legacy_cert_id(void **state)
{
	const char *want[] = { "l.example.com", "valid" };
	struct scheduler *sc;
	char v[256];
	long long now = (long long)time(NULL);
	int one = 1;

	(void)state;
	rint_("FLUSHALL");
	fake_reset(FAKE_OK);
	add_host("l.example.com");
	rint_("HSET t:host:l.example.com state valid not_before %lld not_after %lld renew_at %lld "
	      "cert_id legacy.id",
	      now - 60 * DAY, now + 30 * DAY, now);
	sc = start_scheduler(0);
	wait_for(fake_entered, &one, "the renewal");
	wait_for(host_in_state, want, "the renewal to finish");
	scheduler_free(sc);
	assert_string_equal(fake.last_replaces[JWS_ALG_ES256], "legacy.id");
	assert_string_equal(fake.last_replaces[JWS_ALG_RS256], "");
	assert_int_equal(rint_("HEXISTS t:host:l.example.com cert_id"), 0);
	rstr_(v, sizeof(v), "HGET t:host:l.example.com cert_id_ecdsa");
	assert_string_equal(v, "aki.serial0.1");
}

static int fake_revoked_n(const void *arg)
{
	int v;

	pthread_mutex_lock(&fake.mu);
	v = fake.revoke_calls >= *(const int *)arg;
	pthread_mutex_unlock(&fake.mu);
	return v;
}

/* DELETE ?revoke=true: the issuer revokes under the lock, then purges; a failed revocation
 * leaves everything in place with the CA's problem and the backoff; a plain removal then
 * removes without revoking. */
static void test_remove_with_revoke(void **state)
{
	const char *want[] = { "r.example.com", "valid" };
	struct scheduler *sc;
	struct hosts_info h;
	char err[256];
	long long now;
	int one = 1;

	(void)state;
	rint_("FLUSHALL");
	fake_reset(FAKE_OK);
	add_host("r.example.com");
	sc = start_scheduler(0);
	wait_for(host_in_state, want, "the host to be valid");
	assert_int_equal(hosts_remove_revoke(st, "r.example.com", err, sizeof(err)),
	                 HOSTS_DEFERRED);
	wait_for(host_gone, "r.example.com", "the revocation and removal");
	assert_int_equal(fake.revoke_calls, 1);
	assert_string_equal(fake.revoked, "r.example.com");
	assert_int_equal(rint_("EXISTS t:host:r.example.com"), 0);
	assert_int_equal(rint_("ZSCORE t:due r.example.com"), -999);

	/* the CA fails: nothing is deleted, the problem and the backoff are recorded */
	fake_reset(FAKE_OK);
	fake.revoke_rc = -1;
	add_host("r.example.com");
	wait_for(host_in_state, want, "the host to be valid again");
	now = (long long)time(NULL);
	assert_int_equal(hosts_remove_revoke(st, "r.example.com", err, sizeof(err)),
	                 HOSTS_DEFERRED);
	wait_for(fake_revoked_n, &one, "the revocation attempt");
	{
		const char *rm[] = { "r.example.com", "removing" };

		wait_for(host_in_state, rm, "the failure to be recorded");
	}
	wait_for(due_is_later, &now, "the backoff");
	assert_int_equal(hosts_get(st, "r.example.com", &h, err, sizeof(err)), HOSTS_OK);
	assert_int_equal(h.state, HOSTS_STATE_REMOVING);
	assert_non_null(strstr(h.last_error, "serverInternal"));
	assert_int_equal(h.attempts, 1);
	assert_true(rint_("ZSCORE t:due r.example.com") >= now + 900);
	assert_int_equal(rint_("SISMEMBER t:hosts r.example.com"), 1);
	assert_int_equal(rint_("EXISTS t:lock:r.example.com"), 0);
	/* asking again (a client repeating its DELETE) keeps the backoff and the count */
	assert_int_equal(hosts_remove_revoke(st, "r.example.com", err, sizeof(err)),
	                 HOSTS_DEFERRED);
	assert_true(rint_("ZSCORE t:due r.example.com") >= now + 900);
	assert_int_equal(hosts_get(st, "r.example.com", &h, err, sizeof(err)), HOSTS_OK);
	assert_int_equal(h.attempts, 1);
	assert_int_equal(fake.revoke_calls, 1);
	/* renew is refused while it is being removed */
	assert_int_equal(hosts_renew(st, "r.example.com", err, sizeof(err)), HOSTS_CONFLICT);
	/* a plain removal drops the revocation */
	assert_int_equal(hosts_remove(st, "r.example.com", err, sizeof(err)), HOSTS_OK);
	assert_int_equal(rint_("EXISTS t:host:r.example.com"), 0);
	assert_int_equal(fake.revoke_calls, 1);

	/* asked during an order: the order ends, then the revocation (of the new certificate
	 * too), then the removal */
	fake_reset(FAKE_BLOCK);
	add_host("r.example.com");
	wait_for(fake_entered, &one, "the order to start");
	assert_int_equal(hosts_remove_revoke(st, "r.example.com", err, sizeof(err)),
	                 HOSTS_DEFERRED);
	pthread_mutex_lock(&fake.mu);
	assert_int_equal(fake.revoke_calls, 0);
	fake.release = 1;
	pthread_cond_broadcast(&fake.cv);
	pthread_mutex_unlock(&fake.mu);
	wait_for(host_gone, "r.example.com", "the revocation and removal after the order");
	assert_int_equal(fake.revoke_calls, 1);
	assert_int_equal(fake_count("r.example.com"), 1);
	scheduler_free(sc);
	assert_int_equal(rint_("DBSIZE"), 0);
}

static void test_remove_during_order(void **state)
{
	struct scheduler *sc;
	char err[256];
	int one = 1;

	(void)state;
	rint_("FLUSHALL");
	fake_reset(FAKE_BLOCK);
	add_host("d.example.com");
	sc = start_scheduler(0);
	wait_for(fake_entered, &one, "the order to start");
	assert_int_equal(rint_("EXISTS t:lock:d.example.com"), 1);
	assert_int_equal(hosts_remove(st, "d.example.com", err, sizeof(err)), HOSTS_DEFERRED);
	assert_int_equal(rint_("SISMEMBER t:hosts d.example.com"), 1);
	pthread_mutex_lock(&fake.mu);
	fake.release = 1;
	pthread_cond_broadcast(&fake.cv);
	pthread_mutex_unlock(&fake.mu);
	wait_for(host_gone, "d.example.com", "the issuer to finish the removal");
	scheduler_free(sc);
	assert_int_equal(rint_("DBSIZE"), 0);
}

static void test_stop_mid_order(void **state)
{
	struct scheduler *sc;
	struct hosts_info h;
	char err[256];
	long long due;
	int one = 1;

	(void)state;
	rint_("FLUSHALL");
	pmetrics_reset();
	fake_reset(FAKE_STOP);
	add_host("s.example.com");
	due = rint_("ZSCORE t:due s.example.com");
	sc = start_scheduler(0);
	wait_for(fake_entered, &one, "the order to start");
	assert_int_equal(hosts_get(st, "s.example.com", &h, err, sizeof(err)), HOSTS_OK);
	assert_int_equal(h.state, HOSTS_STATE_ISSUING);
	assert_true(h.order_running);
	scheduler_stop(sc);
	scheduler_free(sc); /* returns once the order reached its safe point */
	assert_int_equal(hosts_get(st, "s.example.com", &h, err, sizeof(err)), HOSTS_OK);
	assert_int_equal(h.state, HOSTS_STATE_PENDING);
	assert_false(h.order_running);
	assert_int_equal(h.attempts, 0);
	assert_int_equal(rint_("ZSCORE t:due s.example.com"), due);
	assert_int_equal(rint_("EXISTS t:lock:s.example.com"), 0);
}

/* Another issuer took the lock over (ours expired while Redis was slow): the dispatcher's next
 * extension finds it, the order is told to stop, and nothing of it is written. */
static void test_lock_lost_stops_order(void **state)
{
	struct scheduler *sc;
	struct hosts_info h;
	char err[256], owner[64];
	long long due;
	int one = 1;

	(void)state;
	rint_("FLUSHALL");
	pmetrics_reset();
	fake_reset(FAKE_STOP);
	add_host("l.example.com");
	due = rint_("ZSCORE t:due l.example.com");
	sc = start_scheduler(0);
	wait_for(fake_entered, &one, "the order to start");
	rint_("SET t:lock:l.example.com other PX 60000");
	wait_for(fake_returned, &one, "the order to return");
	assert_int_equal(fake.saw_stop, 1);
	wait_for(scheduler_idle, sc, "the worker to finish");
	assert_int_equal(hosts_get(st, "l.example.com", &h, err, sizeof(err)), HOSTS_OK);
	assert_int_equal(h.state, HOSTS_STATE_ISSUING); /* the other issuer's order now */
	assert_int_equal(h.attempts, 0);
	assert_int_equal(rint_("ZSCORE t:due l.example.com"), due);
	rstr_(owner, sizeof(owner), "GET t:lock:l.example.com");
	assert_string_equal(owner, "other");
	scheduler_free(sc);
}

/* The lock expired mid-order and the host was deleted meanwhile (no lock: purged at once): the
 * late worker's outcome must not re-create host:, due or anything else. */
static void test_late_worker_writes_nothing(void **state)
{
	struct scheduler *sc;
	char err[256];
	int one = 1;

	(void)state;
	rint_("FLUSHALL");
	fake_reset(FAKE_BLOCK);
	add_host("w.example.com");
	sc = start_scheduler(0);
	wait_for(fake_entered, &one, "the order to start");
	rint_("DEL t:lock:w.example.com");
	assert_int_equal(hosts_remove(st, "w.example.com", err, sizeof(err)), HOSTS_OK);
	assert_int_equal(rint_("DBSIZE"), 0);
	pthread_mutex_lock(&fake.mu);
	fake.release = 1;
	pthread_cond_broadcast(&fake.cv);
	pthread_mutex_unlock(&fake.mu);
	wait_for(scheduler_idle, sc, "the worker to finish");
	scheduler_free(sc);
	assert_int_equal(rint_("EXISTS t:host:w.example.com"), 0);
	assert_int_equal(rint_("ZCARD t:due"), 0);
	assert_int_equal(rint_("DBSIZE"), 0);
}

static void test_dead_issuer_lock_expires(void **state)
{
	const char *want[] = { "k.example.com", "valid" };
	struct scheduler *sc;

	(void)state;
	rint_("FLUSHALL");
	fake_reset(FAKE_OK);
	add_host("k.example.com");
	/* An issuer died mid-order: its marker and its lock (about to expire) are left. */
	rint_("HSET t:host:k.example.com state issuing order %s", "deadbeef 123");
	rint_("SET t:lock:k.example.com deadbeef PX 300");
	sc = start_scheduler(0);
	wait_for(host_in_state, want, "the host to be ordered after the lock expired");
	assert_int_equal(fake_count("k.example.com"), 1);
	scheduler_free(sc);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_renew_at),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_ari_pick),
		cmocka_unit_test(test_fraction_and_opts),
	};
	const struct CMUnitTest redis_tests[] = {
		cmocka_unit_test(test_two_issuers_order_each_host_once),
		cmocka_unit_test(test_failure_backs_off),
		cmocka_unit_test(test_ari_window),
		cmocka_unit_test(test_ari_merged_windows),
		cmocka_unit_test(test_legacy_cert_id),
		cmocka_unit_test(test_remove_with_revoke),
		cmocka_unit_test(test_remove_during_order),
		cmocka_unit_test(test_stop_mid_order),
		cmocka_unit_test(test_dead_issuer_lock_expires),
		cmocka_unit_test(test_lock_lost_stops_order),
		cmocka_unit_test(test_late_worker_writes_nothing),
	};
	int rc;

	rc = cmocka_run_group_tests(pure, NULL, NULL);
	rc |= cmocka_run_group_tests(redis_tests, setup, teardown);
	return rc;
}
