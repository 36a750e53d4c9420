// SPDX-License-Identifier: MIT
/*
 * The loader: Redis (hosts set + sealed blobs) -> HAProxy (ssl certs + crt-list entries) over
 * the runtime API, without a reload and without a key on disk. One certificate at a time goes
 * through new -> set -> commit -> verify -> add, since HAProxy 2.6 has one global transaction
 * (a `set` while another certificate's transaction is open writes into that one) and 3.2+
 * refuses a second one. A cache of what was pushed (blob digest, serial) per name avoids
 * churn; it is dropped when HAProxy restarts (`show info` Pid/Uptime_sec), since HAProxy then
 * forgets every runtime certificate. What to push is decided here; how to talk to HAProxy is
 * haproxy_rt.c's, how to read Redis store.c's, how to open blobs blob.c's.
 */
#include "cert-pusher/loader.h"

#include <event2/event.h>
#include <stdatomic.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cert-pusher/blob.h"
#include "cert-pusher/haproxy_rt.h"
#include "cert-pusher/pem.h"
#include "cert-pusher/pmetrics.h"
#include "cert-pusher/served.h"
#include "cert-pusher/store.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"

#define LOADER_BUCKETS       4096
#define LOADER_TICK_MS       1000  /* `show info` poll: restart detection */
#define LOADER_RETRY_MS      5000  /* after a failed reconcile */
#define LOADER_RT_TIMEOUT_MS 10000 /* per runtime API command */
#define LOADER_BLOB_MAX      (256 * 1024)
#define LOADER_SERVED_MS     500 /* connect/command timeout of the served: reports */
#define LOADER_SLICE_HOSTS   64  /* hosts per event-loop turn of a full reconcile, at most */

/* What we know HAProxy holds under a name we pushed. */
struct loader_entry {
	char *name;
	uint8_t digest[32]; /* SHA-256 of the blob it came from */
	char serial[PEM_SERIAL_MAX + 1];
	long long not_before, not_after; /* of the leaf, unix seconds */
	long long at;                    /* when HAProxy started serving it (as far as we know) */
	struct loader_entry *next;
};

/* A full reconcile in progress (see loader_run_step()). */
struct loader_run {
	int active;
	int phase; /* 0: the hosts set; 1: names HAProxy holds for other hosts */
	size_t next;
	struct haproxy_rt_names certs, entries; /* HAProxy's, when the run began */
	struct store_strv hosts;                /* sorted */
	unsigned char *touched;                 /* per host: synced by an event meanwhile */
	char last_host[NAMES_HOSTNAME_MAX + 1]; /* phase 1: last host looked at */
	size_t nok;
	int failed;
	int64_t start;
	struct event *ev; /* the next slice */
};

struct loader {
	struct pusher *p;
	struct event_base *base;
	struct store *store;
	struct store_sub *sub;
	struct blob_keyring *kr;
	struct haproxy_rt rt;
	int rt_ready;       /* HAProxy answered the last `show info` */
	int rt_down_logged; /* its absence was reported once */
	char *crt_list;
	uint64_t interval_ms;
	struct event *tick;
	uint64_t hp_pid, hp_uptime;
	int hp_known;
	int64_t next_full_ms;
	uint64_t slice_ms; /* --reconcile-slice; 0: a full reconcile in one go */
	struct loader_run run;
	/* Proof of deployment: served:<edge> on the primary mirrors the cache. */
	char edge[SERVED_EDGE_MAX + 1];
	struct store *served; /* write-only connection to the primary; NULL until it answers */
	int served_dirty;     /* a report was lost: the next reconcile rewrites the whole hash */
	int served_down_logged;
	/* The local Redis had current data at the last reconcile (store_in_sync()): a primary, or a
	 * replica linked to its primary. When not, nothing is removed from HAProxy: a replica
	 * restarted while cut off is empty, and its edge must keep serving what it has. */
	int redis_current; /* 1, 0, or -1 before the first look */
	struct loader_entry *cache[LOADER_BUCKETS];
};

static int64_t loader_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- cache ---- */

static size_t loader_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h % LOADER_BUCKETS;
}

static struct loader_entry *loader_cache_get(struct loader *l, const char *name)
{
	struct loader_entry *e;

	for (e = l->cache[loader_hash(name)]; e; e = e->next)
		if (!strcmp(e->name, name))
			return e;
	return NULL;
}

/* Forget <name>: 1 when it was cached, 0 otherwise. */
static int loader_cache_del(struct loader *l, const char *name)
{
	struct loader_entry **pe, *e;

	for (pe = &l->cache[loader_hash(name)]; (e = *pe); pe = &e->next) {
		if (!strcmp(e->name, name)) {
			*pe = e->next;
			free(e->name);
			free(e);
			return 1;
		}
	}
	return 0;
}

/* Record what HAProxy serves under <name>; the entry, or NULL (OOM: the next reconcile looks
 * at HAProxy again). "at" moves only when the serial changes. */
static struct loader_entry *loader_cache_put(struct loader *l, const char *name,
                                             const uint8_t digest[32], const char *serial,
                                             long long not_before, long long not_after)
{
	struct loader_entry *e = loader_cache_get(l, name);
	size_t h;

	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || !(e->name = strdup(name))) {
			free(e);
			return NULL;
		}
		h = loader_hash(name);
		e->next = l->cache[h];
		l->cache[h] = e;
	}
	if (!e->at || strcmp(e->serial, serial))
		e->at = (long long)time(NULL);
	memcpy(e->digest, digest, 32);
	snprintf(e->serial, sizeof(e->serial), "%s", serial);
	e->not_before = not_before;
	e->not_after = not_after;
	return e;
}

