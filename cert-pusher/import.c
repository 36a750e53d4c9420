// SPDX-License-Identifier: MIT
/*
 * `cert-pusher import NAME --cert-file F --key-file F [--key-type auto|ecdsa|rsa]`: seal an
 * existing certificate chain and its key into Redis as the issuer would (cert:<name>:<type>,
 * the hosts set, an events message), so operators can migrate certificates they already have
 * and tests can load openssl-made ones. The input goes through the loader's sanitiser first:
 * what is refused here would be refused by every edge.
 */
#include <stdio.h>
#include <string.h>

#include "cert-pusher/blob.h"
#include "cert-pusher/pem.h"
#include "cert-pusher/pusher.h"
#include "cert-pusher/store.h"
#include "common/buf.h"
#include "common/file.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/names.h"

#define IMPORT_FILE_MAX (256 * 1024)

int import_cmd_import(struct pusher *p, int argc, char **argv)
{
	const char *certf = conf_get(p->conf, "cert-file");
	const char *keyf = conf_get(p->conf, "key-file");
	const char *ring = conf_get(p->conf, "keyring");
	const char *kt = conf_get_def(p->conf, "key-type", "auto");
	struct blob_keyring *kr = NULL;
	struct store *st = NULL;
	struct pem_info info;
	struct buf in, clean, pt, key, blob;
	const char *why, *type;
	char err[512];
	int ret = 2;

	buf_init(&in);
	buf_init(&clean);
	buf_init(&pt);
	buf_init(&key);
	buf_init(&blob);
	if (argc != 1) {
		log_err("import: expected one NAME (and --cert-file, --key-file)");
		goto out;
	}
	if (!names_hostname_valid(argv[0], &why)) {
		log_err("import: '%s' is not a hostname we manage: %s", argv[0], why);
		goto out;
	}
	if (!certf || !keyf || !ring) {
		log_err("import: needs %s", !certf  ? "--cert-file FILE"
		                            : !keyf ? "--key-file FILE"
		                                    : "--keyring FILE");
		goto out;
	}
	if (strcmp(kt, "auto") && strcmp(kt, KEYS_TYPE_ECDSA) && strcmp(kt, KEYS_TYPE_RSA)) {
		log_err("--key-type: '%s': expected auto, ecdsa or rsa for import", kt);
		goto out;
	}
	ret = 1;
	if (file_read(certf, IMPORT_FILE_MAX, 0, &in, err, sizeof(err)) < 0 ||
	    (in.len && in.data[in.len - 1] != '\n' && buf_append(&in, "\n", 1) < 0) ||
	    file_read(keyf, IMPORT_FILE_MAX, 1, &in, err, sizeof(err)) < 0) {
		log_err("import: %s", err);
		goto out;
	}
	if (pem_sanitize(in.data, in.len, IMPORT_FILE_MAX, &clean, &info, err, sizeof(err)) < 0) {
		log_err("import: %s + %s: %s", certf, keyf, err);
		goto out;
	}
	type = pem_key_type_names[info.key_type];
	if (strcmp(kt, "auto") && strcmp(kt, type)) {
		log_err("import: --key-type %s, but %s holds a %s key", kt, keyf, type);
		goto out;
	}
	/* DESIGN.md "Blob format": leaf, chain, then the key as PKCS#8. */
	if (pem_to_pkcs8(&clean, &pt, err, sizeof(err)) < 0) {
		log_err("import: %s: %s", keyf, err);
		goto out;
	}
	kr = blob_keyring_load(ring, err, sizeof(err));
	if (!kr) {
		log_err("--keyring: %s", err);
		goto out;
	}
	if (keys_cert(&key, p->prefix, argv[0], type) < 0 ||
	    blob_seal(kr, buf_str(&key), pt.data, pt.len, &blob) < 0) {
		log_err("import: cannot seal the certificate");
		goto out;
	}
	if (p->check_only) {
		log_info("import: ok name=%s type=%s serial=%s (--check: nothing stored)", argv[0],
		         type, info.serial);
		ret = 0;
		goto out;
	}
	st = store_open(p->conf, p->prefix, err, sizeof(err));
	if (!st || store_cert_import(st, argv[0], type, &blob, err, sizeof(err)) < 0) {
		log_err("import: %s", err);
		goto out;
	}
	log_info("import: stored name=%s type=%s serial=%s not_after=%lld key=%s", argv[0], type,
	         info.serial, (long long)info.not_after, buf_str(&key));
	ret = 0;
out:
	store_close(st);
	blob_keyring_free(kr);
	buf_wipe(&in);
	buf_wipe(&clean);
	buf_wipe(&pt);
	buf_deinit(&key);
	buf_deinit(&blob);
	return ret;
}
