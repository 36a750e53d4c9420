// SPDX-License-Identifier: MIT
/*
 * Prometheus text exposition (format 0.0.4) of the per-worker counter shards, and the small
 * evhttp server that serves it. Shards are summed at scrape time with relaxed loads: a scrape
 * sees each counter at some recent value, which is all Prometheus asks for.
 */
#include "spoa-agent/metrics.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spoa-agent/spop.h"

struct metrics {
	unsigned nshards;
	struct metrics_shard *shards;
	struct evhttp *http;
};

static const char *const metrics_result_names[METRICS_RESULT_COUNT] = {
	[METRICS_RESULT_HIT] = "hit",         [METRICS_RESULT_MISS] = "miss",
	[METRICS_RESULT_INVALID] = "invalid", [METRICS_RESULT_UNAVAILABLE] = "unavailable",
	[METRICS_RESULT_ERROR] = "error",     [METRICS_RESULT_TIMEOUT] = "timeout",
};

static const char *const metrics_frame_names[METRICS_FRAME_COUNT] = {
	[METRICS_FRAME_HAPROXY_HELLO] = "haproxy-hello",
	[METRICS_FRAME_HAPROXY_DISCONNECT] = "haproxy-disconnect",
	[METRICS_FRAME_NOTIFY] = "notify",
	[METRICS_FRAME_AGENT_HELLO] = "agent-hello",
	[METRICS_FRAME_AGENT_DISCONNECT] = "agent-disconnect",
	[METRICS_FRAME_ACK] = "ack",
	[METRICS_FRAME_UNKNOWN] = "unknown",
};

/* Upper bounds in seconds (as printed) and in nanoseconds (as compared). */
static const char *const metrics_bucket_le[METRICS_LATENCY_BUCKETS] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
	"0.01",   "0.025",   "0.05",   "0.1",   "0.25",   "0.5",
};
static const uint64_t metrics_bucket_ns[METRICS_LATENCY_BUCKETS] = {
	100000,   250000,   500000,   1000000,   2500000,   5000000,
	10000000, 25000000, 50000000, 100000000, 250000000, 500000000,
};

struct metrics *metrics_new(unsigned nshards)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->shards = calloc(nshards ? nshards : 1, sizeof(*m->shards));
	if (!m->shards) {
		free(m);
		return NULL;
	}
	m->nshards = nshards ? nshards : 1;
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	if (m->http)
		evhttp_free(m->http);
	free(m->shards);
	free(m);
}

struct metrics_shard *metrics_shard(struct metrics *m, unsigned i)
{
	return i < m->nshards ? &m->shards[i] : NULL;
}

enum metrics_frame metrics_frame_slot(unsigned type)
{
	switch (type) {
	case SPOP_FRAME_HAPROXY_HELLO:
		return METRICS_FRAME_HAPROXY_HELLO;
	case SPOP_FRAME_HAPROXY_DISCONNECT:
		return METRICS_FRAME_HAPROXY_DISCONNECT;
	case SPOP_FRAME_NOTIFY:
		return METRICS_FRAME_NOTIFY;
	case SPOP_FRAME_AGENT_HELLO:
		return METRICS_FRAME_AGENT_HELLO;
	case SPOP_FRAME_AGENT_DISCONNECT:
		return METRICS_FRAME_AGENT_DISCONNECT;
	case SPOP_FRAME_ACK:
		return METRICS_FRAME_ACK;
	default:
		return METRICS_FRAME_UNKNOWN;
	}
}

void metrics_protocol_error(struct metrics_shard *s, unsigned status)
{
	metrics_add(
	        &s->protocol_errors[status < METRICS_STATUS_SLOTS - 1 ? status
	                                                              : METRICS_STATUS_SLOTS - 1],
	        1);
}

void metrics_observe_latency(struct metrics_shard *s, uint64_t ns)
{
	unsigned i = 0;

	while (i < METRICS_LATENCY_BUCKETS && ns > metrics_bucket_ns[i])
		i++;
	metrics_add(&s->latency_bucket[i], 1);
	metrics_add(&s->latency_sum_ns, ns);
	metrics_add(&s->latency_count, 1);
}

static const uint64_t metrics_ondemand_ns[METRICS_ONDEMAND_BUCKETS] = {
	100000000ULL,  250000000ULL,   500000000ULL,   1000000000ULL,  2000000000ULL,
	5000000000ULL, 10000000000ULL, 20000000000ULL, 30000000000ULL,
};
static const char *const metrics_ondemand_le[METRICS_ONDEMAND_BUCKETS] = {
	"0.1", "0.25", "0.5", "1", "2", "5", "10", "20", "30",
};
static const char *const metrics_ondemand_names[5] = {
	"ready", "refused", "limited", "timeout", "unavailable",
};

void metrics_observe_ondemand(struct metrics_shard *s, unsigned result, uint64_t ns)
{
	unsigned i = 0;

	if (result != 0)
		return;
	while (i < METRICS_ONDEMAND_BUCKETS && ns > metrics_ondemand_ns[i])
		i++;
	metrics_add(&s->ondemand_bucket[i], 1);
	metrics_add(&s->ondemand_sum_ns, ns);
	metrics_add(&s->ondemand_count, 1);
}

