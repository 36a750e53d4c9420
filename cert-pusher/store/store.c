// SPDX-License-Identifier: MIT
/*
 * Redis access for cert-pusher (hiredis, synchronous, with timeouts): the connection (direct,
 * --primary, or the primary Sentinel names), AUTH, the one command / pipeline / transaction
 * path every module of store/ goes through (store_int.h), and the replication checks. The
 * operations are in store_hosts.c, store_certs.c and store_served.c; the loader's events
 * subscription is edge/events.c.
 */
#include "cert-pusher/store/store.h"
#include "cert-pusher/store/store_int.h"

#include <hiredis.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/names.h"
#include "common/buf.h"
#include "common/file.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/parse.h"

#define STORE_SENTINELS_MAX       16
#define STORE_MASTER_NAME_MAX     64
#define STORE_SENTINEL_TIMEOUT_MS 1000 /* at most: a store's own timeout when shorter */
#define STORE_TIMEOUT_MS          5000 /* connect and command timeout by default */

/* Where the primary is when --sentinel is given: asked at every (re)connection, never cached. */
struct store_sentinel {
	char **addrs; /* validated "HOST:PORT" of each sentinel, owned */
	size_t n;
	size_t first;   /* the sentinel that answered last is asked first */
	char *master;   /* --sentinel-master, owned */
	char *user;     /* --sentinel-user or NULL, owned */
	char *password; /* --sentinel-password-file's content or NULL, owned, wiped on free */
};

/* Primaries Sentinel moved us to, and the last one seen (process-wide: one line per failover,
 * however many stores follow it). */
static atomic_ullong store_primary_changes;
static pthread_mutex_t store_primary_mu = PTHREAD_MUTEX_INITIALIZER;
static char store_primary_seen[300];

char *store_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Whether Redis error <str>/<len> means this connection must be dropped and the primary found
 * again: READONLY (the node was demoted to a replica), LOADING (restarting), MASTERDOWN (a
 * replica lost its primary), UNBLOCKED (a WAIT cut short by a role change). */
static int store_error_is_stale(const char *str, size_t len)
{
	static const char *const codes[] = { "READONLY", "LOADING", "MASTERDOWN", "UNBLOCKED" };
	size_t i, n;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		n = strlen(codes[i]);
		if (len >= n && !memcmp(str, codes[i], n) && (len == n || str[n] == ' '))
			return 1;
	}
	return 0;
}

/* Whether <name> is a usable Sentinel master name: 1..64 of [A-Za-z0-9._-]. */
static int store_master_name_valid(const char *name)
{
	return names_id_valid(name, strlen(name), STORE_MASTER_NAME_MAX);
}

static void store_sentinel_free(struct store_sentinel *sn)
{
	size_t i;

	if (!sn)
		return;
	for (i = 0; i < sn->n; i++)
		free(sn->addrs[i]);
	free(sn->addrs);
	free(sn->master);
	free(sn->user);
	if (sn->password) {
		OPENSSL_cleanse(sn->password, strlen(sn->password));
		free(sn->password);
	}
	free(sn);
}

/* Read the password in <path> (mode 0600 or stricter, one line) for <option> into a new string
 * (*out, wiped and freed by the caller). 0 or -1 with <err>. */
static int store_password_read(const char *option, const char *path, char **out, char *err,
                               size_t errsz)
{
	struct buf pw;
	char why[512];
	int ret = -1;

	buf_init(&pw);
	if (file_read(path, 4096, 1, &pw, why, sizeof(why)) < 0) {
		snprintf(err, errsz, "--%s: %s", option, why);
		goto out;
	}
	file_chomp(&pw);
	if (pw.len == 0 || memchr(pw.data, 0, pw.len) || memchr(pw.data, '\n', pw.len)) {
		snprintf(err, errsz, "--%s: '%s' must hold the password on one line", option, path);
		goto out;
	}
	*out = strdup(buf_str(&pw));
	if (!*out) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	ret = 0;
out:
	buf_wipe(&pw);
	return ret;
}

/* Parse the Sentinel options of <conf> into a new struct store_sentinel (NULL when --sentinel
 * is not given, which is not an error: check <err>[0]). Errors name the option. */
