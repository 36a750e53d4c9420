// SPDX-License-Identifier: MIT
/*
 * Unit tests for the loader's own modules: its cache (certcache.c: add/get/del, name order,
 * 20,000 entries, clear) and its certificate directory (certdir.c) on a real tmpfs (/dev/shm):
 * the directory check (tmpfs, owner, mode, path syntax), atomic writes with mode 0600 and no
 * leftover, comparison, staging and promotion, the scan that removes stale hidden files and
 * ignores foreign ones, and the crt-list file read back (comments, foreign and over-long lines,
 * a missing file) after a write.
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

#include "cert-pusher/edge/certcache.h"
#include "cert-pusher/edge/certdir.h"

/* ---- certcache ---- */

static void test_cache_basic(void **state)
{
	struct certcache c = { 0 };
	struct certcache_entry *e, *f, **v;
	struct pem_info info = { .serial = "0A", .sha1 = "AB", .not_before = 10, .not_after = 20 };
	uint8_t d[32] = { 1 };
	size_t n;

	(void)state;
	assert_null(certcache_get(&c, "/d/a.example.ecdsa.pem"));
	assert_null(certcache_list(&c, &n));
	assert_int_equal(n, 0);
	e = certcache_add(&c, "/d/b.example.rsa.pem");
	assert_non_null(e);
	assert_ptr_equal(certcache_add(&c, "/d/b.example.rsa.pem"), e); /* once per name */
	f = certcache_add(&c, "/d/a.example.ecdsa.pem");
	assert_non_null(f);
	assert_int_equal(c.n, 2);
	assert_ptr_equal(certcache_get(&c, "/d/a.example.ecdsa.pem"), f);
	assert_int_equal(e->listed, 0);
	assert_int_equal(e->pid, 0);

	certcache_set(e, d, &info);
	assert_string_equal(e->serial, "0A");
	assert_int_equal(e->not_after, 20);
	assert_true(e->at > 0);
	e->at = 5;
	certcache_set(e, d, &info); /* same serial: "at" stays */
	assert_int_equal(e->at, 5);
	snprintf(info.serial, sizeof(info.serial), "0B");
	certcache_set(e, d, &info); /* a new serial: "at" moves */
	assert_true(e->at > 5);

	v = certcache_list(&c, &n);
	assert_int_equal(n, 2);
	assert_string_equal(v[0]->name, "/d/a.example.ecdsa.pem"); /* name order */
	assert_string_equal(v[1]->name, "/d/b.example.rsa.pem");
	free(v);

	certcache_del(&c, f);
	assert_null(certcache_get(&c, "/d/a.example.ecdsa.pem"));
	assert_ptr_equal(certcache_get(&c, "/d/b.example.rsa.pem"), e);
	assert_int_equal(c.n, 1);
	certcache_clear(&c);
	assert_int_equal(c.n, 0);
	assert_null(certcache_get(&c, "/d/b.example.rsa.pem"));
	certcache_clear(&c); /* twice is fine */
}

/* 20,000 names (10,000 hosts, two types) added in a scrambled order, half removed: lookups find
 * exactly the rest, and the list is sorted. */
static void test_cache_many(void **state)
{
	struct certcache c = { 0 };
	struct certcache_entry **v;
	char name[128];
	size_t i, n;

	(void)state;
	for (i = 0; i < 20000; i++) {
		size_t k = (i * 7919) % 20000;

		snprintf(name, sizeof(name), "/run/c/h%05zu.example.%s.pem", k / 2,
		         k % 2 ? "rsa" : "ecdsa");
		assert_non_null(certcache_add(&c, name));
	}
	assert_int_equal(c.n, 20000);
	for (i = 0; i < 20000; i += 2) {
		snprintf(name, sizeof(name), "/run/c/h%05zu.example.ecdsa.pem", i / 2);
		certcache_del(&c, certcache_get(&c, name));
	}
	assert_int_equal(c.n, 10000);
	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "/run/c/h%05zu.example.%s.pem", i / 2,
		         i % 2 ? "rsa" : "ecdsa");
		if (i % 2)
			assert_non_null(certcache_get(&c, name));
		else
			assert_null(certcache_get(&c, name));
	}
	v = certcache_list(&c, &n);
	assert_int_equal(n, 10000);
	for (i = 1; i < n; i++)
		assert_true(strcmp(v[i - 1]->name, v[i]->name) < 0);
	free(v);
	certcache_clear(&c);
}

