// SPDX-License-Identifier: MIT
/*
 * Sealed blobs: AES-256-GCM (OpenSSL EVP) under a key ring read from a mode-checked file. The
 * header (magic, key id, nonce) and the Redis key name the blob lives under form the AAD, so a
 * tampered header or a blob copied to another key fails authentication like a tampered body.
 * This module holds key bytes and nothing else does (jws.c holds the ACME account key); it
 * never logs: callers get a reason and add the context (which key, which file).
 */
#include "cert-pusher/blob.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert-pusher/pem.h"
#include "cert-pusher/kms.h"
#include "common/names.h"
#include "common/file.h"

#define BLOB_KEY_LEN   32
#define BLOB_MAGIC_LEN 4
#define BLOB_RING_MAX  (1 << 16) /* bytes of key ring file */

struct blob_key {
	char id[BLOB_KEYID_MAX + 1];
	uint8_t key[BLOB_KEY_LEN];
	struct blob_key *next;
};

struct blob_keyring {
	struct blob_key *head; /* first = sealing key */
	struct kms *kms;       /* owned; opens SPA2 blobs, and seals when kms_seals */
	int kms_seals;
	char kms_id[BLOB_KEYID_MAX + 1]; /* "kms:<KEK label>" */
};

/* Whether <s>/<len> is a usable key id: 1..BLOB_KEYID_MAX of [A-Za-z0-9._-]. */
static int blob_keyid_valid(const char *s, size_t len)
{
	return names_id_valid(s, len, BLOB_KEYID_MAX);
}

/* Decode standard base64 <s>/<len> (with its padding) that must give exactly BLOB_KEY_LEN bytes
 * into <key>. 0 or -1. The scratch buffer is cleansed. */
static int blob_key_decode(const char *s, size_t len, uint8_t key[BLOB_KEY_LEN])
{
	uint8_t tmp[64];
	size_t i, pad = 0;
	int n, ret = -1;

	/* 32 bytes are 44 characters with one '=' of padding (RFC 4648 §4). */
	if (len != 44 || s[43] != '=' || s[42] == '=')
		goto out;
	for (i = 0; i < 43; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			goto out;
	}
	pad = 1;
	n = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)len);
	if (n < 0 || (size_t)n - pad != BLOB_KEY_LEN)
		goto out;
	memcpy(key, tmp, BLOB_KEY_LEN);
	ret = 0;
out:
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return ret;
}

void blob_keyring_free(struct blob_keyring *kr)
{
	struct blob_key *k, *next;

	if (!kr)
		return;
	for (k = kr->head; k; k = next) {
		next = k->next;
		OPENSSL_cleanse(k, sizeof(*k));
		free(k);
	}
	kms_free(kr->kms);
	free(kr);
}

const char *blob_keyring_primary_id(const struct blob_keyring *kr)
{
	return kr->kms && kr->kms_seals ? kr->kms_id : kr->head ? kr->head->id : "";
}

struct blob_keyring *blob_keyring_new_empty(void)
{
	return calloc(1, sizeof(struct blob_keyring));
}

void blob_keyring_set_kms(struct blob_keyring *kr, struct kms *kms, int seals)
{
	kms_free(kr->kms);
	kr->kms = kms;
	kr->kms_seals = kms && seals;
	if (kms)
		snprintf(kr->kms_id, sizeof(kr->kms_id), "kms:%s", kms_kek_id(kms));
}

struct kms *blob_keyring_kms(const struct blob_keyring *kr)
{
	return kr->kms;
}

static const struct blob_key *blob_keyring_find(const struct blob_keyring *kr, const char *id,
                                                size_t id_len)
{
	const struct blob_key *k;

	for (k = kr->head; k; k = k->next)
		if (strlen(k->id) == id_len && !memcmp(k->id, id, id_len))
			return k;
	return NULL;
}

struct blob_keyring *blob_keyring_load(const char *path, char *err, size_t errsz)
{
	struct blob_keyring *kr = NULL, *ret = NULL;
	struct blob_key *k, **tail;
	struct buf text;
	char *cursor, *line, *id, *b64;
	size_t id_len, b64_len;
	unsigned lineno = 0;

