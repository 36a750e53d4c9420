// SPDX-License-Identifier: MIT
/*
 * Unit tests for api.c: the real evhttp server on loopback (its event loop in a thread), a real
 * redis-server, libcurl as the client, and every answer's body parsed with jansson. Covers the
 * bearer token (none, wrong, other scheme, right), the 201 shape with its preview hostname,
 * 409 on duplicates, one 422 per hostname rule carrying names_hostname_valid()'s reason,
 * 400/413/415/422 bodies, GET/DELETE/renew, 404/405, /metrics and /healthz, exactly one 201 of
 * 20 concurrent POSTs of a name spread over two API instances, and 503 once Redis is gone.
 */
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <hiredis.h>
#include <jansson.h>

#include "cert-pusher/api/api.h"
#include "cert-pusher/hosts.h"
#include "common/names.h"
#include "tests/unit/support/tredis.h"

#define TOKEN "s3cret-token-0123456789abcdef"

struct srv {
	struct conf *conf;
	struct event_base *base;
	struct api *api;
	pthread_t th;
	int port;
};

static struct tredis redis;
static char tmpdir[64], token_path[128];
static struct srv srv1, srv2;
static struct store *st;

static void *srv_loop(void *arg)
{
	struct srv *s = arg;

	event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static int srv_start(struct srv *s)
{
	char addr[64], err[512];

	s->port = tredis_free_port();
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", s->port);
	s->conf = conf_new();
	conf_set(s->conf, "redis", redis.addr, 1);
	conf_set(s->conf, "api", addr, 1);
	conf_set(s->conf, "api-token-file", token_path, 1);
	conf_set(s->conf, "preview-domain", "preview.test", 1);
	s->base = event_base_new();
	s->api = api_new(s->base, s->conf, "t:", err, sizeof(err));
	if (!s->api) {
		fprintf(stderr, "api_new: %s\n", err);
		return -1;
	}
	return pthread_create(&s->th, NULL, srv_loop, s) ? -1 : 0;
}

static void srv_stop(struct srv *s)
{
	if (!s->base)
		return;
	event_base_loopbreak(s->base);
	pthread_join(s->th, NULL);
	api_free(s->api);
	event_base_free(s->base);
	conf_free(s->conf);
	memset(s, 0, sizeof(*s));
}

static int setup(void **state)
{
	char err[256];
	FILE *f;

	(void)state;
	evthread_use_pthreads();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (tredis_start(&redis) < 0)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_api.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(token_path, sizeof(token_path), "%s/token", tmpdir);
	f = fopen(token_path, "w");
	if (!f)
		return -1;
	fprintf(f, "%s\n", TOKEN);
	fclose(f);
	chmod(token_path, 0600);
	if (srv_start(&srv1) < 0 || srv_start(&srv2) < 0)
		return -1;
	st = store_open(srv1.conf, "t:", err, sizeof(err));
	return st ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	store_close(st);
	srv_stop(&srv1);
	srv_stop(&srv2);
	tredis_stop(&redis);
	unlink(token_path);
	rmdir(tmpdir);
	curl_global_cleanup();
	return 0;
}

/* ---- client ---- */

struct resp {
	long status;
	struct buf body;
	char ctype[128], allow[128], location[256], www_auth[128];
	json_t *json; /* parsed body when it is JSON */
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;

	buf_append(&r->body, p, sz * n);
	return sz * n;
}

static void grab(const char *line, size_t len, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name), vl;

	if (len <= nl || strncasecmp(line, name, nl) != 0)
		return;
	line += nl;
	len -= nl;
	while (len && *line == ' ')
		line++, len--;
	vl = len;
	while (vl && (line[vl - 1] == '\r' || line[vl - 1] == '\n'))
		vl--;
	snprintf(out, outsz, "%.*s", (int)vl, line);
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct resp *r = arg;

	grab(p, sz * n, "Content-Type:", r->ctype, sizeof(r->ctype));
	grab(p, sz * n, "Allow:", r->allow, sizeof(r->allow));
	grab(p, sz * n, "Location:", r->location, sizeof(r->location));
	grab(p, sz * n, "WWW-Authenticate:", r->www_auth, sizeof(r->www_auth));
	return sz * n;
}

