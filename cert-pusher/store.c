// SPDX-License-Identifier: MIT
/*
 * Redis access for cert-pusher (hiredis, synchronous, with timeouts). Connection handling lives
 * here; the issuer's and the loader's operations follow in their own sections. Replies are
 * checked for type before use; errors name the command and the Redis error text.
 */
#include "cert-pusher/store.h"

#include <hiredis.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/file.h"
#include "common/keys.h"
#include "common/parse.h"

/* ---- connection ---- */

static char *store_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->rc)
		redisFree(s->rc);
	free(s->prefix);
	free(s->addr);
	free(s->user);
	if (s->password) {
		OPENSSL_cleanse(s->password, strlen(s->password));
		free(s->password);
	}
	free(s);
}

int store_reconnect(struct store *s, char *err, size_t errsz)
{
	struct timeval tv = { .tv_sec = s->timeout_ms / 1000, .tv_usec = (s->timeout_ms % 1000) * 1000 };
	struct endpoint ep;
	const char *why;
	redisReply *r = NULL;
	int ret = -1;

	if (s->rc && !s->rc->err)
		return 0;
	if (s->rc) {
		redisFree(s->rc);
		s->rc = NULL;
	}
	if (parse_endpoint(s->addr, &ep, &why) < 0) {
		snprintf(err, errsz, "--redis: '%s': %s", s->addr, why);
		goto out;
	}
	s->rc = ep.is_unix ? redisConnectUnixWithTimeout(ep.path, tv)
			   : redisConnectWithTimeout(ep.host, ep.port, tv);
	if (!s->rc || s->rc->err) {
		snprintf(err, errsz, "redis %s: %s", s->addr, s->rc ? s->rc->errstr : "out of memory");
		goto out;
	}
	redisSetTimeout(s->rc, tv);
	if (s->password) {
		if (s->user)
			r = redisCommand(s->rc, "AUTH %s %s", s->user, s->password);
		else
			r = redisCommand(s->rc, "AUTH %s", s->password);
		if (!r || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errsz, "redis %s: AUTH failed: %s", s->addr,
				 r ? r->str : s->rc->errstr);
			goto out;
		}
	}
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	if (ret < 0 && s->rc) {
		redisFree(s->rc);
		s->rc = NULL;
	}
	return ret;
}

struct store *store_open(const struct conf *conf, const char *prefix, char *err, size_t errsz)
{
	const char *pwfile = conf_get(conf, "redis-password-file");
	struct store *s = calloc(1, sizeof(*s));
	struct buf pw;

	buf_init(&pw);
	if (!s)
		goto fail;
	s->timeout_ms = 5000;
	s->prefix = store_strdup(prefix);
	s->addr = store_strdup(conf_get_def(conf, "redis", "127.0.0.1:6379"));
	s->user = store_strdup(conf_get(conf, "redis-user"));
	if (!s->prefix || !s->addr)
		goto fail;
	if (pwfile) {
		if (file_read(pwfile, 4096, 1, &pw, err, errsz) < 0)
			goto fail_msg;
		file_chomp(&pw);
		s->password = strdup(buf_str(&pw));
		if (!s->password)
			goto fail;
	}
	if (store_reconnect(s, err, errsz) < 0)
		goto fail_msg;
	buf_wipe(&pw);
	return s;
fail:
	snprintf(err, errsz, "out of memory");
fail_msg:
	buf_wipe(&pw);
	store_close(s);
	return NULL;
}

/* ---- hosts ---- */

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
	if (store_reconnect(s, err, errsz) < 0)
		goto out;
	r = redisCommandArgv(s->rc, argc, argv, argl);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errsz, "redis HSET %s: %s", buf_str(&key), r ? r->str : s->rc->errstr);
		goto out;
	}
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
	if (store_reconnect(s, err, errsz) < 0)
		goto out;
	r = redisCommand(s->rc, "HGET %b %s", key.data, key.len, field);
	if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
		snprintf(err, errsz, "redis HGET %s %s: %s", buf_str(&key), field,
			 r ? (r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type")
			   : s->rc->errstr);
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

/* ---- issuer ---- */

/* Forget a connection that failed mid-command (timeout): the next command reconnects instead
 * of reading a stale reply. */
static void store_issuer_drop(struct store *s)
{
	if (s->rc) {
		redisFree(s->rc);
		s->rc = NULL;
	}
}

/* Run one argv command for the issuer; the reply (caller frees) or NULL with <err>. */
static redisReply *store_issuer_cmd(struct store *s, int argc, const char **argv,
                                    const size_t *argl, char *err, size_t errsz)
{
	redisReply *r;

	if (store_reconnect(s, err, errsz) < 0)
		return NULL;
	r = redisCommandArgv(s->rc, argc, argv, argl);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errsz, "redis %s %.*s: %s", argv[0], argc > 1 ? (int)argl[1] : 0,
		         argc > 1 ? argv[1] : "", r ? r->str : s->rc->errstr);
		if (r)
			freeReplyObject(r);
		else
			store_issuer_drop(s); /* lost or timed out: reconnect next time */
		return NULL;
	}
	return r;
}

