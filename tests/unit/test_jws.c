// SPDX-License-Identifier: MIT
/*
 * Unit tests for jws.c: the RFC 7638 §3.1 thumbprint vector, JWK member order, ES256 and RS256
 * flattened JWS verified with OpenSSL from the key rebuilt out of the "jwk" header, kid vs jwk,
 * POST-as-GET, the key authorization, EAB (HS256) recomputed independently, the CSR parsed back,
 * PEM export/import and refusal of unsupported keys.
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
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert-pusher/issuer/jws.h"
#include "common/b64url.h"

/* RFC 7638 §3.1 */
#define RFC7638_N                                                                                 \
	"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_" \
	"BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_"                         \
	"RN5w6Cf0h4QyQ5v-65YGjQR0_"                                                               \
	"FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOp"                      \
	"bISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"     \
	"kEgU8awapJzKnqDKgw"
#define RFC7638_THUMBPRINT "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

static void b64d(const char *s, struct buf *out)
{
	buf_reset(out);
	assert_int_equal(b64url_decode(out, s, strlen(s)), 0);
}

/* An RSA public key from base64url n and e. */
static EVP_PKEY *rsa_pkey(const char *n64, const char *e64)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pkey = NULL;
	BIGNUM *n, *e;
	struct buf b;

	buf_init(&b);
	b64d(n64, &b);
	n = BN_bin2bn(b.data, (int)b.len, NULL);
	b64d(e64, &b);
	e = BN_bin2bn(b.data, (int)b.len, NULL);
	assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n));
	assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e));
	params = OSSL_PARAM_BLD_to_param(bld);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params), 1);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(n);
	BN_free(e);
	buf_deinit(&b);
	return pkey;
}

/* The same as a jws key, through a public key PEM and jws_key_from_pem. */
static struct jws_key *rsa_from_ne(const char *n64, const char *e64)
{
	EVP_PKEY *pkey = rsa_pkey(n64, e64);
	BIO *bio = BIO_new(BIO_s_mem());
	struct jws_key *k;
	char *pem;
	long len;

	assert_true(PEM_write_bio_PUBKEY(bio, pkey));
	len = BIO_get_mem_data(bio, &pem);
	k = jws_key_from_pem((const uint8_t *)pem, (size_t)len);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return k;
}

/* An EC P-256 public key from base64url x and y. */
static EVP_PKEY *ec_from_xy(const char *x64, const char *y64)
{
	unsigned char pub[65];
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *pkey = NULL;
	struct buf b;

	buf_init(&b);
	pub[0] = 0x04;
	b64d(x64, &b);
	assert_int_equal(b.len, 32);
	memcpy(pub + 1, b.data, 32);
	b64d(y64, &b);
	assert_int_equal(b.len, 32);
	memcpy(pub + 33, b.data, 32);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub));
	params[2] = OSSL_PARAM_construct_end();
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params), 1);
	EVP_PKEY_CTX_free(ctx);
	buf_deinit(&b);
	return pkey;
}

/* The public key a JWK object describes (EC or RSA). */
static EVP_PKEY *pkey_from_jwk(json_t *jwk)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));

	assert_non_null(kty);
	if (!strcmp(kty, "EC")) {
		assert_string_equal(json_string_value(json_object_get(jwk, "crv")), "P-256");
		assert_int_equal(json_object_size(jwk), 4);
		return ec_from_xy(json_string_value(json_object_get(jwk, "x")),
		                  json_string_value(json_object_get(jwk, "y")));
	}
	assert_string_equal(kty, "RSA");
	assert_int_equal(json_object_size(jwk), 3);
	return rsa_pkey(json_string_value(json_object_get(jwk, "n")),
	                json_string_value(json_object_get(jwk, "e")));
}

