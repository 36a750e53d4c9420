// SPDX-License-Identifier: MIT
/*
 * The loader: Redis (hosts set + sealed blobs) -> HAProxy (ssl certs + crt-list entries) over
 * the runtime API, without a reload, and -> a RAM-backed certificate directory that HAProxy's
 * bind line reads through a crt-list, so that a reloaded or restarted HAProxy starts with every
 * certificate its predecessor served (README "Reloads"). Each certificate is the file
 * <cert-dir>/<host>.<type>.pem (chain + key, mode 0600; the directory must be tmpfs or ramfs,
 * owned by us, mode 0700) and HAProxy knows it by that path. The order of writes keeps one
 * invariant: whatever a new worker would read is something HAProxy may serve. A new name's file
 * and crt-list line are written before it is added at runtime; a renewal is committed at
 * runtime from a staged file that replaces the old one only once HAProxy took it; a removal
 * leaves the crt-list file before it leaves HAProxy.
 *
 * HAProxy is watched with `show info` over a fresh connection every second (a persistent
 * session pins the worker it was opened to): a new pid is a reload or restart, after which the
 * session is reopened and a full reconcile verifies the new worker, name by name, with
 * pipelined commands. One certificate transaction at a time (2.6 has one global transaction,
 * 3.2+ refuses a second one): set -> commit pairs are never interleaved. A cache of what was
 * pushed (blob digest, serial, the worker it was verified in) per name avoids churn. What to
 * push is decided here; how to talk to HAProxy is haproxy_rt.c's, how to read Redis store/'s,
 * how to open blobs blob.c's, how the files are written certdir.c's, and the cache is
 * certcache.c's.
 */
#include "cert-pusher/edge/loader.h"
#include "cert-pusher/edge/certcache.h"
#include "cert-pusher/edge/certdir.h"
#include "cert-pusher/edge/events.h"

#include <errno.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cert-pusher/blob.h"
#include "cert-pusher/edge/haproxy_rt.h"
#include "cert-pusher/edge/namemap.h"
#include "cert-pusher/edge/served.h"
#include "cert-pusher/kms_conf.h"
#include "cert-pusher/pem.h"
#include "cert-pusher/pmetrics.h"
#include "cert-pusher/store/store.h"
#include "common/clock.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"

#define LOADER_TICK_MS       1000  /* `show info` probe: reload and restart detection */
#define LOADER_RETRY_MS      5000  /* after a failed reconcile */
#define LOADER_RT_TIMEOUT_MS 10000 /* per runtime API command */
#define LOADER_BLOB_MAX      (256 * 1024)
#define LOADER_SERVED_MS     500 /* connect/command timeout of the served: reports */
#define LOADER_SLICE_HOSTS   64  /* hosts per event-loop turn of a full reconcile, at most */
#define LOADER_FILE_MAX      (LOADER_BLOB_MAX)

/* One certificate of a slice of a full reconcile (see loader_run_batch()). */
struct loader_item {
	char name[HAPROXY_RT_NAME_MAX + 1];
	char rkey[512];
	enum pem_key_type type;
	struct buf blob;
	struct buf pem; /* sanitised chain + key; wiped */
	struct pem_info info;
	uint8_t digest[32];
	int in_certs; /* HAProxy holds a certificate of that name */
	size_t nent;  /* crt-list entries of that name */
	int staged;   /* the new PEM waits in its staged file */
	int opened;   /* <pem> holds the blob's certificate (else <info> comes from the cache) */
	int todo;     /* LOADER_IT_* */
	size_t host;  /* index in the slice */
	long cmd[3];  /* batch command indexes, -1 when not queued */
};

/* A full reconcile in progress (see loader_run_step()). */
struct loader_run {
	int active;
	int phase; /* 0: the hosts set; 1: names HAProxy or the directory hold for other hosts */
	size_t next;
	struct strv certs, entries;             /* HAProxy's, when the run began */
	struct strv files;                      /* managed names of the directory and crt-list */
	struct strv hosts;                      /* sorted */
	unsigned char *touched;                 /* per host: synced by an event meanwhile */
	char last_host[NAMES_HOSTNAME_MAX + 1]; /* phase 1: last host looked at */
	size_t nok, managed;
	int failed;
	int hp_up;    /* HAProxy answered when the run began (else: files only) */
	uint64_t pid; /* the worker it began with */
	int64_t start;
	struct event *ev; /* the next slice */
};

/* HAProxy as the loader last saw it (reported in served:<edge>, metrics and /healthz). */
enum loader_hp {
	LOADER_HP_UNKNOWN = 0,
	LOADER_HP_DOWN,    /* the stats socket does not answer */
	LOADER_HP_SYNCING, /* a new worker, not verified yet */
	LOADER_HP_UP,      /* the worker we verified */
	LOADER_HP_COUNT
};

static const char *const loader_hp_names[LOADER_HP_COUNT] = {
	[LOADER_HP_UNKNOWN] = "unknown",
	[LOADER_HP_DOWN] = "down",
	[LOADER_HP_SYNCING] = "syncing",
	[LOADER_HP_UP] = "up",
};

struct loader {
	struct pusher *p;
	struct event_base *base;
	struct store *store;
	struct events *sub;
	struct blob_keyring *kr;
	struct haproxy_rt rt;
	int rt_down_logged; /* its absence was reported once */
	char *crt_list;
	char *cert_dir;
	int list_dirty; /* the crt-list file must be rewritten from the cache */
	uint64_t interval_ms;
	struct event *tick;
	enum loader_hp hp;
	uint64_t hp_pid, hp_uptime; /* of the worker the probe reached last */
	long long hp_since;         /* unix time hp last changed */
	int64_t next_full_ms;
	uint64_t slice_ms; /* --reconcile-slice; 0: a full reconcile in one go */
	struct loader_run run;
	struct haproxy_rt_batch batch;
	/* Proof of deployment: served:<edge> on the primary mirrors the verified cache. */
	char edge[SERVED_EDGE_MAX + 1];
	struct store *served; /* write-only connection to the primary; NULL until it answers */
	int served_dirty;     /* a report was lost: the next reconcile rewrites the whole hash */
	int served_down_logged;
	int hp_reported;       /* hp as last written to served:<edge>; -1 never */
	int rewrite_after_run; /* a new worker: the end of the next run rewrites the whole hash */
	/* The local Redis had current data at the last reconcile (store_in_sync()): a primary, or a
	 * replica linked to its primary. When not, nothing is removed from HAProxy: a replica
	 * restarted while cut off is empty, and its edge must keep serving what it has. */
	int redis_current; /* 1, 0, or -1 before the first look */
	struct namemap nm; /* names.map for the on-demand pre-frontend (namemap.h) */
	struct certcache cache;
};

/* ---- cache ---- */

/* Forget <name>: 1 when it was cached, 0 otherwise. */
static int loader_cache_del(struct loader *l, const char *name)
{
	struct certcache_entry *e = certcache_get(&l->cache, name);

	if (!e)
		return 0;
	if (e->listed)
		l->list_dirty = 1;
	certcache_del(&l->cache, e);
	return 1;
}

/* Whether HAProxy's current worker was seen serving <e>. */
static int loader_entry_served(const struct loader *l, const struct certcache_entry *e)
{
	return e->pid && e->pid == l->hp_pid &&
	       (l->hp == LOADER_HP_UP || l->hp == LOADER_HP_SYNCING);
}

/* ---- metrics ---- */

/* Process-wide (not per loader) so the metrics source never points at a freed loader. */
static atomic_ullong loader_pushes, loader_push_errors, loader_removals, loader_remove_errors;
static atomic_ullong loader_reconciles_ok, loader_reconciles_failed, loader_haproxy_restarts;
static atomic_ullong loader_held, loader_managed, loader_file_errors;
static atomic_llong loader_last_reconcile; /* unix seconds of the last successful one */
static atomic_int loader_haproxy_state;    /* enum loader_hp */
static int loader_metrics_registered;      /* registered once per process, from the loop thread */