static uint64_t metrics_sum(struct metrics *m, size_t offset)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < m->nshards; i++)
		v += atomic_load_explicit((_Atomic uint64_t *)((char *)&m->shards[i] + offset),
		                          memory_order_relaxed);
	return v;
}

#define METRICS_SUM(m, field) metrics_sum((m), offsetof(struct metrics_shard, field))

int metrics_render(struct metrics *m, struct buf *out)
{
	int64_t open = 0;
	uint64_t cum = 0;
	int up = 0, ret = -1;
	unsigned i;

	for (i = 0; i < m->nshards; i++) {
		open += atomic_load_explicit(&m->shards[i].connections_open, memory_order_relaxed);
		up += atomic_load_explicit(&m->shards[i].redis_connected, memory_order_relaxed);
	}

	if (buf_append_str(out, "# HELP spoacme_agent_requests_total acme-challenge messages "
	                        "answered, by result.\n"
	                        "# TYPE spoacme_agent_requests_total counter\n") < 0)
		goto out;
	for (i = 0; i < METRICS_RESULT_COUNT; i++)
		if (buf_printf(out, "spoacme_agent_requests_total{result=\"%s\"} %llu\n",
		               metrics_result_names[i],
		               (unsigned long long)METRICS_SUM(m, requests[i])) < 0)
			goto out;

	if (buf_append_str(out, "# HELP spoacme_agent_frames_received_total SPOP frames received "
	                        "from HAProxy, by type.\n"
	                        "# TYPE spoacme_agent_frames_received_total counter\n") < 0)
		goto out;
	for (i = 0; i < METRICS_FRAME_COUNT; i++) {
		if (i == METRICS_FRAME_AGENT_HELLO || i == METRICS_FRAME_AGENT_DISCONNECT ||
		    i == METRICS_FRAME_ACK)
			continue;
		if (buf_printf(out, "spoacme_agent_frames_received_total{type=\"%s\"} %llu\n",
		               metrics_frame_names[i],
		               (unsigned long long)METRICS_SUM(m, frames_in[i])) < 0)
			goto out;
	}

	if (buf_append_str(out, "# HELP spoacme_agent_frames_sent_total SPOP frames sent to "
	                        "HAProxy, by type.\n"
	                        "# TYPE spoacme_agent_frames_sent_total counter\n") < 0)
		goto out;
	for (i = METRICS_FRAME_AGENT_HELLO; i <= METRICS_FRAME_ACK; i++)
		if (buf_printf(out, "spoacme_agent_frames_sent_total{type=\"%s\"} %llu\n",
		               metrics_frame_names[i],
		               (unsigned long long)METRICS_SUM(m, frames_out[i])) < 0)
			goto out;

	if (buf_append_str(out, "# HELP spoacme_agent_protocol_errors_total Connections ended "
	                        "with AGENT-DISCONNECT for a protocol error, by SPOP status code.\n"
	                        "# TYPE spoacme_agent_protocol_errors_total counter\n") < 0)
		goto out;
	for (i = 1; i < METRICS_STATUS_SLOTS; i++)
		if (buf_printf(out, "spoacme_agent_protocol_errors_total{status=\"%u\"} %llu\n",
		               i < METRICS_STATUS_SLOTS - 1 ? i : 99,
		               (unsigned long long)METRICS_SUM(m, protocol_errors[i])) < 0)
			goto out;

	if (buf_printf(
	            out,
	            "# HELP spoacme_agent_connections Open SPOP connections.\n"
	            "# TYPE spoacme_agent_connections gauge\n"
	            "spoacme_agent_connections %lld\n"
	            "# HELP spoacme_agent_connections_total SPOP connections accepted.\n"
	            "# TYPE spoacme_agent_connections_total counter\n"
	            "spoacme_agent_connections_total %llu\n"
	            "# HELP spoacme_agent_workers Worker threads, each with one Redis "
	            "connection.\n"
	            "# TYPE spoacme_agent_workers gauge\n"
	            "spoacme_agent_workers %u\n"
	            "# HELP spoacme_agent_redis_connected Workers whose Redis connection is up.\n"
	            "# TYPE spoacme_agent_redis_connected gauge\n"
	            "spoacme_agent_redis_connected %d\n"
	            "# HELP spoacme_agent_redis_connects_total Successful Redis (re)connections.\n"
	            "# TYPE spoacme_agent_redis_connects_total counter\n"
	            "spoacme_agent_redis_connects_total %llu\n",
	            (long long)open, (unsigned long long)METRICS_SUM(m, connections_total),
	            m->nshards, up, (unsigned long long)METRICS_SUM(m, redis_connects)) < 0)
		goto out;

	if (buf_append_str(out, "# HELP spoacme_agent_lookup_duration_seconds Time from NOTIFY "
	                        "to ACK for lookups sent to Redis.\n"
	                        "# TYPE spoacme_agent_lookup_duration_seconds histogram\n") < 0)
		goto out;
	for (i = 0; i <= METRICS_LATENCY_BUCKETS; i++) {
		cum += METRICS_SUM(m, latency_bucket[i]);
		if (buf_printf(out,
		               "spoacme_agent_lookup_duration_seconds_bucket{le=\"%s\"} %llu\n",
		               i < METRICS_LATENCY_BUCKETS ? metrics_bucket_le[i] : "+Inf",
		               (unsigned long long)cum) < 0)
			goto out;
	}
	if (buf_printf(out,
	               "spoacme_agent_lookup_duration_seconds_sum %.9f\n"
	               "spoacme_agent_lookup_duration_seconds_count %llu\n",
	               (double)METRICS_SUM(m, latency_sum_ns) / 1e9,
	               (unsigned long long)METRICS_SUM(m, latency_count)) < 0)
		goto out;

	if (buf_append_str(out, "# HELP spoacme_agent_ondemand_total on-demand messages "
	                        "answered, by result.\n"
	                        "# TYPE spoacme_agent_ondemand_total counter\n") < 0)
		goto out;
	for (i = 0; i < 5; i++)
		if (buf_printf(out, "spoacme_agent_ondemand_total{result=\"%s\"} %llu\n",
		               metrics_ondemand_names[i],
		               (unsigned long long)METRICS_SUM(m, ondemand[i])) < 0)
			goto out;
	if (buf_append_str(out, "# HELP spoacme_agent_ondemand_ready_seconds Time from an "
	                        "on-demand NOTIFY to the certificate loaded on this edge "
	                        "(the wait before the first handshake).\n"
	                        "# TYPE spoacme_agent_ondemand_ready_seconds histogram\n") < 0)
		goto out;
	cum = 0;
	for (i = 0; i <= METRICS_ONDEMAND_BUCKETS; i++) {
		cum += METRICS_SUM(m, ondemand_bucket[i]);
		if (buf_printf(out, "spoacme_agent_ondemand_ready_seconds_bucket{le=\"%s\"} %llu\n",
		               i < METRICS_ONDEMAND_BUCKETS ? metrics_ondemand_le[i] : "+Inf",
		               (unsigned long long)cum) < 0)
			goto out;
	}
	if (buf_printf(out,
	               "spoacme_agent_ondemand_ready_seconds_sum %.9f\n"
	               "spoacme_agent_ondemand_ready_seconds_count %llu\n",
	               (double)METRICS_SUM(m, ondemand_sum_ns) / 1e9,
	               (unsigned long long)METRICS_SUM(m, ondemand_count)) < 0)
		goto out;
	ret = 0;
out:
	return ret;
}