static void test_rfc7638_thumbprint(void **state)
{
	struct jws_key *k = rsa_from_ne(RFC7638_N, "AQAB");
	struct buf out;

	(void)state;
	assert_non_null(k);
	buf_init(&out);
	assert_int_equal(jws_jwk(k, &out), 0);
	assert_string_equal(buf_str(&out),
	                    "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\"}");
	buf_reset(&out);
	assert_int_equal(jws_thumbprint(k, &out), 0);
	assert_string_equal(buf_str(&out), RFC7638_THUMBPRINT);
	buf_reset(&out);
	assert_int_equal(
	        jws_key_authorization(k, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", &out), 0);
	assert_string_equal(buf_str(&out),
	                    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA." RFC7638_THUMBPRINT);
	buf_deinit(&out);
	jws_key_free(k);
}

static void test_ec_jwk_order(void **state)
{
	struct jws_key *k = jws_key_generate(JWS_ALG_ES256);
	struct buf out;
	json_t *j;

	(void)state;
	assert_non_null(k);
	buf_init(&out);
	assert_int_equal(jws_jwk(k, &out), 0);
	assert_int_equal(strncmp(buf_str(&out), "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"", 31),
	                 0);
	assert_non_null(strstr(buf_str(&out), "\",\"y\":\""));
	j = json_loads(buf_str(&out), 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 4);
	/* coordinates always 32 bytes = 43 base64url chars (RFC 7518 §6.2.1.2) */
	assert_int_equal(strlen(json_string_value(json_object_get(j, "x"))), 43);
	assert_int_equal(strlen(json_string_value(json_object_get(j, "y"))), 43);
	json_decref(j);
	buf_deinit(&out);
	jws_key_free(k);
}

/* Parse a flattened JWS, check its header, verify its signature with the key from its "jwk"
 * (or <verify_key> when it carries a kid) and return the decoded payload in <payload>. */
static void verify_jws(const char *jws, EVP_PKEY *verify_key, const char *alg, const char *kid,
                       const char *nonce, const char *url, struct buf *payload)
{
	json_t *o = json_loads(jws, 0, NULL), *h;
	const char *p64, *pl64, *sig64;
	struct buf prot, sig, input;
	EVP_PKEY *pkey = verify_key;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *es = NULL;
	unsigned char *der = NULL;
	int derlen;

	assert_non_null(o);
	assert_int_equal(json_object_size(o), 3);
	p64 = json_string_value(json_object_get(o, "protected"));
	pl64 = json_string_value(json_object_get(o, "payload"));
	sig64 = json_string_value(json_object_get(o, "signature"));
	assert_non_null(p64);
	assert_non_null(pl64);
	assert_non_null(sig64);
	buf_init(&prot);
	buf_init(&sig);
	buf_init(&input);
	b64d(p64, &prot);
	h = json_loads(buf_str(&prot), 0, NULL);
	assert_non_null(h);
	assert_string_equal(json_string_value(json_object_get(h, "alg")), alg);
	assert_string_equal(json_string_value(json_object_get(h, "url")), url);
	if (nonce)
		assert_string_equal(json_string_value(json_object_get(h, "nonce")), nonce);
	if (kid) {
		assert_string_equal(json_string_value(json_object_get(h, "kid")), kid);
		assert_null(json_object_get(h, "jwk"));
	} else {
		assert_null(json_object_get(h, "kid"));
		pkey = pkey_from_jwk(json_object_get(h, "jwk"));
	}
	b64d(pl64, payload);
	b64d(sig64, &sig);
	buf_printf(&input, "%s.%s", p64, pl64);
	if (!strcmp(alg, "ES256")) {
		BIGNUM *r, *s;

		assert_int_equal(sig.len, 64); /* raw r||s, not DER */
		es = ECDSA_SIG_new();
		r = BN_bin2bn(sig.data, 32, NULL);
		s = BN_bin2bn(sig.data + 32, 32, NULL);
		ECDSA_SIG_set0(es, r, s);
		derlen = i2d_ECDSA_SIG(es, &der);
		assert_true(derlen > 0);
		assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey), 1);
		assert_int_equal(EVP_DigestVerify(md, der, (size_t)derlen, input.data, input.len),
		                 1);
	} else {
		assert_int_equal(sig.len, 256);
		assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey), 1);
		assert_int_equal(EVP_DigestVerify(md, sig.data, sig.len, input.data, input.len), 1);
	}
	if (pkey != verify_key)
		EVP_PKEY_free(pkey);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	json_decref(h);
	json_decref(o);
	buf_deinit(&prot);
	buf_deinit(&sig);
	buf_deinit(&input);
}

/* The EVP_PKEY of a jws key, through its PEM export. */
static EVP_PKEY *pkey_of(const struct jws_key *k)
{
	struct buf pem;
	EVP_PKEY *pkey;
	BIO *bio;

	buf_init(&pem);
	assert_int_equal(jws_key_to_pem(k, &pem), 0);
	assert_non_null(strstr(buf_str(&pem), "-----BEGIN PRIVATE KEY-----"));
	bio = BIO_new_mem_buf(pem.data, (int)pem.len);
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	buf_wipe(&pem);
	assert_non_null(pkey);
	return pkey;
}

