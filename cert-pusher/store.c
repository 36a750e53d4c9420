// SPDX-License-Identifier: MIT
/*
 * Redis access for cert-pusher (hiredis, synchronous, with timeouts). Connection handling lives
 * here; the issuer's and the loader's operations follow in their own sections. Replies are
 * checked for type before use; errors name the command and the Redis error text.
 */
#include "cert-pusher/store.h"

#include <hiredis.h>
#include <async.h>
#include <adapters/libevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/file.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/parse.h"

/* ---- connection ---- */

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

/* hiredis's reply builders, wrapped so that an error reply saying the node cannot serve as
 * the primary marks the connection stale (store_reply_error). */
static redisReplyObjectFunctions store_reply_fn;
static void *(*store_hiredis_string)(const redisReadTask *, char *, size_t);
static pthread_once_t store_reply_once = PTHREAD_ONCE_INIT;

static char *store_strdup(const char *s)
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

/* Every reply of a store's connection is built here (hiredis reads error lines with
 * createString): the check sits under every command, pipelined or not. */
static void *store_reply_string(const redisReadTask *task, char *str, size_t len)
{
	struct store *s = task->privdata;

	if (s && task->type == REDIS_REPLY_ERROR && store_error_is_stale(str, len) && !s->stale) {
		s->stale = 1;
		log_warn("redis %s: '%.*s': dropping the connection, the next command finds the "
		         "primary again",
		         s->addr ? s->addr : "?", (int)(len > 120 ? 120 : len), str);
	}
	return store_hiredis_string(task, str, len);
}

static void store_reply_init(void)
{
	redisReader *r = redisReaderCreate();

	if (!r)
		return;
	store_reply_fn = *r->fn;
	store_hiredis_string = store_reply_fn.createString;
	store_reply_fn.createString = store_reply_string;
	redisReaderFree(r);
}

/* Route <rc>'s replies through store_reply_string() on behalf of <s>. */
static void store_reply_hook(struct store *s, redisContext *rc)
{
	pthread_once(&store_reply_once, store_reply_init);
	if (!store_hiredis_string || !rc->reader)
		return;
	rc->reader->fn = &store_reply_fn;
	rc->reader->privdata = s;
}

/* Whether <name> is a usable Sentinel master name: 1..64 of [A-Za-z0-9._-]. */
static int store_master_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 || n > STORE_MASTER_NAME_MAX)
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
	       n;
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
	store_reply_hook(s, rc);
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

/* Forget a connection that failed mid-command (timeout, lost, or a pipeline out of step with
 * replies still unread): the next command reconnects instead of reading a stale reply. */
static void store_drop(struct store *s)
{
	if (s->rc) {
		redisFree(s->rc);
		s->rc = NULL;
	}
}

/* Run one argv command, reconnecting first if needed. Returns the reply (caller frees) or NULL
 * with <err> naming <what> (or the command and its key when <what> is NULL) and the Redis
 * error; a lost connection is dropped so the next command reconnects. */
static redisReply *store_cmd(struct store *s, const char *what, int argc, const char **argv,
                             const size_t *argl, char *err, size_t errsz)
{
	redisReply *r;

	if (store_reconnect(s, err, errsz) < 0)
		return NULL;
	r = redisCommandArgv(s->rc, argc, argv, argl);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		if (what)
			snprintf(err, errsz, "redis %s: %s", what, r ? r->str : s->rc->errstr);
		else
			snprintf(err, errsz, "redis %s %.*s: %s", argv[0],
			         argc > 1 ? (int)argl[1] : 0, argc > 1 ? argv[1] : "",
			         r ? r->str : s->rc->errstr);
		if (r)
			freeReplyObject(r);
		else
			store_drop(s);
		return NULL;
	}
	return r;
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
static redisReply *store_write(struct store *s, const char *what, int argc, const char **argv,
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
	           "# HELP pusher_redis_primary_changes_total Times Sentinel moved this process "
	           "to another Redis primary.\n"
	           "# TYPE pusher_redis_primary_changes_total counter\n"
	           "pusher_redis_primary_changes_total %llu\n",
	           store_primary_changes_total());
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

/* ---- hosts: set, due zset, locks (hosts.c, scheduler.c) ---- */

