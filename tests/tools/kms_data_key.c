// SPDX-License-Identifier: MIT
/*
 * Test tool: unwrap the data key of a KMS (SPA2) blob read from stdin with the token of the
 * --kms URI and print it in lowercase hex, so that a scenario can look for it in a Redis dump
 * (it must not be there). The header is parsed here from the documented format (README "Keys
 * in a KMS or HSM"), independently of blob.c. Not installed, not part of the product.
 *
 *   kms_data_key URI < blob > hex
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "cert-pusher/kms.h"
#include "common/buf.h"

int main(int argc, char **argv)
{
	uint8_t dk[KMS_KEY_LEN];
	char err[512], id[KMS_KEKID_MAX + 1], chunk[4096];
	struct kms *k = NULL;
	struct buf in;
	size_t n, idl, wl, i;
	int ret = 1;

	buf_init(&in);
	if (argc != 2) {
		fprintf(stderr, "usage: kms_data_key URI < blob > hex\n");
		return 2;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if (buf_append(&in, chunk, n) < 0)
			goto out;
	/* "SPA2" | KEK-label len | KEK label | wrapped len | wrapped data key | nonce | ... */
	if (in.len < 6 || memcmp(in.data, "SPA2", 4)) {
		fprintf(stderr, "kms_data_key: not an SPA2 blob\n");
		goto out;
	}
	idl = in.data[4];
	if (idl < 1 || idl > KMS_KEKID_MAX || in.len < 6 + idl) {
		fprintf(stderr, "kms_data_key: bad KEK label length\n");
		goto out;
	}
	memcpy(id, in.data + 5, idl);
	id[idl] = 0;
	wl = in.data[5 + idl];
	if (in.len < 6 + idl + wl) {
		fprintf(stderr, "kms_data_key: truncated wrapped key\n");
		goto out;
	}
	k = kms_open(argv[1], err, sizeof(err));
	if (!k || kms_unwrap(k, id, in.data + 6 + idl, wl, dk, err, sizeof(err)) < 0) {
		fprintf(stderr, "kms_data_key: %s\n", err);
		goto out;
	}
	for (i = 0; i < KMS_KEY_LEN; i++)
		printf("%02x", dk[i]);
	printf("\n");
	ret = 0;
out:
	OPENSSL_cleanse(dk, sizeof(dk));
	kms_free(k);
	buf_deinit(&in);
	return ret;
}
