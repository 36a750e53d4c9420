// SPDX-License-Identifier: MIT
/*
 * Prometheus text for cert-pusher. Counters are process-wide atomics bumped by the scheduler's
 * threads and the API; per-host gauges are computed from a hosts listing at scrape time, so
 * they are true for every issuer sharing the Redis, not just this process.
 */
#include "cert-pusher/pmetrics.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* RFC 8555 §6.7 error types, plus the two labels we add. */
static const char *const pmetrics_problems[] = {
	"accountDoesNotExist",
	"alreadyReplaced",
	"alreadyRevoked",
	"badCSR",
	"badNonce",
	"badPublicKey",
	"badRevocationReason",
	"badSignatureAlgorithm",
	"caa",
	"compound",
	"connection",
	"dns",
	"externalAccountRequired",
	"incorrectResponse",
	"invalidContact",
	"malformed",
	"orderNotReady",
	"rateLimited",
	"rejectedIdentifier",
	"serverInternal",
	"tls",
	"unauthorized",
	"unsupportedContact",
	"unsupportedIdentifier",
	"userActionRequired",
	"none",
	"other",
};
#define PMETRICS_NPROBLEMS (sizeof(pmetrics_problems) / sizeof(pmetrics_problems[0]))
#define PMETRICS_P_NONE    (PMETRICS_NPROBLEMS - 2)
#define PMETRICS_P_OTHER   (PMETRICS_NPROBLEMS - 1)

static const double pmetrics_bounds[PMETRICS_DURATION_BUCKETS] = { 1,  2,  5,   10,  20,
	                                                           30, 60, 120, 300, 600 };

/* API status classes we count. */
static const int pmetrics_api_codes[] = { 200, 201, 202, 204, 400, 401, 404,
	                                  405, 409, 413, 415, 422, 503, 0 };
#define PMETRICS_NAPI (sizeof(pmetrics_api_codes) / sizeof(pmetrics_api_codes[0]))

/* ACME responses by status class; index 0 counts transport errors (no response). */
static const char *const pmetrics_acme_classes[] = { "error", "1xx", "2xx", "3xx", "4xx", "5xx" };
#define PMETRICS_NACME (sizeof(pmetrics_acme_classes) / sizeof(pmetrics_acme_classes[0]))

static struct {
	atomic_ullong orders[2]; /* failure, success */
	atomic_ullong problems[PMETRICS_NPROBLEMS];
	atomic_ullong buckets[PMETRICS_DURATION_BUCKETS + 1]; /* last: +Inf */
	atomic_ullong duration_ms;
	atomic_ullong lock_contended;
	atomic_ullong lock_lost;
	atomic_ullong renewals[2]; /* fraction, ari */
	atomic_ullong api[PMETRICS_NAPI];
	atomic_ullong acme[PMETRICS_NACME];
	atomic_ullong dns_checks[PMETRICS_DNS_CHECK_COUNT];
	atomic_ullong dns01_buckets[PMETRICS_DURATION_BUCKETS + 1]; /* last: +Inf */
	atomic_ullong dns01_ms;
	atomic_ullong dns01_timeouts;
} pmetrics_c;

static const char *const pmetrics_dns_check_names[PMETRICS_DNS_CHECK_COUNT] = {
	[PMETRICS_DNS_CHECK_OK] = "ok",
	[PMETRICS_DNS_CHECK_NOT_YET] = "not_yet",
	[PMETRICS_DNS_CHECK_ERROR] = "error",
};

static struct {
	pmetrics_source_fn *fn;
	void *arg;
} pmetrics_sources[8];
static size_t pmetrics_nsources;

int pmetrics_register(pmetrics_source_fn *fn, void *arg)
{
	if (pmetrics_nsources >= sizeof(pmetrics_sources) / sizeof(pmetrics_sources[0]))
		return -1;
	pmetrics_sources[pmetrics_nsources].fn = fn;
	pmetrics_sources[pmetrics_nsources].arg = arg;
	pmetrics_nsources++;
	return 0;
}

static struct {
	const char *name;
	pmetrics_health_fn *fn;
	void *arg;
} pmetrics_checks[4];
static size_t pmetrics_nchecks;

int pmetrics_health_register(const char *name, pmetrics_health_fn *fn, void *arg)
{
	if (pmetrics_nchecks >= sizeof(pmetrics_checks) / sizeof(pmetrics_checks[0]))
		return -1;
	pmetrics_checks[pmetrics_nchecks].name = name;
	pmetrics_checks[pmetrics_nchecks].fn = fn;
	pmetrics_checks[pmetrics_nchecks].arg = arg;
	pmetrics_nchecks++;
	return 0;
}

size_t pmetrics_health_count(void)
{
	return pmetrics_nchecks;
}

int pmetrics_health_run(size_t i, const char **name, char *what, size_t whatsz)
{
	*name = pmetrics_checks[i].name;
	what[0] = 0;
	return pmetrics_checks[i].fn(what, whatsz, pmetrics_checks[i].arg);
}

