// SPDX-License-Identifier: MIT
/*
 * HAProxy runtime API client. Replies are recognised by their exact texts as HAProxy 2.6.12
 * prints them (src/ssl_ckch.c, src/ssl_crtlist.c) with a fallback to HAPROXY_RT_ERROR that
 * carries the reply: a reply we do not recognise is never taken for a success. Two facts shape
 * the code (DESIGN.md "HAProxy runtime API facts"): in 2.6 a `set ssl cert` lands in whatever
 * transaction is open, whose name the reply gives, so the reply must name our certificate; and
 * the CLI drops requests larger than tune.bufsize silently, so sizes are checked before sending.
 */
#include "cert-pusher/edge/haproxy_rt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/clock.h"
#include "common/names.h"

#define HAPROXY_RT_REPLY_MAX   (16u << 20) /* `show ssl cert` with many thousands of names */
#define HAPROXY_RT_CLI_TIMEOUT "86400" /* seconds: `set timeout cli`, longer than any idle gap */

const char *const haproxy_rt_status_names[HAPROXY_RT_COUNT] = {
	[HAPROXY_RT_OK] = "ok",
	[HAPROXY_RT_EXISTS] = "exists",
	[HAPROXY_RT_NOT_FOUND] = "not found",
	[HAPROXY_RT_WRONG_TXN] = "wrong transaction",
	[HAPROXY_RT_BUSY] = "another transaction is ongoing",
	[HAPROXY_RT_IN_USE] = "in use",
	[HAPROXY_RT_DUPLICATE] = "several entries",
	[HAPROXY_RT_ERROR] = "error",
	[HAPROXY_RT_IO] = "i/o error",
};

/* ---- names list ---- */

/* ---- names ---- */

int haproxy_rt_name_valid(const char *name)
{
	size_t len = strlen(name);

	return len >= 1 && len <= HAPROXY_RT_NAME_MAX && name[0] != '*' && !strchr(name, ':') &&
	       haproxy_rt_path_valid(name);
}

int haproxy_rt_host_escape(const char *host, char *out, size_t outsz)
{
	size_t n = strlen(host);

	if (n >= outsz)
		return -1;
	memcpy(out, host, n + 1);
	if (out[0] == '*' && out[1] == '.')
		out[0] = HAPROXY_RT_WILDCARD_FILE_CHAR;
	return 0;
}

void haproxy_rt_host_unescape(char *host)
{
	if (host[0] == HAPROXY_RT_WILDCARD_FILE_CHAR && host[1] == '.')
		host[0] = '*';
}

int haproxy_rt_name_managed(const char *dir, const char *name, size_t *host_off, size_t *host_len,
                            enum pem_key_type *type)
{
	char host[NAMES_HOSTNAME_MAX + 1];
	const char *base, *dot, *why;
	size_t dl = strlen(dir), hl, bl;
	int t;

	if (!haproxy_rt_name_valid(name) || strncmp(name, dir, dl) || name[dl] != '/')
		return 0;
	base = name + dl + 1;
	bl = strlen(base);
	if (bl < 5 || strcmp(base + bl - 4, ".pem"))
		return 0;
	for (t = 0; t < PEM_KEY_COUNT; t++) {
		size_t tl = strlen(pem_key_type_names[t]);

		if (bl > tl + 5 && base[bl - 5 - tl] == '.' &&
		    !memcmp(base + bl - 4 - tl, pem_key_type_names[t], tl))
			break;
	}
	if (t == PEM_KEY_COUNT)
		return 0;
	dot = base + bl - 5 - strlen(pem_key_type_names[t]);
	hl = (size_t)(dot - base);
	if (hl < 1 || hl > NAMES_HOSTNAME_MAX)
		return 0;
	memcpy(host, base, hl);
	host[hl] = 0;
	haproxy_rt_host_unescape(host);
	if (!names_cert_host_valid(host, &why))
		return 0;
	if (host_off)
		*host_off = (size_t)(base - name);
	if (host_len)
		*host_len = hl;
	if (type)
		*type = (enum pem_key_type)t;
	return 1;
}

int haproxy_rt_path_valid(const char *path)
{
	size_t i, len = strlen(path);

	if (len < 1 || len > 4096)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c <= ' ' || c >= 0x7f || c == ';' || c == '\\' || c == '#' || c == '\'' ||
		    c == '"')
			return 0;
	}
	return 1;
}

/* ---- reply parsing ---- */

int haproxy_rt_reply_complete(const char *buf, size_t len)
{
	return len >= 3 && !memcmp(buf + len - 3, "\n> ", 3);
}

size_t haproxy_rt_reply_body(const char *buf, size_t len, const char **body)
{
	const char *p = buf, *end = buf + len;

	if (len >= 2 && end[-2] == '>' && end[-1] == ' ')
		end -= 2;
	while (end - p >= 2 && p[0] == '+' && p[1] == ' ')
		p += 2;
	while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	*body = p;
	return (size_t)(end - p);
}

/* Whether <body>/<len> is exactly <a><name><b>. */
static int rt_is(const char *body, size_t len, const char *a, const char *name, const char *b)
{
	size_t la = strlen(a), ln = strlen(name), lb = strlen(b);

	return len == la + ln + lb && !memcmp(body, a, la) && !memcmp(body + la, name, ln) &&
	       !memcmp(body + la + ln, b, lb);
}

/* Whether <body>/<len> starts with <a><name><b>. */
static int rt_starts(const char *body, size_t len, const char *a, const char *name, const char *b)
{
	size_t la = strlen(a), ln = strlen(name), lb = strlen(b);

	return len >= la + ln + lb && !memcmp(body, a, la) && !memcmp(body + la, name, ln) &&
	       !memcmp(body + la + ln, b, lb);
}

static int rt_contains(const char *body, size_t len, const char *s)
{
	return memmem(body, len, s, strlen(s)) != NULL;
}

/* Copy the first '...'-quoted word of <body>/<len> into <out>. */
static void rt_first_quoted(const char *body, size_t len, char *out, size_t outsz)
{
	const char *q = memchr(body, '\'', len), *e;

	if (!out || !outsz)
		return;
	out[0] = 0;
	if (!q)
		return;
	q++;
	e = memchr(q, '\'', len - (size_t)(q - body));
	if (e && (size_t)(e - q) < outsz) {
		memcpy(out, q, (size_t)(e - q));
		out[e - q] = 0;
	}
}

