/* SPDX-License-Identifier: MIT */
/*
 * The DNS gate (see dnsgate.h). Two questions to the resolver, each reply checked (id,
 * question, rcode): CNAME <name>, then A and AAAA <name>. Address comparison is on the binary
 * form, so "127.0.0.1" and a reply's 4 bytes compare equal whatever the text.
 */
#include "cert-pusher/issuer/dnsgate.h"

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert-pusher/issuer/dns.h"
#include "cert-pusher/pmetrics.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"

#define DNSGATE_MAX_EDGES 64
#define DNSGATE_TIMEOUT_S 2

struct dnsgate_addr {
	int af;
	unsigned char b[16];
};

struct dnsgate {
	struct dnsgate_addr edges[DNSGATE_MAX_EDGES];
	size_t nedges;
	char edges_text[1024];    /* for messages */
	struct dns_server server; /* --dns-resolver, or port 0: /etc/resolv.conf */
};

int dnsgate_new(const struct conf *conf, struct dnsgate **out, char *err, size_t errsz)
{
	const char *edges = conf_get(conf, "edge-address");
	const char *res = conf_get(conf, "dns-resolver");
	struct dnsgate *g = NULL;
	char *list = NULL, *tok, *save = NULL;
	int ret = -1;

	*out = NULL;
	if (!edges)
		return 0;
	g = calloc(1, sizeof(*g));
	list = strdup(edges);
	if (!g || !list) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		struct dnsgate_addr *a = &g->edges[g->nedges];
		size_t used = strlen(g->edges_text);

		if (g->nedges == DNSGATE_MAX_EDGES) {
			snprintf(err, errsz, "--edge-address: at most %d addresses",
			         DNSGATE_MAX_EDGES);
			goto out;
		}
		if (inet_pton(AF_INET, tok, a->b) == 1)
			a->af = AF_INET;
		else if (inet_pton(AF_INET6, tok, a->b) == 1)
			a->af = AF_INET6;
		else {
			snprintf(err, errsz,
			         "--edge-address: '%s' is not a numeric IPv4 or IPv6 address", tok);
			goto out;
		}
		snprintf(g->edges_text + used, sizeof(g->edges_text) - used, "%s%s",
		         used ? ", " : "", tok);
		g->nedges++;
	}
	if (g->nedges == 0) {
		snprintf(err, errsz, "--edge-address: empty");
		goto out;
	}
	if (res && dns_server_parse(res, "--dns-resolver", &g->server, err, errsz) < 0)
		goto out;
	*out = g;
	g = NULL;
	ret = 0;
out:
	free(list);
	free(g);
	return ret;
}

void dnsgate_free(struct dnsgate *g)
{
	free(g);
}

static ldns_resolver *dnsgate_resolver(const struct dnsgate *g)
{
	ldns_resolver *r = NULL;
	ldns_rdf *ns;
	struct timeval tv = { .tv_sec = DNSGATE_TIMEOUT_S, .tv_usec = 0 };

	if (g->server.port == 0) {
		if (ldns_resolver_new_frm_file(&r, NULL) != LDNS_STATUS_OK)
			return NULL;
	} else {
		r = ldns_resolver_new();
		if (!r)
			return NULL;
		ns = ldns_rdf_new_frm_str(strchr(g->server.addr, ':') ? LDNS_RDF_TYPE_AAAA
		                                                      : LDNS_RDF_TYPE_A,
		                          g->server.addr);
		if (!ns || ldns_resolver_push_nameserver(r, ns) != LDNS_STATUS_OK) {
			ldns_rdf_deep_free(ns);
			ldns_resolver_deep_free(r);
			return NULL;
		}
		ldns_rdf_deep_free(ns);
		ldns_resolver_set_port(r, g->server.port);
	}
	ldns_resolver_set_timeout(r, tv);
	ldns_resolver_set_retry(r, 1);
	ldns_resolver_set_recursive(r, true);
	ldns_resolver_set_fallback(r, true);
	return r;
}