static CURL *make_req(int port, const char *method, const char *path, const char *auth,
                      const char *ctype, const char *body, size_t body_len, struct resp *r,
                      struct curl_slist **hdrs)
{
	char url[512], h[256];
	CURL *c = curl_easy_init();

	memset(r, 0, sizeof(*r));
	buf_init(&r->body);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	*hdrs = curl_slist_append(NULL, "Expect:");
	if (auth) {
		snprintf(h, sizeof(h), "Authorization: %s", auth);
		*hdrs = curl_slist_append(*hdrs, h);
	}
	if (ctype) {
		snprintf(h, sizeof(h), "Content-Type: %s", ctype);
		*hdrs = curl_slist_append(*hdrs, h);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	return c;
}

static void finish(CURL *c, struct resp *r, struct curl_slist *hdrs)
{
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body.len && strstr(r->ctype, "json"))
		r->json = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
}

/* One request to srv1; the caller calls resp_done(). */
static void do_req(const char *method, const char *path, const char *auth, const char *ctype,
                   const char *body, size_t body_len, struct resp *r)
{
	struct curl_slist *hdrs;
	CURL *c = make_req(srv1.port, method, path, auth, ctype, body, body_len, r, &hdrs);

	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	finish(c, r, hdrs);
}

static void resp_done(struct resp *r)
{
	json_decref(r->json);
	buf_deinit(&r->body);
}

#define AUTH    "Bearer " TOKEN
#define JSONAPI "application/vnd.api+json"

/* POST a hostname; returns the status (the response is released). */
static long post_name(const char *name, struct resp *keep)
{
	struct resp r;
	json_t *b = json_pack("{s:{s:{s:s}}}", "data", "attributes", "hostname", name);
	char *s = json_dumps(b, JSON_COMPACT);

	do_req("POST", "/v1/hostnames", AUTH, JSONAPI, s, strlen(s), keep ? keep : &r);
	free(s);
	json_decref(b);
	if (keep)
		return keep->status;
	resp_done(&r);
	return r.status;
}

/* The first error object's fields. */
static void assert_error(const struct resp *r, long status, const char *detail_part)
{
	json_t *e;
	char st_s[8];

	assert_int_equal(r->status, status);
	assert_non_null(strstr(r->ctype, "application/vnd.api+json"));
	assert_non_null(r->json);
	e = json_array_get(json_object_get(r->json, "errors"), 0);
	assert_non_null(e);
	snprintf(st_s, sizeof(st_s), "%ld", status);
	assert_string_equal(json_string_value(json_object_get(e, "status")), st_s);
	assert_non_null(json_string_value(json_object_get(e, "title")));
	if (detail_part && !strstr(json_string_value(json_object_get(e, "detail")), detail_part))
		fail_msg("detail '%s' lacks '%s'", json_string_value(json_object_get(e, "detail")),
		         detail_part);
}

static void flush(void)
{
	redisReply *rep = redisCommand(st->rc, "FLUSHALL");

	assert_non_null(rep);
	freeReplyObject(rep);
}

/* ---- tests ---- */

