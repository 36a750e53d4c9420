// SPDX-License-Identifier: MIT
/*
 * SPOP connection state machine (see agent.h). Per connection:
 *
 *   HELLO   -- HAPROXY-HELLO --> AGENT-HELLO, READY  (health checks too: HAProxy then closes)
 *   READY   -- NOTIFY --> lookup --> ACK (same stream-id/frame-id, completion order)
 *           -- HAPROXY-DISCONNECT --> AGENT-DISCONNECT, CLOSING
 *   any     -- malformed frame --> AGENT-DISCONNECT(status), CLOSING
 *   CLOSING -- output flushed --> shutdown(SHUT_WR), discard input until EOF (or 2 s), close
 *
 * EOF, ECONNRESET and EPIPE at any point are ordinary closes (HAProxy 3.x closes idle
 * connections with a RST and never sends HAPROXY-DISCONNECT); pending lookups are cancelled.
 * We never close a healthy connection on purpose: a close racing a NOTIFY costs a 503.
 *
 * Input is one contiguous buffer of two maximal frames: frames are checked with
 * spop_frame_peek() (bounds before anything is used) and decoded in place, so a frame split at
 * any byte simply waits for the rest and several frames in one read are all handled. Output is
 * one contiguous buffer too; every frame is encoded whole into it and written with one send(),
 * so HAProxy never sees an AGENT-HELLO in two reads (3.2+ resets the connection otherwise).
 * ACKs produced while handling a batch of Redis replies leave in one send().
 *
 * Nothing is keyed on stream-id, frame-id or engine-id: 3.x uses odd per-connection stream
 * ids with frame-id 1, 2.6 counts from 0; we only echo them.
 */
#include "spoa-agent/agent.h"

#include <errno.h>
#include <event2/event.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "common/clock.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/names.h"
#include "spoa-agent/metrics.h"
#include "spoa-agent/ondemand.h"
#include "spoa-agent/spop.h"

#define AGENT_MESSAGE          "acme-challenge"
#define AGENT_MESSAGE_ONDEMAND "on-demand"
#define AGENT_ARG_TOKEN        "token"
#define AGENT_LINGER_MS        2000 /* CLOSING: wait this long for the peer's EOF */
#define AGENT_ACCEPT_BURST     16

enum agent_conn_state {
	AGENT_CONN_HELLO = 0,
	AGENT_CONN_READY,
	AGENT_CONN_CLOSING,
};

struct agent_conn;

/* One NOTIFY waiting for its lookup. */
struct agent_req {
	struct agent_conn *conn;
	struct lookup_req *lr;
	struct ondemand_req *od; /* an on-demand request instead of a lookup */
	uint64_t stream_id;
	uint64_t frame_id;
	uint64_t start_ns;
	struct agent_req *prev;
	struct agent_req *next;
};

struct agent_conn {
	struct agent *a;
	int fd;
	uint64_t id;
	enum agent_conn_state state;
	uint32_t max_frame_size; /* ours until the HELLO, then the negotiated one */
	bool healthcheck;
	bool read_paused;
	bool write_armed; /* wev is waiting for writability (not just a deferred flush) */
	struct event *rev;
	struct event *wev;
	struct event *linger_ev;
	struct event *timer_ev;  /* HELLO deadline, then the idle check */
	uint64_t last_active_ms; /* monotonic: last bytes received, or lookup answered */
	uint8_t *in;
	size_t in_len;
	size_t in_cap;
	struct buf out;
	size_t out_off;
	struct agent_req *reqs;
	unsigned nreqs;
	struct agent_conn *prev;
	struct agent_conn *next;
};

struct agent_listener {
	int fd;
	struct event *ev;
};

struct agent {
	struct event_base *base;
	struct agent_conf conf;
	const struct lookup_ops *ops;
	void *lookup_ctx;
	struct metrics_shard *m;
	struct ondemand *od; /* NULL: on-demand messages are refused */
	struct agent_listener *listeners;
	unsigned nlisteners;
	bool accepting;
	bool at_cap;     /* max_conns reached: not watching the listeners */
	bool cap_logged; /* the cap was logged since the worker last had room */
	struct event *accept_resume_ev;
	struct agent_conn *conns;
	unsigned nconns;
	size_t inflight;
	uint64_t next_conn_id;
};

static void agent_conn_free(struct agent_conn *c);

static void agent_arm_ms(struct event *ev, uint64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
		              .tv_usec = (suseconds_t)((ms % 1000) * 1000) };

	event_add(ev, &tv);
}

