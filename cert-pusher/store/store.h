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
#include "common/strv.h"

/* Sentinel's master name when --sentinel-master is not given. */
#define STORE_SENTINEL_MASTER_DEFAULT "spoacme"

struct store_sentinel;

struct store {
	struct redisContext *rc;         /* hiredis; NULL while disconnected */
	char *prefix;                    /* owned copy of the key prefix */
	char *addr;                      /* "HOST:PORT" or "unix:PATH", owned; under Sentinel the
	                                    primary found last */
	char *user;                      /* ACL user or NULL, owned */
	char *password;                  /* or NULL, owned, wiped on free */
	int timeout_ms;                  /* connect and command timeout */
	struct store_sentinel *sentinel; /* --sentinel for a primary store, else NULL; owned */
	int stale; /* an error reply said the node cannot act as the primary (READONLY, LOADING,
	              MASTERDOWN, UNBLOCKED): the next command reconnects (and re-resolves) */
	char *fence_key;   /* store_fence(): full name of the lock every write checks, or NULL */
	char *fence_owner; /* the owner id that lock must hold; owned */
};

/*
 * Validate the Redis options of <conf> without connecting: --redis and --primary addresses,
 * --sentinel (HOST:PORT[,HOST:PORT...], at most 16, not with --primary), --sentinel-master
 * (1..64 of [A-Za-z0-9._-]), --sentinel-user (needs --sentinel-password-file), and the password
 * files (mode 0600, one line). 0, or -1 with a message naming the option in <err>.
 */
int store_conf_check(const struct conf *conf, char *err, size_t errsz);

/*
 * Connect to the Redis primary, where writes go (issuer, API, CLI, the loader's served: reports):
 * with "sentinel", the primary the sentinels name for "sentinel-master" (asked in turn, the
 * answer checked with ROLE, asked again at every reconnection); else "primary" when set, else
 * "redis". "redis-user" and "redis-password-file" authenticate. Returns a new store or NULL
 * with a message naming the option in <err>.
 */
struct store *store_open(const struct conf *conf, const char *prefix, char *err, size_t errsz);

/* Connect to "redis" only: the Redis this process reads, on an edge its local replica (the
 * loader's reads and events subscription). Same contract as store_open(). */
/* store_open() with connect and command timeouts of <timeout_ms> (default 5 s), Sentinel
 * queries included: for connections that must never hold an event loop for long. */
struct store *store_open_timeout(const struct conf *conf, const char *prefix, int timeout_ms,
                                 char *err, size_t errsz);

struct store *store_open_local(const struct conf *conf, const char *prefix, char *err,
                               size_t errsz);
void store_close(struct store *s);

/* Reconnect when the connection was lost (rc NULL or in error) or is stale; a Sentinel store
 * finds the primary again. 0 or -1 with <err>. */
int store_reconnect(struct store *s, char *err, size_t errsz);

/*
 * Fence every later write of <s> (host hash fields, due, challenge tokens, blobs, events) on
 * lock:<name> holding <owner>: each write runs in one EVAL that first compares the lock, and
 * fails with "LOCKLOST" in <err> when the lock is gone or someone else's, writing nothing. The
 * issuer's workers fence their stores on the host they work on, so a worker whose lock expired
 * (Redis slow or failing over for longer than --lock-ttl) can neither overwrite another
 * issuer's order nor re-create a host deleted meanwhile. <name> NULL lifts the fence. Challenge
 * token deletions are not fenced (cleaning up is always safe). 0, or -1 (OOM) with <err>.
 */
int store_fence(struct store *s, const char *name, const char *owner, char *err, size_t errsz);

/* Times this process followed Sentinel to a new primary (every store counts once per change). */
unsigned long long store_primary_changes_total(void);

struct buf;
/* pmetrics source (pmetrics_register): spoacme_redis_primary_changes_total. */
void store_metrics(struct buf *out, void *arg);

/* ---- hosts: host:<name> hashes (API, issuer) ---- */

/* HSET host:<name> with the NULL-terminated field/value pairs <kv> ("state", "valid", ...,
 * NULL). <name> must have passed names_hostname_valid(). 0 or -1 with <err>. */
int store_host_update(struct store *s, const char *name, const char *const *kv, char *err,
                      size_t errsz);

/* HGET host:<name> <field> into <out> (appended; empty when absent). 1 found, 0 absent, -1
 * error. */
int store_host_field(struct store *s, const char *name, const char *field, struct buf *out,
                     char *err, size_t errsz);

/* ---- hosts: the managed set, the due zset and the per-host locks (hosts.c, scheduler.c) ---- */

/* SADD hosts <name>; when it was new, HSET host:<name> <kv> (NULL-terminated pairs, may be
 * NULL) and ZADD due <due_at> <name>, all in one EVAL: never a member without its hash and due
 * entry. SADD's reply decides, so of concurrent adds of one name exactly one gets 1. 1 added,
 * 0 already managed, -1 error (nothing written). */
