// SPDX-License-Identifier: MIT
/*
 * cert-pusher's entry point: options from the config file and the command line (flags win),
 * then one command. The commands live with their logic: issuer.c (issue), run.c (the daemon).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cert-pusher/api/cli.h"
#include "cert-pusher/hosts.h"
#include "cert-pusher/init.h"
#include "cert-pusher/pmetrics.h"
#include "cert-pusher/kms_conf.h"
#include "cert-pusher/pusher.h"
#include "cert-pusher/store/store.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/version.h"

struct pusher_opt {
	const char *name;
	int has_arg;
	const char *help;
};

/* Every option, for the command line and the config file alike. */
static const struct pusher_opt pusher_opts[] = {
	{ "config", 1, "FILE      config file: 'name value' lines, names as these options" },
	{ "redis", 1, "ADDR      Redis, HOST:PORT or unix:PATH (default 127.0.0.1:6379)" },
	{ "primary", 1, "ADDR      Redis primary for writes when --redis is a replica" },
	{ "redis-user", 1, "USER      Redis ACL user" },
	{ "redis-password-file", 1, "FILE      Redis password (mode 0600)" },
	{ "sentinel", 1, "ADDRS     find the primary through Sentinel: HOST:PORT[,HOST:PORT...]" },
	{ "sentinel-master", 1, "NAME      Sentinel's name of the primary (default spoacme)" },
	{ "sentinel-user", 1, "USER      ACL user on the sentinels" },
	{ "sentinel-password-file", 1, "FILE      password of the sentinels (mode 0600)" },
	{ "keyring", 1, "FILE      blob key ring (mode 0600): '<key-id> <base64 32 bytes>' lines" },
	{ "kms", 1, "URI       PKCS#11 KEK (RFC 7512, module-path, pin-source=file:...)" },
	{ "kms-seal", 1, "yes|no    seal new blobs with --kms (default yes; no: open only)" },
	{ "key-prefix", 1, "PREFIX    Redis key prefix (default spoacme:)" },
	{ "directory", 1, "URL       ACME directory (default Let's Encrypt production)" },
	{ "ca-bundle", 1, "FILE      CA certificates to trust for the ACME server" },
	{ "contact", 1, "EMAIL     ACME account contact" },
	{ "key-type", 1, "TYPES     ecdsa, rsa or ecdsa,rsa (default both)" },
	{ "profile", 1, "NAME      ACME certificate profile (when the CA offers profiles)" },
	{ "eab-kid", 1, "KID       External Account Binding key id" },
	{ "eab-hmac-key-file", 1, "FILE      External Account Binding HMAC key (base64url)" },
	{ "wait-replicas", 1, "N|auto    replicas a challenge must reach (auto: all connected)" },
	{ "wait-timeout", 1, "DURATION  how long to wait for them (default 1s; no unit = ms)" },
	{ "account-key-type", 1, "TYPE      new ACME account key: ecdsa (ES256, default) or rsa" },
	{ "concurrency", 1, "N         issue: hostnames ordered in parallel (default 4, max 64)" },
	{ "role", 1, "ROLES     run: issuer,loader,api (default issuer,loader; api with --api)" },
	{ "haproxy-socket", 1, "PATH      HAProxy runtime API socket (level admin)" },
	{ "cert-dir", 1,
	  "DIR       loader: RAM-backed dir (tmpfs, 0700) HAProxy loads certs from" },
	{ "crt-list", 1, "PATH      crt-list as haproxy.cfg names it (default DIR/crt-list)" },
	{ "reconcile-interval", 1, "DURATION  loader: full reconcile period (default 30s)" },
	{ "haproxy-bufsize", 1, "BYTES     loader: HAProxy's tune.bufsize (default 16384)" },
	{ "reconcile-slice", 1, "DURATION  loader: loop time per reconcile slice (20ms; 0: none)" },
	{ "edge-id", 1, "ID        loader: this edge's name in served:<edge> (default hostname)" },
	{ "edge-live-window", 1, "DURATION  API: an edge is live when seen within (default 2m)" },
	{ "cert-file", 1, "FILE      import: certificate chain, leaf first (PEM)" },
	{ "key-file", 1, "FILE      import: private key (PEM, mode 0600)" },
	{ "revoke", 0, "          rm: revoke the certificates at the CA, then remove" },
	{ "api", 1, "ADDR      HTTP API listen address" },
	{ "api-token-file", 1, "FILE      API bearer token (mode 0600)" },
	{ "api-read-token-file", 1, "FILE      API read-only token: GET and HEAD only (0600)" },
	{ "challenge", 1, "TYPE      http-01 (default; wildcards use dns-01) or dns-01 for all" },
	{ "dns-update", 1, "ADDR:PORT DNS-01: primary taking RFC 2136 updates of the zone" },
	{ "dns-tsig-key-file", 1, "FILE      DNS-01: 'hmac-sha256:NAME:SECRET' (mode 0600)" },
	{ "dns-zone", 1, "ZONE      DNS-01: zone updated (default --preview-domain)" },
	{ "dns-auth", 1, "ADDRS     DNS-01: every authoritative ADDR:PORT (default: zone's NS)" },
	{ "dns-propagation-timeout", 1, "DURATION  DNS-01: wait for every server (default 120s)" },
	{ "edge-address", 1,
	  "ADDRS     DNS gate: edge IPs a new name must resolve to (comma list)" },
	{ "dns-resolver", 1, "ADDR:PORT DNS gate: resolver to ask (default /etc/resolv.conf)" },
	{ "skip-dns-check", 0, "          add: order without the DNS gate's check" },
	{ "preview-domain", 1, "DOMAIN    give each new host a preview name <random>.DOMAIN" },
	{ "renew-fraction", 1, "F         renew at this fraction of the lifetime (default 2/3)" },
	{ "max-concurrent-orders", 1, "N         ACME orders at once per issuer (default 4)" },
	{ "lock-ttl", 1, "DURATION  per-host lock lifetime, extended while working (60s)" },
	{ "backoff-min", 1, "DURATION  first retry delay after a failed order (default 1m)" },
	{ "backoff-max", 1, "DURATION  longest retry delay (default 6h)" },
	{ "on-demand-allow", 1,
	  "SUFFIXES  issuer: on-demand issuance below .a.example[,.b.example]" },
	{ "on-demand-ask", 1,
	  "URL       issuer: GET URL?domain=NAME before a new on-demand name's first order; 200 "
	  "allows" },
	{ "due-poll", 1, "DURATION  how often the issuer looks for due hosts (default 1s)" },
	{ "json", 0, "          ls, show, edges ls: print the API's JSON" },
	{ "check", 0, "          validate the configuration and exit" },
	{ "verbose", 0, "          debug logging (also -v)" },
	{ "help", 0, "          this help" },
	{ "version", 0, "          print the version and exit" },
};
#define PUSHER_NOPTS (sizeof(pusher_opts) / sizeof(pusher_opts[0]))

