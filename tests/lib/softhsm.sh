# SPDX-License-Identifier: MIT
# SoftHSM2 for the KMS scenarios: a token of its own in $T_DIR (SOFTHSM2_CONF), a KEK created by
# `cert-pusher kms create-key`, and a PIN file per process (mode 0600).

SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

# t_softhsm: a fresh token "spoacme" (user PIN 1234); exports SOFTHSM2_CONF.
t_softhsm() {
	[ -r "$SOFTHSM_MODULE" ] || fail "softhsm2 is not installed ($SOFTHSM_MODULE)"
	mkdir -p "$T_DIR/softhsm/tokens"
	t_softhsm_conf "$T_DIR/softhsm"
	export SOFTHSM2_CONF=$T_DIR/softhsm/softhsm2.conf
	softhsm2-util --init-token --free --label spoacme --pin 1234 --so-pin 5678 >/dev/null ||
		fail "softhsm2-util --init-token failed"
}

# t_softhsm_copy NAME: a copy of the token in $T_DIR/softhsm-NAME/tokens (the same KEK, a store
# of its own, so that one process alone can lose it); prints that copy's SOFTHSM2_CONF.
t_softhsm_copy() {
	local d=$T_DIR/softhsm-$1
	mkdir -p "$d"
	cp -a "$T_DIR/softhsm/tokens" "$d/tokens"
	t_softhsm_conf "$d"
	echo "$d/softhsm2.conf"
}

# t_softhsm_conf DIR: DIR/softhsm2.conf for the token store DIR/tokens.
t_softhsm_conf() {
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$1/tokens" >"$1/softhsm2.conf"
}

# t_pin_file NAME PIN: write PIN to $T_DIR/pin-NAME (mode 0600).
t_pin_file() {
	(umask 077 && printf '%s\n' "$2" >"$T_DIR/pin-$1.tmp" && mv "$T_DIR/pin-$1.tmp" "$T_DIR/pin-$1")
}

# t_kms_uri NAME [KEK]: the --kms URI using $T_DIR/pin-NAME and KEK (default spoacme-kek).
t_kms_uri() {
	printf 'pkcs11:token=spoacme;object=%s?module-path=%s&pin-source=file:%s' \
		"${2:-spoacme-kek}" "$SOFTHSM_MODULE" "$T_DIR/pin-$1"
}
