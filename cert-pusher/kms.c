// SPDX-License-Identifier: MIT
/*
 * PKCS#11 envelope keys: the KEK stays in the token, this module asks the token to wrap and
 * unwrap 32-byte data keys (CKM_AES_KEY_WRAP_PAD, RFC 5649). The URI is parsed by p11-kit
 * (RFC 7512, including the module-path and pin-source query attributes) and the PKCS#11 types
 * come from p11-kit's pkcs11.h; the module itself is dlopen()ed. Unwrapped key bytes only pass
 * through caller buffers; the session object holding them is destroyed before returning.
 * Never logs; the caller (blob.c's callers) adds the context.
 */
#include "cert-pusher/kms.h"

#include <dlfcn.h>
#include <openssl/crypto.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/names.h"
#include "common/buf.h"
#include "common/file.h"

#define KMS_PROXY  "p11-kit-proxy.so"
#define KMS_PINMAX 256
/* Tokens lock a PIN after a few failures: a wrong PIN is not retried at every blob. */
#define KMS_LOGIN_RETRY_S 5
/* A lost token (removed, unreachable, its module failing) is re-initialised at most this
 * often; meanwhile every call fails at once with the reason, without touching the module. */
#define KMS_RESET_RETRY_S 2

struct kms {
	char *uri_text;
	P11KitUri *uri;
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	char *pin_path;
	char label[KMS_KEKID_MAX + 1];
	pthread_key_t sess_key;
	/* Token calls hold it shared; re-initialising the module after a loss holds it alone. */
	pthread_rwlock_t rw;
	pthread_mutex_t mu; /* login state and error text */
	int logged_in;
	int inited;           /* this handle's C_Initialize returned CKR_OK: it finalizes */
	int usable;           /* the module is initialised (0 after a failed re-initialisation) */
	int lost;             /* a device-level failure: re-initialise before the next call */
	time_t reset_at;      /* last re-initialisation attempt */
	char lost_error[160]; /* why the token was declared lost */
	char reset_error[48]; /* how the last re-initialisation failed, "" if it did not */
	unsigned epoch;       /* module initialisations: older session handles are dead */
	time_t probe_at;      /* last kms_probe() that reached the token */
	time_t login_failed;  /* a refused login is retried after KMS_LOGIN_RETRY_S ... */
	struct timespec pin_mtime; /* ... or as soon as the PIN file changes */
	char login_error[160];
	int state;
	unsigned gen; /* bumped when every session must be reopened */
	char error[256];
};

/* KEK handles this session found, for unwraps (KMS_KEK_CACHE labels: the sealing KEK and,
 * during a rotation, the old one). Token object handles stay valid across calls until the
 * object is destroyed; an unwrap that fails with a remembered handle looks the KEK up again. */
#define KMS_KEK_CACHE 2

struct kms_sess {
	struct kms *k;
	CK_SESSION_HANDLE h;
	unsigned gen;
	unsigned epoch;
	struct {
		char label[KMS_KEKID_MAX + 1];
		CK_OBJECT_HANDLE h;
	} kek[KMS_KEK_CACHE];
	unsigned kek_next;
};

/* Close and free <s>; the caller holds k->rw. A handle from before a re-initialisation is not
 * closed: the module may have given its number to another session since. */
static void kms_sess_close(struct kms_sess *s)
{
	if (!s)
		return;
	if (s->epoch == s->k->epoch && s->k->usable)
		s->k->f->C_CloseSession(s->h);
	free(s);
}

/* Thread-exit destructor of the per-thread session. */
static void kms_sess_free(void *v)
{
	struct kms_sess *s = v;
	struct kms *k;

	if (!s)
		return;
	k = s->k;
	pthread_rwlock_rdlock(&k->rw);
	kms_sess_close(s);
	pthread_rwlock_unlock(&k->rw);
}

/* Record the outcome of a token operation: <ok> 1 or 0 with a printf message. */
static void kms_note(struct kms *k, int ok, char *err, size_t errsz)
{
	pthread_mutex_lock(&k->mu);
	k->state = ok;
	if (!ok)
		snprintf(k->error, sizeof(k->error), "%s", err);
	else
		k->error[0] = 0;
	pthread_mutex_unlock(&k->mu);
	(void)errsz;
}

