/* SPDX-License-Identifier: MIT */
/*
 * DNS-01 records through RFC 2136 with TSIG (see dns.h). ldns builds, signs and parses every
 * packet and checks the TSIG of each signed reply (ldns_send verifies it against the request's
 * MAC); what ldns leaves to us is checked here: the reply's id, opcode and question, its rcode,
 * and for queries the AA bit and that the answer holds exactly our name. Blocking, one server
 * at a time: DNS-01 runs in an issuer worker thread, which blocks on the CA the same way.
 */
#include "cert-pusher/issuer/dns.h"

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/b64url.h"
#include "common/buf.h"
#include "common/file.h"
#include "common/parse.h"

#define DNS_TIMEOUT_DEF_MS     3000
#define DNS_PROPAGATION_DEF_MS 120000
#define DNS_TXT_TTL            60
#define DNS_POLL_START_MS      50
#define DNS_POLL_MAX_MS        250
#define DNS_TSIG_ALG           "hmac-sha256."

static int64_t dns_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void dns_sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0)
		;
}

/* [A-Za-z0-9._-], no empty label, 1..253 characters: what we put into a DNS name. */
static int dns_name_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

int dns_server_parse(const char *s, const char *what, struct dns_server *out, char *err,
                     size_t errsz)
{
	const char *colon, *host = s;
	size_t hlen;
	uint64_t port;
	unsigned char tmp[16];
	int v6 = 0;

	memset(out, 0, sizeof(*out));
	colon = s ? strrchr(s, ':') : NULL;
	if (!colon)
		goto bad;
	hlen = (size_t)(colon - s);
	if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
		host = s + 1;
		hlen -= 2;
		v6 = 1;
	}
	if (hlen == 0 || hlen >= sizeof(out->addr) || parse_u64(colon + 1, 1, 65535, &port) < 0)
		goto bad;
	memcpy(out->addr, host, hlen);
	out->addr[hlen] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, out->addr, tmp) != 1)
		goto bad;
	out->port = (uint16_t)port;
	return 0;
bad:
	snprintf(err, errsz, "%s: '%s' is not ADDR:PORT or [V6ADDR]:PORT with a numeric address",
	         what, s ? s : "");
	memset(out, 0, sizeof(*out));
	return -1;
}

/* Parse the TSIG key file's line "hmac-sha256:NAME:SECRET" into <dc>. */
static int dns_key_parse(struct dns_conf *dc, const char *path, char *line, char *err, size_t errsz)
{
	char *name, *secret;
	size_t i, n;

	if (strncmp(line, "hmac-sha256:", 12) != 0) {
		snprintf(
		        err, errsz,
		        "--dns-tsig-key-file: '%s' must hold 'hmac-sha256:NAME:BASE64SECRET' (only "
		        "hmac-sha256 is accepted)",
		        path);
		return -1;
	}
	name = line + 12;
	secret = strchr(name, ':');
	if (!secret)
		goto bad;
	*secret++ = '\0';
	if (!dns_name_valid(name) || strlen(name) + 2 > sizeof(dc->key_name))
		goto bad;
	n = strlen(secret);
	if (n < 24 || n > 256)
		goto bad;
	for (i = 0; i < n; i++) {
		char c = secret[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/' || (c == '=' && i >= n - 2)))
			goto bad;
	}
	if (n % 4 != 0)
		goto bad;
	n = strlen(name);
	memcpy(dc->key_name, name, n); /* n < sizeof - 1: checked above */
	dc->key_name[n] = '.';
	dc->key_name[n + 1] = '\0';
	dc->key_secret = strdup(secret);
	if (!dc->key_secret) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	return 0;
bad:
	snprintf(err, errsz,
	         "--dns-tsig-key-file: '%s': expected 'hmac-sha256:NAME:BASE64SECRET' with a DNS "
	         "key name and a base64 secret of at least 16 bytes",
	         path);
	return -1;
}

int dns_conf_load(struct dns_conf *dc, const char *update, const char *key_file, const char *zone,
                  const char *auth, char *err, size_t errsz)
{
	struct buf raw;
	char why[256], *p, *line, *save = NULL, *list = NULL, *tok;
	int ret = -1, have_key = 0;

	memset(dc, 0, sizeof(*dc));
	buf_init(&raw);
	if (!update || !key_file || !zone) {
		snprintf(err, errsz,
		         "--dns-update, --dns-tsig-key-file and a zone (--dns-zone or "
		         "--preview-domain) go together");
		goto out;
	}
	if (dns_server_parse(update, "--dns-update", &dc->update, err, errsz) < 0)
		goto out;
	dc->auth[dc->nauth++] = dc->update;
	if (!dns_name_valid(zone) || strlen(zone) >= sizeof(dc->zone)) {
		snprintf(err, errsz, "--dns-zone: '%s' is not a DNS zone name", zone);
		goto out;
	}
	snprintf(dc->zone, sizeof(dc->zone), "%s", zone);
	for (p = dc->zone; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (auth && *auth) {
		list = strdup(auth);
		if (!list) {
			snprintf(err, errsz, "out of memory");
			goto out;
		}
		dc->nauth = 0; /* the list names every authoritative server */
		for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (dc->nauth == DNS_MAX_AUTH) {
				snprintf(err, errsz, "--dns-auth: at most %d servers",
				         DNS_MAX_AUTH);
				goto out;
			}
			if (dns_server_parse(tok, "--dns-auth", &dc->auth[dc->nauth], err, errsz) <
			    0)
				goto out;
			dc->nauth++;
		}
		if (dc->nauth == 0) {
			snprintf(err, errsz, "--dns-auth: empty list");
			goto out;
		}
		dc->auth_given = 1;
	}
	if (file_read(key_file, 4096, 1, &raw, why, sizeof(why)) < 0) {
		snprintf(err, errsz, "--dns-tsig-key-file: %s", why);
		goto out;
	}
	save = NULL;
	for (line = strtok_r((char *)raw.data, "\r\n", &save); line;
	     line = strtok_r(NULL, "\r\n", &save)) {
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line || *line == '#')
			continue;
		if (have_key) {
			snprintf(err, errsz, "--dns-tsig-key-file: '%s' must hold one key",
			         key_file);
			goto out;
		}
		if (dns_key_parse(dc, key_file, line, err, errsz) < 0)
			goto out;
		have_key = 1;
	}
	if (!have_key) {
		snprintf(err, errsz, "--dns-tsig-key-file: '%s' holds no key", key_file);
		goto out;
	}
	dc->timeout_ms = DNS_TIMEOUT_DEF_MS;
	dc->propagation_ms = DNS_PROPAGATION_DEF_MS;
	ret = 0;
out:
	free(list);
	buf_wipe(&raw);
	return ret;
}

