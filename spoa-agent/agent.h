/* SPDX-License-Identifier: MIT */
/*
 * The SPOP connection state machine of one worker thread (DESIGN.md "spoa-agent", SPOE.txt §3):
 * accept HAProxy's connections, handshake, turn each acme-challenge NOTIFY into a lookup and
 * its result into an ACK with the same stream-id/frame-id, in completion order (pipelining).
 *
 * One struct agent per worker, used only from the thread that runs its event_base. The codec
 * is spop.c (no I/O); lookups go through struct lookup_ops (lookup.c in the daemon, a scripted
 * fake in the tests); counters go to the worker's metrics shard. Sockets, threads and signals
 * are main.c's.
 */
#ifndef SPOA_AGENT_AGENT_H
#define SPOA_AGENT_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "spoa-agent/lookup.h"

struct event_base;
struct metrics_shard;

#define AGENT_MAX_INFLIGHT     4096         /* pending lookups per connection before "overloaded" */
#define AGENT_MAX_OUT          (256 * 1024) /* unsent output per connection that pauses reading */
#define AGENT_HELLO_TIMEOUT_MS 5000         /* accept to HAPROXY-HELLO */
#define AGENT_IDLE_TIMEOUT_MS  3600000      /* spoa-agent's default --idle-timeout */
#define AGENT_MAX_CONNS        10000        /* per worker */

/*
 * Bounds on what a peer can make a worker hold: per connection, the pending lookups
 * (max_inflight), the unsent output (reading pauses above max_out and resumes below half of
 * it) and the time it may take to say HELLO; per worker, the connections (at max_conns the
 * worker stops accepting, and the other workers or the listen backlog take the next ones).
 * The idle timeout is off by default here: closing a connection races HAProxy's next NOTIFY
 * (a 503), so it is only for peers that vanished without a FIN or RST.
 */
struct agent_conf {
	uint32_t max_frame_size;   /* ours, offered in AGENT-HELLO; 0 = SPOP_MAX_FRAME_SIZE */
	unsigned max_inflight;     /* 0 = AGENT_MAX_INFLIGHT */
	size_t max_out;            /* 0 = AGENT_MAX_OUT */
	uint64_t hello_timeout_ms; /* 0 = AGENT_HELLO_TIMEOUT_MS */
	uint64_t idle_timeout_ms;  /* nothing received nor pending this long: close; 0 = never */
	unsigned max_conns;        /* 0 = AGENT_MAX_CONNS */
	unsigned worker_id;        /* for logs */
};

struct agent;

/* A worker's agent on <base>. <ops>/<lookup_ctx> and <m> are borrowed and must outlive it.
 * NULL on OOM. */
struct agent *agent_new(struct event_base *base, const struct agent_conf *conf,
                        const struct lookup_ops *ops, void *lookup_ctx, struct metrics_shard *m);

/* Answer message `on-demand` through <od> (borrowed, outlives <a>; see ondemand.h). Without
 * it, every on-demand message is answered "unavailable". */
struct ondemand;
void agent_set_ondemand(struct agent *a, struct ondemand *od);

/* Close every connection (pending lookups are cancelled), stop watching listeners, free.
 * Listening sockets stay the caller's. Accepts NULL. */
void agent_free(struct agent *a);

/* Accept connections from non-blocking listening socket <fd> (borrowed; several workers may
 * watch the same one: whoever accepts first serves it). 0 or -1. */
int agent_watch_listener(struct agent *a, int fd);

/* Stop accepting new connections; existing ones keep being served. */
void agent_stop_accepting(struct agent *a);

/* Serve connected socket <fd> (ownership taken, closed on failure). 0 or -1. */
int agent_adopt(struct agent *a, int fd);

/* Lookups waiting for an answer, over all connections. */
size_t agent_inflight(const struct agent *a);

/* Open connections. */
unsigned agent_connections(const struct agent *a);

/* Bytes of memory held for output over all connections (allocated, sent or not). */
size_t agent_out_bytes(const struct agent *a);

#endif
