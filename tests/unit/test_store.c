// SPDX-License-Identifier: MIT
/*
 * Unit tests for the connection section of cert-pusher/store/store.c: validation of the Redis and
 * Sentinel options (every refusal names its option), and against real redis-server processes
 * (two servers and a sentinel started here): a write refused with READONLY by a demoted primary
 * drops the connection so the next command reconnects, the primary is found through Sentinel
 * past a dead sentinel, and a sentinel naming a replica (a stale answer) is refused by the ROLE
 * check. Failover itself is exercised by tests/integration/60_sentinel_failover.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <hiredis.h>

#include "cert-pusher/conf.h"
#include "cert-pusher/edge/events.h"
#include "cert-pusher/store/store.h"
#include "tests/unit/support/tredis.h"

static struct tredis primary, replica;
static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/tstore.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	if (tredis_start(&primary) < 0 || tredis_start(&replica) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	tredis_stop(&replica);
	tredis_stop(&primary);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return 0;
}

/* A conf from NULL-terminated name/value pairs. */
static struct conf *mkconf(const char *name, ...)
{
	struct conf *c = conf_new();
	va_list ap;
	const char *n, *v;

	assert_non_null(c);
	va_start(ap, name);
	for (n = name; n; n = va_arg(ap, const char *)) {
		v = va_arg(ap, const char *);
		assert_int_equal(conf_set(c, n, v, 1), 0);
	}
	va_end(ap);
	return c;
}