void dns_conf_deinit(struct dns_conf *dc)
{
	if (!dc)
		return;
	if (dc->key_secret) {
		OPENSSL_cleanse(dc->key_secret, strlen(dc->key_secret));
		free(dc->key_secret);
	}
	memset(dc, 0, sizeof(*dc));
}

int dns_txt_value(const char *keyauth, char out[DNS_TXT_VALUE])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	struct buf b;
	int ret = -1;

	buf_init(&b);
	SHA256((const unsigned char *)keyauth, strlen(keyauth), md);
	if (b64url_encode(&b, md, sizeof(md)) < 0 || b.len != DNS_TXT_VALUE - 1)
		goto out;
	memcpy(out, b.data, b.len);
	out[b.len] = '\0';
	ret = 0;
out:
	buf_deinit(&b);
	return ret;
}

int dns_in_zone(const char *zone, const char *fqdn)
{
	size_t nl = strlen(fqdn), zl = strlen(zone);

	return !strcmp(fqdn, zone) ||
	       (nl > zl + 1 && fqdn[nl - zl - 1] == '.' && !strcmp(fqdn + nl - zl, zone));
}

int dns_challenge_name(const struct dns_conf *dc, const char *identifier, char *out, size_t outsz,
                       int *in_zone, char *err, size_t errsz)
{
	int n;

	n = snprintf(out, outsz, "_acme-challenge.%s", identifier);
	if (n < 0 || (size_t)n >= outsz || !dns_name_valid(out)) {
		snprintf(err, errsz, "'%s' gives no valid _acme-challenge name", identifier);
		return -1;
	}
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (in_zone)
		*in_zone = dns_in_zone(dc->zone, out);
	return 0;
}