static void loader_cache_clear(struct loader *l)
{
	struct loader_entry *e, *next;
	size_t i;

	for (i = 0; i < LOADER_BUCKETS; i++) {
		for (e = l->cache[i]; e; e = next) {
			next = e->next;
			free(e->name);
			free(e);
		}
		l->cache[i] = NULL;
	}
}

/* ---- metrics ---- */

/* Process-wide (not per loader) so the metrics source never points at a freed loader. */
static atomic_ullong loader_pushes, loader_push_errors, loader_removals, loader_remove_errors;
static atomic_ullong loader_reconciles_ok, loader_reconciles_failed, loader_haproxy_restarts;
static atomic_int loader_haproxy_up;
static int loader_metrics_registered; /* registered once per process, from the loop thread */

/* pmetrics source: the loader's counters, as Prometheus text appended to <out>. */
static void loader_metrics(struct buf *out, void *arg)
{
	(void)arg;
	buf_printf(out,
	           "# HELP pusher_loader_pushes_total Certificates committed into HAProxy.\n"
	           "# TYPE pusher_loader_pushes_total counter\n"
	           "pusher_loader_pushes_total %llu\n"
	           "# HELP pusher_loader_push_errors_total Certificates that could not be pushed "
	           "(bad blob, refused PEM, HAProxy error).\n"
	           "# TYPE pusher_loader_push_errors_total counter\n"
	           "pusher_loader_push_errors_total %llu\n"
	           "# HELP pusher_loader_removals_total Certificates removed from HAProxy.\n"
	           "# TYPE pusher_loader_removals_total counter\n"
	           "pusher_loader_removals_total{result=\"ok\"} %llu\n"
	           "pusher_loader_removals_total{result=\"error\"} %llu\n"
	           "# HELP pusher_loader_reconciles_total Full reconciliations of HAProxy with "
	           "Redis.\n"
	           "# TYPE pusher_loader_reconciles_total counter\n"
	           "pusher_loader_reconciles_total{result=\"ok\"} %llu\n"
	           "pusher_loader_reconciles_total{result=\"failed\"} %llu\n"
	           "# HELP pusher_loader_haproxy_restarts_total HAProxy restarts or reloads seen "
	           "(new pid or smaller uptime).\n"
	           "# TYPE pusher_loader_haproxy_restarts_total counter\n"
	           "pusher_loader_haproxy_restarts_total %llu\n"
	           "# HELP pusher_loader_haproxy_up Whether HAProxy's runtime API answered last "
	           "time.\n"
	           "# TYPE pusher_loader_haproxy_up gauge\n"
	           "pusher_loader_haproxy_up %d\n",
	           (unsigned long long)atomic_load(&loader_pushes),
	           (unsigned long long)atomic_load(&loader_push_errors),
	           (unsigned long long)atomic_load(&loader_removals),
	           (unsigned long long)atomic_load(&loader_remove_errors),
	           (unsigned long long)atomic_load(&loader_reconciles_ok),
	           (unsigned long long)atomic_load(&loader_reconciles_failed),
	           (unsigned long long)atomic_load(&loader_haproxy_restarts),
	           atomic_load(&loader_haproxy_up));
}

/* ---- proof of deployment: served:<edge> on the primary ---- */

/*
 * Every certificate the cache holds is reported as HSET served:<edge> "<host>:<type>" <value>
 * when it enters the cache, and HDEL when it leaves HAProxy. Reports go on their own connection
 * to the primary with a short timeout and never connect from inside a sync: when one fails (or
 * the primary was never reached), the hash is marked dirty, later reports are skipped, and the
 * end of the next reconcile rewrites the whole hash from the cache in one MULTI (DEL, HSET,
 * ZADD edges). A clean reconcile ends with the heartbeat alone (ZADD edges <now> <edge>).
 */

/* The served: hash field of HAProxy certificate <name> ("host.ecdsa" -> "host:ecdsa"). 0, or -1
 * when <name> is not one of ours (or OOM). */
static int loader_served_field(const char *name, struct buf *field)
{
	enum pem_key_type type;
	size_t hl;

	buf_reset(field);
	if (!haproxy_rt_name_managed(name, &hl, &type) || buf_append(field, name, hl) < 0 ||
	    buf_printf(field, ":%s", pem_key_type_names[type]) < 0)
		return -1;
	return 0;
}

/* A report was lost: say so once, rewrite at the next reconcile. */
static void loader_served_lost(struct loader *l, const char *why)
{
	if (!l->served_down_logged)
		log_warn("loader: edge=%s: cannot report to the primary: %s; loading goes on, the "
		         "served hash is rewritten once it answers",
		         l->edge, why);
	l->served_down_logged = 1;
	l->served_dirty = 1;
}

