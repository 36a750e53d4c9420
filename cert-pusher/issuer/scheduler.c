// SPDX-License-Identifier: MIT
/*
 * The issuer role: due hosts -> per-host locks -> a bounded pool of workers running blocking
 * ACME orders -> outcome, next due time, lock released. One dispatcher thread polls the due
 * zset and keeps the locks of running orders alive; each worker has its own Redis connection
 * and its own issuer context, so nothing blocking ever runs on the API's event loop. ACME is
 * behind struct scheduler_ops; Redis is store.c's; the state names are hosts.c's.
 */
#include "cert-pusher/issuer/scheduler.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cert-pusher/issuer/dns01.h"
#include "cert-pusher/issuer/dnsgate.h"
#include "cert-pusher/issuer/ondemand.h"
#include "cert-pusher/hosts.h"
#include "cert-pusher/issuer/http.h"
#include "cert-pusher/issuer/issuer.h"
#include "cert-pusher/pmetrics.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/parse.h"

struct scheduler_job {
	char name[NAMES_HOSTNAME_MAX + 1];
	char replaces[JWS_ALG_COUNT][256]; /* CertID of each current certificate, or "" */
	int revoke;                        /* a removal with revoke=true: revoke, then purge */
	enum hosts_state prev;             /* state before we took it (restored when abandoned) */
	long long renew_at;                /* planned renewal of the current certificate, or 0 */
	int had_cert;             /* a certificate exists: this is a renewal (or an ARI poll) */
	int started;              /* a worker took it */
	int finishing;            /* the worker is releasing the lock: stop extending */
	long long last_extend_ms; /* monotonic time of the last extension that succeeded */
	atomic_int stop;          /* SIGTERM or lock lost: the order gives up (issue callback) */
	atomic_int lost;          /* the lock could not be kept: write no outcome */
	struct scheduler_job *next;
};

struct scheduler {
	const struct conf *conf; /* borrowed: the daemon's configuration */
	char *prefix;
	struct scheduler_opts opts;
	struct scheduler_ops ops;
	struct dnsgate *gate;     /* dnsgate.c, or NULL; owned */
	struct ondemand_ask *ask; /* --on-demand-ask (ondemand.c), or NULL; dispatcher only */
	char owner[SCHEDULER_OWNER_LEN + 1];

	pthread_mutex_t mu;
	pthread_cond_t work_cv;     /* a job was queued, or stop */
	pthread_cond_t disp_cv;     /* a job ended, or stop */
	struct scheduler_job *jobs; /* queued and running, ours (lock held) */
	unsigned njobs;
	atomic_int stop; /* read by workers and the issuer without the mutex */

	void *binding; /* owned by the role binding, freed last */
	void (*binding_free)(void *binding);

	pthread_t dispatcher;
	pthread_t *workers;
	unsigned nworkers; /* started */
	int dispatcher_started;
};

/* ---- arithmetic ---- */

static uint64_t scheduler_rand(void)
{
	uint64_t r = 0;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint64_t)time(NULL) * 6364136223846793005ULL + (uint64_t)clock();
	return r;
}

long long scheduler_renew_at(long long not_before, long long not_after, double fraction,
                             uint64_t rnd)
{
	long long life = not_after - not_before, j, t, hi;

	if (life <= 0)
		return not_after;
	j = life / 20; /* jitter: +-5% of the lifetime, so a fleet's renewals spread out */
	t = not_before + (long long)((double)life * fraction);
	if (j > 0)
		t += (long long)(rnd % (uint64_t)(2 * j + 1)) - j;
	hi = not_after - life / 20;
	if (t > hi)
		t = hi;
	if (t < not_before)
		t = not_before;
	return t;
}

long long scheduler_backoff(unsigned attempts, long long retry_after, long long min_s,
                            long long max_s, uint64_t rnd)
{
	long long d = min_s, half;
	unsigned i;

	if (min_s < 1)
		min_s = d = 1;
	if (max_s < min_s)
		max_s = min_s;
	for (i = 1; i < attempts && d < max_s; i++)
		d = d > max_s / 2 ? max_s : d * 2;
	if (d > max_s)
		d = max_s;
	half = d / 2;
	d = half + (long long)(rnd % (uint64_t)(d - half + 1)); /* uniform in [d/2, d] */
	if (d < min_s)
		d = min_s;
	if (retry_after > 7 * 86400)
		retry_after = 7 * 86400;
	if (retry_after > d)
		d = retry_after;
	return d;
}

long long scheduler_ari_pick(const struct ari_window *w, long long prev, long long now,
                             uint64_t rnd)
{
	/* RFC 9773 §4.2: one random choice per window; a re-poll that returns the same window
	 * keeps it instead of drawing again (which would drift towards the window's start). */
	if (prev >= w->start && prev <= w->end)
		return prev < now ? now : prev;
	return ari_choose(w, now, rnd);
}

int scheduler_parse_fraction(const char *s, double *out)
{
	uint64_t num, den;
	const char *slash = strchr(s, '/');
	char *end;
	double v;

	if (slash) {
		char a[24];

		if ((size_t)(slash - s) >= sizeof(a))
			return -1;
		memcpy(a, s, (size_t)(slash - s));
		a[slash - s] = 0;
		if (parse_u64(a, 1, 1000000, &num) < 0 ||
		    parse_u64(slash + 1, 1, 1000000, &den) < 0)
			return -1;
		v = (double)num / (double)den;
	} else {
		if (!*s || strspn(s, "0123456789.") != strlen(s))
			return -1;
		errno = 0;
		v = strtod(s, &end);
		if (errno || *end)
			return -1;
	}
	if (!(v > 0.0 && v < 1.0))
		return -1;
	*out = v;
	return 0;
}

