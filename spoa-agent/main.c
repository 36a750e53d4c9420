// SPDX-License-Identifier: MIT
/*
 * spoa-agent: answers HAProxy's acme-challenge SPOE messages from Redis (DESIGN.md
 * "spoa-agent"). This file is the process: options, listening sockets, worker threads (one
 * event_base + one agent + one Redis connection each), signals, sd_notify and the metrics
 * endpoint on the main thread. The protocol is agent.c's, Redis is lookup.c's.
 *
 * Accepting: each --listen socket is shared by every worker (each watches it with its own
 * event; whoever accepts first serves the connection). SPOP connections are long-lived, so the
 * accept rate is low and the thundering herd costs nothing measurable, while a second instance
 * started by mistake fails with "address in use" instead of silently sharing the port as it
 * would with SO_REUSEPORT.
 *
 * Shutdown (SIGTERM/SIGINT): STOPPING=1, every worker stops accepting and keeps serving its
 * connections until its lookups in flight are answered (at most --timeout + 1 s), then exits.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/buf.h"
#include "common/file.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/sdnotify.h"
#include "common/version.h"
#include "spoa-agent/agent.h"
#include "spoa-agent/lookup.h"
#include "spoa-agent/ondemand.h"
#include "spoa-agent/metrics.h"

#define MAIN_MAX_LISTEN        16
#define MAIN_MAX_THREADS       256
#define MAIN_DEFAULT_LISTEN    "127.0.0.1:12345"
#define MAIN_DEFAULT_REDIS     "127.0.0.1:6379"
#define MAIN_DEFAULT_TIMEOUT   300
#define MAIN_DEFAULT_MAX_CONNS 10000
#define MAIN_MAX_CONNS_MAX     1000000
#define MAIN_PASSWORD_MAX      4096

struct main_opts {
	struct endpoint listen[MAIN_MAX_LISTEN];
	unsigned nlisten;
	struct endpoint redis;
	struct endpoint metrics;
	bool has_metrics;
	const char *prefix;
	uint64_t timeout_ms;
	uint64_t hello_timeout_ms;
	uint64_t idle_timeout_ms; /* 0: never */
	uint64_t max_conns;       /* over every worker */
	unsigned threads;
	const char *redis_user;
	struct buf password; /* wiped at exit */
	bool has_password;
	bool check;
	bool on_demand;
	const char *edge;
	char edge_buf[256];
	struct endpoint od_redis;
	bool has_od_redis;
	uint64_t od_timeout_ms;
	uint64_t od_src_burst;
	uint64_t od_fleet_burst;
};

struct main_worker {
	unsigned id;
	pthread_t thread;
	bool started;
	struct event_base *base;
	struct lookup *lookup;
	struct lookup *od_lookup; /* on-demand scripts, on the primary */
	struct ondemand *od;
	struct agent *agent;
	struct event *stop_ev;
	struct event *drain_ev;
	uint64_t drain_deadline_ms;
	uint64_t timeout_ms;
};

struct main_listener {
	int fd;
	struct endpoint ep;
};

