/* SPDX-License-Identifier: MIT */
/*
 * On-demand certificates, the issuer's side (issue 14): the allow rules live in Redis, in the
 * set <prefix>ondemand:allow of suffixes (".customers.example" allows every name below it),
 * so that every edge's spoa-agent sees the same rules. An issuer started with
 * --on-demand-allow SUFFIX[,SUFFIX...] replaces the set with its list at start.
 */
#ifndef CERT_PUSHER_ONDEMAND_H
#define CERT_PUSHER_ONDEMAND_H

#include <stddef.h>

#include "cert-pusher/pusher.h"

/* Validate --on-demand-allow and, unless <p>->check_only, write it to Redis. 0 when the
 * option is unset or written, -1 with <err>. */
int ondemand_allow_publish(struct pusher *p, char *err, size_t errsz);

#endif
