/* SPDX-License-Identifier: MIT */
/*
 * The ACME client (RFC 8555) as an explicit state machine: directory, nonce, account, order,
 * authorizations, HTTP-01 challenge, polling, finalize, download. One step per state, one
 * transport function for every signed request (fresh nonce from each response, badNonce retried
 * at once, rateLimited and 5xx backed off with Retry-After). What the machine does not do is
 * handed to its caller: publishing the key authorization (Redis, through callbacks), storing
 * the account and the certificate (issuer.c), keys and signatures (jws.c), HTTPS (http.c).
 * ARI (RFC 9773), when the directory offers renewalInfo: an unsigned GET of a certificate's
 * renewal window (parsed by ari.c) and "replaces" in newOrder.
 * JSON parsers for the server's objects are exposed for the fuzz target.
 */
#ifndef CERT_PUSHER_ACME_H
#define CERT_PUSHER_ACME_H

#include <stddef.h>
#include <stdint.h>

#include "cert-pusher/issuer/ari.h"
#include "cert-pusher/issuer/http.h"
#include "cert-pusher/issuer/jws.h"
#include "common/buf.h"

#define ACME_LE_PRODUCTION "https://acme-v02.api.letsencrypt.org/directory"
#define ACME_LE_STAGING    "https://acme-staging-v02.api.letsencrypt.org/directory"

#define ACME_ERR_MAX 1024 /* problem text kept for host:<name> last_error */

/* Sleep <ms> milliseconds (tests replace it to record back-offs without waiting). */
typedef void acme_sleep_fn(void *arg, int64_t ms);
/* Make key authorization <keyauth> answerable at /.well-known/acme-challenge/<token> on every
 * edge (Redis SET + WAIT). 0, or -1 with <err>: the order fails. */
typedef int acme_chal_publish_fn(void *arg, const char *token, const char *keyauth, char *err,
                                 size_t errsz);
/* Remove what publish() wrote; called once per published token when the order ends. */
typedef void acme_chal_withdraw_fn(void *arg, const char *token);
/* DNS-01 (RFC 8555 §8.4): make TXT _acme-challenge.<identifier> answer for <keyauth> on every
 * authoritative server; 0, or -1 with <err>. withdraw removes it (once per publish, at the end
 * of the order, success or not). */
typedef int acme_dns_publish_fn(void *arg, const char *identifier, const char *keyauth, char *err,
                                size_t errsz);
typedef void acme_dns_withdraw_fn(void *arg, const char *identifier, const char *keyauth);

struct acme_config {
	const char *directory_url;
	const char *contact;     /* "mailto:..." or NULL */
	const char *profile;     /* certificate profile (newOrder "profile") or NULL */
	const char *eab_kid;     /* External Account Binding, or NULL */
	const uint8_t *eab_hmac; /* decoded HMAC key (borrowed; the caller wipes it) */
	size_t eab_hmac_len;
	struct http_opts http;
	int64_t poll_max_ms;   /* cap on one wait (Retry-After, back-off); 0: 60 s */
	int64_t deadline_ms;   /* one order, start to chain; 0: 5 min */
	int bad_nonce_retries; /* per request; 0: 10 */
	int busy_retries;      /* rateLimited / 5xx retries per request; 0: 3 */
	acme_sleep_fn *sleep;  /* NULL: nanosleep */
	void *sleep_arg;
};

struct acme_chal_ops {
	acme_chal_publish_fn *publish;
	acme_chal_withdraw_fn *withdraw;
	void *arg;
	acme_dns_publish_fn *dns_publish; /* set: answer dns-01 instead of http-01 */
	acme_dns_withdraw_fn *dns_withdraw;
};

/* ---- server objects (RFC 8555 §7.1), parsed and validated ---- */

enum acme_status {
	ACME_STATUS_PENDING = 0,
	ACME_STATUS_READY,
	ACME_STATUS_PROCESSING,
	ACME_STATUS_VALID,
	ACME_STATUS_INVALID,
	ACME_STATUS_EXPIRED,
	ACME_STATUS_DEACTIVATED,
	ACME_STATUS_REVOKED,
	ACME_STATUS_COUNT
};

#define ACME_MAX_AUTHZ    16
#define ACME_MAX_PROFILES 16

struct acme_directory {
	char *new_nonce, *new_account, *new_order; /* required */
	char *terms;                               /* meta.termsOfService or NULL */
	char *renewal_info;                        /* RFC 9773 renewalInfo or NULL */
	char *revoke_cert;                         /* revokeCert or NULL */
	int eab_required;                          /* meta.externalAccountRequired */
	char *profiles[ACME_MAX_PROFILES];         /* meta.profiles names */
	size_t nprofiles;
};

struct acme_order_obj {
	enum acme_status status;
	char *authz[ACME_MAX_AUTHZ];
	size_t nauthz;
	char *finalize;
	char *certificate;        /* or NULL */
	char error[ACME_ERR_MAX]; /* "type: detail" when the order carries a problem, else "" */
};

struct acme_authz_obj {
	enum acme_status status;
	char *identifier; /* identifier.value */
	/* the challenge of the type asked for (http-01, or dns-01 through acme_authz_parse_type) */
	char *http01_url;   /* NULL when the CA offers no such challenge */
	char *http01_token; /* validated: base64url, 1..256 */
	enum acme_status http01_status;
	char error[ACME_ERR_MAX]; /* the http-01 challenge's problem, if any */
};

