// SPDX-License-Identifier: MIT
/*
 * PEM sanitiser for runtime API payloads. The text is rebuilt line by line from what is
 * allowed (BEGIN/END lines of known labels, base64 lines) so that nothing the CLI could read
 * as the end of the payload or as a command ever reaches HAProxy; then OpenSSL parses the
 * result to prove it is a certificate chain with the matching key, leaf first. The caller
 * (loader, import) decides what to do with errors; this module never logs and never copies key
 * bytes into an error message.
 */
#include "cert-pusher/pem.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#define PEM_IN_MAX   (1 << 20) /* refuse absurd inputs before scanning */
#define PEM_LINE_MAX 80        /* RFC 7468 §2: generators use 64; be lenient up to 80 */

const char *const pem_key_type_names[PEM_KEY_COUNT] = {
	[PEM_KEY_ECDSA] = "ecdsa",
	[PEM_KEY_RSA] = "rsa",
};

enum pem_label {
	PEM_LABEL_CERT = 0,
	PEM_LABEL_KEY,
	PEM_LABEL_EC_KEY,
	PEM_LABEL_RSA_KEY,
	PEM_LABEL_COUNT
};

static const char *const pem_labels[PEM_LABEL_COUNT] = {
	[PEM_LABEL_CERT] = "CERTIFICATE",
	[PEM_LABEL_KEY] = "PRIVATE KEY",
	[PEM_LABEL_EC_KEY] = "EC PRIVATE KEY",
	[PEM_LABEL_RSA_KEY] = "RSA PRIVATE KEY",
};

/* If <line>/<len> is "-----<kind> <label>-----" for a known label, return the label, else -1.
 * <kind> is "BEGIN" or "END". */
static int pem_boundary(const char *line, size_t len, const char *kind)
{
	size_t klen = strlen(kind), llen;
	int i;

	if (len < 10 + klen + 1 || memcmp(line, "-----", 5) || memcmp(line + 5, kind, klen) ||
	    line[5 + klen] != ' ' || memcmp(line + len - 5, "-----", 5))
		return -1;
	line += 6 + klen;
	llen = len - (6 + klen) - 5;
	for (i = 0; i < PEM_LABEL_COUNT; i++)
		if (strlen(pem_labels[i]) == llen && !memcmp(line, pem_labels[i], llen))
			return i;
	return -1;
}

static int pem_base64_line(const char *line, size_t len)
{
	size_t i;

	if (len < 1 || len > PEM_LINE_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = line[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/' || c == '='))
			return 0;
	}
	return 1;
}

/* Pass 1: rebuild the text from allowed lines into <clean>; count blocks. 0 or -1 with <err>. */
static int pem_rebuild(const uint8_t *in, size_t len, struct buf *clean, int *ncerts, char *err,
                       size_t errsz)
{
	const char *p = (const char *)in, *end = p + len, *nl;
	size_t ll;
	unsigned lineno = 0, block_lines = 0;
	int label = -1, b, nkeys = 0, ret = -1;

	*ncerts = 0;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		lineno++;
		while (ll && p[ll - 1] == '\r')
			ll--;
		if (label < 0) {
			if (!ll)
				goto next; /* blank between blocks: dropped (RFC 7468 §2) */
			b = pem_boundary(p, ll, "BEGIN");
			if (b < 0) {
				snprintf(err, errsz,
				         "line %u: only PEM blocks are allowed (CERTIFICATE, then "
				         "one "
				         "PRIVATE KEY); found other text",
				         lineno);
				goto out;
			}
			if (nkeys) {
				snprintf(
				        err, errsz,
				        "line %u: nothing may follow the private key (expected the "
				        "leaf, the chain, then the key)",
				        lineno);
				goto out;
			}
			if (b != PEM_LABEL_CERT && !*ncerts) {
				snprintf(err, errsz,
				         "line %u: the private key comes before any certificate "
				         "(expected the leaf, the chain, then the key)",
				         lineno);
				goto out;
			}
			label = b;
			block_lines = 0;
		} else if (pem_boundary(p, ll, "END") == label) {
			if (!block_lines) {
				snprintf(err, errsz, "line %u: empty %s block", lineno,
				         pem_labels[label]);
				goto out;
			}
			if (label == PEM_LABEL_CERT)
				(*ncerts)++;
			else
				nkeys++;
			label = -1;
		} else if (!ll) {
			snprintf(
			        err, errsz,
			        "line %u: empty line inside a %s block (it would end a runtime API "
			        "payload)",
			        lineno, pem_labels[label]);
			goto out;
		} else if (!pem_base64_line(p, ll)) {
			snprintf(err, errsz, "line %u: not a base64 line inside a %s block", lineno,
			         pem_labels[label]);
			goto out;
		} else {
			block_lines++;
		}
		if (buf_append(clean, p, ll) < 0 || buf_append(clean, "\n", 1) < 0) {
			snprintf(err, errsz, "out of memory");
			goto out;
		}
	next:
		p = nl ? nl + 1 : end;
	}
	if (label >= 0) {
		snprintf(err, errsz, "unterminated %s block", pem_labels[label]);
		goto out;
	}
	if (!*ncerts) {
		snprintf(err, errsz, "no certificate");
		goto out;
	}
	if (!nkeys) {
		snprintf(err, errsz, "no private key after the certificates");
		goto out;
	}
	ret = 0;
out:
	return ret;
}

