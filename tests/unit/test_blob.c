// SPDX-License-Identifier: MIT
/*
 * Unit tests for blob.c: seal/open round trip, every single-byte change of a blob refused, the
 * Redis key bound into the AAD, unknown key ids, key ring parsing errors and the mode check.
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

#include "cert-pusher/blob.h"

#define K1 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define K2 "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="

static char ring_dir[64];
static char ring_path[128];

/* Write <text> to the test's ring file with <mode>. */
static void write_ring(const char *text, mode_t mode)
{
	FILE *f;

	unlink(ring_path);
	f = fopen(ring_path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(ring_path, mode), 0);
}

static struct blob_keyring *load_ring(const char *text, char *err, size_t errsz)
{
	write_ring(text, 0600);
	return blob_keyring_load(ring_path, err, errsz);
}

static int setup(void **state)
{
	(void)state;
	snprintf(ring_dir, sizeof(ring_dir), "/tmp/test_blob.XXXXXX");
	if (!mkdtemp(ring_dir))
		return -1;
	snprintf(ring_path, sizeof(ring_path), "%s/ring", ring_dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(ring_path);
	rmdir(ring_dir);
	return 0;
}

static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

static void test_round_trip(void **state)
{
	struct blob_keyring *kr;
	struct buf blob, pt;
	const char *why = NULL;
	char err[256], id[BLOB_KEYID_MAX + 1];

	(void)state;
	buf_init(&blob);
	buf_init(&pt);
	kr = load_ring("# test ring\n\nk2026 " K1 "\nold\t" K2 "  \r\n", err, sizeof(err));
	assert_non_null(kr);
	assert_string_equal(blob_keyring_primary_id(kr), "k2026");
	assert_int_equal(blob_seal(kr, "spoacme:cert:a.example:ecdsa", (const uint8_t *)pem,
	                           strlen(pem), &blob),
	                 0);
	assert_int_equal(blob.len, 4 + 1 + 5 + 12 + strlen(pem) + 16);
	assert_memory_equal(blob.data, "SPA1\x05k2026", 10);
	assert_int_equal(blob_key_id(blob.data, blob.len, id), 0);
	assert_string_equal(id, "k2026");
	assert_int_equal(
	        blob_open(kr, "spoacme:cert:a.example:ecdsa", blob.data, blob.len, &pt, &why), 0);
	assert_int_equal(pt.len, strlen(pem));
	assert_memory_equal(pt.data, pem, pt.len);
	/* Empty plaintext works too. */
	buf_reset(&blob);
	buf_wipe(&pt);
	assert_int_equal(blob_seal(kr, "k", (const uint8_t *)"", 0, &blob), 0);
	assert_int_equal(blob_open(kr, "k", blob.data, blob.len, &pt, &why), 0);
	assert_int_equal(pt.len, 0);
	buf_deinit(&blob);
	buf_wipe(&pt);
	blob_keyring_free(kr);
}

static void test_every_byte_flip_fails(void **state)
{
	struct blob_keyring *kr;
	struct buf blob, pt;
	const char *why;
	char err[256];
	size_t i;
	int bit;

	(void)state;
	buf_init(&blob);
	buf_init(&pt);
	kr = load_ring("k1 " K1 "\n", err, sizeof(err));
	assert_non_null(kr);
	assert_int_equal(
	        blob_seal(kr, "p:cert:x.example:rsa", (const uint8_t *)pem, strlen(pem), &blob), 0);
	for (i = 0; i < blob.len; i++) {
		for (bit = 0; bit < 8; bit += 7) {
			blob.data[i] ^= (uint8_t)(1u << bit);
			why = NULL;
			assert_int_equal(blob_open(kr, "p:cert:x.example:rsa", blob.data, blob.len,
			                           &pt, &why),
			                 -1);
			assert_non_null(why);
			assert_int_equal(pt.len, 0);
			blob.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* Truncated and extended blobs fail too. */
	for (i = 0; i < blob.len; i++)
		assert_int_equal(blob_open(kr, "p:cert:x.example:rsa", blob.data, i, &pt, &why),
		                 -1);
	assert_int_equal(buf_append(&blob, "x", 1), 0);
	assert_int_equal(blob_open(kr, "p:cert:x.example:rsa", blob.data, blob.len, &pt, &why), -1);
	blob.len--;
	assert_int_equal(blob_open(kr, "p:cert:x.example:rsa", blob.data, blob.len, &pt, &why), 0);
	buf_deinit(&blob);
	buf_wipe(&pt);
	blob_keyring_free(kr);
}

static void test_moved_blob_fails(void **state)
{
	struct blob_keyring *kr;
	struct buf blob, pt;
	const char *why = NULL;
	char err[256];

	(void)state;
	buf_init(&blob);
	buf_init(&pt);
	kr = load_ring("k1 " K1 "\n", err, sizeof(err));
	assert_non_null(kr);
	assert_int_equal(blob_seal(kr, "spoacme:cert:a.example:ecdsa", (const uint8_t *)pem,
	                           strlen(pem), &blob),
	                 0);
	assert_int_equal(
	        blob_open(kr, "spoacme:cert:b.example:ecdsa", blob.data, blob.len, &pt, &why), -1);
	assert_non_null(strstr(why, "authentication failed"));
	assert_int_equal(
	        blob_open(kr, "other:cert:a.example:ecdsa", blob.data, blob.len, &pt, &why), -1);
	assert_int_equal(
	        blob_open(kr, "spoacme:cert:a.example:rsa", blob.data, blob.len, &pt, &why), -1);
	buf_deinit(&blob);
	buf_wipe(&pt);
	blob_keyring_free(kr);
}

static void test_key_ids(void **state)
{
	struct blob_keyring *old, *newr, *other;
	struct buf blob, pt;
	const char *why = NULL;
	char err[256];

	(void)state;
	buf_init(&blob);
	buf_init(&pt);
	old = load_ring("old " K1 "\n", err, sizeof(err));
	assert_non_null(old);
	newr = load_ring("new " K2 "\nold " K1 "\n", err, sizeof(err));
	assert_non_null(newr);
	other = load_ring("new " K1 "\n", err, sizeof(err)); /* same id, other bytes */
	assert_non_null(other);
	assert_int_equal(blob_seal(old, "k", (const uint8_t *)pem, strlen(pem), &blob), 0);
	/* A ring that still holds the old key opens it; the first key seals. */
	assert_int_equal(blob_open(newr, "k", blob.data, blob.len, &pt, &why), 0);
	buf_wipe(&pt);
	buf_reset(&blob);
	assert_int_equal(blob_seal(newr, "k", (const uint8_t *)pem, strlen(pem), &blob), 0);
	assert_memory_equal(blob.data, "SPA1\x03new", 8);
	assert_int_equal(blob_open(old, "k", blob.data, blob.len, &pt, &why), -1);
	assert_non_null(strstr(why, "key id"));
	assert_int_equal(blob_open(other, "k", blob.data, blob.len, &pt, &why), -1);
	assert_non_null(strstr(why, "authentication failed"));
	/* Not a blob at all. */
	assert_int_equal(blob_open(old, "k", (const uint8_t *)pem, strlen(pem), &pt, &why), -1);
	assert_non_null(strstr(why, "not a spoacme blob"));
	assert_int_equal(blob_open(old, "k", (const uint8_t *)"", 0, &pt, &why), -1);
	buf_deinit(&blob);
	buf_wipe(&pt);
	blob_keyring_free(old);
	blob_keyring_free(newr);
	blob_keyring_free(other);
}

static void expect_ring_error(const char *text, const char *needle)
{
	struct blob_keyring *kr;
	char err[256] = "";

	kr = load_ring(text, err, sizeof(err));
	if (kr || !strstr(err, needle))
		fail_msg("ring %s: expected error containing '%s', got '%s'", text, needle, err);
}

static void test_ring_errors(void **state)
{
	(void)state;
	expect_ring_error("", "no key");
	expect_ring_error("# only a comment\n\n", "no key");
	expect_ring_error("k1\n", ":1: expected");
	expect_ring_error("# c\nk1 " K1 " extra\n", ":2: expected");
	expect_ring_error("k1 " K1 "\nk/2 " K2 "\n", ":2: key id");
	expect_ring_error("k1 " K1 "\nk1 " K2 "\n", ":2: key id 'k1' appears twice");
	expect_ring_error("k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\n", ":1: key 'k1' is not");
	expect_ring_error("k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A\n", ":1: key 'k1'");
	expect_ring_error("k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*=\n", ":1: key 'k1'");
	expect_ring_error("k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh==\n", ":1: key 'k1'");
	expect_ring_error("kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk " K1
	                  "\n",
	                  ":1: key id");
}

static void test_ring_mode(void **state)
{
	struct blob_keyring *kr;
	char err[256] = "";

	(void)state;
	write_ring("k1 " K1 "\n", 0640);
	kr = blob_keyring_load(ring_path, err, sizeof(err));
	assert_null(kr);
	assert_non_null(strstr(err, "mode 0640"));
	write_ring("k1 " K1 "\n", 0604);
	assert_null(blob_keyring_load(ring_path, err, sizeof(err)));
	write_ring("k1 " K1 "\n", 0400);
	kr = blob_keyring_load(ring_path, err, sizeof(err));
	assert_non_null(kr);
	blob_keyring_free(kr);
	assert_null(blob_keyring_load("/nonexistent/ring", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/ring"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_every_byte_flip_fails),
		cmocka_unit_test(test_moved_blob_fails),
		cmocka_unit_test(test_key_ids),
		cmocka_unit_test(test_ring_errors),
		cmocka_unit_test(test_ring_mode),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
