// SPDX-License-Identifier: MIT
/*
 * The hostname API over evhttp. Routing, authentication, body limits and JSON mapping live
 * here; what a request does is hosts.c's, how Redis is spoken is store.c's, the metrics text is
 * pmetrics.c's.
 */
#include "cert-pusher/api/api.h"
#include "cert-pusher/api/exposition.h"
#include "cert-pusher/api/host_json.h"
#include "cert-pusher/api/status_page.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cert-pusher/issuer/dns01.h"
#include "cert-pusher/issuer/dnsgate.h"
#include "cert-pusher/hosts.h"
#include "cert-pusher/pmetrics.h"
#include "cert-pusher/edge/served.h"
#include "common/file.h"
#include "common/log.h"
#include "common/parse.h"

#define API_HEALTH_REDIS_MS 500

struct api {
	struct evhttp *http;
	const struct conf *conf; /* borrowed */
	char *prefix;
	struct store *store;  /* NULL while Redis is unreachable; reopened per request */
	char *preview_domain; /* or NULL */
	unsigned char token_hash[SHA256_DIGEST_LENGTH];
	unsigned char read_hash[SHA256_DIGEST_LENGTH]; /* --api-read-token-file's */
	int have_read_token;
};

/* ---- configuration ---- */

/* Read and hash the bearer token of option <opt> ("api-token-file", "api-read-token-file").
 * 0 or -1 with <err>. */
static int api_load_token(const struct conf *conf, const char *opt,
                          unsigned char hash[SHA256_DIGEST_LENGTH], char *err, size_t errsz)
{
	const char *path = conf_get(conf, opt);
	struct buf tok;
	char ferr[400];
	size_t i;
	int ret = -1;

	buf_init(&tok);
	if (!path) {
		snprintf(err, errsz,
		         "--api-token-file: required with the API (a file of mode 0600 "
		         "holding the bearer token)");
		goto out;
	}
	if (file_read(path, 4096, 1, &tok, ferr, sizeof(ferr)) < 0) {
		snprintf(err, errsz, "--%s: %s", opt, ferr);
		goto out;
	}
	file_chomp(&tok);
	if (tok.len < API_TOKEN_MIN) {
		snprintf(err, errsz, "--%s: %s: the token has %zu bytes; expected at least %d", opt,
		         path, tok.len, API_TOKEN_MIN);
		goto out;
	}
	for (i = 0; i < tok.len; i++) {
		if (tok.data[i] <= ' ' || tok.data[i] >= 0x7f) {
			snprintf(err, errsz,
			         "--%s: %s: the token must be printable ASCII without "
			         "spaces",
			         opt, path);
			goto out;
		}
	}
	SHA256(tok.data, tok.len, hash);
	ret = 0;
out:
	buf_wipe(&tok);
	return ret;
}

int api_check_conf(const struct conf *conf, char *err, size_t errsz)
{
	const char *listen = conf_get_def(conf, "api", API_DEFAULT_LISTEN);
	const char *domain = conf_get(conf, "preview-domain");
	unsigned char hash[SHA256_DIGEST_LENGTH];
	struct endpoint ep;
	const char *why;

	if (parse_endpoint(listen, &ep, &why) < 0 || ep.is_unix) {
		snprintf(err, errsz, "--api: '%s': %s", listen,
		         ep.is_unix ? "expected ADDR:PORT (TCP)" : why);
		return -1;
	}
	if (domain && !hosts_preview_domain_valid(domain, &why)) {
		snprintf(err, errsz, "--preview-domain: '%s': %s", domain, why);
		return -1;
	}
	if (served_live_window(conf_get(conf, "edge-live-window"), &(long long){ 0 }) < 0) {
		snprintf(err, errsz, "--edge-live-window: '%s' is not a duration of 1s..24h",
		         conf_get(conf, "edge-live-window"));
		return -1;
	}
	if (api_load_token(conf, "api-token-file", hash, err, errsz) < 0)
		return -1;
	if (conf_get(conf, "api-read-token-file") &&
	    api_load_token(conf, "api-read-token-file", hash, err, errsz) < 0)
		return -1;
	OPENSSL_cleanse(hash, sizeof(hash));
	return 0;
}

