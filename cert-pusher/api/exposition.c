// SPDX-License-Identifier: MIT
/*
 * The gauges GET /metrics computes at scrape time from Redis: hosts by state and days to expiry
 * (true for every issuer sharing the Redis, not just this process), and the proof of deployment
 * per edge. The process's own counters are pmetrics.c's.
 */
#include "cert-pusher/api/exposition.h"

#include <stdlib.h>

int exposition_hosts(struct buf *out, const struct hosts_info *hosts, size_t n, long long now)
{
	unsigned long long by_state[HOSTS_STATE_COUNT] = { 0 };
	size_t i;
	int rc = 0;

	rc |= buf_printf(out,
	                 "# HELP spoacme_redis_up Whether the last Redis read succeeded.\n"
	                 "# TYPE spoacme_redis_up gauge\nspoacme_redis_up %d\n",
	                 hosts ? 1 : 0);
	if (hosts) {
		for (i = 0; i < n; i++)
			by_state[hosts[i].state < HOSTS_STATE_COUNT ? hosts[i].state : 0]++;
		rc |= buf_printf(out, "# HELP spoacme_hosts Managed hostnames by state.\n"
		                      "# TYPE spoacme_hosts gauge\n");
		for (i = 0; i < HOSTS_STATE_COUNT; i++)
			rc |= buf_printf(out, "spoacme_hosts{state=\"%s\"} %llu\n",
			                 hosts_state_name((enum hosts_state)i), by_state[i]);
		rc |= buf_printf(out,
		                 "# HELP spoacme_cert_expiry_seconds Seconds until the certificate "
		                 "of a host expires (negative: expired).\n"
		                 "# TYPE spoacme_cert_expiry_seconds gauge\n");
		/* Hostnames passed names_hostname_valid(): nothing to escape in a label. */
		for (i = 0; i < n; i++)
			if (hosts[i].not_after)
				rc |= buf_printf(out,
				                 "spoacme_cert_expiry_seconds{host=\"%s\"} %lld\n",
				                 hosts[i].name, hosts[i].not_after - now);
	}
	return rc ? -1 : 0;
}

int exposition_edges(struct buf *out, const struct served_view *v, const struct hosts_info *hosts,
                     size_t n, long long now)
{
	unsigned long long live = 0, undeployed = 0, *cnt;
	const struct served_value *sv;
	const char *want[PEM_KEY_COUNT];
	size_t e, h;
	int t, rc = 0;

	if (!v)
		return 0;
	/* Per edge: SERVED_STATUS_COUNT counts, then the expiring count. */
	cnt = calloc(v->nedges * (SERVED_STATUS_COUNT + 1) + 1, sizeof(*cnt));
	if (!cnt)
		return -1;
	for (e = 0; e < v->nedges; e++) {
		unsigned long long *c = &cnt[e * (SERVED_STATUS_COUNT + 1)];

		live += v->edges[e].live ? 1 : 0;
		for (h = 0; h < n && h < v->nhosts; h++) {
			want[PEM_KEY_ECDSA] = hosts[h].serial_ecdsa;
			want[PEM_KEY_RSA] = hosts[h].serial_rsa;
			for (t = 0; t < PEM_KEY_COUNT; t++) {
				sv = served_view_get(v, h, e, t);
				if (sv && served_expiring(sv, now))
					c[SERVED_STATUS_COUNT]++;
				if (*want[t])
					c[served_classify(want[t], sv)]++;
			}
		}
	}
	for (h = 0; h < n && h < v->nhosts; h++) {
		want[PEM_KEY_ECDSA] = hosts[h].serial_ecdsa;
		want[PEM_KEY_RSA] = hosts[h].serial_rsa;
		if ((*want[0] || *want[1]) && !served_view_deployed(v, h, want))
			undeployed++;
	}
	rc |= buf_printf(out,
	                 "# HELP spoacme_edges Edges by liveness: live when their loader reported "
	                 "within --edge-live-window.\n"
	                 "# TYPE spoacme_edges gauge\n"
	                 "spoacme_edges{state=\"live\"} %llu\n"
	                 "spoacme_edges{state=\"stale\"} %llu\n",
	                 live, (unsigned long long)v->nedges - live);
	rc |= buf_printf(out, "# HELP spoacme_edge_live Whether the edge's loader reported within "
	                      "--edge-live-window.\n# TYPE spoacme_edge_live gauge\n");
	/* Edge ids passed served_edge_valid(): nothing to escape in a label. */
	for (e = 0; e < v->nedges; e++)
		rc |= buf_printf(out, "spoacme_edge_live{edge=\"%s\"} %d\n", v->edges[e].id,
		                 v->edges[e].live);
	rc |= buf_printf(out, "# HELP spoacme_edge_haproxy_up Whether the edge's HAProxy answers "
	                      "its loader (0 when reported down, 1 up or syncing a new worker).\n"
	                      "# TYPE spoacme_edge_haproxy_up gauge\n");
	for (e = 0; e < v->nedges; e++)
		rc |= buf_printf(out, "spoacme_edge_haproxy_up{edge=\"%s\"} %d\n", v->edges[e].id,
		                 !served_edge_haproxy_down(&v->edges[e]));
	rc |= buf_printf(out, "# HELP spoacme_edge_heartbeat_age_seconds Seconds since the edge's "
	                      "loader last reported.\n"
	                      "# TYPE spoacme_edge_heartbeat_age_seconds gauge\n");
	for (e = 0; e < v->nedges; e++)
		rc |= buf_printf(out, "spoacme_edge_heartbeat_age_seconds{edge=\"%s\"} %lld\n",
		                 v->edges[e].id, now - v->edges[e].last_seen);
	rc |= buf_printf(out,
	                 "# HELP spoacme_edge_certificates Issued certificates (host and key type) "
	                 "by what the edge serves: current serial, stale (another serial), "
	                 "missing.\n# TYPE spoacme_edge_certificates gauge\n");
	for (e = 0; e < v->nedges; e++)
		for (t = 0; t < SERVED_STATUS_COUNT; t++)
			rc |= buf_printf(
			        out, "spoacme_edge_certificates{edge=\"%s\",status=\"%s\"} %llu\n",
			        v->edges[e].id, served_status_name((enum served_status)t),
			        cnt[e * (SERVED_STATUS_COUNT + 1) + (size_t)t]);
	rc |= buf_printf(out,
	                 "# HELP spoacme_edge_certificates_expiring Certificates the edge serves "
	                 "whose notAfter is within min(7 days, a third of their lifetime).\n"
	                 "# TYPE spoacme_edge_certificates_expiring gauge\n");
	for (e = 0; e < v->nedges; e++)
		rc |= buf_printf(out, "spoacme_edge_certificates_expiring{edge=\"%s\"} %llu\n",
		                 v->edges[e].id,
		                 cnt[e * (SERVED_STATUS_COUNT + 1) + SERVED_STATUS_COUNT]);
	rc |= buf_printf(out,
	                 "# HELP spoacme_hosts_undeployed Issued hosts that some live edge does "
	                 "not serve with the current serial (or no edge is live).\n"
	                 "# TYPE spoacme_hosts_undeployed gauge\n"
	                 "spoacme_hosts_undeployed %llu\n",
	                 undeployed);
	free(cnt);
	return rc ? -1 : 0;
}