struct pusher_cmd {
	const char *name;
	pusher_cmd_fn *fn;
	const char *help;
};

static const struct pusher_cmd pusher_cmds[] = {
	{ "issue", issuer_cmd_issue, "NAME...   obtain ECDSA and RSA certificates now" },
	{ "run", run_cmd_run, "          the daemon: --role issuer,loader,api" },
	{ "import", import_cmd_import, "NAME      seal --cert-file + --key-file into Redis" },
	{ "rekey", rekey_cmd_rekey, "          re-seal every blob under the key ring's first key" },
	{ "kms", kms_conf_cmd_kms, "create-key  create --kms's KEK in the token" },
	{ "add", hosts_cmd_add, "NAME...   manage hostnames (certificates follow)" },
	{ "rm", hosts_cmd_rm, "NAME...   stop managing hostnames; edges drop them" },
	{ "ls", hosts_cmd_ls, "          list managed hostnames" },
	{ "show", hosts_cmd_show, "NAME      one hostname's state, dates, serials, last error" },
	{ "renew", hosts_cmd_renew, "NAME...   renew now" },
	{ "edges", edges_cmd_edges, "ls|forget EDGE...  the edges' reports; drop an edge's" },
	{ "init", init_cmd_init,
	  "DIR       create a node's key ring, token, certificate, passwords" },
};
#define PUSHER_NCMDS (sizeof(pusher_cmds) / sizeof(pusher_cmds[0]))