/* ---- replies ---- */

static const char *api_title(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Entity";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

static const char *api_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	default:
		return api_title(status);
	}
}

/* Send <status> with JSON <body> (stolen; NULL for no body) or raw <text>. */
static void api_send(struct evhttp_request *req, int status, json_t *body, const char *ctype,
                     const char *text, size_t text_len)
{
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char *dump = NULL;

	if (body) {
		dump = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		if (dump && out) {
			evbuffer_add(out, dump, strlen(dump));
			evbuffer_add(out, "\n", 1);
		}
		ctype = "application/vnd.api+json";
	} else if (text && out) {
		evbuffer_add(out, text, text_len);
	}
	if (ctype)
		evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	pmetrics_api_request(status);
	evhttp_send_reply(req, status, api_reason(status), out);
	free(dump);
	if (out)
		evbuffer_free(out);
}

static void api_error(struct evhttp_request *req, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void api_error(struct evhttp_request *req, int status, const char *fmt, ...)
{
	char detail[1024], st[8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(st, sizeof(st), "%d", status);
	log_debug("api: %.200s -> %d %s", evhttp_request_get_uri(req), status, detail);
	api_send(req, status,
	         json_pack("{s:[{s:s,s:s,s:s}]}", "errors", "status", st, "title",
	                   api_title(status), "detail", detail),
	         NULL, NULL, 0);
}

/* Load the served view of <hosts>/<n> into <v>; NULL (logged) when Redis could not be read. */
static struct served_view *api_served(struct api *a, struct store *st,
                                      const struct hosts_info *hosts, size_t n,
                                      struct served_view *v)
{
	const char **names = calloc(n + 1, sizeof(*names));
	long long window = 120;
	char err[512];
	size_t i;
	int rc = -1;

	if (names) {
		for (i = 0; i < n; i++)
			names[i] = hosts[i].name;
		(void)served_live_window(conf_get(a->conf, "edge-live-window"), &window);
		rc = served_view_load(st, names, n, (long long)time(NULL), window, v, err,
		                      sizeof(err));
		if (rc < 0)
			log_warn("api: served: %s", err);
	}
	free(names);
	return rc == 0 ? v : NULL;
}

/* ---- plumbing ---- */

/* The store, reconnecting when needed; NULL after answering 503. */
static struct store *api_store(struct api *a, struct evhttp_request *req)
{
	char err[512];

	if (!a->store)
		a->store = store_open(a->conf, a->prefix, err, sizeof(err));
	if (!a->store) {
		log_warn("api: %s", err);
		api_error(req, 503, "Redis is unavailable");
	}
	return a->store;
}

/* Map a hosts.c failure to its HTTP error. */
static void api_hosts_error(struct evhttp_request *req, enum hosts_status st, const char *err)
{
	switch (st) {
	case HOSTS_EXISTS:
		api_error(req, 409, "%s", err);
		break;
	case HOSTS_INVALID:
		api_error(req, 422, "data.attributes.hostname: %s", err);
		break;
	case HOSTS_NOT_FOUND:
		api_error(req, 404, "%s", err);
		break;
	case HOSTS_CONFLICT:
		api_error(req, 409, "%s", err);
		break;
	default:
		log_warn("api: %s", err);
		api_error(req, 503, "Redis is unavailable: %s", err);
	}
}

/* What the request's bearer token allows: API_AUTH_FULL (--api-token-file's), API_AUTH_READ
 * (--api-read-token-file's: GET and HEAD only), or API_AUTH_NONE after answering 401. */
enum api_auth { API_AUTH_NONE = 0, API_AUTH_READ, API_AUTH_FULL };

static enum api_auth api_authorized(struct api *a, struct evhttp_request *req)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	unsigned char hash[SHA256_DIGEST_LENGTH];
	enum api_auth level = API_AUTH_NONE;

	if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		                  "Bearer realm=\"cert-pusher\"");
		api_error(req, 401, "missing bearer token (Authorization: Bearer <token>)");
		return API_AUTH_NONE;
	}
	h += 7;
	while (*h == ' ')
		h++;
	/* Compare digests: constant time whatever the length of what was sent. */
	SHA256((const unsigned char *)h, strlen(h), hash);
	if (CRYPTO_memcmp(hash, a->token_hash, sizeof(hash)) == 0)
		level = API_AUTH_FULL;
	else if (a->have_read_token && CRYPTO_memcmp(hash, a->read_hash, sizeof(hash)) == 0)
		level = API_AUTH_READ;
	OPENSSL_cleanse(hash, sizeof(hash));
	if (level == API_AUTH_NONE) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		                  "Bearer realm=\"cert-pusher\", error=\"invalid_token\"");
		api_error(req, 401, "invalid bearer token");
	}
	return level;
}

