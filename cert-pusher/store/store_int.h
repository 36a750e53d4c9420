/* SPDX-License-Identifier: MIT */
/*
 * Inside the store: what its modules (store.c's connection, store_hosts.c, store_certs.c,
 * store_served.c) share, and no other file includes. One error policy for every command:
 *   - a missing reply (timeout, connection lost, a pipeline out of step) drops the connection,
 *     so the next command reconnects instead of reading a stale reply;
 *   - an error reply fails the command with the Redis text, and one that says the node cannot
 *     act as the primary (READONLY, LOADING, MASTERDOWN, UNBLOCKED) also marks the connection
 *     stale, so the next command finds the primary again;
 *   - pipelines and transactions read every reply, so an error reply keeps the connection in step.
 * Messages are "redis <what>: <reason>".
 */
#ifndef CERT_PUSHER_STORE_INT_H
#define CERT_PUSHER_STORE_INT_H

#include <hiredis.h>
#include <stddef.h>

#include "cert-pusher/store/store.h"
#include "common/strv.h"

#define STORE_CMDS_MAX 16 /* arguments of store_cmds() */

/* One command of a pipeline or transaction. */
struct store_argv {
	int argc;
	const char **argv;
	const size_t *argl;
};

char *store_strdup(const char *s);
/* Forget the connection (after a failure that may leave it out of step). */
void store_drop(struct store *s);

/* Check reply <r> of <what> under the policy above: 0 usable, -1 with <err>. */
int store_reply_check(struct store *s, redisReply *r, const char *what, char *err, size_t errsz);

/* One argv command, reconnecting first when needed. The reply (caller frees) or NULL with
 * <err>; <what> NULL names the command by its first two arguments. */
redisReply *store_cmd(struct store *s, const char *what, int argc, const char **argv,
                      const size_t *argl, char *err, size_t errsz);
/* store_cmd() over NUL-terminated strings, the list ending with NULL (at most STORE_CMDS_MAX). */
redisReply *store_cmds(struct store *s, const char *what, char *err, size_t errsz, ...)
        __attribute__((sentinel));
/* store_cmds() whose reply is only checked, then freed: a write (<write>: fenced as
 * store_write()) or a read. 0 or -1 with <err>. */
int store_do(struct store *s, int write, const char *what, char *err, size_t errsz, ...)
        __attribute__((sentinel));
/* Whether keys_*() return code <rc> built the key: 1, or 0 with "out of memory" in <err>. */
int store_key_ok(int rc, char *err, size_t errsz);
/* store_cmd() for a write: fenced on the store's lock in one EVAL when store_fence() set one. */
redisReply *store_write(struct store *s, const char *what, int argc, const char **argv,
                        const size_t *argl, char *err, size_t errsz);

/* <n> commands in one round trip; <replies> gets n replies (caller frees) when all succeeded.
 * -1 with <err> (the first failure) and no reply to free otherwise. */
int store_pipeline(struct store *s, const char *what, size_t n, const struct store_argv *cmds,
                   redisReply **replies, char *err, size_t errsz);
/* <n> commands in one MULTI/EXEC, pipelined: 0 when EXEC ran every one of them, else -1. */
int store_tx(struct store *s, const char *what, size_t n, const struct store_argv *cmds, char *err,
             size_t errsz);

/* HMGET <fields> of the key <fn> builds (a keys_*() function) from each of <names>, in one
 * round trip; <out> gets names->n * nfields strings in that order ("" for absent fields).
 * Nothing is sent without names or fields. 0 or -1 with <err>. */
int store_hmget_each(struct store *s, int (*fn)(struct buf *, const char *, const char *),
                     const struct strv *names, const char *const *fields, size_t nfields,
                     struct strv *out, char *err, size_t errsz);

/* Append the string (nil: "") elements of array reply <r> to <out>. 0, or -1 with <err>. */
int store_reply_strings(const redisReply *r, struct strv *out, const char *what, char *err,
                        size_t errsz);
/* The integer of reply <r>, or -1 with <err> when it is not an integer. */
long long store_reply_int(const redisReply *r, const char *what, char *err, size_t errsz);

#endif