int scheduler_opts_from_conf(struct scheduler_opts *o, const struct conf *conf, char *err,
                             size_t errsz)
{
	const char *v;
	uint64_t u;

	o->renew_fraction = 2.0 / 3.0;
	o->max_orders = 4;
	o->lock_ttl_ms = 60000;
	o->backoff_min_s = 60;
	o->backoff_max_s = 6 * 3600;
	o->poll_ms = 1000;
	if ((v = conf_get(conf, "renew-fraction")) &&
	    scheduler_parse_fraction(v, &o->renew_fraction) < 0) {
		snprintf(err, errsz,
		         "--renew-fraction: '%s': expected a fraction in (0, 1) such as "
		         "2/3 or 0.66",
		         v);
		return -1;
	}
	if ((v = conf_get(conf, "max-concurrent-orders"))) {
		if (parse_u64(v, 1, 64, &u) < 0) {
			snprintf(err, errsz, "--max-concurrent-orders: '%s': expected 1..64", v);
			return -1;
		}
		o->max_orders = (unsigned)u;
	}
	if ((v = conf_get(conf, "lock-ttl"))) {
		if (parse_duration_ms(v, 1000, 3000, 3600000, &u) < 0) {
			snprintf(err, errsz, "--lock-ttl: '%s': expected a duration in 3s..1h", v);
			return -1;
		}
		o->lock_ttl_ms = (long long)u;
	}
	if ((v = conf_get(conf, "backoff-min"))) {
		if (parse_duration_ms(v, 1000, 1000, 86400000, &u) < 0) {
			snprintf(err, errsz, "--backoff-min: '%s': expected a duration in 1s..24h",
			         v);
			return -1;
		}
		o->backoff_min_s = (long long)(u / 1000);
	}
	if ((v = conf_get(conf, "backoff-max"))) {
		if (parse_duration_ms(v, 1000, 1000, 7 * 86400000ULL, &u) < 0) {
			snprintf(err, errsz, "--backoff-max: '%s': expected a duration in 1s..7d",
			         v);
			return -1;
		}
		o->backoff_max_s = (long long)(u / 1000);
	}
	if (o->backoff_max_s < o->backoff_min_s) {
		snprintf(err, errsz, "--backoff-max: %llds is below --backoff-min %llds",
		         o->backoff_max_s, o->backoff_min_s);
		return -1;
	}
	if ((v = conf_get(conf, "due-poll"))) {
		if (parse_duration_ms(v, 1000, 50, 60000, &u) < 0) {
			snprintf(err, errsz, "--due-poll: '%s': expected a duration in 50ms..60s",
			         v);
			return -1;
		}
		o->poll_ms = (long long)u;
	}
	return 0;
}

/* ---- shared job list (under sc->mu) ---- */

static struct scheduler_job *scheduler_find(struct scheduler *sc, const char *name)
{
	struct scheduler_job *j;

	for (j = sc->jobs; j; j = j->next)
		if (!strcmp(j->name, name))
			return j;
	return NULL;
}

static void scheduler_unlink(struct scheduler *sc, struct scheduler_job *job)
{
	struct scheduler_job **pp;

	for (pp = &sc->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == job) {
			*pp = job->next;
			sc->njobs--;
			return;
		}
	}
}

unsigned scheduler_running(struct scheduler *sc)
{
	unsigned n;

	pthread_mutex_lock(&sc->mu);
	n = sc->njobs;
	pthread_mutex_unlock(&sc->mu);
	return n;
}

const char *scheduler_owner(const struct scheduler *sc)
{
	return sc->owner;
}

/* ---- worker ---- */

/* Write <kv> (NULL-terminated pairs) and delete <del> (NULL-terminated) in host:<name>. */
static int scheduler_write(struct store *st, const char *name, const char *const *kv,
                           const char *const *del, char *err, size_t errsz)
{
	if (kv && kv[0] && store_host_update(st, name, kv, err, errsz) < 0)
		return -1;
	for (; del && *del; del++)
		if (store_host_del_field(st, name, *del, err, errsz) < 0)
			return -1;
	return 0;
}

/* Whether host <name>'s removal asks for revocation: 1, 0, or -1 (Redis: assume it does, so
 * nothing is purged unrevoked). */
static int scheduler_revoke_asked(struct store *st, const char *name)
{
	struct buf v;
	char err[512];
	int rc;

	buf_init(&v);
	rc = store_host_field(st, name, HOSTS_F_REVOKE, &v, err, sizeof(err));
	if (rc < 0)
		log_warn("host=%s reading the revoke flag: %s", name, err);
	else
		rc = rc == 1 && v.len && strcmp(buf_str(&v), "0") != 0;
	buf_deinit(&v);
	return rc;
}

/* The end of every job: finish a removal asked meanwhile (unless it asks for revocation: then
 * make it due now), else release the lock. */
static void scheduler_release(struct scheduler *sc, struct store *st, struct scheduler_job *job)
{
	struct buf v;
	char err[512];
	int rc;

	buf_init(&v);
	pthread_mutex_lock(&sc->mu);
	job->finishing = 1;
	pthread_mutex_unlock(&sc->mu);
	rc = store_host_field(st, job->name, HOSTS_F_REMOVING, &v, err, sizeof(err));
	if (rc == 1 && v.len && scheduler_revoke_asked(st, job->name) != 0) {
		/* revoke=true: never purged unrevoked. Asked during an order: the next take
		 * revokes (the new certificate too), due now; a failed revocation keeps its
		 * backoff. */
		if (!job->revoke &&
		    store_due_set(st, job->name, (long long)time(NULL), err, sizeof(err)) < 0)
			log_warn("host=%s scheduling the revocation: %s", job->name, err);
		if (store_lock_release(st, job->name, sc->owner, err, sizeof(err)) < 0)
			log_warn("host=%s releasing the lock: %s (it expires on its own)",
			         job->name, err);
	} else if (rc == 1 && v.len) {
		rc = store_host_purge(st, job->name, sc->owner, err, sizeof(err));
		if (rc == 1)
			log_info("host=%s removed (asked during an order)", job->name);
		else
			log_warn("host=%s removal after the order: %s", job->name,
			         rc < 0 ? err : "lock lost");
	} else if (store_lock_release(st, job->name, sc->owner, err, sizeof(err)) < 0) {
		log_warn("host=%s releasing the lock: %s (it expires on its own)", job->name, err);
	}
	buf_deinit(&v);
}