static void api_method_not_allowed(struct evhttp_request *req, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
	api_error(req, 405, "method not allowed; allowed: %s", allow);
}

/* ---- handlers ---- */

/* DELETE's query: "revoke=true|false" (also 1|0), nothing else. 1 revoke, 0 not, -1 after
 * answering 422. */
static int api_delete_revoke(struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq kv;
	struct evkeyval *e;
	int revoke = 0, seen = 0;

	if (!q || !*q)
		return 0;
	kv.tqh_first = NULL; /* TAILQ_INIT without <sys/queue.h> */
	kv.tqh_last = &kv.tqh_first;
	if (evhttp_parse_query_str(q, &kv) < 0) {
		api_error(req, 422, "unparsable query string");
		revoke = -1;
		goto out;
	}
	for (e = kv.tqh_first; e; e = e->next.tqe_next) {
		if (strcmp(e->key, "revoke") != 0 || seen++) {
			api_error(req, 422,
			          "unknown or repeated query parameter '%.64s'; DELETE takes "
			          "revoke=true or revoke=false",
			          e->key);
			revoke = -1;
			goto out;
		}
		if (!strcmp(e->value, "true") || !strcmp(e->value, "1")) {
			revoke = 1;
		} else if (strcmp(e->value, "false") != 0 && strcmp(e->value, "0") != 0) {
			api_error(req, 422, "revoke: '%.64s' is not true or false", e->value);
			revoke = -1;
			goto out;
		}
	}
out:
	evhttp_clear_headers(&kv);
	return revoke;
}

/* A wildcard is accepted only when DNS-01 can validate it: in the zone the issuer updates, or
 * delegated to it by a CNAME (dns01.h). Answers the request and returns 1 when it refuses
 * <name>; 0 for every other name. The delegation check asks the resolver (blocking, a few
 * seconds at worst, on the API's own loop). */
static int api_wildcard_refused(struct api *a, struct evhttp_request *req, const char *name)
{
	char msg[768];
	int rc;

	if (!(name[0] == '*' && name[1] == '.'))
		return 0;
	if (strlen(name) > NAMES_HOSTNAME_MAX) {
		api_error(req, 422, "data.attributes.hostname: longer than %d characters",
		          NAMES_HOSTNAME_MAX);
		return 1;
	}
	rc = dns01_wildcard_allowed(a->conf, name, msg, sizeof(msg));
	if (rc == 1)
		return 0;
	if (rc == 0)
		api_error(req, 422, "data.attributes.hostname: %s: %s", name, msg);
	else
		api_error(req, 503, "%s: %s", name, msg);
	return 1;
}

