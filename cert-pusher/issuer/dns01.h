/* SPDX-License-Identifier: MIT */
/*
 * The issuer's DNS-01 solver: the ACME challenge callbacks (acme.h acme_dns_publish_fn) over the
 * RFC 2136 client of dns.c, the options that configure it (--dns-update, --dns-tsig-key-file,
 * --dns-zone, --dns-auth, --dns-resolver, --dns-propagation-timeout, --challenge), which names
 * go through DNS-01 (wildcards always, every name with --challenge dns-01), where their record
 * goes (in the zone, or at the delegation target a customer's CNAME points at), and the checks
 * before an order. issuer.c hands it the orders; dns.c does the DNS.
 */
#ifndef CERT_PUSHER_DNS01_H
#define CERT_PUSHER_DNS01_H

#include <stdbool.h>
#include <stddef.h>

#include "cert-pusher/conf.h"
#include "cert-pusher/issuer/dns.h"

struct dns01 {
	struct dns_conf dns;
	struct dns_server resolver; /* --dns-resolver (port 0: /etc/resolv.conf) */
	int all;                    /* --challenge dns-01: every name, not only wildcards */
};

/* The solver configured in <conf>, or NULL in <*out> when --dns-update is absent. 0, or -1
 * with an error naming the option in <err>. */
int dns01_new(const struct conf *conf, struct dns01 **out, char *err, size_t errsz);
void dns01_free(struct dns01 *d);

/* A name the issuer may order: a hostname, or "*.<hostname>" when <d> is set (DNS-01). */
bool dns01_name_valid(const struct dns01 *d, const char *name, const char **why);
/* Does <name> go through DNS-01 with <d> (which may be NULL)? */
bool dns01_wanted(const struct dns01 *d, const char *name);

/*
 * The preview wildcard: with --preview-domain D and --dns-update, make "*.D" a managed host
 * (added pending and due now when it is not yet), so the issuer obtains and renews it through
 * DNS-01 and every loader serves it for every preview hostname. 0, or -1 with <err>.
 */
int dns01_preview_ensure(const struct conf *conf, const char *prefix, char *err, size_t errsz);

/*
 * Before ordering <name> ("*.x" or "x") through DNS-01, so that a broken DNS set-up costs no
 * order at the CA: its delegation CNAME when its _acme-challenge is outside the zone, then a
 * no-op update (TSIG key, zone, ACL: dns_update_probe), then the zone's authoritative servers
 * (dns_auth_servers) each answer its SOA. 0, or -1 with what is wrong in <err>.
 */
int dns01_preflight(const struct dns01 *d, const char *name, char *err, size_t errsz);

/*
 * May the API or the CLI add wildcard <name> ("*.<base>")? With DNS-01 configured in <conf>:
 * yes when _acme-challenge.<base> lies in the zone, or when it CNAMEs to its delegation target
 * (asked through --dns-resolver). 1 yes; 0 no, with what to create in <msg>; -1 the resolver
 * could not tell (why in <msg>).
 */
int dns01_wildcard_allowed(const struct conf *conf, const char *name, char *msg, size_t msgsz);

/* acme.h callbacks; <arg> is the struct dns01. */
int dns01_publish(void *arg, const char *identifier, const char *keyauth, char *err, size_t errsz);
void dns01_withdraw(void *arg, const char *identifier, const char *keyauth);

#endif
