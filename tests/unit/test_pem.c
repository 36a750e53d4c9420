// SPDX-License-Identifier: MIT
/*
 * Unit tests for pem.c: the sanitiser keeps only PEM blocks in the order leaf, chain, key and
 * refuses what could end a runtime API payload early or smuggle a command (blank or "\r"-only
 * lines inside blocks, text after a blank line, other block types), a chain before its leaf,
 * a key that does not match, oversize input; the details match what `openssl x509` prints.
 * pem_leaf_covers() follows RFC 6125 as a TLS client does (DNS SANs only, one-label wildcards).
 * The fixtures are throwaway test keys made with openssl for this file only; the SAN cases
 * make their certificates at run time.
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
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cert-pusher/pem.h"

static const char ca_crt[] = "-----BEGIN CERTIFICATE-----\n"
                             "MIIBejCCASGgAwIBAgIUMmqIzJslQlG6I4BDWC14MX0oY2UwCgYIKoZIzj0EAwIw\n"
                             "EjEQMA4GA1UEAwwHdW5pdC1jYTAgFw0yNjExMjkwMzUwMDZaGA8yMTI2MTEwNTAz\n"
                             "NTAwNlowEjEQMA4GA1UEAwwHdW5pdC1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
                             "A0IABLGikOH13Mu6JuRDd9xwop8Qxl183Nx1UFespWSajw61sCrC5Xo0fctYyQmV\n"
                             "Iov9mJtHMOJKT+fLssgHXxGv1I+jUzBRMB0GA1UdDgQWBBR2UNHRA/aQcePA4Dvc\n"
                             "jeNwNyJFajAfBgNVHSMEGDAWgBR2UNHRA/aQcePA4DvcjeNwNyJFajAPBgNVHRMB\n"
                             "Af8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCICAVFE9JOQ1LSMrG8J3w4nN1EsWQ\n"
                             "YaO6wveP34kWlIEmAiBctZAgGkHPYb2lHiUSJYF68k359/hpQRH+lxlrJF52eA==\n"
                             "-----END CERTIFICATE-----\n";

static const char ec_crt[] = "-----BEGIN CERTIFICATE-----\n"
                             "MIIBEzCBuQIEEjSrzTAKBggqhkjOPQQDAjASMRAwDgYDVQQDDAd1bml0LWNhMCAX\n"
                             "DTI2MTEyOTAzNTAwNloYDzIxMjYxMTA1MDM1MDA2WjAUMRIwEAYDVQQDDAlhLmV4\n"
                             "YW1wbGUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQmhT2IfVFNUId01ctoJHSn\n"
                             "YJMLwBGd5o9Lo+j+eOBzdEwbdit3tEIasB3WO/cKG80KahmMXuAlBkbs1z1jyOR1\n"
                             "MAoGCCqGSM49BAMCA0kAMEYCIQCy5/5eXSoovRTLBbIjBQCcKpmA3de+0ma+eq33\n"
                             "kxnFVAIhAJKYRBv5jd/Dt+fR72gsVUhimT5j28Uz97nKqeGtYR+y\n"
                             "-----END CERTIFICATE-----\n";

static const char ec_key[] = "-----BEGIN PRIVATE KEY-----\n"
                             "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgMqUSlkWuGLAv3IpC\n"
                             "LL4dYtIyhO+z9ou064iS87ojsumhRANCAAQmhT2IfVFNUId01ctoJHSnYJMLwBGd\n"
                             "5o9Lo+j+eOBzdEwbdit3tEIasB3WO/cKG80KahmMXuAlBkbs1z1jyOR1\n"
                             "-----END PRIVATE KEY-----\n";

static const char rsa_crt[] = "-----BEGIN CERTIFICATE-----\n"
                              "MIIBWDCB/wIDAP8BMAoGCCqGSM49BAMCMBIxEDAOBgNVBAMMB3VuaXQtY2EwIBcN\n"
                              "MjYxMTI5MDM1MDA2WhgPMjEyNjExMDUwMzUwMDZaMBQxEjAQBgNVBAMMCWEuZXhh\n"
                              "bXBsZTCBnzANBgkqhkiG9w0BAQEFAAOBjQAwgYkCgYEAvjkW3oqXN9xnwGVSUKXz\n"
                              "v3WzADmZUeLRp9o6JUVbvx7kkI4VulAuDxcCZW21m7O98iE/imhIfhDBvs6Kac4E\n"
                              "49a1OJVnWBndogqNhTSRBd6IYEB6XCmNayY/NsxKn4QMyTRgpZhghP7VSC162WXR\n"
                              "e9DRhGOExdkEWfZhnIYpoI0CAwEAATAKBggqhkjOPQQDAgNIADBFAiEAq4dat+5n\n"
                              "NUM6rnDyqVFgdohshaX5NKO67mX6nlXF+BwCICcnfulWcWo/mNMyW2I/FZP8a6t2\n"
                              "lhM0XsR9lrXYnP+N\n"
                              "-----END CERTIFICATE-----\n";

static const char rsa_key[] = "-----BEGIN RSA PRIVATE KEY-----\n"
                              "MIICXQIBAAKBgQC+ORbeipc33GfAZVJQpfO/dbMAOZlR4tGn2jolRVu/HuSQjhW6\n"
                              "UC4PFwJlbbWbs73yIT+KaEh+EMG+zoppzgTj1rU4lWdYGd2iCo2FNJEF3ohgQHpc\n"
                              "KY1rJj82zEqfhAzJNGClmGCE/tVILXrZZdF70NGEY4TF2QRZ9mGchimgjQIDAQAB\n"
                              "AoGAFdyh0DnFX1opYmdCqpooBV0VkXUNNegHiG8AN8Bc5v457pMl1B/a60kNsXKG\n"
                              "aLqjnexMTS/nBPYQDknWhopy7TmR3HrAcsI++kppvc1lx1Y9j2hUfeD7QByg+lCW\n"
                              "WXdmQLuwWYkXnOrgGqowCJvMyoJaKwiZwjuio3eFdu2lCIECQQDySaXp0QQSfzEr\n"
                              "RqwbtnAYxCWPh+y6/9HOSmPSmsbrMUEDWnX3bsd0nFzchsGGqtGtn/yYQ/HHKj/m\n"
                              "oAMjXMi1AkEAyP0b9lR5u3KuAP34QnhEEF/W+SRBSyq5S/SWjxOzsb8c/ox3XO26\n"
                              "vH2F9AF1JCrvxlB7DmMg1gC+OD0Y8LyXeQJBAIDkDQ9F0hTE9TNAdW6Irzl9nz2r\n"
                              "4ZPZY5OKn2/6Rrf3i85s4TSwCgtO41etmGY7mS/0XDvkaUq6fyQBG6pEQcECQG+V\n"
                              "3o1fDwqbu7E/TzKQFLHGk9JUZ4+005Uw4NnkhVI8mXtVPvuv3InDYrg6iu+eiupe\n"
                              "SkONk3Bcjz8n5I3bFnkCQQDYon40dD6JXhS6niZ7pL7e689lOpCSxLlzrIkZLg+A\n"
                              "xcTQhQbdSV/FoO1BhSWBYkz8IW3XrOkie4/4a+gwfwtk\n"
                              "-----END RSA PRIVATE KEY-----\n";

/* Concatenate up to 6 strings into <out> (reset first). */
static void cat(struct buf *out, const char *a, const char *b, const char *c, const char *d)
{
	buf_reset(out);
	if (a)
		assert_int_equal(buf_append_str(out, a), 0);
	if (b)
		assert_int_equal(buf_append_str(out, b), 0);
	if (c)
		assert_int_equal(buf_append_str(out, c), 0);
	if (d)
		assert_int_equal(buf_append_str(out, d), 0);
}

