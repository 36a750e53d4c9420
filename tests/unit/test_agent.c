// SPDX-License-Identifier: MIT
/*
 * SPOP conformance of agent.c against a scripted fake HAProxy: the test holds one end of a
 * socketpair (or a loopback TCP connection, for RSTs), the agent the other, and a fake lookup
 * (struct lookup_ops) lets the test complete lookups in any order. Every assertion is on the
 * bytes the agent wrote: frame types, flags, stream/frame ids, ACK actions, DISCONNECT status
 * codes, and EOF where the agent must close. Runs under ASan+UBSan, which also checks that
 * connections closed with lookups in flight leak and touch nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "spoa-agent/agent.h"
#include "spoa-agent/lookup.h"
#include "spoa-agent/metrics.h"
#include "spoa-agent/spop.h"

/* ---- fake lookup ---- */

#define FAKE_MAX 64

struct lookup_req {
	lookup_done_fn *cb;
	void *arg;
	char token[300];
	size_t len;
	bool live;
	bool cancelled;
};

struct fake {
	struct lookup_req reqs[FAKE_MAX];
	unsigned n;
	unsigned cancelled;
	enum lookup_status immediate; /* LOOKUP_PENDING: queue; else answer this at once */
};

static enum lookup_status fake_get(void *ctx, const uint8_t *token, size_t len, lookup_done_fn *cb,
                                   void *arg, struct lookup_req **reqp)
{
	struct fake *f = ctx;
	struct lookup_req *r;

	if (f->immediate != LOOKUP_PENDING)
		return f->immediate;
	assert_true(f->n < FAKE_MAX);
	assert_true(len < sizeof(r->token));
	r = &f->reqs[f->n++];
	r->cb = cb;
	r->arg = arg;
	memcpy(r->token, token, len);
	r->token[len] = 0;
	r->len = len;
	r->live = true;
	*reqp = r;
	return LOOKUP_PENDING;
}

static void fake_cancel(void *ctx, struct lookup_req *r)
{
	struct fake *f = ctx;

	assert_true(r->live);
	r->live = false;
	r->cancelled = true;
	f->cancelled++;
}

static const struct lookup_ops fake_ops = { .get = fake_get, .cancel = fake_cancel };

/* ---- fixture ---- */

struct t {
	struct event_base *base;
	struct metrics *metrics;
	struct agent *agent;
	struct fake fake;
	int fd;       /* our end */
	int agent_fd; /* the agent's end (owned by the agent) */
	uint8_t rbuf[1 << 17];
	size_t rlen;
};

static void pump(struct t *t)
{
	int i;

	for (i = 0; i < 4; i++)
		event_base_loop(t->base, EVLOOP_NONBLOCK);
}

static int t_setup_conf(void **state, const struct agent_conf *conf, bool tcp)
{
	struct t *t = calloc(1, sizeof(*t));
	int sv[2];

	assert_non_null(t);
	t->fake.immediate = LOOKUP_PENDING;
	t->base = event_base_new();
	t->metrics = metrics_new(1);
	assert_non_null(t->base);
	assert_non_null(t->metrics);
	t->agent = agent_new(t->base, conf, &fake_ops, &t->fake, metrics_shard(t->metrics, 0));
	assert_non_null(t->agent);
	if (!tcp) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	} else {
		struct sockaddr_in sin = { .sin_family = AF_INET,
			                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t slen = sizeof(sin);
		int l = socket(AF_INET, SOCK_STREAM, 0);

		assert_true(l >= 0);
		assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
		assert_int_equal(listen(l, 1), 0);
		assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &slen), 0);
		sv[1] = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(connect(sv[1], (struct sockaddr *)&sin, sizeof(sin)), 0);
		sv[0] = accept(l, NULL, NULL);
		assert_true(sv[0] >= 0);
		close(l);
	}
	assert_int_equal(agent_adopt(t->agent, sv[0]), 0);
	t->agent_fd = sv[0];
	t->fd = sv[1];
	assert_int_equal(fcntl(t->fd, F_SETFL, fcntl(t->fd, F_GETFL) | O_NONBLOCK), 0);
	*state = t;
	return 0;
}

static int t_setup(void **state)
{
	struct agent_conf conf = { 0 };

	return t_setup_conf(state, &conf, false);
}

static int t_setup_tcp(void **state)
{
	struct agent_conf conf = { 0 };

	return t_setup_conf(state, &conf, true);
}

static int t_setup_timeouts(void **state)
{
	struct agent_conf conf = { .hello_timeout_ms = 150, .idle_timeout_ms = 300 };

	return t_setup_conf(state, &conf, false);
}

static int t_setup_small_inflight(void **state)
{
	struct agent_conf conf = { .max_inflight = 2 };

	return t_setup_conf(state, &conf, false);
}

static int t_setup_small_out(void **state)
{
	struct agent_conf conf = { .max_out = 1024 };

	return t_setup_conf(state, &conf, false);
}

static int t_teardown(void **state)
{
	struct t *t = *state;

	if (t->fd >= 0)
		close(t->fd);
	pump(t);
	agent_free(t->agent);
	metrics_free(t->metrics);
	event_base_free(t->base);
	free(t);
	return 0;
}

static uint64_t counter(struct t *t, _Atomic uint64_t *c)
{
	(void)t;
	return atomic_load(c);
}

#define SHARD(t) metrics_shard((t)->metrics, 0)

/* ---- frame builder (HAProxy's side) ---- */

struct fb {
	uint8_t b[70000];
	size_t len;
	size_t start;
};

static void fb_bytes(struct fb *f, const void *p, size_t len)
{
	assert_true(f->len + len <= sizeof(f->b));
	memcpy(f->b + f->len, p, len);
	f->len += len;
}

static void fb_u8(struct fb *f, uint8_t v)
{
	fb_bytes(f, &v, 1);
}

static void fb_varint(struct fb *f, uint64_t v)
{
	uint8_t tmp[SPOP_VARINT_MAX_LEN], *p = tmp;

	assert_true(spop_varint_encode(v, &p, tmp + sizeof(tmp)) > 0);
	fb_bytes(f, tmp, (size_t)(p - tmp));
}

static void fb_str(struct fb *f, const char *s, size_t len)
{
	fb_varint(f, len);
	fb_bytes(f, s, len);
}

static void fb_begin(struct fb *f, uint8_t type, uint32_t flags, uint64_t sid, uint64_t fid)
{
	uint8_t fl[4] = { flags >> 24, flags >> 16, flags >> 8, flags };

	f->start = f->len;
	fb_bytes(f, "\0\0\0\0", 4);
	fb_u8(f, type);
	fb_bytes(f, fl, 4);
	fb_varint(f, sid);
	fb_varint(f, fid);
}