int dns_delegation_target(const char *zone, const char *identifier, char *out, size_t outsz)
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char md[SHA256_DIGEST_LENGTH];
	char low[256], h[17];
	size_t i, n = strlen(identifier);
	unsigned acc = 0, bits = 0, k = 0;
	int w;

	if (n == 0 || n >= sizeof(low))
		return -1;
	for (i = 0; i < n; i++)
		low[i] = (char)(identifier[i] >= 'A' && identifier[i] <= 'Z'
		                        ? identifier[i] - 'A' + 'a'
		                        : identifier[i]);
	low[n] = '\0';
	SHA256((const unsigned char *)low, n, md);
	for (i = 0; k < 16; i++) { /* RFC 4648 §6 base32 of the first 10 bytes, lowercase */
		acc = (acc << 8) | md[i];
		bits += 8;
		while (bits >= 5 && k < 16) {
			h[k++] = b32[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	h[16] = '\0';
	w = snprintf(out, outsz, "%s.acme-delegation.%s", h, zone);
	return w < 0 || (size_t)w >= outsz || !dns_name_valid(out) ? -1 : 0;
}

/* A resolver talking to <srv> only, without recursion; TSIG-signing when <dc> is given. */
static ldns_resolver *dns_resolver(const struct dns_server *srv, const struct dns_conf *dc,
                                   int64_t timeout_ms)
{
	ldns_resolver *r;
	ldns_rdf *ns;
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };

	r = ldns_resolver_new();
	if (!r)
		return NULL;
	ns = ldns_rdf_new_frm_str(strchr(srv->addr, ':') ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A,
	                          srv->addr);
	if (!ns || ldns_resolver_push_nameserver(r, ns) != LDNS_STATUS_OK) {
		ldns_rdf_deep_free(ns);
		ldns_resolver_deep_free(r);
		return NULL;
	}
	ldns_rdf_deep_free(ns);
	ldns_resolver_set_port(r, srv->port);
	ldns_resolver_set_recursive(r, false);
	ldns_resolver_set_timeout(r, tv);
	ldns_resolver_set_retry(r, 1);
	ldns_resolver_set_retrans(r, (uint8_t)(timeout_ms / 1000 > 0 ? timeout_ms / 1000 : 1));
	ldns_resolver_set_fallback(r, true); /* TCP when the reply is truncated */
	if (dc) {
		ldns_resolver_set_tsig_keyname(r, dc->key_name);
		ldns_resolver_set_tsig_algorithm(r, DNS_TSIG_ALG);
		ldns_resolver_set_tsig_keydata(r, dc->key_secret);
	}
	return r;
}

/* A resolver asking <res> (port 0: /etc/resolv.conf's servers) with recursion desired. */
static ldns_resolver *dns_recursive_resolver(const struct dns_server *res, int64_t timeout_ms)
{
	ldns_resolver *r = NULL;
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };

	if (res->port) {
		r = dns_resolver(res, NULL, timeout_ms);
	} else if (ldns_resolver_new_frm_file(&r, NULL) != LDNS_STATUS_OK) {
		r = NULL;
	} else {
		ldns_resolver_set_timeout(r, tv);
		ldns_resolver_set_retry(r, 1);
		ldns_resolver_set_fallback(r, true);
	}
	if (r)
		ldns_resolver_set_recursive(r, true);
	return r;
}

static const char *dns_rcode_name(ldns_pkt_rcode rc)
{
	ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, (int)rc);

	return lt ? lt->name : "unknown rcode";
}

/* The reply's question is <name>/<type> and its id the query's. */
static int dns_reply_matches(const ldns_pkt *q, const ldns_pkt *a, const ldns_rdf *name,
                             ldns_rr_type type)
{
	ldns_rr_list *qs = ldns_pkt_question(a);
	ldns_rr *qr;

	if (ldns_pkt_id(q) != ldns_pkt_id(a) || !ldns_pkt_qr(a))
		return 0;
	if (!qs || ldns_rr_list_rr_count(qs) != 1)
		return 0;
	qr = ldns_rr_list_rr(qs, 0);
	return ldns_dname_compare(ldns_rr_owner(qr), name) == 0 && ldns_rr_get_type(qr) == type;
}

/* Does <srv> answer <dc>'s zone's SOA authoritatively (unsigned query)? 1, or 0 with what it
 * said instead in <why>. */
static int dns_soa_auth(const struct dns_conf *dc, const struct dns_server *srv, char *why,
                        size_t whysz)
{
	ldns_resolver *r = dns_resolver(srv, NULL, dc->timeout_ms);
	ldns_rdf *name = NULL;
	ldns_pkt *q = NULL, *a = NULL;
	ldns_status st;
	char zname[260];
	int ret = 0;

	snprintf(why, whysz, "no answer");
	snprintf(zname, sizeof(zname), "%s.", dc->zone);
	name = ldns_dname_new_frm_str(zname);
	if (!r || !name)
		goto out;
	q = ldns_pkt_query_new(ldns_rdf_clone(name), LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0);
	if (!q)
		goto out;
	ldns_pkt_set_random_id(q);
	st = ldns_resolver_send_pkt(&a, r, q);
	if (st != LDNS_STATUS_OK || !a) {
		snprintf(why, whysz, "no answer to an SOA query: %s", ldns_get_errorstr_by_id(st));
		goto out;
	}
	if (!dns_reply_matches(q, a, name, LDNS_RR_TYPE_SOA)) {
		snprintf(why, whysz, "its reply to an SOA query does not match the query");
		goto out;
	}
	if (ldns_pkt_get_rcode(a) != LDNS_RCODE_NOERROR || !ldns_pkt_aa(a)) {
		snprintf(why, whysz, "it is not authoritative for %s (SOA query: %s%s)", zname,
		         dns_rcode_name(ldns_pkt_get_rcode(a)),
		         ldns_pkt_aa(a) ? "" : ", no AA bit");
		goto out;
	}
	ret = 1;
out:
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	ldns_rdf_deep_free(name);
	ldns_resolver_deep_free(r);
	return ret;
}