static void api_create(struct api *a, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	json_t *root = NULL, *data, *type, *attrs, *hn, *skip;
	struct hosts_info info;
	json_error_t jerr;
	struct store *st;
	enum hosts_status hs;
	char err[512], loc[sizeof(API_PREFIX) + NAMES_HOSTNAME_MAX + 2];
	size_t len = evbuffer_get_length(in), ctlen;
	const char *body;

	if (len > API_BODY_MAX) {
		api_error(req, 413, "request body of %zu bytes; at most %d", len, API_BODY_MAX);
		goto out;
	}
	ctlen = ct ? strcspn(ct, "; \t") : 0;
	if (!ct || !((ctlen == 16 && !strncasecmp(ct, "application/json", 16)) ||
	             (ctlen == 24 && !strncasecmp(ct, "application/vnd.api+json", 24)))) {
		api_error(req, 415,
		          "Content-Type must be application/vnd.api+json or "
		          "application/json");
		goto out;
	}
	body = (const char *)evbuffer_pullup(in, -1);
	root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		api_error(req, 400, "malformed JSON: %s (line %d, column %d)", jerr.text, jerr.line,
		          jerr.column);
		goto out;
	}
	data = json_object_get(root, "data");
	if (!json_is_object(data)) {
		api_error(req, 422, "data: expected an object");
		goto out;
	}
	type = json_object_get(data, "type");
	if (type && !(json_is_string(type) && !strcmp(json_string_value(type), "hostnames"))) {
		api_error(req, 422, "data.type: expected \"hostnames\"");
		goto out;
	}
	attrs = json_object_get(data, "attributes");
	hn = json_object_get(attrs, "hostname");
	if (!json_is_object(attrs) || !json_is_string(hn)) {
		api_error(req, 422, "data.attributes.hostname: expected a string");
		goto out;
	}
	if (strlen(json_string_value(hn)) != json_string_length(hn)) {
		api_error(req, 422, "data.attributes.hostname: contains a NUL character");
		goto out;
	}
	skip = json_object_get(attrs, "skip_dns_check");
	if (skip && !json_is_boolean(skip)) {
		api_error(req, 422, "data.attributes.skip_dns_check: expected true or false");
		goto out;
	}
	if (api_wildcard_refused(a, req, json_string_value(hn)))
		goto out;
	st = api_store(a, req);
	if (!st)
		goto out;
	hs = hosts_add(st, json_string_value(hn), a->preview_domain, &info, err, sizeof(err));
	if (hs != HOSTS_OK) {
		api_hosts_error(req, hs, err);
		goto out;
	}
	if (dnsgate_mark_new(a->conf, st, &info, json_is_true(skip), err, sizeof(err)) < 0)
		log_warn("api: host=%s: %s", info.name, err);
	log_info("api: host=%s added%s%s", info.name, *info.preview ? " preview=" : "",
	         info.preview);
	snprintf(loc, sizeof(loc), API_PREFIX "/%s", info.name);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Location", loc);
	api_send(req, 201, json_pack("{s:o}", "data", host_json(&info)), NULL, NULL, 0);
out:
	json_decref(root);
}

/* The list's query: "state=S[,S...]" (repeatable; names of hosts_state_name()) into <mask>
 * (bit per state; all when absent). 0, or -1 after answering 400: an unknown parameter or state
 * is refused, never ignored. */
static int api_list_filter(struct evhttp_request *req, unsigned *mask)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq kv;
	struct evkeyval *e;
	char one[32];
	int ret = 0;

	*mask = ~0u;
	if (!q || !*q)
		return 0;
	kv.tqh_first = NULL; /* TAILQ_INIT without <sys/queue.h> */
	kv.tqh_last = &kv.tqh_first;
	if (evhttp_parse_query_str(q, &kv) < 0) {
		api_error(req, 400, "unparsable query string");
		ret = -1;
		goto out;
	}
	*mask = 0;
	for (e = kv.tqh_first; e; e = e->next.tqe_next) {
		const char *v = e->value;

		if (strcmp(e->key, "state") != 0) {
			api_error(req, 400,
			          "unknown query parameter '%.64s'; the list takes "
			          "state=STATE[,STATE...]",
			          e->key);
			ret = -1;
			goto out;
		}
		do {
			size_t n = strcspn(v, ",");
			int st = -1;

			if (n < sizeof(one)) {
				memcpy(one, v, n);
				one[n] = 0;
				st = hosts_state_parse(one);
			}
			if (st < 0) {
				api_error(req, 400,
				          "state: '%.*s' is not a state (pending, issuing, valid, "
				          "renewing, failed, removing, awaiting-dns)",
				          (int)(n > 64 ? 64 : n), v);
				ret = -1;
				goto out;
			}
			*mask |= 1u << st;
			v += n;
		} while (*v++ == ',');
	}
out:
	evhttp_clear_headers(&kv);
	return ret;
}

