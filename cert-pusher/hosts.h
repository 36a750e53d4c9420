/* SPDX-License-Identifier: MIT */
/*
 * Hostname management shared by the HTTP API (api.c), the command line (add, rm, ls, show,
 * renew) and the scheduler: validation, the host:<name> hash fields and their state machine,
 * preview hostnames. Redis access goes through store.c; this module owns the meaning.
 *
 *   pending -> issuing -> valid -> renewing -> valid
 *                 \                   \
 *                  +-> failed <--------+   (failed -> issuing on the next attempt)
 *   any state -> removing -> gone (the hash, blobs, due entry and set member are deleted)
 *   (with revoke=true an issuer revokes the certificates at the CA before "gone")
 *
 * A removal asked while an issuer holds the host's lock is recorded (state "removing", field
 * "removing") and finished by that issuer (or the next) under the lock, so a running order
 * cannot resurrect a removed host.
 */
#ifndef CERT_PUSHER_HOSTS_H
#define CERT_PUSHER_HOSTS_H

#include <stddef.h>
#include <stdint.h>

#include "cert-pusher/store/store.h"
#include "common/names.h"

enum hosts_state {
	HOSTS_STATE_PENDING = 0,
	HOSTS_STATE_ISSUING,
	HOSTS_STATE_VALID,
	HOSTS_STATE_RENEWING,
	HOSTS_STATE_FAILED,
	HOSTS_STATE_REMOVING,
	HOSTS_STATE_AWAITING_DNS, /* no order until its DNS points at the fleet (dnsgate.c) */
	HOSTS_STATE_COUNT
};

/* Fields of host:<name> (DESIGN.md "Redis layout"). Times are unix seconds in decimal. */
#define HOSTS_F_STATE         "state"
#define HOSTS_F_PREVIEW       "preview"      /* preview hostname, when configured */
#define HOSTS_F_CREATED       "created"      /* when it was added */
#define HOSTS_F_NOT_BEFORE    "not_before"   /* of the current certificates */
#define HOSTS_F_NOT_AFTER     "not_after"    /* earliest of the key types */
#define HOSTS_F_ISSUED_AT     "issued_at"    /* when the last order succeeded */
#define HOSTS_F_RENEW_AT      "renew_at"     /* when the next renewal is planned */
#define HOSTS_F_SERIAL_ECDSA  "serial_ecdsa" /* hex, uppercase */
#define HOSTS_F_SERIAL_RSA    "serial_rsa"
#define HOSTS_F_CERT_ID_ECDSA "cert_id_ecdsa" /* RFC 9773 CertID of the leaf ("replaces") */
#define HOSTS_F_CERT_ID_RSA   "cert_id_rsa"
#define HOSTS_F_CERT_ID \
	"cert_id" /* before per-type CertIDs: the ECDSA leaf's; read, never written */
#define HOSTS_F_LAST_ERROR   "last_error"   /* the CA's problem or our error, last failure */
#define HOSTS_F_ATTEMPTS     "attempts"     /* consecutive failed attempts */
#define HOSTS_F_NEXT_ATTEMPT "next_attempt" /* after a failure */
#define HOSTS_F_ORDER        "order"        /* "<owner> <start>" while an order runs */
#define HOSTS_F_REMOVING     "removing"     /* time a removal was asked; wins over state */
#define HOSTS_F_ORIGIN       "origin"       /* "on_demand" when a TLS handshake added it */
#define HOSTS_F_ARI_NOTE     "ari_explanation"
#define HOSTS_F_REVOKE       "revoke" /* with removing: revoke at the CA before purging */

/* Random preview labels: 16 base32 characters (80 bits). */
#define HOSTS_PREVIEW_LABEL_LEN 16

enum hosts_status {
	HOSTS_OK = 0,
	HOSTS_EXISTS,    /* add: already managed (API 409) */
	HOSTS_INVALID,   /* the hostname fails names_hostname_valid(): reason in <err> (API 422) */
	HOSTS_NOT_FOUND, /* not managed (API 404) */
	HOSTS_DEFERRED,  /* rm: an issuer holds the lock; it finishes the removal (API 202) */
	HOSTS_CONFLICT,  /* renew of a host being removed (API 409) */
	HOSTS_ERROR,     /* Redis or memory: message in <err> (API 503) */
	HOSTS_STATUS_COUNT
};

