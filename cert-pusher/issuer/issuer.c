// SPDX-License-Identifier: MIT
/*
 * The issuer between the ACME state machine (acme.c), the key ring (blob.c) and Redis
 * (store.c). Per host and key type: a fresh key (jws.c), an order whose HTTP-01 key
 * authorizations are SET in Redis with a TTL and WAITed to the replicas before the CA is told to
 * validate, the chain checked against the key, then leaf + chain + PKCS#8 key sealed under the
 * full Redis key name, stored, and announced. Private keys exist in plaintext only in memory
 * that is wiped after sealing. The `issue` command runs hosts on a bounded pool of threads, each
 * with its own worker (HTTP handle, Redis connection); the account is set up once before.
 */
#include "cert-pusher/issuer/issuer.h"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cert-pusher/blob.h"
#include "cert-pusher/store/store.h"
#include "cert-pusher/kms.h"
#include "cert-pusher/kms_conf.h"
#include "cert-pusher/store/store.h"
#include "common/b64url.h"
#include "common/file.h"
#include "cert-pusher/issuer/dns01.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"

#define ISSUER_CHAL_TTL_S         3600 /* a challenge token outlives any order */
#define ISSUER_CONCURRENCY_DEF    4
#define ISSUER_CONCURRENCY_MAX    64
#define ISSUER_WAIT_REPLICAS_AUTO (-1) /* --wait-replicas auto: every connected replica */
#define ISSUER_TYPE_ECDSA         (1u << JWS_ALG_ES256)
#define ISSUER_TYPE_RSA           (1u << JWS_ALG_RS256)

struct issuer {
	const struct pusher *p;
	struct acme_config acme;  /* strings borrowed from the conf or owned below */
	char *contact;            /* "mailto:..." or NULL; owned */
	unsigned key_types;       /* ISSUER_TYPE_* */
	enum jws_alg account_alg; /* for a new account key */
	long long wait_replicas;  /* or ISSUER_WAIT_REPLICAS_AUTO */
	long long wait_timeout_ms;
	unsigned concurrency;
	struct buf eab_hmac; /* decoded EAB key; wiped */
	struct blob_keyring *kr;
	char dir_hash[65]; /* hex SHA-256 of the directory URL */
	struct jws_key *account_key;
	char *account_url;
	struct dns01 *dns01; /* DNS-01 solver, or NULL; owned */
};

struct issuer_worker {
	struct issuer *is;
	struct acme_client *acme;
	struct store *store;
	const char *name; /* the host being ordered, while issuer_issue_host() runs */
};

/* Key-type names as keys.h spells them, by jws_alg. */
static const char *const issuer_type_names[JWS_ALG_COUNT] = {
	[JWS_ALG_ES256] = KEYS_TYPE_ECDSA,
	[JWS_ALG_RS256] = KEYS_TYPE_RSA,
};

/* ---- configuration ---- */

static int issuer_parse_type(const char *s, size_t len, enum jws_alg *alg)
{
	if (len == strlen(KEYS_TYPE_ECDSA) && !strncmp(s, KEYS_TYPE_ECDSA, len))
		*alg = JWS_ALG_ES256;
	else if (len == strlen(KEYS_TYPE_RSA) && !strncmp(s, KEYS_TYPE_RSA, len))
		*alg = JWS_ALG_RS256;
	else
		return -1;
	return 0;
}

/* "ecdsa", "rsa", "ecdsa,rsa" into a set of ISSUER_TYPE_*. */
static int issuer_parse_types(const char *s, unsigned *types)
{
	enum jws_alg alg;
	size_t n;

	*types = 0;
	for (;;) {
		n = strcspn(s, ",");
		if (issuer_parse_type(s, n, &alg) < 0)
			return -1;
		*types |= 1u << alg;
		if (!s[n])
			return 0;
		s += n + 1;
	}
}

/* "user@example.com" or "mailto:user@example.com" into a new "mailto:..." string, or NULL. RFC
 * 8555 §7.3: the contact URLs; Let's Encrypt only takes mailto: with one address. */
static char *issuer_contact(const char *s)
{
	const char *addr = !strncmp(s, "mailto:", 7) ? s + 7 : s;
	const char *at = strchr(addr, '@'), *p;
	struct buf b;

	if (!at || at == addr || !at[1] || strchr(at + 1, '@') || strlen(addr) > 254)
		return NULL;
	for (p = addr; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr(",;<>\"()[]\\", *p))
			return NULL;
	if (!strchr(at + 1, '.'))
		return NULL;
	buf_init(&b);
	if (buf_printf(&b, "mailto:%s", addr) < 0) {
		buf_deinit(&b);
		return NULL;
	}
	return (char *)b.data; /* the buffer's block is a NUL-terminated heap string */
}

