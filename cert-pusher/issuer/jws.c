// SPDX-License-Identifier: MIT
/*
 * JOSE for ACME on OpenSSL 3 and jansson. Keys live in EVP_PKEYs that OpenSSL cleanses when
 * freed; the PEM export goes into a caller-wiped buffer. The JWK is written by hand so that the
 * member order and the absence of whitespace match RFC 7638 §3.2 byte for byte: the thumbprint
 * is a hash of exactly that text, and the same text is embedded in "jwk" headers. ES256
 * signatures are converted from OpenSSL's DER to the fixed 64-byte r||s of RFC 7518 §3.4.
 */
#include "cert-pusher/issuer/jws.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64url.h"

struct jws_key {
	EVP_PKEY *pkey;
	enum jws_alg alg;
};

static const char *const jws_alg_names[JWS_ALG_COUNT] = {
	[JWS_ALG_ES256] = "ES256",
	[JWS_ALG_RS256] = "RS256",
};

const char *jws_alg_name(enum jws_alg alg)
{
	return alg < JWS_ALG_COUNT ? jws_alg_names[alg] : "?";
}

static struct jws_key *jws_key_wrap(EVP_PKEY *pkey)
{
	struct jws_key *k = NULL;
	char curve[64];
	size_t clen = 0;
	enum jws_alg alg;

	if (EVP_PKEY_is_a(pkey, "EC")) {
		if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, curve,
		                                    sizeof(curve), &clen) ||
		    strcmp(curve, "prime256v1") != 0)
			goto fail;
		alg = JWS_ALG_ES256;
	} else if (EVP_PKEY_is_a(pkey, "RSA")) {
		if (EVP_PKEY_get_bits(pkey) < 2048)
			goto fail;
		alg = JWS_ALG_RS256;
	} else {
		goto fail;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		goto fail;
	k->pkey = pkey;
	k->alg = alg;
	return k;
fail:
	EVP_PKEY_free(pkey);
	return NULL;
}

struct jws_key *jws_key_generate(enum jws_alg alg)
{
	EVP_PKEY *pkey = NULL;

	if (alg == JWS_ALG_ES256)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (alg == JWS_ALG_RS256)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	return pkey ? jws_key_wrap(pkey) : NULL;
}

struct jws_key *jws_key_from_pem(const uint8_t *pem, size_t len)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio;

	if (len > INT32_MAX)
		return NULL;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return NULL;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!pkey) {
		(void)BIO_reset(bio);
		pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	}
	BIO_free(bio);
	return pkey ? jws_key_wrap(pkey) : NULL;
}

struct jws_key *jws_key_ref(struct jws_key *k)
{
	struct jws_key *n;

	if (!EVP_PKEY_up_ref(k->pkey))
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n) {
		EVP_PKEY_free(k->pkey);
		return NULL;
	}
	n->pkey = k->pkey;
	n->alg = k->alg;
	return n;
}

void jws_key_free(struct jws_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

enum jws_alg jws_key_alg(const struct jws_key *k)
{
	return k->alg;
}

int jws_key_to_pem(const struct jws_key *k, struct buf *out)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	char *data;
	long n;
	int ret = -1;

	if (!bio)
		goto out;
	if (!PEM_write_bio_PKCS8PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL))
		goto out;
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0 || buf_append(out, data, (size_t)n) < 0)
		goto out;
	ret = 0;
out:
	BIO_free(bio); /* secure heap BIO: cleansed on free */
	return ret;
}

/* Append base64url of the big-endian BIGNUM parameter <name> of <pkey>, left-padded to <width>
 * bytes when <width> > 0 (EC coordinates, RFC 7518 §6.2.1.2), minimal otherwise (RFC 7518
 * §6.3.1: no leading zero octets). */
static int jws_b64_param(const EVP_PKEY *pkey, const char *name, int width, struct buf *out)
{
	BIGNUM *bn = NULL;
	uint8_t *bytes = NULL;
	int n, ret = -1;

	if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
		goto out;
	n = width > 0 ? width : BN_num_bytes(bn);
	if (n <= 0)
		n = 1;
	bytes = malloc((size_t)n);
	if (!bytes || BN_bn2binpad(bn, bytes, n) != n)
		goto out;
	if (b64url_encode(out, bytes, (size_t)n) < 0)
		goto out;
	ret = 0;
out:
	free(bytes);
	BN_free(bn);
	return ret;
}

