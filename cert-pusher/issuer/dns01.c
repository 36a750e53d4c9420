/* SPDX-License-Identifier: MIT */
/*
 * DNS-01 for the issuer (see dns01.h): publish = RFC 2136 add of TXT _acme-challenge.<id> with
 * base64url(SHA-256(key authorization)) (RFC 8555 §8.4), then wait until every authoritative
 * server answers it; withdraw = RFC 2136 delete of that one value, so the TXT of a wildcard and
 * of its base name, or of two concurrent orders, can coexist.
 */
#include "cert-pusher/issuer/dns01.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cert-pusher/hosts.h"
#include "cert-pusher/pmetrics.h"
#include "cert-pusher/store/store.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"

int dns01_new(const struct conf *conf, struct dns01 **out, char *err, size_t errsz)
{
	const char *update = conf_get(conf, "dns-update");
	const char *chal = conf_get_def(conf, "challenge", "http-01");
	const char *zone = conf_get(conf, "dns-zone");
	struct dns01 *d = NULL;

	*out = NULL;
	if (strcmp(chal, "http-01") != 0 && strcmp(chal, "dns-01") != 0) {
		snprintf(err, errsz, "--challenge: '%s' is not http-01 or dns-01", chal);
		return -1;
	}
	if (!update) {
		if (strcmp(chal, "dns-01") == 0) {
			snprintf(err, errsz, "--challenge dns-01 needs --dns-update");
			return -1;
		}
		return 0;
	}
	if (!zone)
		zone = conf_get(conf, "preview-domain");
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	if (dns_conf_load(&d->dns, update, conf_get(conf, "dns-tsig-key-file"), zone,
	                  conf_get(conf, "dns-auth"), err, errsz) < 0) {
		dns01_free(d);
		return -1;
	}
	if (conf_get(conf, "dns-resolver") &&
	    dns_server_parse(conf_get(conf, "dns-resolver"), "--dns-resolver", &d->resolver, err,
	                     errsz) < 0) {
		dns01_free(d);
		return -1;
	}
	if (conf_get(conf, "dns-propagation-timeout")) {
		uint64_t ms;

		if (parse_duration_ms(conf_get(conf, "dns-propagation-timeout"), 1000, 100,
		                      3600 * 1000, &ms) < 0) {
			snprintf(err, errsz,
			         "--dns-propagation-timeout: '%s' is not a duration from 100ms to "
			         "1h",
			         conf_get(conf, "dns-propagation-timeout"));
			dns01_free(d);
			return -1;
		}
		d->dns.propagation_ms = (int64_t)ms;
	}
	d->all = strcmp(chal, "dns-01") == 0;
	*out = d;
	return 0;
}

void dns01_free(struct dns01 *d)
{
	if (!d)
		return;
	dns_conf_deinit(&d->dns);
	free(d);
}

bool dns01_name_valid(const struct dns01 *d, const char *name, const char **why)
{
	if (name[0] == '*' && name[1] == '.') {
		if (!d) {
			*why = "a wildcard needs DNS-01 (--dns-update)";
			return false;
		}
		return names_hostname_valid(name + 2, why);
	}
	return names_hostname_valid(name, why);
}

bool dns01_wanted(const struct dns01 *d, const char *name)
{
	return d && (d->all || (name[0] == '*' && name[1] == '.'));
}

/* Whether "_acme-challenge.<base>" CNAMEs to the delegation target in <zone>, asked through
 * <res>: 1 yes, 0 no (what to create in <msg>), -1 the resolver could not tell (why in <msg>). */
static int dns01_delegation_status(const char *zone, const struct dns_server *res, const char *base,
                                   char *msg, size_t msgsz)
{
	char chal[300], target[300], found[300], why[512];
	int n, rc;

	n = snprintf(chal, sizeof(chal), "_acme-challenge.%s", base);
	if (n < 0 || (size_t)n >= sizeof(chal) ||
	    dns_delegation_target(zone, base, target, sizeof(target)) < 0) {
		snprintf(msg, msgsz, "%s gives no delegation name in %s", base, zone);
		return 0;
	}
	rc = dns_resolve_cname(res, chal, found, sizeof(found), why, sizeof(why));
	if (rc < 0) {
		snprintf(msg, msgsz, "cannot check the DNS-01 delegation of %s: %s", base, why);
		return -1;
	}
	if (rc == 1 && !strcmp(found, target))
		return 1;
	snprintf(msg, msgsz,
	         "DNS-01 for %s is delegated to us by a CNAME: create '%s. CNAME %s.' in the DNS "
	         "of %s (found: %s%s)",
	         base, chal, target, base, rc ? "CNAME to " : "no CNAME", rc ? found : "");
	return 0;
}

/* The name DNS-01 writes for <identifier> into <fqdn>: "_acme-challenge.<identifier>" inside
 * the zone, else its delegation target (<*delegated> = 1). 0 or -1 with <err>. */
static int dns01_record_name(const struct dns01 *d, const char *identifier, char *fqdn,
                             size_t fqdnsz, int *delegated, char *err, size_t errsz)
{
	int in_zone = 0;

	*delegated = 0;
	if (dns_challenge_name(&d->dns, identifier, fqdn, fqdnsz, &in_zone, err, errsz) < 0)
		return -1;
	if (in_zone)
		return 0;
	*delegated = 1;
	if (dns_delegation_target(d->dns.zone, identifier, fqdn, fqdnsz) < 0) {
		snprintf(err, errsz, "%s gives no delegation name in %s", identifier, d->dns.zone);
		return -1;
	}
	return 0;
}

