// SPDX-License-Identifier: MIT
/*
 * Unit tests for served.c (proof of deployment): the served:<edge> value encoding and its
 * parser (round trip, unknown members, every kind of malformed value), serial comparison,
 * current/stale/missing, expiring, live edges and the "deployed" rule on hand-built views;
 * then the served section of store.c against a real redis-server: the rewrite (MULTI DEL HSET
 * ZADD), per-certificate HSET/HDEL that never connect, the edges zset read newest first and a
 * view loaded from it with planted garbage skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis.h>

#include "cert-pusher/edge/served.h"
#include "common/keys.h"
#include "tests/unit/support/tstore.h"

/* ---- pure logic ---- */

static void test_edge_valid(void **state)
{
	char long_id[SERVED_EDGE_MAX + 2];

	(void)state;
	assert_true(served_edge_valid("edge-a"));
	assert_true(served_edge_valid("EU_1.fra-2"));
	assert_false(served_edge_valid(""));
	assert_false(served_edge_valid("a b"));
	assert_false(served_edge_valid("a:b"));
	assert_false(served_edge_valid("a*"));
	assert_false(served_edge_valid("a\"}"));
	memset(long_id, 'x', sizeof(long_id));
	long_id[SERVED_EDGE_MAX] = 0;
	assert_true(served_edge_valid(long_id));
	long_id[SERVED_EDGE_MAX] = 'x';
	long_id[SERVED_EDGE_MAX + 1] = 0;
	assert_false(served_edge_valid(long_id));
}

static void test_keys_and_field(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	assert_int_equal(keys_edges(&b, "spoacme:"), 0);
	assert_string_equal(buf_str(&b), "spoacme:edges");
	buf_reset(&b);
	assert_int_equal(served_field(&b, "example.com", "rsa"), 0);
	assert_string_equal(buf_str(&b), "example.com:rsa");
	buf_deinit(&b);
}

static void test_value_round_trip(void **state)
{
	struct served_value v = { .serial = "0A1B2C",
		                  .not_before = 1700000000,
		                  .not_after = 1707776000,
		                  .at = 1700000100 };
	struct served_value p;
	struct buf b;

	(void)state;
	buf_init(&b);
	assert_int_equal(served_value_format(&v, &b), 0);
	assert_string_equal(buf_str(&b), "{\"serial\":\"0A1B2C\",\"not_before\":1700000000,"
	                                 "\"not_after\":1707776000,\"at\":1700000100}");
	assert_int_equal(served_value_parse(buf_str(&b), b.len, &p), 0);
	assert_string_equal(p.serial, "0A1B2C");
	assert_true(p.not_before == 1700000000 && p.not_after == 1707776000 && p.at == 1700000100);
	/* A serial that is not hex is never written. */
	buf_reset(&b);
	snprintf(v.serial, sizeof(v.serial), "%s", "0A\"}");
	assert_int_equal(served_value_format(&v, &b), -1);
	v.serial[0] = 0;
	assert_int_equal(served_value_format(&v, &b), -1);
	buf_deinit(&b);
}

static void test_value_parse_lenient_and_strict(void **state)
{
	static const char *const bad[] = {
		"",
		"null",
		"[]",
		"\"AB\"",
		"{}",
		"{\"serial\":12}",
		"{\"serial\":\"\"}",
		"{\"serial\":\"XYZ\"}",
		"{\"serial\":\"AB\",\"not_after\":\"1\"}",
		"{\"serial\":\"AB\",\"not_after\":-1}",
		"{\"serial\":\"AB\",\"at\":1.5}",
		"{\"serial\":\"AB\",\"serial\":\"CD\"}",
		"{\"serial\":\"AB\"",
		"{\"serial\":\"A\\u0000B\"}",
		"{\"serial\":"
		"\"00000000000000000000000000000000000000000000000000000000000000001\"}",
	};
	const char *ok = "{\"serial\":\"ab\",\"future\":[1,2],\"not_after\":5}";
	struct served_value v;
	char big[700];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&v, 0x55, sizeof(v));
		assert_int_equal(served_value_parse(bad[i], strlen(bad[i]), &v), -1);
		assert_string_equal(v.serial, ""); /* cleared on failure */
	}
	/* Unknown members are ignored, absent times are 0. */
	assert_int_equal(served_value_parse(ok, strlen(ok), &v), 0);
	assert_string_equal(v.serial, "ab");
	assert_true(v.not_after == 5 && v.not_before == 0 && v.at == 0);
	/* Larger than any value we write. */
	memset(big, ' ', sizeof(big));
	memcpy(big, ok, strlen(ok));
	assert_int_equal(served_value_parse(big, sizeof(big), &v), -1);
}