/* Ask <type> <name>; the checked reply into <*out> (caller frees). 0, or -1 with <status>. */
static int dnsgate_ask(ldns_resolver *r, ldns_rdf *name, ldns_rr_type type, ldns_pkt **out,
                       char *status, size_t statussz)
{
	ldns_pkt *q = NULL, *a = NULL;
	ldns_rr_list *qs;
	ldns_status st;
	int ret = -1;

	*out = NULL;
	q = ldns_pkt_query_new(ldns_rdf_clone(name), type, LDNS_RR_CLASS_IN, LDNS_RD);
	if (!q) {
		snprintf(status, statussz, "out of memory");
		goto out;
	}
	ldns_pkt_set_random_id(q);
	st = ldns_resolver_send_pkt(&a, r, q);
	if (st != LDNS_STATUS_OK || !a) {
		snprintf(status, statussz, "the resolver did not answer: %s",
		         ldns_get_errorstr_by_id(st));
		goto out;
	}
	qs = ldns_pkt_question(a);
	if (ldns_pkt_id(a) != ldns_pkt_id(q) || !ldns_pkt_qr(a) || !qs ||
	    ldns_rr_list_rr_count(qs) != 1 ||
	    ldns_dname_compare(ldns_rr_owner(ldns_rr_list_rr(qs, 0)), name) != 0 ||
	    ldns_rr_get_type(ldns_rr_list_rr(qs, 0)) != type) {
		snprintf(status, statussz, "the resolver's reply does not match the query");
		goto out;
	}
	if (ldns_pkt_get_rcode(a) != LDNS_RCODE_NOERROR &&
	    ldns_pkt_get_rcode(a) != LDNS_RCODE_NXDOMAIN) {
		ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, ldns_pkt_get_rcode(a));

		snprintf(status, statussz, "the resolver answered %s", lt ? lt->name : "an error");
		goto out;
	}
	*out = a;
	a = NULL;
	ret = 0;
out:
	ldns_pkt_free(a);
	ldns_pkt_free(q);
	return ret;
}

/* The text of dname <d> without the trailing dot, lowercased, into <out>. */
static void dnsgate_dname_text(const ldns_rdf *d, char *out, size_t outsz)
{
	char *s = ldns_rdf2str(d);
	size_t n;

	snprintf(out, outsz, "%s", s ? s : "?");
	free(s);
	n = strlen(out);
	if (n > 1 && out[n - 1] == '.')
		out[n - 1] = '\0';
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
}

int dnsgate_check(const struct dnsgate *g, const char *name, const char *preview, char *status,
                  size_t statussz)
{
	static const ldns_rr_type types[] = { LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA };
	ldns_resolver *r = NULL;
	ldns_rdf *dname = NULL;
	ldns_pkt *a = NULL;
	char dotted[300], target[300], found[600] = "", txt[64];
	size_t i, t, naddr = 0, nforeign = 0;
	int n, ret = -1;

	n = snprintf(dotted, sizeof(dotted), "%s.", name);
	if (n < 0 || (size_t)n >= sizeof(dotted) || !(dname = ldns_dname_new_frm_str(dotted)) ||
	    !(r = dnsgate_resolver(g))) {
		snprintf(status, statussz, "cannot set up a DNS query for %s", name);
		goto out;
	}
	if (dnsgate_ask(r, dname, LDNS_RR_TYPE_CNAME, &a, status, statussz) < 0)
		goto out;
	for (i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(a)); i++) {
		ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(a), i);

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_CNAME ||
		    ldns_dname_compare(ldns_rr_owner(rr), dname) != 0 || ldns_rr_rd_count(rr) != 1)
			continue;
		dnsgate_dname_text(ldns_rr_rdf(rr, 0), target, sizeof(target));
		if (preview && *preview && !strcmp(target, preview)) {
			snprintf(status, statussz, "ok: CNAME to %s", preview);
			ret = 1;
		} else {
			snprintf(status, statussz, "CNAME points at %s; want %s%s%s", target,
			         preview && *preview ? preview : "",
			         preview && *preview ? " or A/AAAA records of "
			                             : "A/AAAA records of ",
			         g->edges_text);
			ret = 0;
		}
		goto out;
	}
	for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		ldns_pkt_free(a);
		a = NULL;
		if (dnsgate_ask(r, dname, types[t], &a, status, statussz) < 0)
			goto out;
		for (i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(a)); i++) {
			ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(a), i);
			const ldns_rdf *rd;
			size_t k, used;
			int af = types[t] == LDNS_RR_TYPE_A ? AF_INET : AF_INET6, edge = 0;
			size_t len = af == AF_INET ? 4 : 16;

			if (ldns_rr_get_type(rr) != types[t] ||
			    ldns_dname_compare(ldns_rr_owner(rr), dname) != 0 ||
			    ldns_rr_rd_count(rr) != 1)
				continue;
			rd = ldns_rr_rdf(rr, 0);
			if (ldns_rdf_size(rd) != len)
				continue;
			for (k = 0; k < g->nedges; k++)
				if (g->edges[k].af == af &&
				    !memcmp(g->edges[k].b, ldns_rdf_data(rd), len))
					edge = 1;
			naddr++;
			nforeign += !edge;
			if (!inet_ntop(af, ldns_rdf_data(rd), txt, sizeof(txt)))
				snprintf(txt, sizeof(txt), "?");
			used = strlen(found);
			snprintf(found + used, sizeof(found) - used, "%s%s", used ? ", " : "", txt);
		}
	}
	if (naddr == 0) {
		snprintf(status, statussz,
		         "no CNAME, A or AAAA record for %s; want a CNAME to %s or "
		         "A/AAAA records of %s",
		         name, preview && *preview ? preview : "(no preview name)", g->edges_text);
		ret = 0;
	} else if (nforeign) {
		snprintf(status, statussz, "resolves to %s, not only edge addresses (%s)%s%s",
		         found, g->edges_text, preview && *preview ? "; or CNAME it to " : "",
		         preview && *preview ? preview : "");
		ret = 0;
	} else {
		snprintf(status, statussz, "ok: resolves to %s (edge addresses)", found);
		ret = 1;
	}