int dns01_preflight(const struct dns01 *d, const char *name, char *err, size_t errsz)
{
	const char *base = name[0] == '*' && name[1] == '.' ? name + 2 : name;
	struct dns_server auth[DNS_MAX_AUTH];
	size_t nauth = 0;
	char fqdn[300];
	int delegated;

	if (dns01_record_name(d, base, fqdn, sizeof(fqdn), &delegated, err, errsz) < 0)
		return -1;
	if (delegated && dns01_delegation_status(d->dns.zone, &d->resolver, base, err, errsz) != 1)
		return -1;
	if (dns_update_probe(&d->dns, fqdn, err, errsz) < 0 ||
	    dns_auth_servers(&d->dns, &d->resolver, auth, &nauth, err, errsz) < 0)
		return -1;
	return dns_auth_check(&d->dns, auth, nauth, err, errsz);
}

int dns01_wildcard_allowed(const struct conf *conf, const char *name, char *msg, size_t msgsz)
{
	const char *zone = conf_get(conf, "dns-zone"), *res = conf_get(conf, "dns-resolver");
	const char *base = name + 2, *why;
	struct dns_server rs;
	char chal[300];

	if (!zone)
		zone = conf_get(conf, "preview-domain");
	if (!conf_get(conf, "dns-update") || !zone) {
		snprintf(msg, msgsz,
		         "a wildcard needs DNS-01, which is not configured here "
		         "(--dns-update)");
		return 0;
	}
	if (!names_hostname_valid(base, &why)) {
		snprintf(msg, msgsz, "%s", why);
		return 0;
	}
	memset(&rs, 0, sizeof(rs));
	if (res && dns_server_parse(res, "--dns-resolver", &rs, msg, msgsz) < 0)
		return -1;
	snprintf(chal, sizeof(chal), "_acme-challenge.%s", base);
	if (dns_in_zone(zone, chal))
		return 1; /* the operator's own zone: written directly */
	return dns01_delegation_status(zone, &rs, base, msg, msgsz);
}

int dns01_publish(void *arg, const char *identifier, const char *keyauth, char *err, size_t errsz)
{
	struct dns01 *d = arg;
	struct dns_server auth[DNS_MAX_AUTH];
	char fqdn[300], value[DNS_TXT_VALUE], servers[DNS_MAX_AUTH * 72] = "";
	size_t i, nauth = 0;
	int64_t took = 0;
	int delegated;

	if (dns01_record_name(d, identifier, fqdn, sizeof(fqdn), &delegated, err, errsz) < 0)
		return -1;
	if (dns_txt_value(keyauth, value) < 0) {
		snprintf(err, errsz, "cannot compute the dns-01 digest");
		return -1;
	}
	/* the servers first: a name that cannot be waited for is not published */
	if (dns_auth_servers(&d->dns, &d->resolver, auth, &nauth, err, errsz) < 0)
		return -1;
	for (i = 0; i < nauth; i++) {
		size_t used = strlen(servers);

		snprintf(servers + used, sizeof(servers) - used, "%s%s:%u", i ? "," : "",
		         auth[i].addr, auth[i].port);
	}
	if (dns_txt_update(&d->dns, fqdn, value, 0, err, errsz) < 0)
		return -1;
	if (dns_txt_wait(&d->dns, auth, nauth, fqdn, value, &took, err, errsz) < 0) {
		pmetrics_dns01_propagated(-1);
		return -1;
	}
	pmetrics_dns01_propagated((double)took / 1000.0);
	log_info("dns01: host=%s record=%s%s visible on %zu authoritative server(s) (%s) after "
	         "%lld ms",
	         identifier, fqdn, delegated ? " (delegated)" : "", nauth, servers,
	         (long long)took);
	return 0;
}

void dns01_withdraw(void *arg, const char *identifier, const char *keyauth)
{
	struct dns01 *d = arg;
	char fqdn[300], value[DNS_TXT_VALUE], err[512];
	int delegated;

	if (dns01_record_name(d, identifier, fqdn, sizeof(fqdn), &delegated, err, sizeof(err)) <
	            0 ||
	    dns_txt_value(keyauth, value) < 0)
		return; /* publish refused it: nothing was added */
	if (dns_txt_update(&d->dns, fqdn, value, 1, err, sizeof(err)) < 0)
		log_warn("dns01: host=%s record=%s not removed: %s", identifier, fqdn, err);
	else
		log_debug("dns01: host=%s record=%s removed", identifier, fqdn);
}

int dns01_preview_ensure(const struct conf *conf, const char *prefix, char *err, size_t errsz)
{
	const char *domain = conf_get(conf, "preview-domain"), *why;
	const char *kv[7];
	char name[300], now_s[32];
	long long now = (long long)time(NULL);
	struct store *st = NULL;
	int n, rc, ret = -1;

	if (!domain || !conf_get(conf, "dns-update"))
		return 0;
	n = snprintf(name, sizeof(name), "*.%s", domain);
	if (n < 0 || (size_t)n >= sizeof(name) || !names_cert_host_valid(name, &why)) {
		snprintf(err, errsz, "--preview-domain: '%s' gives no wildcard name", domain);
		return -1;
	}
	st = store_open(conf, prefix, err, errsz);
	if (!st)
		return -1;
	snprintf(now_s, sizeof(now_s), "%lld", now);
	kv[0] = HOSTS_F_STATE;
	kv[1] = hosts_state_name(HOSTS_STATE_PENDING);
	kv[2] = HOSTS_F_CREATED;
	kv[3] = now_s;
	kv[4] = HOSTS_F_ATTEMPTS;
	kv[5] = "0";
	kv[6] = NULL;
	rc = store_host_add(st, name, kv, now, err, errsz);
	if (rc < 0)
		goto out;
	if (rc == 1)
		log_info("dns01: preview wildcard %s added; the issuer obtains it through DNS-01",
		         name);
	ret = 0;
out:
	store_close(st);
	return ret;
}
