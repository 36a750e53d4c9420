// SPDX-License-Identifier: MIT
/*
 * Unit tests for acme.c with the HTTP layer replaced at link time: this file defines
 * http_client_new/free, http_response_init/deinit and http_request, so http.o never enters the
 * link and every exchange comes from a script of canned responses. That reaches the paths Pebble
 * can't produce: rateLimited with Retry-After, 5xx, garbage JSON, missing Location, endless
 * badNonce. Each signed request is checked to carry the nonce of the previous response. The
 * parsers (directory, order, authorization, problem) are tested directly too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cert-pusher/issuer/acme.h"
#include "cert-pusher/issuer/http.h"
#include "common/b64url.h"

/* ---- the fake HTTP layer ---- */

enum canned_kind {
	CANNED_PLAIN = 0, /* status + headers + body as given */
	CANNED_CERT,      /* a certificate for the last CSR, signed by a throw-away CA */
	CANNED_TRANSPORT, /* http_request fails (e.g. body over the limit) */
	CANNED_COUNT
};

struct canned {
	enum http_method method;
	const char *url;
	long status;
	const char *location;
	const char *ctype;
	int64_t retry_after;
	const char *body;
	enum canned_kind kind;
	int no_nonce; /* answer without a Replay-Nonce */
};

struct http_client {
	int unused;
};

static const struct canned *script;
static size_t script_len, script_pos;
static char last_nonce[32];
static int nonce_seq;
static char last_csr[4096];
static char payloads[32][1024]; /* decoded payload of each POST, by exchange index */
static int64_t sleeps[32];
static size_t nsleeps;

static void play(const struct canned *s, size_t n)
{
	script = s;
	script_len = n;
	script_pos = 0;
	nsleeps = 0; /* the nonce carries over: the client keeps it across requests */
	memset(payloads, 0, sizeof(payloads));
}

struct http_client *http_client_new(const struct http_opts *opts, char *err, size_t errsz)
{
	(void)opts;
	(void)err;
	(void)errsz;
	return calloc(1, sizeof(struct http_client));
}

