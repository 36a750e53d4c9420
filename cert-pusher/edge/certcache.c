// SPDX-License-Identifier: MIT
/* The loader's cache of pushed certificates (see certcache.h). */
#include "cert-pusher/edge/certcache.h"

#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int certcache_cmp(const void *a, const void *b)
{
	return strcmp(((const struct certcache_entry *)a)->name,
	              ((const struct certcache_entry *)b)->name);
}

struct certcache_entry *certcache_get(const struct certcache *c, const char *name)
{
	struct certcache_entry key = { .name = (char *)name };
	void *const *node = tfind(&key, &c->root, certcache_cmp);

	return node ? *node : NULL;
}

struct certcache_entry *certcache_add(struct certcache *c, const char *name)
{
	struct certcache_entry *e = certcache_get(c, name);
	void **node;

	if (e)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e || !(e->name = strdup(name))) {
		free(e);
		return NULL;
	}
	node = tsearch(e, &c->root, certcache_cmp);
	if (!node) {
		free(e->name);
		free(e);
		return NULL;
	}
	c->n++;
	return e;
}

static void certcache_entry_free(void *p)
{
	struct certcache_entry *e = p;

	free(e->name);
	free(e);
}

void certcache_del(struct certcache *c, struct certcache_entry *e)
{
	if (tdelete(e, &c->root, certcache_cmp))
		c->n--;
	certcache_entry_free(e);
}

void certcache_clear(struct certcache *c)
{
	tdestroy(c->root, certcache_entry_free);
	c->root = NULL;
	c->n = 0;
}

struct certcache_walk {
	struct certcache_entry **v;
	size_t n;
};

static void certcache_collect(const void *node, VISIT which, void *arg)
{
	struct certcache_walk *w = arg;

	if (which == postorder || which == leaf) /* in order: after the left subtree */
		w->v[w->n++] = *(struct certcache_entry *const *)node;
}

struct certcache_entry **certcache_list(const struct certcache *c, size_t *n)
{
	struct certcache_walk w = { 0 };

	*n = 0;
	if (!c->n)
		return NULL;
	w.v = malloc(c->n * sizeof(*w.v));
	if (!w.v) {
		*n = (size_t)-1;
		return NULL;
	}
	twalk_r(c->root, certcache_collect, &w);
	*n = w.n;
	return w.v;
}

void certcache_set(struct certcache_entry *e, const uint8_t digest[32], const struct pem_info *info)
{
	if (!e->at || strcmp(e->serial, info->serial))
		e->at = (long long)time(NULL);
	memcpy(e->digest, digest, 32);
	snprintf(e->serial, sizeof(e->serial), "%s", info->serial);
	snprintf(e->sha1, sizeof(e->sha1), "%s", info->sha1);
	e->not_before = (long long)info->not_before;
	e->not_after = (long long)info->not_after;
}
