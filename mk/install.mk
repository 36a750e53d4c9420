# SPDX-License-Identifier: MIT
# `make install` (DESTDIR, PREFIX, UNITDIR, ...) and `make deb` (debhelper, see debian/).
# Included by the Makefile; the binaries come from its `all`.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
DOCDIR     ?= $(DATADIR)/doc/spoacme
COMPDIR    ?= $(DATADIR)/bash-completion/completions
UNITDIR    ?= $(PREFIX)/lib/systemd/system
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
VERSION    := $(shell dpkg-parsechangelog -S Version 2>/dev/null)
UNITS      := $(wildcard systemd/*.service)
MANPAGES   := build/man/spoa-agent.8 build/man/cert-pusher.8

.PHONY: install man deb

MAN_NAME_spoa-agent  := SPOE agent answering HAProxy's ACME HTTP-01 challenges from Redis
MAN_NAME_cert-pusher := ACME certificates into Redis, and from Redis into HAProxy without reloads

# help2man reads each --help; the version is the package's (debian/changelog).
build/man/%.8: $(BUILD)/%
	@mkdir -p $(dir $@)
	help2man --no-info --no-discard-stderr --section 8 --version-string "$* $(VERSION)" \
		--name "$(MAN_NAME_$*)" -o $@ $<
man: $(MANPAGES)

# Units name the binaries as /usr/bin/...; other prefixes get their own path written in.
install: all man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(COMPDIR) $(DESTDIR)$(DOCDIR)/examples/haproxy-cfg \
		$(DESTDIR)$(DOCDIR)/examples/redis $(DESTDIR)$(DOCDIR)/examples/systemd \
		$(DESTDIR)$(DATADIR)/spoacme $(DESTDIR)$(DOCDIR)/examples/monitoring
	install -m 0755 $(AGENT_BIN) $(PUSHER_BIN) $(DESTDIR)$(BINDIR)/
	for u in $(UNITS); do \
		sed 's|/usr/bin/|$(BINDIR)/|g' $$u > $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/}; \
	done
	install -m 0644 systemd/spoacme.tmpfiles $(DESTDIR)$(TMPFILESDIR)/spoacme.conf
	install -m 0644 systemd/*.default $(DESTDIR)$(DOCDIR)/examples/systemd/
	install -m 0644 $(MANPAGES) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 completion/cert-pusher completion/spoa-agent $(DESTDIR)$(COMPDIR)/
	install -m 0644 haproxy-cfg/* $(DESTDIR)$(DOCDIR)/examples/haproxy-cfg/
	install -m 0755 redis/spoacme-acl.sh $(DESTDIR)$(DOCDIR)/examples/redis/
	install -m 0755 redis/spoacme-acl.sh $(DESTDIR)$(DATADIR)/spoacme/
	install -m 0644 monitoring/* $(DESTDIR)$(DOCDIR)/examples/monitoring/
	install -m 0644 README.md doc/DESIGN.md $(DESTDIR)$(DOCDIR)/

# Debian's own tooling builds the package from this tree (debian/rules calls `make install`);
# the .deb lands in build/.
deb:
	dpkg-buildpackage -b -us -uc --build=binary
	mkdir -p build/deb
	mv ../spoacme_$(VERSION)_*.deb ../spoacme*_$(VERSION)_*.buildinfo \
		../spoacme_$(VERSION)_*.changes build/deb/ 2>/dev/null || true
	mv ../spoacme-dbgsym_$(VERSION)_*.deb build/deb/ 2>/dev/null || true
	@ls build/deb/spoacme_$(VERSION)_*.deb
