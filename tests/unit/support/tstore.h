/* SPDX-License-Identifier: MIT */
/*
 * A cmocka group fixture for tests of store/ against a real redis-server (tredis.h): the server,
 * a configuration pointing at it, stores opened with the key prefix "t:", and raw commands on a
 * store's own connection to plant or read keys behind its back.
 */
#ifndef TESTS_UNIT_SUPPORT_TSTORE_H
#define TESTS_UNIT_SUPPORT_TSTORE_H

#include <hiredis.h>

#include "cert-pusher/conf.h"
#include "cert-pusher/store/store.h"
#include "tests/unit/support/tredis.h"

extern struct tredis tstore_redis;
extern struct conf *tstore_conf; /* "redis" set to the server */

/* Group setup and teardown: start the server (-1 when it cannot), stop it. */
int tstore_setup(void **state);
int tstore_teardown(void **state);

/* A store on the server with prefix "t:"; fails the test when it cannot be opened. */
struct store *tstore_open(void);

/* A command on <s>'s connection; fails the test on no reply. The caller frees the reply. */
redisReply *tstore_raw(struct store *s, const char *fmt, ...);

#endif
