// SPDX-License-Identifier: MIT
/*
 * Unit tests for hosts.c and the hosts section of store.c against a real redis-server: add
 * (pending, due now, preview name shape), duplicates, every invalid name refused with its
 * reason, get/list, renew, remove (every key gone, "del <name>" published), removal deferred by
 * an issuer's lock, planted garbage ignored, and the owner-checked lock primitives.
 */
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
#include "common/names.h"
#include "tests/unit/support/tstore.h"

static long long raw_int(struct store *s, const char *cmd)
{
	redisReply *r = tstore_raw(s, cmd);
	long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -999;

	freeReplyObject(r);
	return v;
}

static void test_add_get_list(void **state)
{
	struct store *s = tstore_open();
	struct hosts_info info, *arr = NULL;
	char err[512];
	size_t n = 0, i;
	long long now = (long long)time(NULL);

	(void)state;
	assert_int_equal(hosts_add(s, "b.example.com", "preview.test", &info, err, sizeof(err)),
	                 HOSTS_OK);
	assert_string_equal(info.name, "b.example.com");
	assert_int_equal(info.state, HOSTS_STATE_PENDING);
	/* 16 base32 characters, then the preview domain */
	assert_int_equal(strlen(info.preview), 16 + strlen(".preview.test"));
	assert_string_equal(info.preview + 16, ".preview.test");
	for (i = 0; i < 16; i++)
		assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz234567", info.preview[i]));
	assert_int_equal(hosts_add(s, "b.example.com", NULL, &info, err, sizeof(err)),
	                 HOSTS_EXISTS);
	assert_non_null(strstr(err, "already managed"));
	assert_int_equal(hosts_add(s, "a.example.com", NULL, &info, err, sizeof(err)), HOSTS_OK);
	assert_string_equal(info.preview, "");

	assert_int_equal(hosts_get(s, "b.example.com", &info, err, sizeof(err)), HOSTS_OK);
	assert_int_equal(info.state, HOSTS_STATE_PENDING);
	assert_true(info.created >= now && info.created <= now + 5);
	assert_true(info.next_action >= now && info.next_action <= now + 5);
	assert_int_equal(strlen(info.preview), 16 + strlen(".preview.test"));
	assert_int_equal(raw_int(s, "SISMEMBER t:hosts b.example.com"), 1);
	assert_int_equal(raw_int(s, "ZCARD t:due"), 2);

	assert_int_equal(hosts_get(s, "c.example.com", &info, err, sizeof(err)), HOSTS_NOT_FOUND);
	assert_int_equal(hosts_get(s, "NOT VALID", &info, err, sizeof(err)), HOSTS_NOT_FOUND);

	/* Planted by hand: not a hostname; the listing must not carry it. */
	freeReplyObject(tstore_raw(s, "SADD t:hosts %s", "bad name\"}"));
	assert_int_equal(hosts_list(s, &arr, &n, err, sizeof(err)), HOSTS_OK);
	assert_int_equal(n, 2);
	assert_string_equal(arr[0].name, "a.example.com");
	assert_string_equal(arr[1].name, "b.example.com");
	assert_int_equal(arr[1].state, HOSTS_STATE_PENDING);
	free(arr);
	freeReplyObject(tstore_raw(s, "FLUSHALL"));
	store_close(s);
}

static void test_invalid_names(void **state)
{
	static const char *const bad[] = {
		"",
		"localhost",
		"Example.com",
		"*.*.example.com",
		"a.*.example.com",
		"example.com.",
		"-a.example.com",
		"a-.example.com",
		"a..example.com",
		"ab--cd.example.com",
		"a_b.example.com",
		"127.0.0.1",
		"b\xc3\xbc"
		"cher.de",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
	};
	struct store *s = tstore_open();
	struct hosts_info info;
	const char *why;
	char err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(names_hostname_valid(bad[i], &why));
		assert_int_equal(hosts_add(s, bad[i], NULL, &info, err, sizeof(err)),
		                 HOSTS_INVALID);
		assert_string_equal(err, why);
	}
	assert_int_equal(raw_int(s, "DBSIZE"), 0); /* nothing written */
	/* a wildcard is a host once its caller checked DNS-01 (dns01_wildcard_allowed); it has no
	 * preview name of its own */
	assert_int_equal(
	        hosts_add(s, "*.w.example.com", "preview.example", &info, err, sizeof(err)),
	        HOSTS_OK);
	assert_string_equal(info.preview, "");
	freeReplyObject(tstore_raw(s, "FLUSHALL"));
	store_close(s);
}