/* evhttp callback for every request: /metrics, /healthz, else 404. */
static void metrics_http_cb(struct evhttp_request *req, void *arg)
{
	struct metrics *m = arg;
	struct evbuffer *body = evbuffer_new();
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	struct buf text;

	buf_init(&text);
	if (!body) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	if (path && !strcmp(path, "/metrics")) {
		if (metrics_render(m, &text) < 0) {
			evhttp_send_error(req, 500, NULL);
			goto out;
		}
		evbuffer_add(body, text.data, text.len);
		evhttp_add_header(hdrs, "Content-Type", "text/plain; version=0.0.4");
		evhttp_send_reply(req, 200, "OK", body);
	} else if (path && !strcmp(path, "/healthz")) {
		/* As cert-pusher's /healthz: 503 while Redis is unavailable, here when no worker
		 * has its connection (every lookup would answer "unavailable"). */
		int up = 0;
		unsigned i;

		for (i = 0; i < m->nshards; i++)
			up += atomic_load_explicit(&m->shards[i].redis_connected,
			                           memory_order_relaxed);
		evhttp_add_header(hdrs, "Content-Type", "text/plain");
		if (up > 0) {
			evbuffer_add(body, "ok\n", 3);
			evhttp_send_reply(req, 200, "OK", body);
		} else {
			evbuffer_add_printf(body, "redis unavailable: 0 of %u workers connected\n",
			                    m->nshards);
			evhttp_send_reply(req, 503, "Service Unavailable", body);
		}
	} else {
		evhttp_send_error(req, 404, NULL);
	}
out:
	buf_deinit(&text);
	evbuffer_free(body);
}

int metrics_serve(struct metrics *m, struct event_base *base, const struct endpoint *ep, char *err,
                  size_t errsz)
{
	int ret = -1;

	if (ep->is_unix) {
		snprintf(err, errsz, "--metrics: unix sockets are not supported, use ADDR:PORT");
		goto out;
	}
	m->http = evhttp_new(base);
	if (!m->http) {
		snprintf(err, errsz, "--metrics: out of memory");
		goto out;
	}
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(m->http, 10);
	evhttp_set_max_headers_size(m->http, 8192);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_gencb(m->http, metrics_http_cb, m);
	if (!evhttp_bind_socket_with_handle(m->http, ep->host[0] ? ep->host : "0.0.0.0",
	                                    ep->port)) {
		snprintf(err, errsz, "--metrics: cannot listen on %s:%u: %m", ep->host, ep->port);
		goto out;
	}
	ret = 0;
out:
	return ret;
}