static void test_healthz_without_token(void **state)
{
	struct resp r;

	(void)state;
	do_req("GET", "/healthz", NULL, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ok");
	resp_done(&r);
	do_req("POST", "/healthz", NULL, NULL, "", 0, &r);
	assert_error(&r, 405, NULL);
	resp_done(&r);
}

static void test_auth(void **state)
{
	static const char *const bad[] = {
		NULL,
		"Bearer wrong-token-0123456789",
		"Basic " TOKEN,
		"Bearer " TOKEN "x",
		"Bearer",
		"Bearer " TOKEN "=",
		"Bearer s3cret",
	};
	struct resp r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		do_req("GET", "/v1/hostnames", bad[i], NULL, NULL, 0, &r);
		assert_error(&r, 401,
		             bad[i] && !strncmp(bad[i], "Bearer ", 7) ? "invalid" : "missing");
		assert_non_null(strstr(r.www_auth, "Bearer"));
		resp_done(&r);
	}
	do_req("GET", "/metrics", NULL, NULL, NULL, 0, &r);
	assert_error(&r, 401, NULL);
	resp_done(&r);
	/* a POST with the wrong token changes nothing */
	do_req("POST", "/v1/hostnames", "Bearer nope", JSONAPI,
	       "{\"data\":{\"attributes\":{\"hostname\":\"x.example.com\"}}}", 52, &r);
	assert_error(&r, 401, NULL);
	resp_done(&r);
	assert_int_equal(store_host_exists(st, "x.example.com", (char[64]){ 0 }, 64), 0);
	do_req("GET", "/v1/hostnames", AUTH, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	resp_done(&r);
	do_req("GET", "/v1/hostnames", "bearer " TOKEN, NULL, NULL, 0,
	       &r); /* scheme is case-free */
	assert_int_equal(r.status, 200);
	resp_done(&r);
}

static void test_create_shape_and_conflict(void **state)
{
	json_t *data, *attrs;
	struct resp r;
	regex_t re;

	(void)state;
	flush();
	assert_int_equal(post_name("example.com", &r), 201);
	assert_non_null(strstr(r.ctype, "application/vnd.api+json"));
	assert_string_equal(r.location, "/v1/hostnames/example.com");
	data = json_object_get(r.json, "data");
	assert_string_equal(json_string_value(json_object_get(data, "id")), "example.com");
	assert_string_equal(json_string_value(json_object_get(data, "type")), "hostnames");
	attrs = json_object_get(data, "attributes");
	assert_string_equal(json_string_value(json_object_get(attrs, "hostname")), "example.com");
	assert_string_equal(json_string_value(json_object_get(attrs, "state")), "pending");
	assert_int_equal(regcomp(&re, "^[a-z2-7]{16}\\.preview\\.test$", REG_EXTENDED | REG_NOSUB),
	                 0);
	assert_int_equal(regexec(&re, json_string_value(json_object_get(attrs, "preview_hostname")),
	                         0, NULL, 0),
	                 0);
	regfree(&re);
	assert_true(json_is_null(json_object_get(attrs, "not_after")));
	assert_true(json_is_string(json_object_get(attrs, "next_action_at")));
	resp_done(&r);
	assert_int_equal(store_host_exists(st, "example.com", (char[64]){ 0 }, 64), 1);

	assert_int_equal(post_name("example.com", &r), 409);
	assert_error(&r, 409, "already managed");
	resp_done(&r);
}

static void test_every_hostname_rule_is_422(void **state)
{
	char long_name[300], long_label[80];
	const char *bad[] = {
		"",
		long_name,
		long_label,
		"a..example.com",
		"example.com.",
		"-a.example.com",
		"a-.example.com",
		"ab--c.example.com",
		"a.*.example.com",
		"Example.com",
		"a_b.example.com",
		"b\xc3\xbc"
		"cher.de",
		"localhost",
		"192.168.0.1",
		"a b.example.com",
	};
	const char *why;
	struct resp r;
	size_t i;

	(void)state;
	flush();
	memset(long_name, 0, sizeof(long_name));
	for (i = 0; i < 254; i++)
		long_name[i] = (i % 10 == 9) ? '.' : 'a';
	memset(long_label, 'a', 64);
	memcpy(long_label + 64, ".com", 5);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(names_hostname_valid(bad[i], &why));
		post_name(bad[i], &r);
		assert_error(&r, 422, why);
		resp_done(&r);
	}
	/* a wildcard needs DNS-01, which this API's configuration lacks */
	post_name("*.example.com", &r);
	assert_error(&r, 422, "*.example.com: a wildcard needs DNS-01");
	resp_done(&r);
	do_req("GET", "/v1/hostnames", AUTH, NULL, NULL, 0, &r);
	assert_int_equal(json_array_size(json_object_get(r.json, "data")), 0);
	resp_done(&r);
}