static uint64_t agent_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- output ---- */

/* Ask for a flush once the current callback batch is done (same loop iteration). */
static void agent_conn_want_flush(struct agent_conn *c)
{
	event_active(c->wev, EV_WRITE, 0);
}

/* Pause reading while more than max_out is unsent (checked after every frame queued, so a
 * burst of pipelined NOTIFYs stops at the bound, not at the end of what the socket holds);
 * resume below half of it. */
static void agent_conn_check_out(struct agent_conn *c)
{
	size_t unsent = c->out.len - c->out_off;

	if (!c->read_paused && unsent > c->a->conf.max_out) {
		event_del(c->rev);
		c->read_paused = true;
	} else if (c->read_paused && unsent <= c->a->conf.max_out / 2) {
		event_add(c->rev, NULL);
		c->read_paused = false;
	}
}

/* Write as much pending output as the socket takes. Returns -1 when <c> was freed (peer gone),
 * 0 otherwise. */
static int agent_conn_flush(struct agent_conn *c)
{
	struct timeval linger = { .tv_sec = AGENT_LINGER_MS / 1000,
		                  .tv_usec = (AGENT_LINGER_MS % 1000) * 1000 };
	ssize_t n;

	while (c->out_off < c->out.len) {
		n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN)) {
			if (!c->write_armed) {
				event_add(c->wev, NULL);
				c->write_armed = true;
			}
			/* A peer that never lets the output drain must not make us keep what it
			 * already read: move the unsent tail to the front once it is the smaller
			 * half (each byte moves at most once per doubling: amortised O(1)). */
			if (c->out_off >= c->out.len - c->out_off) {
				memmove(c->out.data, c->out.data + c->out_off,
				        c->out.len - c->out_off);
				c->out.len -= c->out_off;
				c->out_off = 0;
			}
			agent_conn_check_out(c);
			return 0;
		}
		log_debug("conn=%llu write: %s", (unsigned long long)c->id, strerror(errno));
		agent_conn_free(c);
		return -1;
	}
	buf_reset(&c->out);
	c->out_off = 0;
	if (c->write_armed) {
		event_del(c->wev);
		c->write_armed = false;
	}
	agent_conn_check_out(c);
	if (c->state == AGENT_CONN_CLOSING && !event_pending(c->linger_ev, EV_TIMEOUT, NULL)) {
		/* Everything said: half-close so the peer reads our DISCONNECT, then wait for its
		 * EOF rather than closing with unread input (which would send a RST first). */
		shutdown(c->fd, SHUT_WR);
		event_add(c->linger_ev, &linger);
	}
	return 0;
}

static void agent_conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent_conn_flush(arg);
}

static void agent_conn_on_linger(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	agent_conn_free(arg);
}

/* Room for one whole frame at the end of the output buffer. */
static uint8_t *agent_conn_room(struct agent_conn *c, size_t *room)
{
	size_t need = SPOP_FRAME_HDR_LEN + c->max_frame_size;

	if (buf_reserve(&c->out, need) < 0)
		return NULL;
	*room = need;
	return c->out.data + c->out.len;
}

/* The frame just encoded at the end of the output is complete: count it and flush later. */
static void agent_conn_commit(struct agent_conn *c, int len, enum metrics_frame type)
{
	c->out.len += (size_t)len;
	metrics_add(&c->a->m->frames_out[type], 1);
	agent_conn_check_out(c);
	agent_conn_want_flush(c);
}

/* Cancel every pending lookup of <c>; their callbacks will not come. */
static void agent_conn_cancel_all(struct agent_conn *c)
{
	struct agent_req *r, *next;

	for (r = c->reqs; r; r = next) {
		next = r->next;
		if (r->od)
			ondemand_cancel(r->od);
		else
			c->a->ops->cancel(c->a->lookup_ctx, r->lr);
		free(r);
		c->a->inflight--;
	}
	c->reqs = NULL;
	c->nreqs = 0;
}

/* Queue AGENT-DISCONNECT with <status> and switch to CLOSING. For protocol errors, and as the
 * answer to HAPROXY-DISCONNECT (status NONE). */
static void agent_conn_disconnect(struct agent_conn *c, enum spop_status status)
{
	uint8_t *p;
	size_t room;
	int n;

	agent_conn_cancel_all(c);
	c->state = AGENT_CONN_CLOSING;
	c->in_len = 0;
	p = agent_conn_room(c, &room);
	if (!p ||
	    (n = spop_agent_disconnect_encode(p, room, status, spop_status_str(status))) < 0) {
		agent_conn_want_flush(c); /* nothing to say: the flush half-closes */
		return;
	}
	agent_conn_commit(c, n, METRICS_FRAME_AGENT_DISCONNECT);
}

