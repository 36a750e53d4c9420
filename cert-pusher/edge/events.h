/* SPDX-License-Identifier: MIT */
/*
 * The loader's subscription to the `events` channel of the local Redis (hiredis async, on the
 * loader's libevent base).
 */
#ifndef CERT_PUSHER_EDGE_EVENTS_H
#define CERT_PUSHER_EDGE_EVENTS_H

#include <stddef.h>

#include "cert-pusher/store/store.h"

struct event_base;
struct events;

/* Called with each message of the events channel, and with <msg> NULL after every
 * (re)subscription: messages published while unsubscribed are lost, so reconcile then. */
typedef void events_fn(void *arg, const char *msg, size_t len);

/* Subscribe to <prefix>events on <base> with hiredis async, with the address and credentials
 * of <s> (copied); reconnects and resubscribes every second while Redis is away. NULL with
 * <err> on bad options or OOM (an unreachable Redis is retried, not an error). */
struct events *events_new(struct event_base *base, const struct store *s, events_fn *cb, void *arg,
                          char *err, size_t errsz);
void events_free(struct events *ev);

#endif