/* ---- certdir ---- */

struct dirs {
	char dir[64];
	char list[96];
};

static int dir_setup(void **state)
{
	struct dirs *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	snprintf(d->dir, sizeof(d->dir), "/dev/shm/spoacme-test-XXXXXX");
	if (!mkdtemp(d->dir)) {
		free(d);
		return -1;
	}
	/* Beside the directory, named without "..": the teardown's rm -rf removes the directory
	 * first, and a path through it would then no longer resolve (the file stayed behind). */
	snprintf(d->list, sizeof(d->list), "/dev/shm/%s.crt-list", strrchr(d->dir, '/') + 1);
	*state = d;
	return 0;
}

static int dir_teardown(void **state)
{
	struct dirs *d = *state;
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", d->dir, d->list);
	if (system(cmd) != 0)
		return -1;
	free(d);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void test_dir_check(void **state)
{
	struct dirs *d = *state;
	char err[512], sub[128];

	assert_int_equal(certdir_check(d->dir, err, sizeof(err)), 0);
	/* not RAM-backed: the loader refuses to write keys there */
	if (access("/var/tmp", W_OK) == 0) {
		char disk[] = "/var/tmp/spoacme-test-XXXXXX";
		struct stat st;

		assert_non_null(mkdtemp(disk));
		assert_int_equal(stat(disk, &st), 0);
		if (certdir_check(disk, err, sizeof(err)) < 0)
			assert_non_null(strstr(err, "not on tmpfs or ramfs"));
		rmdir(disk);
	}
	assert_int_equal(chmod(d->dir, 0750), 0);
	assert_int_equal(certdir_check(d->dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "mode 0700"));
	assert_int_equal(chmod(d->dir, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/", d->dir);
	assert_int_equal(certdir_check(sub, err, sizeof(err)), -1); /* trailing '/' */
	assert_int_equal(certdir_check("relative/dir", err, sizeof(err)), -1);
	assert_int_equal(certdir_check("/dev/shm/a b", err, sizeof(err)), -1); /* a space */
	snprintf(sub, sizeof(sub), "%s/none", d->dir);
	assert_int_equal(certdir_check(sub, err, sizeof(err)), -1);
	snprintf(sub, sizeof(sub), "%s/file", d->dir);
	write_file(sub, "x");
	assert_int_equal(certdir_check(sub, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a directory"));
	unlink(sub);
}

static void test_dir_files(void **state)
{
	struct dirs *d = *state;
	struct buf pem, p;
	struct strv files;
	struct stat st;
	char name[160], err[512];

	buf_init(&pem);
	buf_init(&p);
	strv_init(&files);
	snprintf(name, sizeof(name), "%s/a.example.ecdsa.pem", d->dir);
	assert_int_equal(certdir_path(d->dir, "/elsewhere/a.example.ecdsa.pem", "", &p), -1);
	assert_int_equal(certdir_path(d->dir, name, ".new", &p), 0);
	assert_true(strstr(buf_str(&p), "/.a.example.ecdsa.pem.new") != NULL);

	assert_int_equal(buf_append_str(&pem, "-----BEGIN CERTIFICATE-----\none\n"), 0);
	assert_int_equal(certdir_write(d->dir, name, "", &pem, err, sizeof(err)), 0);
	assert_int_equal(stat(name, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(certdir_same(name, &pem));
	/* a renewal, staged: the file still holds the old one until it is promoted */
	buf_reset(&pem);
	assert_int_equal(buf_append_str(&pem, "-----BEGIN CERTIFICATE-----\ntwo\n"), 0);
	assert_false(certdir_same(name, &pem));
	assert_int_equal(certdir_write(d->dir, name, ".new", &pem, err, sizeof(err)), 0);
	assert_false(certdir_same(name, &pem));
	assert_int_equal(certdir_promote(d->dir, name, err, sizeof(err)), 0);
	assert_true(certdir_same(name, &pem));
	assert_int_equal(certdir_promote(d->dir, name, err, sizeof(err)), -1); /* nothing staged */
	assert_non_null(strstr(err, "cannot replace"));
	pem.len--; /* a prefix of the file is not the same */
	assert_false(certdir_same(name, &pem));

	/* the scan: stale hidden files go, foreign files stay but are not listed */
	write_file(buf_str(&p), "stale staged");
	snprintf(name, sizeof(name), "%s/.b.example.rsa.pem.tmp", d->dir);
	write_file(name, "half written");
	snprintf(name, sizeof(name), "%s/notes.txt", d->dir);
	write_file(name, "foreign");
	snprintf(name, sizeof(name), "%s/b.example.rsa.pem", d->dir);
	write_file(name, "x");
	snprintf(name, sizeof(name), "%s/bad_host!.ecdsa.pem", d->dir);
	write_file(name, "x");
	assert_int_equal(certdir_files(d->dir, &files), 0);
	assert_int_equal(files.n, 2);
	assert_non_null(strstr(files.v[0], "/a.example.ecdsa.pem"));
	assert_non_null(strstr(files.v[1], "/b.example.rsa.pem"));
	assert_int_equal(access(buf_str(&p), F_OK), -1);
	snprintf(name, sizeof(name), "%s/.b.example.rsa.pem.tmp", d->dir);
	assert_int_equal(access(name, F_OK), -1);
	snprintf(name, sizeof(name), "%s/notes.txt", d->dir);
	assert_int_equal(access(name, F_OK), 0);

	/* unlink: the staged file only, then both */
	snprintf(name, sizeof(name), "%s/a.example.ecdsa.pem", d->dir);
	assert_int_equal(certdir_write(d->dir, name, ".new", &pem, err, sizeof(err)), 0);
	certdir_unlink(d->dir, name, 1);
	assert_int_equal(access(buf_str(&p), F_OK), -1);
	assert_int_equal(access(name, F_OK), 0);
	certdir_unlink(d->dir, name, 0);
	assert_int_equal(access(name, F_OK), -1);
	certdir_unlink(d->dir, name, 0); /* already gone: quiet */

	/* a write into a directory that is gone fails with the reason, leaving nothing */
	snprintf(name, sizeof(name), "%s/gone/c.example.rsa.pem", d->dir);
	assert_int_equal(certdir_write_atomic(name, name, pem.data, pem.len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	strv_deinit(&files);
	buf_deinit(&pem);
	buf_deinit(&p);
}

static void test_dir_list(void **state)
{
	struct dirs *d = *state;
	struct strv lines;
	char a[160], b[160], err[512], *text;
	const char *names[2] = { a, b };
	size_t other;
	int missing;
	FILE *f;

	strv_init(&lines);
	assert_int_equal(
	        certdir_list_read(d->list, d->dir, &lines, &other, &missing, err, sizeof(err)), 0);
	assert_int_equal(missing, 1);
	assert_int_equal(lines.n, 0);

	snprintf(a, sizeof(a), "%s/a.example.ecdsa.pem", d->dir);
	snprintf(b, sizeof(b), "%s/b.example.rsa.pem", d->dir);
	assert_int_equal(certdir_list_write(d->list, d->dir, names, 2, err, sizeof(err)), 0);
	assert_int_equal(
	        certdir_list_read(d->list, d->dir, &lines, &other, &missing, err, sizeof(err)), 0);
	assert_int_equal(missing, 0);
	assert_int_equal(other, 0);
	assert_int_equal(lines.n, 2);
	assert_string_equal(lines.v[0], a);
	assert_string_equal(lines.v[1], b);
	strv_deinit(&lines);

	/* what an operator may have put there: blank, comment, a foreign path, an over-long line */
	text = malloc(3000);
	assert_non_null(text);
	memset(text, 'x', 2999);
	text[2999] = 0;
	f = fopen(d->list, "w");
	assert_non_null(f);
	fprintf(f, "\n# comment\n/etc/ssl/private/other.pem\n%s\n%s [alpn h2]\n%s\n%s", text, a, b,
	        a);
	assert_int_equal(fclose(f), 0);
	free(text);
	strv_init(&lines);
	assert_int_equal(
	        certdir_list_read(d->list, d->dir, &lines, &other, &missing, err, sizeof(err)), 0);
	assert_int_equal(other, 3);   /* the foreign path, the long line, the line with options */
	assert_int_equal(lines.n, 2); /* b, then a without a final newline */
	assert_string_equal(lines.v[0], b);
	assert_string_equal(lines.v[1], a);
	strv_deinit(&lines);

	/* a crt-list path in a directory that does not exist: the reason, not a crash */
	assert_int_equal(certdir_list_write("/dev/shm/spoacme-none/x/list", d->dir, names, 2, err,
	                                    sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "No such file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cache_basic),
		cmocka_unit_test(test_cache_many),
		cmocka_unit_test_setup_teardown(test_dir_check, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_dir_files, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_dir_list, dir_setup, dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