static size_t pmetrics_problem_index(const char *t)
{
	size_t i;

	if (!t || !*t)
		return PMETRICS_P_NONE;
	for (i = 0; i < PMETRICS_P_NONE; i++)
		if (!strcmp(t, pmetrics_problems[i]))
			return i;
	return PMETRICS_P_OTHER;
}

const char *pmetrics_problem_label(const char *t)
{
	return pmetrics_problems[pmetrics_problem_index(t)];
}

void pmetrics_order_done(int ok, const char *problem_type, double seconds)
{
	size_t i;

	atomic_fetch_add(&pmetrics_c.orders[ok ? 1 : 0], 1);
	if (!ok)
		atomic_fetch_add(&pmetrics_c.problems[pmetrics_problem_index(problem_type)], 1);
	if (seconds < 0)
		seconds = 0;
	for (i = 0; i < PMETRICS_DURATION_BUCKETS && seconds > pmetrics_bounds[i]; i++)
		;
	atomic_fetch_add(&pmetrics_c.buckets[i], 1);
	atomic_fetch_add(&pmetrics_c.duration_ms, (unsigned long long)(seconds * 1000.0));
}

void pmetrics_lock_contended(void)
{
	atomic_fetch_add(&pmetrics_c.lock_contended, 1);
}

void pmetrics_lock_lost(void)
{
	atomic_fetch_add(&pmetrics_c.lock_lost, 1);
}

void pmetrics_renewal_planned(int ari)
{
	atomic_fetch_add(&pmetrics_c.renewals[ari ? 1 : 0], 1);
}

void pmetrics_api_request(int status)
{
	size_t i;

	for (i = 0; i < PMETRICS_NAPI - 1 && pmetrics_api_codes[i] != status; i++)
		;
	atomic_fetch_add(&pmetrics_c.api[i], 1);
}

void pmetrics_acme_response(long status)
{
	size_t i = status >= 100 && status < 600 ? (size_t)(status / 100) : 0;

	atomic_fetch_add(&pmetrics_c.acme[i], 1);
}

void pmetrics_dns_check(enum pmetrics_dns_check outcome)
{
	if ((unsigned)outcome < PMETRICS_DNS_CHECK_COUNT)
		atomic_fetch_add(&pmetrics_c.dns_checks[outcome], 1);
}

void pmetrics_dns01_propagated(double seconds)
{
	size_t i;

	if (seconds < 0) {
		atomic_fetch_add(&pmetrics_c.dns01_timeouts, 1);
		return;
	}
	for (i = 0; i < PMETRICS_DURATION_BUCKETS && seconds > pmetrics_bounds[i]; i++)
		;
	atomic_fetch_add(&pmetrics_c.dns01_buckets[i], 1);
	atomic_fetch_add(&pmetrics_c.dns01_ms, (unsigned long long)(seconds * 1000.0));
}

void pmetrics_reset(void)
{
	memset(&pmetrics_c, 0, sizeof(pmetrics_c));
}

