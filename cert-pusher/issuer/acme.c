// SPDX-License-Identifier: MIT
/*
 * RFC 8555 as a state machine. acme_run() drives one step per state until DONE, FAILED or the
 * state the caller stops at; each step does one exchange with the CA and returns the next
 * state. Every signed request goes through acme_post(), the one place that knows about nonces
 * (RFC 8555 §6.5: take the nonce of every response, HEAD newNonce when none is left, retry
 * badNonce at once with the fresh one) and about back-off (rateLimited and 5xx: wait for
 * Retry-After, capped; give the Retry-After to the caller when it is longer than the cap).
 * Polling honours Retry-After with a cap, else backs off exponentially, within one deadline per
 * order. Problem documents become "type: detail [subproblems: ...]" strings.
 */
#include "cert-pusher/issuer/acme.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/b64url.h"
#include "common/log.h"
#include "common/names.h"

#define ACME_URL_MAX       2048
#define ACME_POLL_START    50 /* ms: first poll; doubles up to ACME_POLL_STEP_MAX */
#define ACME_POLL_STEP_MAX 2000
#define ACME_PROBLEM_NS    "urn:ietf:params:acme:error:"

static const char *const acme_status_names[ACME_STATUS_COUNT] = {
	[ACME_STATUS_PENDING] = "pending",         [ACME_STATUS_READY] = "ready",
	[ACME_STATUS_PROCESSING] = "processing",   [ACME_STATUS_VALID] = "valid",
	[ACME_STATUS_INVALID] = "invalid",         [ACME_STATUS_EXPIRED] = "expired",
	[ACME_STATUS_DEACTIVATED] = "deactivated", [ACME_STATUS_REVOKED] = "revoked",
};

const char *acme_status_name(enum acme_status st)
{
	return st < ACME_STATUS_COUNT ? acme_status_names[st] : "?";
}

/* ---- parsers ---- */

static int acme_status_parse(const char *s, enum acme_status *st)
{
	int i;

	for (i = 0; i < ACME_STATUS_COUNT; i++)
		if (!strcmp(s, acme_status_names[i])) {
			*st = (enum acme_status)i;
			return 0;
		}
	return -1;
}

/* A copy of the URL member <name> of <obj>: NULL (and -1 in <*bad>) when present but not an
 * http(s) URL of sane length, NULL when absent. */
static char *acme_url_member(json_t *obj, const char *name, int *bad)
{
	json_t *v = json_object_get(obj, name);
	const char *s;
	size_t len;

	if (!v)
		return NULL;
	s = json_string_value(v);
	len = s ? json_string_length(v) : 0;
	if (!s || !len || len > ACME_URL_MAX || strlen(s) != len ||
	    (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)) {
		*bad = 1;
		return NULL;
	}
	return strdup(s);
}

static json_t *acme_json_object(const char *json, size_t len, char *err, size_t errsz)
{
	json_error_t je;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);

	if (!root) {
		snprintf(err, errsz, "invalid JSON: %s (line %d)", je.text, je.line);
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errsz, "JSON is not an object");
		json_decref(root);
		return NULL;
	}
	return root;
}

void acme_directory_deinit(struct acme_directory *d)
{
	size_t i;

	free(d->new_nonce);
	free(d->new_account);
	free(d->new_order);
	free(d->terms);
	free(d->renewal_info);
	free(d->revoke_cert);
	for (i = 0; i < d->nprofiles; i++)
		free(d->profiles[i]);
	memset(d, 0, sizeof(*d));
}

int acme_directory_parse(const char *json, size_t len, struct acme_directory *d, char *err,
                         size_t errsz)
{
	json_t *root = NULL, *meta, *profiles, *v;
	const char *pname, *tos;
	int bad = 0, ret = -1;

	memset(d, 0, sizeof(*d));
	root = acme_json_object(json, len, err, errsz);
	if (!root)
		goto out;
	d->new_nonce = acme_url_member(root, "newNonce", &bad);
	d->new_account = acme_url_member(root, "newAccount", &bad);
	d->new_order = acme_url_member(root, "newOrder", &bad);
	if (bad || !d->new_nonce || !d->new_account || !d->new_order) {
		snprintf(err, errsz, "directory: newNonce, newAccount and newOrder must be URLs");
		goto out;
	}
	/* optional (RFC 9773 §3): a malformed one is ignored, the CA just has no ARI for us */
	d->renewal_info = acme_url_member(root, "renewalInfo", &bad);
	/* optional for us: only a removal with revocation needs it */
	d->revoke_cert = acme_url_member(root, "revokeCert", &bad);
	meta = json_object_get(root, "meta");
	if (meta && json_is_object(meta)) {
		tos = json_string_value(json_object_get(meta, "termsOfService"));
		if (tos && !(d->terms = strdup(tos)))
			goto oom;
		d->eab_required = json_is_true(json_object_get(meta, "externalAccountRequired"));
		/* Let's Encrypt: "profiles": {"classic": "description", ...} */
		profiles = json_object_get(meta, "profiles");
		if (profiles && json_is_object(profiles)) {
			json_object_foreach(profiles, pname, v)
			{
				(void)v;
				if (d->nprofiles == ACME_MAX_PROFILES)
					break;
				if (!(d->profiles[d->nprofiles] = strdup(pname)))
					goto oom;
				d->nprofiles++;
			}
		}
	}
	ret = 0;
	goto out;
oom:
	snprintf(err, errsz, "out of memory");
out:
	if (ret < 0)
		acme_directory_deinit(d);
	json_decref(root);
	return ret;
}