void store_strv_deinit(struct store_strv *sv)
{
	size_t i;

	if (!sv)
		return;
	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

int store_strv_push(struct store_strv *sv, const char *p, size_t len)
{
	char **nv, *copy;

	copy = malloc(len + 1);
	if (!copy)
		return -1;
	memcpy(copy, p, len);
	copy[len] = 0;
	nv = realloc(sv->v, (sv->n + 1) * sizeof(*nv));
	if (!nv) {
		free(copy);
		return -1;
	}
	sv->v = nv;
	sv->v[sv->n++] = copy;
	return 0;
}

/* Whether <r> is a usable reply; otherwise describe the failure of <what> in <err>. */
static int store_hosts_reply_ok(struct store *s, redisReply *r, const char *what, char *err,
                                size_t errsz)
{
	if (!r) {
		snprintf(err, errsz, "redis %s: %s", what, s->rc ? s->rc->errstr : "not connected");
		return 0;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errsz, "redis %s: %s", what, r->str);
		return 0;
	}
	return 1;
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
	const char *argv[3] = { "SISMEMBER", NULL, name };
	size_t argl[3] = { 9, 0, strlen(name) };
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (keys_hosts(&key, s->prefix) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	argv[1] = buf_str(&key);
	argl[1] = key.len;
	r = store_cmd(s, "SISMEMBER", 3, argv, argl, err, errsz);
	if (!r)
		goto out;
	if (r->type != REDIS_REPLY_INTEGER) {
		snprintf(err, errsz, "redis SISMEMBER: unexpected reply type %d", r->type);
		goto out;
	}
	ret = r->integer ? 1 : 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

/* Append the string elements of array reply <r> to <out> (nil -> ""). 0 or -1. */
static int store_hosts_array(const redisReply *r, struct store_strv *out, const char *what,
                             char *err, size_t errsz)
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
		if (store_strv_push(out, e->type == REDIS_REPLY_NIL ? "" : e->str,
		                    e->type == REDIS_REPLY_NIL ? 0 : e->len) < 0) {
			snprintf(err, errsz, "out of memory");
			return -1;
		}
	}
	return 0;
}

