// SPDX-License-Identifier: MIT
/*
 * Unit tests for spoa-agent/spop.c: HAProxy's varint vectors both ways, every truncation of
 * every vector, over-long and overflowing varints, typed data of all ten types, frame bounds,
 * HELLO statuses, and the frames captured from HAProxy 2.6.12 (tests/bench/golden/) decoded
 * field by field and re-encoded byte for byte. Inputs are exact-size heap copies so that ASan
 * catches any read past <end>; outputs are exact-size heap buffers for the same reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spoa-agent/spop.h"
#include "tests/bench/golden/spop_frames.h"

/* An exact-size heap copy of <n> bytes (a 1-byte block for n = 0, never read). */
static uint8_t *dup_exact(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);

	assert_non_null(d);
	if (n)
		memcpy(d, p, n);
	return d;
}

struct varint_vec {
	uint64_t v;
	size_t len;
	uint8_t b[SPOP_VARINT_MAX_LEN];
};

/* Values at every length boundary; bytes from HAProxy's encode_varint() (DESIGN.md gives
 * 1000 and 16380; the 2.6.12 captures carry 16380 as FC F0 06). */
static const struct varint_vec varint_vecs[] = {
	{ 0, 1, { 0x00 } },
	{ 1, 1, { 0x01 } },
	{ 239, 1, { 0xef } },
	{ 240, 2, { 0xf0, 0x00 } },
	{ 1000, 2, { 0xf8, 0x2f } },
	{ 2287, 2, { 0xff, 0x7f } },
	{ 2288, 3, { 0xf0, 0x80, 0x00 } },
	{ 16380, 3, { 0xfc, 0xf0, 0x06 } },
	{ 264431, 3, { 0xff, 0xff, 0x7f } },
	{ 264432, 4, { 0xf0, 0x80, 0x80, 0x00 } },
	{ 4294967296ull, 5, { 0xf0, 0xf1, 0xfe, 0xfe, 0x7e } },
	{ UINT64_MAX, 10, { 0xff, 0xf0, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0x0e } },
};
#define N_VARINT_VECS (sizeof(varint_vecs) / sizeof(varint_vecs[0]))

static void test_varint_vectors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_VARINT_VECS; i++) {
		const struct varint_vec *t = &varint_vecs[i];
		uint8_t *out = malloc(t->len), *p = out;
		uint8_t *in = dup_exact(t->b, t->len);
		const uint8_t *q = in;
		uint64_t v = 12345;

		assert_non_null(out);
		assert_int_equal(spop_varint_encode(t->v, &p, out + t->len), (int)t->len);
		assert_ptr_equal(p, out + t->len);
		assert_memory_equal(out, t->b, t->len);
		/* one byte short: refused, cursor untouched */
		p = out;
		assert_int_equal(spop_varint_encode(t->v, &p, out + t->len - 1), -1);
		assert_ptr_equal(p, out);

		assert_int_equal(spop_varint_decode(&v, &q, in + t->len), (int)t->len);
		assert_true(v == t->v);
		assert_ptr_equal(q, in + t->len);
		free(out);
		free(in);
	}
}

static void test_varint_truncations(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < N_VARINT_VECS; i++) {
		const struct varint_vec *t = &varint_vecs[i];

		for (k = 0; k < t->len; k++) {
			uint8_t *in = dup_exact(t->b, k);
			const uint8_t *q = in;
			uint64_t v = 777;

			assert_int_equal(spop_varint_decode(&v, &q, in + k), 0);
			assert_ptr_equal(q, in);
			assert_true(v == 777);
			free(in);
		}
	}
}

static void test_varint_invalid(void **state)
{
	/* 11 bytes: ten continuation bytes are already too many */
	static const uint8_t too_long[] = { 0xf0, 0x80, 0x80, 0x80, 0x80, 0x80,
		                            0x80, 0x80, 0x80, 0x80, 0x00 };
	/* 2^64-1 with one more in the top group */
	static const uint8_t overflow_sum[] = { 0xff, 0xf0, 0xfe, 0xfe, 0xfe,
		                                0xfe, 0xfe, 0xfe, 0xfe, 0x0f };
	/* tenth byte too large for the 4 bits left at shift 60 */
	static const uint8_t overflow_shift[] = { 0xf0, 0x80, 0x80, 0x80, 0x80,
		                                  0x80, 0x80, 0x80, 0x80, 0x10 };
	static const struct {
		const uint8_t *b;
		size_t len;
	} cases[] = {
		{ too_long, sizeof(too_long) },
		{ too_long, 10 }, /* ten bytes, the last still continued: invalid, not incomplete */
		{ overflow_sum, sizeof(overflow_sum) },
		{ overflow_shift, sizeof(overflow_shift) },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *in = dup_exact(cases[i].b, cases[i].len);
		const uint8_t *q = in;
		uint64_t v;

		assert_int_equal(spop_varint_decode(&v, &q, in + cases[i].len), -1);
		assert_ptr_equal(q, in);
		free(in);
	}
}

/* Every power of two and its neighbours survive encode -> decode with the same length. */
static void test_varint_roundtrip(void **state)
{
	unsigned s;
	int d;

	(void)state;
	for (s = 0; s < 64; s++) {
		for (d = -1; d <= 1; d++) {
			uint64_t v = ((uint64_t)1 << s) + (uint64_t)(int64_t)d, got;
			uint8_t b[SPOP_VARINT_MAX_LEN], *p = b;
			const uint8_t *q = b;
			int n = spop_varint_encode(v, &p, b + sizeof(b));

			assert_in_range(n, 1, SPOP_VARINT_MAX_LEN);
			assert_int_equal(spop_varint_decode(&got, &q, b + n), n);
			assert_true(got == v);
		}
	}
}

/* Encodes <d> into an exact-size buffer, checks the bytes against <want> when given, that every
 * smaller buffer is refused, that decoding gives <d> back and that every truncation is refused.
 */