/* What the API and the CLI show about a host. Strings are "" when unknown; times 0. */
struct hosts_info {
	char name[NAMES_HOSTNAME_MAX + 1];
	enum hosts_state state;
	char preview[NAMES_HOSTNAME_MAX + 1];
	char origin[16]; /* "api" when unset, or "on_demand" */
	long long created, not_before, not_after, issued_at, renew_at, next_attempt;
	long long next_action; /* score in the due zset, 0 when not scheduled */
	char serial_ecdsa[80];
	char serial_rsa[80];
	char last_error[1024]; /* truncated */
	unsigned attempts;
	int order_running;    /* an order-in-progress marker is present */
	char dns_status[512]; /* dnsgate.c: what the last DNS check found, or "" */
};

const char *hosts_state_name(enum hosts_state st);
/* The state named <s>, or -1. */
int hosts_state_parse(const char *s);

/* Whether <domain> can carry preview names (<label>.<domain> must be a valid hostname). */
int hosts_preview_domain_valid(const char *domain, const char **why);

/* Append "<16 random base32 chars>.<domain>" to <out>. 0 or -1. */
int hosts_preview_name(const char *domain, struct buf *out);

/* Fill <info> from HGETALL pairs <kv> of host <name> (no Redis access). */
void hosts_info_from_pairs(struct hosts_info *info, const char *name, const struct strv *kv);

/*
 * Add <name> (state pending, due now) with a preview name under <preview_domain> (NULL: none).
 * HOSTS_OK with <info> filled, HOSTS_EXISTS, HOSTS_INVALID (reason in <err>), HOSTS_ERROR.
 */
enum hosts_status hosts_add(struct store *s, const char *name, const char *preview_domain,
                            struct hosts_info *info, char *err, size_t errsz);

/* Read one host. HOSTS_OK, HOSTS_NOT_FOUND (also for invalid names), HOSTS_ERROR. */
enum hosts_status hosts_get(struct store *s, const char *name, struct hosts_info *info, char *err,
                            size_t errsz);

/* Every managed host, sorted by name, in a new array <*out> of <*n> (caller frees), with the
 * same fields as hosts_get() (one pipelined HMGET round trip and one ZMSCORE). HOSTS_OK or
 * HOSTS_ERROR. */
enum hosts_status hosts_list(struct store *s, struct hosts_info **out, size_t *n, char *err,
                             size_t errsz);

/* Remove <name> from every edge: HOSTS_OK (gone, "del <name>" published), HOSTS_DEFERRED (an
 * issuer holds the lock and finishes it), HOSTS_NOT_FOUND, HOSTS_ERROR. A revocation asked
 * before (hosts_remove_revoke) is dropped. */
enum hosts_status hosts_remove(struct store *s, const char *name, char *err, size_t errsz);

/* Remove <name> after revoking its certificates at the CA (RFC 8555 §7.6): the host is marked
 * removing with the revoke flag and made due now; an issuer revokes under the host's lock,
 * then purges as hosts_remove() does. A failed revocation is kept in last_error and retried
 * with the backoff; a plain hosts_remove() meanwhile drops the flag (removal without
 * revocation). HOSTS_DEFERRED (message in <err>), HOSTS_NOT_FOUND, HOSTS_ERROR. */
enum hosts_status hosts_remove_revoke(struct store *s, const char *name, char *err, size_t errsz);

/* Make <name> due now (renew or retry at once). HOSTS_OK, HOSTS_NOT_FOUND, HOSTS_CONFLICT
 * (being removed), HOSTS_ERROR. */
enum hosts_status hosts_renew(struct store *s, const char *name, char *err, size_t errsz);

/* Format unix time <t> as RFC 3339 UTC ("2026-01-02T03:04:05Z") into <out>; "" for 0. */
void hosts_time_format(long long t, char *out, size_t outsz);

#endif
