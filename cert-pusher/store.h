/* SPDX-License-Identifier: MIT */
/*
 * cert-pusher's Redis access (synchronous hiredis): the only module of cert-pusher that talks to
 * Redis. Key names come from common/keys.h; every argument is passed binary-safe (%b).
 * Sections: connection (here), issuer (tokens, host state, blobs, accounts), loader (hosts,
 * blobs, events subscription).
 */
#ifndef CERT_PUSHER_STORE_H
#define CERT_PUSHER_STORE_H

#include <stddef.h>

#include "cert-pusher/conf.h"
#include "common/buf.h"

struct store {
	struct redisContext *rc; /* hiredis; NULL while disconnected */
	char *prefix;            /* owned copy of the key prefix */
	char *addr;              /* "HOST:PORT" or "unix:PATH", owned */
	char *user;              /* ACL user or NULL, owned */
	char *password;          /* or NULL, owned, wiped on free */
	int timeout_ms;          /* connect and command timeout */
};

/*
 * Connect with the options of <conf> ("redis", "redis-user", "redis-password-file") and key
 * prefix <prefix>. Returns a new store or NULL with a message naming the option in <err>.
 */
struct store *store_open(const struct conf *conf, const char *prefix, char *err, size_t errsz);
void store_close(struct store *s);

/* Reconnect when the connection was lost (rc NULL or in error). 0 or -1 with <err>. */
int store_reconnect(struct store *s, char *err, size_t errsz);

/* ---- hosts: host:<name> hashes (API, issuer) ---- */

/* HSET host:<name> with the NULL-terminated field/value pairs <kv> ("state", "valid", ...,
 * NULL). <name> must have passed names_hostname_valid(). 0 or -1 with <err>. */
int store_host_update(struct store *s, const char *name, const char *const *kv, char *err,
		      size_t errsz);

/* HGET host:<name> <field> into <out> (appended; empty when absent). 1 found, 0 absent, -1
 * error. */
int store_host_field(struct store *s, const char *name, const char *field, struct buf *out,
		     char *err, size_t errsz);

/* ---- issuer: challenge tokens, sealed blobs, issuance bookkeeping (issuer.c) ---- */

/* SET chal:<token> <keyauth> EX <ttl_s>. <token> must have passed names_token_valid().
 * 0 or -1 with <err>. */
int store_chal_set(struct store *s, const char *token, const char *keyauth, long long ttl_s,
                   char *err, size_t errsz);
/* DEL chal:<token>. 0 or -1 with <err>. */
int store_chal_del(struct store *s, const char *token, char *err, size_t errsz);
/* WAIT <replicas> <timeout_ms>: the number of replicas that acknowledged the writes of this
 * connection so far (may be fewer than asked when the timeout hit), or -1 with <err>. */
int store_wait_replicas(struct store *s, long long replicas, long long timeout_ms, char *err,
                        size_t errsz);
/* GET the blob stored under the full key name <key> into <out> (appended). 1 found, 0 absent,
 * -1 with <err>. */
int store_blob_fetch(struct store *s, const char *key, struct buf *out, char *err, size_t errsz);
/* SET <key> to the sealed <blob>. 0 or -1 with <err>. */
int store_blob_store(struct store *s, const char *key, const struct buf *blob, char *err,
                     size_t errsz);
/* An issuance starts: SADD hosts <name>, HINCRBY host:<name> attempts 1. 0 or -1. */
int store_issue_begin(struct store *s, const char *name, char *err, size_t errsz);
/* PUBLISH events "cert <name>" (the loaders reload it). 0 or -1 with <err>. */
int store_publish_cert(struct store *s, const char *name, char *err, size_t errsz);

#endif
