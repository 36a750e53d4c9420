#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Packaging: `make install DESTDIR= PREFIX=` lays out the binaries, units, tmpfiles, man
# pages, completion and examples with their modes; the units it writes pass
# `systemd-analyze verify` with their ExecStart paths rewritten to the prefix; `make deb`
# (debhelper) builds spoacme_<version>_amd64.deb, which installs with dpkg -i, whose installed
# binaries print the changelog's version, --check a configuration (and refuse a bad one with exit 2), whose installed units
# verify, and which removes and purges leaving none of its files. The dpkg part needs root
# (exit 77 without it, which CI counts as a failure).
set -eu
. "$(dirname "$0")/../lib/common.sh"
cd "$ROOT"

VERSION=$(dpkg-parsechangelog -S Version)
[ -n "$VERSION" ] || fail "no version in debian/changelog"

# make install into a staging root, as a distribution package would.
D=$T_DIR/dest
nice make -s install DESTDIR="$D" PREFIX=/usr UNITDIR=/lib/systemd/system >"$T_DIR/install.log" 2>&1 ||
	fail "make install: $(tail -5 "$T_DIR/install.log")"
for f in usr/bin/spoa-agent:755 usr/bin/cert-pusher:755 \
	lib/systemd/system/spoa-agent.service:644 lib/systemd/system/cert-pusher.service:644 \
	lib/systemd/system/cert-pusher-issuer.service:644 usr/lib/tmpfiles.d/spoacme.conf:644 \
	usr/share/man/man8/spoa-agent.8:644 usr/share/man/man8/cert-pusher.8:644 \
	usr/share/bash-completion/completions/cert-pusher:644 \
	usr/share/doc/spoacme/examples/haproxy-cfg/haproxy.cfg:644 \
	usr/share/doc/spoacme/examples/redis/spoacme-acl.sh:755 usr/share/doc/spoacme/DESIGN.md:644; do
	p=${f%:*}
	[ -f "$D/$p" ] || fail "make install: no $p"
	assert_eq "mode of $p" "${f##*:}" "$(stat -c %a "$D/$p")"
done
grep -q '^ExecStart=/usr/bin/cert-pusher ' "$D/lib/systemd/system/cert-pusher-issuer.service" ||
	fail "issuer unit does not start /usr/bin/cert-pusher"
grep -q -- '--role issuer,api' "$D/lib/systemd/system/cert-pusher-issuer.service" ||
	fail "issuer unit does not run the issuer and the API"
man -l "$D/usr/share/man/man8/cert-pusher.8" 2>/dev/null | grep -q -- '--keyring' ||
	fail "cert-pusher.8 does not document --keyring"
# The completion loads and offers the commands.
out=$(bash -c ". /usr/share/bash-completion/bash_completion 2>/dev/null; . '$D/usr/share/bash-completion/completions/cert-pusher'; COMP_WORDS=(cert-pusher re); COMP_CWORD=1; COMP_LINE='cert-pusher re'; COMP_POINT=\${#COMP_LINE}; _cert_pusher; echo \"\${COMPREPLY[*]}\"")
assert_eq "completion of 're'" "rekey renew" "$out"

# Another prefix: the units name its binaries, and systemd accepts every unit.
P=$T_DIR/prefix
nice make -s install PREFIX="$P" >"$T_DIR/install-prefix.log" 2>&1 || fail "make install PREFIX"
grep -q "^ExecStart=$P/bin/spoa-agent " "$P/lib/systemd/system/spoa-agent.service" ||
	fail "PREFIX not written into spoa-agent.service"
