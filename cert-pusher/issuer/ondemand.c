// SPDX-License-Identifier: MIT
/*
 * On-demand certificates: the issuer publishes its allow rules and asks the operator's
 * endpoint about new names (see ondemand.h).
 */
#include "cert-pusher/issuer/ondemand.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert-pusher/issuer/http.h"
#include "cert-pusher/store/store.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/names.h"

#define ONDEMAND_MAX_RULES 64

static const char ondemand_allow_script[] = "redis.call('DEL', KEYS[1]) "
                                            "if #ARGV > 0 then redis.call('SADD', KEYS[1], "
                                            "unpack(ARGV)) end "
                                            "return #ARGV";

int ondemand_allow_publish(struct pusher *p, char *err, size_t errsz)
{
	const char *v = conf_get(p->conf, "on-demand-allow"), *why;
	const char *argv[4 + ONDEMAND_MAX_RULES];
	size_t argl[4 + ONDEMAND_MAX_RULES];
	char *copy = NULL, *tok, *save = NULL;
	struct store *s = NULL;
	struct buf key;
	redisReply *r = NULL;
	int argc = 0, ret = -1;

	buf_init(&key);
	if (!v)
		return 0;
	copy = strdup(v);
	if (!copy || buf_printf(&key, "%sondemand:allow", p->prefix) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	argv[argc] = "EVAL", argl[argc++] = 4;
	argv[argc] = ondemand_allow_script, argl[argc++] = sizeof(ondemand_allow_script) - 1;
	argv[argc] = "1", argl[argc++] = 1;
	argv[argc] = buf_str(&key), argl[argc++] = key.len;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (tok[0] != '.' || !names_hostname_valid(tok + 1, &why) ||
		    strspn(tok + 1, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(tok + 1)) {
			snprintf(err, errsz,
			         "--on-demand-allow: '%.80s': expected .SUFFIX, a lowercase host "
			         "name after a dot (e.g. .customers.example)",
			         tok);
			goto out;
		}
		if (argc == (int)(sizeof(argv) / sizeof(argv[0]))) {
			snprintf(err, errsz, "--on-demand-allow: at most %d suffixes",
			         ONDEMAND_MAX_RULES);
			goto out;
		}
		argv[argc] = tok, argl[argc++] = strlen(tok);
	}
	if (argc == 4) {
		snprintf(err, errsz, "--on-demand-allow: empty; expected .SUFFIX[,.SUFFIX...]");
		goto out;
	}
	if (p->check_only) {
		ret = 0;
		goto out;
	}
	s = store_open(p->conf, p->prefix, err, errsz);
	if (!s)
		goto out;
	r = store_command(s, "EVAL DEL SADD (on-demand allow rules)", argc, argv, argl, err, errsz);
	if (!r)
		goto out;
	if (r->type != REDIS_REPLY_INTEGER) {
		snprintf(err, errsz, "on-demand allow rules: unexpected Redis reply type %d",
		         r->type);
		goto out;
	}
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	if (s)
		store_close(s);
	buf_deinit(&key);
	free(copy);
	return ret;
}

/* ---- --on-demand-ask ---- */

#define ONDEMAND_ASK_URL_MAX 2048

struct ondemand_ask {
	char *url;
	char *prefix;
	struct http_client *http;
};

int ondemand_ask_check(const struct conf *conf, char *err, size_t errsz)
{
	const char *u = conf_get(conf, "on-demand-ask");
	size_t i, len;

	if (!u)
		return 0;
	len = strlen(u);
	for (i = 0; i < len; i++)
		if ((unsigned char)u[i] <= ' ' || (unsigned char)u[i] >= 0x7f || u[i] == '#')
			break;
	if (len > ONDEMAND_ASK_URL_MAX || i < len ||
	    !((len > 7 && !strncmp(u, "http://", 7)) || (len > 8 && !strncmp(u, "https://", 8)))) {
		snprintf(err, errsz,
		         "--on-demand-ask: '%.80s': expected an http:// or https:// URL of at most "
		         "%d printable bytes, without spaces or '#'",
		         u, ONDEMAND_ASK_URL_MAX);
		return -1;
	}
	return 0;
}

int ondemand_ask_new(const struct conf *conf, const char *prefix, struct ondemand_ask **out,
                     char *err, size_t errsz)
{
	const char *u = conf_get(conf, "on-demand-ask");
	struct http_opts o = { .connect_timeout_ms = ONDEMAND_ASK_TIMEOUT_MS / 2,
		               .timeout_ms = ONDEMAND_ASK_TIMEOUT_MS,
		               .body_max = 4096,
		               /* the endpoint is the operator's own, usually http://localhost */
		               .allow_http = 1 };
	struct ondemand_ask *a = NULL;

	*out = NULL;
	if (!u)
		return 0;
	if (ondemand_ask_check(conf, err, errsz) < 0)
		return -1;
	a = calloc(1, sizeof(*a));
	if (!a || !(a->url = strdup(u)) || !(a->prefix = strdup(prefix))) {
		snprintf(err, errsz, "out of memory");
		ondemand_ask_free(a);
		return -1;
	}
	a->http = http_client_new(&o, err, errsz);
	if (!a->http) {
		ondemand_ask_free(a);
		return -1;
	}
	log_info("issuer: on-demand: new names are asked about at %s", a->url);
	*out = a;
	return 0;
}

void ondemand_ask_free(struct ondemand_ask *a)
{
	if (!a)
		return;
	http_client_free(a->http);
	free(a->url);
	free(a->prefix);
	free(a);
}

/* SET <prefix><what><name> <val> with a TTL; logged on failure (the decision stands). */
static void ondemand_ask_set(struct ondemand_ask *a, struct store *st, const char *what,
                             const char *name, const char *val, unsigned ttl_s)
{
	struct buf key;
	char ttl[24], err[512];
	const char *argv[5];
	size_t argl[5];
	redisReply *r = NULL;

	buf_init(&key);
	snprintf(ttl, sizeof(ttl), "%u", ttl_s);
	if (buf_printf(&key, "%s%s%s", a->prefix, what, name) < 0) {
		log_err("host=%s on-demand: out of memory", name);
		goto out;
	}
	argv[0] = "SET", argv[1] = buf_str(&key), argv[2] = val, argv[3] = "EX", argv[4] = ttl;
	for (int i = 0; i < 5; i++)
		argl[i] = strlen(argv[i]);
	r = store_command(st, "SET (on-demand ask)", 5, argv, argl, err, sizeof(err));
	if (!r)
		log_warn("host=%s on-demand: caching the ask answer: %s", name, err);
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
}

/* The cached answer for <name>: 1 allow, 0 deny, -1 none. */
static int ondemand_ask_cached(struct ondemand_ask *a, struct store *st, const char *name)
{
	struct buf key;
	const char *argv[2];
	size_t argl[2];
	char err[512];
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (buf_printf(&key, "%sondemand:ask:%s", a->prefix, name) < 0)
		goto out;
	argv[0] = "GET", argl[0] = 3;
	argv[1] = buf_str(&key), argl[1] = key.len;
	r = store_command(st, "GET (on-demand ask)", 2, argv, argl, err, sizeof(err));
	if (!r)
		log_warn("host=%s on-demand: reading the ask cache: %s", name, err);
	else if (r->type == REDIS_REPLY_STRING && r->len == 1 &&
	         (r->str[0] == '0' || r->str[0] == '1'))
		ret = r->str[0] == '1';
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int ondemand_ask_allows(struct ondemand_ask *a, struct store *st, const char *name)
{
	struct http_response res;
	struct buf url;
	const char *why;
	char err[512];
	int ok, cached;

	if (!names_hostname_valid(name, &why))
		return 0;
	cached = ondemand_ask_cached(a, st, name);
	if (cached >= 0) {
		ok = cached;
		log_info("host=%s on-demand: ask %s (cached)", name, ok ? "allows" : "refuses");
		goto neg;
	}
	http_response_init(&res);
	buf_init(&url);
	/* A valid hostname is [a-z0-9.-] only: nothing to escape in the query. */
	if (buf_printf(&url, "%s%cdomain=%s", a->url, strchr(a->url, '?') ? '&' : '?', name) < 0) {
		ok = 0;
		snprintf(err, sizeof(err), "out of memory");
	} else if (http_request(a->http, HTTP_METHOD_GET, buf_str(&url), NULL, 0, &res, err,
	                        sizeof(err)) < 0) {
		ok = 0;
	} else {
		ok = res.status == 200;
		snprintf(err, sizeof(err), "status %ld", res.status);
	}
	log_info("host=%s on-demand: ask %s (%s)", name, ok ? "allows" : "refuses", err);
	ondemand_ask_set(a, st, "ondemand:ask:", name, ok ? "1" : "0",
	                 ok ? ONDEMAND_ASK_ALLOW_TTL_S : ONDEMAND_ASK_DENY_TTL_S);
	http_response_deinit(&res);
	buf_deinit(&url);
neg:
	if (!ok)
		ondemand_ask_set(a, st, "ondemand:neg:", name, "1", ONDEMAND_ASK_DENY_TTL_S);
	return ok;
}
