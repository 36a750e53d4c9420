#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The shipped monitoring: monitoring/spoacme-alerts.yml passes `promtool check rules` and its
# unit tests (`promtool test rules`: the expiry, edge-down and agent-Redis alerts fire on the
# series that should raise them, with their labels and texts), the Grafana dashboard is valid
# JSON whose panels all query Prometheus, and every metric named by the rules or the dashboard
# is exported (all named spoacme_*) by a running spoa-agent or cert-pusher (issuer, loader and API with an issued
# hostname and a live edge), so no alert watches a name that does not exist.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/pebble.sh"
. "$(dirname "$0")/../lib/api.sh"

command -v promtool >/dev/null || fail "promtool missing (Debian package prometheus)"
M=$ROOT/monitoring
promtool check rules "$M/spoacme-alerts.yml" >"$T_DIR/promtool.out" 2>&1 ||
	fail "promtool check rules: $(cat "$T_DIR/promtool.out")"
(cd "$M" && promtool test rules spoacme-alerts.test.yml) >"$T_DIR/promtool-test.out" 2>&1 ||
	fail "promtool test rules: $(cat "$T_DIR/promtool-test.out")"
t_log "$(grep -o '[0-9]* rules found' "$T_DIR/promtool.out"), unit tests pass"
jq -e '(.panels | length) > 0 and all(.panels[]; .datasource.type == "prometheus" and
	(.targets | length) > 0 and all(.targets[]; (.expr | length) > 0))' \
	"$M/grafana-spoacme.json" >/dev/null || fail "grafana-spoacme.json: a panel without a Prometheus query"

api_stack
start_daemon daemon --edge-id edge-a
api_add m.example.com
wait_state m.example.com valid 60
for ((i = 0; i < 100; i++)); do
	curl -s -H "Authorization: Bearer $TOKEN" "$API/metrics" >"$T_DIR/pusher.metrics"
	grep -q '^spoacme_edge_live{edge="edge-a"} 1' "$T_DIR/pusher.metrics" &&
		grep -q '^spoacme_cert_expiry_seconds{host="m.example.com"}' "$T_DIR/pusher.metrics" && break
	sleep 0.2
done
grep -q '^spoacme_edge_live{edge="edge-a"} 1' "$T_DIR/pusher.metrics" || fail "edge-a never live in /metrics"
curl -s "http://127.0.0.1:$METRICS_PORT/metrics" >"$T_DIR/agent.metrics"
grep -q '^spoacme_agent_workers ' "$T_DIR/agent.metrics" || fail "no agent metrics"
# Samples, and families declared with # TYPE (a labelled counter has no sample until its first
# event: spoacme_order_failures_total{problem} before any failure).
cat "$T_DIR/pusher.metrics" "$T_DIR/agent.metrics" |
	sed -n -e 's/^\([a-z0-9_:]*\)[{ ].*/\1/p' -e 's/^# TYPE \([a-z0-9_:]*\) .*/\1/p' | sort -u >"$T_DIR/exported"
# One naming scheme: every family either daemon exports is spoacme_*.
other=$(grep -v '^spoacme_' "$T_DIR/exported" | head -5)
[ -z "$other" ] || fail "metrics outside spoacme_*: $other"
# spoacme_kms_up is exported with --kms only; 72_fleet_kms.sh reads it.
grep -ohE '\bspoacme_[a-z0-9_]+' "$M/spoacme-alerts.yml" "$M/grafana-spoacme.json" |
	grep -vx spoacme_kms_up | sort -u >"$T_DIR/used"
missing=$(comm -23 "$T_DIR/used" "$T_DIR/exported")
[ -z "$missing" ] || fail "metrics used by the rules or dashboard but exported by nothing: $missing"
t_log "$(wc -l <"$T_DIR/used") metric names used, all exported"
