// SPDX-License-Identifier: MIT
/*
 * Unit tests for haproxy_rt.c's reply parsing, against replies captured from HAProxy 2.6.12 in
 * prompt mode (the raw bytes, "+ " continuation prompts and the trailing "\n> " included), and
 * its name checks. The I/O part is exercised by tests/integration/4x_*.sh with a real HAProxy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cert-pusher/edge/haproxy_rt.h"

/* Classify raw reply <raw> (as read from the socket) of <cmd> about <name>. */
static enum haproxy_rt_status cls(enum haproxy_rt_cmd cmd, const char *name, const char *raw,
                                  char *other)
{
	const char *body;
	size_t len;

	assert_true(haproxy_rt_reply_complete(raw, strlen(raw)));
	len = haproxy_rt_reply_body(raw, strlen(raw), &body);
	return haproxy_rt_classify(cmd, name, body, len, other, other ? 256 : 0);
}

static void test_reply_framing(void **state)
{
	const char *body;
	size_t len;

	(void)state;
	assert_true(haproxy_rt_reply_complete("\n> ", 3));
	assert_false(haproxy_rt_reply_complete("Committing a.b.ecdsa\n", 21));
	assert_false(haproxy_rt_reply_complete("> ", 2));
	assert_false(haproxy_rt_reply_complete("", 0));
	len = haproxy_rt_reply_body("\n> ", 3, &body);
	assert_int_equal(len, 0);
	len = haproxy_rt_reply_body("+ + + Transaction created for certificate a!\n\n> ", 48,
	                            &body);
	assert_int_equal(len, strlen("Transaction created for certificate a!"));
	assert_memory_equal(body, "Transaction created for certificate a!", len);
}

static void test_classify_success(void **state)
{
	char other[256];

	(void)state;
	assert_int_equal(cls(HAPROXY_RT_CMD_NEW, "a.example.ecdsa",
	                     "New empty certificate store 'a.example.ecdsa'!\n\n> ", NULL),
	                 HAPROXY_RT_OK);
	assert_int_equal(cls(HAPROXY_RT_CMD_SET, "a.example.ecdsa",
	                     "+ + + + + + + + + + + + + + + + Transaction created for certificate "
	                     "a.example.ecdsa!\n\n> ",
	                     other),
	                 HAPROXY_RT_OK);
	assert_int_equal(cls(HAPROXY_RT_CMD_SET, "a.example.ecdsa",
	                     "+ + + Transaction updated for certificate a.example.ecdsa!\n\n> ",
	                     other),
	                 HAPROXY_RT_OK);
	assert_int_equal(cls(HAPROXY_RT_CMD_COMMIT, "a.example.ecdsa",
	                     "Committing a.example.ecdsa\nSuccess!\n\n> ", NULL),
	                 HAPROXY_RT_OK);
	assert_int_equal(cls(HAPROXY_RT_CMD_COMMIT, "a.example.ecdsa",
	                     "Committing a.example.ecdsa...\nSuccess!\n\n> ", NULL),
	                 HAPROXY_RT_OK);
	assert_int_equal(cls(HAPROXY_RT_CMD_ABORT, "a.example.ecdsa",
	                     "Transaction aborted for certificate 'a.example.ecdsa'!\n\n> ", NULL),
	                 HAPROXY_RT_OK);
	assert_int_equal(cls(HAPROXY_RT_CMD_DEL_CERT, "b.example.ecdsa",
	                     "Certificate 'b.example.ecdsa' deleted!\n\n> ", NULL),
	                 HAPROXY_RT_OK);
	assert_int_equal(cls(HAPROXY_RT_CMD_ADD_CRTLIST, "c.example.rsa",
	                     "Inserting certificate 'c.example.rsa' in crt-list "
	                     "'/tmp/exp/t/crt-list'.\nSuccess!\n\n> ",
	                     NULL),
	                 HAPROXY_RT_OK);
	assert_int_equal(
	        cls(HAPROXY_RT_CMD_DEL_CRTLIST, "a.example.ecdsa",
	            "Entry 'a.example.ecdsa' deleted in crtlist '/tmp/exp/t/crt-list'!\n\n> ",
	            NULL),
	        HAPROXY_RT_OK);
}

