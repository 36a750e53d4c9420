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

#include "common/log.h"
#include "common/parse.h"

static const char *const hosts_state_names[HOSTS_STATE_COUNT] = {
	[HOSTS_STATE_PENDING] = "pending",
	[HOSTS_STATE_ISSUING] = "issuing",
	[HOSTS_STATE_VALID] = "valid",
	[HOSTS_STATE_RENEWING] = "renewing",
	[HOSTS_STATE_FAILED] = "failed",
	[HOSTS_STATE_REMOVING] = "removing",
	[HOSTS_STATE_AWAITING_DNS] = "awaiting-dns",
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
	} else if (!strcmp(f, "dns_status")) { /* DNSGATE_F_STATUS */
		hosts_copy(info->dns_status, sizeof(info->dns_status), v);
	} else if (!strcmp(f, HOSTS_F_REMOVING)) {
		*removing = *v != 0;
	} else if (!strcmp(f, HOSTS_F_ORIGIN)) {
		hosts_copy(info->origin, sizeof(info->origin), v);
	}
}

void hosts_info_from_pairs(struct hosts_info *info, const char *name, const struct strv *kv)
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
	/* a wildcard comes here only once the caller checked its DNS-01 delegation
	 * (dns01_wildcard_allowed); it has no preview name of its own */
	if (!names_cert_host_valid(name, &why) || strlen(name) > NAMES_HOSTNAME_MAX) {
		snprintf(err, errsz, "%s",
		         strlen(name) > NAMES_HOSTNAME_MAX
		                 ? "hostname is longer than 253 characters"
		                 : why);
		ret = HOSTS_INVALID;
		goto out;
	}
	if (name[0] == '*')
		preview_domain = NULL;
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

	if (!names_cert_host_valid(name, &why)) {
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
	struct strv kv = { 0 };
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
	strv_deinit(&kv);
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
		HOSTS_F_ORDER,        HOSTS_F_REMOVING,   HOSTS_F_ORIGIN,     "dns_status",
	};
	const size_t nf = sizeof(fields) / sizeof(fields[0]);
	struct strv names = { 0 }, vals = { 0 };
	struct hosts_info *arr = NULL;
	long long *due = NULL;
	size_t i, j, k;
	enum hosts_status ret = HOSTS_ERROR;

	*out = NULL;
	*n = 0;
	if (store_hosts_members(s, &names, err, errsz) < 0)
		goto out;
	if (store_hosts_fields(s, &names, fields, nf, &vals, err, errsz) < 0)
		goto out;
	arr = calloc(names.n ? names.n : 1, sizeof(*arr));
	due = calloc(names.n ? names.n : 1, sizeof(*due));
	if (!arr || !due) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	if (store_due_scores(s, &names, due, err, errsz) < 0)
		goto out;
	for (i = 0, k = 0; i < names.n; i++) {
		struct hosts_info *h = &arr[k];
		const char *why;
		int removing = 0;

		/* The set is written by us after validation; skip anything planted by hand so
		 * it never reaches a metric label or a table. */
		if (!names_cert_host_valid(names.v[i], &why))
			continue;
		k++;
		hosts_copy(h->name, sizeof(h->name), names.v[i]);
		h->state = HOSTS_STATE_PENDING;
		for (j = 0; j < nf; j++)
			hosts_info_set(h, fields[j], vals.v[i * nf + j], &removing);
		if (removing)
			h->state = HOSTS_STATE_REMOVING;
		h->next_action = due[i];
	}
	qsort(arr, k, sizeof(*arr), hosts_cmp_name);
	*out = arr;
	*n = k;
	arr = NULL;
	ret = HOSTS_OK;
out:
	free(arr);
	free(due);
	strv_deinit(&names);
	strv_deinit(&vals);
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