/* HSET the cache entry <e> (just committed or first seen in HAProxy). */
static void loader_served_put(struct loader *l, const struct loader_entry *e)
{
	struct served_value v = { .not_before = e->not_before,
		                  .not_after = e->not_after,
		                  .at = e->at };
	struct buf field, val;
	char err[512];

	if (l->served_dirty || !l->served)
		return; /* the rewrite covers it */
	buf_init(&field);
	buf_init(&val);
	snprintf(v.serial, sizeof(v.serial), "%s", e->serial);
	if (loader_served_field(e->name, &field) < 0 || served_value_format(&v, &val) < 0) {
		loader_served_lost(l, "cannot encode the report");
		goto out;
	}
	if (store_served_set(l->served, l->edge, buf_str(&field), buf_str(&val), err, sizeof(err)) <
	    0)
		loader_served_lost(l, err);
out:
	buf_deinit(&field);
	buf_deinit(&val);
}

/* HDEL <name>: HAProxy no longer serves it. */
static void loader_served_del(struct loader *l, const char *name)
{
	struct buf field;
	char err[512];

	if (l->served_dirty || !l->served)
		return;
	buf_init(&field);
	if (loader_served_field(name, &field) < 0)
		loader_served_lost(l, "out of memory");
	else if (store_served_del(l->served, l->edge, buf_str(&field), err, sizeof(err)) < 0)
		loader_served_lost(l, err);
	buf_deinit(&field);
}

/* End of a reconcile: connect to the primary if needed, then the heartbeat, or the whole hash
 * when dirty. Failures only mark the hash dirty. */
static void loader_served_sync(struct loader *l)
{
	struct store_strv kv = { 0 };
	struct served_value v;
	struct loader_entry *e;
	struct buf field, val;
	long long now = (long long)time(NULL);
	char err[512];
	size_t i, n = 0;

	buf_init(&field);
	buf_init(&val);
	if (!l->served) {
		/* Short timeouts from the first connect on: a blackholed primary (or sentinel)
		 * must not hold the event loop the API and the events share. */
		l->served = store_open_timeout(l->p->conf, l->p->prefix, LOADER_SERVED_MS, err,
		                               sizeof(err));
		if (!l->served) {
			loader_served_lost(l, err);
			goto out;
		}
	}
	if (!l->served_dirty) {
		if (store_served_heartbeat(l->served, l->edge, now, err, sizeof(err)) < 0)
			loader_served_lost(l, err);
		goto out;
	}
	for (i = 0; i < LOADER_BUCKETS; i++) {
		for (e = l->cache[i]; e; e = e->next) {
			memset(&v, 0, sizeof(v));
			snprintf(v.serial, sizeof(v.serial), "%s", e->serial);
			v.not_before = e->not_before;
			v.not_after = e->not_after;
			v.at = e->at;
			buf_reset(&val);
			if (loader_served_field(e->name, &field) < 0 ||
			    served_value_format(&v, &val) < 0 ||
			    store_strv_push(&kv, buf_str(&field), field.len) < 0 ||
			    store_strv_push(&kv, buf_str(&val), val.len) < 0) {
				log_err("loader: edge=%s: cannot encode the served hash", l->edge);
				goto out;
			}
			n++;
		}
	}
	if (store_served_rewrite(l->served, l->edge, &kv, now, err, sizeof(err)) < 0) {
		loader_served_lost(l, err);
		goto out;
	}
	log_info("loader: edge=%s: served hash rewritten on the primary certs=%zu", l->edge, n);
	l->served_dirty = 0;
	l->served_down_logged = 0;
out:
	store_strv_deinit(&kv);
	buf_deinit(&field);
	buf_deinit(&val);
}

/* ---- HAProxy operations ---- */

/* Remove every crt-list entry of <name>, then the certificate. 0 or -1. */
static int loader_remove(struct loader *l, const char *name)
{
	enum haproxy_rt_status st;
	char err[512];

	st = haproxy_rt_del_crtlist(&l->rt, l->crt_list, name, 0, err, sizeof(err));
	if (st != HAPROXY_RT_OK && st != HAPROXY_RT_NOT_FOUND) {
		log_err("loader: remove name=%s: %s", name, err);
		atomic_fetch_add(&loader_remove_errors, 1);
		return -1;
	}
	st = haproxy_rt_del_cert(&l->rt, name, err, sizeof(err));
	if (st != HAPROXY_RT_OK && st != HAPROXY_RT_NOT_FOUND) {
		log_err("loader: remove name=%s: %s", name, err);
		atomic_fetch_add(&loader_remove_errors, 1);
		return -1;
	}
	loader_cache_del(l, name);
	loader_served_del(l, name);
	atomic_fetch_add(&loader_removals, 1);
	log_info("loader: removed name=%s", name);
	return 0;
}

/* set + commit of <pem> on <name>, one transaction, checking that the transaction HAProxy
 * names is ours. 0 or -1. */
