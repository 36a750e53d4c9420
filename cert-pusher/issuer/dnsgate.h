/* SPDX-License-Identifier: MIT */
/*
 * The DNS gate: a new hostname is ordered only once its DNS points at the fleet, so that a name
 * whose owner has not yet created the record does not burn the CA's failed-validation limit.
 * "Points at the fleet" = the name is a CNAME to its preview hostname, or every A/AAAA it
 * resolves to is one of --edge-address. The scheduler asks before ordering a host that has no
 * certificate yet; until the answer is yes the host is "awaiting-dns", with what was found in
 * host:<name> dns_status, and is looked at again with backoff. A host with dns_skip=1 (set by
 * the operator) is not checked. Queries go to --dns-resolver (default: /etc/resolv.conf) through
 * ldns; this module does not order anything.
 */
#ifndef CERT_PUSHER_DNSGATE_H
#define CERT_PUSHER_DNSGATE_H

#include <stddef.h>

#include "cert-pusher/conf.h"
#include "cert-pusher/hosts.h"
#include "cert-pusher/store/store.h"

#define DNSGATE_F_STATUS   "dns_status" /* what the last check found */
#define DNSGATE_F_CHECKS   "dns_checks" /* checks that said "not yet" in a row */
#define DNSGATE_F_SKIP     "dns_skip"   /* "1": order without checking */
#define DNSGATE_STATUS_MAX 512

struct dnsgate;

/* The gate configured by --edge-address (comma-separated addresses; required to enable it) and
 * --dns-resolver ADDR:PORT. 0 with NULL in <*out> when --edge-address is absent; -1 with <err>
 * naming the option. */
int dnsgate_new(const struct conf *conf, struct dnsgate **out, char *err, size_t errsz);
void dnsgate_free(struct dnsgate *g);

/*
 * Does <name> point at the fleet? <preview> (may be "" or NULL) is its preview hostname.
 * 1 yes, 0 not yet, -1 the check could not be made (resolver unreachable, bad reply); in every
 * case <status> says what was found ("CNAME points at x.other.example; want p.preview.example").
 */
int dnsgate_check(const struct dnsgate *g, const char *name, const char *preview, char *status,
                  size_t statussz);

/*
 * Called by the scheduler before it orders <name> (no certificate yet; <info> its host:<name>):
 * unless <skip> is "1" or the name is a wildcard, check its DNS; when it does not point at the
 * fleet, write state awaiting-dns, dns_status, dns_checks+1 and move its due time by the
 * backoff. 1: held (do not order), 0: go ahead (dns_status says why). <checks> is dns_checks.
 */
int dnsgate_hold(const struct dnsgate *g, struct store *st, const char *name,
                 const struct hosts_info *info, const char *skip, const char *checks,
                 long long now);

/* After the API or the CLI added <info> (HOSTS_OK): with <skip> the host is marked dns_skip=1
 * and stays pending (whether or not <conf> configures the gate: the issuer's may); otherwise,
 * when the gate is configured in <conf>, it starts awaiting-dns (written, and in <info>).
 * Wildcards are not checked. 0, or -1 with <err>. */
int dnsgate_mark_new(const struct conf *conf, struct store *st, struct hosts_info *info, int skip,
                     char *err, size_t errsz);

/* Seconds until the next check after <checks> "not yet" answers in a row: 5 s doubling to 10
 * min, with jitter. */
long long dnsgate_backoff(unsigned checks);

#endif