static int run(const struct buf *in, size_t max, struct buf *out, struct pem_info *info, char *err)
{
	buf_reset(out);
	err[0] = 0;
	return pem_sanitize(in->data, in->len, max, out, info, err, 256);
}

static void expect_error(const struct buf *in, const char *needle)
{
	struct buf out;
	char err[256];
	int rc;

	buf_init(&out);
	rc = run(in, 16384, &out, NULL, err);
	if (rc != -1 || !strstr(err, needle))
		fail_msg("expected an error with '%s', got rc %d err '%s'", needle, rc, err);
	assert_int_equal(out.len, 0);
	buf_wipe(&out);
}

static void test_valid_chain(void **state)
{
	struct pem_info info;
	struct buf in, out;
	char err[256];

	(void)state;
	buf_init(&in);
	buf_init(&out);
	cat(&in, ec_crt, ca_crt, ec_key, NULL);
	assert_int_equal(run(&in, 16384, &out, &info, err), 0);
	assert_int_equal(out.len, in.len);
	assert_memory_equal(out.data, in.data, in.len);
	assert_int_equal(info.key_type, PEM_KEY_ECDSA);
	assert_int_equal(info.ncerts, 2);
	assert_string_equal(info.serial, "1234ABCD");
	assert_string_equal(info.sha1, "F90CE27D66509036442F746F9BD394DF4E42A80D");
	assert_int_equal(info.not_after, 4949524206);  /* Nov  5 03:50:06 2126 GMT */
	assert_int_equal(info.not_before, 1795924206); /* Nov 29 03:50:06 2026 GMT */
	assert_string_equal(pem_key_type_names[info.key_type], "ecdsa");
	/* RSA, traditional key format, no chain. */
	cat(&in, rsa_crt, rsa_key, NULL, NULL);
	assert_int_equal(run(&in, 16384, &out, &info, err), 0);
	assert_int_equal(info.key_type, PEM_KEY_RSA);
	assert_int_equal(info.ncerts, 1);
	assert_string_equal(info.serial, "FF01");
	assert_string_equal(info.sha1, "67817B1CFB9E267273E14407FA9D84C6D9B51FC3");
	buf_wipe(&in);
	buf_wipe(&out);
}