/* Put a job back as it was (SIGTERM before or during the order): state restored, marker gone,
 * due time untouched so the next issuer takes it at once. */
static void scheduler_abandon(struct scheduler *sc, struct store *st, struct scheduler_job *job)
{
	const char *kv[] = { HOSTS_F_STATE, hosts_state_name(job->prev), NULL };
	const char *del[] = { HOSTS_F_ORDER, NULL };
	char err[512];

	if (scheduler_write(st, job->name, kv, del, err, sizeof(err)) < 0)
		log_warn("host=%s abandoning: %s", job->name, err);
	scheduler_release(sc, st, job);
}

/* Ask renewalInfo for each CertID of <ids> (by key type, "" for none) and merge the windows
 * (ari_window_merge: one renewal renews every key type, so the earliest start decides): 1 with
 * <w> and <*ra> (the shortest Retry-After, -1 when none), 0 when no certificate has one. */
static int scheduler_ari_query(struct scheduler *sc, void *ctx, char (*ids)[256],
                               struct ari_window *w, long long *ra)
{
	struct ari_window one;
	long long r;
	int alg, got = 0;

	*ra = -1;
	if (!sc->ops.renewal_info)
		return 0;
	for (alg = 0; alg < JWS_ALG_COUNT; alg++) {
		if (!ids[alg][0])
			continue;
		r = -1;
		memset(&one, 0, sizeof(one));
		if (sc->ops.renewal_info(ctx, ids[alg], &one, &r) != 1)
			continue;
		if (got)
			ari_window_merge(w, &one);
		else
			*w = one;
		got = 1;
		if (r >= 0 && (*ra < 0 || r < *ra))
			*ra = r;
	}
	return got;
}

/*
 * A host whose certificate is valid woke up: at its planned renewal time (or after `renew`,
 * which moves the plan to now) the order runs (0). Woken before it, this is an ARI poll
 * (RFC 9773 §4.3): the CA may have moved the window earlier (1: rescheduled, or 0: renew now);
 * without ARI the host goes back to sleep until the plan (1).
 */
static int scheduler_ari_poll(struct scheduler *sc, void *ctx, struct store *st,
                              struct scheduler_job *job)
{
	struct ari_window w = { 0 };
	long long now = (long long)time(NULL), ra = -1, t, due;
	char ts[32], err[512];
	int rc = 0;

	if (now >= job->renew_at)
		return 0;
	rc = scheduler_ari_query(sc, ctx, job->replaces, &w, &ra);
	if (rc != 1) {
		const char *kv[] = { HOSTS_F_STATE, hosts_state_name(job->prev), NULL };
		const char *del[] = { HOSTS_F_ORDER, NULL };

		if (scheduler_write(st, job->name, kv, del, err, sizeof(err)) < 0 ||
		    store_due_set(st, job->name, job->renew_at, err, sizeof(err)) < 0)
			log_warn("host=%s reschedule: %s", job->name, err);
		return 1;
	}
	t = scheduler_ari_pick(&w, job->renew_at, now, scheduler_rand());
	if (t <= now)
		return 0;
	due = ari_next_poll(now, ra);
	if (due > t)
		due = t;
	snprintf(ts, sizeof(ts), "%lld", t);
	{
		const char *kv[] = { HOSTS_F_STATE,
			             hosts_state_name(job->prev),
			             HOSTS_F_RENEW_AT,
			             ts,
			             HOSTS_F_ARI_NOTE,
			             w.explanation_url,
			             NULL };
		const char *del[] = { HOSTS_F_ORDER, NULL };

		if (t != job->renew_at)
			pmetrics_renewal_planned(1);
		if (scheduler_write(st, job->name, kv, del, err, sizeof(err)) < 0 ||
		    store_due_set(st, job->name, due, err, sizeof(err)) < 0)
			log_warn("host=%s ARI reschedule: %s", job->name, err);
		else
			log_info("host=%s ari window=%s..%s renew_at=%s next_poll=%s", job->name,
			         log_time(w.start, (char[LOG_TIME_MAX]){ 0 }),
			         log_time(w.end, (char[LOG_TIME_MAX]){ 0 }),
			         log_time(t, (char[LOG_TIME_MAX]){ 0 }),
			         log_time(due, (char[LOG_TIME_MAX]){ 0 }));
	}
	return 1;
}

/* Record failure <why> of <job> (attempts + 1, last_error, next_attempt) and make it due after
 * the backoff (or the CA's Retry-After <retry_after>, -1 when none). Returns the delay. */
static long long scheduler_record_failure(struct scheduler *sc, struct store *st,
                                          struct scheduler_job *job, enum hosts_state state,
                                          const char *why, long long retry_after)
{
	const char *del[] = { HOSTS_F_ORDER, NULL };
	char at[32], ra[32], err[512];
	long long now = (long long)time(NULL), delay;
	uint64_t att = 0;
	struct buf v;

	buf_init(&v);
	if (store_host_field(st, job->name, HOSTS_F_ATTEMPTS, &v, err, sizeof(err)) == 1)
		(void)parse_u64(buf_str(&v), 0, 1000000, &att);
	buf_deinit(&v);
	att++;
	delay = scheduler_backoff((unsigned)att, retry_after, sc->opts.backoff_min_s,
	                          sc->opts.backoff_max_s, scheduler_rand());
	snprintf(at, sizeof(at), "%llu", (unsigned long long)att);
	snprintf(ra, sizeof(ra), "%lld", now + delay);
	{
		const char *kv[] = { HOSTS_F_STATE,
			             hosts_state_name(state),
			             HOSTS_F_LAST_ERROR,
			             why,
			             HOSTS_F_ATTEMPTS,
			             at,
			             HOSTS_F_NEXT_ATTEMPT,
			             ra,
			             NULL };

		if (scheduler_write(st, job->name, kv, del, err, sizeof(err)) < 0 ||
		    store_due_set(st, job->name, now + delay, err, sizeof(err)) < 0)
			log_err("host=%s recording the failure: %s", job->name, err);
	}
	return delay;
}