void http_client_free(struct http_client *c)
{
	free(c);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Check the JWS of a POST: the nonce is the last one served; keep the payload and any CSR. */
static void check_post(const uint8_t *body, size_t len, size_t idx)
{
	json_t *o = json_loadb((const char *)body, len, 0, NULL), *h, *pl;
	struct buf b;
	const char *csr;

	assert_non_null(o);
	buf_init(&b);
	assert_int_equal(b64url_decode(&b, json_string_value(json_object_get(o, "protected")),
	                               strlen(json_string_value(json_object_get(o, "protected")))),
	                 0);
	h = json_loads(buf_str(&b), 0, NULL);
	assert_non_null(h);
	assert_string_equal(json_string_value(json_object_get(h, "nonce")), last_nonce);
	assert_string_equal(json_string_value(json_object_get(h, "url")), script[idx].url);
	buf_reset(&b);
	assert_int_equal(b64url_decode(&b, json_string_value(json_object_get(o, "payload")),
	                               strlen(json_string_value(json_object_get(o, "payload")))),
	                 0);
	if (idx < 32)
		snprintf(payloads[idx], sizeof(payloads[idx]), "%s", buf_str(&b));
	pl = b.len ? json_loads(buf_str(&b), 0, NULL) : NULL;
	csr = pl ? json_string_value(json_object_get(pl, "csr")) : NULL;
	if (csr)
		snprintf(last_csr, sizeof(last_csr), "%s", csr);
	json_decref(pl);
	json_decref(h);
	json_decref(o);
	buf_deinit(&b);
}

/* PEM of a certificate for the public key of the last CSR, leaf then a CA certificate. */
static void make_cert(struct buf *out)
{
	EVP_PKEY *ca = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *leaf = X509_new(), *root = X509_new();
	X509_REQ *req;
	const unsigned char *p;
	struct buf der;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;

	buf_init(&der);
	assert_int_equal(b64url_decode(&der, last_csr, strlen(last_csr)), 0);
	p = der.data;
	req = d2i_X509_REQ(NULL, &p, (long)der.len);
	assert_non_null(req);
	ASN1_INTEGER_set(X509_get_serialNumber(leaf), 0x1234);
	X509_gmtime_adj(X509_getm_notBefore(leaf), 0);
	X509_gmtime_adj(X509_getm_notAfter(leaf), 86400);
	X509_set_pubkey(leaf, X509_REQ_get0_pubkey(req));
	X509_sign(leaf, ca, EVP_sha256());
	ASN1_INTEGER_set(X509_get_serialNumber(root), 1);
	X509_gmtime_adj(X509_getm_notBefore(root), 0);
	X509_gmtime_adj(X509_getm_notAfter(root), 86400);
	X509_set_pubkey(root, ca);
	X509_sign(root, ca, EVP_sha256());
	PEM_write_bio_X509(bio, leaf);
	PEM_write_bio_X509(bio, root);
	n = BIO_get_mem_data(bio, &data);
	buf_append(out, data, (size_t)n);
	BIO_free(bio);
	X509_free(leaf);
	X509_free(root);
	X509_REQ_free(req);
	EVP_PKEY_free(ca);
	buf_deinit(&der);
}

int http_request(struct http_client *c, enum http_method method, const char *url,
                 const uint8_t *body, size_t body_len, struct http_response *r, char *err,
                 size_t errsz)
{
	const struct canned *k;
	size_t idx = script_pos;

	(void)c;
	http_response_deinit(r);
	if (script_pos >= script_len)
		fail_msg("unexpected request %d %s after the script's end", method, url);
	k = &script[script_pos++];
	if (k->method != method || strcmp(k->url, url) != 0)
		fail_msg("exchange %zu: expected %d %s, got %d %s", idx, k->method, k->url, method,
		         url);
	if (method == HTTP_METHOD_POST)
		check_post(body, body_len, idx);
	if (k->kind == CANNED_TRANSPORT) {
		snprintf(err, errsz, "%s: response body larger than 1048576 bytes", url);
		return -1;
	}
	r->status = k->status;
	if (!k->no_nonce) {
		snprintf(last_nonce, sizeof(last_nonce), "nonce%d", ++nonce_seq);
		r->nonce = strdup(last_nonce);
	}
	r->location = dup_or_null(k->location);
	r->content_type = dup_or_null(k->ctype ? k->ctype : "application/json");
	r->retry_after = k->retry_after ? k->retry_after : -1;
	if (k->kind == CANNED_CERT)
		make_cert(&r->body);
	else if (k->body)
		buf_append_str(&r->body, k->body);
	return 0;
}

/* ---- the test's side of the client ---- */

static void record_sleep(void *arg, int64_t ms)
{
	(void)arg;
	if (nsleeps < 32)
		sleeps[nsleeps++] = ms;
}

static char published_token[300], published_keyauth[400];
static int npublish, nwithdraw;

static int fake_publish(void *arg, const char *token, const char *keyauth, char *err, size_t errsz)
{
	(void)arg;
	(void)err;
	(void)errsz;
	npublish++;
	snprintf(published_token, sizeof(published_token), "%s", token);
	snprintf(published_keyauth, sizeof(published_keyauth), "%s", keyauth);
	return 0;
}

static void fake_withdraw(void *arg, const char *token)
{
	(void)arg;
	assert_string_equal(token, published_token);
	nwithdraw++;
}

static const struct acme_chal_ops ops = { .publish = fake_publish, .withdraw = fake_withdraw };

#define CA "https://ca.test"
#define DIR_JSON                                                                           \
	"{\"newNonce\":\"" CA "/nonce\",\"newAccount\":\"" CA "/acct\",\"newOrder\":\"" CA \
	"/order\",\"meta\":{\"termsOfService\":\"" CA "/tos\"}}"
#define DIR_PROFILES_JSON                                                                  \
	"{\"newNonce\":\"" CA "/nonce\",\"newAccount\":\"" CA "/acct\",\"newOrder\":\"" CA \
	"/order\",\"meta\":{\"profiles\":{\"classic\":\"x\",\"shortlived\":\"y\"}}}"
#define ORDER(status, extra)                                                                    \
	"{\"status\":\"" status "\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]," \
	"\"authorizations\":[\"" CA "/authz/1\"],\"finalize\":\"" CA "/fin/1\"" extra "}"
#define TOKEN "tok_-0123456789abcdefghijklmnopqrstuvwxyz"
#define AUTHZ(status, chstatus, cherr)                                                             \
	"{\"status\":\"" status "\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"},"       \
	"\"challenges\":[{\"type\":\"dns-01\",\"url\":\"" CA "/ch/dns\",\"token\":\"x\","          \
	"\"status\":\"pending\"},{\"type\":\"http-01\",\"url\":\"" CA "/ch/1\",\"token\":\"" TOKEN \
	"\",\"status\":\"" chstatus "\"" cherr "}]}"
#define PROBLEM(type, detail)                                                    \
	"{\"type\":\"urn:ietf:params:acme:error:" type "\",\"detail\":\"" detail \
	"\",\"status\":400}"
#define PJ "application/problem+json"

static const struct canned account_steps[] = {
	{ HTTP_METHOD_GET, CA "/dir", 200, NULL, NULL, 0, DIR_JSON, 0, 1 },
	{ HTTP_METHOD_HEAD, CA "/nonce", 200, NULL, NULL, 0, NULL, 0, 0 },
	{ HTTP_METHOD_POST, CA "/acct", 201, CA "/acct/1", NULL, 0, "{\"status\":\"valid\"}", 0,
	  0 },
};

static struct acme_config cfg;
static struct acme_client *client;

static int setup(void **state)
{
	char err[256];
	int created = 0;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.directory_url = CA "/dir";
	cfg.contact = "mailto:admin@example.com";
	cfg.sleep = record_sleep;
	client = acme_client_new(&cfg, err, sizeof(err));
	if (!client)
		return -1;
	play(account_steps, 3);
	if (acme_account(client, JWS_ALG_ES256, &created, err, sizeof(err)) < 0 || !created)
		return -1;
	npublish = nwithdraw = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	acme_client_free(client);
	client = NULL;
	return 0;
}

/* Run an order for a.test against script <s>; returns acme_order's result. */
static int run_order(const struct canned *s, size_t n, struct acme_order_result *res)
{
	struct jws_key *k = jws_key_generate(JWS_ALG_ES256);
	int ret;

	assert_non_null(k);
	play(s, n);
	acme_order_result_init(res);
	ret = acme_order(client, "a.test", NULL, k, &ops, res);
	jws_key_free(k);
	return ret;
}

#define NEW_ORDER_OK                                                                               \
	{                                                                                          \
		HTTP_METHOD_POST, CA "/order", 201, CA "/o/1", NULL, 0, ORDER("pending", ""), 0, 0 \
	}

