// SPDX-License-Identifier: MIT
/*
 * Strict number, duration and endpoint parsing (never atoi). Pure functions.
 */
#include "common/parse.h"

#include <stdio.h>
#include <string.h>

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_duration_ms(const char *s, uint64_t default_unit_ms, uint64_t min_ms, uint64_t max_ms,
                      uint64_t *out)
{
	char num[32];
	size_t n = 0;
	uint64_t v, mul;

	if (!s)
		return -1;
	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = 0;
	if (parse_u64(num, 0, UINT64_MAX, &v) < 0)
		return -1;
	s += n;
	if (!*s)
		mul = default_unit_ms;
	else if (!strcmp(s, "ms"))
		mul = 1;
	else if (!strcmp(s, "s"))
		mul = 1000;
	else if (!strcmp(s, "m"))
		mul = 60000;
	else if (!strcmp(s, "h"))
		mul = 3600000;
	else
		return -1;
	if (mul && v > UINT64_MAX / mul)
		return -1;
	v *= mul;
	if (v < min_ms || v > max_ms)
		return -1;
	*out = v;
	return 0;
}

int parse_endpoint(const char *s, struct endpoint *ep, const char **why)
{
	const char *colon, *host = s;
	size_t host_len;
	uint64_t port;

	memset(ep, 0, sizeof(*ep));
	if (!s || !*s) {
		*why = "empty address";
		return -1;
	}
	if (!strncmp(s, "unix:", 5)) {
		size_t len = strlen(s + 5);

		if (len == 0 || len >= sizeof(ep->path)) {
			*why = "unix socket path is empty or longer than 107 bytes";
			return -1;
		}
		ep->is_unix = true;
		memcpy(ep->path, s + 5, len + 1);
		return 0;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':') {
			*why = "expected [IPv6]:PORT";
			return -1;
		}
		host = s + 1;
		host_len = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			*why = "expected HOST:PORT or unix:/path";
			return -1;
		}
		host_len = (size_t)(colon - s);
		if (memchr(s, ':', host_len)) {
			*why = "IPv6 addresses need brackets: [::1]:PORT";
			return -1;
		}
	}
	if (host_len >= sizeof(ep->host)) {
		*why = "host name too long";
		return -1;
	}
	if (parse_u64(colon + 1, 1, 65535, &port) < 0) {
		*why = "port must be a number from 1 to 65535";
		return -1;
	}
	memcpy(ep->host, host, host_len);
	ep->host[host_len] = 0;
	ep->port = (uint16_t)port;
	return 0;
}

void parse_endpoint_format(const struct endpoint *ep, char *out, unsigned outsz)
{
	if (ep->is_unix)
		snprintf(out, outsz, "unix:%s", ep->path);
	else if (strchr(ep->host, ':'))
		snprintf(out, outsz, "[%s]:%u", ep->host, ep->port);
	else
		snprintf(out, outsz, "%s:%u", ep->host, ep->port);
}