static void test_serial_eq_and_classify(void **state)
{
	struct served_value v = { .serial = "00ab12" };

	(void)state;
	assert_true(served_serial_eq("AB12", "ab12"));
	assert_true(served_serial_eq("00AB12", "AB12"));
	assert_true(served_serial_eq("0", "00"));
	assert_false(served_serial_eq("AB12", "AB13"));
	assert_false(served_serial_eq("AB12", "AB120"));
	assert_false(served_serial_eq("", ""));
	assert_false(served_serial_eq("AB-12", "AB-12"));
	assert_int_equal(served_classify("AB12", NULL), SERVED_MISSING);
	assert_int_equal(served_classify("AB12", &v), SERVED_CURRENT);
	assert_int_equal(served_classify("AB13", &v), SERVED_STALE);
	assert_int_equal(served_classify("", &v), SERVED_STALE);
	assert_string_equal(served_status_name(SERVED_CURRENT), "current");
	assert_string_equal(served_status_name(SERVED_STALE), "stale");
	assert_string_equal(served_status_name(SERVED_MISSING), "missing");
}

static void test_expiring_and_live(void **state)
{
	const long long day = 86400, now = 1800000000;
	struct served_value v = { .serial = "01" };
	long long w;

	(void)state;
	/* 90 days: the 7-day cap wins over a third (30 days). */
	v.not_before = now - 60 * day;
	v.not_after = now + 30 * day;
	assert_false(served_expiring(&v, now));
	v.not_after = now + 7 * day + 1;
	v.not_before = v.not_after - 90 * day;
	assert_false(served_expiring(&v, now));
	v.not_after = now + 7 * day;
	v.not_before = v.not_after - 90 * day;
	assert_true(served_expiring(&v, now));
	/* 6 days: a third (2 days) wins. */
	v.not_before = now - 3 * day;
	v.not_after = now + 3 * day;
	assert_false(served_expiring(&v, now));
	v.not_before = now - 4 * day - 1;
	v.not_after = now + 2 * day - 1;
	assert_true(served_expiring(&v, now));
	/* Unknown notBefore: the cap; expired; unknown notAfter: never. */
	v.not_before = 0;
	v.not_after = now + 6 * day;
	assert_true(served_expiring(&v, now));
	v.not_after = now - 1;
	assert_true(served_expiring(&v, now));
	v.not_after = 0;
	assert_false(served_expiring(&v, now));

	assert_true(served_edge_live(now - 120, now, 120));
	assert_false(served_edge_live(now - 121, now, 120));
	assert_false(served_edge_live(0, now, 120));
	assert_true(served_edge_live(now + 5, now, 120)); /* a clock ahead is still live */

	assert_int_equal(served_live_window(NULL, &w), 0);
	assert_int_equal(w, 120);
	assert_int_equal(served_live_window("90s", &w), 0);
	assert_int_equal(w, 90);
	assert_int_equal(served_live_window("0", &w), -1);
	assert_int_equal(served_live_window("2d", &w), -1);
	assert_int_equal(served_live_window("soon", &w), -1);
}

/* A view of one host and three edges built by hand. */
struct view_fixture {
	struct served_edge edges[3];
	struct served_value vals[3 * PEM_KEY_COUNT];
	unsigned char present[3 * PEM_KEY_COUNT];
	struct served_view v;
};

static void fixture_init(struct view_fixture *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->edges[0].id, sizeof(f->edges[0].id), "a");
	snprintf(f->edges[1].id, sizeof(f->edges[1].id), "b");
	snprintf(f->edges[2].id, sizeof(f->edges[2].id), "dead");
	f->edges[0].live = f->edges[1].live = 1;
	f->v.edges = f->edges;
	f->v.nedges = 3;
	f->v.nhosts = 1;
	f->v.vals = f->vals;
	f->v.present = f->present;
}