static void fb_end(struct fb *f)
{
	size_t n = f->len - f->start - 4;

	f->b[f->start] = (uint8_t)(n >> 24);
	f->b[f->start + 1] = (uint8_t)(n >> 16);
	f->b[f->start + 2] = (uint8_t)(n >> 8);
	f->b[f->start + 3] = (uint8_t)n;
}

static void fb_kv_str(struct fb *f, const char *name, const char *v, size_t len)
{
	fb_str(f, name, strlen(name));
	fb_u8(f, SPOP_DATA_STR);
	fb_str(f, v, len);
}

static void fb_kv_u32(struct fb *f, const char *name, uint32_t v)
{
	fb_str(f, name, strlen(name));
	fb_u8(f, SPOP_DATA_UINT32);
	fb_varint(f, v);
}

static void fb_kv_bool(struct fb *f, const char *name, bool v)
{
	fb_str(f, name, strlen(name));
	fb_u8(f, SPOP_DATA_BOOL | (v ? 0x10 : 0));
}

/* HAPROXY-HELLO as HAProxy 2.6 sends it (SPOE.txt §3.2.4). */
static void fb_hello(struct fb *f, uint32_t mfs, bool healthcheck)
{
	fb_begin(f, SPOP_FRAME_HAPROXY_HELLO, SPOP_FLAG_FIN, 0, 0);
	fb_kv_str(f, "supported-versions", "2.0", 3);
	fb_kv_u32(f, "max-frame-size", mfs);
	if (healthcheck) {
		fb_kv_str(f, "capabilities", "", 0);
		fb_kv_bool(f, "healthcheck", true);
	} else {
		fb_kv_str(f, "capabilities", "pipelining,async", 16);
		fb_kv_str(f, "engine-id", "D7E30D5E-48B0-4E6C-8E1C-9A0B1C2D3E4F", 36);
	}
	fb_end(f);
}

/* NOTIFY with one acme-challenge message: token (string) and host. */
static void fb_notify(struct fb *f, uint64_t sid, uint64_t fid, const char *token)
{
	fb_begin(f, SPOP_FRAME_NOTIFY, SPOP_FLAG_FIN, sid, fid);
	fb_str(f, "acme-challenge", 14);
	fb_u8(f, 2);
	fb_kv_str(f, "token", token, strlen(token));
	fb_kv_str(f, "host", "example.com", 11);
	fb_end(f);
}

static void t_send(struct t *t, const void *p, size_t len)
{
	const uint8_t *b = p;
	ssize_t n;
	int spins = 0;

	while (len) {
		n = send(t->fd, b, len, MSG_NOSIGNAL);
		if (n < 0) {
			assert_int_equal(errno, EAGAIN);
			assert_true(++spins < 1000);
			pump(t);
			continue;
		}
		b += n;
		len -= (size_t)n;
	}
	pump(t);
}

static void t_send_fb(struct t *t, struct fb *f)
{
	t_send(t, f->b, f->len);
	f->len = 0;
}

/* ---- reading what the agent sent ---- */

struct rframe {
	uint8_t raw[SPOP_FRAME_HDR_LEN + SPOP_MAX_FRAME_SIZE];
	size_t raw_len;
	struct spop_frame f;
};

/* Receive the next whole frame; fails the test if none comes. */
static void t_recv(struct t *t, struct rframe *r)
{
	enum spop_status st;
	ssize_t n;
	size_t flen;
	int i;

	for (i = 0; i < 200; i++) {
		if (t->rlen >= 4) {
			flen = ((size_t)t->rbuf[0] << 24) | ((size_t)t->rbuf[1] << 16) |
			       ((size_t)t->rbuf[2] << 8) | t->rbuf[3];
			assert_true(flen <= SPOP_MAX_FRAME_SIZE);
			if (t->rlen >= 4 + flen) {
				memcpy(r->raw, t->rbuf, 4 + flen);
				r->raw_len = 4 + flen;
				memmove(t->rbuf, t->rbuf + 4 + flen, t->rlen - 4 - flen);
				t->rlen -= 4 + flen;
				assert_int_equal(spop_frame_decode(r->raw + 4, flen, &r->f, &st),
				                 0);
				assert_true(r->f.flags & SPOP_FLAG_FIN);
				return;
			}
		}
		n = recv(t->fd, t->rbuf + t->rlen, sizeof(t->rbuf) - t->rlen, 0);
		if (n > 0) {
			t->rlen += (size_t)n;
			continue;
		}
		assert_true(n < 0 && errno == EAGAIN); /* EOF here is a test failure */
		pump(t);
	}
	fail_msg("no frame from the agent");
}

/* The agent closed (or half-closed) its side, with nothing else sent. */
static void t_expect_eof(struct t *t)
{
	ssize_t n;
	int i;

	assert_int_equal(t->rlen, 0);
	for (i = 0; i < 200; i++) {
		n = recv(t->fd, t->rbuf, sizeof(t->rbuf), 0);
		if (n == 0)
			return;
		assert_true(n < 0);
		if (errno == ECONNRESET)
			return;
		assert_int_equal(errno, EAGAIN);
		pump(t);
	}
	fail_msg("the agent did not close");
}

/* Nothing (more) was sent. */
static void t_expect_nothing(struct t *t)
{
	ssize_t n;

	pump(t);
	assert_int_equal(t->rlen, 0);
	n = recv(t->fd, t->rbuf, sizeof(t->rbuf), 0);
	assert_true(n < 0 && errno == EAGAIN);
}

/* A decoded ACK. */
struct ack {
	uint64_t sid, fid;
	int found; /* -1 absent */
	char keyauth[20000];
	int has_keyauth;
	char error[64];
	int has_error;
	unsigned nactions;
};