/* A removal with revoke=true: revoke the host's certificates with <ctx> (none: <ctx_err> says
 * why), then purge it under our lock. A failure is recorded like a failed order (last_error,
 * attempts, backoff) and the host stays "removing" with everything in place, so the name is
 * never left half deleted; a plain removal asked meanwhile is finished at release. */
static void scheduler_run_revoke(struct scheduler *sc, void *ctx, const char *ctx_err,
                                 struct store *st, struct scheduler_job *job)
{
	char why[ACME_ERR_MAX + 64], err[512];
	long long ra = -1, delay;
	int rc;

	if (!ctx) {
		snprintf(why, sizeof(why), "issuer unavailable: %s", ctx_err);
		rc = -1;
	} else {
		rc = sc->ops.revoke(ctx, job->name, &ra, why, sizeof(why));
	}
	if (rc == 0) {
		pthread_mutex_lock(&sc->mu);
		job->finishing = 1;
		pthread_mutex_unlock(&sc->mu);
		rc = store_host_purge(st, job->name, sc->owner, err, sizeof(err));
		if (rc == 1) {
			log_info("host=%s certificates revoked; removed", job->name);
			return;
		}
		log_warn("host=%s revoked, but the removal failed: %s (retried)", job->name,
		         rc < 0 ? err : "lock lost");
		if (rc < 0 && store_lock_release(st, job->name, sc->owner, err, sizeof(err)) < 0)
			log_warn("host=%s releasing the lock: %s", job->name, err);
		return;
	}
	if (!*why)
		snprintf(why, sizeof(why), "revocation failed without a reason");
	delay = scheduler_record_failure(sc, st, job, HOSTS_STATE_REMOVING, why, ra);
	log_warn("host=%s revocation failed; retry_in=%llds: %s", job->name, delay, why);
	scheduler_release(sc, st, job);
}

/* Run <job> with worker context <ctx>, or, when there is none (<ctx_err> says why: the CA or
 * the account is unreachable), record that as a failed attempt so the backoff applies. */
static void scheduler_run_job(struct scheduler *sc, void *ctx, const char *ctx_err,
                              struct store *st, struct scheduler_job *job)
{
	struct scheduler_result res;
	struct ari_window w;
	char nb[32], na[32], ia[32], ra[32], err[512];
	const char *rp[JWS_ALG_COUNT];
	long long now, t0, renew, due, ari_ra = -1;
	double secs;
	int alg;

	if (job->revoke) {
		scheduler_run_revoke(sc, ctx, ctx_err, st, job);
		return;
	}
	if (ctx && job->had_cert && job->prev == HOSTS_STATE_VALID && job->renew_at &&
	    scheduler_ari_poll(sc, ctx, st, job) == 1)
		goto release;
	memset(&res, 0, sizeof(res));
	res.retry_after = -1;
	t0 = clock_mono_ms();
	for (alg = 0; alg < JWS_ALG_COUNT; alg++)
		rp[alg] = job->replaces[alg][0] ? job->replaces[alg] : NULL;
	if (ctx) {
		log_info("host=%s order start%s%s%s%s", job->name,
		         rp[JWS_ALG_ES256] ? " replaces_ecdsa=" : "",
		         rp[JWS_ALG_ES256] ? rp[JWS_ALG_ES256] : "",
		         rp[JWS_ALG_RS256] ? " replaces_rsa=" : "",
		         rp[JWS_ALG_RS256] ? rp[JWS_ALG_RS256] : "");
		sc->ops.issue(ctx, job->name, rp, &job->stop, &res);
	} else {
		snprintf(res.error, sizeof(res.error), "issuer unavailable: %s", ctx_err);
	}
	secs = (double)(clock_mono_ms() - t0) / 1000.0;
	if (atomic_load(&job->lost)) {
		/* Another issuer may own the host now, or it was deleted: its state is not ours
		 * to write (the fence would refuse it anyway). */
		log_warn("host=%s order %s after the lock was lost; its outcome is not recorded",
		         job->name, res.ok ? "finished" : "stopped");
		return;
	}
	if (!res.ok && sc->stop) {
		log_info("host=%s order interrupted by shutdown; the next issuer restarts it",
		         job->name);
		scheduler_abandon(sc, st, job);
		return;
	}
	pmetrics_order_done(res.ok, res.problem_type, secs);
	now = (long long)time(NULL);
	if (res.ok) {
		const char *del[] = { HOSTS_F_ORDER, HOSTS_F_LAST_ERROR, HOSTS_F_NEXT_ATTEMPT,
			              HOSTS_F_CERT_ID, NULL };
		int ari = 0;

		renew = scheduler_renew_at(res.not_before, res.not_after, sc->opts.renew_fraction,
		                           scheduler_rand());
		due = renew;
		if (scheduler_ari_query(sc, ctx, res.cert_id, &w, &ari_ra) == 1) {
			long long t = ari_choose(&w, now, scheduler_rand());

			/* A window that says "renew now" for a certificate we just got would
			 * loop on orders: fall back to the fraction and look again later. */
			long long min_gap = (res.not_after - res.not_before) / 10;

			if (min_gap > 3600)
				min_gap = 3600;
			if (t < now + min_gap) {
				log_warn("host=%s ARI window %s..%s for a new certificate is "
				         "too early; using the lifetime fraction",
				         job->name, log_time(w.start, (char[LOG_TIME_MAX]){ 0 }),
				         log_time(w.end, (char[LOG_TIME_MAX]){ 0 }));
				due = ari_next_poll(now, ari_ra);
				if (due > renew)
					due = renew;
			} else {
				renew = t;
				due = ari_next_poll(now, ari_ra);
				if (due > renew)
					due = renew;
				ari = 1;
			}
		}
		pmetrics_renewal_planned(ari);
		snprintf(nb, sizeof(nb), "%lld", res.not_before);
		snprintf(na, sizeof(na), "%lld", res.not_after);
		snprintf(ia, sizeof(ia), "%lld", now);
		snprintf(ra, sizeof(ra), "%lld", renew);
		{
			const char *kv[] = { HOSTS_F_STATE,
				             hosts_state_name(HOSTS_STATE_VALID),
				             HOSTS_F_NOT_BEFORE,
				             nb,
				             HOSTS_F_NOT_AFTER,
				             na,
				             HOSTS_F_ISSUED_AT,
				             ia,
				             HOSTS_F_RENEW_AT,
				             ra,
				             HOSTS_F_ATTEMPTS,
				             "0",
				             HOSTS_F_SERIAL_ECDSA,
				             res.serial_ecdsa,
				             HOSTS_F_SERIAL_RSA,
				             res.serial_rsa,
				             HOSTS_F_CERT_ID_ECDSA,
				             res.cert_id[JWS_ALG_ES256],
				             HOSTS_F_CERT_ID_RSA,
				             res.cert_id[JWS_ALG_RS256],
				             NULL };

			if (scheduler_write(st, job->name, kv, del, err, sizeof(err)) < 0 ||
			    store_due_set(st, job->name, due, err, sizeof(err)) < 0)
				log_err("host=%s recording the new certificate: %s", job->name,
				        err);
		}
		log_info("host=%s order ok seconds=%.1f not_after=%s renew_at=%s%s", job->name,
		         secs, log_time(res.not_after, (char[LOG_TIME_MAX]){ 0 }),
		         log_time(renew, (char[LOG_TIME_MAX]){ 0 }), ari ? " (ari)" : "");
	} else {
		long long delay;

		if (!*res.error)
			snprintf(res.error, sizeof(res.error), "order failed without a reason");
		delay = scheduler_record_failure(sc, st, job, HOSTS_STATE_FAILED, res.error,
		                                 res.retry_after);
		log_warn("host=%s order failed retry_in=%llds problem=%s: %s", job->name, delay,
		         pmetrics_problem_label(res.problem_type), res.error);
	}
release:
	scheduler_release(sc, st, job);
}