static int issuer_profile_valid(const char *s)
{
	return names_id_valid(s, strlen(s), 64);
}

/* Whether the CA bundle is readable and holds at least one PEM certificate. */
static int issuer_check_ca_bundle(const char *path, char *err, size_t errsz)
{
	struct buf b;
	int ret = -1;

	buf_init(&b);
	if (file_read(path, 16u << 20, 0, &b, err, errsz) < 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errsz, "--ca-bundle: %s", why);
		goto out;
	}
	if (!strstr(buf_str(&b), "-----BEGIN CERTIFICATE-----")) {
		snprintf(err, errsz, "--ca-bundle: '%s' holds no PEM certificate", path);
		goto out;
	}
	ret = 0;
out:
	buf_deinit(&b);
	return ret;
}

static void issuer_sha256_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0, i;

	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

struct issuer *issuer_new(const struct pusher *p, char *err, size_t errsz)
{
	const struct conf *conf = p->conf;
	struct issuer *is = calloc(1, sizeof(*is));
	const char *v, *eab_file;
	struct buf raw;
	uint64_t u;
	enum jws_alg alg;
	char why[256] = "out of memory";

	buf_init(&raw);
	if (!is) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	buf_init(&is->eab_hmac);
	is->p = p;
	is->acme.directory_url = conf_get_def(conf, "directory", ACME_LE_PRODUCTION);
	if (strncmp(is->acme.directory_url, "https://", 8) != 0 ||
	    strlen(is->acme.directory_url) <= 8 || strlen(is->acme.directory_url) > 2000 ||
	    strpbrk(is->acme.directory_url, " \t\r\n")) {
		snprintf(err, errsz, "--directory: '%s' is not an https:// URL",
		         is->acme.directory_url);
		goto fail;
	}
	issuer_sha256_hex(is->acme.directory_url, is->dir_hash);
	v = conf_get(conf, "ca-bundle");
	if (v && issuer_check_ca_bundle(v, err, errsz) < 0)
		goto fail;
	is->acme.http.ca_bundle = v;
	v = conf_get(conf, "contact");
	if (v) {
		is->contact = issuer_contact(v);
		if (!is->contact) {
			snprintf(err, errsz,
			         "--contact: '%s' is not an e-mail address (user@example.com or "
			         "mailto:user@example.com)",
			         v);
			goto fail;
		}
		is->acme.contact = is->contact;
	}
	v = conf_get_def(conf, "key-type", "ecdsa,rsa");
	if (issuer_parse_types(v, &is->key_types) < 0) {
		snprintf(err, errsz,
		         "--key-type: '%s' is not valid; expected ecdsa, rsa or ecdsa,rsa", v);
		goto fail;
	}
	v = conf_get_def(conf, "account-key-type", "ecdsa");
	if (issuer_parse_type(v, strlen(v), &alg) < 0) {
		snprintf(err, errsz, "--account-key-type: '%s' is not valid; expected ecdsa or rsa",
		         v);
		goto fail;
	}
	is->account_alg = alg;
	v = conf_get(conf, "profile");
	if (v && !issuer_profile_valid(v)) {
		snprintf(err, errsz, "--profile: '%s' is not a profile name ([A-Za-z0-9._-]{1,64})",
		         v);
		goto fail;
	}
	is->acme.profile = v;
	is->acme.eab_kid = conf_get(conf, "eab-kid");
	eab_file = conf_get(conf, "eab-hmac-key-file");
	if (!is->acme.eab_kid != !eab_file) {
		snprintf(err, errsz, "--eab-kid and --eab-hmac-key-file go together");
		goto fail;
	}
	if (eab_file) {
		if (!*is->acme.eab_kid || strlen(is->acme.eab_kid) > 256) {
			snprintf(err, errsz, "--eab-kid: must be 1 to 256 characters");
			goto fail;
		}
		if (file_read(eab_file, 4096, 1, &raw, why, sizeof(why)) < 0) {
			snprintf(err, errsz, "--eab-hmac-key-file: %s", why);
			goto fail;
		}
		file_chomp(&raw);
		if (b64url_decode(&is->eab_hmac, (const char *)raw.data, raw.len) < 0 ||
		    is->eab_hmac.len < 16) {
			snprintf(err, errsz,
			         "--eab-hmac-key-file: '%s' must hold a base64url key of at least "
			         "16 bytes",
			         eab_file);
			goto fail;
		}
		is->acme.eab_hmac = is->eab_hmac.data;
		is->acme.eab_hmac_len = is->eab_hmac.len;
	}
	v = conf_get_def(conf, "wait-replicas", "auto");
	if (!strcmp(v, "auto")) {
		is->wait_replicas = ISSUER_WAIT_REPLICAS_AUTO;
	} else if (parse_u64(v, 0, 1000, &u) < 0) {
		snprintf(err, errsz, "--wait-replicas: '%s' is not 'auto' or a number in 0..1000",
		         v);
		goto fail;
	} else {
		is->wait_replicas = (long long)u;
	}
	v = conf_get_def(conf, "wait-timeout", "1s");
	if (parse_duration_ms(v, 1, 1, 600000, &u) < 0) {
		snprintf(err, errsz, "--wait-timeout: '%s' is not a duration in 1ms..10m", v);
		goto fail;
	}
	is->wait_timeout_ms = (long long)u;
	v = conf_get_def(conf, "concurrency", "4");
	if (parse_u64(v, 1, ISSUER_CONCURRENCY_MAX, &u) < 0) {
		snprintf(err, errsz, "--concurrency: '%s' is not a number in 1..%d", v,
		         ISSUER_CONCURRENCY_MAX);
		goto fail;
	}
	is->concurrency = (unsigned)u;
	v = conf_get(conf, "keyring");
	if (!v && !kms_conf_keyring_optional(conf)) {
		snprintf(err, errsz,
		         "--keyring: required (certificates are stored sealed) or --kms");
		goto fail;
	}
	is->kr = kms_conf_keyring(v, conf, err, errsz);
	if (!is->kr || dns01_new(conf, &is->dns01, err, errsz) < 0)
		goto fail;
	buf_wipe(&raw);
	return is;
fail:
	buf_wipe(&raw);
	issuer_free(is);
	return NULL;
}