static int loader_set_commit(struct loader *l, const char *name, const struct buf *pem)
{
	enum haproxy_rt_status st;
	char other[HAPROXY_RT_NAME_MAX + 1], err[512], err2[512];
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		st = haproxy_rt_set_cert(&l->rt, name, pem, other, sizeof(other), err, sizeof(err));
		if (st == HAPROXY_RT_OK)
			break;
		if ((st == HAPROXY_RT_WRONG_TXN || st == HAPROXY_RT_BUSY) && other[0]) {
			/* 2.6: our PEM went into <other>'s transaction; it must never be
			 * committed there. 3.2+: <other>'s transaction blocks ours. */
			log_warn("loader: name=%s: %s; aborting the transaction of %s", name, err,
			         other);
			if (haproxy_rt_abort_cert(&l->rt, other, err2, sizeof(err2)) !=
			    HAPROXY_RT_OK)
				log_err("loader: abort %s: %s", other, err2);
			continue;
		}
		log_err("loader: set name=%s: %s", name, err);
		return -1;
	}
	if (st != HAPROXY_RT_OK) {
		log_err("loader: set name=%s: %s", name, err);
		return -1;
	}
	st = haproxy_rt_commit_cert(&l->rt, name, err, sizeof(err));
	if (st != HAPROXY_RT_OK) {
		log_err("loader: commit name=%s: %s", name, err);
		if (haproxy_rt_abort_cert(&l->rt, name, err2, sizeof(err2)) != HAPROXY_RT_OK)
			log_warn("loader: abort %s: %s", name, err2);
		return -1;
	}
	return 0;
}

/* Bring HAProxy's <name> to <blob>, sealed under Redis key <rkey> (NULL: <name> must not exist).
 * <certs> and <entries> are HAProxy's lists when known (full reconcile), NULL otherwise. 0 or -1.
 */
static int loader_sync_name(struct loader *l, const char *name, const char *rkey,
                            enum pem_key_type type, const struct buf *blob,
                            const struct haproxy_rt_names *certs,
                            const struct haproxy_rt_names *entries)
{
	struct haproxy_rt_cert_info hi;
	struct loader_entry *ce;
	struct pem_info info;
	struct buf pt, pem;
	enum haproxy_rt_status st;
	uint8_t digest[32];
	const char *why = NULL;
	char err[512];
	size_t nent;
	int ret = -1, pushed = 0;

	buf_init(&pt);
	buf_init(&pem);
	if (!blob) {
		if (certs && !haproxy_rt_names_count(certs, name) &&
		    !(entries && haproxy_rt_names_count(entries, name))) {
			ret = 0;
			goto out;
		}
		if (l->redis_current != 1) {
			log_debug("loader: keeping name=%s: the local Redis is not current", name);
			ret = 0;
			goto out;
		}
		if (!certs) {
			st = haproxy_rt_show_cert(&l->rt, name, &hi, err, sizeof(err));
			if (st == HAPROXY_RT_NOT_FOUND) {
				if (loader_cache_del(l, name))
					loader_served_del(l, name);
				ret = 0;
				goto out;
			}
			if (st != HAPROXY_RT_OK) {
				log_err("loader: name=%s: %s", name, err);
				goto out;
			}
		}
		ret = loader_remove(l, name);
		goto out;
	}
	if (EVP_Digest(blob->data, blob->len, digest, NULL, EVP_sha256(), NULL) != 1)
		goto out;
	ce = loader_cache_get(l, name);
	nent = entries ? haproxy_rt_names_count(entries, name) : 1;
	if (ce && !memcmp(ce->digest, digest, 32) &&
	    (!certs || haproxy_rt_names_count(certs, name)) && nent == 1) {
		ret = 0; /* unchanged since we pushed it */
		goto out;
	}
	if (blob_open(l->kr, rkey, blob->data, blob->len, &pt, &why) < 0) {
		log_err("loader: name=%s key=%s: cannot open the blob: %s", name, rkey, why);
		goto out;
	}
	if (pem_sanitize(pt.data, pt.len, l->rt.bufsize - HAPROXY_RT_BUF_MARGIN - 64 - strlen(name),
	                 &pem, &info, err, sizeof(err)) < 0) {
		log_err("loader: name=%s key=%s: refusing the certificate: %s", name, rkey, err);
		goto out;
	}
	buf_wipe(&pt);
	if (info.key_type != type) {
		log_err("loader: name=%s: the blob holds a %s key", name,
		        pem_key_type_names[info.key_type]);
		goto out;
	}
	/* A full reconcile knows which names HAProxy has: no need to ask for a new one. */
	if (certs && !haproxy_rt_names_count(certs, name))
		st = HAPROXY_RT_NOT_FOUND;
	else
		st = haproxy_rt_show_cert(&l->rt, name, &hi, err, sizeof(err));
	if (st == HAPROXY_RT_NOT_FOUND) {
		st = haproxy_rt_new_cert(&l->rt, name, err, sizeof(err));
		if (st != HAPROXY_RT_OK && st != HAPROXY_RT_EXISTS) {
			log_err("loader: new name=%s: %s", name, err);
			goto out;
		}
		memset(&hi, 0, sizeof(hi));
	} else if (st != HAPROXY_RT_OK) {
		log_err("loader: name=%s: %s", name, err);
		goto out;
	}
	if (strcmp(hi.serial, info.serial) || strcmp(hi.sha1, info.sha1)) {
		if (loader_set_commit(l, name, &pem) < 0)
			goto out;
		pushed = 1;
		/* Verify: what HAProxy now serves under <name> must be what we pushed. */
		st = haproxy_rt_show_cert(&l->rt, name, &hi, err, sizeof(err));
		if (st != HAPROXY_RT_OK || strcmp(hi.serial, info.serial) ||
		    strcmp(hi.sha1, info.sha1)) {
			log_err("loader: name=%s: after commit HAProxy shows serial '%s', expected "
			        "'%s'%s%s",
			        name, hi.serial, info.serial, st != HAPROXY_RT_OK ? ": " : "",
			        st != HAPROXY_RT_OK ? err : "");
			goto out;
		}
	}
	if (entries && nent > 1) {
		st = haproxy_rt_del_crtlist(&l->rt, l->crt_list, name, 0, err, sizeof(err));
		if (st != HAPROXY_RT_OK) {
			log_err("loader: name=%s: %s", name, err);
			goto out;
		}
		nent = 0;
	}
	/* "Used": referenced by a crt-list entry or a bind line. */
	if ((entries && nent == 0) || (!entries && strcmp(hi.status, "Used"))) {
		st = haproxy_rt_add_crtlist(&l->rt, l->crt_list, name, err, sizeof(err));
		if (st != HAPROXY_RT_OK) {
			log_err("loader: name=%s: %s", name, err);
			goto out;
		}
	}
	ce = loader_cache_put(l, name, digest, info.serial, (long long)info.not_before,
	                      (long long)info.not_after);
	if (ce)
		loader_served_put(l, ce);
	else
		l->served_dirty = 1; /* the rewrite comes from the cache: look again */
	if (pushed)
		log_info("loader: loaded name=%s serial=%s not_after=%lld certs=%d", name,
		         info.serial, (long long)info.not_after, info.ncerts);
	ret = 0;
out:
	if (blob && ret == 0 && pushed)
		atomic_fetch_add(&loader_pushes, 1);
	else if (blob && ret < 0)
		atomic_fetch_add(&loader_push_errors, 1);
	buf_wipe(&pt);
	buf_wipe(&pem);
	return ret;
}

