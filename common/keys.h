/* SPDX-License-Identifier: MIT */
/*
 * The Redis key names every component agrees on (DESIGN.md "Redis layout"), in one place.
 * Each builder appends <prefix><kind>[:<arg>...] to a buffer; callers validate the arguments
 * (tokens with names_token_valid(), hostnames with names_hostname_valid()) before they get here.
 */
#ifndef COMMON_KEYS_H
#define COMMON_KEYS_H

#include "common/buf.h"

#define KEYS_DEFAULT_PREFIX "spoacme:"
#define KEYS_PREFIX_MAX     64

/* Key-type names as they appear in keys, HAProxy certificate names and the API. */
#define KEYS_TYPE_ECDSA "ecdsa"
#define KEYS_TYPE_RSA   "rsa"

/* Whether <prefix> is usable: at most KEYS_PREFIX_MAX bytes of [A-Za-z0-9:._-]. */
int keys_prefix_valid(const char *prefix);

int keys_chal(struct buf *out, const char *prefix, const char *token, size_t token_len);
/* The tokens an issuer published for <name> ("chals:<name>", a set with the tokens' TTL), so that
 * the next order of the name removes what a killed issuer left behind. */
int keys_chals(struct buf *out, const char *prefix, const char *name);
int keys_hosts(struct buf *out, const char *prefix);
int keys_host(struct buf *out, const char *prefix, const char *name);
int keys_cert(struct buf *out, const char *prefix, const char *name, const char *type);
int keys_account(struct buf *out, const char *prefix, const char *directory_hash);
int keys_lock(struct buf *out, const char *prefix, const char *name);
int keys_due(struct buf *out, const char *prefix);
int keys_served(struct buf *out, const char *prefix, const char *edge);
/* <prefix>edges: zset of edge id -> unix time of its loader's last heartbeat. */
int keys_edges(struct buf *out, const char *prefix);
int keys_events(struct buf *out, const char *prefix);

#endif