static void agent_conn_fail(struct agent_conn *c, enum spop_status status, const char *what)
{
	log_info("worker=%u conn=%llu protocol error: %s: status=%d (%s); sending AGENT-DISCONNECT",
	         c->a->conf.worker_id, (unsigned long long)c->id, what, (int)status,
	         spop_status_str(status));
	metrics_protocol_error(c->a->m, (unsigned)status);
	agent_conn_disconnect(c, status);
}

/*
 * Queue the ACK of <stream_id>/<frame_id>: found always; keyauth on a hit; error <err> when
 * not NULL. A value that does not fit in the negotiated frame size turns into an error.
 */
static void agent_conn_ack(struct agent_conn *c, uint64_t stream_id, uint64_t frame_id,
                           enum metrics_result result, const char *err, const uint8_t *value,
                           size_t len)
{
	struct spop_data found = { .type = SPOP_DATA_BOOL, .v.b = result == METRICS_RESULT_HIT };
	struct spop_data v;
	struct spop_ack ack;
	uint8_t *p;
	size_t room;
	int n;

	if (c->state != AGENT_CONN_READY)
		return;
	p = agent_conn_room(c, &room);
	if (!p)
		goto fail;
	if (spop_ack_begin(&ack, p, room, stream_id, frame_id) < 0 ||
	    spop_ack_set_var(&ack, SPOP_SCOPE_TXN, "found", &found) < 0)
		goto fail;
	if (result == METRICS_RESULT_HIT) {
		v.type = SPOP_DATA_STR;
		v.v.str.p = value;
		v.v.str.len = len;
		if (spop_ack_set_var(&ack, SPOP_SCOPE_TXN, "keyauth", &v) < 0) {
			log_warn(
			        "worker=%u conn=%llu value of %zu bytes does not fit in a frame of "
			        "%u; answering error",
			        c->a->conf.worker_id, (unsigned long long)c->id, len,
			        c->max_frame_size);
			agent_conn_ack(c, stream_id, frame_id, METRICS_RESULT_ERROR,
			               "value-too-large", NULL, 0);
			return;
		}
	} else if (err) {
		v.type = SPOP_DATA_STR;
		v.v.str.p = (const uint8_t *)err;
		v.v.str.len = strlen(err);
		if (spop_ack_set_var(&ack, SPOP_SCOPE_TXN, "error", &v) < 0)
			goto fail;
	}
	n = spop_ack_end(&ack);
	if (n < 0)
		goto fail;
	metrics_add(&c->a->m->requests[result], 1);
	agent_conn_commit(c, n, METRICS_FRAME_ACK);
	return;
fail:
	/* Only OOM gets here: a minimal ACK always fits in 256 bytes. */
	agent_conn_fail(c, SPOP_STATUS_RES_ALLOC_ERR, "cannot build ACK");
}

/* ---- lookups ---- */

/* Unlink answered request <r> from its connection. */
static void agent_req_unlink(struct agent_req *r)
{
	struct agent_conn *c = r->conn;

	if (r->prev)
		r->prev->next = r->next;
	else
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	c->nreqs--;
	c->a->inflight--;
	c->last_active_ms = (uint64_t)clock_mono_ms();
}

static void agent_on_lookup(void *arg, enum lookup_status status, const uint8_t *value, size_t len)
{
	struct agent_req *r = arg;
	struct agent_conn *c = r->conn;
	enum metrics_result result;
	const char *err = NULL;

	agent_req_unlink(r);
	metrics_observe_latency(c->a->m, agent_now_ns() - r->start_ns);

	switch (status) {
	case LOOKUP_HIT:
		result = METRICS_RESULT_HIT;
		break;
	case LOOKUP_MISS:
		result = METRICS_RESULT_MISS;
		break;
	case LOOKUP_TIMEOUT:
		result = METRICS_RESULT_TIMEOUT;
		err = "timeout";
		break;
	case LOOKUP_UNAVAILABLE:
		result = METRICS_RESULT_UNAVAILABLE;
		err = "redis-unavailable";
		break;
	default:
		result = METRICS_RESULT_ERROR;
		err = "redis-error";
		break;
	}
	agent_conn_ack(c, r->stream_id, r->frame_id, result, err, value, len);
	free(r);
}

