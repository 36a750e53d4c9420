/* SPDX-License-Identifier: MIT */
/*
 * base64url without padding (RFC 4648 §5), as ACME and JOSE use it (RFC 7515 §2). The work is
 * OpenSSL's EVP base64 codec; this module only maps the alphabet and the padding.
 */
#ifndef COMMON_B64URL_H
#define COMMON_B64URL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/* Append the unpadded base64url encoding of <p>/<len> to <out>. 0 or -1 (OOM). */
int b64url_encode(struct buf *out, const void *p, size_t len);
/* Append the decoding of unpadded base64url <s>/<len> to <out>. -1 on any character outside
 * the alphabet, on padding, on an impossible length (len % 4 == 1) or OOM. */
int b64url_decode(struct buf *out, const char *s, size_t len);
/* Whether every byte of <s>/<len> is in the base64url alphabet [A-Za-z0-9_-]. */
bool b64url_alphabet_only(const char *s, size_t len);

#endif