/* For `set ssl cert`: "Transaction created|updated for certificate X!" where X is not ours. */
static int rt_other_txn(const char *body, size_t len, char *other, size_t othersz)
{
	static const char *const pfx[] = { "Transaction created for certificate ",
		                           "Transaction updated for certificate " };
	size_t i, pl, nl;

	for (i = 0; i < 2; i++) {
		pl = strlen(pfx[i]);
		if (len < pl + 2 || memcmp(body, pfx[i], pl) || body[len - 1] != '!' ||
		    memchr(body, '\n', len))
			continue;
		nl = len - pl - 1;
		if (other && othersz) {
			if (nl >= othersz)
				nl = othersz - 1;
			memcpy(other, body + pl, nl);
			other[nl] = 0;
		}
		return 1;
	}
	return 0;
}

/* The last line of <body>/<len>. */
static const char *rt_last_line(const char *body, size_t len, size_t *ll)
{
	const char *p = body + len;

	while (p > body && p[-1] != '\n')
		p--;
	*ll = (size_t)(body + len - p);
	return p;
}

enum haproxy_rt_status haproxy_rt_classify(enum haproxy_rt_cmd cmd, const char *name,
                                           const char *body, size_t len, char *other,
                                           size_t othersz)
{
	const char *last, *p;
	size_t ll, i;

	if (other && othersz)
		other[0] = 0;
	switch (cmd) {
	case HAPROXY_RT_CMD_NEW:
		if (rt_is(body, len, "New empty certificate store '", name, "'!"))
			return HAPROXY_RT_OK;
		if (rt_is(body, len, "Certificate '", name, "' already exists!"))
			return HAPROXY_RT_EXISTS;
		break;
	case HAPROXY_RT_CMD_SET:
		if (rt_is(body, len, "Transaction created for certificate ", name, "!") ||
		    rt_is(body, len, "Transaction updated for certificate ", name, "!"))
			return HAPROXY_RT_OK;
		if (rt_other_txn(body, len, other, othersz))
			return HAPROXY_RT_WRONG_TXN;
		if (rt_contains(body, len, "ongoing transaction")) {
			rt_first_quoted(body, len, other, othersz);
			return HAPROXY_RT_BUSY;
		}
		break;
	case HAPROXY_RT_CMD_COMMIT:
		/* "Committing NAME" [progress dots] "\nSuccess!" */
		last = rt_last_line(body, len, &ll);
		if (rt_starts(body, len, "Committing ", name, "") && ll == 8 &&
		    !memcmp(last, "Success!", 8)) {
			p = body + strlen("Committing ") + strlen(name);
			for (i = 0; p + i < last - 1; i++)
				if (p[i] != '.' && p[i] != '\n')
					return HAPROXY_RT_ERROR;
			return HAPROXY_RT_OK;
		}
		if (rt_contains(body, len, "No ongoing transaction"))
			return HAPROXY_RT_NOT_FOUND;
		break;
	case HAPROXY_RT_CMD_ABORT:
		if (rt_is(body, len, "Transaction aborted for certificate '", name, "'!"))
			return HAPROXY_RT_OK;
		if (rt_contains(body, len, "No ongoing transaction"))
			return HAPROXY_RT_NOT_FOUND;
		break;
	case HAPROXY_RT_CMD_DEL_CERT:
		if (rt_is(body, len, "Certificate '", name, "' deleted!"))
			return HAPROXY_RT_OK;
		if (rt_contains(body, len, "in use"))
			return HAPROXY_RT_IN_USE;
		if (rt_contains(body, len, "doesn't exist") ||
		    rt_contains(body, len, "does not exist"))
			return HAPROXY_RT_NOT_FOUND;
		break;
	case HAPROXY_RT_CMD_ADD_CRTLIST:
		last = rt_last_line(body, len, &ll);
		if (rt_starts(body, len, "Inserting certificate '", name, "' in crt-list '") &&
		    ll == 8 && !memcmp(last, "Success!", 8) && last > body)
			return HAPROXY_RT_OK;
		if (rt_contains(body, len, "does not exist"))
			return HAPROXY_RT_NOT_FOUND;
		break;
	case HAPROXY_RT_CMD_DEL_CRTLIST:
		if (rt_starts(body, len, "Entry '", name, "' deleted in crtlist '"))
			return HAPROXY_RT_OK;
		if (rt_contains(body, len, "several entries"))
			return HAPROXY_RT_DUPLICATE;
		if (rt_contains(body, len, "does not exist") ||
		    rt_contains(body, len, "doesn't exist") || rt_contains(body, len, "not found"))
			return HAPROXY_RT_NOT_FOUND;
		break;
	default:
		break;
	}
	return HAPROXY_RT_ERROR;
}

/* Iterate lines: returns the next line of [*pp, end) and its length, advancing *pp; NULL at
 * the end. */
static const char *rt_next_line(const char **pp, const char *end, size_t *ll)
{
	const char *p = *pp, *nl;

	if (p >= end)
		return NULL;
	nl = memchr(p, '\n', (size_t)(end - p));
	*ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
	*pp = nl ? nl + 1 : end;
	while (*ll && p[*ll - 1] == '\r')
		(*ll)--;
	return p;
}

int haproxy_rt_parse_cert_list(const char *body, size_t len, struct strv *certs, struct strv *txns)
{
	const char *p = body, *end = body + len, *line;
	size_t ll;

	if (len < 1 || body[0] != '#')
		return -1;
	while ((line = rt_next_line(&p, end, &ll))) {
		if (!ll || line[0] == '#')
			continue;
		if (line[0] == '*') {
			if (ll > 1 && strv_push(txns, line + 1, ll - 1) < 0)
				return -1;
		} else if (strv_push(certs, line, ll) < 0) {
			return -1;
		}
	}
	return 0;
}