static bool agent_name_is(const uint8_t *p, size_t len, const char *name)
{
	return len == strlen(name) && !memcmp(p, name, len);
}

/* ACK an on-demand message: txn `found` is true when the certificate is loaded, `result`
 * names the outcome. */
static void agent_conn_ack_ondemand(struct agent_conn *c, uint64_t stream_id, uint64_t frame_id,
                                    enum ondemand_result result)
{
	struct spop_data found = { .type = SPOP_DATA_BOOL, .v.b = result == ONDEMAND_READY };
	struct spop_data v = { .type = SPOP_DATA_STR };
	const char *name = ondemand_result_str(result);
	struct spop_ack ack;
	uint8_t *p;
	size_t room;
	int n;

	if (c->state != AGENT_CONN_READY)
		return;
	v.v.str.p = (const uint8_t *)name;
	v.v.str.len = strlen(name);
	p = agent_conn_room(c, &room);
	if (!p || spop_ack_begin(&ack, p, room, stream_id, frame_id) < 0 ||
	    spop_ack_set_var(&ack, SPOP_SCOPE_TXN, "found", &found) < 0 ||
	    spop_ack_set_var(&ack, SPOP_SCOPE_TXN, "result", &v) < 0 ||
	    (n = spop_ack_end(&ack)) < 0) {
		agent_conn_fail(c, SPOP_STATUS_RES_ALLOC_ERR, "cannot build ACK");
		return;
	}
	metrics_add(&c->a->m->ondemand[result], 1);
	agent_conn_commit(c, n, METRICS_FRAME_ACK);
}

static void agent_on_ondemand(void *arg, enum ondemand_result result)
{
	struct agent_req *r = arg;
	struct agent_conn *c = r->conn;

	agent_req_unlink(r);
	metrics_observe_ondemand(c->a->m, result, agent_now_ns() - r->start_ns);
	agent_conn_ack_ondemand(c, r->stream_id, r->frame_id, result);
	free(r);
}

/* An on-demand NOTIFY: args `sni` (string) and `src` (address or string). */
static void agent_conn_ondemand(struct agent_conn *c, const struct spop_frame *f,
                                const struct spop_message *msg)
{
	const uint8_t *ap = msg->args, *name, *sni = NULL, *src = NULL;
	size_t name_len, sni_len = 0, src_len = 0;
	char srcbuf[INET6_ADDRSTRLEN];
	enum ondemand_result result = ONDEMAND_REFUSED;
	struct spop_data d;
	struct agent_req *r;
	unsigned i;

	for (i = 0; i < msg->nargs; i++) {
		if (spop_kv_decode(&name, &name_len, &d, &ap, msg->end) < 0) {
			agent_conn_fail(c, SPOP_STATUS_INVALID, "NOTIFY argument");
			return;
		}
		if (agent_name_is(name, name_len, "sni") && d.type == SPOP_DATA_STR) {
			sni = d.v.str.p;
			sni_len = d.v.str.len;
		} else if (agent_name_is(name, name_len, "src")) {
			if (d.type == SPOP_DATA_STR) {
				src = d.v.str.p;
				src_len = d.v.str.len;
			} else if ((d.type == SPOP_DATA_IPV4 &&
			            inet_ntop(AF_INET, d.v.ipv4, srcbuf, sizeof(srcbuf))) ||
			           (d.type == SPOP_DATA_IPV6 &&
			            inet_ntop(AF_INET6, d.v.ipv6, srcbuf, sizeof(srcbuf)))) {
				src = (const uint8_t *)srcbuf;
				src_len = strlen(srcbuf);
			}
		}
	}
	if (!c->a->od || c->nreqs >= c->a->conf.max_inflight) {
		agent_conn_ack_ondemand(c, f->stream_id, f->frame_id, ONDEMAND_UNAVAILABLE);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		agent_conn_ack_ondemand(c, f->stream_id, f->frame_id, ONDEMAND_UNAVAILABLE);
		return;
	}
	r->conn = c;
	r->stream_id = f->stream_id;
	r->frame_id = f->frame_id;
	r->start_ns = agent_now_ns();
	if (ondemand_start(c->a->od, sni, sni_len, src, src_len, agent_on_ondemand, r, &r->od,
	                   &result) < 0) {
		free(r);
		agent_conn_ack_ondemand(c, f->stream_id, f->frame_id, result);
		return;
	}
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	c->nreqs++;
	c->a->inflight++;
}