enum dns_update_mode {
	DNS_UPDATE_ADD = 0,
	DNS_UPDATE_DEL,
	DNS_UPDATE_PROBE, /* add and delete in one message: no net change */
	DNS_UPDATE_COUNT
};

static const char *const dns_update_verbs[DNS_UPDATE_COUNT] = { "adding", "removing",
	                                                        "a probe update of" };

/* RFC 2136 update of TXT <fqdn> <value> in <dc>'s zone, as <mode> says. 0 or -1 with <err>. */
static int dns_update(const struct dns_conf *dc, const char *fqdn, const char *value,
                      enum dns_update_mode mode, char *err, size_t errsz)
{
	ldns_resolver *r = NULL;
	ldns_rr *rr = NULL, *rr2 = NULL;
	int del = mode == DNS_UPDATE_DEL;
	ldns_rr_list *up = NULL;
	ldns_rdf *zone = NULL, *zcopy = NULL;
	ldns_pkt *q = NULL, *a = NULL;
	ldns_status st;
	char text[512], zname[260];
	int n, ret = -1;

	if (!dns_name_valid(fqdn) || !b64url_alphabet_only(value, strlen(value))) {
		snprintf(err, errsz, "DNS update: bad record %s", fqdn);
		goto out;
	}
	n = snprintf(text, sizeof(text), "%s. %d IN TXT \"%s\"", fqdn, del ? 0 : DNS_TXT_TTL,
	             value);
	if (n < 0 || (size_t)n >= sizeof(text))
		goto oom;
	snprintf(zname, sizeof(zname), "%s.", dc->zone);
	r = dns_resolver(&dc->update, dc, dc->timeout_ms);
	if (!r || ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) != LDNS_STATUS_OK)
		goto oom;
	if (del) /* RFC 2136 §2.5.4: class NONE deletes this RR from the RRset */
		ldns_rr_set_class(rr, LDNS_RR_CLASS_NONE);
	up = ldns_rr_list_new();
	if (!up || !ldns_rr_list_push_rr(up, rr))
		goto oom;
	rr = NULL;
	if (mode == DNS_UPDATE_PROBE) {
		rr2 = ldns_rr_clone(ldns_rr_list_rr(up, 0));
		if (!rr2)
			goto oom;
		ldns_rr_set_ttl(rr2, 0);
		ldns_rr_set_class(rr2, LDNS_RR_CLASS_NONE); /* RFC 2136 §3.4.2.4: in order */
		if (!ldns_rr_list_push_rr(up, rr2))
			goto oom;
		rr2 = NULL;
	}
	zone = ldns_dname_new_frm_str(zname);
	zcopy = zone ? ldns_rdf_clone(zone) : NULL;
	if (!zcopy)
		goto oom;
	q = ldns_update_pkt_new(zone, LDNS_RR_CLASS_IN, NULL, up, NULL); /* takes <zone> */
	zone = NULL;
	if (!q)
		goto oom;
	ldns_pkt_set_random_id(q);
	st = ldns_update_pkt_tsig_add(q, r);
	if (st != LDNS_STATUS_OK) {
		snprintf(err, errsz, "DNS update of %s: cannot sign with TSIG key %s: %s", zname,
		         dc->key_name, ldns_get_errorstr_by_id(st));
		goto out;
	}
	st = ldns_resolver_send_pkt(&a, r, q);
	if (st == LDNS_STATUS_CRYPTO_TSIG_BOGUS) {
		/* The reply's TSIG does not verify: an error reply to a bad key, or to a key the
		 * zone's ACL does not let update this name or type, is unsigned (RFC 8945 §5.3.2;
		 * Knot answers NOTAUTH + BADKEY for both), and so is a NOTAUTH or REFUSED from a
		 * server that does not serve the zone. ldns drops such a reply, rcode and all:
		 * tell them apart by asking the server for the zone's SOA. */
		char why[600];

		if (dns_soa_auth(dc, &dc->update, why, sizeof(why)))
			snprintf(err, errsz,
			         "DNS update of %s at %s:%u: the server serves the zone but its "
			         "reply is not signed with key %s: wrong TSIG key name or secret, "
			         "or the zone's update ACL does not let this key %s TXT %s",
			         zname, dc->update.addr, dc->update.port, dc->key_name,
			         mode == DNS_UPDATE_DEL ? "remove" : "add", fqdn);
		else
			snprintf(err, errsz, "DNS update of %s at %s:%u refused: %s", zname,
			         dc->update.addr, dc->update.port, why);
		goto out;
	}
	if (st != LDNS_STATUS_OK || !a) {
		snprintf(err, errsz, "DNS update of %s at %s:%u: %s", zname, dc->update.addr,
		         dc->update.port, ldns_get_errorstr_by_id(st));
		goto out;
	}
	if (ldns_pkt_get_opcode(a) != LDNS_PACKET_UPDATE || ldns_pkt_id(a) != ldns_pkt_id(q) ||
	    !ldns_pkt_qr(a)) {
		snprintf(err, errsz,
		         "DNS update of %s at %s:%u: the reply does not match the update", zname,
		         dc->update.addr, dc->update.port);
		goto out;
	}
	if (ldns_pkt_get_rcode(a) != LDNS_RCODE_NOERROR) {
		snprintf(err, errsz, "DNS update of %s at %s:%u: %s TXT %s refused: %s", zname,
		         dc->update.addr, dc->update.port, dns_update_verbs[mode], fqdn,
		         dns_rcode_name(ldns_pkt_get_rcode(a)));
		goto out;
	}
	ret = 0;
	goto out;