void issuer_free(struct issuer *is)
{
	if (!is)
		return;
	free(is->contact);
	buf_wipe(&is->eab_hmac);
	blob_keyring_free(is->kr);
	jws_key_free(is->account_key);
	free(is->account_url);
	dns01_free(is->dns01);
	free(is);
}

/* ---- workers ---- */

struct issuer_worker *issuer_worker_new(struct issuer *is, char *err, size_t errsz)
{
	struct issuer_worker *w = calloc(1, sizeof(*w));

	if (!w) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	w->is = is;
	w->acme = acme_client_new(&is->acme, err, errsz);
	if (!w->acme)
		goto fail;
	w->store = store_open(is->p->conf, is->p->prefix, err, errsz);
	if (!w->store)
		goto fail;
	if (is->account_key &&
	    acme_client_set_account(w->acme, is->account_key, is->account_url) < 0) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	return w;
fail:
	issuer_worker_free(w);
	return NULL;
}

int issuer_worker_fence(struct issuer_worker *w, const char *name, const char *owner, char *err,
                        size_t errsz)
{
	return store_fence(w->store, name, owner, err, errsz);
}

void issuer_worker_free(struct issuer_worker *w)
{
	if (!w)
		return;
	acme_client_free(w->acme);
	store_close(w->store);
	free(w);
}

/* ---- account ---- */

/* Parse the account blob's plaintext: the key PEM, then a line "url: <account URL>". */
static int issuer_account_parse(const struct buf *pt, struct jws_key **key, char **url)
{
	const char *s = buf_str(pt), *u = strstr(s, "\nurl: ");
	size_t n;

	if (!u)
		return -1;
	u += 6;
	n = strcspn(u, "\r\n");
	if (!n || n > 2048 || strncmp(u, "https://", 8) != 0)
		return -1;
	*key = jws_key_from_pem(pt->data, pt->len);
	if (!*key)
		return -1;
	*url = strndup(u, n);
	if (!*url) {
		jws_key_free(*key);
		*key = NULL;
		return -1;
	}
	return 0;
}

