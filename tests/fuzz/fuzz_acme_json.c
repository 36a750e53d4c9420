// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for acme.c's JSON handling: what an ACME server (or anything pretending to be
 * one) sends back. The first byte picks the parser (directory, order, authorization, problem);
 * the rest is the body. Invariants: a parsed object holds only http(s) URLs, an order at most
 * ACME_MAX_AUTHZ authorizations, an http-01 token in the base64url alphabet, and every string
 * is NUL-terminated within its bounds.
 *
 * Seeds: tests/fuzz/corpus/fuzz_acme_json/ (Pebble and Let's Encrypt shaped bodies).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cert-pusher/issuer/acme.h"
#include "common/b64url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int cond)
{
	if (!cond)
		abort();
}

static void fuzz_url(const char *u)
{
	if (!u)
		return;
	fuzz_check(!strncmp(u, "https://", 8) || !strncmp(u, "http://", 7));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acme_directory d;
	struct acme_order_obj o;
	struct acme_authz_obj a;
	char err[256], out[ACME_ERR_MAX], type[64];
	const char *json = (const char *)data + 1;
	size_t i, len;

	if (size < 1)
		return 0;
	len = size - 1;
	switch (data[0] % 4) {
	case 0:
		if (acme_directory_parse(json, len, &d, err, sizeof(err)) == 0) {
			fuzz_url(d.new_nonce);
			fuzz_url(d.new_account);
			fuzz_url(d.new_order);
			fuzz_check(d.new_nonce && d.new_account && d.new_order);
			fuzz_check(d.nprofiles <= ACME_MAX_PROFILES);
			acme_directory_deinit(&d);
		}
		break;
	case 1:
		if (acme_order_parse(json, len, &o, err, sizeof(err)) == 0) {
			fuzz_check(o.status < ACME_STATUS_COUNT);
			fuzz_check(o.nauthz <= ACME_MAX_AUTHZ);
			for (i = 0; i < o.nauthz; i++)
				fuzz_url(o.authz[i]);
			fuzz_url(o.finalize);
			fuzz_url(o.certificate);
			fuzz_check(strlen(o.error) < sizeof(o.error));
			acme_order_deinit(&o);
		}
		break;
	case 2:
		if (acme_authz_parse(json, len, &a, err, sizeof(err)) == 0) {
			fuzz_check(a.status < ACME_STATUS_COUNT);
			fuzz_check(a.identifier != NULL);
			fuzz_url(a.http01_url);
			if (a.http01_token)
				fuzz_check(b64url_alphabet_only(a.http01_token,
				                                strlen(a.http01_token)));
			acme_authz_deinit(&a);
		}
		break;
	default:
		if (acme_problem_parse(json, len, out, sizeof(out), type, sizeof(type)) == 0) {
			fuzz_check(strlen(out) < sizeof(out));
			fuzz_check(strlen(type) < sizeof(type));
		}
		break;
	}
	return 0;
}
