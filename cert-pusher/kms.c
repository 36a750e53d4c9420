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

#include "common/names.h"
#include "common/buf.h"
#include "common/file.h"

#define KMS_PROXY  "p11-kit-proxy.so"
#define KMS_PINMAX 256
/* Tokens lock a PIN after a few failures: a wrong PIN is not retried at every blob. */
#define KMS_LOGIN_RETRY_S 5

struct kms {
	char *uri_text;
	P11KitUri *uri;
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	char *pin_path;
	char label[KMS_KEKID_MAX + 1];
	pthread_key_t sess_key;
	pthread_mutex_t mu; /* login state and error text */
	int logged_in;
	int inited;                /* this handle's C_Initialize returned CKR_OK: it finalizes */
	time_t login_failed;       /* a refused login is retried after KMS_LOGIN_RETRY_S ... */
	struct timespec pin_mtime; /* ... or as soon as the PIN file changes */
	char login_error[160];
	int state;
	unsigned gen; /* bumped when every session must be reopened */
	char error[256];
};

struct kms_sess {
	struct kms *k;
	CK_SESSION_HANDLE h;
	unsigned gen;
};

static void kms_sess_free(void *v)
{
	struct kms_sess *s = v;

	if (!s)
		return;
	s->k->f->C_CloseSession(s->h);
	free(s);
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
			kms_sess_free(s);
		}
		pthread_key_delete(k->sess_key);
		if (k->inited)
			k->f->C_Finalize(NULL);
	}
	if (k->dl)
		dlclose(k->dl);
	if (k->uri)
		p11_kit_uri_free(k->uri);
	pthread_mutex_destroy(&k->mu);
	free(k->pin_path);
	free(k->uri_text);
	free(k);
}

struct kms *kms_open(const char *uri, char *err, size_t errsz)
{
	struct kms *k = calloc(1, sizeof(*k)), *ret = NULL;
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

/* This thread's session, logged in. NULL with <err>. */
static struct kms_sess *kms_session(struct kms *k, char *err, size_t errsz)
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
		kms_sess_free(s);
		s = NULL;
	}
	if (!s) {
		if (kms_slot(k, &slot, err, errsz) < 0)
			return NULL;
		s = calloc(1, sizeof(*s));
		if (!s) {
			snprintf(err, errsz, "out of memory");
			return NULL;
		}
		s->k = k;
		s->gen = gen;
		rv = k->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
		                         &s->h);
		if (rv != CKR_OK) {
			snprintf(err, errsz, "C_OpenSession: 0x%lx", (unsigned long)rv);
			free(s);
			return NULL;
		}
		pthread_setspecific(k->sess_key, s);
	}
	if (logged)
		return s;
	if (stat(k->pin_path, &st) < 0)
		memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&k->mu);
	if (k->login_failed && time(NULL) - k->login_failed < KMS_LOGIN_RETRY_S &&
	    st.st_mtim.tv_sec == k->pin_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == k->pin_mtime.tv_nsec) {
		snprintf(err, errsz, "%s (retried within %ds or when the PIN file changes)",
		         k->login_error, KMS_LOGIN_RETRY_S);
		pthread_mutex_unlock(&k->mu);
		return NULL;
	}
	pthread_mutex_unlock(&k->mu);
	plen = kms_pin(k, pin, err, errsz);
	if (plen < 0)
		goto refused;
	rv = k->f->C_Login(s->h, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)plen);
	OPENSSL_cleanse(pin, sizeof(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
		snprintf(err, errsz, "login failed: %s (0x%lx)",
		         rv == CKR_PIN_INCORRECT ? "wrong PIN"
		         : rv == CKR_PIN_LOCKED  ? "PIN locked"
		                                 : "C_Login refused",
		         (unsigned long)rv);
		goto refused;
	}
	pthread_mutex_lock(&k->mu);
	k->logged_in = 1;
	k->login_failed = 0;
	pthread_mutex_unlock(&k->mu);
	return s;
refused:
	pthread_mutex_lock(&k->mu);
	k->login_failed = time(NULL);
	k->pin_mtime = st.st_mtim;
	snprintf(k->login_error, sizeof(k->login_error), "%s", err);
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

/* Whether <rv> means the session or login went away and one retry is worth it. */
static int kms_retryable(struct kms *k, CK_RV rv)
{
	int drop = rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	           rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT;

	if (!drop && rv != CKR_USER_NOT_LOGGED_IN)
		return 0;
	pthread_mutex_lock(&k->mu);
	k->logged_in = 0;
	if (drop)
		k->gen++;
	pthread_mutex_unlock(&k->mu);
	return 1;
}

/* The secret key labelled <label> in session <h>. 0 or -1 (with the CK_RV in <*rv>). */
static int kms_find(struct kms *k, CK_SESSION_HANDLE h, const char *label, CK_OBJECT_HANDLE *o,
                    CK_RV *rv, char *err, size_t errsz)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n = 0;

	*rv = k->f->C_FindObjectsInit(h, t, 2);
	if (*rv != CKR_OK) {
		snprintf(err, errsz, "C_FindObjectsInit: 0x%lx", (unsigned long)*rv);
		return -1;
	}
	*rv = k->f->C_FindObjects(h, found, 2, &n);
	k->f->C_FindObjectsFinal(h);
	if (*rv != CKR_OK) {
		snprintf(err, errsz, "C_FindObjects: 0x%lx", (unsigned long)*rv);
		return -1;
	}
	if (n != 1) {
		snprintf(err, errsz,
		         n ? "KEK '%s': several keys have that label in the token"
		           : "KEK '%s' is not in the token (another token, or a deleted KEK?)",
		         label);
		return -1;
	}
	*o = found[0];
	return 0;
}