int store_hosts_members(struct store *s, struct store_strv *out, char *err, size_t errsz)
{
	const char *argv[2] = { "SMEMBERS", NULL };
	size_t argl[2] = { 8, 0 };
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (keys_hosts(&key, s->prefix) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	argv[1] = buf_str(&key);
	argl[1] = key.len;
	r = store_cmd(s, "SMEMBERS", 2, argv, argl, err, errsz);
	if (!r || store_hosts_array(r, out, "SMEMBERS", err, errsz) < 0)
		goto out;
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int store_host_get_all(struct store *s, const char *name, struct store_strv *out, char *err,
                       size_t errsz)
{
	const char *argv[2] = { "HGETALL", NULL };
	size_t argl[2] = { 7, 0 };
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (store_hosts_key(&key, keys_host, s->prefix, name, err, errsz) < 0)
		goto out;
	argv[1] = buf_str(&key);
	argl[1] = key.len;
	r = store_cmd(s, "HGETALL", 2, argv, argl, err, errsz);
	if (!r || store_hosts_array(r, out, "HGETALL", err, errsz) < 0)
		goto out;
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

/* HMGET <fields> of the key <fn> builds from each of <names>, pipelined in one round trip;
 * <out> gets names->n * nfields strings in that order ("" for absent fields). Nothing is sent
 * when there are no names or no fields. 0 or -1. */
static int store_hmget_each(struct store *s, int (*fn)(struct buf *, const char *, const char *),
                            const struct store_strv *names, const char *const *fields,
                            size_t nfields, struct store_strv *out, char *err, size_t errsz)
{
	const char **argv = NULL;
	size_t *argl = NULL, i, j, sent = 0;
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (!names->n || !nfields) {
		ret = 0; /* HMGET needs a field: nothing asked, nothing to read */
		goto out;
	}
	argv = calloc(2 + nfields, sizeof(*argv));
	argl = calloc(2 + nfields, sizeof(*argl));
	if (!argv || !argl) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	if (store_reconnect(s, err, errsz) < 0)
		goto out;
	argv[0] = "HMGET";
	argl[0] = 5;
	for (j = 0; j < nfields; j++) {
		argv[2 + j] = fields[j];
		argl[2 + j] = strlen(fields[j]);
	}
	for (i = 0; i < names->n; i++, sent++) {
		if (store_hosts_key(&key, fn, s->prefix, names->v[i], err, errsz) < 0)
			goto drop;
		argv[1] = buf_str(&key);
		argl[1] = key.len;
		if (redisAppendCommandArgv(s->rc, (int)(2 + nfields), argv, argl) != REDIS_OK) {
			snprintf(err, errsz, "out of memory");
			goto drop;
		}
	}
	for (i = 0; i < sent; i++) {
		if (redisGetReply(s->rc, (void **)&r) != REDIS_OK)
			r = NULL;
		if (!store_hosts_reply_ok(s, r, "HMGET", err, errsz) ||
		    store_hosts_array(r, out, "HMGET", err, errsz) < 0 || r->elements != nfields) {
			if (r && r->type == REDIS_REPLY_ARRAY && r->elements != nfields)
				snprintf(err, errsz, "redis HMGET: unexpected reply length");
			goto drop;
		}
		freeReplyObject(r);
		r = NULL;
	}
	ret = 0;
	goto out;
drop:
	store_drop(s); /* replies may be left unread */
out:
	if (r)
		freeReplyObject(r);
	free(argv);
	free(argl);
	buf_deinit(&key);
	return ret;
}

int store_hosts_fields(struct store *s, const struct store_strv *names, const char *const *fields,
                       size_t nfields, struct store_strv *out, char *err, size_t errsz)
{
	return store_hmget_each(s, keys_host, names, fields, nfields, out, err, errsz);
}

int store_host_del_field(struct store *s, const char *name, const char *field, char *err,
                         size_t errsz)
{
	const char *argv[3] = { "HDEL", NULL, field };
	size_t argl[3] = { 4, 0, strlen(field) };
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (store_hosts_key(&key, keys_host, s->prefix, name, err, errsz) < 0)
		goto out;
	argv[1] = buf_str(&key);
	argl[1] = key.len;
	r = store_write(s, "HDEL", 3, argv, argl, err, errsz);
	if (!r)
		goto out;
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int store_due_set(struct store *s, const char *name, long long at, char *err, size_t errsz)
{
	const char *argv[4] = { "ZADD", NULL, NULL, name };
	size_t argl[4] = { 4, 0, 0, strlen(name) };
	struct buf key;
	char score[32];
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (keys_due(&key, s->prefix) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	snprintf(score, sizeof(score), "%lld", at);
	argv[1] = buf_str(&key);
	argl[1] = key.len;
	argv[2] = score;
	argl[2] = strlen(score);
	r = store_write(s, "ZADD", 4, argv, argl, err, errsz);
	if (!r)
		goto out;
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int store_due_remove(struct store *s, const char *name, char *err, size_t errsz)
{
	const char *argv[3] = { "ZREM", NULL, name };
	size_t argl[3] = { 4, 0, strlen(name) };
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (keys_due(&key, s->prefix) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	argv[1] = buf_str(&key);
	argl[1] = key.len;
	r = store_write(s, "ZREM", 3, argv, argl, err, errsz);
	if (!r)
		goto out;
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int store_due_get(struct store *s, const char *name, long long *at, char *err, size_t errsz)
{
	const char *argv[3] = { "ZSCORE", NULL, name };
	size_t argl[3] = { 6, 0, strlen(name) };
	struct buf key;
	redisReply *r = NULL;
	char *end;
	double d;
	int ret = -1;

	buf_init(&key);
	if (keys_due(&key, s->prefix) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	argv[1] = buf_str(&key);
	argl[1] = key.len;
	r = store_cmd(s, "ZSCORE", 3, argv, argl, err, errsz);
	if (!r)
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

int store_due_range(struct store *s, long long now, size_t limit, struct store_strv *out, char *err,
                    size_t errsz)
{
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (keys_due(&key, s->prefix) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	if (store_reconnect(s, err, errsz) < 0)
		goto out;
	/* hiredis 0.14's format knows %lld but not %zu */
	r = redisCommand(s->rc, "ZRANGEBYSCORE %b -inf %lld LIMIT 0 %lld", key.data, key.len, now,
	                 (long long)limit);
	if (!store_hosts_reply_ok(s, r, "ZRANGEBYSCORE", err, errsz) ||
	    store_hosts_array(r, out, "ZRANGEBYSCORE", err, errsz) < 0)
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
	struct buf key;
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (store_hosts_key(&key, keys_lock, s->prefix, name, err, errsz) < 0)
		goto out;
	if (store_reconnect(s, err, errsz) < 0)
		goto out;
	r = redisCommand(s->rc, "SET %b %s NX PX %lld", key.data, key.len, owner, ttl_ms);
	if (!store_hosts_reply_ok(s, r, "SET NX PX", err, errsz))
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

int store_host_purge(struct store *s, const char *name, const char *owner, char *err, size_t errsz)
{
	struct buf lock, host, ecdsa, rsa, due, hosts, events, msg;
	redisReply *r = NULL;
	int ret = -1, watching = 0, own = 0, n, i;

	buf_init(&lock);
	buf_init(&host);
	buf_init(&ecdsa);
	buf_init(&rsa);
	buf_init(&due);
	buf_init(&hosts);
	buf_init(&events);
	buf_init(&msg);
	if (keys_lock(&lock, s->prefix, name) < 0 || keys_host(&host, s->prefix, name) < 0 ||
	    keys_cert(&ecdsa, s->prefix, name, KEYS_TYPE_ECDSA) < 0 ||
	    keys_cert(&rsa, s->prefix, name, KEYS_TYPE_RSA) < 0 || keys_due(&due, s->prefix) < 0 ||
	    keys_hosts(&hosts, s->prefix) < 0 || keys_events(&events, s->prefix) < 0 ||
	    buf_printf(&msg, "del %s", name) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	if (store_reconnect(s, err, errsz) < 0)
		goto out;
	r = redisCommand(s->rc, "WATCH %b", lock.data, lock.len);
	if (!store_hosts_reply_ok(s, r, "WATCH", err, errsz))
		goto out;
	watching = 1;
	freeReplyObject(r);
	r = redisCommand(s->rc, "GET %b", lock.data, lock.len);
	if (!store_hosts_reply_ok(s, r, "GET lock", err, errsz))
		goto out;
	if (r->type == REDIS_REPLY_STRING) {
		own = owner && strlen(owner) == r->len && !strcmp(owner, r->str);
		if (!own) {
			ret = 0;
			goto out;
		}
	}
	freeReplyObject(r);
	r = NULL;
	redisAppendCommand(s->rc, "MULTI");
	redisAppendCommand(s->rc, "DEL %b %b %b", host.data, host.len, ecdsa.data, ecdsa.len,
	                   rsa.data, rsa.len);
	redisAppendCommand(s->rc, "ZREM %b %s", due.data, due.len, name);
	redisAppendCommand(s->rc, "SREM %b %s", hosts.data, hosts.len, name);
	redisAppendCommand(s->rc, "PUBLISH %b %b", events.data, events.len, msg.data, msg.len);
	n = 6;
	if (own) {
		redisAppendCommand(s->rc, "DEL %b", lock.data, lock.len);
		n++;
	}
	redisAppendCommand(s->rc, "EXEC");
	watching = 0;
	for (i = 0; i < n; i++) {
		if (redisGetReply(s->rc, (void **)&r) != REDIS_OK)
			r = NULL;
		if (!store_hosts_reply_ok(s, r, "MULTI DEL ZREM SREM PUBLISH EXEC", err, errsz)) {
			store_drop(s);
			goto out;
		}
		if (i < n - 1) {
			freeReplyObject(r);
			r = NULL;
		}
	}
	/* nil: an issuer took the lock between our GET and EXEC; nothing was removed. */
	ret = r->type == REDIS_REPLY_ARRAY ? 1 : 0;
out:
	if (r)
		freeReplyObject(r);
	if (watching && s->rc && !s->rc->err) {
		r = redisCommand(s->rc, "UNWATCH");
		if (r)
			freeReplyObject(r);
	}
	buf_deinit(&lock);
	buf_deinit(&host);
	buf_deinit(&ecdsa);
	buf_deinit(&rsa);
	buf_deinit(&due);
	buf_deinit(&hosts);
	buf_deinit(&events);
	buf_deinit(&msg);
	return ret;
}

int store_ping(struct store *s, char *err, size_t errsz)
{
	redisReply *r = NULL;
	int ret = -1;

	if (store_reconnect(s, err, errsz) < 0)
		goto out;
	r = redisCommand(s->rc, "PING");
	if (!store_hosts_reply_ok(s, r, "PING", err, errsz))
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

	if (store_reconnect(s, err, errsz) < 0)
		goto out;
	/* ROLE: ["master", ...] or ["slave", host, port, link state, offset] */
	r = redisCommand(s->rc, "ROLE");
	if (!store_hosts_reply_ok(s, r, "ROLE", err, errsz))
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

/* ---- issuer ---- */

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
	r = store_write(s, NULL, 5, argv, argl, err, errsz);
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
	r = store_cmd(s, NULL, 2, argv, argl, err, errsz);
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
	struct timeval tv;
	redisReply *r = NULL;
	int ret = -1;

	if (store_reconnect(s, err, errsz) < 0)
		goto out;
	/* WAIT blocks up to <timeout_ms>: the socket must outlast it, or a slow acknowledgement
	 * would read as a lost connection. */
	tv.tv_sec = (timeout_ms + s->timeout_ms) / 1000;
	tv.tv_usec = ((timeout_ms + s->timeout_ms) % 1000) * 1000;
	redisSetTimeout(s->rc, tv);
	r = redisCommand(s->rc, "WAIT %lld %lld", replicas, timeout_ms);
	tv.tv_sec = s->timeout_ms / 1000;
	tv.tv_usec = (s->timeout_ms % 1000) * 1000;
	if (!s->rc->err)
		redisSetTimeout(s->rc, tv);
	if (!r || r->type != REDIS_REPLY_INTEGER) {
		snprintf(err, errsz, "redis WAIT: %s",
		         !r                             ? s->rc->errstr
		         : r->type == REDIS_REPLY_ERROR ? r->str
		                                        : "bad reply");
		if (!r)
			store_drop(s);
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
	if (!(r = store_write(s, NULL, 3, argv, argl, err, errsz)))
		goto out;
	freeReplyObject(r);
	argv[0] = "HINCRBY", argl[0] = 7;
	argv[1] = buf_str(&host), argl[1] = host.len;
	argv[2] = "attempts", argl[2] = 8;
	argv[3] = "1", argl[3] = 1;
	if (!(r = store_write(s, NULL, 4, argv, argl, err, errsz)))
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
	if (!(r = store_write(s, NULL, 3, argv, argl, err, errsz)))
		goto out;
	freeReplyObject(r);
	ret = 0;
out:
	buf_deinit(&chan);
	buf_deinit(&msg);
	return ret;
}

/* ---- loader ---- */

/* One MULTI/EXEC of <n> argv commands; every queued reply and EXEC's must succeed. */
static int store_loader_multi(struct store *s, int n, int *argc, const char ***argv, size_t **argl,
                              char *err, size_t errsz)
{
	redisReply *r = NULL;
	int i, ret = -1, sent = 0;

	if (store_reconnect(s, err, errsz) < 0)
		goto out;
	if (redisAppendCommand(s->rc, "MULTI") != REDIS_OK)
		goto io;
	sent++;
	for (i = 0; i < n; i++, sent++)
		if (redisAppendCommandArgv(s->rc, argc[i], argv[i], argl[i]) != REDIS_OK)
			goto io;
	if (redisAppendCommand(s->rc, "EXEC") != REDIS_OK)
		goto io;
	sent++;
	for (i = 0; i < sent; i++) {
		if (redisGetReply(s->rc, (void **)&r) != REDIS_OK || !r)
			goto io;
		if (r->type == REDIS_REPLY_ERROR ||
		    (i == sent - 1 && r->type != REDIS_REPLY_ARRAY)) {
			snprintf(err, errsz, "redis MULTI/EXEC: %s",
			         r->type == REDIS_REPLY_ERROR ? r->str : "transaction aborted");
			freeReplyObject(r);
			r = NULL;
			/* Read what is left so the connection stays in step. */
			for (i++; i < sent; i++) {
				if (redisGetReply(s->rc, (void **)&r) != REDIS_OK)
					goto io;
				freeReplyObject(r);
				r = NULL;
			}
			goto out;
		}
		freeReplyObject(r);
		r = NULL;
	}
	ret = 0;
	goto out;
io:
	snprintf(err, errsz, "redis %s: %s", s->addr, s->rc->errstr[0] ? s->rc->errstr : "error");
	redisFree(s->rc);
	s->rc = NULL;
out:
	if (r)
		freeReplyObject(r);
	return ret;
}

int store_cert_import(struct store *s, const char *name, const char *type, const struct buf *blob,
                      char *err, size_t errsz)
{
	struct buf key, hosts, chan, msg;
	const char *a0[3], *a1[3], *a2[3], **argv[3] = { a0, a1, a2 };
	size_t l0[3], l1[3], l2[3], *argl[3] = { l0, l1, l2 };
	int argc[3] = { 3, 3, 3 }, ret = -1;

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
	ret = store_loader_multi(s, 3, argc, argv, argl, err, errsz);
out:
	buf_deinit(&key);
	buf_deinit(&hosts);
	buf_deinit(&chan);
	buf_deinit(&msg);
	return ret;
}

/* The events subscription: hiredis async on the daemon's libevent base. hiredis owns and frees
 * the async context after the connect-failure and disconnect callbacks. */
struct store_sub {
	struct event_base *base;
	struct event *retry;   /* reconnect timer */
	redisAsyncContext *ac; /* NULL while disconnected */
	struct endpoint ep;
	char *addr, *user, *password, *channel;
	store_sub_fn *cb;
	void *arg;
	int stopping;
	int refused;    /* AUTH or SUBSCRIBE refused on this connection: it is being closed */
	long backoff_s; /* next reconnection delay after a refusal */
};

#define STORE_SUB_BACKOFF_MAX_S 30

static void store_sub_connect(struct store_sub *sub);

/* Reconnect in 1 s, or after the backoff when Redis refused us (AUTH, ACL): a wrong password
 * must not become a reconnection storm, nor a subscription that silently never comes back. */
static void store_sub_schedule(struct store_sub *sub)
{
	struct timeval tv = { .tv_sec = sub->refused ? sub->backoff_s : 1 };

	sub->ac = NULL;
	if (sub->refused && sub->backoff_s < STORE_SUB_BACKOFF_MAX_S)
		sub->backoff_s = sub->backoff_s * 2 > STORE_SUB_BACKOFF_MAX_S
		                         ? STORE_SUB_BACKOFF_MAX_S
		                         : sub->backoff_s * 2;
	sub->refused = 0;
	if (!sub->stopping)
		evtimer_add(sub->retry, &tv);
}

/* Redis refused <what> on the subscription connection: log, close it, retry with backoff. */
static void store_sub_refused(struct store_sub *sub, redisAsyncContext *ac, const char *what,
                              const char *why)
{
	if (sub->refused || sub->stopping)
		return;
	sub->refused = 1;
	log_err("redis %s: events subscription: %s refused: %s; retrying in %lds", sub->addr, what,
	        why, sub->backoff_s);
	redisAsyncDisconnect(ac); /* deferred by hiredis until the callback returns */
}

static void store_sub_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	store_sub_connect(arg);
}

static void store_sub_on_message(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct store_sub *sub = privdata;
	redisReply *r = reply, **e;

	if (!r || sub->stopping)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		store_sub_refused(sub, ac, "SUBSCRIBE", r->str);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
		return;
	e = r->element;
	if (e[0]->type != REDIS_REPLY_STRING)
		return;
	if (!strcmp(e[0]->str, "subscribe")) {
		log_info("redis %s: subscribed to %s", sub->addr, sub->channel);
		sub->backoff_s = 1;
		sub->cb(sub->arg, NULL, 0);
	} else if (!strcmp(e[0]->str, "message") && e[2]->type == REDIS_REPLY_STRING) {
		sub->cb(sub->arg, e[2]->str, e[2]->len);
	}
}

static void store_sub_on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct store_sub *sub = privdata;
	redisReply *r = reply;

	if (r && r->type == REDIS_REPLY_ERROR)
		store_sub_refused(sub, ac, "AUTH", r->str);
}

static void store_sub_on_connect(const redisAsyncContext *ac, int status)
{
	struct store_sub *sub = ac->data;

	if (status != REDIS_OK) {
		log_warn("redis %s: events subscription: %s; retrying in 1s", sub->addr,
		         ac->errstr);
		store_sub_schedule(sub);
	}
}

static void store_sub_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct store_sub *sub = ac->data;

	if (sub->stopping)
		return;
	if (!sub->refused)
		log_warn("redis %s: events subscription lost (%s); resubscribing in 1s", sub->addr,
		         status == REDIS_OK ? "closed" : ac->errstr);
	store_sub_schedule(sub);
}

static void store_sub_connect(struct store_sub *sub)
{
	redisAsyncContext *ac;

	ac = sub->ep.is_unix ? redisAsyncConnectUnix(sub->ep.path)
	                     : redisAsyncConnect(sub->ep.host, sub->ep.port);
	if (!ac || ac->err) {
		log_warn("redis %s: events subscription: %s; retrying in 1s", sub->addr,
		         ac ? ac->errstr : "out of memory");
		if (ac)
			redisAsyncFree(ac);
		store_sub_schedule(sub);
		return;
	}
	ac->data = sub;
	if (redisLibeventAttach(ac, sub->base) != REDIS_OK) {
		redisAsyncFree(ac);
		store_sub_schedule(sub);
		return;
	}
	sub->ac = ac;
	redisAsyncSetConnectCallback(ac, store_sub_on_connect);
	redisAsyncSetDisconnectCallback(ac, store_sub_on_disconnect);
	if (sub->password) {
		if (sub->user)
			redisAsyncCommand(ac, store_sub_on_auth, sub, "AUTH %s %s", sub->user,
			                  sub->password);
		else
			redisAsyncCommand(ac, store_sub_on_auth, sub, "AUTH %s", sub->password);
	}
	redisAsyncCommand(ac, store_sub_on_message, sub, "SUBSCRIBE %s", sub->channel);
}

void store_sub_free(struct store_sub *sub)
{
	if (!sub)
		return;
	sub->stopping = 1;
	if (sub->ac)
		redisAsyncFree(sub->ac);
	if (sub->retry)
		event_free(sub->retry);
	free(sub->addr);
	free(sub->user);
	if (sub->password) {
		OPENSSL_cleanse(sub->password, strlen(sub->password));
		free(sub->password);
	}
	free(sub->channel);
	free(sub);
}

struct store_sub *store_sub_new(struct event_base *base, const struct store *s, store_sub_fn *cb,
                                void *arg, char *err, size_t errsz)
{
	struct store_sub *sub = calloc(1, sizeof(*sub));
	struct buf chan;
	const char *why;

	buf_init(&chan);
	if (!sub)
		goto oom;
	sub->base = base;
	sub->cb = cb;
	sub->arg = arg;
	sub->backoff_s = 1;
	if (keys_events(&chan, s->prefix) < 0 || !(sub->channel = strdup(buf_str(&chan))) ||
	    !(sub->addr = strdup(s->addr)) || (s->user && !(sub->user = strdup(s->user))) ||
	    (s->password && !(sub->password = strdup(s->password))))
		goto oom;
	if (parse_endpoint(s->addr, &sub->ep, &why) < 0) {
		snprintf(err, errsz, "--redis: '%s': %s", s->addr, why);
		goto fail;
	}
	sub->retry = evtimer_new(base, store_sub_retry_cb, sub);
	if (!sub->retry)
		goto oom;
	store_sub_connect(sub);
	buf_deinit(&chan);
	return sub;
oom:
	snprintf(err, errsz, "out of memory");
fail:
	buf_deinit(&chan);
	store_sub_free(sub);
	return NULL;
}

int store_scan_keys(struct store *s, const char *pattern, struct store_strv *out, char *err,
                    size_t errsz)
{
	char cursor[32] = "0";
	redisReply *r = NULL, *keys;
	size_t i;
	int ret = -1;

	do {
		if (store_reconnect(s, err, errsz) < 0)
			goto out;
		r = redisCommand(s->rc, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= sizeof(cursor) ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			snprintf(err, errsz, "redis SCAN %s: %s", pattern,
			         !r                             ? s->rc->errstr
			         : r->type == REDIS_REPLY_ERROR ? r->str
			                                        : "unexpected reply");
			if (!r) {
				redisFree(s->rc);
				s->rc = NULL;
			}
			goto out;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len);
		cursor[r->element[0]->len] = 0;
		keys = r->element[1];
		for (i = 0; i < keys->elements; i++) {
			if (keys->element[i]->type != REDIS_REPLY_STRING)
				continue;
			if (store_strv_push(out, keys->element[i]->str, keys->element[i]->len) <
			    0) {
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

int store_blob_swap(struct store *s, const char *key, const struct buf *old, const struct buf *nv,
                    char *err, size_t errsz)
{
	redisReply *r = NULL;
	int ret = -1;

	if (store_reconnect(s, err, errsz) < 0)
		return -1;
	r = redisCommand(s->rc, "WATCH %s", key);
	if (!r || r->type == REDIS_REPLY_ERROR)
		goto fail;
	freeReplyObject(r);
	r = redisCommand(s->rc, "GET %s", key);
	if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL))
		goto fail;
	if (r->type == REDIS_REPLY_NIL || r->len != old->len ||
	    memcmp(r->str, old->data, old->len)) {
		freeReplyObject(r);
		r = redisCommand(s->rc, "UNWATCH");
		ret = r && r->type != REDIS_REPLY_ERROR ? 0 : -1;
		if (ret < 0)
			goto fail;
		goto out;
	}
	freeReplyObject(r);
	r = redisCommand(s->rc, "MULTI");
	if (!r || r->type == REDIS_REPLY_ERROR)
		goto fail;
	freeReplyObject(r);
	r = redisCommand(s->rc, "SET %s %b", key, nv->data, nv->len);
	if (!r || r->type == REDIS_REPLY_ERROR)
		goto fail;
	freeReplyObject(r);
	r = redisCommand(s->rc, "EXEC");
	if (!r || (r->type != REDIS_REPLY_ARRAY && r->type != REDIS_REPLY_NIL))
		goto fail;
	ret = r->type == REDIS_REPLY_ARRAY ? 1 : 0; /* nil: the key changed after WATCH */
	goto out;
fail:
	snprintf(err, errsz, "redis %s: %s", key,
	         !r                             ? s->rc->errstr
	         : r->type == REDIS_REPLY_ERROR ? r->str
	                                        : "unexpected reply");
	/* Whatever state the connection is in (WATCH, MULTI), start over next time. */
	redisFree(s->rc);
	s->rc = NULL;
	ret = -1;
out:
	if (r)
		freeReplyObject(r);
	return ret;
}

/* ---- served: proof of deployment ---- */

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
	r = redisCommandArgv(s->rc, value ? 4 : 3, argv, argl);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errsz, "redis %s %s: %s", cmd, buf_str(&key),
		         r ? r->str : s->rc->errstr);
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

int store_served_rewrite(struct store *s, const char *edge, const struct store_strv *kv,
                         long long now, char *err, size_t errsz)
{
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
	ret = store_loader_multi(s, n, argc, argv, argl, err, errsz);
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
	const char *argv[4];
	size_t argl[4];
	struct buf key;
	char at[32];
	redisReply *r = NULL;
	int ret = -1;

	buf_init(&key);
	if (keys_edges(&key, s->prefix) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	snprintf(at, sizeof(at), "%lld", now);
	argv[0] = "ZADD";
	argl[0] = 4;
	argv[1] = buf_str(&key);
	argl[1] = key.len;
	argv[2] = at;
	argl[2] = strlen(at);
	argv[3] = edge;
	argl[3] = strlen(edge);
	r = store_cmd(s, NULL, 4, argv, argl, err, errsz);
	ret = r ? 0 : -1;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int store_served_edges(struct store *s, size_t limit, struct store_strv *out, char *err,
                       size_t errsz)
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
	if (store_hosts_array(r, out, "ZREVRANGE", err, errsz) < 0)
		goto out;
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	buf_deinit(&key);
	return ret;
}

int store_served_fields(struct store *s, const struct store_strv *edges, const char *const *fields,
                        size_t nfields, struct store_strv *out, char *err, size_t errsz)
{
	return store_hmget_each(s, keys_served, edges, fields, nfields, out, err, errsz);
}

redisReply *store_command(struct store *s, const char *what, int argc, const char **argv,
                          const size_t *argl, char *err, size_t errsz)
{
	return store_cmd(s, what, argc, argv, argl, err, errsz);
}