static void test_bodies(void **state)
{
	static const char *const unprocessable[] = {
		"[]",
		"{}",
		"{\"data\":[]}",
		"{\"data\":{}}",
		"{\"data\":{\"attributes\":{}}}",
		"{\"data\":{\"attributes\":{\"hostname\":42}}}",
		"{\"data\":{\"attributes\":{\"hostname\":null}}}",
		"{\"data\":{\"type\":\"users\",\"attributes\":{\"hostname\":\"a.example.com\"}}}",
	};
	char *big;
	struct resp r;
	size_t i;

	(void)state;
	flush();
	do_req("POST", "/v1/hostnames", AUTH, JSONAPI, "{\"data\":", 8, &r);
	assert_error(&r, 400, "malformed JSON");
	resp_done(&r);
	do_req("POST", "/v1/hostnames", AUTH, JSONAPI, "\xff\xfe", 2, &r);
	assert_error(&r, 400, NULL);
	resp_done(&r);
	/* jansson refuses \u0000 (no JSON_ALLOW_NUL): a NUL never reaches a hostname */
	do_req("POST", "/v1/hostnames", AUTH, JSONAPI,
	       "{\"data\":{\"attributes\":{\"hostname\":\"a.example.com\\u0000.evil\"}}}", 63, &r);
	assert_error(&r, 400, "NUL");
	resp_done(&r);
	do_req("POST", "/v1/hostnames", AUTH, NULL, "{}", 2, &r);
	assert_error(&r, 415, NULL);
	resp_done(&r);
	do_req("POST", "/v1/hostnames", AUTH, "text/plain", "{}", 2, &r);
	assert_error(&r, 415, NULL);
	resp_done(&r);
	for (i = 0; i < sizeof(unprocessable) / sizeof(unprocessable[0]); i++) {
		do_req("POST", "/v1/hostnames", AUTH, "application/json", unprocessable[i],
		       strlen(unprocessable[i]), &r);
		assert_error(&r, 422, NULL);
		resp_done(&r);
	}
	/* 16 KiB + 1: our JSON 413; 2 MiB: libevent's own 413 */
	big = malloc(2 << 20);
	memset(big, ' ', 2 << 20);
	do_req("POST", "/v1/hostnames", AUTH, JSONAPI, big, API_BODY_MAX + 1, &r);
	assert_error(&r, 413, NULL);
	resp_done(&r);
	do_req("POST", "/v1/hostnames", AUTH, JSONAPI, big, 2 << 20, &r);
	assert_int_equal(r.status, 413);
	resp_done(&r);
	free(big);
	/* media type parameters are fine */
	do_req("POST", "/v1/hostnames", AUTH, "application/json; charset=utf-8",
	       "{\"data\":{\"type\":\"hostnames\",\"attributes\":{\"hostname\":\"ok.example.com\"}}"
	       "}",
	       72, &r);
	assert_int_equal(r.status, 201);
	resp_done(&r);
	do_req("GET", "/v1/hostnames", AUTH, NULL, NULL, 0, &r);
	assert_int_equal(
	        json_integer_value(json_object_get(json_object_get(r.json, "meta"), "count")), 1);
	resp_done(&r);
}