static void check_data(const struct spop_data *d, const uint8_t *want, size_t want_len)
{
	uint8_t big[64], *p = big, *out, *in;
	const uint8_t *q;
	struct spop_data got;
	size_t n, k;

	memset(&got, 0, sizeof(got));
	n = (size_t)spop_data_encode(d, &p, big + sizeof(big));
	assert_in_range(n, 1, sizeof(big));
	if (want)
		assert_memory_equal(big, want, want_len);
	if (want)
		assert_int_equal(n, want_len);
	for (k = 0; k < n; k++) {
		out = malloc(k ? k : 1);
		p = out;
		assert_int_equal(spop_data_encode(d, &p, out + k), -1);
		assert_ptr_equal(p, out);
		free(out);
	}
	in = dup_exact(big, n);
	q = in;
	assert_int_equal(spop_data_decode(&got, &q, in + n), 1);
	assert_ptr_equal(q, in + n);
	assert_int_equal(got.type, d->type);
	switch (d->type) {
	case SPOP_DATA_NULL:
		break;
	case SPOP_DATA_BOOL:
		assert_int_equal(got.v.b, d->v.b);
		break;
	case SPOP_DATA_INT32:
	case SPOP_DATA_INT64:
		assert_true(got.v.i == d->v.i);
		break;
	case SPOP_DATA_UINT32:
	case SPOP_DATA_UINT64:
		assert_true(got.v.u == d->v.u);
		break;
	case SPOP_DATA_IPV4:
		assert_memory_equal(got.v.ipv4, d->v.ipv4, 4);
		break;
	case SPOP_DATA_IPV6:
		assert_memory_equal(got.v.ipv6, d->v.ipv6, 16);
		break;
	case SPOP_DATA_STR:
	case SPOP_DATA_BIN:
		assert_int_equal(got.v.str.len, d->v.str.len);
		if (d->v.str.len)
			assert_memory_equal(got.v.str.p, d->v.str.p, d->v.str.len);
		assert_ptr_equal(got.v.str.p, in + n - d->v.str.len); /* borrowed */
		break;
	default:
		fail();
	}
	free(in);
	for (k = 0; k < n; k++) {
		in = dup_exact(big, k);
		q = in;
		assert_int_equal(spop_data_decode(&got, &q, in + k), -1);
		assert_ptr_equal(q, in);
		free(in);
	}
}