static int kms_label_valid(const char *s, size_t len)
{
	return names_id_valid(s, len, KMS_KEKID_MAX);
}

void kms_free(struct kms *k)
{
	struct kms_sess *s;

	if (!k)
		return;
	if (k->f) {
		s = pthread_getspecific(k->sess_key);
		if (s) {
			pthread_setspecific(k->sess_key, NULL);
			kms_sess_close(s);
		}
		pthread_key_delete(k->sess_key);
		if (k->inited)
			k->f->C_Finalize(NULL);
	}
	if (k->dl)
		dlclose(k->dl);
	if (k->uri)
		p11_kit_uri_free(k->uri);
	pthread_rwlock_destroy(&k->rw);
	pthread_mutex_destroy(&k->mu);
	free(k->pin_path);
	free(k->uri_text);
	free(k);
}

struct kms *kms_open(const char *uri, char *err, size_t errsz)
{
	struct kms *k = calloc(1, sizeof(*k)), *ret = NULL;
	pthread_rwlockattr_t rwa;
	CK_C_GetFunctionList gfl;
	CK_C_INITIALIZE_ARGS ia = { .flags = CKF_OS_LOCKING_OK };
	CK_ATTRIBUTE_PTR a;
	const char *mod, *pin;
	CK_RV rv;
	int r;

	if (!k) {
		snprintf(err, errsz, "--kms: out of memory");
		return NULL;
	}
	pthread_mutex_init(&k->mu, NULL);
	/* Writers first: a thread waiting to re-initialise is not starved by the calls of the
	 * others (glibc prefers readers by default, and they hold it back for seconds). No thread
	 * takes k->rw twice. */
	pthread_rwlockattr_init(&rwa);
	pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&k->rw, &rwa);
	pthread_rwlockattr_destroy(&rwa);
	k->state = -1;
	k->uri = p11_kit_uri_new();
	k->uri_text = strdup(uri);
	if (!k->uri || !k->uri_text) {
		snprintf(err, errsz, "--kms: out of memory");
		goto out;
	}
	r = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN_AND_MODULE, k->uri);
	if (r != P11_KIT_URI_OK) {
		snprintf(err, errsz, "--kms: '%.200s' is not a PKCS#11 URI (RFC 7512): %s", uri,
		         p11_kit_uri_message(r));
		goto out;
	}
	a = p11_kit_uri_get_attribute(k->uri, CKA_LABEL);
	if (!a || !kms_label_valid(a->pValue, a->ulValueLen)) {
		snprintf(err, errsz,
		         "--kms: the URI needs object=<KEK label>, 1..%d of [A-Za-z0-9._-]",
		         KMS_KEKID_MAX);
		goto out;
	}
	memcpy(k->label, a->pValue, a->ulValueLen);
	pin = p11_kit_uri_get_pin_source(k->uri);
	if (!pin) {
		snprintf(err, errsz, "--kms: the URI needs pin-source=file:<PIN file>");
		goto out;
	}
	if (!strncmp(pin, "file:", 5))
		pin += 5;
	if (pin[0] != '/') {
		snprintf(err, errsz, "--kms: pin-source '%.200s': expected file:/absolute/path",
		         pin);
		goto out;
	}
	k->pin_path = strdup(pin);
	if (!k->pin_path) {
		snprintf(err, errsz, "--kms: out of memory");
		goto out;
	}
	mod = p11_kit_uri_get_module_path(k->uri);
	if (!mod)
		mod = KMS_PROXY;
	k->dl = dlopen(mod, RTLD_NOW | RTLD_LOCAL);
	if (!k->dl) {
		snprintf(err, errsz, "--kms: module-path '%.200s': %s", mod, dlerror());
		goto out;
	}
	*(void **)&gfl = dlsym(k->dl, "C_GetFunctionList");
	if (!gfl || gfl(&k->f) != CKR_OK || !k->f) {
		snprintf(err, errsz, "--kms: module '%.200s' has no usable C_GetFunctionList", mod);
		k->f = NULL;
		goto out;
	}
	rv = k->f->C_Initialize(&ia);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		snprintf(err, errsz, "--kms: module '%.200s': C_Initialize: 0x%lx", mod,
		         (unsigned long)rv);
		k->f = NULL;
		goto out;
	}
	k->inited = rv == CKR_OK;
	k->usable = 1;
	if (pthread_key_create(&k->sess_key, kms_sess_free) != 0) {
		snprintf(err, errsz, "--kms: out of thread keys");
		if (rv == CKR_OK)
			k->f->C_Finalize(NULL);
		k->f = NULL;
		goto out;
	}
	ret = k;
	k = NULL;