/* Fence the writes of the worker's store <st> and of its issuer context <ctx> on the lock of
 * <name> (NULL: lift the fences). 0, or -1 (logged). */
static int scheduler_fence(struct scheduler *sc, struct store *st, void *ctx, const char *name)
{
	char err[512];

	if (store_fence(st, name, sc->owner, err, sizeof(err)) < 0 ||
	    (ctx && sc->ops.fence && sc->ops.fence(ctx, name, sc->owner, err, sizeof(err)) < 0)) {
		log_err("issuer worker: fencing on the lock of %s: %s", name ? name : "-", err);
		return -1;
	}
	return 0;
}

static void *scheduler_worker(void *arg)
{
	struct scheduler *sc = arg;
	struct scheduler_job *job;
	struct store *st = NULL;
	void *ctx = NULL;
	char err[512];

	for (;;) {
		pthread_mutex_lock(&sc->mu);
		for (;;) {
			for (job = sc->jobs; job && job->started; job = job->next)
				;
			if (job || sc->stop)
				break;
			pthread_cond_wait(&sc->work_cv, &sc->mu);
		}
		if (job)
			job->started = 1;
		pthread_mutex_unlock(&sc->mu);
		if (!job)
			break; /* stop, and nothing queued */
		if (!st && !(st = store_open(sc->conf, sc->prefix, err, sizeof(err))))
			log_err("issuer worker: %s", err);
		if (st && !ctx && !sc->stop &&
		    !(ctx = sc->ops.ctx_new(sc->ops.arg, err, sizeof(err))))
			log_err("issuer worker: %s", err);
		if (st && scheduler_fence(sc, st, ctx, job->name) < 0) {
			store_close(st); /* out of memory: write nothing unfenced */
			st = NULL;
		}
		if (st) {
			if (sc->stop)
				scheduler_abandon(sc, st, job);
			else
				scheduler_run_job(sc, ctx, err, st, job);
			scheduler_fence(sc, st, ctx, NULL);
		} /* without Redis, the lock expires and the host stays due */
		pthread_mutex_lock(&sc->mu);
		scheduler_unlink(sc, job);
		pthread_cond_signal(&sc->disp_cv);
		pthread_mutex_unlock(&sc->mu);
		free(job);
	}
	if (ctx)
		sc->ops.ctx_free(ctx);
	store_close(st);
	return NULL;
}

/* ---- dispatcher ---- */

/* The lock of <name> could not be kept: tell its worker to stop and to write no outcome. */
static void scheduler_lock_lost(struct scheduler *sc, const char *name, const char *why)
{
	struct scheduler_job *j;
	int lost;

	pthread_mutex_lock(&sc->mu);
	j = scheduler_find(sc, name);
	lost = j && !j->finishing;
	if (lost) {
		atomic_store(&j->lost, 1);
		atomic_store(&j->stop, 1);
	}
	pthread_mutex_unlock(&sc->mu);
	if (lost) {
		pmetrics_lock_lost();
		log_warn("host=%s lock lost during the order (%s): stopping it", name, why);
	}
}

/*
 * Keep the locks of our running jobs alive: extended every third of the TTL, and retried at
 * every poll after a failure. A lock that is someone else's now, or that could not be extended
 * for two thirds of the TTL (it may have expired by the time Redis answers again), is lost.
 */
static void scheduler_extend(struct scheduler *sc, struct store *st)
{
	char names[64][NAMES_HOSTNAME_MAX + 1], err[512];
	long long now = clock_mono_ms(), since[64];
	struct scheduler_job *j;
	size_t n = 0, i;
	int rc;

	pthread_mutex_lock(&sc->mu);
	for (j = sc->jobs; j && n < 64; j = j->next) {
		if (j->finishing || atomic_load(&j->lost) ||
		    now - j->last_extend_ms < sc->opts.lock_ttl_ms / 3)
			continue;
		since[n] = j->last_extend_ms;
		memcpy(names[n++], j->name, sizeof(j->name));
	}
	pthread_mutex_unlock(&sc->mu);
	for (i = 0; i < n; i++) {
		rc = store_lock_extend(st, names[i], sc->owner, sc->opts.lock_ttl_ms, err,
		                       sizeof(err));
		if (rc == 1) {
			pthread_mutex_lock(&sc->mu);
			if ((j = scheduler_find(sc, names[i])))
				j->last_extend_ms = now;
			pthread_mutex_unlock(&sc->mu);
			continue;
		}
		if (rc == 0) {
			scheduler_lock_lost(sc, names[i], "expired, or taken by another issuer");
			continue;
		}
		log_warn("host=%s extending the lock: %s", names[i], err);
		if (now - since[i] >= 2 * sc->opts.lock_ttl_ms / 3)
			scheduler_lock_lost(sc, names[i], "not extended for 2/3 of its TTL");
	}
}