static void test_data_all_types(void **state)
{
	static const uint8_t bin[] = { 0x00, 0xff, 0x00, 0x10 };
	struct spop_data d;

	(void)state;
	memset(&d, 0, sizeof(d));
	d.type = SPOP_DATA_NULL;
	check_data(&d, (const uint8_t *)"\x00", 1);

	d.type = SPOP_DATA_BOOL;
	d.v.b = true;
	check_data(&d, (const uint8_t *)"\x11", 1);
	d.v.b = false;
	check_data(&d, (const uint8_t *)"\x01", 1);

	d.type = SPOP_DATA_INT32;
	d.v.i = 5;
	check_data(&d, (const uint8_t *)"\x02\x05", 2);
	d.v.i = -1; /* two's complement of the int64, as HAProxy does */
	check_data(&d, (const uint8_t *)"\x02\xff\xf0\xfe\xfe\xfe\xfe\xfe\xfe\xfe\x0e", 11);
	d.v.i = INT32_MIN;
	check_data(&d, NULL, 0);
	d.v.i = INT32_MAX;
	check_data(&d, NULL, 0);

	d.type = SPOP_DATA_UINT32;
	d.v.u = 16380;
	check_data(&d, (const uint8_t *)"\x03\xfc\xf0\x06", 4);
	d.v.u = UINT32_MAX;
	check_data(&d, NULL, 0);

	d.type = SPOP_DATA_INT64;
	d.v.i = -5; /* HAProxy 2.6.12 printed -5 for exactly these bytes */
	check_data(&d, (const uint8_t *)"\x04\xfb\xf0\xfe\xfe\xfe\xfe\xfe\xfe\xfe\x0e", 11);
	d.v.i = INT64_MIN;
	check_data(&d, NULL, 0);
	d.v.i = INT64_MAX;
	check_data(&d, NULL, 0);

	d.type = SPOP_DATA_UINT64;
	d.v.u = UINT64_MAX;
	check_data(&d, (const uint8_t *)"\x05\xff\xf0\xfe\xfe\xfe\xfe\xfe\xfe\xfe\x0e", 11);
	d.v.u = 0;
	check_data(&d, (const uint8_t *)"\x05\x00", 2);

	d.type = SPOP_DATA_IPV4;
	memcpy(d.v.ipv4, "\x7f\x00\x00\x01", 4);
	check_data(&d, (const uint8_t *)"\x06\x7f\x00\x00\x01", 5);

	d.type = SPOP_DATA_IPV6;
	memcpy(d.v.ipv6, "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 16);
	check_data(&d,
	           (const uint8_t *)"\x07\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	                            "\x00\x01",
	           17);

	d.type = SPOP_DATA_STR;
	d.v.str.p = (const uint8_t *)"abc";
	d.v.str.len = 3;
	check_data(&d,
	           (const uint8_t *)"\x08\x03"
	                            "abc",
	           5);
	d.v.str.len = 0;
	check_data(&d, (const uint8_t *)"\x08\x00", 2);

	d.type = SPOP_DATA_BIN;
	d.v.str.p = bin;
	d.v.str.len = sizeof(bin);
	check_data(&d, (const uint8_t *)"\x09\x04\x00\xff\x00\x10", 6);
}

/* A long string whose length takes a 2-byte varint. */
static void test_data_long_string(void **state)
{
	uint8_t s[300];
	struct spop_data d;

	(void)state;
	memset(s, 'k', sizeof(s));
	memset(&d, 0, sizeof(d));
	d.type = SPOP_DATA_STR;
	d.v.str.p = s;
	d.v.str.len = 2000; /* too big for check_data's buffer: only the header */
	{
		uint8_t out[3], *p = out;

		assert_int_equal(spop_data_encode(&d, &p, out + sizeof(out)), -1);
		assert_ptr_equal(p, out);
	}
	d.v.str.len = 40;
	check_data(&d, NULL, 0);
}

static void test_data_invalid(void **state)
{
	static const struct {
		const char *why;
		const uint8_t *b;
		size_t len;
	} cases[] = {
		{ "reserved type 10", (const uint8_t *)"\x0a", 1 },
		{ "reserved type 15", (const uint8_t *)"\x0f\x00", 2 },
		{ "INT32 above int32", (const uint8_t *)"\x02\xf0\xf1\xfe\xfe\x3e", 6 }, /* 2^31 */
		{ "INT32 below int32",
		  (const uint8_t *)"\x02\xff\xf0\xfe\xfe\xbe\xfe\xfe\xfe\xfe\x0e", 11 },
		{ "UINT32 above 2^32-1", (const uint8_t *)"\x03\xf0\xf1\xfe\xfe\x7e", 6 },
		{ "string longer than its input",
		  (const uint8_t *)"\x08\x05"
		                   "abcd",
		  6 },
		{ "string of 2^64-1 bytes",
		  (const uint8_t *)"\x08\xff\xf0\xfe\xfe\xfe\xfe\xfe\xfe\xfe\x0e", 11 },
		{ "binary with a bad varint length",
		  (const uint8_t *)"\x09\xf0\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 12 },
		{ "nothing", (const uint8_t *)"", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *in = dup_exact(cases[i].b, cases[i].len);
		const uint8_t *q = in;
		struct spop_data d;

		print_message("%s\n", cases[i].why);
		assert_int_equal(spop_data_decode(&d, &q, in + cases[i].len), -1);
		assert_ptr_equal(q, in);
		free(in);
	}
}

/* The flag bits other than 0x10 do not make a bool true; the type is the low nibble. */
static void test_data_bool_flags(void **state)
{
	static const uint8_t b[] = { 0x31, 0x21 };
	const uint8_t *q = b;
	struct spop_data d;

	(void)state;
	assert_int_equal(spop_data_decode(&d, &q, b + 1), 1);
	assert_int_equal(d.type, SPOP_DATA_BOOL);
	assert_true(d.v.b);
	assert_int_equal(spop_data_decode(&d, &q, b + 2), 1);
	assert_false(d.v.b);
}

static void test_kv_decode(void **state)
{
	static const uint8_t kv[] = "\x05token\x08\x03xyz";
	const size_t n = sizeof(kv) - 1;
	const uint8_t *name, *q;
	struct spop_data d;
	size_t name_len, k;
	uint8_t *in;

	(void)state;
	in = dup_exact(kv, n);
	q = in;
	assert_int_equal(spop_kv_decode(&name, &name_len, &d, &q, in + n), 1);
	assert_int_equal(name_len, 5);
	assert_memory_equal(name, "token", 5);
	assert_int_equal(d.type, SPOP_DATA_STR);
	assert_int_equal(d.v.str.len, 3);
	assert_memory_equal(d.v.str.p, "xyz", 3);
	assert_ptr_equal(q, in + n);
	free(in);
	for (k = 0; k < n; k++) {
		in = dup_exact(kv, k);
		q = in;
		assert_int_equal(spop_kv_decode(&name, &name_len, &d, &q, in + k), -1);
		assert_ptr_equal(q, in);
		free(in);
	}
}

/* A 4-byte big-endian length followed by <have> bytes of zeros (exact-size heap copy). */
static uint8_t *frame_with_len(uint32_t flen, size_t have)
{
	uint8_t *b = calloc(1, SPOP_FRAME_HDR_LEN + have);

	assert_non_null(b);
	b[0] = (uint8_t)(flen >> 24);
	b[1] = (uint8_t)(flen >> 16);
	b[2] = (uint8_t)(flen >> 8);
	b[3] = (uint8_t)flen;
	return b;
}

static void test_frame_peek(void **state)
{
	enum spop_status st = SPOP_STATUS_NONE;
	const uint32_t max = 1000;
	uint8_t *b;
	size_t k;

	(void)state;
	/* fewer than 4 bytes: need more, whatever they say */
	for (k = 0; k < SPOP_FRAME_HDR_LEN; k++) {
		b = dup_exact("\xff\xff\xff\xff", k);
		assert_int_equal(spop_frame_peek(b, k, max, &st), 0);
		free(b);
	}
	/* 6-byte frame: invalid at once */
	b = frame_with_len(6, 6);
	assert_int_equal(spop_frame_peek(b, 4, max, &st), -1);
	assert_int_equal(st, SPOP_STATUS_INVALID);
	assert_int_equal(spop_frame_peek(b, 10, max, &st), -1);
	free(b);
	b = frame_with_len(0, 0);
	st = SPOP_STATUS_NONE;
	assert_int_equal(spop_frame_peek(b, 4, max, &st), -1);
	assert_int_equal(st, SPOP_STATUS_INVALID);
	free(b);
	/* smallest frame */
	b = frame_with_len(7, 7);
	assert_int_equal(spop_frame_peek(b, 11, max, &st), 11);
	assert_int_equal(spop_frame_peek(b, 10, max, &st), 0);
	free(b);
	/* max + 1: too big as soon as the length is known, before the body arrives */
	b = frame_with_len(max + 1, 0);
	st = SPOP_STATUS_NONE;
	assert_int_equal(spop_frame_peek(b, 4, max, &st), -1);
	assert_int_equal(st, SPOP_STATUS_TOO_BIG);
	free(b);
	b = frame_with_len(UINT32_MAX, 0);
	assert_int_equal(spop_frame_peek(b, 4, max, &st), -1);
	assert_int_equal(st, SPOP_STATUS_TOO_BIG);
	free(b);
	/* exactly max: whole when all of it is there */
	b = frame_with_len(max, max);
	for (k = 4; k < 4 + max; k += 97)
		assert_int_equal(spop_frame_peek(b, k, max, &st), 0);
	assert_int_equal(spop_frame_peek(b, 4 + max - 1, max, &st), 0);
	assert_int_equal(spop_frame_peek(b, 4 + max, max, &st), 4 + max);
	free(b);
	/* extra bytes after the frame (pipelined) do not change the answer */
	b = frame_with_len(7, 20);
	assert_int_equal(spop_frame_peek(b, 24, max, &st), 11);
	free(b);
}

/* Decodes a golden frame's header through peek + decode (exact-size copy). */
static void decode_golden(const uint8_t *g, size_t n, struct spop_frame *f, uint8_t **copy)
{
	enum spop_status st = SPOP_STATUS_UNKNOWN;

	*copy = dup_exact(g, n);
	assert_int_equal(spop_frame_peek(*copy, n, SPOP_MAX_FRAME_SIZE, &st), (ssize_t)n);
	assert_int_equal(spop_frame_decode(*copy + 4, n - 4, f, &st), 0);
	assert_int_equal(st, SPOP_STATUS_NONE);
	assert_true(f->flags & SPOP_FLAG_FIN);
}

static void test_frame_decode(void **state)
{
	static const uint8_t nofin[] = { 0x03, 0x00, 0x00, 0x00, 0x00, 0x05, 0x07, 0xaa };
	static const uint8_t unknown[] = { 0x2a, 0x00, 0x00, 0x00, 0x03, 0xf0, 0x00, 0x01 };
	static const uint8_t big_ids[] = { 0x03, 0x00, 0x00, 0x00, 0x01,
		                           0xf8, 0x2f, 0xfc, 0xf0, 0x06 };
	enum spop_status st;
	struct spop_frame f;
	uint8_t *in;
	size_t k;

	(void)state;
	in = dup_exact(nofin, sizeof(nofin));
	assert_int_equal(spop_frame_decode(in, sizeof(nofin), &f, &st), -1);
	assert_int_equal(st, SPOP_STATUS_FRAG_NOT_SUPPORTED);
	assert_int_equal(f.type, SPOP_FRAME_NOTIFY);
	assert_true(f.stream_id == 5 && f.frame_id == 7);
	free(in);

	in = dup_exact(unknown, sizeof(unknown));
	assert_int_equal(spop_frame_decode(in, sizeof(unknown), &f, &st), 0);
	assert_int_equal((int)f.type, 42);
	assert_true(f.flags == 3);
	assert_true(f.stream_id == 240 && f.frame_id == 1);
	assert_int_equal(f.payload_len, 0);
	free(in);

	in = dup_exact(big_ids, sizeof(big_ids));
	assert_int_equal(spop_frame_decode(in, sizeof(big_ids), &f, &st), 0);
	assert_true(f.stream_id == 1000 && f.frame_id == 16380);
	assert_ptr_equal(f.payload, in + sizeof(big_ids));
	free(in);
	/* every truncation of a header is invalid (a whole frame cannot be incomplete) */
	for (k = 0; k < sizeof(big_ids); k++) {
		in = dup_exact(big_ids, k);
		st = SPOP_STATUS_NONE;
		assert_int_equal(spop_frame_decode(in, k, &f, &st), -1);
		assert_int_equal(st, SPOP_STATUS_INVALID);
		free(in);
	}
}

static void test_golden_hello(void **state)
{
	struct spop_frame f;
	struct spop_hello h;
	enum spop_status st = SPOP_STATUS_UNKNOWN;
	uint8_t *in;

	(void)state;
	decode_golden(spop_golden_hello, sizeof(spop_golden_hello), &f, &in);
	assert_int_equal(f.type, SPOP_FRAME_HAPROXY_HELLO);
	assert_true(f.flags == SPOP_FLAG_FIN);
	assert_true(f.stream_id == 0 && f.frame_id == 0);
	assert_int_equal(spop_hello_decode(f.payload, f.payload_len, &h, &st), 0);
	assert_int_equal(st, SPOP_STATUS_NONE);
	assert_true(h.has_versions && h.version_2_0);
	assert_true(h.has_max_frame_size);
	assert_int_equal(h.max_frame_size, 16380);
	assert_true(h.has_capabilities);
	assert_true(h.pipelining);
	assert_true(h.async);
	assert_false(h.fragmentation);
	assert_false(h.healthcheck);
	free(in);
}

static void test_golden_hello_healthcheck(void **state)
{
	struct spop_frame f;
	struct spop_hello h;
	enum spop_status st = SPOP_STATUS_UNKNOWN;
	uint8_t *in;

	(void)state;
	decode_golden(spop_golden_hello_hc, sizeof(spop_golden_hello_hc), &f, &in);
	assert_int_equal(f.type, SPOP_FRAME_HAPROXY_HELLO);
	assert_int_equal(spop_hello_decode(f.payload, f.payload_len, &h, &st), 0);
	assert_true(h.version_2_0);
	assert_int_equal(h.max_frame_size, 16380);
	assert_true(h.has_capabilities); /* present, but empty */
	assert_false(h.pipelining);
	assert_false(h.async);
	assert_true(h.healthcheck);
	free(in);
}

static void test_golden_notify(void **state)
{
	const uint8_t *p, *end, *a, *name;
	struct spop_message m;
	struct spop_frame f;
	struct spop_data d;
	size_t name_len;
	uint8_t *in;

	(void)state;
	decode_golden(spop_golden_notify, sizeof(spop_golden_notify), &f, &in);
	assert_int_equal(f.type, SPOP_FRAME_NOTIFY);
	assert_true(f.stream_id == 0); /* 2.6 uses stream-id 0 */
	assert_true(f.frame_id == 1);
	p = f.payload;
	end = f.payload + f.payload_len;
	assert_int_equal(spop_message_next(&m, &p, end), 1);
	assert_int_equal(m.name_len, strlen("acme-challenge"));
	assert_memory_equal(m.name, "acme-challenge", m.name_len);
	assert_int_equal(m.nargs, 2);
	assert_ptr_equal(m.end, end);

	a = m.args;
	assert_int_equal(spop_kv_decode(&name, &name_len, &d, &a, end), 1);
	assert_int_equal(name_len, 5);
	assert_memory_equal(name, "token", 5);
	assert_int_equal(d.type, SPOP_DATA_STR);
	assert_int_equal(d.v.str.len, strlen("tok123_-AbC"));
	assert_memory_equal(d.v.str.p, "tok123_-AbC", d.v.str.len);

	assert_int_equal(spop_kv_decode(&name, &name_len, &d, &a, end), 1);
	assert_int_equal(name_len, 4);
	assert_memory_equal(name, "host", 4);
	assert_int_equal(d.type, SPOP_DATA_STR);
	/* sent as "Example.COM:80", host_only,lower in spoe-acme.conf */
	assert_int_equal(d.v.str.len, strlen("example.com"));
	assert_memory_equal(d.v.str.p, "example.com", d.v.str.len);
	assert_ptr_equal(a, p);

	assert_int_equal(spop_message_next(&m, &p, end), 0);
	free(in);
}

static void test_golden_disconnect(void **state)
{
	const uint8_t *msg;
	struct spop_frame f;
	size_t msg_len;
	uint32_t code = 99;
	uint8_t *in;

	(void)state;
	decode_golden(spop_golden_disconnect, sizeof(spop_golden_disconnect), &f, &in);
	assert_int_equal(f.type, SPOP_FRAME_HAPROXY_DISCONNECT);
	assert_int_equal(spop_disconnect_decode(f.payload, f.payload_len, &code, &msg, &msg_len),
	                 0);
	assert_int_equal(code, SPOP_STATUS_TIMEOUT);
	assert_int_equal(msg_len, strlen("a timeout occurred"));
	assert_memory_equal(msg, "a timeout occurred", msg_len);
	free(in);
}

/* Every truncation of every golden frame, fed as if it were whole, is refused cleanly. */
static void test_golden_truncations(void **state)
{
	static const struct {
		const uint8_t *b;
		size_t len;
	} g[] = {
		{ spop_golden_hello, sizeof(spop_golden_hello) },
		{ spop_golden_hello_hc, sizeof(spop_golden_hello_hc) },
		{ spop_golden_notify, sizeof(spop_golden_notify) },
		{ spop_golden_disconnect, sizeof(spop_golden_disconnect) },
	};
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
		for (k = 0; k < g[i].len; k++) {
			uint8_t *in = dup_exact(g[i].b, k);
			enum spop_status st;

			/* incomplete for peek */
			assert_int_equal(spop_frame_peek(in, k, SPOP_MAX_FRAME_SIZE, &st), 0);
			free(in);
		}
		/* the payload cut anywhere is invalid for its decoder */
		for (k = 0; k < g[i].len - 11; k++) {
			const size_t off = 11; /* 4 + type + flags + ids of 1 byte each */
			uint8_t *in = dup_exact(g[i].b + off, k);
			const uint8_t *p = in, *msg;
			struct spop_message m;
			struct spop_hello h;
			enum spop_status st;
			uint32_t code;
			size_t ml;
			int r;

			switch (g[i].b[4]) {
			case SPOP_FRAME_HAPROXY_HELLO:
				/* cut inside an item: INVALID; between items: a status, or
				 * success once only optional items are missing */
				r = spop_hello_decode(in, k, &h, &st);
				assert_int_equal(r == 0, st == SPOP_STATUS_NONE);
				if (r == 0)
					assert_true(h.has_capabilities);
				break;
			case SPOP_FRAME_HAPROXY_DISCONNECT:
				/* 14 bytes: status-code whole, message not there yet */
				assert_int_equal(spop_disconnect_decode(in, k, &code, &msg, &ml),
				                 k == 14 ? 0 : -1);
				break;
			case SPOP_FRAME_NOTIFY:
				r = spop_message_next(&m, &p, in + k);
				assert_int_equal(r, k == 0 ? 0 : -1);
				break;
			}
			free(in);
		}
	}
}

/* A HELLO payload builder for the malformed cases. */
struct kv {
	const char *name;
	struct spop_data d;
};

static size_t build_kvs(uint8_t *out, size_t outsz, const struct kv *kvs, size_t n)
{
	uint8_t *p = out;
	size_t i, len;

	for (i = 0; i < n; i++) {
		len = strlen(kvs[i].name);
		assert_true(spop_varint_encode(len, &p, out + outsz) > 0);
		assert_true(len <= (size_t)(out + outsz - p));
		memcpy(p, kvs[i].name, len);
		p += len;
		assert_true(spop_data_encode(&kvs[i].d, &p, out + outsz) > 0);
	}
	return (size_t)(p - out);
}

#define KV_STR(n, s)                                                                           \
	{                                                                                      \
		n,                                                                             \
		{                                                                              \
			.type = SPOP_DATA_STR, .v.str = {(const uint8_t *)(s), sizeof(s) - 1 } \
		}                                                                              \
	}
#define KV_U32(n, x)                                         \
	{                                                    \
		n,                                           \
		{                                            \
			.type = SPOP_DATA_UINT32, .v.u = (x) \
		}                                            \
	}
#define KV_TYPED(n, t, field, x)                    \
	{                                           \
		n,                                  \
		{                                   \
			.type = (t), .v.field = (x) \
		}                                   \
	}

/* Runs spop_hello_decode() on <kvs> (exact-size copy); returns the status. */
static enum spop_status hello_status(const struct kv *kvs, size_t n, struct spop_hello *h)
{
	uint8_t buf[512], *in;
	enum spop_status st = SPOP_STATUS_UNKNOWN;
	size_t len = build_kvs(buf, sizeof(buf), kvs, n);
	int r;

	in = dup_exact(buf, len);
	r = spop_hello_decode(in, len, h, &st);
	assert_int_equal(r, st == SPOP_STATUS_NONE ? 0 : -1);
	free(in);
	return st;
}

#define HELLO_STATUS(h, ...)                             \
	hello_status((const struct kv[]){ __VA_ARGS__ }, \
	             sizeof((const struct kv[]){ __VA_ARGS__ }) / sizeof(struct kv), (h))

static void test_hello_statuses(void **state)
{
	struct spop_hello h;
	enum spop_status st;

	(void)state;
	/* empty payload */
	assert_int_equal(spop_hello_decode((const uint8_t *)"", 0, &h, &st), -1);
	assert_int_equal(st, SPOP_STATUS_NO_VSN);

	assert_int_equal(HELLO_STATUS(&h, KV_U32("max-frame-size", 16380),
	                              KV_STR("capabilities", "pipelining")),
	                 SPOP_STATUS_NO_VSN);
	assert_int_equal(HELLO_STATUS(&h, KV_STR("supported-versions", "1.0"),
	                              KV_U32("max-frame-size", 16380),
	                              KV_STR("capabilities", "pipelining")),
	                 SPOP_STATUS_BAD_VSN);
	assert_int_equal(HELLO_STATUS(&h, KV_STR("supported-versions", ""),
	                              KV_U32("max-frame-size", 16380), KV_STR("capabilities", "")),
	                 SPOP_STATUS_BAD_VSN);
	assert_int_equal(HELLO_STATUS(&h, KV_STR("supported-versions", "2.0"),
	                              KV_STR("capabilities", "pipelining")),
	                 SPOP_STATUS_NO_FRAME_SIZE);
	assert_int_equal(HELLO_STATUS(&h, KV_STR("supported-versions", "2.0"),
	                              KV_U32("max-frame-size", 255),
	                              KV_STR("capabilities", "pipelining")),
	                 SPOP_STATUS_BAD_FRAME_SIZE);
	assert_int_equal(HELLO_STATUS(&h, KV_STR("supported-versions", "2.0"),
	                              KV_TYPED("max-frame-size", SPOP_DATA_INT64, i, -1),
	                              KV_STR("capabilities", "pipelining")),
	                 SPOP_STATUS_BAD_FRAME_SIZE);
	assert_int_equal(HELLO_STATUS(&h, KV_STR("supported-versions", "2.0"),
	                              KV_U32("max-frame-size", 16380)),
	                 SPOP_STATUS_NO_CAP);
	/* statuses in HAProxy's order: the version first */
	assert_int_equal(HELLO_STATUS(&h, KV_STR("supported-versions", "3.0")),
	                 SPOP_STATUS_BAD_VSN);
	assert_int_equal(
	        HELLO_STATUS(&h, KV_STR("supported-versions", "2.0"), KV_U32("max-frame-size", 1)),
	        SPOP_STATUS_BAD_FRAME_SIZE);

	/* known items with the wrong type, and a cut KV list: invalid */
	assert_int_equal(HELLO_STATUS(&h, KV_U32("supported-versions", 2),
	                              KV_U32("max-frame-size", 16380),
	                              KV_STR("capabilities", "pipelining")),
	                 SPOP_STATUS_INVALID);
	assert_int_equal(HELLO_STATUS(&h, KV_STR("supported-versions", "2.0"),
	                              KV_STR("max-frame-size", "16380"),
	                              KV_STR("capabilities", "pipelining")),
	                 SPOP_STATUS_INVALID);
	assert_int_equal(HELLO_STATUS(&h, KV_STR("supported-versions", "2.0"),
	                              KV_U32("max-frame-size", 16380),
	                              KV_TYPED("capabilities", SPOP_DATA_BOOL, b, true)),
	                 SPOP_STATUS_INVALID);
	assert_int_equal(HELLO_STATUS(&h, KV_STR("supported-versions", "2.0"),
	                              KV_U32("max-frame-size", 16380),
	                              KV_STR("capabilities", "pipelining"),
	                              KV_STR("healthcheck", "true")),
	                 SPOP_STATUS_INVALID);
}

static void test_hello_accepts(void **state)
{
	static const char *const good[] = { "2.0", " 2.0 ", "1.5, 2.0", " 1.0 ,2.0,",
		                            "2.1", "02.0",  "2.10",     "\t2.0\t" };
	static const char *const bad[] = { "20", "2.", "2.0x", "12.0", "2,0", "1.9", ".0", "2 .0" };
	struct spop_hello h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct kv kvs[] = {
			{ "supported-versions",
			  { .type = SPOP_DATA_STR,
			    .v.str = { (const uint8_t *)good[i], strlen(good[i]) } } },
			KV_U32("max-frame-size", 16380),
			KV_STR("capabilities", ""),
		};

		print_message("good version '%s'\n", good[i]);
		assert_int_equal(hello_status(kvs, 3, &h), SPOP_STATUS_NONE);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kv kvs[] = {
			{ "supported-versions",
			  { .type = SPOP_DATA_STR,
			    .v.str = { (const uint8_t *)bad[i], strlen(bad[i]) } } },
			KV_U32("max-frame-size", 16380),
			KV_STR("capabilities", ""),
		};

		print_message("bad version '%s'\n", bad[i]);
		assert_int_equal(hello_status(kvs, 3, &h), SPOP_STATUS_BAD_VSN);
	}

	/* size boundary, other integer types, clamping, capabilities with spaces, unknown
	 * items of any type skipped, healthcheck false */
	assert_int_equal(HELLO_STATUS(&h, KV_STR("engine-id", "x"),
	                              KV_STR("supported-versions", "2.0"),
	                              KV_U32("max-frame-size", 256),
	                              KV_TYPED("future", SPOP_DATA_BIN, str.len, 0),
	                              KV_STR("capabilities", " fragmentation , pipelining,,x"),
	                              KV_TYPED("healthcheck", SPOP_DATA_BOOL, b, false)),
	                 SPOP_STATUS_NONE);
	assert_int_equal(h.max_frame_size, 256);
	assert_true(h.fragmentation && h.pipelining && !h.async && !h.healthcheck);
	assert_int_equal(HELLO_STATUS(&h, KV_STR("supported-versions", "2.0"),
	                              KV_TYPED("max-frame-size", SPOP_DATA_UINT64, u, 1ull << 40),
	                              KV_STR("capabilities", "pipeliningx")),
	                 SPOP_STATUS_NONE);
	assert_int_equal(h.max_frame_size, UINT32_MAX);
	assert_false(h.pipelining);
	assert_int_equal(HELLO_STATUS(&h, KV_STR("supported-versions", "2.0"),
	                              KV_TYPED("max-frame-size", SPOP_DATA_INT32, i, 4096),
	                              KV_STR("capabilities", "async")),
	                 SPOP_STATUS_NONE);
	assert_int_equal(h.max_frame_size, 4096);
	assert_true(h.async);
}

static void test_disconnect_decode(void **state)
{
	uint8_t buf[256];
	const uint8_t *msg;
	size_t len, msg_len;
	uint32_t code;

	(void)state;
	{
		const struct kv kvs[] = { KV_U32("status-code", 4) };

		len = build_kvs(buf, sizeof(buf), kvs, 1);
		assert_int_equal(spop_disconnect_decode(buf, len, &code, &msg, &msg_len), 0);
		assert_int_equal(code, 4);
		assert_null(msg);
		assert_int_equal(msg_len, 0);
	}
	{
		const struct kv kvs[] = { KV_STR("message", "bye") };

		len = build_kvs(buf, sizeof(buf), kvs, 1);
		assert_int_equal(spop_disconnect_decode(buf, len, &code, &msg, &msg_len), -1);
	}
	{
		const struct kv kvs[] = { KV_U32("status-code", 0), KV_U32("message", 3) };

		len = build_kvs(buf, sizeof(buf), kvs, 2);
		assert_int_equal(spop_disconnect_decode(buf, len, &code, &msg, &msg_len), -1);
	}
	{
		const struct kv kvs[] = { KV_TYPED("status-code", SPOP_DATA_INT32, i, -1) };

		len = build_kvs(buf, sizeof(buf), kvs, 1);
		assert_int_equal(spop_disconnect_decode(buf, len, &code, &msg, &msg_len), -1);
	}
}

static void test_message_iteration(void **state)
{
	/* two messages: "a" with no args, "bb" with one BOOL arg */
	static const uint8_t two[] = { 0x01, 'a', 0x00, 0x02, 'b', 'b', 0x01, 0x01, 'x', 0x11 };
	static const struct {
		const char *why;
		const uint8_t *b;
		size_t len;
	} bad[] = {
		{ "name longer than input",
		  (const uint8_t *)"\x05"
		                   "ab",
		  3 },
		{ "no nb-args",
		  (const uint8_t *)"\x01"
		                   "a",
		  2 },
		{ "fewer args than announced",
		  (const uint8_t *)"\x01"
		                   "a\x02\x01x\x11",
		  6 },
		{ "bad arg type",
		  (const uint8_t *)"\x01"
		                   "a\x01\x01x\x0b",
		  6 },
	};
	const uint8_t *p, *a, *name;
	struct spop_message m;
	struct spop_data d;
	size_t name_len, i;
	uint8_t *in;

	(void)state;
	in = dup_exact(two, sizeof(two));
	p = in;
	assert_int_equal(spop_message_next(&m, &p, in + sizeof(two)), 1);
	assert_int_equal(m.name_len, 1);
	assert_int_equal(m.nargs, 0);
	assert_int_equal(spop_message_next(&m, &p, in + sizeof(two)), 1);
	assert_int_equal(m.name_len, 2);
	assert_memory_equal(m.name, "bb", 2);
	assert_int_equal(m.nargs, 1);
	a = m.args;
	assert_int_equal(spop_kv_decode(&name, &name_len, &d, &a, m.end), 1);
	assert_int_equal(d.type, SPOP_DATA_BOOL);
	assert_true(d.v.b);
	assert_int_equal(spop_message_next(&m, &p, in + sizeof(two)), 0);
	free(in);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		in = dup_exact(bad[i].b, bad[i].len);
		p = in;
		print_message("%s\n", bad[i].why);
		assert_int_equal(spop_message_next(&m, &p, in + bad[i].len), -1);
		assert_ptr_equal(p, in);
		free(in);
	}
}