oom:
	snprintf(err, errsz, "DNS update of %s: out of memory", fqdn);
out:
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	ldns_rdf_deep_free(zone);
	ldns_rdf_deep_free(zcopy);
	ldns_rr_list_deep_free(up);
	ldns_rr_free(rr);
	ldns_rr_free(rr2);
	ldns_resolver_deep_free(r);
	return ret;
}

int dns_txt_update(const struct dns_conf *dc, const char *fqdn, const char *value, int del,
                   char *err, size_t errsz)
{
	return dns_update(dc, fqdn, value, del ? DNS_UPDATE_DEL : DNS_UPDATE_ADD, err, errsz);
}

int dns_update_probe(const struct dns_conf *dc, const char *fqdn, char *err, size_t errsz)
{
	return dns_update(dc, fqdn, "spoacme-probe", DNS_UPDATE_PROBE, err, errsz);
}

int dns_auth_check(const struct dns_conf *dc, const struct dns_server *auth, size_t nauth,
                   char *err, size_t errsz)
{
	size_t i;
	char why[600];

	for (i = 0; i < nauth; i++) {
		if (dns_soa_auth(dc, &auth[i], why, sizeof(why)))
			continue;
		snprintf(err, errsz, "authoritative server %s:%u of %s: %s", auth[i].addr,
		         auth[i].port, dc->zone, why);
		return -1;
	}
	return 0;
}

/* Ask <srv> (<recursive>: a resolver) <type> <name>; the reply, checked (id, question, rcode
 * NOERROR or NXDOMAIN and, unless <recursive>, the AA bit), into <*out>. 0, or -1 with <err>. */
static int dns_ask(const struct dns_server *srv, int recursive, const ldns_rdf *name,
                   ldns_rr_type type, ldns_pkt **out, char *err, size_t errsz)
{
	ldns_resolver *r = recursive ? dns_recursive_resolver(srv, DNS_TIMEOUT_DEF_MS)
	                             : dns_resolver(srv, NULL, DNS_TIMEOUT_DEF_MS);
	ldns_pkt *q = NULL, *a = NULL;
	ldns_status st;
	char *txt = ldns_rdf2str(name);
	const char *where = srv->port ? srv->addr : "the resolver";
	int ret = -1;

	*out = NULL;
	q = ldns_pkt_query_new(ldns_rdf_clone(name), type, LDNS_RR_CLASS_IN,
	                       recursive ? LDNS_RD : 0);
	if (!r || !q || !txt) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	ldns_pkt_set_random_id(q);
	st = ldns_resolver_send_pkt(&a, r, q);
	if (st != LDNS_STATUS_OK || !a) {
		snprintf(err, errsz, "%s: %s %s: %s", where, ldns_rr_type2str(type), txt,
		         ldns_get_errorstr_by_id(st));
		goto out;
	}
	if (!dns_reply_matches(q, a, name, type)) {
		snprintf(err, errsz, "%s: %s %s: the reply does not match the query", where,
		         ldns_rr_type2str(type), txt);
		goto out;
	}
	if ((ldns_pkt_get_rcode(a) != LDNS_RCODE_NOERROR &&
	     ldns_pkt_get_rcode(a) != LDNS_RCODE_NXDOMAIN) ||
	    (!recursive && !ldns_pkt_aa(a))) {
		snprintf(err, errsz, "%s: %s %s: %s%s", where, ldns_rr_type2str(type), txt,
		         dns_rcode_name(ldns_pkt_get_rcode(a)),
		         ldns_pkt_aa(a) ? "" : ", no AA bit");
		goto out;
	}
	*out = a;
	a = NULL;
	ret = 0;
out:
	free(txt);
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	ldns_resolver_deep_free(r);
	return ret;
}