/* The value of <field> in HGETALL pairs <kv>, or "". */
static const char *scheduler_kv(const struct strv *kv, const char *field)
{
	size_t i;

	for (i = 0; i + 1 < kv->n; i += 2)
		if (!strcmp(kv->v[i], field))
			return kv->v[i + 1];
	return "";
}

/* Try to take due host <name>: 1 queued, 0 skipped. */
static int scheduler_take(struct scheduler *sc, struct store *st, const char *name, long long now)
{
	struct strv kv = { 0 };
	struct hosts_info info;
	struct scheduler_job *job = NULL;
	const char *why, *cid, *rv;
	char order[SCHEDULER_OWNER_LEN + 32], err[512];
	long long at;
	int rc, ret = 0, locked = 0;

	if (!names_cert_host_valid(name, &why)) {
		log_warn("due entry '%s' is not a hostname (%s): dropped", name, why);
		store_due_remove(st, name, err, sizeof(err));
		goto out;
	}
	rc = store_lock_acquire(st, name, sc->owner, sc->opts.lock_ttl_ms, err, sizeof(err));
	if (rc <= 0) {
		if (rc == 0)
			pmetrics_lock_contended();
		else
			log_warn("host=%s lock: %s", name, err);
		goto out;
	}
	locked = 1;
	if (store_fence(st, name, sc->owner, err, sizeof(err)) < 0)
		goto out;
	/* Another issuer may have finished it between our ZRANGEBYSCORE and the lock: it moves
	 * the due time before releasing, so a fresh look tells. */
	rc = store_due_get(st, name, &at, err, sizeof(err));
	if (rc <= 0 || at > now)
		goto out;
	rc = store_host_exists(st, name, err, sizeof(err));
	if (rc < 0)
		goto out;
	if (rc == 0) {
		store_due_remove(st, name, err, sizeof(err));
		goto out;
	}
	if (store_host_get_all(st, name, &kv, err, sizeof(err)) < 0)
		goto out;
	hosts_info_from_pairs(&info, name, &kv);
	rv = scheduler_kv(&kv, HOSTS_F_REVOKE);
	if (info.state == HOSTS_STATE_REMOVING && *rv && strcmp(rv, "0") != 0) {
		/* removal with revoke=true: a worker revokes (network), then purges */
		if (!sc->ops.revoke) {
			log_warn("host=%s removal asks for revocation, which this issuer cannot "
			         "do; looking again in %llds",
			         name, sc->opts.backoff_max_s);
			store_due_set(st, name, now + sc->opts.backoff_max_s, err, sizeof(err));
			goto out;
		}
		job = calloc(1, sizeof(*job));
		if (!job)
			goto out;
		memcpy(job->name, info.name, sizeof(job->name));
		job->prev = HOSTS_STATE_REMOVING;
		job->revoke = 1;
		goto queue;
	}
	if (info.state == HOSTS_STATE_REMOVING) {
		rc = store_host_purge(st, name, sc->owner, err, sizeof(err));
		if (rc == 1) {
			locked = 0;
			log_info("host=%s removed", name);
		}
		goto out;
	}
	/* A name a handshake added is ordered only if the operator's endpoint allows it (its
	 * first order only: a name with a certificate is never asked about); refused, it goes. */
	if (sc->ask && !info.not_after && !strcmp(info.origin, "on_demand") &&
	    !ondemand_ask_allows(sc->ask, st, name)) {
		rc = store_host_purge(st, name, sc->owner, err, sizeof(err));
		if (rc == 1) {
			locked = 0;
			log_info("host=%s on-demand: refused by --on-demand-ask; removed", name);
		} else if (rc < 0) {
			log_warn("host=%s on-demand: removing the refused name: %s", name, err);
		}
		goto out;
	}
	/* A host without a certificate is ordered only once its DNS points at us. */
	if (sc->gate && !info.not_after &&
	    dnsgate_hold(sc->gate, st, name, &info, scheduler_kv(&kv, DNSGATE_F_SKIP),
	                 scheduler_kv(&kv, DNSGATE_F_CHECKS), now))
		goto out;
	job = calloc(1, sizeof(*job));
	if (!job)
		goto out;
	memcpy(job->name, info.name, sizeof(job->name));
	job->prev = info.state == HOSTS_STATE_ISSUING || info.state == HOSTS_STATE_RENEWING
	                    ? (info.not_after ? HOSTS_STATE_VALID : HOSTS_STATE_PENDING)
	                    : info.state;
	job->had_cert = info.not_after != 0;
	job->renew_at = info.renew_at;
	if (info.order_running)
		log_info("host=%s an earlier order did not finish (issuer died?); starting over",
		         name);
	cid = scheduler_kv(&kv, HOSTS_F_CERT_ID_ECDSA);
	if (!*cid) /* written before CertIDs were kept per key type */
		cid = scheduler_kv(&kv, HOSTS_F_CERT_ID);
	snprintf(job->replaces[JWS_ALG_ES256], sizeof(job->replaces[0]), "%s", cid);
	snprintf(job->replaces[JWS_ALG_RS256], sizeof(job->replaces[0]), "%s",
	         scheduler_kv(&kv, HOSTS_F_CERT_ID_RSA));
	snprintf(order, sizeof(order), "%s %lld", sc->owner, now);
	{
		const char *hkv[] = { HOSTS_F_STATE,
			              hosts_state_name(job->had_cert ? HOSTS_STATE_RENEWING
			                                             : HOSTS_STATE_ISSUING),
			              HOSTS_F_ORDER, order, NULL };

		/* An ARI poll that ends up not renewing writes the state back. */
		if (store_host_update(st, name, hkv, err, sizeof(err)) < 0)
			goto out;
	}
queue:
	job->last_extend_ms = clock_mono_ms();
	pthread_mutex_lock(&sc->mu);
	job->next = sc->jobs;
	sc->jobs = job;
	sc->njobs++;
	pthread_cond_signal(&sc->work_cv);
	pthread_mutex_unlock(&sc->mu);
	job = NULL;
	locked = 0;
	ret = 1;
out:
	store_fence(st, NULL, NULL, err, sizeof(err));
	if (locked && store_lock_release(st, name, sc->owner, err, sizeof(err)) < 0)
		log_warn("host=%s releasing the lock: %s", name, err);
	free(job);
	strv_deinit(&kv);
	return ret;
}