/* Every buffer smaller than <n> (<tout>, <toutsz> bytes) is refused by the call without
 * writing past it (ASan watches the exact-size block). */
#define CHECK_TOO_SMALL(n, call_with_out_sz)                      \
	do {                                                      \
		size_t k_;                                        \
		for (k_ = 0; k_ < (n); k_++) {                    \
			uint8_t *tout = malloc(k_ ? k_ : 1);      \
			size_t toutsz = k_;                       \
			assert_non_null(tout);                    \
			assert_int_equal((call_with_out_sz), -1); \
			free(tout);                               \
		}                                                 \
	} while (0)

static void test_agent_hello(void **state)
{
	static const uint8_t want[] = "\x00\x00\x00\x40"             /* length 64 */
	                              "\x65\x00\x00\x00\x01\x00\x00" /* AGENT-HELLO, FIN, 0, 0 */
	                              "\x07version\x08\x03"
	                              "2.0"                                /* */
	                              "\x0emax-frame-size\x03\xfc\xf0\x06" /* UINT32 16380 */
	                              "\x0c"
	                              "capabilities\x08\x0apipelining";
	const size_t n = sizeof(want) - 1;
	uint8_t *out = malloc(n);
	struct spop_frame f;
	enum spop_status st;

	(void)state;
	assert_non_null(out);
	assert_int_equal(spop_agent_hello_encode(out, n, 16380), (int)n);
	assert_memory_equal(out, want, n);
	assert_int_equal(spop_frame_peek(out, n, SPOP_MAX_FRAME_SIZE, &st), (ssize_t)n);
	assert_int_equal(spop_frame_decode(out + 4, n - 4, &f, &st), 0);
	assert_int_equal(f.type, SPOP_FRAME_AGENT_HELLO);
	free(out);
	CHECK_TOO_SMALL(n, spop_agent_hello_encode(tout, toutsz, 16380));
	/* 256 takes a 2-byte varint: one byte shorter */
	out = malloc(n - 1);
	assert_int_equal(spop_agent_hello_encode(out, n - 1, 256), (int)n - 1);
	assert_int_equal(out[3], 0x40 - 1);
	assert_memory_equal(out + 4 + 7 + 13 + 15, "\x03\xf0\x01", 3);
	free(out);
}