static struct store_sentinel *store_sentinel_new(const struct conf *conf, char *err, size_t errsz)
{
	const char *list = conf_get(conf, "sentinel");
	const char *master = conf_get_def(conf, "sentinel-master", STORE_SENTINEL_MASTER_DEFAULT);
	const char *pwfile = conf_get(conf, "sentinel-password-file");
	const char *user = conf_get(conf, "sentinel-user");
	struct store_sentinel *sn = NULL;
	struct endpoint ep;
	const char *p, *q, *why;
	char item[300], fmt[300];
	size_t len;

	err[0] = 0;
	if (!list) {
		if (conf_get(conf, "sentinel-master") || pwfile || user)
			snprintf(err, errsz, "--%s: needs --sentinel",
			         conf_get(conf, "sentinel-master") ? "sentinel-master"
			         : pwfile                          ? "sentinel-password-file"
			                                           : "sentinel-user");
		return NULL;
	}
	if (conf_get(conf, "primary")) {
		snprintf(err, errsz,
		         "--sentinel: not with --primary (Sentinel says where the "
		         "primary is)");
		return NULL;
	}
	if (!store_master_name_valid(master)) {
		snprintf(err, errsz,
		         "--sentinel-master: '%.80s' is not valid; expected 1 to %d of "
		         "[A-Za-z0-9._-]",
		         master, STORE_MASTER_NAME_MAX);
		return NULL;
	}
	if (user && !pwfile) {
		snprintf(err, errsz, "--sentinel-user: needs --sentinel-password-file");
		return NULL;
	}
	sn = calloc(1, sizeof(*sn));
	if (!sn || !(sn->master = strdup(master)) || (user && !(sn->user = strdup(user))) ||
	    !(sn->addrs = calloc(STORE_SENTINELS_MAX, sizeof(*sn->addrs))))
		goto oom;
	for (p = list;; p = q + 1) {
		q = strchr(p, ',');
		len = q ? (size_t)(q - p) : strlen(p);
		if (len == 0 || len >= sizeof(item)) {
			snprintf(err, errsz, "--sentinel: '%.200s': %s", list,
			         len ? "address too long" : "empty address in the list");
			goto fail;
		}
		memcpy(item, p, len);
		item[len] = 0;
		if (parse_endpoint(item, &ep, &why) < 0 || ep.is_unix || !ep.host[0]) {
			snprintf(err, errsz, "--sentinel: '%s': %s", item,
			         parse_endpoint(item, &ep, &why) < 0
			                 ? why
			                 : "expected HOST:PORT (TCP, a host)");
			goto fail;
		}
		if (sn->n == STORE_SENTINELS_MAX) {
			snprintf(err, errsz, "--sentinel: more than %d sentinels",
			         STORE_SENTINELS_MAX);
			goto fail;
		}
		parse_endpoint_format(&ep, fmt, sizeof(fmt));
		if (!(sn->addrs[sn->n] = strdup(fmt)))
			goto oom;
		sn->n++;
		if (!q)
			break;
	}
	if (pwfile &&
	    store_password_read("sentinel-password-file", pwfile, &sn->password, err, errsz) < 0)
		goto fail;
	return sn;
oom:
	snprintf(err, errsz, "out of memory");
fail:
	store_sentinel_free(sn);
	return NULL;
}

int store_conf_check(const struct conf *conf, char *err, size_t errsz)
{
	static const char *const addrs[] = { "redis", "primary" };
	struct store_sentinel *sn;
	struct endpoint ep;
	const char *v, *why;
	char *pw = NULL;
	size_t i;

	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		v = conf_get(conf, addrs[i]);
		if (v && parse_endpoint(v, &ep, &why) < 0) {
			snprintf(err, errsz, "--%s: '%.200s': %s", addrs[i], v, why);
			return -1;
		}
	}
	sn = store_sentinel_new(conf, err, errsz);
	if (!sn && err[0])
		return -1;
	store_sentinel_free(sn);
	v = conf_get(conf, "redis-password-file");
	if (v) {
		if (store_password_read("redis-password-file", v, &pw, err, errsz) < 0)
			return -1;
		OPENSSL_cleanse(pw, strlen(pw));
		free(pw);
	}
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->rc)
		redisFree(s->rc);
	store_sentinel_free(s->sentinel);
	free(s->prefix);
	free(s->addr);
	free(s->user);
	free(s->fence_key);
	free(s->fence_owner);
	if (s->password) {
		OPENSSL_cleanse(s->password, strlen(s->password));
		free(s->password);
	}
	free(s);
}