void agent_set_ondemand(struct agent *a, struct ondemand *od)
{
	a->od = od;
}

/* A NOTIFY: find acme-challenge's token, validate it, look it up (or answer at once). */
static void agent_conn_notify(struct agent_conn *c, const struct spop_frame *f)
{
	const uint8_t *p = f->payload, *end = f->payload + f->payload_len, *ap, *name;
	const uint8_t *token = NULL;
	size_t token_len = 0, name_len;
	struct spop_message msg;
	struct spop_data d;
	struct agent_req *r;
	enum lookup_status st;
	bool seen = false;
	unsigned i;
	int rc;

	while ((rc = spop_message_next(&msg, &p, end)) == 1) {
		if (!seen && agent_name_is(msg.name, msg.name_len, AGENT_MESSAGE_ONDEMAND)) {
			agent_conn_ondemand(c, f, &msg);
			return;
		}
		if (seen || !agent_name_is(msg.name, msg.name_len, AGENT_MESSAGE))
			continue;
		seen = true;
		ap = msg.args;
		for (i = 0; i < msg.nargs; i++) {
			if (spop_kv_decode(&name, &name_len, &d, &ap, msg.end) < 0) {
				agent_conn_fail(c, SPOP_STATUS_INVALID, "NOTIFY argument");
				return;
			}
			if (d.type == SPOP_DATA_STR &&
			    agent_name_is(name, name_len, AGENT_ARG_TOKEN)) {
				token = d.v.str.p;
				token_len = d.v.str.len;
			}
		}
	}
	if (rc < 0) {
		agent_conn_fail(c, SPOP_STATUS_INVALID, "NOTIFY message list");
		return;
	}
	if (!token || !names_token_valid((const char *)token, token_len)) {
		agent_conn_ack(c, f->stream_id, f->frame_id, METRICS_RESULT_INVALID, NULL, NULL, 0);
		return;
	}
	if (c->nreqs >= c->a->conf.max_inflight) {
		agent_conn_ack(c, f->stream_id, f->frame_id, METRICS_RESULT_ERROR, "overloaded",
		               NULL, 0);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		agent_conn_ack(c, f->stream_id, f->frame_id, METRICS_RESULT_ERROR, "no-memory",
		               NULL, 0);
		return;
	}
	r->conn = c;
	r->stream_id = f->stream_id;
	r->frame_id = f->frame_id;
	r->start_ns = agent_now_ns();
	st = c->a->ops->get(c->a->lookup_ctx, token, token_len, agent_on_lookup, r, &r->lr);
	if (st == LOOKUP_PENDING) {
		r->next = c->reqs;
		if (c->reqs)
			c->reqs->prev = r;
		c->reqs = r;
		c->nreqs++;
		c->a->inflight++;
		return;
	}
	free(r);
	if (st == LOOKUP_UNAVAILABLE)
		agent_conn_ack(c, f->stream_id, f->frame_id, METRICS_RESULT_UNAVAILABLE,
		               "redis-unavailable", NULL, 0);
	else
		agent_conn_ack(c, f->stream_id, f->frame_id, METRICS_RESULT_ERROR, "redis-error",
		               NULL, 0);
}

/* ---- input ---- */

static void agent_conn_hello(struct agent_conn *c, const struct spop_frame *f)
{
	struct spop_hello h;
	enum spop_status st = SPOP_STATUS_INVALID;
	uint8_t *p;
	size_t room;
	int n;

	if (spop_hello_decode(f->payload, f->payload_len, &h, &st) < 0) {
		agent_conn_fail(c, st, "HAPROXY-HELLO");
		return;
	}
	if (!h.version_2_0) {
		agent_conn_fail(c, SPOP_STATUS_BAD_VSN, "HAPROXY-HELLO");
		return;
	}
	if (h.max_frame_size < c->max_frame_size)
		c->max_frame_size = h.max_frame_size;
	c->healthcheck = h.healthcheck;
	p = agent_conn_room(c, &room);
	if (!p || (n = spop_agent_hello_encode(p, room, c->max_frame_size)) < 0) {
		agent_conn_fail(c, SPOP_STATUS_RES_ALLOC_ERR, "cannot build AGENT-HELLO");
		return;
	}
	c->state = AGENT_CONN_READY;
	event_del(c->timer_ev);
	if (c->a->conf.idle_timeout_ms)
		agent_arm_ms(c->timer_ev, c->a->conf.idle_timeout_ms);
	log_debug("worker=%u conn=%llu hello max-frame-size=%u%s", c->a->conf.worker_id,
	          (unsigned long long)c->id, c->max_frame_size,
	          h.healthcheck ? " healthcheck" : "");
	agent_conn_commit(c, n, METRICS_FRAME_AGENT_HELLO);
}