/* Add the A/AAAA addresses of <ns> in <a>'s answer to <out>, on <port>. */
static void dns_add_addrs(const ldns_pkt *a, const ldns_rdf *ns, uint16_t port,
                          struct dns_server out[DNS_MAX_AUTH], size_t *n)
{
	ldns_rr_list *ans = ldns_pkt_answer(a);
	size_t i, k;

	for (i = 0; ans && i < ldns_rr_list_rr_count(ans) && *n < DNS_MAX_AUTH; i++) {
		ldns_rr *rr = ldns_rr_list_rr(ans, i);
		const ldns_rdf *rd;
		int af;

		if (ldns_rr_rd_count(rr) != 1 || ldns_dname_compare(ldns_rr_owner(rr), ns) != 0)
			continue;
		rd = ldns_rr_rdf(rr, 0);
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_A && ldns_rdf_size(rd) == 4)
			af = AF_INET;
		else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_AAAA && ldns_rdf_size(rd) == 16)
			af = AF_INET6;
		else
			continue;
		if (!inet_ntop(af, ldns_rdf_data(rd), out[*n].addr, sizeof(out[*n].addr)))
			continue;
		out[*n].port = port;
		for (k = 0; k < *n && strcmp(out[k].addr, out[*n].addr); k++)
			;
		if (k == *n)
			(*n)++;
	}
}

int dns_auth_servers(const struct dns_conf *dc, const struct dns_server *res,
                     struct dns_server out[DNS_MAX_AUTH], size_t *nout, char *err, size_t errsz)
{
	static const ldns_rr_type types[] = { LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA };
	ldns_rdf *zone = NULL;
	ldns_pkt *a = NULL, *b = NULL;
	ldns_rr_list *ans;
	char zname[260];
	size_t i, t, n = 0;
	int ret = -1;

	*nout = 0;
	if (dc->auth_given) {
		memcpy(out, dc->auth, dc->nauth * sizeof(*out));
		*nout = dc->nauth;
		return 0;
	}
	snprintf(zname, sizeof(zname), "%s.", dc->zone);
	zone = ldns_dname_new_frm_str(zname);
	if (!zone) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	if (dns_ask(&dc->update, 0, zone, LDNS_RR_TYPE_NS, &a, err, errsz) < 0)
		goto out;
	ans = ldns_pkt_answer(a);
	for (i = 0; ans && i < ldns_rr_list_rr_count(ans); i++) {
		ldns_rr *rr = ldns_rr_list_rr(ans, i);
		const ldns_rdf *ns;
		int in_zone;

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NS || ldns_rr_rd_count(rr) != 1 ||
		    ldns_dname_compare(ldns_rr_owner(rr), zone) != 0)
			continue;
		ns = ldns_rr_rdf(rr, 0);
		in_zone = ldns_dname_is_subdomain(ns, zone) || !ldns_dname_compare(ns, zone);
		for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
			char why[512];

			/* an in-zone name from the primary itself; another from the resolver */
			if (dns_ask(in_zone ? &dc->update : res, !in_zone, ns, types[t], &b, why,
			            sizeof(why)) < 0) {
				snprintf(err, errsz, "the addresses of an NS of %s: %s", dc->zone,
				         why);
				goto out;
			}
			dns_add_addrs(b, ns, dc->update.port, out, &n);
			ldns_pkt_free(b);
			b = NULL;
		}
	}
	if (n == 0) {
		snprintf(err, errsz, "%s:%u lists no NS with an address for %s (give --dns-auth)",
		         dc->update.addr, dc->update.port, dc->zone);
		goto out;
	}
	*nout = n;
	ret = 0;
out:
	ldns_pkt_free(b);
	ldns_pkt_free(a);
	ldns_rdf_deep_free(zone);
	return ret;
}

/* The target of CNAME <owner> in <a>'s answer, lowercase without the trailing dot, into
 * <target>: 1, or 0 when there is none (or it is no name we would write to). */