static void sign_and_verify(enum jws_alg alg)
{
	struct jws_key *k = jws_key_generate(alg);
	const char *name = jws_alg_name(alg);
	struct buf out, payload;
	EVP_PKEY *pkey;

	assert_non_null(k);
	buf_init(&out);
	buf_init(&payload);
	/* newAccount: jwk */
	assert_int_equal(jws_sign(k, NULL, "nonce-1", "https://ca.test/new-acct",
	                          "{\"termsOfServiceAgreed\":true}", &out),
	                 0);
	verify_jws(buf_str(&out), NULL, name, NULL, "nonce-1", "https://ca.test/new-acct",
	           &payload);
	assert_string_equal(buf_str(&payload), "{\"termsOfServiceAgreed\":true}");
	/* later requests: kid; POST-as-GET has an empty payload (RFC 8555 §6.3) */
	pkey = pkey_of(k);
	buf_reset(&out);
	assert_int_equal(jws_sign(k, "https://ca.test/acct/1", "nonce-\"2", "https://ca.test/o/1",
	                          NULL, &out),
	                 0);
	assert_non_null(strstr(buf_str(&out), "\"payload\":\"\""));
	verify_jws(buf_str(&out), pkey, name, "https://ca.test/acct/1", "nonce-\"2",
	           "https://ca.test/o/1", &payload);
	assert_int_equal(payload.len, 0);
	EVP_PKEY_free(pkey);
	buf_deinit(&out);
	buf_deinit(&payload);
	jws_key_free(k);
}

static void test_es256(void **state)
{
	(void)state;
	sign_and_verify(JWS_ALG_ES256);
}

static void test_rs256(void **state)
{
	(void)state;
	sign_and_verify(JWS_ALG_RS256);
}

static void test_eab(void **state)
{
	static const uint8_t hmac[32] = { 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
		                          12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
		                          23, 24, 25, 26, 27, 28, 29, 30, 31 };
	struct jws_key *k = jws_key_generate(JWS_ALG_ES256);
	struct buf out, jwk, prot, input, mac64;
	unsigned char md[32];
	unsigned int mdlen = 0;
	json_t *o, *h;
	const char *p64, *pl64;

	(void)state;
	buf_init(&out);
	buf_init(&jwk);
	buf_init(&prot);
	buf_init(&input);
	buf_init(&mac64);
	assert_int_equal(jws_eab(k, "kid-1", hmac, sizeof(hmac), "https://ca.test/new-acct", &out),
	                 0);
	o = json_loads(buf_str(&out), 0, NULL);
	assert_non_null(o);
	p64 = json_string_value(json_object_get(o, "protected"));
	pl64 = json_string_value(json_object_get(o, "payload"));
	b64d(p64, &prot);
	h = json_loads(buf_str(&prot), 0, NULL);
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "HS256");
	assert_string_equal(json_string_value(json_object_get(h, "kid")), "kid-1");
	assert_string_equal(json_string_value(json_object_get(h, "url")),
	                    "https://ca.test/new-acct");
	assert_null(json_object_get(h, "nonce")); /* RFC 8555 §7.3.4: no nonce */
	/* the payload is the account JWK */
	assert_int_equal(jws_jwk(k, &jwk), 0);
	b64d(pl64, &prot);
	assert_string_equal(buf_str(&prot), buf_str(&jwk));
	buf_printf(&input, "%s.%s", p64, pl64);
	HMAC(EVP_sha256(), hmac, sizeof(hmac), input.data, input.len, md, &mdlen);
	b64url_encode(&mac64, md, mdlen);
	assert_string_equal(json_string_value(json_object_get(o, "signature")), buf_str(&mac64));
	json_decref(h);
	json_decref(o);
	buf_deinit(&out);
	buf_deinit(&jwk);
	buf_deinit(&prot);
	buf_deinit(&input);
	buf_deinit(&mac64);
	jws_key_free(k);
}

