/* SPDX-License-Identifier: MIT */
/*
 * The loader role: keeps the local HAProxy's spoacme certificates equal to what Redis holds
 * (DESIGN.md "cert-pusher", loader). Reconciles on start, on every `events` message, every
 * --reconcile-interval as a safety net (pub/sub can drop messages) and at once when `show
 * info` shows that HAProxy restarted. Certificates are named "<hostname>.<ecdsa|rsa>"; names
 * not of that shape (the fallback, the operator's files) are never touched. Blobs are opened
 * in memory only and wiped after use; HAProxy is driven through haproxy_rt.c, Redis through
 * store.c.
 */
#ifndef CERT_PUSHER_LOADER_H
#define CERT_PUSHER_LOADER_H

#include <stddef.h>

#include "cert-pusher/pusher.h"

struct event_base;
struct loader;

/* Validate the loader's options of <p> (--haproxy-socket, --crt-list, --keyring,
 * --reconcile-interval, --haproxy-bufsize), connect to Redis, subscribe to events on <base>,
 * run the first reconcile (its failure is logged and retried, not fatal) and arm the timers.
 * With p->check_only, stop after validating. Returns the role or NULL with <err>; with
 * check_only, a role that does nothing. */
struct loader *loader_start(struct event_base *base, struct pusher *p, char *err, size_t errsz);
void loader_stop(struct loader *l);

/* Make HAProxy equal to Redis for every managed certificate. 0, or -1 when something could
 * not be done (logged; retried by the caller's timers). */
int loader_reconcile(struct loader *l);

/* Make HAProxy equal to Redis for <host>'s certificates only (an event). 0 or -1. */
int loader_sync_host(struct loader *l, const char *host);

#endif