int store_chal_set(struct store *s, const char *token, const char *keyauth, long long ttl_s,
                   char *err, size_t errsz)
{
	const char *argv[5];
	size_t argl[5];
	char ttl[24];
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (keys_chal(&key, s->prefix, token, strlen(token)) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	snprintf(ttl, sizeof(ttl), "%lld", ttl_s);
	argv[0] = "SET", argl[0] = 3;
	argv[1] = buf_str(&key), argl[1] = key.len;
	argv[2] = keyauth, argl[2] = strlen(keyauth);
	argv[3] = "EX", argl[3] = 2;
	argv[4] = ttl, argl[4] = strlen(ttl);
	r = store_issuer_cmd(s, 5, argv, argl, err, errsz);
	if (!r)
		goto out;
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int store_chal_del(struct store *s, const char *token, char *err, size_t errsz)
{
	const char *argv[2];
	size_t argl[2];
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (keys_chal(&key, s->prefix, token, strlen(token)) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	argv[0] = "DEL", argl[0] = 3;
	argv[1] = buf_str(&key), argl[1] = key.len;
	r = store_issuer_cmd(s, 2, argv, argl, err, errsz);
	if (!r)
		goto out;
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int store_wait_replicas(struct store *s, long long replicas, long long timeout_ms, char *err,
                        size_t errsz)
{
	redisReply *r = NULL;
	int ret = -1;

	if (store_reconnect(s, err, errsz) < 0)
		goto out;
	r = redisCommand(s->rc, "WAIT %lld %lld", replicas, timeout_ms);
	if (!r || r->type != REDIS_REPLY_INTEGER) {
		snprintf(err, errsz, "redis WAIT: %s",
		         !r                             ? s->rc->errstr
		         : r->type == REDIS_REPLY_ERROR ? r->str
		                                        : "bad reply");
		if (!r)
			store_issuer_drop(s);
		goto out;
	}
	ret = r->integer > INT32_MAX ? INT32_MAX : (int)r->integer;
out:
	if (r)
		freeReplyObject(r);
	return ret;
}

int store_blob_fetch(struct store *s, const char *key, struct buf *out, char *err, size_t errsz)
{
	const char *argv[2] = { "GET", key };
	size_t argl[2] = { 3, strlen(key) };
	redisReply *r;
	int ret = -1;

	r = store_issuer_cmd(s, 2, argv, argl, err, errsz);
	if (!r)
		return -1;
	if (r->type == REDIS_REPLY_NIL) {
		ret = 0;
	} else if (r->type != REDIS_REPLY_STRING) {
		snprintf(err, errsz, "redis GET %s: unexpected reply type %d", key, r->type);
	} else if (buf_append(out, r->str, r->len) < 0) {
		snprintf(err, errsz, "out of memory");
	} else {
		ret = 1;
	}
	freeReplyObject(r);
	return ret;
}

int store_blob_store(struct store *s, const char *key, const struct buf *blob, char *err,
                     size_t errsz)
{
	const char *argv[3] = { "SET", key, (const char *)blob->data };
	size_t argl[3] = { 3, strlen(key), blob->len };
	redisReply *r;

	r = store_issuer_cmd(s, 3, argv, argl, err, errsz);
	if (!r)
		return -1;
	freeReplyObject(r);
	return 0;
}

int store_issue_begin(struct store *s, const char *name, char *err, size_t errsz)
{
	const char *argv[4];
	size_t argl[4];
	struct buf hosts, host;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&hosts);
	buf_init(&host);
	if (keys_hosts(&hosts, s->prefix) < 0 || keys_host(&host, s->prefix, name) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	argv[0] = "SADD", argl[0] = 4;
	argv[1] = buf_str(&hosts), argl[1] = hosts.len;
	argv[2] = name, argl[2] = strlen(name);
	if (!(r = store_issuer_cmd(s, 3, argv, argl, err, errsz)))
		goto out;
	freeReplyObject(r);
	argv[0] = "HINCRBY", argl[0] = 7;
	argv[1] = buf_str(&host), argl[1] = host.len;
	argv[2] = "attempts", argl[2] = 8;
	argv[3] = "1", argl[3] = 1;
	if (!(r = store_issuer_cmd(s, 4, argv, argl, err, errsz)))
		goto out;
	freeReplyObject(r);
	r = NULL;
	ret = 0;
out:
	buf_deinit(&hosts);
	buf_deinit(&host);
	return ret;
}

int store_publish_cert(struct store *s, const char *name, char *err, size_t errsz)
{
	const char *argv[3];
	size_t argl[3];
	struct buf chan, msg;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&chan);
	buf_init(&msg);
	if (keys_events(&chan, s->prefix) < 0 || buf_printf(&msg, "cert %s", name) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	argv[0] = "PUBLISH", argl[0] = 7;
	argv[1] = buf_str(&chan), argl[1] = chan.len;
	argv[2] = buf_str(&msg), argl[2] = msg.len;
	if (!(r = store_issuer_cmd(s, 3, argv, argl, err, errsz)))
		goto out;
	freeReplyObject(r);
	ret = 0;
out:
	buf_deinit(&chan);
	buf_deinit(&msg);
	return ret;
}

/* ---- loader ---- */
