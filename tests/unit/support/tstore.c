// SPDX-License-Identifier: MIT
/* The store test fixture (see tstore.h). */
#include "tests/unit/support/tstore.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

struct tredis tstore_redis;
struct conf *tstore_conf;

int tstore_setup(void **state)
{
	(void)state;
	if (tredis_start(&tstore_redis) < 0)
		return -1;
	tstore_conf = conf_new();
	if (!tstore_conf || conf_set(tstore_conf, "redis", tstore_redis.addr, 1) < 0)
		return -1;
	return 0;
}

int tstore_teardown(void **state)
{
	(void)state;
	conf_free(tstore_conf);
	tstore_conf = NULL;
	tredis_stop(&tstore_redis);
	return 0;
}

struct store *tstore_open(void)
{
	char err[256];
	struct store *s = store_open(tstore_conf, "t:", err, sizeof(err));

	if (!s)
		fail_msg("store_open: %s", err);
	return s;
}

redisReply *tstore_raw(struct store *s, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(s->rc, fmt, ap);
	va_end(ap);
	assert_non_null(r);
	return r;
}