static int dns_answer_cname(const ldns_pkt *a, const ldns_rdf *owner, char *target, size_t targetsz)
{
	ldns_rr_list *ans = ldns_pkt_answer(a);
	size_t i, n;

	for (i = 0; ans && i < ldns_rr_list_rr_count(ans); i++) {
		ldns_rr *rr = ldns_rr_list_rr(ans, i);
		char *txt;

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_CNAME ||
		    ldns_dname_compare(ldns_rr_owner(rr), owner) != 0 ||
		    ldns_rr_rd_count(rr) != 1 ||
		    ldns_rdf_get_type(ldns_rr_rdf(rr, 0)) != LDNS_RDF_TYPE_DNAME)
			continue;
		txt = ldns_rdf2str(ldns_rr_rdf(rr, 0));
		if (!txt)
			return 0;
		n = strlen(txt);
		if (n > 1 && txt[n - 1] == '.')
			txt[--n] = '\0';
		for (char *p = txt; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		if (!dns_name_valid(txt) || n >= targetsz) {
			free(txt);
			return 0;
		}
		memcpy(target, txt, n + 1);
		free(txt);
		return 1;
	}
	return 0;
}

int dns_resolve_cname(const struct dns_server *res, const char *name, char *target, size_t targetsz,
                      char *err, size_t errsz)
{
	ldns_resolver *r = NULL;
	ldns_rdf *dname = NULL;
	ldns_pkt *q = NULL, *a = NULL;
	ldns_status st;
	char dotted[260];
	size_t n;
	int ret = -1;

	n = (size_t)snprintf(dotted, sizeof(dotted), "%s.", name);
	if (!dns_name_valid(name) || n >= sizeof(dotted)) {
		snprintf(err, errsz, "'%s' is not a DNS name", name);
		goto out;
	}
	r = dns_recursive_resolver(res, DNS_TIMEOUT_DEF_MS);
	dname = ldns_dname_new_frm_str(dotted);
	q = dname ? ldns_pkt_query_new(ldns_rdf_clone(dname), LDNS_RR_TYPE_CNAME, LDNS_RR_CLASS_IN,
	                               LDNS_RD)
	          : NULL;
	if (!r || !q) {
		snprintf(err, errsz, "cannot set up a DNS query for %s", name);
		goto out;
	}
	ldns_pkt_set_random_id(q);
	st = ldns_resolver_send_pkt(&a, r, q);
	if (st != LDNS_STATUS_OK || !a) {
		snprintf(err, errsz, "CNAME %s: the resolver did not answer: %s", name,
		         ldns_get_errorstr_by_id(st));
		goto out;
	}
	if (!dns_reply_matches(q, a, dname, LDNS_RR_TYPE_CNAME)) {
		snprintf(err, errsz, "CNAME %s: the resolver's reply does not match the query",
		         name);
		goto out;
	}
	if (ldns_pkt_get_rcode(a) != LDNS_RCODE_NOERROR &&
	    ldns_pkt_get_rcode(a) != LDNS_RCODE_NXDOMAIN) {
		snprintf(err, errsz, "CNAME %s: the resolver answered %s", name,
		         dns_rcode_name(ldns_pkt_get_rcode(a)));
		goto out;
	}
	ret = dns_answer_cname(a, dname, target, targetsz);
out:
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	ldns_rdf_deep_free(dname);
	ldns_resolver_deep_free(r);
	return ret;
}

/* Does TXT <owner> in <a>'s answer hold <value> as one character-string set? */
static int dns_answer_has(const ldns_pkt *a, const ldns_rdf *owner, const char *value)
{
	ldns_rr_list *ans = ldns_pkt_answer(a);
	size_t i, j, vlen = strlen(value);

	for (i = 0; ans && i < ldns_rr_list_rr_count(ans); i++) {
		ldns_rr *rr = ldns_rr_list_rr(ans, i);
		char joined[512];
		size_t used = 0;

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT ||
		    ldns_dname_compare(ldns_rr_owner(rr), owner) != 0)
			continue;
		for (j = 0; j < ldns_rr_rd_count(rr); j++) {
			const ldns_rdf *rd = ldns_rr_rdf(rr, j);
			const uint8_t *d = ldns_rdf_data(rd);
			size_t sz = ldns_rdf_size(rd);

			/* a character-string: length byte then that many bytes (RFC 1035 §3.3) */
			if (sz < 1 || (size_t)d[0] != sz - 1 || used + sz - 1 >= sizeof(joined))
				break;
			memcpy(joined + used, d + 1, sz - 1);
			used += sz - 1;
		}
		if (j == ldns_rr_rd_count(rr) && used == vlen && memcmp(joined, value, vlen) == 0)
			return 1;
	}
	return 0;
}