/* Sync both key types of <host>; <in_hosts> says whether it is managed. */
static int loader_sync_host_lists(struct loader *l, const char *host, int in_hosts,
                                  const struct haproxy_rt_names *certs,
                                  const struct haproxy_rt_names *entries)
{
	struct buf key, blob, name;
	char err[512];
	int t, r, ret = 0;

	buf_init(&key);
	buf_init(&blob);
	buf_init(&name);
	for (t = 0; t < PEM_KEY_COUNT; t++) {
		buf_reset(&key);
		buf_reset(&blob);
		buf_reset(&name);
		if (keys_cert(&key, l->p->prefix, host, pem_key_type_names[t]) < 0 ||
		    buf_printf(&name, "%s.%s", host, pem_key_type_names[t]) < 0) {
			ret = -1;
			continue;
		}
		r = in_hosts ? store_blob_fetch(l->store, buf_str(&key), &blob, err, sizeof(err))
		             : 0;
		if (r < 0) {
			log_err("loader: %s", err);
			ret = -1;
			continue;
		}
		if (r > 0 && blob.len > LOADER_BLOB_MAX) {
			log_err("loader: %s: blob of %zu bytes is larger than %d", buf_str(&key),
			        blob.len, LOADER_BLOB_MAX);
			ret = -1;
			continue;
		}
		if (loader_sync_name(l, buf_str(&name), buf_str(&key), (enum pem_key_type)t,
		                     r > 0 ? &blob : NULL, certs, entries) < 0)
			ret = -1;
	}
	buf_deinit(&key);
	buf_deinit(&blob);
	buf_deinit(&name);
	return ret;
}

static int loader_cmp_str(const void *a, const void *b);

/* <host> is about to be synced outside the full reconcile in progress: if the run has not
 * reached it yet, its lists will be stale for it, so the run must look at HAProxy instead. */
static void loader_run_touch(struct loader *l, const char *host)
{
	struct loader_run *r = &l->run;
	const char *hp = host;
	char **at;

	if (!r->active || r->phase != 0 || !r->hosts.n)
		return;
	at = bsearch(&hp, r->hosts.v, r->hosts.n, sizeof(*r->hosts.v), loader_cmp_str);
	if (at && (size_t)(at - r->hosts.v) >= r->next)
		r->touched[at - r->hosts.v] = 1;
}

int loader_sync_host(struct loader *l, const char *host)
{
	const char *why;
	char err[512];
	int in;

	if (!names_hostname_valid(host, &why)) {
		log_warn("loader: ignoring event for '%.64s': %s", host, why);
		return -1;
	}
	in = store_host_exists(l->store, host, err, sizeof(err));
	if (in < 0) {
		log_err("loader: %s", err);
		return -1;
	}
	loader_run_touch(l, host);
	return loader_sync_host_lists(l, host, in, NULL, NULL);
}

/* `show info`: 1 when HAProxy (re)started since we last looked (cache dropped), 0 when it is
 * the same process, -1 when it does not answer. */
static int loader_check_haproxy(struct loader *l)
{
	uint64_t pid = 0, up = 0;
	char err[512];
	int ret = 0;

	if (haproxy_rt_show_info(&l->rt, &pid, &up, err, sizeof(err)) != HAPROXY_RT_OK) {
		if (l->rt_ready || !l->rt_down_logged)
			log_err("loader: HAProxy: %s; retrying every second", err);
		l->rt_down_logged = 1;
		l->rt_ready = 0;
		atomic_store(&loader_haproxy_up, 0);
		return -1;
	}
	if (!l->hp_known || pid != l->hp_pid || up < l->hp_uptime) {
		if (l->hp_known)
			atomic_fetch_add(&loader_haproxy_restarts, 1);
		if (l->hp_known)
			log_notice("loader: HAProxy restarted (pid %llu -> %llu, uptime %llus); "
			           "loading every certificate again",
			           (unsigned long long)l->hp_pid, (unsigned long long)pid,
			           (unsigned long long)up);
		loader_cache_clear(l);
		l->served_dirty = 1; /* the served hash names what this HAProxy forgot */
		ret = 1;
	}
	if (!l->rt_ready)
		log_info("loader: HAProxy pid=%llu uptime=%llus", (unsigned long long)pid,
		         (unsigned long long)up);
	l->rt_ready = 1;
	atomic_store(&loader_haproxy_up, 1);
	l->hp_known = 1;
	l->hp_pid = pid;
	l->hp_uptime = up;
	return ret;
}

