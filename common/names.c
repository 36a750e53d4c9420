// SPDX-License-Identifier: MIT
/*
 * Token and hostname validation. Pure functions, no allocation, no logging: callers turn the
 * reason into an API 422, a CLI error or a log line.
 */
#include "common/names.h"

#include <string.h>

#include "common/b64url.h"

bool names_token_valid(const char *s, size_t len)
{
	return len >= 1 && len <= NAMES_TOKEN_MAX && b64url_alphabet_only(s, len);
}

bool names_hostname_valid(const char *name, const char **reason)
{
	size_t len, i, label_len = 0, labels = 1;
	const char *label = name;
	bool all_digits = true;

	len = strnlen(name, NAMES_HOSTNAME_MAX + 1);
	if (len == 0) {
		*reason = "hostname is empty";
		return false;
	}
	if (len > NAMES_HOSTNAME_MAX) {
		*reason = "hostname is longer than 253 characters";
		return false;
	}
	for (i = 0; i <= len; i++) {
		char c = name[i];

		if (c == '.' || c == 0) {
			if (label_len == 0) {
				*reason = c ? "hostname has an empty label"
				            : "hostname ends with a dot";
				return false;
			}
			if (label_len > 63) {
				*reason = "hostname has a label longer than 63 characters";
				return false;
			}
			if (label[0] == '-' || label[label_len - 1] == '-') {
				*reason = "hostname label starts or ends with '-'";
				return false;
			}
			if (label_len >= 4 && label[2] == '-' && label[3] == '-' &&
			    !(label[0] == 'x' && label[1] == 'n')) {
				*reason = "hostname label has '--' in positions 3-4 but is not "
				          "punycode";
				return false;
			}
			if (c == '.') {
				labels++;
				label = name + i + 1;
				label_len = 0;
				all_digits = true;
			}
			continue;
		}
		if (c == '*') {
			*reason = "wildcard hostnames cannot be validated with HTTP-01";
			return false;
		}
		if (c >= 'A' && c <= 'Z') {
			*reason = "hostname must be lowercase";
			return false;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			*reason = "hostname may contain only a-z, 0-9, '-' and '.' (IDNs as "
			          "punycode)";
			return false;
		}
		if (!(c >= '0' && c <= '9'))
			all_digits = false;
		label_len++;
	}
	if (labels < 2) {
		*reason = "hostname needs at least two labels";
		return false;
	}
	if (all_digits) {
		*reason = "IP addresses are not hostnames";
		return false;
	}
	return true;
}

bool names_cert_host_valid(const char *name, const char **reason)
{
	if (name[0] == '*' && name[1] == '.')
		return names_hostname_valid(name + 2, reason);
	return names_hostname_valid(name, reason);
}

bool names_id_valid(const char *s, size_t len, size_t max)
{
	size_t i;

	if (len < 1 || len > max)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}