static void pusher_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: cert-pusher [OPTIONS] COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < PUSHER_NCMDS; i++)
		fprintf(f, "  %-8s %s\n", pusher_cmds[i].name, pusher_cmds[i].help);
	fprintf(f, "\noptions (also 'name value' lines in --config; flags win):\n");
	for (i = 0; i < PUSHER_NOPTS; i++)
		fprintf(f, "  --%-20s %s\n", pusher_opts[i].name, pusher_opts[i].help);
}

int main(int argc, char **argv)
{
	struct option longopts[PUSHER_NOPTS + 1];
	const char *known[PUSHER_NOPTS + 1];
	struct pusher p = { 0 };
	const struct pusher_cmd *cmd = NULL;
	const char *cfg;
	char err[512];
	size_t i;
	int c, idx, ret = 2;

	signal(SIGPIPE, SIG_IGN);
	memset(longopts, 0, sizeof(longopts));
	for (i = 0; i < PUSHER_NOPTS; i++) {
		longopts[i].name = pusher_opts[i].name;
		longopts[i].has_arg = pusher_opts[i].has_arg ? required_argument : no_argument;
		longopts[i].val = 0;
		known[i] = pusher_opts[i].name;
	}
	known[PUSHER_NOPTS] = NULL;
	p.conf = conf_new();
	if (!p.conf) {
		log_err("out of memory");
		return 1;
	}
	while ((c = getopt_long(argc, argv, "vh", longopts, &idx)) != -1) {
		if (c == 'v') {
			conf_set(p.conf, "verbose", "true", 1);
		} else if (c == 'h') {
			pusher_usage(stdout);
			ret = 0;
			goto out;
		} else if (c == 0) {
			if (conf_set(p.conf, longopts[idx].name, optarg ? optarg : "true", 1) < 0) {
				log_err("out of memory");
				goto out;
			}
		} else {
			/* getopt said which option; one line more, not the whole usage. */
			fprintf(stderr, "try 'cert-pusher --help'\n");
			goto out;
		}
	}
	if (conf_get(p.conf, "version")) {
		printf("cert-pusher %s\n", SPOACME_VERSION);
		ret = 0;
		goto out;
	}
	if (conf_get(p.conf, "help")) {
		pusher_usage(stdout);
		ret = 0;
		goto out;
	}
	cfg = conf_get(p.conf, "config");
	if (cfg && conf_load_file(p.conf, cfg, known, err, sizeof(err)) < 0) {
		log_err("--config: %s", err);
		goto out;
	}
	if (conf_get(p.conf, "verbose"))
		log_max_level = LOG_LEVEL_DEBUG;
	p.check_only = conf_get(p.conf, "check") != NULL;
	p.prefix = conf_get_def(p.conf, "key-prefix", KEYS_DEFAULT_PREFIX);
	if (!keys_prefix_valid(p.prefix)) {
		log_err("--key-prefix: '%s' is not valid; expected at most %d of [A-Za-z0-9:._-]",
		        p.prefix, KEYS_PREFIX_MAX);
		goto out;
	}
	if (store_conf_check(p.conf, err, sizeof(err)) < 0) {
		log_err("%s", err);
		goto out;
	}
	pmetrics_register(store_metrics, NULL);
	if (optind >= argc) {
		log_err("no command given");
		pusher_usage(stderr);
		goto out;
	}
	for (i = 0; i < PUSHER_NCMDS; i++)
		if (!strcmp(argv[optind], pusher_cmds[i].name))
			cmd = &pusher_cmds[i];
	if (!cmd) {
		log_err("unknown command '%s'", argv[optind]);
		pusher_usage(stderr);
		goto out;
	}
	ret = cmd->fn(&p, argc - optind - 1, argv + optind + 1);
out:
	conf_free(p.conf);
	return ret;
}