static void check_csr(enum jws_alg alg, const char *name, int want_cn)
{
	struct jws_key *k = jws_key_generate(alg);
	const unsigned char *p;
	struct buf csr64, der;
	X509_REQ *req;
	EVP_PKEY *pub, *priv;
	STACK_OF(X509_EXTENSION) * exts;
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	char cn[256];

	buf_init(&csr64);
	buf_init(&der);
	assert_non_null(k);
	assert_int_equal(jws_csr(k, name, &csr64), 0);
	b64d(buf_str(&csr64), &der);
	p = der.data;
	req = d2i_X509_REQ(NULL, &p, (long)der.len);
	assert_non_null(req);
	pub = X509_REQ_get_pubkey(req);
	assert_int_equal(X509_REQ_verify(req, pub), 1);
	priv = pkey_of(k);
	assert_int_equal(EVP_PKEY_eq(pub, priv), 1);
	if (alg == JWS_ALG_ES256) {
		assert_true(EVP_PKEY_is_a(pub, "EC"));
		assert_int_equal(EVP_PKEY_get_bits(pub), 256);
	} else {
		assert_true(EVP_PKEY_is_a(pub, "RSA"));
		assert_int_equal(EVP_PKEY_get_bits(pub), 2048);
	}
	exts = X509_REQ_get_extensions(req);
	gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
	g = sk_GENERAL_NAME_value(gens, 0);
	assert_int_equal(g->type, GEN_DNS);
	assert_int_equal(ASN1_STRING_length(g->d.dNSName), (int)strlen(name));
	assert_memory_equal(ASN1_STRING_get0_data(g->d.dNSName), name, strlen(name));
	if (want_cn) {
		assert_true(X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req),
		                                      NID_commonName, cn, sizeof(cn)) > 0);
		assert_string_equal(cn, name);
	} else {
		assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(req)), 0);
	}
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(priv);
	X509_REQ_free(req);
	buf_deinit(&csr64);
	buf_deinit(&der);
	jws_key_free(k);
}

static void test_csr(void **state)
{
	(void)state;
	check_csr(JWS_ALG_ES256, "www.example.com", 1);
	check_csr(JWS_ALG_RS256, "a.example.test", 1);
	/* names longer than the 64-byte CN limit: SAN only */
	check_csr(JWS_ALG_ES256,
	          "a-very-long-label-that-goes-on.and-on-and-on-for-the-cn-limit.example.com", 0);
}

static void test_pem_round_trip(void **state)
{
	struct jws_key *k = jws_key_generate(JWS_ALG_ES256), *k2, *k3;
	struct buf pem, t1, t2;

	(void)state;
	buf_init(&pem);
	buf_init(&t1);
	buf_init(&t2);
	assert_int_equal(jws_key_to_pem(k, &pem), 0);
	buf_append_str(&pem, "url: https://ca.test/acct/1\n");
	k2 = jws_key_from_pem(pem.data, pem.len);
	assert_non_null(k2);
	assert_int_equal(jws_key_alg(k2), JWS_ALG_ES256);
	jws_thumbprint(k, &t1);
	jws_thumbprint(k2, &t2);
	assert_string_equal(buf_str(&t1), buf_str(&t2));
	k3 = jws_key_ref(k2);
	assert_non_null(k3);
	jws_key_free(k2);
	buf_reset(&t2);
	jws_thumbprint(k3, &t2);
	assert_string_equal(buf_str(&t1), buf_str(&t2));
	jws_key_free(k3);
	jws_key_free(k);
	buf_wipe(&pem);
	buf_deinit(&t1);
	buf_deinit(&t2);
}

static void test_refused_keys(void **state)
{
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *rsa1k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	EVP_PKEY *keys[2] = { p384, rsa1k };
	char *data;
	long len;
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		BIO *bio = BIO_new(BIO_s_mem());

		assert_true(PEM_write_bio_PrivateKey(bio, keys[i], NULL, NULL, 0, NULL, NULL));
		len = BIO_get_mem_data(bio, &data);
		assert_null(jws_key_from_pem((const uint8_t *)data, (size_t)len));
		BIO_free(bio);
		EVP_PKEY_free(keys[i]);
	}
	assert_null(jws_key_from_pem((const uint8_t *)"garbage", 7));
	assert_null(jws_key_from_pem((const uint8_t *)"", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7638_thumbprint),
		cmocka_unit_test(test_ec_jwk_order),
		cmocka_unit_test(test_es256),
		cmocka_unit_test(test_rs256),
		cmocka_unit_test(test_eab),
		cmocka_unit_test(test_csr),
		cmocka_unit_test(test_pem_round_trip),
		cmocka_unit_test(test_refused_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
