// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the DNS replies dns.c looks into itself. ldns parses the wire format
 * (ldns_wire2pkt: header, names with compression, RR data) and is Debian's; what the project
 * adds on top is dns_answer_has() (joining a TXT record's character-strings and comparing them
 * with the value published) and dns_answer_cname() (a CNAME target turned into the name DNS-01
 * writes at or compares with a delegation target), both run here through dns_reply_examine().
 * The input is the whole reply, as an authoritative server or a resolver would send it.
 * Invariants: no crash, leak or overflow (ASan/UBSan); a CNAME target found is a lowercase DNS
 * name without the trailing dot that fits the buffer.
 *
 * Seeds: tests/fuzz/corpus/fuzz_dns_reply/ (TXT and CNAME replies as Knot sends them).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cert-pusher/issuer/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "_acme-challenge.a.example", "a.example" };
	char target[64];
	size_t i, n;
	int rc;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		memset(target, 0, sizeof(target));
		rc = dns_reply_examine(data, size, names[i], "abcdef", target, sizeof(target));
		fuzz_check(rc >= -1 && rc <= 3);
		if (rc > 0 && (rc & 1)) {
			n = strlen(target);
			fuzz_check(n > 0 && n < sizeof(target) && target[n - 1] != '.');
			for (size_t k = 0; k < n; k++)
				fuzz_check(!(target[k] >= 'A' && target[k] <= 'Z'));
		}
	}
	return 0;
}
