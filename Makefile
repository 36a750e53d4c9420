# SPDX-License-Identifier: MIT
# spoacme: one non-recursive GNU Makefile. Release objects in build/, ASan+UBSan objects in
# build/asan/ (SAN=1), libFuzzer objects in build/fuzz/ (clang). `make help` lists the targets.

.DEFAULT_GOAL := all
SHELL := /bin/bash

# Each binary links what it uses: the agent needs no HTTP client and no JSON.
PKGS        := libevent libevent_pthreads hiredis libcurl jansson openssl p11-kit-1 ldns
AGENT_PKGS  := libevent libevent_pthreads hiredis openssl
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
AGENT_LIBS  := $(shell pkg-config --libs $(AGENT_PKGS) 2>/dev/null) -lpthread
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla \
	    -Werror
GCC_WARN := -Wlogical-op -Wduplicated-cond -Wduplicated-branches -Wnull-dereference
IS_GCC   := $(shell $(CC) --version 2>/dev/null | grep -q 'Free Software Foundation' && echo 1)
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -I. $(WARN) $(if $(IS_GCC),$(GCC_WARN)) $(PKG_CFLAGS)

ifeq ($(SAN),1)
BUILD        := build/asan
MODE_CFLAGS  := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
		-fno-sanitize-recover=all
MODE_LDFLAGS := -fsanitize=address,undefined
else
BUILD        := build
MODE_CFLAGS  := -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fstack-clash-protection \
		-fPIE
MODE_LDFLAGS := -pie -Wl,-z,relro,-z,now
endif

ALL_CFLAGS  := $(BASE_CFLAGS) $(MODE_CFLAGS) $(CFLAGS)
ALL_LDFLAGS := $(MODE_LDFLAGS) $(LDFLAGS)