static int loader_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * A full reconcile runs in slices so that whatever else shares the event loop (the API, events)
 * is served while a thousand certificates are pushed: loader_run_begin() takes HAProxy's lists
 * and the hosts set, each loader_run_step() syncs hosts from a cursor for at most
 * --reconcile-slice (and LOADER_SLICE_HOSTS hosts), then yields to the loop with a zero timer
 * (timers fire after the poll, so ready sockets are served in between). Phase 0 walks the
 * sorted hosts, phase 1 the managed names HAProxy held for hosts outside the set. An event for
 * a host the run has not reached yet is synced at once and marked, and the run then syncs it
 * without its (now stale) lists; phase 1 looks at Redis again before removing anything.
 */

/* Release the run's lists and stop its timer; nothing is reported. */
static void loader_run_clear(struct loader *l)
{
	struct loader_run *r = &l->run;

	if (r->ev)
		evtimer_del(r->ev);
	haproxy_rt_names_deinit(&r->certs);
	haproxy_rt_names_deinit(&r->entries);
	store_strv_deinit(&r->hosts);
	free(r->touched);
	r->touched = NULL;
	r->active = 0;
}

/* The run ended (or could not start, <ok> -1): log, report, count, plan the next one. */
static int loader_run_finish(struct loader *l, int ok)
{
	struct loader_run *r = &l->run;
	int ret = ok < 0 || r->failed ? -1 : 0;

	if (ok == 0)
		log_info("loader: reconciled hosts=%zu failed=%d ms=%lld", r->nok, r->failed,
		         (long long)(loader_now_ms() - r->start));
	/* Report only while HAProxy answers: an edge whose HAProxy is away is not live. */
	if (l->rt_ready)
		loader_served_sync(l);
	atomic_fetch_add(ret == 0 ? &loader_reconciles_ok : &loader_reconciles_failed, 1);
	l->next_full_ms = loader_now_ms() + (ret == 0 ? (int64_t)l->interval_ms : LOADER_RETRY_MS);
	loader_run_clear(l);
	return ret;
}

/* Start a run: HAProxy's state, stale transactions aborted, the hosts set sorted. 0, or -1
 * (logged) when HAProxy or Redis could not be read. */
static int loader_run_begin(struct loader *l)
{
	struct loader_run *r = &l->run;
	struct haproxy_rt_names txns;
	char err[512];
	size_t i;
	int ret = -1, rc;

	haproxy_rt_names_init(&txns);
	haproxy_rt_names_init(&r->certs);
	haproxy_rt_names_init(&r->entries);
	memset(&r->hosts, 0, sizeof(r->hosts));
	r->active = 1;
	r->phase = 0;
	r->next = 0;
	r->nok = 0;
	r->failed = 0;
	r->start = loader_now_ms();
	r->last_host[0] = 0;
	if (loader_check_haproxy(l) < 0)
		goto out;
	if (haproxy_rt_show_certs(&l->rt, &r->certs, &txns, err, sizeof(err)) != HAPROXY_RT_OK) {
		log_err("loader: %s", err);
		goto out;
	}
	/* A transaction left open (by a crashed loader, or an operator's for longer than a
	 * reconcile interval) would swallow our next `set` on 2.6. */
	for (i = 0; i < txns.n; i++) {
		log_warn("loader: aborting the stale transaction of %s", txns.v[i]);
		if (haproxy_rt_abort_cert(&l->rt, txns.v[i], err, sizeof(err)) != HAPROXY_RT_OK)
			log_err("loader: %s", err);
	}
	if (haproxy_rt_show_crtlist(&l->rt, l->crt_list, &r->entries, err, sizeof(err)) !=
	    HAPROXY_RT_OK) {
		log_err("loader: --crt-list '%s' is not a crt-list of HAProxy's configuration: %s",
		        l->crt_list, err);
		goto out;
	}
	/* A connection Redis closed (restart, failover) fails once, then reconnects. */
	rc = store_in_sync(l->store, err, sizeof(err));
	if (rc < 0)
		rc = store_in_sync(l->store, err, sizeof(err));
	if (rc != 1 && l->redis_current != 0)
		log_warn("loader: %s; removing nothing from HAProxy until it is current", err);
	else if (rc == 1 && l->redis_current == 0)
		log_info("loader: the local Redis is current again");
	l->redis_current = rc == 1;
	if (store_hosts_members(l->store, &r->hosts, err, sizeof(err)) < 0 &&
	    store_hosts_members(l->store, &r->hosts, err, sizeof(err)) < 0) {
		log_err("loader: %s", err);
		goto out;
	}
	if (r->hosts.n)
		qsort(r->hosts.v, r->hosts.n, sizeof(*r->hosts.v), loader_cmp_str);
	r->touched = calloc(r->hosts.n + 1, 1);
	if (!r->touched) {
		log_err("loader: out of memory");
		goto out;
	}
	ret = 0;
out:
	haproxy_rt_names_deinit(&txns);
	return ret;
}