static void t_recv_ack(struct t *t, struct ack *a)
{
	struct rframe r;
	const uint8_t *p, *end, *name;
	struct spop_data d;
	uint64_t nlen;
	char nm[32];

	t_recv(t, &r);
	assert_int_equal(r.f.type, SPOP_FRAME_ACK);
	memset(a, 0, sizeof(*a));
	a->found = -1;
	a->sid = r.f.stream_id;
	a->fid = r.f.frame_id;
	p = r.f.payload;
	end = p + r.f.payload_len;
	while (p < end) {
		assert_true(end - p >= 3);
		assert_int_equal(p[0], SPOP_ACTION_SET_VAR);
		assert_int_equal(p[1], 3);
		assert_int_equal(p[2], SPOP_SCOPE_TXN);
		p += 3;
		assert_true(spop_varint_decode(&nlen, &p, end) > 0);
		assert_true(nlen < sizeof(nm) && nlen <= (uint64_t)(end - p));
		name = p;
		memcpy(nm, name, nlen);
		nm[nlen] = 0;
		p += nlen;
		assert_int_equal(spop_data_decode(&d, &p, end), 1);
		a->nactions++;
		if (!strcmp(nm, "found")) {
			assert_int_equal(d.type, SPOP_DATA_BOOL);
			a->found = d.v.b;
		} else if (!strcmp(nm, "keyauth")) {
			assert_int_equal(d.type, SPOP_DATA_STR);
			assert_true(d.v.str.len < sizeof(a->keyauth));
			memcpy(a->keyauth, d.v.str.p, d.v.str.len);
			a->has_keyauth = 1;
		} else if (!strcmp(nm, "error")) {
			assert_int_equal(d.type, SPOP_DATA_STR);
			assert_true(d.v.str.len < sizeof(a->error));
			memcpy(a->error, d.v.str.p, d.v.str.len);
			a->has_error = 1;
		} else {
			fail_msg("unexpected variable %s", nm);
		}
	}
	assert_int_not_equal(a->found, -1); /* every ACK carries found */
}

/* AGENT-HELLO / AGENT-DISCONNECT key-values. */
struct kvs {
	char version[16];
	uint64_t mfs;
	int has_mfs;
	char caps[64];
	int has_caps;
	uint64_t status;
	int has_status;
	char message[128];
	unsigned n;
};

static void t_recv_kvs(struct t *t, enum spop_frame_type type, struct kvs *k)
{
	struct rframe r;
	const uint8_t *p, *end, *name;
	size_t name_len;
	struct spop_data d;

	t_recv(t, &r);
	assert_int_equal(r.f.type, type);
	assert_int_equal(r.f.stream_id, 0);
	assert_int_equal(r.f.frame_id, 0);
	memset(k, 0, sizeof(*k));
	p = r.f.payload;
	end = p + r.f.payload_len;
	while (p < end) {
		assert_int_equal(spop_kv_decode(&name, &name_len, &d, &p, end), 1);
		k->n++;
#define NAME_IS(s) (name_len == strlen(s) && !memcmp(name, s, name_len))
		if (NAME_IS("version")) {
			assert_int_equal(d.type, SPOP_DATA_STR);
			assert_true(d.v.str.len < sizeof(k->version));
			memcpy(k->version, d.v.str.p, d.v.str.len);
		} else if (NAME_IS("max-frame-size")) {
			assert_int_equal(d.type, SPOP_DATA_UINT32);
			k->mfs = d.v.u;
			k->has_mfs = 1;
		} else if (NAME_IS("capabilities")) {
			assert_int_equal(d.type, SPOP_DATA_STR);
			assert_true(d.v.str.len < sizeof(k->caps));
			memcpy(k->caps, d.v.str.p, d.v.str.len);
			k->has_caps = 1;
		} else if (NAME_IS("status-code")) {
			assert_int_equal(d.type, SPOP_DATA_UINT32);
			k->status = d.v.u;
			k->has_status = 1;
		} else if (NAME_IS("message")) {
			assert_int_equal(d.type, SPOP_DATA_STR);
			assert_true(d.v.str.len < sizeof(k->message));
			memcpy(k->message, d.v.str.p, d.v.str.len);
		}
#undef NAME_IS
	}
}

static void t_handshake(struct t *t, uint32_t mfs, uint32_t expect_mfs)
{
	struct fb f = { 0 };
	struct kvs k;

	fb_hello(&f, mfs, false);
	t_send_fb(t, &f);
	t_recv_kvs(t, SPOP_FRAME_AGENT_HELLO, &k);
	assert_string_equal(k.version, "2.0");
	assert_true(k.has_mfs);
	assert_int_equal(k.mfs, expect_mfs);
	assert_true(k.has_caps);
	assert_string_equal(k.caps, "pipelining");
	assert_int_equal(k.n, 3);
}

/* The agent answers AGENT-DISCONNECT with <status> and then closes. */
static void t_expect_disconnect(struct t *t, unsigned status)
{
	struct kvs k;

	t_recv_kvs(t, SPOP_FRAME_AGENT_DISCONNECT, &k);
	assert_true(k.has_status);
	assert_int_equal(k.status, status);
	assert_true(k.message[0] != 0);
	t_expect_eof(t);
	if (status != SPOP_STATUS_NONE)
		assert_int_equal(counter(t, &SHARD(t)->protocol_errors[status]), 1);
}

static void complete(struct t *t, unsigned i, enum lookup_status st, const char *value)
{
	struct lookup_req *r = &t->fake.reqs[i];

	assert_true(i < t->fake.n);
	assert_true(r->live);
	r->live = false;
	r->cb(r->arg, st, (const uint8_t *)value, value ? strlen(value) : 0);
	pump(t);
}

/* ---- tests ---- */

static void test_hello(void **state)
{
	struct t *t = *state;

	t_handshake(t, 16380, 16380);
	assert_int_equal(counter(t, &SHARD(t)->frames_in[METRICS_FRAME_HAPROXY_HELLO]), 1);
	assert_int_equal(counter(t, &SHARD(t)->frames_out[METRICS_FRAME_AGENT_HELLO]), 1);
	t_expect_nothing(t);
	assert_int_equal(agent_connections(t->agent), 1);
}

static void test_hello_min_frame_size(void **state)
{
	struct t *t = *state;

	t_handshake(t, 65532, SPOP_MAX_FRAME_SIZE); /* ours is smaller */
}

static void test_healthcheck_hello(void **state)
{
	struct t *t = *state;
	struct fb f = { 0 };
	struct kvs k;

	fb_hello(&f, 16380, true);
	t_send_fb(t, &f);
	t_recv_kvs(t, SPOP_FRAME_AGENT_HELLO, &k);
	assert_string_equal(k.version, "2.0");
	assert_int_equal(k.mfs, 16380);
	assert_string_equal(k.caps, "pipelining");
	/* HAProxy closes after the check: the agent just forgets the connection. */
	close(t->fd);
	t->fd = -1;
	pump(t);
	assert_int_equal(agent_connections(t->agent), 0);
	assert_int_equal(counter(t, &SHARD(t)->frames_out[METRICS_FRAME_AGENT_DISCONNECT]), 0);
}