/* Format the problem object <pb> into <out>. */
static void acme_problem_format(json_t *pb, char *out, size_t outsz, char *type_out,
                                size_t type_outsz)
{
	const char *type = json_string_value(json_object_get(pb, "type"));
	const char *detail = json_string_value(json_object_get(pb, "detail"));
	json_t *subs = json_object_get(pb, "subproblems"), *sp, *id;
	const char *st, *sd, *iv, *it;
	size_t i, used;
	int n;

	if (!type)
		type = "about:blank";
	if (type_out && type_outsz) {
		const char *t = !strncmp(type, ACME_PROBLEM_NS, strlen(ACME_PROBLEM_NS))
		                        ? type + strlen(ACME_PROBLEM_NS)
		                        : type;
		snprintf(type_out, type_outsz, "%s", t);
	}
	n = snprintf(out, outsz, "%s: %s", type, detail ? detail : "(no detail)");
	if (n < 0 || (size_t)n >= outsz || !json_is_array(subs) || !json_array_size(subs))
		return;
	used = (size_t)n;
	json_array_foreach(subs, i, sp)
	{
		st = json_string_value(json_object_get(sp, "type"));
		sd = json_string_value(json_object_get(sp, "detail"));
		id = json_object_get(sp, "identifier");
		it = json_string_value(json_object_get(id, "type"));
		iv = json_string_value(json_object_get(id, "value"));
		n = snprintf(out + used, outsz - used, "%s%s%s%s%s%s: %s",
		             i ? "; " : " [subproblems: ", it ? it : "", it ? ":" : "",
		             iv ? iv : "", iv ? ": " : "", st ? st : "about:blank",
		             sd ? sd : "(no detail)");
		if (n < 0 || (size_t)n >= outsz - used)
			return;
		used += (size_t)n;
	}
	snprintf(out + used, outsz - used, "]");
}

int acme_problem_parse(const char *json, size_t len, char *out, size_t outsz, char *type_out,
                       size_t type_outsz)
{
	char err[128];
	json_t *root = acme_json_object(json, len, err, sizeof(err));
	int ret = -1;

	if (!root)
		return -1;
	if (json_is_string(json_object_get(root, "type")) ||
	    json_is_string(json_object_get(root, "detail"))) {
		acme_problem_format(root, out, outsz, type_out, type_outsz);
		ret = 0;
	}
	json_decref(root);
	return ret;
}

void acme_order_deinit(struct acme_order_obj *o)
{
	size_t i;

	for (i = 0; i < o->nauthz; i++)
		free(o->authz[i]);
	free(o->finalize);
	free(o->certificate);
	memset(o, 0, sizeof(*o));
}

int acme_order_parse(const char *json, size_t len, struct acme_order_obj *o, char *err,
                     size_t errsz)
{
	json_t *root = NULL, *authz, *v, *pb;
	const char *st;
	size_t i;
	int bad = 0, ret = -1;

	memset(o, 0, sizeof(*o));
	root = acme_json_object(json, len, err, errsz);
	if (!root)
		goto out;
	st = json_string_value(json_object_get(root, "status"));
	if (!st || acme_status_parse(st, &o->status) < 0) {
		snprintf(err, errsz, "order: missing or unknown status");
		goto out;
	}
	authz = json_object_get(root, "authorizations");
	if (!json_is_array(authz) || json_array_size(authz) > ACME_MAX_AUTHZ) {
		snprintf(err, errsz, "order: authorizations must be an array of at most %d URLs",
		         ACME_MAX_AUTHZ);
		goto out;
	}
	json_array_foreach(authz, i, v)
	{
		json_t *wrap = json_pack("{s:O}", "u", v);

		o->authz[o->nauthz] = wrap ? acme_url_member(wrap, "u", &bad) : NULL;
		json_decref(wrap);
		if (!o->authz[o->nauthz]) {
			snprintf(err, errsz, "order: authorization %zu is not a URL", i);
			goto out;
		}
		o->nauthz++;
	}
	o->finalize = acme_url_member(root, "finalize", &bad);
	o->certificate = acme_url_member(root, "certificate", &bad);
	if (bad || !o->finalize) {
		snprintf(err, errsz, "order: finalize and certificate must be URLs");
		goto out;
	}
	pb = json_object_get(root, "error");
	if (json_is_object(pb))
		acme_problem_format(pb, o->error, sizeof(o->error), NULL, 0);
	ret = 0;
out:
	if (ret < 0)
		acme_order_deinit(o);
	json_decref(root);
	return ret;
}

void acme_authz_deinit(struct acme_authz_obj *a)
{
	free(a->identifier);
	free(a->http01_url);
	free(a->http01_token);
	memset(a, 0, sizeof(*a));
}

int acme_authz_parse(const char *json, size_t len, struct acme_authz_obj *a, char *err,
                     size_t errsz)
{
	return acme_authz_parse_type(json, len, "http-01", a, err, errsz);
}

int acme_authz_parse_type(const char *json, size_t len, const char *want, struct acme_authz_obj *a,
                          char *err, size_t errsz)
{
	json_t *root = NULL, *chals, *ch, *pb, *wrap;
	const char *st, *idv, *type, *tok;
	size_t i;
	int bad = 0, ret = -1;

	memset(a, 0, sizeof(*a));
	root = acme_json_object(json, len, err, errsz);
	if (!root)
		goto out;
	st = json_string_value(json_object_get(root, "status"));
	if (!st || acme_status_parse(st, &a->status) < 0) {
		snprintf(err, errsz, "authorization: missing or unknown status");
		goto out;
	}
	idv = json_string_value(json_object_get(json_object_get(root, "identifier"), "value"));
	if (!idv || !(a->identifier = strdup(idv))) {
		snprintf(err, errsz, "authorization: missing identifier");
		goto out;
	}
	chals = json_object_get(root, "challenges");
	if (!json_is_array(chals)) {
		snprintf(err, errsz, "authorization: challenges must be an array");
		goto out;
	}
	json_array_foreach(chals, i, ch)
	{
		type = json_string_value(json_object_get(ch, "type"));
		if (!type || strcmp(type, want) != 0)
			continue;
		st = json_string_value(json_object_get(ch, "status"));
		if (!st || acme_status_parse(st, &a->http01_status) < 0) {
			snprintf(err, errsz, "authorization: %s challenge without a status", want);
			goto out;
		}
		tok = json_string_value(json_object_get(ch, "token"));
		if (!tok || !names_token_valid(tok, strlen(tok))) {
			snprintf(err, errsz, "authorization: %s token is not base64url", want);
			goto out;
		}
		wrap = json_pack("{s:O*}", "url", json_object_get(ch, "url"));
		a->http01_url = wrap ? acme_url_member(wrap, "url", &bad) : NULL;
		json_decref(wrap);
		if (!a->http01_url || !(a->http01_token = strdup(tok))) {
			snprintf(err, errsz, "authorization: %s challenge url is not a URL", want);
			goto out;
		}
		pb = json_object_get(ch, "error");
		if (json_is_object(pb))
			acme_problem_format(pb, a->error, sizeof(a->error), NULL, 0);
		break;
	}
	ret = 0;
out:
	if (ret < 0)
		acme_authz_deinit(a);
	json_decref(root);
	return ret;
}