/* HAProxy 2.6.12: `set ssl cert B` while A's transaction is open updates A's transaction. */
static void test_classify_wrong_transaction(void **state)
{
	char other[256] = "x";

	(void)state;
	assert_int_equal(
	        cls(HAPROXY_RT_CMD_SET, "b.example.ecdsa",
	            "+ + + + + + + + + + + + + + + + + Transaction updated for certificate "
	            "a.example.ecdsa!\n\n> ",
	            other),
	        HAPROXY_RT_WRONG_TXN);
	assert_string_equal(other, "a.example.ecdsa");
	assert_int_equal(cls(HAPROXY_RT_CMD_SET, "b.example.ecdsa",
	                     "Transaction created for certificate a.example.ecdsa!\n\n> ", other),
	                 HAPROXY_RT_WRONG_TXN);
	/* A name that is a prefix of ours is not ours. */
	assert_int_equal(cls(HAPROXY_RT_CMD_SET, "a.example.ecdsa",
	                     "Transaction updated for certificate a.example.ecds!\n\n> ", other),
	                 HAPROXY_RT_WRONG_TXN);
	assert_int_equal(cls(HAPROXY_RT_CMD_SET, "a.example.ecdsa",
	                     "Transaction updated for certificate a.example.ecdsa.x!\n\n> ", other),
	                 HAPROXY_RT_WRONG_TXN);
	/* 3.2+ refuses a second transaction. */
	assert_int_equal(
	        cls(HAPROXY_RT_CMD_SET, "b.example.ecdsa",
	            "The ongoing transaction is about 'a.example.ecdsa' but you are trying "
	            "to set 'b.example.ecdsa'\nCan't update b.example.ecdsa!\n\n> ",
	            other),
	        HAPROXY_RT_BUSY);
	assert_string_equal(other, "a.example.ecdsa");
	/* Extra text after our success line is not a success. */
	assert_int_equal(cls(HAPROXY_RT_CMD_SET, "a.example.ecdsa",
	                     "Transaction created for certificate a.example.ecdsa!\nUnknown "
	                     "command\n\n> ",
	                     other),
	                 HAPROXY_RT_ERROR);
}

