/* SPDX-License-Identifier: MIT */
/*
 * ACME Renewal Information (RFC 9773): the CertID that names a certificate in renewalInfo URLs
 * and in newOrder's "replaces", the parsing of a renewalInfo response (suggestedWindow,
 * explanationURL) and the choice of a renewal time inside the window. Pure functions: no I/O,
 * no logging, no clock (the caller passes <now> and the randomness). acme.c fetches the
 * renewalInfo resource; scheduler.c decides when to renew with what this module computes.
 */
#ifndef CERT_PUSHER_ARI_H
#define CERT_PUSHER_ARI_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "common/buf.h"

/* When the CA gives no usable Retry-After for a renewalInfo response: poll again in 6 hours,
 * and never sooner than a minute nor later than a day (RFC 9773 §4.3 leaves the bounds to the
 * client). */
#define ARI_POLL_DEFAULT_S (6 * 3600)
#define ARI_POLL_MIN_S     60
#define ARI_POLL_MAX_S     (24 * 3600)

struct ari_window {
	long long start;           /* suggestedWindow.start, unix seconds */
	long long end;             /* suggestedWindow.end, unix seconds, >= start */
	char explanation_url[512]; /* explanationURL, or "" when absent */
};

/*
 * Append the CertID (RFC 9773 §4.1) base64url(<aki>) "." base64url(<serial>) to <out>: <aki> is
 * the keyIdentifier of the certificate's Authority Key Identifier, <serial> the content octets
 * of the DER INTEGER serial (with its leading 0x00 when the high bit is set). 0 or -1 (empty
 * input, OOM).
 */
int ari_cert_id_raw(const uint8_t *aki, size_t aki_len, const uint8_t *serial, size_t serial_len,
                    struct buf *out);

/* The CertID of <leaf> (borrowed). -1 with a static reason in <*why> when the certificate has
 * no AKI keyIdentifier or no serial. */
int ari_cert_id(const X509 *leaf, struct buf *out, const char **why);

/* The CertID of the first certificate of PEM text <pem>/<len> (the leaf of a chain). */
int ari_cert_id_pem(const char *pem, size_t len, struct buf *out, const char **why);

/*
 * Parse a renewalInfo response body (RFC 9773 §4.2):
 *   {"suggestedWindow":{"start":"<RFC 3339>","end":"<RFC 3339>"},"explanationURL":"..."}
 * 0 or -1 with a static reason in <*why> (not JSON, missing window, bad timestamp, end before
 * start). An explanationURL that does not fit or is not a string is ignored.
 */
int ari_parse(const char *body, size_t len, struct ari_window *out, const char **why);

/* RFC 3339 date-time ("2025-01-02T04:00:00Z", fractions ignored, "+hh:mm" offsets) to unix
 * seconds. 0 or -1. */
int ari_parse_time(const char *s, long long *out);

/*
 * The renewal time for <w>: uniform in [start, end] with <rnd> as the random source (RFC 9773
 * §4.2 "select a uniform random time within the suggested window"); a chosen time already in
 * the past (< <now>) means renew now, so <now> is returned.
 */
long long ari_choose(const struct ari_window *w, long long now, uint64_t rnd);

/*
 * Fold window <w> into <acc> for a host with several certificates (one per key type) renewed
 * together: the merged window starts at the earliest start and ends at the earliest end (never
 * before the start), so the one renewal lands inside every window that has begun and no
 * certificate is renewed after its CA wanted it done. The explanationURL kept is that of the
 * earliest-starting window that has one.
 */
void ari_window_merge(struct ari_window *acc, const struct ari_window *w);

/* When to poll renewalInfo next, from the response's Retry-After in seconds (-1 when absent):
 * <now> + Retry-After clamped to [ARI_POLL_MIN_S, ARI_POLL_MAX_S], or the default. */
long long ari_next_poll(long long now, long long retry_after);

/* Append the renewalInfo URL for <cert_id>: <base> (the directory's renewalInfo) "/" <cert_id>,
 * without doubling a trailing '/'. 0 or -1. */
int ari_url(const char *base, const char *cert_id, struct buf *out);

#endif