static void agent_conn_frame(struct agent_conn *c, const uint8_t *body, size_t len)
{
	struct spop_frame f;
	enum spop_status st = SPOP_STATUS_INVALID;
	const uint8_t *msg;
	size_t msg_len;
	uint32_t code;

	if (spop_frame_decode(body, len, &f, &st) < 0) {
		agent_conn_fail(c, st, "frame header");
		return;
	}
	metrics_add(&c->a->m->frames_in[metrics_frame_slot((unsigned)f.type)], 1);
	if (!(f.flags & SPOP_FLAG_FIN)) {
		agent_conn_fail(c, SPOP_STATUS_FRAG_NOT_SUPPORTED, "fragmented frame");
		return;
	}
	if (c->state == AGENT_CONN_HELLO) {
		if (f.type != SPOP_FRAME_HAPROXY_HELLO)
			agent_conn_fail(c, SPOP_STATUS_INVALID, "expected HAPROXY-HELLO");
		else
			agent_conn_hello(c, &f);
		return;
	}
	switch (f.type) {
	case SPOP_FRAME_NOTIFY:
		agent_conn_notify(c, &f);
		break;
	case SPOP_FRAME_HAPROXY_DISCONNECT:
		if (spop_disconnect_decode(f.payload, f.payload_len, &code, &msg, &msg_len) < 0) {
			agent_conn_fail(c, SPOP_STATUS_INVALID, "HAPROXY-DISCONNECT");
			break;
		}
		log_debug("worker=%u conn=%llu haproxy-disconnect status=%u message=%.*s",
		          c->a->conf.worker_id, (unsigned long long)c->id, code,
		          msg ? (int)msg_len : 0, msg ? (const char *)msg : "");
		agent_conn_disconnect(c, SPOP_STATUS_NONE);
		break;
	default:
		agent_conn_fail(c, SPOP_STATUS_INVALID, "unexpected frame type");
		break;
	}
}

/* Handle every whole frame in the input buffer and keep the incomplete tail. */
static void agent_conn_process(struct agent_conn *c)
{
	enum spop_status st = SPOP_STATUS_INVALID;
	size_t off = 0;
	ssize_t n;

	while (c->state != AGENT_CONN_CLOSING && off < c->in_len) {
		n = spop_frame_peek(c->in + off, c->in_len - off, c->max_frame_size, &st);
		if (n == 0)
			break;
		if (n < 0) {
			agent_conn_fail(c, st, "frame length");
			break;
		}
		agent_conn_frame(c, c->in + off + SPOP_FRAME_HDR_LEN,
		                 (size_t)n - SPOP_FRAME_HDR_LEN);
		off += (size_t)n;
	}
	if (c->state == AGENT_CONN_CLOSING) {
		c->in_len = 0;
		return;
	}
	if (off) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
}

static void agent_conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct agent_conn *c = arg;
	ssize_t n;
	size_t room;

	(void)what;
	for (;;) {
		if (c->state == AGENT_CONN_CLOSING)
			c->in_len = 0; /* discard until EOF */
		room = c->in_cap - c->in_len;
		n = recv(fd, c->in + c->in_len, room, 0);
		if (n == 0) {
			log_debug("worker=%u conn=%llu closed by peer", c->a->conf.worker_id,
			          (unsigned long long)c->id);
			agent_conn_free(c);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			log_debug("worker=%u conn=%llu read: %s", c->a->conf.worker_id,
			          (unsigned long long)c->id, strerror(errno));
			agent_conn_free(c);
			return;
		}
		c->in_len += (size_t)n;
		c->last_active_ms = clock_mono_ms();
		if (c->state != AGENT_CONN_CLOSING)
			agent_conn_process(c);
		/* Level-triggered: read again only when the buffer was filled (more may wait). */
		if ((size_t)n < room || c->read_paused)
			return;
	}
}

/* ---- connections ---- */

static void agent_watch_listeners(struct agent *a, bool on);

/* timer_ev: no HAPROXY-HELLO in time (a port scan, a stuck peer), or the idle check. A
 * connection is idle when nothing was received nor answered for idle_timeout_ms, no lookup
 * is pending and all output is sent; otherwise the check comes back when it could be. */