static void test_renew_and_remove(void **state)
{
	struct store *s = tstore_open();
	struct store *sub = tstore_open();
	struct hosts_info info;
	redisReply *r;
	char err[512];
	long long now = (long long)time(NULL), at = 0;

	(void)state;
	assert_int_equal(hosts_add(s, "r.example.com", NULL, &info, err, sizeof(err)), HOSTS_OK);
	freeReplyObject(tstore_raw(s, "ZADD t:due %lld r.example.com", now + 86400));
	freeReplyObject(tstore_raw(s, "SET t:cert:r.example.com:ecdsa blob1"));
	freeReplyObject(tstore_raw(s, "SET t:cert:r.example.com:rsa blob2"));
	assert_int_equal(hosts_renew(s, "r.example.com", err, sizeof(err)), HOSTS_OK);
	assert_int_equal(store_due_get(s, "r.example.com", &at, err, sizeof(err)), 1);
	assert_true(at >= now && at <= now + 5);
	assert_int_equal(hosts_get(s, "r.example.com", &info, err, sizeof(err)), HOSTS_OK);
	assert_true(info.renew_at >= now && info.renew_at <= now + 5);
	assert_int_equal(hosts_renew(s, "x.example.com", err, sizeof(err)), HOSTS_NOT_FOUND);

	/* Removal while an issuer holds the lock: recorded, not done. */
	assert_int_equal(store_lock_acquire(s, "r.example.com", "issuerA", 10000, err, sizeof(err)),
	                 1);
	assert_int_equal(hosts_remove(s, "r.example.com", err, sizeof(err)), HOSTS_DEFERRED);
	assert_int_equal(hosts_get(s, "r.example.com", &info, err, sizeof(err)), HOSTS_OK);
	assert_int_equal(info.state, HOSTS_STATE_REMOVING);
	assert_int_equal(hosts_renew(s, "r.example.com", err, sizeof(err)), HOSTS_CONFLICT);
	assert_int_equal(raw_int(s, "EXISTS t:cert:r.example.com:ecdsa"), 1);
	/* Someone else's owner id cannot purge it either; the lock owner can. */
	assert_int_equal(store_host_purge(s, "r.example.com", "issuerB", err, sizeof(err)), 0);

	r = tstore_raw(sub, "SUBSCRIBE t:events");
	freeReplyObject(r);
	assert_int_equal(store_host_purge(s, "r.example.com", "issuerA", err, sizeof(err)), 1);
	assert_int_equal(redisGetReply(sub->rc, (void **)&r), REDIS_OK);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 3);
	assert_string_equal(r->element[2]->str, "del r.example.com");
	freeReplyObject(r);
	assert_int_equal(raw_int(s, "EXISTS t:host:r.example.com t:cert:r.example.com:ecdsa "
	                            "t:cert:r.example.com:rsa t:lock:r.example.com"),
	                 0);
	assert_int_equal(raw_int(s, "ZCARD t:due"), 0);
	assert_int_equal(raw_int(s, "SCARD t:hosts"), 0);

	/* Without a lock the removal is immediate. */
	assert_int_equal(hosts_add(s, "q.example.com", NULL, &info, err, sizeof(err)), HOSTS_OK);
	assert_int_equal(hosts_remove(s, "q.example.com", err, sizeof(err)), HOSTS_OK);
	assert_int_equal(raw_int(s, "DBSIZE"), 0);
	assert_int_equal(hosts_remove(s, "q.example.com", err, sizeof(err)), HOSTS_NOT_FOUND);
	store_close(sub);
	store_close(s);
}

/* store_in_sync: a primary is; a replica only while its link is up (not after a restart with
 * its primary unreachable, when its data is empty). */
static void test_in_sync(void **state)
{
	struct tredis rep = { 0 };
	struct store *s = tstore_open(), *r;
	struct conf *c = conf_new();
	struct timespec ts = { 0, 50 * 1000000 };
	char err[512];
	int i, dead;

	(void)state;
	assert_int_equal(store_in_sync(s, err, sizeof(err)), 1);
	assert_int_equal(tredis_start(&rep), 0);
	assert_int_equal(conf_set(c, "redis", rep.addr, 1), 0);
	r = store_open_local(c, "t:", err, sizeof(err));
	assert_non_null(r);
	dead = tredis_free_port();
	freeReplyObject(tstore_raw(r, "REPLICAOF 127.0.0.1 %d", dead));
	assert_int_equal(store_in_sync(r, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "link to its primary is 'connect"));
	freeReplyObject(tstore_raw(r, "REPLICAOF 127.0.0.1 %d", tstore_redis.port));
	for (i = 0; i < 200 && store_in_sync(r, err, sizeof(err)) != 1; i++)
		nanosleep(&ts, NULL);
	assert_int_equal(store_in_sync(r, err, sizeof(err)), 1);
	store_close(r);
	store_close(s);
	conf_free(c);
	tredis_stop(&rep);
}

