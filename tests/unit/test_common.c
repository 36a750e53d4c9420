// SPDX-License-Identifier: MIT
/*
 * Unit tests for the shared common/ modules (b64url, names, parse, buf, keys) and for
 * cert-pusher/conf.c's file loader: the RFC 4648 vectors in the url alphabet, every hostname
 * rule with its reason, strict number/duration/endpoint parsing at each boundary, buffer growth,
 * the Redis key names of DESIGN.md, and config files with comments, unknown options and flags
 * that win over the file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cert-pusher/conf.h"
#include "common/b64url.h"
#include "common/buf.h"
#include "common/file.h"
#include "common/keys.h"
#include "common/names.h"
#include "common/parse.h"

/* ---- b64url ---- */

struct b64_vec {
	const char *plain;
	size_t plain_len;
	const char *enc;
};

/* RFC 4648 §10 without the padding (§5 url alphabet, as JOSE uses it), plus bytes whose
 * encoding needs '-' and '_' where the standard alphabet has '+' and '/'. */
static const struct b64_vec b64_vecs[] = {
	{ "", 0, "" },
	{ "f", 1, "Zg" },
	{ "fo", 2, "Zm8" },
	{ "foo", 3, "Zm9v" },
	{ "foob", 4, "Zm9vYg" },
	{ "fooba", 5, "Zm9vYmE" },
	{ "foobar", 6, "Zm9vYmFy" },
	{ "\xfb\xff", 2, "-_8" },
	{ "\xfb\xef\xbe", 3, "----" },
	{ "\xff\xff\xff", 3, "____" },
	{ "\x00\x00\x00\x00", 4, "AAAAAA" },
};

static void test_b64url_vectors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(b64_vecs) / sizeof(b64_vecs[0]); i++) {
		const struct b64_vec *v = &b64_vecs[i];
		struct buf b;

		buf_init(&b);
		assert_int_equal(b64url_encode(&b, v->plain, v->plain_len), 0);
		assert_string_equal(buf_str(&b), v->enc);
		assert_int_equal(b.len, strlen(v->enc));
		buf_deinit(&b);

		assert_int_equal(b64url_decode(&b, v->enc, strlen(v->enc)), 0);
		assert_int_equal(b.len, v->plain_len);
		if (v->plain_len)
			assert_memory_equal(b.data, v->plain, v->plain_len);
		buf_deinit(&b);
	}
}

/* Encoding appends; decoding of every length round-trips. */
static void test_b64url_roundtrip(void **state)
{
	uint8_t raw[70];
	struct buf enc, dec;
	size_t n, i;

	(void)state;
	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 37 + 11);
	for (n = 0; n <= sizeof(raw); n++) {
		buf_init(&enc);
		buf_init(&dec);
		assert_int_equal(buf_append_str(&enc, "x."), 0);
		assert_int_equal(b64url_encode(&enc, raw, n), 0);
		assert_int_equal(enc.len, 2 + (4 * n + 2) / 3);
		assert_true(b64url_alphabet_only((const char *)enc.data + 2, enc.len - 2));
		assert_int_equal(buf_append(&dec, "y", 1), 0);
		assert_int_equal(b64url_decode(&dec, (const char *)enc.data + 2, enc.len - 2), 0);
		assert_int_equal(dec.len, 1 + n);
		assert_memory_equal(dec.data + 1, raw, n);
		buf_deinit(&enc);
		buf_deinit(&dec);
	}
}

static void test_b64url_rejects(void **state)
{
	static const char *const bad[] = {
		"Zm9v+g",          /* standard alphabet */
		"Zm9v/g", "Zg==",  /* padding */
		"Zm8=",   "Z",     /* len % 4 == 1 */
		"Zm9vY",  "Zm 9v", /* whitespace, which EVP would skip */
		"Zm9v\n", "Zm9\xc3\xa9", "Zm9v.g",
	};
	struct buf b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_init(&b);
		print_message("'%s'\n", bad[i]);
		assert_int_equal(b64url_decode(&b, bad[i], strlen(bad[i])), -1);
		buf_deinit(&b);
	}
	assert_true(b64url_alphabet_only("AZaz09-_", 8));
	assert_false(b64url_alphabet_only("a=", 2));
	assert_false(b64url_alphabet_only("a\0b", 3));
	assert_true(b64url_alphabet_only("", 0));
}

