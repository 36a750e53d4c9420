// SPDX-License-Identifier: MIT
/*
 * The KMS's place in the command line: --kms URI and --kms-seal attach a PKCS#11 KEK (kms.c)
 * to a loaded key ring (blob.c), register its /healthz line and metrics, and implement
 * `cert-pusher kms create-key`. Key bytes stay in kms.c and blob.c.
 */
#include "cert-pusher/kms_conf.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "cert-pusher/blob.h"
#include "cert-pusher/kms.h"
#include "cert-pusher/pmetrics.h"
#include "common/log.h"

static struct kms *kms_conf_current; /* for health and metrics: the last attached */
static int kms_conf_registered;

static int kms_conf_health(char *what, size_t whatsz, void *arg)
{
	struct kms *k = kms_conf_current;
	char e[256];
	int st;

	(void)arg;
	if (!k) {
		snprintf(what, whatsz, "not configured");
		return 1;
	}
	st = kms_probe(k);
	if (st == 0)
		snprintf(what, whatsz, "KEK %s: %s", kms_kek_id(k),
		         kms_last_error(k, e, sizeof(e)));
	else
		snprintf(what, whatsz, "KEK %s: %s", kms_kek_id(k), st > 0 ? "ok" : "not used yet");
	return st != 0;
}

static void kms_conf_metrics(struct buf *out, void *arg)
{
	struct kms *k = kms_conf_current;
	char line[256];
	int n;

	(void)arg;
	if (!k)
		return;
	n = snprintf(line, sizeof(line),
	             "# HELP spoacme_kms_up 1 when the last PKCS#11 token check or operation "
	             "worked, 0 after a failure\n# TYPE spoacme_kms_up gauge\n"
	             "spoacme_kms_up %d\n",
	             kms_probe(k));
	if (n > 0 && (size_t)n < sizeof(line))
		buf_append(out, line, (size_t)n);
}

int kms_conf_attach(struct blob_keyring *kr, const struct conf *conf, char *err, size_t errsz)
{
	const char *uri = conf_get(conf, "kms");
	const char *seal = conf_get_def(conf, "kms-seal", "yes");
	struct kms *k;
	int seals;

	if (!uri)
		return 0;
	if (!strcmp(seal, "yes"))
		seals = 1;
	else if (!strcmp(seal, "no"))
		seals = 0;
	else {
		snprintf(err, errsz, "--kms-seal: '%.40s': expected yes or no", seal);
		return -1;
	}
	if (!seals && !conf_get(conf, "keyring")) {
		snprintf(err, errsz, "--kms-seal no: needs --keyring FILE (its first key seals)");
		return -1;
	}
	k = kms_open(uri, err, errsz);
	if (!k)
		return -1;
	blob_keyring_set_kms(kr, k, seals);
	kms_conf_current = k;
	if (!kms_conf_registered && pmetrics_register(kms_conf_metrics, NULL) == 0 &&
	    pmetrics_health_register("kms", kms_conf_health, NULL) == 0)
		kms_conf_registered = 1;
	return 0;
}

int kms_conf_keyring_optional(const struct conf *conf)
{
	return conf_get(conf, "kms") != NULL;
}

int kms_conf_cmd_kms(struct pusher *p, int argc, char **argv)
{
	const char *uri = conf_get(p->conf, "kms");
	struct kms *k = NULL;
	char err[512];
	int ret = 2;

	if (argc != 1 || strcmp(argv[0], "create-key")) {
		log_err("kms: expected 'kms create-key' (with --kms URI)");
		goto out;
	}
	if (!uri) {
		log_err("kms create-key: needs --kms 'pkcs11:token=...;object=<KEK label>?"
		        "module-path=...&pin-source=file:...'");
		goto out;
	}
	ret = 1;
	k = kms_open(uri, err, sizeof(err));
	if (!k) {
		log_err("%s", err);
		goto out;
	}
	if (kms_create_key(k, err, sizeof(err)) < 0) {
		log_err("kms create-key: %s", err);
		goto out;
	}
	log_info("kms create-key: kek=%s created (AES-256, sensitive, not extractable)",
	         kms_kek_id(k));
	ret = 0;
out:
	kms_free(k);
	return ret;
}

struct blob_keyring *kms_conf_keyring(const char *ring, const struct conf *conf, char *err,
                                      size_t errsz)
{
	struct blob_keyring *kr;
	char why[256];

	kr = ring ? blob_keyring_load(ring, why, sizeof(why)) : blob_keyring_new_empty();
	if (!kr) {
		snprintf(err, errsz, "--keyring: %s", ring ? why : "out of memory");
		return NULL;
	}
	if (kms_conf_attach(kr, conf, err, errsz) < 0) {
		blob_keyring_free(kr);
		return NULL;
	}
	return kr;
}
