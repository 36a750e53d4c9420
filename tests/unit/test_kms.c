// SPDX-License-Identifier: MIT
/*
 * Unit tests for kms.c and blob.c's envelope format against a real SoftHSM2 token, created per
 * run in a temporary directory with its own SOFTHSM2_CONF: create-key, seal/open, the key ring
 * alone refused, another KEK refused, a tampered wrapped key or header refused, a wrong PIN
 * reported and then recovered from once the PIN file is fixed, old key-ring blobs still open,
 * a KEK rotation that re-wraps the data key and leaves the ciphertext alone; a blob sealed in
 * another token; the login and the session taken away by another caller of the same module
 * (C_Logout, C_CloseAllSessions) and redone by itself; one session per thread, closed when the
 * thread ends; a KEK deleted and re-created under a process that remembers its handle; the token
 * directory taken away (the token lost), reported, and taken back, also eight times under four
 * threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <stdatomic.h>

#include "cert-pusher/blob.h"
#include "cert-pusher/kms.h"

#define K1     "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define RKEY   "spoacme:cert:example.com:ecdsa"
#define PT     "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

static char dir[64], ring[128], pin[128], uri[512], uri2[512], uri_other[512];

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
	/* another token of the same module, with a KEK of the same label */
	snprintf(cmd, sizeof(cmd),
	         "softhsm2-util --init-token --free --label other --pin 1234 --so-pin 5678 "
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
	snprintf(uri_other, sizeof(uri_other),
	         "pkcs11:token=other;object=kek-1?module-path=%s&pin-source=file:%s", MODULE, pin);
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
	uint8_t dk[KMS_KEY_LEN];
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
	/* the data key (unwrapped here from the header: "SPA2" 5 "kek-1" 40 wrapped) is not in it
	 */
	assert_int_equal(blob.data[4], 5);
	assert_int_equal(blob.data[10], 40);
	assert_int_equal(
	        kms_unwrap(blob_keyring_kms(kr), "kek-1", blob.data + 11, 40, dk, err, sizeof(err)),
	        0);
	assert_null(memmem(blob.data, blob.len, dk, sizeof(dk)));
	assert_non_null(memmem(blob.data, blob.len, blob.data + 11, 40));
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
		assert_int_equal(pt.len, 0);
		/* the blob's fault, not the token's: no loss reported, no re-initialisation */
		assert_int_equal(kms_state(blob_keyring_kms(kr)), 1);
		if (i >= 4 + 1 + 5 + 1 && i < 4 + 1 + 5 + 1 + 40 && !strstr(why, "tampered"))
			fail_msg("byte %zu of the wrapped key changed: %s", i, why);
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
	/* an idle process finds out too: the probe behind /healthz and spoacme_kms_up */
	assert_int_equal(kms_state(blob_keyring_kms(kr)), -1);
	assert_int_equal(kms_probe(blob_keyring_kms(kr)), 0);
	assert_non_null(
	        strstr(kms_last_error(blob_keyring_kms(kr), err, sizeof(err)), "wrong PIN"));
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

/* A blob sealed by another token's KEK of the same label: the token's RFC 5649 check refuses
 * the wrapped key, the error says so, and the token is still reported healthy. */
static void test_foreign_token(void **state)
{
	struct blob_keyring *mine, *theirs;
	struct buf blob, pt;
	const char *why = NULL;
	char err[512];
	struct kms *k;

	(void)state;
	write_file(pin, "1234\n", 0600);
	buf_init(&blob);
	buf_init(&pt);
	mine = ring_with(uri, 1); /* test_envelope created kek-1 in "spoacme" */
	k = kms_open(uri_other, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(kms_create_key(k, err, sizeof(err)), 0);
	kms_free(k);
	theirs = ring_with(uri_other, 1);
	assert_int_equal(blob_seal(theirs, RKEY, (const uint8_t *)PT, strlen(PT), &blob), 0);
	assert_int_equal(blob_open(theirs, RKEY, blob.data, blob.len, &pt, &why), 0);
	buf_reset(&pt);
	assert_int_equal(blob_open(mine, RKEY, blob.data, blob.len, &pt, &why), -1);
	assert_int_equal(pt.len, 0);
	if (!strstr(why, "kek-1") || !strstr(why, "tampered or foreign wrapped key"))
		fail_msg("a blob of another token: %s", why);
	assert_int_equal(kms_state(blob_keyring_kms(mine)), 1);
	/* and the other way round: ours does not open there */
	buf_reset(&blob);
	assert_int_equal(blob_seal(mine, RKEY, (const uint8_t *)PT, strlen(PT), &blob), 0);
	assert_int_equal(blob_open(theirs, RKEY, blob.data, blob.len, &pt, &why), -1);
	assert_non_null(strstr(why, "foreign"));
	blob_keyring_free(theirs);
	blob_keyring_free(mine);
	buf_wipe(&pt);
	buf_deinit(&blob);
}

/* The module's function list (this process shares it with kms.c: one dlopen of one library)
 * and the slot of the token labelled "spoacme". */
static CK_FUNCTION_LIST_PTR module(CK_SLOT_ID *slot)
{
	CK_C_GetFunctionList gfl;
	CK_FUNCTION_LIST_PTR f = NULL;
	CK_SLOT_ID ids[8];
	CK_ULONG n = 8, i;
	CK_TOKEN_INFO ti;
	void *dl = dlopen(MODULE, RTLD_NOW | RTLD_LOCAL);
	CK_RV rv;

	assert_non_null(dl);
	*(void **)&gfl = dlsym(dl, "C_GetFunctionList");
	assert_non_null(gfl);
	assert_int_equal(gfl(&f), CKR_OK);
	rv = f->C_Initialize(NULL);
	assert_true(rv == CKR_CRYPTOKI_ALREADY_INITIALIZED); /* kms.c initialised it */
	assert_int_equal(f->C_GetSlotList(CK_TRUE, ids, &n), CKR_OK);
	for (i = 0; i < n; i++) {
		assert_int_equal(f->C_GetTokenInfo(ids[i], &ti), CKR_OK);
		if (!memcmp(ti.label, "spoacme ", 8)) {
			*slot = ids[i];
			dlclose(dl); /* kms.c's handle keeps the library loaded */
			return f;
		}
	}
	fail_msg("no token 'spoacme'");
	return NULL;
}

/* Open sessions on <slot>. SoftHSM2 leaves ulSessionCount unset and numbers its sessions
 * from 1 up, so the live ones are those C_GetSessionInfo accepts. */
static CK_ULONG session_count(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE h;
	CK_SESSION_INFO si;
	CK_ULONG n = 0;

	for (h = 1; h <= 256; h++)
		if (f->C_GetSessionInfo(h, &si) == CKR_OK && si.slotID == slot)
			n++;
	return n;
}

/* Another caller of the module logs the application out, then closes every session: kms.c
 * sees a session without its login (no private object visible) and then a dead session
 * handle, logs in again and reopens by itself; the blob opens each time. */
static void test_relogin(void **state)
{
	struct blob_keyring *kr;
	CK_FUNCTION_LIST_PTR f;
	CK_SESSION_HANDLE h;
	CK_SESSION_INFO si;
	CK_SLOT_ID slot;
	struct buf blob, pt;
	const char *why = NULL;

	(void)state;
	write_file(pin, "1234\n", 0600);
	buf_init(&blob);
	buf_init(&pt);
	kr = ring_with(uri, 1);
	assert_int_equal(blob_seal(kr, RKEY, (const uint8_t *)PT, strlen(PT), &blob), 0);
	f = module(&slot);

	assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_OK);
	assert_int_equal(f->C_GetSessionInfo(h, &si), CKR_OK);
	assert_int_equal(si.state, CKS_RO_USER_FUNCTIONS); /* kms.c's login covers the app */
	assert_int_equal(f->C_Logout(h), CKR_OK);
	assert_int_equal(f->C_GetSessionInfo(h, &si), CKR_OK);
	assert_int_equal(si.state, CKS_RO_PUBLIC_SESSION);
	assert_int_equal(f->C_CloseSession(h), CKR_OK);
	assert_int_equal(blob_open(kr, RKEY, blob.data, blob.len, &pt, &why), 0);
	assert_memory_equal(pt.data, PT, strlen(PT));
	assert_int_equal(kms_state(blob_keyring_kms(kr)), 1);

	assert_int_equal(f->C_CloseAllSessions(slot), CKR_OK);
	assert_int_equal(session_count(f, slot), 0);
	buf_reset(&pt);
	assert_int_equal(blob_open(kr, RKEY, blob.data, blob.len, &pt, &why), 0);
	assert_memory_equal(pt.data, PT, strlen(PT));
	assert_int_equal(session_count(f, slot), 1);
	buf_reset(&blob);
	assert_int_equal(blob_seal(kr, RKEY, (const uint8_t *)PT, strlen(PT), &blob), 0);
	blob_keyring_free(kr);
	buf_wipe(&pt);
	buf_deinit(&blob);
}

/* The KEK create-key makes is sensitive and was never extractable. Then that KEK deleted and
 * created again under the same label while a process has its handle: the next unwrap looks it
 * up again (blobs of the new KEK open), and blobs of the deleted one are
 * refused as foreign, the token staying up. */
static void test_kek_recreated(void **state)
{
	char u[512], err[512];
	struct blob_keyring *kr;
	CK_FUNCTION_LIST_PTR f;
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, "kek-3", 5 },
	};
	CK_BBOOL sens = CK_FALSE, ext = CK_TRUE, never = CK_FALSE;
	CK_ATTRIBUTE a[] = {
		{ CKA_SENSITIVE, &sens, sizeof(sens) },
		{ CKA_EXTRACTABLE, &ext, sizeof(ext) },
		{ CKA_NEVER_EXTRACTABLE, &never, sizeof(never) },
	};
	uint8_t val[64];
	CK_ATTRIBUTE v = { CKA_VALUE, val, sizeof(val) };
	CK_OBJECT_HANDLE o;
	CK_SESSION_HANDLE h;
	CK_ULONG n = 0;
	CK_SLOT_ID slot;
	struct buf old, blob, pt;
	const char *why = NULL;
	struct kms *k;

	(void)state;
	write_file(pin, "1234\n", 0600);
	snprintf(u, sizeof(u),
	         "pkcs11:token=spoacme;object=kek-3?module-path=%s&pin-source=file:%s", MODULE,
	         pin);
	buf_init(&old);
	buf_init(&blob);
	buf_init(&pt);
	kr = ring_with(u, 1);
	assert_int_equal(kms_create_key(blob_keyring_kms(kr), err, sizeof(err)), 0);
	assert_int_equal(blob_seal(kr, RKEY, (const uint8_t *)PT, strlen(PT), &old), 0);
	assert_int_equal(blob_open(kr, RKEY, old.data, old.len, &pt, &why), 0); /* handle kept */
	f = module(&slot);
	assert_int_equal(
	        f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h),
	        CKR_OK);
	assert_int_equal(f->C_FindObjectsInit(h, t, 2), CKR_OK);
	assert_int_equal(f->C_FindObjects(h, &o, 1, &n), CKR_OK);
	assert_int_equal(f->C_FindObjectsFinal(h), CKR_OK);
	assert_int_equal(n, 1);
	/* the KEK create-key made never leaves the token */
	assert_int_equal(f->C_GetAttributeValue(h, o, a, 3), CKR_OK);
	assert_int_equal(sens, CK_TRUE);
	assert_int_equal(ext, CK_FALSE);
	assert_int_equal(never, CK_TRUE);
	assert_int_equal(f->C_GetAttributeValue(h, o, &v, 1), CKR_ATTRIBUTE_SENSITIVE);
	assert_int_equal(f->C_DestroyObject(h, o), CKR_OK);
	assert_int_equal(f->C_CloseSession(h), CKR_OK);
	k = kms_open(u, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(kms_create_key(k, err, sizeof(err)), 0);
	kms_free(k);
	assert_int_equal(blob_seal(kr, RKEY, (const uint8_t *)PT, strlen(PT), &blob), 0);
	buf_reset(&pt);
	if (blob_open(kr, RKEY, blob.data, blob.len, &pt, &why) < 0)
		fail_msg("a blob of the re-created KEK: %s", why);
	assert_memory_equal(pt.data, PT, strlen(PT));
	buf_reset(&pt);
	assert_int_equal(blob_open(kr, RKEY, old.data, old.len, &pt, &why), -1);
	if (!strstr(why, "tampered or foreign"))
		fail_msg("a blob of the deleted KEK: %s", why);
	assert_int_equal(kms_state(blob_keyring_kms(kr)), 1);
	blob_keyring_free(kr);
	buf_wipe(&pt);
	buf_deinit(&blob);
	buf_deinit(&old);
}

