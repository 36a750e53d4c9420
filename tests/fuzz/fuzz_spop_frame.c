// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for spoa-agent/spop.c, driven the way agent.c drives it: the input is a byte
 * stream from HAProxy; frames are peeked, copied into exact-size blocks (so ASan catches any
 * read past a frame), decoded, and their payloads handed to the HELLO, DISCONNECT and NOTIFY
 * decoders (every message, every argument). The whole input is also fed to each payload decoder
 * directly. Decoded values are re-encoded and decoded again, and a set-var ACK is built from
 * each argument, so the encoders are exercised with hostile values too. Invariants that must
 * hold abort the run.
 *
 * Seeds: tests/fuzz/corpus/fuzz_spop_frame/ (the HAProxy 2.6.12 captures and edge cases).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spoa-agent/spop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Abort unless <cond>: a broken invariant is a finding. */
static void fuzz_check(int cond)
{
	if (!cond)
		abort();
}

/* Re-encodes <d> and decodes it again: the same value must come back. */
static void fuzz_data_roundtrip(const struct spop_data *d)
{
	uint8_t buf[32], *heap = NULL, *p;
	const uint8_t *q;
	struct spop_data back;
	size_t cap = sizeof(buf);
	int n;

	p = buf;
	if ((d->type == SPOP_DATA_STR || d->type == SPOP_DATA_BIN) && d->v.str.len > 16) {
		cap = d->v.str.len + SPOP_VARINT_MAX_LEN + 1;
		heap = malloc(cap);
		if (!heap)
			return;
		p = heap;
	}
	q = p;
	n = spop_data_encode(d, &p, q + cap);
	fuzz_check(n > 0 && (size_t)n <= cap);
	fuzz_check(spop_data_decode(&back, &q, q + n) == 1);
	fuzz_check(back.type == d->type);
	switch (d->type) {
	case SPOP_DATA_BOOL:
		fuzz_check(back.v.b == d->v.b);
		break;
	case SPOP_DATA_INT32:
	case SPOP_DATA_INT64:
		fuzz_check(back.v.i == d->v.i);
		break;
	case SPOP_DATA_UINT32:
	case SPOP_DATA_UINT64:
		fuzz_check(back.v.u == d->v.u);
		break;
	case SPOP_DATA_STR:
	case SPOP_DATA_BIN:
		fuzz_check(back.v.str.len == d->v.str.len);
		fuzz_check(!d->v.str.len || !memcmp(back.v.str.p, d->v.str.p, d->v.str.len));
		break;
	default:
		break;
	}
	free(heap);
}

/* Builds an ACK that sets <d> in a frame-sized buffer and checks it decodes as a frame. */
static void fuzz_ack(const struct spop_frame *f, const struct spop_data *d)
{
	static uint8_t out[SPOP_MAX_FRAME_SIZE + SPOP_FRAME_HDR_LEN];
	struct spop_frame back;
	enum spop_status st;
	struct spop_ack a;
	int n;

	if (spop_ack_begin(&a, out, sizeof(out), f->stream_id, f->frame_id) < 0)
		abort();
	if (spop_ack_set_var(&a, SPOP_SCOPE_TXN, "v", d) < 0) {
		fuzz_check(spop_ack_end(&a) == -1);
		return;
	}
	n = spop_ack_end(&a);
	fuzz_check(n > 0 && (size_t)n <= sizeof(out));
	fuzz_check(spop_frame_peek(out, (size_t)n, SPOP_MAX_FRAME_SIZE, &st) == n);
	fuzz_check(spop_frame_decode(out + 4, (size_t)n - 4, &back, &st) == 0);
	fuzz_check(back.type == SPOP_FRAME_ACK && back.stream_id == f->stream_id &&
	           back.frame_id == f->frame_id);
}