/* AUTH on <rc> when <password> is set (with <user> when set too). 0, or -1 with <err> naming
 * <kind> ("redis", "sentinel") and <label>. */
static int store_auth(redisContext *rc, const char *user, const char *password, const char *kind,
                      const char *label, char *err, size_t errsz)
{
	redisReply *r;
	int ret = 0;

	if (!password)
		return 0;
	r = user ? redisCommand(rc, "AUTH %s %s", user, password)
	         : redisCommand(rc, "AUTH %s", password);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errsz, "%s %s: AUTH failed: %s", kind, label,
		         r ? r->str : rc->errstr);
		ret = -1;
	}
	if (r)
		freeReplyObject(r);
	return ret;
}

/* Connect to <ep> (<label> for messages) with <s>'s timeout and credentials. Returns the
 * context (owned by the caller) or NULL with <err>. */
static redisContext *store_connect_ep(struct store *s, const struct endpoint *ep, const char *label,
                                      char *err, size_t errsz)
{
	struct timeval tv = { .tv_sec = s->timeout_ms / 1000,
		              .tv_usec = (s->timeout_ms % 1000) * 1000 };
	redisContext *rc;

	rc = ep->is_unix ? redisConnectUnixWithTimeout(ep->path, tv)
	                 : redisConnectWithTimeout(ep->host, ep->port, tv);
	if (!rc || rc->err) {
		snprintf(err, errsz, "redis %s: %s", label, rc ? rc->errstr : "out of memory");
		goto fail;
	}
	redisSetTimeout(rc, tv);
	if (store_auth(rc, s->user, s->password, "redis", label, err, errsz) < 0)
		goto fail;
	return rc;
fail:
	if (rc)
		redisFree(rc);
	return NULL;
}

/* Ask sentinel <saddr> where the primary of our master is, into <ep>. 0 or -1 with <err>. */
static int store_sentinel_ask(struct store *s, const char *saddr, struct endpoint *ep, char *err,
                              size_t errsz)
{
	struct store_sentinel *sn = s->sentinel;
	int ms = s->timeout_ms < STORE_SENTINEL_TIMEOUT_MS ? s->timeout_ms
	                                                   : STORE_SENTINEL_TIMEOUT_MS;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	struct endpoint sep;
	redisContext *c = NULL;
	redisReply *r = NULL;
	const char *why;
	uint64_t port;
	int ret = -1;

	if (parse_endpoint(saddr, &sep, &why) < 0) {
		snprintf(err, errsz, "sentinel %s: %s", saddr, why);
		goto out;
	}
	c = redisConnectWithTimeout(sep.host, sep.port, tv);
	if (!c || c->err) {
		snprintf(err, errsz, "sentinel %s: %s", saddr, c ? c->errstr : "out of memory");
		goto out;
	}
	redisSetTimeout(c, tv);
	if (store_auth(c, sn->user, sn->password, "sentinel", saddr, err, errsz) < 0)
		goto out;
	r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", sn->master);
	if (!r) {
		snprintf(err, errsz, "sentinel %s: %s", saddr, c->errstr);
		goto out;
	}
	if (r->type == REDIS_REPLY_NIL) {
		snprintf(err, errsz, "sentinel %s: does not monitor a master named '%s'", saddr,
		         sn->master);
		goto out;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errsz, "sentinel %s: %s", saddr, r->str);
		goto out;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING || r->element[0]->len == 0 ||
	    r->element[0]->len >= sizeof(ep->host) ||
	    strspn(r->element[0]->str, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                               "0123456789.:-_") != r->element[0]->len ||
	    parse_u64(r->element[1]->str, 1, 65535, &port) < 0) {
		snprintf(err, errsz, "sentinel %s: unexpected answer to get-master-addr-by-name",
		         saddr);
		goto out;
	}
	memset(ep, 0, sizeof(*ep));
	memcpy(ep->host, r->element[0]->str, r->element[0]->len + 1);
	ep->port = (uint16_t)port;
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	if (c)
		redisFree(c);
	return ret;
}

/* Whether <rc> is a primary right now (ROLE): Sentinel's answer may be stale during a
 * failover, and a demoted node must not take writes. 0 or -1 with <err>. */