static void scheduler_dispatch(struct scheduler *sc, struct store *st)
{
	struct strv due = { 0 };
	long long now = (long long)time(NULL);
	unsigned busy, free_slots;
	char err[512];
	size_t i;
	int mine;

	pthread_mutex_lock(&sc->mu);
	busy = sc->njobs;
	pthread_mutex_unlock(&sc->mu);
	if (busy >= sc->opts.max_orders)
		return;
	free_slots = sc->opts.max_orders - busy;
	/* Our own running hosts and other issuers' locked ones sit at the head of the zset:
	 * look past them. */
	if (store_due_range(st, now, (size_t)busy + 4 * free_slots + 16, &due, err, sizeof(err)) <
	    0) {
		log_warn("issuer: reading the due hosts: %s", err);
		goto out;
	}
	for (i = 0; i < due.n && free_slots && !sc->stop; i++) {
		pthread_mutex_lock(&sc->mu);
		mine = scheduler_find(sc, due.v[i]) != NULL;
		pthread_mutex_unlock(&sc->mu);
		if (!mine && scheduler_take(sc, st, due.v[i], now))
			free_slots--;
	}
out:
	strv_deinit(&due);
}

static void *scheduler_dispatcher(void *arg)
{
	struct scheduler *sc = arg;
	struct store *st = NULL;
	struct timespec ts;
	char err[512];
	int down = 0;

	while (!sc->stop) {
		if (!st) {
			st = store_open(sc->conf, sc->prefix, err, sizeof(err));
			if (!st && !down++)
				log_err("issuer: %s (retrying)", err);
			if (st && down) {
				log_info("issuer: Redis is back");
				down = 0;
			}
		}
		if (st) {
			scheduler_extend(sc, st);
			scheduler_dispatch(sc, st);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += sc->opts.poll_ms / 1000;
		ts.tv_nsec += (sc->opts.poll_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&sc->mu);
		if (!sc->stop)
			pthread_cond_timedwait(&sc->disp_cv, &sc->mu, &ts);
		pthread_mutex_unlock(&sc->mu);
	}
	/* Running orders still need their locks until they reach their end. */
	for (;;) {
		pthread_mutex_lock(&sc->mu);
		if (!sc->njobs) {
			pthread_mutex_unlock(&sc->mu);
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&sc->disp_cv, &sc->mu, &ts);
		pthread_mutex_unlock(&sc->mu);
		if (st)
			scheduler_extend(sc, st);
	}
	store_close(st);
	return NULL;
}

/* ---- lifecycle ---- */

struct scheduler *scheduler_new(const struct conf *conf, const char *prefix,
                                const struct scheduler_opts *opts, const struct scheduler_ops *ops,
                                char *err, size_t errsz)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[SCHEDULER_OWNER_LEN / 2];
	struct scheduler *sc;
	size_t i;

	if (!ops || !ops->ctx_new || !ops->ctx_free || !ops->issue) {
		snprintf(err, errsz, "issuer: no ACME binding");
		return NULL;
	}
	sc = calloc(1, sizeof(*sc));
	if (!sc || !(sc->prefix = strdup(prefix))) {
		free(sc);
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	sc->conf = conf;
	sc->opts = *opts;
	sc->ops = *ops;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		free(sc->prefix);
		free(sc);
		snprintf(err, errsz, "no randomness for the lock owner id");
		return NULL;
	}
	for (i = 0; i < sizeof(rnd); i++) {
		sc->owner[2 * i] = hex[rnd[i] >> 4];
		sc->owner[2 * i + 1] = hex[rnd[i] & 15];
	}
	pthread_mutex_init(&sc->mu, NULL);
	pthread_cond_init(&sc->work_cv, NULL);
	pthread_cond_init(&sc->disp_cv, NULL);
	return sc;
}

int scheduler_start(struct scheduler *sc, char *err, size_t errsz)
{
	unsigned i;
	int rc;

	sc->workers = calloc(sc->opts.max_orders, sizeof(*sc->workers));
	if (!sc->workers) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	for (i = 0; i < sc->opts.max_orders; i++) {
		rc = pthread_create(&sc->workers[i], NULL, scheduler_worker, sc);
		if (rc) {
			snprintf(err, errsz, "issuer: starting a worker: %s", strerror(rc));
			return -1;
		}
		sc->nworkers++;
	}
	rc = pthread_create(&sc->dispatcher, NULL, scheduler_dispatcher, sc);
	if (rc) {
		snprintf(err, errsz, "issuer: starting the dispatcher: %s", strerror(rc));
		return -1;
	}
	sc->dispatcher_started = 1;
	log_info("issuer: owner=%s max_orders=%u lock_ttl=%lldms renew_fraction=%.3f", sc->owner,
	         sc->opts.max_orders, sc->opts.lock_ttl_ms, sc->opts.renew_fraction);
	return 0;
}

void scheduler_stop(struct scheduler *sc)
{
	struct scheduler_job *j;

	if (!sc)
		return;
	pthread_mutex_lock(&sc->mu);
	atomic_store(&sc->stop, 1);
	for (j = sc->jobs; j; j = j->next)
		atomic_store(&j->stop, 1);
	pthread_cond_broadcast(&sc->work_cv);
	pthread_cond_broadcast(&sc->disp_cv);
	pthread_mutex_unlock(&sc->mu);
}