int store_host_add(struct store *s, const char *name, const char *const *kv, long long due_at,
                   char *err, size_t errsz);

/* SISMEMBER hosts <name>: 1, 0 or -1. */
int store_host_exists(struct store *s, const char *name, char *err, size_t errsz);

/* SMEMBERS hosts into <out> (initialised by the caller, appended). 0 or -1. */
int store_hosts_members(struct store *s, struct strv *out, char *err, size_t errsz);

/* HGETALL host:<name> into <out> as field, value, field, value... 0 or -1. */
int store_host_get_all(struct store *s, const char *name, struct strv *out, char *err,
                       size_t errsz);

/* HMGET host:<name> <fields> for every name of <names>, pipelined; <out> gets
 * names->n * nfields strings in that order ("" for absent fields). 0 or -1. */
int store_hosts_fields(struct store *s, const struct strv *names, const char *const *fields,
                       size_t nfields, struct strv *out, char *err, size_t errsz);

/* HDEL host:<name> <field>. 0 or -1. */
int store_host_del_field(struct store *s, const char *name, const char *field, char *err,
                         size_t errsz);

/* ZADD due <at> <name>. 0 or -1. */
int store_due_set(struct store *s, const char *name, long long at, char *err, size_t errsz);
/* ZREM due <name>. 0 or -1. */
int store_due_remove(struct store *s, const char *name, char *err, size_t errsz);
/* ZSCORE due <name>: 1 with <*at>, 0 absent, -1 error. */
int store_due_get(struct store *s, const char *name, long long *at, char *err, size_t errsz);
/* ZMSCORE due <names...> in one command: <at>[i] the due time of names->v[i], 0 when it has
 * none. 0 or -1. */
int store_due_scores(struct store *s, const struct strv *names, long long *at, char *err,
                     size_t errsz);
/* ZRANGEBYSCORE due -inf <now> LIMIT 0 <limit>, earliest first, appended to <out>. 0 or -1. */
int store_due_range(struct store *s, long long now, size_t limit, struct strv *out, char *err,
                    size_t errsz);

/*
 * Per-host locks: lock:<name> holds the owner id of the one issuer working on the host, with a
 * TTL so a dead issuer's lock expires. Extend and release compare the owner and act in one
 * EVAL: a lock that expired and was taken by another owner in the meantime is left alone.
 */
/* SET lock:<name> <owner> NX PX <ttl_ms>: 1 acquired (or already <owner>'s: extended), 0 held
 * by someone else, -1 error. Callers keep their own list of what they are working on. */
int store_lock_acquire(struct store *s, const char *name, const char *owner, long long ttl_ms,
                       char *err, size_t errsz);
/* PEXPIRE lock:<name> <ttl_ms> if <owner> still holds it: 1 extended, 0 not ours, -1 error. */
int store_lock_extend(struct store *s, const char *name, const char *owner, long long ttl_ms,
                      char *err, size_t errsz);
/* DEL lock:<name> if <owner> holds it: 1 released, 0 not ours, -1 error. */
int store_lock_release(struct store *s, const char *name, const char *owner, char *err,
                       size_t errsz);

/*
 * Remove <name> and everything stored for it (host hash, both certificate blobs, due entry, set
 * member) and PUBLISH "del <name>" on events, all in one MULTI, unless an issuer other than
 * <owner> (NULL: anyone) holds its lock: the lock key is WATCHed, so a lock taken between the
 * check and EXEC aborts the removal. The owner's own lock is deleted with the rest.
 * 1 removed, 0 busy (someone else's lock), -1 error.
 */
int store_host_purge(struct store *s, const char *name, const char *owner, char *err, size_t errsz);

/* PING: 0 when Redis answers, -1 with <err> otherwise (health checks). */
int store_ping(struct store *s, char *err, size_t errsz);

/* Whether this Redis holds the fleet's current data (ROLE): 1 when it is a primary, or a
 * replica whose link to its primary is "connected" (synced); 0 (with <err> saying
 * why) for a replica that is cut off or still loading, whose data may be old or, after a
 * restart, empty; -1 on error. The loader removes nothing on a 0. */
int store_in_sync(struct store *s, char *err, size_t errsz);

/* ---- issuer: challenge tokens, sealed blobs, issuance bookkeeping (issuer.c) ---- */

/* SET chal:<token> <keyauth> EX <ttl_s>. <token> must have passed names_token_valid().
 * 0 or -1 with <err>. */
int store_chal_set(struct store *s, const char *token, const char *keyauth, long long ttl_s,
                   char *err, size_t errsz);
/* DEL chal:<token>. 0 or -1 with <err>. */
int store_chal_del(struct store *s, const char *token, char *err, size_t errsz);
/* Note <token> as published for host <name> (SADD chals:<name>, its TTL <ttl_s>). 0 or -1. */
int store_chal_track(struct store *s, const char *name, const char *token, long long ttl_s,
                     char *err, size_t errsz);