#define THREADS 4
#define ROUNDS  25

struct worker {
	struct blob_keyring *kr;
	pthread_barrier_t *done;
	int ok;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct buf blob, pt;
	const char *why;
	int i;

	buf_init(&blob);
	buf_init(&pt);
	for (i = 0; i < ROUNDS; i++) {
		buf_reset(&blob);
		buf_reset(&pt);
		if (blob_seal(w->kr, RKEY, (const uint8_t *)PT, strlen(PT), &blob) == 0 &&
		    blob_open(w->kr, RKEY, blob.data, blob.len, &pt, &why) == 0 &&
		    pt.len == strlen(PT) && !memcmp(pt.data, PT, pt.len))
			w->ok++;
	}
	buf_wipe(&pt);
	buf_deinit(&blob);
	pthread_barrier_wait(w->done); /* the main thread counts the sessions now */
	pthread_barrier_wait(w->done);
	return NULL;
}

/* One session per thread whatever the number of calls, closed when its thread ends. */
static void test_session_per_thread(void **state)
{
	struct worker w[THREADS];
	pthread_t th[THREADS];
	pthread_barrier_t done;
	struct blob_keyring *kr;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	CK_ULONG c0;
	int i;

	(void)state;
	write_file(pin, "1234\n", 0600);
	kr = ring_with(uri, 1);
	f = module(&slot);
	c0 = session_count(f, slot);
	assert_int_equal(pthread_barrier_init(&done, NULL, THREADS + 1), 0);
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .kr = kr, .done = &done };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	pthread_barrier_wait(&done);
	assert_int_equal(session_count(f, slot), c0 + THREADS);
	pthread_barrier_wait(&done);
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].ok, ROUNDS);
	}
	assert_int_equal(session_count(f, slot), c0);
	pthread_barrier_destroy(&done);
	blob_keyring_free(kr);
}