static void pem_hex(const uint8_t *p, size_t len, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < len && 2 * i + 2 < outsz; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * i] = 0;
}

/* Pass 2: parse <clean> with OpenSSL; fill <info>. 0 or -1 with <err>. */
static int pem_inspect(const struct buf *clean, int ncerts, struct pem_info *info, char *err,
                       size_t errsz)
{
	BIO *bio = NULL;
	X509 *leaf = NULL, *x = NULL;
	EVP_PKEY *key = NULL;
	const ASN1_INTEGER *serial;
	const ASN1_TIME *na;
	EVP_PKEY *leaf_key = NULL;
	char *pname = NULL, *phdr = NULL;
	unsigned char *der = NULL;
	const unsigned char *dp;
	long der_len = 0;
	struct tm tm;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int i, id, ret = -1;

	bio = BIO_new_mem_buf(clean->data, (int)clean->len);
	if (!bio) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	for (i = 0; i < ncerts; i++) {
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (!x) {
			snprintf(err, errsz, "certificate %d of %d does not parse", i + 1, ncerts);
			goto out;
		}
		if (!leaf) {
			leaf = x;
			x = NULL;
			leaf_key = X509_get0_pubkey(leaf);
		}
		X509_free(x);
		x = NULL;
	}
	/* The key type comes from the leaf: d2i_PrivateKey() with a known type skips OpenSSL 3's
	 * decoder search, which costs several times more than the rest of this function. */
	id = leaf_key ? EVP_PKEY_get_base_id(leaf_key) : EVP_PKEY_NONE;
	if (id == EVP_PKEY_EC) {
		info->key_type = PEM_KEY_ECDSA;
	} else if (id == EVP_PKEY_RSA) {
		info->key_type = PEM_KEY_RSA;
	} else {
		snprintf(err, errsz,
		         "unsupported key type %s in the first certificate (expected EC "
		         "or RSA)",
		         OBJ_nid2sn(id));
		goto out;
	}
	if (PEM_read_bio(bio, &pname, &phdr, &der, &der_len) != 1 || der_len <= 0) {
		snprintf(err, errsz, "the private key block does not decode");
		goto out;
	}
	dp = der;
	key = d2i_PrivateKey(id, NULL, &dp, der_len);
	if (!key) {
		snprintf(err, errsz,
		         "the private key does not parse as a %s key like the first certificate's "
		         "(the leaf must come first, then its chain)",
		         pem_key_type_names[info->key_type]);
		goto out;
	}
	if (X509_check_private_key(leaf, key) != 1) {
		snprintf(err, errsz,
		         "the private key does not match the first certificate (the leaf must "
		         "come first, then its chain)");
		goto out;
	}
	info->ncerts = ncerts;
	serial = X509_get0_serialNumber(leaf);
	if (ASN1_STRING_length(serial) < 1 ||
	    (size_t)ASN1_STRING_length(serial) * 2 > PEM_SERIAL_MAX) {
		snprintf(err, errsz, "the leaf's serial number is empty or longer than %d bytes",
		         PEM_SERIAL_MAX / 2);
		goto out;
	}
	pem_hex(ASN1_STRING_get0_data(serial), (size_t)ASN1_STRING_length(serial), info->serial,
	        sizeof(info->serial));
	if (X509_digest(leaf, EVP_sha1(), md, &mdlen) != 1 || mdlen != 20) {
		snprintf(err, errsz, "cannot compute the leaf's SHA1 fingerprint");
		goto out;
	}
	pem_hex(md, mdlen, info->sha1, sizeof(info->sha1));
	na = X509_get0_notAfter(leaf);
	memset(&tm, 0, sizeof(tm));
	if (!na || ASN1_TIME_to_tm(na, &tm) != 1) {
		snprintf(err, errsz, "the leaf's notAfter does not parse");
		goto out;
	}
	info->not_after = timegm(&tm);
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(X509_get0_notBefore(leaf), &tm) != 1) {
		snprintf(err, errsz, "the leaf's notBefore does not parse");
		goto out;
	}
	info->not_before = timegm(&tm);
	ret = 0;
out:
	ERR_clear_error();
	OPENSSL_free(pname);
	OPENSSL_free(phdr);
	if (der)
		OPENSSL_clear_free(der, (size_t)der_len);
	X509_free(x);
	X509_free(leaf);
	EVP_PKEY_free(key);
	BIO_free(bio);
	return ret;
}

