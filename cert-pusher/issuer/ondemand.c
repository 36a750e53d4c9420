// SPDX-License-Identifier: MIT
/*
 * On-demand certificates: the issuer publishes its allow rules (see ondemand.h).
 */
#include "cert-pusher/issuer/ondemand.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert-pusher/store/store.h"
#include "common/buf.h"
#include "common/names.h"

#define ONDEMAND_MAX_RULES 64

static const char ondemand_allow_script[] = "redis.call('DEL', KEYS[1]) "
                                            "if #ARGV > 0 then redis.call('SADD', KEYS[1], "
                                            "unpack(ARGV)) end "
                                            "return #ARGV";

int ondemand_allow_publish(struct pusher *p, char *err, size_t errsz)
{
	const char *v = conf_get(p->conf, "on-demand-allow"), *why;
	const char *argv[4 + ONDEMAND_MAX_RULES];
	size_t argl[4 + ONDEMAND_MAX_RULES];
	char *copy = NULL, *tok, *save = NULL;
	struct store *s = NULL;
	struct buf key;
	redisReply *r = NULL;
	int argc = 0, ret = -1;

	buf_init(&key);
	if (!v)
		return 0;
	copy = strdup(v);
	if (!copy || buf_printf(&key, "%sondemand:allow", p->prefix) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	argv[argc] = "EVAL", argl[argc++] = 4;
	argv[argc] = ondemand_allow_script, argl[argc++] = sizeof(ondemand_allow_script) - 1;
	argv[argc] = "1", argl[argc++] = 1;
	argv[argc] = buf_str(&key), argl[argc++] = key.len;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (tok[0] != '.' || !names_hostname_valid(tok + 1, &why) ||
		    strspn(tok + 1, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(tok + 1)) {
			snprintf(err, errsz,
			         "--on-demand-allow: '%.80s': expected .SUFFIX, a lowercase host "
			         "name after a dot (e.g. .customers.example)",
			         tok);
			goto out;
		}
		if (argc == (int)(sizeof(argv) / sizeof(argv[0]))) {
			snprintf(err, errsz, "--on-demand-allow: at most %d suffixes",
			         ONDEMAND_MAX_RULES);
			goto out;
		}
		argv[argc] = tok, argl[argc++] = strlen(tok);
	}
	if (argc == 4) {
		snprintf(err, errsz, "--on-demand-allow: empty; expected .SUFFIX[,.SUFFIX...]");
		goto out;
	}
	if (p->check_only) {
		ret = 0;
		goto out;
	}
	s = store_open(p->conf, p->prefix, err, errsz);
	if (!s)
		goto out;
	r = store_command(s, "EVAL DEL SADD (on-demand allow rules)", argc, argv, argl, err, errsz);
	if (!r)
		goto out;
	if (r->type != REDIS_REPLY_INTEGER) {
		snprintf(err, errsz, "on-demand allow rules: unexpected Redis reply type %d",
		         r->type);
		goto out;
	}
	ret = 0;
out:
	if (r)
		freeReplyObject(r);
	if (s)
		store_close(s);
	buf_deinit(&key);
	free(copy);
	return ret;
}