/* ---- names ---- */

static void test_names_token(void **state)
{
	char t[NAMES_TOKEN_MAX + 2];

	(void)state;
	memset(t, 'A', sizeof(t));
	assert_false(names_token_valid(t, 0));
	assert_true(names_token_valid(t, 1));
	assert_true(names_token_valid(t, NAMES_TOKEN_MAX));
	assert_false(names_token_valid(t, NAMES_TOKEN_MAX + 1));
	assert_true(names_token_valid("tok123_-AbC", 11));
	assert_false(names_token_valid("tok.123", 7));
	assert_false(names_token_valid("tok=", 4));
	assert_false(names_token_valid("a/b", 3));
	assert_false(names_token_valid("a+b", 3));
	assert_false(names_token_valid("a\0b", 3));
	assert_false(names_token_valid("../x", 4));
	assert_false(names_token_valid("a%2e", 4));
}

/* A name of <total> bytes made of <label>-byte labels of 'a' separated by dots. */
static char *make_name(size_t total, size_t label)
{
	char *s = malloc(total + 1);
	size_t i;

	assert_non_null(s);
	for (i = 0; i < total; i++)
		s[i] = (i % (label + 1) == label) ? '.' : 'a';
	s[total] = 0;
	return s;
}

static void test_names_hostname(void **state)
{
	static const struct {
		const char *name;
		const char *reason_has; /* NULL: valid */
	} cases[] = {
		{ "example.com", NULL },
		{ "a.b", NULL },
		{ "www.example.co.uk", NULL },
		{ "xn--bcher-kva.example", NULL },
		{ "a-b.example", NULL },
		{ "1.2.3.example", NULL },
		{ "0a.example", NULL },
		{ "", "empty" },
		{ "Example.com", "lowercase" },
		{ "example.COM", "lowercase" },
		{ "a..b", "empty label" },
		{ ".example.com", "empty label" },
		{ "localhost", "two labels" },
		{ "example.com.", "dot" },
		{ "*.example.com", "wildcard" },
		{ "a.*", "wildcard" },
		{ "192.168.1.1", "IP" },
		{ "example.123", "IP" },
		{ "-a.example", "'-'" },
		{ "a-.example", "'-'" },
		{ "example.com-", "'-'" },
		{ "ab--cd.example", "punycode" },
		{ "a_b.example", "a-z" },
		{ "a b.example", "a-z" },
		{ "[::1]", "a-z" },
		{ "example.com:80", "a-z" },
		{ "ex\xc3\xa4mple.com", "a-z" },
	};
	const char *reason;
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reason = NULL;
		print_message("'%s'\n", cases[i].name);
		if (!cases[i].reason_has) {
			assert_true(names_hostname_valid(cases[i].name, &reason));
			continue;
		}
		assert_false(names_hostname_valid(cases[i].name, &reason));
		assert_non_null(reason);
		assert_non_null(strstr(reason, cases[i].reason_has));
	}

	/* labels: 63 bytes fine, 64 not */
	s = make_name(63 + 1 + 3, 63);
	memcpy(s + 64, "com", 3);
	assert_true(names_hostname_valid(s, &reason));
	free(s);
	s = make_name(64 + 1 + 3, 64);
	memcpy(s + 65, "com", 3);
	assert_false(names_hostname_valid(s, &reason));
	assert_non_null(strstr(reason, "63"));
	free(s);

	/* total: 253 fine, 254 not (labels of 49 bytes: no label rule interferes) */
	s = make_name(253, 49);
	assert_int_equal(strlen(s), 253);
	assert_int_not_equal(s[252], '.');
	assert_true(names_hostname_valid(s, &reason));
	free(s);
	s = make_name(254, 49);
	assert_int_not_equal(s[253], '.');
	assert_false(names_hostname_valid(s, &reason));
	assert_non_null(strstr(reason, "253"));
	free(s);
}