out:
	kms_free(k);
	return ret;
}

const char *kms_kek_id(const struct kms *k)
{
	return k->label;
}

int kms_state(const struct kms *k)
{
	int s;

	pthread_mutex_lock((pthread_mutex_t *)&k->mu);
	s = k->state;
	pthread_mutex_unlock((pthread_mutex_t *)&k->mu);
	return s;
}

int kms_wait_lost(struct kms *k, time_t give_up)
{
	time_t due;
	int lost;

	pthread_mutex_lock(&k->mu);
	lost = k->lost;
	due = k->reset_at + KMS_RESET_RETRY_S;
	pthread_mutex_unlock(&k->mu);
	if (!lost || due > give_up)
		return 0;
	while (time(NULL) < due)
		usleep(100 * 1000);
	return 1;
}

const char *kms_last_error(const struct kms *k, char *out, size_t outsz)
{
	pthread_mutex_lock((pthread_mutex_t *)&k->mu);
	snprintf(out, outsz, "%s", k->error);
	pthread_mutex_unlock((pthread_mutex_t *)&k->mu);
	return out;
}

/* Find the slot holding the URI's token. 0 or -1 with <err>. */
static int kms_slot(struct kms *k, CK_SLOT_ID *slot, char *err, size_t errsz)
{
	CK_SLOT_ID ids[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	CK_RV rv;

	rv = k->f->C_GetSlotList(CK_TRUE, ids, &n);
	if (rv != CKR_OK) {
		snprintf(err, errsz, "C_GetSlotList: 0x%lx", (unsigned long)rv);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (k->f->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		if (p11_kit_uri_match_token_info(k->uri, &ti)) {
			*slot = ids[i];
			return 0;
		}
	}
	snprintf(err, errsz, "no token matches the --kms URI");
	return -1;
}

/* Read the PIN file (mode-checked) into <pin>; length or -1. */
static long kms_pin(struct kms *k, char pin[KMS_PINMAX], char *err, size_t errsz)
{
	struct buf b;
	long ret = -1;
	size_t n;

	buf_init(&b);
	if (file_read(k->pin_path, KMS_PINMAX, 1, &b, err, errsz) < 0)
		goto out;
	n = b.len;
	while (n && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r'))
		n--;
	if (!n || n >= KMS_PINMAX || memchr(b.data, 0, n)) {
		snprintf(err, errsz, "%s: expected one line holding the PIN", k->pin_path);
		goto out;
	}
	memcpy(pin, b.data, n);
	ret = (long)n;
out:
	buf_wipe(&b);
	return ret;
}

/* Outcomes of this module's own checks, beside the module's CK_RVs: the token refused our
 * login or the PIN file is unusable (final, a token failure), or the token answered and the
 * request itself is wrong (final, the token is fine: a foreign or tampered wrapped key). */
#define KMS_RV_REFUSED  (CKR_VENDOR_DEFINED | 0x5350u)
#define KMS_RV_ANSWERED (CKR_VENDOR_DEFINED | 0x5351u)
#define KMS_RV_NOKEY    (CKR_VENDOR_DEFINED | 0x5352u) /* answered: no key with that label */

/* Declare the token lost with reason <why>: the next call re-initialises the module. */
static void kms_lose(struct kms *k, const char *why)
{
	pthread_mutex_lock(&k->mu);
	snprintf(k->lost_error, sizeof(k->lost_error), "%s", why);
	k->reset_error[0] = 0;
	k->lost = 1;
	k->logged_in = 0;
	k->gen++;
	pthread_mutex_unlock(&k->mu);
}

/* Re-initialise the module after a loss (C_Finalize, C_Initialize: a module rescans its slots
 * and reconnects only then), at most every KMS_RESET_RETRY_S. Every session handle dies with
 * it, so this runs with k->rw held exclusively. A handle that did not initialise the module
 * (another handle in this process did) does not finalize it. */
static void kms_reset(struct kms *k)
{
	CK_C_INITIALIZE_ARGS ia = { .flags = CKF_OS_LOCKING_OK };
	time_t now = time(NULL);
	CK_RV rv;

	pthread_rwlock_wrlock(&k->rw);
	pthread_mutex_lock(&k->mu);
	if (!k->lost || now - k->reset_at < KMS_RESET_RETRY_S)
		goto out;
	k->reset_at = now;
	if (k->inited) {
		k->f->C_Finalize(NULL);
		k->inited = 0;
		k->usable = 0;
	}
	k->epoch++;
	k->gen++;
	k->logged_in = 0;
	rv = k->f->C_Initialize(&ia);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		snprintf(k->reset_error, sizeof(k->reset_error), "; C_Initialize: 0x%lx",
		         (unsigned long)rv);
		goto out;
	}
	k->inited = rv == CKR_OK;
	k->usable = 1;
	k->lost = 0;
out:
	pthread_mutex_unlock(&k->mu);
	pthread_rwlock_unlock(&k->rw);
}

/* Enter a token call: re-initialise a lost token first (kms_reset). On success k->rw is held
 * shared until kms_end(). 0, or -1 with <err> while the token stays lost. */
static int kms_begin(struct kms *k, char *err, size_t errsz)
{
	int lost;

	pthread_mutex_lock(&k->mu);
	lost = k->lost && time(NULL) - k->reset_at >= KMS_RESET_RETRY_S; /* a reset is due */
	pthread_mutex_unlock(&k->mu);
	if (lost)
		kms_reset(k);
	pthread_rwlock_rdlock(&k->rw);
	pthread_mutex_lock(&k->mu);
	lost = k->lost;
	if (lost)
		snprintf(err, errsz, "token unavailable: %s%s (retried every %ds)", k->lost_error,
		         k->reset_error, KMS_RESET_RETRY_S);
	pthread_mutex_unlock(&k->mu);
	if (lost) {
		pthread_rwlock_unlock(&k->rw);
		return -1;
	}
	return 0;
}

static void kms_end(struct kms *k)
{
	pthread_rwlock_unlock(&k->rw);
}

/* Whether <rv> says the session, the login or the token went away (kms_retryable). */
static int kms_rv_lost(CK_RV rv)
{
	switch (rv) {
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_DEVICE_REMOVED:
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_MEMORY:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SLOT_ID_INVALID:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_GENERAL_ERROR:
		return 1;
	default:
		return 0;
	}
}

/* This thread's session, logged in, into <*sp>; the caller holds k->rw shared. CKR_OK, or a
 * CK_RV / KMS_RV_REFUSED with <err>. */
static CK_RV kms_session(struct kms *k, struct kms_sess **sp, char *err, size_t errsz)
{
	struct kms_sess *s = pthread_getspecific(k->sess_key);
	char pin[KMS_PINMAX];
	struct stat st;
	CK_SLOT_ID slot;
	long plen;
	CK_RV rv;
	unsigned gen;
	int logged;

	pthread_mutex_lock(&k->mu);
	gen = k->gen;
	logged = k->logged_in;
	pthread_mutex_unlock(&k->mu);
	if (s && s->gen != gen) {
		pthread_setspecific(k->sess_key, NULL);
		kms_sess_close(s);
		s = NULL;
	}
	if (!s) {
		if (kms_slot(k, &slot, err, errsz) < 0)
			return CKR_TOKEN_NOT_PRESENT;
		s = calloc(1, sizeof(*s));
		if (!s) {
			snprintf(err, errsz, "out of memory");
			return CKR_HOST_MEMORY;
		}
		s->k = k;
		s->gen = gen;
		s->epoch = k->epoch;
		rv = k->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
		                         &s->h);
		if (rv != CKR_OK) {
			snprintf(err, errsz, "C_OpenSession: 0x%lx", (unsigned long)rv);
			free(s);
			return rv;
		}
		pthread_setspecific(k->sess_key, s);
	}
	*sp = s;
	if (logged)
		return CKR_OK;
	if (stat(k->pin_path, &st) < 0)
		memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&k->mu);
	if (k->login_failed && time(NULL) - k->login_failed < KMS_LOGIN_RETRY_S &&
	    st.st_mtim.tv_sec == k->pin_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == k->pin_mtime.tv_nsec) {
		snprintf(err, errsz, "%s (retried within %ds or when the PIN file changes)",
		         k->login_error, KMS_LOGIN_RETRY_S);
		pthread_mutex_unlock(&k->mu);
		return KMS_RV_REFUSED;
	}
	pthread_mutex_unlock(&k->mu);
	plen = kms_pin(k, pin, err, errsz);
	if (plen < 0) {
		rv = KMS_RV_REFUSED;
		goto refused;
	}
	rv = k->f->C_Login(s->h, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)plen);
	OPENSSL_cleanse(pin, sizeof(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		snprintf(err, errsz, "login failed: %s (0x%lx)",
		         rv == CKR_PIN_INCORRECT ? "wrong PIN"
		         : rv == CKR_PIN_LOCKED  ? "PIN locked"
		                                 : "C_Login refused",
		         (unsigned long)rv);
		/* Anything but a lost session or token is a refusal, tried again later. */
		if (!kms_rv_lost(rv))
			rv = KMS_RV_REFUSED;
		goto refused;
	}
	pthread_mutex_lock(&k->mu);
	k->logged_in = 1;
	k->login_failed = 0;
	pthread_mutex_unlock(&k->mu);
	return CKR_OK;
refused:
	/* A refused PIN waits KMS_LOGIN_RETRY_S; a lost session or token is retried at once. */
	if (rv != KMS_RV_REFUSED)
		return rv;
	pthread_mutex_lock(&k->mu);
	k->login_failed = time(NULL);
	k->pin_mtime = st.st_mtim;
	snprintf(k->login_error, sizeof(k->login_error), "%s", err);
	pthread_mutex_unlock(&k->mu);
	return rv;
}