static const struct canned happy[] = {
	NEW_ORDER_OK,
	{ HTTP_METHOD_POST, CA "/authz/1", 200, NULL, NULL, 0, AUTHZ("pending", "pending", ""), 0,
	  0 },
	{ HTTP_METHOD_POST, CA "/ch/1", 200, NULL, NULL, 0, "{\"status\":\"processing\"}", 0, 0 },
	{ HTTP_METHOD_POST, CA "/authz/1", 200, NULL, NULL, 0, AUTHZ("pending", "processing", ""),
	  0, 0 },
	{ HTTP_METHOD_POST, CA "/authz/1", 200, NULL, NULL, 0, AUTHZ("valid", "valid", ""), 0, 0 },
	{ HTTP_METHOD_POST, CA "/o/1", 200, NULL, NULL, 0, ORDER("ready", ""), 0, 0 },
	{ HTTP_METHOD_POST, CA "/fin/1", 200, NULL, NULL, 2, ORDER("processing", ""), 0, 0 },
	{ HTTP_METHOD_POST, CA "/o/1", 200, NULL, NULL, 0,
	  ORDER("valid", ",\"certificate\":\"" CA "/cert/1\""), 0, 0 },
	{ HTTP_METHOD_POST, CA "/cert/1", 200, NULL, "application/pem-certificate-chain", 0, NULL,
	  CANNED_CERT, 0 },
};

static void test_account_payload(void **state)
{
	(void)state;
	/* setup() registered: newAccount carried ToS agreement and the contact, signed with jwk */
	assert_string_equal(payloads[2], "{\"termsOfServiceAgreed\":true,\"contact\":[\"mailto:"
	                                 "admin@example.com\"]}");
	assert_string_equal(acme_client_account_url(client), CA "/acct/1");
}

static void test_happy_order(void **state)
{
	struct acme_order_result res;
	struct buf want;

	(void)state;
	assert_int_equal(run_order(happy, sizeof(happy) / sizeof(happy[0]), &res), 0);
	assert_int_equal(script_pos, script_len);
	assert_non_null(strstr(buf_str(&res.chain), "-----BEGIN CERTIFICATE-----"));
	/* newOrder: dns identifier; challenge answered with {}; POST-as-GET polls are empty */
	assert_string_equal(payloads[0],
	                    "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}");
	assert_string_equal(payloads[1], "");
	assert_string_equal(payloads[2], "{}");
	assert_string_equal(payloads[8], "");
	/* key authorization = token "." thumbprint of the account key, published then withdrawn */
	buf_init(&want);
	jws_key_authorization(acme_client_account_key(client), TOKEN, &want);
	assert_string_equal(published_keyauth, buf_str(&want));
	assert_int_equal(npublish, 1);
	assert_int_equal(nwithdraw, 1);
	/* polls: exponential back-off from 50 ms; after finalize the CA's Retry-After: 2 */
	assert_int_equal(nsleeps, 3);
	assert_int_equal(sleeps[0], 50);
	assert_int_equal(sleeps[1], 100);
	assert_int_equal(sleeps[2], 2000);
	buf_deinit(&want);
	acme_order_result_deinit(&res);
}

static void test_bad_nonce_retried(void **state)
{
	static const struct canned s[] = {
		{ HTTP_METHOD_POST, CA "/order", 400, NULL, PJ, 0, PROBLEM("badNonce", "stale"), 0,
		  0 },
		{ HTTP_METHOD_POST, CA "/order", 400, NULL, PJ, 0, PROBLEM("badNonce", "stale"), 0,
		  0 },
		{ HTTP_METHOD_POST, CA "/order", 201, NULL, NULL, 0, ORDER("pending", ""), 0, 0 },
	};
	struct acme_order_result res;

	(void)state;
	/* retried at once with the fresh nonce (check_post verifies it), no sleep; then the
	 * missing Location fails the order */
	assert_int_equal(run_order(s, 3, &res), -1);
	assert_int_equal(script_pos, 3);
	assert_int_equal(nsleeps, 0);
	assert_non_null(strstr(res.error, "without a Location"));
	acme_order_result_deinit(&res);
}

static void test_bad_nonce_bounded(void **state)
{
	static struct canned s[11];
	struct acme_order_result res;
	size_t i;

	(void)state;
	for (i = 0; i < 11; i++)
		s[i] = (struct canned){ HTTP_METHOD_POST,
			                CA "/order",
			                400,
			                NULL,
			                PJ,
			                0,
			                PROBLEM("badNonce", "always"),
			                0,
			                0 };
	assert_int_equal(run_order(s, 11, &res), -1);
	assert_int_equal(script_pos, 11); /* 1 + 10 retries */
	assert_string_equal(res.error, "urn:ietf:params:acme:error:badNonce: always");
	acme_order_result_deinit(&res);
}

static void test_no_nonce_fetches_new_nonce(void **state)
{
	static const struct canned s[] = {
		{ HTTP_METHOD_POST, CA "/order", 500, NULL, "text/html", 0, "<h1>oops</h1>", 0, 1 },
		{ HTTP_METHOD_HEAD, CA "/nonce", 200, NULL, NULL, 0, NULL, 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 201, CA "/o/1", NULL, 0, "{not json", 0, 0 },
	};
	struct acme_order_result res;

	(void)state;
	/* 500 without Retry-After: back off 1 s; the response had no nonce: HEAD newNonce */
	assert_int_equal(run_order(s, 3, &res), -1);
	assert_int_equal(script_pos, 3);
	assert_int_equal(nsleeps, 1);
	assert_int_equal(sleeps[0], 1000);
	assert_non_null(strstr(res.error, "newOrder: invalid JSON"));
	acme_order_result_deinit(&res);
}

