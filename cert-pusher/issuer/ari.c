// SPDX-License-Identifier: MIT
/*
 * RFC 9773 (ACME Renewal Information) arithmetic: CertIDs, renewalInfo parsing and the choice
 * of a renewal time. No I/O and no logging: the caller fetches, logs and schedules.
 */
#include "cert-pusher/issuer/ari.h"

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/b64url.h"

int ari_cert_id_raw(const uint8_t *aki, size_t aki_len, const uint8_t *serial, size_t serial_len,
                    struct buf *out)
{
	if (!aki_len || !serial_len)
		return -1;
	if (b64url_encode(out, aki, aki_len) < 0 || buf_append(out, ".", 1) < 0 ||
	    b64url_encode(out, serial, serial_len) < 0)
		return -1;
	return 0;
}

int ari_cert_id(const X509 *leaf, struct buf *out, const char **why)
{
	const ASN1_OCTET_STRING *aki;
	const ASN1_INTEGER *serial;
	unsigned char *der = NULL, *p;
	size_t hdr, clen;
	int len, ret = -1;

	aki = X509_get0_authority_key_id((X509 *)leaf);
	if (!aki || ASN1_STRING_length(aki) <= 0) {
		*why = "certificate has no Authority Key Identifier keyIdentifier";
		goto out;
	}
	serial = X509_get0_serialNumber(leaf);
	len = serial ? i2d_ASN1_INTEGER(serial, NULL) : -1;
	if (len < 3 || !(der = OPENSSL_malloc((size_t)len))) {
		*why = "certificate has no usable serial number";
		goto out;
	}
	p = der;
	if (i2d_ASN1_INTEGER(serial, &p) != len || der[0] != 0x02) {
		*why = "certificate has no usable serial number";
		goto out;
	}
	/* Strip the DER tag and length: the CertID carries the INTEGER's content octets. */
	if (der[1] < 0x80) {
		hdr = 2;
		clen = der[1];
	} else if (der[1] == 0x81 && len >= 3) {
		hdr = 3;
		clen = der[2];
	} else {
		*why = "certificate serial number is too long";
		goto out;
	}
	if (hdr + clen != (size_t)len) {
		*why = "certificate has no usable serial number";
		goto out;
	}
	if (ari_cert_id_raw(ASN1_STRING_get0_data(aki), (size_t)ASN1_STRING_length(aki), der + hdr,
	                    clen, out) < 0) {
		*why = "out of memory";
		goto out;
	}
	ret = 0;
out:
	OPENSSL_free(der);
	return ret;
}

int ari_cert_id_pem(const char *pem, size_t len, struct buf *out, const char **why)
{
	BIO *bio = NULL;
	X509 *x = NULL;
	int ret = -1;

	if (len > 1 << 20 || !(bio = BIO_new_mem_buf(pem, (int)len))) {
		*why = "certificate PEM is too large";
		goto out;
	}
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!x) {
		*why = "no certificate in the PEM text";
		goto out;
	}
	ret = ari_cert_id(x, out, why);
out:
	X509_free(x);
	BIO_free(bio);
	return ret;
}

/* Parse exactly <n> decimal digits at <*pp>; -1 when a non-digit is met. */
static int ari_digits(const char **pp, int n)
{
	int v = 0;

	for (; n > 0; n--, (*pp)++) {
		if (**pp < '0' || **pp > '9')
			return -1;
		v = v * 10 + (**pp - '0');
	}
	return v;
}

int ari_parse_time(const char *s, long long *out)
{
	struct tm tm = { 0 };
	const char *p = s;
	int y, mo, d, h, mi, sec, oh, om, sign = 0;
	long long t;

	y = ari_digits(&p, 4);
	if (y < 0 || *p++ != '-' || (mo = ari_digits(&p, 2)) < 1 || mo > 12 || *p++ != '-' ||
	    (d = ari_digits(&p, 2)) < 1 || d > 31 || (*p != 'T' && *p != 't'))
		return -1;
	p++;
	if ((h = ari_digits(&p, 2)) < 0 || h > 23 || *p++ != ':' || (mi = ari_digits(&p, 2)) < 0 ||
	    mi > 59 || *p++ != ':' || (sec = ari_digits(&p, 2)) < 0 || sec > 60)
		return -1;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if ((oh = ari_digits(&p, 2)) < 0 || oh > 23 || *p++ != ':' ||
		    (om = ari_digits(&p, 2)) < 0 || om > 59)
			return -1;
		sign *= oh * 3600 + om * 60;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec > 59 ? 59 : sec; /* a leap second counts as the one before */
	t = (long long)timegm(&tm);
	if (tm.tm_mday != d) /* Feb 30 and friends: timegm normalised it */
		return -1;
	*out = t - sign;
	return 0;
}

int ari_parse(const char *body, size_t len, struct ari_window *out, const char **why)
{
	json_t *root = NULL, *win, *start, *end, *url;
	json_error_t jerr;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		*why = "renewalInfo response is not a JSON object";
		goto out;
	}
	win = json_object_get(root, "suggestedWindow");
	start = json_object_get(win, "start");
	end = json_object_get(win, "end");
	if (!json_is_object(win) || !json_is_string(start) || !json_is_string(end)) {
		*why = "renewalInfo response has no suggestedWindow with start and end strings";
		goto out;
	}
	if (ari_parse_time(json_string_value(start), &out->start) < 0 ||
	    ari_parse_time(json_string_value(end), &out->end) < 0) {
		*why = "renewalInfo suggestedWindow has a timestamp that is not RFC 3339";
		goto out;
	}
	if (out->end < out->start) {
		*why = "renewalInfo suggestedWindow ends before it starts";
		goto out;
	}
	url = json_object_get(root, "explanationURL");
	if (json_is_string(url) && json_string_length(url) < sizeof(out->explanation_url))
		memcpy(out->explanation_url, json_string_value(url), json_string_length(url) + 1);
	ret = 0;
out:
	json_decref(root);
	return ret;
}

long long ari_choose(const struct ari_window *w, long long now, uint64_t rnd)
{
	unsigned long long span = (unsigned long long)(w->end - w->start);
	long long t = w->start;

	if (span)
		t += (long long)(rnd % (span + 1));
	return t < now ? now : t;
}

void ari_window_merge(struct ari_window *acc, const struct ari_window *w)
{
	int first = w->start < acc->start;

	if (w->explanation_url[0] && (first || !acc->explanation_url[0]))
		memcpy(acc->explanation_url, w->explanation_url, sizeof(acc->explanation_url));
	if (first)
		acc->start = w->start;
	if (w->end < acc->end)
		acc->end = w->end;
	if (acc->end < acc->start)
		acc->end = acc->start;
}

long long ari_next_poll(long long now, long long retry_after)
{
	if (retry_after < 0)
		return now + ARI_POLL_DEFAULT_S;
	if (retry_after < ARI_POLL_MIN_S)
		retry_after = ARI_POLL_MIN_S;
	if (retry_after > ARI_POLL_MAX_S)
		retry_after = ARI_POLL_MAX_S;
	return now + retry_after;
}

int ari_url(const char *base, const char *cert_id, struct buf *out)
{
	size_t blen = strlen(base);

	if (buf_append(out, base, blen) < 0)
		return -1;
	if ((!blen || base[blen - 1] != '/') && buf_append(out, "/", 1) < 0)
		return -1;
	return buf_append_str(out, cert_id);
}
