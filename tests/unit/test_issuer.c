// SPDX-License-Identifier: MIT
/*
 * Unit tests for issuer.c against a scripted CA and a real redis-server: the HTTP layer is
 * replaced at link time (this file defines http_global_init, http_client_new/free,
 * http_response_init/deinit and http_request, so http.o never enters the link), as in
 * test_acme.c. What is checked is what only the issuer decides: each key type's order carries
 * that key type's own CertID as "replaces" (RFC 9773), each new leaf's CertID comes back per
 * key type, and a removal's revocation posts every stored leaf to revokeCert with reason 5.
 */
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
#include <hiredis.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert-pusher/issuer/ari.h"
#include "cert-pusher/issuer/http.h"
#include "cert-pusher/issuer/issuer.h"
#include "cert-pusher/store/store.h"
#include "common/b64url.h"
#include "tests/unit/support/tredis.h"

static void kill_redis_clients(void);

/* ---- the fake HTTP layer ---- */

enum canned_kind { CANNED_PLAIN = 0, CANNED_CERT, CANNED_CERT_KILL };

struct canned {
	enum http_method method;
	const char *url;
	long status;
	const char *location;
	const char *ctype;
	const char *body;
	enum canned_kind kind;
	int no_nonce;
};

struct http_client {
	int unused;
};

static const struct canned *script;
static size_t script_len, script_pos;
static int nonce_seq;
static char last_csr[4096];
static char payloads[32][4096]; /* decoded payload of each POST, by exchange index */
static int cert_seq;            /* serial of the next leaf: 0x1000 + n */
static char leaf_der_b64[4][2048];

static void play(const struct canned *s, size_t n)
{
	script = s;
	script_len = n;
	script_pos = 0;
	memset(payloads, 0, sizeof(payloads));
}

