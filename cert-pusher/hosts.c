// SPDX-License-Identifier: MIT
/*
 * Hostname management: the logic behind the API's /v1/hostnames and the add/rm/ls/show/renew
 * commands. Validation (common/names.c), the host hash fields and the state machine live here;
 * Redis access is store.c's; JSON is api.c's; issuing is the scheduler's.
 */
#include "cert-pusher/hosts.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cert-pusher/served.h"
#include "common/log.h"
#include "common/parse.h"

static const char *const hosts_state_names[HOSTS_STATE_COUNT] = {
	[HOSTS_STATE_PENDING] = "pending", [HOSTS_STATE_ISSUING] = "issuing",
	[HOSTS_STATE_VALID] = "valid",     [HOSTS_STATE_RENEWING] = "renewing",
	[HOSTS_STATE_FAILED] = "failed",   [HOSTS_STATE_REMOVING] = "removing",
};

const char *hosts_state_name(enum hosts_state st)
{
	return (unsigned)st < HOSTS_STATE_COUNT ? hosts_state_names[st] : "unknown";
}

int hosts_state_parse(const char *s)
{
	int i;

	for (i = 0; i < HOSTS_STATE_COUNT; i++)
		if (!strcmp(s, hosts_state_names[i]))
			return i;
	return -1;
}

int hosts_preview_domain_valid(const char *domain, const char **why)
{
	char probe[NAMES_HOSTNAME_MAX + 2];
	int n;

	n = snprintf(probe, sizeof(probe), "%0*d.%s", HOSTS_PREVIEW_LABEL_LEN, 0, domain);
	if (n < 0 || (size_t)n >= sizeof(probe)) {
		*why = "too long to carry a 16-character preview label";
		return 0;
	}
	probe[0] = 'a'; /* an all-digit first label is fine; keep the probe realistic */
	if (!names_hostname_valid(domain, why) || !names_hostname_valid(probe, why))
		return 0;
	return 1;
}

int hosts_preview_name(const char *domain, struct buf *out)
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char rnd[HOSTS_PREVIEW_LABEL_LEN];
	char label[HOSTS_PREVIEW_LABEL_LEN];
	size_t i;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -1;
	for (i = 0; i < sizeof(rnd); i++)
		label[i] = b32[rnd[i] & 31]; /* 256 % 32 == 0: no bias */
	if (buf_append(out, label, sizeof(label)) < 0 || buf_append(out, ".", 1) < 0 ||
	    buf_append_str(out, domain) < 0)
		return -1;
	return 0;
}

/* A decimal time or counter from Redis; 0 when absent or garbage. */
static long long hosts_num(const char *v)
{
	uint64_t u;

	if (!v || !*v || parse_u64(v, 0, (uint64_t)1 << 53, &u) < 0)
		return 0;
	return (long long)u;
}

static void hosts_copy(char *dst, size_t dstsz, const char *src)
{
	snprintf(dst, dstsz, "%s", src ? src : "");
}

/* Apply one field/value pair to <info>. */
static void hosts_info_set(struct hosts_info *info, const char *f, const char *v, int *removing)
{
	int st;

	if (!strcmp(f, HOSTS_F_STATE)) {
		st = hosts_state_parse(v);
		if (st >= 0)
			info->state = st;
	} else if (!strcmp(f, HOSTS_F_PREVIEW)) {
		hosts_copy(info->preview, sizeof(info->preview), v);
	} else if (!strcmp(f, HOSTS_F_CREATED)) {
		info->created = hosts_num(v);
	} else if (!strcmp(f, HOSTS_F_NOT_BEFORE)) {
		info->not_before = hosts_num(v);
	} else if (!strcmp(f, HOSTS_F_NOT_AFTER)) {
		info->not_after = hosts_num(v);
	} else if (!strcmp(f, HOSTS_F_ISSUED_AT)) {
		info->issued_at = hosts_num(v);
	} else if (!strcmp(f, HOSTS_F_RENEW_AT)) {
		info->renew_at = hosts_num(v);
	} else if (!strcmp(f, HOSTS_F_NEXT_ATTEMPT)) {
		info->next_attempt = hosts_num(v);
	} else if (!strcmp(f, HOSTS_F_SERIAL_ECDSA)) {
		hosts_copy(info->serial_ecdsa, sizeof(info->serial_ecdsa), v);
	} else if (!strcmp(f, HOSTS_F_SERIAL_RSA)) {
		hosts_copy(info->serial_rsa, sizeof(info->serial_rsa), v);
	} else if (!strcmp(f, HOSTS_F_LAST_ERROR)) {
		hosts_copy(info->last_error, sizeof(info->last_error), v);
	} else if (!strcmp(f, HOSTS_F_ATTEMPTS)) {
		info->attempts = (unsigned)hosts_num(v);
	} else if (!strcmp(f, HOSTS_F_ORDER)) {
		info->order_running = *v != 0;
	} else if (!strcmp(f, HOSTS_F_REMOVING)) {
		*removing = *v != 0;
	} else if (!strcmp(f, HOSTS_F_ORIGIN)) {
		hosts_copy(info->origin, sizeof(info->origin), v);
	}
}

