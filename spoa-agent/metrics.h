/* SPDX-License-Identifier: MIT */
/*
 * spoa-agent's Prometheus metrics: one shard of relaxed atomic counters per worker thread (only
 * its owner writes it, so the counters never bounce between cores), summed when /metrics is
 * scraped. The HTTP side (libevent evhttp on the main thread) serves GET /metrics and /healthz.
 *
 * Counting is the caller's business (agent.c counts frames and results, lookup.c the Redis
 * state); this module only stores, sums and renders.
 */
#ifndef SPOA_AGENT_METRICS_H
#define SPOA_AGENT_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/parse.h"

struct event_base;

/* Outcome of one acme-challenge NOTIFY (label result="..."). */
enum metrics_result {
	METRICS_RESULT_HIT = 0,
	METRICS_RESULT_MISS,
	METRICS_RESULT_INVALID,     /* token refused before Redis, or no acme-challenge message */
	METRICS_RESULT_UNAVAILABLE, /* Redis not connected: answered at once */
	METRICS_RESULT_ERROR,       /* Redis error reply, value too large, overload */
	METRICS_RESULT_TIMEOUT,     /* no Redis reply within --timeout */
	METRICS_RESULT_COUNT,
};

/* Frame types as counted (label type="..."). */
enum metrics_frame {
	METRICS_FRAME_HAPROXY_HELLO = 0,
	METRICS_FRAME_HAPROXY_DISCONNECT,
	METRICS_FRAME_NOTIFY,
	METRICS_FRAME_AGENT_HELLO,
	METRICS_FRAME_AGENT_DISCONNECT,
	METRICS_FRAME_ACK,
	METRICS_FRAME_UNKNOWN,
	METRICS_FRAME_COUNT,
};

/* SPOP status codes 0..13 have their own slot, anything else goes to the last one ("99"). */
#define METRICS_STATUS_SLOTS     15
#define METRICS_LATENCY_BUCKETS  12
#define METRICS_ONDEMAND_BUCKETS 9

struct metrics_shard {
	_Atomic uint64_t requests[METRICS_RESULT_COUNT];
	_Atomic uint64_t frames_in[METRICS_FRAME_COUNT];
	_Atomic uint64_t frames_out[METRICS_FRAME_COUNT];
	_Atomic uint64_t protocol_errors[METRICS_STATUS_SLOTS];
	_Atomic uint64_t connections_total;
	_Atomic int64_t connections_open;
	_Atomic uint64_t redis_connects;
	_Atomic int redis_connected;
	_Atomic uint64_t latency_bucket[METRICS_LATENCY_BUCKETS + 1]; /* last: +Inf */
	_Atomic uint64_t latency_sum_ns;
	_Atomic uint64_t latency_count;
	_Atomic uint64_t ondemand[5]; /* by enum ondemand_result */
	_Atomic uint64_t ondemand_bucket[METRICS_ONDEMAND_BUCKETS + 1]; /* READY only; +Inf */
	_Atomic uint64_t ondemand_sum_ns;
	_Atomic uint64_t ondemand_count;
};

struct metrics;

/* A metrics registry with <nshards> zeroed shards. NULL on OOM. Free with metrics_free(). */
struct metrics *metrics_new(unsigned nshards);
void metrics_free(struct metrics *m);

/* Shard <i> (< nshards), owned by <m>. */
struct metrics_shard *metrics_shard(struct metrics *m, unsigned i);

static inline void metrics_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Map an SPOP frame type byte to its counter slot. */
enum metrics_frame metrics_frame_slot(unsigned type);

/* Count a protocol error with SPOP status <status>. */
void metrics_protocol_error(struct metrics_shard *s, unsigned status);

/* Record one lookup that took <ns> nanoseconds. */
void metrics_observe_latency(struct metrics_shard *s, uint64_t ns);

/* Record one on-demand request answered <result> (enum ondemand_result) after <ns>; the time
 * to a loaded certificate (result 0, "ready") feeds the time-to-first-handshake histogram. */
void metrics_observe_ondemand(struct metrics_shard *s, unsigned result, uint64_t ns);

/* Append the Prometheus text exposition of every shard's sum to <out>. 0 or -1 (OOM). */
int metrics_render(struct metrics *m, struct buf *out);

/* Serve GET /metrics and /healthz on <ep> (TCP only) from <base>. 0, or -1 with a message in
 * <err>. The HTTP server is released by metrics_free(). */
int metrics_serve(struct metrics *m, struct event_base *base, const struct endpoint *ep, char *err,
                  size_t errsz);

#endif