static void agent_conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct agent_conn *c = arg;
	uint64_t idle = c->a->conf.idle_timeout_ms, quiet;

	(void)fd;
	(void)what;
	if (c->state == AGENT_CONN_HELLO) {
		log_info("worker=%u conn=%llu no HAPROXY-HELLO within %llums; closing",
		         c->a->conf.worker_id, (unsigned long long)c->id,
		         (unsigned long long)c->a->conf.hello_timeout_ms);
		agent_conn_free(c);
		return;
	}
	if (c->state != AGENT_CONN_READY || !idle)
		return; /* CLOSING: the linger timer ends it */
	quiet = clock_mono_ms() - c->last_active_ms;
	if (quiet >= idle && !c->nreqs && c->out_off == c->out.len) {
		log_debug("worker=%u conn=%llu idle for %llums; closing", c->a->conf.worker_id,
		          (unsigned long long)c->id, (unsigned long long)quiet);
		agent_conn_free(c);
		return;
	}
	agent_arm_ms(c->timer_ev, quiet < idle ? idle - quiet : idle);
}

/* Free the events of <c> (those it has: a half-built connection may lack some). */
static void agent_conn_events_free(struct agent_conn *c)
{
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	if (c->linger_ev)
		event_free(c->linger_ev);
	if (c->timer_ev)
		event_free(c->timer_ev);
}

static void agent_conn_free(struct agent_conn *c)
{
	struct agent *a;

	if (!c)
		return;
	a = c->a;
	agent_conn_cancel_all(c);
	agent_conn_events_free(c);
	if (c->fd >= 0)
		close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else if (a->conns == c)
		a->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	a->nconns--;
	atomic_fetch_sub_explicit(&a->m->connections_open, 1, memory_order_relaxed);
	if (a->at_cap && a->nconns < a->conf.max_conns) {
		a->at_cap = false;
		agent_watch_listeners(a, true);
	}
	buf_deinit(&c->out);
	free(c->in);
	free(c);
}

int agent_adopt(struct agent *a, int fd)
{
	struct agent_conn *c = NULL;
	int one = 1, flags, ret = -1;

	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		goto out;
	/* ACKs are small and latency matters; fails harmlessly on unix sockets. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (!c)
		goto out;
	c->a = a;
	c->fd = fd;
	c->id = ++a->next_conn_id;
	c->state = AGENT_CONN_HELLO;
	c->max_frame_size = a->conf.max_frame_size;
	c->in_cap = 2 * ((size_t)SPOP_FRAME_HDR_LEN + a->conf.max_frame_size);
	buf_init(&c->out);
	c->in = malloc(c->in_cap);
	c->rev = event_new(a->base, fd, EV_READ | EV_PERSIST, agent_conn_on_read, c);
	c->wev = event_new(a->base, fd, EV_WRITE | EV_PERSIST, agent_conn_on_write, c);
	c->linger_ev = evtimer_new(a->base, agent_conn_on_linger, c);
	c->timer_ev = evtimer_new(a->base, agent_conn_on_timer, c);
	c->last_active_ms = clock_mono_ms();
	if (!c->in || !c->rev || !c->wev || !c->linger_ev || !c->timer_ev ||
	    event_add(c->rev, NULL) < 0)
		goto out;
	agent_arm_ms(c->timer_ev, a->conf.hello_timeout_ms);
	c->next = a->conns;
	if (a->conns)
		a->conns->prev = c;
	a->conns = c;
	a->nconns++;
	atomic_fetch_add_explicit(&a->m->connections_open, 1, memory_order_relaxed);
	metrics_add(&a->m->connections_total, 1);
	log_debug("worker=%u conn=%llu accepted", a->conf.worker_id, (unsigned long long)c->id);
	c = NULL;
	if (a->nconns >= a->conf.max_conns && !a->at_cap) {
		/* Stop accepting: the other workers, or the listen backlog, take the next ones. */
		a->at_cap = true;
		agent_watch_listeners(a, false);
		if (!a->cap_logged)
			log_warn("worker=%u %u connections (--max-connections): not accepting more "
			         "until one closes",
			         a->conf.worker_id, a->nconns);
		a->cap_logged = true;
	}
	ret = 0;
out:
	if (c) {
		agent_conn_events_free(c);
		free(c->in);
		free(c);
	}
	if (ret < 0)
		close(fd);
	return ret;
}

/* ---- listeners ---- */