/* CRLF line ends and blank lines between blocks are normalised away. */
static void test_normalised(void **state)
{
	struct buf in, crlf, out, want;
	char err[256];
	size_t i;

	(void)state;
	buf_init(&in);
	buf_init(&crlf);
	buf_init(&out);
	buf_init(&want);
	cat(&in, "\n\r\n", ec_crt, "\n\n\r\n", ca_crt);
	assert_int_equal(buf_append_str(&in, "\r\n"), 0);
	assert_int_equal(buf_append_str(&in, ec_key), 0);
	assert_int_equal(buf_append_str(&in, "\n\n"), 0);
	for (i = 0; i < in.len; i++) {
		if (in.data[i] == '\n' && (!i || in.data[i - 1] != '\r'))
			assert_int_equal(buf_append(&crlf, "\r", 1), 0);
		assert_int_equal(buf_append(&crlf, &in.data[i], 1), 0);
	}
	cat(&want, ec_crt, ca_crt, ec_key, NULL);
	assert_int_equal(run(&in, 16384, &out, NULL, err), 0);
	assert_int_equal(out.len, want.len);
	assert_memory_equal(out.data, want.data, want.len);
	assert_int_equal(run(&crlf, 16384, &out, NULL, err), 0);
	assert_int_equal(out.len, want.len);
	assert_memory_equal(out.data, want.data, want.len);
	assert_null(strstr(buf_str(&out), "\n\n"));
	assert_null(strchr(buf_str(&out), '\r'));
	/* Last line without its newline. */
	cat(&in, ec_crt, ec_key, NULL, NULL);
	in.data[--in.len] = 0;
	assert_int_equal(run(&in, 16384, &out, NULL, err), 0);
	assert_int_equal(out.data[out.len - 1], '\n');
	buf_wipe(&in);
	buf_wipe(&crlf);
	buf_wipe(&out);
	buf_wipe(&want);
}

/* Insert <ins> after the <nth> newline of <src> into <out>. */
static void insert_after_line(struct buf *out, const char *src, int nth, const char *ins)
{
	const char *p = src;
	int i;

	for (i = 0; i < nth; i++)
		p = strchr(p, '\n') + 1;
	buf_reset(out);
	assert_int_equal(buf_append(out, src, (size_t)(p - src)), 0);
	assert_int_equal(buf_append_str(out, ins), 0);
	assert_int_equal(buf_append_str(out, p), 0);
}

