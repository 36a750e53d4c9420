/* SPDX-License-Identifier: MIT */
/*
 * GET /metrics's gauges from a hosts listing and the served: reports of the edges.
 */
#ifndef CERT_PUSHER_API_EXPOSITION_H
#define CERT_PUSHER_API_EXPOSITION_H

#include <stddef.h>

#include "cert-pusher/hosts.h"
#include "cert-pusher/edge/served.h"
#include "common/buf.h"

/* spoacme_redis_up, then the gauges for <hosts>/<n> at <now> (hosts NULL when Redis was
 * unavailable: spoacme_redis_up 0). 0/-1. */
int exposition_hosts(struct buf *out, const struct hosts_info *hosts, size_t n, long long now);

/* The proof-of-deployment gauges for <hosts>/<n> (the same listing, in the same order, that <v>
 * was loaded for) at <now>: edges live/stale, per edge its certificates current, stale, missing
 * and expiring, hosts not deployed. <v> NULL (Redis unreadable): nothing. 0/-1. */
int exposition_edges(struct buf *out, const struct served_view *v, const struct hosts_info *hosts,
                     size_t n, long long now);

#endif