int haproxy_rt_parse_crt_list(const char *body, size_t len, struct strv *entries)
{
	const char *p = body, *end = body + len, *line;
	size_t ll, wl;

	if (len < 2 || body[0] != '#' || body[1] != ' ')
		return -1;
	while ((line = rt_next_line(&p, end, &ll))) {
		if (!ll || line[0] == '#')
			continue;
		for (wl = 0; wl < ll && line[wl] != ' ' && line[wl] != '\t'; wl++)
			;
		if (strv_push(entries, line, wl) < 0)
			return -1;
	}
	return 0;
}

/* If <line>/<ll> is "<key>: <value>", copy the value into <out> (once: the first occurrence
 * is the leaf's; later ones may describe the chain). */
static void rt_field(const char *line, size_t ll, const char *key, char *out, size_t outsz)
{
	size_t kl = strlen(key), vl;

	if (out[0] || ll < kl + 1 || memcmp(line, key, kl) || line[kl] != ':')
		return;
	line += kl + 1;
	ll -= kl + 1;
	while (ll && *line == ' ') {
		line++;
		ll--;
	}
	vl = ll < outsz - 1 ? ll : outsz - 1;
	memcpy(out, line, vl);
	out[vl] = 0;
}

enum haproxy_rt_status haproxy_rt_parse_cert_info(const char *body, size_t len,
                                                  struct haproxy_rt_cert_info *info)
{
	const char *p = body, *end = body + len, *line;
	size_t ll;

	memset(info, 0, sizeof(*info));
	if (rt_contains(body, len, "Can't display the certificate") &&
	    rt_contains(body, len, "Not found"))
		return HAPROXY_RT_NOT_FOUND;
	if (len < 10 || memcmp(body, "Filename: ", 10))
		return HAPROXY_RT_ERROR;
	while ((line = rt_next_line(&p, end, &ll))) {
		rt_field(line, ll, "Status", info->status, sizeof(info->status));
		rt_field(line, ll, "Serial", info->serial, sizeof(info->serial));
		rt_field(line, ll, "notAfter", info->not_after, sizeof(info->not_after));
		rt_field(line, ll, "SHA1 FingerPrint", info->sha1, sizeof(info->sha1));
	}
	return HAPROXY_RT_OK;
}

int haproxy_rt_parse_info(const char *body, size_t len, uint64_t *pid, uint64_t *uptime)
{
	const char *p = body, *end = body + len, *line;
	char v[24];
	int got = 0;
	size_t ll, i;

	while ((line = rt_next_line(&p, end, &ll))) {
		uint64_t *dst = NULL, x = 0;
		size_t kl = 0;

		if (ll > 5 && !memcmp(line, "Pid: ", 5)) {
			dst = pid;
			kl = 5;
		} else if (ll > 12 && !memcmp(line, "Uptime_sec: ", 12)) {
			dst = uptime;
			kl = 12;
		}
		if (!dst || ll - kl >= sizeof(v) || ll - kl > 19)
			continue;
		memcpy(v, line + kl, ll - kl);
		v[ll - kl] = 0;
		for (i = 0; v[i]; i++) {
			if (v[i] < '0' || v[i] > '9')
				break;
			x = x * 10 + (uint64_t)(v[i] - '0');
		}
		if (v[i])
			continue;
		*dst = x;
		got |= dst == pid ? 1 : 2;
	}
	return got == 3 ? 0 : -1;
}

/* ---- client ---- */

int haproxy_rt_init(struct haproxy_rt *rt, const char *path, size_t bufsize, int timeout_ms,
                    char *err, size_t errsz)
{
	memset(rt, 0, sizeof(*rt));
	rt->fd = -1;
	buf_init(&rt->rx);
	rt->timeout_ms = timeout_ms;
	rt->bufsize = bufsize;
	if (strlen(path) >= sizeof(rt->path) || !*path) {
		snprintf(err, errsz,
		         "--haproxy-socket: '%s': expected a unix socket path of 1..%zu "
		         "bytes",
		         path, sizeof(rt->path) - 1);
		return -1;
	}
	memcpy(rt->path, path, strlen(path) + 1);
	return 0;
}

void haproxy_rt_close(struct haproxy_rt *rt)
{
	if (rt->fd >= 0)
		close(rt->fd);
	rt->fd = -1;
}

void haproxy_rt_deinit(struct haproxy_rt *rt)
{
	haproxy_rt_close(rt);
	buf_deinit(&rt->rx);
}

/* Sleep between half and one and a half times <ms>, the point taken from the clock's
 * nanoseconds: a lock retry at a fixed period can stay in phase with a poller whose period
 * divides it (monitoring sending `show ssl cert` every few milliseconds) and never find the
 * lock free. */
static void rt_sleep_jitter_ms(int64_t ms)
{
	struct timespec now, ts;
	int64_t us;

	clock_gettime(CLOCK_MONOTONIC, &now);
	us = ms * 500 + (int64_t)now.tv_nsec / 1000 % (ms * 1000);
	ts.tv_sec = us / 1000000;
	ts.tv_nsec = us % 1000000 * 1000;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Wait for <events> on the session until <deadline>. 0 ready, -1 timeout or error. */
static int rt_wait(struct haproxy_rt *rt, short events, int64_t deadline, char *err, size_t errsz)
{
	struct pollfd pfd = { .fd = rt->fd, .events = events };
	int64_t left;
	int n;

	for (;;) {
		left = deadline - clock_mono_ms();
		if (left <= 0) {
			snprintf(err, errsz, "%s: no answer within %d ms", rt->path,
			         rt->timeout_ms);
			return -1;
		}
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR) {
			snprintf(err, errsz, "%s: poll: %s", rt->path, strerror(errno));
			return -1;
		}
	}
}

/* Write the <n> parts of <iov> (modified) fully. 0 or -1. */
static int rt_writev(struct haproxy_rt *rt, struct iovec *iov, int n, int64_t deadline, char *err,
                     size_t errsz)
{
	ssize_t w;

	while (n > 0) {
		if (!iov->iov_len) {
			iov++;
			n--;
			continue;
		}
		w = writev(rt->fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN && rt_wait(rt, POLLOUT, deadline, err, errsz) == 0)
				continue;
			if (errno != EAGAIN)
				snprintf(err, errsz, "%s: write: %s", rt->path, strerror(errno));
			return -1;
		}
		while (w > 0 && n > 0) {
			if ((size_t)w >= iov->iov_len) {
				w -= (ssize_t)iov->iov_len;
				iov->iov_len = 0;
				iov++;
				n--;
			} else {
				iov->iov_base = (char *)iov->iov_base + w;
				iov->iov_len -= (size_t)w;
				w = 0;
			}
		}
	}
	return 0;
}