static int store_role_master(redisContext *rc, const char *label, char *err, size_t errsz)
{
	redisReply *r = redisCommand(rc, "ROLE");
	int ret = -1;

	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		snprintf(err, errsz, "redis %s: ROLE: %s", label,
		         !r                             ? rc->errstr
		         : r->type == REDIS_REPLY_ERROR ? r->str
		                                        : "unexpected reply");
		goto out;
	}
	if (strcmp(r->element[0]->str, "master") != 0) {
		snprintf(err, errsz, "redis %s: is a %s, not a primary (failover in progress?)",
		         label, r->element[0]->str);
		goto out;
	}
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	return ret;
}

/* Note that the primary is now <addr>: a line when it changed (once per process). */
static void store_primary_note(const char *master, const char *addr, const char *sentinel)
{
	pthread_mutex_lock(&store_primary_mu);
	if (!store_primary_seen[0]) {
		log_info("redis: primary of '%s' is %s (sentinel %s)", master, addr, sentinel);
	} else if (strcmp(store_primary_seen, addr) != 0) {
		log_warn("redis: primary of '%s' changed from %s to %s (sentinel %s)", master,
		         store_primary_seen, addr, sentinel);
		atomic_fetch_add(&store_primary_changes, 1);
	}
	snprintf(store_primary_seen, sizeof(store_primary_seen), "%s", addr);
	pthread_mutex_unlock(&store_primary_mu);
}

/* Find the primary through the sentinels, in turn from the one that answered last, connect,
 * authenticate and check its ROLE. 0 with s->rc set, or -1 with <err>. */
static int store_sentinel_connect(struct store *s, char *err, size_t errsz)
{
	struct store_sentinel *sn = s->sentinel;
	struct endpoint ep;
	char why[512], named[512] = "", asked[512] = "", addr[300], *copy;
	redisContext *rc;
	size_t i, k;

	for (k = 0; k < sn->n; k++) {
		i = (sn->first + k) % sn->n;
		if (store_sentinel_ask(s, sn->addrs[i], &ep, asked, sizeof(asked)) < 0) {
			log_debug("redis: %s", asked);
			continue;
		}
		parse_endpoint_format(&ep, addr, sizeof(addr));
		rc = store_connect_ep(s, &ep, addr, why, sizeof(why));
		if (rc && store_role_master(rc, addr, why, sizeof(why)) < 0) {
			redisFree(rc);
			rc = NULL;
		}
		if (!rc) {
			/* What a live sentinel pointed at says more than a dead sentinel. */
			snprintf(named, sizeof(named), "sentinel %s: %.400s", sn->addrs[i], why);
			log_debug("redis: %s", named);
			continue;
		}
		copy = strdup(addr);
		if (!copy) {
			redisFree(rc);
			snprintf(err, errsz, "out of memory");
			return -1;
		}
		free(s->addr);
		s->addr = copy;
		s->rc = rc;
		sn->first = i;
		store_primary_note(sn->master, addr, sn->addrs[i]);
		return 0;
	}
	snprintf(err, errsz, "redis: no usable primary for '%s' from %zu sentinel(s): %s",
	         sn->master, sn->n, named[0] ? named : asked);
	return -1;
}

int store_reconnect(struct store *s, char *err, size_t errsz)
{
	struct endpoint ep;
	const char *why;

	if (s->rc && !s->rc->err && !s->stale)
		return 0;
	if (s->rc) {
		redisFree(s->rc);
		s->rc = NULL;
	}
	s->stale = 0;
	if (s->sentinel)
		return store_sentinel_connect(s, err, errsz);
	if (parse_endpoint(s->addr, &ep, &why) < 0) {
		snprintf(err, errsz, "--redis: '%s': %s", s->addr, why);
		return -1;
	}
	s->rc = store_connect_ep(s, &ep, s->addr, err, errsz);
	return s->rc ? 0 : -1;
}

/* Mark <s> stale when <r> (or an element of it: EXEC's array) is an error saying the node
 * cannot act as the primary. */
static void store_reply_stale(struct store *s, const redisReply *r)
{
	size_t i;

	if (!r || s->stale)
		return;
	if (r->type == REDIS_REPLY_ERROR && store_error_is_stale(r->str, r->len)) {
		s->stale = 1;
		log_warn("redis %s: '%.*s': dropping the connection, the next command finds the "
		         "primary again",
		         s->addr ? s->addr : "?", (int)(r->len > 120 ? 120 : r->len), r->str);
		return;
	}
	if (r->type == REDIS_REPLY_ARRAY)
		for (i = 0; i < r->elements; i++)
			store_reply_stale(s, r->element[i]);
}

