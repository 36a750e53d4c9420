// SPDX-License-Identifier: MIT
/*
 * The map of names this edge holds, as a file and in HAProxy's running worker (see namemap.h).
 */
#include "cert-pusher/edge/namemap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert-pusher/edge/haproxy_rt.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/names.h"

int namemap_init(struct namemap *nm, const char *cert_dir, char *err, size_t errsz)
{
	struct buf p;

	memset(nm, 0, sizeof(*nm));
	buf_init(&p);
	if (buf_printf(&p, "%s/%s", cert_dir, NAMEMAP_FILE) < 0 ||
	    !haproxy_rt_path_valid(buf_str(&p))) {
		buf_deinit(&p);
		snprintf(err, errsz, "--cert-dir: cannot name its %s", NAMEMAP_FILE);
		return -1;
	}
	nm->path = strdup(buf_str(&p));
	buf_deinit(&p);
	if (!nm->path) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	return 0;
}

void namemap_deinit(struct namemap *nm)
{
	free(nm->path);
	nm->path = NULL;
	strv_deinit(&nm->file);
	strv_deinit(&nm->live);
}

int namemap_name_valid(const char *name)
{
	const char *why;
	size_t len = strlen(name);

	/* names_cert_host_valid() takes the shapes; the runtime API and the map file take only
	 * these bytes, whatever it accepts. */
	return len > 0 && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789.-*") == len &&
	       !strchr(name + 1, '*') && names_cert_host_valid(name, &why);
}

void namemap_normalize(struct strv *names)
{
	size_t i, j = 0;

	strv_sort(names);
	for (i = 0; i < names->n; i++) {
		int dup = j && !strcmp(names->v[j - 1], names->v[i]);

		if (dup || !namemap_name_valid(names->v[i])) {
			if (!dup)
				log_warn("loader: names map: refusing name '%.80s'", names->v[i]);
			free(names->v[i]);
			continue;
		}
		names->v[j++] = names->v[i];
	}
	names->n = j;
}

int namemap_parse_show(const char *body, size_t len, struct strv *out)
{
	const char *p = body, *end = body + len, *nl, *k, *ke;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (nl > p) {
			/* "<0xaddr> <key> <value>" (HAProxy 2.6 and 3.x alike) */
			k = memchr(p, ' ', (size_t)(nl - p));
			if (!k || k - p < 3 || memcmp(p, "0x", 2))
				return -1;
			k++;
			ke = memchr(k, ' ', (size_t)(nl - k));
			if (!ke || ke == k || strv_push(out, k, (size_t)(ke - k)) < 0)
				return -1;
		}
		p = nl + 1;
	}
	strv_sort(out);
	return 0;
}

int namemap_show_has(const char *body, size_t len, const char *path)
{
	size_t pl = strlen(path);
	const char *p = body, *end = body + len;

	/* "-1 (/run/spoacme/names.map) pattern loaded from file ..." */
	while ((p = memchr(p, '(', (size_t)(end - p)))) {
		p++;
		if ((size_t)(end - p) > pl && !memcmp(p, path, pl) && p[pl] == ')')
			return 1;
	}
	return 0;
}

static int namemap_equal(const struct strv *a, const struct strv *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return 0;
	return 1;
}

static int namemap_copy(struct strv *dst, const struct strv *src)
{
	size_t i;

	strv_deinit(dst);
	for (i = 0; i < src->n; i++)
		if (strv_push(dst, src->v[i], strlen(src->v[i])) < 0)
			return -1;
	return 0;
}