static void test_classify_errors(void **state)
{
	(void)state;
	assert_int_equal(cls(HAPROXY_RT_CMD_NEW, "a.example.ecdsa",
	                     "Certificate 'a.example.ecdsa' already exists!\n\n> ", NULL),
	                 HAPROXY_RT_EXISTS);
	assert_int_equal(cls(HAPROXY_RT_CMD_SET, "nonexist.rsa",
	                     "+ + + Can't replace a certificate which is not referenced by the "
	                     "configuration!\nCan't update nonexist.rsa!\n\n> ",
	                     NULL),
	                 HAPROXY_RT_ERROR);
	assert_int_equal(cls(HAPROXY_RT_CMD_SET, "c.example.rsa",
	                     "+ + + + unable to load certificate from file 'c.example.rsa'.\nCan't "
	                     "load the payload\nCan't update c.example.rsa!\n\n> ",
	                     NULL),
	                 HAPROXY_RT_ERROR);
	assert_int_equal(cls(HAPROXY_RT_CMD_COMMIT, "c.example.rsa",
	                     "inconsistencies between private key and certificate loaded "
	                     "'c.example.rsa'.\nCan't commit c.example.rsa!\n\n> ",
	                     NULL),
	                 HAPROXY_RT_ERROR);
	assert_int_equal(cls(HAPROXY_RT_CMD_COMMIT, "zz",
	                     "No ongoing transaction! !\nCan't commit zz!\n\n> ", NULL),
	                 HAPROXY_RT_NOT_FOUND);
	assert_int_equal(cls(HAPROXY_RT_CMD_COMMIT, "a.example.ecdsa",
	                     "Committing a.example.ecdsa\nCan't commit!\nSuccess!\n\n> ", NULL),
	                 HAPROXY_RT_ERROR);
	assert_int_equal(cls(HAPROXY_RT_CMD_COMMIT, "a.example.ecdsa",
	                     "Committing b.example.ecdsa\nSuccess!\n\n> ", NULL),
	                 HAPROXY_RT_ERROR);
	assert_int_equal(cls(HAPROXY_RT_CMD_ABORT, "zz", "No ongoing transaction!\n\n> ", NULL),
	                 HAPROXY_RT_NOT_FOUND);
	assert_int_equal(cls(HAPROXY_RT_CMD_DEL_CERT, "a.example.ecdsa",
	                     "Can't remove the certificate: certificate 'a.example.ecdsa' in use, "
	                     "can't be deleted!\n\n\n> ",
	                     NULL),
	                 HAPROXY_RT_IN_USE);
	assert_int_equal(cls(HAPROXY_RT_CMD_DEL_CERT, "nonexist.rsa",
	                     "Can't remove the certificate: certificate 'nonexist.rsa' doesn't "
	                     "exist!\n\n\n> ",
	                     NULL),
	                 HAPROXY_RT_NOT_FOUND);
	assert_int_equal(cls(HAPROXY_RT_CMD_DEL_CRTLIST, "a.example.ecdsa",
	                     "Can't delete the entry: found the certificate 'a.example.ecdsa' in "
	                     "several entries, please specify a line number preceded by colons (1, "
	                     "2)!\n\n> ",
	                     NULL),
	                 HAPROXY_RT_DUPLICATE);
	assert_int_equal(cls(HAPROXY_RT_CMD_DEL_CRTLIST, "nonexist.rsa",
	                     "Can't delete the entry: certificate 'nonexist.rsa' does not "
	                     "exist!\n\n> ",
	                     NULL),
	                 HAPROXY_RT_NOT_FOUND);
	assert_int_equal(
	        cls(HAPROXY_RT_CMD_ADD_CRTLIST, "zzz.ecdsa",
	            "Can't edit the crt-list: certificate 'zzz.ecdsa' does not exist!\n\n> ", NULL),
	        HAPROXY_RT_NOT_FOUND);
	assert_int_equal(cls(HAPROXY_RT_CMD_ADD_CRTLIST, "b.example.ecdsa",
	                     "Can't edit the crt-list: certificate 'b.example.ecdsa' is "
	                     "empty!\n\n> ",
	                     NULL),
	                 HAPROXY_RT_ERROR);
	/* Unknown command output is never a success. */
	assert_int_equal(cls(HAPROXY_RT_CMD_NEW, "a.example.ecdsa",
	                     "Unknown command, but maybe one of the following ones is a better "
	                     "match:\n  help\n\n> ",
	                     NULL),
	                 HAPROXY_RT_ERROR);
	assert_int_equal(cls(HAPROXY_RT_CMD_ADD_CRTLIST, "a", "\n> ", NULL), HAPROXY_RT_ERROR);
}

static void test_parse_lists(void **state)
{
	static const char certs[] =
	        "# transaction\n*a.example.ecdsa\n# filename\n"
	        "/tmp/exp/t/fallback.pem\na.example.ecdsa\nb.example.ecdsa\n\n> ";
	static const char crtlist[] = "# /tmp/exp/t/crt-list\na.example.ecdsa\n"
	                              "c.example.rsa [alpn h2] c.example\na.example.ecdsa\n\n> ";
	struct strv c, t, e;
	const char *body;
	size_t len;

	(void)state;
	strv_init(&c);
	strv_init(&t);
	strv_init(&e);
	len = haproxy_rt_reply_body(certs, strlen(certs), &body);
	assert_int_equal(haproxy_rt_parse_cert_list(body, len, &c, &t), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.v[0], "/tmp/exp/t/fallback.pem");
	assert_string_equal(c.v[2], "b.example.ecdsa");
	assert_int_equal(t.n, 1);
	assert_string_equal(t.v[0], "a.example.ecdsa");
	assert_int_equal(strv_count(&c, "a.example.ecdsa"), 1);
	assert_int_equal(haproxy_rt_parse_cert_list("Permission denied", 17, &c, &t), -1);
	len = haproxy_rt_reply_body(crtlist, strlen(crtlist), &body);
	assert_int_equal(haproxy_rt_parse_crt_list(body, len, &e), 0);
	assert_int_equal(e.n, 3);
	assert_string_equal(e.v[1], "c.example.rsa");
	assert_int_equal(strv_count(&e, "a.example.ecdsa"), 2);
	assert_int_equal(haproxy_rt_parse_crt_list("didn't find the specified filename", 34, &e),
	                 -1);
	strv_deinit(&c);
	strv_deinit(&t);
	strv_deinit(&e);
	/* `show ssl crt-list -n`: the line of an entry, found by its exact name even when the
	 * path holds '(' and digits (the error text of a duplicate starts with it). */
	{
		const char *dump = "# /run/x(1)/crt-list\n"
		                   "/run/x(1)/a.example.ecdsa.pem.old:2\n"
		                   "/run/x(1)/a.example.ecdsa.pem:7 [alpn h2]\n"
		                   "/run/x(1)/a.example.ecdsa.pem:9\n";
		unsigned line = 0;

		assert_int_equal(haproxy_rt_parse_crt_list_line(dump, strlen(dump),
		                                                "/run/x(1)/a.example.ecdsa.pem",
		                                                &line),
		                 1);
		assert_int_equal(line, 7);
		assert_int_equal(haproxy_rt_parse_crt_list_line(dump, strlen(dump),
		                                                "/run/x(1)/b.example.ecdsa.pem",
		                                                &line),
		                 0);
		assert_int_equal(haproxy_rt_parse_crt_list_line("Unknown\n", 8, "/a", &line), -1);
	}
}

