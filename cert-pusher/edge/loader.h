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
 * --reconcile-interval, --reconcile-slice, --haproxy-bufsize, --edge-id), connect to Redis,
 * subscribe to events on <base>, run the first reconcile in one go (its failure is logged and
 * retried, not fatal) and arm the timers. What HAProxy serves is reported to the primary under
 * served:<edge> (see served.h) on a connection of its own that never delays loading.
 * With p->check_only, stop after validating. Returns the role or NULL with <err>; with
 * check_only, a role that does nothing. */
struct loader *loader_start(struct event_base *base, struct pusher *p, char *err, size_t errsz);
void loader_stop(struct loader *l);

/* Make HAProxy equal to Redis for every managed certificate: a full reconcile, replacing one
 * in progress. With --reconcile-slice it runs in slices on the event loop and this returns 0
 * once started (-1 when HAProxy or Redis could not be read); with 0 it runs to the end and
 * returns 0, or -1 when something could not be done. Failures are logged and retried by the
 * loader's timers; the served: report follows every run. */
int loader_reconcile(struct loader *l);

/* Make HAProxy equal to Redis for <host>'s certificates only (an event). 0 or -1. */
int loader_sync_host(struct loader *l, const char *host);

#endif