static void test_notify_hit_exact_bytes(void **state)
{
	static const uint8_t expect[] = {
		0x00, 0x00, 0x00, 0x25, SPOP_FRAME_ACK,
		0x00, 0x00, 0x00, 0x01, 0x00,
		0x01, 0x01, 0x03, 0x02, 0x05,
		'f',  'o',  'u',  'n',  'd',
		0x11, /* found=true */
		0x01, 0x03, 0x02, 0x07, 'k',
		'e',  'y',  'a',  'u',  't',
		'h',  0x08, 0x07, 'a',  'b',
		'c',  '.',  'x',  'y',  'z',
	};
	struct t *t = *state;
	struct fb f = { 0 };
	struct rframe r;

	t_handshake(t, 16380, 16380);
	fb_notify(&f, 0, 1, "abc");
	t_send_fb(t, &f);
	assert_int_equal(t->fake.n, 1);
	assert_string_equal(t->fake.reqs[0].token, "abc");
	t_expect_nothing(t); /* no ACK before the lookup completes */
	assert_int_equal(agent_inflight(t->agent), 1);
	complete(t, 0, LOOKUP_HIT, "abc.xyz");
	t_recv(t, &r);
	assert_int_equal(r.raw_len, sizeof(expect));
	assert_memory_equal(r.raw, expect, sizeof(expect));
	assert_int_equal(agent_inflight(t->agent), 0);
	assert_int_equal(counter(t, &SHARD(t)->requests[METRICS_RESULT_HIT]), 1);
	assert_int_equal(counter(t, &SHARD(t)->latency_count), 1);
}

static void test_notify_results(void **state)
{
	static const struct {
		enum lookup_status st;
		const char *error; /* NULL: no error variable */
		enum metrics_result result;
	} cases[] = {
		{ LOOKUP_MISS, NULL, METRICS_RESULT_MISS },
		{ LOOKUP_UNAVAILABLE, "redis-unavailable", METRICS_RESULT_UNAVAILABLE },
		{ LOOKUP_TIMEOUT, "timeout", METRICS_RESULT_TIMEOUT },
		{ LOOKUP_ERROR, "redis-error", METRICS_RESULT_ERROR },
	};
	struct t *t = *state;
	struct fb f = { 0 };
	struct ack a;
	unsigned i;

	t_handshake(t, 16380, 16380);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fb_notify(&f, 7, 100 + i, "tok");
		t_send_fb(t, &f);
		complete(t, i, cases[i].st, NULL);
		t_recv_ack(t, &a);
		assert_int_equal(a.sid, 7);
		assert_int_equal(a.fid, 100 + i);
		assert_int_equal(a.found, 0);
		assert_false(a.has_keyauth);
		assert_int_equal(a.has_error, cases[i].error != NULL);
		if (cases[i].error)
			assert_string_equal(a.error, cases[i].error);
		assert_int_equal(counter(t, &SHARD(t)->requests[cases[i].result]), 1);
	}
	/* Redis down: answered at once, without a pending lookup. */
	t->fake.immediate = LOOKUP_UNAVAILABLE;
	fb_notify(&f, 9, 9, "tok");
	t_send_fb(t, &f);
	t_recv_ack(t, &a);
	assert_int_equal(a.fid, 9);
	assert_int_equal(a.found, 0);
	assert_string_equal(a.error, "redis-unavailable");
	assert_int_equal(t->fake.n, 4);
	assert_int_equal(counter(t, &SHARD(t)->requests[METRICS_RESULT_UNAVAILABLE]), 2);
}

/* 2.6 framing: several NOTIFYs in one write, answered in completion order. */
static void test_pipelined_out_of_order(void **state)
{
	static const unsigned order[] = { 2, 0, 3, 1 };
	struct t *t = *state;
	struct fb f = { 0 };
	struct ack a;
	char tok[8], val[32];
	unsigned i;

	t_handshake(t, 16380, 16380);
	for (i = 0; i < 4; i++) {
		snprintf(tok, sizeof(tok), "t%u", i);
		fb_notify(&f, 0, 10 + i, tok); /* 2.6: stream 0 is valid, frame ids count */
	}
	t_send_fb(t, &f); /* one write, four frames */
	assert_int_equal(t->fake.n, 4);
	for (i = 0; i < 4; i++) {
		snprintf(val, sizeof(val), "t%u.thumb", order[i]);
		complete(t, order[i], LOOKUP_HIT, val);
	}
	for (i = 0; i < 4; i++) {
		t_recv_ack(t, &a);
		assert_int_equal(a.sid, 0);
		assert_int_equal(a.fid, 10 + order[i]);
		assert_int_equal(a.found, 1);
		snprintf(val, sizeof(val), "t%u.thumb", order[i]);
		assert_string_equal(a.keyauth, val);
	}
	t_expect_nothing(t);
}

/* 3.x framing: odd per-connection stream ids, frame-id 1, ids beyond 32 bits. */
static void test_ids_3x(void **state)
{
	static const uint64_t sids[] = { 1, 3, 5, (1ull << 33) + 1, UINT64_MAX };
	struct t *t = *state;
	struct fb f = { 0 };
	struct ack a;
	int i;

	t_handshake(t, 16380, 16380);
	for (i = 0; i < 5; i++)
		fb_notify(&f, sids[i], 1, "tok");
	t_send_fb(t, &f);
	assert_int_equal(t->fake.n, 5);
	for (i = 4; i >= 0; i--)
		complete(t, (unsigned)i, LOOKUP_MISS, NULL);
	for (i = 4; i >= 0; i--) {
		t_recv_ack(t, &a);
		assert_true(a.sid == sids[i]);
		assert_int_equal(a.fid, 1);
	}
}

/* Frames split at every byte boundary. */
static void test_byte_by_byte(void **state)
{
	struct t *t = *state;
	struct fb f = { 0 };
	struct kvs k;
	struct ack a;
	size_t i, len;

	fb_hello(&f, 16380, false);
	fb_notify(&f, 1, 1, "first");
	fb_notify(&f, 3, 1, "second");
	len = f.len;
	for (i = 0; i < len; i++)
		t_send(t, f.b + i, 1);
	t_recv_kvs(t, SPOP_FRAME_AGENT_HELLO, &k);
	assert_int_equal(k.mfs, 16380);
	assert_int_equal(t->fake.n, 2);
	assert_string_equal(t->fake.reqs[0].token, "first");
	assert_string_equal(t->fake.reqs[1].token, "second");
	complete(t, 1, LOOKUP_HIT, "v2");
	complete(t, 0, LOOKUP_HIT, "v1");
	t_recv_ack(t, &a);
	assert_int_equal(a.sid, 3);
	assert_string_equal(a.keyauth, "v2");
	t_recv_ack(t, &a);
	assert_int_equal(a.sid, 1);
	assert_string_equal(a.keyauth, "v1");
}