static void test_parse_cert_info(void **state)
{
	static const char used[] =
	        "Filename: c.example.rsa\nStatus: Used\nSerial: "
	        "1E049328DB5D47F1DD015908451CA8E33B854E78\nnotBefore: Nov 29 03:44:56 2026 GMT\n"
	        "notAfter: Dec 29 03:44:56 2026 GMT\nSubject Alternative Name: \nAlgorithm: "
	        "RSA2048\nSHA1 FingerPrint: A66656F5F21CE3152161F5CD3BEF793D87C69A65\nSubject: "
	        "/CN=c.example\nIssuer: /CN=c.example\nChain Subject: /CN=ca\nChain Issuer: "
	        "/CN=ca\nSerial: 01\nOCSP Response Key: \n\n> ";
	static const char empty[] = "Filename: b.example.ecdsa\nStatus: Empty\nOCSP Response "
	                            "Key: \n\n> ";
	static const char nf[] = "Can't display the certificate: Not found or the certificate is "
	                         "a bundle!\n\n> ";
	struct haproxy_rt_cert_info info;
	const char *body;
	size_t len;

	(void)state;
	len = haproxy_rt_reply_body(used, strlen(used), &body);
	assert_int_equal(haproxy_rt_parse_cert_info(body, len, &info), HAPROXY_RT_OK);
	assert_string_equal(info.status, "Used");
	assert_string_equal(info.serial, "1E049328DB5D47F1DD015908451CA8E33B854E78");
	assert_string_equal(info.not_after, "Dec 29 03:44:56 2026 GMT");
	assert_string_equal(info.sha1, "A66656F5F21CE3152161F5CD3BEF793D87C69A65");
	len = haproxy_rt_reply_body(empty, strlen(empty), &body);
	assert_int_equal(haproxy_rt_parse_cert_info(body, len, &info), HAPROXY_RT_OK);
	assert_string_equal(info.status, "Empty");
	assert_string_equal(info.serial, "");
	len = haproxy_rt_reply_body(nf, strlen(nf), &body);
	assert_int_equal(haproxy_rt_parse_cert_info(body, len, &info), HAPROXY_RT_NOT_FOUND);
	assert_int_equal(haproxy_rt_parse_cert_info("Unknown command", 15, &info),
	                 HAPROXY_RT_ERROR);
}

static void test_parse_info(void **state)
{
	static const char info[] = "Name: HAProxy\nVersion: 2.6.12-1+deb12u4\nNbthread: 2\n"
	                           "Pid: 6761\nUptime: 0d 0h00m09s\nUptime_sec: 9\nMemmax_MB: 0\n";
	uint64_t pid = 0, up = 0;

	(void)state;
	assert_int_equal(haproxy_rt_parse_info(info, strlen(info), &pid, &up), 0);
	assert_int_equal(pid, 6761);
	assert_int_equal(up, 9);
	assert_int_equal(haproxy_rt_parse_info("Pid: 12\n", 8, &pid, &up), -1);
	assert_int_equal(haproxy_rt_parse_info("Pid: 12x\nUptime_sec: 1\n", 23, &pid, &up), -1);
	assert_int_equal(
	        haproxy_rt_parse_info("Pid: 99999999999999999999\nUptime_sec: 1\n", 41, &pid, &up),
	        -1);
}