/* One item of phase 1: the managed name <i> of HAProxy's lists. */
static void loader_run_orphan(struct loader *l, size_t i)
{
	struct loader_run *r = &l->run;
	const char *name = i < r->certs.n ? r->certs.v[i] : r->entries.v[i - r->certs.n];
	char host[NAMES_HOSTNAME_MAX + 1], *hp;
	const char *why;
	size_t hl;

	if (!haproxy_rt_name_managed(name, &hl, NULL) || hl > NAMES_HOSTNAME_MAX)
		return;
	memcpy(host, name, hl);
	host[hl] = 0;
	hp = host;
	if (r->hosts.n && bsearch(&hp, r->hosts.v, r->hosts.n, sizeof(*r->hosts.v), loader_cmp_str))
		return;
	if (!strcmp(host, r->last_host))
		return; /* both key types and the entries of a host: one look is enough */
	snprintf(r->last_host, sizeof(r->last_host), "%s", host);
	if (!names_hostname_valid(host, &why)) {
		if (loader_remove(l, name) < 0)
			r->failed++;
		return;
	}
	/* Not in the set when the run started: ask Redis again (an event may have added it
	 * since), then make HAProxy match without the run's lists. */
	if (loader_sync_host(l, host) < 0)
		r->failed++;
}

/* One slice of the run. 1 when there is more to do, else the run's result (0 or -1) after
 * loader_run_finish(). */
static int loader_run_step(struct loader *l)
{
	struct loader_run *r = &l->run;
	int64_t until = loader_now_ms() + (int64_t)l->slice_ms;
	size_t done = 0;
	const char *why;

	while (r->phase == 0 && r->next < r->hosts.n) {
		size_t i = r->next++;
		int touched = r->touched[i];

		if (!names_hostname_valid(r->hosts.v[i], &why)) {
			log_warn("loader: skipping host '%.64s' of the hosts set: %s",
			         r->hosts.v[i], why);
			continue;
		}
		if (loader_sync_host_lists(l, r->hosts.v[i], 1, touched ? NULL : &r->certs,
		                           touched ? NULL : &r->entries) < 0)
			r->failed++;
		else
			r->nok++;
		if (l->slice_ms && (++done >= LOADER_SLICE_HOSTS || loader_now_ms() >= until))
			return 1;
	}
	if (r->phase == 0) {
		r->phase = 1;
		r->next = 0;
	}
	while (r->next < r->certs.n + r->entries.n) {
		loader_run_orphan(l, r->next++);
		if (l->slice_ms && (++done >= LOADER_SLICE_HOSTS || loader_now_ms() >= until))
			return 1;
	}
	return loader_run_finish(l, 0);
}

static void loader_on_run(evutil_socket_t fd, short what, void *arg)
{
	struct loader *l = arg;
	struct timeval now = { 0, 0 };

	(void)fd;
	(void)what;
	if (l->run.active && loader_run_step(l) == 1)
		evtimer_add(l->run.ev, &now); /* yield: sockets ready meanwhile go first */
}

int loader_reconcile(struct loader *l)
{
	struct timeval now = { 0, 0 };
	int rc;

	loader_run_clear(l); /* a new full reconcile replaces one in progress */
	if (loader_run_begin(l) < 0)
		return loader_run_finish(l, -1);
	l->next_full_ms = INT64_MAX; /* the run plans the next one when it ends */
	if (!l->slice_ms || !l->run.ev) {
		while ((rc = loader_run_step(l)) == 1)
			;
		return rc;
	}
	rc = loader_run_step(l);
	if (rc == 1)
		evtimer_add(l->run.ev, &now);
	return rc == 1 ? 0 : rc;
}

/* ---- event loop glue ---- */

static void loader_on_event(void *arg, const char *msg, size_t len)
{
	struct loader *l = arg;
	char host[NAMES_HOSTNAME_MAX + 1];
	size_t off;

	if (!msg) {
		/* (Re)subscribed: whatever was published meanwhile is lost. */
		loader_reconcile(l);
		return;
	}
	if (len > 5 && !memcmp(msg, "cert ", 5))
		off = 5;
	else if (len > 4 && !memcmp(msg, "del ", 4))
		off = 4;
	else {
		log_warn("loader: ignoring event '%.*s'", (int)(len > 64 ? 64 : len), msg);
		return;
	}
	if (len - off > NAMES_HOSTNAME_MAX || memchr(msg + off, 0, len - off)) {
		log_warn("loader: ignoring event with a bad hostname");
		return;
	}
	memcpy(host, msg + off, len - off);
	host[len - off] = 0;
	log_debug("loader: event '%.*s'", (int)len, msg);
	if (loader_sync_host(l, host) >= 0)
		return;
	/* Retry soon, by a full reconcile; one in progress must not be thrown away for it (it
	 * would start over at every failing event): it ends as failed and plans the retry. */
	if (l->run.active)
		l->run.failed++;
	else
		l->next_full_ms = loader_now_ms() + LOADER_RETRY_MS;
}