/* Tokens the agent must refuse without a lookup: found=false, no error, counted invalid. */
static void test_invalid_tokens(void **state)
{
	struct t *t = *state;
	struct fb f = { 0 };
	struct ack a;
	char big[258];
	unsigned i, n = 0;

	t_handshake(t, 16380, 16380);
	memset(big, 'A', 257);
	big[257] = 0;
	fb_notify(&f, 1, 1, "a.b"), n++;
	fb_notify(&f, 1, 2, ""), n++;
	fb_notify(&f, 1, 3, big), n++;
	fb_notify(&f, 1, 4, "a/b"), n++;
	/* token with an embedded NUL */
	fb_begin(&f, SPOP_FRAME_NOTIFY, SPOP_FLAG_FIN, 1, 5), n++;
	fb_str(&f, "acme-challenge", 14);
	fb_u8(&f, 1);
	fb_kv_str(&f, "token", "ab\0cd", 5);
	fb_end(&f);
	/* token of another type */
	fb_begin(&f, SPOP_FRAME_NOTIFY, SPOP_FLAG_FIN, 1, 6), n++;
	fb_str(&f, "acme-challenge", 14);
	fb_u8(&f, 1);
	fb_kv_u32(&f, "token", 42);
	fb_end(&f);
	/* no token argument (HAProxy sends NULL args too) */
	fb_begin(&f, SPOP_FRAME_NOTIFY, SPOP_FLAG_FIN, 1, 7), n++;
	fb_str(&f, "acme-challenge", 14);
	fb_u8(&f, 1);
	fb_str(&f, "token", 5);
	fb_u8(&f, SPOP_DATA_NULL);
	fb_end(&f);
	/* another message only */
	fb_begin(&f, SPOP_FRAME_NOTIFY, SPOP_FLAG_FIN, 1, 8), n++;
	fb_str(&f, "other", 5);
	fb_u8(&f, 1);
	fb_kv_str(&f, "token", "abc", 3);
	fb_end(&f);
	/* no message at all */
	fb_begin(&f, SPOP_FRAME_NOTIFY, SPOP_FLAG_FIN, 1, 9), n++;
	fb_end(&f);
	t_send_fb(t, &f);
	for (i = 1; i <= n; i++) {
		t_recv_ack(t, &a);
		assert_int_equal(a.fid, i);
		assert_int_equal(a.found, 0);
		assert_false(a.has_error);
		assert_false(a.has_keyauth);
	}
	assert_int_equal(t->fake.n, 0); /* no lookup for any of them */
	assert_int_equal(counter(t, &SHARD(t)->requests[METRICS_RESULT_INVALID]), n);

	/* the acme-challenge message after another one is found; 256 chars is accepted */
	memset(big, 'A', 256);
	big[256] = 0;
	fb_begin(&f, SPOP_FRAME_NOTIFY, SPOP_FLAG_FIN, 1, 20);
	fb_str(&f, "other", 5);
	fb_u8(&f, 0);
	fb_str(&f, "acme-challenge", 14);
	fb_u8(&f, 2);
	fb_kv_str(&f, "host", "example.com", 11);
	fb_kv_str(&f, "token", big, 256);
	fb_end(&f);
	t_send_fb(t, &f);
	assert_int_equal(t->fake.n, 1);
	assert_int_equal(t->fake.reqs[0].len, 256);
}

static void test_oversize_before_hello(void **state)
{
	struct t *t = *state;
	uint8_t hdr[4] = { 0x00, 0x00, 0x40, 0x01 }; /* 16385 > ours */

	t_send(t, hdr, sizeof(hdr));
	t_expect_disconnect(t, SPOP_STATUS_TOO_BIG);
}

static void test_oversize_after_hello(void **state)
{
	struct t *t = *state;
	struct fb f = { 0 };
	char big[1100];

	t_handshake(t, 1024, 1024);
	memset(big, 'A', sizeof(big));
	fb_begin(&f, SPOP_FRAME_NOTIFY, SPOP_FLAG_FIN, 1, 1);
	fb_str(&f, "acme-challenge", 14);
	fb_u8(&f, 1);
	fb_kv_str(&f, "token", big, sizeof(big));
	fb_end(&f);
	t_send(t, f.b, 8); /* the length alone is enough to refuse it */
	t_expect_disconnect(t, SPOP_STATUS_TOO_BIG);
	assert_int_equal(t->fake.n, 0);
}

static void test_garbage_http(void **state)
{
	struct t *t = *state;
	const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

	t_send(t, req, strlen(req)); /* "GET " as a length is far too big */
	t_expect_disconnect(t, SPOP_STATUS_TOO_BIG);
}

static void test_garbage_short_frame(void **state)
{
	struct t *t = *state;
	uint8_t b[] = { 0, 0, 0, 3, 1, 0, 0 };

	t_send(t, b, sizeof(b));
	t_expect_disconnect(t, SPOP_STATUS_INVALID);
}

static void test_notify_before_hello(void **state)
{
	struct t *t = *state;
	struct fb f = { 0 };

	fb_notify(&f, 1, 1, "abc");
	t_send_fb(t, &f);
	t_expect_disconnect(t, SPOP_STATUS_INVALID);
	assert_int_equal(t->fake.n, 0);
}

static void test_truncated_kv(void **state)
{
	struct t *t = *state;
	struct fb f = { 0 };

	fb_begin(&f, SPOP_FRAME_HAPROXY_HELLO, SPOP_FLAG_FIN, 0, 0);
	fb_str(&f, "supported-versions", 18);
	fb_u8(&f, SPOP_DATA_STR);
	fb_varint(&f, 50); /* announces 50 bytes, frame ends */
	fb_bytes(&f, "2.0", 3);
	fb_end(&f);
	t_send_fb(t, &f);
	t_expect_disconnect(t, SPOP_STATUS_INVALID);
}

static void test_bad_notify_args(void **state)
{
	struct t *t = *state;
	struct fb f = { 0 };

	t_handshake(t, 16380, 16380);
	fb_begin(&f, SPOP_FRAME_NOTIFY, SPOP_FLAG_FIN, 1, 1);
	fb_str(&f, "acme-challenge", 14);
	fb_u8(&f, 3); /* three args announced, one present */
	fb_kv_str(&f, "token", "abc", 3);
	fb_end(&f);
	t_send_fb(t, &f);
	t_expect_disconnect(t, SPOP_STATUS_INVALID);
	assert_int_equal(t->fake.n, 0);
}

