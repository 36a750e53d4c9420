// SPDX-License-Identifier: MIT
/*
 * Micro-benchmark of the SPOP codec on the agent's hot path: peek and decode the NOTIFY
 * captured from HAProxy 2.6.12, walk its message to the "token" argument, and build the ACK
 * with found=true and an 87-byte keyauth (43-byte token '.' 43-byte thumbprint, the size
 * Let's Encrypt produces). The baseline, measured in the same run, copies the same frame and
 * reads its length: what any agent must do at least. Prints ns/op for both and their ratio;
 * the target is under 100 ns/op for the codec. Best of several rounds, to resist the noise of
 * a shared machine. No assertion on time: `make bench` reports, it does not fail on speed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "spoa-agent/spop.h"
#include "tests/bench/golden/spop_frames.h"

#define BENCH_ITERS  2000000
#define BENCH_ROUNDS 7

static uint8_t bench_in[SPOP_MAX_FRAME_SIZE + SPOP_FRAME_HDR_LEN];
static uint8_t bench_out[SPOP_MAX_FRAME_SIZE + SPOP_FRAME_HDR_LEN];
static char bench_keyauth[88];
static volatile uint64_t bench_sink;

/* Keeps the compiler from dropping work whose result lands in memory. */
static void bench_clobber(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

static uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One request as the agent handles it. Returns the ACK size, or -1. */
static int bench_codec_once(size_t inlen)
{
	enum spop_status st;
	struct spop_frame f;
	struct spop_message m;
	struct spop_data d, token = { .type = SPOP_DATA_NULL };
	struct spop_ack a;
	const uint8_t *p, *end, *name, *arg;
	size_t name_len;
	ssize_t n;
	unsigned i;

	n = spop_frame_peek(bench_in, inlen, SPOP_MAX_FRAME_SIZE, &st);
	if (n <= 0)
		return -1;
	if (spop_frame_decode(bench_in + 4, (size_t)n - 4, &f, &st) < 0)
		return -1;
	if (f.type != SPOP_FRAME_NOTIFY)
		return -1;
	p = f.payload;
	end = f.payload + f.payload_len;
	while (spop_message_next(&m, &p, end) == 1) {
		if (m.name_len != 14 || memcmp(m.name, "acme-challenge", 14) != 0)
			continue;
		arg = m.args;
		for (i = 0; i < m.nargs; i++) {
			if (spop_kv_decode(&name, &name_len, &d, &arg, end) < 0)
				return -1;
			if (name_len == 5 && !memcmp(name, "token", 5) && d.type == SPOP_DATA_STR)
				token = d;
		}
	}
	if (token.type != SPOP_DATA_STR)
		return -1;
	if (spop_ack_begin(&a, bench_out, sizeof(bench_out), f.stream_id, f.frame_id) < 0)
		return -1;
	d.type = SPOP_DATA_BOOL;
	d.v.b = true;
	if (spop_ack_set_var(&a, SPOP_SCOPE_TXN, "found", &d) < 0)
		return -1;
	d.type = SPOP_DATA_STR;
	d.v.str.p = (const uint8_t *)bench_keyauth;
	d.v.str.len = sizeof(bench_keyauth) - 1;
	if (spop_ack_set_var(&a, SPOP_SCOPE_TXN, "keyauth", &d) < 0)
		return -1;
	return spop_ack_end(&a);
}

/* The floor: copy the frame in, read its length. */
static int bench_baseline_once(size_t inlen)
{
	memcpy(bench_out, bench_in, inlen);
	bench_clobber(bench_out);
	return (int)((uint32_t)bench_out[0] << 24 | (uint32_t)bench_out[1] << 16 |
	             (uint32_t)bench_out[2] << 8 | bench_out[3]);
}

/* Best ns/op over BENCH_ROUNDS rounds of BENCH_ITERS calls of <fn>. */
static double bench_run(int (*fn)(size_t), size_t inlen)
{
	double best = 1e30, ns;
	uint64_t t0, sum = 0;
	int r, i;

	for (r = 0; r < BENCH_ROUNDS; r++) {
		t0 = bench_now_ns();
		for (i = 0; i < BENCH_ITERS; i++) {
			bench_clobber(bench_in);
			sum += (uint64_t)fn(inlen);
		}
		ns = (double)(bench_now_ns() - t0) / BENCH_ITERS;
		if (ns < best)
			best = ns;
	}
	bench_sink = sum;
	return best;
}

int main(void)
{
	const size_t inlen = sizeof(spop_golden_notify);
	double codec, base;
	int ack;

	memcpy(bench_in, spop_golden_notify, inlen);
	memset(bench_keyauth, 'k', sizeof(bench_keyauth) - 1);
	bench_keyauth[43] = '.';
	ack = bench_codec_once(inlen);
	if (ack <= 0) {
		fprintf(stderr, "bench_spop: the golden NOTIFY did not decode\n");
		return 1;
	}
	codec = bench_run(bench_codec_once, inlen);
	base = bench_run(bench_baseline_once, inlen);
	printf("bench_spop: NOTIFY %zu bytes -> ACK %d bytes, best of %d x %d\n", inlen, ack,
	       BENCH_ROUNDS, BENCH_ITERS);
	printf("bench_spop: codec (peek+decode+find token+ACK found/keyauth) %.1f ns/op\n", codec);
	printf("bench_spop: baseline (memcpy frame + length read)            %.1f ns/op\n", base);
	printf("bench_spop: ratio codec/baseline %.1f; target < 100 ns/op: %s\n",
	       base > 0 ? codec / base : 0.0, codec < 100.0 ? "met" : "MISSED");
	return 0;
}
