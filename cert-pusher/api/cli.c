// SPDX-License-Identifier: MIT
/*
 * The operator's hostname commands (add, rm, ls, show, renew): hosts.c's logic over a store of
 * their own, printed for a terminal. The same operations back the API's /v1/hostnames.
 */
#include "cert-pusher/api/cli.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cert-pusher/api/host_json.h"
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

/* After a command's arguments are checked: its store, with <*ret> 1 (the command's failure
 * status from here on); NULL with <*ret> 0 under --check (nothing more to do), or with <*ret> 1
 * when Redis cannot be opened (logged). */
static struct store *cli_open(struct pusher *p, int *ret)
{
	if (p->check_only) {
		*ret = 0;
		return NULL;
	}
	*ret = 1;
	return hosts_cli_store(p);
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
	s = cli_open(p, &ret);
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

/* Print <v> as one JSON document on stdout (stolen). 0, or 1 after logging. */
static int hosts_cli_print_json(json_t *v)
{
	char *dump = v ? json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;

	json_decref(v);
	if (!dump) {
		log_err("out of memory");
		return 1;
	}
	printf("%s\n", dump);
	free(dump);
	return 0;
}

/* The served view of <hosts>/<n> (n 0: the edges only) into <v>. 0 or -1 (logged). */
static int hosts_cli_served(struct pusher *p, struct store *s, const struct hosts_info *hosts,
                            size_t n, struct served_view *v)
{
	const char **names = calloc(n + 1, sizeof(*names));
	long long window;
	char err[512];
	size_t i;
	int rc = -1;

	if (served_live_window(conf_get(p->conf, "edge-live-window"), &window) < 0) {
		log_err("--edge-live-window: '%s' is not a duration of 1s..24h",
		        conf_get(p->conf, "edge-live-window"));
		goto out;
	}
	if (!names) {
		log_err("out of memory");
		goto out;
	}
	for (i = 0; i < n; i++)
		names[i] = hosts[i].name;
	rc = served_view_load(s, names, n, (long long)time(NULL), window, v, err, sizeof(err));
	if (rc < 0)
		log_err("%s", err);
out:
	free(names);
	return rc;
}

/* A table cell from untrusted text <in> (a CA's error, a name): control characters become
 * spaces, and at most <max> bytes are kept (cut on a UTF-8 boundary, "..." appended). */
static void hosts_cli_cell(const char *in, size_t max, char *out, size_t outsz)
{
	size_t i, n = 0, len = strlen(in);

	if (outsz < 4)
		return;
	if (max > outsz - 4)
		max = outsz - 4;
	for (i = 0; i < len && n < max; i++) {
		unsigned char c = (unsigned char)in[i];

		out[n++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	if (n < len) {
		/* out[k] is in[k] for k < n (n == i): drop a character cut in its middle. */
		while (n > 0 && ((unsigned char)in[n] & 0xc0) == 0x80)
			n--;
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = 0;
}

/* Days from <now> to <t>, rounded down, as text ("-" when <t> is 0). */
static void hosts_cli_days(long long t, long long now, char *out, size_t outsz)
{
	long long d;

	if (!t) {
		snprintf(out, outsz, "-");
		return;
	}
	d = t - now;
	d = d >= 0 ? d / 86400 : -((-d + 86399) / 86400);
	snprintf(out, outsz, "%lld", d);
}

#define HOSTS_CLI_ERROR_MAX 60 /* bytes of LAST_ERROR in ls; show and --json have it whole */

int hosts_cmd_ls(struct pusher *p, int argc, char **argv)
{
	struct hosts_info *arr = NULL;
	struct served_view view, *sv = NULL;
	struct store *s = NULL;
	long long now = (long long)time(NULL);
	char err[512], na[32], ra[32], days[24], cell[HOSTS_CLI_ERROR_MAX + 8];
	size_t i, n = 0;
	int ret = 2, w = 8;

	(void)argv;
	if (argc) {
		log_err("ls: takes no arguments");
		goto out;
	}
	s = cli_open(p, &ret);
	if (!s)
		goto out;
	if (hosts_list(s, &arr, &n, err, sizeof(err)) != HOSTS_OK) {
		log_err("ls: %s", err);
		goto out;
	}
	if (hosts_cli_served(p, s, arr, n, &view) == 0)
		sv = &view;
	if (conf_get(p->conf, "json")) {
		json_t *list = json_array();

		for (i = 0; list && i < n; i++) {
			json_t *o = host_json(&arr[i]);

			host_json_edges(o, sv, i, &arr[i], now);
			json_array_append_new(list, o);
		}
		ret = hosts_cli_print_json(
		        json_pack("{s:o,s:{s:I}}", "data", list, "meta", "count", (json_int_t)n));
		goto out;
	}
	/* The first column is as wide as the longest name: a long name never shifts the others. */
	for (i = 0; i < n; i++)
		if ((int)strlen(arr[i].name) > w)
			w = (int)strlen(arr[i].name);
	printf("%-*s  %-12s  %9s  %-8s  %-20s  %-20s  %s\n", w, "HOSTNAME", "STATE", "DAYS_LEFT",
	       "DEPLOYED", "NOT_AFTER", "RENEW_AT", "LAST_ERROR");
	for (i = 0; i < n; i++) {
		const struct hosts_info *h = &arr[i];
		const char *want[PEM_KEY_COUNT] = { h->serial_ecdsa, h->serial_rsa };
		const char *dep = !*want[0] && !*want[1]              ? "-"
		                  : !sv                               ? "unknown"
		                  : served_view_deployed(sv, i, want) ? "yes"
		                                                      : "no";

		hosts_time_format(h->not_after, na, sizeof(na));
		hosts_time_format(h->renew_at, ra, sizeof(ra));
		hosts_cli_days(h->not_after, now, days, sizeof(days));
		hosts_cli_cell(*h->last_error ? h->last_error : "-", HOSTS_CLI_ERROR_MAX, cell,
		               sizeof(cell));
		printf("%-*s  %-12s  %9s  %-8s  %-20s  %-20s  %s\n", w, h->name,
		       hosts_state_name(h->state), days, dep, *na ? na : "-", *ra ? ra : "-", cell);
	}
	ret = 0;
out:
	if (sv)
		served_view_free(sv);
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
	s = cli_open(p, &ret);
	if (!s)
		goto out;
	if (hosts_get(s, argv[0], &h, err, sizeof(err)) != HOSTS_OK) {
		log_err("show: %s", err);
		goto out;
	}
	if (conf_get(p->conf, "json")) {
		struct served_view view, *sv = NULL;
		json_t *obj = host_json(&h);

		if (hosts_cli_served(p, s, &h, 1, &view) == 0)
			sv = &view;
		host_json_edges(obj, sv, 0, &h, (long long)time(NULL));
		if (sv)
			served_view_free(sv);
		ret = hosts_cli_print_json(json_pack("{s:o}", "data", obj));
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

/* edges ls: every edge the loaders reported (newest heartbeat first) with whether it is live
 * and how many hosts it serves current. */
static int edges_cmd_ls(struct pusher *p, struct store *s)
{
	struct hosts_info *arr = NULL;
	struct served_view view;
	char err[512], seen[32], hsince[32], cur[48];
	size_t i, e, n = 0;
	int ret = 1, w = 4;

	if (hosts_list(s, &arr, &n, err, sizeof(err)) != HOSTS_OK) {
		log_err("edges ls: %s", err);
		goto out;
	}
	if (hosts_cli_served(p, s, arr, n, &view) < 0)
		goto out;
	if (conf_get(p->conf, "json")) {
		ret = hosts_cli_print_json(json_pack("{s:o}", "data", host_json_edge_list(&view)));
		served_view_free(&view);
		goto out;
	}
	for (e = 0; e < view.nedges; e++)
		if ((int)strlen(view.edges[e].id) > w)
			w = (int)strlen(view.edges[e].id);
	printf("%-*s  %-6s  %-20s  %-8s  %s\n", w, "EDGE", "STATUS", "LAST_SEEN", "HAPROXY",
	       "CURRENT");
	for (e = 0; e < view.nedges; e++) {
		const struct served_edge *ed = &view.edges[e];
		size_t want = 0, ok = 0;

		for (i = 0; i < n; i++) {
			const char *wt[PEM_KEY_COUNT] = { arr[i].serial_ecdsa, arr[i].serial_rsa };
			int t, good = 1;

			if (!*wt[0] && !*wt[1])
				continue;
			want++;
			for (t = 0; t < PEM_KEY_COUNT; t++)
				if (*wt[t] &&
				    served_classify(wt[t], served_view_get(&view, i, e, t)) !=
				            SERVED_CURRENT)
					good = 0;
			ok += (size_t)good;
		}
		hosts_time_format(ed->last_seen, seen, sizeof(seen));
		hosts_time_format(ed->haproxy.since, hsince, sizeof(hsince));
		snprintf(cur, sizeof(cur), "%zu of %zu hosts", ok, want);
		printf("%-*s  %-6s  %-20s  %-8s  %s\n", w, ed->id, ed->live ? "live" : "stale",
		       *seen ? seen : "-", *ed->haproxy.state ? ed->haproxy.state : "unknown", cur);
	}
	served_view_free(&view);
	ret = 0;
out:
	free(arr);
	return ret;
}

/* edges forget EDGE...: drop what a decommissioned edge reported (edges zset, served:<edge>).
 * A live edge is refused: its loader would report itself again at its next heartbeat. */
static int edges_cmd_forget(struct pusher *p, struct store *s, int argc, char **argv)
{
	struct served_view view;
	char err[512];
	size_t e;
	int i, ret = 0, rc;

	if (hosts_cli_served(p, s, NULL, 0, &view) < 0)
		return 1;
	for (i = 0; i < argc; i++) {
		int live = 0;

		for (e = 0; e < view.nedges; e++)
			if (!strcmp(view.edges[e].id, argv[i]))
				live = view.edges[e].live;
		if (live) {
			log_err("edges forget %s: the edge is live (its loader reports itself); "
			        "stop "
			        "its loader first",
			        argv[i]);
			ret = 1;
			continue;
		}
		rc = store_served_forget(s, argv[i], err, sizeof(err));
		if (rc < 0) {
			log_err("edges forget %s: %s", argv[i], err);
			ret = 1;
		} else if (rc == 0) {
			log_err("edges forget %s: no such edge", argv[i]);
			ret = 1;
		} else {
			printf("%s: forgotten\n", argv[i]);
		}
	}
	served_view_free(&view);
	return ret;
}

int edges_cmd_edges(struct pusher *p, int argc, char **argv)
{
	struct store *s = NULL;
	int i, ret = 2, forget;

	if (argc < 1 || (strcmp(argv[0], "ls") != 0 && strcmp(argv[0], "forget") != 0)) {
		log_err("edges: expected 'ls' or 'forget EDGE...'");
		goto out;
	}
	forget = !strcmp(argv[0], "forget");
	if (!forget && argc != 1) {
		log_err("edges ls: takes no arguments");
		goto out;
	}
	if (forget && argc < 2) {
		log_err("edges forget: expected one or more edge ids");
		goto out;
	}
	for (i = 1; i < argc; i++) {
		if (!served_edge_valid(argv[i])) {
			log_err("edges forget: '%.80s' is not an edge id (1..%d of [A-Za-z0-9._-])",
			        argv[i], SERVED_EDGE_MAX);
			goto out;
		}
	}
	s = cli_open(p, &ret);
	if (!s)
		goto out;
	ret = forget ? edges_cmd_forget(p, s, argc - 1, argv + 1) : edges_cmd_ls(p, s);
out:
	store_close(s);
	return ret;
}