static void api_list(struct api *a, struct evhttp_request *req)
{
	struct served_view view, *sv;
	struct hosts_info *arr = NULL;
	struct store *st;
	json_t *list;
	char err[512];
	size_t i, n, kept;
	unsigned mask;
	enum hosts_status hs;

	if (api_list_filter(req, &mask) < 0)
		return;
	st = api_store(a, req);
	if (!st)
		return;
	hs = hosts_list(st, &arr, &n, err, sizeof(err));
	if (hs != HOSTS_OK) {
		api_hosts_error(req, hs, err);
		return;
	}
	for (i = kept = 0; i < n; i++)
		if (mask & (1u << arr[i].state))
			arr[kept++] = arr[i];
	n = kept;
	sv = api_served(a, st, arr, n, &view);
	list = json_array();
	for (i = 0; list && i < n; i++) {
		json_t *o = host_json(&arr[i]);

		host_json_edges(o, sv, i, &arr[i], (long long)time(NULL));
		json_array_append_new(list, o);
	}
	if (sv)
		served_view_free(sv);
	free(arr);
	api_send(req, 200, json_pack("{s:o,s:{s:I}}", "data", list, "meta", "count", (json_int_t)n),
	         NULL, NULL, 0);
}

static void api_one(struct api *a, struct evhttp_request *req, const char *name, int method)
{
	struct served_view view, *sv;
	json_t *obj;
	struct hosts_info info;
	struct store *st;
	enum hosts_status hs;
	char err[512];

	st = api_store(a, req);
	if (!st)
		return;
	if (method == EVHTTP_REQ_DELETE) {
		int revoke = api_delete_revoke(req);

		if (revoke < 0)
			return;
		hs = revoke ? hosts_remove_revoke(st, name, err, sizeof(err))
		            : hosts_remove(st, name, err, sizeof(err));
		if (hs == HOSTS_OK) {
			log_info("api: host=%s removed", name);
			api_send(req, 204, NULL, NULL, NULL, 0);
			return;
		}
		if (hs != HOSTS_DEFERRED) {
			api_hosts_error(req, hs, err);
			return;
		}
		log_info("api: host=%s removal %s", name,
		         revoke ? "with revocation handed to the issuer"
		                : "deferred to the issuer holding its lock");
	}
	hs = hosts_get(st, name, &info, err, sizeof(err));
	if (hs != HOSTS_OK) {
		api_hosts_error(req, hs, err);
		return;
	}
	obj = host_json(&info);
	if (method == EVHTTP_REQ_GET) {
		sv = api_served(a, st, &info, 1, &view);
		host_json_edges(obj, sv, 0, &info, (long long)time(NULL));
		if (sv)
			served_view_free(sv);
	}
	api_send(req, method == EVHTTP_REQ_DELETE ? 202 : 200, json_pack("{s:o}", "data", obj),
	         NULL, NULL, 0);
}

static void api_renew(struct api *a, struct evhttp_request *req, const char *name)
{
	struct hosts_info info;
	struct store *st;
	enum hosts_status hs;
	char err[512];

	st = api_store(a, req);
	if (!st)
		return;
	hs = hosts_renew(st, name, err, sizeof(err));
	if (hs == HOSTS_OK)
		hs = hosts_get(st, name, &info, err, sizeof(err));
	if (hs != HOSTS_OK) {
		api_hosts_error(req, hs, err);
		return;
	}
	log_info("api: host=%s renewal asked", name);
	api_send(req, 202, json_pack("{s:o}", "data", host_json(&info)), NULL, NULL, 0);
}

static void api_metrics(struct api *a, struct evhttp_request *req)
{
	struct served_view view, *sv;
	struct hosts_info *arr = NULL;
	struct buf out;
	char err[512];
	size_t n = 0;
	int have = 0;

	buf_init(&out);
	if (!a->store)
		a->store = store_open(a->conf, a->prefix, err, sizeof(err));
	if (a->store && hosts_list(a->store, &arr, &n, err, sizeof(err)) == HOSTS_OK)
		have = 1;
	sv = have ? api_served(a, a->store, arr, n, &view) : NULL;
	if (pmetrics_render(&out) < 0 ||
	    exposition_hosts(&out, have ? arr : NULL, n, (long long)time(NULL)) < 0 ||
	    exposition_edges(&out, sv, arr, n, (long long)time(NULL)) < 0)
		api_error(req, 503, "out of memory");
	else
		api_send(req, 200, NULL, "text/plain; version=0.0.4", buf_str(&out), out.len);
	if (sv)
		served_view_free(sv);
	free(arr);
	buf_deinit(&out);
}

