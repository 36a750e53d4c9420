// SPDX-License-Identifier: MIT
/*
 * Unit tests for ari.c (RFC 9773): the CertID of the RFC's own example, from raw bytes and
 * from a real certificate built here (serial with the high bit set gets its 0x00), certificates
 * without an AKI, canned renewalInfo responses (valid, fractional seconds and offsets, every
 * kind of malformed), the uniform choice inside the window and the poll clamp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cert-pusher/issuer/ari.h"

/* RFC 9773 §4.1's example. */
static const uint8_t rfc_aki[] = { 0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
	                           0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4 };
static const uint8_t rfc_serial[] = { 0x00, 0x87, 0x65, 0x43, 0x21 };
#define RFC_CERT_ID "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"

static void test_cert_id_raw_rfc_example(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out);
	assert_int_equal(
	        ari_cert_id_raw(rfc_aki, sizeof(rfc_aki), rfc_serial, sizeof(rfc_serial), &out), 0);
	assert_string_equal(buf_str(&out), RFC_CERT_ID);
	buf_reset(&out);
	assert_int_equal(ari_cert_id_raw(rfc_aki, 0, rfc_serial, 1, &out), -1);
	assert_int_equal(ari_cert_id_raw(rfc_aki, 1, rfc_serial, 0, &out), -1);
	buf_deinit(&out);
}

/* A self-signed certificate with serial <serial> and, when <aki>, that AKI keyIdentifier. */
static X509 *make_cert(uint64_t serial, const uint8_t *aki, size_t aki_len)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	AUTHORITY_KEYID *akid;

	assert_non_null(key);
	assert_non_null(x);
	assert_int_equal(ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"ari.test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	if (aki) {
		akid = AUTHORITY_KEYID_new();
		akid->keyid = ASN1_OCTET_STRING_new();
		ASN1_OCTET_STRING_set(akid->keyid, aki, (int)aki_len);
		assert_int_equal(X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, 0), 1);
		AUTHORITY_KEYID_free(akid);
	}
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	EVP_PKEY_free(key);
	return x;
}

static void test_cert_id_from_certificate(void **state)
{
	X509 *x = make_cert(0x87654321, rfc_aki, sizeof(rfc_aki));
	const char *why = NULL;
	struct buf out, pem;
	BIO *bio;
	char *p;
	long n;

	(void)state;
	buf_init(&out);
	buf_init(&pem);
	assert_int_equal(ari_cert_id(x, &out, &why), 0);
	assert_string_equal(buf_str(&out), RFC_CERT_ID);

	/* The same through PEM, as the chain text the issuer downloads (leaf first). */
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	n = BIO_get_mem_data(bio, &p);
	assert_int_equal(buf_append(&pem, p, (size_t)n), 0);
	BIO_free(bio);
	buf_reset(&out);
	assert_int_equal(ari_cert_id_pem(buf_str(&pem), pem.len, &out, &why), 0);
	assert_string_equal(buf_str(&out), RFC_CERT_ID);
	X509_free(x);

	/* A serial without the high bit set has no leading zero: 0x0102 -> "AQI". */
	x = make_cert(0x0102, rfc_aki, 2);
	buf_reset(&out);
	assert_int_equal(ari_cert_id(x, &out, &why), 0);
	assert_string_equal(buf_str(&out), "aYg.AQI");
	X509_free(x);

	/* No AKI: no CertID, and a reason. */
	x = make_cert(7, NULL, 0);
	buf_reset(&out);
	assert_int_equal(ari_cert_id(x, &out, &why), -1);
	assert_non_null(strstr(why, "Authority Key Identifier"));
	X509_free(x);

	buf_reset(&out);
	assert_int_equal(ari_cert_id_pem("not a pem", 9, &out, &why), -1);
	assert_non_null(strstr(why, "no certificate"));
	buf_deinit(&out);
	buf_deinit(&pem);
}

static void test_parse_rfc_example(void **state)
{
	const char *body = "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\","
	                   "\"end\":\"2025-01-03T04:00:00Z\"},"
	                   "\"explanationURL\":\"https://acme.example.com/docs/ari\"}";
	struct ari_window w;
	const char *why = NULL;

	(void)state;
	assert_int_equal(ari_parse(body, strlen(body), &w, &why), 0);
	assert_int_equal(w.start, 1735790400LL);
	assert_int_equal(w.end, 1735876800LL);
	assert_string_equal(w.explanation_url, "https://acme.example.com/docs/ari");
}

static void test_parse_time_forms(void **state)
{
	long long t = 0;

	(void)state;
	assert_int_equal(ari_parse_time("2025-01-02T04:00:00Z", &t), 0);
	assert_int_equal(t, 1735790400LL);
	assert_int_equal(ari_parse_time("2025-01-02T04:00:00.123456Z", &t), 0);
	assert_int_equal(t, 1735790400LL);
	assert_int_equal(ari_parse_time("2025-01-02T05:30:00+01:30", &t), 0);
	assert_int_equal(t, 1735790400LL);
	assert_int_equal(ari_parse_time("2025-01-01T23:00:00-05:00", &t), 0);
	assert_int_equal(t, 1735790400LL);
	assert_int_equal(ari_parse_time("2025-01-02t04:00:00z", &t), 0);
	assert_int_equal(t, 1735790400LL);
	assert_int_equal(ari_parse_time("2024-02-29T00:00:00Z", &t), 0);

	assert_int_equal(ari_parse_time("2025-02-30T00:00:00Z", &t), -1);
	assert_int_equal(ari_parse_time("2025-01-02 04:00:00Z", &t), -1);
	assert_int_equal(ari_parse_time("2025-01-02T04:00:00", &t), -1);
	assert_int_equal(ari_parse_time("2025-01-02T24:00:00Z", &t), -1);
	assert_int_equal(ari_parse_time("2025-13-02T04:00:00Z", &t), -1);
	assert_int_equal(ari_parse_time("2025-01-02T04:00:00.Z", &t), -1);
	assert_int_equal(ari_parse_time("2025-01-02T04:00:00Zjunk", &t), -1);
	assert_int_equal(ari_parse_time("", &t), -1);
	assert_int_equal(ari_parse_time("1735790400", &t), -1);
}