static void test_names(void **state)
{
#define D "/run/spoacme"
	enum pem_key_type t;
	size_t hl, off;

	(void)state;
	assert_true(haproxy_rt_name_valid("a.example.ecdsa"));
	assert_true(haproxy_rt_name_valid("under_score-1.rsa"));
	assert_true(haproxy_rt_name_valid("/run/spoacme/a.example.ecdsa.pem"));
	assert_true(haproxy_rt_name_valid("/dev/shm/Mixed.Case/x.pem"));
	assert_false(haproxy_rt_name_valid(""));
	assert_false(haproxy_rt_name_valid("a.example:1"));
	assert_false(haproxy_rt_name_valid("/run/a:b/x.pem"));
	assert_false(haproxy_rt_name_valid("*a.example.ecdsa"));
	assert_false(haproxy_rt_name_valid("a.example.ecdsa;show info"));
	assert_false(haproxy_rt_name_valid("a example"));
	assert_false(haproxy_rt_name_valid("/run/x'y.pem"));
	assert_false(haproxy_rt_name_valid("a\nb"));
	assert_true(haproxy_rt_name_managed(D, D "/a.example.ecdsa.pem", &off, &hl, &t));
	assert_int_equal(off, strlen(D) + 1);
	assert_int_equal(hl, 9);
	assert_int_equal(t, PEM_KEY_ECDSA);
	assert_true(haproxy_rt_name_managed(D, D "/xn--bcher-kva.example.rsa.pem", NULL, &hl, &t));
	assert_int_equal(hl, 21);
	assert_int_equal(t, PEM_KEY_RSA);
	assert_false(haproxy_rt_name_managed(D, D "/a.example.ecdsa", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, D "/a.example.pem", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, D "/example.ecdsa.pem", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, D "/.ecdsa.pem", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, D "/ecdsa.pem", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, D "/a.example.dsa.pem", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, D "/a.example.ECDSA.pem", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, D "/A.example.rsa.pem", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, D "/a..example.rsa.pem", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, D "/-a.example.rsa.pem", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, D "/sub/a.example.rsa.pem", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, D "x/a.example.rsa.pem", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, "/other/a.example.rsa.pem", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, "a.example.ecdsa", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, "/tmp/fallback.pem", NULL, NULL, NULL));
	assert_false(
	        haproxy_rt_name_managed(D, D "/a.1.rsa.pem", NULL, NULL, NULL)); /* numeric TLD */
	/* a wildcard's file form: '_' for '*', reversible; a raw '*' is still recognised */
	{
		char h[32];

		assert_int_equal(haproxy_rt_host_escape("*.w.example", h, sizeof(h)), 0);
		assert_string_equal(h, "_.w.example");
		haproxy_rt_host_unescape(h);
		assert_string_equal(h, "*.w.example");
		assert_int_equal(haproxy_rt_host_escape("a.example", h, sizeof(h)), 0);
		assert_string_equal(h, "a.example");
		assert_int_equal(haproxy_rt_host_escape("*.w.example", h, 11), -1);
	}
	assert_true(haproxy_rt_name_managed(D, D "/_.w.example.ecdsa.pem", &off, &hl, &t));
	assert_int_equal(hl, 11);
	assert_true(haproxy_rt_name_managed(D, D "/*.w.example.rsa.pem", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, D "/_.example.ecdsa.pem", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, D "/_a.example.ecdsa.pem", NULL, NULL, NULL));
	assert_false(haproxy_rt_name_managed(D, D "/a._.example.ecdsa.pem", NULL, NULL, NULL));
	assert_true(haproxy_rt_path_valid("/etc/haproxy/spoacme/crt-list"));
	assert_false(haproxy_rt_path_valid("/etc/crt list"));
	assert_false(haproxy_rt_path_valid("/etc/crt-list;show info"));
	assert_false(haproxy_rt_path_valid("/etc/crt\\list"));
	assert_false(haproxy_rt_path_valid(""));
#undef D
}

