// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for pem.c's sanitiser: whatever the input, a success yields text made only
 * of BEGIN/END and base64 lines, with no empty line, no CR and nothing after the key block, so
 * it can never end a runtime API payload early or carry a command; and the output sanitises to
 * itself. Every success has a key matching its first certificate (checked by OpenSSL inside),
 * and pem_leaf_covers() gives an answer about it with a printable SAN list.
 *
 * Seeds: tests/fuzz/corpus/fuzz_pem/ (valid chains and the unit tests' hostile variants).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cert-pusher/pem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pem_info info, info2;
	struct buf out, again;
	char err[256], sans[128];
	uint8_t *copy;
	int cov;
	const char *p, *end, *nl;

	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	buf_init(&out);
	buf_init(&again);
	if (pem_sanitize(copy, size, 32768, &out, &info, err, sizeof(err)) == 0) {
		fuzz_check(out.len > 0 && out.data[out.len - 1] == '\n');
		fuzz_check(!memchr(out.data, '\r', out.len));
		fuzz_check(!strstr(buf_str(&out), "\n\n"));
		fuzz_check(info.ncerts >= 1 && info.key_type < PEM_KEY_COUNT);
		for (p = buf_str(&out), end = p + out.len; p < end; p = nl + 1) {
			nl = memchr(p, '\n', (size_t)(end - p));
			fuzz_check(nl != NULL && nl > p);
			fuzz_check(!strncmp(p, "-----", 5) ||
			           strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZab"
			                     "cdefghijklmnopqrstuvwxyz0123"
			                     "456789+/=") == (size_t)(nl - p));
		}
		fuzz_check(pem_sanitize(out.data, out.len, 32768, &again, &info2, err,
		                        sizeof(err)) == 0);
		fuzz_check(again.len == out.len && !memcmp(again.data, out.data, out.len));
		fuzz_check(!strcmp(info.serial, info2.serial));
		/* the SAN check parses the leaf again: it decides, and its list is printable */
		cov = pem_leaf_covers(&out, "a.example", sans, sizeof(sans), err, sizeof(err));
		fuzz_check(cov == 0 || cov == 1);
		for (p = sans; *p; p++)
			fuzz_check(*p >= 0x20 && *p < 0x7f);
	} else {
		fuzz_check(out.len == 0);
		fuzz_check(memchr(err, 0, sizeof(err)) != NULL);
	}
	buf_wipe(&out);
	buf_wipe(&again);
	free(copy);
	return 0;
}