void hosts_info_from_pairs(struct hosts_info *info, const char *name, const struct store_strv *kv)
{
	size_t i;
	int removing = 0;

	memset(info, 0, sizeof(*info));
	hosts_copy(info->name, sizeof(info->name), name);
	info->state = HOSTS_STATE_PENDING;
	for (i = 0; i + 1 < kv->n; i += 2)
		hosts_info_set(info, kv->v[i], kv->v[i + 1], &removing);
	if (removing)
		info->state = HOSTS_STATE_REMOVING;
}

enum hosts_status hosts_add(struct store *s, const char *name, const char *preview_domain,
                            struct hosts_info *info, char *err, size_t errsz)
{
	const char *kv[2 * 4 + 1];
	const char *why;
	struct buf preview;
	char now_s[32];
	long long now = (long long)time(NULL);
	enum hosts_status ret = HOSTS_ERROR;
	int n = 0, rc;

	buf_init(&preview);
	if (!names_hostname_valid(name, &why)) {
		snprintf(err, errsz, "%s", why);
		ret = HOSTS_INVALID;
		goto out;
	}
	snprintf(now_s, sizeof(now_s), "%lld", now);
	kv[n++] = HOSTS_F_STATE;
	kv[n++] = hosts_state_name(HOSTS_STATE_PENDING);
	kv[n++] = HOSTS_F_CREATED;
	kv[n++] = now_s;
	kv[n++] = HOSTS_F_ATTEMPTS;
	kv[n++] = "0";
	if (preview_domain) {
		if (hosts_preview_name(preview_domain, &preview) < 0) {
			snprintf(err, errsz, "out of memory or randomness");
			goto out;
		}
		kv[n++] = HOSTS_F_PREVIEW;
		kv[n++] = buf_str(&preview);
	}
	kv[n] = NULL;
	rc = store_host_add(s, name, kv, now, err, errsz);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		snprintf(err, errsz, "%s is already managed", name);
		ret = HOSTS_EXISTS;
		goto out;
	}
	memset(info, 0, sizeof(*info));
	hosts_copy(info->name, sizeof(info->name), name);
	hosts_copy(info->preview, sizeof(info->preview), buf_str(&preview));
	info->state = HOSTS_STATE_PENDING;
	info->created = now;
	info->next_action = now;
	ret = HOSTS_OK;
out:
	buf_deinit(&preview);
	return ret;
}

/* Whether <name> is a managed host: HOSTS_OK, HOSTS_NOT_FOUND (not a hostname, or not in the
 * hosts set) or HOSTS_ERROR (Redis), with <err> set on anything but HOSTS_OK. */
static enum hosts_status hosts_require(struct store *s, const char *name, char *err, size_t errsz)
{
	const char *why;
	int rc;

	if (!names_hostname_valid(name, &why)) {
		snprintf(err, errsz, "'%s' is not a managed hostname: %s", name, why);
		return HOSTS_NOT_FOUND;
	}
	rc = store_host_exists(s, name, err, errsz);
	if (rc == 0)
		snprintf(err, errsz, "%s is not a managed hostname", name);
	return rc > 0 ? HOSTS_OK : rc == 0 ? HOSTS_NOT_FOUND : HOSTS_ERROR;
}

