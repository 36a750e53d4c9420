// SPDX-License-Identifier: MIT
/*
 * dns.c and dns01.c without a network: the RFC 8555 §8.4 TXT value (vector computed with
 * `openssl dgst -sha256 -binary | basenc --base64url`), server address parsing, the TSIG key
 * file (format, algorithm, mode), the challenge name's zone check and which names DNS-01 takes.
 * The RFC 2136 exchanges themselves run against Knot in tests/integration/37_issue_dns01.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cert-pusher/issuer/dns.h"
#include "cert-pusher/issuer/dns01.h"

static char key_path[64];

/* Write <text> to a fresh temporary file with <mode>; the path in key_path. */
static void write_key(const char *text, mode_t mode)
{
	int fd;

	snprintf(key_path, sizeof(key_path), "/tmp/test_dns.XXXXXX");
	fd = mkstemp(key_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_txt_value(void **state)
{
	char v[DNS_TXT_VALUE];

	(void)state;
	assert_int_equal(dns_txt_value("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA."
	                               "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI",
	                               v),
	                 0);
	assert_string_equal(v, "lCM7cZyQXcVHK2nnW3jjAhNT3Fvm18UN-kWZZknKoYM");
}

static void test_server_parse(void **state)
{
	struct dns_server s;
	char err[256];
	static const char *const bad[] = { "",
		                           "127.0.0.1",
		                           "127.0.0.1:0",
		                           "127.0.0.1:65536",
		                           "ns.example:53",
		                           "[::1:53",
		                           "::1:53",
		                           "127.0.0.1:53x",
		                           ":53" };
	size_t i;

	(void)state;
	assert_int_equal(dns_server_parse("127.0.0.1:5353", "--dns-update", &s, err, sizeof(err)),
	                 0);
	assert_string_equal(s.addr, "127.0.0.1");
	assert_int_equal(s.port, 5353);
	assert_int_equal(dns_server_parse("[::1]:53", "--dns-update", &s, err, sizeof(err)), 0);
	assert_string_equal(s.addr, "::1");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(dns_server_parse(bad[i], "--dns-auth", &s, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "--dns-auth"));
	}
}

static void test_conf_load(void **state)
{
	struct dns_conf dc;
	char err[512];

	(void)state;
	write_key("# comment\nhmac-sha256:upd.key:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\n", 0600);
	assert_int_equal(dns_conf_load(&dc, "127.0.0.1:53", key_path, "Preview.Example",
	                               "127.0.0.1:53,127.0.0.2:5300", err, sizeof(err)),
	                 0);
	assert_string_equal(dc.key_name, "upd.key.");
	assert_string_equal(dc.key_secret, "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0");
	assert_string_equal(dc.zone, "preview.example");
	assert_int_equal(dc.nauth, 2);
	assert_int_equal(dc.auth[1].port, 5300);
	dns_conf_deinit(&dc);
	unlink(key_path);

	/* group- or world-readable: refused */
	write_key("hmac-sha256:upd.key:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\n", 0644);
	assert_int_equal(dns_conf_load(&dc, "127.0.0.1:53", key_path, "preview.example", NULL, err,
	                               sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "--dns-tsig-key-file"));
	dns_conf_deinit(&dc);
	unlink(key_path);

	/* another algorithm, a short secret, two keys */
	write_key("hmac-md5:upd.key:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\n", 0600);
	assert_int_equal(
	        dns_conf_load(&dc, "127.0.0.1:53", key_path, "p.example", NULL, err, sizeof(err)),
	        -1);
	assert_non_null(strstr(err, "only hmac-sha256"));
	dns_conf_deinit(&dc);
	unlink(key_path);
	write_key("hmac-sha256:upd.key:c2VjcmV0\n", 0600);
	assert_int_equal(
	        dns_conf_load(&dc, "127.0.0.1:53", key_path, "p.example", NULL, err, sizeof(err)),
	        -1);
	dns_conf_deinit(&dc);
	unlink(key_path);
	write_key("hmac-sha256:a:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\nhmac-sha256:b:"
	          "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\n",
	          0600);
	assert_int_equal(
	        dns_conf_load(&dc, "127.0.0.1:53", key_path, "p.example", NULL, err, sizeof(err)),
	        -1);
	assert_non_null(strstr(err, "one key"));
	dns_conf_deinit(&dc);
	unlink(key_path);

	/* a missing piece names the options */
	assert_int_equal(
	        dns_conf_load(&dc, "127.0.0.1:53", NULL, "p.example", NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--dns-tsig-key-file"));
	dns_conf_deinit(&dc);
}

static void test_challenge_name(void **state)
{
	struct dns_conf dc;
	char out[300], err[256];

	(void)state;
	memset(&dc, 0, sizeof(dc));
	snprintf(dc.zone, sizeof(dc.zone), "preview.example");
	assert_int_equal(
	        dns_challenge_name(&dc, "preview.example", out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "_acme-challenge.preview.example");
	assert_int_equal(
	        dns_challenge_name(&dc, "A.Preview.Example", out, sizeof(out), err, sizeof(err)),
	        0);
	assert_string_equal(out, "_acme-challenge.a.preview.example");
	assert_int_equal(
	        dns_challenge_name(&dc, "xpreview.example", out, sizeof(out), err, sizeof(err)),
	        -1);
	assert_non_null(strstr(err, "outside the zone preview.example"));
	assert_int_equal(
	        dns_challenge_name(&dc, "other.example", out, sizeof(out), err, sizeof(err)), -1);
	assert_int_equal(dns_challenge_name(&dc, "bad name.preview.example", out, sizeof(out), err,
	                                    sizeof(err)),
	                 -1);
}

static void test_names(void **state)
{
	struct dns01 d;
	const char *why;

	(void)state;
	memset(&d, 0, sizeof(d));
	assert_true(dns01_name_valid(NULL, "a.example", &why));
	assert_false(dns01_name_valid(NULL, "*.example.com", &why));
	assert_non_null(strstr(why, "DNS-01"));
	assert_true(dns01_name_valid(&d, "*.example.com", &why));
	assert_false(dns01_name_valid(&d, "*.*.example.com", &why));
	assert_false(dns01_name_valid(&d, "*example.com", &why));
	assert_false(dns01_wanted(NULL, "*.example.com"));
	assert_true(dns01_wanted(&d, "*.example.com"));
	assert_false(dns01_wanted(&d, "a.example.com"));
	d.all = 1;
	assert_true(dns01_wanted(&d, "a.example.com"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt_value), cmocka_unit_test(test_server_parse),
		cmocka_unit_test(test_conf_load), cmocka_unit_test(test_challenge_name),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
