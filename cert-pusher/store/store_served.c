// SPDX-License-Identifier: MIT
/*
 * Proof of deployment in Redis: each loader's `served:<edge>` hash and its heartbeat in the
 * `edges` zset (served.c formats and reads the fields). A loader's reports go over a connection
 * it holds open and never block it: a failure drops the connection and the report is rewritten.
 */
#include "cert-pusher/store/store.h"
#include "cert-pusher/store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/keys.h"

void store_served_timeout(struct store *s, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	s->timeout_ms = ms;
	if (s->rc && !s->rc->err)
		redisSetTimeout(s->rc, tv);
}

int store_served_connected(const struct store *s)
{
	return s->rc && !s->rc->err && !s->stale;
}

/* <cmd> served:<edge> <field> [<value>] on the connection <s> holds, without reconnecting. */
static int store_served_field_cmd(struct store *s, const char *cmd, const char *edge,
                                  const char *field, const char *value, char *err, size_t errsz)
{
	const char *argv[4];
	size_t argl[4];
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (!store_served_connected(s)) {
		snprintf(err, errsz, "redis %s: not connected", s->addr);
		goto out;
	}
	if (keys_served(&key, s->prefix, edge) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	argv[0] = cmd;
	argl[0] = strlen(cmd);
	argv[1] = buf_str(&key);
	argl[1] = key.len;
	argv[2] = field;
	argl[2] = strlen(field);
	argv[3] = value;
	argl[3] = value ? strlen(value) : 0;
	r = store_cmd(s, NULL, value ? 4 : 3, argv, argl, err, errsz);
	if (!r) {
		/* A refused command (ACL, OOM) leaves the connection usable, but the report is
		 * lost either way: dropping it keeps one rule, "rewrite after a failure". */
		store_drop(s);
		goto out;
	}
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int store_served_set(struct store *s, const char *edge, const char *field, const char *value,
                     char *err, size_t errsz)
{
	return store_served_field_cmd(s, "HSET", edge, field, value, err, errsz);
}

int store_served_del(struct store *s, const char *edge, const char *field, char *err, size_t errsz)
{
	return store_served_field_cmd(s, "HDEL", edge, field, NULL, err, errsz);
}

int store_served_rewrite(struct store *s, const char *edge, const struct strv *kv, long long now,
                         char *err, size_t errsz)
{
	struct store_argv cmds[3];
	int argc[3];
	const char **argv[3] = { NULL, NULL, NULL };
	size_t *argl[3] = { NULL, NULL, NULL };
	const char *del_v[2], *zadd_v[4];
	size_t del_l[2], zadd_l[4], i, npairs = kv->n / 2;
	struct buf key, edges;
	char at[32];
	int n = 0, ret = -1;

	buf_init(&key);
	buf_init(&edges);
	if (keys_served(&key, s->prefix, edge) < 0 || keys_edges(&edges, s->prefix) < 0)
		goto oom;
	snprintf(at, sizeof(at), "%lld", now);
	del_v[0] = "DEL";
	del_l[0] = 3;
	del_v[1] = buf_str(&key);
	del_l[1] = key.len;
	argc[n] = 2;
	argv[n] = del_v;
	argl[n++] = del_l;
	if (npairs) {
		argv[n] = calloc(2 + 2 * npairs, sizeof(*argv[n]));
		argl[n] = calloc(2 + 2 * npairs, sizeof(*argl[n]));
		if (!argv[n] || !argl[n]) {
			n++;
			goto oom;
		}
		argv[n][0] = "HSET";
		argl[n][0] = 4;
		argv[n][1] = buf_str(&key);
		argl[n][1] = key.len;
		for (i = 0; i < 2 * npairs; i++) {
			argv[n][2 + i] = kv->v[i];
			argl[n][2 + i] = strlen(kv->v[i]);
		}
		argc[n++] = (int)(2 + 2 * npairs);
	}
	zadd_v[0] = "ZADD";
	zadd_l[0] = 4;
	zadd_v[1] = buf_str(&edges);
	zadd_l[1] = edges.len;
	zadd_v[2] = at;
	zadd_l[2] = strlen(at);
	zadd_v[3] = edge;
	zadd_l[3] = strlen(edge);
	argc[n] = 4;
	argv[n] = zadd_v;
	argl[n++] = zadd_l;
	for (i = 0; i < (size_t)n; i++)
		cmds[i] = (struct store_argv){ argc[i], argv[i], argl[i] };
	ret = store_tx(s, "MULTI DEL HSET ZADD", (size_t)n, cmds, err, errsz);
	goto out;
oom:
	snprintf(err, errsz, "out of memory");
out:
	if (npairs) {
		free(argv[1]);
		free(argl[1]);
	}
	buf_deinit(&key);
	buf_deinit(&edges);
	return ret;
}

int store_served_heartbeat(struct store *s, const char *edge, long long now, char *err,
                           size_t errsz)
{
	struct buf key;
	char at[32];
	int ret = -1;

	buf_init(&key);
	snprintf(at, sizeof(at), "%lld", now);
	if (store_key_ok(keys_edges(&key, s->prefix), err, errsz))
		ret = store_do(s, 0, NULL, err, errsz, "ZADD", buf_str(&key), at, edge, NULL);
	buf_deinit(&key);
	return ret;
}

int store_served_forget(struct store *s, const char *edge, char *err, size_t errsz)
{
	struct buf key, edges;
	redisReply *r[2] = { NULL, NULL };
	const char *zrem[3], *del[2];
	struct store_argv cmds[2];
	int ret = -1, i;

	buf_init(&key);
	buf_init(&edges);
	if (!store_key_ok(keys_served(&key, s->prefix, edge), err, errsz) ||
	    !store_key_ok(keys_edges(&edges, s->prefix), err, errsz))
		goto out;
	zrem[0] = "ZREM";
	zrem[1] = buf_str(&edges);
	zrem[2] = edge;
	del[0] = "DEL";
	del[1] = buf_str(&key);
	cmds[0] = (struct store_argv){ 3, zrem, NULL };
	cmds[1] = (struct store_argv){ 2, del, NULL };
	if (store_pipeline(s, "ZREM edges, DEL served", 2, cmds, r, err, errsz) < 0)
		goto out;
	ret = 0;
	for (i = 0; i < 2; i++) {
		if (r[i]->type != REDIS_REPLY_INTEGER) {
			snprintf(err, errsz, "forget edge: unexpected reply type %d", r[i]->type);
			ret = -1;
		} else if (r[i]->integer > 0 && ret == 0) {
			ret = 1;
		}
		freeReplyObject(r[i]);
	}
out:
	buf_deinit(&key);
	buf_deinit(&edges);
	return ret;
}

int store_served_edges(struct store *s, size_t limit, struct strv *out, char *err, size_t errsz)
{
	const char *argv[5];
	size_t argl[5];
	struct buf key;
	char stop[32];
	redisReply *r = NULL;
	size_t i;
	int ret = -1;

	buf_init(&key);
	if (!limit) {
		ret = 0;
		goto out;
	}
	if (keys_edges(&key, s->prefix) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	snprintf(stop, sizeof(stop), "%zu", limit - 1);
	argv[0] = "ZREVRANGE";
	argl[0] = 9;
	argv[1] = buf_str(&key);
	argl[1] = key.len;
	argv[2] = "0";
	argl[2] = 1;
	argv[3] = stop;
	argl[3] = strlen(stop);
	argv[4] = "WITHSCORES";
	argl[4] = 10;
	r = store_cmd(s, NULL, 5, argv, argl, err, errsz);
	if (!r)
		goto out;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
		snprintf(err, errsz, "redis ZREVRANGE %s: unexpected reply", buf_str(&key));
		goto out;
	}
	for (i = 0; i < r->elements; i++) {
		if (r->element[i]->type != REDIS_REPLY_STRING) {
			snprintf(err, errsz, "redis ZREVRANGE %s: unexpected element",
			         buf_str(&key));
			goto out;
		}
	}
	if (store_reply_strings(r, out, "ZREVRANGE", err, errsz) < 0)
		goto out;
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int store_served_fields(struct store *s, const struct strv *edges, const char *const *fields,
                        size_t nfields, struct strv *out, char *err, size_t errsz)
{
	return store_hmget_each(s, keys_served, edges, fields, nfields, out, err, errsz);
}
