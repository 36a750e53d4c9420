#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A cold boot (issue 10): an empty RAM-backed certificate directory and 1,000 names in Redis.
# The loader starts first (as systemd orders it, Before=haproxy.service) and says READY=1 only
# once every certificate is where HAProxy will load it; HAProxy started then serves every name
# on its very first handshake. The loader refuses a certificate directory on a disk filesystem
# or with group/other access, and no file outside the RAM-backed directory holds a key.
set -eu
source "$(dirname "$0")/../lib/common.sh"
source "$ROOT/tests/lib/loader.sh"
[ -x "$BIN/cert-pusher" ] || { echo "build first"; exit 77; }

N=${COLD_NAMES:-1000}
PROBE=$BIN/tools/tls_probe
t_start_redis
mk_keyring
mk_ca
t_log "$N certificates into Redis"
mk_bench_certs "$N"
import_bench_certs "$N"
rm -f "$T_DIR"/certs/*.key

t_log "refusals: a directory on disk, a directory others can read"
mkdir -m 700 "$T_DIR/disk"
[ "$(stat -f -c %T "$T_DIR/disk")" != tmpfs ] || fail "$T_DIR is on tmpfs: cannot test the refusal"
out=$(pusher --check run --role loader --haproxy-socket "$T_DIR/x.sock" \
	--cert-dir "$T_DIR/disk" 2>&1) && fail "a disk directory was accepted: $out"
grep -q "is not on tmpfs or ramfs" <<<"$out" || fail "unclear refusal: $out"
t_ramdir open_dir
chmod 755 "$open_dir"
out=$(pusher run --role loader --haproxy-socket "$T_DIR/x.sock" --cert-dir "$open_dir" 2>&1) &&
	fail "a mode 0755 directory was accepted: $out"
grep -q "mode 0700" <<<"$out" || fail "unclear refusal: $out"
[ -z "$(ls -A "$open_dir")" ] || fail "the refused loader wrote into $open_dir"

t_log "the loader first, HAProxy not running"
t_fallback_cert
rm -f "$CRT_LIST" # nothing at all in the directory
HAPROXY_SOCK=$T_DIR/haproxy.sock
socat -u "UNIX-RECV:$T_DIR/notify.sock" "OPEN:$T_DIR/notify.txt,creat,append" &
T_PIDS+=("$!")
for ((i = 0; i < 50; i++)); do [ -S "$T_DIR/notify.sock" ] && break; sleep 0.1; done
t0=${EPOCHREALTIME/./}
NOTIFY_SOCKET=$T_DIR/notify.sock start_loader --reconcile-interval 1h
for ((i = 0; i < 1200; i++)); do grep -q "READY=1" "$T_DIR/notify.txt" 2>/dev/null && break; sleep 0.05; done
grep -q "READY=1" "$T_DIR/notify.txt" || fail "no READY=1 from the loader"
t_log "READY=1 after $(((${EPOCHREALTIME/./} - t0) / 1000)) ms"
assert_eq "crt-list lines at READY" "$N" "$(grep -c "^$CERT_DIR/h" "$CRT_LIST")"
assert_eq "certificate files at READY" "$N" "$(find "$CERT_DIR" -name 'h*.bench.example.ecdsa.pem' | wc -l)"
assert_eq "file modes" "600" "$(stat -c %a "$CERT_DIR"/h*.pem | sort -u | xargs)"

t_start_haproxy
"$PROBE" 127.0.0.1 "$HTTPS_PORT" $(for ((i = 1; i <= N; i++)); do echo "h$i.bench.example"; done) \
	>"$T_DIR/first.txt"
# What each name must serve: the serials the imports stored.
sed -n 's/^.*import: stored host=\([^ ]*\) type=\([a-z]*\) serial=\([0-9A-F]*\) .*$/\1 \2 \3/p' \
	"$T_DIR/import.log" | sort >"$T_DIR/want.txt"
assert_eq "imports logged" "$N" "$(wc -l <"$T_DIR/want.txt")"
sort "$T_DIR/first.txt" >"$T_DIR/got.txt"
bad=$(diff "$T_DIR/want.txt" "$T_DIR/got.txt" | grep -c '^>' || true)
diff "$T_DIR/want.txt" "$T_DIR/got.txt" | head -5 >&2 || true
assert_eq "first handshakes without the name's certificate" 0 "$bad"
t_log "every name served on its first handshake after a cold start"

# The loader then verifies the worker it finds and reports it up; nothing is pushed again.
for ((i = 0; i < 300; i++)); do grep -q "served hash rewritten .* certs=$N haproxy=up" "$T_DIR/loader.log" && break; sleep 0.1; done
grep -q "served hash rewritten .* certs=$N haproxy=up" "$T_DIR/loader.log" ||
	fail "the loader did not verify HAProxy's $N certificates"
assert_eq "pushes after a cold start" 0 "$(grep -c "loaded name=" "$T_DIR/loader.log" || true)"

t_log "no private key outside the RAM-backed directory"
leaks=$(grep -rl "PRIVATE KEY" "$T_DIR" 2>/dev/null |
	grep -v -x -e "$T_DIR/fallback.pem" -e "$T_DIR/ca.key" || true)
[ -z "$leaks" ] || fail "private keys found in: $leaks"
t_log "PASS"