/* ---- parse ---- */

static void test_parse_u64(void **state)
{
	static const char *const bad[] = { "",
		                           "-1",
		                           "+1",
		                           " 1",
		                           "1 ",
		                           "1x",
		                           "0x10",
		                           "1e3",
		                           "\xd9\xa1",
		                           "18446744073709551616",
		                           "99999999999999999999" };
	uint64_t v = 7;
	size_t i;

	(void)state;
	assert_int_equal(parse_u64("0", 0, 10, &v), 0);
	assert_true(v == 0);
	assert_int_equal(parse_u64("007", 0, 10, &v), 0);
	assert_true(v == 7);
	assert_int_equal(parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 42;
		print_message("'%s'\n", bad[i]);
		assert_int_equal(parse_u64(bad[i], 0, UINT64_MAX, &v), -1);
		assert_true(v == 42);
	}
	assert_int_equal(parse_u64(NULL, 0, 1, &v), -1);
	/* range, both ends inclusive */
	assert_int_equal(parse_u64("5", 5, 10, &v), 0);
	assert_int_equal(parse_u64("10", 5, 10, &v), 0);
	assert_int_equal(parse_u64("4", 5, 10, &v), -1);
	assert_int_equal(parse_u64("11", 5, 10, &v), -1);
}

static void test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		uint64_t unit;
		uint64_t want;
	} good[] = {
		{ "500ms", 1, 500 }, { "2s", 1, 2000 },    { "250", 1, 250 }, { "5", 1000, 5000 },
		{ "3m", 1, 180000 }, { "1h", 1, 3600000 }, { "0ms", 1, 0 },   { "0", 1000, 0 },
	};
	static const char *const bad[] = { "",    "ms",  "5x",  "1.5s", "-1s",
		                           " 1s", "1s ", "1 s", "1sec", "18446744073709551615h",
		                           "1S" };
	uint64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		print_message("'%s'\n", good[i].s);
		assert_int_equal(parse_duration_ms(good[i].s, good[i].unit, 0, UINT64_MAX, &v), 0);
		assert_true(v == good[i].want);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("'%s'\n", bad[i]);
		assert_int_equal(parse_duration_ms(bad[i], 1, 0, UINT64_MAX, &v), -1);
	}
	assert_int_equal(parse_duration_ms(NULL, 1, 0, 1, &v), -1);
	/* bounds apply to the milliseconds */
	assert_int_equal(parse_duration_ms("1s", 1, 1000, 1000, &v), 0);
	assert_int_equal(parse_duration_ms("1s", 1, 1001, 5000, &v), -1);
	assert_int_equal(parse_duration_ms("2m", 1, 0, 60000, &v), -1);
}

