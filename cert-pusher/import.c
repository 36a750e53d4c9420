// SPDX-License-Identifier: MIT
/*
 * `cert-pusher import NAME --cert-file F --key-file F [--key-type auto|ecdsa|rsa]`: seal an
 * existing certificate chain and its key into Redis as the issuer would (cert:<name>:<type>,
 * the hosts set, an events message), so operators can migrate certificates they already have
 * and tests can load openssl-made ones. The input goes through the loader's sanitiser first:
 * what is refused here would be refused by every edge. The leaf must be valid for NAME as a
 * TLS client checks it (subjectAltNames, RFC 6125), or every edge would serve, and report as
 * deployed, a certificate its clients refuse. The host is then managed like one the issuer
 * ordered (host:<name> valid, not_after, serial and CertID of that key type, a renewal planned
 * as the scheduler plans it), so the issuer renews what was imported.
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cert-pusher/issuer/ari.h"
#include "cert-pusher/blob.h"
#include "cert-pusher/kms.h"
#include "cert-pusher/kms_conf.h"
#include "cert-pusher/hosts.h"
#include "cert-pusher/issuer/issuer.h"
#include "cert-pusher/pem.h"
#include "cert-pusher/pusher.h"
#include "cert-pusher/issuer/scheduler.h"
#include "cert-pusher/store/store.h"
#include "common/buf.h"
#include "common/file.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/names.h"

#define IMPORT_FILE_MAX (256 * 1024)
/* How long a token that went away may take to come back before the import fails. */
#define IMPORT_KMS_WAIT_S 15

/* The imported leaf, as host:<name> records a certificate. */
struct import_leaf {
	const char *type; /* "ecdsa" or "rsa" */
	char serial[80];
	char cert_id[256]; /* "" when the leaf has no AKI */
	long long not_before, not_after;
};

/*
 * Make <name> managed with the imported certificate <lf>. A new host gets state valid, the
 * certificate's dates, its serial and CertID for that key type and a renewal at <fraction> of
 * its lifetime with the scheduler's jitter (due then). A host already managed keeps its state
 * and plan; only that key type's serial and CertID change, plus the dates and the renewal when
 * the imported certificate expires first (the due time only moves earlier). 0 or -1 with <err>.
 */
static int import_register(struct store *st, const char *name, const struct import_leaf *lf,
                           double fraction, int managed, char *err, size_t errsz)
{
	char f_serial[32], f_cid[32], nb[24], na[24], ra[24], now_s[24];
	struct strv kv = { 0 };
	struct hosts_info info;
	long long now = (long long)time(NULL), renew, due = 0;
	uint64_t rnd = 0;
	int dates = 1, ret = -1;

	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (uint64_t)now;
	renew = scheduler_renew_at(lf->not_before, lf->not_after, fraction, rnd);
	snprintf(f_serial, sizeof(f_serial), "serial_%s", lf->type);
	snprintf(f_cid, sizeof(f_cid), "cert_id_%s", lf->type);
	snprintf(nb, sizeof(nb), "%lld", lf->not_before);
	snprintf(na, sizeof(na), "%lld", lf->not_after);
	snprintf(ra, sizeof(ra), "%lld", renew);
	snprintf(now_s, sizeof(now_s), "%lld", now);
	if (managed) {
		if (store_host_get_all(st, name, &kv, err, errsz) < 0 ||
		    store_due_get(st, name, &due, err, errsz) < 0)
			goto out;
		hosts_info_from_pairs(&info, name, &kv);
		dates = !info.not_after || lf->not_after < info.not_after;
	}
	{
		const char *kv_new[] = { HOSTS_F_STATE,
			                 hosts_state_name(HOSTS_STATE_VALID),
			                 HOSTS_F_CREATED,
			                 now_s,
			                 HOSTS_F_ATTEMPTS,
			                 "0",
			                 f_serial,
			                 lf->serial,
			                 f_cid,
			                 lf->cert_id,
			                 HOSTS_F_NOT_BEFORE,
			                 nb,
			                 HOSTS_F_NOT_AFTER,
			                 na,
			                 HOSTS_F_RENEW_AT,
			                 ra,
			                 NULL };
		/* a managed host: from f_serial on, and the dates only when they move earlier */
		const char *const *w = managed ? kv_new + 6 : kv_new;

		if (!dates)
			kv_new[10] = NULL;
		if (store_host_update(st, name, w, err, errsz) < 0)
			goto out;
	}
	if (dates && (!due || renew < due) && store_due_set(st, name, renew, err, errsz) < 0)
		goto out;
	ret = 0;
out:
	strv_deinit(&kv);
	return ret;
}