/* After a failed attempt that returned <rv> (<err> says why): whether one more attempt is
 * worth it, having dropped what <rv> says is gone. A lost session is reopened, a lost login
 * redone; a lost device makes the token lost (kms_reset before the next attempt). */
static int kms_retryable(struct kms *k, CK_RV rv, const char *err)
{
	switch (rv) {
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
		pthread_mutex_lock(&k->mu);
		k->logged_in = 0; /* the last session closed takes the login with it */
		k->gen++;
		pthread_mutex_unlock(&k->mu);
		return 1;
	case CKR_USER_NOT_LOGGED_IN:
		pthread_mutex_lock(&k->mu);
		k->logged_in = 0;
		pthread_mutex_unlock(&k->mu);
		return 1;
	default:
		if (!kms_rv_lost(rv))
			return 0;
		kms_lose(k, err); /* the device: CKR_DEVICE_*, CKR_TOKEN_*, ... */
		return 1;
	}
}

/* The secret key labelled <label> in session <h> into <*o>: CKR_OK, KMS_RV_NOKEY when the
 * token has no such key (while the session is logged in: a session that lost its login sees
 * no private object and gets CKR_USER_NOT_LOGGED_IN), KMS_RV_ANSWERED when several keys have
 * that label, or the module's CK_RV; <err> set. */
