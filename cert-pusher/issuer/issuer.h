/* SPDX-License-Identifier: MIT */
/*
 * The issuer: obtains certificates for a host from the ACME CA (acme.c) for every configured
 * key type, publishes HTTP-01 key authorizations in Redis for the edges to serve, seals each
 * chain with its fresh private key (blob.c) under cert:<name>:<type>, and announces it on the
 * events channel. It owns the issuer configuration (directory, CA bundle, contact, profile,
 * EAB, key types, WAIT replicas) and the ACME account stored sealed under
 * account:<hash of the directory URL>. Used by the one-shot `issue` command here and, through
 * struct issuer_worker, by the daemon's scheduler (one worker per thread: its own HTTP handle and
 * Redis connection). Host bookkeeping for the one-shot command is issuer_record(); the
 * scheduler keeps its own.
 */
#ifndef CERT_PUSHER_ISSUER_H
#define CERT_PUSHER_ISSUER_H

#include <stdatomic.h>
#include <stddef.h>

#include "cert-pusher/issuer/acme.h"
#include "cert-pusher/pusher.h"

#define ISSUER_SERIAL_MAX 80

struct issuer;
struct issuer_worker;

/* What one call of issuer_issue_host() gave. */
struct issuer_result {
	int ok;                          /* every key type issued, stored and announced */
	int stored;                      /* key types stored (some may have failed) */
	long long not_before, not_after; /* latest notBefore, earliest notAfter of the new leaves */
	char serial_ecdsa[ISSUER_SERIAL_MAX]; /* uppercase hex; "" when not issued */
	char serial_rsa[ISSUER_SERIAL_MAX];
	char cert_id[JWS_ALG_COUNT][256]; /* RFC 9773 CertID of each new leaf, or "" */
	char problem_type[64];            /* failure: ACME error type without its URN, or "" */
	char error[ACME_ERR_MAX + 16];    /* failure: "<type>: type: detail[; <type>: ...]" */
	long long retry_after;            /* failure: the CA's Retry-After in seconds, or -1 */
};

/*
 * Validate the issuer options of <p>'s configuration ("directory", "ca-bundle", "contact",
 * "key-type", "account-key-type", "profile", "eab-kid", "eab-hmac-key-file", "wait-replicas",
 * "wait-timeout", "keyring") and load the key ring. Nothing touches the network. NULL with an
 * error naming the option in <err>.
 */
struct issuer *issuer_new(const struct pusher *p, char *err, size_t errsz);
void issuer_free(struct issuer *is);

/*
 * Make sure the ACME account exists: open the sealed account blob from Redis when there is one,
 * else register a new account and store it sealed. Must succeed once before workers issue.
 * 0 or -1 with the reason in <err>.
 */
int issuer_account(struct issuer *is, char *err, size_t errsz);

/* A worker for one thread: its own ACME client (HTTP handle) and Redis connection, using the
 * issuer's account. NULL with <err>. */
struct issuer_worker *issuer_worker_new(struct issuer *is, char *err, size_t errsz);
void issuer_worker_free(struct issuer_worker *w);
/* Fence the Redis writes of <w> on lock:<name> holding <owner> (store_fence(); <name> NULL
 * lifts it): the daemon's scheduler does, for the host a worker orders under its lock. */
int issuer_worker_fence(struct issuer_worker *w, const char *name, const char *owner, char *err,
                        size_t errsz);

/*
 * Obtain, seal, store (cert:<name>:<type>) and announce (PUBLISH events "cert <name>") a
 * certificate for <name> per configured key type. <replaces> (may be NULL, as may each entry)
 * holds, by key type (enum jws_alg), the CertID of the certificate being renewed (what
 * res->cert_id[type] named last time): each order sends its own type's as "replaces" (RFC 9773
 * §5), so every renewal of the host is exempt from the CA's rate limits. <stop> (may be NULL) is
 * checked between key types. Does not touch host:<name> (see issuer_record). Fills <res>;
 * returns 0 when every key type succeeded, -1 otherwise.
 */
int issuer_issue_host(struct issuer_worker *w, const char *name,
                      const char *const replaces[JWS_ALG_COUNT], const atomic_int *stop,
                      struct issuer_result *res);

/*
 * Revoke every certificate stored for <name> (cert:<name>:<type>, whatever key types are
 * configured now) at the CA with the account key, reason cessationOfOperation (RFC 8555 §7.6,
 * RFC 5280 §5.3.1): what the host's removal with revoke=true asks. A certificate already
 * revoked counts as revoked; an expired one, or a blob the key ring does not open, is skipped
 * with a warning (nothing a CA would do with it). Nothing is deleted. 0 when nothing is left
 * to revoke, -1 with the reason in <err> and the CA's Retry-After in <*retry_after> (or -1).
 */
int issuer_revoke_host(struct issuer_worker *w, const char *name, long long *retry_after, char *err,
                       size_t errsz);

/* Serial (uppercase hex, as host:<name> records it), notBefore and notAfter (unix seconds) of
 * the leaf (first certificate) of PEM <chain>. 0 or -1. */
int issuer_leaf_info(const struct buf *chain, char *serial, size_t serialsz, long long *not_before,
                     long long *not_after);

/* The CA's renewalInfo (RFC 9773) for CertID <cert_id>: see acme_renewal_info() (1 with <win>
 * and <*retry_after>, 0 when the CA offers no ARI, -1 with <err>). */
int issuer_renewal_info(struct issuer_worker *w, const char *cert_id, struct ari_window *win,
                        long long *retry_after, char *err, size_t errsz);

/* The one-shot command's host bookkeeping: state issuing + attempts (<res> NULL, before), then
 * valid with not_after and serials, or failed with last_error (after). 0 or -1 with <err>. */
int issuer_record(struct issuer_worker *w, const char *name, const struct issuer_result *res,
                  char *err, size_t errsz);

#endif