/* pmetrics source: the loader's counters, as Prometheus text appended to <out>. */
static void loader_metrics(struct buf *out, void *arg)
{
	int hp = atomic_load(&loader_haproxy_state), i;

	(void)arg;
	buf_printf(out,
	           "# HELP spoacme_loader_pushes_total Certificates committed into HAProxy.\n"
	           "# TYPE spoacme_loader_pushes_total counter\n"
	           "spoacme_loader_pushes_total %llu\n"
	           "# HELP spoacme_loader_push_errors_total Certificates that could not be pushed "
	           "(bad blob, refused PEM, HAProxy error).\n"
	           "# TYPE spoacme_loader_push_errors_total counter\n"
	           "spoacme_loader_push_errors_total %llu\n"
	           "# HELP spoacme_loader_removals_total Certificates removed from HAProxy.\n"
	           "# TYPE spoacme_loader_removals_total counter\n"
	           "spoacme_loader_removals_total{result=\"ok\"} %llu\n"
	           "spoacme_loader_removals_total{result=\"error\"} %llu\n"
	           "# HELP spoacme_loader_reconciles_total Full reconciliations of HAProxy with "
	           "Redis.\n"
	           "# TYPE spoacme_loader_reconciles_total counter\n"
	           "spoacme_loader_reconciles_total{result=\"ok\"} %llu\n"
	           "spoacme_loader_reconciles_total{result=\"failed\"} %llu\n"
	           "# HELP spoacme_loader_last_reconcile_timestamp_seconds When the last full "
	           "reconcile succeeded (0: never).\n"
	           "# TYPE spoacme_loader_last_reconcile_timestamp_seconds gauge\n"
	           "spoacme_loader_last_reconcile_timestamp_seconds %lld\n"
	           "# HELP spoacme_loader_haproxy_restarts_total HAProxy reloads or restarts seen "
	           "(a new worker pid).\n"
	           "# TYPE spoacme_loader_haproxy_restarts_total counter\n"
	           "spoacme_loader_haproxy_restarts_total %llu\n"
	           "# HELP spoacme_loader_haproxy_up Whether HAProxy's stats socket answered the "
	           "last probe (fresh connection, every second).\n"
	           "# TYPE spoacme_loader_haproxy_up gauge\n"
	           "spoacme_loader_haproxy_up %d\n"
	           "# HELP spoacme_loader_haproxy_state HAProxy as the loader sees it: 1 for the "
	           "current state.\n"
	           "# TYPE spoacme_loader_haproxy_state gauge\n",
	           (unsigned long long)atomic_load(&loader_pushes),
	           (unsigned long long)atomic_load(&loader_push_errors),
	           (unsigned long long)atomic_load(&loader_removals),
	           (unsigned long long)atomic_load(&loader_remove_errors),
	           (unsigned long long)atomic_load(&loader_reconciles_ok),
	           (unsigned long long)atomic_load(&loader_reconciles_failed),
	           (long long)atomic_load(&loader_last_reconcile),
	           (unsigned long long)atomic_load(&loader_haproxy_restarts),
	           hp == LOADER_HP_UP || hp == LOADER_HP_SYNCING);
	for (i = LOADER_HP_DOWN; i < LOADER_HP_COUNT; i++)
		buf_printf(out, "spoacme_loader_haproxy_state{state=\"%s\"} %d\n",
		           loader_hp_names[i], hp == i);
	buf_printf(out,
	           "# HELP spoacme_loader_certificates Certificates managed (a blob in Redis at "
	           "the last full reconcile) and held (verified in HAProxy's current worker).\n"
	           "# TYPE spoacme_loader_certificates gauge\n"
	           "spoacme_loader_certificates{state=\"managed\"} %llu\n"
	           "spoacme_loader_certificates{state=\"held\"} %llu\n"
	           "# HELP spoacme_loader_file_errors_total Certificate directory or crt-list file "
	           "writes that failed.\n"
	           "# TYPE spoacme_loader_file_errors_total counter\n"
	           "spoacme_loader_file_errors_total %llu\n",
	           (unsigned long long)atomic_load(&loader_managed),
	           (unsigned long long)atomic_load(&loader_held),
	           (unsigned long long)atomic_load(&loader_file_errors));
}

/* /healthz check: HAProxy answers and holds every managed certificate. */
static int loader_health(char *what, size_t whatsz, void *arg)
{
	int hp = atomic_load(&loader_haproxy_state);
	unsigned long long held = atomic_load(&loader_held), managed = atomic_load(&loader_managed);

	(void)arg;
	snprintf(what, whatsz,
	         "%s: %llu of %llu certificates held, last reconcile %lld, %llu reloads",
	         loader_hp_names[hp], held, managed, (long long)atomic_load(&loader_last_reconcile),
	         (unsigned long long)atomic_load(&loader_haproxy_restarts));
	return (hp == LOADER_HP_UP || hp == LOADER_HP_SYNCING) && held >= managed;
}

/* Count the entries HAProxy's current worker was seen serving. */
static size_t loader_count_held(const struct loader *l)
{
	struct certcache_entry **v;
	size_t i, n, held = 0;

	v = certcache_list(&l->cache, &n);
	if (n == (size_t)-1)
		return 0;
	for (i = 0; i < n; i++)
		held += loader_entry_served(l, v[i]);
	free(v);
	return held;
}

/* ---- proof of deployment: served:<edge> on the primary ---- */

/*
 * Every certificate HAProxy's current worker was seen serving is reported as HSET
 * served:<edge> "<host>:<type>" <value> when it is verified, and HDEL when it leaves HAProxy;
 * the field "haproxy" says how HAProxy is (up, syncing a new worker, down) and is written at
 * once when that changes. Reports go on their own connection to the primary with a short
 * timeout and never connect from inside a sync: when one fails (or the primary was never
 * reached), the hash is marked dirty, later reports are skipped, and the end of the next
 * reconcile (or the next tick) rewrites the whole hash from the cache in one MULTI (DEL, HSET,
 * ZADD edges). A clean reconcile ends with the heartbeat alone (ZADD edges <now> <edge>).
 */

/* The served: hash field of HAProxy certificate <name> ("<dir>/host.ecdsa.pem" ->
 * "host:ecdsa"). 0, or -1 when <name> is not one of ours (or OOM). */
static int loader_served_field(const struct loader *l, const char *name, struct buf *field)
{
	enum pem_key_type type;
	size_t off, hl;

	buf_reset(field);
	if (!haproxy_rt_name_managed(l->cert_dir, name, &off, &hl, &type) ||
	    buf_append(field, name + off, hl) < 0 ||
	    buf_printf(field, ":%s", pem_key_type_names[type]) < 0)
		return -1;
	haproxy_rt_host_unescape((char *)field->data);
	return 0;
}

