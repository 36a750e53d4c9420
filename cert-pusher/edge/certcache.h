// SPDX-License-Identifier: MIT
/*
 * The loader's cache: what it pushed, per HAProxy certificate name. A balanced tree of the C
 * library (<search.h>: tsearch/tfind/tdelete), so a walk visits the names in order, which is
 * the order the crt-list file is written in. Not thread-safe: the loader's loop owns it.
 */
#ifndef SPOACME_PUSHER_EDGE_CERTCACHE_H
#define SPOACME_PUSHER_EDGE_CERTCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "cert-pusher/pem.h"

/* What we know of a managed certificate name. */
struct certcache_entry {
	char *name;         /* <cert-dir>/<host>.<type>.pem */
	uint8_t digest[32]; /* SHA-256 of the blob its file was written from */
	char serial[PEM_SERIAL_MAX + 1];
	char sha1[PEM_SHA1_HEX + 1];     /* of the leaf, as `show ssl cert` prints it */
	long long not_before, not_after; /* of the leaf, unix seconds */
	long long at;                    /* when HAProxy started serving it (as far as we know) */
	uint64_t pid;                    /* HAProxy worker it was verified in; 0: none */
	int listed;                      /* its file is written and named in the crt-list file */
};

struct certcache {
	void *root; /* tsearch() tree of struct certcache_entry * */
	size_t n;
};

struct certcache_entry *certcache_get(const struct certcache *c, const char *name);

/* The entry of <name>, created empty when missing; NULL on OOM. */
struct certcache_entry *certcache_add(struct certcache *c, const char *name);

/* Forget <e>, an entry of <c>. */
void certcache_del(struct certcache *c, struct certcache_entry *e);

void certcache_clear(struct certcache *c);

/* Every entry, in name order, as an array the caller frees (entries stay the cache's; the array
 * is valid until the next add or del). <*n> its length; NULL with <*n> 0 when empty, NULL with
 * <*n> (size_t)-1 on OOM. */
struct certcache_entry **certcache_list(const struct certcache *c, size_t *n);

/* Record that <e>'s file holds the certificate of <digest>/<info>; "at" moves only when the
 * serial changes. */
void certcache_set(struct certcache_entry *e, const uint8_t digest[32],
                   const struct pem_info *info);

#endif