static void test_no_fin(void **state)
{
	struct t *t = *state;
	struct fb f = { 0 };

	t_handshake(t, 16380, 16380);
	fb_begin(&f, SPOP_FRAME_NOTIFY, 0, 1, 1);
	fb_str(&f, "acme-challenge", 14);
	fb_u8(&f, 1);
	fb_kv_str(&f, "token", "abc", 3);
	fb_end(&f);
	t_send_fb(t, &f);
	t_expect_disconnect(t, SPOP_STATUS_FRAG_NOT_SUPPORTED);
}

static void test_hello_errors(void **state)
{
	static const struct {
		const char *versions; /* NULL: absent */
		int mfs;              /* -1: absent */
		const char *caps;     /* NULL: absent */
		unsigned status;
	} cases[] = {
		{ NULL, 16380, "pipelining", SPOP_STATUS_NO_VSN },
		{ "1.0", 16380, "pipelining", SPOP_STATUS_BAD_VSN },
		{ "2.0", -1, "pipelining", SPOP_STATUS_NO_FRAME_SIZE },
		{ "2.0", 100, "pipelining", SPOP_STATUS_BAD_FRAME_SIZE },
		{ "2.0", 16380, NULL, SPOP_STATUS_NO_CAP },
	};
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		void *st;
		struct t *t;
		struct fb f = { 0 };

		t_setup(&st);
		t = st;
		fb_begin(&f, SPOP_FRAME_HAPROXY_HELLO, SPOP_FLAG_FIN, 0, 0);
		if (cases[i].versions)
			fb_kv_str(&f, "supported-versions", cases[i].versions,
			          strlen(cases[i].versions));
		if (cases[i].mfs >= 0)
			fb_kv_u32(&f, "max-frame-size", (uint32_t)cases[i].mfs);
		if (cases[i].caps)
			fb_kv_str(&f, "capabilities", cases[i].caps, strlen(cases[i].caps));
		fb_end(&f);
		t_send_fb(t, &f);
		t_expect_disconnect(t, cases[i].status);
		t_teardown(&st);
	}
}

static void test_second_hello(void **state)
{
	struct t *t = *state;
	struct fb f = { 0 };

	t_handshake(t, 16380, 16380);
	fb_hello(&f, 16380, false);
	t_send_fb(t, &f);
	t_expect_disconnect(t, SPOP_STATUS_INVALID);
}

/* HAPROXY-DISCONNECT with a lookup in flight: AGENT-DISCONNECT, close, lookup cancelled and
 * no ACK ever sent for it. */
static void test_haproxy_disconnect(void **state)
{
	struct t *t = *state;
	struct fb f = { 0 };

	t_handshake(t, 16380, 16380);
	fb_notify(&f, 1, 1, "abc");
	t_send_fb(t, &f);
	assert_int_equal(t->fake.n, 1);
	fb_begin(&f, SPOP_FRAME_HAPROXY_DISCONNECT, SPOP_FLAG_FIN, 0, 0);
	fb_kv_u32(&f, "status-code", 0);
	fb_kv_str(&f, "message", "normal", 6);
	fb_end(&f);
	t_send_fb(t, &f);
	t_expect_disconnect(t, SPOP_STATUS_NONE);
	assert_int_equal(t->fake.cancelled, 1);
	assert_int_equal(agent_inflight(t->agent), 0);
	assert_int_equal(counter(t, &SHARD(t)->frames_out[METRICS_FRAME_ACK]), 0);
	close(t->fd); /* HAProxy closes after reading our answer */
	t->fd = -1;
	pump(t);
	assert_int_equal(agent_connections(t->agent), 0);
}

/* EOF in the middle of a frame is an ordinary close: no DISCONNECT, no error counted. */
static void test_eof_mid_frame(void **state)
{
	struct t *t = *state;
	struct fb f = { 0 };

	t_handshake(t, 16380, 16380);
	fb_notify(&f, 1, 1, "abc");
	fb_notify(&f, 3, 1, "def");
	t_send(t, f.b, f.len - 5); /* second frame cut short */
	assert_int_equal(t->fake.n, 1);
	shutdown(t->fd, SHUT_WR);
	pump(t);
	t_expect_eof(t);
	assert_int_equal(agent_connections(t->agent), 0);
	assert_int_equal(t->fake.cancelled, 1);
	assert_int_equal(counter(t, &SHARD(t)->frames_out[METRICS_FRAME_AGENT_DISCONNECT]), 0);
}

/* A TCP RST with lookups in flight (3.x's idle purge): the connection is freed, lookups are
 * cancelled, nothing leaks (ASan) and nothing is written. */
