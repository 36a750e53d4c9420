// SPDX-License-Identifier: MIT
/*
 * spop_client: a scripted HAProxy for integration tests. It connects to a running spoa-agent,
 * plays the steps given on the command line and prints one line per frame received, so a
 * shell test can compare the agent's answers (with real Redis behind it) with what it expects.
 *
 *   spop_client ADDR:PORT|unix:PATH STEP...
 *     hello[:MFS]            HAPROXY-HELLO (2.6 style), then print the AGENT-HELLO
 *     hc                     health-check HELLO, then print the AGENT-HELLO
 *     notify:SID:FID:TOKEN   send a NOTIFY acme-challenge (not waiting)
 *     recv                   print the next frame:
 *                              ack sid=S fid=F found=0|1 [keyauth=...] [error=...]
 *                              agent-hello version=V max-frame-size=N capabilities=C
 *                              agent-disconnect status=N
 *     eof                    expect the agent to close; prints "eof"
 *     disconnect             send HAPROXY-DISCONNECT (status 0)
 *     raw:HEX                send bytes as they are
 *     sleep:MS               pause
 * Exit status 0 when every step went as scripted, 1 otherwise (with a message on stderr).
 * Test tool only: uses the codec for decoding and its own encoder for HAProxy's frames.
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/parse.h"
#include "spoa-agent/spop.h"

#define CLIENT_TIMEOUT_MS 5000

struct client {
	int fd;
	uint8_t in[1 << 16];
	size_t in_len;
};

struct frame {
	uint8_t b[SPOP_FRAME_HDR_LEN + SPOP_MAX_FRAME_SIZE + 64];
	size_t len;
	size_t start;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("spop_client: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void fr_bytes(struct frame *f, const void *p, size_t len)
{
	if (len > sizeof(f->b) - f->len)
		die("frame too large to build");
	memcpy(f->b + f->len, p, len);
	f->len += len;
}

static void fr_varint(struct frame *f, uint64_t v)
{
	uint8_t tmp[SPOP_VARINT_MAX_LEN], *p = tmp;

	if (spop_varint_encode(v, &p, tmp + sizeof(tmp)) < 0)
		die("varint");
	fr_bytes(f, tmp, (size_t)(p - tmp));
}

static void fr_str(struct frame *f, const char *s)
{
	fr_varint(f, strlen(s));
	fr_bytes(f, s, strlen(s));
}

static void fr_kv_str(struct frame *f, const char *name, const char *v)
{
	uint8_t t = SPOP_DATA_STR;

	fr_str(f, name);
	fr_bytes(f, &t, 1);
	fr_str(f, v);
}

static void fr_kv_u32(struct frame *f, const char *name, uint32_t v)
{
	uint8_t t = SPOP_DATA_UINT32;

	fr_str(f, name);
	fr_bytes(f, &t, 1);
	fr_varint(f, v);
}

static void fr_begin(struct frame *f, uint8_t type, uint64_t sid, uint64_t fid)
{
	uint8_t hdr[9] = { 0, 0, 0, 0, type, 0, 0, 0, 1 }; /* FIN */

	f->len = 0;
	fr_bytes(f, hdr, sizeof(hdr));
	fr_varint(f, sid);
	fr_varint(f, fid);
}

static void fr_end(struct frame *f)
{
	size_t n = f->len - 4;

	f->b[0] = (uint8_t)(n >> 24);
	f->b[1] = (uint8_t)(n >> 16);
	f->b[2] = (uint8_t)(n >> 8);
	f->b[3] = (uint8_t)n;
}

static void client_send(struct client *c, const void *p, size_t len)
{
	const uint8_t *b = p;
	ssize_t n;

	while (len) {
		n = send(c->fd, b, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("send: %s", strerror(errno));
		}
		b += n;
		len -= (size_t)n;
	}
}

/* Read more input; returns 0 at EOF. */
static size_t client_fill(struct client *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	ssize_t n;
	int rc;

	rc = poll(&pfd, 1, CLIENT_TIMEOUT_MS);
	if (rc == 0)
		die("timeout waiting for the agent");
	if (rc < 0)
		die("poll: %s", strerror(errno));
	n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
	if (n < 0) {
		if (errno == ECONNRESET)
			return 0;
		die("recv: %s", strerror(errno));
	}
	c->in_len += (size_t)n;
	return (size_t)n;
}