COMMON_SRCS  := $(wildcard common/*.c)
AGENT_SRCS   := $(filter-out spoa-agent/main.c,$(wildcard spoa-agent/*.c))
PUSHER_SRCS  := $(filter-out cert-pusher/main.c,$(wildcard cert-pusher/*.c cert-pusher/*/*.c))
SUPPORT_SRCS := $(wildcard tests/unit/support/*.c)
UNIT_SRCS    := $(wildcard tests/unit/test_*.c)
FUZZ_SRCS    := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRCS   := $(wildcard tests/bench/bench_*.c)
TOOL_SRCS    := $(wildcard tests/tools/*.c)

# Objects live under $(BUILD)/obj so that build/spoa-agent and build/cert-pusher can be the
# binaries (an object directory of the same name made the link fail).
obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBCOMMON  := $(BUILD)/libcommon.a
LIBAGENT   := $(BUILD)/libagent.a
LIBPUSHER  := $(BUILD)/libpusher.a
LIBSUPPORT := $(BUILD)/libtestsupport.a
LIBS_ALL   := $(LIBPUSHER) $(LIBAGENT) $(LIBCOMMON)

AGENT_BIN  := $(BUILD)/spoa-agent
PUSHER_BIN := $(BUILD)/cert-pusher
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
REPLAY_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/replay/%,$(FUZZ_SRCS))
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
TOOL_BINS  := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRCS))

.PHONY: all deps peers test unit integration replay bench fuzz soak format format-check run clean help

all: $(AGENT_BIN) $(PUSHER_BIN) $(TOOL_BINS)

help:
	@echo "all           build spoa-agent and cert-pusher (build/)"
	@echo "test          deps, unit tests under ASan+UBSan, fuzz corpus replay, format check,"
	@echo "              integration tests with real redis/haproxy/pebble"
	@echo "peers         build HAProxy 3.4 and Pebble 2.7 for the tests (build/peers/)"
	@echo "bench         benchmarks (ratios against baselines measured in the same run)"
	@echo "fuzz          libFuzzer targets for FUZZ_SECONDS each (default 60)"
	@echo "soak          chaos soak of a two-edge fleet for SOAK_SECONDS (default 600)"
	@echo "run           the local stack on loopback: Redis, Pebble, HAProxy, agent, pusher"
	@echo "format        clang-format -i; format-check fails on any difference"

deps:
	@scripts/install-deps.sh

# HAProxy 3.4 and Pebble 2.7 from ../shared/vendor into build/peers (once; a notice without it).
peers: deps
	@scripts/build-peers.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBCOMMON): $(call obj,$(COMMON_SRCS))
$(LIBAGENT): $(call obj,$(AGENT_SRCS))
$(LIBPUSHER): $(call obj,$(PUSHER_SRCS)) $(BUILD)/obj/gen/status_page.o
$(LIBSUPPORT): $(call obj,$(SUPPORT_SRCS))
$(LIBCOMMON) $(LIBAGENT) $(LIBPUSHER) $(LIBSUPPORT):
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^ $(if $^,,$(BUILD)/empty.o)

# The API's status page (GET /), embedded from its HTML file at build time (status_page.h).
$(BUILD)/gen/status_page.c: cert-pusher/api/status.html
	@mkdir -p $(dir $@)
	xxd -i -n status_page_html $< >$@.tmp && mv $@.tmp $@
$(BUILD)/obj/gen/status_page.o: $(BUILD)/gen/status_page.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/empty.o:
	@mkdir -p $(dir $@)
	echo 'typedef int empty_unit;' | $(CC) -x c -c -o $@ -
$(LIBCOMMON) $(LIBAGENT) $(LIBPUSHER) $(LIBSUPPORT): | $(BUILD)/empty.o

$(AGENT_BIN): $(call obj,spoa-agent/main.c) $(LIBAGENT) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -Wl,--as-needed -o $@ $^ $(AGENT_LIBS)

$(PUSHER_BIN): $(call obj,cert-pusher/main.c) $(LIBPUSHER) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -Wl,--as-needed -o $@ $^ $(PKG_LIBS)

# Unit tests link the test, the shared test support, then every library: a test that defines a
# function itself (canned HTTP responses) keeps the archive's object out of the link.
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBSUPPORT) $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBSUPPORT) $(LIBS_ALL) $(PKG_LIBS) $(CMOCKA_LIBS)

# Fuzz targets replayed over their corpus by a plain driver (gcc, sanitizers): part of `test`.
$(BUILD)/replay/%: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/replay_main.o $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

# Test tools (scripted protocol clients) used by the integration scenarios.
$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(LIBS_ALL)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

unit: $(UNIT_BINS) $(REPLAY_BINS)

test: deps
	@scripts/build-peers.sh
	$(MAKE) all
	$(MAKE) SAN=1 unit build/asan/spoa-agent
	tests/run.sh

integration: deps all
	tests/integration/run.sh

bench: deps all $(BENCH_BINS)
	@scripts/build-peers.sh
	tests/bench/run.sh

# libFuzzer: everything rebuilt with clang in build/fuzz.
FUZZ_BUILD  := build/fuzz
FUZZ_CFLAGS := $(BASE_CFLAGS) -g -O1 -fsanitize=fuzzer-no-link,address,undefined
FUZZ_SECONDS ?= 60
FUZZ_LIB_SRCS := $(COMMON_SRCS) $(AGENT_SRCS) $(PUSHER_SRCS)
# Keep the clang objects: as pattern-chain intermediates make would delete them after each run.
.PRECIOUS: $(FUZZ_BUILD)/%.o
$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(filter-out -Wlogical-op -Wduplicated-cond -Wduplicated-branches,$(FUZZ_CFLAGS)) -c -o $@ $<
$(FUZZ_BUILD)/bin/%: $(FUZZ_BUILD)/tests/fuzz/%.o $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(FUZZ_LIB_SRCS))
	@mkdir -p $(dir $@)
	clang -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS)
fuzz: deps $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/bin/%,$(FUZZ_SRCS))
	@for t in $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRCS)); do \
		mkdir -p build/fuzz/corpus/$$t; \
		echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
		$(FUZZ_BUILD)/bin/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			build/fuzz/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

# Chaos soak (tests/soak/soak.sh): bounded, not part of test. SOAK_SECONDS, SOAK_NAMES, HAPROXY_BIN.
soak: deps all
	tests/soak/soak.sh

run: deps all
	scripts/local-stack.sh

FORMAT_FILES = $(shell git ls-files -co --exclude-standard '*.c' '*.h')
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format-check: clean"

clean:
	rm -rf build

include mk/install.mk

-include $(shell find build -name '*.d' 2>/dev/null)