/* ---- the client ---- */

struct acme_client {
	const struct acme_config *cfg;
	struct http_client *http;
	struct acme_directory dir;
	int have_dir;
	char *nonce;         /* the next nonce to use, from the last response; owned */
	struct jws_key *key; /* account key */
	char *kid;           /* account URL */
};

enum acme_state {
	ACME_ST_DIRECTORY = 0, /* GET the directory (once per client) */
	ACME_ST_ACCOUNT,       /* newAccount unless the account URL is known */
	ACME_ST_NEW_ORDER,     /* POST newOrder */
	ACME_ST_AUTHZ,         /* POST-as-GET the next authorization; done: ORDER_READY */
	ACME_ST_CHALLENGE,     /* publish the key authorization, POST {} to the challenge */
	ACME_ST_AUTHZ_POLL,    /* poll the authorization until it leaves pending */
	ACME_ST_ORDER_READY,   /* poll the order until ready */
	ACME_ST_FINALIZE,      /* POST the CSR */
	ACME_ST_ORDER_VALID,   /* poll the order until valid */
	ACME_ST_DOWNLOAD,      /* POST-as-GET the certificate chain */
	ACME_ST_DONE,
	ACME_ST_FAILED,
	ACME_ST_COUNT
};

static const char *const acme_state_names[ACME_ST_COUNT] = {
	[ACME_ST_DIRECTORY] = "directory",
	[ACME_ST_ACCOUNT] = "account",
	[ACME_ST_NEW_ORDER] = "new-order",
	[ACME_ST_AUTHZ] = "authz",
	[ACME_ST_CHALLENGE] = "challenge",
	[ACME_ST_AUTHZ_POLL] = "authz-poll",
	[ACME_ST_ORDER_READY] = "order-ready",
	[ACME_ST_FINALIZE] = "finalize",
	[ACME_ST_ORDER_VALID] = "order-valid",
	[ACME_ST_DOWNLOAD] = "download",
	[ACME_ST_DONE] = "done",
	[ACME_ST_FAILED] = "failed",
};

/* One run of the machine: an account set-up or an order. */
struct acme_run {
	struct acme_client *c;
	const char *name;               /* order: the identifier, else NULL */
	const char *replaces;           /* order: CertID for newOrder "replaces", or NULL */
	const struct jws_key *cert_key; /* order: the certificate key */
	const struct acme_chal_ops *ops;
	enum jws_alg new_key_alg; /* account: algorithm of a key made here */
	int verify_account;       /* account: check a known account URL with the CA */
	char problem_type[128];   /* type of the last failed request's problem, or "" */
	int account_created;
	int64_t deadline;  /* monotonic ms */
	int64_t poll_wait; /* next poll back-off, ms */
	char *order_url;
	struct acme_order_obj order;
	size_t authz_idx;
	struct acme_authz_obj authz;
	char *published[ACME_MAX_AUTHZ];    /* http-01: tokens; dns-01: key authorizations */
	char *published_id[ACME_MAX_AUTHZ]; /* dns-01: their identifiers */
	size_t npublished;
	struct http_response resp;
	char *err; /* failure reason, ACME_ERR_MAX bytes */
	int64_t retry_after;
	struct acme_order_result *res; /* order: where the chain goes */
};

typedef enum acme_state acme_step_fn(struct acme_run *r);

