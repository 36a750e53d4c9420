// SPDX-License-Identifier: MIT
/*
 * Unit tests for http.c: Retry-After in both forms (RFC 9110 §10.2.3), Link parsing (RFC 8288),
 * and real exchanges over loopback with a one-shot server thread: the ACME headers parsed once
 * (an interim 100 response's headers dropped), the body limit, the HTTPS-only default and an
 * unreadable CA bundle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cert-pusher/issuer/http.h"

static void test_retry_after(void **state)
{
	time_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

	(void)state;
	assert_int_equal(http_parse_retry_after("120", now), 120);
	assert_int_equal(http_parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now), 120);
	/* 0 and a date in the past mean "soon", not a tight loop: one second */
	assert_int_equal(http_parse_retry_after(" 0", now), 1);
	assert_int_equal(http_parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), 1);
	/* at most a day, however large the figure (and never an overflow downstream) */
	assert_int_equal(http_parse_retry_after("86400", now), 86400);
	assert_int_equal(http_parse_retry_after("86401", now), 86400);
	assert_int_equal(http_parse_retry_after("9223372036854775807", now), 86400);
	assert_int_equal(http_parse_retry_after("99999999999999999999999", now), 86400);
	assert_int_equal(http_parse_retry_after("Fri, 31 Dec 2100 23:59:59 GMT", now), 86400);
	assert_int_equal(http_parse_retry_after("-5", now), -1);
	assert_int_equal(http_parse_retry_after("12abc", now), -1);
	assert_int_equal(http_parse_retry_after("99999999999999999999999x", now), -1);
	assert_int_equal(http_parse_retry_after("soon", now), -1);
	assert_int_equal(http_parse_retry_after("", now), -1);
}

static void test_link(void **state)
{
	char *s;

	(void)state;
	s = http_parse_link("<https://ca.test/dir>;rel=\"index\"", "index");
	assert_string_equal(s, "https://ca.test/dir");
	free(s);
	s = http_parse_link("<https://ca.test/cert/1/1>;rel=\"alternate\", "
	                    "<https://ca.test/issuer>; rel=up",
	                    "up");
	assert_string_equal(s, "https://ca.test/issuer");
	free(s);
	assert_null(http_parse_link("<https://ca.test/x>;rel=\"upper\"", "up"));
	assert_null(http_parse_link("<https://ca.test/x;rel=up", "up"));
	assert_null(http_parse_link("<a>;title=\"rel=up\"", "up"));
	assert_null(http_parse_link("", "up"));
}

/* ---- one-shot loopback server ---- */

struct server {
	int fd;
	int port;
	const char *response;
	size_t response_len;
	char request[4096];
};

static void *server_main(void *arg)
{
	struct server *sv = arg;
	size_t got = 0;
	ssize_t n;
	int c = accept(sv->fd, NULL, NULL);

	if (c < 0)
		return NULL;
	while (got < sizeof(sv->request) - 1 && !strstr(sv->request, "\r\n\r\n")) {
		n = read(c, sv->request + got, sizeof(sv->request) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		sv->request[got] = 0;
	}
	if (write(c, sv->response, sv->response_len) < 0)
		perror("write");
	shutdown(c, SHUT_WR);
	close(c);
	return NULL;
}

static void server_start(struct server *sv, pthread_t *th, const char *resp, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);

	memset(sv, 0, sizeof(*sv));
	sv->response = resp;
	sv->response_len = len;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sv->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(sv->fd >= 0);
	assert_int_equal(bind(sv->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(sv->fd, 1), 0);
	assert_int_equal(getsockname(sv->fd, (struct sockaddr *)&a, &alen), 0);
	sv->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(th, NULL, server_main, sv), 0);
}

static void server_stop(struct server *sv, pthread_t th)
{
	pthread_join(th, NULL);
	close(sv->fd);
}

static void test_headers(void **state)
{
	static const char resp[] = "HTTP/1.1 100 Continue\r\nReplay-Nonce: interim\r\n\r\n"
	                           "HTTP/1.1 201 Created\r\n"
	                           "Replay-Nonce:  abc_-123 \r\n"
	                           "location: https://ca.test/acct/1\r\n"
	                           "Content-Type: Application/JSON; charset=utf-8\r\n"
	                           "Retry-After: 7\r\n"
	                           "Link: <https://ca.test/dir>;rel=\"index\"\r\n"
	                           "Link: <https://ca.test/issuer>;rel=\"up\"\r\n"
	                           "Content-Length: 2\r\n\r\n{}";
	struct http_opts o = { .allow_http = 1 };
	struct http_response r;
	struct http_client *c;
	struct server sv;
	pthread_t th;
	char url[64], err[256];

	(void)state;
	server_start(&sv, &th, resp, sizeof(resp) - 1);
	c = http_client_new(&o, err, sizeof(err));
	assert_non_null(c);
	http_response_init(&r);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/acct", sv.port);
	assert_int_equal(http_request(c, HTTP_METHOD_POST, url, (const uint8_t *)"{}", 2, &r, err,
	                              sizeof(err)),
	                 0);
	server_stop(&sv, th);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.nonce, "abc_-123");
	assert_string_equal(r.location, "https://ca.test/acct/1");
	assert_string_equal(r.content_type, "application/json");
	assert_int_equal(r.retry_after, 7);
	assert_string_equal(r.link_index, "https://ca.test/dir");
	assert_string_equal(r.link_up, "https://ca.test/issuer");
	assert_int_equal(r.body.len, 2);
	assert_non_null(strstr(sv.request, "POST /acct HTTP/1.1\r\n"));
	assert_non_null(strstr(sv.request, "Content-Type: application/jose+json\r\n"));
	http_response_deinit(&r);
	http_client_free(c);
}

static void test_body_limit(void **state)
{
	static char resp[8192];
	struct http_opts o = { .allow_http = 1, .body_max = 1000 };
	struct http_response r;
	struct http_client *c;
	struct server sv;
	pthread_t th;
	char url[64], err[256];
	int n;

	(void)state;
	/* no Content-Length: the limit must hold while reading, not only from the header */
	n = snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
	memset(resp + n, 'x', 4000);
	server_start(&sv, &th, resp, (size_t)n + 4000);
	c = http_client_new(&o, err, sizeof(err));
	http_response_init(&r);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/big", sv.port);
	assert_int_equal(http_request(c, HTTP_METHOD_GET, url, NULL, 0, &r, err, sizeof(err)), -1);
	server_stop(&sv, th);
	assert_non_null(strstr(err, "larger than 1000 bytes"));
	http_response_deinit(&r);
	http_client_free(c);
}

static void test_https_only_and_ca_bundle(void **state)
{
	struct http_opts o = { 0 };
	struct http_response r;
	struct http_client *c;
	char err[256];

	(void)state;
	c = http_client_new(&o, err, sizeof(err));
	http_response_init(&r);
	/* plain http is refused before any connection is made (nothing listens on port 1) */
	assert_int_equal(http_request(c, HTTP_METHOD_GET, "http://127.0.0.1:1/", NULL, 0, &r, err,
	                              sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "http://127.0.0.1:1/"));
	http_response_deinit(&r);
	http_client_free(c);
	o.ca_bundle = "/nonexistent/ca.pem";
	assert_null(http_client_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "--ca-bundle: cannot read '/nonexistent/ca.pem'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_link),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_body_limit),
		cmocka_unit_test(test_https_only_and_ca_bundle),
	};

	if (http_global_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