static const struct option main_longopts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "redis", required_argument, NULL, 'r' },
	{ "threads", required_argument, NULL, 't' },
	{ "key-prefix", required_argument, NULL, 'p' },
	{ "timeout", required_argument, NULL, 'T' },
	{ "hello-timeout", required_argument, NULL, 'H' },
	{ "idle-timeout", required_argument, NULL, 'I' },
	{ "max-connections", required_argument, NULL, 'C' },
	{ "metrics", required_argument, NULL, 'm' },
	{ "redis-user", required_argument, NULL, 'u' },
	{ "redis-password-file", required_argument, NULL, 'P' },
	{ "on-demand", no_argument, NULL, 'D' },
	{ "edge-id", required_argument, NULL, 'E' },
	{ "on-demand-redis", required_argument, NULL, 'R' },
	{ "on-demand-timeout", required_argument, NULL, 'W' },
	{ "on-demand-source-burst", required_argument, NULL, 'S' },
	{ "on-demand-fleet-burst", required_argument, NULL, 'F' },
	{ "check", no_argument, NULL, 'c' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static void main_usage(FILE *f)
{
	fprintf(f,
	        "usage: spoa-agent [options]\n"
	        "Answers HAProxy's SPOE message acme-challenge from Redis (GET "
	        "<prefix>chal:<token>).\n"
	        "\n"
	        "  --listen ADDR:PORT|unix:PATH  where HAProxy connects (repeatable; default %s)\n"
	        "  --redis ADDR:PORT|unix:PATH   Redis, usually the local replica (default %s)\n"
	        "  --threads N                   worker threads, each with its own Redis "
	        "connection\n"
	        "                                (default: online CPUs)\n"
	        "  --key-prefix P                Redis key prefix (default %s)\n"
	        "  --timeout DURATION            per-lookup deadline, below HAProxy's `timeout\n"
	        "                                processing` (default %ums; 250, 300ms, 1s)\n"
	        "  --hello-timeout DURATION      close a connection that sends no HAPROXY-HELLO\n"
	        "                                within it (default 5s)\n"
	        "  --idle-timeout DURATION       close a connection with nothing received, "
	        "answered\n"
	        "                                or pending for that long (default 1h; 0 never).\n"
	        "                                Closing races HAProxy's next NOTIFY: keep it "
	        "long\n"
	        "  --max-connections N           HAProxy connections over all threads; a full\n"
	        "                                thread stops accepting (default %u)\n"
	        "  --metrics ADDR:PORT           serve Prometheus /metrics and /healthz there\n"
	        "  --redis-user USER             ACL user for AUTH (needs --redis-password-file)\n"
	        "  --redis-password-file FILE    AUTH password (file mode 0600 or stricter)\n"
	        "  --on-demand                   answer message on-demand (issue certificates "
	        "for\n"
	        "                                allowed names at their first TLS handshake)\n"
	        "  --edge-id NAME                this edge, as its loader's --edge-id (default "
	        "host name)\n"
	        "  --on-demand-redis ADDR:PORT|unix:PATH  the Redis primary (default --redis)\n"
	        "  --on-demand-timeout DURATION  longest wait for a certificate (default 25s;\n"
	        "                                below the SPOE `timeout processing`)\n"
	        "  --on-demand-source-burst N    unknown names per source address at once, then "
	        "1/s\n"
	        "                                (default 30)\n"
	        "  --on-demand-fleet-burst N     new names ordered fleet-wide at once, then 5/s\n"
	        "                                (default 100)\n"
	        "  --check                       validate the options and exit (0 valid, 2 "
	        "invalid)\n"
	        "  -v, --verbose                 debug logs\n"
	        "  -h, --help                    this help\n"
	        "      --version                 print the version and exit\n",
	        MAIN_DEFAULT_LISTEN, MAIN_DEFAULT_REDIS, KEYS_DEFAULT_PREFIX, MAIN_DEFAULT_TIMEOUT,
	        MAIN_DEFAULT_MAX_CONNS);
}

/* Parse the command line into <o>. 0, or -1 after logging what is wrong. */
static int main_parse(int argc, char **argv, struct main_opts *o)
{
	const char *why, *password_file = NULL;
	char err[512];
	uint64_t u;
	long ncpu;
	int c, ret = -1;

	o->prefix = KEYS_DEFAULT_PREFIX;
	o->timeout_ms = MAIN_DEFAULT_TIMEOUT;
	o->hello_timeout_ms = AGENT_HELLO_TIMEOUT_MS;
	o->idle_timeout_ms = AGENT_IDLE_TIMEOUT_MS;
	o->max_conns = MAIN_DEFAULT_MAX_CONNS;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	o->threads = ncpu < 1 ? 1 : ncpu > MAIN_MAX_THREADS ? MAIN_MAX_THREADS : (unsigned)ncpu;
	parse_endpoint(MAIN_DEFAULT_REDIS, &o->redis, &why);
	o->od_timeout_ms = 25000;
	o->od_src_burst = 30;
	o->od_fleet_burst = 100;

	while ((c = getopt_long(argc, argv, "vh", main_longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (o->nlisten == MAIN_MAX_LISTEN) {
				log_err("--listen: at most %d addresses", MAIN_MAX_LISTEN);
				goto out;
			}
			if (parse_endpoint(optarg, &o->listen[o->nlisten], &why) < 0) {
				log_err("--listen: '%s': %s", optarg, why);
				goto out;
			}
			o->nlisten++;
			break;
		case 'r':
			if (parse_endpoint(optarg, &o->redis, &why) < 0) {
				log_err("--redis: '%s': %s", optarg, why);
				goto out;
			}
			break;
		case 't':
			if (parse_u64(optarg, 1, MAIN_MAX_THREADS, &u) < 0) {
				log_err("--threads: '%s': expected a number from 1 to %d", optarg,
				        MAIN_MAX_THREADS);
				goto out;
			}
			o->threads = (unsigned)u;
			break;
		case 'D':
			o->on_demand = true;
			break;
		case 'E':
			if (!*optarg || strlen(optarg) > 64 ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			                   "0123456789._-") != strlen(optarg)) {
				log_err("--edge-id: '%s': expected 1..64 of [A-Za-z0-9._-], as the "
				        "loader's --edge-id",
				        optarg);
				goto out;
			}
			o->edge = optarg;
			break;
		case 'R':
			if (parse_endpoint(optarg, &o->od_redis, &why) < 0) {
				log_err("--on-demand-redis: '%s': %s", optarg, why);
				goto out;
			}
			o->has_od_redis = true;
			break;
		case 'W':
			if (parse_duration_ms(optarg, 1, 100, 600000, &o->od_timeout_ms) < 0) {
				log_err("--on-demand-timeout: '%s': expected a duration from 100ms "
				        "to 10m",
				        optarg);
				goto out;
			}
			break;
		case 'S':
		case 'F':
			if (parse_u64(optarg, 1, 1000000, &u) < 0) {
				log_err("--on-demand-%s-burst: '%s': expected a number from 1 to "
				        "1000000",
				        c == 'S' ? "source" : "fleet", optarg);
				goto out;
			}
			*(c == 'S' ? &o->od_src_burst : &o->od_fleet_burst) = u;
			break;
		case 'p':
			if (!keys_prefix_valid(optarg)) {
				log_err("--key-prefix: '%s': expected at most %d characters of "
				        "[A-Za-z0-9:._-]",
				        optarg, KEYS_PREFIX_MAX);
				goto out;
			}
			o->prefix = optarg;
			break;
		case 'T':
			if (parse_duration_ms(optarg, 1, 1, 60000, &o->timeout_ms) < 0) {
				log_err("--timeout: '%s': expected a duration from 1ms to 60s "
				        "(e.g. "
				        "300ms)",
				        optarg);
				goto out;
			}
			break;
		case 'H':
			if (parse_duration_ms(optarg, 1, 100, 3600000, &o->hello_timeout_ms) < 0) {
				log_err("--hello-timeout: '%s': expected a duration from 100ms to "
				        "1h "
				        "(e.g. 5s)",
				        optarg);
				goto out;
			}
			break;
		case 'I':
			if (strcmp(optarg, "0") != 0 &&
			    parse_duration_ms(optarg, 1, 1000, 168 * 3600000ULL,
			                      &o->idle_timeout_ms) < 0) {
				log_err("--idle-timeout: '%s': expected 0 (never) or a duration "
				        "from "
				        "1s to 168h (e.g. 1h)",
				        optarg);
				goto out;
			}
			if (!strcmp(optarg, "0"))
				o->idle_timeout_ms = 0;
			break;
		case 'C':
			if (parse_u64(optarg, 1, MAIN_MAX_CONNS_MAX, &o->max_conns) < 0) {
				log_err("--max-connections: '%s': expected a number from 1 to %d",
				        optarg, MAIN_MAX_CONNS_MAX);
				goto out;
			}
			break;
		case 'm':
			if (parse_endpoint(optarg, &o->metrics, &why) < 0) {
				log_err("--metrics: '%s': %s", optarg, why);
				goto out;
			}
			if (o->metrics.is_unix) {
				log_err("--metrics: '%s': expected ADDR:PORT", optarg);
				goto out;
			}
			o->has_metrics = true;
			break;
		case 'u':
			if (!*optarg || strpbrk(optarg, " \t\r\n")) {
				log_err("--redis-user: '%s': expected a non-empty name without "
				        "spaces",
				        optarg);
				goto out;
			}
			o->redis_user = optarg;
			break;
		case 'P':
			password_file = optarg;
			break;
		case 'c':
			o->check = true;
			break;
		case 'v':
			log_max_level = LOG_LEVEL_DEBUG;
			break;
		case 'h':
			main_usage(stdout);
			exit(0);
		case 'V':
			printf("spoa-agent %s\n", SPOACME_VERSION);
			exit(0);
		default:
			/* getopt said which option; one line more, not the whole usage. */
			fprintf(stderr, "try 'spoa-agent --help'\n");
			goto out;
		}
	}
	if (optind < argc) {
		log_err("unexpected argument '%s' (options only; see --help)", argv[optind]);
		goto out;
	}
	if (!o->nlisten) {
		parse_endpoint(MAIN_DEFAULT_LISTEN, &o->listen[0], &why);
		o->nlisten = 1;
	}
	if (o->redis_user && !password_file) {
		log_err("--redis-user: needs --redis-password-file");
		goto out;
	}
	if (password_file) {
		if (file_read(password_file, MAIN_PASSWORD_MAX, 1, &o->password, err, sizeof(err)) <
		    0) {
			log_err("--redis-password-file: %s", err);
			goto out;
		}
		file_chomp(&o->password);
		if (!o->password.len || memchr(o->password.data, 0, o->password.len) ||
		    strpbrk(buf_str(&o->password), " \t\r\n")) {
			log_err("--redis-password-file: '%s': expected one line holding the "
			        "password, without spaces",
			        password_file);
			goto out;
		}
		o->has_password = true;
	}
	ret = 0;
out:
	return ret;
}

/* ---- listening sockets ---- */

static int main_listen_unix(const struct endpoint *ep)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd = -1, probe = -1, ret = -1;

	memcpy(sun.sun_path, ep->path, strlen(ep->path) + 1);
	if (lstat(ep->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_err("--listen: unix:%s exists and is not a socket", ep->path);
			goto out;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			log_err("--listen: unix:%s is in use by another process", ep->path);
			goto out;
		}
		unlink(ep->path); /* stale socket of a previous run */
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 1024) < 0) {
		log_err("--listen: unix:%s: %s", ep->path, strerror(errno));
		goto out;
	}
	ret = fd;
	fd = -1;
