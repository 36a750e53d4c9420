// SPDX-License-Identifier: MIT
/*
 * The managed hosts in Redis: the `hosts` set, each `host:<name>` hash, the `due` zset and the
 * per-host locks of the issuers (hosts.c, scheduler.c, import.c). Every write of an issuer's
 * worker is fenced on its lock (store_write()); the compare-and-act steps are one EVAL each.
 */
#include "cert-pusher/store/store.h"
#include "cert-pusher/store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/keys.h"

int store_host_update(struct store *s, const char *name, const char *const *kv, char *err,
                      size_t errsz)
{
	const char *argv[2 + 2 * 32];
	size_t argl[2 + 2 * 32];
	struct buf key;
	redisReply *r = NULL;
	int argc = 0, ret = -1;

	buf_init(&key);
	if (keys_host(&key, s->prefix, name) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	argv[argc] = "HSET";
	argl[argc++] = 4;
	argv[argc] = buf_str(&key);
	argl[argc++] = key.len;
	for (; kv[0] && kv[1]; kv += 2) {
		if (argc + 2 > (int)(sizeof(argv) / sizeof(argv[0]))) {
			snprintf(err, errsz, "too many fields for %s", buf_str(&key));
			goto out;
		}
		argv[argc] = kv[0];
		argl[argc++] = strlen(kv[0]);
		argv[argc] = kv[1];
		argl[argc++] = strlen(kv[1]);
	}
	r = store_write(s, NULL, argc, argv, argl, err, errsz);
	if (!r)
		goto out;
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int store_host_field(struct store *s, const char *name, const char *field, struct buf *out,
                     char *err, size_t errsz)
{
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (keys_host(&key, s->prefix, name) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	r = store_cmds(s, NULL, err, errsz, "HGET", buf_str(&key), field, NULL);
	if (!r)
		goto out;
	if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL) {
		snprintf(err, errsz, "redis HGET %s %s: unexpected reply type", buf_str(&key),
		         field);
		goto out;
	}
	if (r->type == REDIS_REPLY_NIL) {
		ret = 0;
		goto out;
	}
	if (buf_append(out, r->str, r->len) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	ret = 1;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

/* Append a key built by <fn> for <name> to <key>; 0 or -1 with "out of memory". */
static int store_hosts_key(struct buf *key, int (*fn)(struct buf *, const char *, const char *),
                           const char *prefix, const char *name, char *err, size_t errsz)
{
	buf_reset(key);
	if (fn(key, prefix, name) < 0) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * The add in one script: SADD decides (of concurrent adds of one name exactly one gets 1), and
 * only then the hash and the due entry, with nothing in between and nothing half done when the
 * connection or the command times out. KEYS: hosts, host:<name>, due; ARGV: name, due time,
 * then the field/value pairs.
 */
static const char store_host_add_script[] =
        "if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end "
        "if #ARGV > 2 then redis.call('HSET', KEYS[2], unpack(ARGV, 3)) end "
        "redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1]) "
        "return 1";

int store_host_add(struct store *s, const char *name, const char *const *kv, long long due_at,
                   char *err, size_t errsz)
{
	const char *argv[8 + 2 * 32];
	size_t argl[8 + 2 * 32];
	struct buf hosts, host, due;
	char at[32];
	redisReply *r = NULL;
	int argc = 0, ret = -1;

	buf_init(&hosts);
	buf_init(&host);
	buf_init(&due);
	if (keys_hosts(&hosts, s->prefix) < 0 || keys_host(&host, s->prefix, name) < 0 ||
	    keys_due(&due, s->prefix) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	snprintf(at, sizeof(at), "%lld", due_at);
	argv[argc] = "EVAL", argl[argc++] = 4;
	argv[argc] = store_host_add_script, argl[argc++] = sizeof(store_host_add_script) - 1;
	argv[argc] = "3", argl[argc++] = 1;
	argv[argc] = buf_str(&hosts), argl[argc++] = hosts.len;
	argv[argc] = buf_str(&host), argl[argc++] = host.len;
	argv[argc] = buf_str(&due), argl[argc++] = due.len;
	argv[argc] = name, argl[argc++] = strlen(name);
	argv[argc] = at, argl[argc++] = strlen(at);
	for (; kv && kv[0] && kv[1]; kv += 2) {
		if (argc + 2 > (int)(sizeof(argv) / sizeof(argv[0]))) {
			snprintf(err, errsz, "too many fields for %s", buf_str(&host));
			goto out;
		}
		argv[argc] = kv[0], argl[argc++] = strlen(kv[0]);
		argv[argc] = kv[1], argl[argc++] = strlen(kv[1]);
	}
	r = store_cmd(s, "EVAL SADD HSET ZADD", argc, argv, argl, err, errsz);
	if (!r)
		goto out;
	if (r->type != REDIS_REPLY_INTEGER) {
		snprintf(err, errsz, "redis EVAL SADD HSET ZADD: unexpected reply type %d",
		         r->type);
		goto out;
	}
	ret = r->integer == 1 ? 1 : 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&hosts);
	buf_deinit(&host);
	buf_deinit(&due);
	return ret;
}

int store_host_exists(struct store *s, const char *name, char *err, size_t errsz)
{
	struct buf key;
	redisReply *r = NULL;
	long long v = -1;

	buf_init(&key);
	if (store_key_ok(keys_hosts(&key, s->prefix), err, errsz) &&
	    (r = store_cmds(s, "SISMEMBER", err, errsz, "SISMEMBER", buf_str(&key), name, NULL)))
		v = store_reply_int(r, "SISMEMBER", err, errsz);
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return v < 0 ? -1 : v ? 1 : 0;
}

int store_hosts_members(struct store *s, struct strv *out, char *err, size_t errsz)
{
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (store_key_ok(keys_hosts(&key, s->prefix), err, errsz) &&
	    (r = store_cmds(s, "SMEMBERS", err, errsz, "SMEMBERS", buf_str(&key), NULL)))
		ret = store_reply_strings(r, out, "SMEMBERS", err, errsz);
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int store_host_get_all(struct store *s, const char *name, struct strv *out, char *err, size_t errsz)
{
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (store_key_ok(keys_host(&key, s->prefix, name), err, errsz) &&
	    (r = store_cmds(s, "HGETALL", err, errsz, "HGETALL", buf_str(&key), NULL)))
		ret = store_reply_strings(r, out, "HGETALL", err, errsz);
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int store_hmget_each(struct store *s, int (*fn)(struct buf *, const char *, const char *),
                     const struct strv *names, const char *const *fields, size_t nfields,
                     struct strv *out, char *err, size_t errsz)
{
	struct store_argv *cmds = NULL;
	const char **argv = NULL;
	size_t *argl = NULL, i, j, w = 2 + nfields;
	redisReply **rep = NULL;
	struct buf keys;
	size_t *off = NULL;
	int ret = -1;

	buf_init(&keys);
	if (!names->n || !nfields)
		return 0; /* HMGET needs a field: nothing asked, nothing to read */
	cmds = calloc(names->n, sizeof(*cmds));
	rep = calloc(names->n, sizeof(*rep));
	argv = calloc(names->n * w, sizeof(*argv));
	argl = calloc(names->n * w, sizeof(*argl));
	off = calloc(names->n, sizeof(*off));
	if (!cmds || !rep || !argv || !argl || !off)
		goto oom;
	/* Every key into one buffer first (it may move while it grows), then the commands. */
	for (i = 0; i < names->n; i++) {
		off[i] = keys.len;
		if (fn(&keys, s->prefix, names->v[i]) < 0 || buf_append(&keys, "", 1) < 0)
			goto oom;
	}
	for (i = 0; i < names->n; i++) {
		const char **a = argv + i * w;
		size_t *l = argl + i * w;

		a[0] = "HMGET", l[0] = 5;
		a[1] = (const char *)keys.data + off[i];
		l[1] = strlen(a[1]);
		for (j = 0; j < nfields; j++)
			a[2 + j] = fields[j], l[2 + j] = strlen(fields[j]);
		cmds[i] = (struct store_argv){ (int)w, a, l };
	}
	if (store_pipeline(s, "HMGET", names->n, cmds, rep, err, errsz) < 0)
		goto out;
	for (i = 0; i < names->n; i++) {
		if (store_reply_strings(rep[i], out, "HMGET", err, errsz) < 0)
			goto out;
		if (rep[i]->elements != nfields) {
			snprintf(err, errsz, "redis HMGET: unexpected reply length");
			goto out;
		}
	}
	ret = 0;
	goto out;
oom:
	snprintf(err, errsz, "out of memory");
out:
	for (i = 0; rep && i < names->n; i++)
		if (rep[i])
			freeReplyObject(rep[i]);
	free(rep);
	free(cmds);
	free(argv);
	free(argl);
	free(off);
	buf_deinit(&keys);
	return ret;
}

int store_hosts_fields(struct store *s, const struct strv *names, const char *const *fields,
                       size_t nfields, struct strv *out, char *err, size_t errsz)
{
	return store_hmget_each(s, keys_host, names, fields, nfields, out, err, errsz);
}

int store_host_del_field(struct store *s, const char *name, const char *field, char *err,
                         size_t errsz)
{
	struct buf key;
	int ret = -1;

	buf_init(&key);
	if (store_key_ok(keys_host(&key, s->prefix, name), err, errsz))
		ret = store_do(s, 1, "HDEL", err, errsz, "HDEL", buf_str(&key), field, NULL);
	buf_deinit(&key);
	return ret;
}

int store_due_set(struct store *s, const char *name, long long at, char *err, size_t errsz)
{
	char score[32];
	struct buf key;
	int ret = -1;

	buf_init(&key);
	snprintf(score, sizeof(score), "%lld", at);
	if (store_key_ok(keys_due(&key, s->prefix), err, errsz))
		ret = store_do(s, 1, "ZADD", err, errsz, "ZADD", buf_str(&key), score, name, NULL);
	buf_deinit(&key);
	return ret;
}

int store_due_remove(struct store *s, const char *name, char *err, size_t errsz)
{
	struct buf key;
	int ret = -1;

	buf_init(&key);
	if (store_key_ok(keys_due(&key, s->prefix), err, errsz))
		ret = store_do(s, 1, "ZREM", err, errsz, "ZREM", buf_str(&key), name, NULL);
	buf_deinit(&key);
	return ret;
}

int store_due_scores(struct store *s, const struct strv *names, long long *at, char *err,
                     size_t errsz)
{
	const char **argv = NULL;
	struct buf key;
	redisReply *r = NULL;
	size_t i;
	int ret = -1;

	buf_init(&key);
	for (i = 0; i < names->n; i++)
		at[i] = 0;
	if (!names->n)
		return 0;
	if (!store_key_ok(keys_due(&key, s->prefix), err, errsz))
		goto out;
	argv = calloc(names->n + 2, sizeof(*argv));
	if (!argv) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	argv[0] = "ZMSCORE";
	argv[1] = buf_str(&key);
	for (i = 0; i < names->n; i++)
		argv[i + 2] = names->v[i];
	r = store_cmd(s, "ZMSCORE", (int)names->n + 2, argv, NULL, err, errsz);
	if (!r)
		goto out;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != names->n) {
		snprintf(err, errsz, "redis ZMSCORE: unexpected reply");
		goto out;
	}
	for (i = 0; i < names->n; i++) {
		const redisReply *e = r->element[i];
		char *end;
		double d;

		if (e->type != REDIS_REPLY_STRING)
			continue; /* nil: not scheduled */
		d = strtod(e->str, &end);
		if (end != e->str && !*end && d >= -1e15 && d <= 1e15)
			at[i] = (long long)d;
	}
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	free(argv);
	buf_deinit(&key);
	return ret;
}

int store_due_get(struct store *s, const char *name, long long *at, char *err, size_t errsz)
{
	struct buf key;
	redisReply *r = NULL;
	char *end;
	double d;
	int ret = -1;

	buf_init(&key);
	if (!store_key_ok(keys_due(&key, s->prefix), err, errsz) ||
	    !(r = store_cmds(s, "ZSCORE", err, errsz, "ZSCORE", buf_str(&key), name, NULL)))
		goto out;
	if (r->type == REDIS_REPLY_NIL) {
		ret = 0;
		goto out;
	}
	if (r->type != REDIS_REPLY_STRING) {
		snprintf(err, errsz, "redis ZSCORE: unexpected reply type %d", r->type);
		goto out;
	}
	d = strtod(r->str, &end);
	if (end == r->str || *end || d < -1e15 || d > 1e15) {
		snprintf(err, errsz, "redis ZSCORE %s: '%s' is not a time", name, r->str);
		goto out;
	}
	*at = (long long)d;
	ret = 1;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int store_due_range(struct store *s, long long now, size_t limit, struct strv *out, char *err,
                    size_t errsz)
{
	char at[32], count[32];
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (keys_due(&key, s->prefix) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	snprintf(at, sizeof(at), "%lld", now);
	snprintf(count, sizeof(count), "%zu", limit);
	r = store_cmds(s, "ZRANGEBYSCORE", err, errsz, "ZRANGEBYSCORE", buf_str(&key), "-inf", at,
	               "LIMIT", "0", count, NULL);
	if (!r || store_reply_strings(r, out, "ZRANGEBYSCORE", err, errsz) < 0)
		goto out;
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

static int store_lock_guarded(struct store *s, const char *name, const char *owner, int is_extend,
                              long long ttl_ms, char *err, size_t errsz);

int store_lock_acquire(struct store *s, const char *name, const char *owner, long long ttl_ms,
                       char *err, size_t errsz)
{
	char ttl[24];
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (store_hosts_key(&key, keys_lock, s->prefix, name, err, errsz) < 0)
		goto out;
	snprintf(ttl, sizeof(ttl), "%lld", ttl_ms);
	r = store_cmds(s, "SET NX PX", err, errsz, "SET", buf_str(&key), owner, "NX", "PX", ttl,
	               NULL);
	if (!r)
		goto out;
	ret = r->type == REDIS_REPLY_STATUS ? 1 : 0; /* +OK, or nil when held */
	/* Held by us already: a lock set before a failover (replicated to the new primary) or
	 * one whose release was lost with the connection. Ours to extend, not to wait out. */
	if (!ret)
		ret = store_lock_guarded(s, name, owner, 1, ttl_ms, err, errsz);
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

/* Compare-and-act on a lock in one EVAL: nothing runs between the check and the act. */
static const char store_lock_extend_script[] =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then "
        "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
static const char store_lock_release_script[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                                "return redis.call('DEL', KEYS[1]) end return 0";

/*
 * If lock:<name> holds <owner>, PEXPIRE it by <ttl_ms> (<is_extend>) or DEL it. 1 done, 0 not
 * the owner (expired, or taken by another issuer), -1 error.
 */
static int store_lock_guarded(struct store *s, const char *name, const char *owner, int is_extend,
                              long long ttl_ms, char *err, size_t errsz)
{
	const char *argv[6];
	size_t argl[6];
	char ttl[24];
	struct buf key;
	redisReply *r = NULL;
	int argc = 5, ret = -1;

	buf_init(&key);
	if (store_hosts_key(&key, keys_lock, s->prefix, name, err, errsz) < 0)
		goto out;
	snprintf(ttl, sizeof(ttl), "%lld", ttl_ms);
	argv[0] = "EVAL", argl[0] = 4;
	argv[1] = is_extend ? store_lock_extend_script : store_lock_release_script;
	argl[1] = is_extend ? sizeof(store_lock_extend_script) - 1
	                    : sizeof(store_lock_release_script) - 1;
	argv[2] = "1", argl[2] = 1;
	argv[3] = buf_str(&key), argl[3] = key.len;
	argv[4] = owner, argl[4] = strlen(owner);
	if (is_extend)
		argv[argc] = ttl, argl[argc++] = strlen(ttl);
	r = store_cmd(s, is_extend ? "EVAL lock extend" : "EVAL lock release", argc, argv, argl,
	              err, errsz);
	if (!r)
		goto out;
	if (r->type != REDIS_REPLY_INTEGER) {
		snprintf(err, errsz, "redis EVAL lock: unexpected reply type %d", r->type);
		goto out;
	}
	ret = r->integer == 1 ? 1 : 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int store_lock_extend(struct store *s, const char *name, const char *owner, long long ttl_ms,
                      char *err, size_t errsz)
{
	return store_lock_guarded(s, name, owner, 1, ttl_ms, err, errsz);
}

int store_lock_release(struct store *s, const char *name, const char *owner, char *err,
                       size_t errsz)
{
	return store_lock_guarded(s, name, owner, 0, 0, err, errsz);
}

/*
 * The purge in one script: the lock decides (held by another issuer: nothing is removed), then
 * the hash, both blobs, the due entry and the set membership go, with the "del" notice, and the
 * lock when we held it, and the note of its challenge tokens. KEYS: lock, host:<name>, both
 * cert: blobs, due, hosts, events, chals:<name>; ARGV: the name, our owner id ("" for none), the
 * notice.
 */
static const char store_host_purge_script[] =
        "local v = redis.call('GET', KEYS[1]) "
        "if v and v ~= ARGV[2] then return 0 end "
        "redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[8]) "
        "redis.call('ZREM', KEYS[5], ARGV[1]) "
        "redis.call('SREM', KEYS[6], ARGV[1]) "
        "redis.call('PUBLISH', KEYS[7], ARGV[3]) "
        "if v then redis.call('DEL', KEYS[1]) end "
        "return 1";

int store_host_purge(struct store *s, const char *name, const char *owner, char *err, size_t errsz)
{
	struct buf lock, host, ecdsa, rsa, due, hosts, events, chals, msg;
	redisReply *r = NULL;
	long long v;
	int ret = -1;

	buf_init(&lock);
	buf_init(&host);
	buf_init(&ecdsa);
	buf_init(&rsa);
	buf_init(&due);
	buf_init(&hosts);
	buf_init(&events);
	buf_init(&chals);
	buf_init(&msg);
	if (keys_chals(&chals, s->prefix, name) < 0 || keys_lock(&lock, s->prefix, name) < 0 ||
	    keys_host(&host, s->prefix, name) < 0 ||
	    keys_cert(&ecdsa, s->prefix, name, KEYS_TYPE_ECDSA) < 0 ||
	    keys_cert(&rsa, s->prefix, name, KEYS_TYPE_RSA) < 0 || keys_due(&due, s->prefix) < 0 ||
	    keys_hosts(&hosts, s->prefix) < 0 || keys_events(&events, s->prefix) < 0 ||
	    buf_printf(&msg, "del %s", name) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	r = store_cmds(s, "EVAL purge", err, errsz, "EVAL", store_host_purge_script, "8",
	               buf_str(&lock), buf_str(&host), buf_str(&ecdsa), buf_str(&rsa),
	               buf_str(&due), buf_str(&hosts), buf_str(&events), buf_str(&chals), name,
	               owner ? owner : "", buf_str(&msg), NULL);
	if (!r || (v = store_reply_int(r, "EVAL purge", err, errsz)) < 0)
		goto out;
	ret = v == 1 ? 1 : 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&lock);
	buf_deinit(&host);
	buf_deinit(&ecdsa);
	buf_deinit(&rsa);
	buf_deinit(&due);
	buf_deinit(&hosts);
	buf_deinit(&events);
	buf_deinit(&chals);
	buf_deinit(&msg);
	return ret;
}

int store_issue_begin(struct store *s, const char *name, char *err, size_t errsz)
{
	struct buf hosts, host;
	int ret = -1;

	buf_init(&hosts);
	buf_init(&host);
	if (store_key_ok(keys_hosts(&hosts, s->prefix), err, errsz) &&
	    store_key_ok(keys_host(&host, s->prefix, name), err, errsz) &&
	    !store_do(s, 1, NULL, err, errsz, "SADD", buf_str(&hosts), name, NULL) &&
	    !store_do(s, 1, NULL, err, errsz, "HINCRBY", buf_str(&host), "attempts", "1", NULL))
		ret = 0;
	buf_deinit(&hosts);
	buf_deinit(&host);
	return ret;
}
