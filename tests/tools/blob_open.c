// SPDX-License-Identifier: MIT
/*
 * Test tool: open a sealed blob read from stdin (as stored under Redis key KEY) with the key
 * ring FILE and write the plaintext to stdout. Integration tests use it inside their temporary
 * directory to check stored chains with openssl, and delete the output right after; it is not
 * installed and not part of the product (operators never need a private key out of Redis).
 *
 *   blob_open KEYRING KEY < blob > plaintext
 */
#include <stdio.h>
#include <stdlib.h>

#include "cert-pusher/blob.h"
#include "common/buf.h"

int main(int argc, char **argv)
{
	struct blob_keyring *kr = NULL;
	struct buf in, pt;
	const char *why = "";
	char err[512], chunk[4096];
	size_t n;
	int ret = 1;

	buf_init(&in);
	buf_init(&pt);
	if (argc != 3) {
		fprintf(stderr, "usage: blob_open KEYRING KEY < blob > plaintext\n");
		return 2;
	}
	kr = blob_keyring_load(argv[1], err, sizeof(err));
	if (!kr) {
		fprintf(stderr, "blob_open: %s\n", err);
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if (buf_append(&in, chunk, n) < 0)
			goto out;
	if (blob_open(kr, argv[2], in.data, in.len, &pt, &why) < 0) {
		fprintf(stderr, "blob_open: %s: %s\n", argv[2], why);
		goto out;
	}
	if (fwrite(pt.data, 1, pt.len, stdout) != pt.len)
		goto out;
	ret = 0;
out:
	buf_wipe(&pt);
	buf_deinit(&in);
	blob_keyring_free(kr);
	return ret;
}