static void test_parse_endpoint(void **state)
{
	static const char *const bad[] = {
		"",
		"localhost",       /* missing port */
		"127.0.0.1:",      /* empty port */
		"127.0.0.1:0",     /* port 0 */
		"127.0.0.1:65536", /* too big */
		"127.0.0.1:-1",
		"127.0.0.1:80x",
		"abc:def",
		"::1:80", /* IPv6 without brackets */
		"[::1]80",
		"[::1",
		"unix:",
	};
	struct endpoint ep;
	const char *why;
	char longpath[200], out[300];
	size_t i;

	(void)state;
	assert_int_equal(parse_endpoint("127.0.0.1:6379", &ep, &why), 0);
	assert_false(ep.is_unix);
	assert_string_equal(ep.host, "127.0.0.1");
	assert_int_equal(ep.port, 6379);
	parse_endpoint_format(&ep, out, sizeof(out));
	assert_string_equal(out, "127.0.0.1:6379");

	assert_int_equal(parse_endpoint("[::1]:8443", &ep, &why), 0);
	assert_string_equal(ep.host, "::1");
	assert_int_equal(ep.port, 8443);
	parse_endpoint_format(&ep, out, sizeof(out));
	assert_string_equal(out, "[::1]:8443");

	assert_int_equal(parse_endpoint("localhost:1", &ep, &why), 0);
	assert_string_equal(ep.host, "localhost");
	assert_int_equal(ep.port, 1);
	assert_int_equal(parse_endpoint(":65535", &ep, &why), 0);
	assert_string_equal(ep.host, "");
	assert_int_equal(ep.port, 65535);

	assert_int_equal(parse_endpoint("unix:/run/spoa.sock", &ep, &why), 0);
	assert_true(ep.is_unix);
	assert_string_equal(ep.path, "/run/spoa.sock");
	parse_endpoint_format(&ep, out, sizeof(out));
	assert_string_equal(out, "unix:/run/spoa.sock");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		print_message("'%s'\n", bad[i]);
		assert_int_equal(parse_endpoint(bad[i], &ep, &why), -1);
		assert_non_null(why);
	}
	/* sun_path holds 107 bytes and the NUL */
	memcpy(longpath, "unix:/", 6);
	memset(longpath + 6, 'p', 106);
	longpath[6 + 106] = 0;
	assert_int_equal(parse_endpoint(longpath, &ep, &why), 0);
	assert_int_equal(strlen(ep.path), 107);
	longpath[6 + 106] = 'p';
	longpath[6 + 107] = 0;
	assert_int_equal(parse_endpoint(longpath, &ep, &why), -1);
}

/* ---- buf ---- */

static void test_buf_growth(void **state)
{
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b);
	assert_string_equal(buf_str(&b), "");
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_int_equal(b.len, 0);
	for (i = 0; i < 10000; i++) {
		char c = (char)('a' + i % 26);

		assert_int_equal(buf_append(&b, &c, 1), 0);
		assert_true(b.cap > b.len);
		assert_int_equal(b.data[b.len], 0);
	}
	assert_int_equal(b.len, 10000);
	for (i = 0; i < 10000; i++)
		assert_int_equal(b.data[i], 'a' + i % 26);
	assert_int_equal(buf_reserve(&b, SIZE_MAX), -1);
	assert_int_equal(buf_reserve(&b, SIZE_MAX - b.len), -1);
	assert_int_equal(b.len, 10000); /* unchanged by the failures */

	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_true(b.cap >= 10001);
	assert_string_equal(buf_str(&b), "");
	buf_wipe(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
	buf_deinit(&b); /* again, on an empty buffer */
	buf_wipe(&b);
}

