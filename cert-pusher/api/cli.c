// SPDX-License-Identifier: MIT
/*
 * The operator's hostname commands (add, rm, ls, show, renew): hosts.c's logic over a store of
 * their own, printed for a terminal. The same operations back the API's /v1/hostnames.
 */
#include "cert-pusher/api/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cert-pusher/hosts.h"
#include "cert-pusher/issuer/dns01.h"
#include "cert-pusher/issuer/dnsgate.h"
#include "cert-pusher/edge/served.h"
#include "common/log.h"
#include "common/parse.h"

/* Open the store for a CLI command; NULL after logging. */
static struct store *hosts_cli_store(struct pusher *p)
{
	struct store *s;
	char err[512];

	s = store_open(p->conf, p->prefix, err, sizeof(err));
	if (!s)
		log_err("%s", err);
	return s;
}

/* Exit status of a command over several names: 1 when any failed. */
typedef enum hosts_status hosts_each_fn(struct store *s, const char *name, char *err, size_t errsz);

static int hosts_cli_each(struct pusher *p, int argc, char **argv, const char *cmd,
                          hosts_each_fn *fn, const char *done)
{
	struct store *s = NULL;
	char err[512];
	int i, ret = 2;

	if (argc < 1) {
		log_err("%s: expected one or more hostnames", cmd);
		goto out;
	}
	if (p->check_only) {
		ret = 0;
		goto out;
	}
	s = hosts_cli_store(p);
	ret = 1;
	if (!s)
		goto out;
	ret = 0;
	for (i = 0; i < argc; i++) {
		switch (fn(s, argv[i], err, sizeof(err))) {
		case HOSTS_OK:
			printf("%s: %s\n", argv[i], done);
			break;
		case HOSTS_DEFERRED:
			printf("%s: removing (%s)\n", argv[i],
			       fn == hosts_remove_revoke
			               ? "an issuer revokes its certificates, then removes it"
			               : "an issuer holds its lock and finishes the removal");
			break;
		default:
			log_err("%s %s: %s", cmd, argv[i], err);
			ret = 1;
		}
	}
out:
	store_close(s);
	return ret;
}

int hosts_cmd_add(struct pusher *p, int argc, char **argv)
{
	const char *domain = conf_get(p->conf, "preview-domain");
	int skip = conf_get(p->conf, "skip-dns-check") != NULL;
	struct hosts_info info;
	struct store *s = NULL;
	const char *why;
	char err[512];
	int i, ret = 2;

	if (argc < 1) {
		log_err("add: expected one or more hostnames");
		goto out;
	}
	if (domain && !hosts_preview_domain_valid(domain, &why)) {
		log_err("--preview-domain: '%s': %s", domain, why);
		goto out;
	}
	if (p->check_only) {
		ret = 0;
		goto out;
	}
	ret = 1;
	s = hosts_cli_store(p);
	if (!s)
		goto out;
	ret = 0;
	for (i = 0; i < argc; i++) {
		if (argv[i][0] == '*' && argv[i][1] == '.' &&
		    dns01_wildcard_allowed(p->conf, argv[i], err, sizeof(err)) != 1) {
			log_err("add %s: %s", argv[i], err);
			ret = 1;
			continue;
		}
		if (hosts_add(s, argv[i], domain, &info, err, sizeof(err)) != HOSTS_OK) {
			log_err("add %s: %s", argv[i], err);
			ret = 1;
			continue;
		}
		if (dnsgate_mark_new(p->conf, s, &info, skip, err, sizeof(err)) < 0)
			log_warn("add %s: %s", argv[i], err);
		printf("%s: %s%s%s\n", info.name, hosts_state_name(info.state),
		       *info.preview ? ", preview " : "", info.preview);
	}
out:
	store_close(s);
	return ret;
}

int hosts_cmd_rm(struct pusher *p, int argc, char **argv)
{
	if (conf_get(p->conf, "revoke"))
		return hosts_cli_each(p, argc, argv, "rm --revoke", hosts_remove_revoke, "removed");
	return hosts_cli_each(p, argc, argv, "rm", hosts_remove, "removed");
}

int hosts_cmd_renew(struct pusher *p, int argc, char **argv)
{
	return hosts_cli_each(p, argc, argv, "renew", hosts_renew, "due now");
}

int hosts_cmd_ls(struct pusher *p, int argc, char **argv)
{
	struct hosts_info *arr = NULL;
	struct store *s = NULL;
	char err[512], na[32], ra[32];
	size_t i, n = 0;
	int ret = 2;

	(void)argv;
	if (argc) {
		log_err("ls: takes no arguments");
		goto out;
	}
	if (p->check_only) {
		ret = 0;
		goto out;
	}
	ret = 1;
	s = hosts_cli_store(p);
	if (!s)
		goto out;
	if (hosts_list(s, &arr, &n, err, sizeof(err)) != HOSTS_OK) {
		log_err("ls: %s", err);
		goto out;
	}
	printf("%-40s %-9s %-20s %-20s %s\n", "HOSTNAME", "STATE", "NOT_AFTER", "RENEW_AT",
	       "LAST_ERROR");
	for (i = 0; i < n; i++) {
		hosts_time_format(arr[i].not_after, na, sizeof(na));
		hosts_time_format(arr[i].renew_at, ra, sizeof(ra));
		printf("%-40s %-9s %-20s %-20s %.60s\n", arr[i].name,
		       hosts_state_name(arr[i].state), *na ? na : "-", *ra ? ra : "-",
		       *arr[i].last_error ? arr[i].last_error : "-");
	}
	ret = 0;
out:
	free(arr);
	store_close(s);
	return ret;
}