const char *acme_status_name(enum acme_status st);

/* Parsers: 0, or -1 with a reason in <err>. Every URL must be http(s), tokens base64url. The
 * outputs own their strings: release with the matching _deinit (which accepts a zeroed or
 * half-filled object). */
int acme_directory_parse(const char *json, size_t len, struct acme_directory *d, char *err,
                         size_t errsz);
void acme_directory_deinit(struct acme_directory *d);
int acme_order_parse(const char *json, size_t len, struct acme_order_obj *o, char *err,
                     size_t errsz);
void acme_order_deinit(struct acme_order_obj *o);
int acme_authz_parse(const char *json, size_t len, struct acme_authz_obj *a, char *err,
                     size_t errsz);
/* Same, picking the challenge of <type> ("http-01", "dns-01"). */
int acme_authz_parse_type(const char *json, size_t len, const char *type, struct acme_authz_obj *a,
                          char *err, size_t errsz);
void acme_authz_deinit(struct acme_authz_obj *a);
/* Problem document (RFC 8555 §6.7, RFC 7807) into "type: detail" plus
 * " [subproblems: dns:NAME: type: detail; ...]". <type_out> (may be NULL) gets the type with
 * the "urn:ietf:params:acme:error:" prefix removed. -1 when <json> is not a problem object. */
int acme_problem_parse(const char *json, size_t len, char *out, size_t outsz, char *type_out,
                       size_t type_outsz);

/* ---- the client ---- */

struct acme_client;

/* A client for <cfg> (borrowed: must outlive the client) with its own HTTP handle. NULL with a
 * message in <err> (e.g. an unreadable --ca-bundle). */
struct acme_client *acme_client_new(const struct acme_config *cfg, char *err, size_t errsz);
void acme_client_free(struct acme_client *c);

/* Use account key <key> (a new reference is taken) and, when known, its URL <kid> (else
 * acme_account() registers or finds it). 0 or -1. */
int acme_client_set_account(struct acme_client *c, struct jws_key *key, const char *kid);
/* The account key and URL (owned by the client; NULL until known). */
struct jws_key *acme_client_account_key(const struct acme_client *c);
const char *acme_client_account_url(const struct acme_client *c);

/*
 * Fetch the directory, check the configuration against it (profile offered, EAB when
 * required), and make sure the account exists: a new ES256 key is generated when none was set,
 * newAccount is posted when the URL is unknown. <*created> = 1 when the account key or URL
 * changed (the caller stores them). 0, or -1 with the reason (a problem's "type: detail" or a
 * configuration error naming the option) in <err>.
 */
int acme_account(struct acme_client *c, enum jws_alg new_key_alg, int *created, char *err,
                 size_t errsz);

struct acme_order_result {
	struct buf chain;         /* PEM chain, leaf first; owned */
	char error[ACME_ERR_MAX]; /* on failure: the reason, "type: detail" for problems */
	int64_t retry_after;      /* on failure: the CA's Retry-After in seconds, or -1 */
};

void acme_order_result_init(struct acme_order_result *r);
void acme_order_result_deinit(struct acme_order_result *r);

/*
 * Obtain a certificate for <name> whose key is <cert_key> (the CSR is made from it). The account
 * must be set up (acme_account). <replaces> (may be NULL) is the CertID of the certificate this
 * one renews: sent as newOrder's "replaces" (RFC 9773 §5) only when the directory offers
 * renewalInfo; a CA refusing it (alreadyReplaced, or any other 4xx but rate limits) gets the
 * newOrder once more without it (logged). Challenges go through <ops>; every token published is
 * withdrawn before returning, on success and failure alike. 0 with the chain in <res>, or -1 with
 * <res->error>.
 */
int acme_order(struct acme_client *c, const char *name, const char *replaces,
               const struct jws_key *cert_key, const struct acme_chal_ops *ops,
               struct acme_order_result *res);

/*
 * Ask the CA when to renew the certificate named by CertID <cert_id> (RFC 9773 §4.1): an
 * unauthenticated GET of <renewalInfo>/<cert_id> (the directory is fetched first when needed).
 * 1 with the window in <w> and the response's Retry-After in <*retry_after> (seconds, -1 when
 * absent: the caller polls again per ari_next_poll), 0 when the directory has no renewalInfo,
 * -1 with the reason in <err>.
 */
int acme_renewal_info(struct acme_client *c, const char *cert_id, struct ari_window *w,
                      long long *retry_after, char *err, size_t errsz);

/* CRL reason codes (RFC 5280 §5.3.1) a subscriber may give in revokeCert. */
#define ACME_REVOKE_UNSPECIFIED            0
#define ACME_REVOKE_KEY_COMPROMISE         1
#define ACME_REVOKE_SUPERSEDED             4
#define ACME_REVOKE_CESSATION_OF_OPERATION 5

/*
 * Revoke the certificate whose DER is <der>/<der_len> (RFC 8555 §7.6): a JWS POST to the
 * directory's revokeCert signed with the account key ("kid"; the account must be set up) with
 * {"certificate": base64url(DER), "reason": <reason>}. 0 when the CA revoked it or answers
 * alreadyRevoked; -1 with the reason (a problem's "type: detail") in <err> and the CA's
 * Retry-After in <*retry_after> (seconds, -1 when absent).
 */
int acme_revoke_cert(struct acme_client *c, const uint8_t *der, size_t der_len, int reason,
                     long long *retry_after, char *err, size_t errsz);

#endif