	buf_init(&text);
	if (file_read(path, BLOB_RING_MAX, 1, &text, err, errsz) < 0)
		goto out;
	if (text.len && memchr(text.data, 0, text.len)) {
		snprintf(err, errsz, "%s: contains a NUL byte", path);
		goto out;
	}
	kr = calloc(1, sizeof(*kr));
	if (!kr) {
		snprintf(err, errsz, "%s: out of memory", path);
		goto out;
	}
	tail = &kr->head;
	cursor = (char *)text.data;
	while ((line = file_next_line(&cursor, &lineno))) {
		id = line;
		id_len = strcspn(id, " \t");
		b64 = id + id_len;
		while (*b64 == ' ' || *b64 == '\t')
			b64++;
		b64_len = strcspn(b64, " \t");
		if (!*b64 || b64[b64_len]) {
			snprintf(err, errsz,
			         "%s:%u: expected '<key-id> <base64 of 32 bytes>' (two fields)",
			         path, lineno);
			goto out;
		}
		if (!blob_keyid_valid(id, id_len)) {
			snprintf(err, errsz, "%s:%u: key id must be 1..%d of [A-Za-z0-9._-]", path,
			         lineno, BLOB_KEYID_MAX);
			goto out;
		}
		if (blob_keyring_find(kr, id, id_len)) {
			snprintf(err, errsz, "%s:%u: key id '%.*s' appears twice", path, lineno,
			         (int)id_len, id);
			goto out;
		}
		k = calloc(1, sizeof(*k));
		if (!k) {
			snprintf(err, errsz, "%s: out of memory", path);
			goto out;
		}
		*tail = k;
		tail = &k->next;
		memcpy(k->id, id, id_len);
		if (blob_key_decode(b64, b64_len, k->key) < 0) {
			snprintf(err, errsz,
			         "%s:%u: key '%s' is not the base64 of 32 bytes (try: openssl rand "
			         "-base64 32)",
			         path, lineno, k->id);
			goto out;
		}
	}
	if (!kr->head) {
		snprintf(err, errsz, "%s: no key (expected '<key-id> <base64 of 32 bytes>' lines)",
		         path);
		goto out;
	}
	ret = kr;
	kr = NULL;
out:
	blob_keyring_free(kr);
	buf_wipe(&text);
	return ret;
}

/* Run AES-256-GCM over <in>/<len> into <out> (same length) with <aad> parts. <enc> = 1 to seal
 * (writes <tag>), 0 to open (checks <tag>). 0 or -1. */
static int blob_gcm(int enc, const uint8_t key[BLOB_KEY_LEN], const uint8_t *nonce,
                    const uint8_t *aad1, size_t aad1_len, const uint8_t *aad2, size_t aad2_len,
                    const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[BLOB_TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, ret = -1;

	if (!ctx || len > INT32_MAX || aad1_len > INT32_MAX || aad2_len > INT32_MAX)
		goto out;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, BLOB_NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1)
		goto out;
	if (EVP_CipherUpdate(ctx, NULL, &n, aad1, (int)aad1_len) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, aad2, (int)aad2_len) != 1)
		goto out;
	if (len && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, BLOB_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + len, &n) != 1)
		goto out;
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, BLOB_TAG_LEN, tag) != 1)
		goto out;
	ret = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

/* Thread-local reason for KMS failures, returned through blob_open's <*why>. */
static _Thread_local char blob_kms_why[320];

/*
 * Envelope blobs (format 2): a fresh data key per blob, wrapped by the token's KEK:
 *   "SPA2" | KEK-id length (1..60) | KEK id | wrapped length (16..64) | wrapped data key |
 *   nonce (12) | ciphertext | tag (16)
 * AAD = magic, nonce, then the Redis key name. The KEK id and the wrapped key are left out so
 * that a KEK rotation re-wraps the data key without touching the ciphertext (blob_rewrap);
 * they need no AAD: another KEK id or wrapped key unwraps to another key (RFC 5649 §3 checks
 * its integrity) or fails, and GCM then refuses the body.
 */

