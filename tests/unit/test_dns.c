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
#include <ldns/ldns.h>

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
	int in_zone = -1;

	(void)state;
	memset(&dc, 0, sizeof(dc));
	snprintf(dc.zone, sizeof(dc.zone), "preview.example");
	assert_int_equal(dns_challenge_name(&dc, "preview.example", out, sizeof(out), &in_zone, err,
	                                    sizeof(err)),
	                 0);
	assert_string_equal(out, "_acme-challenge.preview.example");
	assert_int_equal(in_zone, 1);
	assert_int_equal(dns_challenge_name(&dc, "A.Preview.Example", out, sizeof(out), &in_zone,
	                                    err, sizeof(err)),
	                 0);
	assert_string_equal(out, "_acme-challenge.a.preview.example");
	assert_int_equal(in_zone, 1);
	/* outside the zone: delegated, not refused */
	assert_int_equal(dns_challenge_name(&dc, "xpreview.example", out, sizeof(out), &in_zone,
	                                    err, sizeof(err)),
	                 0);
	assert_int_equal(in_zone, 0);
	assert_int_equal(dns_challenge_name(&dc, "other.example", out, sizeof(out), &in_zone, err,
	                                    sizeof(err)),
	                 0);
	assert_int_equal(in_zone, 0);
	assert_int_equal(dns_challenge_name(&dc, "bad name.preview.example", out, sizeof(out), NULL,
	                                    err, sizeof(err)),
	                 -1);
	assert_true(dns_in_zone("preview.example", "preview.example"));
	assert_true(dns_in_zone("preview.example", "a.b.preview.example"));
	assert_false(dns_in_zone("preview.example", "xpreview.example"));
	assert_false(dns_in_zone("preview.example", "example"));
}

static void test_delegation_target(void **state)
{
	char out[300];

	(void)state;
	/* base32(SHA-256("customer.example")[0..10)), lowercase: stable, documented */
	assert_int_equal(
	        dns_delegation_target("preview.example", "customer.example", out, sizeof(out)), 0);
	assert_string_equal(out, "kxi4utdgvrxvb3xl.acme-delegation.preview.example");
	assert_int_equal(
	        dns_delegation_target("preview.example", "Customer.Example", out, sizeof(out)), 0);
	assert_string_equal(out, "kxi4utdgvrxvb3xl.acme-delegation.preview.example");
	assert_int_equal(dns_delegation_target("preview.example", "customer.example", out, 20), -1);
	assert_int_equal(dns_delegation_target("preview.example", "", out, sizeof(out)), -1);
}

/* A reply to TXT/CNAME <name> built with ldns, as wire bytes. */
static size_t test_reply(const char *const *rrs, uint8_t **wire)
{
	ldns_pkt *p = ldns_pkt_new();
	size_t len = 0, i;
	ldns_rr *rr;

	assert_non_null(p);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_aa(p, true);
	for (i = 0; rrs[i]; i++) {
		assert_int_equal(ldns_rr_new_frm_str(&rr, rrs[i], 0, NULL, NULL), LDNS_STATUS_OK);
		assert_true(ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr));
	}
	assert_int_equal(ldns_pkt2wire(wire, p, &len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	return len;
}

static void test_reply_examine(void **state)
{
	static const char *const txt[] = {
		"_acme-challenge.a.example. 60 IN TXT \"other\"",
		"_acme-challenge.a.example. 60 IN TXT \"abc\" \"def\"", /* split strings join */
		NULL
	};
	static const char *const cname[] = {
		"_acme-challenge.a.example. 60 IN CNAME X.Acme-Delegation.Preview.Example.", NULL
	};
	static const char *const elsewhere[] = { "b.example. 60 IN TXT \"abcdef\"",
		                                 "b.example. 60 IN CNAME c.example.", NULL };
	char target[300] = "";
	uint8_t *wire = NULL;
	size_t len;

	(void)state;
	len = test_reply(txt, &wire);
	assert_int_equal(dns_reply_examine(wire, len, "_acme-challenge.a.example", "abcdef", target,
	                                   sizeof(target)),
	                 2);
	assert_int_equal(dns_reply_examine(wire, len, "_acme-challenge.a.example", "abc", target,
	                                   sizeof(target)),
	                 0);
	assert_int_equal(dns_reply_examine(wire, len / 2, "_acme-challenge.a.example", "abc",
	                                   target, sizeof(target)),
	                 -1);
	free(wire);
	len = test_reply(cname, &wire);
	assert_int_equal(dns_reply_examine(wire, len, "_acme-challenge.a.example", "abcdef", target,
	                                   sizeof(target)),
	                 1);
	assert_string_equal(target, "x.acme-delegation.preview.example");
	free(wire);
	len = test_reply(elsewhere, &wire); /* records of another owner do not count */
	assert_int_equal(dns_reply_examine(wire, len, "_acme-challenge.a.example", "abcdef", target,
	                                   sizeof(target)),
	                 0);
	free(wire);
}

static void test_wildcard_allowed(void **state)
{
	struct conf *c = conf_new();
	char msg[768];

	(void)state;
	assert_non_null(c);
	/* no DNS-01 configured: refused, saying why */
	assert_int_equal(dns01_wildcard_allowed(c, "*.a.example", msg, sizeof(msg)), 0);
	assert_non_null(strstr(msg, "a wildcard needs DNS-01"));
	assert_int_equal(conf_set(c, "dns-update", "127.0.0.1:53", 0), 0);
	assert_int_equal(conf_set(c, "preview-domain", "preview.example", 0), 0);
	/* inside the zone: written directly, nothing asked */
	assert_int_equal(dns01_wildcard_allowed(c, "*.preview.example", msg, sizeof(msg)), 1);
	assert_int_equal(dns01_wildcard_allowed(c, "*.shop.preview.example", msg, sizeof(msg)), 1);
	/* not a hostname under the '*.' */
	assert_int_equal(dns01_wildcard_allowed(c, "*.*.preview.example", msg, sizeof(msg)), 0);
	assert_int_equal(dns01_wildcard_allowed(c, "*.Preview.example", msg, sizeof(msg)), 0);
	/* a bad --dns-resolver is a configuration error, not a refusal */
	assert_int_equal(conf_set(c, "dns-resolver", "resolver.example:53", 0), 0);
	assert_int_equal(dns01_wildcard_allowed(c, "*.customer.example", msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "--dns-resolver"));
	conf_free(c);
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
		cmocka_unit_test(test_txt_value),         cmocka_unit_test(test_server_parse),
		cmocka_unit_test(test_conf_load),         cmocka_unit_test(test_challenge_name),
		cmocka_unit_test(test_delegation_target), cmocka_unit_test(test_reply_examine),
		cmocka_unit_test(test_wildcard_allowed),  cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