out:
	if (probe >= 0)
		close(probe);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int main_listen_tcp(const struct endpoint *ep)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
		                  .ai_socktype = SOCK_STREAM,
		                  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char port[8], name[300];
	int fd = -1, one = 1, ret = -1, rc;

	parse_endpoint_format(ep, name, sizeof(name));
	snprintf(port, sizeof(port), "%u", ep->port);
	rc = getaddrinfo(ep->host[0] ? ep->host : "0.0.0.0", port, &hints, &ai);
	if (rc != 0) {
		log_err("--listen: '%s': %s", name, gai_strerror(rc));
		goto out;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
		log_err("--listen: '%s': %s", name, strerror(errno));
		goto out;
	}
	ret = fd;
	fd = -1;
out:
	if (ai)
		freeaddrinfo(ai);
	if (fd >= 0)
		close(fd);
	return ret;
}

/* ---- workers ---- */

/* drain_ev, every 10 ms once stopping: leave when nothing is in flight or time is up. */
static void main_worker_on_drain(evutil_socket_t fd, short what, void *arg)
{
	struct main_worker *w = arg;
	struct timeval tick = { .tv_sec = 0, .tv_usec = 10000 };
	size_t inflight = agent_inflight(w->agent);

	(void)fd;
	(void)what;
	if (!inflight || (uint64_t)clock_mono_ms() >= w->drain_deadline_ms) {
		if (inflight)
			log_warn("worker=%u exiting with %zu lookups unanswered", w->id, inflight);
		event_base_loopbreak(w->base);
		return;
	}
	event_add(w->drain_ev, &tick);
}

