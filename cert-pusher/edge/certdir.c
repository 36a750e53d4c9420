// SPDX-License-Identifier: MIT
/* The loader's certificate directory and crt-list file (see certdir.h). */
#include "cert-pusher/edge/certdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cert-pusher/edge/haproxy_rt.h"
#include "common/log.h"

int certdir_check(const char *dir, char *err, size_t errsz)
{
	struct statfs fs;
	struct stat st;

	if (strlen(dir) > HAPROXY_RT_DIR_MAX || dir[0] != '/' || !haproxy_rt_name_valid(dir) ||
	    dir[strlen(dir) - 1] == '/') {
		snprintf(err, errsz,
		         "--cert-dir: '%.80s': expected an absolute path of at most %d bytes, "
		         "without "
		         "a trailing '/', spaces, ':', ';', '#', quotes or '\\'",
		         dir, HAPROXY_RT_DIR_MAX);
		return -1;
	}
	if (lstat(dir, &st) < 0) {
		snprintf(err, errsz, "--cert-dir: '%s': %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) { /* a symbolic link too: lstat() */
		snprintf(err, errsz, "--cert-dir: '%s': not a directory", dir);
		return -1;
	}
	if (statfs(dir, &fs) < 0) {
		snprintf(err, errsz, "--cert-dir: '%s': statfs: %s", dir, strerror(errno));
		return -1;
	}
	if ((unsigned long)fs.f_type != TMPFS_MAGIC && (unsigned long)fs.f_type != RAMFS_MAGIC) {
		snprintf(
		        err, errsz,
		        "--cert-dir: '%s' is not on tmpfs or ramfs (filesystem type 0x%lx): "
		        "private "
		        "keys must never reach persistent storage; use a RAM-backed directory such "
		        "as /run/spoacme",
		        dir, (unsigned long)fs.f_type);
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077)) {
		snprintf(err, errsz,
		         "--cert-dir: '%s' must be owned by uid %u (this process, HAProxy's user) "
		         "with mode 0700; it is uid %u mode %04o",
		         dir, (unsigned)geteuid(), (unsigned)st.st_uid,
		         (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

int certdir_path(const char *dir, const char *name, const char *suffix, struct buf *out)
{
	size_t dl = strlen(dir);

	buf_reset(out);
	if (strncmp(name, dir, dl) || name[dl] != '/')
		return -1;
	if (!*suffix)
		return buf_append_str(out, name);
	return buf_printf(out, "%s/.%s%s", dir, name + dl + 1, suffix);
}

int certdir_write_atomic(const char *path, const char *tmp, const void *data, size_t len, char *err,
                         size_t errsz)
{
	const char *p = data;
	size_t done = 0;
	ssize_t w;
	int fd, ret = -1;

	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	while (done < len) {
		w = write(fd, p + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errsz, "%s: write: %s", tmp,
			         w < 0 ? strerror(errno) : "short");
			goto out;
		}
		done += (size_t)w;
	}
	if (close(fd) < 0) {
		fd = -1;
		snprintf(err, errsz, "%s: close: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		snprintf(err, errsz, "rename %s -> %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		(void)unlink(tmp);
	return ret;
}

int certdir_write(const char *dir, const char *name, const char *suffix, const struct buf *pem,
                  char *err, size_t errsz)
{
	struct buf path, tmp;
	int ret = -1;

	buf_init(&path);
	buf_init(&tmp);
	if (certdir_path(dir, name, suffix, &path) < 0 || certdir_path(dir, name, ".tmp", &tmp) < 0)
		snprintf(err, errsz, "%s: not a certificate of %s, or out of memory", name, dir);
	else
		ret = certdir_write_atomic(buf_str(&path), buf_str(&tmp), pem->data, pem->len, err,
		                           errsz);
	buf_deinit(&path);
	buf_deinit(&tmp);
	return ret;
}

int certdir_same(const char *name, const struct buf *pem)
{
	struct buf cur;
	struct stat st;
	ssize_t r;
	int fd, same = 0;

	fd = open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	buf_init(&cur);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != pem->len ||
	    buf_reserve(&cur, pem->len + 1) < 0)
		goto out;
	while (cur.len < pem->len + 1) {
		r = read(fd, cur.data + cur.len, pem->len + 1 - cur.len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		cur.len += (size_t)r;
	}
	same = cur.len == pem->len && !CRYPTO_memcmp(cur.data, pem->data, pem->len);
out:
	close(fd);
	buf_wipe(&cur);
	return same;
}

int certdir_promote(const char *dir, const char *name, char *err, size_t errsz)
{
	struct buf staged;
	int ret = 0;

	buf_init(&staged);
	if (certdir_path(dir, name, ".new", &staged) < 0 || rename(buf_str(&staged), name) < 0) {
		snprintf(err, errsz, "cannot replace its file: %s", strerror(errno));
		ret = -1;
	}
	buf_deinit(&staged);
	return ret;
}

void certdir_unlink(const char *dir, const char *name, int staged_only)
{
	struct buf staged;

	buf_init(&staged);
	if (certdir_path(dir, name, ".new", &staged) == 0)
		(void)unlink(buf_str(&staged));
	if (!staged_only && unlink(name) < 0 && errno != ENOENT)
		log_warn("loader: unlink %s: %s", name, strerror(errno));
	buf_deinit(&staged);
}

int certdir_files(const char *dir, struct strv *files)
{
	struct dirent *d;
	struct buf path;
	DIR *dh;
	int ret = -1;

	buf_init(&path);
	dh = opendir(dir);
	if (!dh) {
		log_err("loader: --cert-dir %s: %s", dir, strerror(errno));
		goto out;
	}
	while ((d = readdir(dh))) {
		size_t nl = strlen(d->d_name);

		buf_reset(&path);
		if (buf_printf(&path, "%s/%s", dir, d->d_name) < 0)
			goto oom;
		if (d->d_name[0] == '.' && nl > 5 &&
		    (!strcmp(d->d_name + nl - 4, ".tmp") || !strcmp(d->d_name + nl - 4, ".new"))) {
			(void)unlink(buf_str(&path));
			continue;
		}
		if (haproxy_rt_name_managed(dir, buf_str(&path), NULL, NULL, NULL) &&
		    strv_push(files, buf_str(&path), path.len) < 0)
			goto oom;
	}
	if (files->n)
		strv_sort(files);
	ret = 0;
	goto out;
oom:
	log_err("loader: --cert-dir %s: out of memory", dir);
out:
	if (dh)
		closedir(dh);
	buf_deinit(&path);
	return ret;
}

int certdir_list_read(const char *path, const char *dir, struct strv *lines, size_t *other,
                      int *missing, char *err, size_t errsz)
{
	char line[HAPROXY_RT_NAME_MAX + 2];
	int ret = 0;
	FILE *f;

	*other = 0;
	*missing = 0;
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT) {
			*missing = 1;
			return 0;
		}
		snprintf(err, errsz, "'%s': %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, "\n");

		if (!line[n] && !feof(f)) { /* longer than any name: skip the rest of it */
			int c;

			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			(*other)++;
			continue;
		}
		line[n] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		if (!haproxy_rt_name_managed(dir, line, NULL, NULL, NULL)) {
			(*other)++;
			continue;
		}
		if (strv_push(lines, line, n) < 0) {
			snprintf(err, errsz, "'%s': out of memory", path);
			ret = -1;
			break;
		}
	}
	if (ret == 0 && ferror(f)) {
		snprintf(err, errsz, "'%s': read error", path);
		ret = -1;
	}
	fclose(f);
	return ret;
}

int certdir_list_write(const char *path, const char *dir, const char *const *names, size_t n,
                       char *err, size_t errsz)
{
	struct buf text, tmp;
	size_t i;
	int ret = -1;

	buf_init(&text);
	buf_init(&tmp);
	if (buf_printf(&text, "# written by cert-pusher's loader: one certificate of %s per line\n",
	               dir) < 0 ||
	    buf_printf(&tmp, "%s.tmp", path) < 0)
		goto oom;
	for (i = 0; i < n; i++)
		if (buf_printf(&text, "%s\n", names[i]) < 0)
			goto oom;
	ret = certdir_write_atomic(path, buf_str(&tmp), text.data, text.len, err, errsz);
	goto out;
oom:
	snprintf(err, errsz, "out of memory");
out:
	buf_deinit(&text);
	buf_deinit(&tmp);
	return ret;
}
