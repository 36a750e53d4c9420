// SPDX-License-Identifier: MIT
/*
 * The loader's subscription to the `events` channel (hiredis async on the daemon's libevent
 * base): each "cert NAME" or "del NAME" notice wakes the loader at once; losing it costs only
 * the wait until the next periodic reconcile. Reconnects by itself, with a backoff after AUTH or
 * SUBSCRIBE is refused.
 */
#include "cert-pusher/edge/events.h"

#include <hiredis.h>
#include <async.h>
#include <adapters/libevent.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keys.h"
#include "common/log.h"
#include "common/parse.h"

/* The events subscription: hiredis async on the daemon's libevent base. hiredis owns and frees
 * the async context after the connect-failure and disconnect callbacks. */
struct events {
	struct event_base *base;
	struct event *retry;   /* reconnect timer */
	redisAsyncContext *ac; /* NULL while disconnected */
	struct endpoint ep;
	char *addr, *user, *password, *channel;
	events_fn *cb;
	void *arg;
	int stopping;
	int refused;    /* AUTH or SUBSCRIBE refused on this connection: it is being closed */
	long backoff_s; /* next reconnection delay after a refusal */
};

#define EVENTS_BACKOFF_MAX_S 30

static void events_connect(struct events *sub);

/* Reconnect in 1 s, or after the backoff when Redis refused us (AUTH, ACL): a wrong password
 * must not become a reconnection storm, nor a subscription that silently never comes back. */
static void events_schedule(struct events *sub)
{
	struct timeval tv = { .tv_sec = sub->refused ? sub->backoff_s : 1 };

	sub->ac = NULL;
	if (sub->refused && sub->backoff_s < EVENTS_BACKOFF_MAX_S)
		sub->backoff_s = sub->backoff_s * 2 > EVENTS_BACKOFF_MAX_S ? EVENTS_BACKOFF_MAX_S
		                                                           : sub->backoff_s * 2;
	sub->refused = 0;
	if (!sub->stopping)
		evtimer_add(sub->retry, &tv);
}

/* Redis refused <what> on the subscription connection: log, close it, retry with backoff. */
static void events_refused(struct events *sub, redisAsyncContext *ac, const char *what,
                           const char *why)
{
	if (sub->refused || sub->stopping)
		return;
	sub->refused = 1;
	log_err("redis %s: events subscription: %s refused: %s; retrying in %lds", sub->addr, what,
	        why, sub->backoff_s);
	redisAsyncDisconnect(ac); /* deferred by hiredis until the callback returns */
}

static void events_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	events_connect(arg);
}

static void events_on_message(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct events *sub = privdata;
	redisReply *r = reply, **e;

	if (!r || sub->stopping)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		events_refused(sub, ac, "SUBSCRIBE", r->str);
		return;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
		return;
	e = r->element;
	if (e[0]->type != REDIS_REPLY_STRING)
		return;
	if (!strcmp(e[0]->str, "subscribe")) {
		log_info("redis %s: subscribed to %s", sub->addr, sub->channel);
		sub->backoff_s = 1;
		sub->cb(sub->arg, NULL, 0);
	} else if (!strcmp(e[0]->str, "message") && e[2]->type == REDIS_REPLY_STRING) {
		sub->cb(sub->arg, e[2]->str, e[2]->len);
	}
}

static void events_on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct events *sub = privdata;
	redisReply *r = reply;

	if (r && r->type == REDIS_REPLY_ERROR)
		events_refused(sub, ac, "AUTH", r->str);
}

static void events_on_connect(const redisAsyncContext *ac, int status)
{
	struct events *sub = ac->data;

	if (status != REDIS_OK) {
		log_warn("redis %s: events subscription: %s; retrying in 1s", sub->addr,
		         ac->errstr);
		events_schedule(sub);
	}
}

static void events_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct events *sub = ac->data;

	if (sub->stopping)
		return;
	if (!sub->refused)
		log_warn("redis %s: events subscription lost (%s); resubscribing in 1s", sub->addr,
		         status == REDIS_OK ? "closed" : ac->errstr);
	events_schedule(sub);
}

static void events_connect(struct events *sub)
{
	redisAsyncContext *ac;

	ac = sub->ep.is_unix ? redisAsyncConnectUnix(sub->ep.path)
	                     : redisAsyncConnect(sub->ep.host, sub->ep.port);
	if (!ac || ac->err) {
		log_warn("redis %s: events subscription: %s; retrying in 1s", sub->addr,
		         ac ? ac->errstr : "out of memory");
		if (ac)
			redisAsyncFree(ac);
		events_schedule(sub);
		return;
	}
	ac->data = sub;
	if (redisLibeventAttach(ac, sub->base) != REDIS_OK) {
		redisAsyncFree(ac);
		events_schedule(sub);
		return;
	}
	sub->ac = ac;
	redisAsyncSetConnectCallback(ac, events_on_connect);
	redisAsyncSetDisconnectCallback(ac, events_on_disconnect);
	if (sub->password) {
		if (sub->user)
			redisAsyncCommand(ac, events_on_auth, sub, "AUTH %s %s", sub->user,
			                  sub->password);
		else
			redisAsyncCommand(ac, events_on_auth, sub, "AUTH %s", sub->password);
	}
	redisAsyncCommand(ac, events_on_message, sub, "SUBSCRIBE %s", sub->channel);
}

void events_free(struct events *sub)
{
	if (!sub)
		return;
	sub->stopping = 1;
	if (sub->ac)
		redisAsyncFree(sub->ac);
	if (sub->retry)
		event_free(sub->retry);
	free(sub->addr);
	free(sub->user);
	if (sub->password) {
		OPENSSL_cleanse(sub->password, strlen(sub->password));
		free(sub->password);
	}
	free(sub->channel);
	free(sub);
}

struct events *events_new(struct event_base *base, const struct store *s, events_fn *cb, void *arg,
                          char *err, size_t errsz)
{
	struct events *sub = calloc(1, sizeof(*sub));
	struct buf chan;
	const char *why;

	buf_init(&chan);
	if (!sub)
		goto oom;
	sub->base = base;
	sub->cb = cb;
	sub->arg = arg;
	sub->backoff_s = 1;
	if (keys_events(&chan, s->prefix) < 0 || !(sub->channel = strdup(buf_str(&chan))) ||
	    !(sub->addr = strdup(s->addr)) || (s->user && !(sub->user = strdup(s->user))) ||
	    (s->password && !(sub->password = strdup(s->password))))
		goto oom;
	if (parse_endpoint(s->addr, &sub->ep, &why) < 0) {
		snprintf(err, errsz, "--redis: '%s': %s", s->addr, why);
		goto fail;
	}
	sub->retry = evtimer_new(base, events_retry_cb, sub);
	if (!sub->retry)
		goto oom;
	events_connect(sub);
	buf_deinit(&chan);
	return sub;
oom:
	snprintf(err, errsz, "out of memory");
fail:
	buf_deinit(&chan);
	events_free(sub);
	return NULL;
}
