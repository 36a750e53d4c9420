// SPDX-License-Identifier: MIT
/*
 * Challenges and certificate blobs in Redis: the issuer's `chal:<token>` key authorizations and
 * sealed `cert:<name>:<type>` blobs, the `events` notices the loaders follow, import and rekey's
 * writes. Blobs are opaque here: sealing is blob.c's.
 */
#include "cert-pusher/store/store.h"
#include "cert-pusher/store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/keys.h"

int store_chal_set(struct store *s, const char *token, const char *keyauth, long long ttl_s,
                   char *err, size_t errsz)
{
	char ttl[24];
	struct buf key;
	int ret = -1;

	buf_init(&key);
	snprintf(ttl, sizeof(ttl), "%lld", ttl_s);
	if (store_key_ok(keys_chal(&key, s->prefix, token, strlen(token)), err, errsz))
		ret = store_do(s, 1, NULL, err, errsz, "SET", buf_str(&key), keyauth, "EX", ttl,
		               NULL);
	buf_deinit(&key);
	return ret;
}

int store_chal_del(struct store *s, const char *token, char *err, size_t errsz)
{
	struct buf key;
	int ret = -1;

	buf_init(&key);
	if (store_key_ok(keys_chal(&key, s->prefix, token, strlen(token)), err, errsz))
		ret = store_do(s, 0, NULL, err, errsz, "DEL", buf_str(&key), NULL);
	buf_deinit(&key);
	return ret;
}

int store_chal_track(struct store *s, const char *name, const char *token, long long ttl_s,
                     char *err, size_t errsz)
{
	char ttl[24];
	struct buf key;
	int ret = -1;

	buf_init(&key);
	snprintf(ttl, sizeof(ttl), "%lld", ttl_s);
	if (store_key_ok(keys_chals(&key, s->prefix, name), err, errsz) &&
	    !store_do(s, 1, NULL, err, errsz, "SADD", buf_str(&key), token, NULL) &&
	    !store_do(s, 1, NULL, err, errsz, "EXPIRE", buf_str(&key), ttl, NULL))
		ret = 0;
	buf_deinit(&key);
	return ret;
}

int store_chal_sweep(struct store *s, const char *name, char *err, size_t errsz)
{
	struct strv tokens = { 0 };
	struct buf key;
	size_t i;
	int ret = -1;

	buf_init(&key);
	if (!store_key_ok(keys_chals(&key, s->prefix, name), err, errsz))
		goto out;
	{
		redisReply *r =
		        store_cmds(s, "SMEMBERS", err, errsz, "SMEMBERS", buf_str(&key), NULL);
		int rc = r ? store_reply_strings(r, &tokens, "SMEMBERS", err, errsz) : -1;

		if (r)
			freeReplyObject(r);
		if (rc < 0)
			goto out;
	}
	for (i = 0; i < tokens.n; i++)
		if (store_chal_del(s, tokens.v[i], err, errsz) < 0)
			goto out;
	if (store_do(s, 0, NULL, err, errsz, "DEL", buf_str(&key), NULL) < 0)
		goto out;
	ret = (int)(tokens.n > 100000 ? 100000 : tokens.n);
out:
	strv_deinit(&tokens);
	buf_deinit(&key);
	return ret;
}

int store_blob_fetch(struct store *s, const char *key, struct buf *out, char *err, size_t errsz)
{
	const char *argv[2] = { "GET", key };
	size_t argl[2] = { 3, strlen(key) };
	redisReply *r;
	int ret = -1;

	r = store_cmd(s, NULL, 2, argv, argl, err, errsz);
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

	r = store_write(s, NULL, 3, argv, argl, err, errsz);
	if (!r)
		return -1;
	freeReplyObject(r);
	return 0;
}

int store_publish_cert(struct store *s, const char *name, char *err, size_t errsz)
{
	struct buf chan, msg;
	int ret = -1;

	buf_init(&chan);
	buf_init(&msg);
	if (store_key_ok(keys_events(&chan, s->prefix), err, errsz) &&
	    store_key_ok(buf_printf(&msg, "cert %s", name), err, errsz))
		ret = store_do(s, 1, NULL, err, errsz, "PUBLISH", buf_str(&chan), buf_str(&msg),
		               NULL);
	buf_deinit(&chan);
	buf_deinit(&msg);
	return ret;
}

int store_cert_import(struct store *s, const char *name, const char *type, const struct buf *blob,
                      char *err, size_t errsz)
{
	struct buf key, hosts, chan, msg;
	const char *a0[3], *a1[3], *a2[3];
	size_t l0[3], l1[3], l2[3];
	struct store_argv cmds[3] = { { 3, a0, l0 }, { 3, a1, l1 }, { 3, a2, l2 } };
	int ret = -1;

	buf_init(&key);
	buf_init(&hosts);
	buf_init(&chan);
	buf_init(&msg);
	if (keys_cert(&key, s->prefix, name, type) < 0 || keys_hosts(&hosts, s->prefix) < 0 ||
	    keys_events(&chan, s->prefix) < 0 || buf_printf(&msg, "cert %s", name) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	a0[0] = "SET", l0[0] = 3;
	a0[1] = buf_str(&key), l0[1] = key.len;
	a0[2] = (const char *)blob->data, l0[2] = blob->len;
	a1[0] = "SADD", l1[0] = 4;
	a1[1] = buf_str(&hosts), l1[1] = hosts.len;
	a1[2] = name, l1[2] = strlen(name);
	a2[0] = "PUBLISH", l2[0] = 7;
	a2[1] = buf_str(&chan), l2[1] = chan.len;
	a2[2] = buf_str(&msg), l2[2] = msg.len;
	ret = store_tx(s, "MULTI SET SADD PUBLISH", 3, cmds, err, errsz);
out:
	buf_deinit(&key);
	buf_deinit(&hosts);
	buf_deinit(&chan);
	buf_deinit(&msg);
	return ret;
}

/* Compare-and-set in one script: KEYS[1] the blob, ARGV[1] the value expected, ARGV[2] the new. */
static const char store_blob_swap_script[] =
        "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end "
        "redis.call('SET', KEYS[1], ARGV[2]) return 1";

int store_blob_swap(struct store *s, const char *key, const struct buf *old, const struct buf *nv,
                    char *err, size_t errsz)
{
	const char *argv[6] = { "EVAL", store_blob_swap_script,  "1",
		                key,    (const char *)old->data, (const char *)nv->data };
	size_t argl[6] = {
		4, sizeof(store_blob_swap_script) - 1, 1, strlen(key), old->len, nv->len
	};
	redisReply *r;
	long long v;

	r = store_cmd(s, "EVAL blob swap", 6, argv, argl, err, errsz);
	if (!r)
		return -1;
	v = store_reply_int(r, "EVAL blob swap", err, errsz);
	freeReplyObject(r);
	return v < 0 ? -1 : v == 1;
}
