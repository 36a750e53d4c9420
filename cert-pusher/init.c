// SPDX-License-Identifier: MIT
/*
 * init DIR: the secrets a node needs before its first start, created once with the modes the
 * daemons check, and the next steps printed. DIR (0700) receives:
 *   keyring       the blob key ring, one fresh key (blob.c reads it back before we say done)
 *   api-token     the API's bearer token
 *   fallback.pem  a self-signed ECDSA P-256 certificate + key: haproxy.cfg's default
 *                 certificate, served to clients that ask for a name nobody manages
 *   redis/<user>.password  one password per Redis ACL user, as redis/spoacme-acl.sh names
 *                 them; that script (which keeps existing passwords) writes users.acl
 * Every file is 0600 and owned by the user running init (root on a node: systemd hands the
 * files to the services with LoadCredential, HAProxy's master reads fallback.pem as root). A
 * file that exists is kept, never rewritten (a key ring replaced by mistake would make every
 * stored blob unreadable), but refused when group or others can read it. With --check nothing
 * is written: init says what it would create. Besides jws.c and blob.c this is the only file
 * that makes key material, and it keeps none: each secret is wiped once written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "cert-pusher/blob.h"
#include "cert-pusher/init.h"
#include "common/buf.h"
#include "common/log.h"

#define INIT_SECRET_BYTES 32
#define INIT_KEY_LEN      32 /* AES-256-GCM, as blob.c reads the key ring */

/* The users of redis/spoacme-acl.sh, each with its <user>.password. */
static const char *const init_redis_users[] = {
	"spoacme-agent",   "spoacme-agent-ondemand", "spoacme-loader", "spoacme-issuer",
	"spoacme-replica", "spoacme-sentinel",       "spoacme-admin",
};

enum init_file_state {
	INIT_FILE_CREATED = 0,
	INIT_FILE_KEPT,
	INIT_FILE_WOULD_CREATE,
	INIT_FILE_STATE_COUNT
};

static const char *const init_file_state_names[INIT_FILE_STATE_COUNT] = { "created", "kept",
	                                                                  "would create" };

/* A directory for secrets: created 0700 when missing (not under --check), else it must be
 * a directory no one else can enter. Returns 0, or -1 with a message logged. */