out:
	ldns_pkt_free(a);
	ldns_rdf_deep_free(dname);
	ldns_resolver_deep_free(r);
	return ret;
}

long long dnsgate_backoff(unsigned checks)
{
	long long s = 5;
	unsigned i;

	for (i = 0; i < checks && s < 600; i++)
		s *= 2;
	if (s > 600)
		s = 600;
	return s + (long long)(random() % (s / 5 + 1));
}

int dnsgate_hold(const struct dnsgate *g, struct store *st, const char *name,
                 const struct hosts_info *info, const char *skip, const char *checks, long long now)
{
	char status[DNSGATE_STATUS_MAX], checks_s[32], err[512];
	uint64_t n = 0;
	long long delay;
	int rc;

	if (!strcmp(skip, "1") || name[0] == '*')
		return 0;
	(void)parse_u64(checks, 0, 1000000, &n);
	rc = dnsgate_check(g, name, info->preview, status, sizeof(status));
	pmetrics_dns_check(rc == 1   ? PMETRICS_DNS_CHECK_OK
	                   : rc == 0 ? PMETRICS_DNS_CHECK_NOT_YET
	                             : PMETRICS_DNS_CHECK_ERROR);
	if (rc == 1) {
		const char *kv[] = { DNSGATE_F_STATUS, status, DNSGATE_F_CHECKS, "0", NULL };

		log_info("host=%s dns %s", name, status);
		if (store_host_update(st, name, kv, err, sizeof(err)) < 0)
			log_warn("host=%s dns status not written: %s", name, err);
		return 0;
	}
	delay = dnsgate_backoff((unsigned)n);
	snprintf(checks_s, sizeof(checks_s), "%llu", (unsigned long long)n + 1);
	{
		const char *kv[] = { HOSTS_F_STATE,
			             hosts_state_name(HOSTS_STATE_AWAITING_DNS),
			             DNSGATE_F_STATUS,
			             status,
			             DNSGATE_F_CHECKS,
			             checks_s,
			             NULL };

		if (info->state != HOSTS_STATE_AWAITING_DNS || strcmp(info->dns_status, status))
			log_info("host=%s awaiting-dns: %s; next check in %llds", name, status,
			         delay);
		if (store_host_update(st, name, kv, err, sizeof(err)) < 0)
			log_warn("host=%s dns status not written: %s", name, err);
	}
	if (store_due_set(st, name, now + delay, err, sizeof(err)) < 0)
		log_warn("host=%s due time not moved: %s", name, err);
	return 1;
}

int dnsgate_mark_new(const struct conf *conf, struct store *st, struct hosts_info *info, int skip,
                     char *err, size_t errsz)
{
	const char *kv[] = { HOSTS_F_STATE, hosts_state_name(HOSTS_STATE_AWAITING_DNS),
		             DNSGATE_F_STATUS, "not checked yet", NULL };
	const char *skv[] = { DNSGATE_F_SKIP, "1", DNSGATE_F_STATUS,
		              "not checked: skipped by the operator", NULL };

	if (info->name[0] == '*')
		return 0;
	if (skip) { /* written even where no gate is configured: the issuer's may be */
		if (store_host_update(st, info->name, skv, err, errsz) < 0)
			return -1;
		snprintf(info->dns_status, sizeof(info->dns_status), "%s", skv[3]);
		return 0;
	}
	if (!conf_get(conf, "edge-address"))
		return 0;
	if (store_host_update(st, info->name, kv, err, errsz) < 0)
		return -1;
	info->state = HOSTS_STATE_AWAITING_DNS;
	snprintf(info->dns_status, sizeof(info->dns_status), "not checked yet");
	return 0;
}