static void test_rate_limited_retry_after(void **state)
{
	static const struct canned s[] = {
		{ HTTP_METHOD_POST, CA "/order", 429, NULL, PJ, 7,
		  PROBLEM("rateLimited", "slow down"), 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 503, NULL, "text/plain", 3, "busy", 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 429, NULL, PJ, 3600,
		  PROBLEM("rateLimited", "too many certificates"), 0, 0 },
	};
	struct acme_order_result res;

	(void)state;
	assert_int_equal(run_order(s, 3, &res), -1);
	assert_int_equal(nsleeps, 2);
	assert_int_equal(sleeps[0], 7000);
	assert_int_equal(sleeps[1], 3000);
	/* an hour is over the cap: give up and hand the Retry-After to the caller */
	assert_int_equal(res.retry_after, 3600);
	assert_string_equal(res.error,
	                    "urn:ietf:params:acme:error:rateLimited: too many certificates");
	acme_order_result_deinit(&res);
}

/* A Retry-After however large (whoever parsed it) is clamped to a day before it becomes
 * milliseconds: no signed overflow (UBSan aborts on one), and the caller gets a day. */
static void test_retry_after_bounds(void **state)
{
	static const struct canned s[] = {
		{ HTTP_METHOD_POST, CA "/order", 429, NULL, PJ, INT64_MAX,
		  PROBLEM("rateLimited", "come back never"), 0, 0 },
	};
	struct acme_order_result res;

	(void)state;
	assert_int_equal(run_order(s, 1, &res), -1);
	assert_int_equal(nsleeps, 0); /* a day is over the cap: handed to the caller */
	assert_int_equal(res.retry_after, 86400);
	acme_order_result_deinit(&res);
}

static void test_challenge_problem(void **state)
{
	static const struct canned s[] = {
		NEW_ORDER_OK,
		{ HTTP_METHOD_POST, CA "/authz/1", 200, NULL, NULL, 0,
		  AUTHZ("pending", "pending", ""), 0, 0 },
		{ HTTP_METHOD_POST, CA "/ch/1", 200, NULL, NULL, 0, "{}", 0, 0 },
		{ HTTP_METHOD_POST, CA "/authz/1", 200, NULL, NULL, 0,
		  AUTHZ("invalid", "invalid",
		        ",\"error\":{\"type\":\"urn:ietf:params:acme:error:connection\","
		        "\"detail\":\"127.0.0.9: Connection refused\"}"),
		  0, 0 },
	};
	struct acme_order_result res;

	(void)state;
	assert_int_equal(run_order(s, 4, &res), -1);
	assert_string_equal(res.error,
	                    "urn:ietf:params:acme:error:connection: 127.0.0.9: Connection refused");
	assert_int_equal(npublish, 1);
	assert_int_equal(nwithdraw, 1); /* the token is removed on failure too */
	acme_order_result_deinit(&res);
}

static void test_transport_error_and_missing_location(void **state)
{
	static const struct canned s1[] = {
		{ HTTP_METHOD_POST, CA "/order", 0, NULL, NULL, 0, NULL, CANNED_TRANSPORT, 0 },
	};
	static const struct canned s2[] = {
		/* the failed request used the nonce up: fetch a new one */
		{ HTTP_METHOD_HEAD, CA "/nonce", 200, NULL, NULL, 0, NULL, 0, 0 },
		NEW_ORDER_OK,
		{ HTTP_METHOD_POST, CA "/authz/1", 200, NULL, NULL, 0, AUTHZ("valid", "valid", ""),
		  0, 0 },
		{ HTTP_METHOD_POST, CA "/o/1", 200, NULL, NULL, 0, ORDER("ready", ""), 0, 0 },
		{ HTTP_METHOD_POST, CA "/fin/1", 200, NULL, NULL, 0, ORDER("valid", ""), 0, 0 },
	};
	struct acme_order_result res;

	(void)state;
	assert_int_equal(run_order(s1, 1, &res), -1);
	assert_non_null(strstr(res.error, "larger than"));
	acme_order_result_deinit(&res);
	/* reused valid authorization: no challenge; valid order without a certificate URL */
	assert_int_equal(run_order(s2, 5, &res), -1);
	assert_int_equal(npublish, 0);
	assert_non_null(strstr(res.error, "without a certificate URL"));
	acme_order_result_deinit(&res);
}

static void test_wrong_certificate_refused(void **state)
{
	static const struct canned s[] = {
		NEW_ORDER_OK,
		{ HTTP_METHOD_POST, CA "/authz/1", 200, NULL, NULL, 0, AUTHZ("valid", "valid", ""),
		  0, 0 },
		{ HTTP_METHOD_POST, CA "/o/1", 200, NULL, NULL, 0,
		  ORDER("valid", ",\"certificate\":\"" CA "/cert/1\""), 0, 0 },
		{ HTTP_METHOD_POST, CA "/cert/1", 200, NULL, "application/pem-certificate-chain", 0,
		  "garbage", 0, 0 },
	};
	struct acme_order_result res;

	(void)state;
	assert_int_equal(run_order(s, 4, &res), -1);
	assert_non_null(strstr(res.error, "not a PEM certificate chain"));
	acme_order_result_deinit(&res);
}