/* Read into rt->rx until a complete reply or <deadline>. 0 or -1. */
static int rt_read_reply(struct haproxy_rt *rt, int64_t deadline, char *err, size_t errsz)
{
	ssize_t r;

	buf_reset(&rt->rx);
	for (;;) {
		if (buf_reserve(&rt->rx, 16384) < 0) {
			snprintf(err, errsz, "out of memory");
			return -1;
		}
		r = read(rt->fd, rt->rx.data + rt->rx.len, rt->rx.cap - rt->rx.len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN) {
			if (rt_wait(rt, POLLIN, deadline, err, errsz) < 0)
				return -1;
			continue;
		}
		if (r < 0) {
			snprintf(err, errsz, "%s: read: %s", rt->path, strerror(errno));
			return -1;
		}
		if (r == 0) {
			snprintf(err, errsz, "%s: HAProxy closed the session", rt->path);
			return -1;
		}
		rt->rx.len += (size_t)r;
		rt->rx.data[rt->rx.len] = 0;
		if (haproxy_rt_reply_complete((const char *)rt->rx.data, rt->rx.len))
			return 0;
		if (rt->rx.len > HAPROXY_RT_REPLY_MAX) {
			snprintf(err, errsz, "%s: reply larger than %u bytes", rt->path,
			         HAPROXY_RT_REPLY_MAX);
			return -1;
		}
	}
}

/* Send <line> (with its newline) on a session being set up and read the reply. */
static int rt_setup_cmd(struct haproxy_rt *rt, const char *line, char *err, size_t errsz)
{
	struct iovec iov = { .iov_base = (void *)line, .iov_len = strlen(line) };
	int64_t deadline = clock_mono_ms() + rt->timeout_ms;

	if (rt_writev(rt, &iov, 1, deadline, err, errsz) < 0 ||
	    rt_read_reply(rt, deadline, err, errsz) < 0)
		return -1;
	return 0;
}

/* Open the session: connect, `prompt`, `set timeout cli`. 0 or -1. */
static int rt_open(struct haproxy_rt *rt, char *err, size_t errsz)
{
	struct sockaddr_un sun;
	int ret = -1;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, rt->path, strlen(rt->path) + 1);
	rt->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (rt->fd < 0) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		goto out;
	}
	if (connect(rt->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(err, errsz, "%s: connect: %s", rt->path, strerror(errno));
		goto out;
	}
	/* Without prompt, HAProxy 3.x runs only the first command of a connection. */
	if (rt_setup_cmd(rt, "prompt\n", err, errsz) < 0 ||
	    rt_setup_cmd(rt, "set timeout cli " HAPROXY_RT_CLI_TIMEOUT "\n", err, errsz) < 0)
		goto out;
	rt->opens++;
	ret = 0;
out:
	if (ret < 0)
		haproxy_rt_close(rt);
	return ret;
}