int issuer_account(struct issuer *is, char *err, size_t errsz)
{
	struct issuer_worker *w = NULL;
	struct buf name, blob, pt;
	struct jws_key *key = NULL;
	char *url = NULL;
	const char *why;
	int created = 0, ret = -1, found;

	buf_init(&name);
	buf_init(&blob);
	buf_init(&pt);
	if (keys_account(&name, is->p->prefix, is->dir_hash) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	w = issuer_worker_new(is, err, errsz);
	if (!w)
		goto out;
	found = store_blob_fetch(w->store, buf_str(&name), &blob, err, errsz);
	if (found < 0)
		goto out;
	if (found) {
		if (blob_open(is->kr, buf_str(&name), blob.data, blob.len, &pt, &why) < 0) {
			snprintf(err, errsz, "%s: %s", buf_str(&name), why);
			goto out;
		}
		if (issuer_account_parse(&pt, &key, &url) < 0) {
			snprintf(err, errsz, "%s: not an account key and URL", buf_str(&name));
			goto out;
		}
		if (acme_client_set_account(w->acme, key, url) < 0) {
			snprintf(err, errsz, "out of memory");
			goto out;
		}
		buf_wipe(&pt);
	}
	if (acme_account(w->acme, is->account_alg, &created, err, errsz) < 0)
		goto out;
	if (created) {
		buf_reset(&blob);
		if (jws_key_to_pem(acme_client_account_key(w->acme), &pt) < 0 ||
		    buf_printf(&pt, "url: %s\n", acme_client_account_url(w->acme)) < 0 ||
		    blob_seal(is->kr, buf_str(&name), pt.data, pt.len, &blob) < 0) {
			snprintf(err, errsz, "%s: cannot seal the account", buf_str(&name));
			goto out;
		}
		if (store_blob_store(w->store, buf_str(&name), &blob, err, errsz) < 0)
			goto out;
		log_info("issuer: account stored sealed in %s", buf_str(&name));
	}
	jws_key_free(is->account_key);
	free(is->account_url);
	is->account_key = jws_key_ref(acme_client_account_key(w->acme));
	is->account_url = strdup(acme_client_account_url(w->acme));
	if (!is->account_key || !is->account_url) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	ret = 0;
out:
	jws_key_free(key);
	free(url);
	buf_wipe(&pt);
	buf_deinit(&blob);
	buf_deinit(&name);
	issuer_worker_free(w);
	return ret;
}

/* ---- challenges ---- */

static int issuer_chal_publish(void *arg, const char *token, const char *keyauth, char *err,
                               size_t errsz)
{
	struct issuer_worker *w = arg;
	char why[256];
	int n;

	long long want = w->is->wait_replicas;

	/* Noted first: a token must never be published without its note. */
	if ((w->name &&
	     store_chal_track(w->store, w->name, token, ISSUER_CHAL_TTL_S, err, errsz) < 0) ||
	    store_chal_set(w->store, token, keyauth, ISSUER_CHAL_TTL_S, err, errsz) < 0)
		return -1;
	if (want == ISSUER_WAIT_REPLICAS_AUTO) {
		/* Every replica connected now: an edge's replica must hold the token before the
		 * CA may reach that edge. */
		want = store_replicas_connected(w->store, why, sizeof(why));
		if (want < 0) {
			log_warn("issuer: token=%s: --wait-replicas auto: %s; answering the "
			         "challenge anyway",
			         token, why);
			return 0;
		}
		log_debug("issuer: token=%s: waiting for the %lld connected replicas", token, want);
	}
	if (want <= 0)
		return 0;
	n = store_wait_replicas(w->store, want, w->is->wait_timeout_ms, why, sizeof(why));
	if (n < 0)
		log_warn("issuer: token=%s: %s; answering the challenge anyway", token, why);
	else if (n < want)
		log_warn("issuer: token=%s reached %d of %lld replicas within %lld ms; answering "
		         "the challenge anyway",
		         token, n, want, w->is->wait_timeout_ms);
	return 0;
}

static void issuer_chal_withdraw(void *arg, const char *token)
{
	struct issuer_worker *w = arg;
	char err[256];

	if (store_chal_del(w->store, token, err, sizeof(err)) < 0)
		log_warn("issuer: token=%s not removed (expires with its TTL): %s", token, err);
}

/* ---- certificates ---- */

int issuer_leaf_info(const struct buf *chain, char *serial, size_t serialsz, long long *not_before,
                     long long *not_after)
{
	BIO *bio = BIO_new_mem_buf(chain->data, (int)chain->len);
	X509 *x = NULL;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	struct tm tm;
	int ret = -1;

	if (!bio || !(x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		goto out;
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	if (!bn || !(hex = BN_bn2hex(bn)) || strlen(hex) >= serialsz)
		goto out;
	snprintf(serial, serialsz, "%s", hex);
	if (!ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm))
		goto out;
	*not_before = (long long)timegm(&tm);
	if (!ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm))
		goto out;
	*not_after = (long long)timegm(&tm);
	ret = 0;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
	BIO_free(bio);
	return ret;
}

/* Tries of the seal and of the SET of a new certificate, a second apart: Sentinel promotes a
 * replica in a few, a lost token is re-initialised every 2 s. */
#define ISSUER_STORE_TRIES 6

/* Seal <chain> + <key>'s PKCS#8 PEM under cert:<name>:<type> and store it. 0 or -1 with
 * <err>. */
static int issuer_store_cert(struct issuer_worker *w, const char *name, enum jws_alg alg,
                             const struct buf *chain, const struct jws_key *key, char *err,
                             size_t errsz)
{
	struct buf rkey, pt, blob;
	struct kms *kms;
	int ret = -1, try;

	buf_init(&rkey);
	buf_init(&pt);
	buf_init(&blob);
	if (keys_cert(&rkey, w->is->p->prefix, name, issuer_type_names[alg]) < 0 ||
	    buf_append(&pt, chain->data, chain->len) < 0 ||
	    (chain->len && chain->data[chain->len - 1] != '\n' && buf_append(&pt, "\n", 1) < 0) ||
	    jws_key_to_pem(key, &pt) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	/* The CA has issued: a token that went away (--kms) is re-initialised within seconds, so
	 * a seal it refused is retried like the SET below. */
	for (try = 0; blob_seal_cert(w->is->kr, buf_str(&rkey), &pt, &blob, err, errsz) < 0;
	     try++) {
		kms = blob_keyring_kms(w->is->kr);
		if (!kms || kms_state(kms) != 0 || try >= ISSUER_STORE_TRIES - 1)
			goto out;
		log_warn("issuer: name=%s: %s; retrying in 1s", name, err);
		sleep(1);
	}
	/* The CA has issued: a failed SET (the primary failing over, a restart) is retried over a
	 * new connection rather than throwing the certificate away with the order. A write the
	 * host lock no longer allows is final. */
	for (try = 0; store_blob_store(w->store, buf_str(&rkey), &blob, err, errsz) < 0; try++) {
		if (strstr(err, "LOCKLOST") || try >= ISSUER_STORE_TRIES - 1)
			goto out;
		log_warn("issuer: host=%s: %s; retrying in 1s", name, err);
		sleep(1);
	}
	ret = 0;
out:
	buf_wipe(&pt);
	buf_deinit(&blob);
	buf_deinit(&rkey);
	return ret;
}

/* The ACME error type of a "urn:ietf:params:acme:error:TYPE: detail" string, or "". */
static void issuer_problem_type(const char *e, char *out, size_t outsz)
{
	static const char ns[] = "urn:ietf:params:acme:error:";
	size_t n;

	out[0] = 0;
	if (strncmp(e, ns, sizeof(ns) - 1) != 0)
		return;
	e += sizeof(ns) - 1;
	n = strcspn(e, ": ");
	if (n < outsz)
		snprintf(out, outsz, "%.*s", (int)n, e);
}

/* Add "<type>: <why>" to the result's error, after any earlier key type's ("; "-separated). */
static void issuer_result_error(struct issuer_result *res, const char *type, const char *why)
{
	size_t used = strlen(res->error);

	snprintf(res->error + used, sizeof(res->error) - used, "%s%s: %s", used ? "; " : "", type,
	         why);
}

static void issuer_result_init(struct issuer_result *res)
{
	memset(res, 0, sizeof(*res));
	res->retry_after = -1;
}

int issuer_issue_host(struct issuer_worker *w, const char *name,
                      const char *const replaces[JWS_ALG_COUNT], const atomic_int *stop,
                      struct issuer_result *res)
{
	const struct acme_chal_ops http_ops = {
		.publish = issuer_chal_publish,
		.withdraw = issuer_chal_withdraw,
		.arg = w,
	};
	const struct acme_chal_ops dns_ops = {
		.dns_publish = dns01_publish,
		.dns_withdraw = dns01_withdraw,
		.arg = w->is->dns01,
	};
	const struct acme_chal_ops *ops = dns01_wanted(w->is->dns01, name) ? &dns_ops : &http_ops;
	struct acme_order_result ores;
	struct jws_key *key = NULL;
	struct buf cid;
	const char *why;
	char err[512], serial[ISSUER_SERIAL_MAX];
	long long nb, na;
	int alg, n, failed = 0;

	issuer_result_init(res);
	acme_order_result_init(&ores);
	buf_init(&cid);
	if (!dns01_name_valid(w->is->dns01, name, &why)) {
		snprintf(res->error, sizeof(res->error), "'%s' is not a hostname we order: %s",
		         name, why);
		return -1;
	}
	/* Tokens an issuer killed in an earlier order of this name left behind (their TTL is an
	 * hour): the lock is ours now, so they are nobody's. */
	n = store_chal_sweep(w->store, name, err, sizeof(err));
	if (n > 0)
		log_info("issuer: host=%s: removed %d challenge token(s) an earlier order left",
		         name, n);
	else if (n < 0)
		log_warn("issuer: host=%s: %s", name, err);
	/* DNS-01: what would fail at publish time (delegation, key, zone, ACL) fails here, before
	 * the CA sees an order. */
	if (ops == &dns_ops && dns01_preflight(w->is->dns01, name, err, sizeof(err)) < 0) {
		log_err("issuer: host=%s: not ordered: %s", name, err);
		snprintf(res->error, sizeof(res->error), "dns-01: %s", err);
		return -1;
	}
	w->name = name;
	for (alg = 0; alg < JWS_ALG_COUNT; alg++) {
		if (!(w->is->key_types & (1u << alg)))
			continue;
		if (stop && atomic_load(stop)) {
			issuer_result_error(res, issuer_type_names[alg], "stopped before ordering");
			failed = 1;
			break;
		}
		jws_key_free(key);
		key = jws_key_generate((enum jws_alg)alg);
		if (!key) {
			issuer_result_error(res, issuer_type_names[alg], "cannot generate a key");
			failed = 1;
			continue;
		}
		if (acme_order(w->acme, name, replaces ? replaces[alg] : NULL, key, ops, &ores) <
		    0) {
			log_err("issuer: host=%s type=%s failed: %s", name, issuer_type_names[alg],
			        ores.error);
			issuer_result_error(res, issuer_type_names[alg], ores.error);
			if (!res->problem_type[0])
				issuer_problem_type(ores.error, res->problem_type,
				                    sizeof(res->problem_type));
			if (ores.retry_after > res->retry_after)
				res->retry_after = ores.retry_after;
			failed = 1;
			continue;
		}
		if (issuer_leaf_info(&ores.chain, serial, sizeof(serial), &nb, &na) < 0) {
			issuer_result_error(res, issuer_type_names[alg],
			                    "the certificate does not parse");
			failed = 1;
			continue;
		}
		if (issuer_store_cert(w, name, (enum jws_alg)alg, &ores.chain, key, err,
		                      sizeof(err)) < 0) {
			log_err("issuer: host=%s type=%s: %s", name, issuer_type_names[alg], err);
			issuer_result_error(res, issuer_type_names[alg], err);
			failed = 1;
			continue;
		}
		snprintf(alg == JWS_ALG_ES256 ? res->serial_ecdsa : res->serial_rsa,
		         ISSUER_SERIAL_MAX, "%s", serial);
		buf_reset(&cid);
		if (ari_cert_id_pem((const char *)ores.chain.data, ores.chain.len, &cid, &why) ==
		            0 &&
		    cid.len < sizeof(res->cert_id[alg]))
			snprintf(res->cert_id[alg], sizeof(res->cert_id[alg]), "%s", buf_str(&cid));
		else
			log_warn("issuer: host=%s type=%s: no ARI CertID: %s", name,
			         issuer_type_names[alg], cid.len ? "too long" : why);
		if (!res->stored || nb > res->not_before)
			res->not_before = nb;
		if (!res->stored || na < res->not_after)
			res->not_after = na;
		res->stored++;
		log_info("issuer: host=%s type=%s serial=%s not_after=%s stored", name,
		         issuer_type_names[alg], serial, log_time(na, (char[LOG_TIME_MAX]){ 0 }));
	}
	w->name = NULL;
	/* The order withdrew its tokens: only the note is left. */
	if (store_chal_sweep(w->store, name, err, sizeof(err)) < 0)
		log_warn("issuer: host=%s: %s", name, err);
	jws_key_free(key);
	buf_deinit(&cid);
	acme_order_result_deinit(&ores);
	if (res->stored && store_publish_cert(w->store, name, err, sizeof(err)) < 0) {
		log_warn("issuer: host=%s: %s (loaders pick it up at their next sync)", name, err);
	}
	res->ok = !failed && res->stored > 0;
	return res->ok ? 0 : -1;
}

/* The leaf (first certificate) of PEM text <pt> as DER into <der>, with whether it expired.
 * 0 or -1. */
static int issuer_leaf_der(const struct buf *pt, struct buf *der, int *expired)
{
	BIO *bio = BIO_new_mem_buf(pt->data, (int)pt->len);
	X509 *x = NULL;
	unsigned char *p = NULL;
	int n, ret = -1;

	if (!bio || !(x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		goto out;
	*expired = X509_cmp_current_time(X509_get0_notAfter(x)) < 0;
	n = i2d_X509(x, &p);
	if (n <= 0 || buf_append(der, p, (size_t)n) < 0)
		goto out;
	ret = 0;
out:
	OPENSSL_free(p);
	X509_free(x);
	BIO_free(bio);
	return ret;
}

int issuer_revoke_host(struct issuer_worker *w, const char *name, long long *retry_after, char *err,
                       size_t errsz)
{
	struct buf rkey, blob, pt, der;
	char oerr[512];
	char aerr[ACME_ERR_MAX];
	long long ra;
	size_t used;
	int alg, rc, expired, ret = 0;

	*retry_after = -1;
	err[0] = 0;
	buf_init(&rkey);
	buf_init(&blob);
	buf_init(&pt);
	buf_init(&der);
	for (alg = 0; alg < JWS_ALG_COUNT; alg++) {
		buf_reset(&rkey);
		buf_reset(&blob);
		buf_wipe(&pt);
		buf_reset(&der);
		if (keys_cert(&rkey, w->is->p->prefix, name, issuer_type_names[alg]) < 0) {
			snprintf(aerr, sizeof(aerr), "out of memory");
			goto fail;
		}
		rc = store_blob_fetch(w->store, buf_str(&rkey), &blob, aerr, sizeof(aerr));
		if (rc < 0)
			goto fail;
		if (rc == 0)
			continue; /* no certificate of this type */
		if (blob_open_cert(w->is->kr, buf_str(&rkey), &blob, BLOB_CERT_MAX, &pt, NULL, oerr,
		                   sizeof(oerr)) < 0) {
			log_warn("issuer: host=%s type=%s: %s: not revoked", name,
			         issuer_type_names[alg], oerr);
			continue;
		}
		if (issuer_leaf_der(&pt, &der, &expired) < 0) {
			log_warn("issuer: host=%s type=%s: no certificate in the blob: not revoked",
			         name, issuer_type_names[alg]);
			continue;
		}
		if (expired) {
			log_info("issuer: host=%s type=%s: expired: not revoked", name,
			         issuer_type_names[alg]);
			continue;
		}
		if (acme_revoke_cert(w->acme, der.data, der.len, ACME_REVOKE_CESSATION_OF_OPERATION,
		                     &ra, aerr, sizeof(aerr)) < 0) {
			if (ra > *retry_after)
				*retry_after = ra;
			goto fail;
		}
		log_info("issuer: host=%s type=%s revoked (cessationOfOperation)", name,
		         issuer_type_names[alg]);
		continue;
	fail:
		log_err("issuer: host=%s type=%s: revocation failed: %s", name,
		        issuer_type_names[alg], aerr);
		used = strlen(err);
		snprintf(err + used, errsz - used, "%s%s: %s", used ? "; " : "",
		         issuer_type_names[alg], aerr);
		ret = -1;
	}
	buf_wipe(&pt);
	buf_deinit(&der);
	buf_deinit(&blob);
	buf_deinit(&rkey);
	return ret;
}

int issuer_renewal_info(struct issuer_worker *w, const char *cert_id, struct ari_window *win,
                        long long *retry_after, char *err, size_t errsz)
{
	return acme_renewal_info(w->acme, cert_id, win, retry_after, err, errsz);
}

int issuer_record(struct issuer_worker *w, const char *name, const struct issuer_result *res,
                  char *err, size_t errsz)
{
	char na[24];

	if (!res) {
		const char *kv[] = { "state", "issuing", NULL };

		if (store_issue_begin(w->store, name, err, errsz) < 0)
			return -1;
		return store_host_update(w->store, name, kv, err, errsz);
	}
	if (res->ok) {
		const char *kv[] = { "state",
			             "valid",
			             "not_after",
			             na,
			             "serial_ecdsa",
			             res->serial_ecdsa,
			             "serial_rsa",
			             res->serial_rsa,
			             "cert_id_ecdsa",
			             res->cert_id[JWS_ALG_ES256],
			             "cert_id_rsa",
			             res->cert_id[JWS_ALG_RS256],
			             "last_error",
			             "",
			             NULL };

		snprintf(na, sizeof(na), "%lld", res->not_after);
		return store_host_update(w->store, name, kv, err, errsz);
	} else {
		const char *kv[] = { "state", "failed", "last_error", res->error, NULL };

		return store_host_update(w->store, name, kv, err, errsz);
	}
}

/* ---- the `issue` command ---- */

struct issuer_pool {
	struct issuer *is;
	char **names;
	int nnames;
	int next;   /* next name to take; under <mu> */
	int failed; /* under <mu> */
	pthread_mutex_t mu;
};

static void issuer_pool_done(struct issuer_pool *pool, int ok)
{
	pthread_mutex_lock(&pool->mu);
	if (!ok)
		pool->failed++;
	pthread_mutex_unlock(&pool->mu);
}

static void *issuer_pool_thread(void *arg)
{
	struct issuer_pool *pool = arg;
	struct issuer_worker *w;
	struct issuer_result res;
	char err[512];
	const char *name;
	int i;

	w = issuer_worker_new(pool->is, err, sizeof(err));
	if (!w) {
		log_err("issuer: worker: %s", err);
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&pool->mu);
		i = pool->next < pool->nnames ? pool->next++ : -1;
		pthread_mutex_unlock(&pool->mu);
		if (i < 0)
			break;
		name = pool->names[i];
		if (issuer_record(w, name, NULL, err, sizeof(err)) < 0) {
			log_err("issuer: host=%s: %s", name, err);
			issuer_pool_done(pool, 0);
			continue;
		}
		issuer_issue_host(w, name, NULL, NULL, &res);
		if (issuer_record(w, name, &res, err, sizeof(err)) < 0)
			log_err("issuer: host=%s: %s", name, err);
		if (res.ok)
			printf("issued %s ecdsa=%s rsa=%s not_after=%lld\n", name,
			       res.serial_ecdsa[0] ? res.serial_ecdsa : "-",
			       res.serial_rsa[0] ? res.serial_rsa : "-", res.not_after);
		else
			log_err("issuer: host=%s failed: %s", name, res.error);
		fflush(stdout);
		issuer_pool_done(pool, res.ok);
	}
	issuer_worker_free(w);
	return NULL;
}

int issuer_cmd_issue(struct pusher *p, int argc, char **argv)
{
	struct issuer_pool pool = { .names = argv, .nnames = argc };
	pthread_t th[ISSUER_CONCURRENCY_MAX];
	struct issuer *is = NULL;
	const char *why;
	char err[1024];
	unsigned n = 0, i;
	int k, ret = 1;

	if (argc < 1) {
		log_err("issue: no hostname given (issue NAME...)");
		return 2;
	}
	for (k = 0; k < argc; k++) {
		/* "*.NAME" is checked again against the DNS-01 set-up once it is loaded */
		if (!names_hostname_valid(
		            argv[k] + (argv[k][0] == '*' && argv[k][1] == '.' ? 2 : 0), &why)) {
			log_err("issue: '%s' is not a hostname we can order: %s", argv[k], why);
			return 2;
		}
	}
	is = issuer_new(p, err, sizeof(err));
	if (!is) {
		log_err("issue: %s", err);
		return 2;
	}
	if (p->check_only) {
		log_info("issue: configuration OK (directory %s)", is->acme.directory_url);
		ret = 0;
		goto out;
	}
	if (http_global_init() < 0) {
		log_err("issue: libcurl initialisation failed");
		goto out;
	}
	json_object_seed(0); /* before threads: jansson seeds its hash function once */
	if (issuer_account(is, err, sizeof(err)) < 0) {
		log_err("issue: account: %s", err);
		goto out;
	}
	pool.is = is;
	pthread_mutex_init(&pool.mu, NULL);
	for (i = 0; i < is->concurrency && i < (unsigned)argc; i++) {
		if (pthread_create(&th[n], NULL, issuer_pool_thread, &pool) != 0) {
			log_err("issue: cannot start a thread");
			break;
		}
		n++;
	}
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&pool.mu);
	/* names no worker took (every worker failed to start) count as failures */
	if (pool.next < pool.nnames)
		pool.failed += pool.nnames - pool.next;
	log_info("issue: %d of %d hostnames issued", pool.nnames - pool.failed, pool.nnames);
	ret = pool.failed ? 1 : 0;
out:
	issuer_free(is);
	return ret;
}