static CK_RV kms_find(struct kms *k, CK_SESSION_HANDLE h, const char *label, CK_OBJECT_HANDLE *o,
                      char *err, size_t errsz)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE found[2];
	CK_SESSION_INFO si;
	CK_ULONG n = 0;
	CK_RV rv;

	rv = k->f->C_FindObjectsInit(h, t, 2);
	if (rv != CKR_OK) {
		snprintf(err, errsz, "C_FindObjectsInit: 0x%lx", (unsigned long)rv);
		return rv;
	}
	rv = k->f->C_FindObjects(h, found, 2, &n);
	k->f->C_FindObjectsFinal(h);
	if (rv != CKR_OK) {
		snprintf(err, errsz, "C_FindObjects: 0x%lx", (unsigned long)rv);
		return rv;
	}
	if (n == 1) {
		*o = found[0];
		return CKR_OK;
	}
	if (n) {
		snprintf(err, errsz, "KEK '%s': several keys have that label in the token", label);
		return KMS_RV_ANSWERED;
	}
	rv = k->f->C_GetSessionInfo(h, &si);
	if (rv != CKR_OK) {
		snprintf(err, errsz, "C_GetSessionInfo: 0x%lx", (unsigned long)rv);
		return rv;
	}
	if (si.state != CKS_RO_USER_FUNCTIONS && si.state != CKS_RW_USER_FUNCTIONS) {
		snprintf(err, errsz, "KEK '%s': the session lost its login", label);
		return CKR_USER_NOT_LOGGED_IN;
	}
	snprintf(err, errsz, "KEK '%s' is not in the token (another token, or a deleted KEK?)",
	         label);
	return KMS_RV_NOKEY;
}