static void test_buf_printf(void **state)
{
	char big[500];
	struct buf b;

	(void)state;
	buf_init(&b);
	assert_int_equal(buf_printf(&b, "%s:%u", "host", 80u), 0);
	assert_string_equal(buf_str(&b), "host:80");
	assert_int_equal(buf_append_str(&b, "/"), 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	/* larger than the first allocation: must grow, not truncate */
	assert_int_equal(buf_printf(&b, "%s|%d", big, -5), 0);
	assert_int_equal(b.len, 8 + 499 + 3);
	assert_memory_equal(b.data, "host:80/x", 9);
	assert_string_equal((const char *)b.data + b.len - 3, "|-5");
	assert_int_equal(buf_printf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 8 + 499 + 3);
	buf_deinit(&b);
}

/* ---- keys ---- */

static void check_key(int r, struct buf *b, const char *want)
{
	assert_int_equal(r, 0);
	assert_string_equal(buf_str(b), want);
	assert_int_equal(b->len, strlen(want));
	buf_reset(b);
}

static void test_keys(void **state)
{
	const char *p = KEYS_DEFAULT_PREFIX;
	char longp[KEYS_PREFIX_MAX + 2];
	struct buf b;

	(void)state;
	buf_init(&b);
	check_key(keys_chal(&b, p, "tok123_-AbC", 11), &b, "spoacme:chal:tok123_-AbC");
	check_key(keys_chal(&b, p, "abcdef", 3), &b, "spoacme:chal:abc"); /* length, not NUL */
	check_key(keys_hosts(&b, p), &b, "spoacme:hosts");
	check_key(keys_host(&b, p, "example.com"), &b, "spoacme:host:example.com");
	check_key(keys_cert(&b, p, "example.com", KEYS_TYPE_ECDSA), &b,
	          "spoacme:cert:example.com:ecdsa");
	check_key(keys_cert(&b, p, "example.com", KEYS_TYPE_RSA), &b,
	          "spoacme:cert:example.com:rsa");
	check_key(keys_account(&b, p, "0123abcd"), &b, "spoacme:account:0123abcd");
	check_key(keys_lock(&b, p, "example.com"), &b, "spoacme:lock:example.com");
	check_key(keys_due(&b, p), &b, "spoacme:due");
	check_key(keys_served(&b, p, "edge-1"), &b, "spoacme:served:edge-1");
	check_key(keys_events(&b, p), &b, "spoacme:events");
	check_key(keys_hosts(&b, "t1:"), &b, "t1:hosts");
	check_key(keys_hosts(&b, ""), &b, "hosts");
	/* binary-safe token argument */
	assert_int_equal(keys_chal(&b, p, "a\0b", 3), 0);
	assert_int_equal(b.len, strlen("spoacme:chal:") + 3);
	assert_memory_equal(b.data, "spoacme:chal:a\0b", b.len);
	buf_deinit(&b);

	assert_true(keys_prefix_valid(KEYS_DEFAULT_PREFIX));
	assert_true(keys_prefix_valid(""));
	assert_true(keys_prefix_valid("Test_1.x-y:"));
	assert_false(keys_prefix_valid("a b"));
	assert_false(keys_prefix_valid("a*"));
	assert_false(keys_prefix_valid("a\nb"));
	assert_false(keys_prefix_valid("{tag}"));
	memset(longp, 'p', sizeof(longp));
	longp[KEYS_PREFIX_MAX] = 0;
	assert_true(keys_prefix_valid(longp));
	longp[KEYS_PREFIX_MAX] = 'p';
	longp[KEYS_PREFIX_MAX + 1] = 0;
	assert_false(keys_prefix_valid(longp));
}

/* ---- cert-pusher/conf.c ---- */

static char conf_dir[64];
static char conf_path[128];

static const char *const conf_known[] = { "redis", "keyring", "key-prefix", "contact",
	                                  "api",   "debug",   NULL };

static void write_conf(const char *text, size_t len)
{
	FILE *f = fopen(conf_path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int conf_setup(void **state)
{
	(void)state;
	snprintf(conf_dir, sizeof(conf_dir), "/tmp/test_common.XXXXXX");
	if (!mkdtemp(conf_dir))
		return -1;
	snprintf(conf_path, sizeof(conf_path), "%s/pusher.conf", conf_dir);
	return 0;
}

static int conf_teardown(void **state)
{
	(void)state;
	unlink(conf_path);
	rmdir(conf_dir);
	return 0;
}

static void test_conf_file(void **state)
{
	static const char text[] = "# cert-pusher configuration\n"
	                           "\n"
	                           "   # indented comment\n"
	                           "redis 127.0.0.1:6379\n"
	                           "keyring\t/etc/spoacme/keyring  \r\n"
	                           "  key-prefix   t1:\n"
	                           "contact mailto:ops@example.com with spaces\n"
	                           "debug\n"
	                           "redis 127.0.0.1:6380"; /* later lines win, no final newline */
	char err[256] = "";
	struct conf *c = conf_new();

	(void)state;
	assert_non_null(c);
	/* a flag set before the file is loaded wins over it */
	assert_int_equal(conf_set(c, "keyring", "/flag/keyring", 1), 0);
	write_conf(text, sizeof(text) - 1);
	assert_int_equal(conf_load_file(c, conf_path, conf_known, err, sizeof(err)), 0);
	assert_string_equal(conf_get(c, "redis"), "127.0.0.1:6380");
	assert_string_equal(conf_get(c, "keyring"), "/flag/keyring");
	assert_string_equal(conf_get(c, "key-prefix"), "t1:");
	assert_string_equal(conf_get(c, "contact"), "mailto:ops@example.com with spaces");
	assert_string_equal(conf_get(c, "debug"), "true");
	assert_null(conf_get(c, "api"));
	assert_string_equal(conf_get_def(c, "api", "127.0.0.1:8081"), "127.0.0.1:8081");
	assert_string_equal(conf_get_def(c, "redis", "x"), "127.0.0.1:6380");
	/* a flag set after the file replaces its value too */
	assert_int_equal(conf_set(c, "redis", "unix:/run/redis.sock", 1), 0);
	assert_int_equal(conf_set(c, "redis", "from-file", 0), 0);
	assert_string_equal(conf_get(c, "redis"), "unix:/run/redis.sock");
	conf_free(c);
	conf_free(NULL);
}

static void test_conf_errors(void **state)
{
	static const char unknown[] = "# ok\n"
	                              "redis 127.0.0.1:6379\n"
	                              "\n"
	                              "reddis 127.0.0.1:6379\n";
	static const char nul[] = "redis a\0b\n";
	char err[256] = "";
	char want[200];
	struct conf *c;

	(void)state;
	c = conf_new();
	write_conf(unknown, sizeof(unknown) - 1);
	assert_int_equal(conf_load_file(c, conf_path, conf_known, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: line 4: unknown option 'reddis'", conf_path);
	assert_string_equal(err, want);
	conf_free(c);

	c = conf_new();
	write_conf(nul, sizeof(nul) - 1);
	err[0] = 0;
	assert_int_equal(conf_load_file(c, conf_path, conf_known, err, sizeof(err)), -1);
	assert_non_null(strstr(err, conf_path));
	assert_non_null(strstr(err, "NUL"));
	conf_free(c);

	c = conf_new();
	err[0] = 0;
	assert_int_equal(
	        conf_load_file(c, "/nonexistent/spoacme.conf", conf_known, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/spoacme.conf"));
	conf_free(c);

	/* an empty file is a valid, empty configuration */
	c = conf_new();
	write_conf("", 0);
	assert_int_equal(conf_load_file(c, conf_path, conf_known, err, sizeof(err)), 0);
	assert_null(conf_get(c, "redis"));
	conf_free(c);
}

/* file_next_line: blanks trimmed, CRLF, comments and empty lines skipped, numbering kept. */
static void test_file_next_line(void **state)
{
	char text[] = "  # comment\r\nalpha 1\r\n\n\t beta  2 \t\n#x\n   \ngamma";
	char *cursor = text, *line;
	unsigned lineno = 0;

	(void)state;
	line = file_next_line(&cursor, &lineno);
	assert_non_null(line);
	assert_string_equal(line, "alpha 1");
	assert_int_equal(lineno, 2);
	line = file_next_line(&cursor, &lineno);
	assert_non_null(line);
	assert_string_equal(line, "beta  2");
	assert_int_equal(lineno, 4);
	line = file_next_line(&cursor, &lineno);
	assert_non_null(line);
	assert_string_equal(line, "gamma");
	assert_int_equal(lineno, 7);
	assert_null(file_next_line(&cursor, &lineno));
	assert_null(file_next_line(&cursor, &lineno));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_vectors),
		cmocka_unit_test(test_b64url_roundtrip),
		cmocka_unit_test(test_b64url_rejects),
		cmocka_unit_test(test_names_token),
		cmocka_unit_test(test_names_hostname),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_endpoint),
		cmocka_unit_test(test_buf_growth),
		cmocka_unit_test(test_buf_printf),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_file_next_line),
		cmocka_unit_test_setup_teardown(test_conf_file, conf_setup, conf_teardown),
		cmocka_unit_test_setup_teardown(test_conf_errors, conf_setup, conf_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
