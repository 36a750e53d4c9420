/* SPDX-License-Identifier: MIT */
/*
 * Sealed blobs (DESIGN.md "Blob format"): AES-256-GCM under a key ring, with the Redis key name
 * bound into the AAD so a blob copied to another key does not open.
 *
 *   "SPA1" | key-id length (1..64) | key-id | nonce (12) | ciphertext | tag (16)
 *   AAD = every header byte before the ciphertext, then the full Redis key name.
 *
 * The key ring stands where a KMS would: struct blob_keyring is the one interface a KMS or
 * PKCS#11 provider would implement later. Only this module (and jws.c) holds key material;
 * certificates go in and out through blob_seal_cert() and blob_open_cert(), so their callers
 * only ever see a checked PEM.
 */
#ifndef CERT_PUSHER_BLOB_H
#define CERT_PUSHER_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define BLOB_MAGIC     "SPA1"
#define BLOB_KEYID_MAX 64
#define BLOB_NONCE_LEN 12
#define BLOB_TAG_LEN   16

/* Envelope blobs (format 2, blob.c): a data key wrapped by a PKCS#11 KEK (kms.h). */
#define BLOB_MAGIC_KMS     "SPA2"
#define BLOB_KMS_KEKID_MAX 60 /* so "kms:<id>" fits BLOB_KEYID_MAX */

struct blob_keyring;
struct kms;

/* Load a key ring file: one "<key-id> <base64 of 32 bytes>" per line, '#' comments, mode 0600
 * or stricter; the first key seals, every key opens. Returns a new ring (free with
 * blob_keyring_free) or NULL with a message naming the file and line in <err>. */
struct blob_keyring *blob_keyring_load(const char *path, char *err, size_t errsz);
void blob_keyring_free(struct blob_keyring *kr);
/* Id of the sealing key (owned by the ring). */
const char *blob_keyring_primary_id(const struct blob_keyring *kr);

/* A ring with no key, for a process that only uses a KMS (then attached with
 * blob_keyring_set_kms): SPA1 blobs do not open, nothing seals until a KMS is attached. NULL when
 * out of memory. */
struct blob_keyring *blob_keyring_new_empty(void);

/* Attach <kms> (the ring takes ownership; NULL detaches): SPA2 blobs then open through it and,
 * when <seals>, new blobs are sealed with a fresh data key wrapped by its KEK. */
void blob_keyring_set_kms(struct blob_keyring *kr, struct kms *kms, int seals);
/* The attached KMS (owned by the ring) or NULL. */
struct kms *blob_keyring_kms(const struct blob_keyring *kr);

/* Seal <pt>/<pt_len> for storage under Redis key <redis_key>; appends the blob to <out>.
 * 0 or -1. */
int blob_seal(const struct blob_keyring *kr, const char *redis_key, const uint8_t *pt,
              size_t pt_len, struct buf *out);

/* Open a blob stored under <redis_key>; appends the plaintext to <pt> (the caller wipes it with
 * buf_wipe). -1 with a static reason in <*why>: "not a spoacme blob", "unknown key id",
 * "authentication failed (wrong key, wrong Redis key or tampered blob)", ... */
int blob_open(const struct blob_keyring *kr, const char *redis_key, const uint8_t *blob,
              size_t blob_len, struct buf *pt, const char **why);

struct pem_info;

/* The largest certificate PEM (leaf, chain and key) a blob holds. */
#define BLOB_CERT_MAX (1024 * 1024)

/* Seal certificate PEM <pem> (leaf, chain, then its key) under <redis_key>: sanitised (the key
 * must match the leaf, pem_sanitize()), the key re-encoded as PKCS#8, sealed, the blob appended
 * to <out>. Every intermediate plaintext is wiped here. 0, or -1 with <err> (never key bytes). */
int blob_seal_cert(const struct blob_keyring *kr, const char *redis_key, const struct buf *pem,
                   struct buf *out, char *err, size_t errsz);

/* Open the certificate blob <blob> stored under <redis_key>: its sanitised PEM (at most <max>
 * bytes) is appended to <pem> (the caller wipes it) and the leaf's facts go to <info> (may be
 * NULL). The raw plaintext never leaves this function. 0, or -1 with <err> (never key bytes). */
int blob_open_cert(const struct blob_keyring *kr, const char *redis_key, const struct buf *blob,
                   size_t max, struct buf *pem, struct pem_info *info, char *err, size_t errsz);
/* KEK rotation: when <blob> is an envelope blob whose KEK is not the attached sealing KEK,
 * unwrap its data key and wrap it under the sealing KEK, appending the new blob (same nonce,
 * ciphertext and tag) to <out>. 1 re-wrapped, 0 not applicable (open and seal instead), -1
 * with a static reason in <*why>. */
int blob_rewrap(const struct blob_keyring *kr, const uint8_t *blob, size_t blob_len,
                struct buf *out, const char **why);

/* Key id a blob was sealed with, without opening it (for rekey): 0 or -1. */
int blob_key_id(const uint8_t *blob, size_t blob_len, char id[BLOB_KEYID_MAX + 1]);

#endif