/* stop_ev, activated by the main thread on SIGTERM/SIGINT. */
static void main_worker_on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct main_worker *w = arg;

	(void)fd;
	(void)what;
	agent_stop_accepting(w->agent);
	w->drain_deadline_ms = clock_mono_ms() + w->timeout_ms + 1000;
	main_worker_on_drain(-1, 0, w);
}

static void *main_worker_run(void *arg)
{
	struct main_worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

static void main_worker_free(struct main_worker *w)
{
	agent_free(w->agent);
	ondemand_free(w->od);
	lookup_free(w->od_lookup);
	lookup_free(w->lookup);
	if (w->stop_ev)
		event_free(w->stop_ev);
	if (w->drain_ev)
		event_free(w->drain_ev);
	if (w->base)
		event_base_free(w->base);
}

struct main_ctx {
	struct main_worker *workers;
	unsigned nworkers;
	struct event_base *base;
};

static void main_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct main_ctx *ctx = arg;
	unsigned i;

	(void)what;
	log_info("signal=%d: draining and exiting", (int)sig);
	sdnotify("STOPPING=1");
	for (i = 0; i < ctx->nworkers; i++)
		if (ctx->workers[i].started)
			event_active(ctx->workers[i].stop_ev, EV_TIMEOUT, 1);
	event_base_loopbreak(ctx->base);
}

