/* SPDX-License-Identifier: MIT */
/*
 * Checks for the names that come from outside and end up in Redis keys, runtime API commands
 * and ACME orders: challenge tokens and hostnames. Nothing reaches a key or a command unchecked.
 */
#ifndef COMMON_NAMES_H
#define COMMON_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define NAMES_TOKEN_MAX    256
#define NAMES_HOSTNAME_MAX 253

/* An ACME HTTP-01 token as we accept it: base64url, 1..NAMES_TOKEN_MAX bytes (RFC 8555 §8.3
 * asks for at least 128 bits of entropy; we only bound it). */
bool names_token_valid(const char *s, size_t len);

/*
 * Whether NUL-terminated <name> is a hostname we can order a certificate for: lowercase LDH
 * labels of 1..63 bytes, no leading or trailing '-', total <= 253, at least two labels, no
 * trailing dot, not all-numeric final label (no IP literals), no wildcard, IDNs as punycode
 * ("xn--") only. On failure returns false and sets <*reason> to a static English phrase.
 */
bool names_hostname_valid(const char *name, const char **reason);

/* A name a certificate is managed under: a hostname, or "*." and a hostname (a wildcard,
 * obtained through DNS-01). The '*' is never first in a file or runtime-API name: those are
 * "<cert-dir>/<name>.<type>.pem". */
bool names_cert_host_valid(const char *name, const char **reason);

/* Whether <s>/<len> is an identifier of 1..<max> bytes of [A-Za-z0-9._-] (key ids, KEK labels,
 * edge ids, Sentinel master names, ACME profile names). */
bool names_id_valid(const char *s, size_t len, size_t max);

#endif