static void fixture_set(struct view_fixture *f, size_t e, int t, const char *serial)
{
	size_t idx = e * PEM_KEY_COUNT + (size_t)t;

	f->present[idx] = serial != NULL;
	snprintf(f->vals[idx].serial, sizeof(f->vals[idx].serial), "%s", serial ? serial : "");
}

static void test_haproxy_field(void **state)
{
	struct served_haproxy h = { .state = "down", .pid = 42, .since = 1700000000 }, got;
	struct buf b;

	(void)state;
	buf_init(&b);
	assert_int_equal(served_haproxy_format(&h, &b), 0);
	assert_string_equal(buf_str(&b), "{\"state\":\"down\",\"pid\":42,\"since\":1700000000}");
	assert_int_equal(served_haproxy_parse(buf_str(&b), b.len, &got), 0);
	assert_string_equal(got.state, "down");
	assert_int_equal(got.pid, 42);
	assert_int_equal(got.since, 1700000000);
	snprintf(h.state, sizeof(h.state), "sideways");
	buf_reset(&b);
	assert_int_equal(served_haproxy_format(&h, &b), -1);
	assert_int_equal(served_haproxy_parse("{\"state\":\"up\",\"extra\":1}",
	                                      strlen("{\"state\":\"up\",\"extra\":1}"), &got),
	                 0);
	assert_string_equal(got.state, "up");
	assert_int_equal(served_haproxy_parse("{\"state\":\"maybe\"}",
	                                      strlen("{\"state\":\"maybe\"}"), &got),
	                 -1);
	assert_string_equal(got.state, "");
	assert_int_equal(served_haproxy_parse("{\"state\":1}", strlen("{\"state\":1}"), &got), -1);
	assert_int_equal(served_haproxy_parse("{\"state\":\"up\",\"pid\":-1}",
	                                      strlen("{\"state\":\"up\",\"pid\":-1}"), &got),
	                 -1);
	assert_int_equal(served_haproxy_parse("[]", strlen("[]"), &got), -1);
	buf_deinit(&b);
}

static void test_deployed(void **state)
{
	const char *want[PEM_KEY_COUNT] = { "E2", "B2" };
	const char *only_ecdsa[PEM_KEY_COUNT] = { "E2", "" };
	const char *none[PEM_KEY_COUNT] = { "", "" };
	struct view_fixture f;

	(void)state;
	fixture_init(&f);
	fixture_set(&f, 0, PEM_KEY_ECDSA, "E2");
	fixture_set(&f, 0, PEM_KEY_RSA, "B2");
	fixture_set(&f, 1, PEM_KEY_ECDSA, "e2");
	fixture_set(&f, 1, PEM_KEY_RSA, "B2");
	fixture_set(&f, 2, PEM_KEY_ECDSA, "E1"); /* the dead edge is stale: does not count */
	assert_true(served_view_deployed(&f.v, 0, want));
	assert_non_null(served_view_get(&f.v, 0, 2, PEM_KEY_ECDSA));
	assert_null(served_view_get(&f.v, 0, 2, PEM_KEY_RSA));
	assert_null(served_view_get(&f.v, 1, 0, PEM_KEY_RSA)); /* out of range */
	assert_null(served_view_get(&f.v, 0, 3, PEM_KEY_RSA));
	/* A live edge still on the old RSA serial. */
	fixture_set(&f, 1, PEM_KEY_RSA, "B1");
	assert_false(served_view_deployed(&f.v, 0, want));
	/* ... does not matter for a host issued with ECDSA only. */
	assert_true(served_view_deployed(&f.v, 0, only_ecdsa));
	/* A live edge serving nothing for it. */
	fixture_set(&f, 1, PEM_KEY_ECDSA, NULL);
	assert_false(served_view_deployed(&f.v, 0, only_ecdsa));
	/* The dead edge comes back to life with the old serial. */
	fixture_set(&f, 1, PEM_KEY_ECDSA, "E2");
	assert_true(served_view_deployed(&f.v, 0, only_ecdsa));
	f.edges[2].live = 1;
	assert_false(served_view_deployed(&f.v, 0, only_ecdsa));
	f.edges[2].live = 0;
	assert_true(served_view_deployed(&f.v, 0, only_ecdsa));
	/* A live edge whose HAProxy is down serves nothing: not deployed; syncing (a new worker
	 * loaded the same files) or a dead edge's down HAProxy does not matter. */
	snprintf(f.edges[1].haproxy.state, sizeof(f.edges[1].haproxy.state), "down");
	assert_false(served_view_deployed(&f.v, 0, only_ecdsa));
	snprintf(f.edges[1].haproxy.state, sizeof(f.edges[1].haproxy.state), "syncing");
	assert_true(served_view_deployed(&f.v, 0, only_ecdsa));
	snprintf(f.edges[2].haproxy.state, sizeof(f.edges[2].haproxy.state), "down");
	assert_true(served_view_deployed(&f.v, 0, only_ecdsa));
	/* Nothing issued yet, or no live edge at all: not deployed. */
	assert_false(served_view_deployed(&f.v, 0, none));
	f.edges[0].live = f.edges[1].live = f.edges[2].live = 0;
	assert_false(served_view_deployed(&f.v, 0, want));
}