/* Next whole frame into <body>; exits on EOF or error. */
static void client_frame(struct client *c, struct spop_frame *f, uint8_t *body, size_t bodysz)
{
	enum spop_status st;
	ssize_t n;

	for (;;) {
		n = spop_frame_peek(c->in, c->in_len, SPOP_MAX_FRAME_SIZE, &st);
		if (n < 0)
			die("bad frame from the agent: %s", spop_status_str(st));
		if (n > 0)
			break;
		if (!client_fill(c))
			die("unexpected EOF");
	}
	if ((size_t)n - 4 > bodysz)
		die("frame too big");
	memcpy(body, c->in + 4, (size_t)n - 4);
	memmove(c->in, c->in + n, c->in_len - (size_t)n);
	c->in_len -= (size_t)n;
	if (spop_frame_decode(body, (size_t)n - 4, f, &st) < 0)
		die("undecodable frame: %s", spop_status_str(st));
}

static void print_data(const char *name, const struct spop_data *d)
{
	switch (d->type) {
	case SPOP_DATA_BOOL:
		printf(" %s=%d", name, d->v.b ? 1 : 0);
		break;
	case SPOP_DATA_STR:
	case SPOP_DATA_BIN:
		printf(" %s=%.*s", name, (int)d->v.str.len, (const char *)d->v.str.p);
		break;
	case SPOP_DATA_INT32:
	case SPOP_DATA_INT64:
		printf(" %s=%" PRId64, name, d->v.i);
		break;
	case SPOP_DATA_UINT32:
	case SPOP_DATA_UINT64:
		printf(" %s=%" PRIu64, name, d->v.u);
		break;
	default:
		printf(" %s=?", name);
		break;
	}
}

static void client_recv(struct client *c)
{
	static uint8_t body[SPOP_MAX_FRAME_SIZE];
	const uint8_t *p, *end, *name;
	struct spop_frame f;
	struct spop_data d;
	size_t name_len;
	uint64_t nlen;
	char nm[64];

	client_frame(c, &f, body, sizeof(body));
	p = f.payload;
	end = p + f.payload_len;
	switch (f.type) {
	case SPOP_FRAME_ACK:
		printf("ack sid=%" PRIu64 " fid=%" PRIu64, f.stream_id, f.frame_id);
		while (p < end) {
			if (end - p < 3 || p[0] != SPOP_ACTION_SET_VAR || p[1] != 3)
				die("unexpected action in ACK");
			p += 3;
			if (spop_varint_decode(&nlen, &p, end) <= 0 || nlen >= sizeof(nm) ||
			    nlen > (uint64_t)(end - p))
				die("bad variable name in ACK");
			memcpy(nm, p, nlen);
			nm[nlen] = 0;
			p += nlen;
			if (spop_data_decode(&d, &p, end) != 1)
				die("bad value in ACK");
			print_data(nm, &d);
		}
		break;
	case SPOP_FRAME_AGENT_HELLO:
	case SPOP_FRAME_AGENT_DISCONNECT:
		printf(f.type == SPOP_FRAME_AGENT_HELLO ? "agent-hello" : "agent-disconnect");
		while (p < end) {
			if (spop_kv_decode(&name, &name_len, &d, &p, end) != 1 ||
			    name_len >= sizeof(nm))
				die("bad key-value");
			memcpy(nm, name, name_len);
			nm[name_len] = 0;
			if (!strcmp(nm, "message"))
				continue; /* free text */
			if (!strcmp(nm, "status-code"))
				strcpy(nm, "status");
			print_data(nm, &d);
		}
		break;
	default:
		printf("frame type=%d", (int)f.type);
		break;
	}
	printf("\n");
	fflush(stdout);
}

