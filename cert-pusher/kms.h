/* SPDX-License-Identifier: MIT */
/*
 * Key-encryption keys in a PKCS#11 token (an HSM, a cloud KMS's PKCS#11 library, SoftHSM2 in
 * tests). The token is named by an RFC 7512 URI whose query gives `module-path` (the module to
 * dlopen; p11-kit-proxy when absent) and `pin-source` (a file, mode-checked, read at every
 * login so a fixed PIN is picked up without a restart). This module only wraps and unwraps
 * 32-byte data keys with CKM_AES_KEY_WRAP_PAD (RFC 5649) under a KEK that never leaves the
 * token; blob.c does the AEAD with the data key. It never logs: callers get a reason.
 *
 * Sessions: one per thread (a pthread key closes it when the thread ends), C_Login once per
 * token, again after CKR_USER_NOT_LOGGED_IN (or a session that no longer sees private
 * objects); a lost session (CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED) is reopened. A lost
 * token (CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_ERROR, no slot matching the URI,
 * or neither the blob's KEK nor the URI's own) makes every call fail at once with the reason
 * and kms_state() 0; the module is re-initialised (C_Finalize, C_Initialize) at most every 2 s
 * until the token answers again. Each call is retried once after such a loss.
 */
#ifndef CERT_PUSHER_KMS_H
#define CERT_PUSHER_KMS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define KMS_KEY_LEN     32
#define KMS_WRAPPED_MAX 64 /* KWP of 32 bytes is 40 */
#define KMS_KEKID_MAX   60 /* BLOB_KMS_KEKID_MAX */

struct kms;

/* Parse <uri> (RFC 7512, with object=<KEK label>), dlopen its module and C_Initialize it. The
 * token need not be reachable nor the PIN right yet: that is checked at each use. Returns a new
 * handle (kms_free) or NULL with a message naming the option in <err>. */
struct kms *kms_open(const char *uri, char *err, size_t errsz);
void kms_free(struct kms *k);
/* Label of the sealing KEK (owned by <k>). */
const char *kms_kek_id(const struct kms *k);

/* Wrap <dk> under the sealing KEK into <out> (KMS_WRAPPED_MAX bytes); *<out_len> set. 0 or -1
 * with a reason in <err>. */
int kms_wrap(struct kms *k, const uint8_t dk[KMS_KEY_LEN], uint8_t *out, size_t *out_len, char *err,
             size_t errsz);
/* Unwrap <w>/<wlen> with the token's KEK labelled <kek_id> into <dk> (the caller wipes it).
 * 0 or -1 with a reason in <err> ("KEK ... not in the token", "login failed: ..."). */
int kms_unwrap(struct kms *k, const char *kek_id, const uint8_t *w, size_t wlen,
               uint8_t dk[KMS_KEY_LEN], char *err, size_t errsz);
/* Create the URI's KEK in the token: AES-256, sensitive, not extractable, wrap/unwrap only.
 * Refuses when a key with that label exists. 0 or -1 with <err>. */
int kms_create_key(struct kms *k, char *err, size_t errsz);
/* 1 when the last login or token operation worked, 0 after a failure, -1 before any use. */
int kms_state(const struct kms *k);
/* Check the token now, so that an idle process notices a lost token or a refused login too:
 * this thread's session, its login and the URI's KEK, re-initialising a lost token as any call
 * does. At most every 2 s; in between the last outcome. Returns kms_state() after it. */
int kms_probe(struct kms *k);
/* After a call failed: while the token is lost (a device-level failure such as a token that
 * is gone or not found, not a refused login), sleep until its next re-initialisation is due,
 * unless that is after <give_up> (a time()). 1: call again; 0: do not. For the one-shot
 * commands, which would otherwise fail everything left within the 2 s between two tries. */
int kms_wait_lost(struct kms *k, time_t give_up);
/* Last failure (owned by <k>, empty when none). */
const char *kms_last_error(const struct kms *k, char *out, size_t outsz);

#endif
