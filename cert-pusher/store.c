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

/* ---- issuer ---- */

/* ---- loader ---- */
