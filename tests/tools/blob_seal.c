// SPDX-License-Identifier: MIT
/*
 * Test tool: seal stdin as a blob for Redis key KEY with the first key of key ring FILE and
 * write it to stdout. Integration tests use it to put hostile plaintexts (a PEM with an
 * injected CLI command, a chain before its leaf) into Redis, which `cert-pusher import` refuses
 * to store, to prove the loader refuses them too. Not installed, not part of the product.
 *
 *   blob_seal KEYRING KEY < plaintext | redis-cli -x SET KEY
 */
#include <stdio.h>
#include <stdlib.h>

#include "cert-pusher/blob.h"
#include "common/buf.h"

int main(int argc, char **argv)
{
	struct blob_keyring *kr = NULL;
	struct buf in, out;
	char err[512], chunk[4096];
	size_t n;
	int ret = 1;

	buf_init(&in);
	buf_init(&out);
	if (argc != 3) {
		fprintf(stderr, "usage: blob_seal KEYRING KEY < plaintext > blob\n");
		return 2;
	}
	kr = blob_keyring_load(argv[1], err, sizeof(err));
	if (!kr) {
		fprintf(stderr, "blob_seal: %s\n", err);
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if (buf_append(&in, chunk, n) < 0)
			goto out;
	if (blob_seal(kr, argv[2], in.data, in.len, &out) < 0) {
		fprintf(stderr, "blob_seal: cannot seal\n");
		goto out;
	}
	if (fwrite(out.data, 1, out.len, stdout) != out.len)
		goto out;
	ret = 0;
out:
	blob_keyring_free(kr);
	buf_wipe(&in);
	buf_deinit(&out);
	return ret;
}