/* The token goes away (its store moved: to the module, an HSM that is no longer there): the
 * blob does not open, the reason and the state say so, and once it is back the same handle
 * opens the blob again by itself. */
static void test_token_lost(void **state)
{
	char tokens[160], away[160], err[512], cmd[512], chunk[4096];
	struct blob_keyring *kr;
	struct buf blob, pt, pem, out;
	FILE *f;
	size_t n;
	const char *why = NULL;
	struct timespec t0, t1;
	int r;

	(void)state;
	write_file(pin, "1234\n", 0600);
	buf_init(&pem);
	buf_init(&out);
	snprintf(cmd, sizeof(cmd),
	         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
	         "-subj /CN=example.com -keyout %s/leaf.key -out %s/leaf.pem 2>/dev/null && "
	         "cat %s/leaf.key >>%s/leaf.pem",
	         dir, dir, dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(tokens, sizeof(tokens), "%s/leaf.pem", dir);
	f = fopen(tokens, "r");
	assert_non_null(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(buf_append(&pem, chunk, n), 0);
	fclose(f);
	snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	snprintf(away, sizeof(away), "%s/tokens.away", dir);
	buf_init(&blob);
	buf_init(&pt);
	kr = ring_with(uri, 1);
	assert_int_equal(kms_probe(blob_keyring_kms(kr)), 1);
	assert_int_equal(blob_seal(kr, RKEY, (const uint8_t *)PT, strlen(PT), &blob), 0);
	assert_int_equal(rename(tokens, away), 0);
	assert_int_equal(blob_open(kr, RKEY, blob.data, blob.len, &pt, &why), -1);
	assert_int_equal(pt.len, 0);
	if (!strstr(why, "token unavailable"))
		fail_msg("the token moved away: %s", why);
	assert_int_equal(kms_state(blob_keyring_kms(kr)), 0);
	assert_non_null(strstr(kms_last_error(blob_keyring_kms(kr), err, sizeof(err)),
	                       "token unavailable"));
	/* again at once: refused without waiting on the module */
	assert_int_equal(blob_open(kr, RKEY, blob.data, blob.len, &pt, &why), -1);
	assert_non_null(strstr(why, "token unavailable"));
	/* sealing a certificate says why too (the issuer logs it and retries) */
	buf_reset(&out);
	assert_int_equal(blob_seal_cert(kr, RKEY, &pem, &out, err, sizeof(err)), -1);
	if (!strstr(err, "cannot seal the certificate: KMS: token unavailable"))
		fail_msg("sealing without the token: %s", err);
	assert_int_equal(out.len, 0);
	/* a give-up time before the next re-initialisation: no wait */
	assert_int_equal(kms_wait_lost(blob_keyring_kms(kr), time(NULL) - 60), 0);
	assert_int_equal(rename(away, tokens), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* what the one-shot commands do: wait for the re-initialisation, then call again once */
	assert_int_equal(kms_wait_lost(blob_keyring_kms(kr), time(NULL) + 10), 1);
	buf_reset(&pt);
	r = blob_open(kr, RKEY, blob.data, blob.len, &pt, &why);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r < 0)
		fail_msg("the token came back, the blob still does not open: %s", why);
	print_message("token back: the blob opens again after %ld ms\n",
	              (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	assert_memory_equal(pt.data, PT, strlen(PT));
	assert_int_equal(kms_state(blob_keyring_kms(kr)), 1);
	/* a token that is not lost: nothing to wait for */
	assert_int_equal(kms_wait_lost(blob_keyring_kms(kr), time(NULL) + 10), 0);
	/* and it seals again */
	buf_reset(&blob);
	assert_int_equal(blob_seal(kr, RKEY, (const uint8_t *)PT, strlen(PT), &blob), 0);
	if (blob_seal_cert(kr, RKEY, &pem, &out, err, sizeof(err)) < 0)
		fail_msg("sealing with the token back: %s", err);
	assert_memory_equal(out.data, "SPA2", 4);
	blob_keyring_free(kr);
	buf_wipe(&pem);
	buf_deinit(&out);
	buf_wipe(&pt);
	buf_deinit(&blob);
}

struct flapper {
	struct blob_keyring *kr;
	atomic_int *stop, *failed, *opened;
	atomic_int ok; /* wrap+unwrap since the token came back for good (*back set) */
	atomic_int *back;
};

static void *flapper_main(void *arg)
{
	struct flapper *w = arg;
	struct kms *k = blob_keyring_kms(w->kr);
	uint8_t dk[KMS_KEY_LEN] = { 7 }, back[KMS_KEY_LEN], wr[KMS_WRAPPED_MAX];
	char err[512];
	size_t wl;

	/* token calls back to back, as a busy issuer's workers make them */
	while (!atomic_load(w->stop)) {
		if (kms_wrap(k, dk, wr, &wl, err, sizeof(err)) == 0 &&
		    kms_unwrap(k, kms_kek_id(k), wr, wl, back, err, sizeof(err)) == 0 &&
		    !memcmp(back, dk, sizeof(dk))) {
			atomic_fetch_add(w->opened, 1);
			if (atomic_load(w->back))
				atomic_fetch_add(&w->ok, 1);
		} else {
			atomic_fetch_add(w->failed, 1);
		}
	}
	return NULL;
}

/* The token lost and back eight times under four threads that keep opening blobs: once it is
 * back, every thread wraps and unwraps again (none left waiting behind the others' calls to
 * re-initialise it: with glibc's default reader-first rwlock, that writer starved). */
static void test_token_flaps_threads(void **state)
{
	char tokens[160], away[160];
	struct flapper w[THREADS];
	pthread_t th[THREADS];
	atomic_int stop = 0, failed = 0, opened = 0, back = 0;
	struct blob_keyring *kr;
	int i, round, done;

	(void)state;
	write_file(pin, "1234\n", 0600);
	snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	snprintf(away, sizeof(away), "%s/tokens.away", dir);
	kr = ring_with(uri, 1);
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct flapper){
			.kr = kr, .stop = &stop, .failed = &failed, .opened = &opened, .back = &back
		};
		assert_int_equal(pthread_create(&th[i], NULL, flapper_main, &w[i]), 0);
	}
	/* the outages and the returns are faults injected at a pace, not waits for a result */
	for (round = 0; round < 8; round++) {
		assert_int_equal(rename(tokens, away), 0);
		usleep(250000);
		assert_int_equal(rename(away, tokens), 0);
		usleep(250000);
	}
	assert_true(atomic_load(&failed) > 0);
	atomic_store(&back, 1);
	for (i = 0, done = 0; i < 1500 && !done; i++) {
		int t;

		for (t = 0, done = 1; t < THREADS; t++)
			done &= atomic_load(&w[t].ok) >= 20;
		if (!done)
			usleep(10000);
	}
	atomic_store(&stop, 1);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (i = 0; i < THREADS; i++)
		if (atomic_load(&w[i].ok) < 20)
			fail_msg("thread %d: %d wrap+unwrap in 15 s since the token is back", i,
			         atomic_load(&w[i].ok));
	assert_int_equal(kms_state(blob_keyring_kms(kr)), 1);
	blob_keyring_free(kr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_errors),    cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_foreign_token), cmocka_unit_test(test_relogin),
		cmocka_unit_test(test_kek_recreated), cmocka_unit_test(test_session_per_thread),
		cmocka_unit_test(test_token_lost),    cmocka_unit_test(test_token_flaps_threads),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