/* The "haproxy" field's value for the current state. 0 or -1 (OOM). */
static int loader_served_hp_value(const struct loader *l, struct buf *val)
{
	struct served_haproxy h = { .pid = (long long)l->hp_pid, .since = l->hp_since };

	snprintf(h.state, sizeof(h.state), "%s", loader_hp_names[l->hp]);
	buf_reset(val);
	return served_haproxy_format(&h, val);
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

/* HSET the cache entry <e> (just verified in HAProxy). */
static void loader_served_put(struct loader *l, const struct certcache_entry *e)
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
	if (loader_served_field(l, e->name, &field) < 0 || served_value_format(&v, &val) < 0) {
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
	if (loader_served_field(l, name, &field) < 0)
		loader_served_lost(l, "out of memory");
	else if (store_served_del(l->served, l->edge, buf_str(&field), err, sizeof(err)) < 0)
		loader_served_lost(l, err);
	buf_deinit(&field);
}

/* Connect the report connection if needed. 0, or -1 (marked dirty). */
static int loader_served_connect(struct loader *l)
{
	char err[512];

	if (l->served)
		return 0;
	/* Short timeouts from the first connect on: a blackholed primary (or sentinel) must not
	 * hold the event loop the API and the events share. */
	l->served =
	        store_open_timeout(l->p->conf, l->p->prefix, LOADER_SERVED_MS, err, sizeof(err));
	if (!l->served) {
		loader_served_lost(l, err);
		return -1;
	}
	return 0;
}

/* Rewrite served:<edge> from the cache: what the current worker was seen serving, and the
 * "haproxy" field. */
static void loader_served_rewrite(struct loader *l, long long now)
{
	struct strv kv = { 0 };
	struct served_value v;
	struct certcache_entry *e, **all;
	struct buf field, val;
	char err[512];
	size_t i, nall, n = 0;

	buf_init(&field);
	buf_init(&val);
	all = certcache_list(&l->cache, &nall);
	if (nall == (size_t)-1 || loader_served_hp_value(l, &val) < 0 ||
	    strv_push(&kv, "haproxy", 7) < 0 || strv_push(&kv, buf_str(&val), val.len) < 0)
		goto oom;
	for (i = 0; i < nall; i++) {
		e = all[i];
		if (!loader_entry_served(l, e))
			continue;
		memset(&v, 0, sizeof(v));
		snprintf(v.serial, sizeof(v.serial), "%s", e->serial);
		v.not_before = e->not_before;
		v.not_after = e->not_after;
		v.at = e->at;
		buf_reset(&val);
		if (loader_served_field(l, e->name, &field) < 0 ||
		    served_value_format(&v, &val) < 0 ||
		    strv_push(&kv, buf_str(&field), field.len) < 0 ||
		    strv_push(&kv, buf_str(&val), val.len) < 0)
			goto oom;
		n++;
	}
	if (store_served_rewrite(l->served, l->edge, &kv, now, err, sizeof(err)) < 0) {
		loader_served_lost(l, err);
		goto out;
	}
	log_info("loader: edge=%s: served hash rewritten on the primary certs=%zu haproxy=%s",
	         l->edge, n, loader_hp_names[l->hp]);
	l->served_dirty = 0;
	l->served_down_logged = 0;
	l->hp_reported = (int)l->hp;
	goto out;
oom:
	log_err("loader: edge=%s: cannot encode the served hash", l->edge);
out:
	free(all);
	strv_deinit(&kv);
	buf_deinit(&field);
	buf_deinit(&val);
}

/* HAProxy's state changed (or was never reported): say so at once. Connects if needed. */
static void loader_served_hp(struct loader *l)
{
	struct buf val;
	char err[512];

	if ((int)l->hp == l->hp_reported || loader_served_connect(l) < 0)
		return;
	if (l->served_dirty) {
		loader_served_rewrite(l, (long long)time(NULL));
		return;
	}
	buf_init(&val);
	if (loader_served_hp_value(l, &val) < 0)
		loader_served_lost(l, "out of memory");
	else if (store_served_set(l->served, l->edge, "haproxy", buf_str(&val), err, sizeof(err)) <
	                 0 ||
	         store_served_heartbeat(l->served, l->edge, (long long)time(NULL), err,
	                                sizeof(err)) < 0)
		loader_served_lost(l, err);
	else
		l->hp_reported = (int)l->hp;
	buf_deinit(&val);
}

/* End of a reconcile: connect to the primary if needed, then the heartbeat, or the whole hash
 * when dirty. Failures only mark the hash dirty. */
static void loader_served_sync(struct loader *l)
{
	long long now = (long long)time(NULL);
	char err[512];

	if (loader_served_connect(l) < 0)
		return;
	if (l->served_dirty) {
		loader_served_rewrite(l, now);
		return;
	}
	if ((int)l->hp != l->hp_reported) {
		loader_served_hp(l);
		return;
	}
	if (store_served_heartbeat(l->served, l->edge, now, err, sizeof(err)) < 0)
		loader_served_lost(l, err);
}

/* HAProxy is now <hp> (worker <pid>): log, count, report. */
static void loader_hp_set(struct loader *l, enum loader_hp hp)
{
	if (hp == l->hp)
		return;
	l->hp = hp;
	l->hp_since = (long long)time(NULL);
	atomic_store(&loader_haproxy_state, (int)hp);
	atomic_store(&loader_held, loader_count_held(l));
	loader_served_hp(l);
}

/* ---- the certificate directory (certdir.c) ---- */

/* Write <pem> as certificate <name>'s file (<suffix> "" or ".new"). 0 or -1 (logged). */
static int loader_file_write(struct loader *l, const char *name, const char *suffix,
                             const struct buf *pem)
{
	char err[512];

	if (certdir_write(l->cert_dir, name, suffix, pem, err, sizeof(err)) < 0) {
		log_err("loader: name=%s: %s", name, err);
		atomic_fetch_add(&loader_file_errors, 1);
		return -1;
	}
	return 0;
}

/* Rename <name>'s staged file over it. 0 or -1 (logged). */
static int loader_file_promote(struct loader *l, const char *name)
{
	char err[256];

	if (certdir_promote(l->cert_dir, name, err, sizeof(err)) < 0) {
		log_err("loader: name=%s: %s", name, err);
		atomic_fetch_add(&loader_file_errors, 1);
		return -1;
	}
	return 0;
}

static int loader_hp_live(const struct loader *l);

/* The names map (namemap.h): the file holds the hosts of the listed certificates (what a new
 * worker loads); with <live>, the running worker's map those verified in a worker (a renewal
 * keeps its name; a certificate never verified is not a name a handshake can skip the agent
 * for). Hosts are taken back from their file form ('_' is a wildcard's '*'). Failures are
 * logged there and only cost handshakes a trip to the agent. */
static void loader_namemap(struct loader *l, int live)
{
	struct strv listed = { 0 }, held = { 0 };
	struct certcache_entry **all;
	char host[NAMES_HOSTNAME_MAX + 1];
	size_t i, nall, off, hl;

	all = certcache_list(&l->cache, &nall);
	if (nall == (size_t)-1)
		return;
	for (i = 0; i < nall; i++) {
		struct certcache_entry *e = all[i];

		if (!e->listed || !haproxy_rt_name_managed(l->cert_dir, e->name, &off, &hl, NULL) ||
		    hl >= sizeof(host))
			continue;
		memcpy(host, e->name + off, hl);
		host[hl] = 0;
		haproxy_rt_host_unescape(host);
		if (strv_push(&listed, host, strlen(host)) < 0 ||
		    (e->pid && strv_push(&held, host, strlen(host)) < 0))
			goto out;
	}
	namemap_normalize(&listed);
	namemap_normalize(&held);
	(void)namemap_write(&l->nm, &listed);
	if (live && loader_hp_live(l))
		(void)namemap_sync(&l->nm, &l->rt, l->hp_pid, &held);
out:
	free(all);
	strv_deinit(&listed);
	strv_deinit(&held);
}

/* Rewrite the crt-list file from the cache (the entries with <listed>, in name order) when it
 * changed. 0 or -1 (logged; still dirty). */
static int loader_list_write(struct loader *l)
{
	struct certcache_entry **all;
	const char **v = NULL;
	char err[512];
	size_t i, nall, n = 0;
	int ret = -1;

	if (!l->list_dirty)
		return 0;
	all = certcache_list(&l->cache, &nall);
	if (nall == (size_t)-1 || (nall && !(v = malloc(nall * sizeof(*v))))) {
		log_err("loader: crt-list file: out of memory");
		goto out;
	}
	for (i = 0; i < nall; i++)
		if (all[i]->listed)
			v[n++] = all[i]->name;
	if (certdir_list_write(l->crt_list, l->cert_dir, v, n, err, sizeof(err)) < 0) {
		log_err("loader: crt-list file: %s", err);
		atomic_fetch_add(&loader_file_errors, 1);
		goto out;
	}
	l->list_dirty = 0;
	loader_namemap(l, 0);
	ret = 0;
out:
	free(v);
	free(all);
	return ret;
}

/*
 * The managed names the directory holds (certificate files) and the crt-list file lists, into
 * <out> (sorted, each once); stale ".tmp" and ".new" files are removed. What was changed behind
 * our back is noticed here, since a reload would read it: a listed certificate whose file is
 * gone is written again (its cache entry is forgotten), and a crt-list file that is not what we
 * wrote is rewritten. 0 or -1 (logged).
 */
static int loader_dir_scan(struct loader *l, struct strv *out)
{
	struct strv files, lines;
	struct certcache_entry **all = NULL;
	char err[512];
	size_t i, j, nall, other, listed = 0;
	int missing, ret = -1;

	strv_init(&files);
	strv_init(&lines);
	if (certdir_files(l->cert_dir, &files) < 0)
		goto out;
	if (certdir_list_read(l->crt_list, l->cert_dir, &lines, &other, &missing, err,
	                      sizeof(err)) < 0) {
		log_err("loader: crt-list file: %s", err);
		goto out;
	}
	if (lines.n)
		strv_sort(&lines);
	all = certcache_list(&l->cache, &nall);
	if (nall == (size_t)-1)
		goto oom;
	for (i = 0; i < nall; i++) {
		struct certcache_entry *e = all[i];

		if (!e->listed)
			continue;
		listed++;
		if (!strv_sorted_has(&lines, e->name))
			l->list_dirty = 1;
		if (!strv_sorted_has(&files, e->name)) {
			log_warn("loader: %s is gone; writing it again", e->name);
			memset(e->digest, 0, sizeof(e->digest));
		}
	}
	if (listed != lines.n || other)
		l->list_dirty = 1;
	/* <out>: the union of both sorted lists. */
	for (i = j = 0; i < files.n || j < lines.n;) {
		int c = i == files.n ? 1 : j == lines.n ? -1 : strcmp(files.v[i], lines.v[j]);
		const char *s = c <= 0 ? files.v[i] : lines.v[j];

		if (strv_push(out, s, strlen(s)) < 0)
			goto oom;
		i += c <= 0;
		j += c >= 0;
	}
	ret = 0;
	goto out;
oom:
	log_err("loader: out of memory");
out:
	free(all);
	strv_deinit(&files);
	strv_deinit(&lines);
	return ret;
}

/* ---- HAProxy operations ---- */

/* Whether HAProxy can be driven now (the last probe reached a worker). */
static int loader_hp_live(const struct loader *l)
{
	return l->hp == LOADER_HP_UP || l->hp == LOADER_HP_SYNCING;
}

/* Remove <name>: out of the crt-list file first (a new worker must not load it), then every
 * crt-list entry and the certificate at runtime, then its file. With HAProxy away, the files
 * alone. 0 or -1. */
static int loader_remove(struct loader *l, const char *name)
{
	struct certcache_entry *e = certcache_get(&l->cache, name);
	enum haproxy_rt_status st;
	char err[512];

	if (e && e->listed) {
		e->listed = 0;
		l->list_dirty = 1;
	}
	if (loader_list_write(l) < 0)
		goto fail;
	if (loader_hp_live(l)) {
		st = haproxy_rt_del_crtlist(&l->rt, l->crt_list, name, 0, err, sizeof(err));
		if (st != HAPROXY_RT_OK && st != HAPROXY_RT_NOT_FOUND) {
			log_err("loader: remove name=%s: %s", name, err);
			goto fail;
		}
		st = haproxy_rt_del_cert(&l->rt, name, err, sizeof(err));
		if (st != HAPROXY_RT_OK && st != HAPROXY_RT_NOT_FOUND) {
			log_err("loader: remove name=%s: %s", name, err);
			goto fail;
		}
	}
	certdir_unlink(l->cert_dir, name, 0);
	loader_cache_del(l, name);
	loader_served_del(l, name);
	atomic_fetch_add(&loader_removals, 1);
	log_info("loader: removed name=%s%s", name, loader_hp_live(l) ? "" : " (files only)");
	return 0;
fail:
	atomic_fetch_add(&loader_remove_errors, 1);
	return -1;
}

/* set + commit of <pem> on <name>, one transaction, checking that the transaction HAProxy
 * names is ours. 0, -1, or -2 when HAProxy refused the certificate itself (not a conflict nor
 * an I/O error: the PEM must not stay where a new worker would load it). */
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
		return st == HAPROXY_RT_ERROR ? -2 : -1;
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
		return st == HAPROXY_RT_ERROR ? -2 : -1;
	}
	return 0;
}