int main(int argc, char **argv)
{
	struct main_opts o = { 0 };
	struct ondemand_conf odconf;
	struct main_listener listeners[MAIN_MAX_LISTEN];
	struct main_ctx ctx = { 0 };
	struct metrics *metrics = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	struct lookup_conf lconf;
	struct agent_conf aconf;
	char err[512], name[300];
	unsigned i, j, nlisteners = 0;
	int ret = 2;

	buf_init(&o.password);
	if (main_parse(argc, argv, &o) < 0)
		goto out;
	if (o.check) {
		log_info("configuration is valid");
		ret = 0;
		goto out;
	}
	ret = 1;
	log_set_daemon();
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() < 0) {
		log_err("libevent: no thread support");
		goto out;
	}

	for (i = 0; i < o.nlisten; i++) {
		listeners[i].ep = o.listen[i];
		listeners[i].fd = o.listen[i].is_unix ? main_listen_unix(&o.listen[i])
		                                      : main_listen_tcp(&o.listen[i]);
		if (listeners[i].fd < 0)
			goto out;
		nlisteners++;
	}

	metrics = metrics_new(o.threads);
	ctx.base = event_base_new();
	ctx.workers = calloc(o.threads, sizeof(*ctx.workers));
	if (!metrics || !ctx.base || !ctx.workers) {
		log_err("out of memory");
		goto out;
	}
	ctx.nworkers = o.threads;
	if (o.has_metrics && metrics_serve(metrics, ctx.base, &o.metrics, err, sizeof(err)) < 0) {
		log_err("%s", err);
		goto out;
	}

	lconf = (struct lookup_conf){ .redis = o.redis,
		                      .prefix = o.prefix,
		                      .user = o.redis_user,
		                      .password = o.has_password ? buf_str(&o.password) : NULL,
		                      .timeout_ms = o.timeout_ms };
	if (o.on_demand && !o.edge) {
		if (gethostname(o.edge_buf, sizeof(o.edge_buf) - 1) < 0) {
			log_err("--edge-id: no host name; give one");
			goto out;
		}
		o.edge = o.edge_buf;
	}
	odconf = (struct ondemand_conf){ .prefix = o.prefix,
		                         .edge = o.edge,
		                         .deadline_ms = o.od_timeout_ms,
		                         .poll_ms = 100,
		                         .src_period_ms = 1000,
		                         .src_burst = o.od_src_burst,
		                         .fleet_period_ms = 200,
		                         .fleet_burst = o.od_fleet_burst,
		                         .neg_ttl_ms = 60000 };
	for (i = 0; i < o.threads; i++) {
		struct main_worker *w = &ctx.workers[i];

		w->id = i;
		w->timeout_ms = o.timeout_ms;
		/* The cap is shared out: a thread's share, rounded up (at least one each). */
		aconf = (struct agent_conf){
			.worker_id = i,
			.hello_timeout_ms = o.hello_timeout_ms,
			.idle_timeout_ms = o.idle_timeout_ms,
			.max_conns = (unsigned)((o.max_conns + o.threads - 1) / o.threads),
		};
		w->base = event_base_new();
		if (w->base) {
			w->lookup = lookup_new(w->base, &lconf, metrics_shard(metrics, i));
			w->stop_ev = event_new(w->base, -1, 0, main_worker_on_stop, w);
			w->drain_ev = evtimer_new(w->base, main_worker_on_drain, w);
		}
		if (w->lookup)
			w->agent = agent_new(w->base, &aconf, &lookup_redis_ops, w->lookup,
			                     metrics_shard(metrics, i));
		if (w->agent && o.on_demand) {
			struct lookup_conf oconf = lconf;

			if (o.has_od_redis)
				oconf.redis = o.od_redis;
			w->od_lookup = lookup_new(w->base, &oconf, NULL);
			if (w->od_lookup)
				w->od = ondemand_new(w->base, w->od_lookup, &odconf);
			if (!w->od) {
				log_err("worker=%u: out of memory", i);
				goto out;
			}
			agent_set_ondemand(w->agent, w->od);
		}
		if (!w->agent || !w->stop_ev || !w->drain_ev) {
			log_err("worker=%u: out of memory", i);
			goto out;
		}
		for (j = 0; j < nlisteners; j++)
			if (agent_watch_listener(w->agent, listeners[j].fd) < 0) {
				log_err("worker=%u: cannot watch listener", i);
				goto out;
			}
	}
	/* The password lives on in each lookup (wiped there); drop this copy now. */
	buf_wipe(&o.password);

	sigterm = evsignal_new(ctx.base, SIGTERM, main_on_signal, &ctx);
	sigint = evsignal_new(ctx.base, SIGINT, main_on_signal, &ctx);
	if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 ||
	    evsignal_add(sigint, NULL) < 0) {
		log_err("cannot install signal handlers");
		goto out;
	}
	for (i = 0; i < ctx.nworkers; i++) {
		if (pthread_create(&ctx.workers[i].thread, NULL, main_worker_run,
		                   &ctx.workers[i]) != 0) {
			log_err("worker=%u: cannot start thread", i);
			main_on_signal(SIGTERM, 0, &ctx);
			goto out;
		}
		ctx.workers[i].started = true;
	}
	for (i = 0; i < nlisteners; i++) {
		parse_endpoint_format(&listeners[i].ep, name, sizeof(name));
		log_info("listening on %s", name);
	}
	parse_endpoint_format(&o.redis, name, sizeof(name));
	log_info("ready: workers=%u redis=%s key-prefix=%s timeout=%llums", o.threads, name,
	         o.prefix, (unsigned long long)o.timeout_ms);
	if (o.on_demand)
		log_info("on-demand: edge=%s timeout=%llums source-burst=%llu fleet-burst=%llu",
		         o.edge, (unsigned long long)o.od_timeout_ms,
		         (unsigned long long)o.od_src_burst, (unsigned long long)o.od_fleet_burst);
	sdnotify("READY=1");

	event_base_dispatch(ctx.base);
	ret = 0;
out:
	for (i = 0; i < ctx.nworkers; i++)
		if (ctx.workers[i].started)
			pthread_join(ctx.workers[i].thread, NULL);
	for (i = 0; i < ctx.nworkers; i++)
		main_worker_free(&ctx.workers[i]);
	free(ctx.workers);
	for (i = 0; i < nlisteners; i++) {
		close(listeners[i].fd);
		if (listeners[i].ep.is_unix)
			unlink(listeners[i].ep.path);
	}
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	metrics_free(metrics);
	if (ctx.base)
		event_base_free(ctx.base);
	buf_wipe(&o.password);
	if (ret == 0 && !o.check)
		log_info("exited cleanly");
	return ret;
}