/* Delete every chal:<token> noted for <name>, then the set: what an issuer killed mid-order
 * left. The number of tokens it listed, or -1 with <err>. */
int store_chal_sweep(struct store *s, const char *name, char *err, size_t errsz);
/* WAIT <replicas> <timeout_ms>: the number of replicas that acknowledged the writes of this
 * connection so far (may be fewer than asked when the timeout hit), or -1 with <err>. */
int store_wait_replicas(struct store *s, long long replicas, long long timeout_ms, char *err,
                        size_t errsz);
/* The replicas connected to this primary now (ROLE), at most 1000, for --wait-replicas auto;
 * -1 with <err> on error or when this Redis is not a primary. */
int store_replicas_connected(struct store *s, char *err, size_t errsz);
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

/* ---- loader: imports (import.c); the events subscription is edge/events.c ---- */
/* The loader reads with store_hosts_members(), store_host_exists() and store_blob_fetch(). */

/* SET cert:<name>:<type> <blob>, SADD hosts <name> and PUBLISH events "cert <name>" in one
 * MULTI (an operator's import of an existing certificate). 0 or -1 with <err>. */
int store_cert_import(struct store *s, const char *name, const char *type, const struct buf *blob,
                      char *err, size_t errsz);

/* SCAN for keys matching <pattern> (a glob; the prefix has no glob characters), appended to
 * <out>. 0 or -1 with <err>. */
int store_scan_keys(struct store *s, const char *pattern, struct strv *out, char *err,
                    size_t errsz);

/* Replace the value of <key> by <nv> only if it still is <old> (one EVAL compare-and-set), for
 * rekey racing an issuer. 1 replaced, 0 changed meanwhile, -1 error. */
int store_blob_swap(struct store *s, const char *key, const struct buf *old, const struct buf *nv,
                    char *err, size_t errsz);

/* ---- served: proof of deployment (loader.c writes, served.c reads) ---- */
/* The loader reports on a store of its own from store_open_timeout() (the primary, quick to
 * give up from the first connect on); the per-certificate calls never connect, so a primary that is
 * away costs nothing per certificate, and the loader rewrites the whole hash once it is back. */

/* Set the connect and command timeout of <s> to <ms>, on the live connection too. */
void store_served_timeout(struct store *s, int ms);
/* Whether <s> holds a connection that did not fail (no reconnect is tried). */
int store_served_connected(const struct store *s);

/* HSET served:<edge> <field> <value>, only on the connection <s> already holds (-1 "not
 * connected" otherwise, no reconnect). A failure drops the connection. 0 or -1 with <err>. */
int store_served_set(struct store *s, const char *edge, const char *field, const char *value,
                     char *err, size_t errsz);
/* HDEL served:<edge> <field>, same contract as store_served_set(). */
int store_served_del(struct store *s, const char *edge, const char *field, char *err, size_t errsz);
/* Replace served:<edge> by the field/value pairs <kv> and ZADD edges <now> <edge>, in one
 * MULTI: DEL, HSET (when <kv> has pairs), ZADD, EXEC. Reconnects first. 0 or -1 with <err>. */
int store_served_rewrite(struct store *s, const char *edge, const struct strv *kv, long long now,
                         char *err, size_t errsz);
/* ZADD edges <now> <edge> (the heartbeat). Reconnects first. 0 or -1 with <err>. */
int store_served_heartbeat(struct store *s, const char *edge, long long now, char *err,
                           size_t errsz);
/* ZREVRANGE edges 0 <limit - 1> WITHSCORES: edge, score, edge, score... (newest first) appended
 * to <out>. 0 or -1 with <err>. */
int store_served_edges(struct store *s, size_t limit, struct strv *out, char *err, size_t errsz);
/* Forget edge <edge>: ZREM edges <edge> and DEL served:<edge>, in one MULTI/EXEC. 1 when
 * either existed, 0 when neither did, -1 with <err>. */
int store_served_forget(struct store *s, const char *edge, char *err, size_t errsz);
/* HMGET served:<edge> <fields> for every edge of <edges>, pipelined; <out> gets
 * edges->n * nfields strings in that order ("" for absent fields). 0 or -1 with <err>. */
int store_served_fields(struct store *s, const struct strv *edges, const char *const *fields,
                        size_t nfields, struct strv *out, char *err, size_t errsz);

/* store_cmd() for modules with keys of their own (ondemand.c): one argv command, reconnecting
 * first if needed; the reply (caller frees with freeReplyObject()) or NULL with <err>. */
struct redisReply;
struct redisReply *store_command(struct store *s, const char *what, int argc, const char **argv,
                                 const size_t *argl, char *err, size_t errsz);

#endif