/* Walks a NOTIFY payload: every message, every argument. */
static void fuzz_notify(const struct spop_frame *f, const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len, *a, *name;
	struct spop_message m;
	struct spop_data d;
	size_t name_len;
	unsigned i;
	int r;

	while ((r = spop_message_next(&m, &p, end)) == 1) {
		fuzz_check(m.name + m.name_len <= end && m.args <= p && p <= end);
		a = m.args;
		for (i = 0; i < m.nargs; i++) {
			/* spop_message_next() validated them all */
			fuzz_check(spop_kv_decode(&name, &name_len, &d, &a, end) == 1);
			fuzz_check(a <= p);
			fuzz_data_roundtrip(&d);
			if (f)
				fuzz_ack(f, &d);
		}
		fuzz_check(a == p);
	}
	fuzz_check(r == 0 || r == -1);
}

static void fuzz_hello(const uint8_t *p, size_t len)
{
	struct spop_hello h;
	enum spop_status st = SPOP_STATUS_UNKNOWN;
	uint8_t out[128];
	int r;

	r = spop_hello_decode(p, len, &h, &st);
	fuzz_check((r == 0) == (st == SPOP_STATUS_NONE));
	if (r == 0) {
		fuzz_check(h.version_2_0 && h.has_capabilities);
		fuzz_check(h.max_frame_size >= SPOP_MIN_FRAME_SIZE);
		fuzz_check(spop_agent_hello_encode(out, sizeof(out), h.max_frame_size) > 0);
	} else {
		fuzz_check(spop_agent_disconnect_encode(out, sizeof(out), st, NULL) > 0);
	}
}

static void fuzz_disconnect(const uint8_t *p, size_t len)
{
	const uint8_t *msg;
	size_t msg_len;
	uint32_t code;

	if (spop_disconnect_decode(p, len, &code, &msg, &msg_len) == 0)
		fuzz_check(!msg || (msg >= p && msg + msg_len <= p + len));
}

/* One whole frame body in an exact-size block. */
static void fuzz_frame(const uint8_t *body, size_t len)
{
	struct spop_frame f;
	enum spop_status st = SPOP_STATUS_UNKNOWN;

	if (spop_frame_decode(body, len, &f, &st) < 0) {
		fuzz_check(st == SPOP_STATUS_INVALID || st == SPOP_STATUS_FRAG_NOT_SUPPORTED);
		return;
	}
	fuzz_check(f.payload >= body && f.payload + f.payload_len == body + len);
	switch (f.type) {
	case SPOP_FRAME_HAPROXY_HELLO:
		fuzz_hello(f.payload, f.payload_len);
		break;
	case SPOP_FRAME_HAPROXY_DISCONNECT:
		fuzz_disconnect(f.payload, f.payload_len);
		break;
	case SPOP_FRAME_NOTIFY:
		fuzz_notify(&f, f.payload, f.payload_len);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *q;
	size_t left = size;
	enum spop_status st;
	uint64_t v;
	ssize_t n;
	uint8_t *copy;

	/* as a stream of frames */
	while ((n = spop_frame_peek(p, left, SPOP_MAX_FRAME_SIZE, &st)) > 0) {
		fuzz_check((size_t)n <= left &&
		           (size_t)n >= SPOP_FRAME_HDR_LEN + SPOP_FRAME_MIN_LEN);
		copy = malloc((size_t)n - SPOP_FRAME_HDR_LEN);
		if (!copy)
			return 0;
		memcpy(copy, p + SPOP_FRAME_HDR_LEN, (size_t)n - SPOP_FRAME_HDR_LEN);
		fuzz_frame(copy, (size_t)n - SPOP_FRAME_HDR_LEN);
		free(copy);
		p += n;
		left -= (size_t)n;
	}
	if (n < 0)
		fuzz_check(st == SPOP_STATUS_INVALID || st == SPOP_STATUS_TOO_BIG);

	/* the whole input as each payload, and as varints */
	fuzz_hello(data, size);
	fuzz_disconnect(data, size);
	fuzz_notify(NULL, data, size);
	q = data;
	while (spop_varint_decode(&v, &q, data + size) > 0)
		fuzz_check(q <= data + size);
	return 0;
}