/* 1: <srv> answers authoritatively with <value>, 0: not yet (why in <err>), -1: a bad reply. */
static int dns_txt_check(const struct dns_conf *dc, const struct dns_server *srv, const char *fqdn,
                         const char *value, char *err, size_t errsz)
{
	ldns_resolver *r = NULL;
	ldns_rdf *name = NULL;
	ldns_pkt *q = NULL, *a = NULL;
	ldns_status st;
	char dotted[260];
	int ret = -1;

	snprintf(dotted, sizeof(dotted), "%s.", fqdn);
	r = dns_resolver(srv, NULL, dc->timeout_ms);
	name = ldns_dname_new_frm_str(dotted);
	if (!r || !name) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	q = ldns_pkt_query_new(ldns_rdf_clone(name), LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, 0);
	if (!q) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	ldns_pkt_set_random_id(q);
	st = ldns_resolver_send_pkt(&a, r, q);
	if (st != LDNS_STATUS_OK || !a) {
		snprintf(err, errsz, "%s:%u: TXT %s: %s", srv->addr, srv->port, fqdn,
		         ldns_get_errorstr_by_id(st));
		ret = 0; /* unreachable now is "not yet": the deadline decides */
		goto out;
	}
	if (!dns_reply_matches(q, a, name, LDNS_RR_TYPE_TXT)) {
		snprintf(err, errsz, "%s:%u: TXT %s: the reply does not match the query", srv->addr,
		         srv->port, fqdn);
		goto out;
	}
	if (!ldns_pkt_aa(a)) {
		snprintf(err, errsz, "%s:%u: not authoritative for %s (no AA bit)", srv->addr,
		         srv->port, fqdn);
		goto out;
	}
	if (ldns_pkt_get_rcode(a) != LDNS_RCODE_NOERROR &&
	    ldns_pkt_get_rcode(a) != LDNS_RCODE_NXDOMAIN) {
		snprintf(err, errsz, "%s:%u: TXT %s: %s", srv->addr, srv->port, fqdn,
		         dns_rcode_name(ldns_pkt_get_rcode(a)));
		goto out;
	}
	if (!dns_answer_has(a, name, value)) {
		snprintf(err, errsz, "%s:%u does not answer TXT %s \"%s\" yet", srv->addr,
		         srv->port, fqdn, value);
		ret = 0;
		goto out;
	}
	ret = 1;
out:
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	ldns_rdf_deep_free(name);
	ldns_resolver_deep_free(r);
	return ret;
}

int dns_txt_wait(const struct dns_conf *dc, const struct dns_server *auth, size_t nauth,
                 const char *fqdn, const char *value, int64_t *took_ms, char *err, size_t errsz)
{
	int64_t start = dns_now_ms(), wait = DNS_POLL_START_MS;
	int done[DNS_MAX_AUTH] = { 0 };
	size_t i, left;
	int rc;

	for (;;) {
		left = 0;
		for (i = 0; i < nauth && i < DNS_MAX_AUTH; i++) {
			if (done[i])
				continue;
			rc = dns_txt_check(dc, &auth[i], fqdn, value, err, errsz);
			if (rc < 0)
				return -1;
			done[i] = rc;
			left += !rc;
		}
		if (left == 0)
			break;
		if (dns_now_ms() - start + wait > dc->propagation_ms) {
			size_t used = strlen(err);

			snprintf(err + used, errsz - used, " after %lld ms",
			         (long long)(dns_now_ms() - start));
			return -1;
		}
		dns_sleep_ms(wait);
		wait = wait * 2 > DNS_POLL_MAX_MS ? DNS_POLL_MAX_MS : wait * 2;
	}
	if (took_ms)
		*took_ms = dns_now_ms() - start;
	return 0;
}

/* The fuzz target's and the unit tests' entry: parse <wire> as ldns does, then run the checks
 * this module makes of a reply itself. */
int dns_reply_examine(const uint8_t *wire, size_t len, const char *name, const char *value,
                      char *target, size_t targetsz)
{
	ldns_pkt *a = NULL;
	ldns_rdf *dname = NULL;
	char dotted[260];
	int ret = -1, n;

	n = snprintf(dotted, sizeof(dotted), "%s.", name);
	if (n < 0 || (size_t)n >= sizeof(dotted) || ldns_wire2pkt(&a, wire, len) != LDNS_STATUS_OK)
		goto out;
	dname = ldns_dname_new_frm_str(dotted);
	if (!dname)
		goto out;
	ret = dns_answer_has(a, dname, value) ? 2 : 0;
	ret |= dns_answer_cname(a, dname, target, targetsz);
out:
	ldns_rdf_deep_free(dname);
	ldns_pkt_free(a);
	return ret;
}