/* Oversize requests and bad names are refused before any connection is attempted. */
static void test_refused_before_sending(void **state)
{
	struct haproxy_rt rt;
	struct buf payload, reply;
	char err[256];
	size_t i;

	(void)state;
	buf_init(&payload);
	buf_init(&reply);
	assert_int_equal(
	        haproxy_rt_init(&rt, "/nonexistent/haproxy.sock", 4096, 1000, err, sizeof(err)), 0);
	for (i = 0; i < 4096; i += 64)
		assert_int_equal(buf_append_str(&payload,
		                                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		                                "AAAAAAAAAAAAAAAAAA\n"),
		                 0);
	assert_int_equal(haproxy_rt_cmd(&rt, "set ssl cert a.example.ecdsa", &payload, &reply, err,
	                                sizeof(err)),
	                 HAPROXY_RT_ERROR);
	assert_non_null(strstr(err, "tune.bufsize"));
	assert_int_equal(rt.opens, 0);
	assert_int_equal(haproxy_rt_set_cert(&rt, "a.example.ecdsa\nshow info", &payload, NULL, 0,
	                                     err, sizeof(err)),
	                 HAPROXY_RT_ERROR);
	assert_non_null(strstr(err, "refusing certificate name"));
	assert_int_equal(haproxy_rt_add_crtlist(&rt, "/x;y", "a.example.ecdsa", err, sizeof(err)),
	                 HAPROXY_RT_ERROR);
	assert_int_equal(rt.opens, 0);
	/* haproxy_rt_cmd() refuses by itself what would be read as more than one command. */
	{
		static const char *const cmds[] = { "show info\nshow sess", "show info\r",
			                            "show info; shutdown sessions", "",
			                            "show\tinfo" };
		static const char *const bad[] = { "AAAA\n\nshow info\n", "AAAA\r\n", "\nAAAA\n",
			                           "AAAA" };
		struct buf p;

		for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
			assert_int_equal(
			        haproxy_rt_cmd(&rt, cmds[i], NULL, &reply, err, sizeof(err)),
			        HAPROXY_RT_ERROR);
			assert_non_null(strstr(err, "not one printable line"));
		}
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			buf_init(&p);
			assert_int_equal(buf_append_str(&p, bad[i]), 0);
			assert_int_equal(haproxy_rt_cmd(&rt, "set ssl cert a.example.ecdsa", &p,
			                                &reply, err, sizeof(err)),
			                 HAPROXY_RT_ERROR);
			assert_non_null(strstr(err, "payload"));
			buf_deinit(&p);
		}
		buf_init(&p);
		assert_int_equal(buf_append(&p, "AA\0A\n", 5), 0);
		assert_int_equal(haproxy_rt_cmd(&rt, "set ssl cert a.example.ecdsa", &p, &reply,
		                                err, sizeof(err)),
		                 HAPROXY_RT_ERROR);
		buf_deinit(&p);
	}
	assert_int_equal(rt.opens, 0);
	/* A small command goes out and fails to connect. */
	assert_int_equal(haproxy_rt_cmd(&rt, "show info", NULL, &reply, err, sizeof(err)),
	                 HAPROXY_RT_IO);
	assert_non_null(strstr(err, "connect"));
	haproxy_rt_deinit(&rt);
	assert_int_equal(haproxy_rt_init(&rt, "", 4096, 1000, err, sizeof(err)), -1);
	haproxy_rt_deinit(&rt);
	buf_deinit(&payload);
	buf_deinit(&reply);
}

/* Read one line of <fd> into <line> (without its newline, cut at <sz> - 1). 1, or 0 at EOF. */
static int fake_read_line(int fd, char *line, size_t sz)
{
	size_t n = 0;
	char c;

	for (;;) {
		if (read(fd, &c, 1) != 1)
			return 0;
		if (c == '\n')
			break;
		if (n < sz - 1)
			line[n++] = c;
	}
	line[n] = 0;
	return 1;
}

/* A fake runtime API on <path> for one session: "prompt", "set timeout cli", then <locked>
 * times the lock refusal to the first certificate command before it succeeds, each refusal
 * <delay_ms> late. Child process. */