int jws_jwk(const struct jws_key *k, struct buf *out)
{
	if (k->alg == JWS_ALG_ES256) {
		return buf_append_str(out, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"") < 0 ||
		                       jws_b64_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32, out) <
		                               0 ||
		                       buf_append_str(out, "\",\"y\":\"") < 0 ||
		                       jws_b64_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32, out) <
		                               0 ||
		                       buf_append_str(out, "\"}") < 0
		               ? -1
		               : 0;
	}
	return buf_append_str(out, "{\"e\":\"") < 0 ||
	                       jws_b64_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, 0, out) < 0 ||
	                       buf_append_str(out, "\",\"kty\":\"RSA\",\"n\":\"") < 0 ||
	                       jws_b64_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, 0, out) < 0 ||
	                       buf_append_str(out, "\"}") < 0
	               ? -1
	               : 0;
}

int jws_thumbprint(const struct jws_key *k, struct buf *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct buf jwk;
	int ret = -1;

	buf_init(&jwk);
	if (jws_jwk(k, &jwk) < 0)
		goto out;
	if (!EVP_Digest(jwk.data, jwk.len, md, &mdlen, EVP_sha256(), NULL))
		goto out;
	if (b64url_encode(out, md, mdlen) < 0)
		goto out;
	ret = 0;
out:
	buf_deinit(&jwk);
	return ret;
}

int jws_key_authorization(const struct jws_key *k, const char *token, struct buf *out)
{
	if (buf_append_str(out, token) < 0 || buf_append(out, ".", 1) < 0)
		return -1;
	return jws_thumbprint(k, out);
}

/* Sign <in>/<len> with <k>: RS256 = RSASSA-PKCS1-v1_5 SHA-256; ES256 = ECDSA P-256 SHA-256 as
 * the 64-byte r||s (RFC 7518 §3.4), not DER. Appends the base64url signature to <out>. */
static int jws_sign_bytes(const struct jws_key *k, const uint8_t *in, size_t len, struct buf *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ECDSA_SIG *es = NULL;
	const BIGNUM *r, *s;
	const unsigned char *p;
	unsigned char *sig = NULL, rs[64];
	size_t siglen = 0;
	int ret = -1;

	if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) != 1)
		goto out;
	if (EVP_DigestSign(ctx, NULL, &siglen, in, len) != 1)
		goto out;
	sig = malloc(siglen);
	if (!sig || EVP_DigestSign(ctx, sig, &siglen, in, len) != 1)
		goto out;
	if (k->alg == JWS_ALG_ES256) {
		p = sig;
		es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
		if (!es)
			goto out;
		ECDSA_SIG_get0(es, &r, &s);
		if (BN_bn2binpad(r, rs, 32) != 32 || BN_bn2binpad(s, rs + 32, 32) != 32)
			goto out;
		if (b64url_encode(out, rs, sizeof(rs)) < 0)
			goto out;
	} else if (b64url_encode(out, sig, siglen) < 0) {
		goto out;
	}
	ret = 0;
out:
	ECDSA_SIG_free(es);
	free(sig);
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* Append {"protected":P,"payload":L,"signature":S} where the signing input is P.L and P/L are
 * already base64url. <sign> is called on the signing input. */
static int jws_flatten(const char *protected_json, const char *payload_b64,
                       int (*sign)(const void *arg, const uint8_t *in, size_t len, struct buf *out),
                       const void *arg, struct buf *out)
{
	struct buf input, sig;
	int ret = -1;

	buf_init(&input);
	buf_init(&sig);
	if (b64url_encode(&input, protected_json, strlen(protected_json)) < 0 ||
	    buf_append(&input, ".", 1) < 0 || buf_append_str(&input, payload_b64) < 0)
		goto out;
	if (sign(arg, input.data, input.len, &sig) < 0)
		goto out;
	/* all three members are base64url: no escaping needed */
	if (buf_append_str(out, "{\"protected\":\"") < 0 ||
	    buf_append(out, input.data, strcspn(buf_str(&input), ".")) < 0 ||
	    buf_printf(out, "\",\"payload\":\"%s\",\"signature\":\"%s\"}", payload_b64,
	               buf_str(&sig)) < 0)
		goto out;
	ret = 0;
out:
	buf_deinit(&input);
	buf_deinit(&sig);
	return ret;
}

static int jws_sign_with_key(const void *arg, const uint8_t *in, size_t len, struct buf *out)
{
	return jws_sign_bytes(arg, in, len, out);
}

/* The protected header as compact JSON (jansson escapes <url>, <kid> and <nonce>). */
static char *jws_protected(const struct jws_key *k, const char *alg, const char *kid,
                           const char *nonce, const char *url)
{
	json_t *h = json_object(), *jwk = NULL;
	struct buf jwkbuf;
	char *s = NULL;

	buf_init(&jwkbuf);
	if (!h || json_object_set_new(h, "alg", json_string(alg)) < 0)
		goto out;
	if (kid) {
		if (json_object_set_new(h, "kid", json_string(kid)) < 0)
			goto out;
	} else {
		if (jws_jwk(k, &jwkbuf) < 0)
			goto out;
		jwk = json_loadb((const char *)jwkbuf.data, jwkbuf.len, 0, NULL);
		if (!jwk || json_object_set_new(h, "jwk", jwk) < 0)
			goto out;
	}
	if (nonce && json_object_set_new(h, "nonce", json_string(nonce)) < 0)
		goto out;
	if (json_object_set_new(h, "url", json_string(url)) < 0)
		goto out;
	s = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
out:
	buf_deinit(&jwkbuf);
	json_decref(h);
	return s;
}