/* ---- the served section of store.c, against a real Redis ---- */

static long long raw_int(struct store *s, const char *fmt, const char *arg)
{
	redisReply *r = tstore_raw(s, fmt, arg);
	long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;

	freeReplyObject(r);
	return v;
}

static void strv_add(struct strv *sv, const char *a)
{
	sv->v = realloc(sv->v, (sv->n + 1) * sizeof(*sv->v));
	assert_non_null(sv->v);
	sv->v[sv->n++] = strdup(a);
}

static void test_store_rewrite_set_del(void **state)
{
	struct store *s = tstore_open();
	struct strv kv = { 0 }, out = { 0 };
	redisReply *r;
	char err[256];

	(void)state;
	store_served_timeout(s, 500);
	assert_true(store_served_connected(s));
	r = tstore_raw(s, "HSET t:served:e1 gone.example:ecdsa x");
	freeReplyObject(r);
	strv_add(&kv, "a.example:ecdsa");
	strv_add(&kv, "{\"serial\":\"01\"}");
	strv_add(&kv, "a.example:rsa");
	strv_add(&kv, "{\"serial\":\"02\"}");
	assert_int_equal(store_served_rewrite(s, "e1", &kv, 1000, err, sizeof(err)), 0);
	/* The whole hash replaced, the heartbeat set. */
	assert_int_equal(raw_int(s, "HLEN %s", "t:served:e1"), 2);
	assert_int_equal(raw_int(s, "HEXISTS t:served:e1 %s", "gone.example:ecdsa"), 0);
	r = tstore_raw(s, "ZSCORE t:edges %s", "e1");
	assert_string_equal(r->str, "1000");
	freeReplyObject(r);
	/* An empty cache empties the hash. */
	strv_deinit(&kv);
	assert_int_equal(store_served_rewrite(s, "e2", &kv, 1001, err, sizeof(err)), 0);
	assert_int_equal(raw_int(s, "EXISTS %s", "t:served:e2"), 0);
	/* Per certificate. */
	assert_int_equal(store_served_set(s, "e1", "b.example:ecdsa", "{\"serial\":\"03\"}", err,
	                                  sizeof(err)),
	                 0);
	assert_int_equal(store_served_del(s, "e1", "a.example:rsa", err, sizeof(err)), 0);
	assert_int_equal(raw_int(s, "HLEN %s", "t:served:e1"), 2);
	assert_int_equal(store_served_heartbeat(s, "e2", 1002, err, sizeof(err)), 0);
	/* Newest first, with scores; a limit. */
	assert_int_equal(store_served_edges(s, 10, &out, err, sizeof(err)), 0);
	assert_int_equal(out.n, 4);
	assert_string_equal(out.v[0], "e2");
	assert_string_equal(out.v[1], "1002");
	assert_string_equal(out.v[2], "e1");
	strv_deinit(&out);
	assert_int_equal(store_served_edges(s, 1, &out, err, sizeof(err)), 0);
	assert_int_equal(out.n, 2);
	strv_deinit(&out);
	/* Without a connection, per-certificate reports fail at once and do not connect. */
	redisFree(s->rc);
	s->rc = NULL;
	assert_false(store_served_connected(s));
	assert_int_equal(store_served_set(s, "e1", "c.example:rsa", "{}", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not connected"));
	assert_null(s->rc);
	assert_int_equal(store_served_del(s, "e1", "b.example:ecdsa", err, sizeof(err)), -1);
	assert_null(s->rc);
	/* The heartbeat and the rewrite reconnect. */
	assert_int_equal(store_served_heartbeat(s, "e1", 1003, err, sizeof(err)), 0);
	assert_true(store_served_connected(s));
	store_close(s);
}

static void test_view_load(void **state)
{
	struct store *s = tstore_open();
	const char *hosts[2] = { "a.example", "b.example" };
	const char *want_a[PEM_KEY_COUNT] = { "0A", "0B" };
	struct served_view v;
	redisReply *r;
	char err[256];
	size_t i;

	(void)state;
	r = tstore_raw(s, "FLUSHALL");
	freeReplyObject(r);
	/* live: e1 (current), e2 (stale rsa); dead: e3; planted garbage: bad id, bad score. */
	r = tstore_raw(s, "ZADD t:edges 100000 e1 99990 e2 99010 e3 100000 %s 100000.5 e4 10 e5",
	               "bad id"); /* e5: silent for more than a day, not listed */
	freeReplyObject(r);
	r = tstore_raw(s, "HSET t:served:e1 a.example:ecdsa {\"serial\":\"0A\"} a.example:rsa "
	                  "{\"serial\":\"0B\"} b.example:ecdsa junk");
	freeReplyObject(r);
	r = tstore_raw(s, "HSET t:served:e2 a.example:ecdsa {\"serial\":\"a\"} a.example:rsa "
	                  "{\"serial\":\"01\"}");
	freeReplyObject(r);
	assert_int_equal(served_view_load(s, hosts, 2, 100000, 60, &v, err, sizeof(err)), 0);
	assert_int_equal(v.nedges, 3);
	assert_string_equal(v.edges[0].id, "e1");
	assert_string_equal(v.edges[1].id, "e2");
	assert_string_equal(v.edges[2].id, "e3");
	assert_true(v.edges[0].live && v.edges[1].live && !v.edges[2].live);
	assert_int_equal(v.edges[1].last_seen, 99990);
	assert_int_equal(served_classify("0A", served_view_get(&v, 0, 0, PEM_KEY_ECDSA)),
	                 SERVED_CURRENT);
	assert_int_equal(served_classify("0A", served_view_get(&v, 0, 1, PEM_KEY_ECDSA)),
	                 SERVED_CURRENT);
	assert_int_equal(served_classify("0B", served_view_get(&v, 0, 1, PEM_KEY_RSA)),
	                 SERVED_STALE);
	assert_null(served_view_get(&v, 1, 0, PEM_KEY_ECDSA)); /* junk counts as missing */
	for (i = 0; i < 3; i++)
		assert_null(served_view_get(&v, 1, i, PEM_KEY_RSA));
	assert_false(served_view_deployed(&v, 0, want_a));
	served_view_free(&v);
	r = tstore_raw(s, "ZREM t:edges e2");
	freeReplyObject(r);
	assert_int_equal(served_view_load(s, hosts, 2, 100000, 60, &v, err, sizeof(err)), 0);
	assert_true(served_view_deployed(&v, 0, want_a));
	served_view_free(&v);
	/* No hosts, no edges. */
	assert_int_equal(served_view_load(s, hosts, 0, 100000, 60, &v, err, sizeof(err)), 0);
	assert_int_equal(v.nedges, 2);
	served_view_free(&v);
	r = tstore_raw(s, "FLUSHALL");
	freeReplyObject(r);
	assert_int_equal(served_view_load(s, hosts, 2, 100000, 60, &v, err, sizeof(err)), 0);
	assert_int_equal(v.nedges, 0);
	assert_false(served_view_deployed(&v, 0, want_a));
	served_view_free(&v);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_edge_valid),
		cmocka_unit_test(test_keys_and_field),
		cmocka_unit_test(test_value_round_trip),
		cmocka_unit_test(test_value_parse_lenient_and_strict),
		cmocka_unit_test(test_serial_eq_and_classify),
		cmocka_unit_test(test_expiring_and_live),
		cmocka_unit_test(test_haproxy_field),
		cmocka_unit_test(test_deployed),
	};
	const struct CMUnitTest redis_tests[] = {
		cmocka_unit_test(test_store_rewrite_set_del),
		cmocka_unit_test(test_view_load),
	};
	int rc = cmocka_run_group_tests_name("served", pure, NULL, NULL);

	return rc | cmocka_run_group_tests_name("served_store", redis_tests, tstore_setup,
	                                        tstore_teardown);
}