enum hosts_status hosts_get(struct store *s, const char *name, struct hosts_info *info, char *err,
                            size_t errsz)
{
	struct store_strv kv = { 0 };
	long long at = 0;
	enum hosts_status ret = HOSTS_ERROR;

	ret = hosts_require(s, name, err, errsz);
	if (ret != HOSTS_OK)
		goto out;
	ret = HOSTS_ERROR;
	if (store_host_get_all(s, name, &kv, err, errsz) < 0)
		goto out;
	if (store_due_get(s, name, &at, err, errsz) < 0)
		goto out;
	hosts_info_from_pairs(info, name, &kv);
	info->next_action = at;
	ret = HOSTS_OK;
out:
	store_strv_deinit(&kv);
	return ret;
}

static int hosts_cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct hosts_info *)a)->name, ((const struct hosts_info *)b)->name);
}

enum hosts_status hosts_list(struct store *s, struct hosts_info **out, size_t *n, char *err,
                             size_t errsz)
{
	static const char *const fields[] = {
		HOSTS_F_STATE,        HOSTS_F_PREVIEW,    HOSTS_F_CREATED,    HOSTS_F_NOT_BEFORE,
		HOSTS_F_NOT_AFTER,    HOSTS_F_ISSUED_AT,  HOSTS_F_RENEW_AT,   HOSTS_F_NEXT_ATTEMPT,
		HOSTS_F_SERIAL_ECDSA, HOSTS_F_SERIAL_RSA, HOSTS_F_LAST_ERROR, HOSTS_F_ATTEMPTS,
		HOSTS_F_ORDER,        HOSTS_F_REMOVING,   HOSTS_F_ORIGIN,
	};
	const size_t nf = sizeof(fields) / sizeof(fields[0]);
	struct store_strv names = { 0 }, vals = { 0 };
	struct hosts_info *arr = NULL;
	size_t i, j, k;
	enum hosts_status ret = HOSTS_ERROR;

	*out = NULL;
	*n = 0;
	if (store_hosts_members(s, &names, err, errsz) < 0)
		goto out;
	if (store_hosts_fields(s, &names, fields, nf, &vals, err, errsz) < 0)
		goto out;
	arr = calloc(names.n ? names.n : 1, sizeof(*arr));
	if (!arr) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	for (i = 0, k = 0; i < names.n; i++) {
		struct hosts_info *h = &arr[k];
		const char *why;
		int removing = 0;

		/* The set is written by us after validation; skip anything planted by hand so
		 * it never reaches a metric label or a table. */
		if (!names_hostname_valid(names.v[i], &why))
			continue;
		k++;
		hosts_copy(h->name, sizeof(h->name), names.v[i]);
		h->state = HOSTS_STATE_PENDING;
		for (j = 0; j < nf; j++)
			hosts_info_set(h, fields[j], vals.v[i * nf + j], &removing);
		if (removing)
			h->state = HOSTS_STATE_REMOVING;
	}
	qsort(arr, k, sizeof(*arr), hosts_cmp_name);
	*out = arr;
	*n = k;
	arr = NULL;
	ret = HOSTS_OK;
out:
	free(arr);
	store_strv_deinit(&names);
	store_strv_deinit(&vals);
	return ret;
}

enum hosts_status hosts_remove(struct store *s, const char *name, char *err, size_t errsz)
{
	const char *kv[7];
	char now_s[32];
	long long now = (long long)time(NULL);
	int rc;

	enum hosts_status st = hosts_require(s, name, err, errsz);

	if (st != HOSTS_OK)
		return st;
	/* Record the intent first: if an issuer holds the lock, it sees "removing" when its order
	 * ends and finishes the job; the due entry makes sure some issuer looks soon. */
	snprintf(now_s, sizeof(now_s), "%lld", now);
	kv[0] = HOSTS_F_STATE;
	kv[1] = hosts_state_name(HOSTS_STATE_REMOVING);
	kv[2] = HOSTS_F_REMOVING;
	kv[3] = now_s;
	/* In the same HSET: a plain DELETE after a "?revoke=true" must never end up revoking. */
	kv[4] = HOSTS_F_REVOKE;
	kv[5] = "0";
	kv[6] = NULL;
	if (store_host_update(s, name, kv, err, errsz) < 0 ||
	    store_due_set(s, name, now, err, errsz) < 0)
		return HOSTS_ERROR;
	rc = store_host_purge(s, name, NULL, err, errsz);
	if (rc < 0)
		return HOSTS_ERROR;
	if (rc == 0) {
		snprintf(err, errsz, "%s: an issuer is working on it; it will finish the removal",
		         name);
		return HOSTS_DEFERRED;
	}
	return HOSTS_OK;
}

