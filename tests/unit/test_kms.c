// SPDX-License-Identifier: MIT
/*
 * Unit tests for kms.c and blob.c's envelope format against a real SoftHSM2 token, created per
 * run in a temporary directory with its own SOFTHSM2_CONF: create-key, seal/open, the key ring
 * alone refused, another KEK refused, a tampered wrapped key or header refused, a wrong PIN
 * reported and then recovered from once the PIN file is fixed, old key-ring blobs still open,
 * a KEK rotation that re-wraps the data key and leaves the ciphertext alone.
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
#include "cert-pusher/kms.h"

#define K1     "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define RKEY   "spoacme:cert:example.com:ecdsa"
#define PT     "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

static char dir[64], ring[128], pin[128], uri[512], uri2[512];

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state)
{
	char conf[128], text[256], cmd[512];
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_kms.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	snprintf(text, sizeof(text), "%s/tokens", dir);
	if (mkdir(text, 0700) < 0)
		return -1;
	f = fopen(conf, "w");
	if (!f)
		return -1;
	fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
	        text);
	fclose(f);
	setenv("SOFTHSM2_CONF", conf, 1);
	snprintf(cmd, sizeof(cmd),
	         "softhsm2-util --init-token --free --label spoacme --pin 1234 --so-pin 5678 "
	         ">/dev/null");
	if (system(cmd) != 0)
		return -1;
	snprintf(ring, sizeof(ring), "%s/ring", dir);
	snprintf(pin, sizeof(pin), "%s/pin", dir);
	snprintf(uri, sizeof(uri),
	         "pkcs11:token=spoacme;object=kek-1?module-path=%s&pin-source=file:%s", MODULE,
	         pin);
	snprintf(uri2, sizeof(uri2),
	         "pkcs11:token=spoacme;object=kek-2?module-path=%s&pin-source=file:%s", MODULE,
	         pin);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct blob_keyring *ring_with(const char *u, int seals)
{
	struct blob_keyring *kr;
	struct kms *k = NULL;
	char err[512];

	write_file(ring, "k1 " K1 "\n", 0600);
	kr = blob_keyring_load(ring, err, sizeof(err));
	assert_non_null(kr);
	if (u) {
		k = kms_open(u, err, sizeof(err));
		if (!k)
			fail_msg("kms_open: %s", err);
		blob_keyring_set_kms(kr, k, seals);
	}
	return kr;
}

static void test_uri_errors(void **state)
{
	char err[512], u[512];

	(void)state;
	assert_null(kms_open("http://x", err, sizeof(err)));
	assert_non_null(strstr(err, "--kms"));
	assert_null(kms_open("pkcs11:token=spoacme?pin-source=file:/x", err, sizeof(err)));
	assert_non_null(strstr(err, "object="));
	assert_null(
	        kms_open("pkcs11:token=spoacme;object=a%20b?pin-source=file:/x", err, sizeof(err)));
	assert_null(kms_open("pkcs11:token=spoacme;object=k", err, sizeof(err)));
	assert_non_null(strstr(err, "pin-source"));
	assert_null(kms_open("pkcs11:object=k?module-path=/nonexistent.so&pin-source=file:/x", err,
	                     sizeof(err)));
	assert_non_null(strstr(err, "module-path"));
	snprintf(u, sizeof(u), "pkcs11:object=k?module-path=%s&pin-source=relative", MODULE);
	assert_null(kms_open(u, err, sizeof(err)));
	assert_non_null(strstr(err, "absolute"));
}

static void test_envelope(void **state)
{
	struct blob_keyring *kr, *plain, *other;
	struct buf blob, pt, bad;
	const char *why = NULL;
	char err[512], id[BLOB_KEYID_MAX + 1];
	struct kms *k;
	size_t i;

	(void)state;
	write_file(pin, "1234\n", 0600);
	k = kms_open(uri, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(kms_state(k), -1);
	assert_int_equal(kms_create_key(k, err, sizeof(err)), 0);
	assert_int_equal(kms_create_key(k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "already exists"));
	kms_free(k);

	buf_init(&blob);
	buf_init(&pt);
	buf_init(&bad);
	kr = ring_with(uri, 1);
	assert_string_equal(blob_keyring_primary_id(kr), "kms:kek-1");
	assert_int_equal(blob_seal(kr, RKEY, (const uint8_t *)PT, strlen(PT), &blob), 0);
	assert_memory_equal(blob.data, "SPA2", 4);
	assert_null(memmem(blob.data, blob.len, "BEGIN", 5));
	assert_int_equal(blob_key_id(blob.data, blob.len, id), 0);
	assert_string_equal(id, "kms:kek-1");
	assert_int_equal(blob_open(kr, RKEY, blob.data, blob.len, &pt, &why), 0);
	assert_int_equal(pt.len, strlen(PT));
	assert_memory_equal(pt.data, PT, pt.len);
	assert_int_equal(kms_state(blob_keyring_kms(kr)), 1);
	/* another Redis key */
	buf_reset(&pt);
	assert_int_equal(blob_open(kr, RKEY "x", blob.data, blob.len, &pt, &why), -1);
	/* every single-byte change is refused, by the token (wrapped key) or by GCM */
	for (i = 0; i < blob.len; i++) {
		buf_reset(&bad);
		assert_int_equal(buf_append(&bad, blob.data, blob.len), 0);
		bad.data[i] ^= 0x01;
		buf_reset(&pt);
		why = NULL;
		assert_int_equal(blob_open(kr, RKEY, bad.data, bad.len, &pt, &why), -1);
		assert_non_null(why);
	}
	/* truncated */
	for (i = 0; i < blob.len; i += 7) {
		buf_reset(&pt);
		assert_int_equal(blob_open(kr, RKEY, blob.data, i, &pt, &why), -1);
	}
	/* the key ring alone cannot open it */
	plain = ring_with(NULL, 0);
	buf_reset(&pt);
	assert_int_equal(blob_open(plain, RKEY, blob.data, blob.len, &pt, &why), -1);
	assert_non_null(strstr(why, "no --kms"));
	/* old key-ring blobs keep opening with the KMS attached */
	buf_reset(&bad);
	assert_int_equal(blob_seal(plain, RKEY, (const uint8_t *)PT, strlen(PT), &bad), 0);
	assert_memory_equal(bad.data, "SPA1", 4);
	buf_reset(&pt);
	assert_int_equal(blob_open(kr, RKEY, bad.data, bad.len, &pt, &why), 0);
	assert_memory_equal(pt.data, PT, pt.len);
	blob_keyring_free(plain);
	blob_keyring_free(kr);

	/* KEK rotation: seal with kek-2, blobs of kek-1 still open; an unknown KEK is named */
	k = kms_open(uri2, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(kms_create_key(k, err, sizeof(err)), 0);
	kms_free(k);
	other = ring_with(uri2, 1);
	buf_reset(&pt);
	assert_int_equal(blob_open(other, RKEY, blob.data, blob.len, &pt, &why), 0);
	/* rotation re-wraps the data key only: same nonce, ciphertext and tag */
	buf_reset(&pt);
	assert_int_equal(blob_rewrap(other, blob.data, blob.len, &pt, &why), 1);
	assert_int_equal(pt.len, blob.len);
	assert_memory_equal(pt.data + pt.len - strlen(PT) - 16 - 12,
	                    blob.data + blob.len - strlen(PT) - 16 - 12, strlen(PT) + 16 + 12);
	assert_int_equal(blob_key_id(pt.data, pt.len, id), 0);
	assert_string_equal(id, "kms:kek-2");
	buf_reset(&bad);
	assert_int_equal(blob_rewrap(other, pt.data, pt.len, &bad, &why), 0); /* already kek-2 */
	assert_int_equal(bad.len, 0);
	assert_int_equal(buf_append(&bad, pt.data, pt.len), 0);
	buf_reset(&pt);
	assert_int_equal(blob_open(other, RKEY, bad.data, bad.len, &pt, &why), 0);
	assert_memory_equal(pt.data, PT, strlen(PT));
	buf_reset(&bad);
	assert_int_equal(blob_seal(other, RKEY, (const uint8_t *)PT, strlen(PT), &bad), 0);
	assert_int_equal(blob_key_id(bad.data, bad.len, id), 0);
	assert_string_equal(id, "kms:kek-2");
	/* a blob naming a KEK the token does not have: rename kek-2 -> kek-9 in the header */
	bad.data[4 + 1 + 4] = '9';
	buf_reset(&pt);
	assert_int_equal(blob_open(other, RKEY, bad.data, bad.len, &pt, &why), -1);
	assert_non_null(strstr(why, "kek-9"));
	assert_non_null(strstr(why, "not in the token"));
	blob_keyring_free(other);

	/* wrong PIN: refused and reported; a fixed PIN file is picked up by the same handle */
	write_file(pin, "9999\n", 0600);
	kr = ring_with(uri, 1);
	buf_reset(&pt);
	assert_int_equal(blob_open(kr, RKEY, blob.data, blob.len, &pt, &why), -1);
	assert_non_null(strstr(why, "wrong PIN"));
	assert_int_equal(kms_state(blob_keyring_kms(kr)), 0);
	assert_non_null(strstr(kms_last_error(blob_keyring_kms(kr), err, sizeof(err)), "PIN"));
	usleep(20000); /* a distinct mtime on filesystems with coarse timestamps */
	write_file(pin, "1234\n", 0600);
	buf_reset(&pt);
	assert_int_equal(blob_open(kr, RKEY, blob.data, blob.len, &pt, &why), 0);
	assert_int_equal(kms_state(blob_keyring_kms(kr)), 1);
	blob_keyring_free(kr);

	/* a PIN file readable by others is refused */
	write_file(pin, "1234\n", 0644);
	kr = ring_with(uri, 1);
	buf_reset(&pt);
	assert_int_equal(blob_open(kr, RKEY, blob.data, blob.len, &pt, &why), -1);
	blob_keyring_free(kr);

	buf_wipe(&pt);
	buf_deinit(&blob);
	buf_deinit(&bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_errors),
		cmocka_unit_test(test_envelope),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