static void test_injection_refused(void **state)
{
	struct buf in, t;

	(void)state;
	buf_init(&in);
	buf_init(&t);
	/* A command after a blank line would run on the CLI. */
	cat(&in, ec_crt, ec_key, "\ndel ssl cert x.example.ecdsa\n", NULL);
	expect_error(&in, "other text");
	cat(&in, ec_crt, ec_key, "\n\nshow info\n", NULL);
	expect_error(&in, "line 16: only PEM blocks");
	/* Blank and "\r"-only lines inside a block end the payload early. */
	insert_after_line(&t, ec_crt, 3, "\n");
	cat(&in, buf_str(&t), ec_key, NULL, NULL);
	expect_error(&in, "line 4: empty line inside a CERTIFICATE block");
	insert_after_line(&t, ec_crt, 3, "\r\n");
	cat(&in, buf_str(&t), ec_key, NULL, NULL);
	expect_error(&in, "empty line inside");
	insert_after_line(&t, ec_key, 2, "\r\r\n");
	cat(&in, ec_crt, buf_str(&t), NULL, NULL);
	expect_error(&in, "empty line inside a PRIVATE KEY block");
	insert_after_line(&t, ec_key, 2, "show info\n");
	cat(&in, ec_crt, buf_str(&t), NULL, NULL);
	expect_error(&in, "not a base64 line");
	insert_after_line(&t, ec_key, 2, "AAAA;show info\n");
	cat(&in, ec_crt, buf_str(&t), NULL, NULL);
	expect_error(&in, "not a base64 line");
	/* A lone CR in the middle of a line is not a line end. */
	insert_after_line(&t, ec_crt, 2, "AAAA\rBBBB\n");
	cat(&in, buf_str(&t), ec_key, NULL, NULL);
	expect_error(&in, "not a base64 line");
	/* NUL bytes. */
	cat(&in, ec_crt, ec_key, NULL, NULL);
	in.data[40] = 0;
	expect_error(&in, "not a base64 line");
	buf_wipe(&in);
	buf_wipe(&t);
}

static void test_order_and_structure(void **state)
{
	struct buf in;

	(void)state;
	buf_init(&in);
	cat(&in, ca_crt, ec_crt, ec_key, NULL);
	expect_error(&in, "does not match the first certificate");
	cat(&in, ec_key, ec_crt, NULL, NULL);
	expect_error(&in, "private key comes before any certificate");
	cat(&in, ec_crt, ca_crt, NULL, NULL);
	expect_error(&in, "no private key");
	cat(&in, "", NULL, NULL, NULL);
	expect_error(&in, "no certificate");
	cat(&in, ec_crt, ec_key, ec_key, NULL);
	expect_error(&in, "nothing may follow the private key");
	cat(&in, ec_crt, ec_key, ca_crt, NULL);
	expect_error(&in, "nothing may follow the private key");
	cat(&in, ec_crt, rsa_key, NULL, NULL);
	expect_error(&in, "does not parse as a ecdsa key");
	cat(&in, rsa_crt, ec_key, NULL, NULL);
	expect_error(&in, "does not parse as a rsa key");
	/* Same type, other key. */
	cat(&in, ca_crt, ec_key, NULL, NULL);
	expect_error(&in, "does not match the first certificate");
	/* Chain before the leaf, leaf of another type than the chain. */
	cat(&in, ca_crt, rsa_crt, rsa_key, NULL);
	expect_error(&in, "the leaf must come first");
	cat(&in, ec_crt,
	    "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n",
	    ec_key, NULL);
	expect_error(&in, "only PEM blocks");
	cat(&in, ec_crt, "-----BEGIN PRIVATE KEY-----\nAAAA\n", NULL, NULL);
	expect_error(&in, "unterminated PRIVATE KEY block");
	cat(&in, ec_crt, "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n", NULL, NULL);
	expect_error(&in, "empty PRIVATE KEY block");
	cat(&in, ec_crt, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", NULL,
	    NULL);
	expect_error(&in, "not a base64 line");
	cat(&in, ec_crt, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", NULL,
	    NULL);
	expect_error(&in, "private key does not parse");
	cat(&in, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", ec_key, NULL,
	    NULL);
	expect_error(&in, "certificate 1 of 1 does not parse");
	buf_wipe(&in);
}