/* The KEK labelled <label> for a wrap or an unwrap. When the token lacks it and also lacks the
 * URI's own KEK, the token itself is taken as gone (emptied, replaced, or a module that lost
 * its store): CKR_TOKEN_NOT_PRESENT, so it is re-initialised, rather than a foreign blob. */
static CK_RV kms_kek(struct kms *k, CK_SESSION_HANDLE h, const char *label, CK_OBJECT_HANDLE *o,
                     char *err, size_t errsz)
{
	CK_OBJECT_HANDLE own;
	char e2[160];
	CK_RV rv;

	rv = kms_find(k, h, label, o, err, errsz);
	if (rv != KMS_RV_NOKEY)
		return rv;
	if (strcmp(label, k->label)) {
		rv = kms_find(k, h, k->label, &own, e2, sizeof(e2));
		if (rv == CKR_OK)
			return KMS_RV_NOKEY; /* <err> names <label>: a blob of another token */
		if (rv != KMS_RV_NOKEY)
			return rv;
	}
	snprintf(err, errsz,
	         "KEK '%s' (the --kms URI's object) is not in the token: token emptied or lost",
	         k->label);
	return CKR_TOKEN_NOT_PRESENT;
}

/* One attempt of kms_wrap, k->rw held shared. */
static CK_RV kms_wrap_once(struct kms *k, const uint8_t dk[KMS_KEY_LEN], uint8_t *out,
                           size_t *out_len, char *err, size_t errsz)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },       { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, sizeof(no) },         { CKA_SENSITIVE, &no, sizeof(no) },
		{ CKA_EXTRACTABLE, &yes, sizeof(yes) }, { CKA_VALUE, (void *)dk, KMS_KEY_LEN },
	};
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_OBJECT_HANDLE kek, obj = CK_INVALID_HANDLE;
	struct kms_sess *s;
	CK_ULONG n;
	CK_RV rv;

	rv = kms_session(k, &s, err, errsz);
	if (rv == CKR_OK)
		rv = kms_kek(k, s->h, k->label, &kek, err, errsz);
	if (rv != CKR_OK)
		return rv;
	rv = k->f->C_CreateObject(s->h, t, sizeof(t) / sizeof(t[0]), &obj);
	if (rv == CKR_OK) {
		n = KMS_WRAPPED_MAX;
		rv = k->f->C_WrapKey(s->h, &m, kek, obj, out, &n);
		k->f->C_DestroyObject(s->h, obj);
	}
	if (rv != CKR_OK) {
		snprintf(err, errsz, "KEK '%s': wrap failed: 0x%lx", k->label, (unsigned long)rv);
		return rv;
	}
	*out_len = n;
	return CKR_OK;
}

int kms_wrap(struct kms *k, const uint8_t dk[KMS_KEY_LEN], uint8_t *out, size_t *out_len, char *err,
             size_t errsz)
{
	CK_RV rv = CKR_OK;
	int tries, ret = -1;

	for (tries = 0; tries < 2; tries++) {
		if (kms_begin(k, err, errsz) < 0)
			break;
		rv = kms_wrap_once(k, dk, out, out_len, err, errsz);
		kms_end(k);
		if (rv == CKR_OK) {
			ret = 0;
			break;
		}
		if (!kms_retryable(k, rv, err))
			break;
	}
	kms_note(k, ret == 0, err, errsz);
	return ret;
}

/* The handle of KEK <label> that session <s> remembers into <*o>: 1, or 0. */
static int kms_kek_cached(const struct kms_sess *s, const char *label, CK_OBJECT_HANDLE *o)
{
	unsigned i;

	for (i = 0; i < KMS_KEK_CACHE; i++)
		if (s->kek[i].label[0] && !strcmp(s->kek[i].label, label)) {
			*o = s->kek[i].h;
			return 1;
		}
	return 0;
}