static void test_parse_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"{}",
		"{\"suggestedWindow\":null}",
		"{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\"}}",
		"{\"suggestedWindow\":{\"start\":1,\"end\":2}}",
		"{\"suggestedWindow\":{\"start\":\"yesterday\",\"end\":\"2025-01-03T04:00:00Z\"}}",
		/* end before start */
		"{\"suggestedWindow\":{\"start\":\"2025-01-03T04:00:00Z\",\"end\":\"2025-01-02T04:"
		"00:00Z\"}}",
		/* duplicate keys are refused rather than guessed */
		"{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\",\"start\":\"2025-01-"
		"02T04:00:00Z\","
		"\"end\":\"2025-01-03T04:00:00Z\"}}",
	};
	struct ari_window w;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(ari_parse(bad[i], strlen(bad[i]), &w, &why), -1);
		assert_non_null(why);
	}
	/* A non-string explanationURL is ignored, not fatal. */
	{
		const char *ok = "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\","
		                 "\"end\":\"2025-01-02T04:00:00Z\"},\"explanationURL\":5}";

		assert_int_equal(ari_parse(ok, strlen(ok), &w, &why), 0);
		assert_string_equal(w.explanation_url, "");
		assert_int_equal(w.start, w.end);
	}
}

static void test_choose_uniform_in_window(void **state)
{
	struct ari_window w = { .start = 1000, .end = 1100 };
	unsigned hits[101] = { 0 };
	uint64_t r;
	long long t;
	int i;

	(void)state;
	assert_int_equal(ari_choose(&w, 0, 0), 1000);
	assert_int_equal(ari_choose(&w, 0, 100), 1100);
	assert_int_equal(ari_choose(&w, 0, 101), 1000);
	for (r = 0; r < 101 * 50; r++) {
		t = ari_choose(&w, 0, r * 2654435761ULL);
		assert_true(t >= 1000 && t <= 1100);
		hits[t - 1000]++;
	}
	for (i = 0; i <= 100; i++)
		assert_true(hits[i] > 0); /* every second of the window reachable */
	/* A window in the past, or a choice before now: renew now. */
	assert_int_equal(ari_choose(&w, 5000, 50), 5000);
	assert_int_equal(ari_choose(&w, 1050, 0), 1050);
	assert_int_equal(ari_choose(&w, 1050, 80), 1080);
	/* A zero-length window. */
	w.end = w.start;
	assert_int_equal(ari_choose(&w, 0, 12345), 1000);
}

static void test_window_merge(void **state)
{
	struct ari_window acc = { .start = 1000, .end = 2000, .explanation_url = "" };
	struct ari_window rsa = { .start = 500, .end = 3000, .explanation_url = "https://r" };
	struct ari_window late = { .start = 5000, .end = 6000, .explanation_url = "https://l" };
	struct ari_window early = { .start = 100, .end = 150, .explanation_url = "" };

	(void)state;
	/* earliest start, earliest end; the URL of the earliest window that has one */
	ari_window_merge(&acc, &rsa);
	assert_int_equal(acc.start, 500);
	assert_int_equal(acc.end, 2000);
	assert_string_equal(acc.explanation_url, "https://r");
	/* a later window changes nothing but could only end earlier: never before the start */
	ari_window_merge(&acc, &late);
	assert_int_equal(acc.start, 500);
	assert_int_equal(acc.end, 2000);
	assert_string_equal(acc.explanation_url, "https://r");
	ari_window_merge(&acc, &early);
	assert_int_equal(acc.start, 100);
	assert_int_equal(acc.end, 150);
	assert_string_equal(acc.explanation_url, "https://r");
	/* disjoint: the earlier window wins whole */
	acc = (struct ari_window){ .start = 1000, .end = 2000 };
	late = (struct ari_window){ .start = 900, .end = 950 };
	ari_window_merge(&acc, &late);
	assert_true(acc.start == 900 && acc.end == 950);
}

static void test_next_poll_and_url(void **state)
{
	struct buf u;

	(void)state;
	assert_int_equal(ari_next_poll(100, -1), 100 + ARI_POLL_DEFAULT_S);
	assert_int_equal(ari_next_poll(100, 0), 100 + ARI_POLL_MIN_S);
	assert_int_equal(ari_next_poll(100, 3600), 3700);
	assert_int_equal(ari_next_poll(100, 10 * 86400), 100 + ARI_POLL_MAX_S);
	buf_init(&u);
	assert_int_equal(ari_url("https://ca.test/renewal-info", RFC_CERT_ID, &u), 0);
	assert_string_equal(buf_str(&u), "https://ca.test/renewal-info/" RFC_CERT_ID);
	buf_reset(&u);
	assert_int_equal(ari_url("https://ca.test/renewal-info/", RFC_CERT_ID, &u), 0);
	assert_string_equal(buf_str(&u), "https://ca.test/renewal-info/" RFC_CERT_ID);
	buf_deinit(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cert_id_raw_rfc_example),
		cmocka_unit_test(test_cert_id_from_certificate),
		cmocka_unit_test(test_parse_rfc_example),
		cmocka_unit_test(test_parse_time_forms),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_choose_uniform_in_window),
		cmocka_unit_test(test_window_merge),
		cmocka_unit_test(test_next_poll_and_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