/* The AAD head of a format-2 blob: magic and nonce. */
static void blob_kms_aad(const uint8_t *nonce, uint8_t aad[BLOB_MAGIC_LEN + BLOB_NONCE_LEN])
{
	memcpy(aad, BLOB_MAGIC_KMS, BLOB_MAGIC_LEN);
	memcpy(aad + BLOB_MAGIC_LEN, nonce, BLOB_NONCE_LEN);
}
static int blob_seal_kms(struct kms *kms, const char *redis_key, const uint8_t *pt, size_t pt_len,
                         struct buf *out)
{
	uint8_t dk[KMS_KEY_LEN], w[KMS_WRAPPED_MAX], aad[BLOB_MAGIC_LEN + BLOB_NONCE_LEN], *hdr,
	        *ct;
	const char *id = kms_kek_id(kms);
	size_t id_len = strlen(id), wlen = 0, hdr_len, start = out->len;
	char err[256];
	int ret = -1;

	if (RAND_priv_bytes(dk, sizeof(dk)) != 1) {
		snprintf(blob_kms_why, sizeof(blob_kms_why), "no random data key");
		goto out;
	}
	if (kms_wrap(kms, dk, w, &wlen, err, sizeof(err)) < 0) {
		snprintf(blob_kms_why, sizeof(blob_kms_why), "KMS: %s", err);
		goto out;
	}
	hdr_len = BLOB_MAGIC_LEN + 1 + id_len + 1 + wlen + BLOB_NONCE_LEN;
	if (pt_len > INT32_MAX - hdr_len - BLOB_TAG_LEN)
		goto out;
	if (buf_reserve(out, hdr_len + pt_len + BLOB_TAG_LEN) < 0)
		goto out;
	hdr = out->data + start;
	memcpy(hdr, BLOB_MAGIC_KMS, BLOB_MAGIC_LEN);
	hdr[BLOB_MAGIC_LEN] = (uint8_t)id_len;
	memcpy(hdr + BLOB_MAGIC_LEN + 1, id, id_len);
	hdr[BLOB_MAGIC_LEN + 1 + id_len] = (uint8_t)wlen;
	memcpy(hdr + BLOB_MAGIC_LEN + 2 + id_len, w, wlen);
	if (RAND_bytes(hdr + hdr_len - BLOB_NONCE_LEN, BLOB_NONCE_LEN) != 1)
		goto out;
	ct = hdr + hdr_len;
	blob_kms_aad(hdr + hdr_len - BLOB_NONCE_LEN, aad);
	if (blob_gcm(1, dk, hdr + hdr_len - BLOB_NONCE_LEN, aad, sizeof(aad),
	             (const uint8_t *)redis_key, strlen(redis_key), pt, pt_len, ct,
	             ct + pt_len) < 0) {
		OPENSSL_cleanse(hdr, hdr_len + pt_len + BLOB_TAG_LEN);
		goto out;
	}
	out->len = start + hdr_len + pt_len + BLOB_TAG_LEN;
	out->data[out->len] = 0;
	ret = 0;
out:
	OPENSSL_cleanse(dk, sizeof(dk));
	return ret;
}

/* Parse a format-2 header: KEK id, wrapped key; header length or -1. */
static long blob_header_kms(const uint8_t *blob, size_t blob_len, const char **id, size_t *id_len,
                            const uint8_t **w, size_t *wlen)
{
	size_t n, m;

	if (blob_len < BLOB_MAGIC_LEN + 1 || memcmp(blob, BLOB_MAGIC_KMS, BLOB_MAGIC_LEN))
		return -1;
	n = blob[BLOB_MAGIC_LEN];
	if (n < 1 || n > BLOB_KMS_KEKID_MAX || blob_len < BLOB_MAGIC_LEN + 2 + n)
		return -1;
	if (!blob_keyid_valid((const char *)blob + BLOB_MAGIC_LEN + 1, n))
		return -1;
	m = blob[BLOB_MAGIC_LEN + 1 + n];
	if (m < 16 || m > KMS_WRAPPED_MAX)
		return -1;
	if (blob_len < BLOB_MAGIC_LEN + 2 + n + m + BLOB_NONCE_LEN + BLOB_TAG_LEN)
		return -1;
	*id = (const char *)blob + BLOB_MAGIC_LEN + 1;
	*id_len = n;
	*w = blob + BLOB_MAGIC_LEN + 2 + n;
	*wlen = m;
	return (long)(BLOB_MAGIC_LEN + 2 + n + m + BLOB_NONCE_LEN);
}