static void test_agent_disconnect(void **state)
{
	static const uint8_t want[] = "\x00\x00\x00\x35"
	                              "\x66\x00\x00\x00\x01\x00\x00"
	                              "\x0bstatus-code\x03\x04"
	                              "\x07message\x08\x16invalid frame received";
	const size_t n = sizeof(want) - 1;
	uint8_t *out = malloc(n);
	const uint8_t *msg;
	struct spop_frame f;
	enum spop_status st;
	size_t msg_len;
	uint32_t code;

	(void)state;
	assert_non_null(out);
	assert_int_equal(spop_agent_disconnect_encode(out, n, SPOP_STATUS_INVALID, NULL), (int)n);
	assert_memory_equal(out, want, n);
	assert_int_equal(
	        spop_agent_disconnect_encode(out, n, SPOP_STATUS_INVALID, "invalid frame received"),
	        (int)n);
	assert_memory_equal(out, want, n);
	/* our own decoder reads it back (same layout as HAPROXY-DISCONNECT) */
	assert_int_equal(spop_frame_decode(out + 4, n - 4, &f, &st), 0);
	assert_int_equal(f.type, SPOP_FRAME_AGENT_DISCONNECT);
	assert_int_equal(spop_disconnect_decode(f.payload, f.payload_len, &code, &msg, &msg_len),
	                 0);
	assert_int_equal(code, SPOP_STATUS_INVALID);
	assert_int_equal(msg_len, strlen("invalid frame received"));
	free(out);
	CHECK_TOO_SMALL(n, spop_agent_disconnect_encode(tout, toutsz, SPOP_STATUS_INVALID, NULL));
}