/* show's proof of deployment: "deployed: yes|no", then per edge its liveness and what it serves
 * per key type. 0 or -1 (logged). */
static int hosts_show_edges(struct pusher *p, struct store *s, const struct hosts_info *h)
{
	const char *want[PEM_KEY_COUNT] = { h->serial_ecdsa, h->serial_rsa };
	const char *name = h->name;
	const struct served_value *v;
	struct served_view view;
	long long now = (long long)time(NULL), window;
	char err[512], t1[32], t2[32];
	size_t e;
	int t;

	if (served_live_window(conf_get(p->conf, "edge-live-window"), &window) < 0) {
		log_err("--edge-live-window: '%s' is not a duration of 1s..24h",
		        conf_get(p->conf, "edge-live-window"));
		return -1;
	}
	if (served_view_load(s, &name, 1, now, window, &view, err, sizeof(err)) < 0) {
		log_err("show: %s", err);
		return -1;
	}
	printf("deployed: %s\n", served_view_deployed(&view, 0, want) ? "yes" : "no");
	for (e = 0; e < view.nedges; e++) {
		const struct served_haproxy *hp = &view.edges[e].haproxy;

		hosts_time_format(view.edges[e].last_seen, t1, sizeof(t1));
		hosts_time_format(hp->since, t2, sizeof(t2));
		printf("edge %s: %s, last seen %s, haproxy: %s%s%s\n", view.edges[e].id,
		       view.edges[e].live ? "live" : "stale", t1,
		       *hp->state ? hp->state : "unknown", *hp->state ? " since " : "",
		       *hp->state ? t2 : "");
		for (t = 0; t < PEM_KEY_COUNT; t++) {
			v = served_view_get(&view, 0, e, t);
			if (!v) {
				if (*want[t])
					printf("  %s: missing\n", pem_key_type_names[t]);
				continue;
			}
			hosts_time_format(v->not_after, t1, sizeof(t1));
			hosts_time_format(v->at, t2, sizeof(t2));
			printf("  %s: %s %s%s, not_after %s, since %s\n", pem_key_type_names[t],
			       v->serial, served_status_name(served_classify(want[t], v)),
			       served_expiring(v, now) ? " expiring" : "", *t1 ? t1 : "-",
			       *t2 ? t2 : "-");
		}
	}
	served_view_free(&view);
	return 0;
}

int hosts_cmd_show(struct pusher *p, int argc, char **argv)
{
	struct hosts_info h;
	struct store *s = NULL;
	char err[512], t[32];
	int ret = 2;

	if (argc != 1) {
		log_err("show: expected one hostname");
		goto out;
	}
	if (p->check_only) {
		ret = 0;
		goto out;
	}
	ret = 1;
	s = hosts_cli_store(p);
	if (!s)
		goto out;
	if (hosts_get(s, argv[0], &h, err, sizeof(err)) != HOSTS_OK) {
		log_err("show: %s", err);
		goto out;
	}
	printf("hostname: %s\n", h.name);
	printf("state: %s\n", hosts_state_name(h.state));
	if (*h.preview)
		printf("preview_hostname: %s\n", h.preview);
	if (*h.dns_status)
		printf("dns: %s\n", h.dns_status);
#define HOSTS_SHOW_TIME(label, v)                       \
	do {                                            \
		hosts_time_format((v), t, sizeof(t));   \
		if (*t)                                 \
			printf("%s: %s\n", (label), t); \
	} while (0)
	HOSTS_SHOW_TIME("created", h.created);
	HOSTS_SHOW_TIME("not_before", h.not_before);
	HOSTS_SHOW_TIME("not_after", h.not_after);
	HOSTS_SHOW_TIME("issued_at", h.issued_at);
	HOSTS_SHOW_TIME("renew_at", h.renew_at);
	HOSTS_SHOW_TIME("next_attempt", h.next_attempt);
	HOSTS_SHOW_TIME("next_action", h.next_action);
#undef HOSTS_SHOW_TIME
	if (*h.serial_ecdsa)
		printf("serial_ecdsa: %s\n", h.serial_ecdsa);
	if (*h.serial_rsa)
		printf("serial_rsa: %s\n", h.serial_rsa);
	printf("attempts: %u\n", h.attempts);
	if (h.order_running)
		printf("order: running\n");
	if (*h.last_error)
		printf("last_error: %s\n", h.last_error);
	if (hosts_show_edges(p, s, &h) < 0)
		goto out;
	ret = 0;
out:
	store_close(s);
	return ret;
}