/* Decrypt the body of <blob> (header of <hdr_len> bytes ending with the nonce, then the
 * ciphertext, then the tag) with <key>, the AAD being <aad> then the Redis key: the plaintext is
 * appended to <pt>. 0, or -1 with <*why> (<auth_why> when the tag does not verify). */
static int blob_open_body(const uint8_t *key, const uint8_t *aad, size_t aad_len,
                          const char *redis_key, const uint8_t *blob, size_t hdr_len,
                          size_t blob_len, struct buf *pt, const char **why, const char *auth_why)
{
	size_t ct_len = blob_len - hdr_len - BLOB_TAG_LEN, start = pt->len;
	uint8_t tag[BLOB_TAG_LEN];

	if (buf_reserve(pt, ct_len + 16) < 0) {
		*why = "out of memory";
		return -1;
	}
	memcpy(tag, blob + blob_len - BLOB_TAG_LEN, BLOB_TAG_LEN);
	if (blob_gcm(0, key, blob + hdr_len - BLOB_NONCE_LEN, aad, aad_len,
	             (const uint8_t *)redis_key, strlen(redis_key), blob + hdr_len, ct_len,
	             pt->data + start, tag) < 0) {
		OPENSSL_cleanse(pt->data + start, ct_len);
		*why = auth_why;
		return -1;
	}
	pt->len = start + ct_len;
	pt->data[pt->len] = 0;
	return 0;
}

static int blob_open_kms(const struct blob_keyring *kr, const char *redis_key, const uint8_t *blob,
                         size_t blob_len, struct buf *pt, const char **why)
{
	char id[BLOB_KEYID_MAX + 1], err[256];
	const char *idp;
	const uint8_t *w;
	size_t id_len, wlen;
	uint8_t dk[KMS_KEY_LEN], aad[BLOB_MAGIC_LEN + BLOB_NONCE_LEN];
	long hdr_len;
	int ret = -1;

	hdr_len = blob_header_kms(blob, blob_len, &idp, &id_len, &w, &wlen);
	if (hdr_len < 0) {
		*why = "not a spoacme blob (bad KMS header or length)";
		goto out;
	}
	if (!kr->kms) {
		*why = "sealed by a KMS (SPA2 blob) and no --kms is configured";
		goto out;
	}
	memcpy(id, idp, id_len);
	id[id_len] = 0;
	if (kms_unwrap(kr->kms, id, w, wlen, dk, err, sizeof(err)) < 0) {
		snprintf(blob_kms_why, sizeof(blob_kms_why), "KMS: %s", err);
		*why = blob_kms_why;
		goto out;
	}
	blob_kms_aad(blob + hdr_len - BLOB_NONCE_LEN, aad);
	ret = blob_open_body(dk, aad, sizeof(aad), redis_key, blob, (size_t)hdr_len, blob_len, pt,
	                     why, "authentication failed (wrong Redis key or tampered blob)");
out:
	OPENSSL_cleanse(dk, sizeof(dk));
	return ret;
}

