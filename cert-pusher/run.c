// SPDX-License-Identifier: MIT
/*
 * `cert-pusher run`: the daemon. One libevent loop hosts the roles named by --role (default
 * every role this build has); each role is a start/stop pair in run_roles[] that arms its own
 * events on the loop. This file owns the process concerns: signals (SIGTERM/SIGINT stop the
 * loop, the roles are stopped in reverse order), sd_notify READY/STOPPING, --check. Roles do
 * their own work: scheduler.c (the issuer: ACME orders), loader.c (Redis -> HAProxy) and api.c
 * (the HTTP API, /metrics and /healthz of whatever runs in this process). The API role runs
 * whenever --api or --api-token-file is given, with any other role: an edge's loader has its
 * /metrics and /healthz too. The API has a thread and a loop of its own: its requests make
 * synchronous Redis calls (up to the store's timeout when Redis is away), which must never hold
 * the loader's loop (HAProxy reload detection, pushes). What it reads of the other roles is
 * atomics (pmetrics). A role whose start is NULL is not part of the build and is refused by name.
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert-pusher/api/api.h"
#include "cert-pusher/edge/loader.h"
#include "cert-pusher/issuer/ondemand.h"
#include "cert-pusher/pusher.h"
#include "cert-pusher/issuer/scheduler.h"
#include "common/log.h"
#include "common/sdnotify.h"

/* A role: <start> arms its events on <base> and returns its state (NULL with <err>);
 * <stop> releases it. A NULL <start> means the role is not part of this build. */
struct run_role {
	const char *name;
	void *(*start)(struct event_base *base, struct pusher *p, char *err, size_t errsz);
	void (*stop)(void *state);
};

static void *run_loader_start(struct event_base *base, struct pusher *p, char *err, size_t errsz)
{
	return loader_start(base, p, err, errsz);
}

static void run_loader_stop(void *state)
{
	loader_stop(state);
}

static int run_api_checked; /* the API's state under --check: nothing to free */

/* The API role: its own loop, on its own thread. */
struct run_api {
	struct event_base *base;
	struct api *api;
	struct event *stop; /* activated from the main thread */
	pthread_t thread;
};

static void run_api_on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static void *run_api_main(void *arg)
{
	struct run_api *ra = arg;

	if (event_base_dispatch(ra->base) < 0)
		log_err("run: api: event loop failed");
	return NULL;
}

static void run_api_free(struct run_api *ra)
{
	if (ra->api)
		api_free(ra->api);
	if (ra->stop)
		event_free(ra->stop);
	if (ra->base)
		event_base_free(ra->base);
	free(ra);
}

/* The API: listening on a loop of its own, or its options checked with --check. */
static void *run_api_start(struct event_base *base, struct pusher *p, char *err, size_t errsz)
{
	struct run_api *ra;
	int rc;

	(void)base;
	if (p->check_only)
		return api_check_conf(p->conf, err, errsz) < 0 ? NULL : &run_api_checked;
	ra = calloc(1, sizeof(*ra));
	if (!ra || !(ra->base = event_base_new())) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	ra->api = api_new(ra->base, p->conf, p->prefix, err, errsz);
	if (!ra->api)
		goto fail;
	ra->stop = event_new(ra->base, -1, 0, run_api_on_stop, ra->base);
	if (!ra->stop) {
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	rc = pthread_create(&ra->thread, NULL, run_api_main, ra);
	if (rc) {
		snprintf(err, errsz, "cannot start the API thread: %s", strerror(rc));
		goto fail;
	}
	return ra;
fail:
	if (ra)
		run_api_free(ra);
	return NULL;
}

static void run_api_stop(void *state)
{
	struct run_api *ra = state;

	if (state == &run_api_checked)
		return;
	/* An active event, not a loopbreak: it also stops a loop that has not started yet. The
	 * loop wakes for it from this thread (evthread_use_pthreads()); a request in progress
	 * ends first. */
	event_active(ra->stop, EV_READ, 0);
	pthread_join(ra->thread, NULL);
	run_api_free(ra);
}

/* The issuer: its on-demand allow rules (ondemand.c) reach Redis first. */
static void *run_issuer_start(struct event_base *base, struct pusher *p, char *err, size_t errsz)
{
	if (ondemand_allow_publish(p, err, errsz) < 0)
		return NULL;
	return scheduler_run_start(base, p, err, errsz);
}

static const struct run_role run_roles[] = {
	{ "issuer", run_issuer_start, scheduler_run_stop }, /* scheduler.c */
	{ "loader", run_loader_start, run_loader_stop },
	{ "api", run_api_start, run_api_stop }, /* last: stopped first, before orders drain */
};
#define RUN_NROLES (sizeof(run_roles) / sizeof(run_roles[0]))

static void run_on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	log_info("run: signal %d: stopping", (int)sig);
	event_base_loopbreak(arg);
}