/* Whether an idle session is still open: no pending bytes and no EOF. */
static int rt_alive(struct haproxy_rt *rt)
{
	struct pollfd pfd = { .fd = rt->fd, .events = POLLIN };
	char c;

	if (poll(&pfd, 1, 0) == 0)
		return 1;
	/* EOF, error, or bytes nobody asked for: start over with a fresh session. */
	(void)recv(rt->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return 0;
}

/* Whether <cmd> is one command line: printable ASCII, no ';' (the CLI's command separator),
 * no newline or CR, not empty. */
static int rt_cmd_valid(const char *cmd)
{
	const unsigned char *p = (const unsigned char *)cmd;

	if (!*p)
		return 0;
	for (; *p; p++)
		if (*p < ' ' || *p >= 0x7f || *p == ';')
			return 0;
	return 1;
}

/* Whether <payload> can follow "<<": non-empty lines, each ending with a newline, no CR and no
 * NUL (a blank line would end the payload early, the rest read as commands). */
static int rt_payload_valid(const struct buf *payload)
{
	return payload->len && payload->data[0] != '\n' &&
	       payload->data[payload->len - 1] == '\n' &&
	       !memchr(payload->data, '\r', payload->len) &&
	       !memchr(payload->data, 0, payload->len) &&
	       !memmem(payload->data, payload->len, "\n\n", 2);
}

enum haproxy_rt_status haproxy_rt_cmd(struct haproxy_rt *rt, const char *cmd,
                                      const struct buf *payload, struct buf *reply, char *err,
                                      size_t errsz)
{
	struct iovec iov[4], again[4];
	const char *body;
	size_t total, blen;
	int64_t budget, wait_ms = 1;
	int n = 0;

	buf_reset(reply);
	if (!rt_cmd_valid(cmd)) {
		snprintf(err, errsz, "refusing a command that is not one printable line");
		return HAPROXY_RT_ERROR;
	}
	if (payload && !rt_payload_valid(payload)) {
		snprintf(err, errsz, "%s: payload must be non-empty lines ending with a newline",
		         cmd);
		return HAPROXY_RT_ERROR;
	}
	total = strlen(cmd) + 1 + (payload ? 4 + payload->len + 1 : 0);
	if (rt->bufsize < HAPROXY_RT_BUF_MARGIN * 2 ||
	    total > rt->bufsize - HAPROXY_RT_BUF_MARGIN) {
		snprintf(err, errsz,
		         "request of %zu bytes does not fit HAProxy's tune.bufsize %zu (minus %d "
		         "bytes of margin; see --haproxy-bufsize)",
		         total, rt->bufsize, HAPROXY_RT_BUF_MARGIN);
		return HAPROXY_RT_ERROR;
	}
	if (rt->fd >= 0 && !rt_alive(rt))
		haproxy_rt_close(rt);
	if (rt->fd < 0 && rt_open(rt, err, errsz) < 0)
		return HAPROXY_RT_IO;
	iov[n].iov_base = (void *)cmd;
	iov[n++].iov_len = strlen(cmd);
	if (payload) {
		iov[n].iov_base = (void *)" <<\n";
		iov[n++].iov_len = 4;
		iov[n].iov_base = payload->data;
		iov[n++].iov_len = payload->len;
		/* The payload ends with its newline: this empty line closes it. */
	}
	iov[n].iov_base = (void *)"\n";
	iov[n++].iov_len = 1;
	/* The time spent waiting for the lock is bounded by the timeout; each attempt has the
	 * whole timeout for its own round trip, so that a budget spent in the middle of one is
	 * not taken for a dead socket (the reply would then be the lock, not an I/O error). */
	budget = clock_mono_ms() + rt->timeout_ms;
	memcpy(again, iov, sizeof(iov));
	for (;;) {
		int64_t deadline = clock_mono_ms() + rt->timeout_ms;

		if (rt_writev(rt, iov, n, deadline, err, errsz) < 0 ||
		    rt_read_reply(rt, deadline, err, errsz) < 0) {
			haproxy_rt_close(rt);
			return HAPROXY_RT_IO;
		}
		blen = haproxy_rt_reply_body((const char *)rt->rx.data, rt->rx.len, &body);
		/* Another CLI session holds the certificate lock (an operator's `show ssl cert`,
		 * another loader): nothing was done, so wait a little and send it again. */
		if (!rt_contains(body, blen, HAPROXY_RT_LOCKED) ||
		    clock_mono_ms() + wait_ms >= budget)
			break;
		rt->lock_waits++;
		rt_sleep_jitter_ms(wait_ms);
		wait_ms = wait_ms < 32 ? wait_ms * 2 : 32;
		memcpy(iov, again, sizeof(iov));
	}
	if (buf_append(reply, body, blen) < 0) {
		snprintf(err, errsz, "out of memory");
		return HAPROXY_RT_ERROR;
	}
	return HAPROXY_RT_OK;
}

/* ---- one-shot probe ---- */

#define HAPROXY_RT_PROBE_MS 2000

enum haproxy_rt_status haproxy_rt_probe(const struct haproxy_rt *rt, uint64_t *pid,
                                        uint64_t *uptime, char *err, size_t errsz)
{
	static const char cmd[] = "show info\n";
	struct sockaddr_un sun;
	struct pollfd pfd;
	enum haproxy_rt_status st = HAPROXY_RT_IO;
	int64_t deadline = clock_mono_ms() + HAPROXY_RT_PROBE_MS, left;
	char reply[8192];
	size_t len = 0, sent = 0;
	ssize_t r;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, rt->path, strlen(rt->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		return HAPROXY_RT_IO;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 && errno != EINPROGRESS &&
	    errno != EAGAIN) {
		snprintf(err, errsz, "%s: connect: %s", rt->path, strerror(errno));
		goto out;
	}
	/* Without `prompt`, HAProxy answers one command and closes: read to EOF. */
	for (;;) {
		pfd.fd = fd;
		pfd.events = sent < sizeof(cmd) - 1 ? POLLOUT : POLLIN;
		left = deadline - clock_mono_ms();
		if (left <= 0) {
			snprintf(err, errsz, "%s: show info: no answer within %d ms", rt->path,
			         HAPROXY_RT_PROBE_MS);
			goto out;
		}
		if (poll(&pfd, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errsz, "%s: poll: %s", rt->path, strerror(errno));
			goto out;
		}
		if (sent < sizeof(cmd) - 1) {
			r = write(fd, cmd + sent, sizeof(cmd) - 1 - sent);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r < 0) {
				snprintf(err, errsz, "%s: write: %s", rt->path, strerror(errno));
				goto out;
			}
			sent += (size_t)r;
			continue;
		}
		r = read(fd, reply + len, sizeof(reply) - 1 - len);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0) {
			snprintf(err, errsz, "%s: read: %s", rt->path, strerror(errno));
			goto out;
		}
		if (r == 0 || len + (size_t)r == sizeof(reply) - 1) {
			len += (size_t)r;
			break; /* EOF, or enough: Pid and Uptime_sec come first */
		}
		len += (size_t)r;
	}
	reply[len] = 0;
	if (haproxy_rt_parse_info(reply, len, pid, uptime) < 0) {
		snprintf(err, errsz, "%s: show info: unexpected answer '%.60s'", rt->path, reply);
		st = HAPROXY_RT_ERROR;
		goto out;
	}
	st = HAPROXY_RT_OK;
out:
	close(fd);
	return st;
}

/* ---- pipelined commands ---- */

void haproxy_rt_batch_init(struct haproxy_rt_batch *b)
{
	memset(b, 0, sizeof(*b));
	buf_init(&b->out);
	buf_init(&b->replies);
}

void haproxy_rt_batch_deinit(struct haproxy_rt_batch *b)
{
	/* The queued payloads are certificates with their keys. */
	buf_wipe(&b->out);
	buf_deinit(&b->replies);
	free(b->off);
	free(b->len);
	haproxy_rt_batch_init(b);
}

void haproxy_rt_batch_reset(struct haproxy_rt_batch *b)
{
	if (b->out.len)
		OPENSSL_cleanse(b->out.data, b->out.len);
	buf_reset(&b->out);
	buf_reset(&b->replies);
	b->n = 0;
}