/* Watch the listeners (<on>) unless not accepting, at the cap, or in an accept pause (whose
 * timer watches them again); or stop watching them. */
static void agent_watch_listeners(struct agent *a, bool on)
{
	unsigned i;

	if (on &&
	    (!a->accepting || a->at_cap || event_pending(a->accept_resume_ev, EV_TIMEOUT, NULL)))
		return;
	if (on)
		a->cap_logged = false;
	for (i = 0; i < a->nlisteners; i++) {
		if (on)
			event_add(a->listeners[i].ev, NULL);
		else
			event_del(a->listeners[i].ev);
	}
}

static void agent_on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct agent *a = arg;

	(void)fd;
	(void)what;
	agent_watch_listeners(a, true);
}

static void agent_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct agent *a = arg;
	struct timeval pause = { .tv_sec = 1, .tv_usec = 0 };
	unsigned i, n;
	int fd;

	(void)what;
	for (n = 0; n < AGENT_ACCEPT_BURST; n++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN)
				return; /* another worker was faster */
			/* EMFILE and friends: level-triggered accept would spin; pause. */
			log_warn("worker=%u accept: %s; pausing accepts for 1s", a->conf.worker_id,
			         strerror(errno));
			for (i = 0; i < a->nlisteners; i++)
				event_del(a->listeners[i].ev);
			event_add(a->accept_resume_ev, &pause);
			return;
		}
		if (agent_adopt(a, fd) < 0)
			log_warn("worker=%u cannot serve a new connection: out of memory",
			         a->conf.worker_id);
		if (a->at_cap)
			return;
	}
}

int agent_watch_listener(struct agent *a, int fd)
{
	struct agent_listener *l;
	struct event *ev;

	l = realloc(a->listeners, (a->nlisteners + 1) * sizeof(*l));
	if (!l)
		return -1;
	a->listeners = l;
	ev = event_new(a->base, fd, EV_READ | EV_PERSIST, agent_on_accept, a);
	if (!ev || (!a->at_cap && event_add(ev, NULL) < 0)) {
		if (ev)
			event_free(ev);
		return -1;
	}
	l[a->nlisteners].fd = fd;
	l[a->nlisteners].ev = ev;
	a->nlisteners++;
	a->accepting = true;
	return 0;
}

void agent_stop_accepting(struct agent *a)
{
	unsigned i;

	a->accepting = false;
	event_del(a->accept_resume_ev);
	for (i = 0; i < a->nlisteners; i++)
		event_free(a->listeners[i].ev);
	free(a->listeners);
	a->listeners = NULL;
	a->nlisteners = 0;
}

/* ---- agent ---- */

struct agent *agent_new(struct event_base *base, const struct agent_conf *conf,
                        const struct lookup_ops *ops, void *lookup_ctx, struct metrics_shard *m)
{
	struct agent *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->base = base;
	a->conf = *conf;
	if (!a->conf.max_frame_size || a->conf.max_frame_size > SPOP_MAX_FRAME_SIZE)
		a->conf.max_frame_size = SPOP_MAX_FRAME_SIZE;
	if (a->conf.max_frame_size < SPOP_MIN_FRAME_SIZE)
		a->conf.max_frame_size = SPOP_MIN_FRAME_SIZE;
	if (!a->conf.max_inflight)
		a->conf.max_inflight = AGENT_MAX_INFLIGHT;
	if (!a->conf.max_out)
		a->conf.max_out = AGENT_MAX_OUT;
	if (!a->conf.hello_timeout_ms)
		a->conf.hello_timeout_ms = AGENT_HELLO_TIMEOUT_MS;
	if (!a->conf.max_conns)
		a->conf.max_conns = AGENT_MAX_CONNS;
	a->ops = ops;
	a->lookup_ctx = lookup_ctx;
	a->m = m;
	a->accept_resume_ev = evtimer_new(base, agent_on_accept_resume, a);
	if (!a->accept_resume_ev) {
		free(a);
		return NULL;
	}
	return a;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	agent_stop_accepting(a);
	while (a->conns)
		agent_conn_free(a->conns);
	event_free(a->accept_resume_ev);
	free(a);
}

size_t agent_inflight(const struct agent *a)
{
	return a->inflight;
}

unsigned agent_connections(const struct agent *a)
{
	return a->nconns;
}

size_t agent_out_bytes(const struct agent *a)
{
	const struct agent_conn *c;
	size_t n = 0;

	for (c = a->conns; c; c = c->next)
		n += c->out.cap;
	return n;
}