static int init_dir(const char *path, int check_only)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno != ENOENT) {
			log_err("init: %s: %s", path, strerror(errno));
			return -1;
		}
		if (check_only) {
			printf("%-12s %s/ (0700)\n", "would create", path);
			return 0;
		}
		if (mkdir(path, 0700) < 0) {
			log_err("init: mkdir %s: %s", path, strerror(errno));
			return -1;
		}
		printf("%-12s %s/ (0700)\n", "created", path);
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_err("init: %s exists and is not a directory", path);
		return -1;
	}
	if (st.st_mode & 077) {
		log_err("init: %s: mode %04o lets others in; expected 0700 (chmod 700 %s)", path,
		        (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		log_err("init: %s: owned by uid %u, not by this user (uid %u)", path,
		        (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	return 0;
}

/*
 * Whether <path> must be made: returns 1 when it does not exist, 0 when it exists as a private
 * regular file (kept), -1 when it exists otherwise (logged).
 */
static int init_needed(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 1;
		log_err("init: %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("init: %s exists and is not a regular file", path);
		return -1;
	}
	if (st.st_mode & 077) {
		log_err("init: %s exists with mode %04o; expected 0600 (chmod 600 %s)", path,
		        (unsigned)(st.st_mode & 07777), path);
		return -1;
	}
	return 0;
}

/* Create <path> (0600, O_EXCL: never over a file that appeared meanwhile) holding
 * <data>/<len>, synced. On failure the file is removed; -1 with a message logged. */
static int init_write(const char *path, const char *data, size_t len)
{
	size_t off = 0;
	ssize_t n;
	int fd, ret = -1;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_err("init: create %s: %s", path, strerror(errno));
		return -1;
	}
	while (off < len) {
		n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_err("init: write %s: %s", path,
			        n < 0 ? strerror(errno) : "short write");
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		log_err("init: fsync %s: %s", path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (close(fd) < 0 && ret == 0) {
		log_err("init: close %s: %s", path, strerror(errno));
		ret = -1;
	}
	if (ret < 0)
		unlink(path);
	return ret;
}

/* <out> = INIT_SECRET_BYTES random bytes as lowercase hex and a newline (what
 * `openssl rand -hex 32` prints). Returns 0 or -1. */
static int init_hex_secret(struct buf *out)
{
	uint8_t raw[INIT_SECRET_BYTES];
	char hex[2 * INIT_SECRET_BYTES + 2];
	size_t i;
	int ret = -1;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		goto out;
	for (i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	hex[2 * INIT_SECRET_BYTES] = '\n';
	hex[2 * INIT_SECRET_BYTES + 1] = '\0';
	if (buf_append(out, hex, 2 * INIT_SECRET_BYTES + 1) < 0)
		goto out;
	ret = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(hex, sizeof(hex));
	return ret;
}

/* <out> = a key ring with one key whose id is k<YYYYMMDD> (today, UTC). Returns 0 or -1. */
static int init_keyring_text(struct buf *out)
{
	uint8_t raw[INIT_KEY_LEN];
	unsigned char b64[4 * ((INIT_KEY_LEN + 2) / 3) + 1];
	char id[16], line[320];
	time_t now = time(NULL);
	struct tm tm;
	int n, ret = -1;

	if (!gmtime_r(&now, &tm) || !strftime(id, sizeof(id), "k%Y%m%d", &tm))
		goto out;
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		goto out;
	EVP_EncodeBlock(b64, raw, sizeof(raw));
	n = snprintf(line, sizeof(line),
	             "# spoacme key ring (--keyring): '<key-id> <base64 of 32 bytes>' lines; the\n"
	             "# first key seals, every key opens. The same file on every issuer and edge.\n"
	             "%s %s\n",
	             id, (const char *)b64);
	if (n < 0 || (size_t)n >= sizeof(line))
		goto out;
	if (buf_append(out, line, (size_t)n) < 0)
		goto out;
	ret = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, sizeof(b64));
	OPENSSL_cleanse(line, sizeof(line));
	return ret;
}

/* <out> = a self-signed ECDSA P-256 certificate for CN=spoacme-fallback valid 10 years, then
 * its key (PKCS#8), as HAProxy's `crt` takes them. Returns 0 or -1 (OpenSSL's error queue). */
static int init_fallback_pem(struct buf *out)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	BIO *bio = NULL;
	X509_NAME *name;
	uint8_t serial[16];
	BIGNUM *bn = NULL;
	char *mem;
	long len;
	int ret = -1;

	key = EVP_EC_gen("P-256");
	x = X509_new();
	bio = BIO_new(BIO_s_secmem());
	if (!key || !x || !bio)
		goto out;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f; /* a positive serial (RFC 5280 §4.1.2.2) */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto out;
	name = X509_get_subject_name(x);
	if (X509_set_version(x, 2) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                               (const unsigned char *)"spoacme-fallback", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 || !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600) ||
	    X509_set_pubkey(x, key) != 1 || X509_sign(x, key, EVP_sha256()) <= 0)
		goto out;
	if (PEM_write_bio_X509(bio, x) != 1 ||
	    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
		goto out;
	len = BIO_get_mem_data(bio, &mem);
	if (len <= 0 || buf_append(out, mem, (size_t)len) < 0)
		goto out;
	ret = 0;
out:
	BN_free(bn);
	BIO_free(bio); /* secure memory: wiped on free */
	X509_free(x);
	EVP_PKEY_free(key);
	return ret;
}

enum init_kind { INIT_KIND_KEYRING = 0, INIT_KIND_TOKEN, INIT_KIND_FALLBACK, INIT_KIND_COUNT };

/* Make <path> of <kind> unless it exists; prints what happened. Returns 0 or -1 (logged). */
static int init_file(const char *path, enum init_kind kind, int check_only, const char *what)
{
	struct buf data;
	enum init_file_state state;
	int need, ret = -1;

	buf_init(&data);
	need = init_needed(path);
	if (need < 0)
		goto out;
	if (!need) {
		state = INIT_FILE_KEPT;
	} else if (check_only) {
		state = INIT_FILE_WOULD_CREATE;
	} else {
		if ((kind == INIT_KIND_KEYRING ? init_keyring_text(&data)
		     : kind == INIT_KIND_TOKEN ? init_hex_secret(&data)
		                               : init_fallback_pem(&data)) < 0) {
			log_err("init: %s: cannot generate it (OpenSSL)", path);
			goto out;
		}
		if (init_write(path, (const char *)data.data, data.len) < 0)
			goto out;
		state = INIT_FILE_CREATED;
	}
	printf("%-12s %s (0600): %s\n", init_file_state_names[state], path, what);
	ret = 0;
out:
	buf_wipe(&data);
	return ret;
}

/* Join <dir>/<name> into <out>; -1 (logged) when it does not fit. */
static int init_path(char *out, size_t outsz, const char *dir, const char *name)
{
	int n = snprintf(out, outsz, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= outsz) {
		log_err("init: %s/%s: path too long", dir, name);
		return -1;
	}
	return 0;
}

static void init_next_steps(const char *dir)
{
	printf("\nnext steps:\n"
	       "  1. Redis ACLs (the passwords above are kept): on the primary,\n"
	       "       spoacme-acl.sh %s/redis   (/usr/share/spoacme/spoacme-acl.sh)\n"
	       "     then 'aclfile %s/redis/users.acl' in redis.conf (readable by redis), the\n"
	       "     same file and 'masteruser spoacme-replica' + masterauth on every replica.\n"
	       "  2. Copy %s/keyring (the same one) to /etc/spoacme/keyring, 0600 root, on every\n"
	       "     issuer and edge; api-token and api-read-token on the issuer. The units pass\n"
	       "     them with LoadCredential.\n"
	       "  3. Edges: %s/fallback.pem to /etc/haproxy/spoacme/fallback.pem (0600 root),\n"
	       "     /usr/share/doc/spoacme/examples/haproxy-cfg/* to /etc/haproxy/, then\n"
	       "       systemctl enable --now spoa-agent cert-pusher haproxy\n"
	       "  4. Issuer: options in /etc/default/cert-pusher-issuer (--contact, --directory),\n"
	       "       systemctl enable --now cert-pusher-issuer\n"
	       "  5. First name:\n"
	       "       curl -H \"Authorization: Bearer $(cat %s/api-token)\" \\\n"
	       "            -H 'Content-Type: application/json' \\\n"
	       "            -d '{\"data\":{\"attributes\":{\"hostname\":\"example.com\"}}}' \\\n"
	       "            http://127.0.0.1:8080/v1/hostnames\n"
	       "  6. The status page, with the read-only token:\n"
	       "       http://127.0.0.1:8080/#token=$(cat %s/api-read-token)\n",
	       dir, dir, dir, dir, dir, dir);
}

int init_cmd_init(struct pusher *p, int argc, char **argv)
{
	struct blob_keyring *kr = NULL;
	char path[4096], redis_dir[4096], err[512];
	const char *dir;
	size_t i;

	if (argc != 1) {
		log_err("init: expected one directory (e.g. cert-pusher init /etc/spoacme)");
		return 2;
	}
	dir = argv[0];
	if (!dir[0] || strlen(dir) > 1024) {
		log_err("init: '%s': expected a directory path of 1 to 1024 characters", dir);
		return 2;
	}
	umask(077);
	if (init_dir(dir, p->check_only) < 0)
		return 1;
	if (init_path(path, sizeof(path), dir, "keyring") < 0 ||
	    init_file(path, INIT_KIND_KEYRING, p->check_only,
	              "key ring, the same on every issuer and edge") < 0)
		return 1;
	if (!p->check_only) {
		/* Read back as the daemons will: mode, syntax, key length. */
		kr = blob_keyring_load(path, err, sizeof(err));
		if (!kr) {
			log_err("init: %s does not load: %s", path, err);
			return 1;
		}
		blob_keyring_free(kr);
	}
	if (init_path(path, sizeof(path), dir, "api-token") < 0 ||
	    init_file(path, INIT_KIND_TOKEN, p->check_only, "API bearer token (--api-token-file)") <
	            0)
		return 1;
	if (init_path(path, sizeof(path), dir, "api-read-token") < 0 ||
	    init_file(path, INIT_KIND_TOKEN, p->check_only,
	              "API read-only token, for the status page (--api-read-token-file)") < 0)
		return 1;
	if (init_path(path, sizeof(path), dir, "fallback.pem") < 0 ||
	    init_file(path, INIT_KIND_FALLBACK, p->check_only,
	              "HAProxy's default certificate (self-signed)") < 0)
		return 1;
	if (init_path(redis_dir, sizeof(redis_dir), dir, "redis") < 0 ||
	    init_dir(redis_dir, p->check_only) < 0)
		return 1;
	for (i = 0; i < sizeof(init_redis_users) / sizeof(init_redis_users[0]); i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s.password", init_redis_users[i]);
		if (init_path(path, sizeof(path), redis_dir, name) < 0 ||
		    init_file(path, INIT_KIND_TOKEN, p->check_only, "Redis ACL password") < 0)
			return 1;
	}
	init_next_steps(dir);
	return 0;
}