/* Remember (<o> valid) or forget (<o> CK_INVALID_HANDLE) the handle of KEK <label>. */
static void kms_kek_remember(struct kms_sess *s, const char *label, CK_OBJECT_HANDLE o)
{
	unsigned i;

	for (i = 0; i < KMS_KEK_CACHE; i++)
		if (!strcmp(s->kek[i].label, label))
			break;
	if (i == KMS_KEK_CACHE) {
		if (o == CK_INVALID_HANDLE)
			return;
		i = s->kek_next++ % KMS_KEK_CACHE;
	}
	if (o == CK_INVALID_HANDLE) {
		s->kek[i].label[0] = 0;
		return;
	}
	snprintf(s->kek[i].label, sizeof(s->kek[i].label), "%s", label);
	s->kek[i].h = o;
}

/* One attempt of kms_unwrap, k->rw held shared; the key bytes go through <val> (wiped by the
 * caller). The KEK's handle is looked up once per session (C_FindObjects costs as much as the
 * unwrap in SoftHSM2); an unwrap refused with a remembered handle is tried once more with a
 * fresh lookup, so a KEK deleted, re-created or whose handle was reused is never a false
 * "tampered" nor a wrong key (RFC 5649's check refuses a key unwrapped under another KEK). */
static CK_RV kms_unwrap_once(struct kms *k, const char *kek_id, const uint8_t *w, size_t wlen,
                             uint8_t val[KMS_WRAPPED_MAX], char *err, size_t errsz)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },       { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, sizeof(no) },         { CKA_SENSITIVE, &no, sizeof(no) },
		{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
	};
	CK_MECHANISM m = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ATTRIBUTE v = { CKA_VALUE, val, KMS_WRAPPED_MAX };
	CK_OBJECT_HANDLE kek, obj = CK_INVALID_HANDLE;
	struct kms_sess *s;
	int pass, cached;
	CK_RV rv;

	rv = kms_session(k, &s, err, errsz);
	if (rv != CKR_OK)
		return rv;
	for (pass = 0; pass < 2; pass++) {
		cached = pass == 0 && kms_kek_cached(s, kek_id, &kek);
		if (!cached) {
			rv = kms_kek(k, s->h, kek_id, &kek, err, errsz);
			if (rv != CKR_OK)
				return rv;
			kms_kek_remember(s, kek_id, kek);
		}
		rv = k->f->C_UnwrapKey(s->h, &m, kek, (CK_BYTE_PTR)w, wlen, t,
		                       sizeof(t) / sizeof(t[0]), &obj);
		if (rv == CKR_OK || !cached)
			break;
		kms_kek_remember(s, kek_id, CK_INVALID_HANDLE);
	}
	if (rv == CKR_OK) {
		rv = k->f->C_GetAttributeValue(s->h, obj, &v, 1);
		k->f->C_DestroyObject(s->h, obj);
		if (rv == CKR_OK && v.ulValueLen != KMS_KEY_LEN) {
			snprintf(err, errsz, "unwrapped data key of %lu bytes",
			         (unsigned long)v.ulValueLen);
			return KMS_RV_ANSWERED;
		}
	}
	/* RFC 5649's integrity check refuses a tampered wrapped key, or one from another token:
	 * CKR_WRAPPED_KEY_INVALID and the like, CKR_GENERAL_ERROR from SoftHSM2. A session that
	 * still answers tells it from a token that went away. */
	if (rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_ENCRYPTED_DATA_INVALID ||
	    rv == CKR_WRAPPED_KEY_LEN_RANGE || rv == CKR_GENERAL_ERROR ||
	    rv == CKR_FUNCTION_FAILED) {
		CK_SESSION_INFO si;
		CK_RV prv = k->f->C_GetSessionInfo(s->h, &si);

		if (prv == CKR_OK &&
		    (si.state == CKS_RO_USER_FUNCTIONS || si.state == CKS_RW_USER_FUNCTIONS)) {
			snprintf(
			        err, errsz,
			        "KEK '%s': unwrap refused: 0x%lx (tampered or foreign wrapped key)",
			        kek_id, (unsigned long)rv);
			return KMS_RV_ANSWERED;
		}
		if (prv != CKR_OK)
			rv = prv;
		else
			rv = CKR_USER_NOT_LOGGED_IN;
	}
	if (rv != CKR_OK)
		snprintf(err, errsz, "KEK '%s': unwrap refused: 0x%lx", kek_id, (unsigned long)rv);
	return rv;
}