int jws_sign(const struct jws_key *k, const char *kid, const char *nonce, const char *url,
             const char *payload, struct buf *out)
{
	struct buf pl;
	char *prot = NULL;
	int ret = -1;

	buf_init(&pl);
	prot = jws_protected(k, jws_alg_name(k->alg), kid, nonce, url);
	if (!prot)
		goto out;
	if (payload && b64url_encode(&pl, payload, strlen(payload)) < 0)
		goto out;
	if (jws_flatten(prot, buf_str(&pl), jws_sign_with_key, k, out) < 0)
		goto out;
	ret = 0;
out:
	free(prot);
	buf_deinit(&pl);
	return ret;
}

struct jws_hmac {
	const uint8_t *key;
	size_t len;
};

static int jws_sign_hs256(const void *arg, const uint8_t *in, size_t len, struct buf *out)
{
	const struct jws_hmac *h = arg;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (h->len > INT32_MAX || !HMAC(EVP_sha256(), h->key, (int)h->len, in, len, md, &mdlen))
		return -1;
	return b64url_encode(out, md, mdlen);
}

int jws_eab(const struct jws_key *account, const char *eab_kid, const uint8_t *hmac,
            size_t hmac_len, const char *url, struct buf *out)
{
	struct jws_hmac h = { .key = hmac, .len = hmac_len };
	struct buf jwk, pl;
	json_t *hdr = NULL;
	char *prot = NULL;
	int ret = -1;

	buf_init(&jwk);
	buf_init(&pl);
	hdr = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", eab_kid, "url", url);
	if (!hdr)
		goto out;
	prot = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
	if (!prot)
		goto out;
	if (jws_jwk(account, &jwk) < 0 || b64url_encode(&pl, jwk.data, jwk.len) < 0)
		goto out;
	if (jws_flatten(prot, buf_str(&pl), jws_sign_hs256, &h, out) < 0)
		goto out;
	ret = 0;
out:
	free(prot);
	json_decref(hdr);
	buf_deinit(&jwk);
	buf_deinit(&pl);
	return ret;
}

int jws_csr(const struct jws_key *k, const char *name, struct buf *out)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *subj = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *san = NULL;
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *gen = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	unsigned char *der = NULL;
	int derlen, ret = -1;

	if (!req || !X509_REQ_set_version(req, 0))
		goto out;
	subj = X509_REQ_get_subject_name(req);
	if (strlen(name) <= 64 &&
	    !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)name, -1,
	                                -1, 0))
		goto out;
	gens = GENERAL_NAMES_new();
	gen = GENERAL_NAME_new();
	ia5 = ASN1_IA5STRING_new();
	if (!gens || !gen || !ia5 || !ASN1_STRING_set(ia5, name, (int)strlen(name)))
		goto out;
	GENERAL_NAME_set0_value(gen, GEN_DNS, ia5);
	ia5 = NULL;
	if (!sk_GENERAL_NAME_push(gens, gen))
		goto out;
	gen = NULL;
	san = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
	exts = sk_X509_EXTENSION_new_null();
	if (!san || !exts || !sk_X509_EXTENSION_push(exts, san))
		goto out;
	san = NULL;
	if (!X509_REQ_add_extensions(req, exts))
		goto out;
	if (!X509_REQ_set_pubkey(req, k->pkey) || !X509_REQ_sign(req, k->pkey, EVP_sha256()))
		goto out;
	derlen = i2d_X509_REQ(req, &der);
	if (derlen <= 0 || b64url_encode(out, der, (size_t)derlen) < 0)
		goto out;
	ret = 0;
out:
	OPENSSL_free(der);
	X509_EXTENSION_free(san);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	GENERAL_NAME_free(gen);
	ASN1_IA5STRING_free(ia5);
	X509_REQ_free(req);
	return ret;
}

int jws_key_matches_cert(const struct jws_key *k, const uint8_t *chain, size_t len)
{
	X509 *x = NULL;
	BIO *bio;
	int ret = -1;

	if (len > INT32_MAX)
		return -1;
	bio = BIO_new_mem_buf(chain, (int)len);
	if (!bio)
		return -1;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!x)
		goto out;
	ret = EVP_PKEY_eq(X509_get0_pubkey(x), k->pkey) == 1 ? 1 : 0;
out:
	X509_free(x);
	BIO_free(bio);
	return ret;
}
