/* SPDX-License-Identifier: MIT */
/*
 * Strict parsing of what operators type: numbers, durations and listen/connect addresses.
 * Every function rejects trailing garbage, signs, overflow and empty input; none logs: the
 * caller names the option in its error ("--timeout: '5x' is not a duration").
 */
#ifndef COMMON_PARSE_H
#define COMMON_PARSE_H

#include <stdbool.h>
#include <stdint.h>

/* Decimal unsigned integer in [min, max]. 0 or -1. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Duration with an optional unit (ms, s, m, h; no unit = <default_unit_ms> units) into
 * milliseconds, in [min_ms, max_ms]. "500ms", "2s", "250" (with default 1) are valid. */
int parse_duration_ms(const char *s, uint64_t default_unit_ms, uint64_t min_ms, uint64_t max_ms,
                      uint64_t *out);

/* A TCP or unix endpoint: "HOST:PORT", "[V6]:PORT", ":PORT" (all of loopback? no: host "") or
 * "unix:/path". */
struct endpoint {
	bool is_unix;
	char host[256]; /* numeric address or name, without brackets; "" for ":PORT" */
	uint16_t port;
	char path[108]; /* sun_path */
};

/* 0 or -1; <why> gets a static reason on failure. Port 0 is refused. */
int parse_endpoint(const char *s, struct endpoint *ep, const char **why);

/* "host:port" or "unix:/path" into <out> of <outsz> bytes, for logs. */
void parse_endpoint_format(const struct endpoint *ep, char *out, unsigned outsz);

#endif
