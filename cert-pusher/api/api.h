/* SPDX-License-Identifier: MIT */
/*
 * cert-pusher's HTTP API (libevent evhttp, JSON:API-shaped bodies with jansson):
 *
 *   POST   /v1/hostnames                 {"data":{"attributes":{"hostname":"example.com"}}}
 *   GET    /v1/hostnames                 every host
 *   GET    /v1/hostnames/<name>          one host: state, times, serials, last error
 *   DELETE /v1/hostnames/<name>          remove from every edge (204, or 202 while an order runs)
 *   POST   /v1/hostnames/<name>/renew    due now (202)
 *   GET    /v1/hostnames?state=S[,S]     only those states (anything else: 400)
 *   GET    /metrics                      Prometheus text (bearer token too)
 *   GET    /healthz                      no token; 200 when Redis answers, else 503
 *   GET    /                             no token; the status page (status_page.h), which
 *                                        reads /v1/hostnames with the token it is given
 *
 * Every /v1 and /metrics request needs "Authorization: Bearer <token>" (the token from
 * --api-token-file, compared in constant time; --api-read-token-file's allows GET and HEAD
 * only). HEAD is GET without the body; any other method is a JSON 405. Errors are
 * {"errors":[{"status","title", "detail"}]}. The API runs on the daemon's event loop and talks to
 * Redis through its own synchronous connection (local Redis calls; no ACME here: orders run on the
 * scheduler's threads). The logic is hosts.c's; this module maps it to HTTP.
 */
#ifndef CERT_PUSHER_API_H
#define CERT_PUSHER_API_H

#include <stddef.h>

#include "cert-pusher/conf.h"

#define API_DEFAULT_LISTEN "127.0.0.1:8055"
#define API_BODY_MAX       (16 * 1024) /* larger bodies: 413 */
#define API_TOKEN_MIN      16          /* bytes of the bearer token */

struct event_base;
struct api;

/*
 * Listen on <conf>'s "api" (default API_DEFAULT_LISTEN) on <base>, with the token of
 * "api-token-file" (mode 0600, at least API_TOKEN_MIN bytes) and the preview domain of
 * "preview-domain" (optional). Redis comes from <conf> and <prefix>; an unreachable Redis is
 * not fatal (requests answer 503 until it is back). NULL with <err> naming the option.
 */
struct api *api_new(struct event_base *base, const struct conf *conf, const char *prefix, char *err,
                    size_t errsz);
/* Check the API options without listening (--check). 0 or -1 with <err>. */
int api_check_conf(const struct conf *conf, char *err, size_t errsz);
/* Close the listener and free. Accepts NULL. */
void api_free(struct api *a);

#endif