static void test_oversize(void **state)
{
	struct buf in, out;
	char err[256];
	size_t want;

	(void)state;
	buf_init(&in);
	buf_init(&out);
	cat(&in, ec_crt, ca_crt, ec_key, NULL);
	want = in.len;
	assert_int_equal(run(&in, want, &out, NULL, err), 0);
	assert_int_equal(run(&in, want - 1, &out, NULL, err), -1);
	assert_non_null(strstr(err, "exceeds the limit"));
	assert_int_equal(out.len, 0);
	/* A base64 line longer than 80 characters. */
	insert_after_line(
	        &out, ec_crt, 1,
	        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	        "AAAAAAAAAA\n");
	cat(&in, buf_str(&out), ec_key, NULL, NULL);
	expect_error(&in, "not a base64 line");
	buf_wipe(&in);
	buf_wipe(&out);
}

static void test_pkcs8(void **state)
{
	struct pem_info a, b;
	struct buf in, clean, p8, out;
	char err[256];

	(void)state;
	buf_init(&in);
	buf_init(&clean);
	buf_init(&p8);
	buf_init(&out);
	cat(&in, rsa_crt, ca_crt, rsa_key, NULL);
	assert_int_equal(run(&in, 16384, &clean, &a, err), 0);
	assert_int_equal(pem_to_pkcs8(&clean, &p8, err, sizeof(err)), 0);
	assert_non_null(strstr(buf_str(&p8), "\n-----BEGIN PRIVATE KEY-----\n"));
	assert_null(strstr(buf_str(&p8), "RSA PRIVATE KEY"));
	assert_int_equal(pem_sanitize(p8.data, p8.len, 16384, &out, &b, err, sizeof(err)), 0);
	assert_string_equal(a.serial, b.serial);
	assert_int_equal(b.ncerts, 2);
	assert_int_equal(b.key_type, PEM_KEY_RSA);
	buf_wipe(&in);
	buf_wipe(&clean);
	buf_wipe(&p8);
	buf_wipe(&out);
}

/* Append to <out> a fresh self-signed ECDSA P-256 certificate with subject CN <cn> and the
 * subjectAltName <san> in OpenSSL's syntax ("DNS:a.example,DNS:*.b.example"; NULL: none),
 * then, when <key> is set, its private key. */
static void mk_cert(struct buf *out, const char *cn, const char *san, int key)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *subj = X509_NAME_new();
	BIO *bio = BIO_new(BIO_s_mem());
	X509_EXTENSION *ext;
	X509V3_CTX ctx;
	char *p;
	long n;

	assert_non_null(pk);
	assert_non_null(x);
	assert_non_null(subj);
	assert_non_null(bio);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
	                                            (const unsigned char *)cn, -1, -1, 0),
	                 1);
	assert_int_equal(X509_set_subject_name(x, subj), 1);
	assert_int_equal(X509_set_issuer_name(x, subj), 1);
	assert_int_equal(X509_set_pubkey(x, pk), 1);
	if (san) {
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
		assert_non_null(ext);
		assert_int_equal(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	if (key)
		assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &p);
	assert_int_equal(buf_append(out, p, (size_t)n), 0);
	BIO_free(bio);
	X509_NAME_free(subj);
	X509_free(x);
	EVP_PKEY_free(pk);
}

/* What the last covers() call got as the SAN list. */
static char covers_sans[512];

/* Sanitise a certificate for <cn>/<san> (then a chain certificate with <chain_san> when not
 * NULL, then the leaf's key) and return pem_leaf_covers(<name>) with a <sanssz> SAN list in
 * covers_sans. */
