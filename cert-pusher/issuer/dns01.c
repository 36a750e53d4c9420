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
#include "cert-pusher/store/store.h"
#include "common/log.h"
#include "common/names.h"

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

int dns01_publish(void *arg, const char *identifier, const char *keyauth, char *err, size_t errsz)
{
	struct dns01 *d = arg;
	char fqdn[300], value[DNS_TXT_VALUE];
	int64_t took = 0;

	if (dns_challenge_name(&d->dns, identifier, fqdn, sizeof(fqdn), err, errsz) < 0)
		return -1;
	if (dns_txt_value(keyauth, value) < 0) {
		snprintf(err, errsz, "cannot compute the dns-01 digest");
		return -1;
	}
	if (dns_txt_update(&d->dns, fqdn, value, 0, err, errsz) < 0)
		return -1;
	if (dns_txt_wait(&d->dns, fqdn, value, &took, err, errsz) < 0)
		return -1;
	log_info("dns01: host=%s record=%s visible on %zu authoritative server(s) after %lld ms",
	         identifier, fqdn, d->dns.nauth, (long long)took);
	return 0;
}

void dns01_withdraw(void *arg, const char *identifier, const char *keyauth)
{
	struct dns01 *d = arg;
	char fqdn[300], value[DNS_TXT_VALUE], err[512];

	if (dns_challenge_name(&d->dns, identifier, fqdn, sizeof(fqdn), err, sizeof(err)) < 0 ||
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