for u in "$P"/lib/systemd/system/*.service; do
	systemd-analyze verify "$u" >"$T_DIR/verify.log" 2>&1 ||
		fail "systemd-analyze verify $(basename "$u"): $(cat "$T_DIR/verify.log")"
	t_log "systemd-analyze verify $(basename "$u"): ok"
done

# The Debian package.
nice make -s deb >"$T_DIR/deb.log" 2>&1 || fail "make deb: $(tail -20 "$T_DIR/deb.log")"
DEB=$ROOT/build/deb/spoacme_${VERSION}_amd64.deb
[ -f "$DEB" ] || fail "make deb made no $DEB"
assert_eq "package name" spoacme "$(dpkg-deb -f "$DEB" Package)"
dpkg-deb -c "$DEB" | awk '{print $6}' >"$T_DIR/contents"
for p in ./usr/bin/spoa-agent ./usr/bin/cert-pusher ./lib/systemd/system/cert-pusher.service \
	./lib/systemd/system/cert-pusher-issuer.service ./lib/systemd/system/spoa-agent.service \
	./usr/lib/tmpfiles.d/spoacme.conf ./usr/share/man/man8/cert-pusher.8.gz \
	./usr/share/bash-completion/completions/spoa-agent ./usr/share/doc/spoacme/copyright \
	./usr/share/doc/spoacme/examples/haproxy-cfg/spoe-acme.conf ./usr/share/spoacme/spoacme-acl.sh; do
	grep -qxF "$p" "$T_DIR/contents" || fail "$DEB lacks $p"
done
t_log "built $(basename "$DEB") ($(stat -c %s "$DEB") bytes, $(wc -l <"$T_DIR/contents") entries)"

if [ "$(id -u)" != 0 ]; then
	t_log "not root: dpkg -i skipped"
	exit 77
fi
if dpkg-query -W -f='${Status}' spoacme 2>/dev/null | grep -q "install ok installed"; then
	fail "spoacme is already installed on this machine: not touching it"
fi
# dpkg is shared with other sessions on this machine: hold the apt lock from install to purge.
exec 9>/tmp/apt.lock
flock 9
cleanup_pkg() { dpkg --purge spoacme >/dev/null 2>&1 || true; }
trap 'r=$?; set +e; cleanup_pkg; (exit $r); t_cleanup' EXIT
dpkg -i "$DEB" >"$T_DIR/dpkg-i.log" 2>&1 || fail "dpkg -i: $(cat "$T_DIR/dpkg-i.log")"
dpkg -L spoacme >"$T_DIR/files"
assert_eq "owner of /usr/bin/cert-pusher" "spoacme: /usr/bin/cert-pusher" "$(dpkg -S /usr/bin/cert-pusher)"
for b in spoa-agent cert-pusher; do
	assert_eq "installed $b --version" "$b $VERSION" "$("/usr/bin/$b" --version)"
done
(umask 077 && printf 'k1 %s\n' "$(openssl rand -base64 32)" >"$T_DIR/keyring" &&
	openssl rand -hex 32 >"$T_DIR/token")
/usr/bin/cert-pusher --check --redis 127.0.0.1:6379 --keyring "$T_DIR/keyring" run \
	--role issuer,api --api 127.0.0.1:8080 --api-token-file "$T_DIR/token" >"$T_DIR/check.log" 2>&1 ||
	fail "installed cert-pusher --check: $(cat "$T_DIR/check.log")"
grep -q 'configuration ok (roles issuer,api)' "$T_DIR/check.log" || fail "cert-pusher --check: $(cat "$T_DIR/check.log")"
rc=0
/usr/bin/cert-pusher --check --keyring "$T_DIR/missing" run --role issuer >"$T_DIR/check.log" 2>&1 || rc=$?
assert_eq "installed cert-pusher --check, missing key ring: exit" 2 "$rc"
/usr/bin/spoa-agent --check --listen 127.0.0.1:12345 --redis 127.0.0.1:6379 >"$T_DIR/check.log" 2>&1 ||
	fail "installed spoa-agent --check: $(cat "$T_DIR/check.log")"
rc=0
/usr/bin/spoa-agent --check --listen 127.0.0.1:99999 --redis 127.0.0.1:6379 >/dev/null 2>&1 || rc=$?
assert_eq "installed spoa-agent --check, bad port: exit" 2 "$rc"
for u in spoa-agent cert-pusher cert-pusher-issuer; do
	systemd-analyze verify "/lib/systemd/system/$u.service" >"$T_DIR/verify.log" 2>&1 ||
		fail "installed $u.service: $(cat "$T_DIR/verify.log")"
done
man -w cert-pusher >/dev/null 2>&1 || fail "man cert-pusher: not found after install"
# Installed, not enabled: every node needs its key ring and options first.
if systemctl is-enabled cert-pusher.service >/dev/null 2>&1; then
	fail "cert-pusher.service enabled by the package"
fi
dpkg -r spoacme >"$T_DIR/dpkg-r.log" 2>&1 || fail "dpkg -r: $(cat "$T_DIR/dpkg-r.log")"
dpkg --purge spoacme >>"$T_DIR/dpkg-r.log" 2>&1 || fail "dpkg --purge: $(cat "$T_DIR/dpkg-r.log")"
left=0
while read -r f; do
	[ -f "$f" ] && { t_log "left after purge: $f"; left=$((left + 1)); }
done <"$T_DIR/files"
assert_eq "files left after purge" 0 "$left"
[ ! -e /usr/bin/cert-pusher ] || fail "/usr/bin/cert-pusher still there"
t_log "dpkg -i, --check, verify, purge: ok ($(grep -c . "$T_DIR/files") paths)"