static void test_rst_inflight(void **state)
{
	struct t *t = *state;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct fb f = { 0 };

	t_handshake(t, 16380, 16380);
	fb_notify(&f, 1, 1, "a");
	fb_notify(&f, 3, 1, "b");
	fb_notify(&f, 5, 1, "c");
	t_send_fb(t, &f);
	assert_int_equal(t->fake.n, 3);
	complete(t, 1, LOOKUP_HIT, "b.x"); /* one ACK queued or sent before the RST */
	assert_int_equal(setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(t->fd);
	t->fd = -1;
	pump(t);
	assert_int_equal(agent_connections(t->agent), 0);
	assert_int_equal(t->fake.cancelled, 2);
	assert_true(t->fake.reqs[0].cancelled && t->fake.reqs[2].cancelled);
	assert_int_equal(agent_inflight(t->agent), 0);
	assert_int_equal(atomic_load(&SHARD(t)->connections_open), 0);
}

/* A value larger than the negotiated frame: found=false with an error, connection kept. */
static void test_value_too_large(void **state)
{
	struct t *t = *state;
	struct fb f = { 0 };
	struct ack a;
	char big[401];

	t_handshake(t, 256, 256);
	memset(big, 'k', 400);
	big[400] = 0;
	fb_notify(&f, 1, 1, "abc");
	fb_notify(&f, 3, 1, "def");
	t_send_fb(t, &f);
	complete(t, 0, LOOKUP_HIT, big);
	t_recv_ack(t, &a);
	assert_int_equal(a.found, 0);
	assert_string_equal(a.error, "value-too-large");
	complete(t, 1, LOOKUP_HIT, "fits");
	t_recv_ack(t, &a);
	assert_int_equal(a.found, 1);
	assert_string_equal(a.keyauth, "fits");
	assert_int_equal(counter(t, &SHARD(t)->requests[METRICS_RESULT_ERROR]), 1);
}

static void test_overloaded(void **state)
{
	struct t *t = *state;
	struct fb f = { 0 };
	struct ack a;

	t_handshake(t, 16380, 16380);
	fb_notify(&f, 1, 1, "a");
	fb_notify(&f, 3, 1, "b");
	fb_notify(&f, 5, 1, "c");
	t_send_fb(t, &f);
	assert_int_equal(t->fake.n, 2);
	t_recv_ack(t, &a);
	assert_int_equal(a.sid, 5);
	assert_int_equal(a.found, 0);
	assert_string_equal(a.error, "overloaded");
}

/* Many ACKs produced in one batch leave whole: every frame parses, in order. */
static void test_many_acks(void **state)
{
	struct t *t = *state;
	struct fb f = { 0 };
	struct ack a;
	unsigned i;

	t_handshake(t, 16380, 16380);
	for (i = 0; i < FAKE_MAX; i++)
		fb_notify(&f, 2 * i + 1, 1, "tok");
	t_send_fb(t, &f);
	assert_int_equal(t->fake.n, FAKE_MAX);
	for (i = 0; i < FAKE_MAX; i++) {
		struct lookup_req *r = &t->fake.reqs[i];

		r->live = false;
		r->cb(r->arg, LOOKUP_HIT, (const uint8_t *)"tok.thumbprint", 14);
	}
	pump(t);
	for (i = 0; i < FAKE_MAX; i++) {
		t_recv_ack(t, &a);
		assert_true(a.sid == 2 * i + 1);
		assert_string_equal(a.keyauth, "tok.thumbprint");
	}
}

static uint64_t t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Run the loop for <ms> of real time (the agent's timers fire meanwhile). */
static void t_run_for(struct t *t, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

	event_base_loopexit(t->base, &tv);
	event_base_dispatch(t->base);
}

/* Wait for the agent to close, 5 s at most (a deadlock guard); returns when it did. */
static uint64_t t_wait_close(struct t *t)
{
	uint64_t end = t_now_ms() + 5000;
	ssize_t n;

	while (t_now_ms() < end) {
		n = recv(t->fd, t->rbuf, sizeof(t->rbuf), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return t_now_ms();
		assert_true(n < 0 && errno == EAGAIN); /* nothing sent before the close */
		t_run_for(t, 10);
	}
	fail_msg("the agent did not close");
	return 0;
}

/* A peer that connects and never says HELLO is closed after the HELLO timeout. */
static void test_hello_timeout(void **state)
{
	struct t *t = *state;
	uint64_t t0 = t_now_ms();

	assert_int_equal(agent_connections(t->agent), 1);
	assert_true(t_wait_close(t) - t0 >= 140);
	assert_int_equal(agent_connections(t->agent), 0);
}

/* Idle: nothing received, nothing pending, everything sent, for the idle timeout. A pending
 * lookup keeps the connection however long it takes. */
static void test_idle_timeout(void **state)
{
	struct t *t = *state;
	struct fb f = { 0 };
	struct ack a;
	uint64_t t0;

	t_handshake(t, 16380, 16380);
	fb_notify(&f, 1, 1, "tok");
	t_send_fb(t, &f);
	assert_int_equal(t->fake.n, 1);
	t_run_for(t, 700); /* over twice the idle timeout, with the lookup pending */
	assert_int_equal(agent_connections(t->agent), 1);
	complete(t, 0, LOOKUP_HIT, "tok.thumb");
	t_recv_ack(t, &a);
	assert_string_equal(a.keyauth, "tok.thumb");
	t0 = t_now_ms();
	assert_true(t_wait_close(t) - t0 >= 250); /* counted from the answer */
	assert_int_equal(agent_connections(t->agent), 0);
}

/* At max_conns a worker stops accepting; the next connection waits in the backlog and is
 * served once one closes. */
static void test_max_conns(void **state)
{
	struct agent_conf conf = { .max_conns = 2 };
	struct sockaddr_in sin = { .sin_family = AF_INET,
		                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sin);
	struct event_base *base = event_base_new();
	struct metrics *m = metrics_new(1);
	struct fake fake = { .immediate = LOOKUP_PENDING };
	struct agent *a;
	int l, c[3], i, k;

	(void)state;
	assert_non_null(base);
	a = agent_new(base, &conf, &fake_ops, &fake, metrics_shard(m, 0));
	assert_non_null(a);
	l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(l, 8), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &slen), 0);
	assert_int_equal(agent_watch_listener(a, l), 0);
	for (i = 0; i < 3; i++) {
		c[i] = socket(AF_INET, SOCK_STREAM, 0);
		assert_int_equal(connect(c[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
	}
	for (k = 0; k < 50; k++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(agent_connections(a), 2);
	close(c[0]);
	for (k = 0; k < 50 && agent_connections(a) != 2; k++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	for (k = 0; k < 50; k++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(agent_connections(a), 2);
	assert_int_equal(atomic_load(&metrics_shard(m, 0)->connections_total), 3);
	close(c[1]);
	close(c[2]);
	agent_free(a);
	close(l);
	metrics_free(m);
	event_base_free(base);
}

/* Read and drop exactly <n> bytes of what the agent sent (pumping while it has not yet). */
static void t_drain(struct t *t, size_t n)
{
	uint8_t sink[16384];
	ssize_t r;
	int spins = 0;

	while (n) {
		r = recv(t->fd, sink, n < sizeof(sink) ? n : sizeof(sink), 0);
		if (r < 0) {
			assert_int_equal(errno, EAGAIN);
			assert_true(++spins < 1000);
			pump(t);
			continue;
		}
		assert_true(r > 0);
		n -= (size_t)r;
	}
}

/* Read everything available; the bytes read. */
static size_t t_drain_all(struct t *t)
{
	uint8_t sink[16384];
	size_t total = 0;
	ssize_t r;

	for (;;) {
		pump(t);
		r = recv(t->fd, sink, sizeof(sink), 0);
		if (r <= 0)
			return total;
		total += (size_t)r;
	}
}

#define ROUND 20 /* NOTIFYs per round, each answered at once (invalid token) */

static void t_send_round(struct t *t)
{
	static struct fb f;
	unsigned i;

	for (i = 0; i < ROUND; i++)
		fb_notify(&f, 2 * i + 1, 1, "!");
	t_send_fb(t, &f);
}

/*
 * A peer that reads as fast as it sends, but some way behind: the agent's output is never
 * wholly sent, so what was sent must be reclaimed as it goes. It used to be kept until the
 * output drained completely, which this peer never lets happen: memory grew with every ACK.
 */
static void test_out_compacted(void **state)
{
	struct t *t = *state;
	size_t per_round, max = 0;
	int sb = 4096, i;

	t_handshake(t, 16380, 16380);
	assert_int_equal(setsockopt(t->agent_fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb)), 0);
	t_send_round(t);
	per_round = t_drain_all(t);
	assert_true(per_round > 0);
	for (i = 0; i < 6000; i++) {
		t_send_round(t);
		if (i >= 200) /* 200 rounds behind, then in step */
			t_drain(t, per_round);
		if (agent_out_bytes(t->agent) > max)
			max = agent_out_bytes(t->agent);
	}
	if (max > 512 * 1024)
		fail_msg("%zu bytes held for output after %zu sent", max, (size_t)6000 * per_round);
}

/*
 * A peer that pipelines NOTIFYs and never reads: the agent stops reading once its unsent
 * output passes the bound, so memory stays bounded; once the peer reads, every NOTIFY is
 * answered.
 */
static void test_out_pauses_reading(void **state)
{
	struct t *t = *state;
	static struct fb f;
	size_t sent = 0, got = 0, per_ack;
	ssize_t n;
	int blocked = 0;
	unsigned i;

	t_handshake(t, 16380, 16380);
	fb_notify(&f, 1, 1, "!");
	t_send_fb(t, &f);
	per_ack = t_drain_all(t);
	for (i = 0; i < 1000; i++)
		fb_notify(&f, 1, 1, "!"); /* ACKs of one size: the count is in the bytes */
	while (blocked < 50 && sent < 64u * 1024 * 1024) {
		n = send(t->fd, f.b, f.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == (ssize_t)f.len) {
			sent += 1000;
			blocked = 0;
		} else {
			assert_true(n < 0 && errno == EAGAIN); /* whole frames only */
			blocked++;
		}
		pump(t);
		assert_true(agent_out_bytes(t->agent) <= 512 * 1024);
	}
	assert_int_equal(blocked, 50); /* the agent did stop reading */
	while (got < sent * per_ack) {
		size_t k = t_drain_all(t);

		assert_true(k > 0);
		got += k;
	}
	assert_int_equal(got, sent * per_ack);
}

/*
 * The pause takes effect within one read: a peer that has written a socket buffer full of
 * NOTIFYs and reads nothing makes the agent queue at most one input buffer's worth of ACKs past
 * the bound, not an ACK for everything the socket holds. Checking the bound only when a send
 * returned EAGAIN (after the read callback had drained the socket) let a burst grow the output
 * by the whole socket buffer; so did a read loop that went on reading once paused. The agent's
 * send buffer is made small so that its output is stuck from the first ACKs on.
 */
static void test_out_pause_within_read(void **state)
{
	struct t *t = *state;
	static struct fb f;
	size_t sent = 0, got = 0, per_ack, max = 0, k, rest;
	int sb = 4096, big = 1 << 20;
	ssize_t n;
	unsigned i;

	t_handshake(t, 16380, 16380);
	fb_notify(&f, 1, 1, "!");
	t_send_fb(t, &f);
	per_ack = t_drain_all(t);
	assert_true(per_ack > 0);
	assert_int_equal(setsockopt(t->agent_fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb)), 0);
	/* As much queued input as the system lets one socket hold (best effort: capped by
	 * wmem_max), and at least 128 KiB with the defaults. */
	(void)setsockopt(t->fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	for (i = 0; i < 1000; i++)
		fb_notify(&f, 1, 1, "!"); /* ACKs of one size: the count is in the bytes */
	for (;;) {
		n = send(t->fd, f.b, f.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n != (ssize_t)f.len)
			break;
		sent += 1000;
	}
	assert_true(n > 0 || errno == EAGAIN);
	assert_true(sent * (f.len / 1000) >= 128 * 1024);
	for (i = 0; i < 20; i++) {
		pump(t);
		if (agent_out_bytes(t->agent) > max)
			max = agent_out_bytes(t->agent);
	}
	/* 1024 bytes of bound, one input buffer (2 frames of 16 KiB) of NOTIFYs answered, room
	 * for one more frame: 64 KiB of allocation. The whole queue would be several times it. */
	if (max > 64 * 1024)
		fail_msg("%zu bytes held for output with %zu NOTIFYs (%zu bytes of ACKs) queued",
		         max, sent, sent * per_ack);
	/* Once the peer reads, reading resumes and every NOTIFY is answered (the socket may have
	 * taken part of the last batch: the rest follows as the agent reads). */
	rest = n > 0 ? (size_t)n : f.len;
	if (n > 0)
		sent += 1000;
	while (got < sent * per_ack) {
		if (rest < f.len) {
			n = send(t->fd, f.b + rest, f.len - rest, MSG_NOSIGNAL | MSG_DONTWAIT);
			assert_true(n > 0 || errno == EAGAIN);
			rest += n > 0 ? (size_t)n : 0;
		}
		k = t_drain_all(t);
		assert_true(k > 0);
		got += k;
	}
	assert_int_equal(got, sent * per_ack);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hello, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_hello_min_frame_size, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_healthcheck_hello, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_notify_hit_exact_bytes, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_notify_results, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_pipelined_out_of_order, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_ids_3x, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_byte_by_byte, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_invalid_tokens, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_oversize_before_hello, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_oversize_after_hello, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_garbage_http, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_garbage_short_frame, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_notify_before_hello, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_truncated_kv, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_bad_notify_args, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_no_fin, t_setup, t_teardown),
		cmocka_unit_test(test_hello_errors),
		cmocka_unit_test_setup_teardown(test_second_hello, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_haproxy_disconnect, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_eof_mid_frame, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_rst_inflight, t_setup_tcp, t_teardown),
		cmocka_unit_test_setup_teardown(test_value_too_large, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_overloaded, t_setup_small_inflight,
		                                t_teardown),
		cmocka_unit_test_setup_teardown(test_many_acks, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_out_compacted, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_hello_timeout, t_setup_timeouts, t_teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, t_setup_timeouts, t_teardown),
		cmocka_unit_test(test_max_conns),
		cmocka_unit_test_setup_teardown(test_out_pauses_reading, t_setup, t_teardown),
		cmocka_unit_test_setup_teardown(test_out_pause_within_read, t_setup_small_out,
		                                t_teardown),
	};

	return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}