long haproxy_rt_batch_add(struct haproxy_rt_batch *b, const struct haproxy_rt *rt, const char *verb,
                          const char *arg1, const char *arg2, const struct buf *payload, char *err,
                          size_t errsz)
{
	size_t mark = b->out.len, total;

	if (!haproxy_rt_path_valid(arg1) || (!arg2 && !haproxy_rt_name_valid(arg1)) ||
	    (arg2 && !haproxy_rt_name_valid(arg2))) {
		snprintf(err, errsz, "refusing '%s %.200s%s%.200s'", verb, arg1, arg2 ? " " : "",
		         arg2 ? arg2 : "");
		return -1;
	}
	if (!rt_cmd_valid(verb)) {
		snprintf(err, errsz, "refusing a command that is not one printable line");
		return -1;
	}
	if (payload && !rt_payload_valid(payload)) {
		snprintf(err, errsz, "%s %s: payload must be non-empty lines ending with a newline",
		         verb, arg2 ? arg2 : arg1);
		return -1;
	}
	if (b->n == b->cap) {
		size_t ncap = b->cap ? 2 * b->cap : 64;
		size_t *no = realloc(b->off, ncap * sizeof(*no)), *nl;

		if (!no)
			goto oom;
		b->off = no;
		nl = realloc(b->len, ncap * sizeof(*nl));
		if (!nl)
			goto oom;
		b->len = nl;
		b->cap = ncap;
	}
	if (buf_printf(&b->out, "%s %s%s%s", verb, arg1, arg2 ? " " : "", arg2 ? arg2 : "") < 0 ||
	    (payload && (buf_append(&b->out, " <<\n", 4) < 0 ||
	                 buf_append(&b->out, payload->data, payload->len) < 0)) ||
	    buf_append(&b->out, "\n", 1) < 0)
		goto oom;
	total = b->out.len - mark;
	if (rt->bufsize < HAPROXY_RT_BUF_MARGIN * 2 ||
	    total > rt->bufsize - HAPROXY_RT_BUF_MARGIN) {
		OPENSSL_cleanse(b->out.data + mark, total);
		b->out.len = mark;
		snprintf(err, errsz,
		         "request of %zu bytes does not fit HAProxy's tune.bufsize %zu (minus %d "
		         "bytes of margin; see --haproxy-bufsize)",
		         total, rt->bufsize, HAPROXY_RT_BUF_MARGIN);
		return -1;
	}
	return (long)b->n++;
oom:
	if (b->out.len > mark)
		OPENSSL_cleanse(b->out.data + mark, b->out.len - mark);
	b->out.len = mark;
	snprintf(err, errsz, "out of memory");
	return -1;
}

enum haproxy_rt_status haproxy_rt_batch_run(struct haproxy_rt *rt, struct haproxy_rt_batch *b,
                                            char *err, size_t errsz)
{
	struct pollfd pfd;
	size_t sent = 0, scan = 0, seg = 0, done = 0;
	int64_t deadline;
	const char *body;
	ssize_t r;

	buf_reset(&b->replies);
	if (!b->n)
		return HAPROXY_RT_OK;
	if (rt->fd >= 0 && !rt_alive(rt))
		haproxy_rt_close(rt);
	if (rt->fd < 0 && rt_open(rt, err, errsz) < 0)
		return HAPROXY_RT_IO;
	deadline = clock_mono_ms() + rt->timeout_ms;
	/* Write while reading: HAProxy stops reading commands while its replies are not read. */
	while (done < b->n) {
		int64_t left = deadline - clock_mono_ms();

		if (left <= 0) {
			snprintf(err, errsz, "%s: %zu of %zu replies within %d ms", rt->path, done,
			         b->n, rt->timeout_ms);
			goto io;
		}
		pfd.fd = rt->fd;
		pfd.events = POLLIN | (sent < b->out.len ? POLLOUT : 0);
		if (poll(&pfd, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errsz, "%s: poll: %s", rt->path, strerror(errno));
			goto io;
		}
		if (sent < b->out.len && (pfd.revents & POLLOUT)) {
			r = write(rt->fd, b->out.data + sent, b->out.len - sent);
			if (r < 0 && errno != EAGAIN && errno != EINTR) {
				snprintf(err, errsz, "%s: write: %s", rt->path, strerror(errno));
				goto io;
			}
			if (r > 0) {
				sent += (size_t)r;
				deadline = clock_mono_ms() + rt->timeout_ms;
			}
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (buf_reserve(&b->replies, 65536) < 0) {
			snprintf(err, errsz, "out of memory");
			goto io;
		}
		r = read(rt->fd, b->replies.data + b->replies.len,
		         b->replies.cap - b->replies.len - 1);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0) {
			snprintf(err, errsz, "%s: %s after %zu of %zu replies", rt->path,
			         r < 0 ? strerror(errno) : "HAProxy closed the session", done,
			         b->n);
			goto io;
		}
		b->replies.len += (size_t)r;
		b->replies.data[b->replies.len] = 0;
		deadline = clock_mono_ms() + rt->timeout_ms;
		/* Each reply ends with the prompt "\n> ". */
		while (done < b->n && b->replies.len - scan >= 3) {
			const char *hit =
			        memmem(b->replies.data + scan, b->replies.len - scan, "\n> ", 3);

			if (!hit) {
				scan = b->replies.len - 2;
				break;
			}
			scan = (size_t)(hit - (const char *)b->replies.data) + 3;
			b->len[done] = haproxy_rt_reply_body((const char *)b->replies.data + seg,
			                                     scan - seg, &body);
			b->off[done] = (size_t)(body - (const char *)b->replies.data);
			seg = scan;
			done++;
		}
		if (b->replies.len > HAPROXY_RT_REPLY_MAX * 4) {
			snprintf(err, errsz, "%s: replies larger than %u bytes", rt->path,
			         HAPROXY_RT_REPLY_MAX * 4);
			goto io;
		}
	}
	return HAPROXY_RT_OK;
io:
	haproxy_rt_close(rt);
	return HAPROXY_RT_IO;
}

const char *haproxy_rt_batch_reply(const struct haproxy_rt_batch *b, size_t i, size_t *len)
{
	*len = b->len[i];
	return (const char *)b->replies.data + b->off[i];
}

/* Put a one-line summary of <reply> into <err>. */
static void rt_err_reply(const char *what, const struct buf *reply, char *err, size_t errsz)
{
	const char *s = buf_str(reply);
	char one[300];
	size_t i;

	for (i = 0; s[i] && i < sizeof(one) - 1; i++)
		one[i] = (s[i] == '\n' || s[i] == '\r') ? '|' : (s[i] < ' ' ? '?' : s[i]);
	one[i] = 0;
	/* Still locked once the timeout is spent: say what can hold it that long. */
	snprintf(err, errsz, "%s: HAProxy answered '%s'%s", what, one,
	         rt_contains(s, reply->len, HAPROXY_RT_LOCKED)
	                 ? " for the whole timeout (another session holds the lock, or HAProxy "
	                   "3.x left it locked: a reload clears it)"
	                 : "");
}