int kms_wrap(struct kms *k, const uint8_t dk[KMS_KEY_LEN], uint8_t *out, size_t *out_len, char *err,
             size_t errsz)
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
	CK_RV rv = CKR_OK;
	int tries, ret = -1;

	for (tries = 0; tries < 2; tries++) {
		s = kms_session(k, err, errsz);
		if (!s)
			goto out;
		if (kms_find(k, s->h, k->label, &kek, &rv, err, errsz) < 0) {
			if (kms_retryable(k, rv))
				continue;
			goto out;
		}
		rv = k->f->C_CreateObject(s->h, t, sizeof(t) / sizeof(t[0]), &obj);
		if (rv == CKR_OK) {
			n = KMS_WRAPPED_MAX;
			rv = k->f->C_WrapKey(s->h, &m, kek, obj, out, &n);
			k->f->C_DestroyObject(s->h, obj);
		}
		if (rv == CKR_OK) {
			*out_len = n;
			ret = 0;
			goto out;
		}
		if (!kms_retryable(k, rv))
			break;
	}
	snprintf(err, errsz, "KEK '%s': wrap failed: 0x%lx", k->label, (unsigned long)rv);
out:
	kms_note(k, ret == 0, err, errsz);
	return ret;
}

int kms_unwrap(struct kms *k, const char *kek_id, const uint8_t *w, size_t wlen,
               uint8_t dk[KMS_KEY_LEN], char *err, size_t errsz)
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
	CK_OBJECT_HANDLE kek, obj = CK_INVALID_HANDLE;
	uint8_t val[KMS_WRAPPED_MAX];
	CK_ATTRIBUTE v = { CKA_VALUE, val, sizeof(val) };
	struct kms_sess *s;
	CK_RV rv = CKR_OK;
	int tries, ret = -1, tok_ok = 0;

	if (wlen < 16 || wlen > KMS_WRAPPED_MAX) {
		snprintf(err, errsz, "wrapped data key of %zu bytes (expected 40)", wlen);
		return -1;
	}
	for (tries = 0; tries < 2; tries++) {
		s = kms_session(k, err, errsz);
		if (!s)
			goto out;
		if (kms_find(k, s->h, kek_id, &kek, &rv, err, errsz) < 0) {
			if (kms_retryable(k, rv))
				continue;
			tok_ok = rv == CKR_OK; /* the token answered: not a token failure */
			goto out;
		}
		rv = k->f->C_UnwrapKey(s->h, &m, kek, (CK_BYTE_PTR)w, wlen, t,
		                       sizeof(t) / sizeof(t[0]), &obj);
		if (rv == CKR_OK) {
			v.ulValueLen = sizeof(val);
			rv = k->f->C_GetAttributeValue(s->h, obj, &v, 1);
			k->f->C_DestroyObject(s->h, obj);
			if (rv == CKR_OK && v.ulValueLen != KMS_KEY_LEN) {
				snprintf(err, errsz, "unwrapped data key of %lu bytes",
				         (unsigned long)v.ulValueLen);
				tok_ok = 1;
				goto out;
			}
		}
		if (rv == CKR_OK) {
			memcpy(dk, val, KMS_KEY_LEN);
			ret = 0;
			goto out;
		}
		if (!kms_retryable(k, rv))
			break;
	}
	/* A tampered or foreign wrapped key is refused by the token's integrity check. */
	tok_ok = rv == CKR_WRAPPED_KEY_INVALID || rv == CKR_ENCRYPTED_DATA_INVALID ||
	         rv == CKR_WRAPPED_KEY_LEN_RANGE;
	snprintf(err, errsz, "KEK '%s': unwrap refused: 0x%lx%s", kek_id, (unsigned long)rv,
	         tok_ok ? " (tampered or foreign wrapped key)" : "");
out:
	OPENSSL_cleanse(val, sizeof(val));
	kms_note(k, ret == 0 || tok_ok, err, errsz);
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
	char ferr[200];

	s = kms_session(k, err, errsz);
	if (!s)
		return -1;
	if (kms_find(k, s->h, k->label, &o, &rv, ferr, sizeof(ferr)) == 0 || rv != CKR_OK) {
		snprintf(err, errsz, rv != CKR_OK ? "%s" : "KEK '%s' already exists in the token",
		         rv != CKR_OK ? ferr : k->label);
		return -1;
	}
	rv = k->f->C_GenerateKey(s->h, &m, t, sizeof(t) / sizeof(t[0]), &o);
	if (rv != CKR_OK) {
		snprintf(err, errsz, "C_GenerateKey: 0x%lx", (unsigned long)rv);
		return -1;
	}
	return 0;
}
