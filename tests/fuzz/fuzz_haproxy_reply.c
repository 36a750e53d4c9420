// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for haproxy_rt.c's reply parsing: the input stands for what HAProxy's
 * runtime API writes back (a compromised or confused HAProxy is an input like any other). The
 * first byte picks the certificate name the classifier expects; the rest goes through framing,
 * every classifier and every dump parser. Invariants: a success for `set` only when the reply is
 * exactly the line naming our certificate; parsed names never contain a newline.
 *
 * Seeds: tests/fuzz/corpus/fuzz_haproxy_reply/ (HAProxy 2.6.12 captures).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cert-pusher/edge/haproxy_rt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int cond)
{
	if (!cond)
		abort();
}

static void fuzz_names_ok(const struct strv *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		fuzz_check(!strchr(l->v[i], '\n'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "a.example.ecdsa", "b.example.rsa", "a", "zz" };
	struct strv c, t, e;
	struct haproxy_rt_cert_info info;
	const char *name, *body;
	char other[64], *copy;
	uint64_t pid, up;
	size_t len;
	int cmd;

	if (!size)
		return 0;
	name = names[data[0] % 4];
	data++;
	size--;
	/* An exact-size copy so ASan sees any read past the reply. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	(void)haproxy_rt_reply_complete(copy, size);
	len = haproxy_rt_reply_body(copy, size, &body);
	fuzz_check(body >= copy && len <= size && body + len <= copy + size);
	for (cmd = 0; cmd < HAPROXY_RT_CMD_COUNT; cmd++) {
		enum haproxy_rt_status st = haproxy_rt_classify((enum haproxy_rt_cmd)cmd, name,
		                                                body, len, other, sizeof(other));

		fuzz_check(st < HAPROXY_RT_COUNT);
		fuzz_check(memchr(other, 0, sizeof(other)) != NULL);
		if (cmd == HAPROXY_RT_CMD_SET && st == HAPROXY_RT_OK)
			fuzz_check(len == strlen("Transaction created for certificate !") +
			                           strlen(name) &&
			           !memcmp(body + len - strlen(name) - 1, name, strlen(name)));
	}
	strv_init(&c);
	strv_init(&t);
	strv_init(&e);
	if (haproxy_rt_parse_cert_list(body, len, &c, &t) == 0) {
		fuzz_names_ok(&c);
		fuzz_names_ok(&t);
	}
	if (haproxy_rt_parse_crt_list(body, len, &e) == 0)
		fuzz_names_ok(&e);
	if (haproxy_rt_parse_cert_info(body, len, &info) == HAPROXY_RT_OK)
		fuzz_check(strlen(info.serial) <= PEM_SERIAL_MAX);
	(void)haproxy_rt_parse_info(body, len, &pid, &up);
	strv_deinit(&c);
	strv_deinit(&t);
	strv_deinit(&e);
	free(copy);
	return 0;
}