void store_drop(struct store *s)
{
	if (s->rc) {
		redisFree(s->rc);
		s->rc = NULL;
	}
}

/* The label of a command in messages: <what>, else the command and its first argument. */
static const char *store_label(char *buf, size_t bufsz, const char *what, int argc,
                               const char **argv, const size_t *argl)
{
	if (what)
		return what;
	snprintf(buf, bufsz, "%s %.*s", argv[0],
	         argc > 1 ? (int)(argl[1] > 120 ? 120 : argl[1]) : 0, argc > 1 ? argv[1] : "");
	return buf;
}

int store_reply_check(struct store *s, redisReply *r, const char *what, char *err, size_t errsz)
{
	if (!r) {
		snprintf(err, errsz, "redis %s: %s", what,
		         s->rc && s->rc->errstr[0] ? s->rc->errstr : "connection lost");
		store_drop(s);
		return -1;
	}
	store_reply_stale(s, r);
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errsz, "redis %s: %s", what, r->str);
		return -1;
	}
	return 0;
}

redisReply *store_cmd(struct store *s, const char *what, int argc, const char **argv,
                      const size_t *argl, char *err, size_t errsz)
{
	char label[160];
	redisReply *r;

	what = store_label(label, sizeof(label), what, argc, argv, argl);
	if (store_reconnect(s, err, errsz) < 0)
		return NULL;
	r = redisCommandArgv(s->rc, argc, argv, argl);
	if (store_reply_check(s, r, what, err, errsz) < 0) {
		if (r)
			freeReplyObject(r);
		return NULL;
	}
	return r;
}

int store_pipeline(struct store *s, const char *what, size_t n, const struct store_argv *cmds,
                   redisReply **replies, char *err, size_t errsz)
{
	char ignored[64];
	redisReply *r;
	size_t i;
	int ret = 0;

	for (i = 0; i < n; i++)
		replies[i] = NULL;
	if (!n)
		return 0;
	if (store_reconnect(s, err, errsz) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (redisAppendCommandArgv(s->rc, cmds[i].argc, cmds[i].argv, cmds[i].argl) !=
		    REDIS_OK) {
			snprintf(err, errsz, "redis %s: out of memory", what);
			store_drop(s); /* part of the pipeline may be buffered */
			return -1;
		}
	}
	/* Every reply is read, so that the connection stays in step after an error reply. */
	for (i = 0; i < n; i++) {
		if (redisGetReply(s->rc, (void **)&r) != REDIS_OK)
			r = NULL;
		if (!r) {
			if (!ret)
				store_reply_check(s, NULL, what, err, errsz);
			else
				store_drop(s);
			ret = -1;
			break;
		}
		/* the first error is the one reported */
		if (store_reply_check(s, r, what, ret ? ignored : err,
		                      ret ? sizeof(ignored) : errsz) < 0)
			ret = -1;
		replies[i] = r;
	}
	if (ret < 0) {
		for (i = 0; i < n; i++) {
			if (replies[i])
				freeReplyObject(replies[i]);
			replies[i] = NULL;
		}
	}
	return ret;
}

int store_tx(struct store *s, const char *what, size_t n, const struct store_argv *cmds, char *err,
             size_t errsz)
{
	static const char *const multi[] = { "MULTI" }, *const exec[] = { "EXEC" };
	static const size_t multi_l[] = { 5 }, exec_l[] = { 4 };
	struct store_argv *all = calloc(n + 2, sizeof(*all));
	redisReply **rep = calloc(n + 2, sizeof(*rep));
	size_t i;
	int ret = -1;

	if (!all || !rep) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	all[0] = (struct store_argv){ 1, (const char **)multi, multi_l };
	for (i = 0; i < n; i++)
		all[1 + i] = cmds[i];
	all[n + 1] = (struct store_argv){ 1, (const char **)exec, exec_l };
	if (store_pipeline(s, what, n + 2, all, rep, err, errsz) < 0)
		goto out;
	if (rep[n + 1]->type != REDIS_REPLY_ARRAY || rep[n + 1]->elements != n) {
		snprintf(err, errsz, "redis %s: transaction aborted", what);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (rep[n + 1]->element[i]->type == REDIS_REPLY_ERROR) {
			snprintf(err, errsz, "redis %s: %s", what, rep[n + 1]->element[i]->str);
			goto out;
		}
	}
	ret = 0;
out:
	for (i = 0; rep && i < n + 2; i++)
		if (rep[i])
			freeReplyObject(rep[i]);
	free(rep);
	free(all);
	return ret;
}