/* Send "<verb> <name>", classify. */
static enum haproxy_rt_status rt_simple(struct haproxy_rt *rt, enum haproxy_rt_cmd kind,
                                        const char *verb, const char *list, const char *name,
                                        const struct buf *payload, char *other, size_t othersz,
                                        char *err, size_t errsz)
{
	enum haproxy_rt_status st;
	struct buf reply;
	char line[HAPROXY_RT_NAME_MAX + 4200];
	int n;

	buf_init(&reply);
	if (!haproxy_rt_name_valid(name)) {
		snprintf(err, errsz, "refusing certificate name '%.*s': expected [a-z0-9._-]",
		         HAPROXY_RT_NAME_MAX, name);
		st = HAPROXY_RT_ERROR;
		goto out;
	}
	if (list && !haproxy_rt_path_valid(list)) {
		snprintf(err, errsz, "refusing crt-list path '%s'", list);
		st = HAPROXY_RT_ERROR;
		goto out;
	}
	n = list ? snprintf(line, sizeof(line), "%s %s %s", verb, list, name)
	         : snprintf(line, sizeof(line), "%s %s", verb, name);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		snprintf(err, errsz, "command too long");
		st = HAPROXY_RT_ERROR;
		goto out;
	}
	st = haproxy_rt_cmd(rt, line, payload, &reply, err, errsz);
	if (st != HAPROXY_RT_OK)
		goto out;
	st = haproxy_rt_classify(kind, name, buf_str(&reply), reply.len, other, othersz);
	if (st != HAPROXY_RT_OK)
		rt_err_reply(line, &reply, err, errsz);
out:
	buf_deinit(&reply);
	return st;
}

enum haproxy_rt_status haproxy_rt_new_cert(struct haproxy_rt *rt, const char *name, char *err,
                                           size_t errsz)
{
	return rt_simple(rt, HAPROXY_RT_CMD_NEW, "new ssl cert", NULL, name, NULL, NULL, 0, err,
	                 errsz);
}

enum haproxy_rt_status haproxy_rt_set_cert(struct haproxy_rt *rt, const char *name,
                                           const struct buf *pem, char *other, size_t othersz,
                                           char *err, size_t errsz)
{
	return rt_simple(rt, HAPROXY_RT_CMD_SET, "set ssl cert", NULL, name, pem, other, othersz,
	                 err, errsz);
}

enum haproxy_rt_status haproxy_rt_commit_cert(struct haproxy_rt *rt, const char *name, char *err,
                                              size_t errsz)
{
	return rt_simple(rt, HAPROXY_RT_CMD_COMMIT, "commit ssl cert", NULL, name, NULL, NULL, 0,
	                 err, errsz);
}

enum haproxy_rt_status haproxy_rt_abort_cert(struct haproxy_rt *rt, const char *name, char *err,
                                             size_t errsz)
{
	return rt_simple(rt, HAPROXY_RT_CMD_ABORT, "abort ssl cert", NULL, name, NULL, NULL, 0, err,
	                 errsz);
}

enum haproxy_rt_status haproxy_rt_del_cert(struct haproxy_rt *rt, const char *name, char *err,
                                           size_t errsz)
{
	return rt_simple(rt, HAPROXY_RT_CMD_DEL_CERT, "del ssl cert", NULL, name, NULL, NULL, 0,
	                 err, errsz);
}

enum haproxy_rt_status haproxy_rt_add_crtlist(struct haproxy_rt *rt, const char *list,
                                              const char *name, char *err, size_t errsz)
{
	return rt_simple(rt, HAPROXY_RT_CMD_ADD_CRTLIST, "add ssl crt-list", list, name, NULL, NULL,
	                 0, err, errsz);
}

enum haproxy_rt_status haproxy_rt_del_crtlist(struct haproxy_rt *rt, const char *list,
                                              const char *name, unsigned line, char *err,
                                              size_t errsz)
{
	enum haproxy_rt_status st;
	struct buf reply;
	char cmd[HAPROXY_RT_NAME_MAX + 4200];
	int n;
	unsigned tries, dup;

	if (!line) {
		/* Several entries: HAProxy lists their line numbers "(1, 2)"; delete by number
		 * until one entry is left, then by name. */
		for (tries = 0; tries < 64; tries++) {
			st = rt_simple(rt, HAPROXY_RT_CMD_DEL_CRTLIST, "del ssl crt-list", list,
			               name, NULL, NULL, 0, err, errsz);
			if (st != HAPROXY_RT_DUPLICATE)
				return st;
			/* The line numbers come from `show ssl crt-list -n`, not from the error
			 * text (which starts with a path). */
			st = haproxy_rt_crtlist_line(rt, list, name, &dup, err, errsz);
			if (st != HAPROXY_RT_OK)
				return st == HAPROXY_RT_NOT_FOUND ? HAPROXY_RT_DUPLICATE : st;
			st = haproxy_rt_del_crtlist(rt, list, name, dup, err, errsz);
			if (st != HAPROXY_RT_OK)
				return st;
		}
		return HAPROXY_RT_DUPLICATE;
	}
	/* "NAME:LINE" picks one of several entries; our names never hold ':' themselves. */
	buf_init(&reply);
	if (!haproxy_rt_name_valid(name) || !haproxy_rt_path_valid(list)) {
		snprintf(err, errsz, "refusing crt-list entry '%s' in '%s'", name, list);
		st = HAPROXY_RT_ERROR;
		goto out;
	}
	n = snprintf(cmd, sizeof(cmd), "del ssl crt-list %s %s:%u", list, name, line);
	if (n < 0 || (size_t)n >= sizeof(cmd)) {
		snprintf(err, errsz, "command too long");
		st = HAPROXY_RT_ERROR;
		goto out;
	}
	st = haproxy_rt_cmd(rt, cmd, NULL, &reply, err, errsz);
	if (st != HAPROXY_RT_OK)
		goto out;
	st = haproxy_rt_classify(HAPROXY_RT_CMD_DEL_CRTLIST, name, buf_str(&reply), reply.len, NULL,
	                         0);
	if (st != HAPROXY_RT_OK)
		rt_err_reply(cmd, &reply, err, errsz);
out:
	buf_deinit(&reply);
	return st;
}

enum haproxy_rt_status haproxy_rt_show_certs(struct haproxy_rt *rt, struct strv *certs,
                                             struct strv *txns, char *err, size_t errsz)
{
	enum haproxy_rt_status st;
	struct buf reply;