int import_cmd_import(struct pusher *p, int argc, char **argv)
{
	const char *certf = conf_get(p->conf, "cert-file");
	const char *keyf = conf_get(p->conf, "key-file");
	const char *ring = conf_get(p->conf, "keyring");
	const char *kt = conf_get_def(p->conf, "key-type", "auto");
	struct blob_keyring *kr = NULL;
	struct store *st = NULL;
	struct pem_info info;
	struct import_leaf lf = { 0 };
	struct buf in, clean, key, blob, cid;
	const char *why, *type, *v;
	char err[512] = "out of memory", sans[512];
	double fraction = 2.0 / 3.0;
	int ret = 2, managed = 0, rc = 0, covered;
	time_t give_up;

	buf_init(&in);
	buf_init(&clean);
	buf_init(&key);
	buf_init(&blob);
	buf_init(&cid);
	if (argc != 1) {
		log_err("import: expected one NAME (and --cert-file, --key-file)");
		goto out;
	}
	if (!names_hostname_valid(argv[0], &why)) {
		log_err("import: '%s' is not a hostname we manage: %s", argv[0], why);
		goto out;
	}
	if (!certf || !keyf || (!ring && !kms_conf_keyring_optional(p->conf))) {
		log_err("import: needs %s", !certf  ? "--cert-file FILE"
		                            : !keyf ? "--key-file FILE"
		                                    : "--keyring FILE");
		goto out;
	}
	if (strcmp(kt, "auto") && strcmp(kt, KEYS_TYPE_ECDSA) && strcmp(kt, KEYS_TYPE_RSA)) {
		log_err("--key-type: '%s': expected auto, ecdsa or rsa for import", kt);
		goto out;
	}
	if ((v = conf_get(p->conf, "renew-fraction")) &&
	    scheduler_parse_fraction(v, &fraction) < 0) {
		log_err("--renew-fraction: '%s': expected a fraction in (0, 1) such as 2/3", v);
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
	/* Every edge would serve it for <name> and report it deployed, while TLS clients refuse
	 * it: the name must be one the leaf is valid for. */
	covered = pem_leaf_covers(&clean, argv[0], sans, sizeof(sans), err, sizeof(err));
	if (covered <= 0) {
		if (covered < 0)
			log_err("import: %s: %s", certf, err);
		else
			log_err("import: %s does not cover '%s': its DNS subjectAltNames are %s (a "
			        "wildcard covers one label; the subject CN is not checked)",
			        certf, argv[0], sans);
		goto out;
	}
	type = pem_key_type_names[info.key_type];
	if (strcmp(kt, "auto") && strcmp(kt, type)) {
		log_err("import: --key-type %s, but %s holds a %s key", kt, keyf, type);
		goto out;
	}
	lf.type = type;
	if (issuer_leaf_info(&clean, lf.serial, sizeof(lf.serial), &lf.not_before, &lf.not_after) <
	    0) {
		log_err("import: %s: the leaf's serial or dates do not parse", certf);
		goto out;
	}
	if (ari_cert_id_pem((const char *)clean.data, clean.len, &cid, &why) == 0 &&
	    cid.len < sizeof(lf.cert_id))
		snprintf(lf.cert_id, sizeof(lf.cert_id), "%s", buf_str(&cid));
	else
		log_warn("import: host=%s: no ARI CertID (%s): renewals will not send replaces",
		         argv[0], cid.len ? "too long" : why);
	kr = kms_conf_keyring(ring, p->conf, err, sizeof(err));
	if (!kr) {
		log_err("%s", err);
		goto out;
	}
	if (keys_cert(&key, p->prefix, argv[0], type) < 0) {
		log_err("import: out of memory");
		goto out;
	}
	give_up = time(NULL) + IMPORT_KMS_WAIT_S;
	while (blob_seal_cert(kr, buf_str(&key), &clean, &blob, err, sizeof(err)) < 0) {
		/* A token that went away comes back within seconds (kms_wait_lost). */
		if (!blob_keyring_kms(kr) || !kms_wait_lost(blob_keyring_kms(kr), give_up)) {
			log_err("import: %s: %s", keyf, err);
			goto out;
		}
		log_warn("import: %s: %s; trying again", argv[0], err);
	}
	if (p->check_only) {
		log_info("import: ok host=%s type=%s serial=%s (--check: nothing stored)", argv[0],
		         type, info.serial);
		ret = 0;
		goto out;
	}
	st = store_open(p->conf, p->prefix, err, sizeof(err));
	if (!st || (managed = store_host_exists(st, argv[0], err, sizeof(err))) < 0 ||
	    (managed &&
	     (rc = store_host_field(st, argv[0], HOSTS_F_REMOVING, &cid, err, sizeof(err))) != 0)) {
		log_err("import: %s", st && managed && rc > 0 ? "the name is being removed" : err);
		goto out;
	}
	/* the certificate first (set member, blob, event), then the plan: an issuer never sees
	 * a due entry for a name that is not managed yet */
	if (store_cert_import(st, argv[0], type, &blob, err, sizeof(err)) < 0 ||
	    import_register(st, argv[0], &lf, fraction, managed, err, sizeof(err)) < 0) {
		log_err("import: %s", err);
		goto out;
	}
	log_info("import: stored host=%s type=%s serial=%s not_after=%s key=%s%s", argv[0], type,
	         lf.serial, log_time(lf.not_after, (char[LOG_TIME_MAX]){ 0 }), buf_str(&key),
	         managed ? " (managed already: that key type updated)" : " (now managed)");
	ret = 0;
out:
	store_close(st);
	blob_keyring_free(kr);
	buf_wipe(&in);
	buf_wipe(&clean);
	buf_deinit(&key);
	buf_deinit(&blob);
	buf_deinit(&cid);
	return ret;
}