static int client_connect(const char *addr)
{
	struct endpoint ep;
	const char *why;
	char port[8];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	int fd;

	if (parse_endpoint(addr, &ep, &why) < 0)
		die("%s: %s", addr, why);
	if (ep.is_unix) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		memcpy(sun.sun_path, ep.path, strlen(ep.path) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
			die("connect %s: %s", addr, strerror(errno));
		return fd;
	}
	snprintf(port, sizeof(port), "%u", ep.port);
	if (getaddrinfo(ep.host, port, &hints, &ai) != 0)
		die("%s: cannot resolve", addr);
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		die("connect %s: %s", addr, strerror(errno));
	freeaddrinfo(ai);
	return fd;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int main(int argc, char **argv)
{
	static struct client c;
	static struct frame f;
	int i;

	if (argc < 3) {
		fprintf(stderr, "usage: spop_client ADDR STEP...\n");
		return 2;
	}
	c.fd = client_connect(argv[1]);
	for (i = 2; i < argc; i++) {
		const char *s = argv[i];

		if (!strncmp(s, "hello", 5)) {
			unsigned long mfs = s[5] == ':' ? strtoul(s + 6, NULL, 10) : 16380;

			fr_begin(&f, SPOP_FRAME_HAPROXY_HELLO, 0, 0);
			fr_kv_str(&f, "supported-versions", "2.0");
			fr_kv_u32(&f, "max-frame-size", (uint32_t)mfs);
			fr_kv_str(&f, "capabilities", "pipelining,async");
			fr_kv_str(&f, "engine-id", "8A6C5A1E-2F0E-4B7A-9E0D-5B8B1F0C4D21");
			fr_end(&f);
			client_send(&c, f.b, f.len);
			client_recv(&c);
		} else if (!strcmp(s, "hc")) {
			uint8_t t = SPOP_DATA_BOOL | 0x10;

			fr_begin(&f, SPOP_FRAME_HAPROXY_HELLO, 0, 0);
			fr_kv_str(&f, "supported-versions", "2.0");
			fr_kv_u32(&f, "max-frame-size", 16380);
			fr_kv_str(&f, "capabilities", "");
			fr_str(&f, "healthcheck");
			fr_bytes(&f, &t, 1);
			fr_end(&f);
			client_send(&c, f.b, f.len);
			client_recv(&c);
		} else if (!strncmp(s, "notify:", 7)) {
			unsigned long long sid, fid;
			int off = 0;
			uint8_t nargs = 2;

			if (sscanf(s + 7, "%llu:%llu:%n", &sid, &fid, &off) != 2 || !off)
				die("bad step '%s'", s);
			fr_begin(&f, SPOP_FRAME_NOTIFY, sid, fid);
			fr_str(&f, "acme-challenge");
			fr_bytes(&f, &nargs, 1);
			fr_kv_str(&f, "token", s + 7 + off);
			fr_kv_str(&f, "host", "example.com");
			fr_end(&f);
			client_send(&c, f.b, f.len);
		} else if (!strcmp(s, "recv")) {
			client_recv(&c);
		} else if (!strcmp(s, "eof")) {
			while (c.in_len == 0 && client_fill(&c))
				;
			if (c.in_len)
				die("expected EOF, got %zu more bytes", c.in_len);
			printf("eof\n");
			fflush(stdout);
		} else if (!strcmp(s, "disconnect")) {
			fr_begin(&f, SPOP_FRAME_HAPROXY_DISCONNECT, 0, 0);
			fr_kv_u32(&f, "status-code", 0);
			fr_kv_str(&f, "message", "normal");
			fr_end(&f);
			client_send(&c, f.b, f.len);
		} else if (!strncmp(s, "raw:", 4)) {
			size_t n = 0, len = strlen(s + 4);
			uint8_t *b = malloc(len / 2 + 1);

			if (!b || len % 2)
				die("bad hex in '%s'", s);
			for (n = 0; n < len / 2; n++) {
				int hi = hexval(s[4 + 2 * n]), lo = hexval(s[5 + 2 * n]);

				if (hi < 0 || lo < 0)
					die("bad hex in '%s'", s);
				b[n] = (uint8_t)(hi << 4 | lo);
			}
			client_send(&c, b, n);
			free(b);
		} else if (!strncmp(s, "sleep:", 6)) {
			unsigned long ms = strtoul(s + 6, NULL, 10);
			struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
				               .tv_nsec = (long)(ms % 1000) * 1000000 };

			nanosleep(&ts, NULL);
		} else {
			die("unknown step '%s'", s);
		}
	}
	close(c.fd);
	return 0;
}