/* Builds found/keyauth/error ACKs as the agent does, into <outsz> bytes at <out>. */
static int build_ack(uint8_t *out, size_t outsz, uint64_t sid, uint64_t fid, bool found,
                     const char *keyauth, const struct spop_data *error)
{
	struct spop_ack a;
	struct spop_data d;

	if (spop_ack_begin(&a, out, outsz, sid, fid) < 0)
		return -1;
	memset(&d, 0, sizeof(d));
	d.type = SPOP_DATA_BOOL;
	d.v.b = found;
	if (spop_ack_set_var(&a, SPOP_SCOPE_TXN, "found", &d) < 0)
		return -1;
	if (keyauth) {
		d.type = SPOP_DATA_STR;
		d.v.str.p = (const uint8_t *)keyauth;
		d.v.str.len = strlen(keyauth);
		if (spop_ack_set_var(&a, SPOP_SCOPE_TXN, "keyauth", &d) < 0)
			return -1;
	}
	if (error && spop_ack_set_var(&a, SPOP_SCOPE_TXN, "error", error) < 0)
		return -1;
	return spop_ack_end(&a);
}

static void test_ack_golden(void **state)
{
	struct spop_data err = { .type = SPOP_DATA_INT64, .v.i = -5 };
	size_t n;
	uint8_t *out;

	(void)state;
	/* the exact bytes HAProxy 2.6.12 accepted (200 with the keyauth as body) */
	n = sizeof(spop_golden_ack_keyauth);
	out = malloc(n);
	assert_int_equal(build_ack(out, n, 0, 1, true,
	                           "tok123.thumbprintAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL),
	                 (int)n);
	assert_memory_equal(out, spop_golden_ack_keyauth, n);
	free(out);
	CHECK_TOO_SMALL(n, build_ack(tout, toutsz, 0, 1, true,
	                             "tok123.thumbprintAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL));

	/* and the one it read as found=false, error=-5 */
	n = sizeof(spop_golden_ack_error);
	out = malloc(n);
	assert_int_equal(build_ack(out, n, 0, 1, false, NULL, &err), (int)n);
	assert_memory_equal(out, spop_golden_ack_error, n);
	free(out);
	CHECK_TOO_SMALL(n, build_ack(tout, toutsz, 0, 1, false, NULL, &err));
}

static void test_ack_exact_bytes(void **state)
{
	static const uint8_t want_str[] = "\x00\x00\x00\x30"
	                                  "\x67\x00\x00\x00\x01\x0b\xf8\x2f" /* sid 11, fid 1000 */
	                                  "\x01\x03\x02\x05"
	                                  "found\x11"
	                                  "\x01\x03\x02\x07keyauth\x08\x05t.thp"
	                                  "\x01\x03\x02\x05"
	                                  "error\x08\x01x";
	static const uint8_t want_int[] = "\x00\x00\x00\x1c"
	                                  "\x67\x00\x00\x00\x01\x00\x00"
	                                  "\x01\x03\x02\x05"
	                                  "found\x01"
	                                  "\x01\x03\x02\x05"
	                                  "error\x02\x02";
	struct spop_data e_str = { .type = SPOP_DATA_STR, .v.str = { (const uint8_t *)"x", 1 } };
	struct spop_data e_int = { .type = SPOP_DATA_INT32, .v.i = 2 };
	uint8_t out[128];
	struct spop_ack a;

	(void)state;
	assert_int_equal(build_ack(out, sizeof(out), 11, 1000, true, "t.thp", &e_str),
	                 (int)sizeof(want_str) - 1);
	assert_memory_equal(out, want_str, sizeof(want_str) - 1);
	assert_int_equal(build_ack(out, sizeof(out), 0, 0, false, NULL, &e_int),
	                 (int)sizeof(want_int) - 1);
	assert_memory_equal(out, want_int, sizeof(want_int) - 1);

	/* an ACK with no action is still a whole frame */
	assert_int_equal(spop_ack_begin(&a, out, sizeof(out), 3, 5), 0);
	assert_int_equal(spop_ack_end(&a), 11);
	assert_memory_equal(out, "\x00\x00\x00\x07\x67\x00\x00\x00\x01\x03\x05", 11);

	/* once a set-var failed the builder stays failed */
	assert_int_equal(spop_ack_begin(&a, out, 30, 0, 0), 0); /* 11 + 14 fit, not 11 + 28 */
	assert_int_equal(spop_ack_set_var(&a, SPOP_SCOPE_TXN, "keyauth", &e_str), 0);
	assert_int_equal(spop_ack_set_var(&a, SPOP_SCOPE_TXN, "keyauth", &e_str), -1);
	assert_int_equal(spop_ack_set_var(&a, SPOP_SCOPE_TXN, "k", &e_int), -1);
	assert_int_equal(spop_ack_end(&a), -1);
}

/* A keyauth of realistic size (token 43 + '.' + thumbprint 43) and ids as 3.x sends them. */
static void test_ack_realistic(void **state)
{
	char keyauth[88];
	uint8_t *out;
	struct spop_frame f;
	enum spop_status st;
	const uint8_t *p;
	int n;

	(void)state;
	memset(keyauth, 'a', sizeof(keyauth) - 1);
	keyauth[43] = '.';
	keyauth[sizeof(keyauth) - 1] = 0;
	out = malloc(SPOP_MAX_FRAME_SIZE);
	n = build_ack(out, SPOP_MAX_FRAME_SIZE, 2049, 1, true, keyauth, NULL);
	assert_int_equal(n, 4 + 1 + 4 + 3 + (3 + 1 + 5 + 1) + (3 + 1 + 7 + 1 + 1 + 87));
	assert_int_equal(spop_frame_peek(out, (size_t)n, SPOP_MAX_FRAME_SIZE, &st), n);
	assert_int_equal(spop_frame_decode(out + 4, (size_t)n - 4, &f, &st), 0);
	assert_int_equal(f.type, SPOP_FRAME_ACK);
	assert_true(f.stream_id == 2049 && f.frame_id == 1);
	p = f.payload;
	assert_int_equal(p[0], SPOP_ACTION_SET_VAR);
	free(out);
}

static void test_status_str(void **state)
{
	int s;

	(void)state;
	for (s = SPOP_STATUS_NONE; s <= SPOP_STATUS_RES_ALLOC_ERR; s++)
		assert_string_not_equal(spop_status_str((enum spop_status)s),
		                        "an unknown error occurred");
	assert_string_equal(spop_status_str(SPOP_STATUS_UNKNOWN), "an unknown error occurred");
	assert_string_equal(spop_status_str((enum spop_status)1234), "an unknown error occurred");
	assert_string_equal(spop_status_str(SPOP_STATUS_TOO_BIG), "frame is too big");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_varint_vectors),
		cmocka_unit_test(test_varint_truncations),
		cmocka_unit_test(test_varint_invalid),
		cmocka_unit_test(test_varint_roundtrip),
		cmocka_unit_test(test_data_all_types),
		cmocka_unit_test(test_data_long_string),
		cmocka_unit_test(test_data_invalid),
		cmocka_unit_test(test_data_bool_flags),
		cmocka_unit_test(test_kv_decode),
		cmocka_unit_test(test_frame_peek),
		cmocka_unit_test(test_frame_decode),
		cmocka_unit_test(test_golden_hello),
		cmocka_unit_test(test_golden_hello_healthcheck),
		cmocka_unit_test(test_golden_notify),
		cmocka_unit_test(test_golden_disconnect),
		cmocka_unit_test(test_golden_truncations),
		cmocka_unit_test(test_hello_statuses),
		cmocka_unit_test(test_hello_accepts),
		cmocka_unit_test(test_disconnect_decode),
		cmocka_unit_test(test_message_iteration),
		cmocka_unit_test(test_agent_hello),
		cmocka_unit_test(test_agent_disconnect),
		cmocka_unit_test(test_ack_golden),
		cmocka_unit_test(test_ack_exact_bytes),
		cmocka_unit_test(test_ack_realistic),
		cmocka_unit_test(test_status_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