static int pmetrics_counters(struct buf *o)
{
	unsigned long long cum = 0;
	size_t i;
	int rc = 0;

	rc |= buf_printf(o,
	                 "# HELP spoacme_orders_total ACME orders by outcome.\n"
	                 "# TYPE spoacme_orders_total counter\n"
	                 "spoacme_orders_total{outcome=\"success\"} %llu\n"
	                 "spoacme_orders_total{outcome=\"failure\"} %llu\n",
	                 atomic_load(&pmetrics_c.orders[1]), atomic_load(&pmetrics_c.orders[0]));
	rc |= buf_printf(o, "# HELP spoacme_order_failures_total Failed orders by ACME problem "
	                    "type.\n# TYPE spoacme_order_failures_total counter\n");
	for (i = 0; i < PMETRICS_NPROBLEMS; i++) {
		unsigned long long v = atomic_load(&pmetrics_c.problems[i]);

		if (v)
			rc |= buf_printf(o, "spoacme_order_failures_total{problem=\"%s\"} %llu\n",
			                 pmetrics_problems[i], v);
	}
	rc |= buf_printf(o, "# HELP spoacme_order_duration_seconds Time from lock to outcome.\n"
	                    "# TYPE spoacme_order_duration_seconds histogram\n");
	for (i = 0; i < PMETRICS_DURATION_BUCKETS; i++) {
		cum += atomic_load(&pmetrics_c.buckets[i]);
		rc |= buf_printf(o, "spoacme_order_duration_seconds_bucket{le=\"%g\"} %llu\n",
		                 pmetrics_bounds[i], cum);
	}
	cum += atomic_load(&pmetrics_c.buckets[PMETRICS_DURATION_BUCKETS]);
	rc |= buf_printf(o,
	                 "spoacme_order_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	                 "spoacme_order_duration_seconds_sum %.3f\n"
	                 "spoacme_order_duration_seconds_count %llu\n",
	                 cum, (double)atomic_load(&pmetrics_c.duration_ms) / 1000.0, cum);
	rc |= buf_printf(o,
	                 "# HELP spoacme_lock_contended_total Due hosts skipped because another "
	                 "issuer held the lock.\n# TYPE spoacme_lock_contended_total counter\n"
	                 "spoacme_lock_contended_total %llu\n"
	                 "# HELP spoacme_lock_lost_total Running orders whose lock could not be "
	                 "extended.\n# TYPE spoacme_lock_lost_total counter\n"
	                 "spoacme_lock_lost_total %llu\n",
	                 atomic_load(&pmetrics_c.lock_contended),
	                 atomic_load(&pmetrics_c.lock_lost));
	rc |= buf_printf(o,
	                 "# HELP spoacme_renewals_planned_total Renewal times set, by source.\n"
	                 "# TYPE spoacme_renewals_planned_total counter\n"
	                 "spoacme_renewals_planned_total{source=\"fraction\"} %llu\n"
	                 "spoacme_renewals_planned_total{source=\"ari\"} %llu\n",
	                 atomic_load(&pmetrics_c.renewals[0]),
	                 atomic_load(&pmetrics_c.renewals[1]));
	rc |= buf_printf(o, "# HELP spoacme_acme_requests_total Requests to the ACME server by "
	                    "response status class (error: no response).\n"
	                    "# TYPE spoacme_acme_requests_total counter\n");
	for (i = 0; i < PMETRICS_NACME; i++)
		rc |= buf_printf(o, "spoacme_acme_requests_total{code=\"%s\"} %llu\n",
		                 pmetrics_acme_classes[i], atomic_load(&pmetrics_c.acme[i]));
	rc |= buf_printf(o, "# HELP spoacme_dns_checks_total DNS gate checks of awaiting names by "
	                    "outcome (ok: points at the fleet; not_yet; error: no answer).\n"
	                    "# TYPE spoacme_dns_checks_total counter\n");
	for (i = 0; i < PMETRICS_DNS_CHECK_COUNT; i++)
		rc |= buf_printf(o, "spoacme_dns_checks_total{outcome=\"%s\"} %llu\n",
		                 pmetrics_dns_check_names[i],
		                 atomic_load(&pmetrics_c.dns_checks[i]));
	rc |= buf_printf(o, "# HELP spoacme_dns01_propagation_seconds Time from a DNS-01 record's "
	                    "update to its answer by every authoritative server.\n"
	                    "# TYPE spoacme_dns01_propagation_seconds histogram\n");
	cum = 0;
	for (i = 0; i < PMETRICS_DURATION_BUCKETS; i++) {
		cum += atomic_load(&pmetrics_c.dns01_buckets[i]);
		rc |= buf_printf(o, "spoacme_dns01_propagation_seconds_bucket{le=\"%g\"} %llu\n",
		                 pmetrics_bounds[i], cum);
	}
	cum += atomic_load(&pmetrics_c.dns01_buckets[PMETRICS_DURATION_BUCKETS]);
	rc |= buf_printf(o,
	                 "spoacme_dns01_propagation_seconds_bucket{le=\"+Inf\"} %llu\n"
	                 "spoacme_dns01_propagation_seconds_sum %.3f\n"
	                 "spoacme_dns01_propagation_seconds_count %llu\n"
	                 "# HELP spoacme_dns01_propagation_timeouts_total DNS-01 records some "
	                 "authoritative server did not answer in time.\n"
	                 "# TYPE spoacme_dns01_propagation_timeouts_total counter\n"
	                 "spoacme_dns01_propagation_timeouts_total %llu\n",
	                 cum, (double)atomic_load(&pmetrics_c.dns01_ms) / 1000.0, cum,
	                 atomic_load(&pmetrics_c.dns01_timeouts));
	rc |= buf_printf(o, "# HELP spoacme_api_requests_total API requests by status.\n"
	                    "# TYPE spoacme_api_requests_total counter\n");
	for (i = 0; i < PMETRICS_NAPI; i++) {
		unsigned long long v = atomic_load(&pmetrics_c.api[i]);

		if (!v)
			continue;
		if (pmetrics_api_codes[i])
			rc |= buf_printf(o, "spoacme_api_requests_total{code=\"%d\"} %llu\n",
			                 pmetrics_api_codes[i], v);
		else
			rc |= buf_printf(o, "spoacme_api_requests_total{code=\"other\"} %llu\n", v);
	}
	return rc ? -1 : 0;
}

int pmetrics_render(struct buf *out)
{
	size_t i;
	int rc = pmetrics_counters(out);

	for (i = 0; i < pmetrics_nsources; i++)
		pmetrics_sources[i].fn(out, pmetrics_sources[i].arg);
	return rc;
}