enum hosts_status hosts_remove_revoke(struct store *s, const char *name, char *err, size_t errsz)
{
	const char *kv[] = { HOSTS_F_STATE,
		             hosts_state_name(HOSTS_STATE_REMOVING),
		             HOSTS_F_REMOVING,
		             NULL,
		             HOSTS_F_REVOKE,
		             "1",
		             HOSTS_F_ATTEMPTS,
		             "0",
		             NULL };
	long long now = (long long)time(NULL);
	char now_s[32];
	struct buf cur;
	int asked;
	enum hosts_status st = hosts_require(s, name, err, errsz);

	if (st != HOSTS_OK)
		return st;
	/* Asked already: leave the attempts, the backoff and the due time as they are, so that a
	 * client repeating its DELETE does not turn the backoff into a revokeCert per request. */
	buf_init(&cur);
	asked = store_host_field(s, name, HOSTS_F_REVOKE, &cur, err, errsz);
	if (asked < 0) {
		buf_deinit(&cur);
		return HOSTS_ERROR;
	}
	asked = asked == 1 && strcmp(buf_str(&cur), "0") != 0;
	buf_deinit(&cur);
	if (asked) {
		snprintf(err, errsz, "%s: the issuer revokes its certificates, then removes it",
		         name);
		return HOSTS_DEFERRED;
	}
	/* Only an issuer can revoke (ACME account, CA): it takes the host under its lock, revokes,
	 * then purges; a failure stays recorded here and is retried with the backoff. */
	snprintf(now_s, sizeof(now_s), "%lld", now);
	kv[3] = now_s;
	if (store_host_update(s, name, kv, err, errsz) < 0 ||
	    store_host_del_field(s, name, HOSTS_F_NEXT_ATTEMPT, err, errsz) < 0 ||
	    store_due_set(s, name, now, err, errsz) < 0)
		return HOSTS_ERROR;
	snprintf(err, errsz, "%s: the issuer revokes its certificates, then removes it", name);
	return HOSTS_DEFERRED;
}

enum hosts_status hosts_renew(struct store *s, const char *name, char *err, size_t errsz)
{
	long long now = (long long)time(NULL);
	const char *kv[3];
	char now_s[32];
	struct buf v;
	enum hosts_status ret = HOSTS_ERROR;
	int rc;

	buf_init(&v);
	ret = hosts_require(s, name, err, errsz);
	if (ret != HOSTS_OK)
		goto out;
	ret = HOSTS_ERROR;
	rc = store_host_field(s, name, HOSTS_F_REMOVING, &v, err, errsz);
	if (rc < 0)
		goto out;
	if (rc == 1 && v.len) {
		snprintf(err, errsz, "%s is being removed", name);
		ret = HOSTS_CONFLICT;
		goto out;
	}
	/* The plan moves to now too: the scheduler treats a wake-up before renew_at as an ARI
	 * poll, not as a renewal. */
	snprintf(now_s, sizeof(now_s), "%lld", now);
	kv[0] = HOSTS_F_RENEW_AT;
	kv[1] = now_s;
	kv[2] = NULL;
	if (store_host_update(s, name, kv, err, errsz) < 0 ||
	    store_due_set(s, name, now, err, errsz) < 0)
		goto out;
	ret = HOSTS_OK;
out:
	buf_deinit(&v);
	return ret;
}

void hosts_time_format(long long t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!t || !gmtime_r(&tt, &tm) || !strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, outsz, "%s", "");
}

/* ---- command line ---- */

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
		if (hosts_add(s, argv[i], domain, &info, err, sizeof(err)) != HOSTS_OK) {
			log_err("add %s: %s", argv[i], err);
			ret = 1;
			continue;
		}
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