static void fake_haproxy(int lfd, int locked, int delay_ms)
{
	char line[512];
	int fd = accept(lfd, NULL, NULL);

	if (fd < 0)
		_exit(1);
	while (fake_read_line(fd, line, sizeof(line))) {
		const char *ans;

		if (!strcmp(line, "prompt") || !strncmp(line, "set timeout cli", 15))
			ans = "\n> ";
		else if (locked-- > 0) {
			ans = HAPROXY_RT_LOCKED "\n\n> ";
			usleep(delay_ms * 1000);
		} else
			ans = "Committing a.example.ecdsa\nSuccess!\n\n> ";
		if (write(fd, ans, strlen(ans)) < 0)
			_exit(1);
	}
	_exit(0);
}

/* "currently locked" answers are retried until HAProxy takes the command; within the timeout.
 * Locked for good, with each refusal 150 ms late against a 400 ms timeout: the budget runs out
 * while the third attempt is in flight, and the answer is still the lock, not an I/O error. */
static void test_lock_retry(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct haproxy_rt rt;
	char dir[] = "/tmp/test_haproxy_rt.XXXXXX", err[256];
	int lfd, round, status;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s.sock", dir);
	for (round = 0; round < 2; round++) {
		lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_true(lfd >= 0);
		unlink(sun.sun_path);
		assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
		assert_int_equal(listen(lfd, 1), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			fake_haproxy(lfd, round == 0 ? 3 : 1000000, round == 0 ? 0 : 150);
		close(lfd);
		assert_int_equal(haproxy_rt_init(&rt, sun.sun_path, 16384, round == 0 ? 5000 : 400,
		                                 err, sizeof(err)),
		                 0);
		if (round == 0) {
			/* locked three times, then committed */
			assert_int_equal(
			        haproxy_rt_commit_cert(&rt, "a.example.ecdsa", err, sizeof(err)),
			        HAPROXY_RT_OK);
			assert_int_equal(rt.lock_waits, 3);
		} else {
			/* locked for good: an error naming the lock once the timeout is spent */
			assert_int_equal(
			        haproxy_rt_commit_cert(&rt, "a.example.ecdsa", err, sizeof(err)),
			        HAPROXY_RT_ERROR);
			assert_non_null(strstr(err, "currently locked"));
			/* and what can keep it locked that long */
			assert_non_null(strstr(err, "a reload clears it"));
			assert_true(rt.lock_waits >= 2);
		}
		haproxy_rt_deinit(&rt);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
	}
	unlink(sun.sun_path);
	rmdir(dir);
}

/* A fake runtime API for pipelined commands: after "prompt" and "set timeout cli", answers each
 * command with a 2 KB reply that names it (and "+ " per payload line, as HAProxy's prompt mode
 * does), with blocking writes: a client that does not read while it writes deadlocks it. */
static void fake_batch_haproxy(int lfd)
{
	char line[8192], pad[2048];
	int fd = accept(lfd, NULL, NULL), payload = 0;
	FILE *out;

	if (fd < 0)
		_exit(1);
	out = fdopen(dup(fd), "w");
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = 0;
	while (fake_read_line(fd, line, sizeof(line))) {
		if (payload) {
			if (line[0]) {
				fputs("+ ", out);
				continue;
			}
			payload = 0;
			fputs("Transaction created!\n\n> ", out);
		} else if (!strcmp(line, "prompt") || !strncmp(line, "set timeout cli", 15)) {
			fputs("\n> ", out);
		} else if (strstr(line, " <<")) {
			payload = 1;
			fprintf(out, "%.60s\n", line);
			continue;
		} else {
			fprintf(out, "reply to '%s'\n%s\n\n> ", line, pad);
		}
		fflush(out);
	}
	_exit(0);
}

/* Hundreds of commands with payloads in one stream: every reply comes back to its command, in
 * order, although neither side's buffers hold the whole exchange. */
static void test_batch(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct haproxy_rt_batch b;
	struct haproxy_rt rt;
	struct buf pem;
	char dir[] = "/tmp/test_haproxy_rt.XXXXXX", err[256], name[64], want[96];
	const char *body;
	size_t len, i;
	int lfd, status;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s.sock", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		fake_batch_haproxy(lfd);
	close(lfd);
	assert_int_equal(haproxy_rt_init(&rt, sun.sun_path, 32768, 5000, err, sizeof(err)), 0);
	buf_init(&pem);
	for (i = 0; i < 60; i++)
		assert_int_equal(
		        buf_append_str(
		                &pem,
		                "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkwMTIzNDU2Nzg5MA==\n"),
		        0);
	haproxy_rt_batch_init(&b);
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "/run/spoacme/h%zu.example.ecdsa.pem", i);
		assert_int_equal(
		        haproxy_rt_batch_add(&b, &rt, i % 2 ? "set ssl cert" : "show ssl cert",
		                             name, NULL, i % 2 ? &pem : NULL, err, sizeof(err)),
		        (long)i);
	}
	/* refused before sending: a name with a space, a payload with an empty line */
	assert_int_equal(
	        haproxy_rt_batch_add(&b, &rt, "show ssl cert", "a b", NULL, NULL, err, sizeof(err)),
	        -1);
	assert_int_equal(buf_append_str(&pem, "\nshow info\n"), 0);
	assert_int_equal(haproxy_rt_batch_add(&b, &rt, "set ssl cert", "/run/x.pem", NULL, &pem,
	                                      err, sizeof(err)),
	                 -1);
	assert_int_equal(b.n, 300);
	assert_int_equal(haproxy_rt_batch_run(&rt, &b, err, sizeof(err)), HAPROXY_RT_OK);
	for (i = 0; i < 300; i++) {
		body = haproxy_rt_batch_reply(&b, i, &len);
		snprintf(name, sizeof(name), "/run/spoacme/h%zu.example.ecdsa.pem", i);
		if (i % 2) {
			/* the "+ " prompts are skipped, the reply is the payload's end */
			assert_non_null(memmem(body, len, "Transaction created!", 20));
		} else {
			snprintf(want, sizeof(want), "reply to 'show ssl cert %s'", name);
			assert_true(len > strlen(want) && !memcmp(body, want, strlen(want)));
		}
	}
	haproxy_rt_batch_deinit(&b);
	buf_deinit(&pem);
	haproxy_rt_deinit(&rt);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(sun.sun_path);
	rmdir(dir);
}