static void test_lock_owners(void **state)
{
	struct store *a = tstore_open(), *b = tstore_open();
	struct timespec ts = { 0, 400 * 1000000 };
	redisReply *r;
	char err[512];

	(void)state;
	assert_int_equal(store_lock_acquire(a, "l.example.com", "ownerA", 5000, err, sizeof(err)),
	                 1);
	assert_int_equal(store_lock_acquire(b, "l.example.com", "ownerB", 5000, err, sizeof(err)),
	                 0);
	assert_int_equal(store_lock_extend(b, "l.example.com", "ownerB", 60000, err, sizeof(err)),
	                 0);
	assert_int_equal(store_lock_release(b, "l.example.com", "ownerB", err, sizeof(err)), 0);
	/* a prefix of the owner id is not the owner */
	assert_int_equal(store_lock_release(b, "l.example.com", "owner", err, sizeof(err)), 0);
	r = tstore_raw(a, "GET t:lock:l.example.com");
	assert_string_equal(r->str, "ownerA");
	freeReplyObject(r);
	assert_true(raw_int(a, "PTTL t:lock:l.example.com") <= 5000);
	assert_int_equal(store_lock_extend(a, "l.example.com", "ownerA", 60000, err, sizeof(err)),
	                 1);
	assert_true(raw_int(a, "PTTL t:lock:l.example.com") > 5000);
	/* Taking our own lock again (one we set before a failover) extends it. */
	assert_int_equal(store_lock_acquire(a, "l.example.com", "ownerA", 90000, err, sizeof(err)),
	                 1);
	assert_true(raw_int(a, "PTTL t:lock:l.example.com") > 60000);
	assert_int_equal(store_lock_release(a, "l.example.com", "ownerA", err, sizeof(err)), 1);
	assert_int_equal(raw_int(a, "EXISTS t:lock:l.example.com"), 0);

	/* An expired lock goes to the next owner; the old owner can no longer touch it. */
	assert_int_equal(store_lock_acquire(a, "l.example.com", "ownerA", 100, err, sizeof(err)),
	                 1);
	nanosleep(&ts, NULL);
	assert_int_equal(store_lock_acquire(b, "l.example.com", "ownerB", 5000, err, sizeof(err)),
	                 1);
	assert_int_equal(store_lock_extend(a, "l.example.com", "ownerA", 5000, err, sizeof(err)),
	                 0);
	assert_int_equal(store_lock_release(a, "l.example.com", "ownerA", err, sizeof(err)), 0);
	r = tstore_raw(a, "GET t:lock:l.example.com");
	assert_string_equal(r->str, "ownerB");
	freeReplyObject(r);
	/* The connection is usable after all that WATCHing. */
	assert_int_equal(store_ping(a, err, sizeof(err)), 0);
	freeReplyObject(tstore_raw(a, "FLUSHALL"));
	store_close(a);
	store_close(b);
}

static void test_preview_domain(void **state)
{
	const char *why;
	char long_domain[260];

	(void)state;
	assert_true(hosts_preview_domain_valid("preview.example.net", &why));
	assert_false(hosts_preview_domain_valid("Preview.example.net", &why));
	assert_false(hosts_preview_domain_valid("localhost", &why)); /* one label */
	memset(long_domain, 'a', 240);
	memcpy(long_domain + 60, ".", 1);
	memcpy(long_domain + 120, ".", 1);
	memcpy(long_domain + 180, ".", 1);
	memcpy(long_domain + 236, ".com", 5); /* 240 chars: valid alone, too long with a label */
	assert_true(names_hostname_valid(long_domain, &why));
	assert_false(hosts_preview_domain_valid(long_domain, &why));
	assert_non_null(strstr(why, "too long"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_get_list),     cmocka_unit_test(test_invalid_names),
		cmocka_unit_test(test_renew_and_remove), cmocka_unit_test(test_lock_owners),
		cmocka_unit_test(test_preview_domain),   cmocka_unit_test(test_in_sync),
	};

	return cmocka_run_group_tests(tests, tstore_setup, tstore_teardown);
}