	buf_init(&reply);
	st = haproxy_rt_cmd(rt, "show ssl cert", NULL, &reply, err, errsz);
	if (st == HAPROXY_RT_OK &&
	    haproxy_rt_parse_cert_list(buf_str(&reply), reply.len, certs, txns) < 0) {
		rt_err_reply("show ssl cert", &reply, err, errsz);
		st = HAPROXY_RT_ERROR;
	}
	buf_deinit(&reply);
	return st;
}

/* `show ssl crt-list [-n] <list>` into <reply>, the command itself into <cmd> (for messages):
 * HAPROXY_RT_OK when a reply was read, else an error with <err>. */
static enum haproxy_rt_status rt_show_crtlist(struct haproxy_rt *rt, const char *list,
                                              int line_numbers, struct buf *cmd, struct buf *reply,
                                              char *err, size_t errsz)
{
	if (!haproxy_rt_path_valid(list)) {
		snprintf(err, errsz, "refusing crt-list path '%s'", list);
		return HAPROXY_RT_ERROR;
	}
	if (buf_printf(cmd, "show ssl crt-list %s%s", line_numbers ? "-n " : "", list) < 0) {
		snprintf(err, errsz, "out of memory");
		return HAPROXY_RT_ERROR;
	}
	return haproxy_rt_cmd(rt, buf_str(cmd), NULL, reply, err, errsz);
}

enum haproxy_rt_status haproxy_rt_show_crtlist(struct haproxy_rt *rt, const char *list,
                                               struct strv *entries, char *err, size_t errsz)
{
	enum haproxy_rt_status st;
	struct buf reply, cmd;

	buf_init(&reply);
	buf_init(&cmd);
	st = rt_show_crtlist(rt, list, 0, &cmd, &reply, err, errsz);
	if (st == HAPROXY_RT_OK &&
	    haproxy_rt_parse_crt_list(buf_str(&reply), reply.len, entries) < 0) {
		rt_err_reply(buf_str(&cmd), &reply, err, errsz);
		st = HAPROXY_RT_NOT_FOUND;
	}
	buf_deinit(&cmd);
	buf_deinit(&reply);
	return st;
}

int haproxy_rt_parse_crt_list_line(const char *body, size_t len, const char *name, unsigned *line)
{
	const char *p = body, *end = body + len, *l;
	size_t ll, wl, nl = strlen(name), i;
	unsigned long v;

	if (len < 2 || body[0] != '#' || body[1] != ' ')
		return -1;
	while ((l = rt_next_line(&p, end, &ll))) {
		if (!ll || l[0] == '#')
			continue;
		for (wl = 0; wl < ll && l[wl] != ' ' && l[wl] != '\t'; wl++)
			;
		/* "<name>:<linenum>": our names hold no ':' (haproxy_rt_name_valid()). */
		if (wl < nl + 2 || memcmp(l, name, nl) || l[nl] != ':')
			continue;
		for (v = 0, i = nl + 1; i < wl && l[i] >= '0' && l[i] <= '9' && v <= 0xffffffUL;
		     i++)
			v = v * 10 + (unsigned long)(l[i] - '0');
		if (i != wl || !v || v > 0xffffffUL)
			continue;
		*line = (unsigned)v;
		return 1;
	}
	return 0;
}

enum haproxy_rt_status haproxy_rt_crtlist_line(struct haproxy_rt *rt, const char *list,
                                               const char *name, unsigned *line, char *err,
                                               size_t errsz)
{
	enum haproxy_rt_status st;
	struct buf reply, cmd;
	int rc;

	if (!haproxy_rt_name_valid(name)) {
		snprintf(err, errsz, "refusing crt-list entry '%s'", name);
		return HAPROXY_RT_ERROR;
	}
	buf_init(&reply);
	buf_init(&cmd);
	st = rt_show_crtlist(rt, list, 1, &cmd, &reply, err, errsz);
	if (st == HAPROXY_RT_OK &&
	    (rc = haproxy_rt_parse_crt_list_line(buf_str(&reply), reply.len, name, line)) <= 0) {
		rt_err_reply(buf_str(&cmd), &reply, err, errsz);
		st = rc < 0 ? HAPROXY_RT_ERROR : HAPROXY_RT_NOT_FOUND;
	}
	buf_deinit(&cmd);
	buf_deinit(&reply);
	return st;
}

enum haproxy_rt_status haproxy_rt_show_cert(struct haproxy_rt *rt, const char *name,
                                            struct haproxy_rt_cert_info *info, char *err,
                                            size_t errsz)
{
	enum haproxy_rt_status st;
	struct buf reply, cmd;

	buf_init(&reply);
	buf_init(&cmd);
	memset(info, 0, sizeof(*info));
	if (!haproxy_rt_name_valid(name)) {
		snprintf(err, errsz, "refusing certificate name '%.*s'", HAPROXY_RT_NAME_MAX, name);
		st = HAPROXY_RT_ERROR;
		goto out;
	}
	if (buf_printf(&cmd, "show ssl cert %s", name) < 0) {
		snprintf(err, errsz, "out of memory");
		st = HAPROXY_RT_ERROR;
		goto out;
	}
	st = haproxy_rt_cmd(rt, buf_str(&cmd), NULL, &reply, err, errsz);
	if (st != HAPROXY_RT_OK)
		goto out;
	st = haproxy_rt_parse_cert_info(buf_str(&reply), reply.len, info);
	if (st == HAPROXY_RT_ERROR)
		rt_err_reply(buf_str(&cmd), &reply, err, errsz);
out:
	buf_deinit(&cmd);
	buf_deinit(&reply);
	return st;
}

enum haproxy_rt_status haproxy_rt_show_info(struct haproxy_rt *rt, uint64_t *pid, uint64_t *uptime,
                                            char *err, size_t errsz)
{
	enum haproxy_rt_status st;
	struct buf reply;

	buf_init(&reply);
	st = haproxy_rt_cmd(rt, "show info", NULL, &reply, err, errsz);
	if (st == HAPROXY_RT_OK &&
	    haproxy_rt_parse_info(buf_str(&reply), reply.len, pid, uptime) < 0) {
		rt_err_reply("show info", &reply, err, errsz);
		st = HAPROXY_RT_ERROR;
	}
	buf_deinit(&reply);
	return st;
}
