// SPDX-License-Identifier: MIT
/*
 * `cert-pusher rekey`: re-seal every blob (certificates and ACME accounts) under the key
 * ring's first key, so an old key can be dropped from the ring afterwards (DESIGN.md "Blob
 * format"). Each blob is swapped only if it did not change since it was read (an issuer may
 * store a new certificate meanwhile; that one is sealed with the first key already). The
 * plaintext never leaves this process's memory. Loaders need no event: the blob changes but
 * its certificate does not, so they push nothing.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cert-pusher/blob.h"
#include "cert-pusher/kms.h"
#include "cert-pusher/kms_conf.h"
#include "cert-pusher/pusher.h"
#include "cert-pusher/store/store.h"
#include "common/buf.h"
#include "common/log.h"

/* How long a token that went away may take to come back before the rest fails. */
#define REKEY_KMS_WAIT_S 15

/* Re-seal the blob under <key>. 1 resealed, 0 nothing to do, -1 failure (logged). */
static int rekey_one(struct store *st, const struct blob_keyring *kr, const char *key,
                     int check_only)
{
	struct buf blob, pt, nv;
	char id[BLOB_KEYID_MAX + 1], err[512];
	const char *why;
	int r, tries, ret = -1;

	buf_init(&blob);
	buf_init(&pt);
	buf_init(&nv);
	for (tries = 0; tries < 3; tries++) {
		buf_reset(&blob);
		buf_wipe(&pt);
		buf_reset(&nv);
		r = store_blob_fetch(st, key, &blob, err, sizeof(err));
		if (r < 0) {
			log_err("rekey: %s", err);
			goto out;
		}
		if (r == 0) {
			ret = 0; /* deleted meanwhile */
			goto out;
		}
		if (blob_key_id(blob.data, blob.len, id) < 0) {
			log_err("rekey: %s: not a spoacme blob", key);
			goto out;
		}
		if (!strcmp(id, blob_keyring_primary_id(kr))) {
			ret = 0;
			goto out;
		}
		r = blob_rewrap(kr, blob.data, blob.len, &nv, &why);
		if (r < 0) {
			log_err("rekey: %s (key id %s): %s", key, id, why);
			goto out;
		}
		if (r == 0 && blob_open(kr, key, blob.data, blob.len, &pt, &why) < 0) {
			log_err("rekey: %s (key id %s): %s", key, id, why);
			goto out;
		}
		if (check_only) {
			log_info("rekey: would re-seal %s (key id %s -> %s)", key, id,
			         blob_keyring_primary_id(kr));
			ret = 1;
			goto out;
		}
		if (!nv.len && blob_seal(kr, key, pt.data, pt.len, &nv) < 0) {
			log_err("rekey: %s: cannot seal", key);
			goto out;
		}
		r = store_blob_swap(st, key, &blob, &nv, err, sizeof(err));
		if (r < 0) {
			log_err("rekey: %s", err);
			goto out;
		}
		if (r == 1) {
			log_info("rekey: re-sealed %s key_id=%s old_key_id=%s", key,
			         blob_keyring_primary_id(kr), id);
			ret = 1;
			goto out;
		}
		/* Changed under us: look again. */
	}
	log_err("rekey: %s keeps changing; run rekey again", key);
out:
	buf_deinit(&blob);
	buf_wipe(&pt);
	buf_deinit(&nv);
	return ret;
}

int rekey_cmd_rekey(struct pusher *p, int argc, char **argv)
{
	static const char *const kinds[] = { "cert:*", "account:*" };
	const char *ring = conf_get(p->conf, "keyring");
	struct strv keys = { 0 };
	struct blob_keyring *kr = NULL;
	struct store *st = NULL;
	char err[512] = "out of memory", pattern[256];
	size_t i, k, done = 0, failed = 0;
	struct kms *kms;
	time_t give_up = 0;
	int ret = 2, r;

	(void)argv;
	if (argc) {
		log_err("rekey: takes no argument");
		goto out;
	}
	if (!ring && !kms_conf_keyring_optional(p->conf)) {
		log_err("rekey: needs --keyring FILE (its first key seals) or --kms URI");
		goto out;
	}
	ret = 1;
	kr = kms_conf_keyring(ring, p->conf, err, sizeof(err));
	if (!kr) {
		log_err("%s", err);
		goto out;
	}
	kms = blob_keyring_kms(kr);
	st = store_open(p->conf, p->prefix, err, sizeof(err));
	if (!st) {
		log_err("rekey: %s", err);
		goto out;
	}
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		snprintf(pattern, sizeof(pattern), "%s%s", p->prefix, kinds[k]);
		if (store_scan_keys(st, pattern, &keys, err, sizeof(err)) < 0) {
			log_err("rekey: %s", err);
			goto out;
		}
	}
	for (i = 0; i < keys.n;) {
		r = rekey_one(st, kr, keys.v[i], p->check_only);
		if (r < 0 && kms) {
			/* The token went away (or was not found) and comes back within seconds, as
			 * the daemons' tokens do: try this blob again rather than fail every one
			 * left, up to REKEY_KMS_WAIT_S since the last blob that worked. */
			if (!give_up)
				give_up = time(NULL) + REKEY_KMS_WAIT_S;
			if (kms_wait_lost(kms, give_up)) {
				log_warn("rekey: %s: the KMS token is unavailable; trying again",
				         keys.v[i]);
				continue;
			}
		}
		if (r < 0) {
			failed++;
		} else {
			done += (size_t)r;
			give_up = 0;
		}
		i++;
	}
	log_info("rekey: blobs=%zu resealed=%zu failed=%zu key_id=%s%s", keys.n, done, failed,
	         blob_keyring_primary_id(kr), p->check_only ? " (--check: nothing written)" : "");
	ret = failed ? 1 : 0;
out:
	strv_deinit(&keys);
	store_close(st);
	blob_keyring_free(kr);
	return ret;
}
