/* SPDX-License-Identifier: MIT */
/*
 * JOSE for ACME (RFC 7515, 7517, 7518, 7638; RFC 8555 §6.2): account and certificate keys,
 * the JWK and its thumbprint, flattened JWS signed with ES256 (raw r||s) or RS256, with "jwk"
 * (newAccount, revocation by key) or "kid", POST-as-GET, External Account Binding (HS256) and
 * the CSR for finalize. With blob.c, the only module that holds private keys: they never leave
 * it except as a PKCS#8 PEM written into a buffer the caller wipes (to be sealed). No I/O, no
 * logging.
 */
#ifndef CERT_PUSHER_JWS_H
#define CERT_PUSHER_JWS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/buf.h"

/* Key types: ES256 = ECDSA P-256, RS256 = RSA 2048 (the same two serve certificates). */
enum jws_alg { JWS_ALG_ES256 = 0, JWS_ALG_RS256, JWS_ALG_COUNT };

struct jws_key;

/* "ES256" / "RS256". */
const char *jws_alg_name(enum jws_alg alg);

/* A fresh key: P-256 for ES256, RSA 2048 for RS256. NULL on failure. */
struct jws_key *jws_key_generate(enum jws_alg alg);
/* A key from PEM (PKCS#8 or traditional private key; a public key PEM gives a key that can only
 * produce its JWK and thumbprint). The algorithm follows the key type. NULL when the PEM is not
 * a P-256 or RSA (>= 2048 bits) key. */
struct jws_key *jws_key_from_pem(const uint8_t *pem, size_t len);
/* Another reference to <k> (for threads sharing the account key). */
struct jws_key *jws_key_ref(struct jws_key *k);
/* Drop a reference; the key is wiped by OpenSSL when the last one goes. Accepts NULL. */
void jws_key_free(struct jws_key *k);
enum jws_alg jws_key_alg(const struct jws_key *k);

/* Append the private key as PKCS#8 PEM ("BEGIN PRIVATE KEY") to <out>, which the caller must
 * release with buf_wipe(). 0 or -1. */
int jws_key_to_pem(const struct jws_key *k, struct buf *out);

/* Append the public JWK with exactly the required members in lexicographic order, no
 * whitespace (RFC 7638 §3.2), e.g. {"crv":"P-256","kty":"EC","x":"..","y":".."}. 0 or -1. */
int jws_jwk(const struct jws_key *k, struct buf *out);
/* Append base64url(SHA-256(JWK)) (RFC 7638 §3). 0 or -1. */
int jws_thumbprint(const struct jws_key *k, struct buf *out);
/* Append the HTTP-01 key authorization "<token>.<thumbprint>" (RFC 8555 §8.1). 0 or -1. */
int jws_key_authorization(const struct jws_key *k, const char *token, struct buf *out);

/*
 * Append a flattened JWS JSON object (RFC 7515 §7.2.2) to <out>: protected header {"alg",
 * "jwk" (when <kid> is NULL) or "kid", "nonce" (omitted when NULL), "url"}; payload = <payload>
 * base64url-encoded, or "" for POST-as-GET when <payload> is NULL (RFC 8555 §6.3). 0 or -1.
 */
int jws_sign(const struct jws_key *k, const char *kid, const char *nonce, const char *url,
             const char *payload, struct buf *out);

/*
 * Append the externalAccountBinding JWS object (RFC 8555 §7.3.4): HS256 with <hmac>/<hmac_len>
 * over the account's JWK, protected {"alg":"HS256","kid":<eab_kid>,"url":<url>}. 0 or -1.
 */
int jws_eab(const struct jws_key *account, const char *eab_kid, const uint8_t *hmac,
            size_t hmac_len, const char *url, struct buf *out);

/* Append the base64url DER of a CSR for <name> (SAN dNSName = <name>, CN = <name> when it fits
 * 64 bytes) signed by <k> with SHA-256 (RFC 8555 §7.4). 0 or -1. */
int jws_csr(const struct jws_key *k, const char *name, struct buf *out);

/* Whether the first certificate of PEM <chain> holds the public half of <k>: 1 yes, 0 no, -1
 * when the PEM does not parse. */
int jws_key_matches_cert(const struct jws_key *k, const uint8_t *chain, size_t len);

#endif
