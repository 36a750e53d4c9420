/* SPDX-License-Identifier: MIT */
/*
 * PEM sanitising and inspection for what the loader sends to HAProxy's runtime API
 * (DESIGN.md "HAProxy runtime API facts"). In a `set ssl cert NAME <<` payload an empty line (or
 * a line of only "\r") ends the payload and every later line runs as a CLI command, so the text
 * sent must hold nothing but BEGIN/END lines and base64 lines. pem_sanitize() rebuilds such a
 * text from a certificate chain + private key, checks it with OpenSSL (the key must match the
 * first certificate: leaf first) and reports what HAProxy will show for it (serial, notAfter,
 * SHA1 fingerprint). No I/O, no logging: errors go to the caller's buffer.
 */
#ifndef CERT_PUSHER_PEM_H
#define CERT_PUSHER_PEM_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/buf.h"

#define PEM_SERIAL_MAX 64 /* hex digits: RFC 5280 §4.1.2.2 caps serials at 20 bytes */
#define PEM_SHA1_HEX   40

enum pem_key_type { PEM_KEY_ECDSA = 0, PEM_KEY_RSA, PEM_KEY_COUNT };

/* What the sanitised PEM holds, as HAProxy's `show ssl cert NAME` prints it. */
struct pem_info {
	enum pem_key_type key_type;
	int ncerts;                      /* leaf + chain */
	char serial[PEM_SERIAL_MAX + 1]; /* uppercase hex of the leaf's serial bytes */
	char sha1[PEM_SHA1_HEX + 1];     /* uppercase hex SHA1 of the leaf's DER */
	time_t not_before;               /* leaf notBefore, UTC */
	time_t not_after;                /* leaf notAfter, UTC */
};

/* Key type names as they appear in certificate names and Redis keys ("ecdsa", "rsa"). */
extern const char *const pem_key_type_names[PEM_KEY_COUNT];

/*
 * Sanitise <in>/<len>: one or more CERTIFICATE blocks (leaf first, then the chain) followed by
 * exactly one private key block (PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY). CRs at line
 * ends are stripped; blank lines between blocks are dropped; anything else outside a block
 * (text, commands), blank lines inside a block, non-base64 lines, other block types, a missing
 * or second key and a key that does not match the first certificate are errors. The clean text
 * ("-----BEGIN ...\n<base64>\n...-----END ...\n", no empty line) is appended to <out> (the
 * caller wipes it: it holds the key) unless it would exceed <max> bytes. <info> (may be NULL)
 * gets the leaf's details. 0 or -1 with a message in <err> (never containing key bytes).
 */
int pem_sanitize(const uint8_t *in, size_t len, size_t max, struct buf *out, struct pem_info *info,
                 char *err, size_t errsz);

/*
 * Whether the leaf (the first certificate) of <pem> is valid for the hostname <name> the way a
 * TLS client checks it (RFC 6125 §6.4, through OpenSSL's X509_check_host): against the DNS
 * subjectAltNames only, case-insensitively; a wildcard only as the whole left-most label, which
 * covers exactly one label ("*.example.com" covers "a.example.com", neither "example.com" nor
 * "a.b.example.com"), and at least two labels after it. The subject CN is never consulted
 * (browsers ignore it; CA/B Baseline Requirements put every name in the SANs). <sans> gets the
 * leaf's DNS SANs as "a.example, *.b.example", or "none", truncated to <sanssz> with "...".
 * 1 covered, 0 not covered, -1 when the leaf does not parse (message in <err>).
 */
int pem_leaf_covers(const struct buf *pem, const char *name, char *sans, size_t sanssz, char *err,
                    size_t errsz);

/* Re-encode the private key of sanitised <pem> as PKCS#8 ("BEGIN PRIVATE KEY") after the
 * certificates, into <out> (appended; caller wipes). 0 or -1 with <err>. */
int pem_to_pkcs8(const struct buf *pem, struct buf *out, char *err, size_t errsz);

#endif