static void loader_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct loader *l = arg;
	int r;

	(void)fd;
	(void)what;
	r = loader_check_haproxy(l);
	if (r == 1 || (r == 0 && loader_now_ms() >= l->next_full_ms))
		loader_reconcile(l);
}

void loader_stop(struct loader *l)
{
	if (!l)
		return;
	if (l->tick)
		event_free(l->tick);
	loader_run_clear(l);
	if (l->run.ev)
		event_free(l->run.ev);
	store_sub_free(l->sub);
	store_close(l->store);
	store_close(l->served);
	blob_keyring_free(l->kr);
	haproxy_rt_deinit(&l->rt);
	loader_cache_clear(l);
	free(l->crt_list);
	free(l);
}

struct loader *loader_start(struct event_base *base, struct pusher *p, char *err, size_t errsz)
{
	const char *sock = conf_get(p->conf, "haproxy-socket");
	const char *list = conf_get(p->conf, "crt-list");
	const char *ring = conf_get(p->conf, "keyring");
	const char *iv = conf_get_def(p->conf, "reconcile-interval", "30s");
	const char *bs = conf_get(p->conf, "haproxy-bufsize");
	const char *edge = conf_get(p->conf, "edge-id");
	const char *slice = conf_get_def(p->conf, "reconcile-slice", "20ms");
	struct timeval tick = { .tv_sec = LOADER_TICK_MS / 1000 };
	struct loader *l = calloc(1, sizeof(*l));
	uint64_t bufsize = HAPROXY_RT_BUFSIZE_DEFAULT, slice_ms;

	if (!l) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	l->p = p;
	l->base = base;
	l->rt.fd = -1;
	l->redis_current = -1;
	if (!sock || !list || !ring) {
		snprintf(err, errsz, "role loader needs %s",
		         !sock   ? "--haproxy-socket PATH"
		         : !list ? "--crt-list PATH"
		                 : "--keyring FILE");
		goto fail;
	}
	if (!haproxy_rt_path_valid(list)) {
		snprintf(err, errsz,
		         "--crt-list: '%s' is not usable in a runtime API command (no spaces, ';', "
		         "'\\', '#' or quotes)",
		         list);
		goto fail;
	}
	if (parse_duration_ms(iv, 1000, 1000, 24ull * 3600 * 1000, &l->interval_ms) < 0) {
		snprintf(err, errsz, "--reconcile-interval: '%s' is not a duration of 1s..24h", iv);
		goto fail;
	}
	if (parse_duration_ms(slice, 1, 0, 10000, &l->slice_ms) < 0) {
		snprintf(err, errsz,
		         "--reconcile-slice: '%s' is not a duration of 0..10s (0: no slicing)",
		         slice);
		goto fail;
	}
	if (bs && parse_u64(bs, 4096, 1 << 30, &bufsize) < 0) {
		snprintf(err, errsz,
		         "--haproxy-bufsize: '%s': expected HAProxy's tune.bufsize, "
		         "4096..1073741824",
		         bs);
		goto fail;
	}
	if (!edge && gethostname(l->edge, sizeof(l->edge)) < 0)
		l->edge[0] = 0;
	l->edge[sizeof(l->edge) - 1] = 0;
	if (edge)
		snprintf(l->edge, sizeof(l->edge), "%s",
		         strlen(edge) <= SERVED_EDGE_MAX ? edge : "");
	if (!served_edge_valid(l->edge)) {
		snprintf(err, errsz,
		         edge ? "--edge-id: '%.80s' is not valid; expected 1..%d of [A-Za-z0-9._-]"
		              : "--edge-id: the hostname '%.80s' is not a valid edge id; give one "
		                "(1..%d of [A-Za-z0-9._-])",
		         edge ? edge : l->edge, SERVED_EDGE_MAX);
		goto fail;
	}
	l->served_dirty = 1; /* the first reconcile writes the whole hash */
	if (haproxy_rt_init(&l->rt, sock, (size_t)bufsize, LOADER_RT_TIMEOUT_MS, err, errsz) < 0)
		goto fail;
	l->crt_list = strdup(list);
	if (!l->crt_list) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	l->kr = blob_keyring_load(ring, err, errsz);
	if (!l->kr)
		goto fail;
	if (p->check_only)
		return l;
	if (!loader_metrics_registered && pmetrics_register(loader_metrics, NULL) == 0)
		loader_metrics_registered = 1;
	l->store = store_open_local(p->conf, p->prefix, err, errsz);
	if (!l->store)
		goto fail;
	l->tick = event_new(base, -1, EV_PERSIST, loader_on_tick, l);
	l->run.ev = evtimer_new(base, loader_on_run, l);
	if (!l->tick || !l->run.ev || event_add(l->tick, &tick) < 0) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	log_info("loader: socket=%s crt-list=%s reconcile-interval=%llums bufsize=%llu edge=%s",
	         sock, list, (unsigned long long)l->interval_ms, (unsigned long long)bufsize,
	         l->edge);
	/* The first reconcile in one go: READY=1 (run.c) means the certificates are loaded. */
	slice_ms = l->slice_ms;
	l->slice_ms = 0;
	loader_reconcile(l);
	l->slice_ms = slice_ms;
	l->sub = store_sub_new(base, l->store, loader_on_event, l, err, errsz);
	if (!l->sub)
		goto fail;
	return l;
fail:
	loader_stop(l);
	return NULL;
}