int store_reply_strings(const redisReply *r, struct strv *out, const char *what, char *err,
                        size_t errsz)
{
	size_t i;

	if (r->type != REDIS_REPLY_ARRAY) {
		snprintf(err, errsz, "redis %s: unexpected reply type %d", what, r->type);
		return -1;
	}
	for (i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];
		int ok = e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_NIL;

		if (!ok) {
			snprintf(err, errsz, "redis %s: unexpected element type %d", what, e->type);
			return -1;
		}
		if (strv_push(out, e->type == REDIS_REPLY_NIL ? "" : e->str,
		              e->type == REDIS_REPLY_NIL ? 0 : e->len) < 0) {
			snprintf(err, errsz, "out of memory");
			return -1;
		}
	}
	return 0;
}

long long store_reply_int(const redisReply *r, const char *what, char *err, size_t errsz)
{
	if (r->type != REDIS_REPLY_INTEGER) {
		snprintf(err, errsz, "redis %s: unexpected reply type %d", what, r->type);
		return -1;
	}
	return r->integer;
}

/* store_cmd() or store_write() over the NUL-terminated strings of <ap>, up to NULL. */
static redisReply *store_vcmd(struct store *s, int write, const char *what, char *err, size_t errsz,
                              va_list ap)
{
	const char *argv[STORE_CMDS_MAX];
	size_t argl[STORE_CMDS_MAX];
	const char *a;
	int argc = 0;

	while ((a = va_arg(ap, const char *)) && argc < STORE_CMDS_MAX) {
		argv[argc] = a;
		argl[argc++] = strlen(a);
	}
	if (a || !argc) {
		snprintf(err, errsz, "redis %s: too many arguments", what ? what : "command");
		return NULL;
	}
	return write ? store_write(s, what, argc, argv, argl, err, errsz)
	             : store_cmd(s, what, argc, argv, argl, err, errsz);
}

redisReply *store_cmds(struct store *s, const char *what, char *err, size_t errsz, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, errsz);
	r = store_vcmd(s, 0, what, err, errsz, ap);
	va_end(ap);
	return r;
}

int store_do(struct store *s, int write, const char *what, char *err, size_t errsz, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, errsz);
	r = store_vcmd(s, write, what, err, errsz, ap);
	va_end(ap);
	if (!r)
		return -1;
	freeReplyObject(r);
	return 0;
}

int store_key_ok(int rc, char *err, size_t errsz)
{
	if (rc >= 0)
		return 1;
	snprintf(err, errsz, "out of memory");
	return 0;
}

/*
 * The fence of store_fence(): KEYS[1] is the lock, ARGV[1] its owner, ARGV[2..] the write. The
 * comparison and the write are one script, so nothing runs between them. The keys the write
 * touches are not declared in KEYS: spoacme runs standalone Redis (with Sentinel), not Cluster.
 */
static const char store_fence_script[] =
        "if redis.call('GET', KEYS[1]) ~= ARGV[1] then "
        "return redis.error_reply('LOCKLOST the host lock is no longer ours') end "
        "return redis.call(unpack(ARGV, 2))";