void scheduler_free(struct scheduler *sc)
{
	unsigned i;

	if (!sc)
		return;
	scheduler_stop(sc);
	for (i = 0; i < sc->nworkers; i++)
		pthread_join(sc->workers[i], NULL);
	dnsgate_free(sc->gate);
	ondemand_ask_free(sc->ask);
	if (sc->dispatcher_started)
		pthread_join(sc->dispatcher, NULL);
	free(sc->workers);
	pthread_mutex_destroy(&sc->mu);
	pthread_cond_destroy(&sc->work_cv);
	pthread_cond_destroy(&sc->disp_cv);
	if (sc->binding_free)
		sc->binding_free(sc->binding);
	free(sc->prefix);
	free(sc);
}

/* ---- the issuer binding (the daemon's issuer role) ---- */

struct scheduler_binding {
	struct issuer *is;
	pthread_mutex_t mu;
	int account_ok; /* issuer_account() succeeded once */
};

static void *scheduler_bind_ctx_new(void *arg, char *err, size_t errsz)
{
	struct scheduler_binding *b = arg;
	int ok;

	/* The account is set up once, by the first worker that needs it; a CA that is down at
	 * start-up only delays the first order (each failure backs off like an order). */
	pthread_mutex_lock(&b->mu);
	ok = b->account_ok || issuer_account(b->is, err, errsz) == 0;
	b->account_ok = ok;
	pthread_mutex_unlock(&b->mu);
	return ok ? issuer_worker_new(b->is, err, errsz) : NULL;
}

static void scheduler_bind_ctx_free(void *ctx)
{
	issuer_worker_free(ctx);
}

static void scheduler_bind_issue(void *ctx, const char *name,
                                 const char *const replaces[JWS_ALG_COUNT], const atomic_int *stop,
                                 struct scheduler_result *res)
{
	struct issuer_result ir;
	int alg;

	memset(&ir, 0, sizeof(ir));
	ir.retry_after = -1;
	issuer_issue_host(ctx, name, replaces, stop, &ir);
	res->ok = ir.ok;
	res->not_before = ir.not_before;
	res->not_after = ir.not_after;
	snprintf(res->serial_ecdsa, sizeof(res->serial_ecdsa), "%s", ir.serial_ecdsa);
	snprintf(res->serial_rsa, sizeof(res->serial_rsa), "%s", ir.serial_rsa);
	for (alg = 0; alg < JWS_ALG_COUNT; alg++)
		snprintf(res->cert_id[alg], sizeof(res->cert_id[alg]), "%s", ir.cert_id[alg]);
	snprintf(res->problem_type, sizeof(res->problem_type), "%s", ir.problem_type);
	snprintf(res->error, sizeof(res->error), "%s", ir.error);
	res->retry_after = ir.retry_after;
}

/* scheduler_ari_fn over issuer_renewal_info(): a failure is logged and means "no window". */
static int scheduler_bind_renewal_info(void *ctx, const char *cert_id, struct ari_window *w,
                                       long long *retry_after)
{
	char err[ACME_ERR_MAX];
	int rc = issuer_renewal_info(ctx, cert_id, w, retry_after, err, sizeof(err));

	if (rc < 0)
		log_warn("issuer: renewalInfo for %s: %s", cert_id, err);
	return rc;
}

static int scheduler_bind_revoke(void *ctx, const char *name, long long *retry_after, char *err,
                                 size_t errsz)
{
	return issuer_revoke_host(ctx, name, retry_after, err, errsz);
}

static int scheduler_bind_fence(void *ctx, const char *name, const char *owner, char *err,
                                size_t errsz)
{
	return issuer_worker_fence(ctx, name, owner, err, errsz);
}

static void scheduler_bind_free(void *arg)
{
	struct scheduler_binding *b = arg;

	if (!b)
		return;
	issuer_free(b->is);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

/* The scheduler bound to issuer.c, started unless --check. NULL with <err>. */
static struct scheduler *scheduler_issuer_start(struct pusher *p, char *err, size_t errsz)
{
	struct scheduler_binding *b = NULL;
	struct scheduler_opts opts;
	struct scheduler_ops ops = {
		.ctx_new = scheduler_bind_ctx_new,
		.ctx_free = scheduler_bind_ctx_free,
		.issue = scheduler_bind_issue,
		.renewal_info = scheduler_bind_renewal_info,
		.revoke = scheduler_bind_revoke,
		.fence = scheduler_bind_fence,
	};
	struct scheduler *sc = NULL;

	if (scheduler_opts_from_conf(&opts, p->conf, err, errsz) < 0)
		goto fail;
	b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	pthread_mutex_init(&b->mu, NULL);
	b->is = issuer_new(p, err, errsz);
	if (!b->is)
		goto fail;
	ops.arg = b;
	sc = scheduler_new(p->conf, p->prefix, &opts, &ops, err, errsz);
	if (!sc)
		goto fail;
	sc->binding = b;
	sc->binding_free = scheduler_bind_free;
	b = NULL;
	if (ondemand_ask_check(p->conf, err, errsz) < 0)
		goto fail;
	if (p->check_only)
		return sc;
	if (http_global_init() < 0) {
		snprintf(err, errsz, "issuer: libcurl initialisation failed");
		goto fail;
	}
	json_object_seed(0); /* before threads: jansson seeds its hash function once */
	if (dnsgate_new(p->conf, &sc->gate, err, errsz) < 0 ||
	    ondemand_ask_new(p->conf, p->prefix, &sc->ask, err, errsz) < 0 ||
	    dns01_preview_ensure(p->conf, p->prefix, err, errsz) < 0)
		goto fail;
	if (scheduler_start(sc, err, errsz) < 0)
		goto fail;
	return sc;
fail:
	scheduler_free(sc);
	scheduler_bind_free(b);
	return NULL;
}

void scheduler_run_stop(void *state)
{
	struct scheduler *sc = state;

	if (sc && sc->nworkers)
		log_info("issuer: stopping: %u order(s) running; waiting for them",
		         scheduler_running(sc));
	scheduler_free(sc);
}

void *scheduler_run_start(struct event_base *base, struct pusher *p, char *err, size_t errsz)
{
	(void)base;
	return scheduler_issuer_start(p, err, errsz);
}