/* No token: Redis (a short timeout: an unauthenticated probe must not queue the API's other
 * requests behind a Redis that is away; the API has its own loop and thread, run.c), then every
 * role's check (the loader: HAProxy and what it holds). 200 when all are healthy, else 503; the
 * body says each. */
static void api_healthz(struct api *a, struct evhttp_request *req)
{
	json_t *checks = json_object();
	const char *name;
	const char *why = NULL;
	char err[512], what[256], detail[300];
	size_t i;
	int ok = 1;

	if (!a->store)
		a->store = store_open_timeout(a->conf, a->prefix, API_HEALTH_REDIS_MS, err,
		                              sizeof(err));
	if (!a->store || store_ping(a->store, err, sizeof(err)) < 0) {
		ok = 0;
		why = "Redis is unavailable";
		json_object_set_new(checks, "redis", json_string("unavailable"));
	} else {
		json_object_set_new(checks, "redis", json_string("ok"));
	}
	for (i = 0; i < pmetrics_health_count(); i++) {
		int h = pmetrics_health_run(i, &name, what, sizeof(what));

		ok &= h;
		if (!h && !why) {
			snprintf(detail, sizeof(detail), "%s: %s", name, what);
			why = detail;
		}
		json_object_set_new(checks, name, json_pack("{s:b,s:s}", "ok", h, "state", what));
	}
	if (!ok) {
		/* The error shape every other answer uses, plus the checks. */
		json_t *body =
		        json_pack("{s:[{s:s,s:s,s:s}],s:o}", "errors", "status", "503", "title",
		                  "Service Unavailable", "detail", why, "checks", checks);
		api_send(req, 503, body, NULL, NULL, 0);
		return;
	}
	api_send(req, 200, json_pack("{s:s,s:o}", "status", "ok", "checks", checks), NULL, NULL, 0);
}

/* GET /: the status page (status_page.h). The page is static (no data, no token in it): its
 * script asks the API with the token it is given (the URL's #token=... fragment, which the
 * browser never sends, or the form), so a navigation needs no Authorization header. */
static void api_status_page(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Security-Policy",
	                  "default-src 'none'; script-src 'unsafe-inline'; style-src "
	                  "'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; "
	                  "form-action 'none'; frame-ancestors 'none'");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	api_send(req, 200, NULL, "text/html; charset=utf-8", (const char *)status_page_html,
	         status_page_html_len);
}

