/* SPDX-License-Identifier: MIT */
/*
 * DNS-01 through RFC 2136 dynamic updates: adds and removes the TXT record
 * _acme-challenge.<name> in the zone the operator lets the issuer update, signed with a TSIG key
 * (RFC 8945, hmac-sha256), and waits until every authoritative server of that zone answers it.
 * The DNS wire format, TSIG signing and the verification of the signed replies are ldns's; this
 * module picks the servers, checks every reply (rcode, AA bit, question, TSIG) and turns failures
 * into messages for host:<name> last_error. It does not talk to the CA (acme.c does) nor decide
 * which names use DNS-01 (issuer.c does).
 */
#ifndef CERT_PUSHER_DNS_H
#define CERT_PUSHER_DNS_H

#include <stddef.h>
#include <stdint.h>

#define DNS_MAX_AUTH  8
#define DNS_TXT_VALUE 44 /* 43 base64url characters of a SHA-256 digest, and the NUL */

struct dns_server {
	char addr[64]; /* numeric IPv4 or IPv6 */
	uint16_t port;
};

struct dns_conf {
	struct dns_server update;             /* where RFC 2136 updates go */
	struct dns_server auth[DNS_MAX_AUTH]; /* --dns-auth; without it, the update server */
	size_t nauth;
	int auth_given;     /* --dns-auth given; else dns_auth_servers() asks the zone's NS set */
	char zone[256];     /* the zone updated, without the trailing dot */
	char key_name[256]; /* TSIG key name */
	char *key_secret;   /* base64 secret; owned, wiped */
	int64_t timeout_ms; /* one query or update; 0: 3 s */
	int64_t propagation_ms; /* wait for every server; 0: 120 s */
};

/*
 * Parse "ADDR:PORT" or "[V6]:PORT" (port 1..65535; ADDR numeric) into <out>. <what> names the
 * option in the message. 0 or -1 with <err>.
 */
int dns_server_parse(const char *s, const char *what, struct dns_server *out, char *err,
                     size_t errsz);

/*
 * Fill <dc> from --dns-update <update>, --dns-tsig-key-file <key_file> (one line
 * "hmac-sha256:NAME:BASE64SECRET", as knsupdate -y takes it; mode 0600 or stricter, '#' lines
 * ignored), --dns-zone <zone> and the comma-separated --dns-auth <auth> (may be NULL: the
 * zone's NS set is then asked at each order, dns_auth_servers()). 0, or -1 with an error naming
 * the option in <err>; release with dns_conf_deinit() either way.
 */
int dns_conf_load(struct dns_conf *dc, const char *update, const char *key_file, const char *zone,
                  const char *auth, char *err, size_t errsz);
void dns_conf_deinit(struct dns_conf *dc);

/* RFC 8555 §8.4: <out> = base64url(SHA-256(<keyauth>)), unpadded. 0 or -1. */
int dns_txt_value(const char *keyauth, char out[DNS_TXT_VALUE]);

/* "_acme-challenge.<identifier>" (lowercase) into <out>; -1 when it is too long or not a DNS
 * name. <*in_zone> (may be NULL): whether it lies inside <dc>'s zone; when not, DNS-01 writes at
 * dns_delegation_target() instead. */
int dns_challenge_name(const struct dns_conf *dc, const char *identifier, char *out, size_t outsz,
                       int *in_zone, char *err, size_t errsz);

/* Is <fqdn> (no trailing dot, lowercase) <zone> or below it? */
int dns_in_zone(const char *zone, const char *fqdn);

/*
 * Customer wildcards by delegation (as acme-dns does): a name whose _acme-challenge lies outside
 * the zone is validated through a CNAME the customer creates from "_acme-challenge.<identifier>"
 * to "<h>.acme-delegation.<zone>", h = the first 16 base32 characters (a-z2-7) of
 * SHA-256(<identifier>): a name only the zone's updater writes, fixed for each identifier so
 * the API can say which record to create before anything is stored. Into <out>; 0 or -1 (too
 * long).
 */
int dns_delegation_target(const char *zone, const char *identifier, char *out, size_t outsz);

/*
 * Ask the recursive resolver <res> (port 0: /etc/resolv.conf's) for CNAME <name>; every reply
 * checked (id, question, rcode). 1 with the target (lowercase, no trailing dot) in <target>, 0
 * when <name> has no CNAME, -1 when the question could not be answered (why in <err>).
 */
int dns_resolve_cname(const struct dns_server *res, const char *name, char *target, size_t targetsz,
                      char *err, size_t errsz);

/*
 * The authoritative servers of <dc>'s zone that DNS-01 waits for: --dns-auth when given; else
 * the zone's NS set as its update server answers it (AA), each NS name's A/AAAA from the update
 * server (in-zone) or from the resolver <res> (port 0: /etc/resolv.conf's; an out-of-zone NS),
 * each asked on the update server's port (53 in production). At most DNS_MAX_AUTH into <out>,
 * their count to <*nout>. 0, or -1 with why in <err>.
 */
int dns_auth_servers(const struct dns_conf *dc, const struct dns_server *res,
                     struct dns_server out[DNS_MAX_AUTH], size_t *nout, char *err, size_t errsz);

/*
 * Before an order: does <dc>'s update server take a TSIG-signed update of TXT <fqdn>? One RFC
 * 2136 message that adds and deletes the same probe value (no net change), so a wrong key, a
 * zone the server does not serve and an ACL that refuses the name or the type all show up here,
 * before the CA is asked for anything. 0, or -1 with the reason in <err>.
 */
int dns_update_probe(const struct dns_conf *dc, const char *fqdn, char *err, size_t errsz);

/* Does every server of <auth>/<nauth> answer <dc>'s zone's SOA authoritatively? 0, or -1 with
 * the first that does not in <err>. */
int dns_auth_check(const struct dns_conf *dc, const struct dns_server *auth, size_t nauth,
                   char *err, size_t errsz);

/*
 * RFC 2136 update of <dc>'s zone: add (or, with <del>, remove) the TXT record <fqdn> <value>
 * (TTL 60). Other TXT values of the same name stay (a wildcard and its base name coexist).
 * 0, or -1 with the reason (rcode, TSIG failure, timeout) in <err>.
 */
int dns_txt_update(const struct dns_conf *dc, const char *fqdn, const char *value, int del,
                   char *err, size_t errsz);

/*
 * Poll every server of <auth>/<nauth> (dns_auth_servers()) directly (no recursion, AA required)
 * until each answers TXT <fqdn> with <value>, or <dc>'s propagation time runs out. 0 with the
 * time it took in <*took_ms> (may be NULL), or -1 with which server lacks it in <err>.
 */
int dns_txt_wait(const struct dns_conf *dc, const struct dns_server *auth, size_t nauth,
                 const char *fqdn, const char *value, int64_t *took_ms, char *err, size_t errsz);

/*
 * The reply checks this module makes itself (the TXT character-strings, the CNAME target) on
 * the DNS message <wire>/<len>, which ldns parses: bit 1 = TXT <name> holds <value>, bit 0 = a
 * CNAME <name> whose target is in <target>; -1 when ldns refuses the message. For the fuzz
 * target and the unit tests.
 */
int dns_reply_examine(const uint8_t *wire, size_t len, const char *name, const char *value,
                      char *target, size_t targetsz);

#endif