/* store_cmd() for a write: fenced in one EVAL when the store is (store_fence()). */
redisReply *store_write(struct store *s, const char *what, int argc, const char **argv,
                        const size_t *argl, char *err, size_t errsz)
{
	const char **fargv = NULL;
	size_t *fargl = NULL;
	redisReply *r = NULL;
	char label[160];
	int i;

	if (!s->fence_key)
		return store_cmd(s, what, argc, argv, argl, err, errsz);
	fargv = malloc((size_t)(argc + 5) * sizeof(*fargv));
	fargl = malloc((size_t)(argc + 5) * sizeof(*fargl));
	if (!fargv || !fargl) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	if (!what) {
		snprintf(label, sizeof(label), "%s %.*s", argv[0], argc > 1 ? (int)argl[1] : 0,
		         argc > 1 ? argv[1] : "");
		what = label;
	}
	fargv[0] = "EVAL", fargl[0] = 4;
	fargv[1] = store_fence_script, fargl[1] = sizeof(store_fence_script) - 1;
	fargv[2] = "1", fargl[2] = 1;
	fargv[3] = s->fence_key, fargl[3] = strlen(s->fence_key);
	fargv[4] = s->fence_owner, fargl[4] = strlen(s->fence_owner);
	for (i = 0; i < argc; i++) {
		fargv[5 + i] = argv[i];
		fargl[5 + i] = argl[i];
	}
	r = store_cmd(s, what, argc + 5, fargv, fargl, err, errsz);
out:
	free(fargv);
	free(fargl);
	return r;
}

int store_fence(struct store *s, const char *name, const char *owner, char *err, size_t errsz)
{
	struct buf key;
	int ret = -1;

	free(s->fence_key);
	free(s->fence_owner);
	s->fence_key = s->fence_owner = NULL;
	if (!name)
		return 0;
	buf_init(&key);
	if (keys_lock(&key, s->prefix, name) < 0 || !(s->fence_key = store_strdup(buf_str(&key))) ||
	    !(s->fence_owner = store_strdup(owner))) {
		free(s->fence_key);
		s->fence_key = NULL;
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	ret = 0;
out:
	buf_deinit(&key);
	return ret;
}

/* Open a store on the primary (<primary>: --sentinel, else --primary, else --redis) or on
 * --redis, defaulting to 127.0.0.1:6379. */
static struct store *store_open_addr(const struct conf *conf, const char *prefix, int primary,
                                     int timeout_ms, char *err, size_t errsz)
{
	const char *pwfile = conf_get(conf, "redis-password-file");
	const char *addr = primary ? conf_get(conf, "primary") : NULL;
	struct store *s = calloc(1, sizeof(*s));

	if (!s)
		goto fail;
	s->timeout_ms = timeout_ms;
	s->prefix = store_strdup(prefix);
	s->addr = store_strdup(addr ? addr : conf_get_def(conf, "redis", "127.0.0.1:6379"));
	s->user = store_strdup(conf_get(conf, "redis-user"));
	if (!s->prefix || !s->addr)
		goto fail;
	if (pwfile &&
	    store_password_read("redis-password-file", pwfile, &s->password, err, errsz) < 0)
		goto fail_msg;
	if (primary) {
		s->sentinel = store_sentinel_new(conf, err, errsz);
		if (!s->sentinel && err[0])
			goto fail_msg;
	}
	if (store_reconnect(s, err, errsz) < 0)
		goto fail_msg;
	return s;
fail:
	snprintf(err, errsz, "out of memory");
fail_msg:
	store_close(s);
	return NULL;
}

struct store *store_open(const struct conf *conf, const char *prefix, char *err, size_t errsz)
{
	return store_open_addr(conf, prefix, 1, STORE_TIMEOUT_MS, err, errsz);
}

struct store *store_open_timeout(const struct conf *conf, const char *prefix, int timeout_ms,
                                 char *err, size_t errsz)
{
	return store_open_addr(conf, prefix, 1, timeout_ms, err, errsz);
}

struct store *store_open_local(const struct conf *conf, const char *prefix, char *err, size_t errsz)
{
	return store_open_addr(conf, prefix, 0, STORE_TIMEOUT_MS, err, errsz);
}

unsigned long long store_primary_changes_total(void)
{
	return atomic_load(&store_primary_changes);
}

void store_metrics(struct buf *out, void *arg)
{
	(void)arg;
	buf_printf(out,
	           "# HELP spoacme_redis_primary_changes_total Times Sentinel moved this process "
	           "to another Redis primary.\n"
	           "# TYPE spoacme_redis_primary_changes_total counter\n"
	           "spoacme_redis_primary_changes_total %llu\n",
	           store_primary_changes_total());
}

int store_ping(struct store *s, char *err, size_t errsz)
{
	redisReply *r = NULL;
	int ret = -1;

	r = store_cmds(s, "PING", err, errsz, "PING", NULL);
	if (!r)
		goto out;
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	return ret;
}

int store_in_sync(struct store *s, char *err, size_t errsz)
{
	redisReply *r = NULL, *e;
	int ret = -1;

	/* ROLE: ["master", ...] or ["slave", host, port, link state, offset] */
	r = store_cmds(s, "ROLE", err, errsz, "ROLE", NULL);
	if (!r)
		goto out;
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_STRING) {
		snprintf(err, errsz, "redis ROLE: unexpected reply");
		goto out;
	}
	if (!strcmp(r->element[0]->str, "master")) {
		ret = 1;
		goto out;
	}
	e = r->elements >= 4 ? r->element[3] : NULL;
	if (!strcmp(r->element[0]->str, "slave") && e && e->type == REDIS_REPLY_STRING &&
	    !strcmp(e->str, "connected")) {
		ret = 1;
		goto out;
	}
	snprintf(err, errsz, "redis %s is a replica whose link to its primary is '%s'", s->addr,
	         e && e->type == REDIS_REPLY_STRING ? e->str : "unknown");
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	return ret;
}