static void test_get_delete_renew(void **state)
{
	json_t *list, *attrs;
	struct resp r;
	redisReply *rep;

	(void)state;
	flush();
	assert_int_equal(post_name("b.example.com", NULL), 201);
	assert_int_equal(post_name("a.example.com", NULL), 201);
	do_req("GET", "/v1/hostnames", AUTH, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	list = json_object_get(r.json, "data");
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")),
	                    "a.example.com");
	resp_done(&r);

	/* what a valid host shows: dates, serials, attempts, last error */
	rep = redisCommand(st->rc,
	                   "HSET t:host:a.example.com state valid not_after 1893456000 renew_at "
	                   "1888000000 serial_ecdsa 0ABC serial_rsa 0DEF attempts 0 last_error %s",
	                   "urn:ietf:params:acme:error:rateLimited: slow down");
	freeReplyObject(rep);
	do_req("GET", "/v1/hostnames/a.example.com", AUTH, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	attrs = json_object_get(json_object_get(r.json, "data"), "attributes");
	assert_string_equal(json_string_value(json_object_get(attrs, "state")), "valid");
	assert_string_equal(json_string_value(json_object_get(attrs, "not_after")),
	                    "2030-01-01T00:00:00Z");
	assert_string_equal(
	        json_string_value(json_object_get(json_object_get(attrs, "serials"), "ecdsa")),
	        "0ABC");
	assert_string_equal(
	        json_string_value(json_object_get(json_object_get(attrs, "serials"), "rsa")),
	        "0DEF");
	assert_non_null(strstr(json_string_value(json_object_get(attrs, "last_error")), "slow"));
	assert_int_equal(json_integer_value(json_object_get(attrs, "attempts")), 0);
	resp_done(&r);

	do_req("POST", "/v1/hostnames/a.example.com/renew", AUTH, NULL, "", 0, &r);
	assert_int_equal(r.status, 202);
	attrs = json_object_get(json_object_get(r.json, "data"), "attributes");
	assert_true(json_is_string(json_object_get(attrs, "next_action_at")));
	resp_done(&r);

	do_req("GET", "/v1/hostnames/c.example.com", AUTH, NULL, NULL, 0, &r);
	assert_error(&r, 404, NULL);
	resp_done(&r);
	do_req("GET", "/v1/hostnames/NOT_A_NAME", AUTH, NULL, NULL, 0, &r);
	assert_error(&r, 404, NULL);
	resp_done(&r);
	do_req("POST", "/v1/hostnames/c.example.com/renew", AUTH, NULL, "", 0, &r);
	assert_error(&r, 404, NULL);
	resp_done(&r);

	do_req("DELETE", "/v1/hostnames/a.example.com", AUTH, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.body.len, 0);
	resp_done(&r);
	do_req("GET", "/v1/hostnames/a.example.com", AUTH, NULL, NULL, 0, &r);
	assert_error(&r, 404, NULL);
	resp_done(&r);
	do_req("DELETE", "/v1/hostnames/a.example.com", AUTH, NULL, NULL, 0, &r);
	assert_error(&r, 404, NULL);
	resp_done(&r);
	rep = redisCommand(st->rc, "EXISTS t:host:a.example.com");
	assert_int_equal(rep->integer, 0);
	freeReplyObject(rep);

	/* DELETE while an issuer holds the lock: 202, state removing */
	rep = redisCommand(st->rc, "SET t:lock:b.example.com someissuer PX 10000");
	freeReplyObject(rep);
	do_req("DELETE", "/v1/hostnames/b.example.com", AUTH, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 202);
	assert_string_equal(
	        json_string_value(json_object_get(
	                json_object_get(json_object_get(r.json, "data"), "attributes"), "state")),
	        "removing");
	resp_done(&r);
	do_req("POST", "/v1/hostnames/b.example.com/renew", AUTH, NULL, "", 0, &r);
	assert_error(&r, 409, "being removed");
	resp_done(&r);

	/* routing */
	do_req("PUT", "/v1/hostnames", AUTH, JSONAPI, "{}", 2, &r);
	assert_error(&r, 405, NULL);
	assert_string_equal(r.allow, "GET, HEAD, POST");
	resp_done(&r);
	do_req("PATCH", "/v1/hostnames/b.example.com", AUTH, JSONAPI, "{}", 2, &r);
	assert_error(&r, 405, NULL);
	assert_string_equal(r.allow, "GET, HEAD, DELETE");
	resp_done(&r);
	do_req("GET", "/v1/hostnames/b.example.com/renew", AUTH, NULL, NULL, 0, &r);
	assert_error(&r, 405, NULL);
	resp_done(&r);
	do_req("GET", "/v1/hostnames/b.example.com/other", AUTH, NULL, NULL, 0, &r);
	assert_error(&r, 404, NULL);
	resp_done(&r);
	do_req("GET", "/v2/things", AUTH, NULL, NULL, 0, &r);
	assert_error(&r, 404, NULL);
	resp_done(&r);
}

static void test_metrics(void **state)
{
	struct resp r;
	redisReply *rep;

	(void)state;
	flush();
	assert_int_equal(post_name("m1.example.com", NULL), 201);
	assert_int_equal(post_name("m2.example.com", NULL), 201);
	rep = redisCommand(st->rc, "HSET t:host:m2.example.com state valid not_after 4102444800");
	freeReplyObject(rep);
	do_req("GET", "/metrics", AUTH, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.ctype, "text/plain"));
	assert_non_null(strstr(buf_str(&r.body), "spoacme_hosts{state=\"pending\"} 1\n"));
	assert_non_null(strstr(buf_str(&r.body), "spoacme_hosts{state=\"valid\"} 1\n"));
	assert_non_null(
	        strstr(buf_str(&r.body), "spoacme_cert_expiry_seconds{host=\"m2.example.com\"} "));
	assert_null(strstr(buf_str(&r.body), "host=\"m1.example.com\""));
	assert_non_null(strstr(buf_str(&r.body), "spoacme_api_requests_total{code=\"201\"} "));
	assert_non_null(strstr(buf_str(&r.body), "spoacme_redis_up 1\n"));
	resp_done(&r);
}