/* The probe: `show info` without prompt on a connection of its own; nothing listening is an
 * I/O error, another answer an error. */
static void test_probe(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct haproxy_rt rt;
	char dir[] = "/tmp/test_haproxy_rt.XXXXXX", err[256], line[64];
	uint64_t pid_v = 0, up = 0;
	int lfd, fd, round, status;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s.sock", dir);
	assert_int_equal(haproxy_rt_init(&rt, sun.sun_path, 16384, 1000, err, sizeof(err)), 0);
	assert_int_equal(haproxy_rt_probe(&rt, &pid_v, &up, err, sizeof(err)), HAPROXY_RT_IO);
	assert_non_null(strstr(err, "connect"));
	for (round = 0; round < 2; round++) {
		lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		unlink(sun.sun_path);
		assert_int_equal(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
		assert_int_equal(listen(lfd, 1), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			const char *ans = round ? "Unknown command.\n"
			                        : "Name: HAProxy\nPid: 4242\nUptime_sec: 17\n";

			fd = accept(lfd, NULL, NULL);
			if (fd < 0 || read(fd, line, sizeof(line)) <= 0 ||
			    write(fd, ans, strlen(ans)) < 0)
				_exit(1);
			_exit(0); /* without prompt, HAProxy closes after one answer */
		}
		close(lfd);
		if (round == 0) {
			assert_int_equal(haproxy_rt_probe(&rt, &pid_v, &up, err, sizeof(err)),
			                 HAPROXY_RT_OK);
			assert_int_equal(pid_v, 4242);
			assert_int_equal(up, 17);
			assert_int_equal(rt.fd, -1); /* the session was never opened */
		} else {
			assert_int_equal(haproxy_rt_probe(&rt, &pid_v, &up, err, sizeof(err)),
			                 HAPROXY_RT_ERROR);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
	}
	haproxy_rt_deinit(&rt);
	unlink(sun.sun_path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_framing),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_classify_success),
		cmocka_unit_test(test_classify_wrong_transaction),
		cmocka_unit_test(test_classify_errors),
		cmocka_unit_test(test_parse_lists),
		cmocka_unit_test(test_parse_cert_info),
		cmocka_unit_test(test_parse_info),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_refused_before_sending),
		cmocka_unit_test(test_lock_retry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