static void test_profiles(void **state)
{
	static const struct canned dir[] = {
		{ HTTP_METHOD_GET, CA "/dir", 200, NULL, NULL, 0, DIR_PROFILES_JSON, 0, 1 },
	};
	static const struct canned order[] = {
		{ HTTP_METHOD_GET, CA "/dir", 200, NULL, NULL, 0, DIR_PROFILES_JSON, 0, 1 },
		{ HTTP_METHOD_HEAD, CA "/nonce", 200, NULL, NULL, 0, NULL, 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 400, NULL, PJ, 0,
		  PROBLEM("invalidProfile", "nope"), 0, 0 },
	};
	struct acme_client *c;
	struct acme_order_result res;
	struct jws_key *k = jws_key_generate(JWS_ALG_ES256);
	char err[512];
	int created;

	(void)state;
	cfg.profile = "sixdays";
	c = acme_client_new(&cfg, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(acme_client_set_account(c, k, CA "/acct/1"), 0);
	play(dir, 1);
	assert_int_equal(acme_account(c, JWS_ALG_ES256, &created, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--profile: 'sixdays' is not offered"));
	assert_non_null(strstr(err, "classic"));
	acme_client_free(c);

	cfg.profile = "shortlived";
	c = acme_client_new(&cfg, err, sizeof(err));
	assert_int_equal(acme_client_set_account(c, k, CA "/acct/1"), 0);
	play(order, 3);
	acme_order_result_init(&res);
	assert_int_equal(acme_order(c, "a.test", NULL, k, &ops, &res), -1);
	assert_string_equal(payloads[2],
	                    "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
	                    "\"profile\":\"shortlived\"}");
	assert_string_equal(res.error, "urn:ietf:params:acme:error:invalidProfile: nope");
	acme_order_result_deinit(&res);
	acme_client_free(c);
	cfg.profile = NULL;
	jws_key_free(k);
}

static void test_stored_account_checked(void **state)
{
	static const struct canned known[] = {
		{ HTTP_METHOD_GET, CA "/dir", 200, NULL, NULL, 0, DIR_JSON, 0, 1 },
		{ HTTP_METHOD_HEAD, CA "/nonce", 200, NULL, NULL, 0, NULL, 0, 0 },
		{ HTTP_METHOD_POST, CA "/acct", 200, CA "/acct/1", NULL, 0,
		  "{\"status\":\"valid\"}", 0, 0 },
	};
	static const struct canned forgotten[] = {
		{ HTTP_METHOD_GET, CA "/dir", 200, NULL, NULL, 0, DIR_JSON, 0, 1 },
		{ HTTP_METHOD_HEAD, CA "/nonce", 200, NULL, NULL, 0, NULL, 0, 0 },
		{ HTTP_METHOD_POST, CA "/acct", 400, NULL, PJ, 0,
		  PROBLEM("accountDoesNotExist", "No account exists with the provided key"), 0, 0 },
		{ HTTP_METHOD_POST, CA "/acct", 201, CA "/acct/2", NULL, 0,
		  "{\"status\":\"valid\"}", 0, 0 },
	};
	struct jws_key *k = jws_key_generate(JWS_ALG_ES256);
	struct acme_client *c;
	char err[512];
	int created = -1;

	(void)state;
	/* a stored account the CA still knows: asked with onlyReturnExisting, nothing to store */
	c = acme_client_new(&cfg, err, sizeof(err));
	assert_int_equal(acme_client_set_account(c, k, CA "/acct/1"), 0);
	play(known, 3);
	assert_int_equal(acme_account(c, JWS_ALG_ES256, &created, err, sizeof(err)), 0);
	assert_int_equal(created, 0);
	assert_string_equal(payloads[2], "{\"onlyReturnExisting\":true}");
	acme_client_free(c);
	/* a CA that forgot it: the same key is registered again, the new URL must be stored */
	c = acme_client_new(&cfg, err, sizeof(err));
	assert_int_equal(acme_client_set_account(c, k, CA "/acct/1"), 0);
	play(forgotten, 4);
	assert_int_equal(acme_account(c, JWS_ALG_ES256, &created, err, sizeof(err)), 0);
	assert_int_equal(created, 1);
	assert_int_equal(script_pos, 4);
	assert_string_equal(acme_client_account_url(c), CA "/acct/2");
	assert_ptr_equal(acme_client_account_key(c) != NULL, 1);
	acme_client_free(c);
	jws_key_free(k);
}

/* ---- ARI (RFC 9773) ---- */

#define DIR_ARI_JSON                                                                       \
	"{\"newNonce\":\"" CA "/nonce\",\"newAccount\":\"" CA "/acct\",\"newOrder\":\"" CA \
	"/order\",\"renewalInfo\":\"" CA "/ari/\"}"
#define CERT_ID "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"

static void test_renewal_info(void **state)
{
	static const struct canned steps[] = {
		{ HTTP_METHOD_GET, CA "/dir", 200, NULL, NULL, 0, DIR_ARI_JSON, 0, 1 },
		{ HTTP_METHOD_GET, CA "/ari/" CERT_ID, 200, NULL, NULL, 21600,
		  "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\",\"end\":"
		  "\"2025-01-03T04:00:00Z\"},\"explanationURL\":\"https://ca.test/why\"}",
		  0, 1 },
		{ HTTP_METHOD_GET, CA "/ari/" CERT_ID, 404, NULL, PJ, 0,
		  PROBLEM("malformed", "unknown certificate"), 0, 1 },
	};
	struct acme_client *c;
	struct ari_window w;
	long long ra = 0;
	char err[512];

	(void)state;
	/* the directory is fetched on demand; the GET is unsigned (no nonce, no JWS) */
	c = acme_client_new(&cfg, err, sizeof(err));
	assert_non_null(c);
	play(steps, 3);
	memset(&w, 0, sizeof(w));
	assert_int_equal(acme_renewal_info(c, CERT_ID, &w, &ra, err, sizeof(err)), 1);
	assert_int_equal(script_pos, 2);
	assert_int_equal(w.start, 1735790400LL);
	assert_int_equal(w.end, 1735790400LL + 86400);
	assert_string_equal(w.explanation_url, "https://ca.test/why");
	assert_int_equal(ra, 21600);
	/* a CA that does not know the certificate: a failure with its problem */
	assert_int_equal(acme_renewal_info(c, CERT_ID, &w, &ra, err, sizeof(err)), -1);
	assert_int_equal(ra, -1);
	assert_non_null(strstr(err, "unknown certificate"));
	/* nothing that reshapes the URL is sent */
	assert_int_equal(acme_renewal_info(c, "a/../b", &w, &ra, err, sizeof(err)), -1);
	assert_int_equal(script_pos, 3);
	acme_client_free(c);

	/* the setup's directory has no renewalInfo: no ARI, no request */
	play(NULL, 0);
	assert_int_equal(acme_renewal_info(client, CERT_ID, &w, &ra, err, sizeof(err)), 0);
	assert_int_equal(ra, -1);
}

static void test_new_order_replaces(void **state)
{
	static const struct canned ari_order[] = {
		{ HTTP_METHOD_GET, CA "/dir", 200, NULL, NULL, 0, DIR_ARI_JSON, 0, 1 },
		{ HTTP_METHOD_HEAD, CA "/nonce", 200, NULL, NULL, 0, NULL, 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 409, NULL, PJ, 0,
		  PROBLEM("alreadyReplaced", "already replaced"), 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 403, NULL, PJ, 0, PROBLEM("unauthorized", "no"), 0,
		  0 },
	};
	static const struct canned plain_order[] = {
		{ HTTP_METHOD_POST, CA "/order", 400, NULL, PJ, 0, PROBLEM("malformed", "no"), 0,
		  0 },
	};
	struct acme_client *c;
	struct acme_order_result res;
	struct jws_key *k = jws_key_generate(JWS_ALG_ES256);
	char err[512];

	(void)state;
	/* no renewalInfo in the directory (Pebble 2.4): no "replaces". (The setup's client goes
	 * first: the fake checks that a POST carries the last nonce it served.) */
	play(plain_order, 1);
	acme_order_result_init(&res);
	assert_int_equal(acme_order(client, "a.test", CERT_ID, k, &ops, &res), -1);
	assert_string_equal(payloads[0],
	                    "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}");
	acme_order_result_deinit(&res);

	/* the directory offers renewalInfo: "replaces" goes with newOrder */
	c = acme_client_new(&cfg, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(acme_client_set_account(c, k, CA "/acct/1"), 0);
	play(ari_order, 4);
	acme_order_result_init(&res);
	assert_int_equal(acme_order(c, "a.test", CERT_ID, k, &ops, &res), -1);
	assert_string_equal(payloads[2],
	                    "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
	                    "\"replaces\":\"" CERT_ID "\"}");
	/* alreadyReplaced: ordered again at once, without "replaces" */
	assert_int_equal(script_pos, 4);
	assert_string_equal(payloads[3],
	                    "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}");
	assert_string_equal(res.error, "urn:ietf:params:acme:error:unauthorized: no");
	acme_order_result_deinit(&res);
	acme_client_free(c);
	jws_key_free(k);
}

/* A CA that does not take the CertID as "replaces" (not its certificate, not this account's):
 * a client error other than rate limits is answered by ordering once more without it. */
static void test_new_order_replaces_refused(void **state)
{
	static const struct canned s[] = {
		{ HTTP_METHOD_GET, CA "/dir", 200, NULL, NULL, 0, DIR_ARI_JSON, 0, 1 },
		{ HTTP_METHOD_HEAD, CA "/nonce", 200, NULL, NULL, 0, NULL, 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 400, NULL, PJ, 0,
		  PROBLEM("malformed", "replaces: certificate not found"), 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 400, NULL, PJ, 0, PROBLEM("malformed", "again"), 0,
		  0 },
	};
	static const struct canned limited[] = {
		{ HTTP_METHOD_POST, CA "/order", 429, NULL, PJ, 3600,
		  PROBLEM("rateLimited", "too many"), 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 429, NULL, PJ, 3600,
		  PROBLEM("rateLimited", "too many"), 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 429, NULL, PJ, 3600,
		  PROBLEM("rateLimited", "too many"), 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 429, NULL, PJ, 3600,
		  PROBLEM("rateLimited", "too many"), 0, 0 },
	};
	static const struct canned internal[] = {
		{ HTTP_METHOD_POST, CA "/order", 500, NULL, PJ, 0,
		  PROBLEM("serverInternal", "could not find order"), 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 500, NULL, PJ, 0,
		  PROBLEM("serverInternal", "could not find order"), 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 500, NULL, PJ, 0,
		  PROBLEM("serverInternal", "could not find order"), 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 500, NULL, PJ, 0,
		  PROBLEM("serverInternal", "could not find order"), 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 400, NULL, PJ, 0, PROBLEM("malformed", "again"), 0,
		  0 },
	};
	struct acme_client *c;
	struct acme_order_result res;
	struct jws_key *k = jws_key_generate(JWS_ALG_ES256);
	char err[512];

	(void)state;
	c = acme_client_new(&cfg, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(acme_client_set_account(c, k, CA "/acct/1"), 0);
	play(s, 4);
	acme_order_result_init(&res);
	assert_int_equal(acme_order(c, "a.test", CERT_ID, k, &ops, &res), -1);
	assert_int_equal(script_pos, 4); /* once without, not more */
	assert_non_null(strstr(payloads[2], "\"replaces\":\"" CERT_ID "\""));
	assert_string_equal(payloads[3],
	                    "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}");
	assert_string_equal(res.error, "urn:ietf:params:acme:error:malformed: again");
	acme_order_result_deinit(&res);
	/* a server error that outlives its retries (Pebble 2.7 and a serial with a leading zero
	 * byte): once more without "replaces" */
	play(internal, 5);
	acme_order_result_init(&res);
	assert_int_equal(acme_order(c, "a.test", CERT_ID, k, &ops, &res), -1);
	assert_int_equal(script_pos, 5);
	assert_non_null(strstr(payloads[3], "\"replaces\""));
	assert_null(strstr(payloads[4], "\"replaces\""));
	assert_string_equal(res.error, "urn:ietf:params:acme:error:malformed: again");
	acme_order_result_deinit(&res);
	/* rate limits are not about "replaces": no order without it (1 + 3 busy retries: the
	 * hour-long Retry-After is over the cap at once) */
	play(limited, 4);
	acme_order_result_init(&res);
	assert_int_equal(acme_order(c, "a.test", CERT_ID, k, &ops, &res), -1);
	assert_int_equal(script_pos, 1);
	assert_non_null(strstr(payloads[0], "\"replaces\""));
	assert_int_equal(res.retry_after, 3600);
	acme_order_result_deinit(&res);
	acme_client_free(c);
	jws_key_free(k);
}

/* ---- revocation (RFC 8555 §7.6) ---- */

#define DIR_REVOKE_JSON                                                                    \
	"{\"newNonce\":\"" CA "/nonce\",\"newAccount\":\"" CA "/acct\",\"newOrder\":\"" CA \
	"/order\",\"revokeCert\":\"" CA "/revoke\"}"

static void test_revoke_cert(void **state)
{
	static const struct canned s[] = {
		{ HTTP_METHOD_GET, CA "/dir", 200, NULL, NULL, 0, DIR_REVOKE_JSON, 0, 1 },
		{ HTTP_METHOD_HEAD, CA "/nonce", 200, NULL, NULL, 0, NULL, 0, 0 },
		{ HTTP_METHOD_POST, CA "/revoke", 200, NULL, NULL, 0, NULL, 0, 0 },
		{ HTTP_METHOD_POST, CA "/revoke", 400, NULL, PJ, 0,
		  PROBLEM("alreadyRevoked", "Certificate already revoked"), 0, 0 },
		{ HTTP_METHOD_POST, CA "/revoke", 403, NULL, PJ, 0,
		  PROBLEM("unauthorized", "not your certificate"), 0, 0 },
		{ HTTP_METHOD_POST, CA "/revoke", 503, NULL, PJ, 3600,
		  PROBLEM("serverInternal", "down"), 0, 0 },
	};
	static const uint8_t der[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
	struct acme_client *c;
	struct jws_key *k = jws_key_generate(JWS_ALG_ES256);
	long long ra = 0;
	char err[512];

	(void)state;
	/* the setup's directory has no revokeCert: refused without a request */
	play(NULL, 0);
	assert_int_equal(acme_revoke_cert(client, der, sizeof(der), 5, &ra, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no revokeCert"));

	c = acme_client_new(&cfg, err, sizeof(err));
	assert_non_null(c);
	/* no account: nothing is sent */
	assert_int_equal(acme_revoke_cert(c, der, sizeof(der), 5, &ra, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no ACME account"));
	assert_int_equal(acme_client_set_account(c, k, CA "/acct/1"), 0);
	play(s, 6);
	/* base64url DER and reason cessationOfOperation, signed with kid (check_post checks the
	 * nonce and URL) */
	assert_int_equal(acme_revoke_cert(c, der, sizeof(der), ACME_REVOKE_CESSATION_OF_OPERATION,
	                                  &ra, err, sizeof(err)),
	                 0);
	assert_int_equal(script_pos, 3);
	assert_string_equal(payloads[2], "{\"certificate\":\"MAMCAQU\",\"reason\":5}");
	/* alreadyRevoked is what we wanted */
	assert_int_equal(acme_revoke_cert(c, der, sizeof(der), 5, &ra, err, sizeof(err)), 0);
	/* another problem is a failure with its text */
	assert_int_equal(acme_revoke_cert(c, der, sizeof(der), 5, &ra, err, sizeof(err)), -1);
	assert_string_equal(err, "urn:ietf:params:acme:error:unauthorized: not your certificate");
	assert_int_equal(ra, -1);
	/* a busy CA with a long Retry-After: its figure for the caller's backoff */
	assert_int_equal(acme_revoke_cert(c, der, sizeof(der), 5, &ra, err, sizeof(err)), -1);
	assert_int_equal(ra, 3600);
	assert_int_equal(script_pos, 6);
	/* bad input never reaches the CA */
	assert_int_equal(acme_revoke_cert(c, der, 0, 5, &ra, err, sizeof(err)), -1);
	assert_int_equal(acme_revoke_cert(c, der, sizeof(der), 11, &ra, err, sizeof(err)), -1);
	acme_client_free(c);
	jws_key_free(k);
}

/* ---- parsers ---- */

static void test_problem_parse(void **state)
{
	static const char pb[] =
	        "{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"Error "
	        "creating new order :: Cannot issue for 2 names\",\"subproblems\":[{\"type\":"
	        "\"urn:ietf:params:acme:error:malformed\",\"detail\":\"Invalid underscore in DNS "
	        "name\",\"identifier\":{\"type\":\"dns\",\"value\":\"_example.org\"}},{\"type\":"
	        "\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"This CA will not "
	        "issue for \\\"example.net\\\"\",\"identifier\":{\"type\":\"dns\",\"value\":"
	        "\"example.net\"}}]}";
	char out[ACME_ERR_MAX], type[64], small[40];

	(void)state;
	assert_int_equal(acme_problem_parse(pb, strlen(pb), out, sizeof(out), type, sizeof(type)),
	                 0);
	assert_string_equal(type, "rejectedIdentifier");
	assert_string_equal(
	        out, "urn:ietf:params:acme:error:rejectedIdentifier: Error creating new order :: "
	             "Cannot issue for 2 names [subproblems: dns:_example.org: "
	             "urn:ietf:params:acme:error:malformed: Invalid underscore in DNS name; "
	             "dns:example.net: urn:ietf:params:acme:error:rejectedIdentifier: This CA will "
	             "not issue for \"example.net\"]");
	/* truncation stays NUL-terminated */
	assert_int_equal(acme_problem_parse(pb, strlen(pb), small, sizeof(small), NULL, 0), 0);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(acme_problem_parse("[]", 2, out, sizeof(out), NULL, 0), -1);
	assert_int_equal(acme_problem_parse("{\"a\":1}", 7, out, sizeof(out), NULL, 0), -1);
	assert_int_equal(acme_problem_parse("{\"type\":", 8, out, sizeof(out), NULL, 0), -1);
}

static void test_parsers_refuse(void **state)
{
	static const char *const bad_dirs[] = {
		"{}",
		"{\"newNonce\":\"ftp://x\",\"newAccount\":\"https://x\",\"newOrder\":\"https://"
		"x\"}",
		"{\"newNonce\":1,\"newAccount\":\"https://x\",\"newOrder\":\"https://x\"}",
		"[1]",
		"",
	};
	static const char *const bad_orders[] = {
		"{\"status\":\"weird\",\"authorizations\":[],\"finalize\":\"https://x\"}",
		"{\"status\":\"pending\",\"authorizations\":\"https://x\",\"finalize\":\"https://"
		"x\"}",
		"{\"status\":\"pending\",\"authorizations\":[1],\"finalize\":\"https://x\"}",
		"{\"status\":\"pending\",\"authorizations\":[]}",
	};
	static const char *const bad_authz[] = {
		"{\"status\":\"pending\",\"challenges\":[]}",
		"{\"status\":\"pending\",\"identifier\":{\"value\":\"a\"},\"challenges\":[{"
		"\"type\":"
		"\"http-01\",\"status\":\"pending\",\"url\":\"https://x\",\"token\":\"../etc\"}]}",
		"{\"status\":\"pending\",\"identifier\":{\"value\":\"a\"},\"challenges\":[{"
		"\"type\":"
		"\"http-01\",\"status\":\"pending\",\"token\":\"abc\"}]}",
	};
	struct acme_directory d;
	struct acme_order_obj o;
	struct acme_authz_obj a;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_dirs) / sizeof(bad_dirs[0]); i++)
		assert_int_equal(acme_directory_parse(bad_dirs[i], strlen(bad_dirs[i]), &d, err,
		                                      sizeof(err)),
		                 -1);
	for (i = 0; i < sizeof(bad_orders) / sizeof(bad_orders[0]); i++)
		assert_int_equal(acme_order_parse(bad_orders[i], strlen(bad_orders[i]), &o, err,
		                                  sizeof(err)),
		                 -1);
	for (i = 0; i < sizeof(bad_authz) / sizeof(bad_authz[0]); i++)
		assert_int_equal(
		        acme_authz_parse(bad_authz[i], strlen(bad_authz[i]), &a, err, sizeof(err)),
		        -1);
	assert_int_equal(acme_directory_parse(DIR_PROFILES_JSON, strlen(DIR_PROFILES_JSON), &d, err,
	                                      sizeof(err)),
	                 0);
	assert_int_equal(d.nprofiles, 2);
	assert_null(d.renewal_info);
	acme_directory_deinit(&d);
	assert_int_equal(
	        acme_directory_parse(DIR_ARI_JSON, strlen(DIR_ARI_JSON), &d, err, sizeof(err)), 0);
	assert_string_equal(d.renewal_info, CA "/ari/");
	acme_directory_deinit(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_account_payload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_happy_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_nonce_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_nonce_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_nonce_fetches_new_nonce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_limited_retry_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_after_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_challenge_problem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_error_and_missing_location, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_wrong_certificate_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_profiles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stored_account_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_renewal_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_order_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_order_replaces_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_cert, setup, teardown),
		cmocka_unit_test(test_problem_parse),
		cmocka_unit_test(test_parsers_refuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