static void test_concurrent_posts_one_wins(void **state)
{
	struct resp r[20];
	struct curl_slist *hdrs[20];
	CURL *c[20];
	CURLM *m = curl_multi_init();
	const char *body = "{\"data\":{\"attributes\":{\"hostname\":\"race.example.com\"}}}";
	int running = 0, created = 0, conflict = 0, i;

	(void)state;
	flush();
	for (i = 0; i < 20; i++) {
		c[i] = make_req(i % 2 ? srv2.port : srv1.port, "POST", "/v1/hostnames", AUTH,
		                JSONAPI, body, strlen(body), &r[i], &hdrs[i]);
		curl_multi_add_handle(m, c[i]);
	}
	do {
		curl_multi_perform(m, &running);
		if (running)
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	} while (running);
	for (i = 0; i < 20; i++) {
		curl_multi_remove_handle(m, c[i]);
		finish(c[i], &r[i], hdrs[i]);
		if (r[i].status == 201)
			created++;
		else if (r[i].status == 409)
			conflict++;
		resp_done(&r[i]);
	}
	curl_multi_cleanup(m);
	assert_int_equal(created, 1);
	assert_int_equal(conflict, 19);
}

static void test_redis_down_is_503(void **state)
{
	struct resp r;

	(void)state;
	tredis_stop(&redis);
	post_name("down.example.com", &r);
	assert_error(&r, 503, "Redis");
	resp_done(&r);
	do_req("GET", "/healthz", NULL, NULL, NULL, 0, &r);
	assert_error(&r, 503, NULL);
	resp_done(&r);
	do_req("GET", "/metrics", AUTH, NULL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(buf_str(&r.body), "spoacme_redis_up 0\n"));
	resp_done(&r);
}

static void test_config_errors(void **state)
{
	struct conf *c = conf_new();
	char err[512], path[160];
	FILE *f;

	(void)state;
	conf_set(c, "api", "127.0.0.1:1", 1);
	assert_int_equal(api_check_conf(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--api-token-file"));
	snprintf(path, sizeof(path), "%s/loose", tmpdir);
	f = fopen(path, "w");
	fputs(TOKEN "\n", f);
	fclose(f);
	chmod(path, 0644);
	conf_set(c, "api-token-file", path, 1);
	assert_int_equal(api_check_conf(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mode"));
	chmod(path, 0600);
	assert_int_equal(api_check_conf(c, err, sizeof(err)), 0);
	f = fopen(path, "w");
	fputs("short\n", f);
	fclose(f);
	assert_int_equal(api_check_conf(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "at least"));
	unlink(path);
	conf_set(c, "api-token-file", token_path, 1);
	conf_set(c, "api", "nonsense", 1);
	assert_int_equal(api_check_conf(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--api: 'nonsense'"));
	conf_set(c, "api", "127.0.0.1:1", 1);
	conf_set(c, "preview-domain", "*.bad", 1);
	assert_int_equal(api_check_conf(c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--preview-domain"));
	conf_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healthz_without_token),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_create_shape_and_conflict),
		cmocka_unit_test(test_every_hostname_rule_is_422),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_get_delete_renew),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_concurrent_posts_one_wins),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_redis_down_is_503), /* last: stops Redis */
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
