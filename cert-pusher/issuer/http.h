/* SPDX-License-Identifier: MIT */
/*
 * The ACME client's HTTPS transport (libcurl): one reused easy handle per client (keep-alive,
 * TLS session reuse), a CA bundle for CAs outside the system store (Pebble), connect and total
 * timeouts, a bound on response bodies, HTTPS only. The headers ACME cares about are parsed
 * once here: Replay-Nonce, Location, Retry-After (delta-seconds or HTTP-date), Link (rel="up",
 * rel="index") and Content-Type. No JSON, no JWS, no retries: acme.c decides what a response
 * means. Errors go to an error buffer; this module never logs.
 */
#ifndef CERT_PUSHER_HTTP_H
#define CERT_PUSHER_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/buf.h"

#define HTTP_BODY_MAX_DEFAULT (1024 * 1024)

enum http_method {
	HTTP_METHOD_GET = 0,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_POST, /* body sent as application/jose+json (RFC 8555 §6.2) */
	HTTP_METHOD_COUNT
};

struct http_opts {
	const char *ca_bundle;   /* PEM file of trusted CAs, or NULL for the system store */
	long connect_timeout_ms; /* 0: 10 s */
	long timeout_ms;         /* whole request; 0: 30 s */
	size_t body_max;         /* 0: HTTP_BODY_MAX_DEFAULT */
	int allow_http;          /* tests only: also allow plain http:// URLs */
};

struct http_response {
	long status;         /* HTTP status code */
	struct buf body;     /* owned */
	char *nonce;         /* Replay-Nonce, or NULL; owned */
	char *location;      /* Location, or NULL; owned */
	char *content_type;  /* media type, lowercased, without parameters, or NULL; owned */
	char *link_up;       /* first Link with rel="up", or NULL; owned */
	char *link_index;    /* Link with rel="index", or NULL; owned */
	int64_t retry_after; /* seconds from now (1 s..1 day), or -1 when absent or unparsable */
};

struct http_client;

/* Once per process before any thread starts (curl_global_init). 0 or -1. */
int http_global_init(void);

/* A new client with <opts> (copied). NULL with a message naming the CA bundle in <err>. */
struct http_client *http_client_new(const struct http_opts *opts, char *err, size_t errsz);
void http_client_free(struct http_client *c);

void http_response_init(struct http_response *r);
/* Release everything <r> owns; <r> is reusable. */
void http_response_deinit(struct http_response *r);

/*
 * One request to <url>. For HTTP_METHOD_POST <body>/<body_len> is the JOSE body. <r> is reset
 * first and filled for any HTTP status (4xx/5xx are responses, not errors). Returns 0 when a
 * response arrived, -1 with <err> on a transport failure (DNS, TCP, TLS, timeout, body over the
 * limit).
 */
int http_request(struct http_client *c, enum http_method method, const char *url,
                 const uint8_t *body, size_t body_len, struct http_response *r, char *err,
                 size_t errsz);

/* The bounds of a Retry-After we act on: at least a second (0 would make a tight POST-as-GET
 * loop), at most a day (RFC 9773 §4.3 suggests the same for ARI's). */
#define HTTP_RETRY_AFTER_MIN_S 1
#define HTTP_RETRY_AFTER_MAX_S 86400

/* Retry-After (RFC 9110 §10.2.3): delta-seconds or an HTTP-date, relative to <now>. Returns
 * the seconds to wait, clamped to [HTTP_RETRY_AFTER_MIN_S, HTTP_RETRY_AFTER_MAX_S] (a date in
 * the past gives the minimum, a number of any length the maximum), or -1 when <v> is
 * neither. */
int64_t http_parse_retry_after(const char *v, time_t now);

/* Find the target of the Link header value <v> whose rel is <rel> ("up", "index"). Returns a
 * new string (caller frees) or NULL when absent or malformed. */
char *http_parse_link(const char *v, const char *rel);

#endif