int http_global_init(void)
{
	return 0;
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

/* Keep the decoded payload of a JWS POST and any CSR in it. */
static void keep_post(const uint8_t *body, size_t len, size_t idx)
{
	json_t *o = json_loadb((const char *)body, len, 0, NULL), *pl;
	const char *p64, *csr;
	struct buf b;

	assert_non_null(o);
	buf_init(&b);
	p64 = json_string_value(json_object_get(o, "payload"));
	assert_non_null(p64);
	assert_int_equal(b64url_decode(&b, p64, strlen(p64)), 0);
	if (idx < 32)
		snprintf(payloads[idx], sizeof(payloads[idx]), "%s", buf_str(&b));
	pl = b.len ? json_loads(buf_str(&b), 0, NULL) : NULL;
	csr = pl ? json_string_value(json_object_get(pl, "csr")) : NULL;
	if (csr)
		snprintf(last_csr, sizeof(last_csr), "%s", csr);
	json_decref(pl);
	json_decref(o);
	buf_deinit(&b);
}

/* A leaf for the last CSR's key (serial 0x1000 + n, AKI keyid AA BB CC so it has a CertID),
 * then a CA certificate. Its DER (base64url) is kept in leaf_der_b64[n]. */
static void make_cert(struct buf *out)
{
	static const unsigned char akid_bytes[] = { 0xAA, 0xBB, 0xCC };
	EVP_PKEY *ca = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *leaf = X509_new(), *root = X509_new();
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	X509_REQ *req;
	const unsigned char *p;
	unsigned char *der = NULL;
	struct buf csr, b64;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	int dlen;

	buf_init(&csr);
	buf_init(&b64);
	assert_int_equal(b64url_decode(&csr, last_csr, strlen(last_csr)), 0);
	p = csr.data;
	req = d2i_X509_REQ(NULL, &p, (long)csr.len);
	assert_non_null(req);
	ASN1_INTEGER_set(X509_get_serialNumber(leaf), 0x1000 + cert_seq);
	X509_gmtime_adj(X509_getm_notBefore(leaf), 0);
	X509_gmtime_adj(X509_getm_notAfter(leaf), 86400);
	X509_set_pubkey(leaf, X509_REQ_get0_pubkey(req));
	akid->keyid = ASN1_OCTET_STRING_new();
	ASN1_OCTET_STRING_set(akid->keyid, akid_bytes, sizeof(akid_bytes));
	assert_int_equal(X509_add1_ext_i2d(leaf, NID_authority_key_identifier, akid, 0, 0), 1);
	X509_sign(leaf, ca, EVP_sha256());
	ASN1_INTEGER_set(X509_get_serialNumber(root), 1);
	X509_gmtime_adj(X509_getm_notBefore(root), 0);
	X509_gmtime_adj(X509_getm_notAfter(root), 86400);
	X509_set_pubkey(root, ca);
	X509_sign(root, ca, EVP_sha256());
	dlen = i2d_X509(leaf, &der);
	assert_true(dlen > 0);
	assert_int_equal(b64url_encode(&b64, der, (size_t)dlen), 0);
	if (cert_seq < 4)
		snprintf(leaf_der_b64[cert_seq], sizeof(leaf_der_b64[0]), "%s", buf_str(&b64));
	cert_seq++;
	PEM_write_bio_X509(bio, leaf);
	PEM_write_bio_X509(bio, root);
	n = BIO_get_mem_data(bio, &data);
	buf_append(out, data, (size_t)n);
	OPENSSL_free(der);
	BIO_free(bio);
	AUTHORITY_KEYID_free(akid);
	X509_free(leaf);
	X509_free(root);
	X509_REQ_free(req);
	EVP_PKEY_free(ca);
	buf_deinit(&csr);
	buf_deinit(&b64);
}

int http_request(struct http_client *c, enum http_method method, const char *url,
                 const uint8_t *body, size_t body_len, struct http_response *r, char *err,
                 size_t errsz)
{
	const struct canned *k;
	size_t idx = script_pos;
	char nonce[32];

	(void)c;
	(void)err;
	(void)errsz;
	http_response_deinit(r);
	if (script_pos >= script_len)
		fail_msg("unexpected request %d %s after the script's end", method, url);
	k = &script[script_pos++];
	if (k->method != method || strcmp(k->url, url) != 0)
		fail_msg("exchange %zu: expected %d %s, got %d %s", idx, k->method, k->url, method,
		         url);
	if (method == HTTP_METHOD_POST)
		keep_post(body, body_len, idx);
	r->status = k->status;
	if (!k->no_nonce) {
		snprintf(nonce, sizeof(nonce), "nonce%d", ++nonce_seq);
		r->nonce = strdup(nonce);
	}
	r->location = k->location ? strdup(k->location) : NULL;
	r->content_type = strdup(k->ctype ? k->ctype : "application/json");
	if (k->kind == CANNED_CERT || k->kind == CANNED_CERT_KILL)
		make_cert(&r->body);
	else if (k->body)
		buf_append_str(&r->body, k->body);
	if (k->kind == CANNED_CERT_KILL)
		kill_redis_clients();
	return 0;
}

/* ---- the scripted CA ---- */

#define CA "https://ca.test"
#define DIR_JSON                                                                           \
	"{\"newNonce\":\"" CA "/nonce\",\"newAccount\":\"" CA "/acct\",\"newOrder\":\"" CA \
	"/order\",\"renewalInfo\":\"" CA "/ari/\",\"revokeCert\":\"" CA "/revoke\"}"
#define ORDER(status, extra)                                                                    \
	"{\"status\":\"" status "\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]," \
	"\"authorizations\":[\"" CA "/authz/1\"],\"finalize\":\"" CA "/fin/1\"" extra "}"
#define AUTHZ_VALID                                                                     \
	"{\"status\":\"valid\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.test\"}," \
	"\"challenges\":[]}"
#define PEM_CHAIN "application/pem-certificate-chain"
/* One order whose authorization is already valid: newOrder, authz, finalize, download. */
#define ONE_ORDER                                                                          \
	{ HTTP_METHOD_POST, CA "/order", 201, CA "/o/1", NULL, ORDER("ready", ""), 0, 0 }, \
	        { HTTP_METHOD_POST, CA "/authz/1", 200, NULL, NULL, AUTHZ_VALID, 0, 0 },   \
	        { HTTP_METHOD_POST,                                                        \
		  CA "/fin/1",                                                             \
		  200,                                                                     \
		  NULL,                                                                    \
		  NULL,                                                                    \
		  ORDER("valid", ",\"certificate\":\"" CA "/cert/1\""),                    \
		  0,                                                                       \
		  0 },                                                                     \
	{                                                                                  \
		HTTP_METHOD_POST, CA "/cert/1", 200, NULL, PEM_CHAIN, NULL, CANNED_CERT, 0 \
	}

static struct tredis redis;
static struct conf *conf;
static struct pusher pusher;
static struct issuer *is;
static char tmpdir[64], ring[128];

static int setup(void **state)
{
	static const struct canned account[] = {
		{ HTTP_METHOD_GET, CA "/dir", 200, NULL, NULL, DIR_JSON, 0, 1 },
		{ HTTP_METHOD_HEAD, CA "/nonce", 200, NULL, NULL, NULL, 0, 0 },
		{ HTTP_METHOD_POST, CA "/acct", 201, CA "/acct/1", NULL, "{\"status\":\"valid\"}",
		  0, 0 },
	};
	unsigned char key[32], key64[64];
	char err[512];
	FILE *f;

	(void)state;
	if (tredis_start(&redis) < 0)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_issuer.XXXXXX");
	if (!mkdtemp(tmpdir) || RAND_bytes(key, sizeof(key)) != 1)
		return -1;
	snprintf(ring, sizeof(ring), "%s/ring", tmpdir);
	EVP_EncodeBlock(key64, key, sizeof(key));
	f = fopen(ring, "w");
	if (!f)
		return -1;
	fprintf(f, "k1 %s\n", key64);
	fclose(f);
	chmod(ring, 0600);
	conf = conf_new();
	conf_set(conf, "redis", redis.addr, 1);
	conf_set(conf, "keyring", ring, 1);
	conf_set(conf, "directory", CA "/dir", 1);
	pusher.conf = conf;
	pusher.prefix = "t:";
	is = issuer_new(&pusher, err, sizeof(err));
	if (!is) {
		fprintf(stderr, "issuer_new: %s\n", err);
		return -1;
	}
	play(account, 3);
	if (issuer_account(is, err, sizeof(err)) < 0) {
		fprintf(stderr, "issuer_account: %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char path[160];

	(void)state;
	issuer_free(is);
	conf_free(conf);
	tredis_stop(&redis);
	snprintf(path, sizeof(path), "%s/ring", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

/* The "replaces" member of the JSON payload <p>, or "" when absent. */
static void replaces_of(const char *p, char *out, size_t outsz)
{
	json_t *o = json_loads(p, 0, NULL);

	assert_non_null(o);
	snprintf(out, outsz, "%s", json_string_value(json_object_get(o, "replaces")) ?: "");
	json_decref(o);
}

static void test_replaces_per_key_type(void **state)
{
	static const struct canned first[] = {
		{ HTTP_METHOD_GET, CA "/dir", 200, NULL, NULL, DIR_JSON, 0, 1 },
		{ HTTP_METHOD_HEAD, CA "/nonce", 200, NULL, NULL, NULL, 0, 0 },
		ONE_ORDER, /* ecdsa: exchanges 2..5 */
		ONE_ORDER, /* rsa: 6..9 */
	};
	static const struct canned renewal[] = { ONE_ORDER, ONE_ORDER };
	struct issuer_worker *w;
	struct issuer_result res;
	struct buf want_e, want_r;
	const char *rp[JWS_ALG_COUNT];
	char got[256], err[512];
	static const uint8_t aki[] = { 0xAA, 0xBB, 0xCC };
	uint8_t ser[2];

	(void)state;
	w = issuer_worker_new(is, err, sizeof(err));
	assert_non_null(w);
	buf_init(&want_e);
	buf_init(&want_r);

	/* first issuance: nothing to replace, and each new leaf's CertID per key type */
	cert_seq = 0;
	play(first, sizeof(first) / sizeof(first[0]));
	assert_int_equal(issuer_issue_host(w, "a.test", NULL, NULL, &res), 0);
	assert_int_equal(script_pos, script_len);
	assert_int_equal(res.stored, 2);
	replaces_of(payloads[2], got, sizeof(got));
	assert_string_equal(got, "");
	replaces_of(payloads[6], got, sizeof(got));
	assert_string_equal(got, "");
	ser[0] = 0x10;
	ser[1] = 0x00; /* the ECDSA leaf, ordered first */
	assert_int_equal(ari_cert_id_raw(aki, sizeof(aki), ser, 2, &want_e), 0);
	ser[1] = 0x01;
	assert_int_equal(ari_cert_id_raw(aki, sizeof(aki), ser, 2, &want_r), 0);
	assert_string_equal(res.cert_id[JWS_ALG_ES256], buf_str(&want_e));
	assert_string_equal(res.cert_id[JWS_ALG_RS256], buf_str(&want_r));
	assert_string_equal(res.serial_ecdsa, "1000");
	assert_string_equal(res.serial_rsa, "1001");

	/* the renewal: each order replaces its own key type's certificate */
	rp[JWS_ALG_ES256] = buf_str(&want_e);
	rp[JWS_ALG_RS256] = buf_str(&want_r);
	play(renewal, sizeof(renewal) / sizeof(renewal[0]));
	assert_int_equal(issuer_issue_host(w, "a.test", rp, NULL, &res), 0);
	assert_int_equal(script_pos, script_len);
	replaces_of(payloads[0], got, sizeof(got));
	assert_string_equal(got, buf_str(&want_e));
	replaces_of(payloads[4], got, sizeof(got));
	assert_string_equal(got, buf_str(&want_r));
	assert_string_equal(res.serial_ecdsa, "1002");
	assert_string_equal(res.serial_rsa, "1003");

	/* only the RSA certificate known (e.g. imported): the ECDSA order replaces nothing */
	rp[JWS_ALG_ES256] = NULL;
	play(renewal, sizeof(renewal) / sizeof(renewal[0]));
	assert_int_equal(issuer_issue_host(w, "a.test", rp, NULL, &res), 0);
	replaces_of(payloads[0], got, sizeof(got));
	assert_string_equal(got, "");
	replaces_of(payloads[4], got, sizeof(got));
	assert_string_equal(got, buf_str(&want_r));

	buf_deinit(&want_e);
	buf_deinit(&want_r);
	issuer_worker_free(w);
}

/* What a removal with revoke=true does at the CA: every stored leaf, reason 5. */
static void test_revoke_host(void **state)
{
	static const struct canned issue[] = {
		{ HTTP_METHOD_GET, CA "/dir", 200, NULL, NULL, DIR_JSON, 0, 1 },
		{ HTTP_METHOD_HEAD, CA "/nonce", 200, NULL, NULL, NULL, 0, 0 },
		ONE_ORDER,
		ONE_ORDER,
	};
	static const struct canned revoke[] = {
		{ HTTP_METHOD_POST, CA "/revoke", 200, NULL, NULL, NULL, 0, 0 },
		{ HTTP_METHOD_POST, CA "/revoke", 400, NULL, "application/problem+json",
		  "{\"type\":\"urn:ietf:params:acme:error:alreadyRevoked\",\"detail\":\"done\"}", 0,
		  0 },
	};
	static const struct canned refused[] = {
		{ HTTP_METHOD_POST, CA "/revoke", 200, NULL, NULL, NULL, 0, 0 },
		{ HTTP_METHOD_POST, CA "/revoke", 403, NULL, "application/problem+json",
		  "{\"type\":\"urn:ietf:params:acme:error:unauthorized\",\"detail\":\"no\"}", 0,
		  0 },
	};
	struct issuer_worker *w;
	struct issuer_result res;
	char want[2200], err[1024];
	long long ra = 0;

	(void)state;
	w = issuer_worker_new(is, err, sizeof(err));
	assert_non_null(w);
	/* nothing stored: nothing to revoke, no request */
	play(NULL, 0);
	assert_int_equal(issuer_revoke_host(w, "b.test", &ra, err, sizeof(err)), 0);

	cert_seq = 0;
	play(issue, sizeof(issue) / sizeof(issue[0]));
	assert_int_equal(issuer_issue_host(w, "b.test", NULL, NULL, &res), 0);
	play(revoke, 2);
	assert_int_equal(issuer_revoke_host(w, "b.test", &ra, err, sizeof(err)), 0);
	assert_int_equal(script_pos, 2);
	snprintf(want, sizeof(want), "{\"certificate\":\"%s\",\"reason\":5}", leaf_der_b64[0]);
	assert_string_equal(payloads[0], want);
	snprintf(want, sizeof(want), "{\"certificate\":\"%s\",\"reason\":5}", leaf_der_b64[1]);
	assert_string_equal(payloads[1], want);
	/* a refusal is reported with its key type, the other type is still revoked */
	play(refused, 2);
	assert_int_equal(issuer_revoke_host(w, "b.test", &ra, err, sizeof(err)), -1);
	assert_int_equal(script_pos, 2);
	assert_string_equal(err, "rsa: urn:ietf:params:acme:error:unauthorized: no");
	issuer_worker_free(w);
}

/* Redis drops every other client connection (what a failover or a restart does to the
 * issuer's), from a connection of its own. */
static void kill_redis_clients(void)
{
	redisContext *c = redisConnect("127.0.0.1", redis.port);
	redisReply *r;

	assert_true(c && !c->err);
	r = redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes");
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	assert_true(r->integer >= 1);
	freeReplyObject(r);
	redisFree(c);
}

/* The CA issued the certificate, and the issuer's Redis connection is gone when it stores it
 * (the primary failed over during the order): the certificate is stored once Redis is back,
 * not thrown away with the order (each new order costs a rate-limited issuance). */
static void test_store_after_lost_connection(void **state)
{
	static const struct canned order[] = {
		{ HTTP_METHOD_GET, CA "/dir", 200, NULL, NULL, DIR_JSON, 0, 1 },
		{ HTTP_METHOD_HEAD, CA "/nonce", 200, NULL, NULL, NULL, 0, 0 },
		{ HTTP_METHOD_POST, CA "/order", 201, CA "/o/1", NULL, ORDER("ready", ""), 0, 0 },
		{ HTTP_METHOD_POST, CA "/authz/1", 200, NULL, NULL, AUTHZ_VALID, 0, 0 },
		{ HTTP_METHOD_POST, CA "/fin/1", 200, NULL, NULL,
		  ORDER("valid", ",\"certificate\":\"" CA "/cert/1\""), 0, 0 },
		{ HTTP_METHOD_POST, CA "/cert/1", 200, NULL, PEM_CHAIN, NULL, CANNED_CERT_KILL, 0 },
		ONE_ORDER,
	};
	struct issuer_worker *w;
	struct issuer_result res;
	redisContext *c;
	redisReply *r;
	char err[512];

	(void)state;
	w = issuer_worker_new(is, err, sizeof(err));
	assert_non_null(w);
	cert_seq = 0;
	play(order, sizeof(order) / sizeof(order[0]));
	assert_int_equal(issuer_issue_host(w, "c.test", NULL, NULL, &res), 0);
	assert_int_equal(script_pos, script_len); /* no second order for the ECDSA key */
	assert_int_equal(res.stored, 2);
	c = redisConnect("127.0.0.1", redis.port);
	assert_true(c && !c->err);
	r = redisCommand(c, "EXISTS t:cert:c.test:ecdsa t:cert:c.test:rsa");
	assert_non_null(r);
	assert_int_equal(r->integer, 2);
	freeReplyObject(r);
	redisFree(c);
	issuer_worker_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replaces_per_key_type),
		cmocka_unit_test(test_revoke_host),
		cmocka_unit_test(test_store_after_lost_connection),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
