/* SPDX-License-Identifier: MIT */
/*
 * cert-pusher's Prometheus metrics (text exposition format 0.0.4), a leaf every role uses:
 * process-wide counters bumped from any thread (C11 atomics, no locks), the sources other modules
 * (the loader, the store) add through pmetrics_register(), and the /healthz checks. The gauges
 * computed from Redis at scrape time are api/exposition.c's; api.c serves both at GET /metrics.
 */
#ifndef CERT_PUSHER_PMETRICS_H
#define CERT_PUSHER_PMETRICS_H

#include <stddef.h>

#include "common/buf.h"

/* Order duration histogram bounds, seconds. */
#define PMETRICS_DURATION_BUCKETS 10

/* A source of extra metric lines: append complete "# HELP/# TYPE" + samples to <out>. */
typedef void pmetrics_source_fn(struct buf *out, void *arg);

/* Add <fn>/<arg> to every render (at most 8 sources; call before the threads start). 0/-1. */
int pmetrics_register(pmetrics_source_fn *fn, void *arg);

/* A health check of a role, for GET /healthz: 1 healthy, 0 not, with a one-line state into
 * <what> (e.g. "up pid=12: 200 of 200 certificates held"). Called on the API's thread. */
typedef int pmetrics_health_fn(char *what, size_t whatsz, void *arg);

/* Add check <name> (static string) to /healthz (at most 4). 0/-1. */
int pmetrics_health_register(const char *name, pmetrics_health_fn *fn, void *arg);

/* Run check <i> (0..pmetrics_health_count()-1): its name to <*name>, state into <what>. 1/0. */
size_t pmetrics_health_count(void);
int pmetrics_health_run(size_t i, const char **name, char *what, size_t whatsz);

/* One order ended: <ok>, the ACME problem type without its URN prefix ("rateLimited"; "" or
 * NULL for a failure that was not an ACME problem), its duration in seconds. */
void pmetrics_order_done(int ok, const char *problem_type, double seconds);
/* A due host's lock was held by another issuer. */
void pmetrics_lock_contended(void);
/* A running order's lock could not be extended (expired, taken over). */
void pmetrics_lock_lost(void);
/* A renewal time was set from an ARI window (<ari>) or from the lifetime fraction. */
void pmetrics_renewal_planned(int ari);
/* An ACME request ended: HTTP <status>, or 0 when no response came (transport error). */
void pmetrics_acme_response(long status);
/* An API request answered with <status>. */
void pmetrics_api_request(int status);

/* A DNS gate check's outcome (dnsgate.c). */
enum pmetrics_dns_check {
	PMETRICS_DNS_CHECK_OK = 0,  /* the name points at the fleet */
	PMETRICS_DNS_CHECK_NOT_YET, /* it does not yet */
	PMETRICS_DNS_CHECK_ERROR,   /* the resolver could not tell */
	PMETRICS_DNS_CHECK_COUNT
};
void pmetrics_dns_check(enum pmetrics_dns_check outcome);
/* A DNS-01 record was answered by every authoritative server <seconds> after its update; < 0:
 * it was not in time. */
void pmetrics_dns01_propagated(double seconds);

/* The metric label for problem type <t>: one of RFC 8555 §6.7's names, "none" for NULL/"", or
 * "other". Static string. */
const char *pmetrics_problem_label(const char *t);

/* Append the counters, then every registered source, to <out>. 0/-1. */
int pmetrics_render(struct buf *out);

/* Zero every counter (tests). */
void pmetrics_reset(void);

#endif