int pem_sanitize(const uint8_t *in, size_t len, size_t max, struct buf *out, struct pem_info *info,
                 char *err, size_t errsz)
{
	struct pem_info tmp;
	struct buf clean;
	int ncerts = 0, ret = -1;

	buf_init(&clean);
	if (len > PEM_IN_MAX) {
		snprintf(err, errsz, "PEM of %zu bytes is larger than %d", len, PEM_IN_MAX);
		goto out;
	}
	if (pem_rebuild(in, len, &clean, &ncerts, err, errsz) < 0)
		goto out;
	if (clean.len > max) {
		snprintf(err, errsz, "PEM of %zu bytes exceeds the limit of %zu bytes", clean.len,
		         max);
		goto out;
	}
	if (pem_inspect(&clean, ncerts, info ? info : &tmp, err, errsz) < 0)
		goto out;
	if (buf_append(out, clean.data, clean.len) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	ret = 0;
out:
	buf_wipe(&clean);
	return ret;
}

/* Copy <list> into <out> (size <outsz>), ending with "..." when it does not fit; bytes that
 * are not printable ASCII become '?' (a SAN is attacker-chosen text bound for the logs). */
static void pem_list_copy(const struct buf *list, char *out, size_t outsz)
{
	size_t i, n;

	if (!outsz)
		return;
	n = list->len < outsz ? list->len : outsz - 1;
	for (i = 0; i < n; i++)
		out[i] = list->data[i] >= 0x20 && list->data[i] < 0x7f ? (char)list->data[i] : '?';
	out[n] = 0;
	if (n < list->len && outsz >= 4)
		memcpy(out + outsz - 4, "...", 4);
}

int pem_leaf_covers(const struct buf *pem, const char *name, char *sans, size_t sanssz, char *err,
                    size_t errsz)
{
	/* RFC 6125 §6.4.3: no partial-label wildcards ("w*.example.com"), as browsers do; CN
	 * fallback off (§6.4.4 allows it only without DNS SANs, and no modern client uses it). */
	const unsigned int flags =
	        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;
	GENERAL_NAMES *gens = NULL;
	const GENERAL_NAME *gen;
	struct buf list;
	BIO *bio = NULL;
	X509 *leaf = NULL;
	int i, rc, ret = -1;

	buf_init(&list);
	if (sanssz)
		sans[0] = 0;
	bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	if (!bio || !(leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		snprintf(err, errsz, "the first certificate does not parse");
		goto out;
	}
	gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		gen = sk_GENERAL_NAME_value(gens, i);
		if (gen->type != GEN_DNS)
			continue;
		if ((list.len && buf_append_str(&list, ", ") < 0) ||
		    buf_append(&list, ASN1_STRING_get0_data(gen->d.dNSName),
		               (size_t)ASN1_STRING_length(gen->d.dNSName)) < 0) {
			snprintf(err, errsz, "out of memory");
			goto out;
		}
	}
	if (!list.len && buf_append_str(&list, "none") < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	pem_list_copy(&list, sans, sanssz);
	rc = X509_check_host(leaf, name, strlen(name), flags, NULL);
	if (rc < 0) {
		snprintf(err, errsz, "cannot check '%s' against the certificate", name);
		goto out;
	}
	ret = rc == 1;
out:
	ERR_clear_error();
	buf_deinit(&list);
	GENERAL_NAMES_free(gens);
	X509_free(leaf);
	BIO_free(bio);
	return ret;
}

int pem_to_pkcs8(const struct buf *pem, struct buf *out, char *err, size_t errsz)
{
	const char *text = buf_str(pem), *k;
	BIO *in = NULL, *mem = NULL;
	EVP_PKEY *key = NULL;
	char *kp = NULL;
	long n;
	int ret = -1;

	/* The sanitised text has the certificates, then the key block: find where it starts. */
	k = strstr(text, "-----BEGIN ");
	while (k && !strncmp(k, "-----BEGIN CERTIFICATE-----", 27))
		k = strstr(k + 1, "-----BEGIN ");
	if (!k) {
		snprintf(err, errsz, "no private key block");
		goto out;
	}
	in = BIO_new_mem_buf(k, (int)strlen(k));
	mem = BIO_new(BIO_s_secmem());
	if (!in || !mem) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	key = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
	if (!key) {
		snprintf(err, errsz, "the private key does not parse");
		goto out;
	}
	if (PEM_write_bio_PKCS8PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL) != 1) {
		snprintf(err, errsz, "cannot encode the private key as PKCS#8");
		goto out;
	}
	n = BIO_get_mem_data(mem, &kp);
	if (n <= 0 || buf_append(out, text, (size_t)(k - text)) < 0 ||
	    buf_append(out, kp, (size_t)n) < 0) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	ret = 0;
out:
	ERR_clear_error();
	EVP_PKEY_free(key);
	BIO_free(in);
	BIO_free(mem);
	return ret;
}