static void acme_sleep_ms(const struct acme_config *cfg, int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	if (ms <= 0)
		return;
	if (cfg->sleep) {
		cfg->sleep(cfg->sleep_arg, ms);
		return;
	}
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static enum acme_state acme_fail(struct acme_run *r, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static enum acme_state acme_fail(struct acme_run *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, ACME_ERR_MAX, fmt, ap);
	va_end(ap);
	return ACME_ST_FAILED;
}

static int64_t acme_cap(const struct acme_config *cfg)
{
	return cfg->poll_max_ms > 0 ? cfg->poll_max_ms : 60000;
}

/* The problem text of response <h>, or a summary of its status and body. */
static void acme_response_problem(const struct http_response *h, char *out, size_t outsz,
                                  char *type, size_t typesz)
{
	size_t i, n;

	if (type && typesz)
		type[0] = 0;
	if (h->body.len && acme_problem_parse((const char *)h->body.data, h->body.len, out, outsz,
	                                      type, typesz) == 0)
		return;
	/* not a problem document: status and a sanitised start of the body */
	n = (size_t)snprintf(out, outsz, "HTTP %ld: ", h->status);
	for (i = 0; i < h->body.len && i < 200 && n + 1 < outsz; i++, n++)
		out[n] = (h->body.data[i] >= 0x20 && h->body.data[i] < 0x7f) ? (char)h->body.data[i]
		                                                             : '.';
	if (n < outsz)
		out[n] = 0;
}

/* Keep the nonce of response <h> for the next request (RFC 8555 §6.5). */
static void acme_take_nonce(struct acme_client *c, struct http_response *h)
{
	if (!h->nonce || !*h->nonce || !names_token_valid(h->nonce, strlen(h->nonce)))
		return;
	free(c->nonce);
	c->nonce = h->nonce;
	h->nonce = NULL;
}

enum acme_post_result {
	ACME_POST_OK = 0, /* 2xx */
	ACME_POST_FAIL,   /* transport error or a final problem: r->err is set */
};

/* A Retry-After (seconds, >= 0) within HTTP_RETRY_AFTER_MIN_S..MAX_S, whoever parsed it, so
 * that the milliseconds never overflow and 0 never means a tight loop. */
static int64_t acme_retry_after_clamp(int64_t s)
{
	if (s < HTTP_RETRY_AFTER_MIN_S)
		return HTTP_RETRY_AFTER_MIN_S;
	return s > HTTP_RETRY_AFTER_MAX_S ? HTTP_RETRY_AFTER_MAX_S : s;
}

/*
 * Back off before retrying a rateLimited/5xx answer, or give up: 1 to retry, 0 when the wait
 * exceeds the cap or the deadline (r->retry_after keeps the CA's figure, clamped, for the
 * caller).
 */
static int acme_backoff(struct acme_run *r, int64_t retry_after, int attempt)
{
	const struct acme_config *cfg = r->c->cfg;
	int64_t wait;

	if (retry_after >= 0)
		retry_after = acme_retry_after_clamp(retry_after);
	wait = retry_after >= 0 ? retry_after * 1000 : (int64_t)1000 << (attempt < 6 ? attempt : 6);
	r->retry_after = retry_after;
	if (wait > acme_cap(cfg) || clock_mono_ms() + wait > r->deadline)
		return 0;
	acme_sleep_ms(cfg, wait);
	return 1;
}

/*
 * The one way to reach the CA: GET (<payload> ignored, <signed> = 0), or a JWS POST of
 * <payload> (NULL: POST-as-GET) signed with "jwk" when <use_jwk>, else "kid". The response is
 * left in r->resp. Handles nonces, badNonce and back-off; a final error is in r->err.
 */
static enum acme_post_result acme_call(struct acme_run *r, const char *what, const char *url,
                                       int is_signed, const char *payload, int use_jwk)
{
	struct acme_client *c = r->c;
	const struct acme_config *cfg = c->cfg;
	int bad_nonce_max = cfg->bad_nonce_retries > 0 ? cfg->bad_nonce_retries : 10;
	int busy_max = cfg->busy_retries > 0 ? cfg->busy_retries : 3;
	int bad_nonce = 0, busy = 0;
	char err[512], problem[ACME_ERR_MAX], type[128];
	struct buf body;
	enum acme_post_result ret = ACME_POST_FAIL;

	buf_init(&body);
	for (;;) {
		if (clock_mono_ms() > r->deadline) {
			acme_fail(r, "%s: deadline reached", what);
			goto out;
		}
		buf_reset(&body);
		if (is_signed && !c->nonce) {
			if (http_request(c->http, HTTP_METHOD_HEAD, c->dir.new_nonce, NULL, 0,
			                 &r->resp, err, sizeof(err)) < 0) {
				acme_fail(r, "newNonce: %s", err);
				goto out;
			}
			acme_take_nonce(c, &r->resp);
			if (!c->nonce) {
				acme_fail(r, "newNonce: HTTP %ld without a Replay-Nonce",
				          r->resp.status);
				goto out;
			}
		}
		if (is_signed) {
			if (jws_sign(c->key, use_jwk ? NULL : c->kid, c->nonce, url, payload,
			             &body) < 0) {
				acme_fail(r, "%s: cannot sign the request", what);
				goto out;
			}
			/* a nonce is used once, whatever happens to the request */
			free(c->nonce);
			c->nonce = NULL;
		}
		if (http_request(c->http, is_signed ? HTTP_METHOD_POST : HTTP_METHOD_GET, url,
		                 body.data, body.len, &r->resp, err, sizeof(err)) < 0) {
			acme_fail(r, "%s: %s", what, err);
			goto out;
		}
		acme_take_nonce(c, &r->resp);
		if (r->resp.status >= 200 && r->resp.status < 300) {
			ret = ACME_POST_OK;
			goto out;
		}
		acme_response_problem(&r->resp, problem, sizeof(problem), type, sizeof(type));
		if (!strcmp(type, "badNonce") && bad_nonce < bad_nonce_max) {
			bad_nonce++;
			log_debug("acme: %s: badNonce, retrying with the fresh nonce (%d/%d)", what,
			          bad_nonce, bad_nonce_max);
			continue;
		}
		if ((!strcmp(type, "rateLimited") || r->resp.status == 429 ||
		     r->resp.status >= 500) &&
		    busy < busy_max) {
			log_warn("acme: %s: %s; retry after %llds", what, problem,
			         (long long)r->resp.retry_after);
			if (acme_backoff(r, r->resp.retry_after, busy++))
				continue;
		}
		if (r->resp.retry_after >= 0)
			r->retry_after = acme_retry_after_clamp(r->resp.retry_after);
		snprintf(r->problem_type, sizeof(r->problem_type), "%s", type);
		acme_fail(r, "%s", problem);
		goto out;
	}
out:
	buf_deinit(&body);
	return ret;
}

/* The body of r->resp as JSON text, or fail when the CA answered something else. */
static int acme_json_body(struct acme_run *r, const char *what)
{
	const char *ct = r->resp.content_type;

	if (!r->resp.body.len) {
		acme_fail(r, "%s: empty response body (HTTP %ld)", what, r->resp.status);
		return -1;
	}
	if (ct && strcmp(ct, "application/json") != 0 &&
	    strcmp(ct, "application/problem+json") != 0) {
		acme_fail(r, "%s: unexpected Content-Type %s", what, ct);
		return -1;
	}
	return 0;
}

/* Wait before the next poll: Retry-After (capped) or the exponential step. 0, or -1 when the
 * deadline would pass. */
static int acme_poll_wait(struct acme_run *r)
{
	const struct acme_config *cfg = r->c->cfg;
	int64_t wait;

	if (r->resp.retry_after >= 0) {
		wait = acme_retry_after_clamp(r->resp.retry_after) * 1000;
		if (wait > acme_cap(cfg))
			wait = acme_cap(cfg);
	} else {
		wait = r->poll_wait;
		r->poll_wait = r->poll_wait * 2 > ACME_POLL_STEP_MAX ? ACME_POLL_STEP_MAX
		                                                     : r->poll_wait * 2;
	}
	if (clock_mono_ms() + wait > r->deadline)
		return -1;
	acme_sleep_ms(cfg, wait);
	return 0;
}

static enum acme_state acme_st_directory(struct acme_run *r)
{
	struct acme_client *c = r->c;
	char err[256];

	if (c->have_dir)
		return ACME_ST_ACCOUNT;
	if (acme_call(r, "directory", c->cfg->directory_url, 0, NULL, 0) != ACME_POST_OK)
		return ACME_ST_FAILED;
	if (acme_directory_parse((const char *)r->resp.body.data, r->resp.body.len, &c->dir, err,
	                         sizeof(err)) < 0)
		return acme_fail(r, "directory %s: %s", c->cfg->directory_url, err);
	c->have_dir = 1;
	return ACME_ST_ACCOUNT;
}

static enum acme_state acme_st_account(struct acme_run *r)
{
	struct acme_client *c = r->c;
	const struct acme_config *cfg = c->cfg;
	json_t *req = NULL, *eab = NULL;
	struct buf eabjws;
	char *payload = NULL;
	size_t i;
	enum acme_state next = ACME_ST_FAILED;

	buf_init(&eabjws);
	if (cfg->profile) {
		for (i = 0; i < c->dir.nprofiles; i++)
			if (!strcmp(c->dir.profiles[i], cfg->profile))
				break;
		if (!c->dir.nprofiles || i == c->dir.nprofiles) {
			acme_fail(r, "--profile: '%s' is not offered by %s (offered: %s%s%s%s)",
			          cfg->profile, cfg->directory_url,
			          c->dir.nprofiles ? c->dir.profiles[0] : "none",
			          c->dir.nprofiles > 1 ? ", " : "",
			          c->dir.nprofiles > 1 ? c->dir.profiles[1] : "",
			          c->dir.nprofiles > 2 ? ", ..." : "");
			goto out;
		}
	}
	if (c->dir.eab_required && !cfg->eab_kid) {
		acme_fail(r,
		          "%s requires External Account Binding: set --eab-kid and "
		          "--eab-hmac-key-file",
		          cfg->directory_url);
		goto out;
	}
	if (c->kid && r->verify_account) {
		/* RFC 8555 §7.3.1: is the stored account still known? (a CA may forget it) */
		if (acme_call(r, "newAccount (onlyReturnExisting)", c->dir.new_account, 1,
		              "{\"onlyReturnExisting\":true}", 1) == ACME_POST_OK) {
			if (r->resp.location && strcmp(r->resp.location, c->kid) != 0) {
				free(c->kid);
				c->kid = r->resp.location;
				r->resp.location = NULL;
				r->account_created = 1;
			}
			next = ACME_ST_NEW_ORDER;
			goto out;
		}
		if (strcmp(r->problem_type, "accountDoesNotExist") != 0)
			goto out;
		log_warn("acme: account %s is unknown to %s; registering its key again", c->kid,
		         cfg->directory_url);
		free(c->kid);
		c->kid = NULL;
		r->err[0] = 0;
	} else if (c->kid) {
		next = ACME_ST_NEW_ORDER;
		goto out;
	}
	if (!c->key) {
		c->key = jws_key_generate(r->new_key_alg);
		if (!c->key) {
			acme_fail(r, "cannot generate an account key");
			goto out;
		}
	}
	req = json_pack("{s:b}", "termsOfServiceAgreed", 1);
	if (!req)
		goto oom;
	if (cfg->contact && json_object_set_new(req, "contact", json_pack("[s]", cfg->contact)) < 0)
		goto oom;
	if (cfg->eab_kid) {
		if (jws_eab(c->key, cfg->eab_kid, cfg->eab_hmac, cfg->eab_hmac_len,
		            c->dir.new_account, &eabjws) < 0)
			goto oom;
		eab = json_loadb((const char *)eabjws.data, eabjws.len, 0, NULL);
		if (!eab || json_object_set_new(req, "externalAccountBinding", eab) < 0)
			goto oom;
	}
	payload = json_dumps(req, JSON_COMPACT);
	if (!payload)
		goto oom;
	if (acme_call(r, "newAccount", c->dir.new_account, 1, payload, 1) != ACME_POST_OK)
		goto out;
	if (!r->resp.location) {
		acme_fail(r, "newAccount: HTTP %ld without a Location (account URL)",
		          r->resp.status);
		goto out;
	}
	c->kid = r->resp.location;
	r->resp.location = NULL;
	r->account_created = 1;
	log_info("acme: account %s %s", r->resp.status == 201 ? "created" : "found", c->kid);
	next = ACME_ST_NEW_ORDER;
	goto out;
oom:
	acme_fail(r, "newAccount: out of memory");
out:
	free(payload);
	json_decref(req);
	buf_deinit(&eabjws);
	return next;
}

/* Parse r->resp as an order into r->order. */
static int acme_load_order(struct acme_run *r, const char *what)
{
	char err[256];

	acme_order_deinit(&r->order);
	if (acme_json_body(r, what) < 0)
		return -1;
	if (acme_order_parse((const char *)r->resp.body.data, r->resp.body.len, &r->order, err,
	                     sizeof(err)) < 0) {
		acme_fail(r, "%s: %s", what, err);
		return -1;
	}
	return 0;
}

/* Whether the newOrder that carried "replaces" failed for a reason that ordering without it
 * may not have: alreadyReplaced, any other client error (4xx: a CA that does not take this
 * CertID, e.g. a certificate it did not issue to this account) but rate limits, or a server
 * error that outlived its retries (Pebble 2.7 answers serverInternal for a CertID whose serial
 * has a leading zero byte, which RFC 9773 §4.1 requires). Ordering once more costs one
 * request; a renewal stuck on its "replaces" costs the certificate. */
static int acme_replaces_refused(const struct acme_run *r)
{
	long st = r->resp.status;

	if (!strcmp(r->problem_type, "alreadyReplaced") ||
	    !strcmp(r->problem_type, "serverInternal"))
		return 1;
	return st >= 400 && st < 500 && st != 429 && strcmp(r->problem_type, "rateLimited") != 0;
}

static enum acme_state acme_st_new_order(struct acme_run *r)
{
	const struct acme_config *cfg = r->c->cfg;
	json_t *req = NULL;
	char *payload = NULL;
	/* RFC 9773 §5: "replaces" only to a CA that speaks ARI */
	int replaces = r->replaces && *r->replaces && r->c->dir.renewal_info;
	enum acme_state next = ACME_ST_FAILED;

	req = json_pack("{s:[{s:s,s:s}]}", "identifiers", "type", "dns", "value", r->name);
	if (!req ||
	    (cfg->profile && json_object_set_new(req, "profile", json_string(cfg->profile)) < 0) ||
	    (replaces && json_object_set_new(req, "replaces", json_string(r->replaces)) < 0)) {
		acme_fail(r, "newOrder: out of memory");
		goto out;
	}
	payload = json_dumps(req, JSON_COMPACT);
	if (!payload) {
		acme_fail(r, "newOrder: out of memory");
		goto out;
	}
	if (acme_call(r, "newOrder", r->c->dir.new_order, 1, payload, 0) != ACME_POST_OK) {
		if (replaces && acme_replaces_refused(r)) {
			/* the certificate was replaced already (an order that ran elsewhere,
			 * alreadyReplaced/409), or this CA will not take it as replaced (not its
			 * certificate, not this account's): renewing is still wanted, just not
			 * as its replacement. Once: r->replaces is gone. */
			log_warn("acme: host=%s newOrder with replaces=%s refused: %s; ordering "
			         "again without replaces",
			         r->name, r->replaces, r->err);
			r->replaces = NULL;
			r->err[0] = 0;
			r->problem_type[0] = 0;
			r->retry_after = -1;
			next = ACME_ST_NEW_ORDER;
		}
		goto out;
	}
	if (!r->resp.location) {
		acme_fail(r, "newOrder: HTTP %ld without a Location (order URL)", r->resp.status);
		goto out;
	}
	r->order_url = r->resp.location;
	r->resp.location = NULL;
	if (acme_load_order(r, "newOrder") < 0)
		goto out;
	if (r->order.nauthz == 0 && r->order.status == ACME_STATUS_PENDING) {
		acme_fail(r, "newOrder: pending order without authorizations");
		goto out;
	}
	log_debug("acme: host=%s order %s status=%s authorizations=%zu", r->name, r->order_url,
	          acme_status_name(r->order.status), r->order.nauthz);
	r->authz_idx = 0;
	next = ACME_ST_AUTHZ;
out:
	free(payload);
	json_decref(req);
	return next;
}

/* POST-as-GET r->order.authz[r->authz_idx] into r->authz. */
static int acme_load_authz(struct acme_run *r)
{
	char err[256];

	if (acme_call(r, "authorization", r->order.authz[r->authz_idx], 1, NULL, 0) != ACME_POST_OK)
		return -1;
	acme_authz_deinit(&r->authz);
	if (acme_json_body(r, "authorization") < 0)
		return -1;
	if (acme_authz_parse_type((const char *)r->resp.body.data, r->resp.body.len,
	                          r->ops->dns_publish ? "dns-01" : "http-01", &r->authz, err,
	                          sizeof(err)) < 0) {
		acme_fail(r, "authorization: %s", err);
		return -1;
	}
	return 0;
}

/* The reason an authorization failed: its challenge's problem when there is one. */
static enum acme_state acme_authz_failed(struct acme_run *r)
{
	if (r->authz.error[0])
		return acme_fail(r, "%s", r->authz.error);
	return acme_fail(r, "authorization for %s is %s", r->authz.identifier,
	                 acme_status_name(r->authz.status));
}

static enum acme_state acme_st_authz(struct acme_run *r)
{
	if (r->authz_idx >= r->order.nauthz)
		return ACME_ST_ORDER_READY;
	if (acme_load_authz(r) < 0)
		return ACME_ST_FAILED;
	switch (r->authz.status) {
	case ACME_STATUS_VALID:
		r->authz_idx++; /* reused authorization (RFC 8555 §7.1.4) */
		return ACME_ST_AUTHZ;
	case ACME_STATUS_PENDING:
		if (!r->authz.http01_url)
			return acme_fail(r, "authorization for %s offers no %s challenge",
			                 r->authz.identifier,
			                 r->ops->dns_publish ? "dns-01" : "http-01");
		if (r->authz.http01_status == ACME_STATUS_PENDING)
			return ACME_ST_CHALLENGE;
		r->poll_wait = ACME_POLL_START; /* already answered: just wait */
		return ACME_ST_AUTHZ_POLL;
	default:
		return acme_authz_failed(r);
	}
}

static enum acme_state acme_st_challenge(struct acme_run *r)
{
	struct buf keyauth;
	char err[256];
	enum acme_state next = ACME_ST_FAILED;

	buf_init(&keyauth);
	if (r->npublished == ACME_MAX_AUTHZ) {
		acme_fail(r, "too many challenges in one order");
		goto out;
	}
	if (jws_key_authorization(r->c->key, r->authz.http01_token, &keyauth) < 0) {
		acme_fail(r, "challenge: cannot compute the key authorization");
		goto out;
	}
	if (r->ops->dns_publish) {
		r->published[r->npublished] = strdup(buf_str(&keyauth));
		r->published_id[r->npublished] = strdup(r->authz.identifier);
	} else {
		r->published[r->npublished] = strdup(r->authz.http01_token);
	}
	if (!r->published[r->npublished] ||
	    (r->ops->dns_publish && !r->published_id[r->npublished])) {
		free(r->published[r->npublished]);
		free(r->published_id[r->npublished]);
		r->published[r->npublished] = r->published_id[r->npublished] = NULL;
		acme_fail(r, "challenge: out of memory");
		goto out;
	}
	r->npublished++;
	if (r->ops->dns_publish ? r->ops->dns_publish(r->ops->arg, r->authz.identifier,
	                                              buf_str(&keyauth), err, sizeof(err)) < 0
	                        : r->ops->publish(r->ops->arg, r->authz.http01_token,
	                                          buf_str(&keyauth), err, sizeof(err)) < 0) {
		acme_fail(r, "challenge: cannot publish the key authorization: %s", err);
		goto out;
	}
	/* RFC 8555 §7.5.1: the client signals readiness by POSTing an empty object */
	if (acme_call(r, "challenge", r->authz.http01_url, 1, "{}", 0) != ACME_POST_OK)
		goto out;
	r->poll_wait = ACME_POLL_START;
	next = ACME_ST_AUTHZ_POLL;
out:
	buf_deinit(&keyauth);
	return next;
}

static enum acme_state acme_st_authz_poll(struct acme_run *r)
{
	if (acme_poll_wait(r) < 0)
		return acme_fail(r, "authorization for %s still %s at the deadline", r->name,
		                 acme_status_name(r->authz.status));
	if (acme_load_authz(r) < 0)
		return ACME_ST_FAILED;
	switch (r->authz.status) {
	case ACME_STATUS_VALID:
		r->authz_idx++;
		return ACME_ST_AUTHZ;
	case ACME_STATUS_PENDING:
		if (r->authz.http01_status == ACME_STATUS_INVALID)
			return acme_authz_failed(r);
		return ACME_ST_AUTHZ_POLL;
	default:
		return acme_authz_failed(r);
	}
}

/* POST-as-GET the order into r->order. */
static int acme_refresh_order(struct acme_run *r)
{
	if (acme_call(r, "order", r->order_url, 1, NULL, 0) != ACME_POST_OK)
		return -1;
	return acme_load_order(r, "order");
}

static enum acme_state acme_order_failed(struct acme_run *r)
{
	if (r->order.error[0])
		return acme_fail(r, "%s", r->order.error);
	return acme_fail(r, "order for %s is %s", r->name, acme_status_name(r->order.status));
}

static enum acme_state acme_st_order_ready(struct acme_run *r)
{
	/* the order we hold may already say ready (no authorization needed answering) */
	switch (r->order.status) {
	case ACME_STATUS_READY:
		return ACME_ST_FINALIZE;
	case ACME_STATUS_VALID:
	case ACME_STATUS_PROCESSING:
		return ACME_ST_ORDER_VALID;
	case ACME_STATUS_PENDING:
		break;
	default:
		return acme_order_failed(r);
	}
	if (acme_refresh_order(r) < 0)
		return ACME_ST_FAILED;
	if (r->order.status == ACME_STATUS_PENDING) {
		if (acme_poll_wait(r) < 0)
			return acme_fail(r, "order for %s still pending at the deadline", r->name);
	}
	return ACME_ST_ORDER_READY;
}

static enum acme_state acme_st_finalize(struct acme_run *r)
{
	struct buf csr;
	json_t *req = NULL;
	char *payload = NULL;
	enum acme_state next = ACME_ST_FAILED;

	buf_init(&csr);
	if (jws_csr(r->cert_key, r->name, &csr) < 0) {
		acme_fail(r, "finalize: cannot make the CSR");
		goto out;
	}
	req = json_pack("{s:s}", "csr", buf_str(&csr));
	payload = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (!payload) {
		acme_fail(r, "finalize: out of memory");
		goto out;
	}
	if (acme_call(r, "finalize", r->order.finalize, 1, payload, 0) != ACME_POST_OK)
		goto out;
	if (acme_load_order(r, "finalize") < 0)
		goto out;
	r->poll_wait = ACME_POLL_START;
	next = ACME_ST_ORDER_VALID;
out:
	free(payload);
	json_decref(req);
	buf_deinit(&csr);
	return next;
}

static enum acme_state acme_st_order_valid(struct acme_run *r)
{
	switch (r->order.status) {
	case ACME_STATUS_VALID:
		if (!r->order.certificate)
			return acme_fail(r, "order for %s is valid without a certificate URL",
			                 r->name);
		return ACME_ST_DOWNLOAD;
	case ACME_STATUS_PROCESSING:
	case ACME_STATUS_READY: /* finalize accepted but not started yet */
		break;
	default:
		return acme_order_failed(r);
	}
	if (acme_poll_wait(r) < 0)
		return acme_fail(r, "order for %s still %s at the deadline", r->name,
		                 acme_status_name(r->order.status));
	if (acme_refresh_order(r) < 0)
		return ACME_ST_FAILED;
	return ACME_ST_ORDER_VALID;
}

static enum acme_state acme_st_download(struct acme_run *r)
{
	struct acme_order_result *res = r->res;
	const char *ct = r->resp.content_type;
	static const char begin[] = "-----BEGIN CERTIFICATE-----";

	if (acme_call(r, "certificate", r->order.certificate, 1, NULL, 0) != ACME_POST_OK)
		return ACME_ST_FAILED;
	ct = r->resp.content_type;
	if (ct && strcmp(ct, "application/pem-certificate-chain") != 0)
		return acme_fail(r, "certificate: unexpected Content-Type %s", ct);
	if (r->resp.body.len < sizeof(begin) ||
	    memcmp(r->resp.body.data, begin, sizeof(begin) - 1) != 0)
		return acme_fail(r, "certificate: the body is not a PEM certificate chain");
	if (jws_key_matches_cert(r->cert_key, r->resp.body.data, r->resp.body.len) != 1)
		return acme_fail(r, "certificate: the leaf does not match the key of the CSR");
	buf_reset(&res->chain);
	if (buf_append(&res->chain, r->resp.body.data, r->resp.body.len) < 0)
		return acme_fail(r, "certificate: out of memory");
	return ACME_ST_DONE;
}

static acme_step_fn *const acme_steps[ACME_ST_COUNT] = {
	[ACME_ST_DIRECTORY] = acme_st_directory,     [ACME_ST_ACCOUNT] = acme_st_account,
	[ACME_ST_NEW_ORDER] = acme_st_new_order,     [ACME_ST_AUTHZ] = acme_st_authz,
	[ACME_ST_CHALLENGE] = acme_st_challenge,     [ACME_ST_AUTHZ_POLL] = acme_st_authz_poll,
	[ACME_ST_ORDER_READY] = acme_st_order_ready, [ACME_ST_FINALIZE] = acme_st_finalize,
	[ACME_ST_ORDER_VALID] = acme_st_order_valid, [ACME_ST_DOWNLOAD] = acme_st_download,
};

/* Drive the machine from <st> until DONE, FAILED or <until>. Returns the final state. */
static enum acme_state acme_drive(struct acme_run *r, enum acme_state st, enum acme_state until)
{
	while (st != until && st != ACME_ST_DONE && st != ACME_ST_FAILED) {
		log_debug("acme: host=%s state=%s", r->name ? r->name : "-", acme_state_names[st]);
		st = acme_steps[st](r);
	}
	return st;
}

static void acme_run_init(struct acme_run *r, struct acme_client *c, char *err)
{
	memset(r, 0, sizeof(*r));
	r->c = c;
	r->err = err;
	r->retry_after = -1;
	r->poll_wait = ACME_POLL_START;
	r->deadline =
	        clock_mono_ms() + (c->cfg->deadline_ms > 0 ? c->cfg->deadline_ms : 5 * 60 * 1000);
	http_response_init(&r->resp);
}

static void acme_run_deinit(struct acme_run *r)
{
	size_t i;

	for (i = 0; i < r->npublished; i++) {
		if (r->ops->dns_publish)
			r->ops->dns_withdraw(r->ops->arg, r->published_id[i], r->published[i]);
		else
			r->ops->withdraw(r->ops->arg, r->published[i]);
		free(r->published[i]);
		free(r->published_id[i]);
	}
	free(r->order_url);
	acme_order_deinit(&r->order);
	acme_authz_deinit(&r->authz);
	http_response_deinit(&r->resp);
}

struct acme_client *acme_client_new(const struct acme_config *cfg, char *err, size_t errsz)
{
	struct acme_client *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	c->cfg = cfg;
	c->http = http_client_new(&cfg->http, err, errsz);
	if (!c->http) {
		free(c);
		return NULL;
	}
	return c;
}

void acme_client_free(struct acme_client *c)
{
	if (!c)
		return;
	http_client_free(c->http);
	acme_directory_deinit(&c->dir);
	free(c->nonce);
	jws_key_free(c->key);
	free(c->kid);
	free(c);
}

int acme_client_set_account(struct acme_client *c, struct jws_key *key, const char *kid)
{
	struct jws_key *k = jws_key_ref(key);
	char *u = kid ? strdup(kid) : NULL;

	if (!k || (kid && !u)) {
		jws_key_free(k);
		free(u);
		return -1;
	}
	jws_key_free(c->key);
	free(c->kid);
	c->key = k;
	c->kid = u;
	return 0;
}

struct jws_key *acme_client_account_key(const struct acme_client *c)
{
	return c->key;
}

const char *acme_client_account_url(const struct acme_client *c)
{
	return c->kid;
}

int acme_account(struct acme_client *c, enum jws_alg new_key_alg, int *created, char *err,
                 size_t errsz)
{
	char reason[ACME_ERR_MAX] = "";
	struct acme_run r;
	enum acme_state st;

	acme_run_init(&r, c, reason);
	r.new_key_alg = new_key_alg;
	r.verify_account = 1;
	st = acme_drive(&r, ACME_ST_DIRECTORY, ACME_ST_NEW_ORDER);
	*created = r.account_created;
	acme_run_deinit(&r);
	if (st != ACME_ST_NEW_ORDER) {
		snprintf(err, errsz, "%s", reason);
		return -1;
	}
	return 0;
}

void acme_order_result_init(struct acme_order_result *r)
{
	buf_init(&r->chain);
	r->error[0] = 0;
	r->retry_after = -1;
}

void acme_order_result_deinit(struct acme_order_result *r)
{
	buf_deinit(&r->chain);
}

int acme_order(struct acme_client *c, const char *name, const char *replaces,
               const struct jws_key *cert_key, const struct acme_chal_ops *ops,
               struct acme_order_result *res)
{
	struct acme_run r;
	enum acme_state st;

	res->error[0] = 0;
	res->retry_after = -1;
	acme_run_init(&r, c, res->error);
	r.name = name;
	r.replaces = replaces;
	r.cert_key = cert_key;
	r.ops = ops;
	r.res = res;
	if (!c->key || !c->kid) {
		acme_fail(&r, "no ACME account (acme_account() first)");
		st = ACME_ST_FAILED;
	} else {
		st = acme_drive(&r, c->have_dir ? ACME_ST_NEW_ORDER : ACME_ST_DIRECTORY,
		                ACME_ST_COUNT);
	}
	res->retry_after = r.retry_after;
	acme_run_deinit(&r);
	return st == ACME_ST_DONE ? 0 : -1;
}

int acme_renewal_info(struct acme_client *c, const char *cert_id, struct ari_window *w,
                      long long *retry_after, char *err, size_t errsz)
{
	char reason[ACME_ERR_MAX] = "";
	struct acme_run r;
	struct buf url;
	const char *why;
	int ret = -1;

	*retry_after = -1;
	buf_init(&url);
	acme_run_init(&r, c, reason);
	if (!c->have_dir && acme_drive(&r, ACME_ST_DIRECTORY, ACME_ST_ACCOUNT) != ACME_ST_ACCOUNT)
		goto out;
	if (!c->dir.renewal_info) {
		ret = 0;
		goto out;
	}
	/* CertID: base64url "." base64url, nothing that could reshape the URL */
	if (!cert_id || !*cert_id ||
	    strspn(cert_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") !=
	            strlen(cert_id) ||
	    ari_url(c->dir.renewal_info, cert_id, &url) < 0) {
		acme_fail(&r, "renewalInfo: invalid CertID");
		goto out;
	}
	/* RFC 9773 §4.1: a plain GET, no JWS, no nonce */
	if (acme_call(&r, "renewalInfo", buf_str(&url), 0, NULL, 0) != ACME_POST_OK ||
	    acme_json_body(&r, "renewalInfo") < 0)
		goto out;
	if (ari_parse((const char *)r.resp.body.data, r.resp.body.len, w, &why) < 0) {
		acme_fail(&r, "renewalInfo %s: %s", buf_str(&url), why);
		goto out;
	}
	*retry_after = r.resp.retry_after;
	ret = 1;
out:
	if (ret < 0)
		snprintf(err, errsz, "%s", reason);
	buf_deinit(&url);
	acme_run_deinit(&r);
	return ret;
}

int acme_revoke_cert(struct acme_client *c, const uint8_t *der, size_t der_len, int reason,
                     long long *retry_after, char *err, size_t errsz)
{
	char reason_txt[ACME_ERR_MAX] = "";
	struct acme_run r;
	struct buf b64;
	json_t *req = NULL;
	char *payload = NULL;
	int ret = -1;

	*retry_after = -1;
	buf_init(&b64);
	acme_run_init(&r, c, reason_txt);
	if (!c->key || !c->kid) {
		acme_fail(&r, "revokeCert: no ACME account (acme_account() first)");
		goto out;
	}
	if (!der_len || reason < 0 || reason > 10) {
		acme_fail(&r, "revokeCert: no certificate or a bad reason code");
		goto out;
	}
	if (!c->have_dir && acme_drive(&r, ACME_ST_DIRECTORY, ACME_ST_ACCOUNT) != ACME_ST_ACCOUNT)
		goto out;
	if (!c->dir.revoke_cert) {
		acme_fail(&r, "revokeCert: %s offers no revokeCert resource",
		          c->cfg->directory_url);
		goto out;
	}
	/* RFC 8555 §7.6: base64url DER of the certificate and a CRL reason code, signed with
	 * the account key ("kid") */
	if (b64url_encode(&b64, der, der_len) < 0 ||
	    !(req = json_pack("{s:s,s:i}", "certificate", buf_str(&b64), "reason", reason)) ||
	    !(payload = json_dumps(req, JSON_COMPACT))) {
		acme_fail(&r, "revokeCert: out of memory");
		goto out;
	}
	if (acme_call(&r, "revokeCert", c->dir.revoke_cert, 1, payload, 0) == ACME_POST_OK) {
		ret = 0;
		goto out;
	}
	if (!strcmp(r.problem_type, "alreadyRevoked")) {
		log_info("acme: revokeCert: %s (counted as revoked)", reason_txt);
		ret = 0;
		goto out;
	}
	*retry_after = r.retry_after;
out:
	if (ret < 0)
		snprintf(err, errsz, "%s", reason_txt);
	free(payload);
	json_decref(req);
	buf_deinit(&b64);
	acme_run_deinit(&r);
	return ret;
}