/* Parse --role into <want> (one flag per run_roles entry). 0 or -1 with a logged error. */
static int run_parse_roles(const char *roles, int want[RUN_NROLES])
{
	const char *p = roles, *e;
	size_t i, len;
	int any = 0;

	while (*p) {
		e = p + strcspn(p, ",");
		len = (size_t)(e - p);
		for (i = 0; i < RUN_NROLES; i++)
			if (strlen(run_roles[i].name) == len && !strncmp(p, run_roles[i].name, len))
				break;
		if (i == RUN_NROLES) {
			log_err("--role: unknown role '%.*s'; expected issuer, loader, api, "
			        "comma-separated",
			        (int)len, p);
			return -1;
		}
		if (!run_roles[i].start) {
			log_err("--role: role '%s' is not available in this build",
			        run_roles[i].name);
			return -1;
		}
		want[i] = 1;
		any = 1;
		p = *e ? e + 1 : e;
	}
	if (!any) {
		log_err("--role: empty; expected issuer, loader, api");
		return -1;
	}
	return 0;
}

int run_cmd_run(struct pusher *p, int argc, char **argv)
{
	struct event_base *base = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	void *state[RUN_NROLES] = { 0 };
	int want[RUN_NROLES] = { 0 };
	const char *roles = conf_get(p->conf, "role");
	char err[512], def[64] = "";
	size_t i;
	int ret = 1;

	(void)argv;
	if (argc > 0) {
		log_err("run: unexpected argument '%s'", argv[0]);
		return 2;
	}
	if (!p->check_only)
		log_set_daemon();
	if (!roles) {
		/* Default: every role this build has (the API when configured, below). */
		for (i = 0; i + 1 < RUN_NROLES; i++)
			if (run_roles[i].start)
				snprintf(def + strlen(def), sizeof(def) - strlen(def), "%s%s",
				         def[0] ? "," : "", run_roles[i].name);
		roles = def;
	}
	if (run_parse_roles(roles, want) < 0)
		return 2;
	/* The API goes with whatever runs here once it is configured. */
	if (conf_get(p->conf, "api") || conf_get(p->conf, "api-token-file"))
		want[RUN_NROLES - 1] = 1;
	/* Before any loop exists: the API's loop is stopped from this thread. */
	if (evthread_use_pthreads() < 0) {
		log_err("run: libevent has no pthreads support");
		goto out;
	}
	base = event_base_new();
	if (!base) {
		log_err("run: cannot create the event loop");
		goto out;
	}
	for (i = 0; i < RUN_NROLES; i++) {
		if (!want[i])
			continue;
		state[i] = run_roles[i].start(base, p, err, sizeof(err));
		if (!state[i]) {
			log_err("run: role %s: %s", run_roles[i].name, err);
			/* Under --check a role only checks its options: a bad configuration, 2. */
			if (p->check_only)
				ret = 2;
			goto out;
		}
	}
	if (p->check_only) {
		log_info("run: configuration ok (roles %s)", roles);
		ret = 0;
		goto out;
	}
	sigterm = evsignal_new(base, SIGTERM, run_on_signal, base);
	sigint = evsignal_new(base, SIGINT, run_on_signal, base);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 ||
	    evsignal_add(sigint, NULL) < 0) {
		log_err("run: cannot install signal handlers");
		goto out;
	}
	sdnotify("READY=1");
	log_info("run: started roles=%s", roles);
	if (event_base_dispatch(base) < 0) {
		log_err("run: event loop failed");
		goto out;
	}
	sdnotify("STOPPING=1");
	ret = 0;
out:
	for (i = RUN_NROLES; i-- > 0;)
		if (state[i])
			run_roles[i].stop(state[i]);
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	if (base)
		event_base_free(base);
	return ret;
}
