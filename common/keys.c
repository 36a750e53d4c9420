// SPDX-License-Identifier: MIT
/*
 * Redis key name builders. Binary-safe for tokens (explicit length); the rest are C strings
 * that the callers have validated.
 */
#include "common/keys.h"

#include <string.h>

int keys_prefix_valid(const char *prefix)
{
	size_t i, len = strlen(prefix);

	if (len > KEYS_PREFIX_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = prefix[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == ':' || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int keys_build(struct buf *out, const char *prefix, const char *kind, const char *a,
                      size_t a_len, const char *b)
{
	if (buf_append_str(out, prefix) < 0 || buf_append_str(out, kind) < 0)
		return -1;
	if (a && (buf_append(out, ":", 1) < 0 || buf_append(out, a, a_len) < 0))
		return -1;
	if (b && (buf_append(out, ":", 1) < 0 || buf_append_str(out, b) < 0))
		return -1;
	return 0;
}

int keys_chal(struct buf *out, const char *prefix, const char *token, size_t token_len)
{
	return keys_build(out, prefix, "chal", token, token_len, NULL);
}

int keys_chals(struct buf *out, const char *prefix, const char *name)
{
	return keys_build(out, prefix, "chals", name, strlen(name), NULL);
}

int keys_hosts(struct buf *out, const char *prefix)
{
	return keys_build(out, prefix, "hosts", NULL, 0, NULL);
}

int keys_host(struct buf *out, const char *prefix, const char *name)
{
	return keys_build(out, prefix, "host", name, strlen(name), NULL);
}

int keys_cert(struct buf *out, const char *prefix, const char *name, const char *type)
{
	return keys_build(out, prefix, "cert", name, strlen(name), type);
}

int keys_account(struct buf *out, const char *prefix, const char *directory_hash)
{
	return keys_build(out, prefix, "account", directory_hash, strlen(directory_hash), NULL);
}

int keys_lock(struct buf *out, const char *prefix, const char *name)
{
	return keys_build(out, prefix, "lock", name, strlen(name), NULL);
}

int keys_due(struct buf *out, const char *prefix)
{
	return keys_build(out, prefix, "due", NULL, 0, NULL);
}

int keys_served(struct buf *out, const char *prefix, const char *edge)
{
	return keys_build(out, prefix, "served", edge, strlen(edge), NULL);
}

int keys_edges(struct buf *out, const char *prefix)
{
	return keys_build(out, prefix, "edges", NULL, 0, NULL);
}

int keys_events(struct buf *out, const char *prefix)
{
	return keys_build(out, prefix, "events", NULL, 0, NULL);
}