/* Open <blob> (Redis key <rkey>) into sanitised <pem> + <info> of key type <type>. 0 or -1
 * (logged). */
static int loader_open(struct loader *l, const char *name, const char *rkey, enum pem_key_type type,
                       const struct buf *blob, struct buf *pem, struct pem_info *info)
{
	char err[512] = "", host[NAMES_HOSTNAME_MAX + 1], sans[256] = "";
	size_t off, hl;
	int ret = -1;

	if (blob_open_cert(l->kr, rkey, blob,
	                   l->rt.bufsize - HAPROXY_RT_BUF_MARGIN - 64 - strlen(name), pem, info,
	                   err, sizeof(err)) < 0) {
		log_err("loader: name=%s key=%s: %s", name, rkey, err);
		goto out;
	}
	if (info->key_type != type) {
		log_err("loader: name=%s: the blob holds a %s key", name,
		        pem_key_type_names[info->key_type]);
		goto out;
	}
	/* What import refuses, an edge refuses too (a blob stored before that check, or by
	 * hand): a certificate that does not cover its host would be served for it. */
	if (haproxy_rt_name_managed(l->cert_dir, name, &off, &hl, NULL) && hl < sizeof(host)) {
		memcpy(host, name + off, hl);
		host[hl] = 0;
		haproxy_rt_host_unescape(host);
		if (pem_leaf_covers(pem, host, sans, sizeof(sans), err, sizeof(err)) != 1) {
			log_err("loader: name=%s: refusing the certificate: it does not cover %s "
			        "(SANs: %s)%s%s",
			        name, host, sans, *err ? ": " : "", err);
			goto out;
		}
	}
	ret = 0;
out:
	return ret;
}

/* The certificate <name> will be pushed with <pem>: make its file what a new worker should
 * load. <in_haproxy>: HAProxy holds <name> already, so a new file is staged (".new") until the
 * commit and the current one keeps what HAProxy serves meanwhile; otherwise the file and the
 * crt-list line are written now, before the runtime add (<defer_list>: the caller writes the
 * crt-list file before any add). <*staged> says which. 0 or -1. */
static int loader_file_prepare(struct loader *l, struct certcache_entry *e, const struct buf *pem,
                               int in_haproxy, int defer_list, int *staged)
{
	*staged = 0;
	if (certdir_same(e->name, pem)) {
		/* Already there (a reload read it, or we wrote it before a restart). */
	} else if (in_haproxy && loader_hp_live(l) && e->listed) {
		if (loader_file_write(l, e->name, ".new", pem) < 0)
			return -1;
		*staged = 1;
	} else if (loader_file_write(l, e->name, "", pem) < 0) {
		return -1;
	}
	if (!e->listed) {
		e->listed = 1;
		l->list_dirty = 1;
	}
	return defer_list ? 0 : loader_list_write(l);
}

/* HAProxy refused <name>'s PEM: a new worker must not load it (HAProxy would refuse to
 * start). The staged file goes; a file written for a name HAProxy never held goes with its
 * crt-list line. */
static void loader_file_refused(struct loader *l, struct certcache_entry *e, int staged)
{
	if (staged) {
		certdir_unlink(l->cert_dir, e->name, 1);
		return;
	}
	if (e->listed) {
		e->listed = 0;
		l->list_dirty = 1;
		(void)loader_list_write(l);
	}
	certdir_unlink(l->cert_dir, e->name, 0);
	memset(e->digest, 0, sizeof(e->digest));
}

/* <name> was verified in the current worker: record, promote its staged file, report. */
static void loader_verified(struct loader *l, struct certcache_entry *e, const uint8_t digest[32],
                            const struct pem_info *info, int staged, int pushed)
{
	if (staged)
		(void)loader_file_promote(l, e->name);
	certcache_set(e, digest, info);
	e->pid = l->hp_pid;
	/* A full run reports once at its end, in one MULTI, not a round trip per name. */
	if (l->run.active)
		l->served_dirty = 1;
	else
		loader_served_put(l, e);
	if (pushed) {
		atomic_fetch_add(&loader_pushes, 1);
		log_info("loader: loaded name=%s serial=%s not_after=%s certs=%d", e->name,
		         info->serial,
		         log_time((long long)info->not_after, (char[LOG_TIME_MAX]){ 0 }),
		         info->ncerts);
	}
}

/* Bring HAProxy's <name> and its file to <blob>, sealed under Redis key <rkey> (NULL: <name>
 * must not exist). <certs> and <entries> are HAProxy's lists when known (full reconcile), NULL
 * otherwise. With HAProxy away, the file and the crt-list file only. 0 or -1. */