static int covers_n(const char *cn, const char *san, const char *chain_san, const char *name,
                    size_t sanssz)
{
	struct buf leaf, in, clean;
	char err[256] = "";
	const char *k;
	int rc;

	buf_init(&leaf);
	buf_init(&in);
	buf_init(&clean);
	mk_cert(&leaf, cn, san, 1);
	k = strstr(buf_str(&leaf), "-----BEGIN PRIVATE KEY-----");
	assert_non_null(k);
	assert_int_equal(buf_append(&in, leaf.data, (size_t)(k - buf_str(&leaf))), 0);
	if (chain_san)
		mk_cert(&in, "chain", chain_san, 0);
	assert_int_equal(buf_append_str(&in, k), 0);
	if (pem_sanitize(in.data, in.len, 65536, &clean, NULL, err, sizeof(err)) < 0)
		fail_msg("sanitize: %s", err);
	assert_true(sanssz <= sizeof(covers_sans));
	rc = pem_leaf_covers(&clean, name, covers_sans, sanssz, err, sizeof(err));
	if (rc < 0)
		fail_msg("pem_leaf_covers: %s", err);
	buf_wipe(&leaf);
	buf_wipe(&in);
	buf_wipe(&clean);
	return rc;
}

static int covers(const char *cn, const char *san, const char *chain_san, const char *name)
{
	return covers_n(cn, san, chain_san, name, sizeof(covers_sans));
}

static void test_leaf_covers(void **state)
{
	(void)state;
	/* exact names, case-insensitive, any of several SANs */
	assert_int_equal(covers("x", "DNS:a.example", NULL, "a.example"), 1);
	assert_string_equal(covers_sans, "a.example");
	assert_int_equal(covers("x", "DNS:A.Example", NULL, "a.example"), 1);
	assert_int_equal(
	        covers("x", "DNS:b.example,DNS:c.example,DNS:a.example", NULL, "a.example"), 1);
	assert_string_equal(covers_sans, "b.example, c.example, a.example");
	/* another name, a parent, a child */
	assert_int_equal(covers("x", "DNS:b.example", NULL, "a.example"), 0);
	assert_string_equal(covers_sans, "b.example");
	assert_int_equal(covers("x", "DNS:example.com", NULL, "www.example.com"), 0);
	assert_int_equal(covers("x", "DNS:www.example.com", NULL, "example.com"), 0);
	/* a wildcard covers exactly one label (RFC 6125 §6.4.3) */
	assert_int_equal(covers("x", "DNS:*.example.com", NULL, "www.example.com"), 1);
	assert_string_equal(covers_sans, "*.example.com");
	assert_int_equal(covers("x", "DNS:*.example.com", NULL, "example.com"), 0);
	assert_int_equal(covers("x", "DNS:*.example.com", NULL, "a.b.example.com"), 0);
	assert_int_equal(covers("x", "DNS:*.example.com", NULL, "www.example.org"), 0);
	/* no partial-label wildcard, none right under a TLD, none but in the left-most label */
	assert_int_equal(covers("x", "DNS:w*.example.com", NULL, "www.example.com"), 0);
	assert_int_equal(covers("x", "DNS:*.com", NULL, "example.com"), 0);
	assert_int_equal(covers("x", "DNS:www.*.com", NULL, "www.example.com"), 0);
	/* the subject CN is not a name: neither alone nor next to other SANs */
	assert_int_equal(covers("a.example", NULL, NULL, "a.example"), 0);
	assert_string_equal(covers_sans, "none");
	assert_int_equal(covers("a.example", "DNS:b.example", NULL, "a.example"), 0);
	/* an IP SAN is no DNS name; only the leaf counts, not the chain */
	assert_int_equal(covers("x", "IP:127.0.0.1", NULL, "a.example"), 0);
	assert_string_equal(covers_sans, "none");
	assert_int_equal(covers("x", "DNS:b.example", "DNS:a.example", "a.example"), 0);
	assert_string_equal(covers_sans, "b.example");
	/* the list is truncated with "..." */
	assert_int_equal(
	        covers_n("x", "DNS:aaaaaaaaaa.example,DNS:b.example", NULL, "b.example", 16), 1);
	assert_string_equal(covers_sans, "aaaaaaaaaa.e...");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_chain),
		cmocka_unit_test(test_normalised),
		cmocka_unit_test(test_injection_refused),
		cmocka_unit_test(test_order_and_structure),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_pkcs8),
		cmocka_unit_test(test_leaf_covers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