static void api_route(struct evhttp_request *req, void *arg)
{
	struct api *a = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	int m = evhttp_request_get_command(req);
	char name[NAMES_HOSTNAME_MAX + 2];
	const char *rest, *slash;
	enum api_auth auth;
	size_t nlen;

	if (!path) {
		api_error(req, 400, "unparsable request target");
		return;
	}
	/* HEAD is GET without the body (evhttp drops it): same status and headers. */
	if (m == EVHTTP_REQ_HEAD)
		m = EVHTTP_REQ_GET;
	if (!strcmp(path, "/healthz")) {
		if (m == EVHTTP_REQ_GET)
			api_healthz(a, req);
		else
			api_method_not_allowed(req, "GET, HEAD");
		return;
	}
	if (!strcmp(path, "/")) {
		if (m == EVHTTP_REQ_GET)
			api_status_page(req);
		else
			api_method_not_allowed(req, "GET, HEAD");
		return;
	}
	auth = api_authorized(a, req);
	if (auth == API_AUTH_NONE)
		return;
	if (auth == API_AUTH_READ && m != EVHTTP_REQ_GET) {
		api_error(req, 403,
		          "the read-only token (--api-read-token-file) allows GET and HEAD");
		return;
	}
	if (!strcmp(path, "/metrics")) {
		if (m == EVHTTP_REQ_GET)
			api_metrics(a, req);
		else
			api_method_not_allowed(req, "GET, HEAD");
		return;
	}
	if (!strcmp(path, API_PREFIX) || !strcmp(path, API_PREFIX "/")) {
		if (m == EVHTTP_REQ_GET)
			api_list(a, req);
		else if (m == EVHTTP_REQ_POST)
			api_create(a, req);
		else
			api_method_not_allowed(req, "GET, HEAD, POST");
		return;
	}
	if (strncmp(path, API_PREFIX "/", sizeof(API_PREFIX)) != 0) {
		api_error(req, 404, "no such resource: %.200s", path);
		return;
	}
	rest = path + sizeof(API_PREFIX);
	slash = strchr(rest, '/');
	nlen = slash ? (size_t)(slash - rest) : strlen(rest);
	if (nlen == 0 || nlen > NAMES_HOSTNAME_MAX) {
		api_error(req, 404, "no such hostname");
		return;
	}
	memcpy(name, rest, nlen);
	name[nlen] = 0;
	if (!slash) {
		if (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_DELETE)
			api_one(a, req, name, m);
		else
			api_method_not_allowed(req, "GET, HEAD, DELETE");
		return;
	}
	if (!strcmp(slash, "/renew")) {
		if (m == EVHTTP_REQ_POST)
			api_renew(a, req, name);
		else
			api_method_not_allowed(req, "POST");
		return;
	}
	api_error(req, 404, "no such resource: %.200s", path);
}

/* ---- lifecycle ---- */

struct api *api_new(struct event_base *base, const struct conf *conf, const char *prefix, char *err,
                    size_t errsz)
{
	const char *listen = conf_get_def(conf, "api", API_DEFAULT_LISTEN);
	const char *domain = conf_get(conf, "preview-domain");
	struct endpoint ep;
	struct api *a;
	char serr[512];

	if (api_check_conf(conf, err, errsz) < 0)
		return NULL;
	(void)parse_endpoint(listen, &ep, &(const char *){ NULL });
	a = calloc(1, sizeof(*a));
	if (!a || !(a->prefix = strdup(prefix)) ||
	    (domain && !(a->preview_domain = strdup(domain))))
		goto oom;
	a->conf = conf;
	if (api_load_token(conf, "api-token-file", a->token_hash, err, errsz) < 0)
		goto fail;
	if (conf_get(conf, "api-read-token-file")) {
		if (api_load_token(conf, "api-read-token-file", a->read_hash, err, errsz) < 0)
			goto fail;
		a->have_read_token = 1;
	}
	a->http = evhttp_new(base);
	if (!a->http)
		goto oom;
	/* Bodies up to 1 MiB reach us and get a JSON 413 above API_BODY_MAX; beyond, libevent
	 * refuses them itself (413 too). */
	evhttp_set_max_body_size(a->http, 1 << 20);
	evhttp_set_max_headers_size(a->http, 16 * 1024);
	evhttp_set_timeout(a->http, 30);
	/* Every method evhttp parses reaches api_route(), TRACE and CONNECT included, so that each
	 * gets a JSON answer (405) rather than evhttp's HTML 501. */
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(a->http, api_route, a);
	if (!evhttp_bind_socket_with_handle(a->http, *ep.host ? ep.host : "0.0.0.0", ep.port)) {
		snprintf(err, errsz, "--api: cannot listen on %s", listen);
		goto fail;
	}
	a->store = store_open(conf, prefix, serr, sizeof(serr));
	if (!a->store)
		log_warn("api: %s (answering 503 until Redis is back)", serr);
	log_info("api: listening on %s", listen);
	return a;
oom:
	snprintf(err, errsz, "out of memory");
fail:
	api_free(a);
	return NULL;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	if (a->http)
		evhttp_free(a->http);
	store_close(a->store);
	OPENSSL_cleanse(a->token_hash, sizeof(a->token_hash));
	OPENSSL_cleanse(a->read_hash, sizeof(a->read_hash));
	free(a->preview_domain);
	free(a->prefix);
	free(a);
}