static int loader_sync_name(struct loader *l, const char *name, const char *rkey,
                            enum pem_key_type type, const struct buf *blob,
                            const struct strv *certs, const struct strv *entries)
{
	struct haproxy_rt_cert_info hi;
	struct certcache_entry *ce;
	struct pem_info info;
	struct buf pem;
	enum haproxy_rt_status st;
	uint8_t digest[32];
	char err[512];
	size_t nent;
	int ret = -1, pushed = 0, staged = 0, in = 0, live = loader_hp_live(l), rc;

	buf_init(&pem);
	ce = certcache_get(&l->cache, name);
	if (!blob) {
		if (!ce && certs && !strv_sorted_count(certs, name) &&
		    !(entries && strv_sorted_count(entries, name)) && access(name, F_OK) < 0) {
			ret = 0;
			goto out;
		}
		if (l->redis_current != 1) {
			log_debug("loader: keeping name=%s: the local Redis is not current", name);
			ret = 0;
			goto out;
		}
		ret = loader_remove(l, name);
		goto out;
	}
	if (EVP_Digest(blob->data, blob->len, digest, NULL, EVP_sha256(), NULL) != 1)
		goto out;
	nent = entries ? strv_sorted_count(entries, name) : 1;
	if (ce && ce->listed && !memcmp(ce->digest, digest, 32) &&
	    (!live || (loader_entry_served(l, ce) && (!certs || strv_sorted_count(certs, name)) &&
	               nent == 1))) {
		ret = 0; /* unchanged since we pushed it (or wrote it, HAProxy being away) */
		goto out;
	}
	if (loader_open(l, name, rkey, type, blob, &pem, &info) < 0)
		goto out;
	ce = certcache_add(&l->cache, name);
	if (!ce) {
		log_err("loader: out of memory");
		goto out;
	}
	if (!live) {
		/* A full run writes the crt-list file once per slice, not once per name. */
		if (loader_file_prepare(l, ce, &pem, 0, l->run.active, &staged) < 0)
			goto out;
		certcache_set(ce, digest, &info);
		ce->pid = 0;
		ret = 0;
		goto out;
	}
	/* A full reconcile knows which names HAProxy has: no need to ask for a new one. */
	if (certs && !strv_sorted_count(certs, name))
		st = HAPROXY_RT_NOT_FOUND;
	else
		st = haproxy_rt_show_cert(&l->rt, name, &hi, err, sizeof(err));
	if (st != HAPROXY_RT_OK && st != HAPROXY_RT_NOT_FOUND) {
		log_err("loader: name=%s: %s", name, err);
		goto out;
	}
	in = st == HAPROXY_RT_OK;
	if (!in)
		memset(&hi, 0, sizeof(hi));
	if (loader_file_prepare(l, ce, &pem, in, 0, &staged) < 0)
		goto out;
	if (!in) {
		st = haproxy_rt_new_cert(&l->rt, name, err, sizeof(err));
		if (st != HAPROXY_RT_OK && st != HAPROXY_RT_EXISTS) {
			log_err("loader: new name=%s: %s", name, err);
			goto out;
		}
	}
	if (strcmp(hi.serial, info.serial) || strcmp(hi.sha1, info.sha1)) {
		rc = loader_set_commit(l, name, &pem);
		if (rc == -2)
			loader_file_refused(l, ce, staged);
		if (rc < 0)
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
	loader_verified(l, ce, digest, &info, staged, pushed);
	staged = 0;
	ret = 0;
out:
	if (staged)
		certdir_unlink(l->cert_dir, name, 1);
	if (blob && ret < 0)
		atomic_fetch_add(&loader_push_errors, 1);
	buf_wipe(&pem);
	return ret;
}

/* The certificate name of <host>/<type>: "<cert-dir>/<host>.<type>.pem", a wildcard's '*'
 * escaped (haproxy_rt.h). 0 or -1. */
static int loader_name(const struct loader *l, const char *host, int type, struct buf *out)
{
	char file[NAMES_HOSTNAME_MAX + 3];

	buf_reset(out);
	if (haproxy_rt_host_escape(host, file, sizeof(file)) < 0)
		return -1;
	return buf_printf(out, "%s/%s.%s.pem", l->cert_dir, file, pem_key_type_names[type]);
}

/* Fetch the blob of <host>/<type> into <blob> (when <in_hosts>) and its key into <key>. 1 found,
 * 0 none, -1 error (logged). */
static int loader_fetch(struct loader *l, const char *host, int type, int in_hosts, struct buf *key,
                        struct buf *blob)
{
	char err[512];
	int r;

	buf_reset(key);
	buf_reset(blob);
	if (keys_cert(key, l->p->prefix, host, pem_key_type_names[type]) < 0)
		return -1;
	r = in_hosts ? store_blob_fetch(l->store, buf_str(key), blob, err, sizeof(err)) : 0;
	if (r < 0) {
		log_err("loader: %s", err);
		return -1;
	}
	if (r > 0 && blob->len > LOADER_BLOB_MAX) {
		log_err("loader: %s: blob of %zu bytes is larger than %d", buf_str(key), blob->len,
		        LOADER_BLOB_MAX);
		return -1;
	}
	return r;
}

/* Sync both key types of <host>; <in_hosts> says whether it is managed. */
static int loader_sync_host_lists(struct loader *l, const char *host, int in_hosts,
                                  const struct strv *certs, const struct strv *entries)
{
	struct buf key, blob, name;
	int t, r, ret = 0;

	buf_init(&key);
	buf_init(&blob);
	buf_init(&name);
	for (t = 0; t < PEM_KEY_COUNT; t++) {
		if (loader_name(l, host, t, &name) < 0) {
			ret = -1;
			continue;
		}
		r = loader_fetch(l, host, t, in_hosts, &key, &blob);
		if (r < 0) {
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

/* <host> is about to be synced outside the full reconcile in progress: if the run has not
 * reached it yet, its lists will be stale for it, so the run must look at HAProxy instead. */
static void loader_run_touch(struct loader *l, const char *host)
{
	struct loader_run *r = &l->run;
	size_t at;

	if (!r->active || r->phase != 0 || !r->hosts.n)
		return;
	at = strv_sorted_index(&r->hosts, host);
	if (at < r->hosts.n && at >= r->next)
		r->touched[at] = 1;
}

int loader_sync_host(struct loader *l, const char *host)
{
	const char *why;
	char err[512];
	int in;

	if (!names_cert_host_valid(host, &why)) {
		log_warn("loader: ignoring event for '%.64s': %s", host, why);
		return -1;
	}
	in = store_host_exists(l->store, host, err, sizeof(err));
	if (in < 0) {
		log_err("loader: %s", err);
		return -1;
	}
	loader_run_touch(l, host);
	in = loader_sync_host_lists(l, host, in, NULL, NULL);
	loader_namemap(l, 1);
	return in;
}

/* Probe HAProxy over a fresh connection: 1 when a new worker answers (a reload or a restart:
 * the session is reopened and nothing is taken as verified any more), 0 when it is the same,
 * -1 when nothing answers. */
static int loader_check_haproxy(struct loader *l)
{
	uint64_t pid = 0, up = 0;
	char err[512];
	int known = l->hp_pid != 0;

	if (haproxy_rt_probe(&l->rt, &pid, &up, err, sizeof(err)) != HAPROXY_RT_OK) {
		if (loader_hp_live(l) || !l->rt_down_logged)
			log_err("loader: HAProxy: %s; reported down, retrying every second", err);
		l->rt_down_logged = 1;
		haproxy_rt_close(&l->rt);
		loader_hp_set(l, LOADER_HP_DOWN);
		return -1;
	}
	if (pid == l->hp_pid && loader_hp_live(l)) {
		l->hp_uptime = up;
		return 0;
	}
	if (known && pid != l->hp_pid) {
		atomic_fetch_add(&loader_haproxy_restarts, 1);
		log_notice("loader: HAProxy has a new worker (pid %llu -> %llu, uptime %llus): a "
		           "reload "
		           "or restart; verifying every certificate in it",
		           (unsigned long long)l->hp_pid, (unsigned long long)pid,
		           (unsigned long long)up);
	} else {
		log_info("loader: HAProxy pid=%llu uptime=%llus", (unsigned long long)pid,
		         (unsigned long long)up);
	}
	/* A session opened before pins the old worker (which lives on while it is open). */
	haproxy_rt_close(&l->rt);
	l->rt_down_logged = 0;
	l->hp_pid = pid;
	l->hp_uptime = up;
	/* The served hash keeps what the old worker served (the new one loaded the same files)
	 * while the run verifies it, name by name; then it is rewritten from what was verified. */
	l->rewrite_after_run = 1;
	loader_hp_set(l, LOADER_HP_SYNCING);
	return 1;
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
	strv_deinit(&r->certs);
	strv_deinit(&r->entries);
	strv_deinit(&r->files);
	strv_deinit(&r->hosts);
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
		log_info("loader: reconciled hosts=%zu failed=%d ms=%lld%s", r->nok, r->failed,
		         (long long)(clock_mono_ms() - r->start),
		         r->hp_up ? "" : " (HAProxy away: files only)");
	if (ok == 0)
		atomic_store(&loader_managed, r->managed);
	/* A clean run on a worker that was seen from its start verifies it: it is up. A new
	 * worker seen meanwhile is probed by the next tick. */
	if (ret == 0 && r->hp_up && l->hp == LOADER_HP_SYNCING && r->pid == l->hp_pid) {
		uint64_t pid = 0, up = 0;
		char err[256];

		if (haproxy_rt_probe(&l->rt, &pid, &up, err, sizeof(err)) == HAPROXY_RT_OK &&
		    pid == l->hp_pid)
			loader_hp_set(l, LOADER_HP_UP);
	}
	atomic_store(&loader_held, loader_count_held(l));
	loader_namemap(l, 1);
	if (ok == 0 && r->hp_up && r->pid == l->hp_pid && l->rewrite_after_run) {
		l->served_dirty = 1;
		l->rewrite_after_run = 0;
	}
	/* Report only while HAProxy answers: an edge whose HAProxy is away says so instead. */
	if (loader_hp_live(l))
		loader_served_sync(l);
	else
		loader_served_hp(l);
	if (ret == 0 && ok == 0)
		atomic_store(&loader_last_reconcile, (long long)time(NULL));
	atomic_fetch_add(ret == 0 ? &loader_reconciles_ok : &loader_reconciles_failed, 1);
	l->next_full_ms = clock_mono_ms() + (ret == 0 ? (int64_t)l->interval_ms : LOADER_RETRY_MS);
	/* A new worker (or HAProxy back) seen during the run: verify it from the start, now. */
	if (loader_hp_live(l) && (!r->hp_up || r->pid != l->hp_pid))
		l->next_full_ms = clock_mono_ms();
	loader_run_clear(l);
	return ret;
}

/* Start a run: HAProxy's state (when it answers), stale transactions aborted, the directory's
 * names, the hosts set sorted. 0, or -1 (logged) when HAProxy answered but could not be read,
 * or Redis could not be read. */
static int loader_run_begin(struct loader *l)
{
	struct loader_run *r = &l->run;
	struct strv txns;
	char err[512];
	size_t i;
	int ret = -1, rc;

	strv_init(&txns);
	strv_init(&r->certs);
	strv_init(&r->entries);
	strv_init(&r->files);
	memset(&r->hosts, 0, sizeof(r->hosts));
	r->active = 1;
	r->phase = 0;
	r->next = 0;
	r->nok = 0;
	r->managed = 0;
	r->failed = 0;
	r->start = clock_mono_ms();
	r->last_host[0] = 0;
	(void)loader_check_haproxy(l);
	r->hp_up = loader_hp_live(l);
	r->pid = l->hp_pid;
	if (r->hp_up) {
		if (haproxy_rt_show_certs(&l->rt, &r->certs, &txns, err, sizeof(err)) !=
		    HAPROXY_RT_OK) {
			log_err("loader: %s", err);
			goto out;
		}
		/* A transaction left open (by a crashed loader, or an operator's for longer than
		 * a reconcile interval) would swallow our next `set` on 2.6. */
		for (i = 0; i < txns.n; i++) {
			log_warn("loader: aborting the stale transaction of %s", txns.v[i]);
			if (haproxy_rt_abort_cert(&l->rt, txns.v[i], err, sizeof(err)) !=
			    HAPROXY_RT_OK)
				log_err("loader: %s", err);
		}
		if (haproxy_rt_show_crtlist(&l->rt, l->crt_list, &r->entries, err, sizeof(err)) !=
		    HAPROXY_RT_OK) {
			log_err("loader: --crt-list '%s' is not a crt-list of HAProxy's "
			        "configuration: %s",
			        l->crt_list, err);
			goto out;
		}
	}
	if (r->certs.n)
		strv_sort(&r->certs);
	if (r->entries.n)
		strv_sort(&r->entries);
	if (loader_dir_scan(l, &r->files) < 0)
		goto out;
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
		strv_sort(&r->hosts);
	r->touched = calloc(r->hosts.n + 1, 1);
	if (!r->touched) {
		log_err("loader: out of memory");
		goto out;
	}
	ret = 0;
out:
	strv_deinit(&txns);
	return ret;
}

/* Item states of a batch. */
enum {
	LOADER_IT_DONE = 0, /* nothing to do, or done */
	LOADER_IT_VERIFY,   /* HAProxy holds the name: does it serve our serial? */
	LOADER_IT_PUSH,     /* new/set/commit, then add and verify */
	LOADER_IT_HELD,     /* serves it: only its file is checked */
	LOADER_IT_ADD,      /* serves it, but no crt-list entry */
	LOADER_IT_SLOW,     /* the one-at-a-time path (conflicts, duplicates, failures) */
	LOADER_IT_FAILED,
};

/* Queue one command of item <it> in l->batch; on failure the item goes the slow way. */
static void loader_batch_add(struct loader *l, struct loader_item *it, int slot, const char *verb,
                             const char *arg1, const char *arg2, const struct buf *payload)
{
	char err[512];

	it->cmd[slot] = haproxy_rt_batch_add(&l->batch, &l->rt, verb, arg1, arg2, payload, err,
	                                     sizeof(err));
	if (it->cmd[slot] < 0) {
		log_err("loader: name=%s: %s", it->name, err);
		it->todo = LOADER_IT_SLOW;
	}
}

/* Classify the reply of command <slot> of <it>: HAPROXY_RT_* (HAPROXY_RT_IO when the command
 * was not queued). */
static enum haproxy_rt_status loader_batch_status(const struct loader *l,
                                                  const struct loader_item *it, int slot,
                                                  enum haproxy_rt_cmd kind)
{
	const char *body;
	size_t len;

	if (it->cmd[slot] < 0)
		return HAPROXY_RT_IO;
	body = haproxy_rt_batch_reply(&l->batch, (size_t)it->cmd[slot], &len);
	return haproxy_rt_classify(kind, it->name, body, len, NULL, 0);
}

/* Whether command <slot> of <it> was refused because another CLI session held the certificate
 * lock (HAProxy only try-locks): nothing was done, the one-at-a-time path retries it. */
static int loader_batch_locked(const struct loader *l, const struct loader_item *it, int slot)
{
	const char *body;
	size_t len;

	if (it->cmd[slot] < 0)
		return 0;
	body = haproxy_rt_batch_reply(&l->batch, (size_t)it->cmd[slot], &len);
	return memmem(body, len, HAPROXY_RT_LOCKED, strlen(HAPROXY_RT_LOCKED)) != NULL;
}

/* Whether `show ssl cert` command <slot> of <it> shows the serial and fingerprint of its PEM. */
static int loader_batch_serves(const struct loader *l, const struct loader_item *it, int slot)
{
	struct haproxy_rt_cert_info hi;
	const char *body;
	size_t len;

	if (it->cmd[slot] < 0)
		return 0;
	body = haproxy_rt_batch_reply(&l->batch, (size_t)it->cmd[slot], &len);
	return haproxy_rt_parse_cert_info(body, len, &hi) == HAPROXY_RT_OK &&
	       !strcmp(hi.serial, it->info.serial) && !strcmp(hi.sha1, it->info.sha1);
}

/* Start a new batch: no item has a queued command. */
static void loader_batch_begin(struct loader *l, struct loader_item *it, size_t n)
{
	size_t i;

	haproxy_rt_batch_reset(&l->batch);
	for (i = 0; i < n; i++)
		it[i].cmd[0] = it[i].cmd[1] = it[i].cmd[2] = -1;
}

/* Run l->batch; on an I/O failure every item with a queued command goes the slow way. */
static void loader_batch_run(struct loader *l, struct loader_item *it, size_t n)
{
	char err[512];
	size_t i;

	if (!l->batch.n)
		return;
	if (haproxy_rt_batch_run(&l->rt, &l->batch, err, sizeof(err)) == HAPROXY_RT_OK)
		return;
	log_err("loader: %s", err);
	/* HAProxy gone (stopped, restarting)? Then nothing more is tried until it is back. */
	(void)loader_check_haproxy(l);
	for (i = 0; i < n; i++) {
		if (it[i].cmd[0] >= 0 || it[i].cmd[1] >= 0 || it[i].cmd[2] >= 0)
			it[i].todo = loader_hp_live(l) ? LOADER_IT_SLOW : LOADER_IT_FAILED;
		it[i].cmd[0] = it[i].cmd[1] = it[i].cmd[2] = -1;
	}
	haproxy_rt_batch_reset(&l->batch);
}

/* Open item <x>'s blob into its PEM; on failure it is marked failed. 0 or -1. */
static int loader_item_open(struct loader *l, struct loader_item *x)
{
	if (loader_open(l, x->name, x->rkey, x->type, &x->blob, &x->pem, &x->info) < 0) {
		x->todo = LOADER_IT_FAILED;
		return -1;
	}
	x->opened = 1;
	return 0;
}

/*
 * The hosts [<from>, <to>) of the run in pipelined batches: what HAProxy already serves is
 * verified with one `show ssl cert` per name, all in one write; then the files of what must be
 * pushed (and the crt-list file, once); then new/set/commit of every certificate to push, in
 * one stream (one transaction at a time: each commit comes before the next set); then the
 * crt-list adds and the verifications. A certificate whose command fails in a batch is synced
 * again the one-at-a-time way, which knows how to resolve transaction conflicts. The number of
 * hosts that failed is returned.
 */
static int loader_run_batch(struct loader *l, size_t from, size_t to)
{
	struct loader_run *r = &l->run;
	struct loader_item *it;
	struct certcache_entry *ce;
	unsigned char *hfail;
	size_t n = 0, i, h;
	int t, rc, failed = 0;

	it = calloc((to - from) * PEM_KEY_COUNT + 1, sizeof(*it));
	hfail = calloc(to - from + 1, 1);
	if (!it || !hfail) {
		free(it);
		free(hfail);
		log_err("loader: out of memory");
		return (int)(to - from);
	}
	for (h = from; h < to; h++) {
		const char *host = r->hosts.v[h];
		struct buf key, name;

		buf_init(&key);
		buf_init(&name);
		for (t = 0; t < PEM_KEY_COUNT; t++) {
			struct loader_item *x = &it[n];

			buf_init(&x->blob);
			buf_init(&x->pem);
			x->cmd[0] = x->cmd[1] = x->cmd[2] = -1;
			rc = loader_name(l, host, t, &name) < 0 || name.len > HAPROXY_RT_NAME_MAX
			             ? -1
			             : loader_fetch(l, host, t, 1, &key, &x->blob);
			if (rc < 0 || key.len >= sizeof(x->rkey)) {
				hfail[h - from] = 1;
				buf_deinit(&x->blob);
				continue;
			}
			if (rc == 0) {
				/* No blob of that type: make sure HAProxy has none. */
				if (loader_sync_name(l, buf_str(&name), buf_str(&key),
				                     (enum pem_key_type)t, NULL, &r->certs,
				                     &r->entries) < 0)
					hfail[h - from] = 1;
				buf_deinit(&x->blob);
				continue;
			}
			r->managed++;
			memcpy(x->name, name.data, name.len + 1);
			memcpy(x->rkey, key.data, key.len + 1);
			x->type = (enum pem_key_type)t;
			x->in_certs = strv_sorted_count(&r->certs, x->name) > 0;
			x->nent = strv_sorted_count(&r->entries, x->name);
			x->host = h - from;
			n++;
			if (EVP_Digest(x->blob.data, x->blob.len, x->digest, NULL, EVP_sha256(),
			               NULL) != 1) {
				x->todo = LOADER_IT_FAILED;
				continue;
			}
			ce = certcache_get(&l->cache, x->name);
			if (ce && ce->listed && !memcmp(ce->digest, x->digest, 32) &&
			    loader_entry_served(l, ce) && x->in_certs && x->nent == 1) {
				x->todo = LOADER_IT_DONE;
				continue;
			}
			if (x->nent > 1) {
				x->todo = LOADER_IT_SLOW;
				continue;
			}
			/* Its file was written from this very blob: verifying what a new worker
			 * loaded needs no decryption, only the serial and fingerprint we know. */
			if (ce && ce->listed && !memcmp(ce->digest, x->digest, 32) && x->in_certs &&
			    ce->sha1[0]) {
				snprintf(x->info.serial, sizeof(x->info.serial), "%s", ce->serial);
				snprintf(x->info.sha1, sizeof(x->info.sha1), "%s", ce->sha1);
				x->info.not_before = (time_t)ce->not_before;
				x->info.not_after = (time_t)ce->not_after;
				x->info.key_type = x->type;
				x->todo = LOADER_IT_VERIFY;
				continue;
			}
			if (loader_item_open(l, x) < 0)
				continue;
			x->todo = x->in_certs ? LOADER_IT_VERIFY : LOADER_IT_PUSH;
		}
		buf_deinit(&key);
		buf_deinit(&name);
	}
	/* 1. What HAProxy holds: does it serve our serial? */
	loader_batch_begin(l, it, n);
	for (i = 0; i < n; i++)
		if (it[i].todo == LOADER_IT_VERIFY)
			loader_batch_add(l, &it[i], 0, "show ssl cert", it[i].name, NULL, NULL);
	loader_batch_run(l, it, n);
	for (i = 0; i < n; i++) {
		if (it[i].todo != LOADER_IT_VERIFY)
			continue;
		if (loader_batch_locked(l, &it[i], 0))
			it[i].todo = LOADER_IT_SLOW;
		else if (!loader_batch_serves(l, &it[i], 0))
			it[i].todo = it[i].opened || loader_item_open(l, &it[i]) == 0
			                     ? LOADER_IT_PUSH
			                     : LOADER_IT_FAILED;
		else
			it[i].todo = it[i].nent ? LOADER_IT_HELD : LOADER_IT_ADD;
	}
	/* 2. Files: staged renewals, new names' files and crt-list lines (one write of it). */
	for (i = 0; i < n; i++) {
		int state = it[i].todo;

		if (state != LOADER_IT_PUSH && state != LOADER_IT_ADD && state != LOADER_IT_HELD)
			continue;
		if (!it[i].opened)
			continue; /* listed, and its file written from this blob */
		ce = certcache_add(&l->cache, it[i].name);
		if (!ce ||
		    loader_file_prepare(l, ce, &it[i].pem, it[i].in_certs, 1, &it[i].staged) < 0)
			it[i].todo = LOADER_IT_SLOW;
	}
	if (loader_list_write(l) < 0)
		for (i = 0; i < n; i++)
			if (it[i].todo == LOADER_IT_PUSH || it[i].todo == LOADER_IT_ADD)
				it[i].todo = LOADER_IT_SLOW;
	/* 3. new/set/commit, in one stream. */
	loader_batch_begin(l, it, n);
	for (i = 0; i < n; i++) {
		if (it[i].todo != LOADER_IT_PUSH)
			continue;
		if (!it[i].in_certs)
			loader_batch_add(l, &it[i], 0, "new ssl cert", it[i].name, NULL, NULL);
		if (it[i].todo == LOADER_IT_PUSH)
			loader_batch_add(l, &it[i], 1, "set ssl cert", it[i].name, NULL,
			                 &it[i].pem);
		if (it[i].todo == LOADER_IT_PUSH)
			loader_batch_add(l, &it[i], 2, "commit ssl cert", it[i].name, NULL, NULL);
	}
	loader_batch_run(l, it, n);
	for (i = 0; i < n; i++) {
		enum haproxy_rt_status st;

		if (it[i].todo != LOADER_IT_PUSH)
			continue;
		st = loader_batch_status(l, &it[i], 0, HAPROXY_RT_CMD_NEW);
		if ((!it[i].in_certs && st != HAPROXY_RT_OK && st != HAPROXY_RT_EXISTS) ||
		    loader_batch_status(l, &it[i], 1, HAPROXY_RT_CMD_SET) != HAPROXY_RT_OK ||
		    loader_batch_status(l, &it[i], 2, HAPROXY_RT_CMD_COMMIT) != HAPROXY_RT_OK)
			it[i].todo = LOADER_IT_SLOW;
	}
	/* 4. crt-list entries, and what HAProxy now serves. */
	loader_batch_begin(l, it, n);
	for (i = 0; i < n; i++) {
		if (it[i].todo == LOADER_IT_ADD || (it[i].todo == LOADER_IT_PUSH && !it[i].nent))
			loader_batch_add(l, &it[i], 0, "add ssl crt-list", l->crt_list, it[i].name,
			                 NULL);
		if (it[i].todo == LOADER_IT_PUSH)
			loader_batch_add(l, &it[i], 1, "show ssl cert", it[i].name, NULL, NULL);
	}
	loader_batch_run(l, it, n);
	for (i = 0; i < n; i++) {
		int pushed = it[i].todo == LOADER_IT_PUSH;

		if (it[i].todo != LOADER_IT_PUSH && it[i].todo != LOADER_IT_ADD &&
		    it[i].todo != LOADER_IT_HELD)
			continue;
		if (it[i].cmd[0] >= 0 &&
		    loader_batch_status(l, &it[i], 0, HAPROXY_RT_CMD_ADD_CRTLIST) !=
		            HAPROXY_RT_OK) {
			it[i].todo = LOADER_IT_SLOW;
			continue;
		}
		if (pushed && !loader_batch_serves(l, &it[i], 1)) {
			it[i].todo = LOADER_IT_SLOW;
			continue;
		}
		ce = certcache_get(&l->cache, it[i].name);
		if (ce)
			loader_verified(l, ce, it[i].digest, &it[i].info, it[i].staged, pushed);
		it[i].staged = 0;
		it[i].todo = LOADER_IT_DONE;
	}
	haproxy_rt_batch_reset(&l->batch);
	/* 5. The rest, one at a time. */
	for (i = 0; i < n; i++) {
		size_t hi = it[i].host;

		if (it[i].staged)
			certdir_unlink(l->cert_dir, it[i].name, 1);
		if (it[i].todo == LOADER_IT_SLOW &&
		    (!loader_hp_live(l) || loader_sync_name(l, it[i].name, it[i].rkey, it[i].type,
		                                            &it[i].blob, NULL, NULL) < 0))
			it[i].todo = LOADER_IT_FAILED;
		if (it[i].todo == LOADER_IT_FAILED) {
			hfail[hi] = 1;
			atomic_fetch_add(&loader_push_errors, 1);
		}
		buf_deinit(&it[i].blob);
		buf_wipe(&it[i].pem);
	}
	for (h = from; h < to; h++) {
		if (hfail[h - from])
			failed++;
		else
			r->nok++;
	}
	free(it);
	free(hfail);
	return failed;
}

/* One item of phase 1: the managed name <i> of HAProxy's lists or of the directory. */
static void loader_run_orphan(struct loader *l, size_t i)
{
	struct loader_run *r = &l->run;
	const char *name = i < r->certs.n ? r->certs.v[i]
	                   : i < r->certs.n + r->entries.n
	                           ? r->entries.v[i - r->certs.n]
	                           : r->files.v[i - r->certs.n - r->entries.n];
	char host[NAMES_HOSTNAME_MAX + 1];
	const char *why;
	size_t off, hl;

	if (!haproxy_rt_name_managed(l->cert_dir, name, &off, &hl, NULL))
		return;
	memcpy(host, name + off, hl);
	host[hl] = 0;
	haproxy_rt_host_unescape(host);
	if (strv_sorted_has(&r->hosts, host))
		return;
	if (!strcmp(host, r->last_host))
		return; /* both key types and the entries of a host: one look is enough */
	snprintf(r->last_host, sizeof(r->last_host), "%s", host);
	if (!names_cert_host_valid(host, &why)) {
		if (l->redis_current == 1 && loader_remove(l, name) < 0)
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
	int64_t until = clock_mono_ms() + (int64_t)l->slice_ms;
	size_t done = 0, norphans;
	const char *why;

	while (r->phase == 0 && r->next < r->hosts.n) {
		size_t from = r->next, to = from;

		/* A run of untouched, valid hosts goes through the batches. */
		while (to < r->hosts.n && to - from < LOADER_SLICE_HOSTS && !r->touched[to] &&
		       names_cert_host_valid(r->hosts.v[to], &why))
			to++;
		if (r->hp_up && !loader_hp_live(l)) {
			/* HAProxy went away during the run: the new one is verified from the
			 * start when it answers; until then the files are current. */
			r->failed++;
			return loader_run_finish(l, 0);
		}
		if (to > from && r->hp_up) {
			r->failed += loader_run_batch(l, from, to);
			r->next = to;
			done += to - from;
		} else {
			size_t i = r->next++;
			int touched = r->touched[i];

			if (!names_cert_host_valid(r->hosts.v[i], &why)) {
				log_warn("loader: skipping host '%.64s' of the hosts set: %s",
				         r->hosts.v[i], why);
				continue;
			}
			if (loader_sync_host_lists(l, r->hosts.v[i], 1, touched ? NULL : &r->certs,
			                           touched ? NULL : &r->entries) < 0)
				r->failed++;
			else
				r->nok++;
			r->managed += PEM_KEY_COUNT; /* an estimate for the files-only runs */
			done++;
		}
		if (l->slice_ms && (done >= LOADER_SLICE_HOSTS || clock_mono_ms() >= until)) {
			(void)loader_list_write(l);
			return 1;
		}
	}
	if (loader_list_write(l) < 0)
		r->failed++;
	if (r->phase == 0) {
		r->phase = 1;
		r->next = 0;
	}
	norphans = r->certs.n + r->entries.n + r->files.n;
	while (r->next < norphans) {
		loader_run_orphan(l, r->next++);
		if (l->slice_ms && (++done >= LOADER_SLICE_HOSTS || clock_mono_ms() >= until))
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
		l->next_full_ms = clock_mono_ms() + LOADER_RETRY_MS;
}

static void loader_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct loader *l = arg;
	int r;

	(void)fd;
	(void)what;
	/* A new worker is verified at once; with HAProxy away the files are kept current, so
	 * that it starts with what Redis holds. */
	r = loader_check_haproxy(l);
	if (r == 1 || clock_mono_ms() >= l->next_full_ms)
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
	events_free(l->sub);
	store_close(l->store);
	store_close(l->served);
	blob_keyring_free(l->kr);
	haproxy_rt_deinit(&l->rt);
	haproxy_rt_batch_deinit(&l->batch);
	certcache_clear(&l->cache);
	namemap_deinit(&l->nm);
	free(l->crt_list);
	free(l->cert_dir);
	free(l);
}

/* Take the crt-list file's certificates as listed (what HAProxy loads at its next start), and
 * create an empty crt-list file when there is none, so that HAProxy can start. Lines naming a
 * missing file are dropped (HAProxy would refuse to start). 0 or -1 with <err>. */
static int loader_list_load(struct loader *l, char *err, size_t errsz)
{
	struct certcache_entry *e;
	struct strv lines;
	char why[512];
	size_t i, other;
	int missing, ret = -1;

	strv_init(&lines);
	if (certdir_list_read(l->crt_list, l->cert_dir, &lines, &other, &missing, why,
	                      sizeof(why)) < 0) {
		snprintf(err, errsz, "--crt-list: %s", why);
		goto out;
	}
	l->list_dirty = missing;
	if (other) {
		log_warn("loader: crt-list file: dropping %zu lines that are not certificates of "
		         "--cert-dir",
		         other);
		l->list_dirty = 1;
	}
	for (i = 0; i < lines.n; i++) {
		if (access(lines.v[i], R_OK) < 0) {
			log_warn("loader: crt-list file: dropping '%.200s' (no such file)",
			         lines.v[i]);
			l->list_dirty = 1;
			continue;
		}
		e = certcache_add(&l->cache, lines.v[i]);
		if (!e) {
			snprintf(err, errsz, "out of memory");
			goto out;
		}
		e->listed = 1;
	}
	if (loader_list_write(l) < 0) {
		snprintf(err, errsz, "--crt-list: '%s' cannot be written (see above)", l->crt_list);
		goto out;
	}
	ret = 0;
out:
	strv_deinit(&lines);
	return ret;
}

struct loader *loader_start(struct event_base *base, struct pusher *p, char *err, size_t errsz)
{
	const char *sock = conf_get(p->conf, "haproxy-socket");
	const char *list = conf_get(p->conf, "crt-list");
	const char *dir = conf_get(p->conf, "cert-dir");
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
	l->hp_reported = -1;
	haproxy_rt_batch_init(&l->batch);
	if (!sock || !dir || (!ring && !kms_conf_keyring_optional(p->conf))) {
		snprintf(err, errsz, "role loader needs %s",
		         !sock  ? "--haproxy-socket PATH"
		         : !dir ? "--cert-dir DIR (a RAM-backed directory for HAProxy's reloads)"
		                : "--keyring FILE");
		goto fail;
	}
	if (certdir_check(dir, err, errsz) < 0)
		goto fail;
	if (namemap_init(&l->nm, dir, err, errsz) < 0)
		goto fail;
	l->cert_dir = strdup(dir);
	l->crt_list = list ? strdup(list) : NULL;
	if (!list && l->cert_dir && asprintf(&l->crt_list, "%s/crt-list", dir) < 0)
		l->crt_list = NULL;
	if (!l->cert_dir || !l->crt_list) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	list = l->crt_list;
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
	l->kr = kms_conf_keyring(ring, p->conf, err, errsz);
	if (!l->kr)
		goto fail;
	if (p->check_only)
		return l;
	if (loader_list_load(l, err, errsz) < 0)
		goto fail;
	if (!loader_metrics_registered && pmetrics_register(loader_metrics, NULL) == 0 &&
	    pmetrics_health_register("haproxy", loader_health, NULL) == 0)
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
	log_info("loader: socket=%s cert-dir=%s crt-list=%s reconcile-interval=%llums bufsize=%llu "
	         "edge=%s",
	         sock, l->cert_dir, list, (unsigned long long)l->interval_ms,
	         (unsigned long long)bufsize, l->edge);
	/* The first reconcile in one go: READY=1 (run.c) means the certificates are loaded, or,
	 * with HAProxy not started yet (a cold boot), written where it will load them. */
	slice_ms = l->slice_ms;
	l->slice_ms = 0;
	loader_reconcile(l);
	l->slice_ms = slice_ms;
	l->sub = events_new(base, l->store, loader_on_event, l, err, errsz);
	if (!l->sub)
		goto fail;
	return l;
fail:
	loader_stop(l);
	return NULL;
}