int blob_seal(const struct blob_keyring *kr, const char *redis_key, const uint8_t *pt,
              size_t pt_len, struct buf *out)
{
	const struct blob_key *k = kr->head;

	blob_kms_why[0] = 0;
	if (kr->kms && kr->kms_seals)
		return blob_seal_kms(kr->kms, redis_key, pt, pt_len, out);
	if (!k)
		return -1; /* no key ring and no sealing KMS: kms_conf_attach refuses that */
	size_t id_len = strlen(k->id), hdr_len = BLOB_MAGIC_LEN + 1 + id_len + BLOB_NONCE_LEN;
	size_t start = out->len;
	uint8_t *hdr, *ct;
	int ret = -1;

	if (pt_len > INT32_MAX - hdr_len - BLOB_TAG_LEN)
		goto out;
	if (buf_reserve(out, hdr_len + pt_len + BLOB_TAG_LEN) < 0)
		goto out;
	hdr = out->data + start;
	memcpy(hdr, BLOB_MAGIC, BLOB_MAGIC_LEN);
	hdr[BLOB_MAGIC_LEN] = (uint8_t)id_len;
	memcpy(hdr + BLOB_MAGIC_LEN + 1, k->id, id_len);
	if (RAND_bytes(hdr + hdr_len - BLOB_NONCE_LEN, BLOB_NONCE_LEN) != 1)
		goto out;
	ct = hdr + hdr_len;
	if (blob_gcm(1, k->key, hdr + hdr_len - BLOB_NONCE_LEN, hdr, hdr_len,
	             (const uint8_t *)redis_key, strlen(redis_key), pt, pt_len, ct,
	             ct + pt_len) < 0) {
		OPENSSL_cleanse(hdr, hdr_len + pt_len + BLOB_TAG_LEN);
		goto out;
	}
	out->len = start + hdr_len + pt_len + BLOB_TAG_LEN;
	out->data[out->len] = 0;
	ret = 0;
out:
	return ret;
}

/* Parse the header of <blob>: id and its length, nonce offset. Header length or -1. */
static long blob_header(const uint8_t *blob, size_t blob_len, const char **id, size_t *id_len)
{
	size_t n;

	if (blob_len < BLOB_MAGIC_LEN + 1 || memcmp(blob, BLOB_MAGIC, BLOB_MAGIC_LEN))
		return -1;
	n = blob[BLOB_MAGIC_LEN];
	if (n < 1 || n > BLOB_KEYID_MAX)
		return -1;
	if (blob_len < BLOB_MAGIC_LEN + 1 + n + BLOB_NONCE_LEN + BLOB_TAG_LEN)
		return -1;
	if (!blob_keyid_valid((const char *)blob + BLOB_MAGIC_LEN + 1, n))
		return -1;
	*id = (const char *)blob + BLOB_MAGIC_LEN + 1;
	*id_len = n;
	return (long)(BLOB_MAGIC_LEN + 1 + n + BLOB_NONCE_LEN);
}

int blob_open(const struct blob_keyring *kr, const char *redis_key, const uint8_t *blob,
              size_t blob_len, struct buf *pt, const char **why)
{
	const struct blob_key *k;
	const char *id;
	size_t id_len;
	long hdr_len;
	int ret = -1;

	if (blob_len >= BLOB_MAGIC_LEN && !memcmp(blob, BLOB_MAGIC_KMS, BLOB_MAGIC_LEN))
		return blob_open_kms(kr, redis_key, blob, blob_len, pt, why);
	hdr_len = blob_header(blob, blob_len, &id, &id_len);
	if (hdr_len < 0) {
		*why = "not a spoacme blob (bad magic, key id or length)";
		goto out;
	}
	k = blob_keyring_find(kr, id, id_len);
	if (!k) {
		*why = "sealed with a key id that is not in the key ring";
		goto out;
	}
	/* SPA1's AAD is its whole header. */
	ret = blob_open_body(k->key, blob, (size_t)hdr_len, redis_key, blob, (size_t)hdr_len,
	                     blob_len, pt, why,
	                     "authentication failed (wrong key, wrong Redis key or tampered blob)");
out:
	return ret;
}

int blob_key_id(const uint8_t *blob, size_t blob_len, char id[BLOB_KEYID_MAX + 1])
{
	const char *p;
	const uint8_t *w;
	size_t n, wlen;

	if (blob_header_kms(blob, blob_len, &p, &n, &w, &wlen) >= 0) {
		memcpy(id, "kms:", 4);
		memcpy(id + 4, p, n);
		id[4 + n] = 0;
		return 0;
	}
	if (blob_header(blob, blob_len, &p, &n) < 0)
		return -1;
	memcpy(id, p, n);
	id[n] = 0;
	return 0;
}

/* ---- certificate blobs: the PEM never leaves here unchecked ---- */

int blob_seal_cert(const struct blob_keyring *kr, const char *redis_key, const struct buf *pem,
                   struct buf *out, char *err, size_t errsz)
{
	struct buf clean, pt;
	int ret = -1;