static char *write_file(const char *name, const char *text, mode_t mode)
{
	static char path[2][128];
	static int k;
	char *p = path[k++ & 1];
	FILE *f;

	snprintf(p, sizeof(path[0]), "%s/%s", tmpdir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

/* store_conf_check() on <c> must fail with a message containing <want>. */
static void expect_refused(struct conf *c, const char *want)
{
	char err[512] = "";

	assert_int_equal(store_conf_check(c, err, sizeof(err)), -1);
	if (!strstr(err, want))
		fail_msg("expected '%s' in '%s'", want, err);
	conf_free(c);
}

static void expect_ok(struct conf *c)
{
	char err[512] = "";

	if (store_conf_check(c, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	conf_free(c);
}

static void test_conf_check(void **state)
{
	char *pw = write_file("pw", "secret\n", 0600);
	char *pw_open = write_file("pw-open", "secret\n", 0644);

	(void)state;
	expect_ok(mkconf(NULL));
	expect_ok(mkconf("sentinel", "127.0.0.1:26379", NULL));
	expect_ok(mkconf("sentinel", "127.0.0.1:26379,127.0.0.2:26380,[::1]:26381,sentinel-a:1",
	                 "sentinel-master", "my_master-1.x", NULL));
	expect_ok(mkconf("sentinel", "127.0.0.1:26379", "sentinel-password-file", pw,
	                 "sentinel-user", "sent", "redis-password-file", pw, NULL));
	expect_ok(mkconf("primary", "127.0.0.1:6380", "redis", "unix:/run/redis.sock", NULL));

	expect_refused(mkconf("redis", "127.0.0.1", NULL), "--redis: '127.0.0.1'");
	expect_refused(mkconf("primary", "127.0.0.1:0", NULL), "--primary: '127.0.0.1:0'");
	expect_refused(mkconf("sentinel", "", NULL), "--sentinel: '': empty address");
	expect_refused(mkconf("sentinel", "127.0.0.1:26379,", NULL), "empty address");
	expect_refused(mkconf("sentinel", ",127.0.0.1:26379", NULL), "empty address");
	expect_refused(mkconf("sentinel", "127.0.0.1:26379,,127.0.0.1:1", NULL), "empty address");
	expect_refused(mkconf("sentinel", "127.0.0.1", NULL), "--sentinel: '127.0.0.1'");
	expect_refused(mkconf("sentinel", "127.0.0.1:70000", NULL),
	               "--sentinel: '127.0.0.1:70000'");
	expect_refused(mkconf("sentinel", "unix:/tmp/s.sock", NULL), "expected HOST:PORT");
	expect_refused(mkconf("sentinel", ":26379", NULL), "expected HOST:PORT");
	expect_refused(mkconf("sentinel",
	                      "a:1,a:2,a:3,a:4,a:5,a:6,a:7,a:8,a:9,a:10,a:11,a:12,a:13,"
	                      "a:14,a:15,a:16,a:17",
	                      NULL),
	               "more than 16 sentinels");
	expect_refused(mkconf("sentinel", "127.0.0.1:26379", "primary", "127.0.0.1:6379", NULL),
	               "--sentinel: not with --primary");
	expect_refused(mkconf("sentinel", "127.0.0.1:26379", "sentinel-master", "", NULL),
	               "--sentinel-master: '' is not valid");
	expect_refused(mkconf("sentinel", "127.0.0.1:26379", "sentinel-master", "a b", NULL),
	               "--sentinel-master: 'a b'");
	expect_refused(mkconf("sentinel", "127.0.0.1:26379", "sentinel-master", "a\r\nPING", NULL),
	               "--sentinel-master");
	expect_refused(mkconf("sentinel", "127.0.0.1:26379", "sentinel-master",
	                      "m1234567890123456789012345678901234567890123456789012345678901234",
	                      NULL),
	               "--sentinel-master");
	expect_refused(mkconf("sentinel-master", "m", NULL), "--sentinel-master: needs --sentinel");
	expect_refused(mkconf("sentinel-user", "u", NULL), "--sentinel-user: needs --sentinel");
	expect_refused(mkconf("sentinel-password-file", pw, NULL),
	               "--sentinel-password-file: needs --sentinel");
	expect_refused(mkconf("sentinel", "127.0.0.1:26379", "sentinel-user", "u", NULL),
	               "--sentinel-user: needs --sentinel-password-file");
	expect_refused(
	        mkconf("sentinel", "127.0.0.1:26379", "sentinel-password-file", pw_open, NULL),
	        "--sentinel-password-file:");
	expect_refused(mkconf("sentinel", "127.0.0.1:26379", "sentinel-password-file",
	                      "/nonexistent/pw", NULL),
	               "--sentinel-password-file:");
	expect_refused(mkconf("redis-password-file", pw_open, NULL), "--redis-password-file:");
	expect_refused(mkconf("redis-password-file", write_file("pw-empty", "\n", 0600), NULL),
	               "--redis-password-file: '");
}

/* One raw command on a fresh connection to <port>; the reply's string or status, or "". */
static void raw(int port, const char *cmd, char *out, size_t outsz)
{
	redisContext *c = redisConnect("127.0.0.1", port);
	redisReply *r;

	assert_non_null(c);
	assert_int_equal(c->err, 0);
	r = redisCommand(c, cmd);
	assert_non_null(r);
	snprintf(out, outsz, "%s", r->str ? r->str : "");
	freeReplyObject(r);
	redisFree(c);
}

/* The integer reply of <cmd> on a fresh connection to <port>. */
static long long raw_int(int port, const char *cmd)
{
	redisContext *c = redisConnect("127.0.0.1", port);
	redisReply *r;
	long long v;

	assert_non_null(c);
	r = redisCommand(c, cmd);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	v = r->integer;
	freeReplyObject(r);
	redisFree(c);
	return v;
}

static void wait_role(int port, const char *want)
{
	redisContext *c = redisConnect("127.0.0.1", port);
	struct timespec ts = { 0, 20 * 1000000 };
	redisReply *r;
	int i, ok = 0;

	assert_non_null(c);
	for (i = 0; i < 250 && !ok; i++) {
		r = redisCommand(c, "ROLE");
		assert_non_null(r);
		ok = r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
		     !strcmp(r->element[0]->str, want);
		freeReplyObject(r);
		if (!ok)
			nanosleep(&ts, NULL);
	}
	redisFree(c);
	assert_true(ok);
}

static void test_readonly_drops(void **state)
{
	const char *kv[] = { "state", "valid", NULL };
	struct buf blob;
	char cmd[64], out[256], err[512];
	struct conf *c = mkconf("primary", replica.addr, NULL);
	struct store *s = store_open(c, "t:", err, sizeof(err));

	(void)state;
	if (!s)
		fail_msg("store_open: %s", err);
	assert_int_equal(store_host_update(s, "a.example.com", kv, err, sizeof(err)), 0);
	/* The primary is demoted under the open connection. */
	snprintf(cmd, sizeof(cmd), "REPLICAOF 127.0.0.1 %d", primary.port);
	raw(replica.port, cmd, out, sizeof(out));
	wait_role(replica.port, "slave");
	assert_int_equal(store_host_update(s, "a.example.com", kv, err, sizeof(err)), -1);
	if (!strstr(err, "READONLY"))
		fail_msg("expected READONLY in '%s'", err);
	assert_int_equal(s->stale, 1);
	/* Promoted again: the next command reconnects and succeeds. */
	raw(replica.port, "REPLICAOF NO ONE", out, sizeof(out));
	wait_role(replica.port, "master");
	assert_int_equal(store_host_update(s, "b.example.com", kv, err, sizeof(err)), 0);
	assert_int_equal(s->stale, 0);
	/* The same for a function calling redisCommand() itself (store_lock_acquire). */
	raw(replica.port, cmd, out, sizeof(out));
	wait_role(replica.port, "slave");
	assert_int_equal(store_lock_acquire(s, "c.example.com", "me", 1000, err, sizeof(err)), -1);
	assert_int_equal(s->stale, 1);
	raw(replica.port, "REPLICAOF NO ONE", out, sizeof(out));
	wait_role(replica.port, "master");
	assert_int_equal(store_lock_acquire(s, "c.example.com", "me", 1000, err, sizeof(err)), 1);
	/* And for a transaction: the refusal of a queued command is seen, not EXEC's abort only. */
	raw(replica.port, cmd, out, sizeof(out));
	wait_role(replica.port, "slave");
	buf_init(&blob);
	assert_int_equal(buf_append(&blob, "x", 1), 0);
	assert_int_equal(store_cert_import(s, "d.example.com", "ecdsa", &blob, err, sizeof(err)),
	                 -1);
	if (!strstr(err, "READONLY"))
		fail_msg("expected READONLY in '%s'", err);
	assert_int_equal(s->stale, 1);
	raw(replica.port, "REPLICAOF NO ONE", out, sizeof(out));
	wait_role(replica.port, "master");
	assert_int_equal(store_cert_import(s, "d.example.com", "ecdsa", &blob, err, sizeof(err)),
	                 0);
	buf_deinit(&blob);
	store_close(s);
	conf_free(c);
}

/* The tokens noted for a host are what the next order of it removes: a killed issuer's leftovers.
 */
static void test_chal_sweep(void **state)
{
	struct conf *c = mkconf("redis", primary.addr, NULL);
	char err[512];
	long long ttl;
	struct store *s = store_open(c, "w:", err, sizeof(err));

	(void)state;
	if (!s)
		fail_msg("store_open: %s", err);
	assert_int_equal(store_chal_sweep(s, "a.example.com", err, sizeof(err)), 0);
	assert_int_equal(store_chal_track(s, "a.example.com", "t1", 60, err, sizeof(err)), 0);
	assert_int_equal(store_chal_set(s, "t1", "t1.x", 60, err, sizeof(err)), 0);
	assert_int_equal(store_chal_track(s, "a.example.com", "t2", 60, err, sizeof(err)), 0);
	assert_int_equal(store_chal_set(s, "t2", "t2.x", 60, err, sizeof(err)), 0);
	assert_int_equal(store_chal_track(s, "b.example.com", "t3", 60, err, sizeof(err)), 0);
	assert_int_equal(store_chal_set(s, "t3", "t3.x", 60, err, sizeof(err)), 0);
	ttl = raw_int(primary.port, "TTL w:chals:a.example.com");
	if (ttl < 1 || ttl > 60)
		fail_msg("chals: TTL %lld", ttl);
	assert_int_equal(store_chal_sweep(s, "a.example.com", err, sizeof(err)), 2);
	assert_int_equal(raw_int(primary.port, "EXISTS w:chal:t1 w:chal:t2 w:chals:a.example.com"),
	                 0);
	assert_int_equal(raw_int(primary.port, "EXISTS w:chal:t3"), 1); /* another host's stays */
	store_close(s);
	conf_free(c);
}

/* Partial failures of a pipeline and of a transaction: the call fails with the Redis error, the
 * connection stays in step (the next command on it reads its own reply), nothing half-read. */
static void test_partial_failures(void **state)
{
	const char *kv[] = { "state", "valid", NULL };
	const char *fields[] = { "state" };
	struct conf *c = mkconf("redis", primary.addr, NULL);
	struct strv names = { 0 }, out = { 0 }, pairs = { 0 };
	char err[512], o[256];
	struct store *s = store_open(c, "p:", err, sizeof(err));
	redisContext *before;

	(void)state;
	if (!s)
		fail_msg("store_open: %s", err);
	assert_int_equal(store_host_update(s, "a.example.com", kv, err, sizeof(err)), 0);
	/* host:b is a string, not a hash: the second HMGET of the pipeline is refused. */
	raw(primary.port, "SET p:host:b.example.com x", o, sizeof(o));
	assert_int_equal(strv_push(&names, "a.example.com", 13), 0);
	assert_int_equal(strv_push(&names, "b.example.com", 13), 0);
	assert_int_equal(strv_push(&names, "a.example.com", 13), 0);
	before = s->rc;
	assert_int_equal(store_hosts_fields(s, &names, fields, 1, &out, err, sizeof(err)), -1);
	if (!strstr(err, "WRONGTYPE"))
		fail_msg("expected WRONGTYPE in '%s'", err);
	assert_ptr_equal(s->rc, before); /* kept: every reply was read */
	assert_int_equal(s->stale, 0);
	strv_deinit(&out);
	assert_int_equal(store_host_get_all(s, "a.example.com", &out, err, sizeof(err)), 0);
	assert_int_equal(out.n, 2);
	assert_string_equal(out.v[1], "valid");
	strv_deinit(&out);
	/* A transaction whose second command fails inside EXEC (WRONGTYPE at run time). */
	raw(primary.port, "SET p:edges x", o, sizeof(o));
	assert_int_equal(strv_push(&pairs, "a.example.com/ecdsa", 19), 0);
	assert_int_equal(strv_push(&pairs, "01", 2), 0);
	assert_int_equal(store_served_rewrite(s, "e1", &pairs, 1000, err, sizeof(err)), -1);
	if (!strstr(err, "WRONGTYPE"))
		fail_msg("expected WRONGTYPE in '%s'", err);
	assert_ptr_equal(s->rc, before);
	raw(primary.port, "DEL p:edges", o, sizeof(o));
	assert_int_equal(store_served_rewrite(s, "e1", &pairs, 1000, err, sizeof(err)), 0);
	assert_int_equal(store_ping(s, err, sizeof(err)), 0);
	strv_deinit(&names);
	strv_deinit(&pairs);
	store_close(s);
	conf_free(c);
}

/* An integer (or numeric string) reply of <fmt> on <s>'s own connection; -999 otherwise. */
static long long rint_on(struct store *s, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;
	long long v;

	va_start(ap, fmt);
	r = redisvCommand(s->rc, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	v = r->type == REDIS_REPLY_INTEGER  ? r->integer
	    : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10)
	                                    : -999;
	freeReplyObject(r);
	return v;
}

/* A fenced store writes only while the lock holds its owner, and writes nothing otherwise. */
static void test_fence(void **state)
{
	const char *kv[] = { "state", "valid", NULL };
	struct conf *c = mkconf("redis", primary.addr, NULL);
	struct store *s;
	struct buf blob;
	char err[512];

	(void)state;
	s = store_open(c, "f:", err, sizeof(err));
	if (!s)
		fail_msg("store_open: %s", err);
	buf_init(&blob);
	assert_int_equal(buf_append(&blob, "sealed", 6), 0);
	rint_on(s, "FLUSHALL");
	rint_on(s, "SET f:lock:a.example.com me");
	assert_int_equal(store_fence(s, "a.example.com", "me", err, sizeof(err)), 0);
	assert_int_equal(store_host_update(s, "a.example.com", kv, err, sizeof(err)), 0);
	assert_int_equal(store_due_set(s, "a.example.com", 100, err, sizeof(err)), 0);
	assert_int_equal(store_issue_begin(s, "a.example.com", err, sizeof(err)), 0);
	assert_int_equal(rint_on(s, "HGET f:host:a.example.com attempts"), 1);
	/* Taken over by another issuer: every write fails and changes nothing. */
	rint_on(s, "SET f:lock:a.example.com other");
	assert_int_equal(store_host_update(s, "a.example.com", kv, err, sizeof(err)), -1);
	if (!strstr(err, "LOCKLOST"))
		fail_msg("expected LOCKLOST in '%s'", err);
	assert_int_equal(store_host_del_field(s, "a.example.com", "state", err, sizeof(err)), -1);
	assert_int_equal(store_due_set(s, "a.example.com", 200, err, sizeof(err)), -1);
	assert_int_equal(store_due_remove(s, "a.example.com", err, sizeof(err)), -1);
	assert_int_equal(store_issue_begin(s, "a.example.com", err, sizeof(err)), -1);
	assert_int_equal(store_chal_set(s, "tok", "tok.thumb", 60, err, sizeof(err)), -1);
	assert_int_equal(store_blob_store(s, "f:cert:a.example.com:ecdsa", &blob, err, sizeof(err)),
	                 -1);
	assert_int_equal(store_publish_cert(s, "a.example.com", err, sizeof(err)), -1);
	assert_int_equal(rint_on(s, "ZSCORE f:due a.example.com"), 100);
	assert_int_equal(rint_on(s, "HEXISTS f:host:a.example.com state"), 1);
	assert_int_equal(rint_on(s, "HGET f:host:a.example.com attempts"), 1);
	assert_int_equal(rint_on(s, "EXISTS f:chal:tok f:cert:a.example.com:ecdsa"), 0);
	/* Expired and the host deleted: the late worker does not re-create it. */
	rint_on(s, "DEL f:lock:a.example.com f:host:a.example.com");
	assert_int_equal(store_host_update(s, "a.example.com", kv, err, sizeof(err)), -1);
	assert_int_equal(rint_on(s, "EXISTS f:host:a.example.com"), 0);
	/* Unfenced again: writes as usual. */
	assert_int_equal(store_fence(s, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(store_host_update(s, "a.example.com", kv, err, sizeof(err)), 0);
	buf_deinit(&blob);
	store_close(s);
	conf_free(c);
}

/* Extend and release act only for the owner (one EVAL each). */
static void test_lock_compare(void **state)
{
	struct conf *c = mkconf("redis", primary.addr, NULL);
	struct store *s;
	char err[512];

	(void)state;
	s = store_open(c, "f:", err, sizeof(err));
	if (!s)
		fail_msg("store_open: %s", err);
	rint_on(s, "FLUSHALL");
	assert_int_equal(store_lock_acquire(s, "b.example.com", "me", 10000, err, sizeof(err)), 1);
	assert_int_equal(store_lock_acquire(s, "b.example.com", "you", 10000, err, sizeof(err)), 0);
	assert_int_equal(store_lock_extend(s, "b.example.com", "me", 60000, err, sizeof(err)), 1);
	assert_true(rint_on(s, "PTTL f:lock:b.example.com") > 10000);
	assert_int_equal(store_lock_extend(s, "b.example.com", "you", 60000, err, sizeof(err)), 0);
	assert_int_equal(store_lock_release(s, "b.example.com", "you", err, sizeof(err)), 0);
	assert_int_equal(rint_on(s, "EXISTS f:lock:b.example.com"), 1);
	assert_int_equal(store_lock_release(s, "b.example.com", "me", err, sizeof(err)), 1);
	assert_int_equal(rint_on(s, "EXISTS f:lock:b.example.com"), 0);
	assert_int_equal(store_lock_release(s, "b.example.com", "me", err, sizeof(err)), 0);
	assert_int_equal(store_lock_extend(s, "b.example.com", "me", 60000, err, sizeof(err)), 0);
	store_close(s);
	conf_free(c);
}

/*
 * store_host_add() is all or nothing: a failure after the set member was added used to leave the
 * name in hosts without its hash or due entry (the API's retry then answered 409 and the
 * scheduler never saw it). The failure is injected with an ACL user that may SADD but not run a
 * transaction or a script (a timeout between two round trips has the same effect).
 */
static void test_host_add_atomic(void **state)
{
	const char *kv[] = { "state", "pending", NULL };
	struct conf *c = NULL;
	struct store *s, *admin;
	char err[512], *pw;

	(void)state;
	c = mkconf("redis", primary.addr, NULL);
	admin = store_open(c, "h:", err, sizeof(err));
	if (!admin)
		fail_msg("store_open: %s", err);
	conf_free(c);
	rint_on(admin, "FLUSHALL");
	rint_on(admin, "ACL SETUSER half on >pw ~* &* +@all -multi -exec -eval -evalsha");
	pw = write_file("half.pw", "pw\n", 0600);
	c = mkconf("redis", primary.addr, "redis-user", "half", "redis-password-file", pw, NULL);
	s = store_open(c, "h:", err, sizeof(err));
	if (!s)
		fail_msg("store_open: %s", err);
	assert_int_equal(store_host_add(s, "a.example.com", kv, 100, err, sizeof(err)), -1);
	assert_int_equal(rint_on(admin, "SISMEMBER h:hosts a.example.com"), 0);
	assert_int_equal(rint_on(admin, "DBSIZE"), 0);
	/* The retry once Redis lets it through adds the host whole. */
	rint_on(admin, "ACL SETUSER half +@all");
	assert_int_equal(store_host_add(s, "a.example.com", kv, 100, err, sizeof(err)), 1);
	assert_int_equal(rint_on(admin, "SISMEMBER h:hosts a.example.com"), 1);
	assert_int_equal(rint_on(admin, "HEXISTS h:host:a.example.com state"), 1);
	assert_int_equal(rint_on(admin, "ZSCORE h:due a.example.com"), 100);
	assert_int_equal(store_host_add(s, "a.example.com", kv, 200, err, sizeof(err)), 0);
	assert_int_equal(rint_on(admin, "ZSCORE h:due a.example.com"), 100);
	/* No fields: the member and the due entry only. */
	assert_int_equal(store_host_add(s, "b.example.com", NULL, 300, err, sizeof(err)), 1);
	assert_int_equal(rint_on(admin, "ZSCORE h:due b.example.com"), 300);
	assert_int_equal(rint_on(admin, "EXISTS h:host:b.example.com"), 0);
	rint_on(admin, "ACL DELUSER half");
	store_close(s);
	store_close(admin);
	conf_free(c);
}

struct sub_seen {
	int subscribed; /* (re)subscriptions */
	int messages;
	char last[64];
};

static void sub_cb(void *arg, const char *msg, size_t len)
{
	struct sub_seen *seen = arg;

	if (!msg) {
		seen->subscribed++;
		return;
	}
	seen->messages++;
	snprintf(seen->last, sizeof(seen->last), "%.*s", (int)len, msg);
}

/* Run <base> for <ms>. */
static void run_for(struct event_base *base, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Run <base> until *<v> >= <want>, 15 s at most (a deadlock guard, not a timing check). */
static void run_until_count(struct event_base *base, const int *v, int want, const char *what)
{
	int i;

	for (i = 0; i < 1500 && *v < want; i++)
		run_for(base, 10);
	if (*v < want)
		fail_msg("timed out waiting for %s", what);
}

/* The connections <admin>'s Redis accepted so far (INFO stats). */
static long long connections_received(struct store *admin)
{
	redisReply *r = redisCommand(admin->rc, "INFO stats");
	const char *p;
	long long v = -1;

	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	p = strstr(r->str, "total_connections_received:");
	if (p)
		v = strtoll(p + strlen("total_connections_received:"), NULL, 10);
	freeReplyObject(r);
	return v;
}

/* A refused AUTH on the events subscription was left to hiredis (the SUBSCRIBE's error then
 * closes the connection) and retried every second forever, two error lines each time. It must
 * be handled: logged once per attempt, retried with a doubling backoff (1, 2, 4... 30 s), and
 * the subscription must come back once Redis accepts the password. */
static void test_sub_auth_retry(void **state)
{
	struct conf *c = mkconf("redis", primary.addr, NULL);
	struct sub_seen seen = { 0 };
	struct event_base *base;
	struct events *sub;
	struct store *s, *admin;
	char err[512], *pw;
	long long n0, n;

	(void)state;
	admin = store_open(c, "e:", err, sizeof(err));
	if (!admin)
		fail_msg("store_open: %s", err);
	conf_free(c);
	rint_on(admin, "ACL SETUSER sub on >pw ~* &* +@all");
	/* Nobody gets in without a valid password (the admin connection already is in). */
	rint_on(admin, "ACL SETUSER default resetpass >adminpw");
	pw = write_file("sub.pw", "pw\n", 0600);
	c = mkconf("redis", primary.addr, "redis-user", "sub", "redis-password-file", pw, NULL);
	s = store_open(c, "e:", err, sizeof(err));
	if (!s)
		fail_msg("store_open: %s", err);
	rint_on(admin, "ACL SETUSER sub resetpass >rotated"); /* rotated before the loader */
	base = event_base_new();
	assert_non_null(base);
	n0 = connections_received(admin);
	sub = events_new(base, s, sub_cb, &seen, err, sizeof(err));
	assert_non_null(sub);
	run_for(base, 6500);
	assert_int_equal(seen.subscribed, 0);
	n = connections_received(admin) - n0;
	/* attempts at 0, 1 and 3 s (the next at 7 s); once a second would be 7 */
	if (n < 2 || n > 4)
		fail_msg("%lld connection attempts in 6.5 s, expected 3 (backoff)", n);
	rint_on(admin, "ACL SETUSER sub resetpass >pw"); /* the operator fixes the password */
	run_until_count(base, &seen.subscribed, 1, "the subscription after AUTH is accepted");
	rint_on(admin, "PUBLISH e:events %s", "cert a.example.com");
	run_until_count(base, &seen.messages, 1, "the event");
	assert_string_equal(seen.last, "cert a.example.com");
	events_free(sub);
	event_base_free(base);
	rint_on(admin, "ACL SETUSER default nopass");
	rint_on(admin, "ACL DELUSER sub");
	store_close(s);
	store_close(admin);
	conf_free(c);
}

/* Start a sentinel on a free port monitoring <port> as "mymaster" (quorum 1). */
static pid_t start_sentinel(int port, int *sport)
{
	char conf[128], text[512], p[16];
	struct timespec ts = { 0, 20 * 1000000 };
	pid_t pid;
	int i;

	*sport = tredis_free_port();
	snprintf(conf, sizeof(conf), "%s/sentinel-%d.conf", tmpdir, *sport);
	snprintf(text, sizeof(text),
	         "port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %d 1\n",
	         *sport, tmpdir, port);
	write_file(strrchr(conf, '/') + 1, text, 0600);
	snprintf(p, sizeof(p), "%d", *sport);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (devnull >= 0) {
			dup2(devnull, 1);
			dup2(devnull, 2);
		}
		execl("/usr/bin/redis-server", "redis-server", conf, "--sentinel", (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 250; i++) {
		redisContext *c = redisConnect("127.0.0.1", *sport);
		int up = c && !c->err;

		redisFree(c);
		if (up)
			return pid;
		nanosleep(&ts, NULL);
	}
	fail_msg("sentinel did not start");
	return -1;
}

static void stop_pid(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

static void test_sentinel_resolve(void **state)
{
	const char *kv[] = { "state", "valid", NULL };
	char list[128], err[512];
	struct conf *c;
	struct store *s;
	int sport, dead = tredis_free_port();
	pid_t pid;

	(void)state;
	wait_role(replica.port, "master");
	pid = start_sentinel(primary.port, &sport);
	/* A dead sentinel first: the next one answers. */
	snprintf(list, sizeof(list), "127.0.0.1:%d,127.0.0.1:%d", dead, sport);
	c = mkconf("sentinel", list, "sentinel-master", "mymaster", NULL);
	s = store_open(c, "t:", err, sizeof(err));
	if (!s)
		fail_msg("store_open: %s", err);
	assert_string_equal(s->addr, primary.addr);
	assert_int_equal(store_host_update(s, "d.example.com", kv, err, sizeof(err)), 0);
	store_close(s);
	conf_free(c);
	/* A master name the sentinel does not know. */
	c = mkconf("sentinel", list, "sentinel-master", "other", NULL);
	assert_null(store_open(c, "t:", err, sizeof(err)));
	if (!strstr(err, "no usable primary for 'other'") || !strstr(err, "does not monitor"))
		fail_msg("unexpected error '%s'", err);
	conf_free(c);
	stop_pid(pid);

	/* A sentinel naming a replica (stale during a failover): ROLE refuses it. */
	{
		char cmd[64], out[64];

		snprintf(cmd, sizeof(cmd), "REPLICAOF 127.0.0.1 %d", primary.port);
		raw(replica.port, cmd, out, sizeof(out));
		wait_role(replica.port, "slave");
	}
	pid = start_sentinel(replica.port, &sport);
	snprintf(list, sizeof(list), "127.0.0.1:%d", sport);
	c = mkconf("sentinel", list, "sentinel-master", "mymaster", NULL);
	assert_null(store_open(c, "t:", err, sizeof(err)));
	if (!strstr(err, "not a primary"))
		fail_msg("expected 'not a primary' in '%s'", err);
	conf_free(c);
	stop_pid(pid);
	{
		char out[64];

		raw(replica.port, "REPLICAOF NO ONE", out, sizeof(out));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conf_check),
		cmocka_unit_test(test_readonly_drops),
		cmocka_unit_test(test_partial_failures),
		cmocka_unit_test(test_chal_sweep),
		cmocka_unit_test(test_fence),
		cmocka_unit_test(test_lock_compare),
		cmocka_unit_test(test_host_add_atomic),
		cmocka_unit_test(test_sub_auth_retry),
		cmocka_unit_test(test_sentinel_resolve),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