int kms_unwrap(struct kms *k, const char *kek_id, const uint8_t *w, size_t wlen,
               uint8_t dk[KMS_KEY_LEN], char *err, size_t errsz)
{
	uint8_t val[KMS_WRAPPED_MAX];
	CK_RV rv = CKR_OK;
	int tries, ret = -1;

	if (wlen < 16 || wlen > KMS_WRAPPED_MAX) {
		snprintf(err, errsz, "wrapped data key of %zu bytes (expected 40)", wlen);
		return -1;
	}
	for (tries = 0; tries < 2; tries++) {
		if (kms_begin(k, err, errsz) < 0)
			break;
		rv = kms_unwrap_once(k, kek_id, w, wlen, val, err, errsz);
		kms_end(k);
		if (rv == CKR_OK) {
			memcpy(dk, val, KMS_KEY_LEN);
			ret = 0;
			break;
		}
		if (!kms_retryable(k, rv, err))
			break;
	}
	OPENSSL_cleanse(val, sizeof(val));
	/* A foreign or tampered wrapped key is the blob's fault: the token answered. */
	kms_note(k, ret == 0 || rv == KMS_RV_ANSWERED || rv == KMS_RV_NOKEY, err, errsz);
	return ret;
}

int kms_create_key(struct kms *k, char *err, size_t errsz)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG len = KMS_KEY_LEN;
	CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },     { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_VALUE_LEN, &len, sizeof(len) }, { CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },   { CKA_SENSITIVE, &yes, sizeof(yes) },
		{ CKA_EXTRACTABLE, &no, sizeof(no) }, { CKA_WRAP, &yes, sizeof(yes) },
		{ CKA_UNWRAP, &yes, sizeof(yes) },    { CKA_ENCRYPT, &no, sizeof(no) },
		{ CKA_DECRYPT, &no, sizeof(no) },     { CKA_LABEL, k->label, strlen(k->label) },
	};
	CK_MECHANISM m = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_OBJECT_HANDLE o;
	struct kms_sess *s;
	CK_RV rv;
	int ret = -1;

	if (kms_begin(k, err, errsz) < 0)
		return -1;
	rv = kms_session(k, &s, err, errsz);
	if (rv != CKR_OK)
		goto out;
	rv = kms_find(k, s->h, k->label, &o, err, errsz);
	if (rv == CKR_OK) {
		snprintf(err, errsz, "KEK '%s' already exists in the token", k->label);
		goto out;
	}
	if (rv != KMS_RV_NOKEY)
		goto out;
	rv = k->f->C_GenerateKey(s->h, &m, t, sizeof(t) / sizeof(t[0]), &o);
	if (rv != CKR_OK) {
		snprintf(err, errsz, "C_GenerateKey: 0x%lx", (unsigned long)rv);
		goto out;
	}
	ret = 0;
out:
	kms_end(k);
	return ret;
}

int kms_probe(struct kms *k)
{
	char err[256] = "";
	time_t now = time(NULL);
	CK_OBJECT_HANDLE o;
	struct kms_sess *s;
	CK_RV rv = CKR_OK;
	int tries, due;

	pthread_mutex_lock(&k->mu);
	due = now - k->probe_at >= KMS_RESET_RETRY_S;
	if (due)
		k->probe_at = now;
	pthread_mutex_unlock(&k->mu);
	if (!due)
		return kms_state(k);
	for (tries = 0; tries < 2; tries++) {
		if (kms_begin(k, err, sizeof(err)) < 0) {
			rv = KMS_RV_REFUSED;
			break;
		}
		rv = kms_session(k, &s, err, sizeof(err));
		if (rv == CKR_OK)
			rv = kms_kek(k, s->h, k->label, &o, err, sizeof(err));
		kms_end(k);
		if (rv == CKR_OK || !kms_retryable(k, rv, err))
			break;
	}
	kms_note(k, rv == CKR_OK, err, sizeof(err));
	return kms_state(k);
}