	buf_init(&clean);
	buf_init(&pt);
	/* DESIGN.md "Blob format": leaf, chain, then the key as PKCS#8; the key must match. */
	if (pem_sanitize(pem->data, pem->len, BLOB_CERT_MAX, &clean, NULL, err, errsz) < 0 ||
	    pem_to_pkcs8(&clean, &pt, err, errsz) < 0)
		goto out;
	if (blob_seal(kr, redis_key, pt.data, pt.len, out) < 0) {
		snprintf(err, errsz, "%s: cannot seal the certificate%s%s", redis_key,
		         blob_kms_why[0] ? ": " : "", blob_kms_why);
		goto out;
	}
	ret = 0;
out:
	buf_wipe(&clean);
	buf_wipe(&pt);
	return ret;
}

int blob_open_cert(const struct blob_keyring *kr, const char *redis_key, const struct buf *blob,
                   size_t max, struct buf *pem, struct pem_info *info, char *err, size_t errsz)
{
	const char *why = NULL;
	char perr[400];
	struct buf pt;
	int ret = -1;

	buf_init(&pt);
	if (blob_open(kr, redis_key, blob->data, blob->len, &pt, &why) < 0) {
		snprintf(err, errsz, "cannot open the blob: %s", why);
		goto out;
	}
	if (pem_sanitize(pt.data, pt.len, max, pem, info, perr, sizeof(perr)) < 0) {
		snprintf(err, errsz, "refusing the certificate: %s", perr);
		goto out;
	}
	ret = 0;
out:
	buf_wipe(&pt);
	return ret;
}

int blob_rewrap(const struct blob_keyring *kr, const uint8_t *blob, size_t blob_len,
                struct buf *out, const char **why)
{
	char id[BLOB_KEYID_MAX + 1], err[256];
	const char *idp, *nid;
	const uint8_t *w;
	uint8_t dk[KMS_KEY_LEN], nw[KMS_WRAPPED_MAX];
	size_t id_len, wlen, nwlen = 0, nid_len, body, start = out->len;
	long hdr_len;
	int ret = -1;

	hdr_len = blob_header_kms(blob, blob_len, &idp, &id_len, &w, &wlen);
	if (hdr_len < 0 || !kr->kms || !kr->kms_seals)
		return 0;
	memcpy(id, idp, id_len);
	id[id_len] = 0;
	nid = kms_kek_id(kr->kms);
	if (!strcmp(id, nid))
		return 0;
	if (kms_unwrap(kr->kms, id, w, wlen, dk, err, sizeof(err)) < 0 ||
	    kms_wrap(kr->kms, dk, nw, &nwlen, err, sizeof(err)) < 0) {
		snprintf(blob_kms_why, sizeof(blob_kms_why), "KMS: %s", err);
		*why = blob_kms_why;
		goto out;
	}
	nid_len = strlen(nid);
	body = blob_len - (size_t)hdr_len + BLOB_NONCE_LEN; /* nonce, ciphertext, tag */
	if (buf_reserve(out, BLOB_MAGIC_LEN + 2 + nid_len + nwlen + body) < 0) {
		*why = "out of memory";
		goto out;
	}
	memcpy(out->data + start, BLOB_MAGIC_KMS, BLOB_MAGIC_LEN);
	out->data[start + BLOB_MAGIC_LEN] = (uint8_t)nid_len;
	memcpy(out->data + start + BLOB_MAGIC_LEN + 1, nid, nid_len);
	out->data[start + BLOB_MAGIC_LEN + 1 + nid_len] = (uint8_t)nwlen;
	memcpy(out->data + start + BLOB_MAGIC_LEN + 2 + nid_len, nw, nwlen);
	memcpy(out->data + start + BLOB_MAGIC_LEN + 2 + nid_len + nwlen,
	       blob + hdr_len - BLOB_NONCE_LEN, body);
	out->len = start + BLOB_MAGIC_LEN + 2 + nid_len + nwlen + body;
	out->data[out->len] = 0;
	ret = 1;
out:
	OPENSSL_cleanse(dk, sizeof(dk));
	return ret;
}