int store_wait_replicas(struct store *s, long long replicas, long long timeout_ms, char *err,
                        size_t errsz)
{
	char nrep[32], ms[32];
	struct timeval tv;
	redisReply *r = NULL;
	int ret = -1;

	if (store_reconnect(s, err, errsz) < 0)
		goto out;
	snprintf(nrep, sizeof(nrep), "%lld", replicas);
	snprintf(ms, sizeof(ms), "%lld", timeout_ms);
	/* WAIT blocks up to <timeout_ms>: the socket must outlast it, or a slow acknowledgement
	 * would read as a lost connection. */
	tv.tv_sec = (timeout_ms + s->timeout_ms) / 1000;
	tv.tv_usec = ((timeout_ms + s->timeout_ms) % 1000) * 1000;
	redisSetTimeout(s->rc, tv);
	r = store_cmds(s, "WAIT", err, errsz, "WAIT", nrep, ms, NULL);
	tv.tv_sec = s->timeout_ms / 1000;
	tv.tv_usec = (s->timeout_ms % 1000) * 1000;
	if (s->rc && !s->rc->err)
		redisSetTimeout(s->rc, tv);
	if (!r || store_reply_int(r, "WAIT", err, errsz) < 0)
		goto out;
	ret = r->integer > INT32_MAX ? INT32_MAX : (int)r->integer;
out:
	if (r)
		freeReplyObject(r);
	return ret;
}

int store_replicas_connected(struct store *s, char *err, size_t errsz)
{
	redisReply *r;
	int ret = -1;

	/* ROLE on a primary: ["master", offset, [[ip, port, offset], ...]], online replicas. */
	r = store_cmds(s, "ROLE", err, errsz, "ROLE", NULL);
	if (!r)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "master") ||
	    r->element[2]->type != REDIS_REPLY_ARRAY)
		snprintf(err, errsz, "redis ROLE: %s is not a primary", s->addr);
	else
		ret = r->element[2]->elements > 1000 ? 1000 : (int)r->element[2]->elements;
	freeReplyObject(r);
	return ret;
}

int store_scan_keys(struct store *s, const char *pattern, struct strv *out, char *err, size_t errsz)
{
	char cursor[32] = "0";
	redisReply *r = NULL, *keys;
	size_t i;
	int ret = -1;

	do {
		r = store_cmds(s, "SCAN", err, errsz, "SCAN", cursor, "MATCH", pattern, "COUNT",
		               "1000", NULL);
		if (!r)
			goto out;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= sizeof(cursor) ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			snprintf(err, errsz, "redis SCAN %s: unexpected reply", pattern);
			goto out;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len);
		cursor[r->element[0]->len] = 0;
		keys = r->element[1];
		for (i = 0; i < keys->elements; i++) {
			if (keys->element[i]->type != REDIS_REPLY_STRING)
				continue;
			if (strv_push(out, keys->element[i]->str, keys->element[i]->len) < 0) {
				snprintf(err, errsz, "out of memory");
				goto out;
			}
		}
		freeReplyObject(r);
		r = NULL;
	} while (strcmp(cursor, "0"));
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	return ret;
}

redisReply *store_command(struct store *s, const char *what, int argc, const char **argv,
                          const size_t *argl, char *err, size_t errsz)
{
	return store_cmd(s, what, argc, argv, argl, err, errsz);
}