int namemap_write(struct namemap *nm, const struct strv *names)
{
	struct buf text, tmp;
	const char *slash;
	size_t i, off = 0;
	ssize_t w;
	int fd = -1, ret = -1;

	if (nm->file_known && namemap_equal(&nm->file, names))
		return 0;
	buf_init(&text);
	buf_init(&tmp);
	slash = strrchr(nm->path, '/');
	/* ".names.map.tmp": the loader's directory scan removes a stale one */
	if (buf_printf(&text, "# written by cert-pusher's loader: the names this edge holds\n") <
	            0 ||
	    buf_printf(&tmp, "%.*s/.%s.tmp", (int)(slash - nm->path), nm->path, slash + 1) < 0)
		goto oom;
	for (i = 0; i < names->n; i++)
		if (buf_printf(&text, "%s 1\n", names->v[i]) < 0)
			goto oom;
	fd = open(buf_str(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_err("loader: names map: %s: %s", buf_str(&tmp), strerror(errno));
		goto out;
	}
	while (off < text.len) {
		w = write(fd, text.data + off, text.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_err("loader: names map: writing %s: %s", buf_str(&tmp),
			        strerror(errno));
			goto out;
		}
		off += (size_t)w;
	}
	if (close(fd) < 0) {
		fd = -1;
		log_err("loader: names map: closing %s: %s", buf_str(&tmp), strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(buf_str(&tmp), nm->path) < 0) {
		log_err("loader: names map: rename to %s: %s", nm->path, strerror(errno));
		goto out;
	}
	if (namemap_copy(&nm->file, names) < 0) {
		nm->file_known = 0;
		goto oom;
	}
	nm->file_known = 1;
	ret = 0;
	goto out;
oom:
	log_err("loader: names map: out of memory");
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		(void)unlink(buf_str(&tmp));
	buf_deinit(&text);
	buf_deinit(&tmp);
	return ret;
}

/* One command whose success is an empty reply. 0 or -1 with <err>. */
static int namemap_cmd(struct haproxy_rt *rt, const char *cmd, struct buf *reply, char *err,
                       size_t errsz)
{
	size_t i;

	if (haproxy_rt_cmd(rt, cmd, NULL, reply, err, errsz) != HAPROXY_RT_OK)
		return -1;
	for (i = 0; i < reply->len; i++)
		if (reply->data[i] != '\n' && reply->data[i] != ' ') {
			snprintf(err, errsz, "%s: HAProxy answered '%.200s'", cmd, buf_str(reply));
			return -1;
		}
	return 0;
}

/* Read worker <pid>'s map into nm->live (or learn that it has none). 0 or -1 with <err>. */
static int namemap_read(struct namemap *nm, struct haproxy_rt *rt, char *err, size_t errsz)
{
	struct buf cmd, reply;
	int ret = -1;

	buf_init(&cmd);
	buf_init(&reply);
	strv_deinit(&nm->live);
	if (haproxy_rt_cmd(rt, "show map", NULL, &reply, err, errsz) != HAPROXY_RT_OK)
		goto out;
	nm->absent = !namemap_show_has(buf_str(&reply), reply.len, nm->path);
	if (!nm->absent) {
		if (buf_printf(&cmd, "show map %s", nm->path) < 0) {
			snprintf(err, errsz, "out of memory");
			goto out;
		}
		if (haproxy_rt_cmd(rt, buf_str(&cmd), NULL, &reply, err, errsz) != HAPROXY_RT_OK)
			goto out;
		if (namemap_parse_show(buf_str(&reply), reply.len, &nm->live) < 0) {
			snprintf(err, errsz, "show map %s: unexpected reply '%.200s'", nm->path,
			         buf_str(&reply));
			goto out;
		}
		/* the file may hold what namemap_name_valid() would refuse: drop it below */
	}
	nm->live_known = 1;
	ret = 0;
out:
	buf_deinit(&cmd);
	buf_deinit(&reply);
	return ret;
}

int namemap_sync(struct namemap *nm, struct haproxy_rt *rt, uint64_t pid, const struct strv *names)
{
	struct buf cmd, reply;
	char err[512];
	size_t i = 0, j = 0, added = 0, removed = 0;
	int ret = -1;

	buf_init(&cmd);
	buf_init(&reply);
	if (pid != nm->pid) {
		nm->pid = pid;
		nm->live_known = 0;
	}
	if (!nm->live_known && namemap_read(nm, rt, err, sizeof(err)) < 0)
		goto fail;
	if (nm->absent) {
		ret = 0;
		goto out;
	}
	/* Both sorted: one merge. A name is added only after the certificate is served, so a
	 * handshake that finds it in the map never gets the fallback for it. */
	while (i < names->n || j < nm->live.n) {
		int c = i == names->n     ? 1
		        : j == nm->live.n ? -1
		                          : strcmp(names->v[i], nm->live.v[j]);

		buf_reset(&cmd);
		if (c < 0) {
			if (buf_printf(&cmd, "add map %s %s 1", nm->path, names->v[i]) < 0)
				goto oom;
			added++;
		} else if (c > 0) {
			/* a name from HAProxy: sent back only in a shape we accept */
			if (namemap_name_valid(nm->live.v[j]) ||
			    haproxy_rt_name_valid(nm->live.v[j])) {
				if (buf_printf(&cmd, "del map %s %s", nm->path, nm->live.v[j]) < 0)
					goto oom;
				removed++;
			}
		}
		if (cmd.len && namemap_cmd(rt, buf_str(&cmd), &reply, err, sizeof(err)) < 0)
			goto fail;
		i += c <= 0;
		j += c >= 0;
	}
	if (namemap_copy(&nm->live, names) < 0)
		goto oom;
	if (added || removed)
		log_info("loader: names map: worker=%llu added=%zu removed=%zu names=%zu",
		         (unsigned long long)pid, added, removed, names->n);
	nm->logged = 0;
	ret = 0;
	goto out;
oom:
	snprintf(err, sizeof(err), "out of memory");
fail:
	if (!nm->logged)
		log_warn("loader: names map: %s; HAProxy's map is read again at the next sync "
		         "(meanwhile those names ask the agent)",
		         err);
	nm->logged = 1;
	nm->live_known = 0;
out:
	buf_deinit(&cmd);
	buf_deinit(&reply);
	return ret;
}
